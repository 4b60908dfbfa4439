/* The school's records: bulk import of students with their guardians from CSV. */
#pragma once
#include "core/op.h"

extern const struct op_def import_ops[];
