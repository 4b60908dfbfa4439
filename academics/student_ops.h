/* student.*, guardian.*: a school's students and the parents who look after them, managed by
 * the school's admins. Dates of birth are sealed at rest, bound to their row (core/crypto.h). */
#pragma once
#include "core/op.h"

/* student.create, student.get, student.list, student.update, student.delete, guardian.link,
 * guardian.unlink, guardian.list. */
extern const struct op_def student_ops[];
