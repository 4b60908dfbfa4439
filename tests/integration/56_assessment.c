/* Exams, marks and grades over the socket API: the grade scale and settings, exams made,
 * listed, changed and deleted, marks entered for a whole exam (and again, and corrected with
 * their history and audit entries), the term's grades per subject and overall (weights,
 * absent and exempt, ranks), the lock once the report cards are published (an admin may still
 * correct), progress across terms with attendance, a section's distribution, and every
 * refusal: malformed arguments, unknown and another school's ids, a teacher of the section who
 * does not teach the subject, a teacher of another section, a parent of another child, a
 * parent before publication. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <math.h>
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

/* School A: class 5 with sections A (s1, s2; class teacher t1, who teaches Maths there; t3
 * teaches Art there) and B (s4; class teacher t2, who teaches Maths there); p1 parent of s1,
 * p4 parent of s4. Terms 1 (ending today) and 2 (after it). School B: a section with sb,
 * its Maths, a term and an exam. */
struct fx {
    struct harness *h;
    struct tauth_login a, b, t1, t2, t3, p1, p4;
    int64_t sec_a, sec_b, sec_x;
    int64_t maths, art, maths_x;
    int64_t term1, term2, term_x;
    int64_t s1, s2, s4, sb;
    int64_t e1, e2, e_art, e_x; /* exams: Maths 5A (50, weight 1), Maths 5A (100, weight 3),
                                 * Art 5A (20), school B's */
    bool valgrind;
    int passed;
};

#define N_TESTS 6

static int64_t make_term(struct wsclient *admin, int64_t year, const char *name, int from,
                         int to)
{
    char s[11], e[11];
    trec_day(from, s);
    trec_day(to, e);
    struct tmsg *m = tauth_call(admin, "term.create",
                                "{year: %D, name: %s, starts_on: %s, ends_on: %s}", year, name,
                                s, e);
    int64_t id = tf_int_of(tf_data(m), "id");
    if (!tauth_is_ok(m) || id <= 0) {
        fprintf(stderr, "term.create: %s\n", tmsg_text(m));
        id = -1;
    }
    tmsg_free(m);
    return id;
}

static int group_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    *state = f;
    const char *v = getenv("CLASSMENT_TEST_VALGRIND");
    f->valgrind = v && strcmp(v, "1") == 0;
    if (tfix_two_schools(&f->h, &(struct harness_opts){ .valgrind = f->valgrind }, &f->a,
                         &f->b) != 0) {
        return -1;
    }
    char ph[7][TAUTH_PHONE_MAX];
    int64_t t1 = tfix_user(f->a.c, "teacher", "Teacher One", 11, ph[0]);
    int64_t t2 = tfix_user(f->a.c, "teacher", "Teacher Two", 12, ph[1]);
    int64_t t3 = tfix_user(f->a.c, "teacher", "Teacher Three", 13, ph[2]);
    int64_t p1 = tfix_user(f->a.c, "parent", "Parent One", 14, ph[3]);
    int64_t p4 = tfix_user(f->a.c, "parent", "Parent Four", 15, ph[4]);
    if (t1 < 0 || t2 < 0 || t3 < 0 || p1 < 0 || p4 < 0) {
        return -1;
    }
    char from[11], to[11];
    trec_day(-200, from);
    trec_day(200, to);
    int64_t year = trec_year(f->a.c, "2026-27", from, to, true);
    int64_t year_x = trec_year(f->b.c, "2026-27", from, to, true);
    int64_t class_a = trec_class(f->a.c, "Class 5");
    int64_t class_x = trec_class(f->b.c, "Class 5");
    if (year < 0 || year_x < 0 || class_a < 0 || class_x < 0) {
        return -1;
    }
    f->sec_a = trec_section(f->a.c, class_a, "A", t1);
    f->sec_b = trec_section(f->a.c, class_a, "B", t2);
    f->sec_x = trec_section(f->b.c, class_x, "A", 0);
    f->maths = trec_subject(f->a.c, class_a, "Maths");
    f->art = trec_subject(f->a.c, class_a, "Art");
    f->maths_x = trec_subject(f->b.c, class_x, "Maths");
    if (f->sec_a < 0 || f->sec_b < 0 || f->sec_x < 0 || f->maths < 0 || f->art < 0 ||
        f->maths_x < 0 || trec_assign(f->a.c, t1, f->sec_a, f->maths) != 0 ||
        trec_assign(f->a.c, t3, f->sec_a, f->art) != 0 ||
        trec_assign(f->a.c, t2, f->sec_b, f->maths) != 0) {
        return -1;
    }
    f->term1 = make_term(f->a.c, year, "Term 1", -100, 0);
    f->term2 = make_term(f->a.c, year, "Term 2", 1, 100);
    f->term_x = make_term(f->b.c, year_x, "Term 1", -100, 0);
    f->s1 = trec_student(f->a.c, "Asha", "A-1", "Class 5", "A", 1);
    f->s2 = trec_student(f->a.c, "Bala", "A-2", "Class 5", "A", 2);
    f->s4 = trec_student(f->a.c, "Dev", "B-1", "Class 5", "B", 1);
    f->sb = trec_student(f->b.c, "Esha", "X-1", "Class 5", "A", 1);
    if (f->term1 < 0 || f->term2 < 0 || f->term_x < 0 || f->s1 < 0 || f->s2 < 0 ||
        f->s4 < 0 || f->sb < 0 || tfix_link_guardian(f->a.c, f->s1, p1) != 0 ||
        tfix_link_guardian(f->a.c, f->s4, p4) != 0) {
        return -1;
    }
    if (tauth_login(f->h, ph[0], "web", "linux", "1.0", &f->t1) != 0 ||
        tauth_login(f->h, ph[1], "web", "linux", "1.0", &f->t2) != 0 ||
        tauth_login(f->h, ph[2], "web", "linux", "1.0", &f->t3) != 0 ||
        tauth_login(f->h, ph[3], "android", "14", "1.0", &f->p1) != 0 ||
        tauth_login(f->h, ph[4], "android", "14", "1.0", &f->p4) != 0) {
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    struct fx *f = *state;
    if (f) {
        tfix_end(f->h, f->passed == N_TESTS, &f->a, &f->b, &f->t1, &f->t2, &f->t3, &f->p1,
                 &f->p4, NULL);
        free(f);
    }
    return 0;
}

