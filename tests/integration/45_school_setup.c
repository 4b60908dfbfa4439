/* School set-up over the socket API: students and their guardians, routes with stops and
 * riders, and buses. One server and two schools serve every test; each test checks the
 * successes, every error of the ops it covers (malformed arguments, another school's ids,
 * conflicts), what the database holds afterwards and what the audit log recorded. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>
#include <msgpack.h>

#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tcheck.h"
#include "tests/support/tclient.h"
#include "tests/support/tdob.h"
#include "tests/support/tfixture.h"
#include "tests/support/trecords.h"
#include "tests/support/tsys.h"


/* One server, two schools: A (where most things happen) and B (whose ids A must not reach). */
struct fx {
    struct harness *h;
    struct tauth_login a, b;
    int64_t parent1, parent2, driver1, teacher1; /* users of A */
    int64_t parent_b, driver_b;                  /* users of B */
    char parent1_phone[TAUTH_PHONE_MAX], parent2_phone[TAUTH_PHONE_MAX];
    char driver1_phone[TAUTH_PHONE_MAX];
    int passed;
};

#define N_TESTS 16

static int group_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    *state = f;
    if (tfix_two_schools(&f->h, NULL, &f->a, &f->b) != 0) {
        return -1;
    }
    f->parent1 = tfix_user(f->a.c, "parent", "Parent One", 11, f->parent1_phone);
    f->parent2 = tfix_user(f->a.c, "parent", "Parent Two", 12, f->parent2_phone);
    f->driver1 = tfix_user(f->a.c, "driver", "Driver One", 13, f->driver1_phone);
    f->teacher1 = tfix_user(f->a.c, "teacher", "Teacher One", 14, NULL);
    f->parent_b = tfix_user(f->b.c, "parent", "Parent B", 21, NULL);
    f->driver_b = tfix_user(f->b.c, "driver", "Driver B", 22, NULL);
    if (f->parent1 < 0 || f->parent2 < 0 || f->driver1 < 0 || f->teacher1 < 0 ||
        f->parent_b < 0 || f->driver_b < 0) {
        return -1;
    }
    /* Students are placed in sections of the current year: A's classes 4 (A), 5 (A, B) and
     * 6 (C, D, Q). */
    if (trec_year(f->a.c, "2026-27", "2026-04-01", "2027-03-31", true) < 0) {
        return -1;
    }
    static const struct {
        const char *cls, *sections[4];
    } plan[] = {
        { "4", { "A", NULL } }, { "5", { "A", "B", NULL } }, { "6", { "C", "D", "Q", NULL } },
    };
    for (size_t i = 0; i < sizeof plan / sizeof plan[0]; i++) {
        int64_t c = trec_class(f->a.c, plan[i].cls);
        if (c < 0) {
            return -1;
        }
        for (size_t k = 0; plan[i].sections[k]; k++) {
            if (trec_section(f->a.c, c, plan[i].sections[k], 0) < 0) {
                return -1;
            }
        }
    }
    return 0;
}

static int group_teardown(void **state)
{
    struct fx *f = *state;
    if (f) {
        tfix_end(f->h, f->passed == N_TESTS, &f->a, &f->b, NULL);
        free(f);
    }
    return 0;
}

/* ---- reading replies ---- */

static bool f64_is(const msgpack_object *obj, const char *path, double v)
{
    const msgpack_object *o = tmsg_get(obj, path);
    return o && (o->type == MSGPACK_OBJECT_FLOAT64 || o->type == MSGPACK_OBJECT_FLOAT32) &&
           o->via.f64 == v;
}

/* ---- requests ---- */

static int64_t new_student(struct wsclient *c, const char *name)
{
    static unsigned n;
    char adm[32];
    snprintf(adm, sizeof adm, "ADM-%u", ++n);
    return CREATE_ID(c, "student.create", "{name: %s, admission_no: %s}", name, adm);
}

/* A route with n stops at (12.9 + i/100, 77.5 + i/100), named "S1".."Sn". */
static int64_t new_route(struct wsclient *c, const char *name, int n, int64_t *stop_ids)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "name", 4);
    msgpack_pack_str_with_body(&pk, name, strlen(name));
    msgpack_pack_str_with_body(&pk, "stops", 5);
    msgpack_pack_array(&pk, (size_t)n);
    for (int i = 0; i < n; i++) {
        char s[16];
        int len = snprintf(s, sizeof s, "S%d", i + 1);
        msgpack_pack_map(&pk, 3);
        msgpack_pack_str_with_body(&pk, "name", 4);
        msgpack_pack_str_with_body(&pk, s, (size_t)len);
        msgpack_pack_str_with_body(&pk, "lat", 3);
        msgpack_pack_double(&pk, 12.9 + i / 100.0);
        msgpack_pack_str_with_body(&pk, "lon", 3);
        msgpack_pack_double(&pk, 77.5 + i / 100.0);
    }
    struct tmsg *m = tauth_call(c, "route.create", "%m", sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    int64_t id = tf_int_of(tf_data(m), "id");
    if (!tauth_is_ok(m) || id <= 0 || tf_len(tf_data(m), "stops") != n) {
        fail_msg("route.create: %s", tmsg_text(m));
    }
    for (int i = 0; stop_ids && i < n; i++) {
        stop_ids[i] = tf_int_of(tf_item(tf_data(m), "stops", (uint32_t)i), "id");
    }
    tmsg_free(m);
    return id;
}

/* Requires school A's audit log to hold an entry for op on the record (0: none) with this
 * outcome (within 5 s). */
static void expect_audit(struct fx *f, const char *op, const char *type, int64_t record,
                         const char *outcome)
{
    if (!tfix_audit_seen(f->h, f->a.school_id, op, type, record ? record : TFIX_NO_RECORD,
                         outcome)) {
        fail_msg("no audit entry %s %s %" PRId64 " %s", op, type, record, outcome);
    }
}

/* ---- students ---- */

