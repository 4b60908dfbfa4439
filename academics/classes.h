/* The school's records: classes of a year, their sections and subjects, and teachers'
 * assignments (teacher x section x subject), which make a teacher's scope. */
#pragma once
#include "core/op.h"

extern const struct op_def class_ops[];
