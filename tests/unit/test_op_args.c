/* Unit tests for core/op: the argument readers (type, range and the name of the bad field)
 * and answering a request (replies, failures, error events, per-op counts). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dbpool.h"
#include "core/op.h"
#include "core/op_db.h"

/* --- Building args maps --- */

struct args {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked u;
};

static msgpack_packer *args_begin(struct args *a, uint32_t n_keys)
{
    msgpack_sbuffer_init(&a->sb);
    msgpack_packer_init(&a->pk, &a->sb, msgpack_sbuffer_write);
    msgpack_pack_map(&a->pk, n_keys);
    return &a->pk;
}

static void key(msgpack_packer *pk, const char *k)
{
    msgpack_pack_str_with_body(pk, k, strlen(k));
}

/* Unpacks the map; the returned object lives until args_free. */
static const msgpack_object *args_end(struct args *a)
{
    size_t off = 0;
    msgpack_unpacked_init(&a->u);
    assert_int_equal(msgpack_unpack_next(&a->u, a->sb.data, a->sb.size, &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, a->sb.size);
    return &a->u.data;
}

static void args_free(struct args *a)
{
    msgpack_unpacked_destroy(&a->u);
    msgpack_sbuffer_destroy(&a->sb);
}

/* An op context on the stack, for the readers only. */
static struct op_ctx ctx_for(const msgpack_object *args)
{
    struct op_ctx op;
    memset(&op, 0, sizeof op);
    op.args = args;
    return op;
}

static void assert_refused(struct op_ctx *op, int rc, const char *field)
{
    assert_int_equal(rc, OP_E_BAD_REQUEST);
    assert_non_null(op->fail_field);
    assert_string_equal(op->fail_field, field);
    assert_non_null(op->fail_message);
    assert_true(strlen(op->fail_message) > 0);
}

/* After op_keep_args the arguments no longer depend on the frame: a handler's row callback
 * reads them after the frame and its unpacked zone are gone. */
static void test_kept_args_outlive_the_frame(void **state)
{
    (void)state;
    struct args a;
    msgpack_packer *pk = args_begin(&a, 4);
    key(pk, "name");
    msgpack_pack_str_with_body(pk, "Asha", 4);
    key(pk, "id");
    msgpack_pack_uint64(pk, 42);
    key(pk, "flag");
    msgpack_pack_true(pk);
    key(pk, "stops");
    msgpack_pack_array(pk, 1);
    msgpack_pack_map(pk, 1);
    key(pk, "name");
    msgpack_pack_str_with_body(pk, "Gate", 4);
    struct op_ctx op = ctx_for(args_end(&a));
    op_keep_args(&op);
    op_keep_args(&op); /* idempotent */
    memset(a.sb.data, 0xee, a.sb.size);
    args_free(&a);
    assert_string_equal(op_get_str(&op, "name"), "Asha");
    assert_int_equal(op_get_id(&op, "id"), 42);
    assert_true(op_get_bool(&op, "flag", false));
    const msgpack_object *stops = op_map_get(op.args, "stops");
    assert_int_equal(stops->via.array.size, 1);
    const msgpack_object *gate = op_map_get(&stops->via.array.ptr[0], "name");
    assert_int_equal(gate->via.str.size, 4);
    assert_memory_equal(gate->via.str.ptr, "Gate", 4);
    arena_deinit(&op.arena);
}

/* One args map holding one value of each kind, shared by most reader tests. */
static const msgpack_object *sample(struct args *a)
{
    msgpack_packer *pk = args_begin(a, 22);
    key(pk, "one");
    msgpack_pack_uint64(pk, 1);
    key(pk, "zero");
    msgpack_pack_uint64(pk, 0);
    key(pk, "neg");
    msgpack_pack_int64(pk, -7);
    key(pk, "big");
    msgpack_pack_uint64(pk, (uint64_t)INT64_MAX + 1);
    key(pk, "max");
    msgpack_pack_uint64(pk, (uint64_t)INT64_MAX);
    key(pk, "min");
    msgpack_pack_int64(pk, INT64_MIN);
    key(pk, "u64max");
    msgpack_pack_uint64(pk, UINT64_MAX);
    key(pk, "str");
    msgpack_pack_str_with_body(pk, "abc", 3);
    key(pk, "empty");
    msgpack_pack_str_with_body(pk, "", 0);
    key(pk, "nul");
    msgpack_pack_str_with_body(pk, "a\0b", 3);
    key(pk, "bin");
    msgpack_pack_bin_with_body(pk, "abc", 3);
    key(pk, "nil");
    msgpack_pack_nil(pk);
    key(pk, "t");
    msgpack_pack_true(pk);
    key(pk, "f");
    msgpack_pack_false(pk);
    key(pk, "f64");
    msgpack_pack_double(pk, 12.5);
    key(pk, "f32");
    msgpack_pack_float(pk, 1.5f);
    key(pk, "nan");
    msgpack_pack_double(pk, NAN);
    key(pk, "inf");
    msgpack_pack_double(pk, INFINITY);
    key(pk, "ninf");
    msgpack_pack_double(pk, -INFINITY);
    key(pk, "arr");
    msgpack_pack_array(pk, 3);
    msgpack_pack_int(pk, 1);
    msgpack_pack_int(pk, 2);
    msgpack_pack_int(pk, 3);
    key(pk, "map");
    msgpack_pack_map(pk, 0);
    key(pk, "five");
    msgpack_pack_double(pk, 5.0);
    return args_end(a);
}

/* --- op_map_get --- */

static void test_map_get_finds_keys_and_ignores_others(void **state)
{
    (void)state;
    struct args a;
    msgpack_packer *pk = args_begin(&a, 5);
    msgpack_pack_int(pk, 1); /* a non-string key */
    msgpack_pack_int(pk, 10);
    key(pk, "abc");
    msgpack_pack_int(pk, 20);
    msgpack_pack_bin_with_body(pk, "xy", 2); /* a bin key that spells "xy" */
    msgpack_pack_int(pk, 30);
    key(pk, "");
    msgpack_pack_int(pk, 40);
    key(pk, "xy");
    msgpack_pack_int(pk, 50);
    const msgpack_object *m = args_end(&a);
    assert_int_equal(op_map_get(m, "abc")->via.u64, 20);
    assert_int_equal(op_map_get(m, "")->via.u64, 40);
    assert_int_equal(op_map_get(m, "xy")->via.u64, 50);
    assert_null(op_map_get(m, "ab"));   /* a prefix is not a match */
    assert_null(op_map_get(m, "abcd")); /* nor is a longer key */
    assert_null(op_map_get(m, "ABC"));
    assert_null(op_map_get(m, "1"));
    args_free(&a);
}

static void test_map_get_returns_null_for_null_and_non_maps(void **state)
{
    (void)state;
    assert_null(op_map_get(NULL, "a"));
    struct args a;
    msgpack_sbuffer_init(&a.sb);
    msgpack_packer_init(&a.pk, &a.sb, msgpack_sbuffer_write);
    msgpack_pack_array(&a.pk, 1);
    msgpack_pack_str_with_body(&a.pk, "a", 1);
    const msgpack_object *arr = args_end(&a);
    assert_null(op_map_get(arr, "a"));
    args_free(&a);
}

/* --- op_arg_id --- */

static void test_arg_id_reads_positive_ids(void **state)
{
    (void)state;
    struct args a;
    struct op_ctx op = ctx_for(sample(&a));
    int64_t v = 0;
    assert_int_equal(op_arg_id(&op, "one", &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(op_arg_id(&op, "max", &v), 0);
    assert_true(v == INT64_MAX);
    assert_null(op.fail_field);
    args_free(&a);
}

static void test_arg_id_rejects_zero_negative_and_huge(void **state)
{
    (void)state;
    static const char *const bad[] = { "zero", "neg", "min", "big", "u64max" };
    struct args a;
    const msgpack_object *args = sample(&a);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct op_ctx op = ctx_for(args);
        int64_t v = 99;
        assert_refused(&op, op_arg_id(&op, bad[i], &v), bad[i]);
        assert_int_equal(v, 99); /* untouched on refusal */
    }
    args_free(&a);
}

static void test_arg_id_rejects_wrong_types(void **state)
{
    (void)state;
    static const char *const bad[] = { "str", "empty", "bin", "t", "f64", "five", "arr", "map" };
    struct args a;
    const msgpack_object *args = sample(&a);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct op_ctx op = ctx_for(args);
        int64_t v = 99;
        assert_refused(&op, op_arg_id(&op, bad[i], &v), bad[i]);
        assert_int_equal(v, 99);
    }
    args_free(&a);
}

static void test_arg_id_requires_the_field(void **state)
{
    (void)state;
    struct args a;
    const msgpack_object *args = sample(&a);
    int64_t v;
    struct op_ctx op = ctx_for(args);
    assert_refused(&op, op_arg_id(&op, "absent", &v), "absent");
    op = ctx_for(args);
    assert_refused(&op, op_arg_id(&op, "nil", &v), "nil"); /* nil counts as absent */
    op = ctx_for(NULL);                                    /* a request without args */
    assert_refused(&op, op_arg_id(&op, "trip", &v), "trip");
    args_free(&a);
}

static void test_arg_id_opt_reports_absence(void **state)
{
    (void)state;
    struct args a;
    struct op_ctx op = ctx_for(sample(&a));
    int64_t v = 99;
    bool present = true;
    assert_int_equal(op_arg_id_opt(&op, "absent", &v, &present), 0);
    assert_false(present);
    assert_int_equal(v, 99);
    present = true;
    assert_int_equal(op_arg_id_opt(&op, "nil", &v, &present), 0);
    assert_false(present);
    assert_int_equal(op_arg_id_opt(&op, "one", &v, &present), 0);
    assert_true(present);
    assert_int_equal(v, 1);
    assert_refused(&op, op_arg_id_opt(&op, "zero", &v, &present), "zero");
    op = ctx_for(NULL);
    present = true;
    assert_int_equal(op_arg_id_opt(&op, "x", &v, &present), 0);
    assert_false(present);
    args_free(&a);
}

/* --- op_arg_int --- */

static void test_arg_int_reads_values_within_range(void **state)
{
    (void)state;
    struct args a;
    struct op_ctx op = ctx_for(sample(&a));
    int64_t v;
    assert_int_equal(op_arg_int(&op, "neg", -7, 7, &v), 0);
    assert_int_equal(v, -7);
    assert_int_equal(op_arg_int(&op, "one", 1, 1, &v), 0);
    assert_int_equal(v, 1);
    assert_int_equal(op_arg_int(&op, "zero", 0, 10, &v), 0);
    assert_int_equal(v, 0);
    assert_int_equal(op_arg_int(&op, "min", INT64_MIN, INT64_MAX, &v), 0);
    assert_true(v == INT64_MIN);
    assert_int_equal(op_arg_int(&op, "max", INT64_MIN, INT64_MAX, &v), 0);
    assert_true(v == INT64_MAX);
    assert_null(op.fail_field);
    args_free(&a);
}

static void test_arg_int_rejects_values_out_of_range(void **state)
{
    (void)state;
    struct args a;
    const msgpack_object *args = sample(&a);
    int64_t v = 99;
    struct op_ctx op = ctx_for(args);
    assert_refused(&op, op_arg_int(&op, "neg", -6, 7, &v), "neg");
    op = ctx_for(args);
    assert_refused(&op, op_arg_int(&op, "one", 2, 7, &v), "one");
    op = ctx_for(args);
    assert_refused(&op, op_arg_int(&op, "one", -5, 0, &v), "one");
    op = ctx_for(args);
    assert_refused(&op, op_arg_int(&op, "big", INT64_MIN, INT64_MAX, &v), "big");
    op = ctx_for(args);
    assert_refused(&op, op_arg_int(&op, "u64max", INT64_MIN, INT64_MAX, &v), "u64max");
    assert_int_equal(v, 99);
    args_free(&a);
}

static void test_arg_int_rejects_wrong_types(void **state)
{
    (void)state;
    static const char *const bad[] = { "str", "bin", "t", "f", "f64", "f32", "five", "arr",
                                       "map" };
    struct args a;
    const msgpack_object *args = sample(&a);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct op_ctx op = ctx_for(args);
        int64_t v;
        assert_refused(&op, op_arg_int(&op, bad[i], INT64_MIN, INT64_MAX, &v), bad[i]);
    }
    args_free(&a);
}

