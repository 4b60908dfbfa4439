/* student.*: a school's students, managed by the school's admins. Dates of birth are sealed
 * at rest, bound to their row (core/pii.h). */
#pragma once
#include "core/op.h"

/* student.create, student.get, student.list, student.update, student.delete; op->domain is
 * the struct people. */
extern const struct op_def student_ops[];
