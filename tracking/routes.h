/* route.create/get/list/update/delete: a school's bus routes (ordered stops, an optional drawn
 * path) for the school's admins. Stop changes reach live trips through the tracker
 * (tracking/tracker.h), which the table's handlers find in op->domain. */
#pragma once
#include "core/op.h"

/* route.create, route.get, route.list, route.update, route.delete. */
extern const struct op_def route_ops[];