static void test_arg_int_requires_the_field_but_opt_does_not(void **state)
{
    (void)state;
    struct args a;
    struct op_ctx op = ctx_for(sample(&a));
    int64_t v = 99;
    assert_refused(&op, op_arg_int(&op, "absent", 0, 10, &v), "absent");
    bool present = true;
    assert_int_equal(op_arg_int_opt(&op, "absent", 0, 10, &v, &present), 0);
    assert_false(present);
    present = true;
    assert_int_equal(op_arg_int_opt(&op, "nil", 0, 10, &v, &present), 0);
    assert_false(present);
    assert_int_equal(v, 99);
    assert_int_equal(op_arg_int_opt(&op, "one", 0, 10, &v, &present), 0);
    assert_true(present);
    assert_int_equal(v, 1);
    args_free(&a);
}

/* --- op_arg_f64 --- */

static void test_arg_f64_reads_floats_and_integers(void **state)
{
    (void)state;
    struct args a;
    struct op_ctx op = ctx_for(sample(&a));
    double v;
    assert_int_equal(op_arg_f64(&op, "f64", -100, 100, &v), 0);
    assert_true(v == 12.5);
    assert_int_equal(op_arg_f64(&op, "f32", -100, 100, &v), 0);
    assert_true(v == 1.5);
    assert_int_equal(op_arg_f64(&op, "one", -100, 100, &v), 0);
    assert_true(v == 1.0);
    assert_int_equal(op_arg_f64(&op, "neg", -100, 100, &v), 0);
    assert_true(v == -7.0);
    assert_int_equal(op_arg_f64(&op, "f64", 12.5, 12.5, &v), 0); /* bounds are inclusive */
    assert_true(v == 12.5);
    assert_null(op.fail_field);
    args_free(&a);
}

