/* Sealed phone numbers and their blind indexes (see pii.h). */
#include "core/pii.h"

#include <string.h>

#include "core/dbval.h"

#define PHONE_COLUMN "users.phone"
#define PHONE_DOMAIN "phone"

void pii_phone_index_raw(const struct crypto_keys *keys, const char *phone,
                         unsigned char out[CRYPTO_HASH_BYTES])
{
    crypto_blind_index(crypto_keys_current(keys), PHONE_DOMAIN, phone, strlen(phone), out);
}

void pii_phone_index(const struct crypto_keys *keys, const char *phone, char out[PII_INDEX_HEX])
{
    unsigned char bi[CRYPTO_HASH_BYTES];
    pii_phone_index_raw(keys, phone, bi);
    dbval_bytea(bi, sizeof bi, out);
}

void pii_phone_index_all(const struct crypto_keys *keys, const char *phone, struct strbuf *sb)
{
    strbuf_append(sb, "{", 1);
    for (int i = 0; i < keys->n; i++) {
        unsigned char bi[CRYPTO_HASH_BYTES];
        crypto_blind_index(&keys->sets[i], PHONE_DOMAIN, phone, strlen(phone), bi);
        dbval_bytea_array_add(sb, bi, sizeof bi);
    }
    strbuf_append(sb, "}", 1);
}

int pii_seal_phone(const struct crypto_keys *keys, int64_t user_id, const char *phone,
                   char out[PII_SEALED_PHONE_HEX])
{
    return pii_seal_text(keys, PHONE_COLUMN, user_id, phone, strlen(phone), out);
}

int pii_open_phone(const struct crypto_keys *keys, int version, int64_t user_id,
                   const PGresult *res, int row, int col, char out[PHONE_MAX])
{
    return pii_open_text(keys, version, PHONE_COLUMN, user_id, res, row, col, out, PHONE_MAX);
}

int pii_seal_text(const struct crypto_keys *keys, const char *column, int64_t row_id,
                  const char *text, size_t len, char out[PII_SEALED_TEXT_HEX])
{
    unsigned char sealed[PII_TEXT_MAX + CRYPTO_SEAL_OVERHEAD];
    if (len > PII_TEXT_MAX) {
        len = PII_TEXT_MAX;
    }
    int version = crypto_seal(keys, column, row_id, text, len, sealed);
    dbval_bytea(sealed, len + CRYPTO_SEAL_OVERHEAD, out);
    return version;
}

int pii_open_text(const struct crypto_keys *keys, int version, const char *column,
                  int64_t row_id, const PGresult *res, int row, int col, char *out,
                  size_t out_cap)
{
    unsigned char sealed[PII_TEXT_MAX + CRYPTO_SEAL_OVERHEAD];
    long n = dbval_get_bytea(res, row, col, sealed, sizeof sealed);
    if (n < 0) {
        return CRYPTO_E_FORGED;
    }
    return crypto_open(keys, version, column, row_id, sealed, (size_t)n, out, out_cap);
}
