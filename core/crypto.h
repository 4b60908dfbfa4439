/* The cryptography of personal data, one-time codes and session tokens (libsodium): the master
 * key file, authenticated encryption of personal fields bound to their row, keyed blind indexes
 * for lookups, and hashes of OTP codes and tokens. Nothing here touches the network or the
 * database. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CRYPTO_KEY_BYTES 32
#define CRYPTO_HASH_BYTES 32
#define CRYPTO_MAX_KEYS 16
/* A sealed field is nonce || ciphertext || tag. */
#define CRYPTO_SEAL_OVERHEAD (24 + 16)
/* Session tokens: 32 random bytes, base64url without padding (43 characters). */
#define CRYPTO_TOKEN_CHARS 43

/* One generation of keys, derived from one master key. */
struct crypto_keyset {
    int version;
    unsigned char data_key[CRYPTO_KEY_BYTES];  /* personal data (AEAD) */
    unsigned char index_key[CRYPTO_KEY_BYTES]; /* blind indexes */
    unsigned char otp_key[CRYPTO_KEY_BYTES];   /* OTP code hashes */
};

/* Every key generation in the key file; the highest version is current. */
struct crypto_keys {
    int n;
    struct crypto_keyset sets[CRYPTO_MAX_KEYS]; /* ascending versions */
};

enum {
    CRYPTO_E_KEYFILE = 1, /* missing, unreadable, badly formed or too open: err says which */
    CRYPTO_E_FORGED = 2,  /* a sealed field failed authentication or has an unknown version */
};

/* Calls sodium_init; returns 0 or -1. */
int crypto_init(void);

/* Loads a key file: lines "VERSION:HEX64" (VERSION 1..32767, increasing), '#' comments.
 * Refuses files readable by group or others. Returns 0 or CRYPTO_E_KEYFILE with a reason. */
int crypto_keys_load(struct crypto_keys *keys, const char *path, char *err, size_t err_len);
/* Creates a key file with one fresh key (version 1), mode 0600; fails if it exists. */
int crypto_keys_create_file(const char *path, char *err, size_t err_len);
/* Appends a fresh key with the next version to an existing key file. */
int crypto_keys_append_file(const char *path, int *new_version, char *err, size_t err_len);
const struct crypto_keyset *crypto_keys_current(const struct crypto_keys *keys);
const struct crypto_keyset *crypto_keys_find(const struct crypto_keys *keys, int version);
/* Zeroes all key material. */
void crypto_keys_wipe(struct crypto_keys *keys);

/* Encrypts plain for the row (table, row_id) with the current key: out must hold
 * len + CRYPTO_SEAL_OVERHEAD bytes. Binding the row means a ciphertext copied to another row
 * (or column) does not decrypt. Returns the key version used. */
int crypto_seal(const struct crypto_keys *keys, const char *column, int64_t row_id,
                const void *plain, size_t len, unsigned char *out);
/* Decrypts a sealed field into out (sealed_len - CRYPTO_SEAL_OVERHEAD bytes, plus a NUL).
 * Returns 0 or CRYPTO_E_FORGED. */
int crypto_open(const struct crypto_keys *keys, int version, const char *column, int64_t row_id,
                const unsigned char *sealed, size_t sealed_len, char *out, size_t out_cap);

/* A keyed hash for equality lookups of a personal value (for example a phone number) under
 * one key generation: the database can find a row by it without ever holding the value. */
void crypto_blind_index(const struct crypto_keyset *ks, const char *domain, const void *value,
                        size_t len, unsigned char out[CRYPTO_HASH_BYTES]);
/* Hash of a one-time code, bound to the phone's blind index. */
void crypto_otp_hash(const struct crypto_keyset *ks, const unsigned char phone_index[32],
                     const char *code, unsigned char out[CRYPTO_HASH_BYTES]);
/* A uniformly random 6-digit code, NUL-terminated. */
void crypto_otp_new(char code[7]);
/* A fresh session token (NUL-terminated, CRYPTO_TOKEN_CHARS long). */
void crypto_token_new(char token[CRYPTO_TOKEN_CHARS + 1]);
/* What the database stores for a token. Tokens carry 256 random bits, so an unkeyed hash is
 * enough, and it survives key rotation. */
void crypto_token_hash(const char *token, size_t len, unsigned char out[CRYPTO_HASH_BYTES]);
/* Constant-time comparison of two hashes. */
bool crypto_hash_equal(const unsigned char a[CRYPTO_HASH_BYTES],
                       const unsigned char b[CRYPTO_HASH_BYTES]);
/* Lowercase hex of n bytes into out (2n+1 bytes). */
void crypto_hex(const unsigned char *bin, size_t n, char *out);
