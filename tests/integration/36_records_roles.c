/* Who may call what among the school records' ops (academics/): each op called over the socket
 * by an anonymous connection, by each role of school A, and by two teachers (the teacher of
 * section 5A, whose records the ids name, and the teacher of 5B, who must be refused), once
 * with ids of school A and once with ids of school B, against a table of expected outcomes.
 * The list of ops comes from the gateway's records tables (ops_table_is_records): an op
 * without a row fails the test, so a new records op must be added here. The world is written
 * straight into the tables, so that the matrix does not depend on the set-up ops it checks. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gateway/ops.h"
#include "gateway/router.h"
#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tclient.h"
#include "tests/support/tsys.h"

/* Callers, in the order of the expectation strings below. */
enum { ANON, ADMIN, TEACHER, TEACHER2, LIBRARIAN, DRIVER, PARENT, N_CALLERS };
static const char *const caller_names[N_CALLERS] = {
    "anonymous", "admin", "teacher 5A", "teacher 5B", "librarian", "driver", "parent",
};
static const char *const role_of[N_CALLERS] = {
    NULL, "admin", "teacher", "teacher", "librarian", "driver", "parent",
};
enum { OWN, OTHER, N_SCOPES };
static const char *const scope_names[N_SCOPES] = { "own-school ids", "other-school ids" };

/* The records a row's arguments name, by placeholder: "$section" in a row's args is replaced
 * by that record's id in the school of the scope. */
enum rec {
    R_YEAR, R_NEXT_YEAR, R_TERM, R_SPARE_TERM, R_CLASS, R_SPARE_CLASS, R_SECTION, R_SECTION2,
    R_SPARE_SECTION, R_EMPTY_SECTION, R_NEXT_SECTION, R_SUBJECT, R_ART, R_SPARE_SUBJECT,
    R_TEACHER, R_TEACHER2, R_STUDENT, R_HOMEWORK, R_EXAM, R_SPARE_EXAM, N_RECS
};
static const char *const rec_names[N_RECS] = {
    "year", "next_year", "term", "spare_term", "class", "spare_class", "section", "section2",
    "spare_section", "empty_section", "next_section", "subject", "art", "spare_subject",
    "teacher", "teacher2", "student", "homework", "exam", "spare_exam",
};

struct mx {
    struct harness *h;
    int port;
    struct wsclient *anon;
    struct tauth_login who[N_CALLERS]; /* [ANON] unused */
    struct tauth_login b_admin;
    int64_t school[N_SCOPES];
    int64_t ids[N_SCOPES][N_RECS];
    char today[11], month[8], day_before[11];
    unsigned serial; /* fresh names for creates */
};

/* Expected outcomes, one letter per caller (anonymous admin teacher-5A teacher-5B librarian
 * driver parent): o ok, e ok with an empty list, b bad_request, u unauthenticated,
 * f forbidden, n not_found, c conflict, - not called. */
struct row {
    const char *op;
    const char *args; /* tmsg format with $placeholders, $n (a fresh number) and $today */
    const char *own;
    const char *other;
};

