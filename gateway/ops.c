/* The op tables of every domain (see ops.h). */
#include "gateway/ops.h"

#include "academics/attendance.h"
#include "academics/classes.h"
#include "academics/exams.h"
#include "academics/grade_ops.h"
#include "academics/homework.h"
#include "academics/import.h"
#include "academics/notices.h"
#include "academics/report_cards.h"
#include "academics/structure.h"
#include "academics/timetable.h"
#include "gateway/sys_ops.h"
#include "people/audit_log.h"
#include "people/auth.h"
#include "people/guardians.h"
#include "people/students.h"
#include "people/users.h"
#include "tracking/buses.h"
#include "tracking/route_assignments.h"
#include "tracking/routes.h"
#include "tracking/trips.h"

size_t ops_tables(const struct ops_domains *d, struct op_table *tables)
{
    static const struct ops_domains none;
    if (!d) {
        d = &none;
    }
    const struct op_table all[] = {
        { sys_ops, d->router },
        { auth_ops, d->people },
        { user_ops, d->people },
        { audit_ops, d->people },
        { student_ops, d->people },
        { guardian_ops, d->people },
        { trip_ops, d->tracking },
        { route_ops, d->tracking },
        { route_assignment_ops, d->tracking },
        { bus_ops, d->tracking },
        { structure_ops, d->academics },
        { class_ops, d->academics },
        { timetable_ops, d->academics },
        { attendance_ops, d->academics },
        { notice_ops, d->academics },
        { import_ops, d->academics },
        { exam_ops, d->academics },
        { grade_ops, d->academics },
        { report_card_ops, d->academics },
        { homework_ops, d->academics },
    };
    _Static_assert(sizeof all / sizeof all[0] <= OPS_MAX_TABLES, "raise OPS_MAX_TABLES");
    size_t n = sizeof all / sizeof all[0];
    for (size_t i = 0; i < n; i++) {
        tables[i] = all[i];
    }
    return n;
}

bool ops_table_is_records(const struct op_def *ops)
{
    return ops == structure_ops || ops == class_ops || ops == timetable_ops ||
           ops == attendance_ops || ops == notice_ops || ops == import_ops ||
           ops == exam_ops || ops == grade_ops ||
           ops == homework_ops || ops == report_card_ops;
}
