/* Attendance and notices over the socket API: marking a section (and marking it again),
 * corrections with their history and audit entries, the edit window, the event
 * attendance.marked reaching only the child's parents (and kept as a notice for an offline
 * parent), the reports, and every refusal: malformed arguments, another school's ids, a
 * teacher of another section, a parent of another child. The school's structure is made with
 * the shared records fixtures (tests/support/trecords.h). */
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

#define AUDIT_WAIT_MS 5000
#define EVENT_WAIT_MS 3000
#define QUIET_MS 500

/* One server, two schools. A: class 5 with sections A (s1, s2, s3; class teacher teacher1)
 * and B (s4; class teacher teacher2); parent1 and parent1b of s1, parent2 of s2, parent3 of
 * s3. B: one section with student sb. */
struct fx {
    struct harness *h;
    struct tauth_login a, b;
    struct tauth_login t1, t2, p1, p1b, p2; /* logged in once: logins are rate limited per phone */
    int64_t teacher3; /* assigned to 5A for a subject, not its class teacher */
    char teacher3_phone[TAUTH_PHONE_MAX];
    int64_t teacher1, teacher2, parent1, parent1b, parent2, parent3;
    char teacher1_phone[TAUTH_PHONE_MAX], teacher2_phone[TAUTH_PHONE_MAX];
    char parent1_phone[TAUTH_PHONE_MAX], parent1b_phone[TAUTH_PHONE_MAX];
    char parent2_phone[TAUTH_PHONE_MAX], parent3_phone[TAUTH_PHONE_MAX];
    int64_t sec_a, sec_b, sec_other; /* 5A, 5B, school B's */
    int64_t s1, s2, s3, s4, sb;
    bool valgrind;
    int passed;
};

#define N_TESTS 8

/* ---- fixtures (dates: trec_day, the server's "today" is this machine's local date) ---- */

static int group_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    *state = f;
    /* Under valgrind when CLASSMENT_TEST_VALGRIND=1: the last test checks its report. */
    const char *v = getenv("CLASSMENT_TEST_VALGRIND");
    f->valgrind = v && strcmp(v, "1") == 0;
    if (tfix_two_schools(&f->h, &(struct harness_opts){ .valgrind = f->valgrind }, &f->a,
                         &f->b) != 0) {
        return -1;
    }
    f->teacher1 = tfix_user(f->a.c, "teacher", "Teacher One", 11, f->teacher1_phone);
    f->teacher2 = tfix_user(f->a.c, "teacher", "Teacher Two", 12, f->teacher2_phone);
    f->parent1 = tfix_user(f->a.c, "parent", "Parent One", 13, f->parent1_phone);
    f->parent1b = tfix_user(f->a.c, "parent", "Parent One B", 14, f->parent1b_phone);
    f->parent2 = tfix_user(f->a.c, "parent", "Parent Two", 15, f->parent2_phone);
    f->parent3 = tfix_user(f->a.c, "parent", "Parent Three", 16, f->parent3_phone);
    f->teacher3 = tfix_user(f->a.c, "teacher", "Teacher Three", 17, f->teacher3_phone);
    if (f->teacher1 < 0 || f->teacher2 < 0 || f->parent1 < 0 || f->parent1b < 0 ||
        f->parent2 < 0 || f->parent3 < 0 || f->teacher3 < 0) {
        return -1;
    }
    int64_t class_a = 0, class_b = 0;
    f->sec_a = trec_class5_section(f->a.c, "A", f->teacher1, &class_a);
    f->sec_b = trec_class5_section(f->a.c, "B", f->teacher2, &class_a);
    f->sec_other = trec_class5_section(f->b.c, "A", 0, &class_b);
    if (f->sec_a < 0 || f->sec_b < 0 || f->sec_other < 0) {
        return -1;
    }
    int64_t maths = trec_subject(f->a.c, class_a, "Maths");
    if (maths < 0 || trec_assign(f->a.c, f->teacher3, f->sec_a, maths) != 0) {
        return -1;
    }
    f->s1 = trec_student(f->a.c, "Asha", "A-1", "Class 5", "A", 1);
    f->s2 = trec_student(f->a.c, "Bala", "A-2", "Class 5", "A", 2);
    f->s3 = trec_student(f->a.c, "Chitra", "A-3", "Class 5", "A", 3);
    f->s4 = trec_student(f->a.c, "Dev", "B-1", "Class 5", "B", 1);
    f->sb = trec_student(f->b.c, "Esha", "X-1", "Class 5", "A", 1);
    if (f->s1 < 0 || f->s2 < 0 || f->s3 < 0 || f->s4 < 0 || f->sb < 0 ||
        tfix_link_guardian(f->a.c, f->s1, f->parent1) != 0 ||
        tfix_link_guardian(f->a.c, f->s1, f->parent1b) != 0 ||
        tfix_link_guardian(f->a.c, f->s2, f->parent2) != 0 ||
        tfix_link_guardian(f->a.c, f->s3, f->parent3) != 0) {
        return -1;
    }
    if (tauth_login(f->h, f->teacher1_phone, "web", "linux", "1.0", &f->t1) != 0 ||
        tauth_login(f->h, f->teacher2_phone, "web", "linux", "1.0", &f->t2) != 0 ||
        tauth_login(f->h, f->parent1_phone, "android", "14", "1.0", &f->p1) != 0 ||
        tauth_login(f->h, f->parent1b_phone, "android", "14", "1.0", &f->p1b) != 0 ||
        tauth_login(f->h, f->parent2_phone, "android", "14", "1.0", &f->p2) != 0) {
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    struct fx *f = *state;
    if (f) {
        tfix_end(f->h, f->passed == N_TESTS, &f->a, &f->b, &f->t1, &f->t2, &f->p1, &f->p1b,
                 &f->p2, NULL);
        free(f);
    }
    return 0;
}

