/* Unit tests for core/op_pack and core/arena: replies packed from column tables and field
 * lists always hold exactly the entries their table names, whatever the data (NULLs, a
 * sealed value that does not open), and per-request memory is aligned, zeroed and sized. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/crypto.h"
#include "core/metrics.h"
#include "core/op_pack.h"
#include "core/pii.h"

enum { C_ID, C_NAME, C_DOB, C_KEY, C_ROUTE, C_ROUTE_NAME, C_ACTIVE, N_COLS };

/* One row per call of row(); values[i] NULL is SQL NULL. */
static PGresult *result_of(const char *const rows[][N_COLS], int n_rows)
{
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    assert_non_null(res);
    PGresAttDesc attrs[N_COLS];
    memset(attrs, 0, sizeof attrs);
    for (int i = 0; i < N_COLS; i++) {
        attrs[i].name = (char *)"c";
        attrs[i].typid = 25;
        attrs[i].typlen = -1;
        attrs[i].atttypmod = -1;
    }
    assert_int_equal(PQsetResultAttrs(res, N_COLS, attrs), 1);
    for (int r = 0; r < n_rows; r++) {
        for (int i = 0; i < N_COLS; i++) {
            const char *v = rows[r][i];
            assert_int_equal(PQsetvalue(res, r, i, (char *)v, v ? (int)strlen(v) : -1), 1);
        }
    }
    return res;
}

struct fixture {
    struct crypto_keys keys;
    struct metrics metrics;
    struct op_env env;
    struct op_ctx op;
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_unpacked u;
};

static int setup(void **state)
{
    assert_int_equal(crypto_init(), 0);
    struct fixture *f = calloc(1, sizeof *f);
    f->keys.n = 1;
    f->keys.sets[0].version = 1;
    memset(f->keys.sets[0].data_key, 0x41, sizeof f->keys.sets[0].data_key);
    f->env.keys = &f->keys;
    f->env.metrics = &f->metrics;
    f->op.env = &f->env;
    f->op.op_name = "student.get";
    msgpack_sbuffer_init(&f->sb);
    msgpack_packer_init(&f->pk, &f->sb, msgpack_sbuffer_write);
    msgpack_unpacked_init(&f->u);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    msgpack_unpacked_destroy(&f->u);
    msgpack_sbuffer_destroy(&f->sb);
    arena_deinit(&f->op.arena);
    free(f);
    return 0;
}

/* Unpacks what was packed: exactly one value, no bytes left over. */
static const msgpack_object *unpacked(struct fixture *f)
{
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&f->u, f->sb.data, f->sb.size, &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, f->sb.size);
    return &f->u.data;
}

static const struct op_col route_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = C_ROUTE },
    { .key = "name", .type = OP_COL_TEXT, .col = C_ROUTE_NAME },
    { 0 },
};

static const struct op_col student_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = C_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = C_NAME },
    { .key = "dob", .type = OP_COL_SEALED_TEXT, .col = C_DOB, .key_col = C_KEY, .id_col = C_ID,
      .sealed = "students.dob" },
    { .key = "route", .type = OP_COL_OBJECT, .col = C_ROUTE, .fields = route_cols },
    { .key = "active", .type = OP_COL_BOOL, .col = C_ACTIVE },
    { 0 },
};

static void seal_dob(struct fixture *f, int64_t id, char out[PII_SEALED_TEXT_HEX])
{
    assert_int_equal(pii_seal_text(&f->keys, "students.dob", id, "2014-03-09", 10, out), 1);
}

