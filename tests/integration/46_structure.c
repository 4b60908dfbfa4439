/* The school's structure over the socket API: academic years and terms, classes, sections,
 * subjects, teachers' assignments and their scope, students placed in sections, year-end
 * promotion, leaving, and the purge of leavers past their retention. One server and two
 * schools serve every test (run in order: later tests build on earlier ones); each checks
 * successes and refusals (malformed arguments, unknown ids, the other school's ids, a teacher
 * out of scope) and what the database holds afterwards. */
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

#include <msgpack.h>

#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tcheck.h"
#include "tests/support/tclient.h"
#include "tests/support/tfixture.h"
#include "tests/support/trecords.h"
#include "tests/support/tsys.h"

#define N_TESTS 9

/* School A: admin, two teachers (t1 class teacher of 5A, t2 assigned to 5B Maths), a parent of
 * one child of 5A, a driver. School B: admin and its own structure. */
struct fx {
    struct harness *h;
    struct tauth_login a, b, t1, t2, parent;
    int64_t t1_id, t2_id, parent_id, driver_id, b_teacher;
    int64_t year1, year2, class5, sec5a, sec5b, maths5, english5;
    int64_t class6, sec6a, maths6; /* year 2 */
    int64_t b_year, b_class, b_section, b_subject, b_student;
    int64_t kid, kid2, other_kid; /* 5A (the parent's child), 5A, 5B */
    int passed;
};

static int group_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    *state = f;
    char p1[TAUTH_PHONE_MAX], p2[TAUTH_PHONE_MAX], pp[TAUTH_PHONE_MAX];
    if (tfix_two_schools(&f->h, NULL, &f->a, &f->b) != 0) {
        return -1;
    }
    struct wsclient *a = f->a.c;
    f->t1_id = tfix_user(a, "teacher", "Teacher One", 11, p1);
    f->t2_id = tfix_user(a, "teacher", "Teacher Two", 12, p2);
    f->parent_id = tfix_user(a, "parent", "Parent One", 13, pp);
    f->driver_id = tfix_user(a, "driver", "Driver One", 14, NULL);
    f->b_teacher = tfix_user(f->b.c, "teacher", "Teacher B", 21, NULL);
    if (f->t1_id < 0 || f->t2_id < 0 || f->parent_id < 0 || f->driver_id < 0 ||
        f->b_teacher < 0 ||
        tauth_login(f->h, p1, "web", "linux", "1.0", &f->t1) != 0 ||
        tauth_login(f->h, p2, "web", "linux", "1.0", &f->t2) != 0 ||
        tauth_login(f->h, pp, "web", "linux", "1.0", &f->parent) != 0) {
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    struct fx *f = *state;
    if (f) {
        tfix_end(f->h, f->passed == N_TESTS, &f->a, &f->b, &f->t1, &f->t2, &f->parent, NULL);
        free(f);
    }
    return 0;
}

/* ---- reading replies ---- */

/* Whether the array at the root of data holds an element whose key is v. */
static bool has_id(const msgpack_object *arr, const char *key, int64_t v)
{
    for (long i = 0; i < tf_len(arr, ""); i++) {
        if (tf_int_is(tf_item(arr, "", (uint32_t)i), key, v)) {
            return true;
        }
    }
    return false;
}

#define OK(c, op, ...) tmsg_free(CALL_OK((c), (op), __VA_ARGS__))

static int64_t sql_int(struct fx *f, const char *sql, int64_t a, int64_t b)
{
    char sa[24], sb[24];
    snprintf(sa, sizeof sa, "%" PRId64, a);
    snprintf(sb, sizeof sb, "%" PRId64, b);
    return tauth_sql_int(f->h, sql, sa, sb, NULL);
}

static void expect_audit(struct fx *f, const char *op, const char *type, int64_t record)
{
    if (!tfix_audit_seen(f->h, f->a.school_id, op, type, record, "ok")) {
        fail_msg("no audit entry %s %s %" PRId64, op, type, record);
    }
}

/* ---- years and terms ---- */