/* ---- reading replies ---- */

/* The student's row in a students array at path. */
static const msgpack_object *student_row(const struct tmsg *m, const char *path, int64_t id)
{
    for (uint32_t i = 0; i < 100; i++) {
        const msgpack_object *r = tf_item(tmsg_root(m), path, i);
        if (!r) {
            return NULL;
        }
        if (tf_int_is(r, "student", id)) {
            return r;
        }
    }
    return NULL;
}

#define MARK_OK(c, marked, changed, ...)                                                    \
    do {                                                                                    \
        struct tmsg *m_ = tauth_call((c), "attendance.mark", __VA_ARGS__);                  \
        assert_msg(tauth_is_ok(m_) && tf_int_is(tf_at(m_, "data"), "marked", (marked)) &&         \
                       tf_int_is(tf_at(m_, "data"), "changed", (changed)),                        \
                   m_);                                                                     \
        tmsg_free(m_);                                                                      \
    } while (0)

static int64_t sql_count(struct fx *f, const char *sql, int64_t a, int64_t b)
{
    char x[24], y[24];
    return tauth_sql_int(f->h, sql, tf_num(x, a), tf_num(y, b), NULL);
}

/* Waits for the audit entry attendance.mark / attendance / record. */
static void expect_audit(struct fx *f, int64_t record, int64_t want)
{
    uint64_t deadline = tsys_mono_ms() + AUDIT_WAIT_MS;
    int64_t n = -1;
    while (tsys_mono_ms() < deadline) {
        n = sql_count(f,
                      "SELECT count(*) FROM audit_log WHERE op = 'attendance.mark'"
                      " AND record_type = 'attendance' AND record_id = $1 AND outcome = 'ok'"
                      " AND school_id = $2",
                      record, f->a.school_id);
        if (n >= want) {
            break;
        }
        tsys_sleep_ms(100);
    }
    if (n != want) {
        fail_msg("%" PRId64 " audit entries for student %" PRId64 ", expected %" PRId64, n,
                 record, want);
    }
}

/* The next message on c must be attendance.marked for student with status (and note, unless
 * NULL; "" for nil). */
static void expect_event(struct wsclient *c, int64_t student, const char *day,
                         const char *status, const char *note)
{
    struct tmsg *m = tclient_recv(c, EVENT_WAIT_MS);
    assert_non_null(m);
    assert_msg(tmsg_is_event(m, "attendance.marked") &&
                   tf_int_is(tf_at(m, "data"), "student", student) &&
                   tf_str_is(tf_at(m, "data"), "day", day) &&
                   tf_str_is(tf_at(m, "data"), "status", status),
               m);
    if (note) {
        assert_msg(note[0] ? tf_str_is(tf_at(m, "data"), "note", note)
                           : tf_nil_at(tf_at(m, "data"), "note"),
                   m);
    }
    tmsg_free(m);
}

/* Reads and drops whatever arrives until c is quiet for 300 ms. */
static void drain(struct wsclient *c)
{
    for (int i = 0; i < 50 && !tclient_quiet(c, 300); i++) {
    }
}

/* ---- tests ---- */

