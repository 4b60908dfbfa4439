/* Unit tests for notices_pack_json (academics/notices.h): notices' jsonb payloads packed as
 * msgpack — every JSON type, string escapes (surrogate pairs too), integers against floats,
 * and malformed or too deeply nested text packing nil, never half a value. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include <msgpack.h>

#include "academics/notices.h"

struct packed {
    msgpack_sbuffer sb;
    msgpack_unpacked u;
};

static const msgpack_object *pack(struct packed *p, const char *json)
{
    msgpack_sbuffer_init(&p->sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &p->sb, msgpack_sbuffer_write);
    notices_pack_json(&pk, json, strlen(json));
    msgpack_unpacked_init(&p->u);
    size_t off = 0;
    assert_int_equal(msgpack_unpack_next(&p->u, p->sb.data, p->sb.size, &off),
                     MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(off, p->sb.size); /* exactly one value */
    return &p->u.data;
}

static void done(struct packed *p)
{
    msgpack_unpacked_destroy(&p->u);
    msgpack_sbuffer_destroy(&p->sb);
}

static const msgpack_object *get(const msgpack_object *map, const char *key)
{
    assert_int_equal(map->type, MSGPACK_OBJECT_MAP);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object_kv *kv = &map->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
            memcmp(kv->key.via.str.ptr, key, strlen(key)) == 0) {
            return &kv->val;
        }
    }
    fail_msg("no key %s", key);
    return NULL;
}

static void str_is(const msgpack_object *o, const char *s)
{
    assert_int_equal(o->type, MSGPACK_OBJECT_STR);
    assert_int_equal(o->via.str.size, strlen(s));
    assert_memory_equal(o->via.str.ptr, s, strlen(s));
}

static void test_a_homework_payload(void **state)
{
    (void)state;
    struct packed p;
    const msgpack_object *o =
        pack(&p, "{\"title\": \"Fractions\", \"due_on\": \"2026-12-07\", \"section\": 4,"
                 " \"subject\": {\"id\": 7, \"name\": \"Maths\"}, \"homework\": 12,"
                 " \"students\": [3, 9]}");
    assert_int_equal(o->via.map.size, 6);
    str_is(get(o, "title"), "Fractions");
    str_is(get(o, "due_on"), "2026-12-07");
    assert_int_equal(get(o, "section")->via.i64, 4);
    assert_int_equal(get(o, "homework")->type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    str_is(get(get(o, "subject"), "name"), "Maths");
    assert_int_equal(get(get(o, "subject"), "id")->via.u64, 7);
    const msgpack_object *st = get(o, "students");
    assert_int_equal(st->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(st->via.array.size, 2);
    assert_int_equal(st->via.array.ptr[1].via.u64, 9);
    done(&p);
}

static void test_every_type_and_escape(void **state)
{
    (void)state;
    struct packed p;
    const msgpack_object *o =
        pack(&p, " {\"s\": \"q\\\"b\\\\s\\/n\\n\\t\\u00e9\\u0915\\ud83c\\udf33 raw \xe0\xa4\x95\","
                 " \"t\": true, \"f\": false, \"z\": null, \"neg\": -42, \"x\": -2.5,"
                 " \"e\": 1e3, \"big\": 123456789012345678901234, \"a\": [], \"m\": {},"
                 " \"nested\": [[1], {\"k\": [null]}]} ");
    str_is(get(o, "s"), "q\"b\\s/n\n\t\xc3\xa9\xe0\xa4\x95\xf0\x9f\x8c\xb3 raw \xe0\xa4\x95");
    assert_int_equal(get(o, "t")->type, MSGPACK_OBJECT_BOOLEAN);
    assert_true(get(o, "t")->via.boolean);
    assert_false(get(o, "f")->via.boolean);
    assert_int_equal(get(o, "z")->type, MSGPACK_OBJECT_NIL);
    assert_int_equal(get(o, "neg")->type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    assert_int_equal(get(o, "neg")->via.i64, -42);
    assert_int_equal(get(o, "x")->type, MSGPACK_OBJECT_FLOAT64);
    assert_true(get(o, "x")->via.f64 == -2.5);
    assert_true(get(o, "e")->via.f64 == 1000.0);
    assert_int_equal(get(o, "big")->type, MSGPACK_OBJECT_FLOAT64);
    assert_int_equal(get(o, "a")->via.array.size, 0);
    assert_int_equal(get(o, "m")->via.map.size, 0);
    const msgpack_object *n = get(o, "nested");
    assert_int_equal(n->via.array.size, 2);
    assert_int_equal(n->via.array.ptr[0].via.array.ptr[0].via.u64, 1);
    assert_int_equal(get(&n->via.array.ptr[1], "k")->via.array.ptr[0].type, MSGPACK_OBJECT_NIL);
    done(&p);
}

static void test_malformed_packs_nil(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "", " ", "{", "{\"a\": 1", "{\"a\" 1}", "{\"a\": 1,}", "[1,]", "[1 2]", "{1: 2}",
        "tru", "nul", "\"abc", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"\\u12\"",
        "{\"a\": 1} x", "[1]]", "]", "{\"a\": }", "-", "1e", "1.2.3", "--1", "[-]", NULL,
    };
    for (int i = 0; bad[i]; i++) {
        struct packed p;
        const msgpack_object *o = pack(&p, bad[i]);
        if (o->type != MSGPACK_OBJECT_NIL) {
            fail_msg("%s packed as type %d", bad[i], o->type);
        }
        done(&p);
    }
}

static void test_depth_is_bounded(void **state)
{
    (void)state;
    char deep[256], ok[64];
    int n = 0;
    for (int i = 0; i < 100; i++) {
        deep[n++] = '[';
    }
    for (int i = 0; i < 100; i++) {
        deep[n++] = ']';
    }
    deep[n] = '\0';
    struct packed p;
    assert_int_equal(pack(&p, deep)->type, MSGPACK_OBJECT_NIL);
    done(&p);
    snprintf(ok, sizeof ok, "[[[[[[[[1]]]]]]]]");
    assert_int_equal(pack(&p, ok)->type, MSGPACK_OBJECT_ARRAY);
    done(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_a_homework_payload),
        cmocka_unit_test(test_every_type_and_escape),
        cmocka_unit_test(test_malformed_packs_nil),
        cmocka_unit_test(test_depth_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
