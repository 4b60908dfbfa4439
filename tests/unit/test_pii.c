/* Unit tests for core/pii: phone numbers and short texts sealed to their row and column, and
 * blind indexes of phones under every key generation, with keys made in memory. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "core/pii.h"

#define PHONE "+919876543210"
#define DOB "2014-03-09"
#define DOB_COLUMN "students.dob"

/* Keys of generations 1..n, each filled from its own seed byte (never a real key). */
static void make_keys(struct crypto_keys *keys, int n, unsigned char seed)
{
    memset(keys, 0, sizeof *keys);
    keys->n = n;
    for (int i = 0; i < n; i++) {
        struct crypto_keyset *ks = &keys->sets[i];
        ks->version = i + 1;
        memset(ks->data_key, seed + 3 * i, sizeof ks->data_key);
        memset(ks->index_key, seed + 3 * i + 1, sizeof ks->index_key);
        memset(ks->otp_key, seed + 3 * i + 2, sizeof ks->otp_key);
    }
}

/* A one-cell result holding value (NULL for SQL NULL), as the database would return it. */
static PGresult *cell(const char *value)
{
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(res);
    PGresAttDesc attr = { .name = (char *)"enc", .typid = 17 /* bytea */, .typlen = -1,
                          .atttypmod = -1 };
    assert_int_equal(PQsetResultAttrs(res, 1, &attr), 1);
    assert_int_equal(PQsetvalue(res, 0, 0, (char *)value, value ? (int)strlen(value) : -1), 1);
    return res;
}

static int open_phone(const struct crypto_keys *keys, int version, int64_t user_id,
                      const char *sealed, char out[PHONE_MAX])
{
    PGresult *res = cell(sealed);
    int r = pii_open_phone(keys, version, user_id, res, 0, 0, out);
    PQclear(res);
    return r;
}

static int open_text(const struct crypto_keys *keys, int version, const char *column,
                     int64_t row_id, const char *sealed, char *out, size_t out_cap)
{
    PGresult *res = cell(sealed);
    int r = pii_open_text(keys, version, column, row_id, res, 0, 0, out, out_cap);
    PQclear(res);
    return r;
}

static int setup(void **state)
{
    (void)state;
    return crypto_init();
}

/* --- Sealing --- */

static void test_seal_phone_round_trips_with_current_version(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 2, 0x10);
    char sealed[PII_SEALED_PHONE_HEX];
    assert_int_equal(pii_seal_phone(&keys, 42, PHONE, sealed), 2);
    assert_int_equal(strlen(sealed), 2 + 2 * (strlen(PHONE) + CRYPTO_SEAL_OVERHEAD));
    assert_memory_equal(sealed, "\\x", 2);
    assert_null(strstr(sealed, "9876543210")); /* not stored in clear */
    char phone[PHONE_MAX];
    assert_int_equal(open_phone(&keys, 2, 42, sealed, phone), 0);
    assert_string_equal(phone, PHONE);
}

static void test_seal_text_round_trips(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0x20);
    char sealed[PII_SEALED_TEXT_HEX];
    int v = pii_seal_text(&keys, DOB_COLUMN, 7, DOB, strlen(DOB), sealed);
    assert_int_equal(v, 1);
    char out[PII_TEXT_MAX + 1];
    assert_int_equal(open_text(&keys, v, DOB_COLUMN, 7, sealed, out, sizeof out), 0);
    assert_string_equal(out, DOB);
}

static void test_seal_text_round_trips_empty_and_full_length(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0x20);
    char sealed[PII_SEALED_TEXT_HEX];
    char out[PII_TEXT_MAX + 1];
    pii_seal_text(&keys, DOB_COLUMN, 7, "", 0, sealed);
    assert_int_equal(open_text(&keys, 1, DOB_COLUMN, 7, sealed, out, sizeof out), 0);
    assert_string_equal(out, "");

    char full[PII_TEXT_MAX + 1];
    memset(full, 'A', PII_TEXT_MAX);
    full[PII_TEXT_MAX] = '\0';
    pii_seal_text(&keys, DOB_COLUMN, 7, full, PII_TEXT_MAX, sealed);
    assert_int_equal(strlen(sealed), PII_SEALED_TEXT_HEX - 1);
    assert_int_equal(open_text(&keys, 1, DOB_COLUMN, 7, sealed, out, sizeof out), 0);
    assert_string_equal(out, full);
}