static void test_arg_f64_rejects_nan_and_infinities(void **state)
{
    (void)state;
    static const char *const bad[] = { "nan", "inf", "ninf" };
    struct args a;
    const msgpack_object *args = sample(&a);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct op_ctx op = ctx_for(args);
        double v = 99;
        assert_refused(&op, op_arg_f64(&op, bad[i], -INFINITY, INFINITY, &v), bad[i]);
        assert_true(v == 99);
    }
    args_free(&a);
}

static void test_arg_f64_rejects_float32_nan(void **state)
{
    (void)state;
    struct args a;
    msgpack_packer *pk = args_begin(&a, 1);
    key(pk, "lat");
    msgpack_pack_float(pk, NAN);
    struct op_ctx op = ctx_for(args_end(&a));
    double v;
    assert_refused(&op, op_arg_f64(&op, "lat", -90, 90, &v), "lat");
    args_free(&a);
}

static void test_arg_f64_rejects_values_out_of_range(void **state)
{
    (void)state;
    struct args a;
    const msgpack_object *args = sample(&a);
    double v;
    struct op_ctx op = ctx_for(args);
    assert_refused(&op, op_arg_f64(&op, "f64", -90, 12.4, &v), "f64");
    op = ctx_for(args);
    assert_refused(&op, op_arg_f64(&op, "neg", -6.9, 0, &v), "neg");
    op = ctx_for(args);
    assert_refused(&op, op_arg_f64(&op, "u64max", -1e18, 1e18, &v), "u64max");
    args_free(&a);
}

static void test_arg_f64_rejects_wrong_types_and_requires_the_field(void **state)
{
    (void)state;
    static const char *const bad[] = { "str", "bin", "t", "arr", "map", "absent", "nil" };
    struct args a;
    const msgpack_object *args = sample(&a);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct op_ctx op = ctx_for(args);
        double v;
        assert_refused(&op, op_arg_f64(&op, bad[i], -1e9, 1e9, &v), bad[i]);
    }
    struct op_ctx op = ctx_for(args);
    double v = 99;
    bool present = true;
    assert_int_equal(op_arg_f64_opt(&op, "absent", 0, 1, &v, &present), 0);
    assert_false(present);
    assert_true(v == 99);
    args_free(&a);
}

/* --- op_arg_bool_opt --- */

