/* Unit tests for core/dbval: PostgreSQL text values (bytea hex, bigint, bool, text) read from a
 * PGresult built in memory, and packed to msgpack. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "core/dbval.h"
#include "core/strbuf.h"

/* --- A one-row, one-column PGresult made without a connection --- */

#define NULL_VALUE ((const char *)0)

/* A result with one text column per entry of values (NULL_VALUE for SQL NULL), one row. */
static PGresult *result_of(const char *const *values, int n)
{
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(res);
    PGresAttDesc attrs[8];
    assert_true(n <= 8);
    memset(attrs, 0, sizeof attrs);
    for (int i = 0; i < n; i++) {
        attrs[i].name = (char *)"v";
        attrs[i].typid = 25; /* text: dbval reads the text form whatever the type */
        attrs[i].typlen = -1;
        attrs[i].atttypmod = -1;
    }
    assert_int_equal(PQsetResultAttrs(res, n, attrs), 1);
    for (int i = 0; i < n; i++) {
        const char *v = values[i];
        assert_int_equal(PQsetvalue(res, 0, i, (char *)v, v ? (int)strlen(v) : -1), 1);
    }
    return res;
}

static PGresult *result1(const char *value)
{
    return result_of(&value, 1);
}

/* dbval_get_bytea of a one-value result. */
static long get_bytea(const char *value, unsigned char *out, size_t cap)
{
    PGresult *res = result1(value);
    long n = dbval_get_bytea(res, 0, 0, out, cap);
    PQclear(res);
    return n;
}

/* --- dbval_bytea, dbval_bytea_array_add --- */

static void test_bytea_writes_backslash_x_and_lowercase_hex(void **state)
{
    (void)state;
    static const unsigned char bin[] = { 0x00, 0x01, 0x7f, 0x80, 0xab, 0xff };
    char out[2 * sizeof bin + 3 + 1];
    memset(out, '#', sizeof out);
    dbval_bytea(bin, sizeof bin, out);
    assert_string_equal(out, "\\x00017f80abff");
    assert_int_equal(out[2 * sizeof bin + 3], '#'); /* stays within 2n + 3 */
}

static void test_bytea_of_nothing_is_bare_prefix(void **state)
{
    (void)state;
    char out[3];
    dbval_bytea((const unsigned char *)"", 0, out);
    assert_string_equal(out, "\\x");
}

static void test_bytea_array_add_builds_quoted_escaped_elements(void **state)
{
    (void)state;
    struct strbuf sb;
    strbuf_init(&sb);
    strbuf_append(&sb, "{", 1);
    dbval_bytea_array_add(&sb, (const unsigned char *)"\x01\xfe", 2);
    dbval_bytea_array_add(&sb, (const unsigned char *)"\xab", 1);
    dbval_bytea_array_add(&sb, (const unsigned char *)"", 0);
    strbuf_append(&sb, "}", 1);
    assert_string_equal(sb.data, "{\"\\\\x01fe\",\"\\\\xab\",\"\\\\x\"}");
    strbuf_deinit(&sb);
}

/* --- dbval_get_bytea --- */

static void test_get_bytea_round_trips_every_byte_value(void **state)
{
    (void)state;
    unsigned char bin[256];
    for (int i = 0; i < 256; i++) {
        bin[i] = (unsigned char)i;
    }
    char hex[2 * sizeof bin + 3];
    dbval_bytea(bin, sizeof bin, hex);
    unsigned char out[256];
    assert_int_equal(get_bytea(hex, out, sizeof out), 256);
    assert_memory_equal(out, bin, sizeof bin);
}

static void test_get_bytea_accepts_uppercase_hex(void **state)
{
    (void)state;
    unsigned char out[4];
    assert_int_equal(get_bytea("\\xDEADbeef", out, sizeof out), 4);
    assert_memory_equal(out, "\xde\xad\xbe\xef", 4);
}

static void test_get_bytea_of_empty_value_is_zero_length(void **state)
{
    (void)state;
    unsigned char out[1];
    assert_int_equal(get_bytea("\\x", out, 0), 0);
}