/* ---- reading replies ---- */

/* The number under key in map obj; NAN when absent or not a number. */
static double num_of(const msgpack_object *obj, const char *key)
{
    if (!obj || obj->type != MSGPACK_OBJECT_MAP) {
        return NAN;
    }
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object_kv *kv = &obj->via.map.ptr[i];
        if (kv->key.type == MSGPACK_OBJECT_STR && kv->key.via.str.size == strlen(key) &&
            memcmp(kv->key.via.str.ptr, key, kv->key.via.str.size) == 0) {
            switch (kv->val.type) {
            case MSGPACK_OBJECT_FLOAT32:
            case MSGPACK_OBJECT_FLOAT64:
                return kv->val.via.f64;
            case MSGPACK_OBJECT_POSITIVE_INTEGER:
                return (double)kv->val.via.u64;
            default:
                return NAN;
            }
        }
    }
    return NAN;
}

static bool near(double got, double want)
{
    return fabs(got - want) < 0.005;
}

/* The row of array path whose key id (an integer at idpath) is id. */
static const msgpack_object *row_of(const msgpack_object *obj, const char *path,
                                    const char *idpath, int64_t id)
{
    for (uint32_t i = 0; i < 200; i++) {
        const msgpack_object *r = tf_item(obj, path, i);
        if (!r) {
            return NULL;
        }
        if (tf_int_is(r, idpath, id)) {
            return r;
        }
    }
    return NULL;
}

static int64_t count_sql(struct fx *f, const char *sql, int64_t a, int64_t b)
{
    char x[24], y[24];
    return tauth_sql_int(f->h, sql, tf_num(x, a), tf_num(y, b), NULL);
}

#define MARKS_OK(c, entered, changed, ...)                                                  \
    do {                                                                                    \
        struct tmsg *m_ = tauth_call((c), "exam.marks.set", __VA_ARGS__);                   \
        assert_msg(tauth_is_ok(m_) && tf_int_is(tf_data(m_), "entered", (entered)) &&       \
                       tf_int_is(tf_data(m_), "changed", (changed)),                        \
                   m_);                                                                     \
        tmsg_free(m_);                                                                      \
    } while (0)

/* ---- tests ---- */

