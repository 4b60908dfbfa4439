/* Homework over the socket API: a teacher of a section and subject posts homework, the
 * event homework.assigned reaching only the parents of the section's students (one message
 * each, naming their children there) and kept as a notice (notice.list's data) for an
 * offline parent; lists and reads by section and by student with each student's status;
 * statuses set in one op; deletion; and every refusal: malformed arguments, due dates not
 * real or past, unknown and another school's ids, a teacher of the section but not the
 * subject, a teacher of another section, a parent of another child. */
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

#include <msgpack.h>

#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tcheck.h"
#include "tests/support/tclient.h"
#include "tests/support/tfixture.h"
#include "tests/support/trecords.h"
#include "tests/support/tsys.h"

#define EVENT_WAIT_MS 3000
#define QUIET_MS 500

/* One server, two schools. A: class 5 with sections A (s1, s2, s3; class teacher teacher1;
 * teacher3 teaches Maths there) and B (s4; class teacher teacher2, who teaches Maths there);
 * parent1 of s1, parent2 of s2 and s3, parent3 of s3 (offline), parent4 of s4. B: one section
 * with student sb and its subject. */
struct fx {
    struct harness *h;
    struct tauth_login a, b;
    struct tauth_login t1, t2, t3, p1, p2, p4;
    int64_t teacher1, teacher2, teacher3, parent1, parent2, parent3, parent4;
    char teacher1_phone[TAUTH_PHONE_MAX], teacher2_phone[TAUTH_PHONE_MAX];
    char teacher3_phone[TAUTH_PHONE_MAX], parent1_phone[TAUTH_PHONE_MAX];
    char parent2_phone[TAUTH_PHONE_MAX], parent3_phone[TAUTH_PHONE_MAX];
    char parent4_phone[TAUTH_PHONE_MAX];
    int64_t sec_a, sec_b, sec_other, maths, art, subj_other;
    int64_t s1, s2, s3, s4, sb;
    int64_t hw; /* posted by teacher3 in test 1 */
    int passed;
};

#define N_TESTS 5

