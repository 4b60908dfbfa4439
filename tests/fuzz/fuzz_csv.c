/* libFuzzer target: the CSV reader (core/csv.c) on arbitrary text, with the bounds the
 * student import uses (64 fields of 1,024 bytes) or, chosen by the first byte, small ones
 * that the input can cross. Every record must respect the bounds, every kept field be a
 * NUL-terminated copy of its length (text that is not flagged bad is valid UTF-8 without
 * NUL), lines only move forward, and the reading ends (a record consumes input). */
#include <string.h>

#include "core/csv.h"
#include "core/utf8.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 256 * 1024) {
        return 0;
    }
    size_t max_fields = 64, max_field = 1024; /* academics/import_rows.c */
    if (data[0] & 1) {
        max_fields = 1 + (data[0] >> 1 & 7);
        max_field = 1 + (data[0] >> 4);
    }
    const char *text = (const char *)data + 1;
    size_t len = size - 1;
    struct csv_reader r;
    FUZZ_ASSERT(csv_init(&r, text, len, max_fields, max_field) == 0);
    size_t records = 0, last_line = 0;
    enum csv_status st;
    while ((st = csv_next(&r)) == CSV_RECORD) {
        FUZZ_ASSERT(++records <= len); /* each record takes at least one byte */
        FUZZ_ASSERT(r.record_line >= 1 && r.record_line > last_line);
        last_line = r.record_line;
        FUZZ_ASSERT(r.n_fields >= 1 && r.n_fields <= max_fields);
        FUZZ_ASSERT(r.total_fields >= r.n_fields);
        FUZZ_ASSERT(r.too_many_fields == (r.total_fields > max_fields));
        for (size_t i = 0; i < r.n_fields; i++) {
            const struct csv_field *f = &r.fields[i];
            FUZZ_ASSERT(f->s && f->len <= max_field && f->s[f->len] == '\0');
            if (!(f->flags & CSV_F_BAD_UTF8)) {
                FUZZ_ASSERT(utf8_valid_text(f->s, f->len) && strlen(f->s) == f->len);
            }
        }
    }
    if (st == CSV_ERROR) {
        FUZZ_ASSERT(r.err && r.err_line >= 1 && r.err_field >= 1);
    } else {
        FUZZ_ASSERT(st == CSV_END);
    }
    csv_free(&r);
    return 0;
}
