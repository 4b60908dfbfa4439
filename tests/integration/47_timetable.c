/* The timetable over the socket API and the calendar export over HTTP: the bell schedule,
 * a section's slots with every conflict (teacher, room, a teacher not assigned), the three
 * views with their scope (a teacher of another section, a parent of another child, another
 * school), and GET /v1/calendar/<token>.ics for a teacher, a parent and an admin, with a
 * replaced and a revoked token. One server and two schools serve every test. */
#define _GNU_SOURCE /* strcasestr */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <msgpack.h>

#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tcheck.h"
#include "tests/support/tclient.h"
#include "tests/support/tfixture.h"
#include "tests/support/trecords.h"
#include "tests/support/tsys.h"

#define HTTP_WAIT_MS 5000

/* School A: class 5 with sections A and B (subjects Maths and English), class 6 with Art;
 * t1 teaches Maths in 5A and 5B, t2 English in 5A and 5B, t3 English in 5B only; p1's child
 * is in 5A, p2's in 5B. School B: one of everything. */
struct fx {
    struct harness *h;
    struct tauth_login a, a2, b, t1, t2, t3, p1, p2; /* a2: A's second admin */
    int64_t c5, c6, s5a, s5b, maths, english, art6, teacher1, teacher2, teacher3;
    int64_t parent1, parent2, st1, st2;
    int64_t b_section, b_subject, b_teacher, b_student;
    int passed;
};

#define N_TESTS 6

static int group_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    *state = f;
    char ph[5][TAUTH_PHONE_MAX], pbt[TAUTH_PHONE_MAX];
    if (tfix_two_schools(&f->h, NULL, &f->a, &f->b) != 0) {
        return -1;
    }
    struct wsclient *a = f->a.c, *b = f->b.c;
    f->teacher1 = tfix_user(a, "teacher", "Teacher One", 31, ph[0]);
    f->teacher2 = tfix_user(a, "teacher", "Teacher Two", 32, ph[1]);
    f->teacher3 = tfix_user(a, "teacher", "Teacher Three", 33, ph[2]);
    f->parent1 = tfix_user(a, "parent", "Parent One", 41, ph[3]);
    f->parent2 = tfix_user(a, "parent", "Parent Two", 42, ph[4]);
    f->b_teacher = tfix_user(b, "teacher", "Teacher B", 51, pbt);
    char pa2[TAUTH_PHONE_MAX];
    if (tfix_user(a, "admin", "Admin A2", 3, pa2) < 0 ||
        tauth_login(f->h, pa2, "web", "linux", "1.0", &f->a2) != 0) {
        return -1;
    }
    if (trec_year(a, "2026-27", "2026-06-01", "2027-03-31", true) < 0 ||
        (f->c5 = trec_class(a, "5")) < 0 || (f->c6 = trec_class(a, "6")) < 0 ||
        (f->s5a = trec_section(a, f->c5, "A", 0)) < 0 ||
        (f->s5b = trec_section(a, f->c5, "B", 0)) < 0 ||
        (f->maths = trec_subject(a, f->c5, "Maths")) < 0 ||
        (f->english = trec_subject(a, f->c5, "English")) < 0 ||
        (f->art6 = trec_subject(a, f->c6, "Art")) < 0 ||
        trec_assign(a, f->teacher1, f->s5a, f->maths) != 0 ||
        trec_assign(a, f->teacher1, f->s5b, f->maths) != 0 ||
        trec_assign(a, f->teacher2, f->s5a, f->english) != 0 ||
        trec_assign(a, f->teacher2, f->s5b, f->english) != 0 ||
        trec_assign(a, f->teacher3, f->s5b, f->english) != 0 ||
        (f->st1 = trec_student(a, "Asha", "A-1", "5", "A", 1)) < 0 ||
        (f->st2 = trec_student(a, "Ravi", "A-2", "5", "B", 1)) < 0 ||
        tfix_link_guardian(a, f->st1, f->parent1) != 0 ||
        tfix_link_guardian(a, f->st2, f->parent2) != 0) {
        return -1;
    }
    int64_t b5;
    if (trec_year(b, "2026-27", "2026-06-01", "2027-03-31", true) < 0 ||
        (b5 = trec_class(b, "5")) < 0 || (f->b_section = trec_section(b, b5, "A", 0)) < 0 ||
        (f->b_subject = trec_subject(b, b5, "Maths")) < 0 ||
        trec_assign(b, f->b_teacher, f->b_section, f->b_subject) != 0 ||
        (f->b_student = trec_student(b, "Bea", "B-1", "5", "A", 1)) < 0) {
        return -1;
    }
    if (tauth_login(f->h, ph[0], "web", "linux", "1.0", &f->t1) != 0 ||
        tauth_login(f->h, ph[1], "web", "linux", "1.0", &f->t2) != 0 ||
        tauth_login(f->h, ph[2], "web", "linux", "1.0", &f->t3) != 0 ||
        tauth_login(f->h, ph[3], "web", "linux", "1.0", &f->p1) != 0 ||
        tauth_login(f->h, ph[4], "web", "linux", "1.0", &f->p2) != 0) {
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    struct fx *f = *state;
    if (f) {
        tfix_end(f->h, f->passed == N_TESTS, &f->a, &f->a2, &f->b, &f->t1, &f->t2, &f->t3, &f->p1,
                 &f->p2, NULL);
        free(f);
    }
    return 0;
}

