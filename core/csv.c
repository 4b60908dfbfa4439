/* The CSV reader (see csv.h). Each record's fields are copied, unescaped and NUL-terminated,
 * into one buffer that grows to the largest record. */
#include "core/csv.h"

#include <stdlib.h>
#include <string.h>

#include "core/utf8.h"

static const char bom[] = "\xEF\xBB\xBF";

int csv_init(struct csv_reader *r, const char *text, size_t len, size_t max_fields,
             size_t max_field)
{
    memset(r, 0, sizeof *r);
    if (len >= 3 && memcmp(text, bom, 3) == 0) {
        text += 3;
        len -= 3;
    }
    r->p = text;
    r->end = text + len;
    r->line = 1;
    r->max_fields = max_fields ? max_fields : 1;
    r->max_field = max_field ? max_field : 1;
    r->fields = calloc(r->max_fields, sizeof *r->fields);
    r->offsets = calloc(r->max_fields, sizeof *r->offsets);
    r->buf_cap = 256;
    r->buf = malloc(r->buf_cap);
    if (!r->fields || !r->offsets || !r->buf) {
        csv_free(r);
        return -1;
    }
    return 0;
}

void csv_free(struct csv_reader *r)
{
    free(r->fields);
    free(r->offsets);
    free(r->buf);
    r->fields = NULL;
    r->offsets = NULL;
    r->buf = NULL;
}

/* Appends one byte to the record's buffer; false when out of memory. */
static bool put(struct csv_reader *r, size_t *used, char c)
{
    if (*used == r->buf_cap) {
        size_t cap = r->buf_cap * 2;
        char *b = realloc(r->buf, cap);
        if (!b) {
            return false;
        }
        r->buf = b;
        r->buf_cap = cap;
    }
    r->buf[(*used)++] = c;
    return true;
}

static enum csv_status fail(struct csv_reader *r, const char *why, size_t line, size_t field)
{
    r->err = why;
    r->err_line = line;
    r->err_field = field;
    r->p = r->end;
    return CSV_ERROR;
}

/* Consumes a line break at p (CRLF, LF or CR); false when there is none. */
static bool line_break(struct csv_reader *r)
{
    if (r->p < r->end && *r->p == '\r') {
        r->p++;
        if (r->p < r->end && *r->p == '\n') {
            r->p++;
        }
        r->line++;
        return true;
    }
    if (r->p < r->end && *r->p == '\n') {
        r->p++;
        r->line++;
        return true;
    }
    return false;
}

enum csv_status csv_next(struct csv_reader *r)
{
    while (r->p < r->end && (*r->p == '\r' || *r->p == '\n')) {
        line_break(r); /* empty lines */
    }
    if (r->p >= r->end) {
        return CSV_END;
    }
    r->record_line = r->line;
    r->n_fields = 0;
    r->total_fields = 0;
    r->too_many_fields = false;
    size_t used = 0;
    for (;;) {
        /* one field */
        size_t field_no = ++r->total_fields;
        bool keep = field_no <= r->max_fields;
        size_t start = used, flen = 0;
        unsigned flags = 0;
        if (!keep) {
            r->too_many_fields = true;
        }
        if (r->p < r->end && *r->p == '"') {
            size_t open_line = r->line;
            r->p++;
            for (;;) {
                if (r->p >= r->end) {
                    return fail(r, "a quoted field is not closed", open_line, field_no);
                }
                char c = *r->p;
                if (c == '"') {
                    if (r->p + 1 < r->end && r->p[1] == '"') {
                        r->p += 2;
                    } else {
                        r->p++;
                        break;
                    }
                } else {
                    r->p++;
                    if (c == '\n' || (c == '\r' && (r->p >= r->end || *r->p != '\n'))) {
                        r->line++;
                    }
                }
                if (keep && flen < r->max_field) {
                    if (!put(r, &used, c)) {
                        return fail(r, "out of memory", r->line, field_no);
                    }
                    flen++;
                } else if (keep) {
                    flags |= CSV_F_TOO_LONG;
                }
            }
            if (r->p < r->end && *r->p != ',' && *r->p != '\r' && *r->p != '\n') {
                return fail(r, "text after a closing quote", r->line, field_no);
            }
        } else {
            while (r->p < r->end && *r->p != ',' && *r->p != '\r' && *r->p != '\n') {
                if (keep && flen < r->max_field) {
                    if (!put(r, &used, *r->p)) {
                        return fail(r, "out of memory", r->line, field_no);
                    }
                    flen++;
                } else if (keep) {
                    flags |= CSV_F_TOO_LONG;
                }
                r->p++;
            }
        }
        if (keep) {
            if (!put(r, &used, '\0')) {
                return fail(r, "out of memory", r->line, field_no);
            }
            if (!utf8_valid_text(r->buf + start, flen)) {
                flags |= CSV_F_BAD_UTF8;
            }
            r->offsets[r->n_fields] = start;
            r->fields[r->n_fields].len = flen;
            r->fields[r->n_fields].flags = flags;
            r->n_fields++;
        }
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        line_break(r);
        break;
    }
    /* The buffer may have moved while growing: point the fields at it now. */
    for (size_t i = 0; i < r->n_fields; i++) {
        r->fields[i].s = r->buf + r->offsets[i];
    }
    return CSV_RECORD;
}
