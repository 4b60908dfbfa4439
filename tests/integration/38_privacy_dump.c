/* What someone with a copy of the database, or of the server log, learns: after two schools,
 * users, logins on several devices, a changed number, a pending code, a resume and a logout,
 * a plain pg_dump of the test database and the server's debug log must hold no phone number
 * (E.164 or national digits), no one-time code that was sent, and no session token. Numbers
 * are sealed and found through blind indexes, codes and tokens stored only as hashes. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tcheck.h"
#include "tests/support/tclient.h"
#include "tests/support/tmsg.h"
#include "tests/support/tsys.h"
#include "tests/support/wsclient.h"

#define DUMP_TIMEOUT_MS 60000
#define AUDIT_WAIT_MS 3000
#define N_TESTS 5

enum {
    P_ADMIN_A, P_ADMIN_B, P_TEACHER, P_PARENT, P_DRIVER_OLD, P_DRIVER_NEW, P_UNKNOWN, N_PHONES
};
#define MAX_SECRETS 16

struct world {
    struct harness *h;
    char dir[64];
    char dump_path[128];
    char phones[N_PHONES][TAUTH_PHONE_MAX];
    char codes[MAX_SECRETS][7];   /* every code the outbox showed */
    int n_codes;
    char tokens[MAX_SECRETS][TAUTH_TOKEN_MAX + 1];
    int n_tokens;
    int n_passed; /* tests that got to their end: all of them drop the server's log */
};

/* Phone numbers with random digits, so that none can turn up in a dump by chance. */
static void random_phones(struct world *w)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    srandom((unsigned)(tv.tv_usec ^ getpid()));
    for (int i = 0; i < N_PHONES; i++) {
        int n = snprintf(w->phones[i], TAUTH_PHONE_MAX, "+91%d", 6 + (int)(random() % 4));
        for (int k = 0; k < 9; k++) {
            w->phones[i][n++] = (char)('0' + random() % 10);
        }
        w->phones[i][n] = '\0';
    }
}

static void keep_login(struct world *w, const struct tauth_login *l)
{
    snprintf(w->codes[w->n_codes++], 7, "%s", l->code);
    snprintf(w->tokens[w->n_tokens++], TAUTH_TOKEN_MAX + 1, "%s", l->token);
}

static int login(struct world *w, int phone, struct tauth_login *l)
{
    if (tauth_login(w->h, w->phones[phone], "phone", "android 14", "1.4.2", l) != 0) {
        return -1;
    }
    keep_login(w, l);
    return 0;
}

static bool ok_reply(struct tmsg *m, const char *what)
{
    bool ok = tauth_is_ok(m);
    if (!ok) {
        fprintf(stderr, "38_privacy_dump: %s: %s\n", what, tmsg_text(m));
    }
    tmsg_free(m);
    return ok;
}

/* Waits until the audit log (written in batches) has an entry for op. */
static bool audit_has(struct wsclient *admin, const char *op)
{
    uint64_t deadline = tsys_mono_ms() + AUDIT_WAIT_MS;
    do {
        struct tmsg *m = tauth_call(admin, "audit.list", "{limit: 1000}");
        const msgpack_object *list = m ? tmsg_get(tmsg_root(m), "data") : NULL;
        for (uint32_t i = 0; list && list->type == MSGPACK_OBJECT_ARRAY &&
                             i < list->via.array.size; i++) {
            const msgpack_object *o = tmsg_get(&list->via.array.ptr[i], "op");
            if (o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == strlen(op) &&
                memcmp(o->via.str.ptr, op, o->via.str.size) == 0) {
                tmsg_free(m);
                return true;
            }
        }
        tmsg_free(m);
        tsys_sleep_ms(50);
    } while (tsys_left_ms(deadline) > 0);
    fprintf(stderr, "38_privacy_dump: no audit entry for %s\n", op);
    return false;
}

