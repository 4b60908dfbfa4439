/* Bulk import of students with their guardians (student.import and classment-admin import
 * students): a file with good and bad rows gives every error in a dry run and writes nothing,
 * and its real run writes nothing either; a clean file imports (students placed, guardians
 * created once and found again by phone, linked), quoted fields and Devanagari survive;
 * another school's phone is refused; only admins may import; the command reports each error
 * as "row N, column C: why"; and 5,000 rows through the op and through the command. One
 * server and two schools serve every test. */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <msgpack.h>

#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tcheck.h"
#include "tests/support/tclient.h"
#include "tests/support/tdob.h"
#include "tests/support/tfixture.h"
#include "tests/support/tsys.h"

#define AUDIT_WAIT_MS 5000
#define BIG_ROWS 5000

struct fx {
    struct harness *h;
    struct tauth_login a, b, teacher, parent;
    int64_t parent1, driver1, teacher1, parent_b;
    char parent1_phone[TAUTH_PHONE_MAX], driver1_phone[TAUTH_PHONE_MAX];
    char teacher1_phone[TAUTH_PHONE_MAX], parent_b_phone[TAUTH_PHONE_MAX];
    int64_t year, sec_5a, sec_5b, sec_6c;
    int passed;
};

#define N_TESTS 7

static struct fx *fx_of(void **state)
{
    return *state;
}

/* ---- fixtures: the school's structure, written straight into the database ---- */

static int64_t sql_id(struct fx *f, const char *sql, const char *a, const char *b,
                      const char *c)
{
    int64_t id = tauth_sql_int(f->h, sql, a, b, c, NULL);
    if (id <= 0) {
        fprintf(stderr, "49_import: fixture failed: %s\n", sql);
    }
    return id;
}

static int64_t make_year(struct fx *f, int64_t school, const char *name, bool current)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, school);
    return sql_id(f,
                  "INSERT INTO academic_years (school_id, name, starts_on, ends_on, current)"
                  " VALUES ($1, $2, '2026-04-01', '2027-03-31', $3::boolean) RETURNING id",
                  s, name, current ? "true" : "false");
}

static int64_t make_class(struct fx *f, int64_t school, int64_t year, const char *name)
{
    char s[24], y[24];
    snprintf(s, sizeof s, "%" PRId64, school);
    snprintf(y, sizeof y, "%" PRId64, year);
    return sql_id(f,
                  "INSERT INTO classes (school_id, year_id, name) VALUES ($1, $2, $3)"
                  " RETURNING id",
                  s, y, name);
}

static int64_t make_section(struct fx *f, int64_t school, int64_t cls, const char *name)
{
    char s[24], c[24];
    snprintf(s, sizeof s, "%" PRId64, school);
    snprintf(c, sizeof c, "%" PRId64, cls);
    return sql_id(f,
                  "INSERT INTO sections (school_id, year_id, class_id, name)"
                  " SELECT $1, year_id, id, $3 FROM classes WHERE id = $2 RETURNING id",
                  s, c, name);
}

