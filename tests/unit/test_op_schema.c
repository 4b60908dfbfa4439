/* Unit tests for core/op_schema, generated from the served op tables: for every op and every
 * declared argument, a missing required argument, a wrong type, invalid UTF-8, a string one
 * byte too long and numbers just out of bounds are refused naming the field, and a request
 * built from the schema's own valid values passes. Also: every op's arguments agree with
 * docs/protocol.md, and the published schema (sys.schema) is well formed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/op_schema.h"
#include "core/utf8.h"
#include "gateway/ops.h"
#include "gateway/router.h"

/* --- Building argument maps --- */

enum bad { BAD_NONE, BAD_MISSING, BAD_TYPE, BAD_UTF8, BAD_NUL, BAD_LONG, BAD_LOW, BAD_HIGH };

static void pack_str(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_valid(msgpack_packer *pk, const struct op_arg *a);

/* A map holding every required key of schema with a valid value. */
static void pack_valid_map(msgpack_packer *pk, const struct op_arg *schema)
{
    size_t n = 0;
    for (const struct op_arg *a = schema; a && a->name; a++) {
        n += a->required != 0;
    }
    msgpack_pack_map(pk, n);
    for (const struct op_arg *a = schema; a && a->name; a++) {
        if (a->required) {
            pack_str(pk, a->name, strlen(a->name));
            pack_valid(pk, a);
        }
    }
}

static void pack_valid(msgpack_packer *pk, const struct op_arg *a)
{
    switch (a->type) {
    case OP_T_ID:
        msgpack_pack_uint64(pk, 7);
        return;
    case OP_T_INT:
        msgpack_pack_int64(pk, a->min || a->max ? a->min : 0);
        return;
    case OP_T_NUM:
        msgpack_pack_double(pk, a->lo);
        return;
    case OP_T_BOOL:
        msgpack_pack_true(pk);
        return;
    case OP_T_STR:
        pack_str(pk, "x", 1);
        return;
    case OP_T_ENUM:
        pack_str(pk, a->values[0], strlen(a->values[0]));
        return;
    case OP_T_ARRAY:
        msgpack_pack_array(pk, 0);
        return;
    case OP_T_MAP:
        pack_valid_map(pk, a->fields);
        return;
    }
    msgpack_pack_nil(pk);
}

/* The wrong-typed value for a: a string for numbers, ids and bools, a number otherwise. */
static void pack_wrong_type(msgpack_packer *pk, const struct op_arg *a)
{
    if (a->type == OP_T_STR || a->type == OP_T_ENUM || a->type == OP_T_ARRAY ||
        a->type == OP_T_MAP) {
        msgpack_pack_int64(pk, 12);
    } else {
        pack_str(pk, "12", 2);
    }
}

/* Packs the args of def with every required argument valid, then target made bad as asked
 * (or left out). */
static void pack_request(msgpack_sbuffer *sb, const struct op_def *def, const struct op_arg *target,
                         enum bad bad)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
    size_t n = 0;
    for (const struct op_arg *a = def->args; a && a->name; a++) {
        n += (a->required && a != target) || (a == target && bad != BAD_MISSING);
    }
    msgpack_pack_map(&pk, n);
    for (const struct op_arg *a = def->args; a && a->name; a++) {
        if (a != target) {
            if (a->required) {
                pack_str(&pk, a->name, strlen(a->name));
                pack_valid(&pk, a);
            }
            continue;
        }
        if (bad == BAD_MISSING) {
            continue;
        }
        pack_str(&pk, a->name, strlen(a->name));
        size_t max = a->max > 0 ? (size_t)a->max : OP_STR_MAX_DEFAULT;
        char *long_str;
        switch (bad) {
        case BAD_NONE:
            pack_valid(&pk, a);
            break;
        case BAD_TYPE:
            pack_wrong_type(&pk, a);
            break;
        case BAD_UTF8:
            pack_str(&pk, "ok\xff\xfe", 4);
            break;
        case BAD_NUL:
            pack_str(&pk, "a\0b", 3);
            break;
        case BAD_LONG:
            long_str = malloc(max + 1);
            memset(long_str, 'a', max + 1);
            pack_str(&pk, long_str, max + 1);
            free(long_str);
            break;
        case BAD_LOW:
            if (a->type == OP_T_NUM) {
                msgpack_pack_double(&pk, a->lo - 1);
            } else if (a->min == INT64_MIN) {
                msgpack_pack_double(&pk, -1e300); /* below any int64, and not an integer */
            } else {
                msgpack_pack_int64(&pk, a->min - 1);
            }
            break;
        case BAD_HIGH:
            if (a->type == OP_T_NUM) {
                msgpack_pack_double(&pk, a->hi + 1);
            } else if (a->max == INT64_MAX) {
                msgpack_pack_uint64(&pk, (uint64_t)INT64_MAX + 1);
            } else {
                msgpack_pack_int64(&pk, a->max + 1);
            }
            break;
        case BAD_MISSING:
            break;
        }
    }
}

