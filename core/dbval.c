/* PostgreSQL text-format values (see dbval.h). */
#include "core/dbval.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/envelope.h"

static const char hexdigits[] = "0123456789abcdef";

void dbval_bytea(const unsigned char *bin, size_t n, char *out)
{
    out[0] = '\\';
    out[1] = 'x';
    for (size_t i = 0; i < n; i++) {
        out[2 + 2 * i] = hexdigits[bin[i] >> 4];
        out[3 + 2 * i] = hexdigits[bin[i] & 15];
    }
    out[2 + 2 * n] = '\0';
}

void dbval_bytea_array_add(struct strbuf *sb, const unsigned char *bin, size_t n)
{
    /* Inside an array literal the backslash itself must be escaped: "\\x…". */
    strbuf_append(sb, sb->len > 1 ? ",\"\\\\x" : "\"\\\\x", sb->len > 1 ? 5 : 4);
    for (size_t i = 0; i < n; i++) {
        char h[2] = { hexdigits[bin[i] >> 4], hexdigits[bin[i] & 15] };
        strbuf_append(sb, h, 2);
    }
    strbuf_append(sb, "\"", 1);
}

/* The value of a hex digit of either case, or -1. */
static int hex_value(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

long dbval_get_bytea(const PGresult *res, int row, int col, unsigned char *out, size_t cap)
{
    if (PQgetisnull(res, row, col)) {
        return -1;
    }
    const char *s = PQgetvalue(res, row, col);
    size_t len = strlen(s);
    if (len < 2 || s[0] != '\\' || s[1] != 'x' || (len - 2) % 2 != 0 || (len - 2) / 2 > cap) {
        return -1;
    }
    size_t n = (len - 2) / 2;
    for (size_t i = 0; i < n; i++) {
        int hi = hex_value(s[2 + 2 * i]);
        int lo = hex_value(s[3 + 2 * i]);
        if (hi < 0 || lo < 0) {
            return -1;
        }
        out[i] = (unsigned char)((hi << 4) | lo);
    }
    return (long)n;
}

int64_t dbval_get_i64(const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col)) {
        return 0;
    }
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

double dbval_get_f64(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtod(PQgetvalue(res, row, col), NULL);
}

void dbval_text_array_add(struct strbuf *sb, const char *s, size_t len)
{
    strbuf_append(sb, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            strbuf_append(sb, "\\", 1);
        }
        strbuf_append(sb, &s[i], 1);
    }
    strbuf_append(sb, "\"", 1);
}

bool dbval_get_bool(const PGresult *res, int row, int col)
{
    return !PQgetisnull(res, row, col) && PQgetvalue(res, row, col)[0] == 't';
}

const char *dbval_get_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

const char *dbval_i64(int64_t v, char *buf)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

void dbval_pack_text(msgpack_packer *pk, const PGresult *res, int row, int col)
{
    const char *s = dbval_get_text(res, row, col);
    if (s) {
        envelope_pack_str(pk, s);
    } else {
        msgpack_pack_nil(pk);
    }
}

void dbval_pack_i64(msgpack_packer *pk, const PGresult *res, int row, int col)
{
    if (PQgetisnull(res, row, col)) {
        msgpack_pack_nil(pk);
    } else {
        msgpack_pack_int64(pk, dbval_get_i64(res, row, col));
    }
}
