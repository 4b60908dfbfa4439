/* The op tables of every domain (see ops.h). */
#include "gateway/ops.h"

#include "academics/audit_ops.h"
#include "academics/student_ops.h"
#include "academics/user_ops.h"
#include "gateway/auth_ops.h"
#include "gateway/sys_ops.h"
#include "tracking/bus_ops.h"
#include "tracking/route_ops.h"
#include "tracking/tracker.h"

const struct op_def *const all_op_tables[] = {
    sys_ops,
    auth_ops,
    user_ops,
    audit_ops,
    trip_ops,
    student_ops,
    route_ops,
    bus_ops,
};

const size_t n_op_tables = sizeof all_op_tables / sizeof all_op_tables[0];