static void test_get_bytea_refuses_null(void **state)
{
    (void)state;
    unsigned char out[8];
    assert_int_equal(get_bytea(NULL_VALUE, out, sizeof out), -1);
}

static void test_get_bytea_refuses_missing_or_wrong_prefix(void **state)
{
    (void)state;
    unsigned char out[8];
    assert_int_equal(get_bytea("", out, sizeof out), -1);
    assert_int_equal(get_bytea("\\", out, sizeof out), -1);
    assert_int_equal(get_bytea("0102", out, sizeof out), -1);
    assert_int_equal(get_bytea("x0102", out, sizeof out), -1);
    assert_int_equal(get_bytea("\\X0102", out, sizeof out), -1);
    assert_int_equal(get_bytea("\\001\\002", out, sizeof out), -1); /* escape format */
}

static void test_get_bytea_refuses_odd_number_of_digits(void **state)
{
    (void)state;
    unsigned char out[8];
    assert_int_equal(get_bytea("\\x012", out, sizeof out), -1);
    assert_int_equal(get_bytea("\\x0", out, sizeof out), -1);
}

static void test_get_bytea_refuses_non_hex_characters(void **state)
{
    (void)state;
    unsigned char out[8];
    assert_int_equal(get_bytea("\\x0g", out, sizeof out), -1);
    assert_int_equal(get_bytea("\\xG0", out, sizeof out), -1);
    assert_int_equal(get_bytea("\\x 01", out, sizeof out), -1);
    assert_int_equal(get_bytea("\\x01 ", out, sizeof out), -1);
    assert_int_equal(get_bytea("\\x0x", out, sizeof out), -1);
    assert_int_equal(get_bytea("\\x-1", out, sizeof out), -1);
    assert_int_equal(get_bytea("\\x\xc1\xc2", out, sizeof out), -1);
}

static void test_get_bytea_refuses_control_bytes_that_look_like_digits_in_lowercase(
    void **state)
{
    (void)state;
    /* 0x10..0x19 with the 0x20 bit set are '0'..'9': a case-folding shortcut must not let
     * them through. */
    unsigned char out[8];
    assert_int_equal(get_bytea("\\x\x10\x11", out, sizeof out), -1);
    assert_int_equal(get_bytea("\\x0\x19", out, sizeof out), -1);
}

static void test_get_bytea_fills_exactly_cap(void **state)
{
    (void)state;
    unsigned char out[4] = { 0 };
    assert_int_equal(get_bytea("\\x01020304", out, sizeof out), 4);
    assert_memory_equal(out, "\x01\x02\x03\x04", 4);
}

static void test_get_bytea_refuses_value_longer_than_cap(void **state)
{
    (void)state;
    unsigned char out[5] = { 0xaa, 0xaa, 0xaa, 0xaa, 0xaa };
    assert_int_equal(get_bytea("\\x0102030405", out, 4), -1);
    assert_int_equal(out[4], 0xaa); /* nothing written past cap */
    assert_int_equal(get_bytea("\\x01", out, 0), -1);
}

static void test_get_bytea_reads_the_addressed_cell(void **state)
{
    (void)state;
    const char *values[] = { "\\x01", NULL_VALUE, "\\x0203" };
    PGresult *res = result_of(values, 3);
    unsigned char out[4];
    assert_int_equal(dbval_get_bytea(res, 0, 0, out, sizeof out), 1);
    assert_int_equal(out[0], 0x01);
    assert_int_equal(dbval_get_bytea(res, 0, 1, out, sizeof out), -1);
    assert_int_equal(dbval_get_bytea(res, 0, 2, out, sizeof out), 2);
    assert_memory_equal(out, "\x02\x03", 2);
    PQclear(res);
}

/* --- dbval_get_i64, dbval_get_bool, dbval_get_text --- */

static int64_t get_i64(const char *value)
{
    PGresult *res = result1(value);
    int64_t v = dbval_get_i64(res, 0, 0);
    PQclear(res);
    return v;
}

static bool get_bool(const char *value)
{
    PGresult *res = result1(value);
    bool v = dbval_get_bool(res, 0, 0);
    PQclear(res);
    return v;
}

