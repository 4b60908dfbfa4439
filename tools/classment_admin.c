/* classment-admin: the platform operator's command line. Creates schools with their first admin,
 * suspends, reactivates and terminates them, reads a school's audit log and manages the master
 * key file. A CLI, not the server: synchronous libpq, one transaction per command. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <libpq-fe.h>
#include <sodium.h>

#include "academics/import_rows.h"
#include "core/arena.h"
#include "core/crypto.h"
#include "core/phone.h"
#include "core/pii.h"
#include "core/strbuf.h"

enum {
    RC_OK = 0,
    RC_FAIL = 1,
    RC_USAGE = 2,
};

/* Type oids fixed by PostgreSQL (pg_type.dat) whose text form is already valid JSON. */
enum {
    OID_BOOL = 16,
    OID_INT8 = 20,
    OID_INT2 = 21,
    OID_INT4 = 23,
};

/* The CHECK on schools.name and users.name, in characters. */
#define NAME_MAX_CHARS 200
#define AUDIT_DEFAULT_LIMIT 100
#define AUDIT_MAX_LIMIT 10000

#ifndef CLASSMENT_SRC_ROOT
#define CLASSMENT_SRC_ROOT "."
#endif
/* Where the servers this tool usually sits beside keep their master key: `tools/classment run`
 * in the checkout it was built from, and the systemd unit (tools/classmentd.service.in). */
#define RUN_KEY_FILE CLASSMENT_SRC_ROOT "/.run/master.key"
#define UNIT_KEY_FILE "/etc/classment/master.key"

/* Timestamps leave as ISO 8601 in UTC with microseconds, whatever the session's DateStyle, so
 * an audit row's `at` can be passed back as --since unchanged. */
#define SQL_ISO(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')"

static const char prog[] = "classment-admin";

static void usage(void)
{
    printf("Usage: classment-admin COMMAND [ARGUMENTS]\n\n"
           "Commands:\n"
           "  school create --name NAME --admin-name NAME --admin-phone PHONE\n"
           "                        create an active school and its first admin\n"
           "  school list           every school with its status and number of users\n"
           "  school suspend ID     suspend a school and revoke its open sessions\n"
           "  school activate ID    make a suspended school active again\n"
           "  school terminate ID   end a school for good and revoke its open sessions\n"
           "  audit --school ID [--limit N] [--user ID] [--since TIME]\n"
           "                        the school's audit log, newest first (--limit: default %d,\n"
           "                        at most %d; --since: ISO 8601, UTC unless it has an offset)\n"
           "  import students --school ID FILE [--dry-run]\n"
           "                        import students and their guardians from a CSV file\n"
           "                        (docs/operations.md): every bad row is printed as\n"
           "                        \"row N, column C: why\" and nothing is written\n"
           "  keys init             create the key file CLASSMENT_KEY_FILE (mode 600)\n"
           "  keys rotate           add a key to the key file and reseal every phone with it\n"
           "  --help                this text\n\n"
           "Output is JSON on stdout. Errors are one line on stderr; the exit status is 1 when\n"
           "a command failed and 2 when it was used wrongly.\n\n"
           "Environment:\n"
           "  CLASSMENT_DB          libpq connection string (default \"dbname=classment\")\n"
           "  CLASSMENT_KEY_FILE    master key file; needed by school create, import and keys\n"
           "  CLASSMENT_DEFAULT_CC  calling code for phone numbers given without one "
           "(default 91)\n",
           AUDIT_DEFAULT_LIMIT, AUDIT_MAX_LIMIT);
}

/* Prints "classment-admin: message" as one line: PostgreSQL's messages may hold newlines. */
static void vreport(const char *fmt, va_list ap, const char *suffix)
{
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    for (char *s = msg; *s; s++) {
        if (*s == '\n' || *s == '\r' || *s == '\t') {
            *s = ' ';
        }
    }
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == ' ') {
        msg[--n] = '\0';
    }
    fprintf(stderr, "%s: %s%s\n", prog, msg, suffix);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap, "");
    va_end(ap);
    return RC_FAIL;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreport(fmt, ap, " (see classment-admin --help)");
    va_end(ap);
    return RC_USAGE;
}

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

/* ---- command-line arguments ---- */

struct opt {
    const char *name; /* without the leading "--" */
    const char *value;
};

/* Reads "--name value" and "--name=value" into opts (NULL-terminated) and at most one
 * positional argument into *pos (pos may be NULL when none is allowed). Arguments are not
 * echoed in errors: a misplaced one may be a phone number. */
static int parse_args(int argc, char **argv, struct opt *opts, const char **pos)
{
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            if (!pos || *pos) {
                return usage_error("too many arguments");
            }
            *pos = a;
            continue;
        }
        const char *eq = strchr(a, '=');
        size_t name_len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        struct opt *o = opts;
        while (o->name && (strlen(o->name) != name_len || strncmp(o->name, a + 2, name_len))) {
            o++;
        }
        if (!o->name) {
            return usage_error("unknown option --%.*s", (int)name_len, a + 2);
        }
        if (o->value) {
            return usage_error("--%s given twice", o->name);
        }
        if (eq) {
            o->value = eq + 1;
        } else if (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
            o->value = argv[++i];
        } else {
            return usage_error("--%s needs a value", o->name);
        }
    }
    return 0;
}