struct outcome {
    int rc;
    char field[128];
    char message[128];
};

/* Checks the packed args in sb against schema, then frees sb. */
static struct outcome check_packed(const struct op_arg *schema, msgpack_sbuffer *sb)
{
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, sb->data, sb->size, &off), MSGPACK_UNPACK_SUCCESS);
    struct arena arena = { 0 };
    const char *field = NULL, *message = NULL;
    struct outcome o = { 0 };
    o.rc = op_schema_check(schema, &u.data, &arena, &field, &message);
    snprintf(o.field, sizeof o.field, "%s", field ? field : "");
    snprintf(o.message, sizeof o.message, "%s", message ? message : "");
    arena_deinit(&arena);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(sb);
    return o;
}

static struct outcome check(const struct op_def *def, const struct op_arg *target, enum bad bad)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    pack_request(&sb, def, target, bad);
    return check_packed(def->args, &sb);
}

static void expect_refused(const struct op_def *def, const struct op_arg *a, enum bad bad)
{
    struct outcome o = check(def, a, bad);
    if (o.rc != OP_E_BAD_REQUEST || strcmp(o.field, a->name) != 0) {
        fail_msg("%s: argument %s, case %d: rc %d field \"%s\" message \"%s\"", def->name,
                 a->name, bad, o.rc, o.field, o.message);
    }
}

/* --- The served tables --- */

static struct op_table tables[OPS_MAX_TABLES];
static size_t n_tables;

static int setup(void **state)
{
    (void)state;
    n_tables = ops_tables(NULL, tables);
    return 0;
}

#define FOR_EACH_OP(def)                                                                      \
    for (size_t t_ = 0; t_ < n_tables; t_++)                                                  \
        for (const struct op_def *def = tables[t_].ops; def->name; def++)

static void test_every_op_schema_is_well_formed(void **state)
{
    (void)state;
    size_t n_ops = 0;
    FOR_EACH_OP(def)
    {
        const char *why = NULL;
        if (op_schema_valid(def->args, &why) != 0) {
            fail_msg("%s: %s", def->name, why);
        }
        n_ops++;
    }
    assert_true(n_ops >= 42);
}

static void test_valid_requests_built_from_each_schema_pass(void **state)
{
    (void)state;
    FOR_EACH_OP(def)
    {
        struct outcome o = check(def, NULL, BAD_NONE);
        if (o.rc != 0) {
            fail_msg("%s: a valid request was refused: %s %s", def->name, o.field, o.message);
        }
        for (const struct op_arg *a = def->args; a && a->name; a++) {
            o = check(def, a, BAD_NONE);
            if (o.rc != 0) {
                fail_msg("%s: valid %s refused: %s", def->name, a->name, o.message);
            }
        }
    }
}

static void test_missing_required_arguments_are_named(void **state)
{
    (void)state;
    FOR_EACH_OP(def)
    {
        for (const struct op_arg *a = def->args; a && a->name; a++) {
            if (a->required) {
                expect_refused(def, a, BAD_MISSING);
            } else {
                assert_int_equal(check(def, a, BAD_MISSING).rc, 0);
            }
        }
    }
}

static void test_wrong_types_are_named(void **state)
{
    (void)state;
    FOR_EACH_OP(def)
    {
        for (const struct op_arg *a = def->args; a && a->name; a++) {
            expect_refused(def, a, BAD_TYPE);
        }
    }
}

