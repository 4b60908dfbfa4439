/* Dates and times in records ops' arguments: "YYYY-MM-DD" real dates and "HH:MM" times
 * (core/date.h), refused as bad_request naming the field. */
#pragma once
#include "core/op.h"

/* The date argument named field, when present: 0, or OP_E_BAD_REQUEST with the refusal set
 * ("must be a date YYYY-MM-DD", "is not a real date"). */
int dates_check(struct op_ctx *op, const char *field);
/* The time argument named field ("HH:MM"), when present: 0 or OP_E_BAD_REQUEST. */
int dates_check_time(struct op_ctx *op, const char *field);
/* Both dates present and to not before from (strictly after when strict): 0, or
 * OP_E_BAD_REQUEST naming to. Call after dates_check of both. */
int dates_check_order(struct op_ctx *op, const char *from, const char *to, bool strict);