static void test_years_and_terms(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    /* B has no current year yet: a class needs one. */
    CALL_ERR("conflict", "year", f->b.c, "class.create", "{name: \"1\"}");

    f->year1 = trec_year(a, "2026-27", "2026-04-01", "2027-03-31", true);
    assert_true(f->year1 > 0);
    expect_audit(f, "year.create", "academic_year", f->year1);
    f->year2 = trec_year(a, "2027-28", "2027-04-01", "2028-03-31", false);
    assert_true(f->year2 > 0);
    f->b_year = trec_year(f->b.c, "2026-27", "2026-04-01", "2027-03-31", true);
    assert_true(f->b_year > 0);

    CALL_ERR("conflict", "name", a, "year.create",
             "{name: \"2026-27\", starts_on: \"2030-01-01\", ends_on: \"2030-12-31\"}");
    CALL_ERR("bad_request", "ends_on", a, "year.create",
             "{name: X, starts_on: \"2030-01-01\", ends_on: \"2030-01-01\"}");
    CALL_ERR("bad_request", "starts_on", a, "year.create",
             "{name: X, starts_on: \"2030-02-30\", ends_on: \"2030-12-31\"}");
    CALL_ERR("bad_request", "ends_on", a, "year.create",
             "{name: X, starts_on: \"2030-01-01\", ends_on: \"31/12/2030\"}");
    CALL_ERR("bad_request", "name", a, "year.create",
             "{starts_on: \"2030-01-01\", ends_on: \"2030-12-31\"}");
    CALL_ERR("bad_request", "current", a, "year.create",
             "{name: X, starts_on: \"2030-01-01\", ends_on: \"2030-12-31\", current: 1}");
    CALL_ERR("forbidden", NULL, f->t1.c, "year.create",
             "{name: X, starts_on: \"2030-01-01\", ends_on: \"2030-12-31\"}");

    /* Everyone of the school lists them; one is current. */
    struct wsclient *readers[] = { a, f->t1.c, f->parent.c };
    for (size_t i = 0; i < 3; i++) {
        struct tmsg *m = CALL_OK(readers[i], "year.list", NULL);
        const msgpack_object *d = tf_data(m);
        assert_msg(tf_len(d, "") == 2 && tf_int_is(tf_item(d, "", 0), "id", f->year1) &&
                       tf_bool_is(tf_item(d, "", 0), "current", true) &&
                       tf_str_is(tf_item(d, "", 0), "starts_on", "2026-04-01") &&
                       tf_str_is(tf_item(d, "", 1), "ends_on", "2028-03-31") &&
                       tf_bool_is(tf_item(d, "", 1), "current", false),
                   m);
        tmsg_free(m);
    }

    /* Moving "current" and back, in one statement each. */
    OK(a, "year.update", "{id: %D, current: true}", f->year2);
    assert_int_equal(sql_int(f, "SELECT id FROM academic_years WHERE school_id = $1 AND current"
                                " AND $2::bigint IS NOT NULL",
                             f->a.school_id, 0),
                     f->year2);
    OK(a, "year.update", "{id: %D, current: true, name: \"2026-2027\"}", f->year1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM academic_years WHERE school_id = $1"
                                " AND current AND id = $2",
                             f->a.school_id, f->year1),
                     1);
    expect_audit(f, "year.update", "academic_year", f->year1);
    CALL_ERR("not_found", "id", a, "year.update", "{id: %D, name: Y}", f->b_year);
    CALL_ERR("not_found", "id", a, "year.update", "{id: 999999999, name: Y}");
    CALL_ERR("conflict", "name", a, "year.update", "{id: %D, name: \"2027-28\"}", f->year1);
    CALL_ERR("bad_request", "ends_on", a, "year.update", "{id: %D, ends_on: \"2026-01-01\"}",
             f->year1);
    CALL_ERR("bad_request", "starts_on", a, "year.update", "{id: %D, starts_on: x}", f->year1);

    /* Terms lie within their year. */
    int64_t term = CREATE_ID(a, "term.create",
                             "{year: %D, name: \"Term 1\", starts_on: \"2026-04-01\","
                             " ends_on: \"2026-09-30\"}",
                             f->year1);
    expect_audit(f, "term.create", "term", term);
    CALL_ERR("conflict", "name", a, "term.create",
             "{year: %D, name: \"Term 1\", starts_on: \"2026-10-01\", ends_on: \"2026-12-31\"}",
             f->year1);
    CALL_ERR("bad_request", "starts_on", a, "term.create",
             "{year: %D, name: T2, starts_on: \"2026-01-01\", ends_on: \"2026-06-30\"}",
             f->year1);
    CALL_ERR("bad_request", "ends_on", a, "term.create",
             "{year: %D, name: T2, starts_on: \"2026-10-01\", ends_on: \"2026-09-30\"}",
             f->year1);
    CALL_ERR("not_found", "year", a, "term.create",
             "{year: %D, name: T2, starts_on: \"2026-10-01\", ends_on: \"2026-12-31\"}",
             f->b_year);
    CALL_ERR("bad_request", "year", a, "term.create",
             "{name: T2, starts_on: \"2026-10-01\", ends_on: \"2026-12-31\"}");
    struct tmsg *m = CALL_OK(f->parent.c, "term.list", "{year: %D}", f->year1);
    assert_msg(tf_len(tf_data(m), "") == 1 && tf_int_is(tf_item(tf_data(m), "", 0), "id", term) &&
                   tf_int_is(tf_item(tf_data(m), "", 0), "year", f->year1) &&
                   tf_str_is(tf_item(tf_data(m), "", 0), "name", "Term 1") &&
                   tf_str_is(tf_item(tf_data(m), "", 0), "ends_on", "2026-09-30"),
               m);
    tmsg_free(m);
    m = CALL_OK(f->t1.c, "term.list", NULL);
    assert_msg(tf_len(tf_data(m), "") == 1, m);
    tmsg_free(m);
    CALL_ERR("not_found", "year", a, "term.list", "{year: %D}", f->b_year);
    CALL_ERR("not_found", "id", f->b.c, "term.delete", "{id: %D}", term);
    CALL_ERR("forbidden", NULL, f->t1.c, "term.delete", "{id: %D}", term);
    OK(a, "term.delete", "{id: %D}", term);
    expect_audit(f, "term.delete", "term", term);
    CALL_ERR("not_found", "id", a, "term.delete", "{id: %D}", term);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM terms WHERE id = $1 OR $2 = 1", term, 0),
                     0);
    f->passed++;
}