static void test_strings_must_be_utf8_without_nul_and_within_bounds(void **state)
{
    (void)state;
    FOR_EACH_OP(def)
    {
        for (const struct op_arg *a = def->args; a && a->name; a++) {
            if (a->type == OP_T_STR || a->type == OP_T_ENUM) {
                expect_refused(def, a, BAD_UTF8);
                expect_refused(def, a, BAD_NUL);
            }
            if (a->type == OP_T_STR) {
                expect_refused(def, a, BAD_LONG);
            }
        }
    }
}

static void test_numbers_out_of_bounds_are_named(void **state)
{
    (void)state;
    FOR_EACH_OP(def)
    {
        for (const struct op_arg *a = def->args; a && a->name; a++) {
            bool bounded = (a->type == OP_T_INT && (a->min || a->max)) ||
                           (a->type == OP_T_NUM && (a->lo != 0 || a->hi != 0));
            if (bounded) {
                expect_refused(def, a, BAD_LOW);
                expect_refused(def, a, BAD_HIGH);
            }
        }
    }
}

/* Undeclared keys are ignored, but not their bytes: invalid text anywhere is refused. */
static void test_invalid_text_in_an_undeclared_nested_argument_is_refused(void **state)
{
    (void)state;
    static const struct op_arg schema[] = { { .name = "id", .type = OP_T_ID, .required = OP_REQ },
                                            { 0 } };
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "id", 2);
    msgpack_pack_uint64(&pk, 3);
    pack_str(&pk, "extra", 5);
    msgpack_pack_array(&pk, 2);
    pack_str(&pk, "fine", 4);
    msgpack_pack_map(&pk, 1);
    pack_str(&pk, "k", 1);
    pack_str(&pk, "\xc0\x80", 2); /* an overlong NUL */
    struct outcome o = check_packed(schema, &sb);
    assert_int_equal(o.rc, OP_E_BAD_REQUEST);
    assert_string_equal(o.field, "extra[1].k");
    assert_string_equal(o.message, "must be valid UTF-8 text");
}

static void test_nested_fields_are_named_by_path(void **state)
{
    (void)state;
    static const struct op_arg stop[] = { { "name", OP_T_STR, OP_REQ, .max = 10 },
                                          { "lat", OP_T_NUM, OP_REQ, .lo = -90, .hi = 90 },
                                          { 0 } };
    static const struct op_arg item = { "stop", OP_T_MAP, OP_REQ, .fields = stop };
    static const struct op_arg schema[] = {
        { "stops", OP_T_ARRAY, OP_REQ, .max = 3, .items = &item }, { 0 }
    };
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 1);
    pack_str(&pk, "stops", 5);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "name", 4);
    pack_str(&pk, "a", 1);
    pack_str(&pk, "lat", 3);
    msgpack_pack_double(&pk, 1.5);
    msgpack_pack_map(&pk, 1);
    pack_str(&pk, "name", 4);
    pack_str(&pk, "b", 1);
    struct outcome o = check_packed(schema, &sb);
    assert_int_equal(o.rc, OP_E_BAD_REQUEST);
    assert_string_equal(o.field, "stops[1].lat");
    assert_string_equal(o.message, "is required");
}

/* The first occurrence of a key is the one handlers read (op_map_get): a nil first and a
 * value second is still "absent". */
static void test_a_repeated_key_counts_by_its_first_occurrence(void **state)
{
    (void)state;
    static const struct op_arg schema[] = { { .name = "id", .type = OP_T_ID, .required = OP_REQ },
                                            { 0 } };
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "id", 2);
    msgpack_pack_nil(&pk);
    pack_str(&pk, "id", 2);
    msgpack_pack_uint64(&pk, 5);
    struct outcome o = check_packed(schema, &sb);
    assert_int_equal(o.rc, OP_E_BAD_REQUEST);
    assert_string_equal(o.field, "id");
    assert_string_equal(o.message, "is required");
}