static const struct row rows[] = {
    { "year.create", "{name: \"Y$n\", starts_on: \"2030-06-01\", ends_on: \"2031-03-31\"}",
      "uofffff", "uofffff" },
    { "year.list", "{}", "uoooffo", "uoooffo" },
    { "year.update", "{id: $next_year, name: \"Next $n\"}", "uofffff", "unfffff" },
    { "term.create", "{year: $year, name: \"T$n\", starts_on: $day_before, ends_on: $today}",
      "uofffff", "unfffff" },
    { "term.list", "{year: $year}", "uoooffo", "unnnffn" },
    { "term.delete", "{id: $spare_term}", "uofffff", "unfffff" },
    { "class.create", "{name: \"C$n\", year: $year}", "uofffff", "unfffff" },
    { "class.list", "{year: $year}", "uooofff", "unnnfff" },
    { "class.update", "{id: $class, seq: 5}", "uofffff", "unfffff" },
    { "class.delete", "{id: $spare_class}", "uofffff", "unfffff" },
    { "section.create", "{class: $class, name: \"S$n\"}", "uofffff", "unfffff" },
    { "section.get", "{id: $section}", "uooffff", "unnnfff" },
    { "section.list", "{class: $class}", "uooofff", "unnnfff" },
    { "section.update", "{id: $section, room: \"R$n\"}", "uofffff", "unfffff" },
    { "section.delete", "{id: $spare_section}", "uofffff", "unfffff" },
    { "section.promote", "{from: $empty_section, to: $next_section}", "uofffff", "unfffff" },
    { "subject.create", "{class: $class, name: \"Sub$n\"}", "uofffff", "unfffff" },
    { "subject.list", "{class: $class}", "uooofff", "unnnfff" },
    { "subject.delete", "{id: $spare_subject}", "uofffff", "unfffff" },
    { "teacher.assign", "{teacher: $teacher, section: $section, subject: $subject}", "uofffff",
      "unfffff" },
    { "teacher.assignments", "{teacher: $teacher}", "uooffff", "unnnfff" },
    { "timetable.bells.set",
      "{weekday: 6, periods: [{period: 1, starts: \"09:00\", ends: \"09:40\"}]}", "uofffff",
      "uofffff" },
    { "timetable.bells.list", "{}", "uoooooo", "uoooooo" },
    { "timetable.set",
      "{section: $section, weekday: 1, period: 1, subject: $subject, teacher: $teacher}",
      "uofffff", "unfffff" },
    { "timetable.clear", "{section: $section, weekday: 1, period: 2}", "uofffff", "unfffff" },
    { "timetable.section", "{section: $section}", "uooffff", "unnnfff" },
    { "timetable.teacher", "{teacher: $teacher}", "uooffff", "unnnfff" },
    { "timetable.student", "{student: $student}", "uoofffo", "unnnffn" },
    { "calendar.token.create", "{}", "uoooffo", "uoooffo" },
    { "calendar.token.revoke", "{}", "uoooffo", "uoooffo" },
    { "attendance.mark", "{section: $section, entries: [{student: $student, status: late}]}",
      "uooffff", "unnnfff" },
    { "attendance.get", "{section: $section}", "uooffff", "unnnfff" },
    { "attendance.student", "{student: $student, from: $day_before, to: $today}", "uoofffo",
      "unnnffn" },
    { "attendance.register", "{section: $section, month: $month}", "uooffff", "unnnfff" },
    { "attendance.absentees", "{}", "uofffff", "uofffff" },
    { "notice.list", "{}", "uoooooo", "uoooooo" },
    { "notice.read", "{upto: 1000000}", "uoooooo", "uoooooo" },
    { "student.import", "{csv: \"admission_no,name\\nM$n,Imported Pupil\\n\", dry_run: true}",
      "uofffff", "uofffff" },
    /* Report cards: remarks by an admin or 5A's class teacher; a link for the student's
     * teachers and admins (and parents once published: 5B is, 5A is not); publishing 5B
     * leaves 5A's marks unlocked for the rows after. */
    { "report_card.remark", "{student: $student, term: $term, remarks: \"Good $n\"}",
      "uooffff", "unnnfff" },
    { "report_card.get", "{student: $student, term: $term}", "uooffff", "unnnffn" },
    { "report_card.publish", "{term: $term, section: $section2}", "uofffff", "unfffff" },
    /* Homework: 5A's Mathematics homework (posted by the teacher of 5A). The admin deletes it
     * first, so the teachers then find it gone (57_homework checks their refusals). */
    { "homework.create",
      "{section: $section, subject: $subject, title: \"H$n\", due_on: $today}", "uooffff",
      "unnnfff" },
    { "homework.list", "{section: $section}", "uooffff", "unnnffn" },
    { "homework.get", "{id: $homework}", "uoofffo", "unnnffn" },
    { "homework.status.set", "{homework: $homework, entries: [{student: $student, status: late}]}",
      "uooffff", "unnnfff" },
    { "homework.delete", "{id: $homework}", "uonnfff", "unnnfff" },
    /* Exams and grades: 5A's Mathematics exams of the term (no marks; the spare one is
     * deleted by the admin first). 5A's report cards are not published: its parent is
     * refused the term's grades, and sees no term in the progress. */
    { "grade.scale.get", "{}", "uoooffo", "uoooffo" },
    { "grade.scale.set",
      "{bands: [{min: 0, grade: E, point: 0}, {min: 50, grade: A, point: 4}]}", "uofffff",
      "uofffff" },
    { "grade.settings.get", "{}", "uofffff", "uofffff" },
    { "grade.settings.set", "{ranks: false}", "uofffff", "uofffff" },
    { "exam.create",
      "{section: $section, subject: $subject, term: $term, name: \"E$n\", max_marks: 10}",
      "uooffff", "unnnfff" },
    { "exam.list", "{section: $section}", "uooffff", "unnnfff" },
    { "exam.update", "{id: $exam, name: \"E$n\"}", "uooffff", "unnnfff" },
    { "exam.delete", "{id: $spare_exam}", "uonnfff", "unnnfff" },
    { "exam.marks.set", "{exam: $exam, entries: [{student: $student, marks: 5}]}", "uooffff",
      "unnnfff" },
    { "exam.marks.get", "{exam: $exam}", "uooffff", "unnnfff" },
    { "grade.student", "{student: $student, term: $term}", "uooffff", "unnnffn" },
    { "grade.progress", "{student: $student}", "uoofffo", "unnnffn" },
    { "grade.distribution", "{section: $section, term: $term}", "uooffff", "unnnfff" },
    /* Last: it takes the Art assignment away. */
    { "teacher.unassign", "{teacher: $teacher, section: $section, subject: $art}", "uofffff",
      "unfffff" },
};
#define N_ROWS (sizeof rows / sizeof rows[0])

