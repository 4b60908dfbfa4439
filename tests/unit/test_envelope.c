/* Unit tests for core/envelope: the pre-scan that guards msgpack-c against hostile frames, the
 * request decoder, the reply/failure/event writers and the wire error codes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "core/envelope.h"

/* --- Building frames byte by byte, so hostile encodings are spelled out exactly --- */

struct bytes {
    unsigned char d[8192];
    size_t n;
};

static void put(struct bytes *b, const void *p, size_t n)
{
    assert_true(b->n + n <= sizeof b->d);
    memcpy(b->d + b->n, p, n);
    b->n += n;
}

static void put1(struct bytes *b, unsigned v)
{
    unsigned char c = (unsigned char)v;
    put(b, &c, 1);
}

static void put_be(struct bytes *b, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        put1(b, (unsigned)(v >> (8 * i)) & 0xff);
    }
}

/* A fixstr (or str8 for 32..255 bytes) holding n bytes of s. */
static void put_strn(struct bytes *b, const char *s, size_t n)
{
    if (n < 32) {
        put1(b, 0xa0 | (unsigned)n);
    } else {
        assert_true(n <= 255);
        put1(b, 0xd9);
        put1(b, (unsigned)n);
    }
    put(b, s, n);
}

static void put_str(struct bytes *b, const char *s)
{
    put_strn(b, s, strlen(s));
}

/* {"id":7,"op":"sys.ping","args":{"a":1}} */
static void valid_request(struct bytes *b)
{
    put1(b, 0x83);
    put_str(b, "id");
    put1(b, 7);
    put_str(b, "op");
    put_str(b, "sys.ping");
    put_str(b, "args");
    put1(b, 0x81);
    put_str(b, "a");
    put1(b, 1);
}

/* --- Decoding from an exact-size heap copy, so valgrind and ASan see any over-read --- */

struct dec {
    struct envelope_request req;
    struct envelope_error err;
    unsigned char *frame;
    int rc;
};

static void dec_run(struct dec *d, const void *data, size_t n)
{
    d->frame = malloc(n ? n : 1);
    assert_non_null(d->frame);
    if (n) {
        memcpy(d->frame, data, n);
    }
    d->err.code = OP_OK;
    d->err.message = "(unset)";
    d->err.field = "(unset)";
    d->rc = envelope_decode(&d->req, d->frame, n, &d->err);
}

static void dec_done(struct dec *d)
{
    envelope_request_deinit(&d->req);
    free(d->frame);
    d->frame = NULL;
}

static void assert_refused(struct dec *d, const char *field)
{
    assert_int_equal(d->rc, OP_E_BAD_REQUEST);
    assert_int_equal(d->err.code, OP_E_BAD_REQUEST);
    assert_non_null(d->err.message);
    assert_true(strlen(d->err.message) > 0);
    if (field) {
        assert_non_null(d->err.field);
        assert_string_equal(d->err.field, field);
    } else {
        assert_null(d->err.field);
    }
}

/* Refused by the pre-scan: msgpack-c never ran, so it never allocated a zone. */
static void assert_refused_before_unpacking(struct dec *d)
{
    assert_refused(d, NULL);
    assert_false(d->req.has_id);
    assert_null(d->req.unpacked.zone);
    assert_null(d->req.args);
}

static int prescan(const struct bytes *b, int max_depth, const char **why)
{
    unsigned char *copy = malloc(b->n ? b->n : 1);
    assert_non_null(copy);
    memcpy(copy, b->d, b->n);
    *why = NULL;
    int rc = envelope_prescan(copy, b->n, max_depth, why);
    free(copy);
    return rc;
}

/* --- Reading produced messages --- */

static void unpack_msg(struct msgbuf *m, msgpack_unpacked *u)
{
    size_t off = 0;
    msgpack_unpacked_init(u);
    assert_int_equal(msgpack_unpack_next(u, (const char *)msgbuf_data(m), m->len, &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, m->len);
    assert_int_equal(u->data.type, MSGPACK_OBJECT_MAP);
}

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
    assert_int_equal(map->type, MSGPACK_OBJECT_MAP);
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            memcmp(k->via.str.ptr, key, n) == 0) {
            return &map->via.map.ptr[i].val;
        }
    }
    return NULL;
}

static void assert_obj_str(const msgpack_object *o, const char *s)
{
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_STR);
    assert_int_equal(o->via.str.size, strlen(s));
    assert_memory_equal(o->via.str.ptr, s, strlen(s));
}

static void assert_obj_u64(const msgpack_object *o, uint64_t v)
{
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_true(o->via.u64 == v);
}

static void assert_obj_bool(const msgpack_object *o, bool v)
{
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_BOOLEAN);
    assert_int_equal(o->via.boolean, v);
}

/* --- Valid requests --- */

static void test_decode_accepts_request_with_id_op_and_args(void **state)
{
    (void)state;
    struct bytes b = { .n = 0 };
    valid_request(&b);
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_int_equal(d.rc, 0);
    assert_true(d.req.has_id);
    assert_true(d.req.id == 7);
    assert_int_equal(d.req.op_len, 8);
    assert_memory_equal(d.req.op, "sys.ping", 8);
    /* op points into the frame: zero copy */
    assert_true((const unsigned char *)d.req.op >= d.frame &&
                (const unsigned char *)d.req.op < d.frame + b.n);
    assert_non_null(d.req.args);
    assert_int_equal(d.req.args->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(d.req.args->via.map.size, 1);
    assert_obj_u64(get(d.req.args, "a"), 1);
    dec_done(&d);
}

static void test_decode_accepts_request_without_id(void **state)
{
    (void)state;
    struct bytes b = { .n = 0 };
    put1(&b, 0x82);
    put_str(&b, "op");
    put_str(&b, "trip.pos");
    put_str(&b, "args");
    put1(&b, 0x80);
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_int_equal(d.rc, 0);
    assert_false(d.req.has_id);
    assert_int_equal(d.req.op_len, 8);
    assert_memory_equal(d.req.op, "trip.pos", 8);
    assert_non_null(d.req.args);
    assert_int_equal(d.req.args->via.map.size, 0);
    dec_done(&d);
}

static void test_decode_treats_absent_args_as_null(void **state)
{
    (void)state;
    struct bytes b = { .n = 0 };
    put1(&b, 0x82);
    put_str(&b, "id");
    put1(&b, 1);
    put_str(&b, "op");
    put_str(&b, "sys.ping");
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_int_equal(d.rc, 0);
    assert_true(d.req.has_id);
    assert_null(d.req.args);
    dec_done(&d);
}

static void test_decode_treats_nil_args_as_null(void **state)
{
    (void)state;
    struct bytes b = { .n = 0 };
    put1(&b, 0x83);
    put_str(&b, "id");
    put1(&b, 1);
    put_str(&b, "op");
    put_str(&b, "sys.ping");
    put_str(&b, "args");
    put1(&b, 0xc0);
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_int_equal(d.rc, 0);
    assert_null(d.req.args);
    dec_done(&d);
}

static void test_decode_echoes_id_zero_and_uint64_max(void **state)
{
    (void)state;
    const uint64_t ids[] = { 0, 1, 127, 128, 65535, 4294967296ull, UINT64_MAX };
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        struct bytes b = { .n = 0 };
        put1(&b, 0x82);
        put_str(&b, "id");
        put1(&b, 0xcf);
        put_be(&b, ids[i], 8);
        put_str(&b, "op");
        put_str(&b, "x");
        struct dec d;
        dec_run(&d, b.d, b.n);
        assert_int_equal(d.rc, 0);
        assert_true(d.req.has_id);
        assert_true(d.req.id == ids[i]);
        dec_done(&d);
    }
}