/* ---- reading replies ---- */

static const msgpack_object *item(const msgpack_object *arr, uint32_t i)
{
    return arr && arr->type == MSGPACK_OBJECT_ARRAY && i < arr->via.array.size
               ? &arr->via.array.ptr[i]
               : NULL;
}

static long len_of(const msgpack_object *arr)
{
    return arr && arr->type == MSGPACK_OBJECT_ARRAY ? (long)arr->via.array.size : -1;
}

static bool str_has(const struct tmsg *m, const char *path, const char *part)
{
    const msgpack_object *o = m ? tmsg_get(tmsg_root(m), path) : NULL;
    if (!o || o->type != MSGPACK_OBJECT_STR) {
        return false;
    }
    char buf[512];
    size_t n = o->via.str.size < sizeof buf - 1 ? o->via.str.size : sizeof buf - 1;
    memcpy(buf, o->via.str.ptr, n);
    buf[n] = '\0';
    return strstr(buf, part) != NULL;
}

/* CALL_ERR (tfixture.h), also requiring part in error.message. */
#define CALL_ERR_MSG(code, field, part, c, op, ...)                                          \
    do {                                                                                     \
        struct tmsg *m_ = tauth_call((c), (op), __VA_ARGS__);                                 \
        if (!tauth_is_err(m_, (code), (field)) || !str_has(m_, "error.message", (part))) {   \
            fail_msg("%s line %d: expected %s (field %s, \"%s\"), got %s", (op), __LINE__,   \
                     (code), (field) ? (field) : "-", (part), tmsg_text(m_));                \
        }                                                                                    \
        tmsg_free(m_);                                                                       \
    } while (0)

static int64_t slot(struct wsclient *c, int64_t section, int weekday, int period,
                    int64_t subject, int64_t teacher, const char *room)
{
    struct tmsg *m =
        room ? tauth_call(c, "timetable.set",
                          "{section: %D, weekday: %d, period: %d, subject: %D, teacher: %D,"
                          " room: %s}",
                          section, weekday, period, subject, teacher, room)
             : tauth_call(c, "timetable.set",
                          "{section: %D, weekday: %d, period: %d, subject: %D, teacher: %D}",
                          section, weekday, period, subject, teacher);
    int64_t id = tf_int_of(tf_data(m), "id");
    if (!tauth_is_ok(m) || id <= 0) {
        fail_msg("timetable.set: %s", tmsg_text(m));
    }
    tmsg_free(m);
    return id;
}

/* Monday: periods 1 and 2; Tuesday: period 1. */
static void set_bells(struct fx *f)
{
    TAUTH_OK(f->a.c, "timetable.bells.set",
             "{weekday: 1, periods: [{period: 1, starts: \"08:00\", ends: \"08:45\","
             " name: First}, {period: 2, starts: \"08:50\", ends: \"09:35\"}]}");
    TAUTH_OK(f->a.c, "timetable.bells.set",
             "{weekday: 2, periods: [{period: 1, starts: \"08:00\", ends: \"08:45\"}]}");
}

/* Requires school A's audit log to hold an entry for op with this outcome (and this record id,
 * unless record is 0) within 5 s. */
static void expect_audit(struct fx *f, const char *op, const char *outcome, int64_t record)
{
    if (!tfix_audit_seen(f->h, f->a.school_id, op, "", record, outcome)) {
        fail_msg("no audit entry %s %s", op, outcome);
    }
}

/* ---- the bell schedule ---- */