static const struct row *find_row(const char *op)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (strcmp(rows[i].op, op) == 0) {
            return &rows[i];
        }
    }
    return NULL;
}

/* The records ops the server serves. */
static struct router *records_router(void)
{
    struct op_table all[OPS_MAX_TABLES], tables[OPS_MAX_TABLES];
    size_t n = ops_tables(NULL, all), kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (ops_table_is_records(all[i].ops)) {
            tables[kept++] = all[i];
        }
    }
    return router_new(tables, kept);
}

/* The row's args with every placeholder replaced (a malloc'd tmsg format). */
static char *expand(struct mx *mx, const char *tmpl, int scope)
{
    size_t cap = strlen(tmpl) + 512, len = 0;
    char *out = malloc(cap);
    for (const char *p = tmpl; *p;) {
        if (*p != '$') {
            out[len++] = *p++;
            continue;
        }
        const char *name = ++p;
        while ((*p >= 'a' && *p <= 'z') || *p == '_' || (*p >= '0' && *p <= '9')) {
            p++;
        }
        size_t n = (size_t)(p - name);
        char value[48] = "";
        if (n == 1 && name[0] == 'n') {
            snprintf(value, sizeof value, "%u", ++mx->serial);
        } else if (n == 5 && memcmp(name, "today", 5) == 0) {
            snprintf(value, sizeof value, "\"%s\"", mx->today);
        } else if (n == 10 && memcmp(name, "day_before", 10) == 0) {
            snprintf(value, sizeof value, "\"%s\"", mx->day_before);
        } else if (n == 5 && memcmp(name, "month", 5) == 0) {
            snprintf(value, sizeof value, "\"%s\"", mx->month);
        } else {
            for (int r = 0; r < N_RECS; r++) {
                if (strlen(rec_names[r]) == n && memcmp(rec_names[r], name, n) == 0) {
                    snprintf(value, sizeof value, "%" PRId64, mx->ids[scope][r]);
                }
            }
        }
        if (!value[0]) {
            fail_msg("unknown placeholder $%.*s in %s", (int)n, name, tmpl);
        }
        len += (size_t)snprintf(out + len, cap - len, "%s", value);
    }
    out[len] = '\0';
    return out;
}