static void test_student_create_get_list_update_delete(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    int64_t s1 = CREATE_ID(a, "student.create",
                           "{name: \"Asha Rao\", admission_no: A-100, dob: %s, gender: female,"
                           " class: %s, section: B, roll_no: 7}",
                           "2014-03-09", "5");
    int64_t s2 = CREATE_ID(a, "student.create", "{name: Ravi, admission_no: A-101}");
    expect_audit(f, "student.create", "student", s1, "ok");

    struct tmsg *m = CALL_OK(a, "student.get", "{id: %D}", s1);
    const msgpack_object *d = tf_data(m);
    assert_msg(tf_int_is(d, "id", s1) && tf_str_is(d, "name", "Asha Rao") &&
                   tf_str_is(d, "admission_no", "A-100") && tf_str_is(d, "dob", "2014-03-09") &&
                   tf_str_is(d, "gender", "female") && tf_str_is(d, "class", "5") &&
                   tf_str_is(d, "section", "B") && tf_int_is(d, "roll_no", 7) &&
                   tf_bool_is(d, "active", true) && tf_len(d, "guardians") == 0 &&
                   tf_nil_at(d, "route"),
               m);
    tmsg_free(m);
    expect_audit(f, "student.get", "student", s1, "ok");
    m = CALL_OK(a, "student.get", "{id: %D}", s2);
    d = tf_data(m);
    assert_msg(tf_nil_at(d, "dob") && tf_nil_at(d, "gender") && tf_nil_at(d, "class") &&
                   tf_nil_at(d, "section") && tf_nil_at(d, "roll_no"),
               m);
    tmsg_free(m);

    /* The date of birth is sealed, bound to its row. */
    char dob[16];
    assert_int_equal(tdob_open(f->h, s1, s1, dob), 0);
    assert_string_equal(dob, "2014-03-09");
    assert_int_not_equal(tdob_open(f->h, s1, s2, dob), 0);
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM students WHERE dob_enc IS NOT NULL"
                                   " AND position('2014-03-09'::bytea IN dob_enc) > 0",
                                   NULL),
                     0);

    /* Admission numbers are unique within a school only. */
    CALL_ERR("conflict", "admission_no", a, "student.create", "{name: X, admission_no: A-100}");
    expect_audit(f, "student.create", "student", 0, "conflict");
    int64_t sb = CREATE_ID(f->b.c, "student.create", "{name: Other, admission_no: A-100}");

    /* Another school's student does not exist for A, and the other way round. */
    CALL_ERR("not_found", "id", a, "student.get", "{id: %D}", sb);
    CALL_ERR("not_found", "id", f->b.c, "student.get", "{id: %D}", s1);
    CALL_ERR("not_found", "id", a, "student.get", "{id: 999999999}");
    CALL_ERR("not_found", "id", a, "student.update", "{id: %D, name: Y}", sb);
    CALL_ERR("not_found", "id", a, "student.delete", "{id: %D}", sb);

    /* Placement: a section of a class of the current year, named together. */
    CALL_ERR("not_found", "class", a, "student.create",
             "{name: X, admission_no: X-1, class: %s, section: A}", "9");
    CALL_ERR("not_found", "section", a, "student.create",
             "{name: X, admission_no: X-1, class: %s, section: Z}", "5");
    CALL_ERR("bad_request", "section", a, "student.create",
             "{name: X, admission_no: X-1, section: A}");
    CALL_ERR("bad_request", "section", a, "student.create",
             "{name: X, admission_no: X-1, class: %s}", "5");
    CALL_ERR("bad_request", "section", a, "student.update", "{id: %D, section: D}", s1);
    CALL_ERR("not_found", "class", f->b.c, "student.create",
             "{name: X, admission_no: X-1, class: %s, section: A}", "5");
    assert_int_equal(tauth_sql_int(f->h, "SELECT count(*) FROM students WHERE admission_no = 'X-1'",
                                   NULL),
                     0);

    /* list: filters, paging, no date of birth, nothing of school B. */
    int64_t s3 = CREATE_ID(a, "student.create",
                           "{name: Meera, admission_no: A-102, class: %s, section: A}", "5");
    m = CALL_OK(a, "student.list", "{class: %s}", "5");
    assert_msg(tf_len(tf_data(m), "") == 2 && tf_int_is(tf_item(tf_data(m), "", 0), "id", s1) &&
                   tf_int_is(tf_item(tf_data(m), "", 1), "id", s3) &&
                   tf_str_is(tf_item(tf_data(m), "", 0), "admission_no", "A-100") &&
                   tf_str_is(tf_item(tf_data(m), "", 0), "class", "5") &&
                   tf_int_is(tf_item(tf_data(m), "", 0), "roll_no", 7) &&
                   tf_bool_is(tf_item(tf_data(m), "", 0), "active", true) &&
                   tmsg_get(tf_item(tf_data(m), "", 0), "dob") == NULL,
               m);
    tmsg_free(m);
    m = CALL_OK(a, "student.list", "{class: %s, section: A}", "5");
    assert_msg(tf_len(tf_data(m), "") == 1 && tf_int_is(tf_item(tf_data(m), "", 0), "id", s3), m);
    tmsg_free(m);
    m = CALL_OK(a, "student.list", "{limit: 1}");
    assert_msg(tf_len(tf_data(m), "") == 1 && tf_int_is(tf_item(tf_data(m), "", 0), "id", s1), m);
    tmsg_free(m);
    m = CALL_OK(a, "student.list", "{after: %D, limit: 500}", s1);
    assert_msg(tf_len(tf_data(m), "") >= 2 && tf_int_is(tf_item(tf_data(m), "", 0), "id", s2), m);
    for (long i = 0; i < tf_len(tf_data(m), ""); i++) {
        assert_msg(tf_int_of(tf_item(tf_data(m), "", (uint32_t)i), "id") != sb, m);
    }
    tmsg_free(m);

    /* update changes only what is given. */
    m = CALL_OK(a, "student.update",
                "{id: %D, name: \"Asha R\", dob: %s, gender: other, class: %s, section: C,"
                " roll_no: 1000}",
                s1, "2012-02-29", "6");
    tmsg_free(m);
    expect_audit(f, "student.update", "student", s1, "ok");
    m = CALL_OK(a, "student.get", "{id: %D}", s1);
    d = tf_data(m);
    assert_msg(tf_str_is(d, "name", "Asha R") && tf_str_is(d, "dob", "2012-02-29") &&
                   tf_str_is(d, "gender", "other") && tf_str_is(d, "class", "6") &&
                   tf_str_is(d, "section", "C") && tf_int_is(d, "roll_no", 1000) &&
                   tf_str_is(d, "admission_no", "A-100"),
               m);
    tmsg_free(m);
    m = CALL_OK(a, "student.update", "{id: %D, class: %s, section: D}", s1, "6");
    tmsg_free(m);
    m = CALL_OK(a, "student.get", "{id: %D}", s1);
    assert_msg(tf_str_is(tf_data(m), "name", "Asha R") && tf_str_is(tf_data(m), "section", "D") &&
                   tf_str_is(tf_data(m), "dob", "2012-02-29"),
               m);
    tmsg_free(m);

    /* delete marks the student inactive, and again is fine. */
    m = CALL_OK(a, "student.delete", "{id: %D}", s2);
    tmsg_free(m);
    m = CALL_OK(a, "student.delete", "{id: %D}", s2);
    tmsg_free(m);
    expect_audit(f, "student.delete", "student", s2, "ok");
    m = CALL_OK(a, "student.get", "{id: %D}", s2);
    assert_msg(tf_bool_is(tf_data(m), "active", false) && tf_str_is(tf_data(m), "status", "left") &&
                   tmsg_get(tf_data(m), "left_on") &&
                   tmsg_get(tf_data(m), "left_on")->type == MSGPACK_OBJECT_STR,
               m);
    tmsg_free(m);
    CALL_ERR("not_found", "id", a, "student.delete", "{id: 999999999}");

    /* The rest of the privacy policy's list, and leaving with a date and a reason. */
    m = CALL_OK(a, "student.update", "{id: %D, nationality: Indian, enrolled_on: %s}", s3,
                "2020-06-01");
    tmsg_free(m);
    m = CALL_OK(a, "student.get", "{id: %D}", s3);
    d = tf_data(m);
    assert_msg(tf_str_is(d, "nationality", "Indian") && tf_str_is(d, "enrolled_on", "2020-06-01") &&
                   tf_str_is(d, "status", "enrolled") && tf_int_of(d, "section_id") > 0 &&
                   tf_int_of(d, "year") > 0 && tf_str_is(d, "class", "5") &&
                   tf_str_is(d, "section", "A"),
               m);
    tmsg_free(m);
    CALL_ERR("bad_request", "reason", a, "student.leave", "{id: %D}", s3);
    CALL_ERR("bad_request", "on", a, "student.leave", "{id: %D, reason: moved, on: %s}", s3,
             "2024-02-30");
    CALL_ERR("not_found", "id", a, "student.leave", "{id: %D, reason: moved}", sb);
    m = CALL_OK(a, "student.leave", "{id: %D, reason: \"moved town\", on: %s}", s3,
                "2025-01-15");
    tmsg_free(m);
    expect_audit(f, "student.leave", "student", s3, "ok");
    m = CALL_OK(a, "student.get", "{id: %D}", s3);
    d = tf_data(m);
    assert_msg(tf_str_is(d, "status", "left") && tf_str_is(d, "left_on", "2025-01-15") &&
                   tf_str_is(d, "leave_reason", "moved town") && tf_bool_is(d, "active", false),
               m);
    tmsg_free(m);
    m = CALL_OK(a, "student.list", "{status: left, class: %s}", "5");
    assert_msg(tf_len(tf_data(m), "") == 1 && tf_int_is(tf_item(tf_data(m), "", 0), "id", s3) &&
                   tf_str_is(tf_item(tf_data(m), "", 0), "status", "left"),
               m);
    tmsg_free(m);
    f->passed++;
}

static void test_student_refuses_malformed_arguments(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    char long_name[202];
    memset(long_name, 'n', 201);
    long_name[201] = '\0';
    CALL_ERR("bad_request", "name", a, "student.create", "{admission_no: Z1}");
    CALL_ERR("bad_request", "name", a, "student.create", "{name: 5, admission_no: Z1}");
    CALL_ERR("bad_request", "name", a, "student.create", "{name: \"\", admission_no: Z1}");
    CALL_ERR("bad_request", "name", a, "student.create", "{name: %s, admission_no: Z1}",
             long_name);
    CALL_ERR("bad_request", "admission_no", a, "student.create", "{name: Z}");
    CALL_ERR("bad_request", "admission_no", a, "student.create", "{name: Z, admission_no: [1]}");
    static const char *const bad_dobs[] = {
        "2014-3-9",   "2014/03/09", "14-03-2014", "2014-02-30", "2013-02-29", "2014-13-01",
        "2014-00-10", "2014-04-31", "1989-12-31", "2999-01-01", "20140309",   "2014-03-0x",
    };
    for (size_t i = 0; i < sizeof bad_dobs / sizeof bad_dobs[0]; i++) {
        CALL_ERR("bad_request", "dob", a, "student.create", "{name: Z, admission_no: Z1, dob: %s}",
                 bad_dobs[i]);
    }
    /* Two days ahead is in the future in every time zone. */
    char future[16];
    time_t t = time(NULL) + 2 * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(future, sizeof future, "%Y-%m-%d", &tm);
    CALL_ERR("bad_request", "dob", a, "student.create", "{name: Z, admission_no: Z1, dob: %s}",
             future);
    CALL_ERR("bad_request", "dob", a, "student.create",
             "{name: Z, admission_no: Z1, dob: 20140309}");
    CALL_ERR("bad_request", "gender", a, "student.create",
             "{name: Z, admission_no: Z1, gender: girl}");
    CALL_ERR("bad_request", "gender", a, "student.create",
             "{name: Z, admission_no: Z1, gender: true}");
    CALL_ERR("bad_request", "class", a, "student.create",
             "{name: Z, admission_no: Z1, class: %s}", "123456789012345678901234567890123");
    CALL_ERR("bad_request", "section", a, "student.create",
             "{name: Z, admission_no: Z1, section: ABCDEFGHIJKLMNOPQ}");
    CALL_ERR("bad_request", "roll_no", a, "student.create",
             "{name: Z, admission_no: Z1, roll_no: 0}");
    CALL_ERR("bad_request", "roll_no", a, "student.create",
             "{name: Z, admission_no: Z1, roll_no: 1001}");
    CALL_ERR("bad_request", "roll_no", a, "student.create",
             "{name: Z, admission_no: Z1, roll_no: \"7\"}");
    CALL_ERR("bad_request", "roll_no", a, "student.create",
             "{name: Z, admission_no: Z1, roll_no: 1.5}");
    /* None of those created anything. */
    assert_int_equal(tauth_sql_int(f->h, "SELECT count(*) FROM students WHERE admission_no = 'Z1'",
                                   NULL),
                     0);
    CALL_ERR("bad_request", "id", a, "student.get", "{}");
    CALL_ERR("bad_request", "id", a, "student.get", "{id: 0}");
    CALL_ERR("bad_request", "id", a, "student.get", "{id: -4}");
    CALL_ERR("bad_request", "id", a, "student.get", "{id: \"12\"}");
    CALL_ERR("bad_request", "args", a, "student.get", "[1]");
    CALL_ERR("bad_request", "limit", a, "student.list", "{limit: 0}");
    CALL_ERR("bad_request", "limit", a, "student.list", "{limit: 501}");
    CALL_ERR("bad_request", "after", a, "student.list", "{after: -1}");
    CALL_ERR("bad_request", "class", a, "student.list", "{class: 5}");
    CALL_ERR("bad_request", "id", a, "student.update", "{name: Z}");
    CALL_ERR("bad_request", "dob", a, "student.update", "{id: 1, dob: \"2014-02-30\"}");
    CALL_ERR("bad_request", "name", a, "student.update", "{id: 1, name: \"\"}");
    CALL_ERR("bad_request", "id", a, "student.delete", "{id: nil}");
    f->passed++;
}