/* A positive decimal integer with nothing around it. */
static bool parse_positive(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v <= 0) {
        return false;
    }
    *out = v;
    return true;
}

/* A positive id, like the database's bigserial columns. */
static int parse_id(const char *s, const char *what, int64_t *out)
{
    return parse_positive(s, out) ? 0 : usage_error("%s must be a positive integer", what);
}

/* Checks the schema's length rule up front, counted in characters as PostgreSQL does. */
static int check_name(const char *s, const char *what)
{
    size_t chars = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        chars += (*p & 0xC0) != 0x80;
    }
    if (chars < 1 || chars > NAME_MAX_CHARS) {
        return usage_error("%s must be 1 to %d characters", what, NAME_MAX_CHARS);
    }
    return 0;
}

/* ---- keys ---- */

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static int keys_path(const char **path)
{
    *path = env_or("CLASSMENT_KEY_FILE", NULL);
    /* A new key would not open what a running server has sealed, so point at its key first. */
    if (!*path && file_exists(RUN_KEY_FILE)) {
        return fail("CLASSMENT_KEY_FILE is not set; the server of 'tools/classment run' uses "
                    "%s: run this command as 'tools/classment admin ...'", RUN_KEY_FILE);
    }
    if (!*path && file_exists(UNIT_KEY_FILE)) {
        return fail("CLASSMENT_KEY_FILE is not set; the installed server uses %s: set "
                    "CLASSMENT_KEY_FILE=%s", UNIT_KEY_FILE, UNIT_KEY_FILE);
    }
    if (!*path) {
        return fail("CLASSMENT_KEY_FILE is not set (no server key file found; create one with "
                    "classment-admin keys init)");
    }
    if (crypto_init() != 0) {
        return fail("libsodium failed to initialise");
    }
    return 0;
}

static int load_keys(struct crypto_keys *keys)
{
    const char *path;
    int r = keys_path(&path);
    if (r) {
        return r;
    }
    char err[512];
    if (crypto_keys_load(keys, path, err, sizeof err) != 0) {
        return fail("%s", err);
    }
    return 0;
}

/* ---- database ---- */

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Connects to CLASSMENT_DB. Returns NULL after printing why. */
static PGconn *db_connect(void)
{
    /* dbname is expanded as a full connection string; client_encoding comes after it so that
     * JSON output is always UTF-8. */
    const char *const keys[] = { "fallback_application_name", "dbname", "client_encoding",
                                 NULL };
    const char *const values[] = { prog, env_or("CLASSMENT_DB", "dbname=classment"), "UTF8",
                                   NULL };
    PGconn *pg = PQconnectdbParams(keys, values, 1);
    if (PQstatus(pg) != CONNECTION_OK) {
        bool dev_run = !env_or("CLASSMENT_DB", NULL) && file_exists(RUN_KEY_FILE);
        fail("cannot connect to the database: %s%s", PQerrorMessage(pg),
             dev_run ? " (for the database of 'tools/classment run', run this command as "
                       "'tools/classment admin ...')" : "");
        PQfinish(pg);
        return NULL;
    }
    /* Notices would break the "errors only, one line" contract of stderr. */
    PQsetNoticeProcessor(pg, ignore_notice, NULL);
    /* A --since without an offset means UTC, whatever the server's default is. */
    PGresult *res = PQexecParams(pg, "SELECT set_config('TimeZone', 'UTC', false)", 0, NULL,
                                 NULL, NULL, NULL, 0);
    bool ok = PQresultStatus(res) == PGRES_TUPLES_OK;
    if (!ok) {
        fail("cannot set up the database session: %s", PQerrorMessage(pg));
    }
    PQclear(res);
    if (!ok) {
        PQfinish(pg);
        return NULL;
    }
    return pg;
}

/* Every statement goes through here: parameters apart from the SQL, text results (bytea as
 * "\x…" hex, numbers as digits). */
static PGresult *db_exec(PGconn *pg, const char *sql, int n, const char *const *params)
{
    return PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
}

static bool db_ok(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
}

static bool db_sqlstate_is(const PGresult *res, const char *state)
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return s && strncmp(s, state, strlen(state)) == 0;
}

/* Why a statement failed. Only the primary message: PostgreSQL's DETAIL can quote a row's
 * values. */
static const char *db_error(PGconn *pg, const PGresult *res)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    return msg ? msg : PQerrorMessage(pg);
}

static int db_fail(PGconn *pg, const PGresult *res, const char *what)
{
    return fail("%s: %s", what, db_error(pg, res));
}

/* Runs a statement whose result is not needed. */
static int db_command(PGconn *pg, const char *sql, int n, const char *const *params,
                      const char *what)
{
    PGresult *res = db_exec(pg, sql, n, params);
    int r = db_ok(res) ? 0 : db_fail(pg, res, what);
    PQclear(res);
    return r;
}

/* BEGIN, then the school whose id is school_s must exist (a command's first step). 0, or
 * RC_FAIL after printing why. */
