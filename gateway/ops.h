/* Every op table the server serves, in one list: adding a domain adds one line here. */
#pragma once
#include <stddef.h>

#include "core/op.h"

extern const struct op_def *const all_op_tables[];
extern const size_t n_op_tables;