static struct wsclient *conn_of(struct mx *mx, int caller)
{
    return caller == ANON ? mx->anon : mx->who[caller].c;
}

/* Calls one cell; appends a line to report on a mismatch. Returns true when it matched. */
static bool run_cell(struct mx *mx, const struct row *r, int caller, int scope, char *report,
                     size_t cap)
{
    char want = (scope == OWN ? r->own : r->other)[caller];
    if (want == '-') {
        return true;
    }
    char *fmt = expand(mx, r->args, scope);
    size_t len;
    uint8_t *args = tmsg_build(&len, fmt);
    uint64_t id = tauth_next_id();
    struct tmsg *m = NULL;
    if (tclient_send(conn_of(mx, caller), "{id: %U, op: %s, args: %m}", id, r->op, args, len) ==
        0) {
        m = tclient_reply(conn_of(mx, caller), id, TCLIENT_TIMEOUT_MS);
    }
    const char *got = tauth_outcome(m);
    bool ok = tauth_outcome_matches(want, got);
    if (!ok) {
        size_t n = strlen(report);
        snprintf(report + n, cap - n, "  %-22s %-10s %-16s expected %c, got %s: %s -> %.300s\n",
                 r->op, caller_names[caller], scope_names[scope], want, got, fmt,
                 tmsg_text(m));
    }
    tmsg_free(m);
    free(args);
    free(fmt);
    return ok;
}

/* ---- the world ---- */

static int64_t sql_id(struct mx *mx, const char *sql, int64_t p1, int64_t p2, int64_t p3,
                      const char *text)
{
    char s[3][24];
    int64_t p[3] = { p1, p2, p3 };
    const char *v[5] = { NULL };
    int n = 0;
    for (; n < 3 && p[n]; n++) {
        snprintf(s[n], sizeof s[n], "%" PRId64, p[n]);
        v[n] = s[n];
    }
    v[n] = text;
    int64_t id = tauth_sql_int(mx->h, sql, v[0], v[1], v[2], v[3], v[4]);
    if (id <= 0) {
        fail_msg("%s gave no id", sql);
    }
    return id;
}

/* One school's records: a current year with a term to keep and one to delete, a next year
 * with class 6 and its section 6A; class 5 with sections 5A (class teacher: teacher), 5B
 * (teacher2), a spare one and an empty one for promotion; a spare class; subjects
 * Mathematics (taught by teacher in 5A and teacher2 in 5B), Art (teacher in 5A) and a spare
 * one; the student in 5A, child of parent (0 for none). */