static int group_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    *state = f;
    if (tfix_two_schools(&f->h, &(struct harness_opts){ 0 }, &f->a, &f->b) != 0) {
        return -1;
    }
    f->teacher1 = tfix_user(f->a.c, "teacher", "Teacher One", 11, f->teacher1_phone);
    f->teacher2 = tfix_user(f->a.c, "teacher", "Teacher Two", 12, f->teacher2_phone);
    f->teacher3 = tfix_user(f->a.c, "teacher", "Teacher Three", 13, f->teacher3_phone);
    f->parent1 = tfix_user(f->a.c, "parent", "Parent One", 14, f->parent1_phone);
    f->parent2 = tfix_user(f->a.c, "parent", "Parent Two", 15, f->parent2_phone);
    f->parent3 = tfix_user(f->a.c, "parent", "Parent Three", 16, f->parent3_phone);
    f->parent4 = tfix_user(f->a.c, "parent", "Parent Four", 17, f->parent4_phone);
    if (f->teacher1 < 0 || f->teacher2 < 0 || f->teacher3 < 0 || f->parent1 < 0 ||
        f->parent2 < 0 || f->parent3 < 0 || f->parent4 < 0) {
        return -1;
    }
    int64_t class_a = 0, class_b = 0;
    f->sec_a = trec_class5_section(f->a.c, "A", f->teacher1, &class_a);
    f->sec_b = trec_class5_section(f->a.c, "B", f->teacher2, &class_a);
    f->sec_other = trec_class5_section(f->b.c, "A", 0, &class_b);
    if (f->sec_a < 0 || f->sec_b < 0 || f->sec_other < 0) {
        return -1;
    }
    f->maths = trec_subject(f->a.c, class_a, "Maths");
    f->art = trec_subject(f->a.c, class_a, "Art");
    f->subj_other = trec_subject(f->b.c, class_b, "Maths");
    if (f->maths < 0 || f->art < 0 || f->subj_other < 0 ||
        trec_assign(f->a.c, f->teacher3, f->sec_a, f->maths) != 0 ||
        trec_assign(f->a.c, f->teacher2, f->sec_b, f->maths) != 0) {
        return -1;
    }
    f->s1 = trec_student(f->a.c, "Asha", "A-1", "Class 5", "A", 1);
    f->s2 = trec_student(f->a.c, "Bala", "A-2", "Class 5", "A", 2);
    f->s3 = trec_student(f->a.c, "Chitra", "A-3", "Class 5", "A", 3);
    f->s4 = trec_student(f->a.c, "Dev", "B-1", "Class 5", "B", 1);
    f->sb = trec_student(f->b.c, "Esha", "X-1", "Class 5", "A", 1);
    if (f->s1 < 0 || f->s2 < 0 || f->s3 < 0 || f->s4 < 0 || f->sb < 0 ||
        tfix_link_guardian(f->a.c, f->s1, f->parent1) != 0 ||
        tfix_link_guardian(f->a.c, f->s2, f->parent2) != 0 ||
        tfix_link_guardian(f->a.c, f->s3, f->parent2) != 0 ||
        tfix_link_guardian(f->a.c, f->s3, f->parent3) != 0 ||
        tfix_link_guardian(f->a.c, f->s4, f->parent4) != 0) {
        return -1;
    }
    if (tauth_login(f->h, f->teacher1_phone, "web", "linux", "1.0", &f->t1) != 0 ||
        tauth_login(f->h, f->teacher2_phone, "web", "linux", "1.0", &f->t2) != 0 ||
        tauth_login(f->h, f->teacher3_phone, "web", "linux", "1.0", &f->t3) != 0 ||
        tauth_login(f->h, f->parent1_phone, "android", "14", "1.0", &f->p1) != 0 ||
        tauth_login(f->h, f->parent2_phone, "android", "14", "1.0", &f->p2) != 0 ||
        tauth_login(f->h, f->parent4_phone, "android", "14", "1.0", &f->p4) != 0) {
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    struct fx *f = *state;
    if (f) {
        tfix_end(f->h, f->passed == N_TESTS, &f->a, &f->b, &f->t1, &f->t2, &f->t3, &f->p1,
                 &f->p2, &f->p4, NULL);
        free(f);
    }
    return 0;
}

static int64_t sql_count(struct fx *f, const char *sql, int64_t a, int64_t b)
{
    char x[24], y[24];
    return tauth_sql_int(f->h, sql, tf_num(x, a), tf_num(y, b), NULL);
}

/* The next message on c must be homework.assigned for hw with these students. */
static void expect_assigned(struct fx *f, struct wsclient *c, int64_t hw, const char *title,
                            const char *due_on, int64_t st1, int64_t st2)
{
    struct tmsg *m = tclient_recv(c, EVENT_WAIT_MS);
    assert_non_null(m);
    const msgpack_object *d = tf_at(m, "data");
    assert_msg(tmsg_is_event(m, "homework.assigned") && tf_int_is(d, "homework", hw) &&
                   tf_int_is(d, "section", f->sec_a) && tf_int_is(d, "subject.id", f->maths) &&
                   tf_str_is(d, "subject.name", "Maths") && tf_str_is(d, "title", title) &&
                   tf_str_is(d, "due_on", due_on) && tf_len(d, "students") == (st2 ? 2 : 1) &&
                   tf_int_is(tf_item(d, "students", 0), "", st1) &&
                   (!st2 || tf_int_is(tf_item(d, "students", 1), "", st2)),
               m);
    tmsg_free(m);
}