static void test_row_packs_every_column_of_its_table(void **state)
{
    struct fixture *f = *state;
    char sealed[PII_SEALED_TEXT_HEX];
    seal_dob(f, 42, sealed);
    const char *rows[][N_COLS] = { { "42", "Asha", sealed, "1", "7", "Morning run", "t" } };
    PGresult *res = result_of(rows, 1);
    op_pack_row(&f->op, &f->pk, res, 0, student_cols);
    const msgpack_object *m = unpacked(f);
    assert_int_equal(m->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(m->via.map.size, 5);
    const msgpack_object *dob = op_map_get(m, "dob");
    assert_int_equal(dob->type, MSGPACK_OBJECT_STR);
    assert_memory_equal(dob->via.str.ptr, "2014-03-09", 10);
    const msgpack_object *route = op_map_get(m, "route");
    assert_int_equal(route->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(route->via.map.size, 2);
    assert_int_equal(op_map_get(route, "id")->via.u64, 7);
    assert_true(op_map_get(m, "active")->via.boolean);
    assert_int_equal(f->metrics.sealed_open_failures, 0);
    PQclear(res);
}

static void test_sealed_value_that_does_not_open_is_nil_and_counted(void **state)
{
    struct fixture *f = *state;
    char sealed[PII_SEALED_TEXT_HEX];
    seal_dob(f, 42, sealed);
    sealed[10] = sealed[10] == 'a' ? 'b' : 'a'; /* one tampered nibble */
    const char *rows[][N_COLS] = { { "42", "Asha", sealed, "1", NULL, NULL, "f" } };
    PGresult *res = result_of(rows, 1);
    op_pack_row(&f->op, &f->pk, res, 0, student_cols);
    const msgpack_object *m = unpacked(f);
    assert_int_equal(m->via.map.size, 5);
    assert_int_equal(op_map_get(m, "dob")->type, MSGPACK_OBJECT_NIL);
    assert_int_equal(op_map_get(m, "route")->type, MSGPACK_OBJECT_NIL);
    assert_int_equal(op_map_get(m, "name")->type, MSGPACK_OBJECT_STR);
    assert_int_equal(f->metrics.sealed_open_failures, 1);
    PQclear(res);
}

/* A value sealed for another row is refused too: a copy between rows is tampering. */
static void test_sealed_value_moved_to_another_row_is_nil(void **state)
{
    struct fixture *f = *state;
    char sealed[PII_SEALED_TEXT_HEX];
    seal_dob(f, 41, sealed);
    const char *rows[][N_COLS] = { { "42", "Asha", sealed, "1", NULL, NULL, "t" } };
    PGresult *res = result_of(rows, 1);
    op_pack_row(&f->op, &f->pk, res, 0, student_cols);
    const msgpack_object *m = unpacked(f);
    assert_int_equal(m->via.map.size, 5);
    assert_int_equal(op_map_get(m, "dob")->type, MSGPACK_OBJECT_NIL);
    assert_int_equal(f->metrics.sealed_open_failures, 1);
    PQclear(res);
}

static void test_null_columns_are_nil_not_missing(void **state)
{
    struct fixture *f = *state;
    const char *rows[][N_COLS] = { { "5", NULL, NULL, NULL, NULL, NULL, NULL } };
    PGresult *res = result_of(rows, 1);
    op_pack_row(&f->op, &f->pk, res, 0, student_cols);
    const msgpack_object *m = unpacked(f);
    assert_int_equal(m->via.map.size, 5);
    assert_int_equal(op_map_get(m, "name")->type, MSGPACK_OBJECT_NIL);
    assert_int_equal(op_map_get(m, "dob")->type, MSGPACK_OBJECT_NIL);
    assert_int_equal(op_map_get(m, "active")->type, MSGPACK_OBJECT_BOOLEAN);
    assert_int_equal(f->metrics.sealed_open_failures, 0);
    PQclear(res);
}

static void test_rows_skip_the_empty_side_of_an_outer_join(void **state)
{
    struct fixture *f = *state;
    const char *rows[][N_COLS] = {
        { "1", "a", NULL, NULL, "3", "r", "t" },
        { "2", "b", NULL, NULL, NULL, NULL, "t" },
        { "3", "c", NULL, NULL, "4", "s", "t" },
    };
    PGresult *res = result_of(rows, 3);
    op_pack_rows(&f->op, &f->pk, res, route_cols, C_ROUTE);
    const msgpack_object *a = unpacked(f);
    assert_int_equal(a->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(a->via.array.size, 2);
    assert_int_equal(op_map_get(&a->via.array.ptr[1], "id")->via.u64, 4);
    PQclear(res);
}

static void pack_pair(msgpack_packer *pk, const void *arg)
{
    const int *v = arg;
    msgpack_pack_array(pk, 2);
    msgpack_pack_int(pk, v[0]);
    msgpack_pack_int(pk, v[1]);
}

static void test_field_list_counts_itself(void **state)
{
    struct fixture *f = *state;
    int pair[2] = { 3, 4 };
    op_pack_fields(&f->pk, (struct op_field[]){ op_f_i64("a", -1), op_f_u64("b", 2),
                                                op_f_str("c", NULL), op_f_bool("d", true),
                                                op_f_f64("e", 1.5), op_f_nil("f"),
                                                op_f_fn("g", pack_pair, pair), { 0 } });
    const msgpack_object *m = unpacked(f);
    assert_int_equal(m->via.map.size, 7);
    assert_int_equal(op_map_get(m, "c")->type, MSGPACK_OBJECT_NIL);
    assert_int_equal(op_map_get(m, "g")->via.array.size, 2);
}

static void test_arena_memory_is_zeroed_aligned_and_survives_growth(void **state)
{
    (void)state;
    struct arena a = { 0 };
    char *first = arena_strndup(&a, "abcdef", 3);
    assert_string_equal(first, "abc");
    for (int i = 0; i < 1000; i++) {
        unsigned char *p = arena_alloc(&a, (size_t)(i % 37) + 1);
        assert_int_equal((uintptr_t)p % alignof(max_align_t), 0);
        for (int k = 0; k < i % 37 + 1; k++) {
            assert_int_equal(p[k], 0);
        }
        memset(p, 0xee, (size_t)(i % 37) + 1);
    }
    unsigned char *big = arena_alloc(&a, 100000);
    big[99999] = 1;
    assert_string_equal(first, "abc"); /* earlier blocks stay put */
    assert_string_equal(arena_printf(&a, "%s-%d", "x", 5), "x-5");
    arena_deinit(&a);
    assert_null(a.head);
    arena_deinit(&a); /* idempotent */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_row_packs_every_column_of_its_table, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_sealed_value_that_does_not_open_is_nil_and_counted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_value_moved_to_another_row_is_nil, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_null_columns_are_nil_not_missing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rows_skip_the_empty_side_of_an_outer_join, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_field_list_counts_itself, setup, teardown),
        cmocka_unit_test(test_arena_memory_is_zeroed_aligned_and_survives_growth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
