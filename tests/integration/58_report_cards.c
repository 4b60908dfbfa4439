/* Report cards over the socket API and HTTP: the class teacher's remarks, publication telling
 * only the right parents (live, and in notices for those offline), who may have a signed link
 * (report_card.get) before and after publication, the PDF itself fetched over real HTTP and
 * read back with pdftotext (the student's Devanagari name, each subject, marks and grades),
 * the cache (a second fetch is not drawn again; a mark change draws it anew), expired and
 * forged links, a client that goes away before its card, and the longest remark. Exams and
 * marks are written straight into the tables (the assessment ops are tested elsewhere). */
#define _GNU_SOURCE /* memmem, strcasestr */
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
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <msgpack.h>

#include "academics/report_cards.h"
#include "core/crypto.h"
#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tcheck.h"
#include "tests/support/tclient.h"
#include "tests/support/tfixture.h"
#include "tests/support/trecords.h"
#include "tests/support/tsys.h"

#define EVENT_WAIT_MS 3000
#define HTTP_WAIT_MS 60000
#define STUDENT_NAME "आरव शर्मा" /* Aarav Sharma, in Devanagari */

/* One server, two schools. A: class 5 with sections A (s1, s2; class teacher t1; t3 teaches
 * Mathematics there) and B (s4; class teacher t2); p1 and p1b parents of s1 (p1b never logs
 * in: offline), p2 of s2, p4 of s4. B: a section with student sb and its own term. */
struct fx {
    struct harness *h;
    struct tauth_login a, b, t1, t2, t3, p1, p2, p4;
    int64_t teacher1, teacher2, teacher3, parent1, parent1b, parent2, parent4;
    char t1_phone[TAUTH_PHONE_MAX], t2_phone[TAUTH_PHONE_MAX], t3_phone[TAUTH_PHONE_MAX];
    char p1_phone[TAUTH_PHONE_MAX], p1b_phone[TAUTH_PHONE_MAX], p2_phone[TAUTH_PHONE_MAX];
    char p4_phone[TAUTH_PHONE_MAX];
    int64_t class_a, sec_a, sec_b, sec_other, maths, science;
    int64_t term, term_b, exam_maths, exam_science;
    int64_t s1, s2, s4, sb;
    bool valgrind;
    int passed;
};

#define N_TESTS 8

static int64_t sql_int(struct fx *f, const char *sql, int64_t a, int64_t b)
{
    char x[24], y[24];
    return tauth_sql_int(f->h, sql, tf_num(x, a), tf_num(y, b), NULL);
}

