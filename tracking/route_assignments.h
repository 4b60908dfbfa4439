/* route.assign/unassign: which students ride which route, from which stop, set by the school's
 * admins. Live trips and the guardians' subscriptions follow at once through the tracker
 * (tracking/tracker.h), which the table's handlers find in op->domain. */
#pragma once
#include "core/op.h"

/* route.assign, route.unassign. */
extern const struct op_def route_assignment_ops[];