static void test_scale_and_settings(void **state)
{
    struct fx *f = *state;
    /* The default scale, for every role that reads it. */
    struct wsclient *readers[] = { f->a.c, f->t1.c, f->p1.c };
    for (size_t i = 0; i < 3; i++) {
        struct tmsg *m = CALL_OK(readers[i], "grade.scale.get", "{}");
        const msgpack_object *d = tf_data(m);
        assert_msg(tf_len(d, "bands") == 8 && tf_bool_is(d, "default", true), m);
        const msgpack_object *b = tf_item(d, "bands", 0);
        assert_msg(tf_str_is(b, "grade", "A1") && near(num_of(b, "min"), 91) &&
                       near(num_of(b, "point"), 10),
                   m);
        b = tf_item(d, "bands", 7);
        assert_msg(tf_str_is(b, "grade", "E") && near(num_of(b, "min"), 0), m);
        tmsg_free(m);
    }
    /* A school's own scale, given in any order, read back sorted. */
    struct tmsg *m = CALL_OK(f->a.c, "grade.scale.set",
                             "{bands: [{min: 0, grade: \"F\", point: 0},"
                             " {min: 75, grade: \"A\", point: 4}, {min: 50, grade: \"B\", point: 2.5}]}");
    tmsg_free(m);
    m = CALL_OK(f->t1.c, "grade.scale.get", "{}");
    assert_msg(tf_len(tf_data(m), "bands") == 3 && tf_bool_is(tf_data(m), "default", false) &&
                   tf_str_is(tf_item(tf_data(m), "bands", 0), "grade", "A") &&
                   near(num_of(tf_item(tf_data(m), "bands", 1), "point"), 2.5),
               m);
    tmsg_free(m);
    assert_true(tfix_audit_seen(f->h, f->a.school_id, "grade.scale.set", "grade_scale",
                                f->a.school_id, "ok"));
    /* School B still has the default. */
    m = CALL_OK(f->b.c, "grade.scale.get", "{}");
    assert_msg(tf_len(tf_data(m), "bands") == 8, m);
    tmsg_free(m);
    /* Refusals. */
    CALL_ERR("bad_request", "bands", f->a.c, "grade.scale.set",
             "{bands: [{min: 10, grade: \"A\", point: 1}]}");
    CALL_ERR("bad_request", "bands", f->a.c, "grade.scale.set",
             "{bands: [{min: 0, grade: \"A\", point: 1}, {min: 0, grade: \"B\", point: 1}]}");
    CALL_ERR("bad_request", "bands[1].grade", f->a.c, "grade.scale.set",
             "{bands: [{min: 0, grade: \"A\", point: 1}, {min: 5, grade: \"A\", point: 1}]}");
    CALL_ERR("bad_request", NULL, f->a.c, "grade.scale.set",
             "{bands: [{min: 101, grade: \"A\", point: 1}]}");
    CALL_ERR("bad_request", "bands", f->a.c, "grade.scale.set", "{bands: []}");
    CALL_ERR("bad_request", NULL, f->a.c, "grade.scale.set", "{}");
    CALL_ERR("forbidden", NULL, f->t1.c, "grade.scale.set",
             "{bands: [{min: 0, grade: \"A\", point: 1}]}");
    /* Back to the CBSE-style bands, set explicitly. */
    m = CALL_OK(f->a.c, "grade.scale.set",
                "{bands: [{min: 91, grade: A1, point: 10}, {min: 81, grade: A2, point: 9},"
                " {min: 71, grade: B1, point: 8}, {min: 61, grade: B2, point: 7},"
                " {min: 51, grade: C1, point: 6}, {min: 41, grade: C2, point: 5},"
                " {min: 33, grade: D, point: 4}, {min: 0, grade: E, point: 0}]}");
    tmsg_free(m);
    assert_int_equal(count_sql(f, "SELECT count(*) FROM grade_bands WHERE school_id = $1"
                                  " AND $2::bigint > 0", f->a.school_id, 1), 8);

    /* Settings: ranks off by default; admins only. */
    m = CALL_OK(f->a.c, "grade.settings.get", "{}");
    assert_msg(tf_bool_is(tf_data(m), "ranks", false), m);
    tmsg_free(m);
    tmsg_free(CALL_OK(f->a.c, "grade.settings.set", "{ranks: true}"));
    m = CALL_OK(f->a.c, "grade.settings.get", "{}");
    assert_msg(tf_bool_is(tf_data(m), "ranks", true), m);
    tmsg_free(m);
    tmsg_free(CALL_OK(f->a.c, "grade.settings.set", "{ranks: false}"));
    m = CALL_OK(f->b.c, "grade.settings.get", "{}");
    assert_msg(tf_bool_is(tf_data(m), "ranks", false), m);
    tmsg_free(m);
    CALL_ERR("forbidden", NULL, f->t1.c, "grade.settings.get", "{}");
    CALL_ERR("forbidden", NULL, f->p1.c, "grade.settings.set", "{ranks: true}");
    CALL_ERR("bad_request", "ranks", f->a.c, "grade.settings.set", "{ranks: 1}");
    f->passed++;
}