static int64_t create_ok(struct wsclient *c, const char *fmt, int64_t section, int64_t subject,
                         const char *due_on)
{
    struct tmsg *m = tauth_call(c, "homework.create", fmt, section, subject, due_on);
    assert_msg(tauth_is_ok(m) && tf_int_of(tf_at(m, "data"), "id") > 0, m);
    int64_t id = tf_int_of(tf_at(m, "data"), "id");
    tmsg_free(m);
    return id;
}

/* ---- tests ---- */

static void test_create_tells_the_sections_parents(void **state)
{
    struct fx *f = *state;
    char due[11];
    trec_day(3, due);
    int64_t base = tauth_sql_int(f->h, "SELECT coalesce(max(id), 0) FROM notices", NULL);
    assert_true(base >= 0);
    f->hw = create_ok(f->t3.c,
                      "{section: %D, subject: %D, title: \"Fractions\","
                      " text: \"Page 12, 1 to 10\", due_on: %s}",
                      f->sec_a, f->maths, due);
    /* parent1: s1; parent2: s2 and s3 in one message; parent4 (5B) nothing. */
    expect_assigned(f, f->p1.c, f->hw, "Fractions", due, f->s1, 0);
    expect_assigned(f, f->p2.c, f->hw, "Fractions", due, f->s2, f->s3);
    assert_true(tclient_quiet(f->p2.c, QUIET_MS));
    assert_true(tclient_quiet(f->p4.c, 100));
    assert_true(tclient_quiet(f->t1.c, 100));
    /* What the database holds: the homework, and one notice per parent of 5A. */
    char hw[24], t3[24];
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM homework WHERE id = $1 AND teacher_id = $2"
                                   " AND title = 'Fractions' AND text = 'Page 12, 1 to 10'"
                                   " AND due_on = current_date + 3",
                                   tf_num(hw, f->hw), tf_num(t3, f->teacher3), NULL),
                     1);
    assert_int_equal(sql_count(f, "SELECT count(*) FROM notices WHERE id > $1"
                                  " AND kind = 'homework' AND (payload->>'homework')::bigint = $2",
                               base, f->hw),
                     3);
    assert_int_equal(sql_count(f, "SELECT count(*) FROM notices WHERE id > $1 AND user_id = $2",
                               base, f->parent4),
                     0);
    /* parent3 was offline: the notice waits, its payload as data. */
    struct tauth_login p3;
    assert_int_equal(tauth_login(f->h, f->parent3_phone, "android", "14", "1.0", &p3), 0);
    struct tmsg *m = base > 0 ? tauth_call(p3.c, "notice.list", "{after: %D}", base)
                              : tauth_call(p3.c, "notice.list", NULL);
    const msgpack_object *n = tf_item(tmsg_root(m), "data", 0);
    assert_msg(tauth_is_ok(m) && tf_len(tmsg_root(m), "data") == 1 &&
                   tf_str_is(n, "kind", "homework") && tf_nil_at(n, "student") &&
                   tf_int_is(n, "data.homework", f->hw) &&
                   tf_str_is(n, "data.title", "Fractions") &&
                   tf_str_is(n, "data.subject.name", "Maths") &&
                   tf_str_is(n, "data.due_on", due) && tf_len(n, "data.students") == 1 &&
                   tf_int_is(tf_item(n, "data.students", 0), "", f->s3),
               m);
    tmsg_free(m);
    tauth_login_close(&p3);
    /* An admin may post too; text is optional; due today is allowed. */
    char today[11];
    trec_day(0, today);
    /* The title goes through jsonb and back: quotes, backslash, a line break, Devanagari. */
    static const char title[] = "Draw a \"tree\" \\ \n\t\xe0\xa4\xaa\xe0\xa5\x87\xe0\xa4\xa1\xf0\x9f\x8c\xb3";
    m = tauth_call(f->a.c, "homework.create", "{section: %D, subject: %D, title: %s, due_on: %s}",
                   f->sec_a, f->art, title, today);
    assert_msg(tauth_is_ok(m), m);
    int64_t h2 = tf_int_of(tf_at(m, "data"), "id");
    tmsg_free(m);
    m = tclient_recv(f->p1.c, EVENT_WAIT_MS);
    assert_msg(m && tmsg_is_event(m, "homework.assigned") &&
                   tf_int_is(tf_at(m, "data"), "homework", h2) &&
                   tf_str_is(tf_at(m, "data"), "subject.name", "Art") &&
                   tf_str_is(tf_at(m, "data"), "title", title),
               m);
    tmsg_free(m);
    for (int i = 0; i < 50 && !tclient_quiet(f->p2.c, 300); i++) {
    }
    /* Attendance notices keep their fields; their data is nil. */
    TAUTH_OK(f->t1.c, "attendance.mark", "{section: %D, entries: [{student: %D, status: absent}]}",
             f->sec_a, f->s1);
    m = tclient_recv(f->p1.c, EVENT_WAIT_MS);
    assert_msg(m && tmsg_is_event(m, "attendance.marked"), m);
    tmsg_free(m);
    m = tauth_call(f->p1.c, "notice.list", NULL);
    long n_list = tf_len(tmsg_root(m), "data");
    const msgpack_object *hn = tf_item(tmsg_root(m), "data", (uint32_t)(n_list - 2));
    const msgpack_object *an = tf_item(tmsg_root(m), "data", (uint32_t)(n_list - 1));
    assert_msg(tauth_is_ok(m) && n_list == 3 && tf_str_is(hn, "kind", "homework") &&
                   tf_str_is(hn, "data.title", title) && tf_str_is(an, "kind", "attendance") &&
                   tf_int_is(an, "student", f->s1) && tf_str_is(an, "status", "absent") &&
                   tf_str_is(an, "day", today) && tf_nil_at(an, "data"),
               m);
    tmsg_free(m);
    f->passed++;
}