static void test_decode_accepts_id_packed_as_signed_int_when_non_negative(void **state)
{
    (void)state;
    struct bytes b = { .n = 0 };
    put1(&b, 0x82);
    put_str(&b, "id");
    put1(&b, 0xd3); /* int64 5 */
    put_be(&b, 5, 8);
    put_str(&b, "op");
    put_str(&b, "x");
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_int_equal(d.rc, 0);
    assert_true(d.req.has_id);
    assert_true(d.req.id == 5);
    dec_done(&d);
}

static void test_decode_ignores_unknown_and_non_string_keys(void **state)
{
    (void)state;
    struct bytes b = { .n = 0 };
    put1(&b, 0x85);
    put_str(&b, "op");
    put_str(&b, "x");
    put_str(&b, "extra");
    put1(&b, 0x92);
    put1(&b, 1);
    put1(&b, 2);
    put1(&b, 1); /* integer key 1 */
    put1(&b, 2);
    put_str(&b, "ID"); /* keys are case-sensitive */
    put_str(&b, "nope");
    put1(&b, 0xc4); /* bin key "id" is not the string "id" */
    put1(&b, 2);
    put(&b, "id", 2);
    put_str(&b, "nope");
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_int_equal(d.rc, 0);
    assert_false(d.req.has_id);
    assert_null(d.req.args);
    dec_done(&d);
}

static void test_decode_accepts_op_of_64_bytes(void **state)
{
    (void)state;
    char op[64];
    memset(op, 'o', sizeof op);
    struct bytes b = { .n = 0 };
    put1(&b, 0x81);
    put_str(&b, "op");
    put_strn(&b, op, sizeof op);
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_int_equal(d.rc, 0);
    assert_int_equal(d.req.op_len, 64);
    dec_done(&d);
}

/* --- Bad id: the request cannot be answered, so has_id stays false --- */

static void check_bad_id(void (*put_id)(struct bytes *))
{
    struct bytes b = { .n = 0 };
    put1(&b, 0x82);
    put_str(&b, "id");
    put_id(&b);
    put_str(&b, "op");
    put_str(&b, "trip.end");
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_refused(&d, "id");
    assert_false(d.req.has_id);
    /* the op could still be read, so the error event can name it */
    assert_int_equal(d.req.op_len, 8);
    assert_memory_equal(d.req.op, "trip.end", 8);
    dec_done(&d);
}

static void put_id_string(struct bytes *b)
{
    put_str(b, "7");
}

static void put_id_negative(struct bytes *b)
{
    put1(b, 0xff); /* -1 */
}

static void put_id_negative_int64_min(struct bytes *b)
{
    put1(b, 0xd3);
    put_be(b, 0x8000000000000000ull, 8);
}

static void put_id_float(struct bytes *b)
{
    put1(b, 0xcb); /* 7.0 */
    put_be(b, 0x401c000000000000ull, 8);
}

static void put_id_float32(struct bytes *b)
{
    put1(b, 0xca); /* 7.0f */
    put_be(b, 0x40e00000u, 4);
}

static void put_id_map(struct bytes *b)
{
    put1(b, 0x81);
    put_str(b, "id");
    put1(b, 7);
}

static void put_id_array(struct bytes *b)
{
    put1(b, 0x91);
    put1(b, 7);
}

static void put_id_nil(struct bytes *b)
{
    put1(b, 0xc0);
}

static void put_id_bool(struct bytes *b)
{
    put1(b, 0xc3);
}

static void put_id_bin(struct bytes *b)
{
    put1(b, 0xc4);
    put1(b, 1);
    put1(b, 7);
}

static void test_decode_rejects_string_id_without_has_id(void **state)
{
    (void)state;
    check_bad_id(put_id_string);
}

static void test_decode_rejects_negative_id_without_has_id(void **state)
{
    (void)state;
    check_bad_id(put_id_negative);
    check_bad_id(put_id_negative_int64_min);
}

static void test_decode_rejects_float_id_without_has_id(void **state)
{
    (void)state;
    check_bad_id(put_id_float);
    check_bad_id(put_id_float32);
}

static void test_decode_rejects_map_id_without_has_id(void **state)
{
    (void)state;
    check_bad_id(put_id_map);
    check_bad_id(put_id_array);
}

static void test_decode_rejects_nil_bool_and_bin_id_without_has_id(void **state)
{
    (void)state;
    check_bad_id(put_id_nil);
    check_bad_id(put_id_bool);
    check_bad_id(put_id_bin);
}

/* --- Bad op: answerable when the id was fine --- */

static void check_bad_op(bool with_id, void (*put_op)(struct bytes *))
{
    struct bytes b = { .n = 0 };
    put1(&b, 0x80 + (with_id ? 1u : 0u) + (put_op ? 1u : 0u));
    if (with_id) {
        put_str(&b, "id");
        put1(&b, 42);
    }
    if (put_op) {
        put_str(&b, "op");
        put_op(&b);
    }
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_refused(&d, "op");
    assert_int_equal(d.req.has_id, with_id);
    if (with_id) {
        assert_true(d.req.id == 42);
    }
    dec_done(&d);
}

static void put_op_int(struct bytes *b)
{
    put1(b, 5);
}

static void put_op_empty(struct bytes *b)
{
    put_str(b, "");
}

static void put_op_65(struct bytes *b)
{
    char op[65];
    memset(op, 'o', sizeof op);
    put_strn(b, op, sizeof op);
}

static void put_op_nil(struct bytes *b)
{
    put1(b, 0xc0);
}

static void put_op_bin(struct bytes *b)
{
    put1(b, 0xc4);
    put1(b, 8);
    put(b, "sys.ping", 8);
}

static void test_decode_rejects_missing_op_naming_op(void **state)
{
    (void)state;
    check_bad_op(true, NULL);
    check_bad_op(false, NULL);
}

static void test_decode_rejects_integer_op_naming_op(void **state)
{
    (void)state;
    check_bad_op(true, put_op_int);
    check_bad_op(false, put_op_int);
}

static void test_decode_rejects_empty_op_naming_op(void **state)
{
    (void)state;
    check_bad_op(true, put_op_empty);
    check_bad_op(false, put_op_empty);
}

static void test_decode_rejects_op_of_65_bytes_naming_op(void **state)
{
    (void)state;
    check_bad_op(true, put_op_65);
    check_bad_op(false, put_op_65);
}

static void test_decode_rejects_nil_and_bin_op_naming_op(void **state)
{
    (void)state;
    check_bad_op(true, put_op_nil);
    check_bad_op(true, put_op_bin);
}

