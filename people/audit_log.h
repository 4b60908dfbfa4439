/* audit.list: a school's admins read their school's audit log. */
#pragma once
#include "core/op.h"

extern const struct op_def audit_ops[];