/* ---- classes, sections, subjects ---- */

static void test_classes(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    f->class5 = trec_class(a, "5");
    assert_true(f->class5 > 0);
    expect_audit(f, "class.create", "class", f->class5);
    f->class6 = CREATE_ID(a, "class.create", "{name: \"6\", year: %D, seq: 6}", f->year2);
    f->b_class = trec_class(f->b.c, "5");
    assert_true(f->b_class > 0);
    CALL_ERR("conflict", "name", a, "class.create", "{name: \"5\"}");
    CALL_ERR("not_found", "year", a, "class.create", "{name: \"7\", year: %D}", f->b_year);
    CALL_ERR("bad_request", "seq", a, "class.create", "{name: \"7\", seq: -1}");
    CALL_ERR("bad_request", "name", a, "class.create", "{name: \"\"}");
    CALL_ERR("forbidden", NULL, f->t1.c, "class.create", "{name: \"7\"}");
    assert_int_equal(sql_int(f, "SELECT year_id FROM classes WHERE id = $1 AND $2 = 0",
                             f->class5, 0),
                     f->year1);

    int64_t tmp = trec_class(a, "Temp");
    OK(a, "class.update", "{id: %D, name: Temporary, seq: 9}", tmp);
    expect_audit(f, "class.update", "class", tmp);
    CALL_ERR("conflict", "name", a, "class.update", "{id: %D, name: \"5\"}", tmp);
    CALL_ERR("not_found", "id", a, "class.update", "{id: %D, name: X}", f->b_class);
    CALL_ERR("not_found", "id", a, "class.update", "{id: 999999999, name: X}");
    int64_t tmp_sec = trec_section(a, tmp, "Z", 0);
    int64_t tmp_subj = trec_subject(a, tmp, "Art");
    assert_true(tmp_sec > 0 && tmp_subj > 0);
    CALL_ERR("not_found", "id", f->b.c, "class.delete", "{id: %D}", tmp);
    OK(a, "class.delete", "{id: %D}", tmp);
    expect_audit(f, "class.delete", "class", tmp);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM sections WHERE class_id = $1 OR id = $2",
                             tmp, tmp_sec),
                     0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM subjects WHERE class_id = $1 OR id = $2",
                             tmp, tmp_subj),
                     0);
    CALL_ERR("not_found", "id", a, "class.delete", "{id: %D}", tmp);
    f->passed++;
}

