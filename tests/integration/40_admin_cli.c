/* Integration tests for classment-admin, the operator's command line: the real binary
 * (CLASSMENT_ADMIN_BIN) runs against a fresh, migrated database, and each test checks what it
 * printed, its exit status and what it left in the database, including that no phone number
 * is ever stored or printed in clear. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "core/crypto.h"
#include "core/migrate.h"
#include "tests/support/testdb.h"

#ifndef CLASSMENT_SRC_ROOT
#define CLASSMENT_SRC_ROOT "."
#endif

/* A hung command fails the test instead of the whole suite's timeout. */
#define RUN_TIMEOUT_MS 30000

/* The test's phone numbers, as typed and as stored after normalisation. */
#define PHONE_TYPED "98765 43210"
#define PHONE_E164 "+919876543210"
#define PHONE_DIGITS "9876543210"

struct env {
    const char *bin;
    struct testdb db;   /* migrated; the commands get db.conninfo as CLASSMENT_DB */
    char dir[64];       /* key file and the commands' captured output */
    char key_file[128];
    PGconn *pg;         /* a blocking connection to db, for the checks */
};

static struct env env;

/* One run of the binary. */
struct run {
    int status;         /* exit code, 128 + signal, or -1 when it could not run */
    char out[65536];    /* stdout, NUL-terminated (truncated if longer) */
    char err[4096];     /* stderr, likewise */
};

/* ---- database helpers ---- */

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *connect_db(void)
{
    PGconn *pg = PQconnectdb(env.db.conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "40_admin_cli: cannot connect to %s: %s", env.db.name,
                PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, ignore_notice, NULL);
    return pg;
}

/* Runs sql with up to 8 text parameters (NULL-terminated after sql) and returns the result,
 * failing the test on an error. The caller PQclears it. */
static PGresult *db_query(const char *sql, ...)
{
    const char *params[8];
    int n = 0;
    va_list ap;
    va_start(ap, sql);
    for (const char *p = va_arg(ap, const char *); p && n < 8; p = va_arg(ap, const char *)) {
        params[n++] = p;
    }
    va_end(ap);
    PGresult *res = PQexecParams(env.pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    }
    return res;
}

