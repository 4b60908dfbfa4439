/* Shared set-up and reply reading for the school-records integration tests (see tfixture.h). */
#include "tests/support/tfixture.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/tsys.h"

int tfix_two_schools(struct harness **h, const struct harness_opts *opts, struct tauth_login *a,
                     struct tauth_login *b)
{
    if (harness_start(h, opts) != 0) {
        return -1;
    }
    char phone_a[TAUTH_PHONE_MAX], phone_b[TAUTH_PHONE_MAX];
    tauth_phone(phone_a, 1);
    tauth_phone(phone_b, 2);
    if (tauth_school_create(*h, "School A", "Admin A", phone_a, NULL) < 0 ||
        tauth_school_create(*h, "School B", "Admin B", phone_b, NULL) < 0 ||
        tauth_login(*h, phone_a, "web", "linux", "1.0", a) != 0 ||
        tauth_login(*h, phone_b, "web", "linux", "1.0", b) != 0) {
        return -1;
    }
    return 0;
}

int64_t tfix_user(struct wsclient *admin, const char *role, const char *name, unsigned n,
                  char *phone_out)
{
    char phone[TAUTH_PHONE_MAX];
    tauth_phone(phone, n);
    if (phone_out) {
        memcpy(phone_out, phone, sizeof phone);
    }
    return tauth_user_create(admin, role, name, phone);
}

int tfix_link_guardian(struct wsclient *admin, int64_t student, int64_t user)
{
    struct tmsg *m = tauth_call(admin, "guardian.link",
                                "{student: %D, user: %D, relationship: mother}", student, user);
    int r = tauth_is_ok(m) ? 0 : -1;
    if (r) {
        fprintf(stderr, "guardian.link: %s\n", m ? tmsg_text(m) : "no reply");
    }
    tmsg_free(m);
    return r;
}

const char *tf_num(char buf[24], int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

bool tfix_audit_seen(const struct harness *h, int64_t school, const char *op, const char *type,
                     int64_t record, const char *outcome)
{
    char school_s[24], record_s[24];
    tf_num(school_s, school);
    tf_num(record_s, record);
    uint64_t deadline = tsys_mono_ms() + 5000;
    while (tsys_mono_ms() < deadline) {
        if (tauth_sql_int(h,
                          "SELECT count(*) FROM audit_log WHERE school_id = $1 AND op = $2"
                          " AND ($3::text = '' OR record_type = $3::text) AND outcome = $4"
                          " AND CASE WHEN $5::bigint > 0 THEN record_id = $5::bigint"
                          "   WHEN $5::bigint < 0 THEN record_id IS NULL ELSE true END",
                          school_s, op, type, outcome, record_s, NULL) > 0) {
            return true;
        }
        tsys_sleep_ms(100);
    }
    return false;
}

bool tfix_leak_free(const struct harness *h)
{
    char *log = tsys_read_file(harness_log_path(h), NULL);
    if (!log) {
        fprintf(stderr, "cannot read the server's log %s\n", harness_log_path(h));
        return false;
    }
    const char *lost = strstr(log, "definitely lost:");
    bool ok = !lost || strncmp(lost, "definitely lost: 0 bytes", 24) == 0;
    if (!ok) {
        fprintf(stderr, "valgrind reports a leak: %.200s\n", lost);
    }
    free(log);
    return ok;
}

/* Closes each login of a NULL-terminated list. */
static void close_logins(va_list ap)
{
    for (struct tauth_login *l; (l = va_arg(ap, struct tauth_login *));) {
        tauth_login_close(l);
    }
}

bool tfix_stop_clean(struct harness *h, bool valgrind, ...)
{
    va_list ap;
    va_start(ap, valgrind);
    close_logins(ap);
    va_end(ap);
    if (harness_stop(h, 30000) != 0) {
        fprintf(stderr, "the server did not stop with status 0\n");
        return false;
    }
    return !valgrind || tfix_leak_free(h);
}

void tfix_end(struct harness *h, bool passed, ...)
{
    va_list ap;
    va_start(ap, passed);
    close_logins(ap);
    va_end(ap);
    if (h && passed) {
        harness_passed(h);
    }
    harness_free(h);
}

const msgpack_object *tf_at(const struct tmsg *m, const char *path)
{
    return m ? tmsg_get(tmsg_root(m), path) : NULL;
}

const msgpack_object *tf_data(const struct tmsg *m)
{
    return tf_at(m, "data");
}

const msgpack_object *tf_item(const msgpack_object *obj, const char *path, uint32_t i)
{
    const msgpack_object *a = tmsg_get(obj, path);
    return a && a->type == MSGPACK_OBJECT_ARRAY && i < a->via.array.size ? &a->via.array.ptr[i]
                                                                         : NULL;
}

long tf_len(const msgpack_object *obj, const char *path)
{
    const msgpack_object *a = tmsg_get(obj, path);
    return a && a->type == MSGPACK_OBJECT_ARRAY ? (long)a->via.array.size : -1;
}

int64_t tf_int_of(const msgpack_object *obj, const char *path)
{
    const msgpack_object *o = tmsg_get(obj, path);
    return o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)o->via.u64 : -1;
}

bool tf_int_is(const msgpack_object *obj, const char *path, int64_t v)
{
    const msgpack_object *o = tmsg_get(obj, path);
    return o &&
           ((o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v >= 0 && o->via.u64 == (uint64_t)v) ||
            (o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER && o->via.i64 == v));
}

bool tf_str_is(const msgpack_object *obj, const char *path, const char *s)
{
    const msgpack_object *o = tmsg_get(obj, path);
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(s) &&
           memcmp(o->via.str.ptr, s, o->via.str.size) == 0;
}

bool tf_nil_at(const msgpack_object *obj, const char *path)
{
    const msgpack_object *o = tmsg_get(obj, path);
    return o && o->type == MSGPACK_OBJECT_NIL;
}

bool tf_bool_is(const msgpack_object *obj, const char *path, bool v)
{
    const msgpack_object *o = tmsg_get(obj, path);
    return o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean == v;
}
