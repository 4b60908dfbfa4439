/* An RFC 4180 CSV reader for text that came from people: fields separated by commas, records
 * by CRLF or LF (a lone CR also ends a record), fields in double quotes may hold commas, line
 * breaks and "" for a quote. A UTF-8 byte order mark at the start is skipped; empty lines are
 * skipped. A quote inside an unquoted field is kept as text. Fields and records are bounded:
 * what goes beyond a bound is flagged on the record rather than stored, so that a caller can
 * report every bad record of a file and go on; only a quoted field left open at the end of
 * the text, or text after a closing quote, stops the reading (CSV_ERROR). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

enum csv_field_flags {
    CSV_F_BAD_UTF8 = 1u << 0, /* not well-formed UTF-8, or holds a NUL byte (core/utf8.h) */
    CSV_F_TOO_LONG = 1u << 1, /* longer than max_field bytes: cut short */
};

struct csv_field {
    const char *s; /* NUL-terminated, valid until the next csv_next */
    size_t len;
    unsigned flags;
};

enum csv_status {
    CSV_END = 0,    /* no more records */
    CSV_RECORD = 1, /* a record was read */
    CSV_ERROR = -1, /* malformed: err, err_line and err_field say where */
};

struct csv_reader {
    /* the text */
    const char *p, *end;
    size_t line;       /* the physical line p is on (1-based) */
    size_t max_fields; /* fields kept per record; more set too_many_fields */
    size_t max_field;  /* bytes kept per field; more set CSV_F_TOO_LONG */
    /* the last record read */
    size_t record_line; /* the line it starts on (1-based) */
    size_t n_fields;    /* fields kept (at most max_fields) */
    size_t total_fields; /* fields the record had */
    bool too_many_fields;
    struct csv_field *fields;
    /* after CSV_ERROR */
    const char *err;
    size_t err_line;
    size_t err_field; /* 1-based */
    /* private */
    char *buf;
    size_t buf_cap;
    size_t *offsets;
};

/* Reads text[0..len). max_fields and max_field must be at least 1. Returns 0 or -1 (out of
 * memory). */
int csv_init(struct csv_reader *r, const char *text, size_t len, size_t max_fields,
             size_t max_field);
/* Reads the next record into r->fields. */
enum csv_status csv_next(struct csv_reader *r);
void csv_free(struct csv_reader *r);