static void test_create_refusals(void **state)
{
    struct fx *f = *state;
    char due[11], yesterday[11];
    trec_day(2, due);
    trec_day(-1, yesterday);
    char long_title[202];
    memset(long_title, 't', 201);
    long_title[201] = '\0';
    int64_t before = tauth_sql_int(f->h, "SELECT count(*) FROM homework", NULL);
    struct wsclient *c = f->t3.c;
    const char *op = "homework.create";
    TAUTH_ERR("bad_request", "section", c, op, "{subject: %D, title: \"x\", due_on: %s}",
              f->maths, due);
    TAUTH_ERR("bad_request", "subject", c, op, "{section: %D, title: \"x\", due_on: %s}",
              f->sec_a, due);
    TAUTH_ERR("bad_request", "title", c, op, "{section: %D, subject: %D, due_on: %s}", f->sec_a,
              f->maths, due);
    TAUTH_ERR("bad_request", "title", c, op, "{section: %D, subject: %D, title: \"\", due_on: %s}",
              f->sec_a, f->maths, due);
    TAUTH_ERR("bad_request", "title", c, op, "{section: %D, subject: %D, title: %s, due_on: %s}",
              f->sec_a, f->maths, long_title, due);
    TAUTH_ERR("bad_request", "due_on", c, op, "{section: %D, subject: %D, title: \"x\"}",
              f->sec_a, f->maths);
    TAUTH_ERR("bad_request", "due_on", c, op,
              "{section: %D, subject: %D, title: \"x\", due_on: \"2026-02-30\"}", f->sec_a,
              f->maths);
    TAUTH_ERR("bad_request", "due_on", c, op,
              "{section: %D, subject: %D, title: \"x\", due_on: \"next week\"}", f->sec_a,
              f->maths);
    TAUTH_ERR("bad_request", "due_on", c, op,
              "{section: %D, subject: %D, title: \"x\", due_on: %s}", f->sec_a, f->maths,
              yesterday);
    TAUTH_ERR("bad_request", "due_on", f->a.c, op,
              "{section: %D, subject: %D, title: \"x\", due_on: %s}", f->sec_a, f->maths,
              yesterday);
    /* Unknown and another school's ids. */
    TAUTH_ERR("not_found", "section", c, op,
              "{section: 99999999, subject: %D, title: \"x\", due_on: %s}", f->maths, due);
    TAUTH_ERR("not_found", "section", f->a.c, op,
              "{section: %D, subject: %D, title: \"x\", due_on: %s}", f->sec_other, f->maths,
              due);
    TAUTH_ERR("not_found", "subject", f->a.c, op,
              "{section: %D, subject: %D, title: \"x\", due_on: %s}", f->sec_a, f->subj_other,
              due);
    TAUTH_ERR("not_found", "subject", f->a.c, op,
              "{section: %D, subject: 99999999, title: \"x\", due_on: %s}", f->sec_a, due);
    TAUTH_ERR("not_found", "section", f->b.c, op,
              "{section: %D, subject: %D, title: \"x\", due_on: %s}", f->sec_a, f->maths, due);
    int64_t class6 = trec_class(f->a.c, "Class 6");
    int64_t science6 = class6 > 0 ? trec_subject(f->a.c, class6, "Science") : -1;
    assert_true(science6 > 0);
    TAUTH_ERR("bad_request", "subject", f->a.c, op,
              "{section: %D, subject: %D, title: \"x\", due_on: %s}", f->sec_a, science6, due);
    /* Scope: the class teacher does not teach Maths; teacher3 not Art; teacher2 is of 5B. */
    TAUTH_ERR("forbidden", "subject", f->t1.c, op,
              "{section: %D, subject: %D, title: \"x\", due_on: %s}", f->sec_a, f->maths, due);
    TAUTH_ERR("forbidden", "subject", c, op,
              "{section: %D, subject: %D, title: \"x\", due_on: %s}", f->sec_a, f->art, due);
    TAUTH_ERR("forbidden", "subject", f->t2.c, op,
              "{section: %D, subject: %D, title: \"x\", due_on: %s}", f->sec_a, f->maths, due);
    TAUTH_ERR("forbidden", "subject", c, op,
              "{section: %D, subject: %D, title: \"x\", due_on: %s}", f->sec_b, f->maths, due);
    TAUTH_ERR("forbidden", NULL, f->p1.c, op,
              "{section: %D, subject: %D, title: \"x\", due_on: %s}", f->sec_a, f->maths, due);
    assert_int_equal(tauth_sql_int(f->h, "SELECT count(*) FROM homework", NULL), before);
    /* teacher2 may in 5B; only 5B's parent hears. */
    int64_t hb = create_ok(f->t2.c, "{section: %D, subject: %D, title: \"Tables\", due_on: %s}",
                           f->sec_b, f->maths, due);
    struct tmsg *m = tclient_recv(f->p4.c, EVENT_WAIT_MS);
    assert_msg(m && tmsg_is_event(m, "homework.assigned") &&
                   tf_int_is(tf_at(m, "data"), "homework", hb) &&
                   tf_int_is(tf_item(tf_at(m, "data"), "students", 0), "", f->s4),
               m);
    tmsg_free(m);
    assert_true(tclient_quiet(f->p1.c, QUIET_MS));
    f->passed++;
}