/* ---- guardians ---- */

static void test_guardian_link_unlink_list(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    int64_t s = new_student(a, "Kiran");
    int64_t s_alone = new_student(a, "Lone");
    int64_t sb = new_student(f->b.c, "Other School");

    struct tmsg *m = CALL_OK(a, "guardian.link",
                             "{student: %D, user: %D, relationship: mother, emergency: true}", s,
                             f->parent1);
    tmsg_free(m);
    expect_audit(f, "guardian.link", "student", s, "ok");
    m = CALL_OK(a, "guardian.link", "{student: %D, user: %D, relationship: father}", s,
                f->parent2);
    tmsg_free(m);
    m = CALL_OK(a, "guardian.list", "{student: %D}", s);
    const msgpack_object *g0 = tf_item(tf_data(m), "", 0), *g1 = tf_item(tf_data(m), "", 1);
    assert_msg(tf_len(tf_data(m), "") == 2 && tf_int_is(g0, "user", f->parent1) &&
                   tf_str_is(g0, "name", "Parent One") && tf_str_is(g0, "relationship", "mother") &&
                   tf_bool_is(g0, "emergency", true) && tf_int_is(g1, "user", f->parent2) &&
                   tf_str_is(g1, "relationship", "father") && tf_bool_is(g1, "emergency", false),
               m);
    tmsg_free(m);

    /* Linking again updates; emergency stays unless given. */
    m = CALL_OK(a, "guardian.link", "{student: %D, user: %D, relationship: guardian}", s,
                f->parent1);
    tmsg_free(m);
    m = CALL_OK(a, "guardian.list", "{student: %D}", s);
    assert_msg(tf_len(tf_data(m), "") == 2 &&
                   tf_str_is(tf_item(tf_data(m), "", 0), "relationship", "guardian") &&
                   tf_bool_is(tf_item(tf_data(m), "", 0), "emergency", true),
               m);
    tmsg_free(m);
    m = CALL_OK(a, "guardian.link",
                "{student: %D, user: %D, relationship: guardian, emergency: false}", s,
                f->parent1);
    tmsg_free(m);
    m = CALL_OK(a, "student.get", "{id: %D}", s);
    assert_msg(tf_len(tf_data(m), "guardians") == 2 &&
                   tf_bool_is(tf_item(tf_data(m), "guardians", 0), "emergency", false) &&
                   tf_str_is(tf_item(tf_data(m), "guardians", 1), "name", "Parent Two"),
               m);
    tmsg_free(m);

    m = CALL_OK(a, "guardian.list", "{student: %D}", s_alone);
    assert_msg(tf_len(tf_data(m), "") == 0, m);
    tmsg_free(m);

    /* Who may be linked. */
    CALL_ERR("bad_request", "user", a, "guardian.link",
             "{student: %D, user: %D, relationship: driver}", s, f->driver1);
    CALL_ERR("bad_request", "user", a, "guardian.link",
             "{student: %D, user: %D, relationship: teacher}", s, f->teacher1);
    CALL_ERR("bad_request", "user", a, "guardian.link",
             "{student: %D, user: %D, relationship: self}", s, f->a.user_id);
    CALL_ERR("not_found", "user", a, "guardian.link", "{student: %D, user: %D, relationship: x}",
             s, f->parent_b);
    CALL_ERR("not_found", "user", a, "guardian.link",
             "{student: %D, user: 999999999, relationship: x}", s);
    CALL_ERR("not_found", "student", a, "guardian.link",
             "{student: %D, user: %D, relationship: x}", sb, f->parent1);
    CALL_ERR("not_found", "student", f->b.c, "guardian.link",
             "{student: %D, user: %D, relationship: x}", s, f->parent_b);
    CALL_ERR("bad_request", "relationship", a, "guardian.link", "{student: %D, user: %D}", s,
             f->parent1);
    CALL_ERR("bad_request", "relationship", a, "guardian.link",
             "{student: %D, user: %D, relationship: \"\"}", s, f->parent1);
    CALL_ERR("bad_request", "relationship", a, "guardian.link",
             "{student: %D, user: %D, relationship: %s}", s, f->parent1,
             "123456789012345678901234567890123");
    CALL_ERR("bad_request", "emergency", a, "guardian.link",
             "{student: %D, user: %D, relationship: x, emergency: yes}", s, f->parent1);
    CALL_ERR("bad_request", "student", a, "guardian.link", "{user: %D, relationship: x}",
             f->parent1);
    CALL_ERR("bad_request", "user", a, "guardian.link",
             "{student: %D, user: \"1\", relationship: x}", s);
    char s_id[24];
    snprintf(s_id, sizeof s_id, "%" PRId64, s);
    assert_int_equal(tauth_sql_int(f->h, "SELECT count(*) FROM guardians WHERE student_id = $1",
                                   s_id, NULL),
                     2);

    CALL_ERR("not_found", "student", a, "guardian.list", "{student: %D}", sb);
    CALL_ERR("not_found", "student", a, "guardian.list", "{student: 999999999}");
    CALL_ERR("bad_request", "student", a, "guardian.list", "{}");

    /* unlink */
    m = CALL_OK(a, "guardian.unlink", "{student: %D, user: %D}", s, f->parent2);
    tmsg_free(m);
    expect_audit(f, "guardian.unlink", "student", s, "ok");
    CALL_ERR("not_found", "user", a, "guardian.unlink", "{student: %D, user: %D}", s, f->parent2);
    CALL_ERR("not_found", NULL, f->b.c, "guardian.unlink", "{student: %D, user: %D}", s,
             f->parent1);
    CALL_ERR("bad_request", "user", a, "guardian.unlink", "{student: %D}", s);
    m = CALL_OK(a, "guardian.list", "{student: %D}", s);
    assert_msg(tf_len(tf_data(m), "") == 1 &&
                   tf_int_is(tf_item(tf_data(m), "", 0), "user", f->parent1),
               m);
    tmsg_free(m);
    f->passed++;
}

/* A date of birth that no longer opens (tampered with in the database, or sealed under a key
 * this server lacks) reads as nil, and is counted; the rest of the record is answered whole,
 * in a well-formed map. */
static void test_student_get_with_a_tampered_dob(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    int64_t s = CREATE_ID(a, "student.create",
                          "{name: Tampered, admission_no: T-1, dob: %s, gender: male,"
                          " class: %s, section: A, roll_no: 3}",
                          "2015-06-01", "4");
    struct tmsg *m = CALL_OK(a, "guardian.link", "{student: %D, user: %D, relationship: aunt}",
                             s, f->parent1);
    tmsg_free(m);
    char id[24];
    snprintf(id, sizeof id, "%" PRId64, s);
    assert_int_equal(tauth_sql(f->h,
                               "UPDATE students SET dob_enc = set_byte(dob_enc,"
                               " length(dob_enc) - 1, get_byte(dob_enc, length(dob_enc) - 1) # 1)"
                               " WHERE id = $1",
                               id, NULL),
                     1);
    const char *failures = "classment_sealed_open_failures_total";
    long long before = tauth_metric(harness_port(f->h), failures);
    m = CALL_OK(a, "student.get", "{id: %D}", s);
    const msgpack_object *d = tf_data(m);
    assert_msg(d && d->type == MSGPACK_OBJECT_MAP && d->via.map.size == 18 &&
                   tf_int_is(d, "id", s) && tf_str_is(d, "name", "Tampered") &&
                   tf_str_is(d, "admission_no", "T-1") && tf_nil_at(d, "dob") &&
                   tf_str_is(d, "gender", "male") && tf_str_is(d, "class", "4") &&
                   tf_str_is(d, "section", "A") && tf_int_is(d, "roll_no", 3) &&
                   tf_bool_is(d, "active", true) && tf_str_is(d, "status", "enrolled") &&
                   tf_nil_at(d, "left_on") && tf_nil_at(d, "leave_reason") &&
                   tf_len(d, "guardians") == 1 &&
                   tf_int_is(tf_item(d, "guardians", 0), "user", f->parent1) &&
                   tf_str_is(tf_item(d, "guardians", 0), "relationship", "aunt") &&
                   tf_nil_at(d, "route"),
               m);
    tmsg_free(m);
    assert_int_equal(tauth_metric(harness_port(f->h), failures), before + 1);
    expect_audit(f, "student.get", "student", s, "ok");
    f->passed++;
}

/* Every string argument must be UTF-8 text: the router refuses other bytes, naming the
 * field, before student.create or guardian.link runs. */
