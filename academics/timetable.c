/* The school's records: the bell schedule, sections' timetables and calendar export. */
#include "academics/timetable.h"

const struct op_def timetable_ops[] = {
    { .name = NULL },
};