static void test_arg_bool_opt_reads_true_false_and_absence(void **state)
{
    (void)state;
    struct args a;
    struct op_ctx op = ctx_for(sample(&a));
    bool v = false, present = false;
    assert_int_equal(op_arg_bool_opt(&op, "t", &v, &present), 0);
    assert_true(present);
    assert_true(v);
    assert_int_equal(op_arg_bool_opt(&op, "f", &v, &present), 0);
    assert_true(present);
    assert_false(v);
    v = true;
    assert_int_equal(op_arg_bool_opt(&op, "absent", &v, &present), 0);
    assert_false(present);
    assert_true(v);
    present = true;
    assert_int_equal(op_arg_bool_opt(&op, "nil", &v, &present), 0);
    assert_false(present);
    args_free(&a);
}

static void test_arg_bool_opt_rejects_integers_and_strings(void **state)
{
    (void)state;
    static const char *const bad[] = { "one", "zero", "str", "empty", "f64", "arr" };
    struct args a;
    const msgpack_object *args = sample(&a);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct op_ctx op = ctx_for(args);
        bool v, present;
        assert_refused(&op, op_arg_bool_opt(&op, bad[i], &v, &present), bad[i]);
    }
    args_free(&a);
}

/* --- op_arg_str --- */

static void test_arg_str_borrows_the_bytes(void **state)
{
    (void)state;
    struct args a;
    const msgpack_object *args = sample(&a);
    struct op_ctx op = ctx_for(args);
    const char *s = NULL;
    size_t len = 0;
    assert_int_equal(op_arg_str(&op, "str", 3, &s, &len), 0); /* exactly max_len */
    assert_int_equal(len, 3);
    assert_memory_equal(s, "abc", 3);
    assert_ptr_equal(s, op_map_get(args, "str")->via.str.ptr);
    assert_null(op.fail_field);
    args_free(&a);
}

static void test_arg_str_rejects_empty_long_nul_and_wrong_types(void **state)
{
    (void)state;
    struct args a;
    const msgpack_object *args = sample(&a);
    const char *s = NULL;
    size_t len = 0;
    struct op_ctx op = ctx_for(args);
    assert_refused(&op, op_arg_str(&op, "empty", 10, &s, &len), "empty");
    op = ctx_for(args);
    assert_refused(&op, op_arg_str(&op, "str", 2, &s, &len), "str");
    op = ctx_for(args);
    assert_refused(&op, op_arg_str(&op, "nul", 10, &s, &len), "nul");
    static const char *const bad[] = { "bin", "one", "t", "f64", "arr", "map", "absent", "nil" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        op = ctx_for(args);
        assert_refused(&op, op_arg_str(&op, bad[i], 100, &s, &len), bad[i]);
    }
    assert_null(s);
    assert_int_equal(len, 0);
    args_free(&a);
}

static void test_arg_str_rejects_nul_byte_at_either_end(void **state)
{
    (void)state;
    struct args a;
    msgpack_packer *pk = args_begin(&a, 2);
    key(pk, "head");
    msgpack_pack_str_with_body(pk, "\0abc", 4);
    key(pk, "tail");
    msgpack_pack_str_with_body(pk, "abc\0", 4);
    const msgpack_object *args = args_end(&a);
    const char *s;
    size_t len;
    struct op_ctx op = ctx_for(args);
    assert_refused(&op, op_arg_str(&op, "head", 100, &s, &len), "head");
    op = ctx_for(args);
    assert_refused(&op, op_arg_str(&op, "tail", 100, &s, &len), "tail");
    args_free(&a);
}

static void test_arg_str_opt_reports_absence(void **state)
{
    (void)state;
    struct args a;
    struct op_ctx op = ctx_for(sample(&a));
    const char *s = NULL;
    size_t len = 0;
    bool present = true;
    assert_int_equal(op_arg_str_opt(&op, "absent", 10, &s, &len, &present), 0);
    assert_false(present);
    present = true;
    assert_int_equal(op_arg_str_opt(&op, "nil", 10, &s, &len, &present), 0);
    assert_false(present);
    assert_null(s);
    assert_int_equal(op_arg_str_opt(&op, "str", 10, &s, &len, &present), 0);
    assert_true(present);
    assert_int_equal(len, 3);
    assert_refused(&op, op_arg_str_opt(&op, "empty", 10, &s, &len, &present), "empty");
    args_free(&a);
}

static void test_arg_str_dup_opt_copies_when_present_and_leaves_out_alone_when_absent(void **state)
{
    (void)state;
    struct args a;
    const msgpack_object *args = sample(&a);
    struct op_ctx op = ctx_for(args);
    char *s = NULL;
    assert_int_equal(op_arg_str_dup_opt(&op, "str", 10, &s), 0);
    assert_string_equal(s, "abc");
    free(s);
    s = NULL;
    assert_int_equal(op_arg_str_dup_opt(&op, "absent", 10, &s), 0);
    assert_null(s);
    op = ctx_for(args);
    assert_refused(&op, op_arg_str_dup_opt(&op, "one", 10, &s), "one");
    assert_null(s);
    op = ctx_for(args);
    assert_refused(&op, op_arg_str_dup_opt(&op, "str", 2, &s), "str");
    assert_null(s);
    args_free(&a);
}

static void test_arg_str_dup_returns_an_owned_terminated_copy(void **state)
{
    (void)state;
    struct args a;
    const msgpack_object *args = sample(&a);
    struct op_ctx op = ctx_for(args);
    char *s = NULL;
    assert_int_equal(op_arg_str_dup(&op, "str", 10, &s), 0);
    assert_non_null(s);
    assert_string_equal(s, "abc");
    assert_ptr_not_equal(s, op_map_get(args, "str")->via.str.ptr);
    free(s);

    /* refusals leave *out alone and allocate nothing */
    static const char *const bad[] = { "empty", "nul", "one", "absent" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        op = ctx_for(args);
        s = NULL;
        assert_refused(&op, op_arg_str_dup(&op, bad[i], 10, &s), bad[i]);
        assert_null(s);
    }
    op = ctx_for(args);
    assert_refused(&op, op_arg_str_dup(&op, "str", 2, &s), "str");
    assert_null(s);
    args_free(&a);
}