static int begin_in_school(PGconn *pg, const char *school_s)
{
    int r = db_command(pg, "BEGIN", 0, NULL, "begin");
    if (r) {
        return r;
    }
    const char *params[] = { school_s };
    PGresult *res = db_exec(pg, "SELECT 1 FROM schools WHERE id = $1", 1, params);
    if (!db_ok(res)) {
        r = db_fail(pg, res, "reading the school");
    } else if (PQntuples(res) == 0) {
        r = fail("no school with id %s", school_s);
    }
    PQclear(res);
    return r;
}

/* Rolls back what a failed command left open, then disconnects. NULL does nothing. */
static void db_close(PGconn *pg)
{
    if (!pg) {
        return;
    }
    PGTransactionStatusType ts = PQtransactionStatus(pg);
    if (ts == PQTRANS_INTRANS || ts == PQTRANS_INERROR) {
        PQclear(db_exec(pg, "ROLLBACK", 0, NULL));
    }
    PQfinish(pg);
}

/* ---- JSON ---- */

static void json_string(struct strbuf *sb, const char *s)
{
    strbuf_append(sb, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char esc[2] = { '\\', (char)c };
            strbuf_append(sb, esc, 2);
        } else if (c < 0x20) {
            strbuf_printf(sb, "\\u%04x", c);
        } else {
            strbuf_append(sb, s, 1);
        }
    }
    strbuf_append(sb, "\"", 1);
}

/* One result row as an object keyed by column name: integers and booleans as such, NULL as
 * null, everything else as a string. */
static void json_row(struct strbuf *sb, const PGresult *res, int row)
{
    strbuf_append(sb, "{", 1);
    for (int col = 0; col < PQnfields(res); col++) {
        if (col > 0) {
            strbuf_append(sb, ",", 1);
        }
        json_string(sb, PQfname(res, col));
        strbuf_append(sb, ":", 1);
        const char *v = PQgetvalue(res, row, col);
        Oid type = PQftype(res, col);
        if (PQgetisnull(res, row, col)) {
            strbuf_append(sb, "null", 4);
        } else if (type == OID_INT8 || type == OID_INT4 || type == OID_INT2) {
            strbuf_append(sb, v, strlen(v));
        } else if (type == OID_BOOL) {
            strbuf_append(sb, v[0] == 't' ? "true" : "false", v[0] == 't' ? 4 : 5);
        } else {
            json_string(sb, v);
        }
    }
    strbuf_append(sb, "}", 1);
}

/* Every row as an array, one element per line so that long lists stay readable. */
static void json_rows(struct strbuf *sb, const PGresult *res)
{
    int n = PQntuples(res);
    strbuf_append(sb, n ? "[\n" : "[", n ? 2 : 1);
    for (int row = 0; row < n; row++) {
        strbuf_append(sb, "  ", 2);
        json_row(sb, res, row);
        strbuf_append(sb, row + 1 < n ? ",\n" : "\n", row + 1 < n ? 2 : 1);
    }
    strbuf_append(sb, "]", 1);
}

static void print_json(const struct strbuf *sb)
{
    printf("%s\n", sb->data);
}

/* ---- school ---- */

static int school_create(int argc, char **argv)
{
    struct opt opts[] = {
        { .name = "name" }, { .name = "admin-name" }, { .name = "admin-phone" }, { NULL, NULL }
    };
    int r = parse_args(argc, argv, opts, NULL);
    if (r) {
        return r;
    }
    for (struct opt *o = opts; o->name; o++) {
        if (!o->value) {
            return usage_error("school create needs --%s", o->name);
        }
    }
    if ((r = check_name(opts[0].value, "--name")) || (r = check_name(opts[1].value,
                                                                     "--admin-name"))) {
        return r;
    }
    const char *cc = env_or("CLASSMENT_DEFAULT_CC", "91");
    if (strlen(cc) > 3 || strspn(cc, "0123456789") != strlen(cc) || cc[0] == '0') {
        return fail("CLASSMENT_DEFAULT_CC must be 1-3 digits, e.g. 91");
    }
    char phone[PHONE_MAX];
    if (phone_normalize(opts[2].value, strlen(opts[2].value), cc, phone) != 0) {
        return fail("invalid phone number");
    }

    struct crypto_keys keys;
    memset(&keys, 0, sizeof keys);
    PGconn *pg = NULL;
    PGresult *school = NULL;
    PGresult *res = NULL;
    struct strbuf all_bi;
    strbuf_init(&all_bi);
    if ((r = load_keys(&keys)) || !(pg = db_connect())) {
        r = RC_FAIL;
        goto out;
    }
    if ((r = db_command(pg, "BEGIN", 0, NULL, "begin"))) {
        goto out;
    }
    /* The unique index only compares indexes made with the current key. A user the server
     * added with an older key that no rotation has resealed yet is found this way. */
    pii_phone_index_all(&keys, phone, &all_bi);
    const char *bi_params[] = { all_bi.data };
    res = db_exec(pg, "SELECT 1 FROM users WHERE phone_bi = ANY($1::bytea[]) LIMIT 1", 1,
                  bi_params);
    if (!db_ok(res)) {
        r = db_fail(pg, res, "looking up the phone number");
        goto out;
    }
    if (PQntuples(res) > 0) {
        r = fail("phone number already registered");
        goto out;
    }
    PQclear(res);
    res = NULL;

    const char *school_params[] = { opts[0].value };
    school = db_exec(pg, "INSERT INTO schools (name) VALUES ($1) RETURNING id", 1,
                     school_params);
    if (!db_ok(school)) {
        r = db_fail(pg, school, "creating the school");
        goto out;
    }
    /* The sealed phone is bound to its row id, so the id is taken before the row exists. */
    res = db_exec(pg, "SELECT nextval('users_id_seq')", 0, NULL);
    if (!db_ok(res)) {
        r = db_fail(pg, res, "allocating a user id");
        goto out;
    }
    int64_t user_id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    res = NULL;

    char user_id_s[24];
    char sealed[PII_SEALED_PHONE_HEX];
    char bi[PII_INDEX_HEX];
    char version_s[8];
    snprintf(user_id_s, sizeof user_id_s, "%" PRId64, user_id);
    snprintf(version_s, sizeof version_s, "%d", pii_seal_phone(&keys, user_id, phone, sealed));
    pii_phone_index(&keys, phone, bi);
    const char *user_params[] = { user_id_s, PQgetvalue(school, 0, 0), opts[1].value, sealed,
                                  version_s, bi };
    res = db_exec(pg,
                  "INSERT INTO users (id, school_id, role, name, phone_enc, phone_key, phone_bi)"
                  " VALUES ($1, $2, 'admin', $3, $4, $5, $6)",
                  6, user_params);
    if (!db_ok(res)) {
        /* A concurrent create of the same number gets past the look-up above. */
        r = db_sqlstate_is(res, "23505") ? fail("phone number already registered")
                                         : db_fail(pg, res, "creating the admin");
        goto out;
    }
    if ((r = db_command(pg, "COMMIT", 0, NULL, "commit"))) {
        goto out;
    }
    printf("{\"school\":%s,\"admin\":%s}\n", PQgetvalue(school, 0, 0), user_id_s);
out:
    PQclear(res);
    PQclear(school);
    db_close(pg);
    strbuf_deinit(&all_bi);
    sodium_memzero(phone, sizeof phone);
    crypto_keys_wipe(&keys);
    return r;
}

