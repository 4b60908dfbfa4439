/* Keys, sealed personal fields, blind indexes and token/OTP hashes (see crypto.h). */
#include "core/crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KDF_CONTEXT "classmnt" /* exactly crypto_kdf_CONTEXTBYTES (8) */

enum { SUBKEY_DATA = 1, SUBKEY_INDEX = 2, SUBKEY_OTP = 3 };

int crypto_init(void)
{
    return sodium_init() < 0 ? -1 : 0;
}

static int fail(char *err, size_t err_len, const char *path, const char *why)
{
    snprintf(err, err_len, "%s: %s", path, why);
    return CRYPTO_E_KEYFILE;
}

static void derive(struct crypto_keyset *ks, int version, const unsigned char master[32])
{
    ks->version = version;
    crypto_kdf_derive_from_key(ks->data_key, sizeof ks->data_key, SUBKEY_DATA, KDF_CONTEXT,
                               master);
    crypto_kdf_derive_from_key(ks->index_key, sizeof ks->index_key, SUBKEY_INDEX, KDF_CONTEXT,
                               master);
    crypto_kdf_derive_from_key(ks->otp_key, sizeof ks->otp_key, SUBKEY_OTP, KDF_CONTEXT,
                               master);
}

int crypto_keys_load(struct crypto_keys *keys, const char *path, char *err, size_t err_len)
{
    memset(keys, 0, sizeof *keys);
    int r = 0;
    FILE *f = NULL;
    struct stat st;
    if (stat(path, &st) != 0) {
        return fail(err, err_len, path, strerror(errno));
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        return fail(err, err_len, path, "key file must not be readable by group or others "
                                        "(chmod 600)");
    }
    f = fopen(path, "r");
    if (!f) {
        return fail(err, err_len, path, strerror(errno));
    }
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char *s = line;
        while (*s == ' ' || *s == '\t') {
            s++;
        }
        if (*s == '#' || *s == '\n' || *s == '\0') {
            continue;
        }
        char *colon = strchr(s, ':');
        char *end;
        long version = strtol(s, &end, 10);
        if (!colon || end != colon || version < 1 || version > 32767 ||
            (keys->n && version <= keys->sets[keys->n - 1].version)) {
            r = fail(err, err_len, path, "each line must be VERSION:HEX64 with increasing "
                                         "versions");
            goto out;
        }
        if (keys->n == CRYPTO_MAX_KEYS) {
            r = fail(err, err_len, path, "too many keys");
            goto out;
        }
        unsigned char master[32];
        size_t bin_len = 0;
        const char *hex_end;
        if (sodium_hex2bin(master, sizeof master, colon + 1, strlen(colon + 1), NULL, &bin_len,
                           &hex_end) != 0 || bin_len != sizeof master ||
            strspn(hex_end, " \t\r\n") != strlen(hex_end)) {
            sodium_memzero(master, sizeof master);
            r = fail(err, err_len, path, "a key must be 64 hex digits");
            goto out;
        }
        derive(&keys->sets[keys->n++], (int)version, master);
        sodium_memzero(master, sizeof master);
    }
    if (keys->n == 0) {
        r = fail(err, err_len, path, "no key in file");
    }
out:
    sodium_memzero(line, sizeof line);
    fclose(f);
    if (r != 0) {
        crypto_keys_wipe(keys);
    }
    return r;
}

static int write_key_line(int fd, int version)
{
    unsigned char master[32];
    char hex[65];
    char line[96];
    randombytes_buf(master, sizeof master);
    sodium_bin2hex(hex, sizeof hex, master, sizeof master);
    int n = snprintf(line, sizeof line, "%d:%s\n", version, hex);
    ssize_t w = write(fd, line, (size_t)n);
    sodium_memzero(master, sizeof master);
    sodium_memzero(hex, sizeof hex);
    sodium_memzero(line, sizeof line);
    return w == n ? 0 : -1;
}

int crypto_keys_create_file(const char *path, char *err, size_t err_len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        return fail(err, err_len, path, strerror(errno));
    }
    const char *head = "# Classment master keys: VERSION:HEX64, the highest version is current.\n";
    int r = write(fd, head, strlen(head)) == (ssize_t)strlen(head) ? write_key_line(fd, 1) : -1;
    if (close(fd) != 0 || r != 0) {
        return fail(err, err_len, path, "cannot write key file");
    }
    return 0;
}

int crypto_keys_append_file(const char *path, int *new_version, char *err, size_t err_len)
{
    struct crypto_keys keys;
    int r = crypto_keys_load(&keys, path, err, err_len);
    if (r != 0) {
        return r;
    }
    int version = crypto_keys_current(&keys)->version + 1;
    crypto_keys_wipe(&keys);
    int fd = open(path, O_WRONLY | O_APPEND);
    if (fd < 0) {
        return fail(err, err_len, path, strerror(errno));
    }
    r = write_key_line(fd, version);
    if (fsync(fd) != 0 || close(fd) != 0 || r != 0) {
        return fail(err, err_len, path, "cannot append to key file");
    }
    *new_version = version;
    return 0;
}