static int group_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    *state = f;
    /* 5,000 rows are about 400 KB: the op takes them with a raised message limit. */
    static const char *const env[] = { "CLASSMENT_MAX_MESSAGE=4194304", NULL };
    struct harness_opts opts = { .env = env };
    if (tfix_two_schools(&f->h, &opts, &f->a, &f->b) != 0) {
        return -1;
    }
    f->parent1 = tfix_user(f->a.c, "parent", "Parent One", 11, f->parent1_phone);
    f->driver1 = tfix_user(f->a.c, "driver", "Driver One", 13, f->driver1_phone);
    f->teacher1 = tfix_user(f->a.c, "teacher", "Teacher One", 14, f->teacher1_phone);
    f->parent_b = tfix_user(f->b.c, "parent", "Parent B", 21, f->parent_b_phone);
    if (f->parent1 < 0 || f->driver1 < 0 || f->teacher1 < 0 || f->parent_b < 0 ||
        tauth_login(f->h, f->teacher1_phone, "web", "linux", "1.0", &f->teacher) != 0 ||
        tauth_login(f->h, f->parent1_phone, "web", "linux", "1.0", &f->parent) != 0) {
        return -1;
    }
    /* A: the current year with classes 5 (A, B) and 6 (C); last year with class 7 (A). B:
     * its own current year with class 5 (A). */
    int64_t a = f->a.school_id;
    f->year = make_year(f, a, "2026-27", true);
    int64_t old = make_year(f, a, "2025-26", false);
    int64_t c5 = make_class(f, a, f->year, "5"), c6 = make_class(f, a, f->year, "6");
    int64_t c7 = make_class(f, a, old, "7");
    f->sec_5a = make_section(f, a, c5, "A");
    f->sec_5b = make_section(f, a, c5, "B");
    f->sec_6c = make_section(f, a, c6, "C");
    int64_t yb = make_year(f, f->b.school_id, "2026-27", true);
    int64_t cb = make_class(f, f->b.school_id, yb, "5");
    if (f->year < 0 || old < 0 || c5 < 0 || c6 < 0 || c7 < 0 || f->sec_5a < 0 ||
        f->sec_5b < 0 || f->sec_6c < 0 || make_section(f, a, c7, "A") < 0 || yb < 0 ||
        cb < 0 || make_section(f, f->b.school_id, cb, "A") < 0) {
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    struct fx *f = *state;
    if (f) {
        tfix_end(f->h, f->passed == N_TESTS, &f->a, &f->b, &f->teacher, &f->parent, NULL);
        free(f);
    }
    return 0;
}

/* ---- reading replies ---- */

/* One expected error. */
struct want {
    int row;
    const char *column, *message;
};

/* Asserts the reply's errors are exactly want[0..n), in order. */
static void expect_errors(struct tmsg *m, const struct want *want, size_t n)
{
    const msgpack_object *e = tmsg_get(tf_data(m), "errors");
    assert_msg(e && e->type == MSGPACK_OBJECT_ARRAY, m);
    for (size_t i = 0; i < n || i < e->via.array.size; i++) {
        const msgpack_object *x = i < e->via.array.size ? &e->via.array.ptr[i] : NULL;
        if (i >= n || !x || tf_int_of(x, "row") != want[i].row ||
            !tf_str_is(x, "column", want[i].column) ||
            !tf_str_is(x, "message", want[i].message)) {
            fail_msg("error %zu: expected row %d, column %s: %s; reply %s", i,
                     i < n ? want[i].row : -1, i < n ? want[i].column : "-",
                     i < n ? want[i].message : "(none)", tmsg_text(m));
        }
    }
}

static void expect_counts(struct tmsg *m, int64_t rows, int64_t created, int64_t g_created,
                          int64_t g_linked, bool dry_run)
{
    assert_msg(tauth_is_ok(m), m);
    assert_msg(tf_int_of(tf_data(m), "rows") == rows, m);
    assert_msg(tf_int_of(tf_data(m), "created") == created, m);
    assert_msg(tf_int_of(tf_data(m), "guardians_created") == g_created, m);
    assert_msg(tf_int_of(tf_data(m), "guardians_linked") == g_linked, m);
    const msgpack_object *d = tmsg_get(tf_data(m), "dry_run");
    assert_msg(d && d->type == MSGPACK_OBJECT_BOOLEAN && d->via.boolean == dry_run, m);
}

static struct tmsg *import(struct wsclient *c, const char *csv, bool dry_run)
{
    return tauth_call(c, "student.import", "{csv: %s, dry_run: %t}", csv, (int)dry_run);
}

static int64_t count(struct fx *f, const char *sql, int64_t school)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, school);
    return tauth_sql_int(f->h, sql, s, NULL);
}

static int64_t students_of(struct fx *f, int64_t school)
{
    return count(f, "SELECT count(*) FROM students WHERE school_id = $1", school);
}

static int64_t users_of(struct fx *f, int64_t school)
{
    return count(f, "SELECT count(*) FROM users WHERE school_id = $1", school);
}

static int64_t links_of(struct fx *f, int64_t school)
{
    return count(f, "SELECT count(*) FROM guardians WHERE school_id = $1", school);
}