static void test_bells_set_list_replace_and_refusals(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    set_bells(f);
    struct tmsg *m = CALL_OK(a, "timetable.bells.list", NULL);
    const msgpack_object *d = tf_data(m);
    assert_msg(len_of(d) == 3, m);
    assert_msg(tf_int_is(item(d, 0), "weekday", 1) && tf_int_is(item(d, 0), "period", 1) &&
                   tf_str_is(item(d, 0), "starts", "08:00") &&
                   tf_str_is(item(d, 0), "ends", "08:45") && tf_str_is(item(d, 0), "name", "First"),
               m);
    assert_msg(tf_int_is(item(d, 1), "period", 2) && tf_str_is(item(d, 1), "starts", "08:50") &&
                   tf_nil_at(item(d, 1), "name"),
               m);
    assert_msg(tf_int_is(item(d, 2), "weekday", 2) && tf_int_is(item(d, 2), "period", 1), m);
    tmsg_free(m);
    /* Everyone of the school reads it; another school has its own (none). */
    struct wsclient *readers[] = { f->t1.c, f->p1.c };
    for (size_t i = 0; i < 2; i++) {
        m = CALL_OK(readers[i], "timetable.bells.list", NULL);
        assert_msg(len_of(tf_data(m)) == 3, m);
        tmsg_free(m);
    }
    m = CALL_OK(f->b.c, "timetable.bells.list", NULL);
    assert_msg(len_of(tf_data(m)) == 0, m);
    tmsg_free(m);

    /* Replacing a day: Wednesday gets one period, then none. */
    TAUTH_OK(a, "timetable.bells.set",
             "{weekday: 3, periods: [{period: 4, starts: \"10:00\", ends: \"10:40\"}]}");
    char school[24];
    tf_num(school, f->a.school_id);
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM bell_periods WHERE school_id = $1"
                                   " AND weekday = 3 AND period = 4 AND starts = '10:00'",
                                   school, NULL),
                     1);
    TAUTH_OK(a, "timetable.bells.set", "{weekday: 3, periods: []}");
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM bell_periods WHERE school_id = $1"
                                   " AND weekday = 3",
                                   school, NULL),
                     0);

    /* Refusals name the element. */
    CALL_ERR("bad_request", "weekday", a, "timetable.bells.set", "{weekday: 0, periods: []}");
    CALL_ERR("bad_request", "weekday", a, "timetable.bells.set", "{weekday: 8, periods: []}");
    CALL_ERR("bad_request", "periods", a, "timetable.bells.set", "{weekday: 1}");
    CALL_ERR("bad_request", "periods[0].starts", a, "timetable.bells.set",
             "{weekday: 4, periods: [{period: 1, starts: \"8:00\", ends: \"08:45\"}]}");
    CALL_ERR("bad_request", "periods[0].starts", a, "timetable.bells.set",
             "{weekday: 4, periods: [{period: 1, starts: \"24:00\", ends: \"08:45\"}]}");
    CALL_ERR("bad_request", "periods[0].ends", a, "timetable.bells.set",
             "{weekday: 4, periods: [{period: 1, starts: \"08:00\", ends: \"08:6x\"}]}");
    CALL_ERR_MSG("bad_request", "periods[0].ends", "after", a, "timetable.bells.set",
                 "{weekday: 4, periods: [{period: 1, starts: \"08:45\", ends: \"08:45\"}]}");
    CALL_ERR_MSG("bad_request", "periods[1].starts", "overlaps period 1", a,
                 "timetable.bells.set",
                 "{weekday: 4, periods: [{period: 1, starts: \"08:00\", ends: \"08:45\"},"
                 " {period: 2, starts: \"08:30\", ends: \"09:00\"}]}");
    CALL_ERR_MSG("bad_request", "periods[1].period", "twice", a, "timetable.bells.set",
                 "{weekday: 4, periods: [{period: 1, starts: \"08:00\", ends: \"08:45\"},"
                 " {period: 1, starts: \"09:00\", ends: \"09:45\"}]}");
    CALL_ERR("bad_request", "periods[0].period", a, "timetable.bells.set",
             "{weekday: 4, periods: [{period: 17, starts: \"08:00\", ends: \"08:45\"}]}");
    CALL_ERR("bad_request", "periods[0]", a, "timetable.bells.set",
             "{weekday: 4, periods: [7]}");
    CALL_ERR("forbidden", NULL, f->t1.c, "timetable.bells.set", "{weekday: 4, periods: []}");
    expect_audit(f, "timetable.bells.set", "ok", 3);
    /* Nothing of the refused requests was written. */
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM bell_periods WHERE school_id = $1"
                                   " AND weekday = 4",
                                   school, NULL),
                     0);
    f->passed++;
}

/* ---- a section's slots ---- */

