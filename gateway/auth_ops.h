/* auth.*: phone OTP login, session resume, logout and the caller's own sessions. */
#pragma once
#include "core/op.h"

extern const struct op_def auth_ops[];