/* Waits for n audit entries of student.import with this outcome in school A. */
static void expect_audit(struct fx *f, const char *outcome, int64_t n)
{
    char school[24], n_s[24];
    snprintf(school, sizeof school, "%" PRId64, f->a.school_id);
    snprintf(n_s, sizeof n_s, "%" PRId64, n);
    uint64_t deadline = tsys_mono_ms() + AUDIT_WAIT_MS;
    int64_t got = -1;
    while (tsys_mono_ms() < deadline) {
        got = tauth_sql_int(f->h,
                            "SELECT count(*) FROM audit_log WHERE op = 'student.import'"
                            " AND record_type = 'student_import' AND outcome = $1"
                            " AND school_id = $2",
                            outcome, school, NULL);
        if (got == n) {
            return;
        }
        tsys_sleep_ms(100);
    }
    fail_msg("expected %" PRId64 " audit entries student_import %s, found %" PRId64, n,
             outcome, got);
}

/* ---- the files ---- */

/* Good rows and bad rows; %s: another school's parent's phone, then A's driver's. */
static const char bad_file_fmt[] =
    "admission_no,name,dob,gender,class,section,roll_no,guardian_name,guardian_phone,"
    "guardian_relationship\n"
    "A100,Good One,2015-06-01,female,5,A,1,Mother One,98111 00001,mother\n"   /* 2 */
    "A101,Bad Date,2015-02-30,male,5,A,2,,,\n"                                 /* 3 */
    "A102,Unknown Class,,,9,A,3,,,\n"                                          /* 4 */
    "A100,Duplicate,,,5,B,4,,,\n"                                              /* 5 */
    "A103,Bad Phone,,,5,A,5,Father,12345,father\n"                             /* 6 */
    "A104,,,,5,A,6,,,\n"                                                       /* 7 */
    "A105,Other School,,,5,A,7,Parent B,%s,father\n"                           /* 8 */
    "A106,Driver Phone,,,5,A,8,Someone,%s,uncle\n"                             /* 9 */
    "A107,Old Year Class,,,7,A,9,,,\n"                                         /* 10 */
    "A108,No Section,,,5,Z,10,,,\n"                                            /* 11 */
    "A109,\"Quoted, Name\",2014-01-01,other,6,C,11,\"Rao, \"\"Asha\"\"\",9811100002,\n" /* 12 */
    "A110,Gender Bad,,unknown,5,A,12,,,\n"                                     /* 13 */
    "A111,Roll Bad,,,5,A,1001,,,\n";                                           /* 14 */

static const struct want bad_file_errors[] = {
    { 3, "dob", "is not a real date" },
    { 4, "class", "no such class in the current academic year" },
    { 5, "admission_no", "is repeated: row 2 has it too" },
    { 6, "guardian_phone", "not a valid phone number" },
    { 7, "name", "is required" },
    { 8, "guardian_phone", "this phone number belongs to another account" },
    { 9, "guardian_phone",
      "this phone number belongs to a user of the school who is not a parent" },
    { 10, "class", "no such class in the current academic year" },
    { 11, "section", "no such section of class 5" },
    { 13, "gender", "must be female, male or other" },
    { 14, "roll_no", "must be a whole number from 1 to 1000" },
};
#define N_BAD (sizeof bad_file_errors / sizeof bad_file_errors[0])

static char *bad_file(struct fx *f)
{
    char *s = NULL;
    assert_true(asprintf(&s, bad_file_fmt, f->parent_b_phone, f->driver1_phone) > 0);
    return s;
}

/* ---- tests ---- */

static void test_bad_rows_give_every_error_and_write_nothing(void **state)
{
    struct fx *f = fx_of(state);
    int64_t students = students_of(f, f->a.school_id), users = users_of(f, f->a.school_id);
    int64_t links = links_of(f, f->a.school_id);
    char *csv = bad_file(f);

    struct tmsg *m = import(f->a.c, csv, true);
    expect_counts(m, 13, 0, 0, 0, true);
    expect_errors(m, bad_file_errors, N_BAD);
    tmsg_free(m);
    assert_int_equal(students_of(f, f->a.school_id), students);
    assert_int_equal(users_of(f, f->a.school_id), users);

    /* The real run of the same file: the same errors, and nothing written. */
    m = import(f->a.c, csv, false);
    expect_counts(m, 13, 0, 0, 0, false);
    expect_errors(m, bad_file_errors, N_BAD);
    tmsg_free(m);
    assert_int_equal(students_of(f, f->a.school_id), students);
    assert_int_equal(users_of(f, f->a.school_id), users);
    assert_int_equal(links_of(f, f->a.school_id), links);
    expect_audit(f, "bad_request", 1);

    /* Over the socket every string must be UTF-8: a file with invalid bytes is refused
     * whole (the command reports such rows one by one: test_cli). */
    char bad_utf8[] = "admission_no,name\nX1,Bad \xff Name\n";
    m = import(f->a.c, bad_utf8, true);
    assert_msg(tauth_is_err(m, "bad_request", "csv"), m);
    tmsg_free(m);
    free(csv);
    f->passed++;
}