static void test_timetable_set_conflicts_and_refusals(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    set_bells(f);
    int64_t id = slot(a, f->s5a, 1, 1, f->maths, f->teacher1, "R1");
    char ids[24], sec[24];
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM timetable_slots WHERE id = $1"
                                   " AND section_id = $2 AND weekday = 1 AND period = 1"
                                   " AND room = 'R1'",
                                   tf_num(ids, id), tf_num(sec, f->s5a), NULL),
                     1);
    /* The teacher is in 5 A then; the room is used by 5 A then. */
    CALL_ERR_MSG("conflict", "teacher", "5 A", a, "timetable.set",
                 "{section: %D, weekday: 1, period: 1, subject: %D, teacher: %D}", f->s5b,
                 f->maths, f->teacher1);
    CALL_ERR_MSG("conflict", "room", "5 A", a, "timetable.set",
                 "{section: %D, weekday: 1, period: 1, subject: %D, teacher: %D, room: R1}",
                 f->s5b, f->english, f->teacher2);
    slot(a, f->s5b, 1, 1, f->english, f->teacher2, "R2");
    expect_audit(f, "timetable.set", "ok", id);
    expect_audit(f, "timetable.set", "conflict", 0);
    char school[24];
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM audit_log WHERE op = 'timetable.set'"
                                   " AND outcome = 'ok' AND school_id = $1"
                                   " AND (record_id IS NULL OR record_id = 0)",
                                   tf_num(school, f->a.school_id), NULL),
                     0);
    /* t3 teaches English in 5B only. */
    CALL_ERR_MSG("conflict", "teacher", "not assigned to this section and subject", a,
                 "timetable.set",
                 "{section: %D, weekday: 1, period: 2, subject: %D, teacher: %D}", f->s5a,
                 f->english, f->teacher3);
    CALL_ERR_MSG("conflict", "teacher", "not assigned", a, "timetable.set",
                 "{section: %D, weekday: 1, period: 2, subject: %D, teacher: %D}", f->s5a,
                 f->english, f->teacher1);
    /* Periods outside the bell schedule. */
    CALL_ERR("not_found", "period", a, "timetable.set",
             "{section: %D, weekday: 1, period: 3, subject: %D, teacher: %D}", f->s5a,
             f->maths, f->teacher1);
    CALL_ERR("not_found", "period", a, "timetable.set",
             "{section: %D, weekday: 5, period: 1, subject: %D, teacher: %D}", f->s5a,
             f->maths, f->teacher1);
    CALL_ERR("bad_request", "weekday", a, "timetable.set",
             "{section: %D, weekday: 9, period: 1, subject: %D, teacher: %D}", f->s5a,
             f->maths, f->teacher1);
    CALL_ERR("bad_request", "period", a, "timetable.set",
             "{section: %D, weekday: 1, period: 0, subject: %D, teacher: %D}", f->s5a,
             f->maths, f->teacher1);
    CALL_ERR("bad_request", "room", a, "timetable.set",
             "{section: %D, weekday: 1, period: 2, subject: %D, teacher: %D, room: \"\"}",
             f->s5a, f->maths, f->teacher1);
    /* A subject of another class. */
    CALL_ERR("bad_request", "subject", a, "timetable.set",
             "{section: %D, weekday: 1, period: 2, subject: %D, teacher: %D}", f->s5a, f->art6,
             f->teacher1);
    /* Another school's ids. */
    CALL_ERR("not_found", "section", a, "timetable.set",
             "{section: %D, weekday: 1, period: 2, subject: %D, teacher: %D}", f->b_section,
             f->maths, f->teacher1);
    CALL_ERR("not_found", "subject", a, "timetable.set",
             "{section: %D, weekday: 1, period: 2, subject: %D, teacher: %D}", f->s5a,
             f->b_subject, f->teacher1);
    CALL_ERR("not_found", "teacher", a, "timetable.set",
             "{section: %D, weekday: 1, period: 2, subject: %D, teacher: %D}", f->s5a,
             f->maths, f->b_teacher);
    CALL_ERR("not_found", "teacher", a, "timetable.set",
             "{section: %D, weekday: 1, period: 2, subject: %D, teacher: %D}", f->s5a,
             f->maths, f->parent1);
    CALL_ERR("forbidden", NULL, f->t1.c, "timetable.set",
             "{section: %D, weekday: 1, period: 2, subject: %D, teacher: %D}", f->s5a,
             f->maths, f->teacher1);
    /* Setting a slot again replaces it, keeping its id. */
    int64_t again = slot(a, f->s5a, 1, 1, f->maths, f->teacher1, "R3");
    assert_int_equal(again, id);
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM timetable_slots WHERE section_id = $1"
                                   " AND weekday = 1 AND period = 1 AND room = 'R3'",
                                   sec, NULL),
                     1);
    /* The database itself refuses a double booking of a teacher or a room, even written
     * behind the op's back (5 A has t1 in R3 on Monday, period 1). */
    TAUTH_OK(a, "timetable.clear", "{section: %D, weekday: 1, period: 1}", f->s5b);
    char subj[24], tch[24];
    const char *raw_insert = "INSERT INTO timetable_slots (school_id, year_id, section_id,"
                             " weekday, period, subject_id, teacher_id, room)"
                             " SELECT school_id, year_id, id, 1, 1, $2, $3, $4 FROM sections"
                             " WHERE id = $1";
    assert_int_equal(tauth_sql(f->h, raw_insert, tf_num(ids, f->s5b), tf_num(subj, f->maths),
                               tf_num(tch, f->teacher1), "R9", NULL),
                     -1);
    assert_int_equal(tauth_sql(f->h, raw_insert, ids, subj, tf_num(tch, f->teacher2), "R3", NULL),
                     -1);
    assert_int_equal(tauth_sql(f->h, raw_insert, ids, subj, tch, "R9", NULL), 1);
    /* Clearing. */
    TAUTH_OK(a, "timetable.clear", "{section: %D, weekday: 1, period: 1}", f->s5a);
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM timetable_slots WHERE section_id = $1",
                                   sec, NULL),
                     0);
    TAUTH_OK(a, "timetable.clear", "{section: %D, weekday: 1, period: 1}", f->s5a);
    CALL_ERR("not_found", "section", a, "timetable.clear",
             "{section: %D, weekday: 1, period: 1}", f->b_section);
    CALL_ERR("bad_request", "weekday", a, "timetable.clear",
             "{section: %D, weekday: 0, period: 1}", f->s5a);
    CALL_ERR("forbidden", NULL, f->t1.c, "timetable.clear",
             "{section: %D, weekday: 1, period: 1}", f->s5a);
    /* Leave 5B empty for the next tests. */
    TAUTH_OK(a, "timetable.clear", "{section: %D, weekday: 1, period: 1}", f->s5b);
    f->passed++;
}

/* Two admins book one teacher for two sections at the same period at the same moment: one
 * wins, the other is told the teacher is taken (by the check, or by the unique index when
 * both checked before either wrote). */