static void test_students_and_guardians_refuse_invalid_utf8(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    CALL_ERR("bad_request", "name", a, "student.create", "{name: %s, admission_no: U-1}",
             "Asha\xff\xfe");
    CALL_ERR("bad_request", "admission_no", a, "student.create", "{name: Asha, admission_no: %s}",
             "U-\xff\xfe");
    int64_t s = new_student(a, "Utf");
    CALL_ERR("bad_request", "relationship", a, "guardian.link",
             "{student: %D, user: %D, relationship: %s}", s, f->parent1, "m\xff\xfe");
    assert_int_equal(tauth_sql_int(f->h, "SELECT count(*) FROM students WHERE name = 'Asha'",
                                   NULL),
                     0);
    f->passed++;
}

/* ---- routes ---- */

static void test_route_create_get_list(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    const char *odd = "Gate \"A\", {north} \\ side";
    struct tmsg *m = CALL_OK(a, "route.create",
                             "{name: \"Route 1\", stops: [{name: %s, lat: %f, lon: %f},"
                             " {name: Market, lat: -33.8688, lon: 151.2093},"
                             " {name: School, lat: 90, lon: -180}],"
                             " path: [[12.9715987, 77.5945627], [12.98, 77.6], [-33.8688, 151]]}",
                             odd, 12.9715987, 77.5945627);
    const msgpack_object *d = tf_data(m);
    int64_t r1 = tf_int_of(d, "id");
    const msgpack_object *st0 = tf_item(d, "stops", 0), *st2 = tf_item(d, "stops", 2);
    assert_msg(r1 > 0 && tf_len(d, "stops") == 3 && tf_int_is(st0, "seq", 1) &&
                   tf_str_is(st0, "name", odd) && f64_is(st0, "lat", 12.9715987) &&
                   f64_is(st0, "lon", 77.5945627) && tf_int_is(st2, "seq", 3) &&
                   tf_str_is(st2, "name", "School") && f64_is(st2, "lat", 90) &&
                   f64_is(st2, "lon", -180) && tf_int_of(st0, "id") > 0,
               m);
    int64_t stop0 = tf_int_of(st0, "id");
    tmsg_free(m);
    expect_audit(f, "route.create", "route", r1, "ok");
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM route_stops WHERE name = 'Market' AND"
                                   " ST_DWithin(location,"
                                   " ST_SetSRID(ST_MakePoint(151.2093, -33.8688), 4326)::geography,"
                                   " 1)",
                                   NULL),
                     1);

    m = CALL_OK(a, "route.get", "{id: %D}", r1);
    d = tf_data(m);
    assert_msg(tf_int_is(d, "id", r1) && tf_str_is(d, "name", "Route 1") &&
                   tf_len(d, "stops") == 3 && tf_int_is(tf_item(d, "stops", 0), "id", stop0) &&
                   tf_str_is(tf_item(d, "stops", 0), "name", odd) &&
                   tf_int_is(tf_item(d, "stops", 1), "seq", 2) &&
                   f64_is(tf_item(d, "stops", 1), "lat", -33.8688) && tf_len(d, "students") == 0 &&
                   tf_len(d, "path") == 3,
               m);
    const msgpack_object *p0 = tf_item(d, "path", 0);
    assert_msg(p0 && p0->type == MSGPACK_OBJECT_ARRAY && p0->via.array.size == 2 &&
                   p0->via.array.ptr[0].via.f64 == 12.9715987 &&
                   p0->via.array.ptr[1].via.f64 == 77.5945627,
               m);
    tmsg_free(m);

    /* Without a path, path is nil. */
    int64_t r2 = new_route(a, "Route 2", 100, NULL);
    m = CALL_OK(a, "route.get", "{id: %D}", r2);
    assert_msg(tf_nil_at(tf_data(m), "path") && tf_len(tf_data(m), "stops") == 100 &&
                   tf_int_is(tf_item(tf_data(m), "stops", 99), "seq", 100) &&
                   tf_str_is(tf_item(tf_data(m), "stops", 99), "name", "S100"),
               m);
    tmsg_free(m);

    m = CALL_OK(a, "route.list", NULL);
    assert_msg(tf_len(tf_data(m), "") >= 2, m);
    bool seen = false;
    for (uint32_t i = 0; tf_item(tf_data(m), "", i); i++) {
        const msgpack_object *r = tf_item(tf_data(m), "", i);
        if (tf_int_is(r, "id", r2)) {
            seen = tf_str_is(r, "name", "Route 2") && tf_int_is(r, "n_stops", 100) &&
                   tf_int_is(r, "n_students", 0);
        }
    }
    assert_msg(seen, m);
    tmsg_free(m);
    m = CALL_OK(a, "route.list", "{after: %D, limit: 1}", r1);
    assert_msg(tf_len(tf_data(m), "") == 1 && tf_int_is(tf_item(tf_data(m), "", 0), "id", r2), m);
    tmsg_free(m);

    /* School B sees none of it. */
    CALL_ERR("not_found", "id", f->b.c, "route.get", "{id: %D}", r1);
    m = CALL_OK(f->b.c, "route.list", "{}");
    for (uint32_t i = 0; tf_item(tf_data(m), "", i); i++) {
        assert_msg(!tf_int_is(tf_item(tf_data(m), "", i), "id", r1) &&
                       !tf_int_is(tf_item(tf_data(m), "", i), "id", r2),
                   m);
    }
    tmsg_free(m);
    CALL_ERR("not_found", "id", a, "route.get", "{id: 999999999}");
    CALL_ERR("bad_request", "id", a, "route.get", "{id: x}");
    CALL_ERR("bad_request", "limit", a, "route.list", "{limit: 501}");
    f->passed++;
}

/* route.create {name: R, stops: [n_stops stops], path: [n_path points]} (no path when
 * n_path < 0), built with msgpack-c because the format strings would be too long. */
static struct tmsg *route_create_raw(struct wsclient *c, int n_stops, int n_path)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n_path >= 0 ? 3 : 2);
    msgpack_pack_str_with_body(&pk, "name", 4);
    msgpack_pack_str_with_body(&pk, "R", 1);
    msgpack_pack_str_with_body(&pk, "stops", 5);
    msgpack_pack_array(&pk, (size_t)n_stops);
    for (int i = 0; i < n_stops; i++) {
        msgpack_pack_map(&pk, 3);
        msgpack_pack_str_with_body(&pk, "name", 4);
        msgpack_pack_str_with_body(&pk, "s", 1);
        msgpack_pack_str_with_body(&pk, "lat", 3);
        msgpack_pack_double(&pk, 10);
        msgpack_pack_str_with_body(&pk, "lon", 3);
        msgpack_pack_double(&pk, 20);
    }
    if (n_path >= 0) {
        msgpack_pack_str_with_body(&pk, "path", 4);
        msgpack_pack_array(&pk, (size_t)n_path);
        for (int i = 0; i < n_path; i++) {
            msgpack_pack_array(&pk, 2);
            msgpack_pack_double(&pk, 10 + i / 10000.0);
            msgpack_pack_double(&pk, 20 + i / 10000.0);
        }
    }
    struct tmsg *m = tauth_call(c, "route.create", "%m", sb.data, sb.size);
    msgpack_sbuffer_destroy(&sb);
    return m;
}

static void test_route_create_refuses_malformed_arguments(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    int64_t before = tauth_sql_int(f->h, "SELECT count(*) FROM routes", NULL);
    struct tmsg *m = route_create_raw(a, 101, -1);
    assert_msg(tauth_is_err(m, "bad_request", "stops"), m);
    tmsg_free(m);
    m = route_create_raw(a, 0, -1);
    assert_msg(tauth_is_err(m, "bad_request", "stops"), m);
    tmsg_free(m);
    m = route_create_raw(a, 2, 2001);
    assert_msg(tauth_is_err(m, "bad_request", "path"), m);
    tmsg_free(m);
    m = route_create_raw(a, 2, 1);
    assert_msg(tauth_is_err(m, "bad_request", "path"), m);
    tmsg_free(m);
    m = route_create_raw(a, 2, 2000);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);

    CALL_ERR("bad_request", "name", a, "route.create", "{stops: [{name: s, lat: 1, lon: 2}]}");
    CALL_ERR("bad_request", "name", a, "route.create",
             "{name: %s, stops: [{name: s, lat: 1, lon: 2}]}",
             "12345678901234567890123456789012345678901234567890"
             "123456789012345678901234567890123456789012345678901");
    CALL_ERR("bad_request", "stops", a, "route.create", "{name: R}");
    CALL_ERR("bad_request", "stops", a, "route.create", "{name: R, stops: {name: s}}");
    CALL_ERR("bad_request", "stops[1]", a, "route.create",
             "{name: R, stops: [{name: s, lat: 1, lon: 2}, [1, 2]]}");
    CALL_ERR("bad_request", "stops[1].lat", a, "route.create",
             "{name: R, stops: [{name: s, lat: 1, lon: 2}, {name: t, lat: 90.5, lon: 2}]}");
    CALL_ERR("bad_request", "stops[0].lat", a, "route.create",
             "{name: R, stops: [{name: s, lat: -91, lon: 2}]}");
    CALL_ERR("bad_request", "stops[0].lon", a, "route.create",
             "{name: R, stops: [{name: s, lat: 1, lon: 180.001}]}");
    CALL_ERR("bad_request", "stops[0].lon", a, "route.create",
             "{name: R, stops: [{name: s, lat: 1, lon: -181}]}");
    CALL_ERR("bad_request", "stops[0].lat", a, "route.create",
             "{name: R, stops: [{name: s, lat: \"1\", lon: 2}]}");
    CALL_ERR("bad_request", "stops[0].lat", a, "route.create",
             "{name: R, stops: [{name: s, lon: 2}]}");
    CALL_ERR("bad_request", "stops[2].name", a, "route.create",
             "{name: R, stops: [{name: s, lat: 1, lon: 2}, {name: s, lat: 1, lon: 2},"
             " {lat: 1, lon: 2}]}");
    CALL_ERR("bad_request", "stops[0].name", a, "route.create",
             "{name: R, stops: [{name: 7, lat: 1, lon: 2}]}");
    CALL_ERR("bad_request", "path", a, "route.create",
             "{name: R, stops: [{name: s, lat: 1, lon: 2}], path: 5}");
    CALL_ERR("bad_request", "path[1]", a, "route.create",
             "{name: R, stops: [{name: s, lat: 1, lon: 2}], path: [[1, 2], [1]]}");
    CALL_ERR("bad_request", "path[0]", a, "route.create",
             "{name: R, stops: [{name: s, lat: 1, lon: 2}], path: [[95, 2], [1, 2]]}");
    CALL_ERR("bad_request", "path[1]", a, "route.create",
             "{name: R, stops: [{name: s, lat: 1, lon: 2}], path: [[1, 2], [1, \"2\"]]}");
    CALL_ERR("bad_request", "path[1]", a, "route.create",
             "{name: R, stops: [{name: s, lat: 1, lon: 2}], path: [[1, 2], 3]}");
    /* Bytes that are not UTF-8 are refused by the router, naming the field, and inside a
     * stop the stop's own field. */
    CALL_ERR("bad_request", "name", a, "route.create",
             "{name: %s, stops: [{name: s, lat: 1, lon: 2}]}", "R\xff\xfe");
    CALL_ERR("bad_request", "stops[1].name", a, "route.create",
             "{name: R, stops: [{name: s, lat: 1, lon: 2}, {name: %s, lat: 1, lon: 2}]}",
             "Gate\xff\xfe");
    /* Only the 2000-point route went in. */
    assert_int_equal(tauth_sql_int(f->h, "SELECT count(*) FROM routes", NULL), before + 1);
    f->passed++;
}