static void test_header_and_quoting_errors(void **state)
{
    struct fx *f = fx_of(state);
    struct tmsg *m = import(f->a.c, "admission_no,nmae,dob,dob\nX1,Y,,\n", true);
    expect_counts(m, 0, 0, 0, 0, true);
    static const struct want header[] = {
        { 1, "name", "missing column (it is required)" },
        { 1, "dob", "column given twice" },
        { 1, "nmae", "unknown column" },
    };
    expect_errors(m, header, 3);
    tmsg_free(m);

    /* A quoted field left open stops the reading where it opened. */
    m = import(f->a.c, "admission_no,name\nQ1,Fine\nQ2,\"open\nstill\n", true);
    static const struct want open[] = { { 3, "name", "a quoted field is not closed" } };
    expect_errors(m, open, 1);
    tmsg_free(m);

    /* A record with the wrong number of fields is one error; other rows are still checked. */
    m = import(f->a.c, "admission_no,name,dob\nQ1,Fine\nQ2,Also,1990-13-01\n", true);
    expect_counts(m, 2, 0, 0, 0, true);
    static const struct want fields[] = {
        { 2, "", "has 2 fields where the header has 3" },
        { 3, "dob", "is not a real date" },
    };
    expect_errors(m, fields, 2);
    tmsg_free(m);

    /* At most 1000 errors are listed, then how many more there were. */
    struct strbuf_like {
        char *s;
        size_t cap;
    } many = { NULL, 0 };
    FILE *fp = open_memstream(&many.s, &many.cap);
    assert_non_null(fp);
    fprintf(fp, "admission_no,name\n");
    for (int i = 0; i < 1100; i++) {
        fprintf(fp, "M%d,\n", i);
    }
    fclose(fp);
    m = import(f->a.c, many.s, true);
    free(many.s);
    const msgpack_object *errs = tmsg_get(tf_data(m), "errors");
    assert_msg(errs && errs->type == MSGPACK_OBJECT_ARRAY && errs->via.array.size == 1001, m);
    assert_msg(tf_int_of(&errs->via.array.ptr[0], "row") == 2, m);
    assert_msg(tf_int_of(&errs->via.array.ptr[999], "row") == 1001, m);
    assert_msg(tf_int_of(&errs->via.array.ptr[1000], "row") == 0 &&
                   tf_str_is(&errs->via.array.ptr[1000], "message",
                             "100 more errors not listed"),
               m);
    tmsg_free(m);

    /* An unknown column's long Devanagari name is cut on a character boundary: 47 bytes
     * would split the 16th letter. */
    m = import(f->a.c, "admission_no,name,कक्षाकक्षाकक्षाकक्षाकक्षा\nU1,U,x\n", true);
    static const struct want cut[] = { { 1, "कक्षाकक्षाकक्षा", "unknown column" } };
    expect_errors(m, cut, 1); /* and the reply decoded: its strings are well formed */
    tmsg_free(m);

    /* A header alone imports nothing; an empty csv is refused by the schema. */
    m = import(f->a.c, "admission_no,name\r\n", false);
    expect_counts(m, 0, 0, 0, 0, false);
    expect_errors(m, NULL, 0);
    tmsg_free(m);
    m = tauth_call(f->a.c, "student.import", "{csv: \"\"}");
    assert_msg(tauth_is_err(m, "bad_request", "csv"), m);
    tmsg_free(m);
    m = tauth_call(f->a.c, "student.import", "{dry_run: true}");
    assert_msg(tauth_is_err(m, "bad_request", "csv"), m);
    tmsg_free(m);
    m = tauth_call(f->a.c, "student.import", "{csv: \"a\", dry_run: 3}");
    assert_msg(tauth_is_err(m, "bad_request", "dry_run"), m);
    tmsg_free(m);
    f->passed++;
}