static int school_list(int argc, char **argv)
{
    struct opt opts[] = { { NULL, NULL } };
    int r = parse_args(argc, argv, opts, NULL);
    if (r) {
        return r;
    }
    PGconn *pg = db_connect();
    PGresult *res = NULL;
    struct strbuf out;
    strbuf_init(&out);
    if (!pg) {
        r = RC_FAIL;
        goto out;
    }
    if ((r = db_command(pg, "BEGIN", 0, NULL, "begin"))) {
        goto out;
    }
    res = db_exec(pg,
                  "SELECT s.id, s.name, s.status, " SQL_ISO("s.terminated_at") " AS terminated_at,"
                  " (SELECT count(*) FROM users u WHERE u.school_id = s.id) AS users,"
                  " " SQL_ISO("s.created_at") " AS created_at"
                  " FROM schools s ORDER BY s.id",
                  0, NULL);
    if (!db_ok(res)) {
        r = db_fail(pg, res, "listing schools");
        goto out;
    }
    if ((r = db_command(pg, "COMMIT", 0, NULL, "commit"))) {
        goto out;
    }
    json_rows(&out, res);
    print_json(&out);
out:
    strbuf_deinit(&out);
    PQclear(res);
    db_close(pg);
    return r;
}

/* suspend, activate and terminate. Terminated is final. Leaving "active" revokes the school's
 * open sessions in the same transaction; classmentd re-checks live connections' sessions every
 * few seconds and closes those revoked. */
static int school_set_status(int argc, char **argv, const char *verb, const char *status)
{
    struct opt opts[] = { { NULL, NULL } };
    const char *id_arg = NULL;
    int64_t id;
    int r = parse_args(argc, argv, opts, &id_arg);
    if (r) {
        return r;
    }
    if (!id_arg) {
        return usage_error("school %s needs a school ID", verb);
    }
    if ((r = parse_id(id_arg, "ID", &id))) {
        return r;
    }
    char id_s[24];
    snprintf(id_s, sizeof id_s, "%" PRId64, id);
    const char *params[] = { id_s, status };
    bool revoke = strcmp(status, "active") != 0;
    long revoked = 0;

    PGconn *pg = db_connect();
    PGresult *res = NULL;
    if (!pg) {
        r = RC_FAIL;
        goto out;
    }
    if ((r = db_command(pg, "BEGIN", 0, NULL, "begin"))) {
        goto out;
    }
    res = db_exec(pg, "SELECT status FROM schools WHERE id = $1 FOR UPDATE", 1, params);
    if (!db_ok(res)) {
        r = db_fail(pg, res, "reading the school");
        goto out;
    }
    if (PQntuples(res) == 0) {
        r = fail("no school with id %s", id_s);
        goto out;
    }
    if (strcmp(PQgetvalue(res, 0, 0), "terminated") == 0) {
        r = fail("school %s is terminated, which is final", id_s);
        goto out;
    }
    PQclear(res);
    res = NULL;
    if ((r = db_command(pg,
                        "UPDATE schools SET status = $2::text, updated_at = now(),"
                        " terminated_at = CASE WHEN $2::text = 'terminated' THEN now()"
                        " ELSE terminated_at END WHERE id = $1",
                        2, params, "updating the school"))) {
        goto out;
    }
    if (revoke) {
        res = db_exec(pg,
                      "UPDATE sessions SET revoked_at = now()"
                      " WHERE school_id = $1 AND revoked_at IS NULL",
                      1, params);
        if (!db_ok(res)) {
            r = db_fail(pg, res, "revoking sessions");
            goto out;
        }
        revoked = strtol(PQcmdTuples(res), NULL, 10);
    }
    if ((r = db_command(pg, "COMMIT", 0, NULL, "commit"))) {
        goto out;
    }
    if (revoke) {
        printf("{\"school\":%s,\"status\":\"%s\",\"sessions_revoked\":%ld}\n", id_s, status,
               revoked);
    } else {
        printf("{\"school\":%s,\"status\":\"%s\"}\n", id_s, status);
    }
out:
    PQclear(res);
    db_close(pg);
    return r;
}

