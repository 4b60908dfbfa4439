/* Converting values to and from PostgreSQL's text format: bytea as "\x…" hex, integers,
 * timestamps as epoch milliseconds, arrays of bytea. */
#pragma once
#include <libpq-fe.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/strbuf.h"

/* Writes "\x<hex>" for n bytes into out, which must hold 2n + 3 bytes. */
void dbval_bytea(const unsigned char *bin, size_t n, char *out);
/* Appends a bytea[] literal element ("\\x…", quoted) to an array being built in sb. */
void dbval_bytea_array_add(struct strbuf *sb, const unsigned char *bin, size_t n);
/* Appends len bytes of text to an array literal being built in sb as one quoted element
 * (quotes and backslashes escaped). */
void dbval_text_array_add(struct strbuf *sb, const char *s, size_t len);
/* Decodes a bytea column into out (cap bytes). Returns the length, or -1 when NULL, malformed
 * or too long. */
long dbval_get_bytea(const PGresult *res, int row, int col, unsigned char *out, size_t cap);
/* A bigint column; 0 when NULL. */
int64_t dbval_get_i64(const PGresult *res, int row, int col);
/* A numeric or double column as a double; 0 when NULL. */
double dbval_get_f64(const PGresult *res, int row, int col);
/* A boolean column ('t'). */
bool dbval_get_bool(const PGresult *res, int row, int col);
/* A text column, or NULL when NULL. Borrowed from res. */
const char *dbval_get_text(const PGresult *res, int row, int col);
/* Packs a text column as a string, or nil when NULL. */
void dbval_pack_text(msgpack_packer *pk, const PGresult *res, int row, int col);
/* Packs a bigint column as an integer, or nil when NULL. */
void dbval_pack_i64(msgpack_packer *pk, const PGresult *res, int row, int col);
/* Formats an int64 into buf (at least 24 bytes) and returns buf. */
const char *dbval_i64(int64_t v, char *buf);