/* The single value of a one-row, one-column query as an integer (NULL reads as -1). */
static int64_t db_int(const char *sql, const char *p1, const char *p2)
{
    PGresult *res = db_query(sql, p1, p2, (const char *)NULL);
    if (PQntuples(res) != 1) {
        fail_msg("%s: %d rows", sql, PQntuples(res));
    }
    int64_t v = PQgetisnull(res, 0, 0) ? -1 : strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

/* The same as text, copied into out (NULL reads as ""). */
static void db_text(char *out, size_t cap, const char *sql, const char *p1, const char *p2)
{
    PGresult *res = db_query(sql, p1, p2, (const char *)NULL);
    if (PQntuples(res) != 1) {
        fail_msg("%s: %d rows", sql, PQntuples(res));
    }
    snprintf(out, cap, "%s", PQgetvalue(res, 0, 0));
    PQclear(res);
}

static void db_run(const char *sql, const char *p1, const char *p2)
{
    PQclear(db_query(sql, p1, p2, (const char *)NULL));
}

/* ---- running the binary ---- */

static void read_file(const char *path, char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f) {
        return;
    }
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* Runs classment-admin with args (NULL-terminated), CLASSMENT_DB set to the test database and
 * CLASSMENT_KEY_FILE set to key_file, or unset when key_file is NULL. */
static void run_argv(struct run *r, const char *key_file, const char *const *args)
{
    char out_path[128], err_path[128];
    snprintf(out_path, sizeof out_path, "%s/stdout", env.dir);
    snprintf(err_path, sizeof err_path, "%s/stderr", env.dir);
    const char *argv[32] = { env.bin };
    int argc = 1;
    while (args[argc - 1] && argc < 31) {
        argv[argc] = args[argc - 1];
        argc++;
    }
    argv[argc] = NULL;

    r->status = -1;
    pid_t pid = fork();
    if (pid < 0) {
        fail_msg("fork: %s", strerror(errno));
    }
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (in < 0 || out < 0 || err < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 ||
            dup2(err, 2) < 0) {
            _exit(126);
        }
        setenv("CLASSMENT_DB", env.db.conninfo, 1);
        unsetenv("CLASSMENT_DEFAULT_CC");
        if (key_file) {
            setenv("CLASSMENT_KEY_FILE", key_file, 1);
        } else {
            unsetenv("CLASSMENT_KEY_FILE");
        }
        execv(env.bin, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    pid_t done = 0;
    for (int waited = 0; waited < RUN_TIMEOUT_MS && done == 0; waited += 10) {
        done = waitpid(pid, &status, WNOHANG);
        if (done == 0) {
            struct timespec ts = { 0, 10 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
    }
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("%s %s did not finish within %d ms", env.bin, args[0] ? args[0] : "",
                 RUN_TIMEOUT_MS);
    }
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    read_file(out_path, r->out, sizeof r->out);
    read_file(err_path, r->err, sizeof r->err);
}

/* classment-admin ARG... (NULL-terminated) with the test's key file. */
static void admin(struct run *r, ...)
{
    const char *args[32];
    int n = 0;
    va_list ap;
    va_start(ap, r);
    for (const char *a = va_arg(ap, const char *); a && n < 31; a = va_arg(ap, const char *)) {
        args[n++] = a;
    }
    va_end(ap);
    args[n] = NULL;
    run_argv(r, env.key_file, args);
}

/* A command that must succeed: exit 0, nothing on stderr. */
static void expect_ok(const struct run *r)
{
    if (r->status != 0 || r->err[0]) {
        fail_msg("expected success, got exit %d, stderr: %s", r->status, r->err);
    }
}

/* A command that must fail with status: nothing on stdout, one line on stderr holding want. */
static void expect_error(const struct run *r, int status, const char *want)
{
    if (r->status != status) {
        fail_msg("expected exit %d, got %d; stdout: %s; stderr: %s", status, r->status, r->out,
                 r->err);
    }
    assert_string_equal(r->out, "");
    size_t len = strlen(r->err);
    char *nl = strchr(r->err, '\n');
    if (len == 0 || nl != r->err + len - 1) {
        fail_msg("stderr is not exactly one line: %s", r->err);
    }
    if (want && !strstr(r->err, want)) {
        fail_msg("stderr lacks \"%s\": %s", want, r->err);
    }
}

/* The integer after "key": in a JSON text; fails the test when absent. */
static int64_t json_int(const char *json, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *p = strstr(json, pattern);
    if (!p) {
        fail_msg("no %s in %s", pattern, json);
    }
    return strtoll(p + strlen(pattern), NULL, 10);
}

/* Counts the occurrences of needle in s. */
static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(s, needle); p; p = strstr(p + 1, needle)) {
        n++;
    }
    return n;
}

/* Creates a school whose admin has phone; returns the school id and sets *admin_id. */
static int64_t create_school(const char *name, const char *phone, int64_t *admin_id)
{
    struct run r;
    admin(&r, "school", "create", "--name", name, "--admin-name", "Admin of school",
          "--admin-phone", phone, NULL);
    expect_ok(&r);
    if (admin_id) {
        *admin_id = json_int(r.out, "admin");
    }
    return json_int(r.out, "school");
}

/* Inserts a session for a user, open or revoked at revoked_at. */
static void insert_session(int64_t user_id, const char *revoked_at)
{
    char user_s[24];
    snprintf(user_s, sizeof user_s, "%" PRId64, user_id);
    /* The empty string stands for an open session: the helpers take no NULL parameters. */
    db_run("INSERT INTO sessions (user_id, school_id, token_hash, expires_at, revoked_at)"
           " SELECT id, school_id, sha256(random()::text::bytea), now() + interval '1 day',"
           " nullif($2, '')::timestamptz FROM users WHERE id = $1",
           user_s, revoked_at ? revoked_at : "");
}

static struct crypto_keys *load_keys(void)
{
    static struct crypto_keys keys;
    char err[256];
    if (crypto_keys_load(&keys, env.key_file, err, sizeof err) != 0) {
        fail_msg("loading the key file: %s", err);
    }
    return &keys;
}

/* Opens users.phone_enc of one user with the key file, as the server does. */
static void open_phone(int64_t user_id, char *out, size_t cap)
{
    char id_s[24];
    snprintf(id_s, sizeof id_s, "%" PRId64, user_id);
    PGresult *res = db_query("SELECT phone_enc, phone_key FROM users WHERE id = $1", id_s,
                             (const char *)NULL);
    assert_int_equal(PQntuples(res), 1);
    size_t len = 0;
    unsigned char *sealed = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, 0), &len);
    assert_non_null(sealed);
    int r = crypto_open(load_keys(), atoi(PQgetvalue(res, 0, 1)), "users.phone", user_id, sealed,
                        len, out, cap);
    PQfreemem(sealed);
    PQclear(res);
    assert_int_equal(r, 0);
}