static void test_exams(void **state)
{
    struct fx *f = *state;
    char on[11];
    trec_day(-10, on);
    /* The teacher of Maths in 5A, an admin (for Art), school B's admin. */
    f->e1 = CREATE_ID(f->t1.c, "exam.create",
                      "{section: %D, subject: %D, term: %D, name: \"Unit test 1\","
                      " max_marks: 50, on: %s}",
                      f->sec_a, f->maths, f->term1, on);
    f->e2 = CREATE_ID(f->t1.c, "exam.create",
                      "{section: %D, subject: %D, term: %D, name: \"Half-yearly\","
                      " max_marks: 100, weight: 3}",
                      f->sec_a, f->maths, f->term1);
    f->e_art = CREATE_ID(f->t3.c, "exam.create",
                         "{section: %D, subject: %D, term: %D, name: \"Drawing\","
                         " max_marks: 20}",
                         f->sec_a, f->art, f->term1);
    f->e_x = CREATE_ID(f->b.c, "exam.create",
                       "{section: %D, subject: %D, term: %D, name: \"Unit test 1\","
                       " max_marks: 50}",
                       f->sec_x, f->maths_x, f->term_x);
    char e1[24];
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM exams WHERE id = $1 AND max_marks = 50"
                                   " AND weight = 1 AND held_on IS NOT NULL AND created_by IS NOT NULL",
                                   tf_num(e1, f->e1), NULL),
                     1);
    assert_true(tfix_audit_seen(f->h, f->a.school_id, "exam.create", "exam", f->e1, "ok"));

    /* Scope: a teacher of the section for another subject, a teacher of another section. */
    CALL_ERR("forbidden", "section", f->t3.c, "exam.create",
             "{section: %D, subject: %D, term: %D, name: X, max_marks: 10}", f->sec_a, f->maths,
             f->term1);
    CALL_ERR("forbidden", "section", f->t2.c, "exam.create",
             "{section: %D, subject: %D, term: %D, name: X, max_marks: 10}", f->sec_a, f->maths,
             f->term1);
    CALL_ERR("forbidden", NULL, f->p1.c, "exam.create",
             "{section: %D, subject: %D, term: %D, name: X, max_marks: 10}", f->sec_a, f->maths,
             f->term1);
    /* Other school's and unknown ids. */
    CALL_ERR("not_found", "section", f->a.c, "exam.create",
             "{section: %D, subject: %D, term: %D, name: X, max_marks: 10}", f->sec_x, f->maths,
             f->term1);
    CALL_ERR("not_found", "subject", f->a.c, "exam.create",
             "{section: %D, subject: %D, term: %D, name: X, max_marks: 10}", f->sec_a,
             f->maths_x, f->term1);
    CALL_ERR("not_found", "term", f->a.c, "exam.create",
             "{section: %D, subject: %D, term: %D, name: X, max_marks: 10}", f->sec_a, f->maths,
             f->term_x);
    CALL_ERR("not_found", "section", f->a.c, "exam.create",
             "{section: 99999999, subject: %D, term: %D, name: X, max_marks: 10}", f->maths,
             f->term1);
    /* Bad arguments. */
    CALL_ERR("bad_request", "max_marks", f->a.c, "exam.create",
             "{section: %D, subject: %D, term: %D, name: X, max_marks: 0}", f->sec_a, f->maths,
             f->term1);
    CALL_ERR("bad_request", "max_marks", f->a.c, "exam.create",
             "{section: %D, subject: %D, term: %D, name: X, max_marks: 5000}", f->sec_a,
             f->maths, f->term1);
    CALL_ERR("bad_request", "weight", f->a.c, "exam.create",
             "{section: %D, subject: %D, term: %D, name: X, max_marks: 10, weight: 0}",
             f->sec_a, f->maths, f->term1);
    CALL_ERR("bad_request", "on", f->a.c, "exam.create",
             "{section: %D, subject: %D, term: %D, name: X, max_marks: 10, on: \"2026-02-30\"}",
             f->sec_a, f->maths, f->term1);
    CALL_ERR("bad_request", "name", f->a.c, "exam.create",
             "{section: %D, subject: %D, term: %D, max_marks: 10}", f->sec_a, f->maths,
             f->term1);

    /* exam.list: admins and the section's teachers (any subject). */
    struct tmsg *m = CALL_OK(f->t3.c, "exam.list", "{section: %D, term: %D}", f->sec_a,
                             f->term1);
    assert_msg(tf_len(tf_data(m), "") == 3, m);
    const msgpack_object *r = row_of(tf_data(m), "", "id", f->e2);
    assert_msg(r && tf_str_is(r, "name", "Half-yearly") && tf_int_is(r, "subject.id", f->maths) &&
                   tf_str_is(r, "subject.name", "Maths") && tf_int_is(r, "term", f->term1) &&
                   near(num_of(r, "max_marks"), 100) && near(num_of(r, "weight"), 3) &&
                   tf_nil_at(r, "on") && tf_int_is(r, "marked", 0),
               m);
    r = row_of(tf_data(m), "", "id", f->e1);
    assert_msg(r && tf_str_is(r, "on", on), m);
    tmsg_free(m);
    m = CALL_OK(f->a.c, "exam.list", "{section: %D, term: %D}", f->sec_a, f->term2);
    assert_msg(tf_len(tf_data(m), "") == 0, m);
    tmsg_free(m);
    CALL_ERR("forbidden", "section", f->t2.c, "exam.list", "{section: %D}", f->sec_a);
    CALL_ERR("not_found", "section", f->a.c, "exam.list", "{section: %D}", f->sec_x);
    CALL_ERR("forbidden", NULL, f->p1.c, "exam.list", "{section: %D}", f->sec_a);

    /* exam.update */
    tmsg_free(CALL_OK(f->t1.c, "exam.update", "{id: %D, name: \"Unit test I\", weight: 1}",
                      f->e1));
    assert_int_equal(tauth_sql_int(f->h, "SELECT count(*) FROM exams WHERE id = $1"
                                         " AND name = 'Unit test I'",
                                   tf_num(e1, f->e1), NULL),
                     1);
    CALL_ERR("forbidden", "id", f->t3.c, "exam.update", "{id: %D, name: Y}", f->e1);
    CALL_ERR("forbidden", "id", f->t2.c, "exam.update", "{id: %D, name: Y}", f->e1);
    CALL_ERR("not_found", "id", f->a.c, "exam.update", "{id: %D, name: Y}", f->e_x);
    CALL_ERR("bad_request", "max_marks", f->a.c, "exam.update", "{id: %D, max_marks: -1}",
             f->e1);

    /* exam.delete: a fresh exam by its teacher; another school's is not found. */
    int64_t spare = CREATE_ID(f->t1.c, "exam.create",
                              "{section: %D, subject: %D, term: %D, name: Spare, max_marks: 10}",
                              f->sec_a, f->maths, f->term1);
    CALL_ERR("forbidden", "id", f->t3.c, "exam.delete", "{id: %D}", spare);
    tmsg_free(CALL_OK(f->t1.c, "exam.delete", "{id: %D}", spare));
    CALL_ERR("not_found", "id", f->t1.c, "exam.delete", "{id: %D}", spare);
    CALL_ERR("not_found", "id", f->a.c, "exam.delete", "{id: %D}", f->e_x);
    assert_true(tfix_audit_seen(f->h, f->a.school_id, "exam.delete", "exam", spare, "ok"));
    f->passed++;
}

