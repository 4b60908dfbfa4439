/* Exams and marks: the exam.* ops (exams of a subject in a section for a term, marks entered
 * for a whole exam in one statement, locked once the term's report cards are published except
 * for admins, every correction kept with its before and after). */
#pragma once
#include "core/op.h"

extern const struct op_def exam_ops[];