/* ---- setup ---- */

static int group_setup(void **state)
{
    (void)state;
    env.bin = getenv("CLASSMENT_ADMIN_BIN");
    if (!env.bin || !*env.bin) {
        fprintf(stderr, "\n*** 40_admin_cli needs CLASSMENT_ADMIN_BIN. Not skipping: a skipped "
                        "test looks like a pass.\n\n");
        return -1;
    }
    if (crypto_init() != 0) {
        return -1;
    }
    snprintf(env.dir, sizeof env.dir, "/tmp/t_admin.XXXXXX");
    if (!mkdtemp(env.dir)) {
        fprintf(stderr, "40_admin_cli: mkdtemp: %s\n", strerror(errno));
        return -1;
    }
    snprintf(env.key_file, sizeof env.key_file, "%s/keys", env.dir);

    if (testdb_create(&env.db, "t_admin") != 0) {
        rmdir(env.dir);
        return -1;
    }

    const char *sql_dir = getenv("CLASSMENT_SQL_DIR");
    if (!sql_dir) {
        sql_dir = CLASSMENT_SRC_ROOT "/sql";
    }
    int applied = 0;
    char err[512];
    if (migrate_run(env.db.conninfo, sql_dir, &applied, err, sizeof err) != 0) {
        fprintf(stderr, "40_admin_cli: migrations from %s: %s\n", sql_dir, err);
        return -1;
    }
    env.pg = connect_db();
    return env.pg ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    PQfinish(env.pg);
    env.pg = NULL;
    testdb_drop(&env.db);
    if (env.dir[0]) {
        const char *files[] = { "keys", "stdout", "stderr" };
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
            char path[160];
            snprintf(path, sizeof path, "%s/%s", env.dir, files[i]);
            unlink(path);
        }
        rmdir(env.dir);
    }
    return 0;
}

/* ---- tests ---- */

