/* The school's records: the daily register, its corrections and reports. */
#include "academics/attendance.h"

const struct op_def attendance_ops[] = {
    { .name = NULL },
};
