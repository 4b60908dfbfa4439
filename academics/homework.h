/* The school's records: homework posted to a section for a subject, each student's status
 * (submitted, late, missing), parents told live (homework.assigned) and in their notices. */
#pragma once
#include "core/op.h"

extern const struct op_def homework_ops[];