/* The id of school A's student by admission number. */
static int64_t student_id(struct fx *f, const char *adm)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, f->a.school_id);
    return tauth_sql_int(f->h, "SELECT id FROM students WHERE school_id = $1 AND admission_no = $2",
                         s, adm, NULL);
}

/* Whether the row of the query exists: sql takes the student's admission number as $1. */
static bool holds(struct fx *f, const char *sql, const char *adm, const char *a, const char *b)
{
    return tauth_sql(f->h, sql, adm, a, b, NULL) == 1;
}

static void test_clean_file_imports(void **state)
{
    struct fx *f = fx_of(state);
    int64_t users = users_of(f, f->a.school_id);
    char *csv = NULL;
    /* CRLF line ends, a byte order mark, every column, quoted fields with a comma, quotes and
     * a line break, Devanagari; one guardian shared by two siblings, one already a parent of
     * the school, a student without guardian or section. */
    assert_true(asprintf(&csv,
        "\xEF\xBB\xBF" "Admission_No,name,dob,gender,nationality,class,section,roll_no,"
        "enrolled_on,guardian_name,guardian_phone,guardian_relationship,guardian2_name,"
        "guardian2_phone,guardian2_relationship\r\n"
        "C1,अनन्या शर्मा,2015-06-01,Female,Indian,5,A,1,2026-04-01,सुनीता शर्मा,98111 10001,"
        "mother,Rakesh Sharma,+91 98111 10002,father\r\n"
        "C2,\"Sharma, Rohan \"\"Ro\"\"\",2017-01-15,male,Indian,5,B,2,,Sunita S,9811110001,"
        "mother,,,\r\n"
        "C3,\"Line\nBreak\",,,,6,C,3,,Parent One,%s,father,,,\r\n"
        "C4, No Guardian ,,,,,,,,,,,,,\r\n",
        f->parent1_phone) > 0);

    struct tmsg *m = import(f->a.c, csv, true);
    expect_counts(m, 4, 4, 2, 4, true);
    expect_errors(m, NULL, 0);
    tmsg_free(m);
    assert_int_equal(student_id(f, "C1"), -1);
    assert_int_equal(users_of(f, f->a.school_id), users);

    m = import(f->a.c, csv, false);
    expect_counts(m, 4, 4, 2, 4, false);
    expect_errors(m, NULL, 0);
    tmsg_free(m);
    expect_audit(f, "ok", 1);
    assert_int_equal(users_of(f, f->a.school_id), users + 2);

    /* Placed in the current year, enrolled, the values as written. */
    static const char placed[] =
        "SELECT 1 FROM students s WHERE s.admission_no = $1 AND s.section_id = $2::bigint"
        " AND s.year_id = $3::bigint AND s.status = 'enrolled' AND s.active";
    char y[24], s5a[24], s5b[24], s6c[24];
    snprintf(y, sizeof y, "%" PRId64, f->year);
    snprintf(s5a, sizeof s5a, "%" PRId64, f->sec_5a);
    snprintf(s5b, sizeof s5b, "%" PRId64, f->sec_5b);
    snprintf(s6c, sizeof s6c, "%" PRId64, f->sec_6c);
    assert_true(holds(f, placed, "C1", s5a, y));
    assert_true(holds(f, placed, "C2", s5b, y));
    assert_true(holds(f, placed, "C3", s6c, y));
    assert_true(holds(f,
                      "SELECT 1 FROM students WHERE admission_no = $1 AND section_id IS NULL"
                      " AND year_id = $2::bigint AND name = $3 AND roll_no IS NULL",
                      "C4", y, "No Guardian"));
    assert_true(holds(f,
                      "SELECT 1 FROM students WHERE admission_no = $1 AND name = $2"
                      " AND gender = 'female' AND nationality = $3 AND roll_no = 1"
                      " AND enrolled_on = '2026-04-01'",
                      "C1", "अनन्या शर्मा", "Indian"));
    assert_true(holds(f,
                      "SELECT 1 FROM students WHERE admission_no = $1 AND name = $2"
                      " AND enrolled_on = current_date AND dob_enc IS NOT NULL",
                      "C2", "Sharma, Rohan \"Ro\"", NULL));
    assert_true(holds(f, "SELECT 1 FROM students WHERE admission_no = $1 AND name = $2"
                         " AND dob_enc IS NULL",
                      "C3", "Line\nBreak", NULL));
    /* The date of birth is sealed to its row. */
    char dob[16];
    int64_t c1 = student_id(f, "C1");
    assert_int_equal(tdob_open(f->h, c1, c1, dob), 0);
    assert_string_equal(dob, "2015-06-01");

    /* The siblings' guardian was created once, named from the first row, and linked to both;
     * the existing parent was found by phone. */
    static const char guardian[] =
        "SELECT 1 FROM guardians g JOIN students s ON s.id = g.student_id"
        " JOIN users u ON u.id = g.user_id"
        " WHERE s.admission_no = $1 AND u.name = $2 AND g.relationship = $3"
        " AND u.role = 'parent' AND u.school_id = g.school_id";
    assert_true(holds(f, guardian, "C1", "सुनीता शर्मा", "mother"));
    assert_true(holds(f, guardian, "C1", "Rakesh Sharma", "father"));
    assert_true(holds(f, guardian, "C2", "सुनीता शर्मा", "mother"));
    assert_true(holds(f, guardian, "C3", "Parent One", "father"));
    assert_int_equal(count(f,
                           "SELECT count(*) FROM users WHERE school_id = $1"
                           " AND name = 'सुनीता शर्मा'",
                           f->a.school_id),
                     1);
    char p1[24];
    snprintf(p1, sizeof p1, "%" PRId64, f->parent1);
    assert_true(holds(f,
                      "SELECT 1 FROM guardians g JOIN students s ON s.id = g.student_id"
                      " WHERE s.admission_no = $1 AND g.user_id = $2::bigint",
                      "C3", p1, NULL));

    /* The new parent can log in with the number as typed in the file: sealed and indexed like
     * every user's. */
    struct tauth_login mum;
    assert_int_equal(tauth_login(f->h, "+919811110001", "web", "linux", "1.0", &mum), 0);
    assert_string_equal(mum.role, "parent");
    tauth_login_close(&mum);

    /* A third sibling later finds the same guardian by phone. */
    m = import(f->a.c,
               "admission_no,name,guardian_name,guardian_phone\nC5,Third Child,Mum,"
               "+919811110001\n",
               false);
    expect_counts(m, 1, 1, 0, 1, false);
    tmsg_free(m);
    assert_true(holds(f, guardian, "C5", "सुनीता शर्मा", "guardian"));

    /* The same file again: every admission number is taken now. */
    m = import(f->a.c, csv, true);
    static const struct want taken[] = {
        { 2, "admission_no", "is already used in the school" },
        { 3, "admission_no", "is already used in the school" },
        { 4, "admission_no", "is already used in the school" },
        { 6, "admission_no", "is already used in the school" },
    };
    expect_errors(m, taken, 4);
    tmsg_free(m);
    free(csv);
    f->passed++;
}