static void test_utf8_validation_follows_rfc3629(void **state)
{
    (void)state;
    assert_true(utf8_valid_text("", 0));
    assert_true(utf8_valid_text("plain", 5));
    assert_true(utf8_valid_text("\xe0\xa4\xb9\xe0\xa4\xbf", 6));   /* Devanagari "hi" */
    assert_true(utf8_valid_text("\xf0\x9f\x9a\x8c", 4));           /* U+1F68C bus */
    assert_true(utf8_valid_text("\xf4\x8f\xbf\xbf", 4));           /* U+10FFFF */
    assert_false(utf8_valid_text("a\0b", 3));
    assert_false(utf8_valid_text("\xff", 1));
    assert_false(utf8_valid_text("\x80", 1));                       /* lone continuation */
    assert_false(utf8_valid_text("\xc0\xaf", 2));                   /* overlong '/' */
    assert_false(utf8_valid_text("\xe0\x80\xaf", 3));               /* overlong */
    assert_false(utf8_valid_text("\xed\xa0\x80", 3));               /* surrogate D800 */
    assert_false(utf8_valid_text("\xf4\x90\x80\x80", 4));           /* above U+10FFFF */
    assert_false(utf8_valid_text("\xe0\xa4", 2));                   /* truncated */
    assert_false(utf8_valid_text("\xc3\x28", 2));                   /* bad continuation */
}

/* --- docs/protocol.md agrees with the schema --- */

struct doc_arg {
    char name[64];
    bool optional;
};

/* Reads the top-level names of "args: `{a, b?, c?: {…}, d: […]}`"; returns how many, or -1
 * when the op's section has no args line. "args: none" gives 0. */
static int doc_args(const char *doc, const char *op, struct doc_arg *out, int cap)
{
    char heading[128];
    snprintf(heading, sizeof heading, "`%s` ", op);
    const char *p = doc;
    const char *h = NULL;
    while ((p = strstr(p, heading)) != NULL) {
        const char *line = p;
        while (line > doc && line[-1] != '\n') {
            line--;
        }
        if (line[0] == '#') {
            h = p;
            break;
        }
        p++;
    }
    if (!h) {
        return -2;
    }
    const char *next = strstr(h, "\n#");
    const char *a = strstr(h, "\nargs:");
    if (!a || (next && a > next)) {
        return -1;
    }
    a += strlen("\nargs:");
    while (*a == ' ') {
        a++;
    }
    if (strncmp(a, "none", 4) == 0) {
        return 0;
    }
    if (strncmp(a, "`{", 2) != 0) {
        return -1;
    }
    a += 2;
    int n = 0, depth = 0;
    bool want_name = true;
    for (; *a && !(depth == 0 && *a == '}'); a++) {
        if (*a == '{' || *a == '[') {
            depth++;
        } else if (*a == '}' || *a == ']') {
            depth--;
        } else if (depth == 0 && *a == ',') {
            want_name = true;
        } else if (depth == 0 && want_name && (isalnum((unsigned char)*a) || *a == '_')) {
            size_t k = 0;
            while ((isalnum((unsigned char)a[k]) || a[k] == '_') && k < 63) {
                k++;
            }
            if (n < cap) {
                memcpy(out[n].name, a, k);
                out[n].name[k] = '\0';
                out[n].optional = a[k] == '?';
            }
            n++;
            a += k - 1;
            want_name = false;
        }
    }
    return n;
}

static void test_protocol_doc_and_schema_agree_on_every_op(void **state)
{
    (void)state;
    FILE *f = fopen(CLASSMENT_SRC_ROOT "/docs/protocol.md", "r");
    assert_non_null(f);
    static char doc[1 << 20];
    size_t len = fread(doc, 1, sizeof doc - 1, f);
    fclose(f);
    doc[len] = '\0';
    int mismatches = 0;
    FOR_EACH_OP(def)
    {
        struct doc_arg documented[32];
        int n = doc_args(doc, def->name, documented, 32);
        if (n == -2) {
            print_error("%s: no section in docs/protocol.md\n", def->name);
            mismatches++;
            continue;
        }
        if (n < 0) {
            n = 0; /* no args line: the op takes none */
        }
        int declared = 0;
        for (const struct op_arg *a = def->args; a && a->name; a++) {
            declared++;
            bool found = false;
            for (int i = 0; i < n; i++) {
                if (strcmp(documented[i].name, a->name) == 0) {
                    found = true;
                    if (documented[i].optional == (a->required != 0)) {
                        print_error("%s: %s is %s in the schema but %s in the docs\n",
                                    def->name, a->name, a->required ? "required" : "optional",
                                    documented[i].optional ? "optional" : "required");
                        mismatches++;
                    }
                }
            }
            if (!found) {
                print_error("%s: %s is in the schema but not in the docs\n", def->name, a->name);
                mismatches++;
            }
        }
        if (declared != n) {
            print_error("%s: the docs list %d arguments, the schema %d\n", def->name, n,
                        declared);
            mismatches++;
        }
    }
    assert_int_equal(mismatches, 0);
}