static void test_get_i64_parses_bigint_range(void **state)
{
    (void)state;
    assert_true(get_i64("0") == 0);
    assert_true(get_i64("42") == 42);
    assert_true(get_i64("-17") == -17);
    assert_true(get_i64("9007199254740993") == 9007199254740993LL); /* beyond a double */
    assert_true(get_i64("9223372036854775807") == INT64_MAX);
    assert_true(get_i64("-9223372036854775808") == INT64_MIN);
}

static void test_get_i64_of_null_is_zero(void **state)
{
    (void)state;
    assert_true(get_i64(NULL_VALUE) == 0);
}

static void test_get_bool_is_true_only_for_t(void **state)
{
    (void)state;
    assert_true(get_bool("t"));
    assert_false(get_bool("f"));
    assert_false(get_bool(""));
    assert_false(get_bool(NULL_VALUE));
}

static void test_get_text_returns_value_or_null(void **state)
{
    (void)state;
    const char *values[] = { "Ananya Sharma", NULL_VALUE, "" };
    PGresult *res = result_of(values, 3);
    assert_string_equal(dbval_get_text(res, 0, 0), "Ananya Sharma");
    assert_null(dbval_get_text(res, 0, 1));
    /* An empty string is a value, not NULL. */
    assert_non_null(dbval_get_text(res, 0, 2));
    assert_string_equal(dbval_get_text(res, 0, 2), "");
    PQclear(res);
}

/* --- dbval_i64 --- */

static void test_i64_formats_decimal_including_extremes(void **state)
{
    (void)state;
    char buf[24];
    assert_ptr_equal(dbval_i64(0, buf), buf);
    assert_string_equal(buf, "0");
    assert_string_equal(dbval_i64(-1, buf), "-1");
    assert_string_equal(dbval_i64(1234567890123, buf), "1234567890123");
    assert_string_equal(dbval_i64(INT64_MAX, buf), "9223372036854775807");
    assert_string_equal(dbval_i64(INT64_MIN, buf), "-9223372036854775808");
}

static void test_i64_round_trips_through_get_i64(void **state)
{
    (void)state;
    static const int64_t vs[] = { INT64_MIN, INT64_MIN + 1, -1, 0, 1, INT64_MAX - 1, INT64_MAX };
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        char buf[24];
        assert_true(get_i64(dbval_i64(vs[i], buf)) == vs[i]);
    }
}

/* --- dbval_pack_text, dbval_pack_i64 --- */

/* A packed value and what it unpacks to; strings point into the packed buffer. */
struct packed {
    msgpack_sbuffer sbuf;
    msgpack_unpacked u;
};

/* Packs column col of res with pack, then unpacks exactly one object into p->u. */
static void pack_and_unpack(void (*pack)(msgpack_packer *, const PGresult *, int, int),
                            const PGresult *res, int col, struct packed *p)
{
    msgpack_sbuffer_init(&p->sbuf);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &p->sbuf, msgpack_sbuffer_write);
    pack(&pk, res, 0, col);
    size_t off = 0;
    msgpack_unpacked_init(&p->u);
    assert_int_equal(msgpack_unpack_next(&p->u, p->sbuf.data, p->sbuf.size, &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, p->sbuf.size); /* one object, nothing else */
}

static void packed_destroy(struct packed *p)
{
    msgpack_unpacked_destroy(&p->u);
    msgpack_sbuffer_destroy(&p->sbuf);
}

static void test_pack_text_packs_string_or_nil(void **state)
{
    (void)state;
    const char *values[] = { "Ananya", NULL_VALUE, "" };
    PGresult *res = result_of(values, 3);
    struct packed p;

    pack_and_unpack(dbval_pack_text, res, 0, &p);
    assert_int_equal(p.u.data.type, MSGPACK_OBJECT_STR);
    assert_int_equal(p.u.data.via.str.size, 6);
    assert_memory_equal(p.u.data.via.str.ptr, "Ananya", 6);
    packed_destroy(&p);

    pack_and_unpack(dbval_pack_text, res, 1, &p);
    assert_int_equal(p.u.data.type, MSGPACK_OBJECT_NIL);
    packed_destroy(&p);

    pack_and_unpack(dbval_pack_text, res, 2, &p);
    assert_int_equal(p.u.data.type, MSGPACK_OBJECT_STR);
    assert_int_equal(p.u.data.via.str.size, 0);
    packed_destroy(&p);
    PQclear(res);
}