static void test_sections(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    f->sec5a = CREATE_ID(a, "section.create", "{class: %D, name: A, class_teacher: %D, room: R1}",
                         f->class5, f->t1_id);
    expect_audit(f, "section.create", "section", f->sec5a);
    f->sec5b = trec_section(a, f->class5, "B", 0);
    f->sec6a = trec_section(a, f->class6, "A", 0);
    f->b_section = trec_section(f->b.c, f->b_class, "A", 0);
    assert_true(f->sec5b > 0 && f->sec6a > 0 && f->b_section > 0);
    assert_int_equal(sql_int(f, "SELECT year_id FROM sections WHERE id = $1 AND $2 = 0",
                             f->sec6a, 0),
                     f->year2);

    CALL_ERR("conflict", "name", a, "section.create", "{class: %D, name: A}", f->class5);
    CALL_ERR("bad_request", "class_teacher", a, "section.create",
             "{class: %D, name: C, class_teacher: %D}", f->class5, f->parent_id);
    CALL_ERR("not_found", "class_teacher", a, "section.create",
             "{class: %D, name: C, class_teacher: %D}", f->class5, f->b_teacher);
    CALL_ERR("not_found", "class", a, "section.create", "{class: %D, name: C}", f->b_class);
    CALL_ERR("not_found", "class", a, "section.create", "{class: 999999999, name: C}");
    CALL_ERR("bad_request", "name", a, "section.create",
             "{class: %D, name: ABCDEFGHIJKLMNOPQ}", f->class5);
    CALL_ERR("bad_request", "room", a, "section.create", "{class: %D, name: C, room: 5}",
             f->class5);
    CALL_ERR("forbidden", NULL, f->t1.c, "section.create", "{class: %D, name: C}", f->class5);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM sections WHERE class_id = $1 AND $2 = 0",
                             f->class5, 0),
                     2);

    /* section.get: admins, and the section's own teachers. */
    struct tmsg *m = CALL_OK(f->t1.c, "section.get", "{id: %D}", f->sec5a);
    const msgpack_object *d = tf_data(m);
    assert_msg(tf_int_is(d, "id", f->sec5a) && tf_str_is(d, "name", "A") &&
                   tf_int_is(d, "class.id", f->class5) && tf_str_is(d, "class.name", "5") &&
                   tf_int_is(d, "year", f->year1) && tf_int_is(d, "class_teacher.id", f->t1_id) &&
                   tf_str_is(d, "class_teacher.name", "Teacher One") &&
                   tf_str_is(d, "room", "R1") && tf_len(d, "students") == 0 &&
                   tf_len(d, "teachers") == 0,
               m);
    tmsg_free(m);
    CALL_ERR("forbidden", "id", f->t2.c, "section.get", "{id: %D}", f->sec5a);
    CALL_ERR("forbidden", NULL, f->parent.c, "section.get", "{id: %D}", f->sec5a);
    CALL_ERR("not_found", "id", a, "section.get", "{id: %D}", f->b_section);
    CALL_ERR("not_found", "id", f->t1.c, "section.get", "{id: %D}", f->b_section);
    CALL_ERR("not_found", "id", a, "section.get", "{id: 999999999}");
    CALL_ERR("bad_request", "id", a, "section.get", "{id: 0}");

    /* update: nil clears the class teacher and the room, leaving them out keeps them. */
    OK(a, "section.update", "{id: %D, name: BB, room: R2, class_teacher: %D}", f->sec5b,
       f->t2_id);
    expect_audit(f, "section.update", "section", f->sec5b);
    m = CALL_OK(a, "section.get", "{id: %D}", f->sec5b);
    assert_msg(tf_str_is(tf_data(m), "name", "BB") && tf_str_is(tf_data(m), "room", "R2") &&
                   tf_int_is(tf_data(m), "class_teacher.id", f->t2_id),
               m);
    tmsg_free(m);
    OK(a, "section.update", "{id: %D, name: B, class_teacher: nil, room: nil}", f->sec5b);
    m = CALL_OK(a, "section.get", "{id: %D}", f->sec5b);
    assert_msg(tf_str_is(tf_data(m), "name", "B") && tf_nil_at(tf_data(m), "room") &&
                   tf_nil_at(tf_data(m), "class_teacher"),
               m);
    tmsg_free(m);
    OK(a, "section.update", "{id: %D, name: AA}", f->sec5a);
    OK(a, "section.update", "{id: %D, name: A}", f->sec5a);
    m = CALL_OK(a, "section.get", "{id: %D}", f->sec5a);
    assert_msg(tf_int_is(tf_data(m), "class_teacher.id", f->t1_id) &&
                   tf_str_is(tf_data(m), "room", "R1"),
               m);
    tmsg_free(m);
    CALL_ERR("conflict", "name", a, "section.update", "{id: %D, name: B}", f->sec5a);
    CALL_ERR("bad_request", "class_teacher", a, "section.update",
             "{id: %D, class_teacher: %D}", f->sec5a, f->driver_id);
    CALL_ERR("not_found", "class_teacher", a, "section.update", "{id: %D, class_teacher: %D}",
             f->sec5a, f->b_teacher);
    CALL_ERR("not_found", "id", a, "section.update", "{id: %D, name: Q}", f->b_section);
    CALL_ERR("forbidden", NULL, f->t1.c, "section.update", "{id: %D, name: Q}", f->sec5a);

    /* list: by default the current year's; a teacher's only their own. */
    m = CALL_OK(a, "section.list", NULL);
    assert_msg(tf_len(tf_data(m), "") == 2 && has_id(tf_data(m), "id", f->sec5a) &&
                   has_id(tf_data(m), "id", f->sec5b) &&
                   tf_str_is(tf_item(tf_data(m), "", 0), "class.name", "5"),
               m);
    tmsg_free(m);
    m = CALL_OK(a, "section.list", "{year: %D}", f->year2);
    assert_msg(tf_len(tf_data(m), "") == 1 && tf_int_is(tf_item(tf_data(m), "", 0), "id", f->sec6a),
               m);
    tmsg_free(m);
    m = CALL_OK(a, "section.list", "{class: %D}", f->class6);
    assert_msg(tf_len(tf_data(m), "") == 1 && tf_int_is(tf_item(tf_data(m), "", 0), "id", f->sec6a),
               m);
    tmsg_free(m);
    m = CALL_OK(f->t1.c, "section.list", NULL);
    assert_msg(tf_len(tf_data(m), "") == 1 && tf_int_is(tf_item(tf_data(m), "", 0), "id", f->sec5a),
               m);
    tmsg_free(m);
    m = CALL_OK(f->t2.c, "section.list", NULL);
    assert_msg(tf_len(tf_data(m), "") == 0, m);
    tmsg_free(m);
    CALL_ERR("not_found", "class", a, "section.list", "{class: %D}", f->b_class);
    CALL_ERR("not_found", "year", a, "section.list", "{year: %D}", f->b_year);
    CALL_ERR("forbidden", NULL, f->parent.c, "section.list", NULL);

    /* class.list: the year's classes with their sections. */
    m = CALL_OK(f->t2.c, "class.list", NULL);
    d = tf_data(m);
    const msgpack_object *c0 = tf_item(d, "", 0);
    assert_msg(tf_len(d, "") == 1 && tf_int_is(c0, "id", f->class5) &&
                   tf_int_is(c0, "year", f->year1) && tf_len(c0, "sections") == 2 &&
                   tf_str_is(tf_item(c0, "sections", 0), "name", "A") &&
                   tf_int_is(tf_item(c0, "sections", 0), "class_teacher.id", f->t1_id) &&
                   tf_nil_at(tf_item(c0, "sections", 1), "class_teacher"),
               m);
    tmsg_free(m);
    m = CALL_OK(a, "class.list", "{year: %D}", f->year2);
    assert_msg(tf_len(tf_data(m), "") == 1 && tf_int_is(tf_item(tf_data(m), "", 0), "seq", 6), m);
    tmsg_free(m);
    CALL_ERR("not_found", "year", a, "class.list", "{year: %D}", f->b_year);
    CALL_ERR("forbidden", NULL, f->parent.c, "class.list", NULL);

    /* delete: an empty section goes. */
    int64_t tmp = trec_section(a, f->class5, "Tmp", 0);
    CALL_ERR("not_found", "id", f->b.c, "section.delete", "{id: %D}", tmp);
    CALL_ERR("forbidden", NULL, f->t1.c, "section.delete", "{id: %D}", tmp);
    OK(a, "section.delete", "{id: %D}", tmp);
    expect_audit(f, "section.delete", "section", tmp);
    CALL_ERR("not_found", "id", a, "section.delete", "{id: %D}", tmp);
    f->passed++;
}