const struct crypto_keyset *crypto_keys_current(const struct crypto_keys *keys)
{
    return keys->n ? &keys->sets[keys->n - 1] : NULL;
}

const struct crypto_keyset *crypto_keys_find(const struct crypto_keys *keys, int version)
{
    for (int i = 0; i < keys->n; i++) {
        if (keys->sets[i].version == version) {
            return &keys->sets[i];
        }
    }
    return NULL;
}

void crypto_keys_wipe(struct crypto_keys *keys)
{
    sodium_memzero(keys, sizeof *keys);
}

/* Associated data: "column:row_id", so a sealed value only opens where it was written. */
static size_t make_ad(char *ad, size_t cap, const char *column, int64_t row_id)
{
    int n = snprintf(ad, cap, "%s:%lld", column, (long long)row_id);
    return n < 0 ? 0 : (size_t)n;
}

int crypto_seal(const struct crypto_keys *keys, const char *column, int64_t row_id,
                const void *plain, size_t len, unsigned char *out)
{
    const struct crypto_keyset *ks = crypto_keys_current(keys);
    char ad[96];
    size_t ad_len = make_ad(ad, sizeof ad, column, row_id);
    unsigned char *nonce = out;
    randombytes_buf(nonce, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
    unsigned long long clen;
    crypto_aead_xchacha20poly1305_ietf_encrypt(
        out + crypto_aead_xchacha20poly1305_ietf_NPUBBYTES, &clen, plain, len,
        (const unsigned char *)ad, ad_len, NULL, nonce, ks->data_key);
    return ks->version;
}

int crypto_open(const struct crypto_keys *keys, int version, const char *column, int64_t row_id,
                const unsigned char *sealed, size_t sealed_len, char *out, size_t out_cap)
{
    const struct crypto_keyset *ks = crypto_keys_find(keys, version);
    if (!ks || sealed_len < CRYPTO_SEAL_OVERHEAD ||
        out_cap < sealed_len - CRYPTO_SEAL_OVERHEAD + 1) {
        return CRYPTO_E_FORGED;
    }
    char ad[96];
    size_t ad_len = make_ad(ad, sizeof ad, column, row_id);
    unsigned long long plen;
    const size_t npub = crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)out, &plen, NULL,
                                                   sealed + npub, sealed_len - npub,
                                                   (const unsigned char *)ad, ad_len, sealed,
                                                   ks->data_key) != 0) {
        return CRYPTO_E_FORGED;
    }
    out[plen] = '\0';
    return 0;
}

void crypto_blind_index(const struct crypto_keyset *ks, const char *domain, const void *value,
                        size_t len, unsigned char out[CRYPTO_HASH_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, ks->index_key, sizeof ks->index_key, CRYPTO_HASH_BYTES);
    /* The domain keeps indexes of different fields apart; its NUL separates it from value. */
    crypto_generichash_update(&st, (const unsigned char *)domain, strlen(domain) + 1);
    crypto_generichash_update(&st, value, len);
    crypto_generichash_final(&st, out, CRYPTO_HASH_BYTES);
}

void crypto_otp_hash(const struct crypto_keyset *ks, const unsigned char phone_index[32],
                     const char *code, unsigned char out[CRYPTO_HASH_BYTES])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, ks->otp_key, sizeof ks->otp_key, CRYPTO_HASH_BYTES);
    crypto_generichash_update(&st, phone_index, 32);
    crypto_generichash_update(&st, (const unsigned char *)code, strlen(code));
    crypto_generichash_final(&st, out, CRYPTO_HASH_BYTES);
}

void crypto_otp_new(char code[7])
{
    snprintf(code, 7, "%06u", (unsigned)randombytes_uniform(1000000));
}

void crypto_token_new(char token[CRYPTO_TOKEN_CHARS + 1])
{
    unsigned char raw[32];
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(token, CRYPTO_TOKEN_CHARS + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

void crypto_token_hash(const char *token, size_t len, unsigned char out[CRYPTO_HASH_BYTES])
{
    crypto_generichash(out, CRYPTO_HASH_BYTES, (const unsigned char *)token, len, NULL, 0);
}

bool crypto_hash_equal(const unsigned char a[CRYPTO_HASH_BYTES],
                       const unsigned char b[CRYPTO_HASH_BYTES])
{
    return sodium_memcmp(a, b, CRYPTO_HASH_BYTES) == 0;
}

void crypto_hex(const unsigned char *bin, size_t n, char *out)
{
    sodium_bin2hex(out, 2 * n + 1, bin, n);
}