/* --- Bad args: answerable --- */

static void check_bad_args(void (*put_args)(struct bytes *))
{
    struct bytes b = { .n = 0 };
    put1(&b, 0x83);
    put_str(&b, "id");
    put1(&b, 9);
    put_str(&b, "op");
    put_str(&b, "sys.ping");
    put_str(&b, "args");
    put_args(&b);
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_refused(&d, "args");
    assert_true(d.req.has_id);
    assert_true(d.req.id == 9);
    assert_null(d.req.args);
    dec_done(&d);
}

static void put_args_array(struct bytes *b)
{
    put1(b, 0x92);
    put1(b, 1);
    put1(b, 2);
}

static void put_args_string(struct bytes *b)
{
    put_str(b, "a=1");
}

static void put_args_int(struct bytes *b)
{
    put1(b, 0);
}

static void put_args_false(struct bytes *b)
{
    put1(b, 0xc2);
}

static void test_decode_rejects_array_args_answerably(void **state)
{
    (void)state;
    check_bad_args(put_args_array);
}

static void test_decode_rejects_string_args_answerably(void **state)
{
    (void)state;
    check_bad_args(put_args_string);
}

static void test_decode_rejects_scalar_args_answerably(void **state)
{
    (void)state;
    check_bad_args(put_args_int);
    check_bad_args(put_args_false);
}

/* --- Not a map --- */

static void check_not_a_map(const void *frame, size_t n)
{
    struct dec d;
    dec_run(&d, frame, n);
    assert_refused(&d, NULL);
    assert_string_equal(d.err.message, "a message must be a msgpack map");
    assert_false(d.req.has_id);
    assert_null(d.req.op);
    assert_null(d.req.args);
    dec_done(&d);
}

static void test_decode_rejects_frame_that_is_not_a_map(void **state)
{
    (void)state;
    check_not_a_map("\x92\x01\x02", 3);             /* array */
    check_not_a_map("\x90", 1);                     /* empty array */
    check_not_a_map("\x2a", 1);                     /* int */
    check_not_a_map("\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9);
    check_not_a_map("\xa2op", 3);                   /* str */
    check_not_a_map("\xc0", 1);                     /* nil */
    check_not_a_map("\xc3", 1);                     /* true */
    check_not_a_map("\xc4\x02op", 4);               /* bin */
    check_not_a_map("\xd4\x01\x00", 3);             /* fixext1 */
}

/* --- Broken msgpack --- */

static void test_decode_rejects_every_truncation_of_a_valid_request(void **state)
{
    (void)state;
    struct bytes b = { .n = 0 };
    valid_request(&b);
    for (size_t n = 0; n < b.n; n++) {
        struct dec d;
        dec_run(&d, b.d, n);
        assert_refused_before_unpacking(&d);
        assert_null(d.req.op);
        dec_done(&d);
    }
    /* and the whole frame is fine */
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_int_equal(d.rc, 0);
    dec_done(&d);
}

static void test_decode_rejects_every_truncation_of_a_request_using_every_width(void **state)
{
    (void)state;
    struct bytes b = { .n = 0 };
    put1(&b, 0xde); /* map16 of 3 */
    put_be(&b, 3, 2);
    put1(&b, 0xd9);
    put1(&b, 2);
    put(&b, "id", 2);
    put1(&b, 0xce);
    put_be(&b, 70000, 4);
    put1(&b, 0xda);
    put_be(&b, 2, 2);
    put(&b, "op", 2);
    put1(&b, 0xdb);
    put_be(&b, 8, 4);
    put(&b, "sys.ping", 8);
    put_str(&b, "args");
    put1(&b, 0xdf);
    put_be(&b, 3, 4);
    put_str(&b, "b");
    put1(&b, 0xc6);
    put_be(&b, 3, 4);
    put(&b, "xyz", 3);
    put_str(&b, "e");
    put1(&b, 0xc9);
    put_be(&b, 2, 4);
    put1(&b, 7);
    put(&b, "ab", 2);
    put_str(&b, "l");
    put1(&b, 0xdd);
    put_be(&b, 2, 4);
    put1(&b, 0xcb);
    put_be(&b, 0x3ff8000000000000ull, 8);
    put1(&b, 0xd3);
    put_be(&b, (uint64_t)-5, 8);
    for (size_t n = 0; n < b.n; n++) {
        struct dec d;
        dec_run(&d, b.d, n);
        assert_refused_before_unpacking(&d);
        dec_done(&d);
    }
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_int_equal(d.rc, 0);
    assert_true(d.req.id == 70000);
    assert_int_equal(d.req.args->via.map.size, 3);
    dec_done(&d);
}

static void test_decode_rejects_reserved_byte_c1(void **state)
{
    (void)state;
    struct dec d;
    dec_run(&d, "\xc1", 1);
    assert_refused_before_unpacking(&d);
    assert_string_equal(d.err.message, "invalid msgpack");
    dec_done(&d);

    /* inside a map value too */
    struct bytes b = { .n = 0 };
    put1(&b, 0x82);
    put_str(&b, "op");
    put_str(&b, "x");
    put_str(&b, "args");
    put1(&b, 0xc1);
    dec_run(&d, b.d, b.n);
    assert_refused_before_unpacking(&d);
    dec_done(&d);
}

static void test_decode_rejects_trailing_bytes(void **state)
{
    (void)state;
    struct bytes b = { .n = 0 };
    valid_request(&b);
    put1(&b, 0xc0);
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_refused_before_unpacking(&d);
    assert_string_equal(d.err.message, "trailing bytes after the message");
    dec_done(&d);

    /* two whole requests in one frame */
    struct bytes two = { .n = 0 };
    valid_request(&two);
    valid_request(&two);
    dec_run(&d, two.d, two.n);
    assert_refused_before_unpacking(&d);
    dec_done(&d);

    /* a trailing NUL byte */
    struct bytes nul = { .n = 0 };
    valid_request(&nul);
    put1(&nul, 0x00);
    dec_run(&d, nul.d, nul.n);
    assert_refused_before_unpacking(&d);
    dec_done(&d);
}

static void test_decode_rejects_empty_frame(void **state)
{
    (void)state;
    struct dec d;
    dec_run(&d, "", 0);
    assert_refused_before_unpacking(&d);
    assert_string_equal(d.err.message, "empty message");
    dec_done(&d);

    const char *why = NULL;
    assert_int_equal(envelope_prescan(NULL, 0, ENVELOPE_MAX_DEPTH, &why), OP_E_BAD_REQUEST);
    assert_non_null(why);
}

/* --- Hostile container counts: 5-byte frames asking msgpack-c for gigabytes --- */

static void check_bomb(const char *frame, size_t n)
{
    struct dec d;
    dec_run(&d, frame, n);
    assert_refused_before_unpacking(&d);
    assert_string_equal(d.err.message, "truncated msgpack");
    dec_done(&d);
}

static void test_decode_rejects_array32_bomb_without_allocating(void **state)
{
    (void)state;
    check_bomb("\xdd\x0f\xff\xff\xff", 5);
    check_bomb("\xdd\xff\xff\xff\xff", 5);
    check_bomb("\xdd\x00\x00\x00\x05\x01\x02\x03\x04", 9); /* one element short */
    check_bomb("\xdc\xff\xff", 3);                          /* array16 */
    check_bomb("\x9f", 1);                                  /* fixarray of 15 */
}

static void test_decode_rejects_map32_bomb_without_allocating(void **state)
{
    (void)state;
    check_bomb("\xdf\x0f\xff\xff\xff", 5);
    check_bomb("\xdf\xff\xff\xff\xff", 5);
    check_bomb("\xde\xff\xff", 3);                          /* map16 */
    /* 3 pairs need 6 values; 4 bytes remain (a count of pairs, not of values) */
    check_bomb("\xdf\x00\x00\x00\x03\x01\x02\x03\x04", 9);
    check_bomb("\x8f\x01\x02", 3);                          /* fixmap of 15 */
}

static void test_decode_rejects_str32_and_bin32_bombs_without_allocating(void **state)
{
    (void)state;
    check_bomb("\xdb\x0f\xff\xff\xff", 5);
    check_bomb("\xdb\xff\xff\xff\xff", 5);
    check_bomb("\xc6\x0f\xff\xff\xff", 5);
    check_bomb("\xc6\xff\xff\xff\xff", 5);
    check_bomb("\xda\xff\xff", 3);                          /* str16 */
    check_bomb("\xd9\xff", 2);                              /* str8 */
    check_bomb("\xc5\xff\xff", 3);                          /* bin16 */
    check_bomb("\xc4\xff", 2);                              /* bin8 */
    check_bomb("\xbf", 1);                                  /* fixstr of 31 */
}

static void test_decode_rejects_ext32_bomb_without_allocating(void **state)
{
    (void)state;
    check_bomb("\xc9\xff\xff\xff\xff\x01", 6);
    check_bomb("\xc9\x0f\xff\xff\xff", 5);
    check_bomb("\xc8\xff\xff\x01", 4);
    check_bomb("\xc7\xff\x01", 3);
    check_bomb("\xd8\x01", 2);                              /* fixext16 with no body */
}

static void test_decode_rejects_truncated_headers(void **state)
{
    (void)state;
    /* a type byte whose length or value field is cut short */
    static const char *const heads[] = {
        "\xdd", "\xdd\x00", "\xdd\x00\x00\x00", "\xdf\x00\x00", "\xdc\x00", "\xde",
        "\xdb\x00\x00", "\xc6", "\xc9\x00\x00\x00\x00", "\xcf\x00", "\xcb", "\xca\x00\x00",
        "\xd3\x00\x00\x00\x00\x00\x00\x00", "\xcc", "\xd0",
    };
    static const size_t lens[] = { 1, 2, 4, 3, 2, 1, 3, 1, 5, 2, 1, 3, 8, 1, 1 };
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++) {
        struct dec d;
        dec_run(&d, heads[i], lens[i]);
        assert_refused_before_unpacking(&d);
        dec_done(&d);
    }
}