static void test_list_and_get(void **state)
{
    struct fx *f = *state;
    /* By section: newest first (Art, then Fractions), for the section's teachers and admin. */
    struct tmsg *m = tauth_call(f->t1.c, "homework.list", "{section: %D}", f->sec_a);
    const msgpack_object *it = tf_item(tmsg_root(m), "data", 1);
    assert_msg(tauth_is_ok(m) && tf_len(tmsg_root(m), "data") == 2 &&
                   tf_int_is(it, "id", f->hw) && tf_int_is(it, "section", f->sec_a) &&
                   tf_int_is(it, "subject.id", f->maths) && tf_str_is(it, "subject.name", "Maths") &&
                   tf_str_is(it, "title", "Fractions") && tf_str_is(it, "text", "Page 12, 1 to 10") &&
                   tf_int_is(it, "teacher.id", f->teacher3) &&
                   tf_str_is(it, "teacher.name", "Teacher Three") &&
                   tf_int_of(it, "created_at") > 1700000000000 && !tmsg_get(it, "status") &&
                   tf_nil_at(tf_item(tmsg_root(m), "data", 0), "text"),
               m);
    tmsg_free(m);
    /* Paging. */
    m = tauth_call(f->a.c, "homework.list", "{section: %D, limit: 1}", f->sec_a);
    assert_msg(tauth_is_ok(m) && tf_len(tmsg_root(m), "data") == 1, m);
    int64_t first = tf_int_of(tf_item(tmsg_root(m), "data", 0), "id");
    tmsg_free(m);
    m = tauth_call(f->a.c, "homework.list", "{section: %D, after: %D}", f->sec_a, first);
    assert_msg(tauth_is_ok(m) && tf_len(tmsg_root(m), "data") == 1 &&
                   tf_int_is(tf_item(tmsg_root(m), "data", 0), "id", f->hw),
               m);
    tmsg_free(m);
    TAUTH_OK(f->t3.c, "homework.list", "{section: %D}", f->sec_a);
    TAUTH_ERR("forbidden", "section", f->t2.c, "homework.list", "{section: %D}", f->sec_a);
    TAUTH_ERR("forbidden", "section", f->p1.c, "homework.list", "{section: %D}", f->sec_a);
    TAUTH_ERR("not_found", "section", f->b.c, "homework.list", "{section: %D}", f->sec_a);
    TAUTH_ERR("not_found", "section", f->a.c, "homework.list", "{section: %D}", f->sec_other);
    TAUTH_ERR("bad_request", "section", f->a.c, "homework.list", NULL);
    TAUTH_ERR("bad_request", "section", f->a.c, "homework.list", "{section: %D, student: %D}",
              f->sec_a, f->s1);
    TAUTH_ERR("bad_request", "limit", f->a.c, "homework.list", "{section: %D, limit: 0}",
              f->sec_a);
    /* By student: a parent, their child's; status nil until set. */
    m = tauth_call(f->p1.c, "homework.list", "{student: %D}", f->s1);
    it = tf_item(tmsg_root(m), "data", 1);
    assert_msg(tauth_is_ok(m) && tf_len(tmsg_root(m), "data") == 2 && tf_int_is(it, "id", f->hw) &&
                   tf_nil_at(it, "status"),
               m);
    tmsg_free(m);
    TAUTH_OK(f->t3.c, "homework.list", "{student: %D}", f->s1);
    TAUTH_ERR("forbidden", "student", f->p2.c, "homework.list", "{student: %D}", f->s1);
    TAUTH_ERR("forbidden", "student", f->p4.c, "homework.list", "{student: %D}", f->s1);
    TAUTH_ERR("forbidden", "student", f->t2.c, "homework.list", "{student: %D}", f->s1);
    TAUTH_ERR("not_found", "student", f->a.c, "homework.list", "{student: %D}", f->sb);
    /* get: staff see every student; a parent their own children only. */
    m = tauth_call(f->t1.c, "homework.get", "{id: %D}", f->hw);
    assert_msg(tauth_is_ok(m) && tf_int_is(tf_at(m, "data"), "id", f->hw) &&
                   tf_str_is(tf_at(m, "data"), "title", "Fractions") &&
                   tf_len(tf_at(m, "data"), "students") == 3 &&
                   tf_int_is(tf_item(tf_at(m, "data"), "students", 0), "student", f->s1) &&
                   tf_str_is(tf_item(tf_at(m, "data"), "students", 0), "name", "Asha") &&
                   tf_nil_at(tf_item(tf_at(m, "data"), "students", 0), "status"),
               m);
    tmsg_free(m);
    m = tauth_call(f->p2.c, "homework.get", "{id: %D}", f->hw);
    assert_msg(tauth_is_ok(m) && tf_len(tf_at(m, "data"), "students") == 2 &&
                   tf_int_is(tf_item(tf_at(m, "data"), "students", 0), "student", f->s2) &&
                   tf_int_is(tf_item(tf_at(m, "data"), "students", 1), "student", f->s3),
               m);
    tmsg_free(m);
    TAUTH_OK(f->a.c, "homework.get", "{id: %D}", f->hw);
    TAUTH_ERR("forbidden", "id", f->p4.c, "homework.get", "{id: %D}", f->hw);
    TAUTH_ERR("forbidden", "id", f->t2.c, "homework.get", "{id: %D}", f->hw);
    TAUTH_ERR("not_found", "id", f->b.c, "homework.get", "{id: %D}", f->hw);
    TAUTH_ERR("not_found", "id", f->a.c, "homework.get", "{id: 99999999}");
    TAUTH_ERR("bad_request", "id", f->a.c, "homework.get", NULL);
    f->passed++;
}