static void test_racing_admins_book_a_teacher_once(void **state)
{
    struct fx *f = *state;
    set_bells(f);
    static const int when[][2] = { { 1, 1 }, { 1, 2 }, { 2, 1 } };
    char tch[24];
    tf_num(tch, f->teacher1);
    for (int round = 0; round < 12; round++) {
        int wd = when[round % 3][0], p = when[round % 3][1];
        uint64_t ids[2] = { tauth_next_id(), tauth_next_id() };
        struct wsclient *c[2] = { f->a.c, f->a2.c };
        int64_t sections[2] = { round % 2 ? f->s5a : f->s5b, round % 2 ? f->s5b : f->s5a };
        for (int i = 0; i < 2; i++) {
            assert_int_equal(tclient_send(c[i],
                                          "{id: %U, op: timetable.set, args: {section: %D,"
                                          " weekday: %d, period: %d, subject: %D, teacher: %D,"
                                          " room: %s}}",
                                          ids[i], sections[i], wd, p, f->maths, f->teacher1,
                                          i ? "R-two" : "R-one"),
                             0);
        }
        int ok = 0, conflict = 0;
        for (int i = 0; i < 2; i++) {
            struct tmsg *m = tclient_reply(c[i], ids[i], TCLIENT_TIMEOUT_MS);
            assert_non_null(m);
            if (tauth_is_ok(m)) {
                ok++;
            } else if (tauth_is_err(m, "conflict", "teacher")) {
                conflict++;
            } else {
                fail_msg("round %d: %s", round, tmsg_text(m));
            }
            tmsg_free(m);
        }
        assert_int_equal(ok, 1);
        assert_int_equal(conflict, 1);
        char wds[8];
        snprintf(wds, sizeof wds, "%d", wd);
        assert_int_equal(tauth_sql_int(f->h,
                                       "SELECT count(*) FROM timetable_slots WHERE teacher_id = $1"
                                       " AND weekday = $2",
                                       tch, wds, NULL),
                         p);
        if (p == 2 || wd == 2) {
            for (int d = 1; d <= 2; d++) {
                for (int q = 1; q <= 2; q++) {
                    TAUTH_OK(f->a.c, "timetable.clear", "{section: %D, weekday: %d, period: %d}",
                             f->s5a, d, q);
                    TAUTH_OK(f->a.c, "timetable.clear", "{section: %D, weekday: %d, period: %d}",
                             f->s5b, d, q);
                }
            }
        }
    }
    assert_int_equal(tauth_sql_int(f->h, "SELECT count(*) FROM timetable_slots", NULL), 0);
    f->passed++;
}

/* ---- the views ---- */

static void check_row(struct tmsg *m, uint32_t i, int weekday, int period, const char *starts,
                      int64_t subject, const char *subject_name, int64_t teacher,
                      int64_t section, const char *room)
{
    const msgpack_object *r = item(tf_data(m), i);
    assert_msg(r && tf_int_is(r, "weekday", weekday) && tf_int_is(r, "period", period) &&
                   tf_str_is(r, "starts", starts) && tf_int_is(r, "subject.id", subject) &&
                   tf_str_is(r, "subject.name", subject_name) &&
                   tf_int_is(r, "teacher.id", teacher) && tf_int_is(r, "section.id", section) &&
                   tf_str_is(r, "section.name", "A") && tf_str_is(r, "section.class.name", "5") &&
                   (room ? tf_str_is(r, "room", room) : tf_nil_at(r, "room")),
               m);
}

