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
/* "\x" + hex of a sealed phone, NUL: */
#define PII_SEALED_PHONE_HEX (2 + 2 * (PHONE_MAX + CRYPTO_SEAL_OVERHEAD) + 1)

/* The phone's blind index under the current key, as a bytea parameter. */
void pii_phone_index(const struct crypto_keys *keys, const char *phone, char out[PII_INDEX_HEX]);
/* The same raw, under the current key. */
void pii_phone_index_raw(const struct crypto_keys *keys, const char *phone,
                         unsigned char out[CRYPTO_HASH_BYTES]);
/* A bytea[] literal of the phone's index under every key generation, so a lookup finds rows
 * written before a rotation finished. sb is initialised by the caller. */
void pii_phone_index_all(const struct crypto_keys *keys, const char *phone, struct strbuf *sb);
/* Seals phone for users.id = user_id. Returns the key version used. */
int pii_seal_phone(const struct crypto_keys *keys, int64_t user_id, const char *phone,
                   char out[PII_SEALED_PHONE_HEX]);
/* Opens a users.phone_enc column. Returns 0 or CRYPTO_E_FORGED. */
int pii_open_phone(const struct crypto_keys *keys, int version, int64_t user_id,
                   const PGresult *res, int row, int col, char out[PHONE_MAX]);