static void test_subjects_and_assignments(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    f->maths5 = CREATE_ID(a, "subject.create", "{class: %D, name: Maths, code: M5}", f->class5);
    expect_audit(f, "subject.create", "subject", f->maths5);
    f->english5 = trec_subject(a, f->class5, "English");
    f->maths6 = trec_subject(a, f->class6, "Maths");
    f->b_subject = trec_subject(f->b.c, f->b_class, "Maths");
    assert_true(f->english5 > 0 && f->maths6 > 0 && f->b_subject > 0);
    CALL_ERR("conflict", "name", a, "subject.create", "{class: %D, name: Maths}", f->class5);
    CALL_ERR("not_found", "class", a, "subject.create", "{class: %D, name: X}", f->b_class);
    CALL_ERR("bad_request", "code", a, "subject.create",
             "{class: %D, name: X, code: ABCDEFGHIJKLMNOPQ}", f->class5);
    CALL_ERR("forbidden", NULL, f->t1.c, "subject.create", "{class: %D, name: X}", f->class5);
    struct tmsg *m = CALL_OK(f->t1.c, "subject.list", "{class: %D}", f->class5);
    assert_msg(tf_len(tf_data(m), "") == 2 &&
                   tf_str_is(tf_item(tf_data(m), "", 0), "name", "English") &&
                   tf_nil_at(tf_item(tf_data(m), "", 0), "code") &&
                   tf_str_is(tf_item(tf_data(m), "", 1), "code", "M5"),
               m);
    tmsg_free(m);
    CALL_ERR("not_found", "class", a, "subject.list", "{class: %D}", f->b_class);
    CALL_ERR("bad_request", "class", a, "subject.list", "{}");
    int64_t tmp = trec_subject(a, f->class5, "Tmp");
    CALL_ERR("not_found", "id", f->b.c, "subject.delete", "{id: %D}", tmp);
    OK(a, "subject.delete", "{id: %D}", tmp);
    expect_audit(f, "subject.delete", "subject", tmp);
    CALL_ERR("not_found", "id", a, "subject.delete", "{id: %D}", tmp);

    /* Assignments: a teacher of the school, a subject of the section's class. */
    assert_int_equal(trec_assign(a, f->t2_id, f->sec5b, f->maths5), 0);
    assert_int_equal(trec_assign(a, f->t2_id, f->sec5b, f->maths5), 0); /* the same one */
    expect_audit(f, "teacher.assign", "teacher_assignment", f->t2_id);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM teacher_assignments WHERE teacher_id = $1"
                                " AND section_id = $2",
                             f->t2_id, f->sec5b),
                     1);
    CALL_ERR("bad_request", "subject", a, "teacher.assign",
             "{teacher: %D, section: %D, subject: %D}", f->t2_id, f->sec5b, f->maths6);
    CALL_ERR("bad_request", "teacher", a, "teacher.assign",
             "{teacher: %D, section: %D, subject: %D}", f->parent_id, f->sec5b, f->maths5);
    CALL_ERR("not_found", "teacher", a, "teacher.assign",
             "{teacher: %D, section: %D, subject: %D}", f->b_teacher, f->sec5b, f->maths5);
    CALL_ERR("not_found", "section", a, "teacher.assign",
             "{teacher: %D, section: %D, subject: %D}", f->t2_id, f->b_section, f->maths5);
    CALL_ERR("not_found", "subject", a, "teacher.assign",
             "{teacher: %D, section: %D, subject: %D}", f->t2_id, f->sec5b, f->b_subject);
    CALL_ERR("bad_request", "subject", a, "teacher.assign", "{teacher: %D, section: %D}",
             f->t2_id, f->sec5b);
    CALL_ERR("forbidden", NULL, f->t2.c, "teacher.assign",
             "{teacher: %D, section: %D, subject: %D}", f->t2_id, f->sec5a, f->maths5);

    /* Now t2 has 5B. */
    m = CALL_OK(f->t2.c, "section.list", NULL);
    assert_msg(tf_len(tf_data(m), "") == 1 && tf_int_is(tf_item(tf_data(m), "", 0), "id", f->sec5b),
               m);
    tmsg_free(m);
    m = CALL_OK(f->t2.c, "section.get", "{id: %D}", f->sec5b);
    assert_msg(tf_len(tf_data(m), "teachers") == 1 &&
                   tf_int_is(tf_item(tf_data(m), "teachers", 0), "teacher.id", f->t2_id) &&
                   tf_str_is(tf_item(tf_data(m), "teachers", 0), "subject.name", "Maths"),
               m);
    tmsg_free(m);

    /* teacher.assignments: a teacher's own; an admin's any. */
    m = CALL_OK(f->t2.c, "teacher.assignments", NULL);
    const msgpack_object *d = tf_data(m);
    assert_msg(tf_len(d, "") == 1 && tf_int_is(tf_item(d, "", 0), "section.id", f->sec5b) &&
                   tf_str_is(tf_item(d, "", 0), "section.name", "B") &&
                   tf_int_is(tf_item(d, "", 0), "class.id", f->class5) &&
                   tf_str_is(tf_item(d, "", 0), "class.name", "5") &&
                   tf_int_is(tf_item(d, "", 0), "subject.id", f->maths5),
               m);
    tmsg_free(m);
    m = CALL_OK(a, "teacher.assignments", "{teacher: %D}", f->t1_id);
    assert_msg(tf_len(tf_data(m), "") == 0, m);
    tmsg_free(m);
    m = CALL_OK(a, "teacher.assignments", NULL);
    assert_msg(tf_len(tf_data(m), "") == 1, m);
    tmsg_free(m);
    CALL_ERR("forbidden", "teacher", f->t1.c, "teacher.assignments", "{teacher: %D}", f->t2_id);
    CALL_ERR("not_found", "teacher", a, "teacher.assignments", "{teacher: %D}", f->b_teacher);
    CALL_ERR("forbidden", NULL, f->parent.c, "teacher.assignments", NULL);

    /* unassign, then again: no such assignment. */
    assert_int_equal(trec_assign(a, f->t2_id, f->sec5b, f->english5), 0);
    OK(a, "teacher.unassign", "{teacher: %D, section: %D, subject: %D}", f->t2_id, f->sec5b,
       f->english5);
    expect_audit(f, "teacher.unassign", "teacher_assignment", f->t2_id);
    CALL_ERR("not_found", "teacher", a, "teacher.unassign",
             "{teacher: %D, section: %D, subject: %D}", f->t2_id, f->sec5b, f->english5);
    CALL_ERR("not_found", "section", a, "teacher.unassign",
             "{teacher: %D, section: %D, subject: %D}", f->t2_id, f->b_section, f->maths5);
    f->passed++;
}