static void test_mark_get_and_mark_again(void **state)
{
    struct fx *f = *state;
    char today[11], yesterday[11];
    trec_day(0, today);
    trec_day(-1, yesterday);

    /* Unmarked: status nil, marked false; day defaults to today. */
    struct tmsg *m = tauth_call(f->t1.c, "attendance.get", "{section: %D}", f->sec_a);
    assert_msg(tauth_is_ok(m) && tf_int_is(tf_at(m, "data"), "section", f->sec_a) &&
                   tf_str_is(tf_at(m, "data"), "day", today) &&
                   tf_bool_is(tf_at(m, "data"), "marked", false) &&
                   tf_len(tf_at(m, "data"), "students") == 3,
               m);
    const msgpack_object *r = tf_item(tf_at(m, "data"), "students", 0);
    assert_msg(r && tf_int_is(r, "student", f->s1) && tf_str_is(r, "name", "Asha") &&
                   tf_int_is(r, "roll_no", 1) && tf_nil_at(r, "status") && tf_nil_at(r, "note"),
               m);
    tmsg_free(m);

    /* The class teacher marks the section for yesterday. */
    MARK_OK(f->t1.c, 3, 3,
            "{section: %D, day: %s, entries: [{student: %D, status: present},"
            " {student: %D, status: present}, {student: %D, status: leave, note: \"fever\"}]}",
            f->sec_a, yesterday, f->s1, f->s2, f->s3);
    m = tauth_call(f->t1.c, "attendance.get", "{section: %D, day: %s}", f->sec_a, yesterday);
    assert_msg(tauth_is_ok(m) && tf_bool_is(tf_at(m, "data"), "marked", true), m);
    r = student_row(m, "data.students", f->s3);
    assert_msg(r && tf_str_is(r, "status", "leave") && tf_str_is(r, "note", "fever"), m);
    r = student_row(m, "data.students", f->s1);
    assert_msg(r && tf_str_is(r, "status", "present") && tf_nil_at(r, "note"), m);
    tmsg_free(m);
    char d[24], sec[24];
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM attendance WHERE section_id = $1"
                                   " AND day = $2::date AND marked_by = $3",
                                   tf_num(sec, f->sec_a), yesterday, tf_num(d, f->teacher1), NULL),
                     3);

    /* The same again: nothing changes, nothing is recorded. */
    MARK_OK(f->t1.c, 3, 0,
            "{section: %D, day: %s, entries: [{student: %D, status: present},"
            " {student: %D, status: present}, {student: %D, status: leave, note: \"fever\"}]}",
            f->sec_a, yesterday, f->s1, f->s2, f->s3);
    assert_int_equal(sql_count(f, "SELECT count(*) FROM attendance_changes WHERE school_id = $1"
                                  " AND $2::bigint > 0",
                               f->a.school_id, 1),
                     0);
    /* A part of the section may be marked alone. */
    MARK_OK(f->t1.c, 1, 0, "{section: %D, day: %s, entries: [{student: %D, status: present}]}",
            f->sec_a, yesterday, f->s2);
    f->passed++;
}

static void test_corrections_are_audited_with_before_and_after(void **state)
{
    struct fx *f = *state;
    char day[11];
    trec_day(-2, day);
    MARK_OK(f->a.c, 2, 2,
            "{section: %D, day: %s, entries: [{student: %D, status: present},"
            " {student: %D, status: absent, note: \"no word\"}]}",
            f->sec_a, day, f->s1, f->s2);
    /* New marks are not corrections. */
    assert_int_equal(sql_count(f, "SELECT count(*) FROM attendance_changes WHERE student_id IN"
                                  " ($1, $2)",
                               f->s1, f->s2),
                     0);
    /* Correct s1 (present -> late, with a note) and s2's note; s3 is new. */
    MARK_OK(f->a.c, 3, 3,
            "{section: %D, day: %s, entries: [{student: %D, status: late, note: \"bus\"},"
            " {student: %D, status: absent, note: \"ill\"}, {student: %D, status: present}]}",
            f->sec_a, day, f->s1, f->s2, f->s3);
    char st[24], ad[24];
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM attendance_changes WHERE student_id = $1"
                                   " AND day = $2::date AND before_status = 'present'"
                                   " AND before_note IS NULL AND after_status = 'late'"
                                   " AND after_note = 'bus' AND changed_by = $3",
                                   tf_num(st, f->s1), day, tf_num(ad, f->a.user_id), NULL),
                     1);
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM attendance_changes WHERE student_id = $1"
                                   " AND day = $2::date AND before_status = 'absent'"
                                   " AND before_note = 'no word' AND after_status = 'absent'"
                                   " AND after_note = 'ill'",
                                   tf_num(st, f->s2), day, NULL),
                     1);
    assert_int_equal(sql_count(f, "SELECT count(*) FROM attendance_changes WHERE student_id = $1"
                                  " AND $2::bigint > 0",
                               f->s3, 1),
                     0);
    expect_audit(f, f->s1, 1);
    expect_audit(f, f->s2, 1);
    expect_audit(f, f->s3, 0);
    f->passed++;
}

static void test_lock_window_and_future(void **state)
{
    struct fx *f = *state;
    char old[11], edge[11], tomorrow[11];
    trec_day(-8, old);
    trec_day(-7, edge);
    trec_day(1, tomorrow);
    TAUTH_ERR("forbidden", "day", f->t1.c, "attendance.mark",
              "{section: %D, day: %s, entries: [{student: %D, status: present}]}", f->sec_a,
              old, f->s1);
    assert_int_equal(sql_count(f, "SELECT count(*) FROM attendance WHERE student_id = $1"
                                  " AND day < current_date - 7 AND $2::bigint > 0",
                               f->s1, 1),
                     0);
    MARK_OK(f->t1.c, 1, 1, "{section: %D, day: %s, entries: [{student: %D, status: present}]}",
            f->sec_a, edge, f->s1);
    MARK_OK(f->a.c, 1, 1, "{section: %D, day: %s, entries: [{student: %D, status: present}]}",
            f->sec_a, old, f->s1);
    /* Corrections of a locked day: the admin only. */
    TAUTH_ERR("forbidden", "day", f->t1.c, "attendance.mark",
              "{section: %D, day: %s, entries: [{student: %D, status: absent}]}", f->sec_a,
              old, f->s1);
    MARK_OK(f->a.c, 1, 1, "{section: %D, day: %s, entries: [{student: %D, status: late}]}",
            f->sec_a, old, f->s1);
    TAUTH_ERR("bad_request", "day", f->t1.c, "attendance.mark",
              "{section: %D, day: %s, entries: [{student: %D, status: present}]}", f->sec_a,
              tomorrow, f->s1);
    TAUTH_ERR("bad_request", "day", f->a.c, "attendance.mark",
              "{section: %D, day: %s, entries: [{student: %D, status: present}]}", f->sec_a,
              tomorrow, f->s1);
    f->passed++;
}