static void test_route_assign_unassign(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    int64_t stops1[2], stops2[1], stops_b[1];
    int64_t r1 = new_route(a, "Assign 1", 2, stops1);
    int64_t r2 = new_route(a, "Assign 2", 1, stops2);
    int64_t rb = new_route(f->b.c, "B route", 1, stops_b);
    int64_t s = new_student(a, "Rider");
    int64_t gone = new_student(a, "Gone");
    int64_t sb = new_student(f->b.c, "B rider");
    struct tmsg *m = CALL_OK(a, "guardian.link", "{student: %D, user: %D, relationship: mother}",
                             s, f->parent1);
    tmsg_free(m);

    m = CALL_OK(a, "route.assign", "{route: %D, student: %D, stop: %D}", r1, s, stops1[1]);
    tmsg_free(m);
    expect_audit(f, "route.assign", "student", s, "ok");
    m = CALL_OK(a, "student.get", "{id: %D}", s);
    const msgpack_object *d = tf_data(m);
    assert_msg(tf_int_is(d, "route.id", r1) && tf_str_is(d, "route.name", "Assign 1") &&
                   tf_int_is(d, "route.stop.id", stops1[1]) &&
                   tf_str_is(d, "route.stop.name", "S2"),
               m);
    tmsg_free(m);
    m = CALL_OK(a, "route.get", "{id: %D}", r1);
    assert_msg(tf_len(tf_data(m), "students") == 1 &&
                   tf_int_is(tf_item(tf_data(m), "students", 0), "id", s) &&
                   tf_str_is(tf_item(tf_data(m), "students", 0), "name", "Rider") &&
                   tf_int_is(tf_item(tf_data(m), "students", 0), "stop", stops1[1]),
               m);
    tmsg_free(m);

    /* Again on the same route changes the stop; no stop is allowed. */
    m = CALL_OK(a, "route.assign", "{route: %D, student: %D}", r1, s);
    tmsg_free(m);
    m = CALL_OK(a, "student.get", "{id: %D}", s);
    assert_msg(tf_int_is(tf_data(m), "route.id", r1) && tf_nil_at(tf_data(m), "route.stop"), m);
    tmsg_free(m);

    /* Another route moves the student. */
    m = CALL_OK(a, "route.assign", "{route: %D, student: %D, stop: %D}", r2, s, stops2[0]);
    tmsg_free(m);
    char s_id[24];
    snprintf(s_id, sizeof s_id, "%" PRId64, s);
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM route_assignments WHERE student_id = $1",
                                   s_id, NULL),
                     1);
    m = CALL_OK(a, "route.get", "{id: %D}", r1);
    assert_msg(tf_len(tf_data(m), "students") == 0, m);
    tmsg_free(m);
    m = CALL_OK(a, "route.list", "{after: %D, limit: 1}", r1);
    assert_msg(tf_int_is(tf_item(tf_data(m), "", 0), "id", r2) &&
                   tf_int_is(tf_item(tf_data(m), "", 0), "n_students", 1),
               m);
    tmsg_free(m);

    /* Errors. */
    CALL_ERR("bad_request", "stop", a, "route.assign", "{route: %D, student: %D, stop: %D}", r2,
             s, stops1[0]);
    CALL_ERR("bad_request", "stop", a, "route.assign", "{route: %D, student: %D, stop: %D}", r2,
             s, stops_b[0]);
    CALL_ERR("bad_request", "stop", a, "route.assign",
             "{route: %D, student: %D, stop: 999999999}", r2, s);
    CALL_ERR("bad_request", "stop", a, "route.assign", "{route: %D, student: %D, stop: -1}", r2,
             s);
    CALL_ERR("not_found", "route", a, "route.assign", "{route: %D, student: %D}", rb, s);
    CALL_ERR("not_found", "route", a, "route.assign", "{route: 999999999, student: %D}", s);
    CALL_ERR("not_found", "student", a, "route.assign", "{route: %D, student: %D}", r1, sb);
    CALL_ERR("not_found", "student", f->b.c, "route.assign", "{route: %D, student: %D}", rb, s);
    CALL_ERR("bad_request", "route", a, "route.assign", "{student: %D}", s);
    CALL_ERR("bad_request", "student", a, "route.assign", "{route: %D, student: 1.5}", r1);
    m = CALL_OK(a, "student.delete", "{id: %D}", gone);
    tmsg_free(m);
    CALL_ERR("conflict", "student", a, "route.assign", "{route: %D, student: %D}", r1, gone);
    /* The failed attempts left the assignment where it was. */
    m = CALL_OK(a, "student.get", "{id: %D}", s);
    assert_msg(tf_int_is(tf_data(m), "route.id", r2) &&
                   tf_int_is(tf_data(m), "route.stop.id", stops2[0]),
               m);
    tmsg_free(m);

    /* unassign */
    CALL_ERR("not_found", "student", a, "route.unassign", "{route: %D, student: %D}", r1, s);
    CALL_ERR("not_found", "student", f->b.c, "route.unassign", "{route: %D, student: %D}", r2, s);
    CALL_ERR("bad_request", "route", a, "route.unassign", "{student: %D}", s);
    m = CALL_OK(a, "route.unassign", "{route: %D, student: %D}", r2, s);
    tmsg_free(m);
    expect_audit(f, "route.unassign", "student", s, "ok");
    CALL_ERR("not_found", "student", a, "route.unassign", "{route: %D, student: %D}", r2, s);
    m = CALL_OK(a, "student.get", "{id: %D}", s);
    assert_msg(tf_nil_at(tf_data(m), "route"), m);
    tmsg_free(m);

    /* Deleting a student takes them off their route. */
    int64_t leaver = new_student(a, "Leaver");
    m = CALL_OK(a, "route.assign", "{route: %D, student: %D}", r1, leaver);
    tmsg_free(m);
    m = CALL_OK(a, "student.delete", "{id: %D}", leaver);
    tmsg_free(m);
    m = CALL_OK(a, "route.get", "{id: %D}", r1);
    assert_msg(tf_len(tf_data(m), "students") == 0, m);
    tmsg_free(m);
    f->passed++;
}

/* True when route.get of route lists student s among its riders. */
static bool rides(struct wsclient *c, int64_t route, int64_t s)
{
    struct tmsg *m = CALL_OK(c, "route.get", "{id: %D}", route);
    bool found = false;
    for (long i = 0; i < tf_len(tf_data(m), "students"); i++) {
        found = found || tf_int_is(tf_item(tf_data(m), "students", (uint32_t)i), "id", s);
    }
    tmsg_free(m);
    return found;
}

/* Many route.assign of one student to two routes in turn, sent without waiting: the server
 * runs them at once on its database connections. Each is one upsert on the student's single
 * row, so every call succeeds and the student ends on exactly one route, with a stop of that
 * route. (Before, two moves working from the same snapshot could both insert and leave the
 * student on both routes.) Each round starts from a student on no route, so the first calls
 * also race to insert the row. */
/* Waits for the replies to n requests sent without waiting, which come in any order (events
 * meanwhile are skipped): replies[i] is the reply to ids[i] (free each). */
