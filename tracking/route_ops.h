/* route.*: a school's bus routes (ordered stops, an optional drawn path) and which students
 * ride them from which stop, managed by the school's admins. Changes that matter to live
 * trips are passed on to the tracker (tracking/tracker.h). */
#pragma once
#include "core/op.h"

/* route.create, route.get, route.list, route.update, route.delete, route.assign,
 * route.unassign. */
extern const struct op_def route_ops[];