/* ---- students in sections, and who reads them ---- */

static void test_students_in_scope(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    f->kid = trec_student(a, "Kid One", "K-1", "5", "A", 1);
    f->kid2 = trec_student(a, "Kid Two", "K-2", "5", "A", 2);
    f->other_kid = trec_student(a, "Kid Three", "K-3", "5", "B", 1);
    f->b_student = trec_student(f->b.c, "Kid B", "K-1", "5", "A", 1);
    assert_true(f->kid > 0 && f->kid2 > 0 && f->other_kid > 0 && f->b_student > 0);
    OK(a, "guardian.link", "{student: %D, user: %D, relationship: mother}", f->kid,
       f->parent_id);
    assert_int_equal(sql_int(f, "SELECT section_id FROM students WHERE id = $1 AND $2 = 0",
                             f->kid, 0),
                     f->sec5a);

    /* section.get lists the enrolled students by roll number. */
    struct tmsg *m = CALL_OK(a, "section.get", "{id: %D}", f->sec5a);
    assert_msg(tf_len(tf_data(m), "students") == 2 &&
                   tf_int_is(tf_item(tf_data(m), "students", 0), "id", f->kid) &&
                   tf_int_is(tf_item(tf_data(m), "students", 1), "roll_no", 2) &&
                   tf_str_is(tf_item(tf_data(m), "students", 1), "admission_no", "K-2"),
               m);
    tmsg_free(m);

    /* student.get: t1 (class teacher of 5A) has kid, not other_kid; t2 (5B) the other way. */
    m = CALL_OK(f->t1.c, "student.get", "{id: %D}", f->kid);
    assert_msg(tf_str_is(tf_data(m), "class", "5") && tf_str_is(tf_data(m), "section", "A") &&
                   tf_int_is(tf_data(m), "section_id", f->sec5a) &&
                   tf_int_is(tf_data(m), "year", f->year1),
               m);
    tmsg_free(m);
    CALL_ERR("forbidden", "id", f->t1.c, "student.get", "{id: %D}", f->other_kid);
    OK(f->t2.c, "student.get", "{id: %D}", f->other_kid);
    CALL_ERR("forbidden", "id", f->t2.c, "student.get", "{id: %D}", f->kid);
    CALL_ERR("not_found", "id", f->t1.c, "student.get", "{id: %D}", f->b_student);
    /* A parent has their own child only. */
    OK(f->parent.c, "student.get", "{id: %D}", f->kid);
    CALL_ERR("forbidden", "id", f->parent.c, "student.get", "{id: %D}", f->kid2);
    CALL_ERR("not_found", "id", f->parent.c, "student.get", "{id: %D}", f->b_student);

    /* student.list: a teacher's sections only. */
    m = CALL_OK(f->t1.c, "student.list", NULL);
    assert_msg(tf_len(tf_data(m), "") == 2 && has_id(tf_data(m), "id", f->kid) &&
                   has_id(tf_data(m), "id", f->kid2),
               m);
    tmsg_free(m);
    m = CALL_OK(f->t2.c, "student.list", "{status: enrolled}");
    assert_msg(tf_len(tf_data(m), "") == 1 &&
                   tf_int_is(tf_item(tf_data(m), "", 0), "id", f->other_kid),
               m);
    tmsg_free(m);
    m = CALL_OK(a, "student.list", "{class: \"5\", section: B}");
    assert_msg(tf_len(tf_data(m), "") == 1 &&
                   tf_int_is(tf_item(tf_data(m), "", 0), "id", f->other_kid),
               m);
    tmsg_free(m);
    CALL_ERR("bad_request", "status", a, "student.list", "{status: gone}");

    /* A section or class with students placed stays. */
    CALL_ERR("conflict", "id", a, "section.delete", "{id: %D}", f->sec5a);
    CALL_ERR("conflict", "id", a, "class.delete", "{id: %D}", f->class5);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM sections WHERE class_id = $1 AND $2 = 0",
                             f->class5, 0),
                     2);
    f->passed++;
}