static void test_seal_text_keeps_only_pii_text_max_bytes(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0x20);
    char longer[PII_TEXT_MAX + 37];
    for (size_t i = 0; i < sizeof longer; i++) {
        longer[i] = (char)('a' + i % 26);
    }
    char sealed[PII_SEALED_TEXT_HEX + 16];
    memset(sealed, '#', sizeof sealed);
    pii_seal_text(&keys, DOB_COLUMN, 7, longer, sizeof longer, sealed);
    assert_int_equal(strlen(sealed), PII_SEALED_TEXT_HEX - 1); /* fits its buffer */
    char out[PII_TEXT_MAX + 1];
    assert_int_equal(open_text(&keys, 1, DOB_COLUMN, 7, sealed, out, sizeof out), 0);
    assert_int_equal(strlen(out), PII_TEXT_MAX);
    assert_memory_equal(out, longer, PII_TEXT_MAX);
}

static void test_seal_uses_fresh_nonce_each_time(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0x30);
    char a[PII_SEALED_PHONE_HEX], b[PII_SEALED_PHONE_HEX];
    pii_seal_phone(&keys, 42, PHONE, a);
    pii_seal_phone(&keys, 42, PHONE, b);
    assert_string_not_equal(a, b);
    char phone[PHONE_MAX];
    assert_int_equal(open_phone(&keys, 1, 42, a, phone), 0);
    assert_int_equal(open_phone(&keys, 1, 42, b, phone), 0);
    assert_string_equal(phone, PHONE);
}

/* --- Opening what does not belong --- */

static void test_open_phone_refuses_another_row(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0x40);
    char sealed[PII_SEALED_PHONE_HEX];
    pii_seal_phone(&keys, 12, PHONE, sealed);
    char phone[PHONE_MAX];
    assert_int_equal(open_phone(&keys, 1, 13, sealed, phone), CRYPTO_E_FORGED);
    assert_int_equal(open_phone(&keys, 1, 1, sealed, phone), CRYPTO_E_FORGED);
    assert_int_equal(open_phone(&keys, 1, 120, sealed, phone), CRYPTO_E_FORGED);
    assert_int_equal(open_phone(&keys, 1, -12, sealed, phone), CRYPTO_E_FORGED);
    assert_int_equal(open_phone(&keys, 1, 12, sealed, phone), 0);
}

static void test_open_text_refuses_another_row_at_int64_extremes(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0x40);
    char sealed[PII_SEALED_TEXT_HEX];
    char out[PII_TEXT_MAX + 1];
    pii_seal_text(&keys, DOB_COLUMN, INT64_MAX, DOB, strlen(DOB), sealed);
    assert_int_equal(open_text(&keys, 1, DOB_COLUMN, INT64_MAX, sealed, out, sizeof out), 0);
    assert_int_equal(open_text(&keys, 1, DOB_COLUMN, INT64_MIN, sealed, out, sizeof out),
                     CRYPTO_E_FORGED);
    assert_int_equal(open_text(&keys, 1, DOB_COLUMN, INT64_MAX - 1, sealed, out, sizeof out),
                     CRYPTO_E_FORGED);
}

static void test_open_text_refuses_another_column(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0x50);
    char sealed[PII_SEALED_TEXT_HEX];
    char out[PII_TEXT_MAX + 1];
    pii_seal_text(&keys, DOB_COLUMN, 7, DOB, strlen(DOB), sealed);
    assert_int_equal(open_text(&keys, 1, "students.aadhaar", 7, sealed, out, sizeof out),
                     CRYPTO_E_FORGED);
    assert_int_equal(open_text(&keys, 1, "students.do", 7, sealed, out, sizeof out),
                     CRYPTO_E_FORGED);
    /* A copied ciphertext does not open as a user's phone either. */
    char phone[PHONE_MAX];
    assert_int_equal(open_phone(&keys, 1, 7, sealed, phone), CRYPTO_E_FORGED);
}

static void test_open_text_refuses_sealed_phone_read_as_other_column(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0x50);
    char sealed[PII_SEALED_PHONE_HEX];
    pii_seal_phone(&keys, 7, PHONE, sealed);
    char out[PII_TEXT_MAX + 1];
    assert_int_equal(open_text(&keys, 1, DOB_COLUMN, 7, sealed, out, sizeof out),
                     CRYPTO_E_FORGED);
    assert_int_equal(open_text(&keys, 1, "users.phone", 7, sealed, out, sizeof out), 0);
    assert_string_equal(out, PHONE);
}