static void test_status_set(void **state)
{
    struct fx *f = *state;
    const char *op = "homework.status.set";
    struct tmsg *m = tauth_call(f->t3.c, op,
                                "{homework: %D, entries: [{student: %D, status: submitted},"
                                " {student: %D, status: late}]}",
                                f->hw, f->s1, f->s2);
    assert_msg(tauth_is_ok(m) && tf_int_is(tf_at(m, "data"), "changed", 2), m);
    tmsg_free(m);
    m = tauth_call(f->t3.c, op,
                   "{homework: %D, entries: [{student: %D, status: submitted},"
                   " {student: %D, status: missing}]}",
                   f->hw, f->s1, f->s2);
    assert_msg(tauth_is_ok(m) && tf_int_is(tf_at(m, "data"), "changed", 1), m);
    tmsg_free(m);
    char hw[24], t3[24];
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM homework_status WHERE homework_id = $1"
                                   " AND set_by = $2",
                                   tf_num(hw, f->hw), tf_num(t3, f->teacher3), NULL),
                     2);
    /* Parents see their child's status. */
    m = tauth_call(f->p1.c, "homework.list", "{student: %D}", f->s1);
    assert_msg(tauth_is_ok(m) && tf_str_is(tf_item(tmsg_root(m), "data", 1), "status", "submitted"),
               m);
    tmsg_free(m);
    m = tauth_call(f->p2.c, "homework.get", "{id: %D}", f->hw);
    assert_msg(tauth_is_ok(m) &&
                   tf_str_is(tf_item(tf_at(m, "data"), "students", 0), "status", "missing") &&
                   tf_nil_at(tf_item(tf_at(m, "data"), "students", 1), "status"),
               m);
    tmsg_free(m);
    m = tauth_call(f->a.c, op, "{homework: %D, entries: [{student: %D, status: late}]}", f->hw,
                   f->s3);
    assert_msg(tauth_is_ok(m) && tf_int_is(tf_at(m, "data"), "changed", 1), m);
    tmsg_free(m);
    /* Refusals; nothing written. */
    TAUTH_ERR("bad_request", "homework", f->t3.c, op, "{entries: [{student: %D, status: late}]}",
              f->s1);
    TAUTH_ERR("bad_request", "entries", f->t3.c, op, "{homework: %D, entries: []}", f->hw);
    TAUTH_ERR("bad_request", "entries[0]", f->t3.c, op, "{homework: %D, entries: [nil]}", f->hw);
    TAUTH_ERR("bad_request", "entries[0].status", f->t3.c, op,
              "{homework: %D, entries: [{student: %D, status: done}]}", f->hw, f->s1);
    TAUTH_ERR("bad_request", "entries[1].student", f->t3.c, op,
              "{homework: %D, entries: [{student: %D, status: late},"
              " {student: %D, status: late}]}",
              f->hw, f->s1, f->s1);
    TAUTH_ERR("bad_request", "entries[1].student", f->t3.c, op,
              "{homework: %D, entries: [{student: %D, status: late},"
              " {student: %D, status: late}]}",
              f->hw, f->s1, f->s4);
    TAUTH_ERR("bad_request", "entries[0].student", f->a.c, op,
              "{homework: %D, entries: [{student: %D, status: late}]}", f->hw, f->sb);
    TAUTH_ERR("forbidden", "homework", f->t1.c, op,
              "{homework: %D, entries: [{student: %D, status: late}]}", f->hw, f->s1);
    TAUTH_ERR("forbidden", "homework", f->t2.c, op,
              "{homework: %D, entries: [{student: %D, status: late}]}", f->hw, f->s1);
    TAUTH_ERR("forbidden", NULL, f->p1.c, op,
              "{homework: %D, entries: [{student: %D, status: late}]}", f->hw, f->s1);
    TAUTH_ERR("not_found", "homework", f->b.c, op,
              "{homework: %D, entries: [{student: %D, status: late}]}", f->hw, f->s1);
    TAUTH_ERR("not_found", "homework", f->a.c, op,
              "{homework: 99999999, entries: [{student: %D, status: late}]}", f->s1);
    assert_int_equal(sql_count(f, "SELECT count(*) FROM homework_status WHERE homework_id = $1"
                                  " AND status = 'late' AND $2::bigint > 0",
                               f->hw, 1),
                     1);
    f->passed++;
}