static void test_views_and_their_scope(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    set_bells(f);
    slot(a, f->s5a, 1, 1, f->maths, f->teacher1, "R1");
    slot(a, f->s5a, 1, 2, f->english, f->teacher2, NULL);
    slot(a, f->s5a, 2, 1, f->maths, f->teacher1, NULL);

    /* A section's week: admin, a teacher of it. */
    struct wsclient *section_readers[] = { a, f->t1.c, f->t2.c };
    for (size_t i = 0; i < 3; i++) {
        struct tmsg *m = CALL_OK(section_readers[i], "timetable.section", "{section: %D}",
                                 f->s5a);
        assert_msg(len_of(tf_data(m)) == 3, m);
        check_row(m, 0, 1, 1, "08:00", f->maths, "Maths", f->teacher1, f->s5a, "R1");
        check_row(m, 1, 1, 2, "08:50", f->english, "English", f->teacher2, f->s5a, NULL);
        check_row(m, 2, 2, 1, "08:00", f->maths, "Maths", f->teacher1, f->s5a, NULL);
        assert_msg(tf_str_is(item(tf_data(m), 0), "ends", "08:45") &&
                       tf_str_is(item(tf_data(m), 0), "teacher.name", "Teacher One"),
                   m);
        tmsg_free(m);
    }
    CALL_ERR("forbidden", "section", f->t3.c, "timetable.section", "{section: %D}", f->s5a);
    CALL_ERR("forbidden", NULL, f->p1.c, "timetable.section", "{section: %D}", f->s5a);
    CALL_ERR("not_found", "section", a, "timetable.section", "{section: %D}", f->b_section);
    CALL_ERR("not_found", "section", f->b.c, "timetable.section", "{section: %D}", f->s5a);
    CALL_ERR("bad_request", "section", a, "timetable.section", "{}");

    /* A teacher's own week; an admin names the teacher. */
    struct tmsg *m = CALL_OK(f->t1.c, "timetable.teacher", NULL);
    assert_msg(len_of(tf_data(m)) == 2, m);
    check_row(m, 0, 1, 1, "08:00", f->maths, "Maths", f->teacher1, f->s5a, "R1");
    check_row(m, 1, 2, 1, "08:00", f->maths, "Maths", f->teacher1, f->s5a, NULL);
    tmsg_free(m);
    m = CALL_OK(f->t1.c, "timetable.teacher", "{teacher: %D}", f->teacher1);
    assert_msg(len_of(tf_data(m)) == 2, m);
    tmsg_free(m);
    m = CALL_OK(a, "timetable.teacher", "{teacher: %D}", f->teacher2);
    assert_msg(len_of(tf_data(m)) == 1, m);
    check_row(m, 0, 1, 2, "08:50", f->english, "English", f->teacher2, f->s5a, NULL);
    tmsg_free(m);
    m = CALL_OK(f->t3.c, "timetable.teacher", NULL);
    assert_msg(len_of(tf_data(m)) == 0, m);
    tmsg_free(m);
    CALL_ERR("forbidden", "teacher", f->t1.c, "timetable.teacher", "{teacher: %D}",
             f->teacher2);
    CALL_ERR("bad_request", "teacher", a, "timetable.teacher", NULL);
    CALL_ERR("not_found", "teacher", a, "timetable.teacher", "{teacher: %D}", f->b_teacher);
    CALL_ERR("not_found", "teacher", a, "timetable.teacher", "{teacher: %D}", f->parent1);
    CALL_ERR("forbidden", NULL, f->p1.c, "timetable.teacher", "{teacher: %D}", f->teacher1);

    /* A child's week: their parent, a teacher of their section, an admin. */
    struct wsclient *student_readers[] = { f->p1.c, f->t1.c, a };
    for (size_t i = 0; i < 3; i++) {
        m = CALL_OK(student_readers[i], "timetable.student", "{student: %D}", f->st1);
        assert_msg(len_of(tf_data(m)) == 3, m);
        check_row(m, 0, 1, 1, "08:00", f->maths, "Maths", f->teacher1, f->s5a, "R1");
        tmsg_free(m);
    }
    m = CALL_OK(f->p2.c, "timetable.student", "{student: %D}", f->st2);
    assert_msg(len_of(tf_data(m)) == 0, m);
    tmsg_free(m);
    CALL_ERR("forbidden", "student", f->p1.c, "timetable.student", "{student: %D}", f->st2);
    CALL_ERR("forbidden", "student", f->p2.c, "timetable.student", "{student: %D}", f->st1);
    CALL_ERR("forbidden", "student", f->t3.c, "timetable.student", "{student: %D}", f->st1);
    CALL_ERR("not_found", "student", a, "timetable.student", "{student: %D}", f->b_student);
    CALL_ERR("not_found", "student", f->b.c, "timetable.student", "{student: %D}", f->st1);
    /* A period taken out of the bell schedule: its slot stays, without times. */
    TAUTH_OK(a, "timetable.bells.set",
             "{weekday: 1, periods: [{period: 1, starts: \"08:00\", ends: \"08:45\"}]}");
    m = CALL_OK(a, "timetable.section", "{section: %D}", f->s5a);
    assert_msg(len_of(tf_data(m)) == 3 && tf_int_is(item(tf_data(m), 1), "period", 2) &&
                   tf_nil_at(item(tf_data(m), 1), "starts") &&
                   tf_nil_at(item(tf_data(m), 1), "ends"),
               m);
    tmsg_free(m);
    set_bells(f);
    for (int d = 1; d <= 2; d++) {
        for (int p = 1; p <= 2; p++) {
            TAUTH_OK(a, "timetable.clear", "{section: %D, weekday: %d, period: %d}", f->s5a, d,
                     p);
        }
    }
    f->passed++;
}

/* ---- the calendar over HTTP ---- */

/* GETs path; returns the status, with the body and head (caller frees) when wanted. */
static int http_get(struct fx *f, const char *path, char **body, char **head)
{
    int status = 0;
    char *b = NULL, *h = NULL;
    assert_int_equal(
        harness_http_request(harness_port(f->h), path, NULL, HTTP_WAIT_MS, &status, &h, &b), 0);
    if (body) {
        *body = b;
    } else {
        free(b);
    }
    if (head) {
        *head = h;
    } else {
        free(h);
    }
    return status;
}

/* Every line ends in CRLF and has at most 75 octets; returns how many VEVENTs. */
static int check_ics(const char *ics)
{
    if (strncmp(ics, "BEGIN:VCALENDAR\r\n", 17) != 0 || !strstr(ics, "\r\nVERSION:2.0\r\n") ||
        !strstr(ics, "\r\nPRODID:") || !strstr(ics, "\r\nEND:VCALENDAR\r\n")) {
        fail_msg("not a VCALENDAR:\n%s", ics);
    }
    int events = 0;
    for (const char *p = ics; *p;) {
        const char *crlf = strstr(p, "\r\n");
        if (!crlf) {
            fail_msg("line without CRLF: %s", p);
        }
        size_t len = (size_t)(crlf - p);
        if (len > 75 || memchr(p, '\n', len)) {
            fail_msg("bad line (%zu octets): %.*s", len, (int)len, p);
        }
        events += strncmp(p, "BEGIN:VEVENT\r\n", 14) == 0;
        p = crlf + 2;
    }
    return events;
}