static int group_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    *state = f;
    /* Under valgrind when CLASSMENT_TEST_VALGRIND=1 (about 20 s: Pango is slow there): the
     * last test checks its report. The sanitizer build runs it under ASan. */
    const char *v = getenv("CLASSMENT_TEST_VALGRIND");
    f->valgrind = v && strcmp(v, "1") == 0;
    /* Under ASan, LeakSanitizer is told of the font libraries' process-wide caches (see
     * tests/lsan.supp) unless the caller already set its options. */
    static const char *const lsan_env[] = {
        "LSAN_OPTIONS=suppressions=" CLASSMENT_SRC_ROOT "/tests/lsan.supp:print_suppressions=0",
        NULL,
    };
    if (tfix_two_schools(&f->h,
                         &(struct harness_opts){ .valgrind = f->valgrind,
                                                 .env = getenv("LSAN_OPTIONS") ? NULL : lsan_env },
                         &f->a, &f->b) != 0) {
        return -1;
    }
    f->teacher1 = tfix_user(f->a.c, "teacher", "Meera Iyer", 11, f->t1_phone);
    f->teacher2 = tfix_user(f->a.c, "teacher", "Teacher Two", 12, f->t2_phone);
    f->teacher3 = tfix_user(f->a.c, "teacher", "Teacher Three", 13, f->t3_phone);
    f->parent1 = tfix_user(f->a.c, "parent", "Parent One", 14, f->p1_phone);
    f->parent1b = tfix_user(f->a.c, "parent", "Parent One B", 15, f->p1b_phone);
    f->parent2 = tfix_user(f->a.c, "parent", "Parent Two", 16, f->p2_phone);
    f->parent4 = tfix_user(f->a.c, "parent", "Parent Four", 17, f->p4_phone);
    if (f->teacher1 < 0 || f->teacher2 < 0 || f->teacher3 < 0 || f->parent1 < 0 ||
        f->parent1b < 0 || f->parent2 < 0 || f->parent4 < 0) {
        return -1;
    }
    char starts[11], ends[11];
    time_t now = time(NULL);
    struct tm tm;
    time_t t0 = now - 200 * 86400, t1 = now + 200 * 86400;
    strftime(starts, sizeof starts, "%Y-%m-%d", localtime_r(&t0, &tm));
    strftime(ends, sizeof ends, "%Y-%m-%d", localtime_r(&t1, &tm));
    if (trec_year(f->a.c, "2026-27", starts, ends, true) < 0 ||
        trec_year(f->b.c, "2026-27", starts, ends, true) < 0) {
        return -1;
    }
    f->class_a = trec_class(f->a.c, "Class 5");
    int64_t class_b = trec_class(f->b.c, "Class 5");
    if (f->class_a < 0 || class_b < 0) {
        return -1;
    }
    f->sec_a = trec_section(f->a.c, f->class_a, "A", f->teacher1);
    f->sec_b = trec_section(f->a.c, f->class_a, "B", f->teacher2);
    f->sec_other = trec_section(f->b.c, class_b, "A", 0);
    f->maths = trec_subject(f->a.c, f->class_a, "Mathematics");
    f->science = trec_subject(f->a.c, f->class_a, "Science");
    if (f->sec_a < 0 || f->sec_b < 0 || f->sec_other < 0 || f->maths < 0 || f->science < 0 ||
        trec_assign(f->a.c, f->teacher3, f->sec_a, f->maths) != 0) {
        return -1;
    }
    struct tmsg *m = tauth_call(f->a.c, "student.create",
                                "{name: %s, admission_no: \"A-1\", dob: \"2015-08-14\","
                                " class: \"Class 5\", section: \"A\", roll_no: 1}",
                                STUDENT_NAME);
    if (!tauth_int(m, "data.id", &f->s1)) {
        fprintf(stderr, "student.create: %s\n", m ? tmsg_text(m) : "no reply");
        f->s1 = -1;
    }
    tmsg_free(m);
    f->s2 = trec_student(f->a.c, "Bala", "A-2", "Class 5", "A", 2);
    f->s4 = trec_student(f->a.c, "Dev", "B-1", "Class 5", "B", 1);
    f->sb = trec_student(f->b.c, "Esha", "X-1", "Class 5", "A", 1);
    if (f->s1 < 0 || f->s2 < 0 || f->s4 < 0 || f->sb < 0 ||
        tfix_link_guardian(f->a.c, f->s1, f->parent1) != 0 ||
        tfix_link_guardian(f->a.c, f->s1, f->parent1b) != 0 ||
        tfix_link_guardian(f->a.c, f->s2, f->parent2) != 0 ||
        tfix_link_guardian(f->a.c, f->s4, f->parent4) != 0) {
        return -1;
    }
    static const char term_sql[] =
        "INSERT INTO terms (school_id, year_id, name, starts_on, ends_on)"
        " SELECT $1, id, 'Term 1', current_date - 100, current_date + 10 FROM academic_years"
        " WHERE school_id = $1 AND current AND $2::bigint = 0 RETURNING id";
    f->term = sql_int(f, term_sql, f->a.school_id, 0);
    f->term_b = sql_int(f, term_sql, f->b.school_id, 0);
    static const char exam_sql[] =
        "INSERT INTO exams (school_id, section_id, subject_id, term_id, name, max_marks)"
        " SELECT school_id, $1, $2, (SELECT id FROM terms WHERE school_id = s.school_id"
        " AND name = 'Term 1'), 'Unit test', 100 FROM sections s"
        " WHERE s.id = $1 AND $2::bigint > 0 RETURNING id";
    f->exam_maths = sql_int(f, exam_sql, f->sec_a, f->maths);
    f->exam_science = sql_int(f, exam_sql, f->sec_a, f->science);
    if (f->term < 0 || f->term_b < 0 || f->exam_maths < 0 || f->exam_science < 0) {
        return -1;
    }
    char e1[24], e2[24], st1[24], st2[24], sc[24];
    tf_num(sc, f->a.school_id);
    tf_num(st1, f->s1);
    tf_num(st2, f->s2);
    tf_num(e1, f->exam_maths);
    tf_num(e2, f->exam_science);
    /* s1: Mathematics 78.5 / 100 (B1), Science 93 / 100 (A1); s2: 60 (B2... C1) and absent. */
    if (tauth_sql(f->h,
                  "INSERT INTO marks (exam_id, student_id, school_id, marks, status) VALUES"
                  " ($1, $3, $5, 78.5, 'present'), ($2, $3, $5, 93, 'present'),"
                  " ($1, $4, $5, 60, 'present'), ($2, $4, $5, NULL, 'absent')",
                  e1, e2, st1, st2, sc, NULL) != 4) {
        return -1;
    }
    /* s1's term attendance: three days present, one absent. */
    char sec[24];
    if (tauth_sql(f->h,
                  "INSERT INTO attendance (school_id, section_id, student_id, day, status)"
                  " SELECT $1, $2, $3, current_date - d, CASE WHEN d = 4 THEN 'absent'"
                  " ELSE 'present' END FROM generate_series(1, 4) d",
                  sc, tf_num(sec, f->sec_a), st1, NULL) != 4) {
        return -1;
    }
    if (tauth_login(f->h, f->t1_phone, "web", "linux", "1.0", &f->t1) != 0 ||
        tauth_login(f->h, f->t2_phone, "web", "linux", "1.0", &f->t2) != 0 ||
        tauth_login(f->h, f->t3_phone, "web", "linux", "1.0", &f->t3) != 0 ||
        tauth_login(f->h, f->p1_phone, "android", "14", "1.0", &f->p1) != 0 ||
        tauth_login(f->h, f->p2_phone, "android", "14", "1.0", &f->p2) != 0 ||
        tauth_login(f->h, f->p4_phone, "android", "14", "1.0", &f->p4) != 0) {
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

/* ---- helpers ---- */

/* report_card.get's path for (student, term) as c; checks expires_at. */
static void get_link(struct wsclient *c, int64_t student, int64_t term, char path[256])
{
    struct tmsg *m = CALL_OK(c, "report_card.get", "{student: %D, term: %D}", student, term);
    assert_msg(tauth_str(m, "data.url", path, 256), m);
    assert_true(strncmp(path, "/v1/report-cards/", 17) == 0);
    assert_int_equal(strlen(path), 17 + REPORT_CARD_TOKEN_CHARS + 4);
    int64_t expires;
    assert_msg(tauth_int(m, "data.expires_at", &expires), m);
    int64_t now_ms = (int64_t)tsys_wall_ms();
    assert_true(expires > now_ms + 590 * 1000 && expires <= now_ms + 601 * 1000);
    tmsg_free(m);
}

struct http_answer {
    int status;
    char *head, *body;
    size_t len;
};

static void answer_free(struct http_answer *a)
{
    free(a->head);
    free(a->body);
    memset(a, 0, sizeof *a);
}

/* The value of a header (case-insensitive name), copied; "" when absent. */
static void header(const struct http_answer *a, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    for (const char *p = a->head; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        size_t k = strlen(name);
        if (n > k && strncasecmp(p, name, k) == 0 && p[k] == ':') {
            const char *v = p + k + 1;
            while (*v == ' ') {
                v++;
            }
            snprintf(out, cap, "%.*s", (int)(n - (size_t)(v - p)), v);
            return;
        }
        p = eol ? eol + 2 : p + n;
    }
}

/* GET path with Connection: close, read to the end: binary-safe (the harness's reader
 * returns strings, and a PDF holds NUL bytes). */
static void http_get(struct fx *f, const char *path, struct http_answer *a)
{
    memset(a, 0, sizeof *a);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct timeval tv = { .tv_sec = HTTP_WAIT_MS / 1000 };
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)harness_port(f->h)) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[512];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap + 1);
    for (;;) {
        if (len == cap) {
            cap *= 2;
            buf = realloc(buf, cap + 1);
        }
        ssize_t r = read(fd, buf + len, cap - len);
        if (r <= 0) {
            break;
        }
        len += (size_t)r;
        /* Stop once Content-Length bytes of body are in (the server may keep it open). */
        buf[len] = '\0';
        char *end = memmem(buf, len, "\r\n\r\n", 4);
        if (end) {
            char *cl = strcasestr(buf, "\r\ncontent-length:");
            if (cl && cl < end && len >= (size_t)(end + 4 - buf) + strtoul(cl + 17, NULL, 10)) {
                break;
            }
        }
    }
    close(fd);
    buf[len] = '\0';
    char *end = memmem(buf, len, "\r\n\r\n", 4);
    assert_non_null(end);
    assert_int_equal(sscanf(buf, "HTTP/1.%*d %d", &a->status), 1);
    a->head = strndup(buf, (size_t)(end - buf) + 2);
    char cl[32];
    header(a, "content-length", cl, sizeof cl);
    size_t body_len = len - (size_t)(end + 4 - buf);
    a->len = cl[0] ? strtoul(cl, NULL, 10) : body_len;
    assert_int_equal(a->len, body_len);
    a->body = malloc(a->len + 1);
    memcpy(a->body, end + 4, a->len);
    a->body[a->len] = '\0';
    free(buf);
}