static void test_marks(void **state)
{
    struct fx *f = *state;
    MARKS_OK(f->t1.c, 2, 2,
             "{exam: %D, entries: [{student: %D, marks: 40}, {student: %D, status: absent}]}",
             f->e1, f->s1, f->s2);
    char ex[24], st[24], u[24];
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM marks WHERE exam_id = $1 AND student_id = $2"
                                   " AND marks = 40 AND status = 'present' AND entered_by = $3",
                                   tf_num(ex, f->e1), tf_num(st, f->s1),
                                   tf_num(u, f->t1.user_id), NULL),
                     1);
    /* The same again changes nothing. */
    MARKS_OK(f->t1.c, 2, 0,
             "{exam: %D, entries: [{student: %D, marks: 40}, {student: %D, status: absent}]}",
             f->e1, f->s1, f->s2);
    assert_int_equal(count_sql(f, "SELECT count(*) FROM marks_changes WHERE exam_id = $1"
                                  " AND $2::bigint > 0", f->e1, 1), 0);
    /* A correction: before and after kept, and audited. */
    MARKS_OK(f->t1.c, 1, 1, "{exam: %D, entries: [{student: %D, marks: 45, status: present}]}",
             f->e1, f->s1);
    int64_t change = tauth_sql_int(f->h,
                                   "SELECT id FROM marks_changes WHERE exam_id = $1 AND student_id = $2"
                                   " AND before_marks = 40 AND before_status = 'present'"
                                   " AND after_marks = 45 AND after_status = 'present'"
                                   " AND changed_by = $3",
                                   tf_num(ex, f->e1), tf_num(st, f->s1),
                                   tf_num(u, f->t1.user_id), NULL);
    assert_true(change > 0);
    assert_true(tfix_audit_seen(f->h, f->a.school_id, "exam.marks.set", "marks_change", change,
                                "ok"));
    MARKS_OK(f->t1.c, 2, 2, "{exam: %D, entries: [{student: %D, marks: 80},"
                            " {student: %D, marks: 60.5}]}", f->e2, f->s1, f->s2);
    MARKS_OK(f->t1.c, 1, 1, "{exam: %D, entries: [{student: %D, marks: 60}]}", f->e2, f->s2);
    MARKS_OK(f->t3.c, 2, 2, "{exam: %D, entries: [{student: %D, marks: 18},"
                            " {student: %D, status: exempt}]}", f->e_art, f->s1, f->s2);

    /* Refusals: nothing is written. */
    CALL_ERR("bad_request", "entries[1].marks", f->t1.c, "exam.marks.set",
             "{exam: %D, entries: [{student: %D, marks: 10}, {student: %D, marks: 50.5}]}",
             f->e1, f->s1, f->s2);
    CALL_ERR("bad_request", "entries[0].marks", f->t1.c, "exam.marks.set",
             "{exam: %D, entries: [{student: %D, marks: -1}]}", f->e1, f->s1);
    CALL_ERR("bad_request", "entries[0].marks", f->t1.c, "exam.marks.set",
             "{exam: %D, entries: [{student: %D}]}", f->e1, f->s1);
    CALL_ERR("bad_request", "entries[0].marks", f->t1.c, "exam.marks.set",
             "{exam: %D, entries: [{student: %D, marks: 3, status: absent}]}", f->e1, f->s1);
    CALL_ERR("bad_request", "entries[0].status", f->t1.c, "exam.marks.set",
             "{exam: %D, entries: [{student: %D, status: late}]}", f->e1, f->s1);
    CALL_ERR("bad_request", "entries[1].student", f->t1.c, "exam.marks.set",
             "{exam: %D, entries: [{student: %D, marks: 1}, {student: %D, marks: 2}]}", f->e1,
             f->s1, f->s1);
    CALL_ERR("bad_request", "entries[1].student", f->t1.c, "exam.marks.set",
             "{exam: %D, entries: [{student: %D, marks: 1}, {student: %D, marks: 2}]}", f->e1,
             f->s2, f->s4);
    CALL_ERR("bad_request", "entries[0].student", f->a.c, "exam.marks.set",
             "{exam: %D, entries: [{student: %D, marks: 2}]}", f->e1, f->sb);
    CALL_ERR("bad_request", "entries", f->t1.c, "exam.marks.set", "{exam: %D, entries: []}",
             f->e1);
    /* A student of the section who has left. */
    int64_t gone = trec_student(f->a.c, "Gita", "A-9", "Class 5", "A", 9);
    assert_true(gone > 0);
    tmsg_free(CALL_OK(f->a.c, "student.leave", "{id: %D, reason: \"moved away\"}", gone));
    CALL_ERR("bad_request", "entries[0].student", f->a.c, "exam.marks.set",
             "{exam: %D, entries: [{student: %D, marks: 2}]}", f->e1, gone);
    CALL_ERR("forbidden", "exam", f->t3.c, "exam.marks.set",
             "{exam: %D, entries: [{student: %D, marks: 2}]}", f->e1, f->s1);
    CALL_ERR("forbidden", "exam", f->t2.c, "exam.marks.set",
             "{exam: %D, entries: [{student: %D, marks: 2}]}", f->e1, f->s1);
    CALL_ERR("forbidden", NULL, f->p1.c, "exam.marks.set",
             "{exam: %D, entries: [{student: %D, marks: 2}]}", f->e1, f->s1);
    CALL_ERR("not_found", "exam", f->a.c, "exam.marks.set",
             "{exam: %D, entries: [{student: %D, marks: 2}]}", f->e_x, f->sb);
    CALL_ERR("not_found", "exam", f->a.c, "exam.marks.set",
             "{exam: 99999999, entries: [{student: %D, marks: 2}]}", f->s1);
    assert_int_equal(tauth_sql_int(f->h, "SELECT count(*) FROM marks WHERE exam_id = $1"
                                         " AND student_id = $2 AND marks = 45",
                                   tf_num(ex, f->e1), tf_num(st, f->s1), NULL),
                     1);
    assert_int_equal(count_sql(f, "SELECT count(*) FROM marks WHERE student_id IN ($1, $2)",
                               f->s4, f->sb), 0);

    /* exam.marks.get: the section's teachers and admins. */
    struct tmsg *m = CALL_OK(f->t3.c, "exam.marks.get", "{exam: %D}", f->e1);
    const msgpack_object *d = tf_data(m);
    assert_msg(tf_int_is(d, "exam", f->e1) && near(num_of(d, "max_marks"), 50) &&
                   tf_bool_is(d, "locked", false) && tf_len(d, "students") == 2,
               m);
    const msgpack_object *r = row_of(d, "students", "student", f->s1);
    assert_msg(r && tf_str_is(r, "name", "Asha") && tf_int_is(r, "roll_no", 1) &&
                   near(num_of(r, "marks"), 45) && tf_str_is(r, "status", "present"),
               m);
    r = row_of(d, "students", "student", f->s2);
    assert_msg(r && tf_nil_at(r, "marks") && tf_str_is(r, "status", "absent"), m);
    tmsg_free(m);
    CALL_ERR("forbidden", "exam", f->t2.c, "exam.marks.get", "{exam: %D}", f->e1);
    CALL_ERR("forbidden", NULL, f->p1.c, "exam.marks.get", "{exam: %D}", f->e1);
    CALL_ERR("not_found", "exam", f->a.c, "exam.marks.get", "{exam: %D}", f->e_x);
    CALL_ERR("bad_request", "exam", f->a.c, "exam.marks.get", "{exam: 0}");

    /* An exam with marks: its teacher may not delete it, an admin may not lower max_marks
     * below them. */
    CALL_ERR("conflict", "id", f->t3.c, "exam.delete", "{id: %D}", f->e_art);
    CALL_ERR("bad_request", "max_marks", f->a.c, "exam.update", "{id: %D, max_marks: 15}",
             f->e_art);
    f->passed++;
}