static void test_the_event_reaches_only_the_childs_parents(void **state)
{
    struct fx *f = *state;
    char today[11];
    trec_day(0, today);
    /* Earlier tests' corrections told these parents already: drain. */
    drain(f->p1.c);
    drain(f->p1b.c);
    drain(f->p2.c);
    /* Earlier tests left notices (their parents were offline): count from here. */
    int64_t base = tauth_sql_int(f->h, "SELECT coalesce(max(id), 0) FROM notices", NULL);
    assert_true(base >= 0);

    /* Present tells no one. */
    MARK_OK(f->t1.c, 3, 3,
            "{entries: [{student: %D, status: present}, {student: %D, status: present},"
            " {student: %D, status: present}], section: %D}",
            f->s1, f->s2, f->s3, f->sec_a);
    assert_true(tclient_quiet(f->p1.c, QUIET_MS));
    assert_true(tclient_quiet(f->p2.c, QUIET_MS));

    /* s1 absent: both of s1's parents hear at once; s2's parent hears nothing. s3 goes
     * late while parent3 is offline. */
    MARK_OK(f->t1.c, 3, 2,
            "{section: %D, entries: [{student: %D, status: absent, note: \"no word yet\"},"
            " {student: %D, status: present}, {student: %D, status: late}]}",
            f->sec_a, f->s1, f->s2, f->s3);
    expect_event(f->p1.c, f->s1, today, "absent", "no word yet");
    expect_event(f->p1b.c, f->s1, today, "absent", "no word yet");
    assert_true(tclient_quiet(f->p2.c, QUIET_MS));
    assert_true(tclient_quiet(f->p1.c, 100));

    /* Again: nothing. A note-only change: nothing. Leave: nothing. */
    MARK_OK(f->t1.c, 1, 0,
            "{section: %D, entries: [{student: %D, status: absent, note: \"no word yet\"}]}",
            f->sec_a, f->s1);
    MARK_OK(f->t1.c, 1, 1,
            "{section: %D, entries: [{student: %D, status: absent, note: \"called\"}]}",
            f->sec_a, f->s1);
    MARK_OK(f->t1.c, 1, 1, "{section: %D, entries: [{student: %D, status: leave}]}", f->sec_a,
            f->s2);
    assert_true(tclient_quiet(f->p1.c, QUIET_MS));
    assert_true(tclient_quiet(f->p2.c, 100));
    /* Absent -> late is news. */
    MARK_OK(f->t1.c, 1, 1, "{section: %D, entries: [{student: %D, status: late}]}", f->sec_a,
            f->s1);
    expect_event(f->p1.c, f->s1, today, "late", "");
    expect_event(f->p1b.c, f->s1, today, "late", "");
    assert_true(tclient_quiet(f->p2.c, QUIET_MS));

    /* The notices: parent1 has two, parent2 none. */
    struct tmsg *m = tauth_call(f->p1.c, "notice.list", "{after: %D}", base);
    assert_msg(tauth_is_ok(m) && tf_len(tmsg_root(m), "data") == 2, m);
    const msgpack_object *n0 = tf_item(tmsg_root(m), "data", 0);
    const msgpack_object *n1 = tf_item(tmsg_root(m), "data", 1);
    assert_msg(n0 && n1 && tf_str_is(n0, "kind", "attendance") && tf_int_is(n0, "student", f->s1) &&
                   tf_str_is(n0, "day", today) && tf_str_is(n0, "status", "absent") &&
                   tf_str_is(n0, "note", "no word yet") && tf_bool_is(n0, "read", false) &&
                   tf_int_of(n0, "at") > 0 && tf_str_is(n1, "status", "late") &&
                   tf_nil_at(n1, "note") && tf_int_of(n1, "id") > tf_int_of(n0, "id"),
               m);
    int64_t first = tf_int_of(n0, "id"), second = tf_int_of(n1, "id");
    tmsg_free(m);
    m = tauth_call(f->p2.c, "notice.list", "{after: %D}", base);
    assert_msg(tauth_is_ok(m) && tf_len(tmsg_root(m), "data") == 0, m);
    tmsg_free(m);
    /* Paging and reading. */
    m = tauth_call(f->p1.c, "notice.list", "{after: %D, limit: 1}", first);
    assert_msg(tauth_is_ok(m) && tf_len(tmsg_root(m), "data") == 1 &&
                   tf_int_is(tf_item(tmsg_root(m), "data", 0), "id", second),
               m);
    tmsg_free(m);
    /* Another user's notice ids mark nothing of theirs. */
    TAUTH_OK(f->p2.c, "notice.read", "{upto: %D}", second);
    TAUTH_OK(f->p1.c, "notice.read", "{upto: %D}", first);
    m = tauth_call(f->p1.c, "notice.list", "{after: %D}", base);
    assert_msg(tauth_is_ok(m) && tf_bool_is(tf_item(tmsg_root(m), "data", 0), "read", true) &&
                   tf_bool_is(tf_item(tmsg_root(m), "data", 1), "read", false),
               m);
    tmsg_free(m);
    m = tauth_call(f->p1b.c, "notice.list", "{after: %D}", base);
    assert_msg(tauth_is_ok(m) && tf_len(tmsg_root(m), "data") == 2 &&
                   tf_bool_is(tf_item(tmsg_root(m), "data", 0), "read", false),
               m);
    tmsg_free(m);
    TAUTH_ERR("bad_request", "upto", f->p1.c, "notice.read", "{upto: 0}");
    TAUTH_ERR("bad_request", "upto", f->p1.c, "notice.read", NULL);
    TAUTH_ERR("bad_request", "limit", f->p1.c, "notice.list", "{limit: 201}");
    TAUTH_ERR("bad_request", "after", f->p1.c, "notice.list", "{after: -1}");

    /* parent3 was offline: the late mark waits in their notices. */
    struct tauth_login p3;
    assert_int_equal(tauth_login(f->h, f->parent3_phone, "android", "14", "1.0", &p3), 0);
    m = tauth_call(p3.c, "notice.list", "{after: %D}", base);
    assert_msg(tauth_is_ok(m) && tf_len(tmsg_root(m), "data") == 1 &&
                   tf_int_is(tf_item(tmsg_root(m), "data", 0), "student", f->s3) &&
                   tf_str_is(tf_item(tmsg_root(m), "data", 0), "status", "late"),
               m);
    tmsg_free(m);
    assert_int_equal(sql_count(f, "SELECT count(*) FROM notices WHERE user_id = $1"
                                  " AND school_id = $2 AND status = 'late'",
                               f->parent3, f->a.school_id),
                     1);
    /* notice.list without after starts at the oldest. */
    m = tauth_call(p3.c, "notice.list", NULL);
    assert_msg(tauth_is_ok(m) && tf_len(tmsg_root(m), "data") >= 1, m);
    tmsg_free(m);
    tauth_login_close(&p3);
    f->passed++;
}