static void build_school(struct mx *mx, int scope, int64_t teacher, int64_t teacher2,
                         int64_t parent)
{
    int64_t sc = mx->school[scope];
    int64_t *id = mx->ids[scope];
    id[R_TEACHER] = teacher;
    id[R_TEACHER2] = teacher2;
    id[R_YEAR] = sql_id(mx,
                        "INSERT INTO academic_years (school_id, name, starts_on, ends_on, current)"
                        " VALUES ($1, 'This year', current_date - 180, current_date + 180, true)"
                        " RETURNING id",
                        sc, 0, 0, NULL);
    id[R_NEXT_YEAR] = sql_id(mx,
                             "INSERT INTO academic_years (school_id, name, starts_on, ends_on)"
                             " VALUES ($1, 'Next year', current_date + 181, current_date + 540)"
                             " RETURNING id",
                             sc, 0, 0, NULL);
    static const char term_sql[] =
        "INSERT INTO terms (school_id, year_id, name, starts_on, ends_on)"
        " VALUES ($1, $2, $3, current_date - 180, current_date) RETURNING id";
    id[R_TERM] = sql_id(mx, term_sql, sc, id[R_YEAR], 0, "Term 1");
    id[R_SPARE_TERM] = sql_id(mx, term_sql, sc, id[R_YEAR], 0, "Spare term");
    static const char class_sql[] = "INSERT INTO classes (school_id, year_id, name, seq)"
                                    " VALUES ($1, $2, $3, 1) RETURNING id";
    id[R_CLASS] = sql_id(mx, class_sql, sc, id[R_YEAR], 0, "5");
    id[R_SPARE_CLASS] = sql_id(mx, class_sql, sc, id[R_YEAR], 0, "Spare");
    int64_t next_class = sql_id(mx, class_sql, sc, id[R_NEXT_YEAR], 0, "6");
    static const char section_sql[] =
        "INSERT INTO sections (school_id, year_id, class_id, name, class_teacher_id)"
        " SELECT $1, year_id, id, $3, nullif($2, 0) FROM classes WHERE id = $4::bigint"
        " RETURNING id";
    char cls[24], next[24];
    snprintf(cls, sizeof cls, "%" PRId64, id[R_CLASS]);
    snprintf(next, sizeof next, "%" PRId64, next_class);
    char sc_s[24], t1[24], t2[24], zero[] = "0";
    snprintf(sc_s, sizeof sc_s, "%" PRId64, sc);
    snprintf(t1, sizeof t1, "%" PRId64, teacher);
    snprintf(t2, sizeof t2, "%" PRId64, teacher2);
    id[R_SECTION] = tauth_sql_int(mx->h, section_sql, sc_s, t1, "A", cls, (const char *)NULL);
    id[R_SECTION2] = tauth_sql_int(mx->h, section_sql, sc_s, t2, "B", cls, (const char *)NULL);
    id[R_SPARE_SECTION] = tauth_sql_int(mx->h, section_sql, sc_s, zero, "C", cls,
                                        (const char *)NULL);
    id[R_EMPTY_SECTION] = tauth_sql_int(mx->h, section_sql, sc_s, zero, "D", cls,
                                        (const char *)NULL);
    id[R_NEXT_SECTION] = tauth_sql_int(mx->h, section_sql, sc_s, zero, "A", next,
                                       (const char *)NULL);
    static const char subject_sql[] = "INSERT INTO subjects (school_id, class_id, name)"
                                      " VALUES ($1, $2, $3) RETURNING id";
    id[R_SUBJECT] = sql_id(mx, subject_sql, sc, id[R_CLASS], 0, "Mathematics");
    id[R_ART] = sql_id(mx, subject_sql, sc, id[R_CLASS], 0, "Art");
    id[R_SPARE_SUBJECT] = sql_id(mx, subject_sql, sc, id[R_CLASS], 0, "Spare");
    static const char assign_sql[] =
        "INSERT INTO teacher_assignments (school_id, teacher_id, section_id, subject_id)"
        " VALUES ($1, $2, $3, $4::bigint) RETURNING teacher_id";
    char s_math[24], s_art[24], s_a[24], s_b[24];
    snprintf(s_math, sizeof s_math, "%" PRId64, id[R_SUBJECT]);
    snprintf(s_art, sizeof s_art, "%" PRId64, id[R_ART]);
    snprintf(s_a, sizeof s_a, "%" PRId64, id[R_SECTION]);
    snprintf(s_b, sizeof s_b, "%" PRId64, id[R_SECTION2]);
    assert_true(tauth_sql_int(mx->h, assign_sql, sc_s, t1, s_a, s_math, (const char *)NULL) > 0);
    assert_true(tauth_sql_int(mx->h, assign_sql, sc_s, t1, s_a, s_art, (const char *)NULL) > 0);
    assert_true(tauth_sql_int(mx->h, assign_sql, sc_s, t2, s_b, s_math, (const char *)NULL) > 0);
    id[R_STUDENT] = sql_id(mx,
                           "INSERT INTO students (school_id, name, admission_no, section_id,"
                           " year_id, roll_no) SELECT $1, 'Asha', 'A-' || $2::bigint::text, id, year_id,"
                           " 1 FROM sections WHERE id = $2::bigint RETURNING id",
                           sc, id[R_SECTION], 0, NULL);
    /* A classmate in 5B, so that 5B's register is not empty. */
    sql_id(mx,
           "INSERT INTO students (school_id, name, admission_no, section_id, year_id, roll_no)"
           " SELECT $1, 'Ravi', 'B-' || $2::bigint::text, id, year_id, 1 FROM sections"
           " WHERE id = $2::bigint RETURNING id",
           sc, id[R_SECTION2], 0, NULL);
    /* Homework of 5A in Mathematics, posted by the teacher of 5A. */
    id[R_HOMEWORK] = sql_id(mx,
                            "INSERT INTO homework (school_id, section_id, subject_id, teacher_id,"
                            " title, due_on) VALUES ($1, $2, $3, $4::bigint, 'Sums',"
                            " current_date + 1) RETURNING id",
                            sc, id[R_SECTION], id[R_SUBJECT], t1);
    /* Two Mathematics exams of 5A in the term (assessment rows). */
    static const char exam_sql[] =
        "INSERT INTO exams (school_id, section_id, subject_id, term_id, name, max_marks)"
        " VALUES ($1, $2, $3, $4::bigint, 'Unit test', 20) RETURNING id";
    char s_term[24];
    snprintf(s_term, sizeof s_term, "%" PRId64, id[R_TERM]);
    id[R_EXAM] = tauth_sql_int(mx->h, exam_sql, sc_s, s_a, s_math, s_term, (const char *)NULL);
    id[R_SPARE_EXAM] = tauth_sql_int(mx->h, exam_sql, sc_s, s_a, s_math, s_term,
                                     (const char *)NULL);
    assert_true(id[R_EXAM] > 0 && id[R_SPARE_EXAM] > 0);
    if (parent > 0) {
        sql_id(mx,
               "INSERT INTO guardians (student_id, user_id, school_id, relationship)"
               " VALUES ($1, $2, $3, 'mother') RETURNING student_id",
               id[R_STUDENT], parent, sc, NULL);
    }
}