/* s1: Maths (45/50 w1 = 90 %, 80/100 w3 = 80 %) = 82.5 % A2; Art 18/20 = 90 % A2; overall
 * 86.25 A2. s2: Maths (absent w1 = 0, 60/100 w3) = 45 % C2; Art exempt; overall 45 C2. */
static void test_grades_and_publication(void **state)
{
    struct fx *f = *state;
    struct tmsg *m = CALL_OK(f->t1.c, "grade.student", "{student: %D, term: %D}", f->s1,
                             f->term1);
    const msgpack_object *d = tf_data(m);
    assert_msg(tf_int_is(d, "student", f->s1) && tf_int_is(d, "term", f->term1) &&
                   tf_int_is(d, "section", f->sec_a) && tf_bool_is(d, "published", false) &&
                   tf_len(d, "subjects") == 2,
               m);
    const msgpack_object *r = tf_item(d, "subjects", 0); /* by name: Art first */
    assert_msg(tf_int_is(r, "subject.id", f->art) && tf_str_is(r, "subject.name", "Art") &&
                   near(num_of(r, "marks"), 18) && near(num_of(r, "max"), 20) &&
                   near(num_of(r, "percentage"), 90) && tf_str_is(r, "grade", "A2") &&
                   near(num_of(r, "point"), 9) && tf_str_is(r, "status", "graded"),
               m);
    r = tf_item(d, "subjects", 1);
    assert_msg(tf_int_is(r, "subject.id", f->maths) && near(num_of(r, "marks"), 125) &&
                   near(num_of(r, "max"), 150) && near(num_of(r, "percentage"), 82.5) &&
                   tf_str_is(r, "grade", "A2"),
               m);
    assert_msg(near(num_of(tf_at(m, "data.overall"), "percentage"), 86.25) &&
                   tf_str_is(d, "overall.grade", "A2") && tf_int_of(d, "overall.rank") < 0,
               m);
    tmsg_free(m);
    m = CALL_OK(f->t3.c, "grade.student", "{student: %D, term: %D}", f->s2, f->term1);
    d = tf_data(m);
    r = tf_item(d, "subjects", 0);
    assert_msg(tf_str_is(r, "status", "exempt") && tf_nil_at(r, "percentage") &&
                   tf_nil_at(r, "grade"),
               m);
    r = tf_item(d, "subjects", 1);
    assert_msg(near(num_of(r, "percentage"), 45) && tf_str_is(r, "grade", "C2") &&
                   near(num_of(r, "marks"), 60) && near(num_of(r, "max"), 150),
               m);
    assert_msg(near(num_of(tf_at(m, "data.overall"), "percentage"), 45) &&
                   tf_str_is(d, "overall.grade", "C2"),
               m);
    tmsg_free(m);
    /* Ranks, once the school turns them on. */
    tmsg_free(CALL_OK(f->a.c, "grade.settings.set", "{ranks: true}"));
    m = CALL_OK(f->a.c, "grade.student", "{student: %D, term: %D}", f->s2, f->term1);
    assert_msg(tf_int_is(tf_data(m), "overall.rank", 2) && tf_int_is(tf_data(m), "overall.of", 2),
               m);
    tmsg_free(m);
    tmsg_free(CALL_OK(f->a.c, "grade.settings.set", "{ranks: false}"));
    /* A term without exams: no subjects, no overall. */
    m = CALL_OK(f->a.c, "grade.student", "{student: %D, term: %D}", f->s1, f->term2);
    assert_msg(tf_len(tf_data(m), "subjects") == 0 && tf_nil_at(tf_data(m), "overall.grade"), m);
    tmsg_free(m);

    /* Refusals before publication. */
    CALL_ERR("forbidden", "term", f->p1.c, "grade.student", "{student: %D, term: %D}", f->s1,
             f->term1);
    m = tauth_call(f->p1.c, "grade.student", "{student: %D, term: %D}", f->s1, f->term1);
    assert_msg(strstr(tmsg_text(m), "not published yet") != NULL, m);
    tmsg_free(m);
    CALL_ERR("forbidden", "student", f->p4.c, "grade.student", "{student: %D, term: %D}", f->s1,
             f->term1);
    CALL_ERR("forbidden", "student", f->t2.c, "grade.student", "{student: %D, term: %D}", f->s1,
             f->term1);
    CALL_ERR("not_found", "student", f->a.c, "grade.student", "{student: %D, term: %D}", f->sb,
             f->term1);
    CALL_ERR("not_found", "term", f->a.c, "grade.student", "{student: %D, term: %D}", f->s1,
             f->term_x);
    CALL_ERR("bad_request", "term", f->a.c, "grade.student", "{student: %D}", f->s1);

    /* Publication (the report-card op's row, written directly). */
    char t[24], s[24], u[24];
    assert_int_equal(tauth_sql(f->h,
                               "INSERT INTO report_card_publications (term_id, section_id,"
                               " published_by) VALUES ($1, $2, $3)",
                               tf_num(t, f->term1), tf_num(s, f->sec_a),
                               tf_num(u, f->a.user_id), NULL),
                     1);
    m = CALL_OK(f->p1.c, "grade.student", "{student: %D, term: %D}", f->s1, f->term1);
    assert_msg(tf_bool_is(tf_data(m), "published", true) &&
                   tf_str_is(tf_data(m), "overall.grade", "A2"),
               m);
    tmsg_free(m);
    CALL_ERR("forbidden", "student", f->p4.c, "grade.student", "{student: %D, term: %D}", f->s1,
             f->term1);
    /* Locked for teachers; an admin may still correct, audited. */
    CALL_ERR("forbidden", "exam", f->t1.c, "exam.marks.set",
             "{exam: %D, entries: [{student: %D, marks: 30}]}", f->e1, f->s1);
    CALL_ERR("forbidden", "id", f->t1.c, "exam.update", "{id: %D, name: Z}", f->e1);
    CALL_ERR("forbidden", "id", f->t1.c, "exam.delete", "{id: %D}", f->e1);
    CALL_ERR("forbidden", "term", f->t1.c, "exam.create",
             "{section: %D, subject: %D, term: %D, name: Late, max_marks: 10}", f->sec_a,
             f->maths, f->term1);
    m = CALL_OK(f->t1.c, "exam.marks.get", "{exam: %D}", f->e1);
    assert_msg(tf_bool_is(tf_data(m), "locked", true), m);
    tmsg_free(m);
    MARKS_OK(f->a.c, 1, 1, "{exam: %D, entries: [{student: %D, marks: 47}]}", f->e1, f->s1);
    char ex[24];
    int64_t change = tauth_sql_int(f->h,
                                   "SELECT id FROM marks_changes WHERE exam_id = $1 AND student_id = $2"
                                   " AND before_marks = 45 AND after_marks = 47 AND changed_by = $3",
                                   tf_num(ex, f->e1), tf_num(s, f->s1),
                                   tf_num(u, f->a.user_id), NULL);
    assert_true(change > 0);
    assert_true(tfix_audit_seen(f->h, f->a.school_id, "exam.marks.set", "marks_change", change,
                                "ok"));
    f->passed++;
}