static void test_pack_text_keeps_utf8_bytes(void **state)
{
    (void)state;
    const char *s = "\xe0\xa4\x85\xe0\xa4\xa8\xe0\xa4\xa8\xe0\xa5\x8d\xe0\xa4\xaf\xe0\xa4\xbe";
    PGresult *res = result1(s);
    struct packed p;
    pack_and_unpack(dbval_pack_text, res, 0, &p);
    assert_int_equal(p.u.data.type, MSGPACK_OBJECT_STR);
    assert_int_equal(p.u.data.via.str.size, strlen(s));
    assert_memory_equal(p.u.data.via.str.ptr, s, strlen(s));
    packed_destroy(&p);
    PQclear(res);
}

static void test_pack_i64_packs_integer_or_nil(void **state)
{
    (void)state;
    const char *values[] = { "9223372036854775807", "-9223372036854775808", "0", NULL_VALUE };
    PGresult *res = result_of(values, 4);
    struct packed p;

    pack_and_unpack(dbval_pack_i64, res, 0, &p);
    assert_int_equal(p.u.data.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_true(p.u.data.via.u64 == (uint64_t)INT64_MAX);
    packed_destroy(&p);

    pack_and_unpack(dbval_pack_i64, res, 1, &p);
    assert_int_equal(p.u.data.type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    assert_true(p.u.data.via.i64 == INT64_MIN);
    packed_destroy(&p);

    pack_and_unpack(dbval_pack_i64, res, 2, &p);
    assert_int_equal(p.u.data.type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_true(p.u.data.via.u64 == 0);
    packed_destroy(&p);

    /* NULL is nil, not the 0 that dbval_get_i64 gives. */
    pack_and_unpack(dbval_pack_i64, res, 3, &p);
    assert_int_equal(p.u.data.type, MSGPACK_OBJECT_NIL);
    packed_destroy(&p);
    PQclear(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bytea_writes_backslash_x_and_lowercase_hex),
        cmocka_unit_test(test_bytea_of_nothing_is_bare_prefix),
        cmocka_unit_test(test_bytea_array_add_builds_quoted_escaped_elements),
        cmocka_unit_test(test_get_bytea_round_trips_every_byte_value),
        cmocka_unit_test(test_get_bytea_accepts_uppercase_hex),
        cmocka_unit_test(test_get_bytea_of_empty_value_is_zero_length),
        cmocka_unit_test(test_get_bytea_refuses_null),
        cmocka_unit_test(test_get_bytea_refuses_missing_or_wrong_prefix),
        cmocka_unit_test(test_get_bytea_refuses_odd_number_of_digits),
        cmocka_unit_test(test_get_bytea_refuses_non_hex_characters),
        cmocka_unit_test(test_get_bytea_refuses_control_bytes_that_look_like_digits_in_lowercase),
        cmocka_unit_test(test_get_bytea_fills_exactly_cap),
        cmocka_unit_test(test_get_bytea_refuses_value_longer_than_cap),
        cmocka_unit_test(test_get_bytea_reads_the_addressed_cell),
        cmocka_unit_test(test_get_i64_parses_bigint_range),
        cmocka_unit_test(test_get_i64_of_null_is_zero),
        cmocka_unit_test(test_get_bool_is_true_only_for_t),
        cmocka_unit_test(test_get_text_returns_value_or_null),
        cmocka_unit_test(test_i64_formats_decimal_including_extremes),
        cmocka_unit_test(test_i64_round_trips_through_get_i64),
        cmocka_unit_test(test_pack_text_packs_string_or_nil),
        cmocka_unit_test(test_pack_text_keeps_utf8_bytes),
        cmocka_unit_test(test_pack_i64_packs_integer_or_nil),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