static void login_or_fail(struct mx *mx, const char *phone, struct tauth_login *l)
{
    if (tauth_login(mx->h, phone, "phone", "android", "1.0", l) != 0) {
        fail_msg("cannot log %s in", phone);
    }
}

static void build_world(struct mx *mx)
{
    char phone_a[TAUTH_PHONE_MAX], phone_b[TAUTH_PHONE_MAX];
    tauth_phone(phone_a, 1);
    tauth_phone(phone_b, 2);
    mx->school[OWN] = tauth_school_create(mx->h, "School A", "Admin A", phone_a, NULL);
    mx->school[OTHER] = tauth_school_create(mx->h, "School B", "Admin B", phone_b, NULL);
    assert_true(mx->school[OWN] > 0 && mx->school[OTHER] > 0);
    login_or_fail(mx, phone_a, &mx->who[ADMIN]);
    login_or_fail(mx, phone_b, &mx->b_admin);
    int64_t users[N_CALLERS] = { 0 };
    char phones[N_CALLERS][TAUTH_PHONE_MAX];
    for (int c = TEACHER; c < N_CALLERS; c++) {
        tauth_phone(phones[c], 10 + (unsigned)c);
        users[c] = tauth_user_create(mx->who[ADMIN].c, role_of[c], caller_names[c], phones[c]);
        assert_true(users[c] > 0);
    }
    char phone[TAUTH_PHONE_MAX];
    tauth_phone(phone, 30);
    int64_t b_teacher = tauth_user_create(mx->b_admin.c, "teacher", "B teacher", phone);
    tauth_phone(phone, 31);
    int64_t b_teacher2 = tauth_user_create(mx->b_admin.c, "teacher", "B teacher 2", phone);
    tauth_phone(phone, 32);
    int64_t b_parent = tauth_user_create(mx->b_admin.c, "parent", "B parent", phone);
    assert_true(b_teacher > 0 && b_teacher2 > 0 && b_parent > 0);
    build_school(mx, OWN, users[TEACHER], users[TEACHER2], users[PARENT]);
    build_school(mx, OTHER, b_teacher, b_teacher2, b_parent);
    for (int c = TEACHER; c < N_CALLERS; c++) {
        login_or_fail(mx, phones[c], &mx->who[c]);
    }
    /* The bell schedule the timetable rows use: Monday's first two periods, in both schools. */
    struct wsclient *admins[N_SCOPES] = { mx->who[ADMIN].c, mx->b_admin.c };
    for (int s = 0; s < N_SCOPES; s++) {
        struct tmsg *m = tauth_call(admins[s], "timetable.bells.set",
                                    "{weekday: 1, periods: [{period: 1, starts: \"08:30\","
                                    " ends: \"09:10\"}, {period: 2, starts: \"09:10\","
                                    " ends: \"09:50\"}]}");
        assert_true(tauth_is_ok(m));
        tmsg_free(m);
    }
    mx->anon = tclient_open(mx->port);
    assert_non_null(mx->anon);
}