/* ---- promotion ---- */

static void test_promotion(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    /* To a section of the same year, or an earlier one: refused. */
    CALL_ERR("bad_request", "to", a, "section.promote", "{from: %D, to: %D}", f->sec5a,
             f->sec5b);
    CALL_ERR("bad_request", "to", a, "section.promote", "{from: %D, to: %D}", f->sec6a,
             f->sec5a);
    CALL_ERR("bad_request", "leavers", a, "section.promote",
             "{from: %D, to: %D, leavers: [%D]}", f->sec5a, f->sec6a, f->other_kid);
    CALL_ERR("not_found", "to", a, "section.promote", "{from: %D, to: %D}", f->sec5a,
             f->b_section);
    CALL_ERR("not_found", "from", a, "section.promote", "{from: %D, to: %D}", f->b_section,
             f->sec6a);
    CALL_ERR("bad_request", "left_on", a, "section.promote",
             "{from: %D, to: %D, left_on: \"2027-02-30\"}", f->sec5a, f->sec6a);
    CALL_ERR("bad_request", "leavers[0]", a, "section.promote", "{from: %D, to: %D, leavers: [0]}",
             f->sec5a, f->sec6a);
    CALL_ERR("forbidden", NULL, f->t1.c, "section.promote", "{from: %D, to: %D}", f->sec5a,
             f->sec6a);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM students WHERE section_id = $1"
                                " AND status = 'enrolled' AND $2 = 0",
                             f->sec5a, 0),
                     2);

    struct tmsg *m = CALL_OK(a, "section.promote",
                             "{from: %D, to: %D, leavers: [%D], left_on: \"2027-03-31\"}",
                             f->sec5a, f->sec6a, f->kid2);
    assert_msg(tf_int_is(tf_data(m), "moved", 1) && tf_int_is(tf_data(m), "left", 1), m);
    tmsg_free(m);
    expect_audit(f, "section.promote", "section", f->sec5a);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM students WHERE id = $1 AND section_id = $2"
                                " AND status = 'enrolled' AND active",
                             f->kid, f->sec6a),
                     1);
    assert_int_equal(sql_int(f, "SELECT year_id FROM students WHERE id = $1 AND $2 = 0", f->kid,
                             0),
                     f->year2);
    m = CALL_OK(a, "student.get", "{id: %D}", f->kid2);
    assert_msg(tf_str_is(tf_data(m), "status", "left") &&
                   tf_str_is(tf_data(m), "left_on", "2027-03-31") &&
                   tf_str_is(tf_data(m), "leave_reason", "left at year end") &&
                   tf_bool_is(tf_data(m), "active", false),
               m);
    tmsg_free(m);
    /* Nothing enrolled is left in 5A; promoting it again moves no one. */
    m = CALL_OK(a, "section.promote", "{from: %D, to: %D}", f->sec5a, f->sec6a);
    assert_msg(tf_int_is(tf_data(m), "moved", 0) && tf_int_is(tf_data(m), "left", 0), m);
    tmsg_free(m);
    /* The class teacher of 5A no longer has the promoted child. */
    CALL_ERR("forbidden", "id", f->t1.c, "student.get", "{id: %D}", f->kid);
    f->passed++;
}

/* ---- leaving ---- */

static void test_leave(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    CALL_ERR("bad_request", "reason", a, "student.leave", "{id: %D}", f->other_kid);
    CALL_ERR("bad_request", "on", a, "student.leave", "{id: %D, reason: moved, on: tomorrow}",
             f->other_kid);
    CALL_ERR("bad_request", "on", a, "student.leave", "{id: %D, reason: moved, on: \"2999-01-01\"}",
             f->other_kid);
    CALL_ERR("not_found", "id", a, "student.leave", "{id: %D, reason: moved}", f->b_student);
    CALL_ERR("forbidden", NULL, f->t2.c, "student.leave", "{id: %D, reason: moved}",
             f->other_kid);
    OK(a, "student.leave", "{id: %D, reason: \"moved away\"}", f->other_kid);
    expect_audit(f, "student.leave", "student", f->other_kid);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM students WHERE id = $1 AND status = 'left'"
                                " AND left_on = current_date AND NOT active AND $2 = 0",
                             f->other_kid, 0),
                     1);
    struct tmsg *m = CALL_OK(f->t2.c, "student.list", "{status: left}");
    assert_msg(tf_len(tf_data(m), "") == 1 &&
                   tf_str_is(tf_item(tf_data(m), "", 0), "status", "left"),
               m);
    tmsg_free(m);
    m = CALL_OK(a, "section.get", "{id: %D}", f->sec5b);
    assert_msg(tf_len(tf_data(m), "students") == 0, m);
    tmsg_free(m);
    /* A left student still holds the section. */
    CALL_ERR("conflict", "id", a, "section.delete", "{id: %D}", f->sec5b);
    f->passed++;
}

