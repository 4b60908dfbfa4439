/* The school's records: the daily register, its corrections and reports. */
#pragma once
#include "core/op.h"

extern const struct op_def attendance_ops[];