/* The PDF's text (pdftotext -layout), caller frees. */
static char *pdf_text(const struct http_answer *a)
{
    char pdf[] = "/tmp/rc58-XXXXXX";
    int fd = mkstemp(pdf);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, a->body, a->len), (ssize_t)a->len);
    close(fd);
    char txt[64];
    snprintf(txt, sizeof txt, "%s.txt", pdf);
    const char *argv[] = { "pdftotext", "-enc", "UTF-8", "-layout", pdf, txt, NULL };
    int r = tsys_run(argv, NULL, 30000);
    char *text = tsys_read_file(txt, NULL);
    const char *keep = getenv("RC58_KEEP"); /* a directory to keep the cards in, for a look */
    if (keep) {
        static int n;
        char copy[512];
        snprintf(copy, sizeof copy, "%s/card-%d.pdf", keep, ++n);
        FILE *out = fopen(copy, "wb");
        if (out) {
            fwrite(a->body, 1, a->len, out);
            fclose(out);
        }
    }
    if (r != 0 || !text) {
        fprintf(stderr, "pdftotext failed on %s (%zu bytes)\n", pdf, a->len);
    } else {
        unlink(pdf);
    }
    unlink(txt);
    if (r != 0 || !text) {
        fail_msg("pdftotext failed (%d)", r);
    }
    return text;
}