static void test_other_schools_phone_refused(void **state)
{
    struct fx *f = fx_of(state);
    /* B imports with A's parent's phone: refused without naming the school; A's classes are
     * not B's either. */
    char *csv = NULL;
    assert_true(asprintf(&csv,
                         "admission_no,name,class,section,guardian_name,guardian_phone\n"
                         "B1,Bee,5,A,Someone,%s\n"
                         "B2,Cee,6,C,,\n",
                         f->parent1_phone) > 0);
    int64_t students = students_of(f, f->b.school_id), users = users_of(f, f->b.school_id);
    struct tmsg *m = import(f->b.c, csv, false);
    static const struct want want[] = {
        { 2, "guardian_phone", "this phone number belongs to another account" },
        { 3, "class", "no such class in the current academic year" },
    };
    expect_errors(m, want, 2);
    tmsg_free(m);
    assert_int_equal(students_of(f, f->b.school_id), students);
    assert_int_equal(users_of(f, f->b.school_id), users);
    /* A's admission numbers are free in B. */
    m = import(f->b.c, "admission_no,name,class,section\nC1,Bee One,5,A\n", false);
    expect_counts(m, 1, 1, 0, 0, false);
    tmsg_free(m);
    free(csv);
    f->passed++;
}

static void test_only_admins_import(void **state)
{
    struct fx *f = fx_of(state);
    const char *csv = "admission_no,name\nR1,Role Test\n";
    struct tmsg *m = import(f->teacher.c, csv, true);
    assert_msg(tauth_is_err(m, "forbidden", NULL), m);
    tmsg_free(m);
    m = import(f->parent.c, csv, false);
    assert_msg(tauth_is_err(m, "forbidden", NULL), m);
    tmsg_free(m);
    assert_int_equal(student_id(f, "R1"), -1);
    f->passed++;
}