static void test_keys_init_creates_private_file_once(void **state)
{
    (void)state;
    struct run r;
    admin(&r, "keys", "init", NULL);
    expect_ok(&r);
    assert_int_equal(json_int(r.out, "key_version"), 1);
    struct stat st;
    assert_int_equal(stat(env.key_file, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);

    /* The key itself is never printed. */
    char file[512];
    read_file(env.key_file, file, sizeof file);
    const char *line = strstr(file, "\n1:");
    assert_non_null(line);
    char key_hex[65];
    snprintf(key_hex, sizeof key_hex, "%s", line + 3);
    assert_null(strstr(r.out, key_hex));

    admin(&r, "keys", "init", NULL);
    expect_error(&r, 1, NULL);
    char again[512];
    read_file(env.key_file, again, sizeof again);
    assert_string_equal(file, again);

    const char *args[] = { "keys", "init", NULL };
    run_argv(&r, NULL, args);
    expect_error(&r, 1, "CLASSMENT_KEY_FILE");
}

static void test_create_prints_ids_and_stores_no_clear_phone(void **state)
{
    (void)state;
    struct run r;
    admin(&r, "school", "create", "--name", "Sunrise Public School", "--admin-name", "Asha Rao",
          "--admin-phone", PHONE_TYPED, NULL);
    expect_ok(&r);
    int64_t school = json_int(r.out, "school");
    int64_t user = json_int(r.out, "admin");
    assert_true(school > 0);
    assert_true(user > 0);
    assert_null(strstr(r.out, PHONE_DIGITS));

    char school_s[24], user_s[24], text[256];
    snprintf(school_s, sizeof school_s, "%" PRId64, school);
    snprintf(user_s, sizeof user_s, "%" PRId64, user);
    db_text(text, sizeof text, "SELECT name || '|' || status FROM schools WHERE id = $1",
            school_s, NULL);
    assert_string_equal(text, "Sunrise Public School|active");
    db_text(text, sizeof text,
            "SELECT school_id || '|' || role || '|' || name || '|' || phone_key"
            " FROM users WHERE id = $1", user_s, NULL);
    char want[128];
    snprintf(want, sizeof want, "%s|admin|Asha Rao|1", school_s);
    assert_string_equal(text, want);

    /* Neither the digits nor their bytes are anywhere in the database: every row of every
     * table, as text (bytea shows as hex). PostGIS's reference table is not ours. */
    char digits_hex[2 * sizeof PHONE_DIGITS];
    sodium_bin2hex(digits_hex, sizeof digits_hex, (const unsigned char *)PHONE_DIGITS,
                   strlen(PHONE_DIGITS));
    assert_int_equal(db_int("SELECT count(*) FROM users WHERE phone_enc::text LIKE '%' || $1"
                            " || '%' OR phone_enc::text LIKE '%' || $2 || '%'",
                            PHONE_DIGITS, digits_hex), 0);
    PGresult *tables = db_query("SELECT quote_ident(table_name) FROM information_schema.tables"
                                " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
                                " AND table_name <> 'spatial_ref_sys'", (const char *)NULL);
    assert_true(PQntuples(tables) >= 5);
    for (int i = 0; i < PQntuples(tables); i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM %s t WHERE t::text LIKE '%%' || $1 || '%%'"
                 " OR t::text LIKE '%%' || $2 || '%%'", PQgetvalue(tables, i, 0));
        if (db_int(sql, PHONE_DIGITS, digits_hex) != 0) {
            fail_msg("table %s holds the phone number in clear", PQgetvalue(tables, i, 0));
        }
    }
    PQclear(tables);

    /* What is stored opens, with the key file, to the normalised number, and the blind index
     * is the keyed hash the server looks numbers up by. */
    char phone[64];
    open_phone(user, phone, sizeof phone);
    assert_string_equal(phone, PHONE_E164);
    unsigned char bi[CRYPTO_HASH_BYTES];
    char bi_hex[2 * CRYPTO_HASH_BYTES + 1];
    crypto_blind_index(crypto_keys_current(load_keys()), "phone", PHONE_E164,
                       strlen(PHONE_E164), bi);
    crypto_hex(bi, sizeof bi, bi_hex);
    db_text(text, sizeof text, "SELECT encode(phone_bi, 'hex') FROM users WHERE id = $1",
            user_s, NULL);
    assert_string_equal(text, bi_hex);
}

static void test_create_refuses_registered_phone(void **state)
{
    (void)state;
    struct run r;
    /* The same number typed another way normalises to the same E.164 number. */
    admin(&r, "school", "create", "--name", "Duplicate School", "--admin-name", "Someone",
          "--admin-phone", "+91 98765-43210", NULL);
    expect_error(&r, 1, "phone number already registered");
    assert_null(strstr(r.err, PHONE_DIGITS));
    /* The school insert was rolled back with the user's. */
    assert_int_equal(db_int("SELECT count(*) FROM schools WHERE name = $1", "Duplicate School",
                            NULL), 0);
}

static void test_create_refuses_invalid_phone(void **state)
{
    (void)state;
    const char *bad[] = { "12345", "+91 12345 67890", "98765x43210", "" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct run r;
        admin(&r, "school", "create", "--name", "Invalid Phone School", "--admin-name", "X",
              "--admin-phone", bad[i], NULL);
        expect_error(&r, 1, "invalid phone number");
    }
    assert_int_equal(db_int("SELECT count(*) FROM schools WHERE name = $1",
                            "Invalid Phone School", NULL), 0);
}

static void test_create_needs_key_file(void **state)
{
    (void)state;
    struct run r;
    const char *args[] = { "school", "create", "--name", "Keyless School", "--admin-name", "X",
                           "--admin-phone", "98765 00001", NULL };
    run_argv(&r, NULL, args);
    expect_error(&r, 1, "CLASSMENT_KEY_FILE");
    assert_int_equal(db_int("SELECT count(*) FROM schools WHERE name = $1", "Keyless School",
                            NULL), 0);
}