static void test_mark_refusals(void **state)
{
    struct fx *f = *state;
    char long_note[202];
    memset(long_note, 'x', 201);
    long_note[201] = '\0';
    struct wsclient *c = f->t1.c;
    TAUTH_ERR("bad_request", "section", c, "attendance.mark",
              "{entries: [{student: %D, status: present}]}", f->s1);
    TAUTH_ERR("bad_request", "entries", c, "attendance.mark", "{section: %D}", f->sec_a);
    TAUTH_ERR("bad_request", "entries", c, "attendance.mark", "{section: %D, entries: []}",
              f->sec_a);
    TAUTH_ERR("bad_request", "entries", c, "attendance.mark", "{section: %D, entries: 3}",
              f->sec_a);
    TAUTH_ERR("bad_request", "entries[0]", c, "attendance.mark",
              "{section: %D, entries: [nil]}", f->sec_a);
    TAUTH_ERR("bad_request", "day", c, "attendance.mark",
              "{section: %D, day: \"2026-02-30\", entries: [{student: %D, status: present}]}",
              f->sec_a, f->s1);
    TAUTH_ERR("bad_request", "day", c, "attendance.mark",
              "{section: %D, day: \"yesterday\", entries: [{student: %D, status: present}]}",
              f->sec_a, f->s1);
    TAUTH_ERR("bad_request", "entries[1].status", c, "attendance.mark",
              "{section: %D, entries: [{student: %D, status: present},"
              " {student: %D, status: gone}]}",
              f->sec_a, f->s1, f->s2);
    TAUTH_ERR("bad_request", "entries[0].student", c, "attendance.mark",
              "{section: %D, entries: [{status: present}]}", f->sec_a);
    TAUTH_ERR("bad_request", "entries[0].note", c, "attendance.mark",
              "{section: %D, entries: [{student: %D, status: absent, note: %s}]}", f->sec_a,
              f->s1, long_note);
    TAUTH_ERR("bad_request", "entries[0].note", c, "attendance.mark",
              "{section: %D, entries: [{student: %D, status: absent, note: \"\"}]}", f->sec_a,
              f->s1);
    /* A student of another section, of another school, or unknown: nothing is written. */
    char day[11];
    trec_day(-3, day);
    TAUTH_ERR("bad_request", "entries[1].student", c, "attendance.mark",
              "{section: %D, day: %s, entries: [{student: %D, status: absent},"
              " {student: %D, status: absent}]}",
              f->sec_a, day, f->s1, f->s4);
    TAUTH_ERR("bad_request", "entries[2].student", c, "attendance.mark",
              "{section: %D, day: %s, entries: [{student: %D, status: absent},"
              " {student: %D, status: absent}, {student: %D, status: absent}]}",
              f->sec_a, day, f->s1, f->s2, f->sb);
    TAUTH_ERR("bad_request", "entries[0].student", c, "attendance.mark",
              "{section: %D, day: %s, entries: [{student: 99999999, status: absent}]}",
              f->sec_a, day);
    TAUTH_ERR("bad_request", "entries[2].student", c, "attendance.mark",
              "{section: %D, day: %s, entries: [{student: %D, status: absent},"
              " {student: %D, status: absent}, {student: %D, status: late}]}",
              f->sec_a, day, f->s1, f->s2, f->s1);
    assert_int_equal(tauth_sql_int(f->h, "SELECT count(*) FROM attendance WHERE day = $1::date",
                                   day, NULL),
                     0);
    /* A left student is no longer markable. */
    char s3[24];
    assert_int_equal(tauth_sql(f->h,
                               "UPDATE students SET status = 'left', active = false,"
                               " left_on = current_date WHERE id = $1",
                               tf_num(s3, f->s3), NULL),
                     1);
    TAUTH_ERR("bad_request", "entries[0].student", c, "attendance.mark",
              "{section: %D, day: %s, entries: [{student: %D, status: absent}]}", f->sec_a, day,
              f->s3);
    assert_int_equal(tauth_sql(f->h,
                               "UPDATE students SET status = 'enrolled', active = true,"
                               " left_on = NULL WHERE id = $1",
                               tf_num(s3, f->s3), NULL),
                     1);
    /* Scope: another section's teacher, another school's section, unknown, other roles. */
    TAUTH_ERR("forbidden", "section", f->t2.c, "attendance.mark",
              "{section: %D, entries: [{student: %D, status: absent}]}", f->sec_a, f->s1);
    TAUTH_ERR("forbidden", "section", c, "attendance.mark",
              "{section: %D, entries: [{student: %D, status: absent}]}", f->sec_b, f->s4);
    TAUTH_ERR("not_found", "section", c, "attendance.mark",
              "{section: %D, entries: [{student: %D, status: absent}]}", f->sec_other, f->sb);
    TAUTH_ERR("not_found", "section", f->a.c, "attendance.mark",
              "{section: %D, entries: [{student: %D, status: absent}]}", f->sec_other, f->sb);
    TAUTH_ERR("not_found", "section", f->b.c, "attendance.mark",
              "{section: %D, entries: [{student: %D, status: absent}]}", f->sec_a, f->s1);
    TAUTH_ERR("not_found", "section", f->a.c, "attendance.mark",
              "{section: 99999999, entries: [{student: %D, status: absent}]}", f->s1);
    TAUTH_ERR("forbidden", NULL, f->p1.c, "attendance.mark",
              "{section: %D, entries: [{student: %D, status: absent}]}", f->sec_a, f->s1);
    /* A teacher assigned to the section for a subject may mark it, and no other. */
    struct tauth_login t3;
    assert_int_equal(tauth_login(f->h, f->teacher3_phone, "web", "linux", "1.0", &t3), 0);
    MARK_OK(t3.c, 1, 1, "{section: %D, day: %s, entries: [{student: %D, status: present}]}",
            f->sec_a, day, f->s2);
    TAUTH_OK(t3.c, "attendance.get", "{section: %D, day: %s}", f->sec_a, day);
    TAUTH_ERR("forbidden", "section", t3.c, "attendance.mark",
              "{section: %D, entries: [{student: %D, status: absent}]}", f->sec_b, f->s4);
    TAUTH_ERR("forbidden", "student", t3.c, "attendance.student",
              "{student: %D, from: %s, to: %s}", f->s4, day, day);
    TAUTH_OK(t3.c, "attendance.student", "{student: %D, from: %s, to: %s}", f->s2, day, day);
    tauth_login_close(&t3);
    /* The other section's own teacher may. */
    MARK_OK(f->t2.c, 1, 1, "{section: %D, day: %s, entries: [{student: %D, status: absent}]}",
            f->sec_b, day, f->s4);
    /* get refuses the same way. */
    TAUTH_ERR("forbidden", "section", f->t2.c, "attendance.get", "{section: %D}", f->sec_a);
    TAUTH_ERR("not_found", "section", f->b.c, "attendance.get", "{section: %D}", f->sec_a);
    TAUTH_ERR("forbidden", NULL, f->p1.c, "attendance.get", "{section: %D}", f->sec_a);
    TAUTH_ERR("bad_request", "day", c, "attendance.get", "{section: %D, day: \"2026-13-01\"}",
              f->sec_a);
    TAUTH_ERR("bad_request", "section", c, "attendance.get", NULL);
    f->passed++;
}

