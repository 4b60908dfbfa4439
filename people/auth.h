/* auth.*: phone OTP login, session resume, logout and the caller's own sessions. The
 * handlers find the people layer's services (struct people, people/people.h) in op->domain. */
#pragma once
#include "core/op.h"

extern const struct op_def auth_ops[];