static void test_list_shows_schools(void **state)
{
    (void)state;
    int64_t school = create_school("List Me School", "98765 00002", NULL);
    struct run r;
    admin(&r, "school", "list", NULL);
    expect_ok(&r);
    assert_int_equal(r.out[0], '[');
    char start[64];
    snprintf(start, sizeof start, "{\"id\":%" PRId64 ",", school);
    const char *obj = strstr(r.out, start);
    assert_non_null(obj);
    const char *end = strchr(obj, '}');
    assert_non_null(end);
    char one[512];
    snprintf(one, sizeof one, "%.*s", (int)(end - obj + 1), obj);
    assert_non_null(strstr(one, "\"name\":\"List Me School\""));
    assert_non_null(strstr(one, "\"status\":\"active\""));
    assert_non_null(strstr(one, "\"terminated_at\":null"));
    assert_non_null(strstr(one, "\"users\":1,"));
    assert_non_null(strstr(one, "\"created_at\":\"20"));
    assert_int_equal(count_of(r.out, "{\"id\":"),
                     db_int("SELECT count(*) FROM schools", NULL, NULL));
}

static void test_suspend_revokes_sessions_and_activate_restores(void **state)
{
    (void)state;
    int64_t admin_a, admin_b;
    int64_t a = create_school("Suspended School", "98765 00003", &admin_a);
    create_school("Bystander School", "98765 00004", &admin_b);
    insert_session(admin_a, NULL);
    insert_session(admin_a, NULL);
    insert_session(admin_a, "2020-01-01T00:00:00Z");
    insert_session(admin_b, NULL);
    char a_s[24], admin_b_s[24];
    snprintf(a_s, sizeof a_s, "%" PRId64, a);
    snprintf(admin_b_s, sizeof admin_b_s, "%" PRId64, admin_b);

    struct run r;
    admin(&r, "school", "suspend", a_s, NULL);
    expect_ok(&r);
    char want[128];
    snprintf(want, sizeof want, "{\"school\":%s,\"status\":\"suspended\",\"sessions_revoked\":2}",
             a_s);
    assert_non_null(strstr(r.out, want));
    char text[64];
    db_text(text, sizeof text, "SELECT status FROM schools WHERE id = $1", a_s, NULL);
    assert_string_equal(text, "suspended");
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE school_id = $1"
                            " AND revoked_at IS NULL", a_s, NULL), 0);
    /* A session revoked earlier keeps its time; another school's session stays open. */
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE school_id = $1"
                            " AND revoked_at = '2020-01-01T00:00:00Z'", a_s, NULL), 1);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE user_id = $1"
                            " AND revoked_at IS NULL", admin_b_s, NULL), 1);

    admin(&r, "school", "activate", a_s, NULL);
    expect_ok(&r);
    snprintf(want, sizeof want, "{\"school\":%s,\"status\":\"active\"}", a_s);
    assert_non_null(strstr(r.out, want));
    db_text(text, sizeof text, "SELECT status FROM schools WHERE id = $1", a_s, NULL);
    assert_string_equal(text, "active");
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE school_id = $1"
                            " AND revoked_at IS NULL", a_s, NULL), 0);

    admin(&r, "school", "suspend", "999999999", NULL);
    expect_error(&r, 1, "no school");
    admin(&r, "school", "activate", "999999999", NULL);
    expect_error(&r, 1, "no school");
}