static int school_suspend(int argc, char **argv)
{
    return school_set_status(argc, argv, "suspend", "suspended");
}

static int school_activate(int argc, char **argv)
{
    return school_set_status(argc, argv, "activate", "active");
}

static int school_terminate(int argc, char **argv)
{
    return school_set_status(argc, argv, "terminate", "terminated");
}

/* ---- audit ---- */

static int audit(int argc, char **argv)
{
    struct opt opts[] = {
        { .name = "school" }, { .name = "limit" }, { .name = "user" }, { .name = "since" },
        { NULL, NULL }
    };
    int r = parse_args(argc, argv, opts, NULL);
    if (r) {
        return r;
    }
    if (!opts[0].value) {
        return usage_error("audit needs --school");
    }
    int64_t school, user = 0, limit = AUDIT_DEFAULT_LIMIT;
    if ((r = parse_id(opts[0].value, "--school", &school)) ||
        (opts[2].value && (r = parse_id(opts[2].value, "--user", &user)))) {
        return r;
    }
    if (opts[1].value && (!parse_positive(opts[1].value, &limit) || limit > AUDIT_MAX_LIMIT)) {
        return usage_error("--limit must be 1 to %d", AUDIT_MAX_LIMIT);
    }
    if (opts[3].value && !*opts[3].value) {
        return usage_error("--since needs a date and time");
    }
    char school_s[24], user_s[24], limit_s[24];
    snprintf(school_s, sizeof school_s, "%" PRId64, school);
    snprintf(user_s, sizeof user_s, "%" PRId64, user);
    snprintf(limit_s, sizeof limit_s, "%" PRId64, limit);
    const char *params[] = { school_s, opts[2].value ? user_s : NULL, opts[3].value, limit_s };

    PGconn *pg = db_connect();
    PGresult *res = NULL;
    struct strbuf out;
    strbuf_init(&out);
    if (!pg) {
        r = RC_FAIL;
        goto out;
    }
    if ((r = begin_in_school(pg, school_s))) {
        goto out;
    }
    /* (school_id, at DESC) is indexed; id breaks ties between entries of one batch. */
    res = db_exec(pg,
                  "SELECT id, school_id, user_id, role, session_id, op, record_type, record_id,"
                  " " SQL_ISO("at") " AS at, addr, outcome"
                  " FROM audit_log WHERE school_id = $1"
                  " AND ($2::bigint IS NULL OR user_id = $2::bigint)"
                  " AND ($3::timestamptz IS NULL OR at >= $3::timestamptz)"
                  " ORDER BY at DESC, id DESC LIMIT $4",
                  4, params);
    if (!db_ok(res)) {
        /* Class 22 (data exception) can only come from a --since PostgreSQL cannot read. */
        r = db_sqlstate_is(res, "22")
                ? usage_error("--since must be a date and time such as 2025-01-31T09:00:00Z")
                : db_fail(pg, res, "reading the audit log");
        goto out;
    }
    if ((r = db_command(pg, "COMMIT", 0, NULL, "commit"))) {
        goto out;
    }
    json_rows(&out, res);
    print_json(&out);
out:
    strbuf_deinit(&out);
    PQclear(res);
    db_close(pg);
    return r;
}

/* ---- import ---- */

/* Files read whole; the op's limit is the socket's, this one only keeps memory sane. */
#define IMPORT_FILE_MAX (64 << 20)

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return fail("cannot open %s: %s", path, strerror(errno));
    }
    struct strbuf sb;
    strbuf_init(&sb);
    char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        if (sb.len + n > IMPORT_FILE_MAX) {
            fclose(f);
            strbuf_deinit(&sb);
            return fail("%s is larger than %d MiB", path, IMPORT_FILE_MAX >> 20);
        }
        strbuf_append(&sb, buf, n);
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        strbuf_deinit(&sb);
        return fail("cannot read %s", path);
    }
    *len = sb.len;
    *out = sb.data ? strbuf_release(&sb) : strdup("");
    return 0;
}

