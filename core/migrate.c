/* Schema migrations: applies NNNN_name.sql files in order, each in its own transaction, and
 * records them in schema_migrations (see migrate.h). Synchronous libpq: start-up only. */
#include "core/migrate.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/log.h"
#include "core/xalloc.h"

/* Advisory lock key shared by every classmentd start-up ("CLASSMIG" in ASCII): two servers
 * starting together must not apply the same file twice. */
#define MIGRATE_LOCK_KEY "4849322724906846535"

/* A file body is a migration, not a data dump; a cap keeps a stray file from eating memory. */
#define MIGRATE_MAX_FILE_BYTES (64L * 1024 * 1024)

struct migration {
    int version;
    char *file;  /* base name, e.g. 0002_schools.sql */
};

static void set_err(char *err, size_t err_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
    if (!err || err_len == 0) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    /* The caller promises one line; PostgreSQL's messages end with a newline. */
    for (char *s = err; *s; s++) {
        if (*s == '\n' || *s == '\r') {
            *s = ' ';
        }
    }
    size_t n = strlen(err);
    while (n > 0 && err[n - 1] == ' ') {
        err[--n] = '\0';
    }
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s);
    size_t m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* NNNN_name.sql: four digits, an underscore, a non-empty name of [A-Za-z0-9_-]. */
static bool parse_name(const char *file, int *version)
{
    size_t n = strlen(file);
    if (n < 4 + 1 + 1 + 4) {
        return false;
    }
    for (int i = 0; i < 4; i++) {
        if (!isdigit((unsigned char)file[i])) {
            return false;
        }
    }
    if (file[4] != '_') {
        return false;
    }
    for (size_t i = 5; i < n - 4; i++) {
        char ch = file[i];
        if (!isalnum((unsigned char)ch) && ch != '_' && ch != '-') {
            return false;
        }
    }
    *version = (file[0] - '0') * 1000 + (file[1] - '0') * 100 + (file[2] - '0') * 10 +
               (file[3] - '0');
    return true;
}

static int cmp_migration(const void *a, const void *b)
{
    const struct migration *x = a;
    const struct migration *y = b;
    return (x->version > y->version) - (x->version < y->version);
}

static void migrations_free(struct migration *m, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(m[i].file);
    }
    free(m);
}

/* Lists and sorts the migrations in dir. Returns 0 or MIGRATE_E_DIR. */
static int scan_dir(const char *dir, struct migration **out, size_t *out_n, char *err,
                    size_t err_len)
{
    int rc = 0;
    struct migration *m = NULL;
    size_t n = 0;
    size_t cap = 0;
    DIR *d = opendir(dir);
    if (!d) {
        set_err(err, err_len, "%s: %s", dir, strerror(errno));
        rc = MIGRATE_E_DIR;
        goto out;
    }
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!ends_with(e->d_name, ".sql")) {
            continue;
        }
        int version;
        if (!parse_name(e->d_name, &version)) {
            set_err(err, err_len, "%s: badly named migration (want NNNN_name.sql)", e->d_name);
            rc = MIGRATE_E_DIR;
            goto out;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            m = xrealloc(m, cap * sizeof *m);
        }
        m[n].version = version;
        m[n].file = xstrdup(e->d_name);
        n++;
    }
    if (n > 1) {
        qsort(m, n, sizeof *m, cmp_migration);
    }
    for (size_t i = 1; i < n; i++) {
        if (m[i].version == m[i - 1].version) {
            set_err(err, err_len, "%s and %s: duplicate migration number", m[i - 1].file,
                    m[i].file);
            rc = MIGRATE_E_DIR;
            goto out;
        }
    }
out:
    if (d) {
        closedir(d);
    }
    if (rc) {
        migrations_free(m, n);
        m = NULL;
        n = 0;
    }
    *out = m;
    *out_n = n;
    return rc;
}

/* Reads a whole file; NULL with err set on failure. */
static char *read_file(const char *dir, const char *file, char *err, size_t err_len)
{
    bool ok = false;
    char *body = NULL;
    size_t len = strlen(dir) + 1 + strlen(file) + 1;
    char *path = xmalloc(len);
    snprintf(path, len, "%s/%s", dir, file);
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, err_len, "%s: %s", file, strerror(errno));
        goto out;
    }
    size_t cap = 4096;
    size_t n = 0;
    body = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if ((long)cap >= MIGRATE_MAX_FILE_BYTES) {
                set_err(err, err_len, "%s: larger than %ld bytes", file, MIGRATE_MAX_FILE_BYTES);
                goto out;
            }
            cap *= 2;
            body = xrealloc(body, cap);
        }
        size_t got = fread(body + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0) {
            break;
        }
    }
    if (ferror(f)) {
        set_err(err, err_len, "%s: read error", file);
        goto out;
    }
    body[n] = '\0';
    /* PQexec takes a C string: a NUL would silently cut the migration short. */
    if (strlen(body) != n) {
        set_err(err, err_len, "%s: contains a NUL byte", file);
        goto out;
    }
    ok = true;
out:
    if (f) {
        fclose(f);
    }
    free(path);
    if (!ok) {
        free(body);
        body = NULL;
    }
    return body;
}

static bool result_ok(const PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);
    return st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK || st == PGRES_EMPTY_QUERY;
}

/* err = "<what>: <PostgreSQL's primary message>". */
static void set_pg_err(char *err, size_t err_len, const char *what, PGconn *pg,
                       const PGresult *res)
{
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    if (!msg || !*msg) {
        msg = res && *PQresultErrorMessage(res) ? PQresultErrorMessage(res) : PQerrorMessage(pg);
    }
    if (!*msg) {
        msg = "unexpected result status";
    }
    set_err(err, err_len, "%s: %s", what, msg);
}