/* Everything the test leaves in the database and the log, then the dump. */
static int build(struct world *w)
{
    random_phones(w);
    struct tauth_login admin = { 0 }, admin_b = { 0 }, teacher = { 0 }, parent = { 0 },
                       driver = { 0 }, driver2 = { 0 };
    struct wsclient *c = NULL, *resumed = NULL;
    int r = -1;
    int64_t school_a = tauth_school_create(w->h, "School A", "Admin A", w->phones[P_ADMIN_A],
                                           NULL);
    int64_t school_b = tauth_school_create(w->h, "School B", "Admin B", w->phones[P_ADMIN_B],
                                           NULL);
    if (school_a <= 0 || school_b <= 0 || login(w, P_ADMIN_A, &admin) != 0 ||
        login(w, P_ADMIN_B, &admin_b) != 0) {
        goto out;
    }
    int64_t teacher_id = tauth_user_create(admin.c, "teacher", "Tara", w->phones[P_TEACHER]);
    int64_t parent_id = tauth_user_create(admin.c, "parent", "Pia", w->phones[P_PARENT]);
    struct tmsg *m = tauth_call(admin.c, "user.create",
                                "{role: driver, name: Dev, phone: %s, employee_id: \"DRV-9\"}",
                                w->phones[P_DRIVER_OLD]);
    int64_t driver_id = 0;
    if (!tauth_int(m, "data.id", &driver_id) || teacher_id <= 0 || parent_id <= 0) {
        fprintf(stderr, "38_privacy_dump: user.create: %s\n", tmsg_text(m));
        tmsg_free(m);
        goto out;
    }
    tmsg_free(m);
    if (login(w, P_TEACHER, &teacher) != 0 || login(w, P_PARENT, &parent) != 0 ||
        login(w, P_DRIVER_OLD, &driver) != 0) {
        goto out;
    }
    /* A changed number, used to log in. */
    if (!ok_reply(tauth_call(admin.c, "user.update", "{id: %D, phone: %s}", driver_id,
                             w->phones[P_DRIVER_NEW]),
                  "user.update") ||
        login(w, P_DRIVER_NEW, &driver2) != 0) {
        goto out;
    }
    /* A number nobody has; a wrong code; a code asked for and never used. */
    c = tclient_open(harness_port(w->h));
    if (!c || !ok_reply(tauth_call(c, "auth.otp.request", "{phone: %s}", w->phones[P_UNKNOWN]),
                        "auth.otp.request (unknown)")) {
        goto out;
    }
    tmsg_free(tauth_call(c, "auth.otp.verify", "{phone: %s, code: \"000000\"}",
                         w->phones[P_UNKNOWN]));
    if (tauth_sql(w->h, "UPDATE otp_codes SET created_at = created_at - interval '31 seconds'",
                  (const char *)NULL) < 0) {
        goto out;
    }
    int seen = tauth_outbox_count(w->h, w->phones[P_TEACHER]);
    if (!ok_reply(tauth_call(c, "auth.otp.request", "{phone: %s}", w->phones[P_TEACHER]),
                  "auth.otp.request (pending)") ||
        !tauth_outbox_wait_code(w->h, w->phones[P_TEACHER], seen, w->codes[w->n_codes], 5000)) {
        goto out;
    }
    w->n_codes++;
    /* Resume, logout, reads of numbers, the session list. */
    resumed = tclient_open(harness_port(w->h));
    if (!resumed ||
        !ok_reply(tauth_call(resumed, "auth.resume", "{token: %s}", teacher.token), "resume") ||
        !ok_reply(tauth_call(parent.c, "auth.logout", NULL), "logout") ||
        !ok_reply(tauth_call(admin.c, "user.get", "{id: %D}", teacher_id), "user.get") ||
        !ok_reply(tauth_call(admin.c, "user.get", "{id: %D}", driver_id), "user.get") ||
        !ok_reply(tauth_call(admin.c, "auth.sessions.list", NULL), "sessions") ||
        !audit_has(admin.c, "user.get") || !audit_has(admin.c, "auth.logout")) {
        goto out;
    }

    /* The dump, as an operator would take it. */
    const char *bindir = getenv("PG_BINDIR");
    char pg_dump[256], err_path[128];
    snprintf(pg_dump, sizeof pg_dump, "%s%s", bindir && *bindir ? bindir : "",
             bindir && *bindir ? "/pg_dump" : "pg_dump");
    snprintf(err_path, sizeof err_path, "%s/pg_dump.err", w->dir);
    const char *argv[] = { pg_dump, "--no-password", "-d", harness_conninfo(w->h), "-f",
                           w->dump_path, NULL };
    int st = tsys_run(argv, err_path, DUMP_TIMEOUT_MS);
    if (st != 0) {
        fprintf(stderr, "38_privacy_dump: %s exited %d\n", pg_dump, st);
        tsys_print_file("pg_dump", err_path, 4096);
        goto out;
    }
    r = 0;
out:
    wsclient_free(c);
    wsclient_free(resumed);
    tauth_login_close(&admin);
    tauth_login_close(&admin_b);
    tauth_login_close(&teacher);
    tauth_login_close(&parent);
    tauth_login_close(&driver);
    tauth_login_close(&driver2);
    return r;
}