static void test_open_refuses_any_tampered_byte(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0x60);
    char sealed[PII_SEALED_PHONE_HEX];
    pii_seal_phone(&keys, 42, PHONE, sealed);
    size_t len = strlen(sealed);
    char phone[PHONE_MAX];
    /* Nonce, ciphertext and tag: flip one bit of each byte in turn. */
    for (size_t i = 2; i < len; i++) {
        char tampered[PII_SEALED_PHONE_HEX];
        memcpy(tampered, sealed, len + 1);
        tampered[i] = tampered[i] == '0' ? '1' : '0';
        assert_int_equal(open_phone(&keys, 1, 42, tampered, phone), CRYPTO_E_FORGED);
    }
    assert_int_equal(open_phone(&keys, 1, 42, sealed, phone), 0);
}

static void test_open_refuses_truncated_or_extended_value(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0x60);
    char sealed[PII_SEALED_PHONE_HEX + 2];
    pii_seal_phone(&keys, 42, PHONE, sealed);
    size_t len = strlen(sealed);
    char phone[PHONE_MAX];
    char cut[PII_SEALED_PHONE_HEX];
    memcpy(cut, sealed, len - 2); /* last byte of the tag gone */
    cut[len - 2] = '\0';
    assert_int_equal(open_phone(&keys, 1, 42, cut, phone), CRYPTO_E_FORGED);
    memcpy(sealed + len, "00", 3); /* a byte too many */
    assert_int_equal(open_phone(&keys, 1, 42, sealed, phone), CRYPTO_E_FORGED);
    /* Shorter than nonce and tag together. */
    assert_int_equal(open_phone(&keys, 1, 42, "\\x0102", phone), CRYPTO_E_FORGED);
    assert_int_equal(open_phone(&keys, 1, 42, "\\x", phone), CRYPTO_E_FORGED);
}

static void test_open_refuses_null_and_malformed_column(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0x60);
    char phone[PHONE_MAX];
    assert_int_equal(open_phone(&keys, 1, 42, NULL, phone), CRYPTO_E_FORGED);
    assert_int_equal(open_phone(&keys, 1, 42, "", phone), CRYPTO_E_FORGED);
    assert_int_equal(open_phone(&keys, 1, 42, PHONE, phone), CRYPTO_E_FORGED);
    char sealed[PII_SEALED_PHONE_HEX];
    pii_seal_phone(&keys, 42, PHONE, sealed);
    sealed[10] = 'z';
    assert_int_equal(open_phone(&keys, 1, 42, sealed, phone), CRYPTO_E_FORGED);
}

static void test_open_refuses_value_too_big_for_output(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0x70);
    /* A 20-byte text in users.phone (say written by a bug) must not overflow a phone buffer. */
    char sealed[PII_SEALED_TEXT_HEX];
    pii_seal_text(&keys, "users.phone", 42, "+9198765432101234567", 20, sealed);
    char phone[PHONE_MAX + 8];
    memset(phone, '#', sizeof phone);
    assert_int_equal(open_phone(&keys, 1, 42, sealed, phone), CRYPTO_E_FORGED);
    for (size_t i = PHONE_MAX; i < sizeof phone; i++) {
        assert_int_equal(phone[i], '#');
    }
    char small[4];
    pii_seal_text(&keys, DOB_COLUMN, 7, DOB, strlen(DOB), sealed);
    assert_int_equal(open_text(&keys, 1, DOB_COLUMN, 7, sealed, small, sizeof small),
                     CRYPTO_E_FORGED);
}

/* --- Key generations --- */

static void test_open_refuses_wrong_or_unknown_version(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 2, 0x80);
    char sealed[PII_SEALED_PHONE_HEX];
    assert_int_equal(pii_seal_phone(&keys, 42, PHONE, sealed), 2);
    char phone[PHONE_MAX];
    assert_int_equal(open_phone(&keys, 1, 42, sealed, phone), CRYPTO_E_FORGED);
    assert_int_equal(open_phone(&keys, 3, 42, sealed, phone), CRYPTO_E_FORGED);
    assert_int_equal(open_phone(&keys, 0, 42, sealed, phone), CRYPTO_E_FORGED);
    assert_int_equal(open_phone(&keys, -2, 42, sealed, phone), CRYPTO_E_FORGED);
}

