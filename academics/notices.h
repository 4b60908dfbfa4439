/* The school's records: parents' notices: what they were told live, kept for when they were offline. */
#pragma once
#include "core/op.h"

extern const struct op_def notice_ops[];
