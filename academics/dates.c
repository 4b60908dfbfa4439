/* Dates and times in records ops' arguments (see dates.h). */
#include "academics/dates.h"

#include <string.h>

#include "core/date.h"

int dates_check(struct op_ctx *op, const char *field)
{
    const char *s = op_get_str(op, field);
    if (!s) {
        return 0;
    }
    switch (date_parse(s, NULL)) {
    case DATE_OK:
        return 0;
    case DATE_NOT_REAL:
        return op_refuse(op, OP_E_BAD_REQUEST, field, "is not a real date");
    case DATE_BAD_FORMAT:
    default:
        return op_refuse(op, OP_E_BAD_REQUEST, field, "must be a date YYYY-MM-DD");
    }
}

int dates_check_time(struct op_ctx *op, const char *field)
{
    const char *s = op_get_str(op, field);
    if (!s) {
        return 0;
    }
    switch (date_parse_time(s, NULL)) {
    case DATE_OK:
        return 0;
    case DATE_NOT_REAL:
        return op_refuse(op, OP_E_BAD_REQUEST, field, "is not a real time");
    case DATE_BAD_FORMAT:
    default:
        return op_refuse(op, OP_E_BAD_REQUEST, field, "must be a time HH:MM");
    }
}

int dates_check_order(struct op_ctx *op, const char *from, const char *to, bool strict)
{
    long a, b;
    if (date_parse(op_get_str(op, from), &a) != DATE_OK ||
        date_parse(op_get_str(op, to), &b) != DATE_OK) {
        return 0;
    }
    if (strict ? b <= a : b < a) {
        return op_refuse(op, OP_E_BAD_REQUEST, to,
                         strict ? "must be after the start" : "must not be before the start");
    }
    return 0;
}