static void test_open_finds_value_sealed_before_rotation(void **state)
{
    (void)state;
    struct crypto_keys before, after;
    make_keys(&before, 1, 0x90);
    make_keys(&after, 2, 0x90); /* generation 1 unchanged, 2 added */
    char sealed[PII_SEALED_PHONE_HEX];
    assert_int_equal(pii_seal_phone(&before, 42, PHONE, sealed), 1);
    char phone[PHONE_MAX];
    assert_int_equal(open_phone(&after, 1, 42, sealed, phone), 0);
    assert_string_equal(phone, PHONE);
    assert_int_equal(open_phone(&after, 2, 42, sealed, phone), CRYPTO_E_FORGED);
}

static void test_open_refuses_value_sealed_with_other_key_file(void **state)
{
    (void)state;
    struct crypto_keys ours, theirs;
    make_keys(&ours, 1, 0xa0);
    make_keys(&theirs, 1, 0xb0);
    char sealed[PII_SEALED_PHONE_HEX];
    pii_seal_phone(&theirs, 42, PHONE, sealed);
    char phone[PHONE_MAX];
    assert_int_equal(open_phone(&ours, 1, 42, sealed, phone), CRYPTO_E_FORGED);
}

/* --- Blind indexes --- */

static void test_phone_index_is_deterministic(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0xc0);
    unsigned char a[CRYPTO_HASH_BYTES], b[CRYPTO_HASH_BYTES];
    pii_phone_index_raw(&keys, PHONE, a);
    pii_phone_index_raw(&keys, PHONE, b);
    assert_memory_equal(a, b, sizeof a);
    /* Keys loaded again (same bytes) give the same index: lookups survive a restart. */
    struct crypto_keys again;
    make_keys(&again, 1, 0xc0);
    pii_phone_index_raw(&again, PHONE, b);
    assert_memory_equal(a, b, sizeof a);
}

static void test_phone_index_differs_per_phone(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0xc0);
    unsigned char a[CRYPTO_HASH_BYTES], b[CRYPTO_HASH_BYTES];
    pii_phone_index_raw(&keys, "+919876543210", a);
    pii_phone_index_raw(&keys, "+919876543211", b);
    assert_memory_not_equal(a, b, sizeof a);
    pii_phone_index_raw(&keys, "+91987654321", b);
    assert_memory_not_equal(a, b, sizeof a);
}

static void test_phone_index_differs_per_key(void **state)
{
    (void)state;
    struct crypto_keys k1, k2;
    make_keys(&k1, 1, 0xc0);
    make_keys(&k2, 1, 0xd0);
    unsigned char a[CRYPTO_HASH_BYTES], b[CRYPTO_HASH_BYTES];
    pii_phone_index_raw(&k1, PHONE, a);
    pii_phone_index_raw(&k2, PHONE, b);
    assert_memory_not_equal(a, b, sizeof a);
}

static void test_phone_index_uses_current_generation(void **state)
{
    (void)state;
    struct crypto_keys two, only_first;
    make_keys(&two, 2, 0xe0);
    make_keys(&only_first, 1, 0xe0);
    unsigned char cur[CRYPTO_HASH_BYTES], old[CRYPTO_HASH_BYTES];
    pii_phone_index_raw(&two, PHONE, cur);
    pii_phone_index_raw(&only_first, PHONE, old);
    assert_memory_not_equal(cur, old, sizeof cur);
    /* Generation 2 on its own gives the same index as the current one. */
    struct crypto_keys second = { .n = 1 };
    second.sets[0] = two.sets[1];
    pii_phone_index_raw(&second, PHONE, old);
    assert_memory_equal(cur, old, sizeof cur);
}

static void test_phone_index_hex_matches_raw(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0xc0);
    unsigned char raw[CRYPTO_HASH_BYTES];
    pii_phone_index_raw(&keys, PHONE, raw);
    char hex[2 * CRYPTO_HASH_BYTES + 1];
    crypto_hex(raw, sizeof raw, hex);
    char idx[PII_INDEX_HEX];
    pii_phone_index(&keys, PHONE, idx);
    assert_int_equal(strlen(idx), PII_INDEX_HEX - 1);
    assert_memory_equal(idx, "\\x", 2);
    assert_string_equal(idx + 2, hex);
}