static void test_terminate_sets_terminated_at_and_is_final(void **state)
{
    (void)state;
    int64_t user;
    int64_t school = create_school("Terminated School", "98765 00005", &user);
    insert_session(user, NULL);
    char school_s[24];
    snprintf(school_s, sizeof school_s, "%" PRId64, school);

    struct run r;
    admin(&r, "school", "terminate", school_s, NULL);
    expect_ok(&r);
    char want[128];
    snprintf(want, sizeof want,
             "{\"school\":%s,\"status\":\"terminated\",\"sessions_revoked\":1}", school_s);
    assert_non_null(strstr(r.out, want));
    assert_int_equal(db_int("SELECT count(*) FROM schools WHERE id = $1"
                            " AND status = 'terminated' AND terminated_at IS NOT NULL"
                            " AND terminated_at > now() - interval '1 minute'", school_s, NULL),
                     1);
    assert_int_equal(db_int("SELECT count(*) FROM sessions WHERE school_id = $1"
                            " AND revoked_at IS NULL", school_s, NULL), 0);

    /* Termination is final. */
    admin(&r, "school", "activate", school_s, NULL);
    expect_error(&r, 1, "terminated");
    admin(&r, "school", "suspend", school_s, NULL);
    expect_error(&r, 1, "terminated");
    char text[64];
    db_text(text, sizeof text, "SELECT status FROM schools WHERE id = $1", school_s, NULL);
    assert_string_equal(text, "terminated");

    admin(&r, "school", "list", NULL);
    expect_ok(&r);
    char start[64];
    snprintf(start, sizeof start, "{\"id\":%s,", school_s);
    const char *obj = strstr(r.out, start);
    assert_non_null(obj);
    const char *at = strstr(obj, "\"terminated_at\":\"");
    assert_non_null(at);
    assert_true(at < strchr(obj, '}'));
}

static void test_audit_prints_one_schools_rows_newest_first(void **state)
{
    (void)state;
    int64_t user_a;
    int64_t a = create_school("Audited School", "98765 00006", &user_a);
    int64_t b = create_school("Other Audited School", "98765 00007", NULL);
    char a_s[24], b_s[24], user_s[24];
    snprintf(a_s, sizeof a_s, "%" PRId64, a);
    snprintf(b_s, sizeof b_s, "%" PRId64, b);
    snprintf(user_s, sizeof user_s, "%" PRId64, user_a);
    db_run("INSERT INTO audit_log (school_id, user_id, role, session_id, op, record_type,"
           " record_id, at, addr, outcome) VALUES"
           " ($1, $2, 'admin', 11, 'test.old', 'student', 5, now() - interval '2 hours',"
           "  '10.0.0.1', 'ok'),"
           " ($1, 777, 'teacher', 12, 'test.mid', NULL, NULL, now() - interval '1 hour',"
           "  NULL, 'denied'),"
           " ($1, $2, 'admin', 13, 'test.new', 'class', 6, now(), '10.0.0.2', 'ok')",
           a_s, user_s);
    db_run("INSERT INTO audit_log (school_id, user_id, op, outcome)"
           " VALUES ($1, 1, 'test.other_school', 'ok')", b_s, NULL);

    struct run r;
    admin(&r, "audit", "--school", a_s, NULL);
    expect_ok(&r);
    assert_int_equal(r.out[0], '[');
    assert_int_equal(count_of(r.out, "\"op\":"), 3);
    assert_null(strstr(r.out, "test.other_school"));
    const char *new_at = strstr(r.out, "\"op\":\"test.new\"");
    const char *mid_at = strstr(r.out, "\"op\":\"test.mid\"");
    const char *old_at = strstr(r.out, "\"op\":\"test.old\"");
    assert_non_null(new_at);
    assert_non_null(mid_at);
    assert_non_null(old_at);
    assert_true(new_at < mid_at && mid_at < old_at);
    /* Every column, with its JSON type. */
    const char *columns[] = { "\"id\":", "\"school_id\":", "\"user_id\":", "\"role\":\"admin\"",
                              "\"session_id\":13", "\"record_type\":\"class\"",
                              "\"record_id\":6", "\"at\":\"20", "\"addr\":\"10.0.0.2\"",
                              "\"outcome\":\"ok\"", "\"record_type\":null", "\"addr\":null" };
    for (size_t i = 0; i < sizeof columns / sizeof columns[0]; i++) {
        if (!strstr(r.out, columns[i])) {
            fail_msg("no %s in %s", columns[i], r.out);
        }
    }
    char want[64];
    snprintf(want, sizeof want, "\"school_id\":%s,", a_s);
    assert_int_equal(count_of(r.out, want), 3);

    admin(&r, "audit", "--school", a_s, "--limit", "1", NULL);
    expect_ok(&r);
    assert_int_equal(count_of(r.out, "\"op\":"), 1);
    assert_non_null(strstr(r.out, "test.new"));

    admin(&r, "audit", "--school", a_s, "--user", user_s, NULL);
    expect_ok(&r);
    assert_int_equal(count_of(r.out, "\"op\":"), 2);
    assert_null(strstr(r.out, "test.mid"));

    char since[64];
    db_text(since, sizeof since,
            "SELECT to_char((now() - interval '90 minutes') AT TIME ZONE 'UTC',"
            " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')", NULL, NULL);
    admin(&r, "audit", "--school", a_s, "--since", since, NULL);
    expect_ok(&r);
    assert_int_equal(count_of(r.out, "\"op\":"), 2);
    assert_null(strstr(r.out, "test.old"));

    admin(&r, "audit", "--school", b_s, NULL);
    expect_ok(&r);
    assert_int_equal(count_of(r.out, "\"op\":"), 1);
    assert_non_null(strstr(r.out, "test.other_school"));

    admin(&r, "audit", "--school", a_s, "--since", "not a time", NULL);
    expect_error(&r, 2, "--since");
    admin(&r, "audit", "--school", "999999999", NULL);
    expect_error(&r, 1, "no school");
}

