/* The school's records: the bell schedule, sections' timetables and calendar export. */
#pragma once
#include "core/op.h"

extern const struct op_def timetable_ops[];