static void expect_text(const char *text, const char *want)
{
    if (!text || !strstr(text, want)) {
        fail_msg("\"%s\" not in the card's text:\n%s", want, text ? text : "(none)");
    }
}

static long long metric(struct fx *f, const char *sample)
{
    return tauth_metric(harness_port(f->h), sample);
}

#define RENDERED "classment_report_cards_rendered_total"
#define CACHED "classment_report_cards_cached_total"

/* ---- tests ---- */

static void test_remarks(void **state)
{
    struct fx *f = *state;
    struct tmsg *m = CALL_OK(f->t1.c, "report_card.remark", "{student: %D, term: %D, remarks: %s}",
                             f->s1, f->term, "Works hard; reads well. बहुत अच्छा।");
    tmsg_free(m);
    assert_int_equal(sql_int(f,
                             "SELECT count(*) FROM report_card_remarks WHERE student_id = $1"
                             " AND updated_by = $2 AND remarks LIKE 'Works hard%%'",
                             f->s1, f->teacher1),
                     1);
    assert_true(tfix_audit_seen(f->h, f->a.school_id, "report_card.remark",
                                "report_card_remarks", f->s1, "ok"));
    /* An admin may too (and overwrites). */
    m = CALL_OK(f->a.c, "report_card.remark", "{student: %D, term: %D, remarks: %s}", f->s2,
                f->term, "Good.");
    tmsg_free(m);
    /* A subject teacher of the section is not its class teacher. */
    CALL_ERR("forbidden", "student", f->t3.c, "report_card.remark",
             "{student: %D, term: %D, remarks: \"x\"}", f->s1, f->term);
    /* Another section's class teacher, a parent. */
    CALL_ERR("forbidden", "student", f->t2.c, "report_card.remark",
             "{student: %D, term: %D, remarks: \"x\"}", f->s1, f->term);
    CALL_ERR("forbidden", NULL, f->p1.c, "report_card.remark",
             "{student: %D, term: %D, remarks: \"x\"}", f->s1, f->term);
    /* Another school's student or term; unknown ids. */
    CALL_ERR("not_found", "student", f->a.c, "report_card.remark",
             "{student: %D, term: %D, remarks: \"x\"}", f->sb, f->term);
    CALL_ERR("not_found", "term", f->a.c, "report_card.remark",
             "{student: %D, term: %D, remarks: \"x\"}", f->s1, f->term_b);
    CALL_ERR("not_found", "term", f->a.c, "report_card.remark",
             "{student: %D, term: 99999999, remarks: \"x\"}", f->s1);
    /* Bad arguments. */
    CALL_ERR("bad_request", "remarks", f->a.c, "report_card.remark",
             "{student: %D, term: %D}", f->s1, f->term);
    CALL_ERR("bad_request", "term", f->a.c, "report_card.remark",
             "{student: %D, term: \"x\", remarks: \"x\"}", f->s1);
    char *big = malloc(REPORT_CARD_REMARKS_MAX + 2);
    memset(big, 'a', REPORT_CARD_REMARKS_MAX + 1);
    big[REPORT_CARD_REMARKS_MAX + 1] = '\0';
    CALL_ERR("bad_request", "remarks", f->a.c, "report_card.remark",
             "{student: %D, term: %D, remarks: %s}", f->s1, f->term, big);
    free(big);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM report_card_remarks WHERE student_id = $1"
                                " AND remarks = 'x' AND $2::bigint > 0",
                             f->s1, 1),
                     0);
    f->passed++;
}

static void test_get_before_publication(void **state)
{
    struct fx *f = *state;
    char path[256];
    get_link(f->a.c, f->s1, f->term, path);
    get_link(f->t1.c, f->s1, f->term, path); /* class teacher */
    get_link(f->t3.c, f->s1, f->term, path); /* a subject teacher of the section */
    CALL_ERR("forbidden", "student", f->t2.c, "report_card.get", "{student: %D, term: %D}",
             f->s1, f->term);
    /* The parent: not before publication; another child's parent: never. */
    CALL_ERR("forbidden", "term", f->p1.c, "report_card.get", "{student: %D, term: %D}", f->s1,
             f->term);
    CALL_ERR("forbidden", "student", f->p2.c, "report_card.get", "{student: %D, term: %D}",
             f->s1, f->term);
    CALL_ERR("not_found", "student", f->a.c, "report_card.get", "{student: %D, term: %D}", f->sb,
             f->term);
    CALL_ERR("not_found", "term", f->a.c, "report_card.get", "{student: %D, term: %D}", f->s1,
             f->term_b);
    CALL_ERR("not_found", "student", f->b.c, "report_card.get", "{student: %D, term: %D}",
             f->s1, f->term_b);
    CALL_ERR("bad_request", "term", f->a.c, "report_card.get", "{student: %D}", f->s1);
    f->passed++;
}