static void test_decode_rejects_bombs_nested_inside_a_request(void **state)
{
    (void)state;
    static const char *const bombs[] = {
        "\xdd\x0f\xff\xff\xff", "\xdf\x0f\xff\xff\xff", "\xdb\x0f\xff\xff\xff",
        "\xc6\x0f\xff\xff\xff", "\xc9\x0f\xff\xff\xff",
    };
    for (size_t i = 0; i < sizeof bombs / sizeof bombs[0]; i++) {
        /* as the value of an args key */
        struct bytes b = { .n = 0 };
        put1(&b, 0x83);
        put_str(&b, "id");
        put1(&b, 1);
        put_str(&b, "op");
        put_str(&b, "x");
        put_str(&b, "args");
        put1(&b, 0x81);
        put_str(&b, "k");
        put(&b, bombs[i], 5);
        struct dec d;
        dec_run(&d, b.d, b.n);
        assert_refused_before_unpacking(&d);
        dec_done(&d);

        /* as a key, with padding so that the frame is longer than the bomb header */
        struct bytes k = { .n = 0 };
        put1(&k, 0x82);
        put(&k, bombs[i], 5);
        put1(&k, 0xc0);
        put_str(&k, "op");
        put_str(&k, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
        dec_run(&d, k.d, k.n);
        assert_refused_before_unpacking(&d);
        dec_done(&d);

        /* as the id */
        struct bytes id = { .n = 0 };
        put1(&id, 0x82);
        put_str(&id, "id");
        put(&id, bombs[i], 5);
        put_str(&id, "op");
        put_str(&id, "x");
        dec_run(&d, id.d, id.n);
        assert_refused_before_unpacking(&d);
        dec_done(&d);
    }
}

static void test_prescan_accepts_counts_that_fit_the_remaining_bytes(void **state)
{
    (void)state;
    const char *why;
    struct bytes b = { .n = 0 };
    put1(&b, 0xdd); /* array32 of 3, exactly 3 bytes follow */
    put_be(&b, 3, 4);
    put1(&b, 1);
    put1(&b, 2);
    put1(&b, 3);
    assert_int_equal(prescan(&b, ENVELOPE_MAX_DEPTH, &why), 0);

    struct bytes m = { .n = 0 };
    put1(&m, 0xdf); /* map32 of 2 pairs, 4 bytes */
    put_be(&m, 2, 4);
    put1(&m, 1);
    put1(&m, 2);
    put1(&m, 3);
    put1(&m, 4);
    assert_int_equal(prescan(&m, ENVELOPE_MAX_DEPTH, &why), 0);

    struct bytes e = { .n = 0 };
    put1(&e, 0xdd); /* empty array32, empty str32, empty bin32 */
    put_be(&e, 0, 4);
    assert_int_equal(prescan(&e, ENVELOPE_MAX_DEPTH, &why), 0);
    struct bytes s = { .n = 0 };
    put1(&s, 0xdb);
    put_be(&s, 0, 4);
    assert_int_equal(prescan(&s, ENVELOPE_MAX_DEPTH, &why), 0);
}

/* --- Depth --- */

static void nested_arrays(struct bytes *b, int depth, unsigned innermost)
{
    for (int i = 0; i < depth; i++) {
        put1(b, 0x91);
    }
    put1(b, innermost);
}

static void test_prescan_accepts_depth_16(void **state)
{
    (void)state;
    const char *why;
    struct bytes b = { .n = 0 };
    nested_arrays(&b, 16, 0x01);
    assert_int_equal(prescan(&b, ENVELOPE_MAX_DEPTH, &why), 0);
}

static void test_prescan_rejects_depth_17(void **state)
{
    (void)state;
    const char *why;
    struct bytes b = { .n = 0 };
    nested_arrays(&b, 17, 0x01);
    assert_int_equal(prescan(&b, ENVELOPE_MAX_DEPTH, &why), OP_E_BAD_REQUEST);
    assert_string_equal(why, "msgpack nested too deeply");

    struct bytes m = { .n = 0 }; /* maps count as well */
    for (int i = 0; i < 17; i++) {
        put1(&m, 0x81);
        put_str(&m, "k");
    }
    put1(&m, 0xc0);
    assert_int_equal(prescan(&m, ENVELOPE_MAX_DEPTH, &why), OP_E_BAD_REQUEST);
}

/* An empty container at level 17 is still nesting 17 deep (docs/protocol.md: "nesting deeper
 * than 16" is bad_request; envelope.h: "nested at most max_depth deep"). */
static void test_prescan_rejects_empty_container_at_depth_17(void **state)
{
    (void)state;
    const char *why;
    struct bytes b = { .n = 0 };
    nested_arrays(&b, 16, 0x90);
    assert_int_equal(prescan(&b, ENVELOPE_MAX_DEPTH, &why), OP_E_BAD_REQUEST);

    struct bytes m = { .n = 0 };
    nested_arrays(&m, 16, 0x80);
    assert_int_equal(prescan(&m, ENVELOPE_MAX_DEPTH, &why), OP_E_BAD_REQUEST);
}

static void test_prescan_honours_a_smaller_max_depth(void **state)
{
    (void)state;
    const char *why;
    struct bytes b = { .n = 0 };
    nested_arrays(&b, 2, 0x01);
    assert_int_equal(prescan(&b, 2, &why), 0);
    assert_int_equal(prescan(&b, 1, &why), OP_E_BAD_REQUEST);
    struct bytes scalar = { .n = 0 };
    put1(&scalar, 0x01);
    assert_int_equal(prescan(&scalar, 0, &why), 0);
}

static void test_prescan_caps_max_depth_at_envelope_max_depth(void **state)
{
    (void)state;
    const char *why;
    struct bytes b = { .n = 0 };
    nested_arrays(&b, 17, 0x01);
    assert_int_equal(prescan(&b, 1000, &why), OP_E_BAD_REQUEST);
    assert_int_equal(prescan(&b, INT_MAX, &why), OP_E_BAD_REQUEST);
}

/* {"op":"x","args":{"a": <k nested arrays around 1>}}: total depth 2 + k. */
static void request_with_depth(struct bytes *b, int total_depth)
{
    put1(b, 0x82);
    put_str(b, "op");
    put_str(b, "x");
    put_str(b, "args");
    put1(b, 0x81);
    put_str(b, "a");
    nested_arrays(b, total_depth - 2, 0x01);
}

static void test_decode_accepts_request_nested_16_deep(void **state)
{
    (void)state;
    struct bytes b = { .n = 0 };
    request_with_depth(&b, 16);
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_int_equal(d.rc, 0);
    const msgpack_object *o = get(d.req.args, "a");
    for (int i = 0; i < 14; i++) {
        assert_non_null(o);
        assert_int_equal(o->type, MSGPACK_OBJECT_ARRAY);
        o = &o->via.array.ptr[0];
    }
    assert_obj_u64(o, 1);
    dec_done(&d);
}

static void test_decode_rejects_request_nested_17_deep(void **state)
{
    (void)state;
    struct bytes b = { .n = 0 };
    request_with_depth(&b, 17);
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_refused_before_unpacking(&d);
    assert_string_equal(d.err.message, "msgpack nested too deeply");
    dec_done(&d);

    struct bytes c = { .n = 0 };
    request_with_depth(&c, 33); /* msgpack-c's own stack limit is 32 */
    dec_run(&d, c.d, c.n);
    assert_refused_before_unpacking(&d);
    dec_done(&d);
}

static void test_decode_rejects_1000_deep_nesting(void **state)
{
    (void)state;
    struct bytes b = { .n = 0 };
    nested_arrays(&b, 1000, 0x01);
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_refused_before_unpacking(&d);
    dec_done(&d);

    struct bytes m = { .n = 0 };
    for (int i = 0; i < 1000; i++) {
        put1(&m, 0x81);
        put1(&m, 0xc0);
    }
    put1(&m, 0xc0);
    dec_run(&d, m.d, m.n);
    assert_refused_before_unpacking(&d);
    dec_done(&d);

    /* deep nesting hidden after a valid id and op */
    struct bytes r = { .n = 0 };
    put1(&r, 0x83);
    put_str(&r, "id");
    put1(&r, 3);
    put_str(&r, "op");
    put_str(&r, "x");
    put_str(&r, "args");
    put1(&r, 0x81);
    put_str(&r, "a");
    nested_arrays(&r, 1000, 0x90);
    dec_run(&d, r.d, r.n);
    assert_refused_before_unpacking(&d);
    dec_done(&d);
}

/* --- Every msgpack type is accepted inside args --- */

static void test_decode_accepts_every_int_and_float_width_in_args(void **state)
{
    (void)state;
    struct bytes b = { .n = 0 };
    put1(&b, 0x82);
    put_str(&b, "op");
    put_str(&b, "x");
    put_str(&b, "args");
    put1(&b, 0xde);
    put_be(&b, 12, 2);
    put_str(&b, "u8");
    put1(&b, 0xcc);
    put_be(&b, 0xff, 1);
    put_str(&b, "u16");
    put1(&b, 0xcd);
    put_be(&b, 0xffff, 2);
    put_str(&b, "u32");
    put1(&b, 0xce);
    put_be(&b, 0xffffffff, 4);
    put_str(&b, "u64");
    put1(&b, 0xcf);
    put_be(&b, UINT64_MAX, 8);
    put_str(&b, "i8");
    put1(&b, 0xd0);
    put_be(&b, 0x80, 1);
    put_str(&b, "i16");
    put1(&b, 0xd1);
    put_be(&b, 0x8000, 2);
    put_str(&b, "i32");
    put1(&b, 0xd2);
    put_be(&b, 0x80000000u, 4);
    put_str(&b, "i64");
    put1(&b, 0xd3);
    put_be(&b, 0x8000000000000000ull, 8);
    put_str(&b, "pfix");
    put1(&b, 0x7f);
    put_str(&b, "nfix");
    put1(&b, 0xe0);
    put_str(&b, "f32");
    put1(&b, 0xca);
    put_be(&b, 0x3fc00000u, 4); /* 1.5f */
    put_str(&b, "f64");
    put1(&b, 0xcb);
    put_be(&b, 0xc004000000000000ull, 8); /* -2.5 */
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_int_equal(d.rc, 0);
    const msgpack_object *a = d.req.args;
    assert_int_equal(a->via.map.size, 12);
    assert_obj_u64(get(a, "u8"), 0xff);
    assert_obj_u64(get(a, "u16"), 0xffff);
    assert_obj_u64(get(a, "u32"), 0xffffffffu);
    assert_obj_u64(get(a, "u64"), UINT64_MAX);
    assert_true(get(a, "i8")->via.i64 == -128);
    assert_true(get(a, "i16")->via.i64 == -32768);
    assert_true(get(a, "i32")->via.i64 == INT32_MIN);
    assert_int_equal(get(a, "i64")->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    assert_true(get(a, "i64")->via.i64 == INT64_MIN);
    assert_obj_u64(get(a, "pfix"), 127);
    assert_true(get(a, "nfix")->via.i64 == -32);
    assert_int_equal(get(a, "f32")->type, MSGPACK_OBJECT_FLOAT32);
    assert_true(get(a, "f32")->via.f64 == 1.5);
    assert_int_equal(get(a, "f64")->type, MSGPACK_OBJECT_FLOAT64);
    assert_true(get(a, "f64")->via.f64 == -2.5);
    dec_done(&d);
}

static void test_decode_accepts_ext_bin_str_and_container_widths_in_args(void **state)
{
    (void)state;
    struct bytes b = { .n = 0 };
    put1(&b, 0x82);
    put_str(&b, "op");
    put_str(&b, "x");
    put_str(&b, "args");
    put1(&b, 0xdf);
    put_be(&b, 19, 4);
    put_str(&b, "fx1");
    put(&b, "\xd4\x01\xaa", 3);
    put_str(&b, "fx2");
    put(&b, "\xd5\x02\xaa\xbb", 4);
    put_str(&b, "fx4");
    put(&b, "\xd6\xff\x00\x00\x00\x00", 6); /* timestamp32: type -1 */
    put_str(&b, "fx8");
    put(&b, "\xd7\x80\x01\x02\x03\x04\x05\x06\x07\x08", 10); /* type -128 */
    put_str(&b, "fx16");
    put1(&b, 0xd8);
    put1(&b, 0x7f);
    put(&b, "0123456789abcdef", 16);
    put_str(&b, "e8");
    put(&b, "\xc7\x03\x05" "abc", 6);
    put_str(&b, "e16");
    put(&b, "\xc8\x00\x03\x05" "abc", 7);
    put_str(&b, "e32");
    put(&b, "\xc9\x00\x00\x00\x03\x05" "abc", 9);
    put_str(&b, "e0");
    put(&b, "\xc7\x00\x05", 3); /* empty ext8 */
    put_str(&b, "b8");
    put(&b, "\xc4\x02\x00\xff", 4);
    put_str(&b, "b16");
    put(&b, "\xc5\x00\x02\x00\xff", 5);
    put_str(&b, "b32");
    put(&b, "\xc6\x00\x00\x00\x02\x00\xff", 7);
    put_str(&b, "s8");
    put(&b, "\xd9\x02hi", 4);
    put_str(&b, "s16");
    put(&b, "\xda\x00\x02hi", 5);
    put_str(&b, "s32");
    put(&b, "\xdb\x00\x00\x00\x02hi", 7);
    put_str(&b, "a16");
    put(&b, "\xdc\x00\x02\xc0\xc2", 5);
    put_str(&b, "a32");
    put(&b, "\xdd\x00\x00\x00\x01\xc3", 6);
    put_str(&b, "m16");
    put(&b, "\xde\x00\x01\x01\x02", 5);
    put_str(&b, "m32");
    put(&b, "\xdf\x00\x00\x00\x00", 5);
    struct dec d;
    dec_run(&d, b.d, b.n);
    assert_int_equal(d.rc, 0);
    const msgpack_object *a = d.req.args;
    assert_int_equal(a->via.map.size, 19);
    const msgpack_object *o = get(a, "fx4");
    assert_int_equal(o->type, MSGPACK_OBJECT_EXT);
    assert_int_equal(o->via.ext.type, -1);
    assert_int_equal(o->via.ext.size, 4);
    o = get(a, "fx8");
    assert_int_equal(o->via.ext.type, -128);
    assert_int_equal(o->via.ext.size, 8);
    o = get(a, "fx16");
    assert_int_equal(o->via.ext.size, 16);
    o = get(a, "e32");
    assert_int_equal(o->type, MSGPACK_OBJECT_EXT);
    assert_int_equal(o->via.ext.type, 5);
    assert_int_equal(o->via.ext.size, 3);
    assert_memory_equal(o->via.ext.ptr, "abc", 3);
    assert_int_equal(get(a, "e0")->via.ext.size, 0);
    o = get(a, "b32");
    assert_int_equal(o->type, MSGPACK_OBJECT_BIN);
    assert_int_equal(o->via.bin.size, 2);
    assert_obj_str(get(a, "s32"), "hi");
    assert_int_equal(get(a, "a16")->via.array.size, 2);
    assert_obj_bool(&get(a, "a32")->via.array.ptr[0], true);
    assert_int_equal(get(a, "m16")->via.map.size, 1);
    assert_int_equal(get(a, "m32")->via.map.size, 0);
    dec_done(&d);
}

/* --- Writers --- */

static void test_failure_with_field_has_exact_keys_and_values(void **state)
{
    (void)state;
    struct msgbuf *m = envelope_failure(5, OP_E_NOT_FOUND, "no such trip", "trip");
    assert_int_equal(m->refs, 1);
    msgpack_unpacked u;
    unpack_msg(m, &u);
    const msgpack_object *root = &u.data;
    assert_int_equal(root->via.map.size, 3);
    assert_obj_u64(get(root, "id"), 5);
    assert_obj_bool(get(root, "ok"), false);
    const msgpack_object *e = get(root, "error");
    assert_non_null(e);
    assert_int_equal(e->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(e->via.map.size, 3);
    assert_obj_str(get(e, "code"), "not_found");
    assert_obj_str(get(e, "message"), "no such trip");
    assert_obj_str(get(e, "field"), "trip");
    msgpack_unpacked_destroy(&u);
    msgbuf_unref(m);
}

static void test_failure_without_field_omits_field(void **state)
{
    (void)state;
    struct msgbuf *m = envelope_failure(UINT64_MAX, OP_E_UNAVAILABLE, "database down", NULL);
    msgpack_unpacked u;
    unpack_msg(m, &u);
    assert_int_equal(u.data.via.map.size, 3);
    assert_obj_u64(get(&u.data, "id"), UINT64_MAX);
    const msgpack_object *e = get(&u.data, "error");
    assert_int_equal(e->via.map.size, 2);
    assert_obj_str(get(e, "code"), "unavailable");
    assert_obj_str(get(e, "message"), "database down");
    assert_null(get(e, "field"));
    msgpack_unpacked_destroy(&u);
    msgbuf_unref(m);
}

static void test_failure_without_message_uses_the_code(void **state)
{
    (void)state;
    struct msgbuf *m = envelope_failure(0, OP_E_CONFLICT, NULL, NULL);
    msgpack_unpacked u;
    unpack_msg(m, &u);
    assert_obj_u64(get(&u.data, "id"), 0);
    const msgpack_object *e = get(&u.data, "error");
    assert_obj_str(get(e, "code"), "conflict");
    assert_obj_str(get(e, "message"), "conflict");
    msgpack_unpacked_destroy(&u);
    msgbuf_unref(m);
}

static void test_failure_with_out_of_range_code_says_internal(void **state)
{
    (void)state;
    struct msgbuf *m = envelope_failure(1, (enum op_err)1234, "boom", NULL);
    msgpack_unpacked u;
    unpack_msg(m, &u);
    assert_obj_str(get(get(&u.data, "error"), "code"), "internal");
    msgpack_unpacked_destroy(&u);
    msgbuf_unref(m);
}

static uint64_t retry_after(double seconds)
{
    struct msgbuf *m = envelope_failure_retry(8, "slow down", seconds);
    msgpack_unpacked u;
    unpack_msg(m, &u);
    assert_int_equal(u.data.via.map.size, 3);
    assert_obj_u64(get(&u.data, "id"), 8);
    assert_obj_bool(get(&u.data, "ok"), false);
    const msgpack_object *e = get(&u.data, "error");
    assert_non_null(e);
    assert_int_equal(e->via.map.size, 3);
    assert_obj_str(get(e, "code"), "rate_limited");
    assert_obj_str(get(e, "message"), "slow down");
    const msgpack_object *r = get(e, "retry_after_s");
    assert_non_null(r);
    assert_int_equal(r->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    uint64_t v = r->via.u64;
    msgpack_unpacked_destroy(&u);
    msgbuf_unref(m);
    return v;
}

static void test_failure_retry_has_exact_keys_and_whole_seconds(void **state)
{
    (void)state;
    assert_int_equal(retry_after(0.0), 1); /* never "retry after 0" */
    assert_int_equal(retry_after(0.2), 1);
    assert_int_equal(retry_after(1.0), 1);
    assert_int_equal(retry_after(1.5), 2);
    assert_int_equal(retry_after(2.0), 2);
    assert_int_equal(retry_after(59.01), 60);
    assert_int_equal(retry_after(3600.0), 3600);
}

/* envelope.h: "seconds, rounded up". A client told 2 s that retries after 2 s is still
 * limited when the true wait was 2.0005 s. */
static void test_failure_retry_rounds_any_fraction_up(void **state)
{
    (void)state;
    assert_int_equal(retry_after(1.0005), 2);
    assert_int_equal(retry_after(2.0001), 3);
    assert_int_equal(retry_after(59.0009), 60);
}

static void test_error_event_with_op_names_the_op(void **state)
{
    (void)state;
    /* op is not NUL-terminated: only op_len bytes are taken */
    const char frame_op[] = "trip.endGARBAGE";
    struct msgbuf *m = envelope_error_event(frame_op, 8, OP_E_RATE_LIMITED, "slow down", NULL);
    msgpack_unpacked u;
    unpack_msg(m, &u);
    assert_int_equal(u.data.via.map.size, 2);
    assert_obj_str(get(&u.data, "ev"), "error");
    const msgpack_object *data = get(&u.data, "data");
    assert_non_null(data);
    assert_int_equal(data->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(data->via.map.size, 3);
    assert_obj_str(get(data, "op"), "trip.end");
    assert_obj_str(get(data, "code"), "rate_limited");
    assert_obj_str(get(data, "message"), "slow down");
    assert_null(get(data, "field"));
    msgpack_unpacked_destroy(&u);
    msgbuf_unref(m);
}

static void test_error_event_with_field_names_the_field(void **state)
{
    (void)state;
    struct msgbuf *m = envelope_error_event("trip.pos", 8, OP_E_BAD_REQUEST, "lat out of range",
                                            "lat");
    msgpack_unpacked u;
    unpack_msg(m, &u);
    assert_int_equal(u.data.via.map.size, 2);
    assert_obj_str(get(&u.data, "ev"), "error");
    const msgpack_object *data = get(&u.data, "data");
    assert_non_null(data);
    assert_int_equal(data->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(data->via.map.size, 4);
    assert_obj_str(get(data, "op"), "trip.pos");
    assert_obj_str(get(data, "code"), "bad_request");
    assert_obj_str(get(data, "message"), "lat out of range");
    assert_obj_str(get(data, "field"), "lat");
    msgpack_unpacked_destroy(&u);
    msgbuf_unref(m);

    /* A field without an op (a frame refused before its op was read). */
    m = envelope_error_event(NULL, 0, OP_E_BAD_REQUEST, "bad", "id");
    unpack_msg(m, &u);
    data = get(&u.data, "data");
    assert_int_equal(data->via.map.size, 3);
    assert_null(get(data, "op"));
    assert_obj_str(get(data, "field"), "id");
    msgpack_unpacked_destroy(&u);
    msgbuf_unref(m);
}

static void test_error_event_without_op_omits_op(void **state)
{
    (void)state;
    struct msgbuf *m = envelope_error_event(NULL, 0, OP_E_BAD_REQUEST, "invalid msgpack", NULL);
    msgpack_unpacked u;
    unpack_msg(m, &u);
    assert_obj_str(get(&u.data, "ev"), "error");
    const msgpack_object *data = get(&u.data, "data");
    assert_int_equal(data->via.map.size, 2);
    assert_null(get(data, "op"));
    assert_obj_str(get(data, "code"), "bad_request");
    assert_obj_str(get(data, "message"), "invalid msgpack");
    assert_null(get(data, "field"));
    msgpack_unpacked_destroy(&u);
    msgbuf_unref(m);

    m = envelope_error_event(NULL, 0, OP_E_TOO_LARGE, NULL, NULL);
    unpack_msg(m, &u);
    data = get(&u.data, "data");
    assert_obj_str(get(data, "code"), "too_large");
    assert_obj_str(get(data, "message"), "too_large");
    msgpack_unpacked_destroy(&u);
    msgbuf_unref(m);
}

static void test_begin_reply_and_finish_wrap_one_value(void **state)
{
    (void)state;
    struct envelope_writer w;
    envelope_begin_reply(&w, 42);
    msgpack_pack_map(&w.pk, 2);
    envelope_pack_key(&w.pk, "now");
    msgpack_pack_uint64(&w.pk, 1700000000000ull);
    envelope_pack_key(&w.pk, "name");
    envelope_pack_str(&w.pk, "Ana");
    struct msgbuf *m = envelope_finish(&w);
    assert_null(w.msg);
    assert_int_equal(m->refs, 1);
    msgpack_unpacked u;
    unpack_msg(m, &u);
    assert_int_equal(u.data.via.map.size, 3);
    assert_obj_u64(get(&u.data, "id"), 42);
    assert_obj_bool(get(&u.data, "ok"), true);
    const msgpack_object *data = get(&u.data, "data");
    assert_int_equal(data->via.map.size, 2);
    assert_obj_u64(get(data, "now"), 1700000000000ull);
    assert_obj_str(get(data, "name"), "Ana");
    msgpack_unpacked_destroy(&u);
    msgbuf_unref(m);
}

static void test_begin_reply_grows_the_buffer_for_large_data(void **state)
{
    (void)state;
    static char big[100000];
    memset(big, 'z', sizeof big);
    struct envelope_writer w;
    envelope_begin_reply(&w, 3);
    msgpack_pack_str_with_body(&w.pk, big, sizeof big);
    struct msgbuf *m = envelope_finish(&w);
    assert_true(m->len > sizeof big);
    assert_true(m->cap >= m->len);
    msgpack_unpacked u;
    unpack_msg(m, &u);
    const msgpack_object *data = get(&u.data, "data");
    assert_int_equal(data->type, MSGPACK_OBJECT_STR);
    assert_int_equal(data->via.str.size, sizeof big);
    assert_memory_equal(data->via.str.ptr, big, sizeof big);
    msgpack_unpacked_destroy(&u);
    msgbuf_unref(m);
}

static void test_begin_event_and_finish_wrap_one_value(void **state)
{
    (void)state;
    struct envelope_writer w;
    envelope_begin_event(&w, "hello");
    msgpack_pack_map(&w.pk, 1);
    envelope_pack_key(&w.pk, "proto");
    msgpack_pack_int(&w.pk, 1);
    struct msgbuf *m = envelope_finish(&w);
    msgpack_unpacked u;
    unpack_msg(m, &u);
    assert_int_equal(u.data.via.map.size, 2);
    assert_obj_str(get(&u.data, "ev"), "hello");
    const msgpack_object *data = get(&u.data, "data");
    assert_int_equal(data->via.map.size, 1);
    assert_obj_u64(get(data, "proto"), 1);
    assert_null(get(&u.data, "id"));
    msgpack_unpacked_destroy(&u);
    msgbuf_unref(m);
}

static void test_produced_messages_pass_our_own_decoder_prescan(void **state)
{
    (void)state;
    struct msgbuf *m = envelope_failure(7, OP_E_FORBIDDEN, "no", "x");
    const char *why = NULL;
    assert_int_equal(envelope_prescan(msgbuf_data(m), m->len, ENVELOPE_MAX_DEPTH, &why), 0);
    msgbuf_unref(m);
}

/* --- Error codes --- */

static void test_op_err_code_names_every_code(void **state)
{
    (void)state;
    static const char *const names[OP_E__COUNT] = {
        [OP_OK] = "ok",
        [OP_E_BAD_REQUEST] = "bad_request",
        [OP_E_UNKNOWN_OP] = "unknown_op",
        [OP_E_UNAUTHENTICATED] = "unauthenticated",
        [OP_E_FORBIDDEN] = "forbidden",
        [OP_E_NOT_FOUND] = "not_found",
        [OP_E_CONFLICT] = "conflict",
        [OP_E_RATE_LIMITED] = "rate_limited",
        [OP_E_TOO_LARGE] = "too_large",
        [OP_E_UNAVAILABLE] = "unavailable",
        [OP_E_INTERNAL] = "internal",
    };
    for (int i = 0; i < OP_E__COUNT; i++) {
        assert_non_null(names[i]);
        assert_non_null(op_err_code(i));
        assert_string_equal(op_err_code(i), names[i]);
    }
}

static void test_op_err_code_says_internal_out_of_range(void **state)
{
    (void)state;
    const int bad[] = { OP_E__COUNT, OP_E__COUNT + 1, 1000, INT_MAX, -1, -5, -1000, INT_MIN };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_string_equal(op_err_code(bad[i]), "internal");
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_accepts_request_with_id_op_and_args),
        cmocka_unit_test(test_decode_accepts_request_without_id),
        cmocka_unit_test(test_decode_treats_absent_args_as_null),
        cmocka_unit_test(test_decode_treats_nil_args_as_null),
        cmocka_unit_test(test_decode_echoes_id_zero_and_uint64_max),
        cmocka_unit_test(test_decode_accepts_id_packed_as_signed_int_when_non_negative),
        cmocka_unit_test(test_decode_ignores_unknown_and_non_string_keys),
        cmocka_unit_test(test_decode_accepts_op_of_64_bytes),
        cmocka_unit_test(test_decode_rejects_string_id_without_has_id),
        cmocka_unit_test(test_decode_rejects_negative_id_without_has_id),
        cmocka_unit_test(test_decode_rejects_float_id_without_has_id),
        cmocka_unit_test(test_decode_rejects_map_id_without_has_id),
        cmocka_unit_test(test_decode_rejects_nil_bool_and_bin_id_without_has_id),
        cmocka_unit_test(test_decode_rejects_missing_op_naming_op),
        cmocka_unit_test(test_decode_rejects_integer_op_naming_op),
        cmocka_unit_test(test_decode_rejects_empty_op_naming_op),
        cmocka_unit_test(test_decode_rejects_op_of_65_bytes_naming_op),
        cmocka_unit_test(test_decode_rejects_nil_and_bin_op_naming_op),
        cmocka_unit_test(test_decode_rejects_array_args_answerably),
        cmocka_unit_test(test_decode_rejects_string_args_answerably),
        cmocka_unit_test(test_decode_rejects_scalar_args_answerably),
        cmocka_unit_test(test_decode_rejects_frame_that_is_not_a_map),
        cmocka_unit_test(test_decode_rejects_every_truncation_of_a_valid_request),
        cmocka_unit_test(test_decode_rejects_every_truncation_of_a_request_using_every_width),
        cmocka_unit_test(test_decode_rejects_reserved_byte_c1),
        cmocka_unit_test(test_decode_rejects_trailing_bytes),
        cmocka_unit_test(test_decode_rejects_empty_frame),
        cmocka_unit_test(test_decode_rejects_array32_bomb_without_allocating),
        cmocka_unit_test(test_decode_rejects_map32_bomb_without_allocating),
        cmocka_unit_test(test_decode_rejects_str32_and_bin32_bombs_without_allocating),
        cmocka_unit_test(test_decode_rejects_ext32_bomb_without_allocating),
        cmocka_unit_test(test_decode_rejects_truncated_headers),
        cmocka_unit_test(test_decode_rejects_bombs_nested_inside_a_request),
        cmocka_unit_test(test_prescan_accepts_counts_that_fit_the_remaining_bytes),
        cmocka_unit_test(test_prescan_accepts_depth_16),
        cmocka_unit_test(test_prescan_rejects_depth_17),
        cmocka_unit_test(test_prescan_rejects_empty_container_at_depth_17),
        cmocka_unit_test(test_prescan_honours_a_smaller_max_depth),
        cmocka_unit_test(test_prescan_caps_max_depth_at_envelope_max_depth),
        cmocka_unit_test(test_decode_accepts_request_nested_16_deep),
        cmocka_unit_test(test_decode_rejects_request_nested_17_deep),
        cmocka_unit_test(test_decode_rejects_1000_deep_nesting),
        cmocka_unit_test(test_decode_accepts_every_int_and_float_width_in_args),
        cmocka_unit_test(test_decode_accepts_ext_bin_str_and_container_widths_in_args),
        cmocka_unit_test(test_failure_with_field_has_exact_keys_and_values),
        cmocka_unit_test(test_failure_without_field_omits_field),
        cmocka_unit_test(test_failure_without_message_uses_the_code),
        cmocka_unit_test(test_failure_with_out_of_range_code_says_internal),
        cmocka_unit_test(test_failure_retry_has_exact_keys_and_whole_seconds),
        cmocka_unit_test(test_failure_retry_rounds_any_fraction_up),
        cmocka_unit_test(test_error_event_with_op_names_the_op),
        cmocka_unit_test(test_error_event_with_field_names_the_field),
        cmocka_unit_test(test_error_event_without_op_omits_op),
        cmocka_unit_test(test_begin_reply_and_finish_wrap_one_value),
        cmocka_unit_test(test_begin_reply_grows_the_buffer_for_large_data),
        cmocka_unit_test(test_begin_event_and_finish_wrap_one_value),
        cmocka_unit_test(test_produced_messages_pass_our_own_decoder_prescan),
        cmocka_unit_test(test_op_err_code_names_every_code),
        cmocka_unit_test(test_op_err_code_says_internal_out_of_range),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