static void await_replies(struct wsclient *c, const uint64_t *ids, int n, struct tmsg **replies)
{
    for (int i = 0; i < n; i++) {
        replies[i] = NULL;
    }
    for (int got = 0; got < n;) {
        struct tmsg *m = tclient_recv(c, 10000);
        assert_non_null(m);
        uint64_t id;
        int i = 0;
        if (tmsg_uint(m, "id", &id)) {
            while (i < n && ids[i] != id) {
                i++;
            }
        } else {
            i = n; /* an event */
        }
        if (i < n) {
            assert_msg(!replies[i], m);
            replies[i] = m;
            got++;
        } else {
            tmsg_free(m);
        }
    }
}

static void test_route_assign_concurrent_moves(void **state)
{
    enum { ROUNDS = 4, CALLS = 40 };
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    int64_t stops1[2], stops2[2];
    int64_t r1 = new_route(a, "Tug 1", 2, stops1);
    int64_t r2 = new_route(a, "Tug 2", 2, stops2);
    for (int round = 0; round < ROUNDS; round++) {
        int64_t s = new_student(a, "Tugged");
        uint64_t ids[CALLS];
        for (int i = 0; i < CALLS; i++) {
            ids[i] = tauth_next_id();
            int64_t route = i % 2 ? r2 : r1;
            int64_t stop = (i % 2 ? stops2 : stops1)[(i / 2) % 2];
            assert_int_equal(tclient_send(a,
                                          "{id: %U, op: route.assign,"
                                          " args: {route: %D, student: %D, stop: %D}}",
                                          ids[i], route, s, stop),
                             0);
        }
        struct tmsg *replies[CALLS];
        await_replies(a, ids, CALLS, replies);
        for (int i = 0; i < CALLS; i++) {
            assert_msg(tmsg_is_success(replies[i], ids[i]), replies[i]);
            tmsg_free(replies[i]);
        }
        char s_id[24];
        snprintf(s_id, sizeof s_id, "%" PRId64, s);
        assert_int_equal(tauth_sql_int(f->h,
                                       "SELECT count(*) FROM route_assignments ra"
                                       " JOIN route_stops st ON st.id = ra.stop_id"
                                       " AND st.route_id = ra.route_id"
                                       " WHERE ra.student_id = $1",
                                       s_id, NULL),
                         1);
        bool on1 = rides(a, r1, s), on2 = rides(a, r2, s);
        if (on1 == on2) {
            fail_msg("round %d: student %" PRId64 " is on %s", round, s,
                     on1 ? "both routes" : "neither route");
        }
        struct tmsg *m = CALL_OK(a, "student.get", "{id: %D}", s);
        assert_msg(tf_int_is(tf_data(m), "route.id", on1 ? r1 : r2), m);
        tmsg_free(m);
    }
    f->passed++;
}

/* route.update replacing a route's stops while route.assign changes riders' stops on it, all
 * in flight together: the stops' removal clears the riders' stops while an assignment points a
 * rider at a stop, so the two statements touch the same rows. Every call must end in ok or a
 * stop that no longer exists (bad_request), never a deadlock reported as internal. */
static void test_route_update_and_assign_together(void **state)
{
    enum { ROUNDS = 15, RIDERS = 4, CALLS = 12 };
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    int64_t stops[2];
    int64_t r = new_route(a, "Busy route", 2, stops);
    int64_t riders[RIDERS];
    for (int i = 0; i < RIDERS; i++) {
        riders[i] = new_student(a, "Rider");
        struct tmsg *m = CALL_OK(a, "route.assign", "{route: %D, student: %D, stop: %D}", r,
                                 riders[i], stops[0]);
        tmsg_free(m);
    }
    int oks = 0, gone = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct tmsg *m = CALL_OK(a, "route.get", "{id: %D}", r);
        for (int k = 0; k < 2; k++) {
            stops[k] = tf_int_of(tf_item(tf_data(m), "stops", (size_t)k), "id");
        }
        tmsg_free(m);
        uint64_t ids[CALLS];
        for (int i = 0; i < CALLS; i++) {
            ids[i] = tauth_next_id();
            int rc;
            if (i == CALLS / 3 || i == 2 * CALLS / 3) {
                rc = tclient_send(a,
                                  "{id: %U, op: route.update, args: {id: %D, stops: ["
                                  "{name: A, lat: 12.9, lon: 77.5},"
                                  " {name: B, lat: 12.91, lon: 77.51}]}}",
                                  ids[i], r);
            } else {
                rc = tclient_send(a,
                                  "{id: %U, op: route.assign,"
                                  " args: {route: %D, student: %D, stop: %D}}",
                                  ids[i], r, riders[i % RIDERS], stops[i % 2]);
            }
            assert_int_equal(rc, 0);
        }
        struct tmsg *replies[CALLS];
        await_replies(a, ids, CALLS, replies);
        for (int i = 0; i < CALLS; i++) {
            bool ok = tmsg_is_success(replies[i], ids[i]);
            bool stale = tmsg_is_failure(replies[i], ids[i], "bad_request", "stop");
            assert_msg(ok || stale, replies[i]);
            oks += ok;
            gone += stale;
            tmsg_free(replies[i]);
        }
    }
    fprintf(stderr, "route.update with route.assign: %d ok, %d to a stop just replaced\n", oks,
            gone);
    /* Every rider is still on the route, with a stop of it or none. */
    char r_id[24];
    snprintf(r_id, sizeof r_id, "%" PRId64, r);
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM route_assignments ra"
                                   " LEFT JOIN route_stops st ON st.id = ra.stop_id"
                                   " WHERE ra.route_id = $1"
                                   " AND (ra.stop_id IS NULL OR st.route_id = ra.route_id)",
                                   r_id, NULL),
                     RIDERS);
    f->passed++;
}

static void test_route_update_delete(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    int64_t stops[3];
    int64_t r = new_route(a, "Update me", 3, stops);
    int64_t rb = new_route(f->b.c, "B route 2", 1, NULL);
    int64_t s = new_student(a, "Passenger");
    struct tmsg *m = CALL_OK(a, "route.assign", "{route: %D, student: %D, stop: %D}", r, s,
                             stops[2]);
    tmsg_free(m);

    m = CALL_OK(a, "route.update", "{id: %D, name: Renamed}", r);
    tmsg_free(m);
    expect_audit(f, "route.update", "route", r, "ok");
    m = CALL_OK(a, "route.get", "{id: %D}", r);
    assert_msg(tf_str_is(tf_data(m), "name", "Renamed") && tf_len(tf_data(m), "stops") == 3 &&
                   tf_int_is(tf_item(tf_data(m), "stops", 0), "id", stops[0]) &&
                   tf_int_is(tf_item(tf_data(m), "students", 0), "stop", stops[2]),
               m);
    tmsg_free(m);

    /* Replacing the stops: new ids, seq 1..n, riders stay without a stop. */
    m = CALL_OK(a, "route.update",
                "{id: %D, stops: [{name: New1, lat: 1, lon: 1}, {name: New2, lat: 2, lon: 2}],"
                " path: [[1, 1], [2, 2]]}",
                r);
    tmsg_free(m);
    m = CALL_OK(a, "route.get", "{id: %D}", r);
    const msgpack_object *d = tf_data(m);
    assert_msg(tf_str_is(d, "name", "Renamed") && tf_len(d, "stops") == 2 &&
                   tf_str_is(tf_item(d, "stops", 0), "name", "New1") &&
                   tf_int_is(tf_item(d, "stops", 0), "seq", 1) &&
                   tf_int_is(tf_item(d, "stops", 1), "seq", 2) &&
                   f64_is(tf_item(d, "stops", 1), "lat", 2) &&
                   tf_int_of(tf_item(d, "stops", 0), "id") != stops[0] &&
                   tf_int_of(tf_item(d, "stops", 0), "id") != stops[1] &&
                   tf_len(d, "students") == 1 && tf_nil_at(tf_item(d, "students", 0), "stop") &&
                   tf_len(d, "path") == 2,
               m);
    tmsg_free(m);
    char r_id[24];
    snprintf(r_id, sizeof r_id, "%" PRId64, r);
    assert_int_equal(tauth_sql_int(f->h, "SELECT count(*) FROM route_stops WHERE route_id = $1",
                                   r_id, NULL),
                     2);

    /* With an active trip the stops may not change, the name may. */
    char driver[24];
    snprintf(driver, sizeof driver, "%" PRId64, f->driver1);
    int64_t trip = tauth_sql_int(f->h,
                                 "INSERT INTO trips (school_id, route_id, driver_id)"
                                 " SELECT school_id, id, $2 FROM routes WHERE id = $1"
                                 " RETURNING id",
                                 r_id, driver, NULL);
    assert_true(trip > 0);
    CALL_ERR("conflict", "stops", a, "route.update",
             "{id: %D, name: Nope, stops: [{name: X, lat: 1, lon: 1}]}", r);
    expect_audit(f, "route.update", "route", r, "conflict");
    m = CALL_OK(a, "route.get", "{id: %D}", r);
    assert_msg(tf_str_is(tf_data(m), "name", "Renamed") && tf_len(tf_data(m), "stops") == 2, m);
    tmsg_free(m);
    m = CALL_OK(a, "route.update", "{id: %D, name: \"Still fine\"}", r);
    tmsg_free(m);

    /* A route with trips, active or ended, is kept. */
    CALL_ERR("conflict", "id", a, "route.delete", "{id: %D}", r);
    expect_audit(f, "route.delete", "route", r, "conflict");
    char trip_id[24];
    snprintf(trip_id, sizeof trip_id, "%" PRId64, trip);
    assert_int_equal(tauth_sql(f->h,
                               "UPDATE trips SET status = 'ended', ended_at = now(),"
                               " end_reason = 'admin' WHERE id = $1",
                               trip_id, NULL),
                     1);
    m = CALL_OK(a, "route.update", "{id: %D, stops: [{name: After, lat: 3, lon: 3}]}", r);
    tmsg_free(m);
    CALL_ERR("conflict", "id", a, "route.delete", "{id: %D}", r);

    /* Errors of update. */
    CALL_ERR("not_found", "id", a, "route.update", "{id: %D, name: X}", rb);
    CALL_ERR("not_found", "id", f->b.c, "route.update", "{id: %D, name: X}", r);
    CALL_ERR("not_found", "id", a, "route.update", "{id: 999999999}");
    CALL_ERR("bad_request", "id", a, "route.update", "{name: X}");
    CALL_ERR("bad_request", "name", a, "route.update", "{id: %D, name: 3}", r);
    CALL_ERR("bad_request", "stops", a, "route.update", "{id: %D, stops: []}", r);
    CALL_ERR("bad_request", "stops[0].lat", a, "route.update",
             "{id: %D, stops: [{name: X, lat: 100, lon: 1}]}", r);
    CALL_ERR("bad_request", "path[0]", a, "route.update", "{id: %D, path: [[1], [1, 2]]}", r);

    /* A route without trips goes, with its stops and riders. */
    int64_t gone_stops[2];
    int64_t gone = new_route(a, "Gone", 2, gone_stops);
    m = CALL_OK(a, "route.assign", "{route: %D, student: %D}", gone, s);
    tmsg_free(m);
    CALL_ERR("not_found", "id", f->b.c, "route.delete", "{id: %D}", gone);
    m = CALL_OK(a, "route.delete", "{id: %D}", gone);
    tmsg_free(m);
    expect_audit(f, "route.delete", "route", gone, "ok");
    CALL_ERR("not_found", "id", a, "route.get", "{id: %D}", gone);
    CALL_ERR("not_found", "id", a, "route.delete", "{id: %D}", gone);
    CALL_ERR("bad_request", "id", a, "route.delete", "{}");
    char gone_id[24];
    snprintf(gone_id, sizeof gone_id, "%" PRId64, gone);
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT (SELECT count(*) FROM route_stops WHERE route_id = $1)"
                                   " + (SELECT count(*) FROM route_assignments"
                                   "    WHERE route_id = $1)",
                                   gone_id, NULL),
                     0);
    f->passed++;
}