static void expect_published(struct wsclient *c, int64_t student, int64_t term)
{
    struct tmsg *m = tclient_recv(c, EVENT_WAIT_MS);
    assert_non_null(m);
    assert_msg(tmsg_is_event(m, "report_card.published") &&
                   tf_int_is(tf_at(m, "data"), "student", student) &&
                   tf_int_is(tf_at(m, "data"), "term", term),
               m);
    tmsg_free(m);
}

static void test_publish_tells_the_right_parents(void **state)
{
    struct fx *f = *state;
    /* Refusals first: nothing is published by them. */
    CALL_ERR("forbidden", NULL, f->t1.c, "report_card.publish", "{term: %D}", f->term);
    CALL_ERR("forbidden", NULL, f->p1.c, "report_card.publish", "{term: %D}", f->term);
    CALL_ERR("not_found", "term", f->a.c, "report_card.publish", "{term: %D}", f->term_b);
    CALL_ERR("not_found", "section", f->a.c, "report_card.publish", "{term: %D, section: %D}",
             f->term, f->sec_other);
    CALL_ERR("bad_request", "term", f->a.c, "report_card.publish", "{}");
    assert_int_equal(sql_int(f, "SELECT count(*) FROM report_card_publications WHERE term_id = $1"
                                " AND $2::bigint > 0",
                             f->term, 1),
                     0);
    /* 5A only: s1's two parents (one offline), s2's parent; not s4's. */
    struct tmsg *m = CALL_OK(f->a.c, "report_card.publish", "{term: %D, section: %D}", f->term,
                             f->sec_a);
    assert_msg(tf_int_is(tf_at(m, "data"), "published", 2), m);
    tmsg_free(m);
    expect_published(f->p1.c, f->s1, f->term);
    expect_published(f->p2.c, f->s2, f->term);
    assert_true(tclient_quiet(f->p4.c, 500));
    assert_true(tclient_quiet(f->p1.c, 200));
    /* Notices: one per parent of 5A's students, with the payload. */
    char term[24], u[24];
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM notices WHERE kind = 'report_card'"
                                   " AND user_id = $1 AND payload->>'term' = $2"
                                   " AND (payload->>'student')::bigint = student_id",
                                   tf_num(u, f->parent1b), tf_num(term, f->term), NULL),
                     1);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM notices WHERE kind = 'report_card'"
                                " AND school_id = $1 AND $2::bigint > 0",
                             f->a.school_id, 1),
                     3);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM notices WHERE kind = 'report_card'"
                                " AND user_id = $1 AND $2::bigint > 0",
                             f->parent4, 1),
                     0);
    assert_int_equal(sql_int(f, "SELECT count(*) FROM report_card_publications WHERE term_id = $1"
                                " AND section_id = $2 AND published_by IS NOT NULL",
                             f->term, f->sec_a),
                     1);
    assert_true(tfix_audit_seen(f->h, f->a.school_id, "report_card.publish", "term", f->term,
                                "ok"));
    /* The parent's notice list shows it, its data the event's map. */
    m = CALL_OK(f->p1.c, "notice.list", "{}");
    bool seen = false;
    for (uint32_t i = 0; i < 50 && !seen; i++) {
        const msgpack_object *n = tf_item(tmsg_root(m), "data", i);
        if (!n) {
            break;
        }
        seen = tf_str_is(n, "kind", "report_card") && tf_int_is(n, "data.term", f->term) &&
               tf_int_is(n, "data.student", f->s1) && tf_int_is(n, "student", f->s1);
    }
    assert_msg(seen, m);
    tmsg_free(m);
    /* Again: nobody is told twice. */
    m = CALL_OK(f->a.c, "report_card.publish", "{term: %D, section: %D}", f->term, f->sec_a);
    assert_msg(tf_int_is(tf_at(m, "data"), "published", 0), m);
    tmsg_free(m);
    assert_true(tclient_quiet(f->p1.c, 300));
    assert_int_equal(sql_int(f, "SELECT count(*) FROM notices WHERE kind = 'report_card'"
                                " AND school_id = $1 AND $2::bigint > 0",
                             f->a.school_id, 1),
                     3);
    /* Now s1's parent has a link; s4's parent (5B unpublished) has not. */
    char path[256];
    get_link(f->p1.c, f->s1, f->term, path);
    CALL_ERR("forbidden", "term", f->p4.c, "report_card.get", "{student: %D, term: %D}", f->s4,
             f->term);
    CALL_ERR("forbidden", "student", f->p4.c, "report_card.get", "{student: %D, term: %D}",
             f->s1, f->term);
    f->passed++;
}