/* calendar.token.create; copies the path. */
static void new_token(struct wsclient *c, char path[128])
{
    struct tmsg *m = CALL_OK(c, "calendar.token.create", NULL);
    char token[64];
    assert_msg(tauth_str(m, "data.token", token, sizeof token) && strlen(token) == 43, m);
    assert_msg(tauth_str(m, "data.path", path, 128), m);
    char want[128];
    snprintf(want, sizeof want, "/v1/calendar/%s.ics", token);
    assert_string_equal(path, want);
    tmsg_free(m);
}

/* Sends a GET and returns the connection without reading the answer. */
static int open_get(int port, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[256];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    return fd;
}

/* Sends a GET and closes the connection at once, before the answer. */
static void get_and_hang_up(int port, const char *path)
{
    close(open_get(port, path));
}

/* Hangs up n requests for path while a transaction holds calendar_tokens locked, so that the
 * server's query is still waiting when each client goes away; then lets the queries finish. */
static void hang_up_while_waiting(struct harness *h, const char *path, int n)
{
    PGconn *pg = PQconnectdb(harness_conninfo(h));
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *res = PQexec(pg, "BEGIN; LOCK TABLE calendar_tokens IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    for (int i = 0; i < n; i++) {
        get_and_hang_up(harness_port(h), path);
    }
    tsys_sleep_ms(300);
    res = PQexec(pg, "COMMIT");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    PQfinish(pg);
    tsys_sleep_ms(100);
}

static void test_calendar_ics_for_teacher_parent_admin_and_revoke(void **state)
{
    struct fx *f = *state;
    struct wsclient *a = f->a.c;
    set_bells(f);
    slot(a, f->s5a, 1, 1, f->maths, f->teacher1, "R1, east");
    slot(a, f->s5a, 1, 2, f->english, f->teacher2, NULL);
    slot(a, f->s5b, 2, 1, f->maths, f->teacher1, NULL);

    char t1_path[128], p1_path[128], a_path[128];
    new_token(f->t1.c, t1_path);
    char *body, *head;
    assert_int_equal(http_get(f, t1_path, &body, &head), 200);
    if (!strcasestr(head, "content-type: text/calendar")) {
        fail_msg("content type: %s", head);
    }
    assert_int_equal(check_ics(body), 2);
    /* 2026-06-01 is a Monday: the year's first Monday; the first Tuesday is 2026-06-02. */
    const char *want[] = {
        "\r\nSUMMARY:Maths \xe2\x80\x94 5 A\r\n", "\r\nLOCATION:R1\\, east\r\n",
        "\r\nDTSTART:20260601T080000\r\n",         "\r\nDTEND:20260601T084500\r\n",
        "\r\nRRULE:FREQ=WEEKLY;UNTIL=20270331T235959\r\n",
        "\r\nSUMMARY:Maths \xe2\x80\x94 5 B\r\n", "\r\nDTSTART:20260602T080000\r\n",
        "\r\nUID:timetable-",                     "\r\nDTSTAMP:",
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (!strstr(body, want[i])) {
            fail_msg("no %s in:\n%s", want[i], body);
        }
    }
    assert_null(strstr(body, "English"));
    free(body);
    free(head);

    /* A parent: every lesson of the child's section. */
    new_token(f->p1.c, p1_path);
    assert_int_equal(http_get(f, p1_path, &body, NULL), 200);
    assert_int_equal(check_ics(body), 2);
    if (!strstr(body, "SUMMARY:English \xe2\x80\x94 5 A\r\n") || strstr(body, "5 B")) {
        fail_msg("parent's calendar:\n%s", body);
    }
    free(body);

    /* An admin: an empty calendar. */
    new_token(a, a_path);
    assert_int_equal(http_get(f, a_path, &body, NULL), 200);
    assert_int_equal(check_ics(body), 0);
    free(body);

    /* Only a hash is stored. */
    char uid[24];
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM calendar_tokens WHERE user_id = $1"
                                   " AND length(token_hash) = 32"
                                   " AND position(convert_to($2, 'UTF8') IN token_hash) = 0",
                                   tf_num(uid, f->teacher1), t1_path + 13, NULL),
                     1);

    /* A new token replaces the old one; revoking ends the new one. */
    char t1_new[128];
    new_token(f->t1.c, t1_new);
    assert_string_not_equal(t1_new, t1_path);
    assert_int_equal(http_get(f, t1_path, NULL, NULL), 404);
    assert_int_equal(http_get(f, t1_new, NULL, NULL), 200);
    TAUTH_OK(f->t1.c, "calendar.token.revoke", NULL);
    assert_int_equal(http_get(f, t1_new, NULL, NULL), 404);
    expect_audit(f, "calendar.token.create", "ok", f->teacher1);
    expect_audit(f, "calendar.token.revoke", "ok", f->teacher1);
    TAUTH_OK(f->t1.c, "calendar.token.revoke", NULL);
    assert_int_equal(tauth_sql_int(f->h, "SELECT count(*) FROM calendar_tokens WHERE user_id = $1",
                                   uid, NULL),
                     0);
    /* The parent's token still works. */
    assert_int_equal(http_get(f, p1_path, NULL, NULL), 200);

    /* Malformed and unknown tokens. */
    assert_int_equal(http_get(f, "/v1/calendar/abc.ics", NULL, NULL), 404);
    assert_int_equal(
        http_get(f, "/v1/calendar/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.ics", NULL, NULL),
        404);
    assert_int_equal(
        http_get(f, "/v1/calendar/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.txt", NULL, NULL),
        404);
    assert_int_equal(http_get(f, "/v1/calendar/", NULL, NULL), 404);

    /* A suspended school's calendars stop. */
    char b_path[128];
    new_token(f->b.c, b_path);
    assert_int_equal(http_get(f, b_path, NULL, NULL), 200);
    assert_int_equal(tauth_school_suspend(f->h, f->b.school_id), 0);
    assert_int_equal(http_get(f, b_path, NULL, NULL), 404);
    f->passed++;
}