/* Runs one of the import's statements; NULL after printing why. */
static PGresult *import_exec(PGconn *pg, const char *sql, struct import_params *p,
                             const char *what)
{
    PGresult *res = db_exec(pg, sql, p->n, (const char *const *)p->v);
    import_params_free(p);
    if (!db_ok(res)) {
        if (db_sqlstate_is(res, "23505")) {
            fail("%s: an admission number or a phone number of the file was registered "
                 "meanwhile: run the import again", what);
        } else {
            db_fail(pg, res, what);
        }
        PQclear(res);
        return NULL;
    }
    return res;
}

/* `import students --school ID FILE [--dry-run]`: the same rows, checks and statements as the
 * student.import op (academics/import_rows.h), in one transaction of its own. Each error is a
 * line "row N, column C: message" on stderr; the summary is JSON on stdout. */
static int import_students(int argc, char **argv)
{
    bool dry_run = false;
    char *rest[16];
    int n_rest = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--dry-run") == 0) {
            dry_run = true;
        } else if (n_rest < (int)(sizeof rest / sizeof rest[0])) {
            rest[n_rest++] = argv[i];
        } else {
            return usage_error("too many arguments");
        }
    }
    struct opt opts[] = { { .name = "school" }, { NULL, NULL } };
    const char *path = NULL;
    int r = parse_args(n_rest, rest, opts, &path);
    if (r) {
        return r;
    }
    if (!opts[0].value) {
        return usage_error("import students needs --school");
    }
    if (!path) {
        return usage_error("import students needs a FILE");
    }
    int64_t school;
    if ((r = parse_id(opts[0].value, "--school", &school))) {
        return r;
    }
    const char *cc = env_or("CLASSMENT_DEFAULT_CC", "91");
    if (strlen(cc) > 3 || strspn(cc, "0123456789") != strlen(cc) || cc[0] == '0') {
        return fail("CLASSMENT_DEFAULT_CC must be 1-3 digits, e.g. 91");
    }
    char *csv = NULL;
    size_t csv_len = 0;
    if ((r = read_file(path, &csv, &csv_len))) {
        return r;
    }
    struct crypto_keys keys;
    memset(&keys, 0, sizeof keys);
    struct arena arena = { 0 };
    struct import_batch b;
    import_init(&b, &arena);
    struct import_params p = { .n = 0 };
    PGconn *pg = NULL;
    PGresult *res = NULL;
    char school_s[24];
    snprintf(school_s, sizeof school_s, "%" PRId64, school);
    if ((r = load_keys(&keys)) || !(pg = db_connect())) {
        r = RC_FAIL;
        goto out;
    }
    if ((r = begin_in_school(pg, school_s))) {
        goto out;
    }
    if (import_parse(&b, csv, csv_len, cc) != 0) {
        r = fail("out of memory");
        goto out;
    }
    if (!b.fatal) {
        import_check_params(&b, &keys, school, &p);
        if (!(res = import_exec(pg, IMPORT_CHECK_SQL, &p, "checking the rows"))) {
            r = RC_FAIL;
            goto out;
        }
        import_check_result(&b, res);
        PQclear(res);
        res = NULL;
    }
    bool write = !dry_run && b.n_errors == 0 && b.n_students > 0;
    if (write) {
        import_reserve_params(&b, &p);
        if (!(res = import_exec(pg, IMPORT_RESERVE_SQL, &p, "reserving ids"))) {
            r = RC_FAIL;
            goto out;
        }
        int bad = import_reserve_result(&b, res);
        PQclear(res);
        res = NULL;
        if (bad) {
            r = fail("reserving ids: the database answered fewer than asked");
            goto out;
        }
        import_write_params(&b, &keys, school, &p);
        if (!(res = import_exec(pg, IMPORT_WRITE_SQL, &p, "writing the rows"))) {
            r = RC_FAIL;
            goto out;
        }
        import_write_result(&b, res);
        PQclear(res);
        res = NULL;
    }
    if ((r = db_command(pg, "COMMIT", 0, NULL, "commit"))) {
        goto out;
    }
    for (size_t i = 0; i < b.n_errors; i++) {
        const struct import_error *e = &b.errors[i];
        if (e->row == 0) {
            fprintf(stderr, "%s\n", e->message);
        } else if (!e->column[0]) {
            fprintf(stderr, "row %d: %s\n", e->row, e->message);
        } else {
            fprintf(stderr, "row %d, column %s: %s\n", e->row, e->column, e->message);
        }
    }
    bool clean = b.n_errors == 0;
    printf("{\"rows\":%zu,\"created\":%" PRId64 ",\"guardians_created\":%" PRId64
           ",\"guardians_linked\":%" PRId64 ",\"dry_run\":%s,\"errors\":%zu}\n",
           b.n_rows, write ? b.created : clean ? (int64_t)b.n_students : 0,
           write ? b.guardians_created : clean ? (int64_t)b.n_new_users : 0,
           write ? b.guardians_linked : clean ? (int64_t)b.n_links : 0,
           dry_run ? "true" : "false", b.errors_total);
    if (!clean) {
        fprintf(stderr, "%s: %zu rows, %zu errors: %s\n", prog, b.n_rows, b.errors_total,
                dry_run ? "this was a dry run" : "nothing was imported");
        r = RC_FAIL;
    }
out:
    PQclear(res);
    import_params_free(&p);
    db_close(pg);
    arena_deinit(&arena);
    if (csv) {
        sodium_memzero(csv, csv_len);
        free(csv);
    }
    crypto_keys_wipe(&keys);
    return r;
}