static void test_pdf_over_http_and_cache(void **state)
{
    struct fx *f = *state;
    char path[256];
    get_link(f->p1.c, f->s1, f->term, path);
    long long rendered0 = metric(f, RENDERED), cached0 = metric(f, CACHED);
    assert_true(rendered0 >= 0 && cached0 >= 0);
    struct http_answer a;
    http_get(f, path, &a);
    assert_int_equal(a.status, 200);
    char v[256];
    header(&a, "content-type", v, sizeof v);
    assert_string_equal(v, "application/pdf");
    header(&a, "content-disposition", v, sizeof v);
    assert_string_equal(v, "inline; filename=\"report-card-A-1-Term-1.pdf\"");
    header(&a, "cache-control", v, sizeof v);
    assert_string_equal(v, "no-store");
    assert_true(a.len > 1000 && a.len < 100 * 1024);
    assert_memory_equal(a.body, "%PDF", 4);
    char *text = pdf_text(&a);
    expect_text(text, STUDENT_NAME);
    expect_text(text, "School A");
    expect_text(text, "Mathematics");
    expect_text(text, "Science");
    expect_text(text, "78.5");
    expect_text(text, "B1");
    expect_text(text, "93");
    expect_text(text, "A1");
    expect_text(text, "Meera Iyer");
    expect_text(text, "2015-08-14");
    expect_text(text, "3 of 4");
    expect_text(text, "Works hard");
    free(text);
    answer_free(&a);
    assert_int_equal(metric(f, RENDERED), rendered0 + 1);
    assert_int_equal(sql_int(f, "SELECT renders FROM report_card_cache WHERE student_id = $1"
                                " AND term_id = $2",
                             f->s1, f->term),
                     1);
    /* The cached copy is sealed: the name is not in the table's bytes. */
    char st[24], tm[24];
    assert_int_equal(tauth_sql_int(f->h,
                                   "SELECT count(*) FROM report_card_cache WHERE student_id = $1"
                                   " AND term_id = $2 AND position('%%PDF'::bytea IN pdf_enc) = 0",
                                   tf_num(st, f->s1), tf_num(tm, f->term), NULL),
                     1);

    /* Again, from another link (the teacher's): served from the cache, byte for byte. */
    char path2[256];
    get_link(f->t1.c, f->s1, f->term, path2);
    http_get(f, path2, &a);
    assert_int_equal(a.status, 200);
    assert_true(a.len > 1000);
    answer_free(&a);
    assert_int_equal(metric(f, RENDERED), rendered0 + 1);
    assert_int_equal(metric(f, CACHED), cached0 + 1);

    /* A mark changes: drawn again, with the new mark and grade. */
    assert_int_equal(tauth_sql(f->h,
                               "UPDATE marks SET marks = 88 WHERE exam_id = $1 AND student_id = $2",
                               tf_num(st, f->exam_maths), tf_num(tm, f->s1), NULL),
                     1);
    http_get(f, path, &a);
    assert_int_equal(a.status, 200);
    text = pdf_text(&a);
    expect_text(text, "88");
    expect_text(text, "A2");
    free(text);
    answer_free(&a);
    assert_int_equal(metric(f, RENDERED), rendered0 + 2);
    assert_int_equal(sql_int(f, "SELECT renders FROM report_card_cache WHERE student_id = $1"
                                " AND term_id = $2",
                             f->s1, f->term),
                     2);
    /* A remark changes: drawn again too. */
    struct tmsg *m = CALL_OK(f->t1.c, "report_card.remark", "{student: %D, term: %D, remarks: %s}",
                             f->s1, f->term, "Much improved in Mathematics.");
    tmsg_free(m);
    http_get(f, path, &a);
    assert_int_equal(a.status, 200);
    text = pdf_text(&a);
    expect_text(text, "Much improved");
    free(text);
    answer_free(&a);
    assert_int_equal(metric(f, RENDERED), rendered0 + 3);
    f->passed++;
}

/* A link signed with the server's own key file (the test reads it) for any expiry. */
static void sign_link(struct fx *f, int64_t student, int64_t term, int64_t school,
                      int64_t expires, char path[256])
{
    struct crypto_keys keys;
    char err[256];
    assert_int_equal(crypto_init(), 0);
    assert_int_equal(crypto_keys_load(&keys, harness_key_path(f->h), err, sizeof err), 0);
    char token[REPORT_CARD_TOKEN_CHARS + 1];
    report_card_link_sign(&keys, &(struct report_card_link){ .student = student, .term = term,
                                                             .school = school,
                                                             .expires = expires },
                          token);
    crypto_keys_wipe(&keys);
    snprintf(path, 256, "/v1/report-cards/%s.pdf", token);
}