/* ---- the command ---- */

struct cli {
    int status;
    char *out, *err;
};

/* Runs classment-admin import students --school school FILE [--dry-run] on csv (len bytes). */
static struct cli run_cli(struct fx *f, int64_t school, const char *csv, size_t len,
                          bool dry_run)
{
    char dir[] = "/tmp/it49.XXXXXX";
    assert_non_null(mkdtemp(dir));
    char file[64], out[64], err[64], school_s[24];
    snprintf(file, sizeof file, "%s/in.csv", dir);
    snprintf(out, sizeof out, "%s/out", dir);
    snprintf(err, sizeof err, "%s/err", dir);
    snprintf(school_s, sizeof school_s, "%" PRId64, school);
    FILE *fp = fopen(file, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(csv, 1, len, fp), len);
    fclose(fp);
    const char *bin = getenv("CLASSMENT_ADMIN_BIN");
    assert_non_null(bin);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (!freopen(out, "w", stdout) || !freopen(err, "w", stderr)) {
            _exit(126);
        }
        setenv("CLASSMENT_DB", harness_conninfo(f->h), 1);
        setenv("CLASSMENT_KEY_FILE", harness_key_path(f->h), 1);
        unsetenv("CLASSMENT_DEFAULT_CC");
        if (dry_run) {
            execl(bin, bin, "import", "students", "--school", school_s, file, "--dry-run",
                  (char *)NULL);
        } else {
            execl(bin, bin, "import", "students", "--school", school_s, file, (char *)NULL);
        }
        _exit(127);
    }
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    struct cli r = { .status = WIFEXITED(ws) ? WEXITSTATUS(ws) : -1 };
    r.out = tsys_read_file(out, NULL);
    r.err = tsys_read_file(err, NULL);
    unlink(file);
    unlink(out);
    unlink(err);
    rmdir(dir);
    assert_non_null(r.out);
    assert_non_null(r.err);
    return r;
}

static void cli_free(struct cli *r)
{
    free(r->out);
    free(r->err);
}

static void test_cli(void **state)
{
    struct fx *f = fx_of(state);
    /* The bad file and one more row that is not valid UTF-8: the command reports it as an
     * error of its row. */
    char *base = bad_file(f), *csv = NULL;
    assert_true(asprintf(&csv, "%sA112,Bad \xff Name,,,5,A,13,,,\n", base) > 0);
    int64_t students = students_of(f, f->a.school_id), users = users_of(f, f->a.school_id);
    for (int dry = 1; dry >= 0; dry--) {
        struct cli r = run_cli(f, f->a.school_id, csv, strlen(csv), dry);
        if (r.status != 1) {
            fail_msg("exit %d, stdout %s, stderr %s", r.status, r.out, r.err);
        }
        for (size_t i = 0; i < N_BAD; i++) {
            char line[200];
            snprintf(line, sizeof line, "row %d, column %s: %s\n", bad_file_errors[i].row,
                     bad_file_errors[i].column, bad_file_errors[i].message);
            if (!strstr(r.err, line)) {
                fail_msg("stderr lacks \"%s\": %s", line, r.err);
            }
        }
        if (!strstr(r.err, "row 15, column name: is not valid UTF-8\n") ||
            !strstr(r.err, dry ? "14 rows, 12 errors: this was a dry run"
                               : "14 rows, 12 errors: nothing was imported")) {
            fail_msg("stderr: %s", r.err);
        }
        if (!strstr(r.out, "\"rows\":14,\"created\":0") || !strstr(r.out, "\"errors\":12")) {
            fail_msg("stdout: %s", r.out);
        }
        cli_free(&r);
        assert_int_equal(students_of(f, f->a.school_id), students);
        assert_int_equal(users_of(f, f->a.school_id), users);
    }
    free(csv);
    free(base);

    /* A clean file imports; its guardian is then found by the op's imports too. */
    const char clean[] = "admission_no,name,class,section,guardian_name,guardian_phone\n"
                         "K1,Cli One,5,A,Cli Parent,98111 20001\n"
                         "K2,Cli Two,5,B,Cli Parent,98111 20001\n";
    struct cli r = run_cli(f, f->a.school_id, clean, strlen(clean), false);
    if (r.status != 0 || !strstr(r.out, "{\"rows\":2,\"created\":2,\"guardians_created\":1,"
                                        "\"guardians_linked\":2,\"dry_run\":false,"
                                        "\"errors\":0}")) {
        fail_msg("exit %d, stdout %s, stderr %s", r.status, r.out, r.err);
    }
    cli_free(&r);
    assert_int_equal(students_of(f, f->a.school_id), students + 2);
    assert_int_equal(users_of(f, f->a.school_id), users + 1);
    struct tmsg *m = import(f->a.c, "admission_no,name,guardian_name,guardian_phone\n"
                                    "K3,Cli Three,X,+919811120001\n",
                            true);
    expect_counts(m, 1, 1, 0, 1, true);
    tmsg_free(m);

    /* An unknown school. */
    r = run_cli(f, 999999, clean, strlen(clean), true);
    assert_int_equal(r.status, 1);
    assert_non_null(strstr(r.err, "no school with id 999999"));
    cli_free(&r);
    f->passed++;
}