/* Clients that hang up before the database answers do not disturb the server. */
static void test_calendar_client_going_away(void **state)
{
    struct fx *f = *state;
    char path[128];
    new_token(f->p2.c, path);
    for (int i = 0; i < 20; i++) {
        get_and_hang_up(harness_port(f->h), path);
    }
    hang_up_while_waiting(f->h, path, 5);
    char *body;
    assert_int_equal(http_get(f, path, &body, NULL), 200);
    check_ics(body);
    free(body);
    assert_int_equal(http_get(f, "/healthz", NULL, NULL), 200);
    assert_true(tclient_ping(f->a.c, tauth_next_id()));
    f->passed++;
}

/* Under valgrind (when CLASSMENT_TEST_VALGRIND=1): calendar requests answered and abandoned
 * leave no leak and no invalid access, and the server still shuts down cleanly. */
static void test_calendar_under_valgrind(void **state)
{
    (void)state;
    const char *v = getenv("CLASSMENT_TEST_VALGRIND");
    if (!v || strcmp(v, "1") != 0) {
        skip();
    }
    struct harness *h = NULL;
    struct harness_opts opts = { .valgrind = true };
    assert_int_equal(harness_start(&h, &opts), 0);
    char pa[TAUTH_PHONE_MAX], pt[TAUTH_PHONE_MAX];
    tauth_phone(pa, 1);
    struct tauth_login a, t;
    assert_true(tauth_school_create(h, "School V", "Admin V", pa, NULL) > 0);
    assert_int_equal(tauth_login(h, pa, "web", "linux", "1.0", &a), 0);
    int64_t teacher = tfix_user(a.c, "teacher", "Teacher V", 31, pt);
    int64_t c5 = -1, s5a = -1, maths = -1;
    assert_true(teacher > 0 && trec_year(a.c, "2026-27", "2026-06-01", "2027-03-31", true) > 0);
    assert_true((c5 = trec_class(a.c, "5")) > 0 && (s5a = trec_section(a.c, c5, "A", 0)) > 0 &&
                (maths = trec_subject(a.c, c5, "Maths")) > 0);
    assert_int_equal(trec_assign(a.c, teacher, s5a, maths), 0);
    TAUTH_OK(a.c, "timetable.bells.set",
             "{weekday: 1, periods: [{period: 1, starts: \"08:00\", ends: \"08:45\"}]}");
    slot(a.c, s5a, 1, 1, maths, teacher, "R1");
    assert_int_equal(tauth_login(h, pt, "web", "linux", "1.0", &t), 0);
    char path[128];
    new_token(t.c, path);
    for (int i = 0; i < 10; i++) {
        get_and_hang_up(harness_port(h), path);
    }
    hang_up_while_waiting(h, path, 5);
    int status = 0;
    char *body = NULL;
    assert_int_equal(harness_http_get(harness_port(h), path, 20000, &status, &body), 0);
    assert_int_equal(status, 200);
    assert_int_equal(check_ics(body), 1);
    free(body);
    tauth_login_close(&t);
    tauth_login_close(&a);
    /* The server stops while a calendar request waits for the database: lws closes the
     * connection first, and the answer, when it comes, finds nobody to go to. */
    PGconn *pg = PQconnectdb(harness_conninfo(h));
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    PGresult *res = PQexec(pg, "BEGIN; LOCK TABLE calendar_tokens IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(res), PGRES_COMMAND_OK);
    PQclear(res);
    int fd = open_get(harness_port(h), path);
    tsys_sleep_ms(500);
    assert_int_equal(harness_kill(h, SIGTERM), 0);
    tsys_sleep_ms(500);
    res = PQexec(pg, "COMMIT");
    PQclear(res);
    PQfinish(pg);
    assert_int_equal(harness_wait(h, 30000), 0);
    close(fd);
    assert_true(tfix_leak_free(h));
    harness_passed(h);
    harness_free(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bells_set_list_replace_and_refusals),
        cmocka_unit_test(test_timetable_set_conflicts_and_refusals),
        cmocka_unit_test(test_racing_admins_book_a_teacher_once),
        cmocka_unit_test(test_views_and_their_scope),
        cmocka_unit_test(test_calendar_ics_for_teacher_parent_admin_and_revoke),
        cmocka_unit_test(test_calendar_client_going_away),
        cmocka_unit_test(test_calendar_under_valgrind),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