/* sys.schema's data is one array with an entry per op, each a map of four keys. */
static void test_published_schema_lists_every_op(void **state)
{
    (void)state;
    struct router *r = router_new(tables, n_tables);
    assert_non_null(r);
    size_t len = 0;
    const unsigned char *data = router_schema(r, &len);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&u, (const char *)data, len, &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, len);
    assert_int_equal(u.data.type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(u.data.via.array.size, router_count(r));
    for (uint32_t i = 0; i < u.data.via.array.size; i++) {
        const msgpack_object *op = &u.data.via.array.ptr[i];
        assert_int_equal(op->type, MSGPACK_OBJECT_MAP);
        const msgpack_object *name = op_map_get(op, "name");
        assert_non_null(name);
        assert_int_equal(name->type, MSGPACK_OBJECT_STR);
        const struct op_def *def = router_op_at(r, i);
        assert_int_equal(name->via.str.size, strlen(def->name));
        assert_memory_equal(name->via.str.ptr, def->name, strlen(def->name));
        const msgpack_object *args = op_map_get(op, "args");
        assert_non_null(args);
        assert_int_equal(args->type, MSGPACK_OBJECT_ARRAY);
        assert_non_null(op_map_get(op, "roles"));
        assert_non_null(op_map_get(op, "public"));
    }
    /* nullable is published only where nil means something: bus.update's driver,
     * section.update's class_teacher and room. */
    static const char *const nullable_ops[] = { "bus.update", "section.update", NULL };
    size_t n_nullable = 0;
    for (uint32_t i = 0; i < u.data.via.array.size; i++) {
        const msgpack_object *op = &u.data.via.array.ptr[i];
        const msgpack_object *name = op_map_get(op, "name");
        const msgpack_object *args = op_map_get(op, "args");
        for (uint32_t k = 0; k < args->via.array.size; k++) {
            const msgpack_object *flag = op_map_get(&args->via.array.ptr[k], "nullable");
            if (flag) {
                assert_int_equal(flag->type, MSGPACK_OBJECT_BOOLEAN);
                assert_true(flag->via.boolean);
                bool listed = false;
                for (int j = 0; nullable_ops[j]; j++) {
                    listed |= name->via.str.size == strlen(nullable_ops[j]) &&
                              memcmp(name->via.str.ptr, nullable_ops[j],
                                     name->via.str.size) == 0;
                }
                assert_true(listed);
                n_nullable++;
            }
        }
    }
    assert_int_equal(n_nullable, 3);
    /* Asked again, the same bytes: it is packed once. */
    size_t len2 = 0;
    assert_ptr_equal(router_schema(r, &len2), data);
    assert_int_equal(len2, len);
    msgpack_unpacked_destroy(&u);
    router_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_schema_is_well_formed),
        cmocka_unit_test(test_valid_requests_built_from_each_schema_pass),
        cmocka_unit_test(test_missing_required_arguments_are_named),
        cmocka_unit_test(test_wrong_types_are_named),
        cmocka_unit_test(test_strings_must_be_utf8_without_nul_and_within_bounds),
        cmocka_unit_test(test_numbers_out_of_bounds_are_named),
        cmocka_unit_test(test_invalid_text_in_an_undeclared_nested_argument_is_refused),
        cmocka_unit_test(test_nested_fields_are_named_by_path),
        cmocka_unit_test(test_a_repeated_key_counts_by_its_first_occurrence),
        cmocka_unit_test(test_utf8_validation_follows_rfc3629),
        cmocka_unit_test(test_protocol_doc_and_schema_agree_on_every_op),
        cmocka_unit_test(test_published_schema_lists_every_op),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
