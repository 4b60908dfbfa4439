/* A sealed phone number that no longer opens (a byte of users.phone_enc flipped in the
 * database, as tampering or a key this server lacks would leave it) must not break the
 * replies built from its row: user.get answers a well-formed map with every field, the phone
 * nil, and the failure is logged; user.list is unaffected; other users read as before. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tcheck.h"
#include "tests/support/tmsg.h"
#include "tests/support/tsys.h"
#include "tests/support/wsclient.h"

#define LOG_WAIT_MS 3000

static const char *const get_keys[] = { "id",         "role",       "name",
                                        "phone",      "employee_id", "active",
                                        "created_at", "updated_at", NULL };
/* user.list shows no numbers. */
static const char *const list_keys[] = { "id",     "role",       "name",      "employee_id",
                                         "active", "created_at", "updated_at", NULL };

struct fx {
    struct harness *h;
    struct tauth_login admin;
    int64_t tampered, intact;
    char intact_phone[TAUTH_PHONE_MAX];
};

static int setup(void **state)
{
    struct fx *fx = calloc(1, sizeof *fx);
    *state = fx;
    char admin_phone[TAUTH_PHONE_MAX], phone[TAUTH_PHONE_MAX];
    tauth_phone(admin_phone, 1);
    tauth_phone(phone, 10);
    tauth_phone(fx->intact_phone, 11);
    if (harness_start(&fx->h, NULL) != 0 ||
        tauth_school_create(fx->h, "Hill School", "Hari Admin", admin_phone, NULL) <= 0 ||
        tauth_login(fx->h, admin_phone, "phone", "android 14", "1.4.2", &fx->admin) != 0) {
        return -1;
    }
    struct tmsg *m = tauth_call(fx->admin.c, "user.create",
                                "{role: driver, name: \"Dev Driver\", phone: %s,"
                                " employee_id: \"DRV-3\"}",
                                phone);
    bool ok = tauth_int(m, "data.id", &fx->tampered);
    tmsg_free(m);
    fx->intact = tauth_user_create(fx->admin.c, "teacher", "Tara Teacher", fx->intact_phone);
    if (!ok || fx->intact <= 0) {
        return -1;
    }
    /* Flip the last byte (the authentication tag) of one user's sealed number. */
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)fx->tampered);
    return tauth_sql(fx->h,
                     "UPDATE users SET phone_enc = set_byte(phone_enc, length(phone_enc) - 1,"
                     " get_byte(phone_enc, length(phone_enc) - 1) # 1) WHERE id = $1",
                     id, (const char *)NULL) == 1
               ? 0
               : -1;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    if (fx) {
        tauth_login_close(&fx->admin);
        harness_free(fx->h);
        free(fx);
    }
    *state = NULL;
    return 0;
}

/* obj is a map with exactly the keys listed (each once), none of them missing. */
static bool has_exactly(const msgpack_object *obj, const char *const *keys)
{
    size_t n = 0;
    while (keys[n]) {
        n++;
    }
    if (!obj || obj->type != MSGPACK_OBJECT_MAP || obj->via.map.size != n) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!tmsg_get(obj, keys[i])) {
            return false;
        }
    }
    return true;
}

static bool is_type(const msgpack_object *obj, const char *key, msgpack_object_type t)
{
    const msgpack_object *v = tmsg_get(obj, key);
    return v && v->type == t;
}

/* Every field but the phone, with its value or type, as the tampered user was created. */
static bool tampered_row_intact(const msgpack_object *u, int64_t id)
{
    const msgpack_object *v = tmsg_get(u, "id");
    return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 == (uint64_t)id &&
           is_type(u, "role", MSGPACK_OBJECT_STR) && is_type(u, "name", MSGPACK_OBJECT_STR) &&
           is_type(u, "employee_id", MSGPACK_OBJECT_STR) &&
           is_type(u, "active", MSGPACK_OBJECT_BOOLEAN) &&
           is_type(u, "created_at", MSGPACK_OBJECT_POSITIVE_INTEGER) &&
           is_type(u, "updated_at", MSGPACK_OBJECT_POSITIVE_INTEGER);
}

/* The server log mentions the failure within LOG_WAIT_MS (it is written as it happens). */
static bool log_mentions(const struct harness *h, const char *text)
{
    uint64_t deadline = tsys_mono_ms() + LOG_WAIT_MS;
    do {
        FILE *f = fopen(harness_log_path(h), "r");
        char line[2048];
        bool found = false;
        while (f && !found && fgets(line, sizeof line, f)) {
            found = strstr(line, text) != NULL;
        }
        if (f) {
            fclose(f);
        }
        if (found) {
            return true;
        }
        tsys_sleep_ms(50);
    } while (tsys_left_ms(deadline) > 0);
    return false;
}

static void test_get_answers_a_whole_map_with_the_phone_nil(void **state)
{
    struct fx *fx = *state;
    struct tmsg *m = tauth_call(fx->admin.c, "user.get", "{id: %D}", fx->tampered);
    assert_msg(tauth_is_ok(m), m);
    const msgpack_object *data = tmsg_get(tmsg_root(m), "data");
    assert_msg(has_exactly(data, get_keys), m);
    assert_msg(is_type(data, "phone", MSGPACK_OBJECT_NIL), m);
    assert_msg(tampered_row_intact(data, fx->tampered), m);
    assert_msg(tmsg_str_is(m, "data.role", "driver") && tmsg_str_is(m, "data.name", "Dev Driver") &&
                   tmsg_str_is(m, "data.employee_id", "DRV-3") &&
                   tmsg_bool_is(m, "data.active", true),
               m);
    tmsg_free(m);
    if (!log_mentions(fx->h, "sealed value failed to open")) {
        fail_msg("the server log does not report the sealed phone that failed to open");
    }
    /* The connection is still in step: the next request is answered, and another user's
     * number still opens. */
    m = tauth_call(fx->admin.c, "user.get", "{id: %D}", fx->intact);
    assert_msg(tauth_is_ok(m) && has_exactly(tmsg_get(tmsg_root(m), "data"), get_keys), m);
    assert_msg(tmsg_str_is(m, "data.phone", fx->intact_phone), m);
    tmsg_free(m);
    harness_passed(fx->h);
}

static void test_list_answers_whole_maps(void **state)
{
    struct fx *fx = *state;
    struct tmsg *m = tauth_call(fx->admin.c, "user.list", "{}");
    assert_msg(tauth_is_ok(m), m);
    const msgpack_object *list = tmsg_get(tmsg_root(m), "data");
    assert_msg(list && list->type == MSGPACK_OBJECT_ARRAY && list->via.array.size == 3, m);
    bool seen = false;
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *u = &list->via.array.ptr[i];
        assert_msg(has_exactly(u, list_keys), m);
        const msgpack_object *id = tmsg_get(u, "id");
        if (id->via.u64 == (uint64_t)fx->tampered) {
            seen = true;
            assert_msg(tampered_row_intact(u, fx->tampered), m);
        }
    }
    assert_msg(seen, m);
    tmsg_free(m);
    harness_passed(fx->h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_get_answers_a_whole_map_with_the_phone_nil, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_list_answers_whole_maps, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