/* ---- tests ---- */

static void test_every_records_op_has_a_row(void **state)
{
    struct mx *mx = *state;
    struct router *r = records_router();
    assert_non_null(r);
    char missing[4096] = "", stale[1024] = "";
    for (size_t i = 0; i < router_count(r); i++) {
        const char *name = router_op_at(r, i)->name;
        if (!find_row(name)) {
            size_t n = strlen(missing);
            snprintf(missing + n, sizeof missing - n, " %s", name);
        }
    }
    for (size_t i = 0; i < N_ROWS; i++) {
        if (!router_find(r, rows[i].op, strlen(rows[i].op))) {
            size_t n = strlen(stale);
            snprintf(stale + n, sizeof stale - n, " %s", rows[i].op);
        }
        assert_int_equal(strlen(rows[i].own), N_CALLERS);
        assert_int_equal(strlen(rows[i].other), N_CALLERS);
    }
    router_free(r);
    if (missing[0]) {
        fail_msg("records ops without a row in 36_records_roles.c:%s", missing);
    }
    if (stale[0]) {
        fail_msg("rows for ops the server does not serve:%s", stale);
    }
    harness_passed(mx->h);
}

static void test_records_role_matrix(void **state)
{
    struct mx *mx = *state;
    build_world(mx);
    static char report[65536];
    report[0] = '\0';
    int cells = 0, bad = 0;
    /* Rows run in table order: own-school ids first, then the other school's. */
    for (int scope = 0; scope < N_SCOPES; scope++) {
        for (size_t i = 0; i < N_ROWS; i++) {
            for (int caller = 0; caller < N_CALLERS; caller++) {
                cells++;
                bad += !run_cell(mx, &rows[i], caller, scope, report, sizeof report);
            }
        }
    }
    if (bad) {
        fail_msg("%d of %d cells of the records role matrix went wrong:\n%s", bad, cells,
                 report);
    }
    harness_passed(mx->h);
}

static int setup(void **state)
{
    struct mx *mx = calloc(1, sizeof *mx);
    *state = mx;
    if (harness_start(&mx->h, NULL) != 0) {
        return -1;
    }
    mx->port = harness_port(mx->h);
    time_t now = time(NULL), before = now - 86400;
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(mx->today, sizeof mx->today, "%Y-%m-%d", &tm);
    strftime(mx->month, sizeof mx->month, "%Y-%m", &tm);
    localtime_r(&before, &tm);
    strftime(mx->day_before, sizeof mx->day_before, "%Y-%m-%d", &tm);
    return 0;
}

static int teardown(void **state)
{
    struct mx *mx = *state;
    for (int c = ADMIN; c < N_CALLERS; c++) {
        tauth_login_close(&mx->who[c]);
    }
    tauth_login_close(&mx->b_admin);
    wsclient_free(mx->anon);
    harness_free(mx->h);
    free(mx);
    return 0;
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_every_records_op_has_a_row),
        T(test_records_role_matrix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