/* --- op_arg_array --- */

static void test_arg_array_reads_up_to_max_items(void **state)
{
    (void)state;
    struct args a;
    const msgpack_object *args = sample(&a);
    struct op_ctx op = ctx_for(args);
    const msgpack_object *arr = NULL;
    assert_int_equal(op_arg_array(&op, "arr", 3, &arr), 0);
    assert_non_null(arr);
    assert_int_equal(arr->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(arr->via.array.size, 3);
    arr = NULL;
    op = ctx_for(args);
    assert_refused(&op, op_arg_array(&op, "arr", 2, &arr), "arr");
    assert_null(arr);
    args_free(&a);
}

static void test_arg_array_rejects_wrong_types_and_absence(void **state)
{
    (void)state;
    static const char *const bad[] = { "map", "str", "bin", "one", "absent", "nil" };
    struct args a;
    const msgpack_object *args = sample(&a);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct op_ctx op = ctx_for(args);
        const msgpack_object *arr = NULL;
        assert_refused(&op, op_arg_array(&op, bad[i], 100, &arr), bad[i]);
        assert_null(arr);
    }
    args_free(&a);
}

static void test_arg_readers_accept_empty_array(void **state)
{
    (void)state;
    struct args a;
    msgpack_packer *pk = args_begin(&a, 1);
    key(pk, "ids");
    msgpack_pack_array(pk, 0);
    struct op_ctx op = ctx_for(args_end(&a));
    const msgpack_object *arr = NULL;
    assert_int_equal(op_arg_array(&op, "ids", 0, &arr), 0);
    assert_int_equal(arr->via.array.size, 0);
    args_free(&a);
}

/* --- Answering: op_reply_* and op_fail on a real peer with a fake transport --- */

struct fake_tx {
    int wakes;
    int closes;
    int close_code;
};

static void fake_wake(void *ctx)
{
    ((struct fake_tx *)ctx)->wakes++;
}

static void fake_close(void *ctx, int code, const char *reason)
{
    (void)reason;
    struct fake_tx *t = ctx;
    t->closes++;
    t->close_code = code;
}

static const struct peer_transport fake_transport = { .wake = fake_wake, .close = fake_close };

struct world {
    struct fake_tx tx;
    struct peer *peer;
    struct metrics metrics;
    struct op_env env;
    struct op_metrics opm;
};

static int world_setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    assert_non_null(w);
    w->peer = peer_new(1, &fake_transport, &w->tx, 16);
    w->env.metrics = &w->metrics;
    w->opm.op = "test.op";
    *state = w;
    return 0;
}

static int world_teardown(void **state)
{
    struct world *w = *state;
    /* every op must have dropped its reference */
    if (w->peer) {
        assert_int_equal(w->peer->refs, 1);
        peer_unref(w->peer);
    }
    free(w);
    return 0;
}

static struct op_ctx *new_op(struct world *w, bool has_id, uint64_t id)
{
    struct op_ctx *op = calloc(1, sizeof *op);
    assert_non_null(op);
    op->env = &w->env;
    op->peer = peer_ref(w->peer);
    op->op_name = "test.op";
    op->metrics = &w->opm;
    op->has_id = has_id;
    op->id = id;
    op->start_ns = op_mono_ns();
    return op;
}

/* Pops the one queued message and unpacks it into u. */
static void pop_one(struct world *w, msgpack_unpacked *u)
{
    struct msgbuf *m = peer_pop(w->peer);
    assert_non_null(m);
    assert_null(peer_pop(w->peer));
    assert_int_equal(m->refs, 1); /* the queue's reference, now ours */
    size_t off = 0;
    msgpack_unpacked_init(u);
    /* copy out: the objects point into the buffer, which goes with the unref */
    char *copy = malloc(m->len);
    assert_non_null(copy);
    memcpy(copy, msgbuf_data(m), m->len);
    size_t len = m->len;
    msgbuf_unref(m);
    assert_int_equal(msgpack_unpack_next(u, copy, len, &off), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, len);
    assert_int_equal(u->data.type, MSGPACK_OBJECT_MAP);
    /* keep the copy alive with the zone: hand its ownership to the zone's finalizer */
    assert_true(msgpack_zone_push_finalizer(u->zone, free, copy));
}

static void assert_obj_str(const msgpack_object *o, const char *s)
{
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_STR);
    assert_int_equal(o->via.str.size, strlen(s));
    assert_memory_equal(o->via.str.ptr, s, strlen(s));
}