static void test_student_summary(void **state)
{
    struct fx *f = *state;
    /* s4 alone, on days of its own: present, late, absent, leave. */
    char d[4][11], from[11], to[11];
    for (int i = 0; i < 4; i++) {
        trec_day(-10 - i, d[i]);
    }
    trec_day(-20, from);
    trec_day(0, to);
    const char *statuses[4] = { "present", "late", "absent", "leave" };
    for (int i = 0; i < 4; i++) {
        MARK_OK(f->a.c, 1, 1, "{section: %D, day: %s, entries: [{student: %D, status: %s}]}",
                f->sec_b, d[i], f->s4, statuses[i]);
    }
    /* The absent of test_mark_refusals (3 days ago) makes five marked days:
     * present 1, late 1, absent 2, leave 1: (1 + 1) / 5 = 40 %. */
    struct tmsg *m = tauth_call(f->a.c, "attendance.student", "{student: %D, from: %s, to: %s}",
                                f->s4, from, to);
    const msgpack_object *dt = tf_at(m, "data");
    assert_msg(tauth_is_ok(m) && tf_int_is(dt, "student", f->s4) && tf_str_is(dt, "from", from) &&
                   tf_str_is(dt, "to", to) && tf_int_is(dt, "present", 1) &&
                   tf_int_is(dt, "late", 1) && tf_int_is(dt, "absent", 2) &&
                   tf_int_is(dt, "leave", 1) && tf_int_is(dt, "marked_days", 5) &&
                   tf_len(dt, "days") == 5 && tf_str_is(tf_item(dt, "days", 0), "day", d[3]) &&
                   tf_str_is(tf_item(dt, "days", 0), "status", "leave") &&
                   tf_nil_at(tf_item(dt, "days", 0), "note"),
               m);
    const msgpack_object *pc = tmsg_get(dt, "percentage");
    assert_msg(pc && pc->type == MSGPACK_OBJECT_FLOAT64 && pc->via.f64 > 39.99 &&
                   pc->via.f64 < 40.01,
               m);
    tmsg_free(m);
    /* Nothing marked: percentage nil. */
    m = tauth_call(f->a.c, "attendance.student",
                   "{student: %D, from: \"2025-01-01\", to: \"2025-12-31\"}", f->s4);
    assert_msg(tauth_is_ok(m) && tf_int_is(tf_at(m, "data"), "marked_days", 0) &&
                   tf_nil_at(tf_at(m, "data"), "percentage") &&
                   tf_len(tf_at(m, "data"), "days") == 0,
               m);
    tmsg_free(m);
    /* Scope. */
    TAUTH_OK(f->t2.c, "attendance.student", "{student: %D, from: %s, to: %s}", f->s4, from, to);
    TAUTH_OK(f->p1.c, "attendance.student", "{student: %D, from: %s, to: %s}", f->s1, from, to);
    TAUTH_ERR("forbidden", "student", f->t1.c, "attendance.student",
              "{student: %D, from: %s, to: %s}", f->s4, from, to);
    TAUTH_ERR("forbidden", "student", f->p2.c, "attendance.student",
              "{student: %D, from: %s, to: %s}", f->s1, from, to);
    TAUTH_ERR("not_found", "student", f->b.c, "attendance.student",
              "{student: %D, from: %s, to: %s}", f->s1, from, to);
    TAUTH_ERR("not_found", "student", f->a.c, "attendance.student",
              "{student: %D, from: %s, to: %s}", f->sb, from, to);
    TAUTH_ERR("bad_request", "to", f->a.c, "attendance.student",
              "{student: %D, from: \"2025-01-01\", to: \"2026-01-02\"}", f->s4);
    TAUTH_OK(f->a.c, "attendance.student",
             "{student: %D, from: \"2024-01-01\", to: \"2024-12-31\"}", f->s4);
    TAUTH_ERR("bad_request", "to", f->a.c, "attendance.student",
              "{student: %D, from: \"2025-01-02\", to: \"2025-01-01\"}", f->s4);
    TAUTH_ERR("bad_request", "from", f->a.c, "attendance.student",
              "{student: %D, from: \"2025-1-02\", to: \"2025-01-01\"}", f->s4);
    TAUTH_ERR("bad_request", "to", f->a.c, "attendance.student",
              "{student: %D, from: \"2025-01-02\"}", f->s4);
    f->passed++;
}