static void test_expired_and_forged_links(void **state)
{
    struct fx *f = *state;
    struct http_answer a;
    char path[256];
    /* A link of the server's own making works; the same, expired, is gone. */
    sign_link(f, f->s2, f->term, f->a.school_id, (int64_t)time(NULL) + 60, path);
    http_get(f, path, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    sign_link(f, f->s2, f->term, f->a.school_id, (int64_t)time(NULL) - 1, path);
    http_get(f, path, &a);
    assert_int_equal(a.status, 410);
    answer_free(&a);
    /* A link naming a student with another school's id finds nothing. */
    sign_link(f, f->sb, f->term, f->a.school_id, (int64_t)time(NULL) + 60, path);
    http_get(f, path, &a);
    assert_int_equal(a.status, 404);
    answer_free(&a);
    /* Forged: one character changed (in the ids, then in the MAC), or a key of our own. */
    get_link(f->a.c, f->s1, f->term, path);
    size_t pre = strlen("/v1/report-cards/");
    for (size_t at = pre + 2; at < pre + REPORT_CARD_TOKEN_CHARS; at += 40) {
        char forged[256];
        snprintf(forged, sizeof forged, "%s", path);
        forged[at] = forged[at] == 'A' ? 'B' : 'A';
        http_get(f, forged, &a);
        assert_int_equal(a.status, 404);
        answer_free(&a);
    }
    struct crypto_keys mine;
    char err[256], keyfile[] = "/tmp/rc58-key-XXXXXX";
    int fd = mkstemp(keyfile);
    close(fd);
    unlink(keyfile);
    assert_int_equal(crypto_keys_create_file(keyfile, err, sizeof err), 0);
    assert_int_equal(crypto_keys_load(&mine, keyfile, err, sizeof err), 0);
    unlink(keyfile);
    char token[REPORT_CARD_TOKEN_CHARS + 1];
    report_card_link_sign(&mine, &(struct report_card_link){ .student = f->s1, .term = f->term,
                                                             .school = f->a.school_id,
                                                             .expires = time(NULL) + 60 },
                          token);
    crypto_keys_wipe(&mine);
    snprintf(path, sizeof path, "/v1/report-cards/%s.pdf", token);
    http_get(f, path, &a);
    assert_int_equal(a.status, 404);
    answer_free(&a);
    /* Not a link at all. */
    static const char *const junk[] = {
        "/v1/report-cards/", "/v1/report-cards/abc.pdf", "/v1/report-cards/abc.pdf.pdf",
        "/v1/report-cards/"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ".pdf",
        "/v1/report-cards/"
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
        ".txt",
    };
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        http_get(f, junk[i], &a);
        assert_int_equal(a.status, 404);
        answer_free(&a);
    }
    f->passed++;
}

/* Sends a GET and closes at once, without reading. */
static void get_and_leave(struct fx *f, const char *path)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = { .sin_family = AF_INET,
                              .sin_port = htons((uint16_t)harness_port(f->h)) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    char req[512];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n", path);
    assert_int_equal(write(fd, req, (size_t)n), n);
    close(fd);
}