static void test_reply_empty_queues_reply_with_the_id(void **state)
{
    struct world *w = *state;
    op_reply_empty(new_op(w, true, 9));
    assert_int_equal(w->tx.wakes, 1);
    msgpack_unpacked u;
    pop_one(w, &u);
    assert_int_equal(u.data.via.map.size, 3);
    const msgpack_object *id = op_map_get(&u.data, "id");
    assert_int_equal(id->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(id->via.u64, 9);
    const msgpack_object *ok = op_map_get(&u.data, "ok");
    assert_int_equal(ok->type, MSGPACK_OBJECT_BOOLEAN);
    assert_true(ok->via.boolean);
    const msgpack_object *data = op_map_get(&u.data, "data");
    assert_int_equal(data->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(data->via.map.size, 0);
    msgpack_unpacked_destroy(&u);
    assert_int_equal(w->opm.replies[OP_OK], 1);
    assert_int_equal(w->opm.count, 1);
}

static void test_reply_begin_end_carries_the_packed_data(void **state)
{
    struct world *w = *state;
    struct op_ctx *op = new_op(w, true, 0);
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, -1);
    msgpack_pack_str_with_body(pk, "two", 3);
    op_reply_end(op);
    msgpack_unpacked u;
    pop_one(w, &u);
    assert_int_equal(op_map_get(&u.data, "id")->via.u64, 0);
    const msgpack_object *data = op_map_get(&u.data, "data");
    assert_int_equal(data->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(data->via.array.size, 2);
    assert_true(data->via.array.ptr[0].via.i64 == -1);
    assert_obj_str(&data->via.array.ptr[1], "two");
    msgpack_unpacked_destroy(&u);
}

static void test_reply_without_id_queues_nothing(void **state)
{
    struct world *w = *state;
    op_reply_empty(new_op(w, false, 0));
    struct op_ctx *op = new_op(w, false, 0);
    msgpack_pack_nil(op_reply_begin(op));
    op_reply_end(op);
    assert_null(peer_pop(w->peer));
    assert_int_equal(w->tx.wakes, 0);
    assert_int_equal(w->opm.replies[OP_OK], 2); /* still counted */
    assert_int_equal(w->metrics.error_events, 0);
}

static void test_fail_with_id_queues_failure_with_code_message_field(void **state)
{
    struct world *w = *state;
    char message[32];
    strcpy(message, "no such trip");
    op_fail(new_op(w, true, 77), OP_E_NOT_FOUND, message, "trip");
    memset(message, 'X', sizeof message - 1); /* the message was copied */
    msgpack_unpacked u;
    pop_one(w, &u);
    assert_int_equal(u.data.via.map.size, 3);
    assert_int_equal(op_map_get(&u.data, "id")->via.u64, 77);
    assert_false(op_map_get(&u.data, "ok")->via.boolean);
    const msgpack_object *e = op_map_get(&u.data, "error");
    assert_non_null(e);
    assert_int_equal(e->via.map.size, 3);
    assert_obj_str(op_map_get(e, "code"), "not_found");
    assert_obj_str(op_map_get(e, "message"), "no such trip");
    assert_obj_str(op_map_get(e, "field"), "trip");
    msgpack_unpacked_destroy(&u);
    assert_int_equal(w->opm.replies[OP_E_NOT_FOUND], 1);
    assert_int_equal(w->opm.replies[OP_OK], 0);
    assert_int_equal(w->metrics.error_events, 0);
}

static void test_fail_with_id_without_field_omits_field(void **state)
{
    struct world *w = *state;
    op_fail(new_op(w, true, 1), OP_E_FORBIDDEN, "not yours", NULL);
    msgpack_unpacked u;
    pop_one(w, &u);
    const msgpack_object *e = op_map_get(&u.data, "error");
    assert_int_equal(e->via.map.size, 2);
    assert_obj_str(op_map_get(e, "code"), "forbidden");
    assert_null(op_map_get(e, "field"));
    msgpack_unpacked_destroy(&u);
}

static void test_fail_without_id_queues_error_event_naming_the_op(void **state)
{
    struct world *w = *state;
    op_fail(new_op(w, false, 0), OP_E_CONFLICT, "trip already ended", "trip");
    msgpack_unpacked u;
    pop_one(w, &u);
    assert_int_equal(u.data.via.map.size, 2);
    assert_null(op_map_get(&u.data, "id"));
    assert_obj_str(op_map_get(&u.data, "ev"), "error");
    const msgpack_object *data = op_map_get(&u.data, "data");
    assert_non_null(data);
    assert_obj_str(op_map_get(data, "op"), "test.op");
    assert_obj_str(op_map_get(data, "code"), "conflict");
    assert_obj_str(op_map_get(data, "message"), "trip already ended");
    assert_obj_str(op_map_get(data, "field"), "trip");
    msgpack_unpacked_destroy(&u);
    assert_int_equal(w->metrics.error_events, 1);
    assert_int_equal(w->metrics.error_events_dropped, 0);
    assert_int_equal(w->opm.replies[OP_E_CONFLICT], 1);
}

static void test_fail_without_id_is_rate_limited_and_counts_drops(void **state)
{
    struct world *w = *state;
    /* a burst of 5; the test runs far faster than one refill (200 ms) */
    for (int i = 0; i < 8; i++) {
        op_fail(new_op(w, false, 0), OP_E_BAD_REQUEST, "bad", "x");
    }
    int queued = 0;
    struct msgbuf *m;
    while ((m = peer_pop(w->peer)) != NULL) {
        queued++;
        msgbuf_unref(m);
    }
    assert_int_equal(queued, 5);
    assert_int_equal(w->metrics.error_events, 5);
    assert_int_equal(w->metrics.error_events_dropped, 3);
    assert_int_equal(w->peer->error_events_dropped, 3);
    assert_int_equal(w->opm.replies[OP_E_BAD_REQUEST], 8); /* every outcome is counted */
}

static void test_fail_with_id_is_not_rate_limited(void **state)
{
    struct world *w = *state;
    for (int i = 0; i < 8; i++) {
        op_fail(new_op(w, true, (uint64_t)i), OP_E_BAD_REQUEST, "bad", "x");
    }
    assert_int_equal(w->peer->len, 8);
    assert_int_equal(w->metrics.error_events_dropped, 0);
}

static void test_fail_with_ok_or_out_of_range_code_says_internal(void **state)
{
    struct world *w = *state;
    op_fail(new_op(w, true, 1), OP_OK, "what", NULL);
    msgpack_unpacked u;
    pop_one(w, &u);
    assert_obj_str(op_map_get(op_map_get(&u.data, "error"), "code"), "internal");
    msgpack_unpacked_destroy(&u);
    op_fail(new_op(w, true, 2), (enum op_err)99, "what", NULL);
    pop_one(w, &u);
    assert_obj_str(op_map_get(op_map_get(&u.data, "error"), "code"), "internal");
    msgpack_unpacked_destroy(&u);
    op_fail(new_op(w, true, 3), (enum op_err)-4, "what", NULL);
    pop_one(w, &u);
    assert_obj_str(op_map_get(op_map_get(&u.data, "error"), "code"), "internal");
    msgpack_unpacked_destroy(&u);
    assert_int_equal(w->opm.replies[OP_E_INTERNAL], 3);
    assert_int_equal(w->opm.replies[OP_OK], 0);
}

static void test_fail_rate_limited_with_id_tells_when_to_retry(void **state)
{
    struct world *w = *state;
    op_fail_rate_limited(new_op(w, true, 31), 2.5);
    msgpack_unpacked u;
    pop_one(w, &u);
    assert_int_equal(op_map_get(&u.data, "id")->via.u64, 31);
    assert_false(op_map_get(&u.data, "ok")->via.boolean);
    const msgpack_object *e = op_map_get(&u.data, "error");
    assert_non_null(e);
    assert_obj_str(op_map_get(e, "code"), "rate_limited");
    assert_non_null(op_map_get(e, "message"));
    const msgpack_object *retry = op_map_get(e, "retry_after_s");
    assert_non_null(retry);
    assert_int_equal(retry->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    assert_int_equal(retry->via.u64, 3);
    msgpack_unpacked_destroy(&u);
    assert_int_equal(w->opm.replies[OP_E_RATE_LIMITED], 1);
    assert_int_equal(w->metrics.error_events, 0);
}

static void test_fail_rate_limited_without_id_sends_error_event(void **state)
{
    struct world *w = *state;
    op_fail_rate_limited(new_op(w, false, 0), 10.0);
    msgpack_unpacked u;
    pop_one(w, &u);
    assert_obj_str(op_map_get(&u.data, "ev"), "error");
    const msgpack_object *data = op_map_get(&u.data, "data");
    assert_obj_str(op_map_get(data, "op"), "test.op");
    assert_obj_str(op_map_get(data, "code"), "rate_limited");
    msgpack_unpacked_destroy(&u);
    assert_int_equal(w->opm.replies[OP_E_RATE_LIMITED], 1);
    assert_int_equal(w->metrics.error_events, 1);
}

static void test_fail_db_query_error_answers_internal(void **state)
{
    struct world *w = *state;
    /* logs two expected "query failed" lines */
    op_fail_db_status(new_op(w, true, 1), DBPOOL_E_QUERY, NULL);
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_FATAL_ERROR);
    assert_non_null(res);
    op_fail_db_status(new_op(w, true, 2), DBPOOL_E_QUERY, res); /* no SQLSTATE in it */
    PQclear(res);
    for (uint64_t id = 1; id <= 2; id++) {
        msgpack_unpacked u;
        struct msgbuf *m = peer_pop(w->peer);
        assert_non_null(m);
        size_t off = 0;
        msgpack_unpacked_init(&u);
        assert_int_equal(msgpack_unpack_next(&u, (const char *)msgbuf_data(m), m->len, &off),
                         MSGPACK_UNPACK_SUCCESS);
        assert_int_equal(op_map_get(&u.data, "id")->via.u64, id);
        const msgpack_object *e = op_map_get(&u.data, "error");
        assert_obj_str(op_map_get(e, "code"), "internal");
        assert_null(op_map_get(e, "field"));
        msgpack_unpacked_destroy(&u);
        msgbuf_unref(m);
    }
    assert_int_equal(w->opm.replies[OP_E_INTERNAL], 2);
}

static void test_fail_db_outage_answers_unavailable(void **state)
{
    struct world *w = *state;
    op_fail_db_status(new_op(w, true, 1), DBPOOL_E_UNAVAILABLE, NULL);
    msgpack_unpacked u;
    pop_one(w, &u);
    assert_obj_str(op_map_get(op_map_get(&u.data, "error"), "code"), "unavailable");
    msgpack_unpacked_destroy(&u);
    op_fail_db_status(new_op(w, true, 2), DBPOOL_E_CANCELLED, NULL);
    pop_one(w, &u);
    assert_obj_str(op_map_get(op_map_get(&u.data, "error"), "code"), "unavailable");
    msgpack_unpacked_destroy(&u);
    op_fail_db_status(new_op(w, false, 0), DBPOOL_E_UNAVAILABLE, NULL);
    pop_one(w, &u);
    const msgpack_object *data = op_map_get(&u.data, "data");
    assert_obj_str(op_map_get(data, "code"), "unavailable");
    assert_obj_str(op_map_get(data, "op"), "test.op");
    msgpack_unpacked_destroy(&u);
    assert_int_equal(w->opm.replies[OP_E_UNAVAILABLE], 3);
}

static void test_op_metrics_count_replies_by_code(void **state)
{
    struct world *w = *state;
    op_reply_empty(new_op(w, true, 1));
    op_reply_empty(new_op(w, true, 2));
    op_fail(new_op(w, true, 3), OP_E_NOT_FOUND, "x", NULL);
    op_fail(new_op(w, true, 4), OP_E_UNAVAILABLE, "x", NULL);
    op_fail(new_op(w, true, 5), OP_E_UNAVAILABLE, "x", NULL);
    op_reply_empty(new_op(w, false, 0));
    assert_int_equal(w->opm.replies[OP_OK], 3);
    assert_int_equal(w->opm.replies[OP_E_NOT_FOUND], 1);
    assert_int_equal(w->opm.replies[OP_E_UNAVAILABLE], 2);
    assert_int_equal(w->opm.count, 6);
    uint64_t in_buckets = 0;
    for (int b = 0; b <= METRICS_N_BUCKETS; b++) {
        in_buckets += w->opm.buckets[b];
    }
    assert_int_equal(in_buckets, 6);
    assert_true(w->opm.sum_s >= 0);
    struct msgbuf *m;
    while ((m = peer_pop(w->peer)) != NULL) {
        msgbuf_unref(m);
    }
}

static void test_op_without_metrics_still_answers(void **state)
{
    struct world *w = *state;
    struct op_ctx *op = new_op(w, true, 5);
    op->metrics = NULL;
    op_reply_empty(op);
    msgpack_unpacked u;
    pop_one(w, &u);
    assert_int_equal(op_map_get(&u.data, "id")->via.u64, 5);
    msgpack_unpacked_destroy(&u);
    assert_int_equal(w->opm.count, 0);
}

static void test_answer_after_the_client_left_is_dropped(void **state)
{
    struct world *w = *state;
    struct op_ctx *ok = new_op(w, true, 1);
    struct op_ctx *fail = new_op(w, true, 2);
    struct op_ctx *ev = new_op(w, false, 0);
    /* the transport detaches and drops its reference while the ops wait for the database */
    peer_detach(w->peer);
    peer_unref(w->peer);
    struct peer *p = w->peer;
    w->peer = NULL;
    assert_int_equal(p->refs, 3);
    op_reply_empty(ok);
    op_fail(fail, OP_E_NOT_FOUND, "gone", NULL);
    op_fail(ev, OP_E_NOT_FOUND, "gone", NULL); /* the last reference: frees the peer */
    assert_int_equal(w->tx.wakes, 0);
    assert_int_equal(w->tx.closes, 0);
    assert_int_equal(w->opm.count, 3);
}

static void test_answer_to_a_closed_peer_is_dropped(void **state)
{
    struct world *w = *state;
    peer_close(w->peer, PEER_CLOSE_GOING_AWAY, "bye");
    op_reply_empty(new_op(w, true, 1));
    op_fail(new_op(w, true, 2), OP_E_INTERNAL, "x", NULL);
    assert_null(peer_pop(w->peer));
    assert_int_equal(w->tx.closes, 1);
    assert_int_equal(w->opm.count, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kept_args_outlive_the_frame),
        cmocka_unit_test(test_map_get_finds_keys_and_ignores_others),
        cmocka_unit_test(test_map_get_returns_null_for_null_and_non_maps),
        cmocka_unit_test(test_arg_id_reads_positive_ids),
        cmocka_unit_test(test_arg_str_dup_opt_copies_when_present_and_leaves_out_alone_when_absent),
        cmocka_unit_test(test_arg_id_rejects_zero_negative_and_huge),
        cmocka_unit_test(test_arg_id_rejects_wrong_types),
        cmocka_unit_test(test_arg_id_requires_the_field),
        cmocka_unit_test(test_arg_id_opt_reports_absence),
        cmocka_unit_test(test_arg_int_reads_values_within_range),
        cmocka_unit_test(test_arg_int_rejects_values_out_of_range),
        cmocka_unit_test(test_arg_int_rejects_wrong_types),
        cmocka_unit_test(test_arg_int_requires_the_field_but_opt_does_not),
        cmocka_unit_test(test_arg_f64_reads_floats_and_integers),
        cmocka_unit_test(test_arg_f64_rejects_nan_and_infinities),
        cmocka_unit_test(test_arg_f64_rejects_float32_nan),
        cmocka_unit_test(test_arg_f64_rejects_values_out_of_range),
        cmocka_unit_test(test_arg_f64_rejects_wrong_types_and_requires_the_field),
        cmocka_unit_test(test_arg_bool_opt_reads_true_false_and_absence),
        cmocka_unit_test(test_arg_bool_opt_rejects_integers_and_strings),
        cmocka_unit_test(test_arg_str_borrows_the_bytes),
        cmocka_unit_test(test_arg_str_rejects_empty_long_nul_and_wrong_types),
        cmocka_unit_test(test_arg_str_rejects_nul_byte_at_either_end),
        cmocka_unit_test(test_arg_str_opt_reports_absence),
        cmocka_unit_test(test_arg_str_dup_returns_an_owned_terminated_copy),
        cmocka_unit_test(test_arg_array_reads_up_to_max_items),
        cmocka_unit_test(test_arg_array_rejects_wrong_types_and_absence),
        cmocka_unit_test(test_arg_readers_accept_empty_array),
        cmocka_unit_test_setup_teardown(test_reply_empty_queues_reply_with_the_id, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_reply_begin_end_carries_the_packed_data,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_reply_without_id_queues_nothing, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_fail_with_id_queues_failure_with_code_message_field,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_fail_with_id_without_field_omits_field, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_fail_without_id_queues_error_event_naming_the_op,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_fail_without_id_is_rate_limited_and_counts_drops,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_fail_with_id_is_not_rate_limited, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_fail_with_ok_or_out_of_range_code_says_internal,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_fail_rate_limited_with_id_tells_when_to_retry,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_fail_rate_limited_without_id_sends_error_event,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_fail_db_query_error_answers_internal, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_fail_db_outage_answers_unavailable, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_op_metrics_count_replies_by_code, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_op_without_metrics_still_answers, world_setup,
                                        world_teardown),
        cmocka_unit_test_setup_teardown(test_answer_after_the_client_left_is_dropped,
                                        world_setup, world_teardown),
        cmocka_unit_test_setup_teardown(test_answer_to_a_closed_peer_is_dropped, world_setup,
                                        world_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