static int group_setup(void **state)
{
    struct world *w = calloc(1, sizeof *w);
    *state = w;
    snprintf(w->dir, sizeof w->dir, "/tmp/t_privacy.XXXXXX");
    if (!mkdtemp(w->dir)) {
        return -1;
    }
    snprintf(w->dump_path, sizeof w->dump_path, "%s/dump.sql", w->dir);
    if (harness_start(&w->h, NULL) != 0) {
        return -1;
    }
    return build(w) == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
    struct world *w = *state;
    if (w) {
        if (w->h && w->n_passed == N_TESTS) {
            harness_passed(w->h);
        }
        harness_free(w->h);
        if (w->dir[0]) {
            tsys_rmtree(w->dir);
        }
        free(w);
    }
    return 0;
}

static struct world *world_of(void **state)
{
    struct world *w = *state;
    assert_non_null(w);
    return w;
}

static char *read_or_fail(const char *path)
{
    char *text = tsys_read_file(path, NULL);
    if (!text) {
        fail_msg("cannot read %s: %s", path, strerror(errno));
    }
    return text;
}

/* A code "leaks" where it stands as a number of its own: not inside a longer run of letters
 * and digits (hashes in hex, epoch milliseconds), not a fraction of a second (".123456"),
 * and not a duration in the log ("us=123456"). */
static const char *code_leak(const char *text, const char *code)
{
    for (const char *p = strstr(text, code); p; p = strstr(p + 1, code)) {
        char before = p > text ? p[-1] : ' ';
        char after = p[6];
        if (isalnum((unsigned char)before) || isalnum((unsigned char)after) || before == '.') {
            continue;
        }
        if (p - text >= 3 && memcmp(p - 3, "us=", 3) == 0) {
            continue;
        }
        return p;
    }
    return NULL;
}

/* The lines of the COPY block of table, NUL-separated in place; NULL when absent. */
static char *copy_block(char *dump, const char *table)
{
    char head[64];
    snprintf(head, sizeof head, "COPY public.%s (", table);
    char *start = strstr(dump, head);
    if (!start) {
        return NULL;
    }
    start = strchr(start, '\n') + 1;
    char *end = strstr(start, "\n\\.\n");
    if (end) {
        end[1] = '\0';
    }
    return start;
}

/* ---- tests ---- */

static void test_dump_has_every_table_it_should(void **state)
{
    struct world *w = world_of(state);
    char *dump = read_or_fail(w->dump_path);
    static const char *const tables[] = { "schools", "users", "otp_codes", "sessions",
                                          "audit_log" };
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char head[64];
        snprintf(head, sizeof head, "COPY public.%s (", tables[i]);
        if (!strstr(dump, head)) {
            fail_msg("the dump has no data of %s: the checks below would prove nothing",
                     tables[i]);
        }
    }
    /* The rows are there: names in clear, the rest sealed or hashed. */
    assert_non_null(strstr(dump, "\tTara\t"));
    assert_non_null(strstr(dump, "DRV-9"));
    assert_true(w->n_codes >= 7 && w->n_tokens >= 6);
    free(dump);
    w->n_passed++;
}

static void test_dump_has_no_phone_number(void **state)
{
    struct world *w = world_of(state);
    char *dump = read_or_fail(w->dump_path);
    for (int i = 0; i < N_PHONES; i++) {
        const char *national = w->phones[i] + 3; /* after +91 */
        if (strstr(dump, w->phones[i]) || strstr(dump, national)) {
            fail_msg("the dump holds the phone number %s (%s)", w->phones[i],
                     strstr(dump, national) ? "national digits" : "E.164");
        }
    }
    free(dump);
    w->n_passed++;
}

