/* user.*: the school's people (admins, teachers, librarians, drivers, parents), managed by
 * the school's admins. Phone numbers are sealed at rest (core/pii.h). */
#pragma once
#include "core/op.h"

extern const struct op_def user_ops[];