static void test_client_goes_away(void **state)
{
    struct fx *f = *state;
    /* s2's card is not cached yet with this remark: each of these starts a render. */
    struct tmsg *m = CALL_OK(f->a.c, "report_card.remark", "{student: %D, term: %D, remarks: %s}",
                             f->s2, f->term, "Left before the card came.");
    tmsg_free(m);
    char path[256];
    get_link(f->a.c, f->s2, f->term, path);
    long long rendered0 = metric(f, RENDERED);
    for (int i = 0; i < 5; i++) {
        get_and_leave(f, path);
    }
    /* The renders end (cached), nothing crashed, and the card is served after. */
    uint64_t deadline = tsys_mono_ms() + HTTP_WAIT_MS;
    while (metric(f, RENDERED) < rendered0 + 1 && tsys_mono_ms() < deadline) {
        tsys_sleep_ms(100);
    }
    assert_true(metric(f, RENDERED) >= rendered0 + 1);
    struct http_answer a;
    http_get(f, path, &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    http_get(f, "/healthz", &a);
    assert_int_equal(a.status, 200);
    answer_free(&a);
    f->passed++;
}

static void test_longest_remark(void **state)
{
    struct fx *f = *state;
    /* 2000 bytes: Devanagari without a space, then one long word of Latin letters. */
    char *big = malloc(REPORT_CARD_REMARKS_MAX + 1);
    size_t n = 0;
    static const char deva[] = "ज्ञानक्षत्र"; /* conjuncts */
    while (n + sizeof deva - 1 <= REPORT_CARD_REMARKS_MAX / 2) {
        memcpy(big + n, deva, sizeof deva - 1);
        n += sizeof deva - 1;
    }
    memset(big + n, 'W', REPORT_CARD_REMARKS_MAX - n);
    big[REPORT_CARD_REMARKS_MAX] = '\0';
    struct tmsg *m = CALL_OK(f->t1.c, "report_card.remark", "{student: %D, term: %D, remarks: %s}",
                             f->s1, f->term, big);
    tmsg_free(m);
    free(big);
    char path[256];
    get_link(f->p1.c, f->s1, f->term, path);
    struct http_answer a;
    http_get(f, path, &a);
    assert_int_equal(a.status, 200);
    assert_true(a.len < 100 * 1024);
    char *text = pdf_text(&a);
    expect_text(text, STUDENT_NAME);
    expect_text(text, "Mathematics");
    free(text);
    answer_free(&a);
    f->passed++;
}

/* Whether the stopped server's valgrind report shows no invalid access and no block lost
 * but those fontconfig, Pango, cairo, HarfBuzz, FreeType and GLib keep for the process's life
 * (tests/lsan.supp says why): every "definitely lost" record must have one of them on its
 * stack (the frame lines, "at 0x…" / "by 0x…", after the record's heading). */
static bool valgrind_clean(const struct harness *h)
{
    char *log = tsys_read_file(harness_log_path(h), NULL);
    if (!log) {
        return false;
    }
    static const char *const errors[] = { "Invalid read", "Invalid write", "Invalid free",
                                          "uninitialised", "Mismatched free", "overlap" };
    static const char *const libs[] = { "libfontconfig", "libpango", "libcairo", "libharfbuzz",
                                        "libfreetype", "libglib", "libgobject" };
    bool ok = true;
    for (size_t i = 0; i < sizeof errors / sizeof errors[0]; i++) {
        if (strstr(log, errors[i])) {
            fprintf(stderr, "valgrind: %s\n", errors[i]);
            ok = false;
        }
    }
    char *save = NULL;
    bool in_record = false, font = false;
    const char *heading = "";
    for (char *line = strtok_r(log, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        bool frame = strstr(line, "   at 0x") || strstr(line, "   by 0x");
        if (in_record && frame) {
            for (size_t i = 0; i < sizeof libs / sizeof libs[0]; i++) {
                font = font || strstr(line, libs[i]);
            }
            continue;
        }
        if (in_record && !font) {
            fprintf(stderr, "valgrind reports a leak of ours: %s\n", heading);
            ok = false;
        }
        in_record = strstr(line, "are definitely lost in loss record") != NULL;
        font = false;
        heading = line;
    }
    if (in_record && !font) {
        ok = false;
    }
    free(log);
    return ok;
}

/* The server stops cleanly with a card being drawn (its client gone): under valgrind, with no
 * invalid access and nothing lost. */
static void test_server_stops_while_drawing(void **state)
{
    struct fx *f = *state;
    char path[256];
    get_link(f->a.c, f->s4, f->term, path); /* s4's card was never drawn */
    long long rendered0 = metric(f, RENDERED);
    for (int i = 0; i < 3; i++) { /* two drawing, one waiting */
        get_and_leave(f, path);
    }
    /* Stop while one draws (under valgrind, drawing takes long enough to catch it). */
    uint64_t deadline = tsys_mono_ms() + HTTP_WAIT_MS;
    while (metric(f, "classment_report_cards_rendering{state=\"drawing\"}") < 1 &&
           metric(f, RENDERED) < rendered0 + 3 && tsys_mono_ms() < deadline) {
        tsys_sleep_ms(5);
    }
    tauth_login_close(&f->t1);
    tauth_login_close(&f->t2);
    tauth_login_close(&f->t3);
    tauth_login_close(&f->p1);
    tauth_login_close(&f->p2);
    tauth_login_close(&f->p4);
    tauth_login_close(&f->a);
    tauth_login_close(&f->b);
    int r = harness_stop(f->h, 60000);
    if (f->valgrind) {
        /* valgrind exits 99 for the font libraries' caches, which it counts as lost. */
        assert_true(r == 0 || r == 99);
        assert_true(valgrind_clean(f->h));
    } else {
        assert_int_equal(r, 0);
    }
    f->passed++;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_remarks),
        cmocka_unit_test(test_get_before_publication),
        cmocka_unit_test(test_publish_tells_the_right_parents),
        cmocka_unit_test(test_pdf_over_http_and_cache),
        cmocka_unit_test(test_expired_and_forged_links),
        cmocka_unit_test(test_client_goes_away),
        cmocka_unit_test(test_longest_remark),
        cmocka_unit_test(test_server_stops_while_drawing),
    };
    _Static_assert(sizeof tests / sizeof tests[0] == N_TESTS, "N_TESTS");
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
