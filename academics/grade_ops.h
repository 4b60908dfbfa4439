/* The grade.* ops: the school's grade scale and settings (ranks), a student's grades for a
 * term (what the report card prints), their progress across the year's terms with attendance,
 * and a section's distribution of grades per subject. The computation is academics/grades.h. */
#pragma once
#include "core/op.h"

extern const struct op_def grade_ops[];