/* Runs a statement without parameters; on failure sets err and returns false. */
static bool exec_simple(PGconn *pg, const char *sql, const char *what, char *err,
                        size_t err_len)
{
    PGresult *res = PQexecParams(pg, sql, 0, NULL, NULL, NULL, NULL, 0);
    bool ok = result_ok(res);
    if (!ok) {
        set_pg_err(err, err_len, what, pg, res);
    }
    PQclear(res);
    return ok;
}

static void on_notice(void *arg, const char *message)
{
    (void)arg;
    char text[256];
    snprintf(text, sizeof text, "%s", message);
    for (char *s = text; *s; s++) {
        if (*s == '\n' || *s == '"') {
            *s = ' ';
        }
    }
    log_event(LOG_WARN, "migrate", "server notice", "notice=\"%s\"", text);
}

/* Applies one file in its own transaction. Returns 0 or MIGRATE_E_FAILED. */
static int apply_one(PGconn *pg, const char *dir, const struct migration *m, char *err,
                     size_t err_len)
{
    int rc = MIGRATE_E_FAILED;
    bool in_tx = false;
    PGresult *res = NULL;
    char *body = read_file(dir, m->file, err, err_len);
    if (!body) {
        goto out;
    }
    if (!exec_simple(pg, "BEGIN", m->file, err, err_len)) {
        goto out;
    }
    in_tx = true;
    /* The one multi-statement PQexec: a migration file is a script of many statements. It must
     * not hold BEGIN/COMMIT of its own, or its statements would escape our transaction. */
    res = PQexec(pg, body);
    if (!result_ok(res)) {
        set_pg_err(err, err_len, m->file, pg, res);
        goto out;
    }
    PQclear(res);
    char version[16];
    snprintf(version, sizeof version, "%d", m->version);
    const char *params[2] = { version, m->file };
    res = PQexecParams(pg, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2,
                       NULL, params, NULL, NULL, 0);
    if (!result_ok(res)) {
        set_pg_err(err, err_len, m->file, pg, res);
        goto out;
    }
    /* COMMIT itself can fail (deferred constraints); it then rolls back on its own. */
    in_tx = false;
    if (!exec_simple(pg, "COMMIT", m->file, err, err_len)) {
        goto out;
    }
    rc = 0;
out:
    if (in_tx) {
        PGresult *rb = PQexecParams(pg, "ROLLBACK", 0, NULL, NULL, NULL, NULL, 0);
        PQclear(rb);
    }
    PQclear(res);
    free(body);
    return rc;
}

int migrate_run(const char *conninfo, const char *sql_dir, int *n_applied, char *err,
                size_t err_len)
{
    int rc = 0;
    int applied = 0;
    struct migration *m = NULL;
    size_t n = 0;
    bool *done = NULL;
    PGconn *pg = NULL;
    PGresult *res = NULL;
    set_err(err, err_len, "%s", "");

    rc = scan_dir(sql_dir, &m, &n, err, err_len);
    if (rc) {
        goto out;
    }
    pg = PQconnectdb(conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        set_err(err, err_len, "connect: %s", PQerrorMessage(pg));
        rc = MIGRATE_E_CONNECT;
        goto out;
    }
    PQsetNoticeProcessor(pg, on_notice, NULL);
    rc = MIGRATE_E_FAILED;
    if (!exec_simple(pg, "SET client_min_messages = warning", "set client_min_messages", err,
                     err_len)) {
        goto out;
    }
    /* Lock before CREATE TABLE IF NOT EXISTS: two concurrent creates can still collide.
     * Closing the session releases the lock. */
    const char *key[1] = { MIGRATE_LOCK_KEY };
    res = PQexecParams(pg, "SELECT pg_advisory_lock($1::bigint)", 1, NULL, key, NULL, NULL, 0);
    if (!result_ok(res)) {
        set_pg_err(err, err_len, "advisory lock", pg, res);
        goto out;
    }
    PQclear(res);
    res = NULL;
    if (!exec_simple(pg,
                     "CREATE TABLE IF NOT EXISTS schema_migrations ("
                     "version int PRIMARY KEY, name text NOT NULL, "
                     "applied_at timestamptz NOT NULL DEFAULT now())",
                     "schema_migrations", err, err_len)) {
        goto out;
    }
    res = PQexecParams(pg, "SELECT version, name FROM schema_migrations", 0, NULL, NULL, NULL,
                       NULL, 0);
    if (!result_ok(res)) {
        set_pg_err(err, err_len, "schema_migrations", pg, res);
        goto out;
    }
    done = xcalloc(n, sizeof *done);
    for (int row = 0; row < PQntuples(res); row++) {
        int version = atoi(PQgetvalue(res, row, 0));
        for (size_t i = 0; i < n; i++) {
            if (m[i].version != version) {
                continue;
            }
            done[i] = true;
            if (strcmp(m[i].file, PQgetvalue(res, row, 1)) != 0) {
                log_event(LOG_WARN, "migrate", "applied migration was renamed",
                          "version=%d file=\"%s\"", version, m[i].file);
            }
        }
    }
    PQclear(res);
    res = NULL;
    for (size_t i = 0; i < n; i++) {
        if (done[i]) {
            continue;
        }
        if (apply_one(pg, sql_dir, &m[i], err, err_len)) {
            goto out;
        }
        applied++;
        log_event(LOG_INFO, "migrate", "applied", "version=%d file=\"%s\"", m[i].version,
                  m[i].file);
    }
    rc = 0;
out:
    PQclear(res);
    PQfinish(pg);
    free(done);
    migrations_free(m, n);
    if (n_applied) {
        *n_applied = applied;
    }
    return rc;
}