/* ---- 5,000 rows ---- */

/* BIG_ROWS rows: admission numbers prefix-N, two siblings per guardian, all placed. */
static char *big_file(const char *prefix, unsigned phone_base, size_t *len)
{
    char *s = NULL;
    size_t cap = 0;
    FILE *fp = open_memstream(&s, &cap);
    assert_non_null(fp);
    fprintf(fp, "admission_no,name,dob,gender,class,section,roll_no,guardian_name,"
                "guardian_phone,guardian_relationship\r\n");
    for (unsigned i = 0; i < BIG_ROWS; i++) {
        fprintf(fp, "%s%05u,\"Student %u, Big\",2015-%02u-%02u,%s,5,%s,%u,Guardian %u,"
                    "98%03u %05u,mother\r\n",
                prefix, i, i, 1 + i % 12, 1 + i % 28, i % 2 ? "male" : "female",
                i % 2 ? "B" : "A", 1 + i % 1000, i / 2, phone_base, i / 2);
    }
    fclose(fp);
    *len = strlen(s);
    return s;
}

static void test_five_thousand_rows(void **state)
{
    struct fx *f = fx_of(state);
    int64_t students = students_of(f, f->a.school_id), users = users_of(f, f->a.school_id);
    size_t len;
    char *csv = big_file("OP", 400, &len);
    uint64_t t0 = tsys_mono_ms();
    struct tmsg *m = import(f->a.c, csv, false);
    uint64_t op_ms = tsys_mono_ms() - t0;
    expect_counts(m, BIG_ROWS, BIG_ROWS, BIG_ROWS / 2, BIG_ROWS, false);
    tmsg_free(m);
    free(csv);
    assert_int_equal(students_of(f, f->a.school_id), students + BIG_ROWS);
    assert_int_equal(users_of(f, f->a.school_id), users + BIG_ROWS / 2);

    csv = big_file("CL", 500, &len);
    t0 = tsys_mono_ms();
    struct cli r = run_cli(f, f->a.school_id, csv, len, false);
    uint64_t cli_ms = tsys_mono_ms() - t0;
    if (r.status != 0) {
        fail_msg("exit %d, stdout %s, stderr %s", r.status, r.out, r.err);
    }
    cli_free(&r);
    free(csv);
    assert_int_equal(students_of(f, f->a.school_id), students + 2 * BIG_ROWS);
    fprintf(stderr, "49_import: %d rows (%zu bytes): op %" PRIu64 " ms, command %" PRIu64
                    " ms\n",
            BIG_ROWS, len, op_ms, cli_ms);
    /* The benchmark holds the figure; this only catches something far off. */
    assert_true(op_ms < 10000);
    f->passed++;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_rows_give_every_error_and_write_nothing),
        cmocka_unit_test(test_header_and_quoting_errors),
        cmocka_unit_test(test_clean_file_imports),
        cmocka_unit_test(test_other_schools_phone_refused),
        cmocka_unit_test(test_only_admins_import),
        cmocka_unit_test(test_cli),
        cmocka_unit_test(test_five_thousand_rows),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