static void test_keys_rotate_reseals_every_phone(void **state)
{
    (void)state;
    /* Before: every user's id, number (opened with key 1) and blind index. */
    PGresult *before = db_query("SELECT id, encode(phone_bi, 'hex'), phone_key FROM users"
                                " ORDER BY id", (const char *)NULL);
    int n = PQntuples(before);
    assert_true(n >= 5);
    char (*phones)[64] = calloc((size_t)n, sizeof *phones);
    assert_non_null(phones);
    for (int i = 0; i < n; i++) {
        assert_string_equal(PQgetvalue(before, i, 2), "1");
        open_phone(strtoll(PQgetvalue(before, i, 0), NULL, 10), phones[i], sizeof phones[i]);
    }

    struct run r;
    admin(&r, "keys", "rotate", NULL);
    expect_ok(&r);
    assert_int_equal(json_int(r.out, "key_version"), 2);
    assert_int_equal(json_int(r.out, "users_resealed"), n);

    struct crypto_keys *keys = load_keys();
    assert_int_equal(keys->n, 2);
    assert_int_equal(crypto_keys_current(keys)->version, 2);
    for (int i = 0; i < n; i++) {
        const char *id_s = PQgetvalue(before, i, 0);
        int64_t id = strtoll(id_s, NULL, 10);
        char text[128];
        db_text(text, sizeof text, "SELECT phone_key FROM users WHERE id = $1", id_s, NULL);
        assert_string_equal(text, "2");
        db_text(text, sizeof text, "SELECT encode(phone_bi, 'hex') FROM users WHERE id = $1",
                id_s, NULL);
        assert_string_not_equal(text, PQgetvalue(before, i, 1));
        unsigned char bi[CRYPTO_HASH_BYTES];
        char bi_hex[2 * CRYPTO_HASH_BYTES + 1];
        crypto_blind_index(crypto_keys_current(keys), "phone", phones[i], strlen(phones[i]), bi);
        crypto_hex(bi, sizeof bi, bi_hex);
        assert_string_equal(text, bi_hex);
        char phone[64];
        open_phone(id, phone, sizeof phone);
        assert_string_equal(phone, phones[i]);
    }
    free(phones);
    PQclear(before);

    /* The new index still catches a number registered before the rotation. */
    admin(&r, "school", "create", "--name", "After Rotation School", "--admin-name", "Y",
          "--admin-phone", PHONE_TYPED, NULL);
    expect_error(&r, 1, "phone number already registered");
    int64_t user;
    create_school("After Rotation School", "98765 00008", &user);
    char user_s[24];
    snprintf(user_s, sizeof user_s, "%" PRId64, user);
    assert_int_equal(db_int("SELECT phone_key FROM users WHERE id = $1", user_s, NULL), 2);
}