/* ---- keys ---- */

static int keys_init(int argc, char **argv)
{
    struct opt opts[] = { { NULL, NULL } };
    const char *path;
    int r = parse_args(argc, argv, opts, NULL);
    if (r || (r = keys_path(&path))) {
        return r;
    }
    char err[512];
    if (crypto_keys_create_file(path, err, sizeof err) != 0) {
        return fail("%s", err);
    }
    struct strbuf out;
    strbuf_init(&out);
    strbuf_append(&out, "{\"key_file\":", 12);
    json_string(&out, path);
    strbuf_append(&out, ",\"key_version\":1}", 17);
    print_json(&out);
    strbuf_deinit(&out);
    return RC_OK;
}

/* Checks that every row of users (id, phone_enc, phone_key) opens with keys. */
static int check_all_open(const struct crypto_keys *keys, const PGresult *users)
{
    char phone[PHONE_MAX];
    int r = 0;
    for (int i = 0; i < PQntuples(users) && !r; i++) {
        int64_t id = strtoll(PQgetvalue(users, i, 0), NULL, 10);
        int version = atoi(PQgetvalue(users, i, 2));
        if (pii_open_phone(keys, version, id, users, i, 1, phone) != 0) {
            r = fail("user %" PRId64 ": its phone does not open with key version %d of the key "
                     "file; nothing was changed and no key was added", id, version);
        }
    }
    sodium_memzero(phone, sizeof phone);
    return r;
}

/* Reseals every row of users with the current key and recomputes its blind index. note ends
 * each error: by now the key file has a line that the rollback leaves unused. */
static int reseal_all(PGconn *pg, const struct crypto_keys *keys, const PGresult *users,
                      const char *note)
{
    char phone[PHONE_MAX];
    int r = 0;
    for (int i = 0; i < PQntuples(users) && !r; i++) {
        const char *id_s = PQgetvalue(users, i, 0);
        int64_t id = strtoll(id_s, NULL, 10);
        int version = atoi(PQgetvalue(users, i, 2));
        if (pii_open_phone(keys, version, id, users, i, 1, phone) != 0) {
            r = fail("user %s: its phone does not open with key version %d%s", id_s, version,
                     note);
            break;
        }
        char sealed[PII_SEALED_PHONE_HEX];
        char bi[PII_INDEX_HEX];
        char version_s[8];
        snprintf(version_s, sizeof version_s, "%d", pii_seal_phone(keys, id, phone, sealed));
        pii_phone_index(keys, phone, bi);
        const char *params[] = { id_s, sealed, version_s, bi };
        PGresult *res = db_exec(pg,
                                "UPDATE users SET phone_enc = $2, phone_key = $3, phone_bi = $4"
                                " WHERE id = $1",
                                4, params);
        if (!db_ok(res)) {
            r = fail("resealing user %s: %s%s", id_s, db_error(pg, res), note);
        }
        PQclear(res);
    }
    sodium_memzero(phone, sizeof phone);
    return r;
}

/* Checks that every students row (id, dob_enc, dob_key) opens with keys. */
static int check_all_dobs_open(const struct crypto_keys *keys, const PGresult *students)
{
    char dob[PII_TEXT_MAX + 1];
    int r = 0;
    for (int i = 0; i < PQntuples(students) && !r; i++) {
        int64_t id = strtoll(PQgetvalue(students, i, 0), NULL, 10);
        int version = atoi(PQgetvalue(students, i, 2));
        if (pii_open_text(keys, version, "students.dob", id, students, i, 1, dob,
                          sizeof dob) != 0) {
            r = fail("student %" PRId64 ": its date of birth does not open with key version %d "
                     "of the key file; nothing was changed and no key was added", id, version);
        }
    }
    sodium_memzero(dob, sizeof dob);
    return r;
}

/* Reseals every student's date of birth with the current key. */
static int reseal_all_dobs(PGconn *pg, const struct crypto_keys *keys,
                           const PGresult *students, const char *note)
{
    char dob[PII_TEXT_MAX + 1];
    int r = 0;
    for (int i = 0; i < PQntuples(students) && !r; i++) {
        const char *id_s = PQgetvalue(students, i, 0);
        int64_t id = strtoll(id_s, NULL, 10);
        int version = atoi(PQgetvalue(students, i, 2));
        if (pii_open_text(keys, version, "students.dob", id, students, i, 1, dob,
                          sizeof dob) != 0) {
            r = fail("student %s: its date of birth does not open with key version %d%s", id_s,
                     version, note);
            break;
        }
        char sealed[PII_SEALED_TEXT_HEX];
        char version_s[8];
        snprintf(version_s, sizeof version_s, "%d",
                 pii_seal_text(keys, "students.dob", id, dob, strlen(dob), sealed));
        const char *params[] = { id_s, sealed, version_s };
        PGresult *res = db_exec(pg, "UPDATE students SET dob_enc = $2, dob_key = $3 WHERE id = $1",
                                3, params);
        if (!db_ok(res)) {
            r = fail("resealing student %s: %s%s", id_s, db_error(pg, res), note);
        }
        PQclear(res);
    }
    sodium_memzero(dob, sizeof dob);
    return r;
}