static void test_register_and_absentees(void **state)
{
    struct fx *f = *state;
    /* A month of its own, in the past: 2026-01. Admin only (locked for teachers). */
    MARK_OK(f->a.c, 3, 3,
            "{section: %D, day: \"2026-01-05\", entries: [{student: %D, status: present},"
            " {student: %D, status: absent}, {student: %D, status: late}]}",
            f->sec_a, f->s1, f->s2, f->s3);
    MARK_OK(f->a.c, 2, 2,
            "{section: %D, day: \"2026-01-07\", entries: [{student: %D, status: leave},"
            " {student: %D, status: present}]}",
            f->sec_a, f->s1, f->s3);
    struct tmsg *m = tauth_call(f->t1.c, "attendance.register", "{section: %D, month: \"2026-01\"}",
                                f->sec_a);
    const msgpack_object *dt = tf_at(m, "data");
    assert_msg(tauth_is_ok(m) && tf_int_is(dt, "section", f->sec_a) &&
                   tf_str_is(dt, "month", "2026-01") && tf_len(dt, "days") == 2 &&
                   tf_str_is(tf_item(dt, "days", 0), "", "2026-01-05") &&
                   tf_str_is(tf_item(dt, "days", 1), "", "2026-01-07") &&
                   tf_len(dt, "students") == 3,
               m);
    const msgpack_object *r1 = student_row(m, "data.students", f->s1);
    const msgpack_object *r2 = student_row(m, "data.students", f->s2);
    const msgpack_object *r3 = student_row(m, "data.students", f->s3);
    assert_msg(r1 && tf_str_is(r1, "name", "Asha") && tf_int_is(r1, "roll_no", 1) &&
                   tf_len(r1, "marks") == 2 && tf_str_is(tf_item(r1, "marks", 0), "", "P") &&
                   tf_str_is(tf_item(r1, "marks", 1), "", "V"),
               m);
    assert_msg(r2 && tf_str_is(tf_item(r2, "marks", 0), "", "A") &&
                   tf_nil_at(tf_item(r2, "marks", 1), ""),
               m);
    assert_msg(r3 && tf_str_is(tf_item(r3, "marks", 0), "", "L") &&
                   tf_str_is(tf_item(r3, "marks", 1), "", "P"),
               m);
    tmsg_free(m);
    /* An empty month. */
    m = tauth_call(f->t1.c, "attendance.register", "{section: %D, month: \"2025-06\"}", f->sec_a);
    assert_msg(tauth_is_ok(m) && tf_len(tf_at(m, "data"), "days") == 0 &&
                   tf_len(tf_at(m, "data"), "students") == 3 &&
                   tf_len(tf_item(tf_at(m, "data"), "students", 0), "marks") == 0,
               m);
    tmsg_free(m);
    TAUTH_ERR("forbidden", "section", f->t2.c, "attendance.register",
              "{section: %D, month: \"2026-01\"}", f->sec_a);
    TAUTH_ERR("not_found", "section", f->b.c, "attendance.register",
              "{section: %D, month: \"2026-01\"}", f->sec_a);
    TAUTH_ERR("bad_request", "month", f->t1.c, "attendance.register",
              "{section: %D, month: \"2026-13\"}", f->sec_a);
    TAUTH_ERR("bad_request", "month", f->t1.c, "attendance.register",
              "{section: %D, month: \"2026-1\"}", f->sec_a);
    TAUTH_ERR("bad_request", "month", f->t1.c, "attendance.register",
              "{section: %D, month: \"2026-01-01\"}", f->sec_a);
    TAUTH_ERR("bad_request", "month", f->t1.c, "attendance.register", "{section: %D}", f->sec_a);

    /* Absentees of 2026-01-05: s2 absent, s3 late; not s1 (present). */
    m = tauth_call(f->a.c, "attendance.absentees", "{day: \"2026-01-05\"}");
    assert_msg(tauth_is_ok(m) && tf_len(tmsg_root(m), "data") == 2, m);
    const msgpack_object *a0 = tf_item(tmsg_root(m), "data", 0);
    const msgpack_object *a1 = tf_item(tmsg_root(m), "data", 1);
    assert_msg(a0 && tf_int_is(a0, "student", f->s2) && tf_str_is(a0, "name", "Bala") &&
                   tf_str_is(a0, "class", "Class 5") && tf_str_is(a0, "section", "A") &&
                   tf_str_is(a0, "status", "absent") && tf_nil_at(a0, "note") && a1 &&
                   tf_int_is(a1, "student", f->s3) && tf_str_is(a1, "status", "late"),
               m);
    tmsg_free(m);
    /* Today (the default): s1 late from the event test; another school sees none of it. */
    m = tauth_call(f->a.c, "attendance.absentees", NULL);
    assert_msg(tauth_is_ok(m) && tf_len(tmsg_root(m), "data") >= 1, m);
    tmsg_free(m);
    m = tauth_call(f->b.c, "attendance.absentees", "{day: \"2026-01-05\"}");
    assert_msg(tauth_is_ok(m) && tf_len(tmsg_root(m), "data") == 0, m);
    tmsg_free(m);
    TAUTH_ERR("forbidden", NULL, f->t1.c, "attendance.absentees", NULL);
    TAUTH_ERR("bad_request", "day", f->a.c, "attendance.absentees", "{day: \"05-01-2026\"}");
    f->passed++;
}

/* The server stops cleanly: under valgrind, with no invalid access and nothing lost (the
 * events built once per child and shared by its parents' connections are all released). */
static void test_server_stops_cleanly(void **state)
{
    struct fx *f = *state;
    assert_true(tfix_stop_clean(f->h, f->valgrind, &f->t1, &f->t2, &f->p1, &f->p1b, &f->p2,
                                &f->a, &f->b, NULL));
    f->passed++;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mark_get_and_mark_again),
        cmocka_unit_test(test_corrections_are_audited_with_before_and_after),
        cmocka_unit_test(test_lock_window_and_future),
        cmocka_unit_test(test_the_event_reaches_only_the_childs_parents),
        cmocka_unit_test(test_mark_refusals),
        cmocka_unit_test(test_student_summary),
        cmocka_unit_test(test_register_and_absentees),
        cmocka_unit_test(test_server_stops_cleanly),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
