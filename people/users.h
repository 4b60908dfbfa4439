/* user.*: the school's people (admins, teachers, librarians, drivers, parents), managed by
 * the school's admins. Phone numbers are sealed at rest (core/pii.h). The handlers find the
 * people layer's services (struct people, people/people.h) in op->domain. */
#pragma once
#include "core/op.h"

extern const struct op_def user_ops[];