/* ---- retention ---- */

static void test_leavers_purged_after_retention(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    int64_t old = trec_student(a, "Old Leaver", "OLD-1", "5", "B", 9);
    int64_t recent = trec_student(a, "Recent Leaver", "NEW-1", "5", "B", 10);
    assert_true(old > 0 && recent > 0);
    OK(a, "guardian.link", "{student: %D, user: %D, relationship: father}", old, f->parent_id);
    OK(a, "guardian.link", "{student: %D, user: %D, relationship: father}", recent,
       f->parent_id);
    OK(a, "student.leave", "{id: %D, reason: graduated}", old);
    OK(a, "student.leave", "{id: %D, reason: graduated}", recent);
    /* The clock moves: the old leaver left four years ago, the recent one two. */
    assert_int_equal(sql_int(f, "UPDATE students SET left_on = current_date - 4 * 365"
                                " WHERE id = $1 AND $2 = 0 RETURNING 1",
                             old, 0),
                     1);
    assert_int_equal(sql_int(f, "UPDATE students SET left_on = current_date - 2 * 365"
                                " WHERE id = $1 AND $2 = 0 RETURNING 1",
                             recent, 0),
                     1);
    /* What the retention job runs (structure_register_purge: three years). */
    int64_t n = tauth_sql_int(f->h, "SELECT purge_leavers(3 * 365)", NULL);
    assert_true(n >= 1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM students WHERE id = $1 OR id = $2", old, 0),
                     0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM guardians WHERE student_id = $1 OR $2 = 1",
                             old, 0),
                     0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM students WHERE id = $1 AND $2 = 0", recent,
                             0),
                     1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM guardians WHERE student_id = $1 AND $2 = 0",
                             recent, 0),
                     1);
    CALL_ERR("not_found", "id", a, "student.get", "{id: %D}", old);
    /* Enrolled students are never purged. */
    assert_int_equal(sql_int(f, "SELECT count(*) FROM students WHERE id = $1 AND $2 = 0", f->kid,
                             0),
                     1);
    f->passed++;
}

/* ---- what is left to refuse ---- */

static void test_roles_and_malformed(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    /* Parents read years and terms only. */
    CALL_ERR("forbidden", NULL, f->parent.c, "subject.list", "{class: %D}", f->class5);
    CALL_ERR("forbidden", NULL, f->parent.c, "student.list", NULL);
    CALL_ERR("forbidden", NULL, f->t1.c, "year.update", "{id: %D, name: X}", f->year1);
    CALL_ERR("forbidden", NULL, f->t1.c, "class.update", "{id: %D, name: X}", f->class5);
    CALL_ERR("forbidden", NULL, f->t1.c, "teacher.unassign",
             "{teacher: %D, section: %D, subject: %D}", f->t2_id, f->sec5b, f->maths5);
    CALL_ERR("forbidden", NULL, f->t1.c, "subject.delete", "{id: %D}", f->maths5);
    CALL_ERR("forbidden", NULL, f->t1.c, "term.create",
             "{year: %D, name: T, starts_on: \"2026-10-01\", ends_on: \"2026-12-31\"}",
             f->year1);
    CALL_ERR("bad_request", "id", a, "year.update", "{name: X}");
    CALL_ERR("bad_request", "id", a, "class.update", "{id: -1}");
    CALL_ERR("bad_request", "id", a, "section.update", "{id: \"1\"}");
    CALL_ERR("bad_request", "from", a, "section.promote", "{to: %D}", f->sec6a);
    CALL_ERR("bad_request", "teacher", a, "teacher.assignments", "{teacher: 0}");
    CALL_ERR("bad_request", "year", a, "term.list", "{year: x}");
    CALL_ERR("bad_request", "args", a, "class.list", "[1]");
    /* A teacher of the school who is not a teacher-in-scope still lists classes and
     * subjects (the school's structure is not personal). */
    struct tmsg *m = CALL_OK(f->t1.c, "subject.list", "{class: %D}", f->class6);
    assert_msg(tf_len(tf_data(m), "") == 1, m);
    tmsg_free(m);
    f->passed++;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_years_and_terms),
        cmocka_unit_test(test_classes),
        cmocka_unit_test(test_sections),
        cmocka_unit_test(test_subjects_and_assignments),
        cmocka_unit_test(test_students_in_scope),
        cmocka_unit_test(test_promotion),
        cmocka_unit_test(test_leave),
        cmocka_unit_test(test_leavers_purged_after_retention),
        cmocka_unit_test(test_roles_and_malformed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
