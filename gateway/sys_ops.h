/* sys.*: liveness and status operations, allowed before login. */
#pragma once
#include "core/op.h"

extern const struct op_def sys_ops[];