static void test_dump_has_no_code_or_token(void **state)
{
    struct world *w = world_of(state);
    char *dump = read_or_fail(w->dump_path);
    for (int i = 0; i < w->n_tokens; i++) {
        if (strstr(dump, w->tokens[i])) {
            fail_msg("the dump holds session token %d", i);
        }
    }
    for (int i = 0; i < w->n_codes; i++) {
        const char *p = code_leak(dump, w->codes[i]);
        if (p) {
            fail_msg("the dump holds the code %s: ...%.60s...", w->codes[i],
                     p - dump > 30 ? p - 30 : dump);
        }
    }
    /* Row by row, no column of otp_codes is a code sent. */
    char *block = copy_block(dump, "otp_codes");
    assert_non_null(block);
    int rows = 0;
    for (char *line = strtok(block, "\n"); line; line = strtok(NULL, "\n")) {
        rows++;
        char *save = NULL;
        for (char *field = strtok_r(line, "\t", &save); field;
             field = strtok_r(NULL, "\t", &save)) {
            for (int i = 0; i < w->n_codes; i++) {
                if (strcmp(field, w->codes[i]) == 0) {
                    fail_msg("otp_codes has a column holding the code %s", w->codes[i]);
                }
            }
        }
    }
    assert_true(rows >= w->n_codes);
    free(dump);
    w->n_passed++;
}

static void test_stored_columns_hold_hashes_and_sealed_values(void **state)
{
    struct world *w = world_of(state);
    for (int i = 0; i < w->n_codes; i++) {
        assert_int_equal(tauth_sql_int(w->h,
                                       "SELECT count(*) FROM otp_codes"
                                       " WHERE position(convert_to($1, 'UTF8') in code_hash) > 0",
                                       w->codes[i], (const char *)NULL),
                         0);
    }
    for (int i = 0; i < w->n_tokens; i++) {
        assert_int_equal(tauth_sql_int(w->h,
                                       "SELECT count(*) FROM sessions"
                                       " WHERE position(convert_to($1, 'UTF8') in token_hash) > 0",
                                       w->tokens[i], (const char *)NULL),
                         0);
    }
    for (int i = 0; i < N_PHONES; i++) {
        assert_int_equal(tauth_sql_int(w->h,
                                       "SELECT count(*) FROM users"
                                       " WHERE position(convert_to($1, 'UTF8') in phone_enc) > 0"
                                       "  OR position(convert_to($1, 'UTF8') in phone_bi) > 0",
                                       w->phones[i] + 3, (const char *)NULL),
                         0);
    }
    /* Every code and token is 32 bytes of hash, every number sealed. */
    assert_int_equal(tauth_sql_int(w->h,
                                   "SELECT count(*) FROM otp_codes WHERE length(code_hash) <> 32"
                                   " OR length(phone_bi) <> 32",
                                   (const char *)NULL),
                     0);
    assert_int_equal(tauth_sql_int(w->h, "SELECT count(*) FROM sessions"
                                         " WHERE length(token_hash) <> 32",
                                   (const char *)NULL),
                     0);
    w->n_passed++;
}

static void test_server_log_has_no_phone_code_or_token(void **state)
{
    struct world *w = world_of(state);
    char *log = read_or_fail(harness_log_path(w->h));
    /* The log is at debug level: the most the server ever writes. */
    assert_non_null(strstr(log, "level=debug"));
    for (int i = 0; i < N_PHONES; i++) {
        if (strstr(log, w->phones[i] + 3)) {
            fail_msg("the server log holds the phone number %s", w->phones[i]);
        }
    }
    for (int i = 0; i < w->n_tokens; i++) {
        if (strstr(log, w->tokens[i])) {
            fail_msg("the server log holds session token %d", i);
        }
    }
    for (int i = 0; i < w->n_codes; i++) {
        const char *p = code_leak(log, w->codes[i]);
        if (p) {
            fail_msg("the server log holds the code %s: ...%.80s...", w->codes[i],
                     p - log > 40 ? p - 40 : log);
        }
    }
    free(log);
    w->n_passed++;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dump_has_every_table_it_should),
        cmocka_unit_test(test_dump_has_no_phone_number),
        cmocka_unit_test(test_dump_has_no_code_or_token),
        cmocka_unit_test(test_stored_columns_hold_hashes_and_sealed_values),
        cmocka_unit_test(test_server_log_has_no_phone_code_or_token),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