static void test_keys_rotate_refuses_unreadable_row(void **state)
{
    (void)state;
    /* A sealed phone copied to another row does not open there (it is bound to its row). */
    char victim[24], donor[24], saved[256];
    db_text(victim, sizeof victim, "SELECT min(id) FROM users", NULL, NULL);
    db_text(donor, sizeof donor, "SELECT max(id) FROM users", NULL, NULL);
    db_text(saved, sizeof saved, "SELECT phone_enc::text FROM users WHERE id = $1", victim,
            NULL);
    db_run("UPDATE users SET phone_enc = (SELECT phone_enc FROM users WHERE id = $2)"
           " WHERE id = $1", victim, donor);
    char file_before[1024], file_after[1024];
    read_file(env.key_file, file_before, sizeof file_before);

    struct run r;
    admin(&r, "keys", "rotate", NULL);
    char want[64];
    snprintf(want, sizeof want, "user %s:", victim);
    expect_error(&r, 1, want);
    /* Nothing changed: no key was added and every row keeps its key version. */
    read_file(env.key_file, file_after, sizeof file_after);
    assert_string_equal(file_before, file_after);
    assert_int_equal(db_int("SELECT count(*) FROM users WHERE phone_key <> 2", NULL, NULL), 0);

    db_run("UPDATE users SET phone_enc = $2::bytea WHERE id = $1", victim, saved);
    admin(&r, "keys", "rotate", NULL);
    expect_ok(&r);
    assert_int_equal(json_int(r.out, "key_version"), 3);
}

static void test_usage_errors_exit_2(void **state)
{
    (void)state;
    const char *cases[][12] = {
        { NULL },
        { "bogus", NULL },
        { "school", NULL },
        { "school", "rename", NULL },
        { "school", "create", "--name", "X", "--admin-name", "Y", NULL },
        { "school", "create", "--name", "", "--admin-name", "Y", "--admin-phone", "98765 00009",
          NULL },
        { "school", "create", "--name", "X", "--name", "Z", "--admin-name", "Y",
          "--admin-phone", "98765 00009", NULL },
        { "school", "create", "--name", "X", "--admin-name", "Y", "--admin-phone", NULL },
        { "school", "create", "--colour", "red", NULL },
        { "school", "list", "extra", NULL },
        { "school", "suspend", NULL },
        { "school", "suspend", "abc", NULL },
        { "school", "terminate", "-5", NULL },
        { "school", "activate", "1", "2", NULL },
        { "audit", NULL },
        { "audit", "--school", "x", NULL },
        { "audit", "--school", "1", "--limit", "0", NULL },
        { "audit", "--school", "1", "--limit", "10001", NULL },
        { "audit", "--school", "1", "--user", "me", NULL },
        { "keys", NULL },
        { "keys", "rotate", "now", NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct run r;
        run_argv(&r, env.key_file, cases[i]);
        if (r.status != 2) {
            fail_msg("case %zu (%s %s): exit %d, stderr: %s", i, cases[i][0] ? cases[i][0] : "",
                     cases[i][0] && cases[i][1] ? cases[i][1] : "", r.status, r.err);
        }
        expect_error(&r, 2, NULL);
    }
    assert_int_equal(db_int("SELECT count(*) FROM schools WHERE name IN ('X', 'Z')", NULL,
                            NULL), 0);

    struct run r;
    admin(&r, "--help", NULL);
    expect_ok(&r);
    assert_non_null(strstr(r.out, "Usage: classment-admin"));
}

int main(void)
{
    /* In order: keys init makes the key file the later tests use, and the rotation tests
     * expect every user created before them to carry key version 1. */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_init_creates_private_file_once),
        cmocka_unit_test(test_create_prints_ids_and_stores_no_clear_phone),
        cmocka_unit_test(test_create_refuses_registered_phone),
        cmocka_unit_test(test_create_refuses_invalid_phone),
        cmocka_unit_test(test_create_needs_key_file),
        cmocka_unit_test(test_list_shows_schools),
        cmocka_unit_test(test_suspend_revokes_sessions_and_activate_restores),
        cmocka_unit_test(test_terminate_sets_terminated_at_and_is_final),
        cmocka_unit_test(test_audit_prints_one_schools_rows_newest_first),
        cmocka_unit_test(test_keys_rotate_reseals_every_phone),
        cmocka_unit_test(test_keys_rotate_refuses_unreadable_row),
        cmocka_unit_test(test_usage_errors_exit_2),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