/* ---- buses ---- */

static void test_bus_ops(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    int64_t bus = CREATE_ID(a, "bus.create",
                            "{registration_no: \"ka 01 ab 1234\", capacity: 40, driver: %D}",
                            f->driver1);
    expect_audit(f, "bus.create", "bus", bus, "ok");
    struct tmsg *m = CALL_OK(a, "bus.get", "{id: %D}", bus);
    const msgpack_object *d = tf_data(m);
    assert_msg(tf_int_is(d, "id", bus) && tf_str_is(d, "registration_no", "KA01AB1234") &&
                   tf_int_is(d, "capacity", 40) && tf_int_is(d, "driver.id", f->driver1) &&
                   tf_str_is(d, "driver.name", "Driver One"),
               m);
    tmsg_free(m);
    int64_t bus2 = CREATE_ID(a, "bus.create", "{registration_no: KA-02-9, capacity: 1}");
    m = CALL_OK(a, "bus.get", "{id: %D}", bus2);
    assert_msg(tf_nil_at(tf_data(m), "driver") && tf_int_is(tf_data(m), "capacity", 1), m);
    tmsg_free(m);

    /* Registration numbers are unique within a school, after normalising. */
    CALL_ERR("conflict", "registration_no", a, "bus.create",
             "{registration_no: KA01AB1234, capacity: 10}");
    CALL_ERR("conflict", "registration_no", a, "bus.create",
             "{registration_no: \"Ka01 Ab1234 \", capacity: 10}");
    expect_audit(f, "bus.create", "bus", 0, "conflict");
    int64_t bus_b = CREATE_ID(f->b.c, "bus.create",
                              "{registration_no: KA01AB1234, capacity: 10, driver: %D}",
                              f->driver_b);

    /* Drivers. */
    CALL_ERR("bad_request", "driver", a, "bus.create",
             "{registration_no: X1, capacity: 10, driver: %D}", f->parent1);
    CALL_ERR("not_found", "driver", a, "bus.create",
             "{registration_no: X1, capacity: 10, driver: %D}", f->driver_b);
    CALL_ERR("not_found", "driver", a, "bus.create",
             "{registration_no: X1, capacity: 10, driver: 999999999}");
    CALL_ERR("bad_request", "driver", a, "bus.create",
             "{registration_no: X1, capacity: 10, driver: \"7\"}");

    /* Malformed arguments. */
    CALL_ERR("bad_request", "registration_no", a, "bus.create", "{capacity: 10}");
    CALL_ERR("bad_request", "registration_no", a, "bus.create",
             "{registration_no: \"\", capacity: 10}");
    CALL_ERR("bad_request", "registration_no", a, "bus.create",
             "{registration_no: \"   \", capacity: 10}");
    CALL_ERR("bad_request", "registration_no", a, "bus.create",
             "{registration_no: \"AB#12\", capacity: 10}");
    CALL_ERR("bad_request", "registration_no", a, "bus.create",
             "{registration_no: ABCDEFGHIJKLMNOPQRSTU, capacity: 10}");
    CALL_ERR("bad_request", "registration_no", a, "bus.create",
             "{registration_no: 1234, capacity: 10}");
    CALL_ERR("bad_request", "capacity", a, "bus.create", "{registration_no: X1}");
    CALL_ERR("bad_request", "capacity", a, "bus.create", "{registration_no: X1, capacity: 0}");
    CALL_ERR("bad_request", "capacity", a, "bus.create", "{registration_no: X1, capacity: 201}");
    CALL_ERR("bad_request", "capacity", a, "bus.create",
             "{registration_no: X1, capacity: \"40\"}");
    assert_int_equal(tauth_sql_int(f->h, "SELECT count(*) FROM buses WHERE registration_no = 'X1'",
                                   NULL),
                     0);
    /* 20 characters once the spaces are gone is fine. */
    int64_t bus3 = CREATE_ID(a, "bus.create",
                             "{registration_no: \"ABCDE FGHIJ KLMNO PQRST\", capacity: 200}");

    /* list */
    m = CALL_OK(a, "bus.list", NULL);
    assert_msg(tf_len(tf_data(m), "") == 3 && tf_int_is(tf_item(tf_data(m), "", 0), "id", bus) &&
                   tf_int_is(tf_item(tf_data(m), "", 0), "driver.id", f->driver1) &&
                   tf_int_is(tf_item(tf_data(m), "", 2), "id", bus3) &&
                   tf_str_is(tf_item(tf_data(m), "", 2), "registration_no", "ABCDEFGHIJKLMNOPQRST"),
               m);
    tmsg_free(m);
    m = CALL_OK(a, "bus.list", "{after: %D, limit: 1}", bus);
    assert_msg(tf_len(tf_data(m), "") == 1 && tf_int_is(tf_item(tf_data(m), "", 0), "id", bus2), m);
    tmsg_free(m);
    CALL_ERR("bad_request", "limit", a, "bus.list", "{limit: -1}");

    /* update */
    m = CALL_OK(a, "bus.update", "{id: %D, capacity: 50, registration_no: \"ka 01 ab 9999\"}",
                bus);
    tmsg_free(m);
    expect_audit(f, "bus.update", "bus", bus, "ok");
    m = CALL_OK(a, "bus.get", "{id: %D}", bus);
    assert_msg(tf_int_is(tf_data(m), "capacity", 50) &&
                   tf_str_is(tf_data(m), "registration_no", "KA01AB9999") &&
                   tf_int_is(tf_data(m), "driver.id", f->driver1),
               m);
    tmsg_free(m);
    m = CALL_OK(a, "bus.update", "{id: %D, driver: nil}", bus);
    tmsg_free(m);
    m = CALL_OK(a, "bus.get", "{id: %D}", bus);
    assert_msg(tf_nil_at(tf_data(m), "driver") && tf_int_is(tf_data(m), "capacity", 50), m);
    tmsg_free(m);
    m = CALL_OK(a, "bus.update", "{id: %D, driver: %D}", bus, f->driver1);
    tmsg_free(m);
    CALL_ERR("conflict", "registration_no", a, "bus.update",
             "{id: %D, registration_no: \"KA-02-9\"}", bus);
    expect_audit(f, "bus.update", "bus", bus, "conflict");
    CALL_ERR("bad_request", "driver", a, "bus.update", "{id: %D, driver: %D}", bus, f->teacher1);
    CALL_ERR("not_found", "driver", a, "bus.update", "{id: %D, driver: %D}", bus, f->driver_b);
    CALL_ERR("not_found", "id", a, "bus.update", "{id: %D, capacity: 5}", bus_b);
    CALL_ERR("not_found", "id", f->b.c, "bus.update", "{id: %D, capacity: 5}", bus);
    CALL_ERR("bad_request", "capacity", a, "bus.update", "{id: %D, capacity: 500}", bus);
    CALL_ERR("bad_request", "id", a, "bus.update", "{capacity: 5}");
    m = CALL_OK(a, "bus.get", "{id: %D}", bus);
    assert_msg(tf_int_is(tf_data(m), "capacity", 50) &&
                   tf_int_is(tf_data(m), "driver.id", f->driver1) &&
                   tf_str_is(tf_data(m), "registration_no", "KA01AB9999"),
               m);
    tmsg_free(m);
    CALL_ERR("not_found", "id", a, "bus.get", "{id: %D}", bus_b);
    CALL_ERR("not_found", "id", f->b.c, "bus.get", "{id: %D}", bus);
    CALL_ERR("bad_request", "id", a, "bus.get", "{id: 0}");
    CALL_ERR("bad_request", "id", a, "bus.delete", "{id: true}");

    /* delete: a bus with trips is kept. */
    int64_t r = new_route(a, "Bus route", 1, NULL);
    char r_id[24], driver[24], bus_id[24];
    snprintf(r_id, sizeof r_id, "%" PRId64, r);
    snprintf(driver, sizeof driver, "%" PRId64, f->driver1);
    snprintf(bus_id, sizeof bus_id, "%" PRId64, bus);
    assert_true(tauth_sql_int(f->h,
                              "INSERT INTO trips (school_id, route_id, driver_id, bus_id, status,"
                              " ended_at, end_reason)"
                              " SELECT school_id, id, $2, $3, 'ended', now(), 'driver'"
                              " FROM routes WHERE id = $1 RETURNING id",
                              r_id, driver, bus_id, NULL) > 0);
    CALL_ERR("conflict", "id", a, "bus.delete", "{id: %D}", bus);
    expect_audit(f, "bus.delete", "bus", bus, "conflict");
    CALL_ERR("not_found", "id", a, "bus.delete", "{id: %D}", bus_b);
    m = CALL_OK(a, "bus.delete", "{id: %D}", bus2);
    tmsg_free(m);
    expect_audit(f, "bus.delete", "bus", bus2, "ok");
    CALL_ERR("not_found", "id", a, "bus.get", "{id: %D}", bus2);
    CALL_ERR("not_found", "id", a, "bus.delete", "{id: %D}", bus2);
    f->passed++;
}