/* Adds a key and reseals every user's phone with it in one transaction. Every row is opened
 * with the existing keys before the key file is touched, so an unreadable row stops the
 * rotation before it leaves anything behind. */
static int keys_rotate(int argc, char **argv)
{
    struct opt opts[] = { { NULL, NULL } };
    const char *path;
    int r = parse_args(argc, argv, opts, NULL);
    if (r || (r = keys_path(&path))) {
        return r;
    }
    struct crypto_keys keys;
    memset(&keys, 0, sizeof keys);
    char err[512];
    char note[160];
    int new_version = 0;
    PGconn *pg = NULL;
    PGresult *users = NULL;
    PGresult *students = NULL;
    PGresult *res = NULL;
    if ((r = load_keys(&keys)) || !(pg = db_connect())) {
        r = RC_FAIL;
        goto out;
    }
    if ((r = db_command(pg, "BEGIN", 0, NULL, "begin"))) {
        goto out;
    }
    students = db_exec(pg, "SELECT id, dob_enc, dob_key FROM students WHERE dob_enc IS NOT NULL"
                           " ORDER BY id FOR UPDATE",
                       0, NULL);
    if (!db_ok(students)) {
        r = db_fail(pg, students, "reading students");
        goto out;
    }
    /* FOR UPDATE: a concurrent change to a phone waits for the rotation, not the reverse. */
    users = db_exec(pg, "SELECT id, phone_enc, phone_key FROM users ORDER BY id FOR UPDATE", 0,
                    NULL);
    if (!db_ok(users)) {
        r = db_fail(pg, users, "reading users");
        goto out;
    }
    if ((r = check_all_open(&keys, users)) || (r = check_all_dobs_open(&keys, students))) {
        goto out;
    }
    crypto_keys_wipe(&keys);
    if (crypto_keys_append_file(path, &new_version, err, sizeof err) != 0) {
        r = fail("%s; nothing was changed", err);
        goto out;
    }
    snprintf(note, sizeof note,
             "; rolled back: key version %d stays in the key file but nothing uses it",
             new_version);
    if (crypto_keys_load(&keys, path, err, sizeof err) != 0) {
        r = fail("%s%s", err, note);
        goto out;
    }
    if (crypto_keys_current(&keys)->version != new_version) {
        r = fail("%s changed during the rotation%s", path, note);
        goto out;
    }
    if ((r = reseal_all(pg, &keys, users, note)) ||
        (r = reseal_all_dobs(pg, &keys, students, note))) {
        goto out;
    }
    res = db_exec(pg, "COMMIT", 0, NULL);
    if (!db_ok(res)) {
        r = fail("commit: %s%s", db_error(pg, res), note);
        goto out;
    }
    printf("{\"key_version\":%d,\"users_resealed\":%d,\"students_resealed\":%d}\n",
           new_version, PQntuples(users), PQntuples(students));
out:
    PQclear(res);
    PQclear(students);
    PQclear(users);
    db_close(pg);
    crypto_keys_wipe(&keys);
    return r;
}

/* ---- dispatch ---- */

struct command {
    const char *group;
    const char *name; /* NULL: the group is the whole command */
    int (*fn)(int argc, char **argv);
};

static const struct command commands[] = {
    { "school", "create", school_create },
    { "school", "list", school_list },
    { "school", "suspend", school_suspend },
    { "school", "activate", school_activate },
    { "school", "terminate", school_terminate },
    { "audit", NULL, audit },
    { "import", "students", import_students },
    { "keys", "init", keys_init },
    { "keys", "rotate", keys_rotate },
};

/* Command words are echoed in errors only when they look like words, never like a number. */
static bool is_word(const char *s)
{
    return *s && strspn(s, "abcdefghijklmnopqrstuvwxyz-") == strlen(s);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || (i == 1 && (strcmp(argv[i], "-h") == 0 ||
                                                          strcmp(argv[i], "help") == 0))) {
            usage();
            return RC_OK;
        }
    }
    if (argc < 2) {
        return usage_error("no command given");
    }
    const struct command *cmd = NULL;
    bool group_known = false;
    for (size_t i = 0; i < sizeof commands / sizeof commands[0] && !cmd; i++) {
        const struct command *c = &commands[i];
        if (strcmp(argv[1], c->group) != 0) {
            continue;
        }
        group_known = true;
        if (!c->name || (argc > 2 && strcmp(argv[2], c->name) == 0)) {
            cmd = c;
        }
    }
    if (!cmd && !group_known) {
        return is_word(argv[1]) ? usage_error("unknown command %s", argv[1])
                                : usage_error("unknown command");
    }
    if (!cmd) {
        if (argc < 3) {
            return usage_error("%s needs a subcommand", argv[1]);
        }
        return is_word(argv[2]) ? usage_error("unknown command %s %s", argv[1], argv[2])
                                : usage_error("unknown %s subcommand", argv[1]);
    }
    int skip = cmd->name ? 3 : 2;
    int r = cmd->fn(argc - skip, argv + skip);
    if (fflush(stdout) != 0 && r == RC_OK) {
        r = fail("cannot write the output: %s", strerror(errno));
    }
    return r;
}
