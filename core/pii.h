/* Personal data at rest: the phone number of a user sealed to its row, and its blind index,
 * in the text form the database queries take. One place, so the server and the operator
 * command seal and look up the same way. */
#pragma once
#include <libpq-fe.h>
#include <stdint.h>

#include "core/crypto.h"
#include "core/phone.h"
#include "core/strbuf.h"

/* "\x" + hex of a 32-byte index, NUL: */
#define PII_INDEX_HEX (2 + 2 * CRYPTO_HASH_BYTES + 1)

/* The phone's blind index under the current key, as a bytea parameter. */
void pii_phone_index(const struct crypto_keys *keys, const char *phone, char out[PII_INDEX_HEX]);
/* The same raw, under the current key. */
void pii_phone_index_raw(const struct crypto_keys *keys, const char *phone,
                         unsigned char out[CRYPTO_HASH_BYTES]);
/* A bytea[] literal of the phone's index under every key generation, so a lookup finds rows
 * written before a rotation finished. sb is initialised by the caller. */
void pii_phone_index_all(const struct crypto_keys *keys, const char *phone, struct strbuf *sb);
/* Longest short personal text sealed with pii_seal_text (a date, an id number). */
#define PII_TEXT_MAX 64
/* "\x" + hex of a sealed text, NUL: */
#define PII_SEALED_TEXT_HEX (2 + 2 * (PII_TEXT_MAX + CRYPTO_SEAL_OVERHEAD) + 1)
#define PII_SEALED_PHONE_HEX PII_SEALED_TEXT_HEX

/* Seals len (at most PII_TEXT_MAX) bytes of text for the row (column names the table and
 * column, e.g. "students.dob"). Returns the key version used. */
int pii_seal_text(const struct crypto_keys *keys, const char *column, int64_t row_id,
                  const char *text, size_t len, char out[PII_SEALED_TEXT_HEX]);
/* Opens a sealed text column into out (NUL-terminated, out_cap bytes). Returns 0 or
 * CRYPTO_E_FORGED. */
int pii_open_text(const struct crypto_keys *keys, int version, const char *column,
                  int64_t row_id, const PGresult *res, int row, int col, char *out,
                  size_t out_cap);
/* Seals phone for users.id = user_id. Returns the key version used. */
int pii_seal_phone(const struct crypto_keys *keys, int64_t user_id, const char *phone,
                   char out[PII_SEALED_PHONE_HEX]);
/* Opens a users.phone_enc column. Returns 0 or CRYPTO_E_FORGED. */
int pii_open_phone(const struct crypto_keys *keys, int version, int64_t user_id,
                   const PGresult *res, int row, int col, char out[PHONE_MAX]);