static void test_delete(void **state)
{
    struct fx *f = *state;
    TAUTH_ERR("forbidden", "id", f->t1.c, "homework.delete", "{id: %D}", f->hw);
    TAUTH_ERR("forbidden", "id", f->t2.c, "homework.delete", "{id: %D}", f->hw);
    TAUTH_ERR("forbidden", NULL, f->p1.c, "homework.delete", "{id: %D}", f->hw);
    TAUTH_ERR("not_found", "id", f->b.c, "homework.delete", "{id: %D}", f->hw);
    TAUTH_ERR("bad_request", "id", f->a.c, "homework.delete", "{id: 0}");
    TAUTH_OK(f->t3.c, "homework.delete", "{id: %D}", f->hw);
    TAUTH_ERR("not_found", "id", f->t3.c, "homework.delete", "{id: %D}", f->hw);
    TAUTH_ERR("not_found", "id", f->p1.c, "homework.get", "{id: %D}", f->hw);
    assert_int_equal(sql_count(f, "SELECT count(*) FROM homework_status WHERE homework_id = $1"
                                  " AND $2::bigint > 0",
                               f->hw, 1),
                     0);
    /* The admin deletes anyone's. */
    struct tmsg *m = tauth_call(f->a.c, "homework.list", "{section: %D}", f->sec_b);
    assert_msg(tauth_is_ok(m) && tf_len(tmsg_root(m), "data") == 1, m);
    int64_t hb = tf_int_of(tf_item(tmsg_root(m), "data", 0), "id");
    tmsg_free(m);
    TAUTH_OK(f->a.c, "homework.delete", "{id: %D}", hb);
    assert_int_equal(sql_count(f, "SELECT count(*) FROM homework WHERE id = $1 OR id = $2",
                               hb, f->hw),
                     0);
    f->passed++;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_tells_the_sections_parents),
        cmocka_unit_test(test_create_refusals),
        cmocka_unit_test(test_list_and_get),
        cmocka_unit_test(test_status_set),
        cmocka_unit_test(test_delete),
    };
    _Static_assert(sizeof tests / sizeof tests[0] == N_TESTS, "N_TESTS");
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