/* Every string argument must be UTF-8 text: the router refuses other bytes, naming the
 * field, before bus.create runs. */
static void test_bus_create_refuses_invalid_utf8(void **state)
{
    struct fx *f = *state;
    CALL_ERR("bad_request", "registration_no", f->a.c, "bus.create",
             "{registration_no: %s, capacity: 10}", "KA\xff\xfe");
    f->passed++;
}

/* trip.* take no string arguments, but a string anywhere in args must still be UTF-8 text:
 * the router refuses one that is not, naming it, before trip.subscribe looks for the trip. */
static void test_trip_ops_refuse_invalid_utf8(void **state)
{
    struct fx *f = *state;
    CALL_ERR("bad_request", "note", f->a.c, "trip.subscribe", "{trip: 999999999, note: %s}",
             "\xff\xfe");
    CALL_ERR("not_found", "trip", f->a.c, "trip.subscribe", "{trip: 999999999, note: ok}");
    f->passed++;
}

/* ---- live tracking ---- */

/* Waits for the event ev on c, skipping anything else; returns its data.trip or -1. */
static int64_t wait_event(struct wsclient *c, const char *ev, int timeout_ms)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)timeout_ms;
    while (tsys_left_ms(deadline) > 0) {
        struct tmsg *m = tclient_recv(c, tsys_left_ms(deadline));
        if (!m) {
            break;
        }
        bool match = tmsg_is_event(m, ev);
        int64_t trip = tf_int_of(tf_data(m), "trip");
        tmsg_free(m);
        if (match) {
            return trip;
        }
    }
    return -1;
}

static void subscribe(struct wsclient *parent, int64_t trip)
{
    struct tmsg *m = CALL_OK(parent, "trip.subscribe", "{trip: %D}", trip);
    assert_msg(tf_int_is(tf_data(m), "trip", trip), m);
    tmsg_free(m);
}

/* Each change that takes away a parent's reason to follow a bus ends their subscription at
 * once: unlinking the guardian, unassigning the child, moving the child to another route,
 * deleting the child. */
static void test_changes_end_live_subscriptions_at_once(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    struct tauth_login driver, parent;
    assert_int_equal(tauth_login(f->h, f->driver1_phone, "phone", "android", "1.0", &driver), 0);
    assert_int_equal(tauth_login(f->h, f->parent2_phone, "phone", "android", "1.0", &parent), 0);
    int64_t stops[2];
    int64_t r = new_route(a, "Live", 2, stops);
    int64_t other = new_route(a, "Elsewhere", 1, NULL);
    int64_t s = new_student(a, "Follower");
    struct tmsg *m = CALL_OK(a, "guardian.link", "{student: %D, user: %D, relationship: aunt}",
                             s, f->parent2);
    tmsg_free(m);
    m = CALL_OK(a, "route.assign", "{route: %D, student: %D, stop: %D}", r, s, stops[0]);
    tmsg_free(m);
    m = CALL_OK(driver.c, "trip.start", "{route: %D}", r);
    int64_t trip = tf_int_of(tf_data(m), "trip");
    assert_msg(trip > 0, m);
    tmsg_free(m);
    assert_int_equal(wait_event(parent.c, "trip.started", TCLIENT_TIMEOUT_MS), trip);

    subscribe(parent.c, trip);
    m = CALL_OK(a, "guardian.unlink", "{student: %D, user: %D}", s, f->parent2);
    tmsg_free(m);
    assert_int_equal(wait_event(parent.c, "trip.unsubscribed", TCLIENT_TIMEOUT_MS), trip);
    CALL_ERR("forbidden", NULL, parent.c, "trip.subscribe", "{trip: %D}", trip);

    m = CALL_OK(a, "guardian.link", "{student: %D, user: %D, relationship: aunt}", s,
                f->parent2);
    tmsg_free(m);
    subscribe(parent.c, trip);
    m = CALL_OK(a, "route.unassign", "{route: %D, student: %D}", r, s);
    tmsg_free(m);
    assert_int_equal(wait_event(parent.c, "trip.unsubscribed", TCLIENT_TIMEOUT_MS), trip);

    m = CALL_OK(a, "route.assign", "{route: %D, student: %D}", r, s);
    tmsg_free(m);
    subscribe(parent.c, trip);
    m = CALL_OK(a, "route.assign", "{route: %D, student: %D}", other, s);
    tmsg_free(m);
    assert_int_equal(wait_event(parent.c, "trip.unsubscribed", TCLIENT_TIMEOUT_MS), trip);

    m = CALL_OK(a, "route.assign", "{route: %D, student: %D, stop: %D}", r, s, stops[1]);
    tmsg_free(m);
    subscribe(parent.c, trip);
    /* Changes that leave the parent's reason alone keep the subscription. */
    m = CALL_OK(a, "route.update", "{id: %D, name: \"Live 2\"}", r);
    tmsg_free(m);
    CALL_ERR("conflict", "stops", a, "route.update",
             "{id: %D, stops: [{name: X, lat: 1, lon: 1}]}", r);
    m = CALL_OK(a, "student.update", "{id: %D, class: %s, section: Q}", s, "6");
    tmsg_free(m);
    assert_true(tclient_quiet(parent.c, 300));
    m = CALL_OK(a, "student.delete", "{id: %D}", s);
    tmsg_free(m);
    assert_int_equal(wait_event(parent.c, "trip.unsubscribed", TCLIENT_TIMEOUT_MS), trip);
    CALL_ERR("forbidden", NULL, parent.c, "trip.subscribe", "{trip: %D}", trip);

    m = CALL_OK(driver.c, "trip.end", "{trip: %D}", trip);
    tmsg_free(m);
    tauth_login_close(&parent);
    tauth_login_close(&driver);
    f->passed++;
}

/* ---- roles ---- */

static void test_only_admins_may_set_up(void **state)
{
    struct fx *f = *state;
    struct tauth_login p;
    assert_int_equal(tauth_login(f->h, f->parent1_phone, "phone", "android", "1.0", &p), 0);
    static const char *const ops[] = {
        "student.create", "student.get",   "student.list",   "student.update",
        "student.delete", "guardian.link", "guardian.unlink", "guardian.list",
        "route.create",   "route.get",     "route.list",     "route.update",
        "route.delete",   "route.assign",  "route.unassign", "bus.create",
        "bus.get",        "bus.list",      "bus.update",     "bus.delete",
    };
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        CALL_ERR("forbidden", NULL, p.c, ops[i], "{id: 1}");
    }
    tauth_login_close(&p);
    struct wsclient *anon = tclient_open(harness_port(f->h));
    assert_non_null(anon);
    CALL_ERR("unauthenticated", NULL, anon, "student.list", "{}");
    wsclient_free(anon);
    f->passed++;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_student_create_get_list_update_delete),
        cmocka_unit_test(test_student_refuses_malformed_arguments),
        cmocka_unit_test(test_guardian_link_unlink_list),
        cmocka_unit_test(test_student_get_with_a_tampered_dob),
        cmocka_unit_test(test_students_and_guardians_refuse_invalid_utf8),
        cmocka_unit_test(test_route_create_get_list),
        cmocka_unit_test(test_route_create_refuses_malformed_arguments),
        cmocka_unit_test(test_route_assign_unassign),
        cmocka_unit_test(test_route_assign_concurrent_moves),
        cmocka_unit_test(test_route_update_and_assign_together),
        cmocka_unit_test(test_route_update_delete),
        cmocka_unit_test(test_bus_ops),
        cmocka_unit_test(test_bus_create_refuses_invalid_utf8),
        cmocka_unit_test(test_trip_ops_refuse_invalid_utf8),
        cmocka_unit_test(test_changes_end_live_subscriptions_at_once),
        cmocka_unit_test(test_only_admins_may_set_up),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