static void test_phone_index_does_not_depend_on_data_key(void **state)
{
    (void)state;
    /* Resealing never moves an index: only the index key counts. */
    struct crypto_keys a, b;
    make_keys(&a, 1, 0xc0);
    make_keys(&b, 1, 0xc0);
    memset(b.sets[0].data_key, 0x99, sizeof b.sets[0].data_key);
    memset(b.sets[0].otp_key, 0x98, sizeof b.sets[0].otp_key);
    unsigned char x[CRYPTO_HASH_BYTES], y[CRYPTO_HASH_BYTES];
    pii_phone_index_raw(&a, PHONE, x);
    pii_phone_index_raw(&b, PHONE, y);
    assert_memory_equal(x, y, sizeof x);
}

/* The bytea[] element pii_phone_index_all should list for generation i of keys. */
static void expected_element(const struct crypto_keys *keys, int i, char *out, size_t cap)
{
    struct crypto_keys one = { .n = 1 };
    one.sets[0] = keys->sets[i];
    unsigned char raw[CRYPTO_HASH_BYTES];
    pii_phone_index_raw(&one, PHONE, raw);
    char hex[2 * CRYPTO_HASH_BYTES + 1];
    crypto_hex(raw, sizeof raw, hex);
    snprintf(out, cap, "\"\\\\x%s\"", hex);
}

static void test_phone_index_all_lists_every_generation_in_order(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 3, 0x05);
    struct strbuf sb;
    strbuf_init(&sb);
    pii_phone_index_all(&keys, PHONE, &sb);
    char want[3 * 80 + 8];
    char el[80];
    strcpy(want, "{");
    for (int i = 0; i < 3; i++) {
        expected_element(&keys, i, el, sizeof el);
        if (i > 0) {
            strcat(want, ",");
        }
        strcat(want, el);
    }
    strcat(want, "}");
    assert_string_equal(sb.data, want);
    /* The last element is the current index. */
    char cur[PII_INDEX_HEX];
    pii_phone_index(&keys, PHONE, cur);
    assert_non_null(strstr(sb.data, cur + 2));
    strbuf_deinit(&sb);
}

static void test_phone_index_all_with_one_generation_has_one_element(void **state)
{
    (void)state;
    struct crypto_keys keys;
    make_keys(&keys, 1, 0x05);
    struct strbuf sb;
    strbuf_init(&sb);
    pii_phone_index_all(&keys, PHONE, &sb);
    char el[80], want[90];
    expected_element(&keys, 0, el, sizeof el);
    snprintf(want, sizeof want, "{%s}", el);
    assert_string_equal(sb.data, want);
    strbuf_deinit(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_seal_phone_round_trips_with_current_version),
        cmocka_unit_test(test_seal_text_round_trips),
        cmocka_unit_test(test_seal_text_round_trips_empty_and_full_length),
        cmocka_unit_test(test_seal_text_keeps_only_pii_text_max_bytes),
        cmocka_unit_test(test_seal_uses_fresh_nonce_each_time),
        cmocka_unit_test(test_open_phone_refuses_another_row),
        cmocka_unit_test(test_open_text_refuses_another_row_at_int64_extremes),
        cmocka_unit_test(test_open_text_refuses_another_column),
        cmocka_unit_test(test_open_text_refuses_sealed_phone_read_as_other_column),
        cmocka_unit_test(test_open_refuses_any_tampered_byte),
        cmocka_unit_test(test_open_refuses_truncated_or_extended_value),
        cmocka_unit_test(test_open_refuses_null_and_malformed_column),
        cmocka_unit_test(test_open_refuses_value_too_big_for_output),
        cmocka_unit_test(test_open_refuses_wrong_or_unknown_version),
        cmocka_unit_test(test_open_finds_value_sealed_before_rotation),
        cmocka_unit_test(test_open_refuses_value_sealed_with_other_key_file),
        cmocka_unit_test(test_phone_index_is_deterministic),
        cmocka_unit_test(test_phone_index_differs_per_phone),
        cmocka_unit_test(test_phone_index_differs_per_key),
        cmocka_unit_test(test_phone_index_uses_current_generation),
        cmocka_unit_test(test_phone_index_hex_matches_raw),
        cmocka_unit_test(test_phone_index_does_not_depend_on_data_key),
        cmocka_unit_test(test_phone_index_all_lists_every_generation_in_order),
        cmocka_unit_test(test_phone_index_all_with_one_generation_has_one_element),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