static void test_progress_and_distribution(void **state)
{
    struct fx *f = *state;
    /* Attendance in term 1: 3 days marked, 2 present or late. */
    char st[24];
    assert_int_equal(tauth_sql(f->h,
                               "INSERT INTO attendance (school_id, section_id, student_id, day,"
                               " status) SELECT school_id, section_id, id, current_date - d,"
                               " (ARRAY['present', 'late', 'absent'])[d] FROM students,"
                               " generate_series(1, 3) d WHERE id = $1",
                               tf_num(st, f->s1), NULL),
                     3);
    /* A teacher sees both terms; the parent only the published one. */
    struct tmsg *m = CALL_OK(f->t1.c, "grade.progress", "{student: %D}", f->s1);
    const msgpack_object *d = tf_data(m);
    assert_msg(tf_int_is(d, "student", f->s1) && tf_len(d, "terms") == 2 &&
                   tf_len(d, "subjects") == 2,
               m);
    const msgpack_object *t = tf_item(d, "terms", 0);
    assert_msg(tf_int_is(t, "term.id", f->term1) && tf_str_is(t, "term.name", "Term 1") &&
                   tf_bool_is(t, "published", true) && tf_int_is(t, "attendance.present", 2) &&
                   tf_int_is(t, "attendance.marked", 3) && tf_str_is(t, "overall.grade", "A2"),
               m);
    t = tf_item(d, "terms", 1);
    assert_msg(tf_int_is(t, "term.id", f->term2) && tf_bool_is(t, "published", false) &&
                   tf_nil_at(t, "overall.grade") && tf_int_is(t, "attendance.marked", 0) &&
                   tf_nil_at(t, "attendance.percentage"),
               m);
    const msgpack_object *s = tf_item(d, "subjects", 1);
    assert_msg(tf_str_is(s, "subject.name", "Maths") && tf_len(s, "terms") == 1 &&
                   tf_int_is(tf_item(s, "terms", 0), "term", f->term1) &&
                   tf_str_is(tf_item(s, "terms", 0), "grade", "A2"),
               m);
    tmsg_free(m);
    m = CALL_OK(f->p1.c, "grade.progress", "{student: %D}", f->s1);
    assert_msg(tf_len(tf_data(m), "terms") == 1 &&
                   tf_int_is(tf_item(tf_data(m), "terms", 0), "term.id", f->term1),
               m);
    tmsg_free(m);
    /* s2's section is published too, but not for p4's child s4: nothing published. */
    m = CALL_OK(f->p4.c, "grade.progress", "{student: %D}", f->s4);
    assert_msg(tf_len(tf_data(m), "terms") == 0, m);
    tmsg_free(m);
    CALL_ERR("forbidden", "student", f->p4.c, "grade.progress", "{student: %D}", f->s1);
    CALL_ERR("forbidden", "student", f->t2.c, "grade.progress", "{student: %D}", f->s1);
    CALL_ERR("not_found", "student", f->a.c, "grade.progress", "{student: %D}", f->sb);
    CALL_ERR("bad_request", "student", f->a.c, "grade.progress", "{}");

    /* Distribution: Maths A2 1 (s1 at 85.5 %), C2 1 (s2); Art A2 1, s2 exempt: ungraded. */
    m = CALL_OK(f->t3.c, "grade.distribution", "{section: %D, term: %D}", f->sec_a, f->term1);
    d = tf_data(m);
    assert_msg(tf_int_is(d, "section", f->sec_a) && tf_int_is(d, "term", f->term1) &&
                   tf_len(d, "subjects") == 2,
               m);
    const msgpack_object *art = row_of(d, "subjects", "subject.id", f->art);
    const msgpack_object *maths = row_of(d, "subjects", "subject.id", f->maths);
    assert_msg(art && maths && tf_len(maths, "grades") == 8 &&
                   tf_str_is(tf_item(maths, "grades", 1), "grade", "A2") &&
                   tf_int_is(tf_item(maths, "grades", 1), "students", 1) &&
                   tf_str_is(tf_item(maths, "grades", 5), "grade", "C2") &&
                   tf_int_is(tf_item(maths, "grades", 5), "students", 1) &&
                   tf_int_is(tf_item(maths, "grades", 0), "students", 0) &&
                   tf_int_is(maths, "ungraded", 0) &&
                   tf_int_is(tf_item(art, "grades", 1), "students", 1) &&
                   tf_int_is(art, "ungraded", 1),
               m);
    tmsg_free(m);
    CALL_ERR("forbidden", "section", f->t2.c, "grade.distribution", "{section: %D, term: %D}",
             f->sec_a, f->term1);
    CALL_ERR("forbidden", NULL, f->p1.c, "grade.distribution", "{section: %D, term: %D}",
             f->sec_a, f->term1);
    CALL_ERR("not_found", "section", f->a.c, "grade.distribution", "{section: %D, term: %D}",
             f->sec_x, f->term1);
    CALL_ERR("not_found", "term", f->a.c, "grade.distribution", "{section: %D, term: %D}",
             f->sec_a, f->term_x);
    /* An admin may delete an exam with marks: they go with it. */
    tmsg_free(CALL_OK(f->a.c, "exam.delete", "{id: %D}", f->e_art));
    assert_int_equal(count_sql(f, "SELECT count(*) FROM marks WHERE exam_id = $1"
                                  " AND $2::bigint > 0", f->e_art, 1), 0);
    f->passed++;
}

static void test_server_stops_cleanly(void **state)
{
    struct fx *f = *state;
    assert_true(tfix_stop_clean(f->h, f->valgrind, &f->t1, &f->t2, &f->t3, &f->p1, &f->p4,
                                &f->a, &f->b, NULL));
    f->passed++;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_scale_and_settings),
        cmocka_unit_test(test_exams),
        cmocka_unit_test(test_marks),
        cmocka_unit_test(test_grades_and_publication),
        cmocka_unit_test(test_progress_and_distribution),
        cmocka_unit_test(test_server_stops_cleanly),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
