/* Creates and drops integration-test databases cloned from the template on the test cluster. */
#include "tests/support/testdb.h"

#include <errno.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAINTENANCE_DB "postgres"

static int db_counter;

static const char *const env_names[] = {
    "CLASSMENT_TEST_PGHOST", "CLASSMENT_TEST_PGPORT", "CLASSMENT_TEST_PGUSER",
    "CLASSMENT_TEST_TEMPLATE",
};

/* Copies src into dst, aborting on truncation: the buffers are sized for any sane value. */
static void copy(char *dst, size_t len, const char *what, const char *src)
{
    if ((size_t)snprintf(dst, len, "%s", src) >= len) {
        fprintf(stderr, "testdb: %s is too long (%zu bytes at most): %s\n", what, len - 1, src);
        abort();
    }
}

static void too_long(const char *what, size_t len)
{
    fprintf(stderr, "testdb: %s longer than %zu bytes\n", what, len - 1);
    abort();
}

/* Appends key='value' with libpq's quoting rules; aborts when buf is too small. */
static void ci_append(char *buf, size_t len, const char *key, const char *value)
{
    size_t n = strlen(buf);
    int w = snprintf(buf + n, len - n, "%s%s='", n ? " " : "", key);
    if (w < 0 || (size_t)w >= len - n) {
        too_long("connection string", len);
    }
    n += (size_t)w;
    for (const char *s = value; *s; s++) {
        bool escape = *s == '\'' || *s == '\\';
        if (n + (escape ? 2 : 1) + 2 > len) {   /* room left for the closing quote and NUL */
            too_long("connection string", len);
        }
        if (escape) {
            buf[n++] = '\\';
        }
        buf[n++] = *s;
    }
    buf[n++] = '\'';
    buf[n] = '\0';
}

/* Appends s as a quoted SQL identifier; aborts when buf is too small. */
static void ident_append(char *buf, size_t len, const char *s)
{
    size_t n = strlen(buf);
    if (n + 3 > len) {
        too_long("statement", len);
    }
    buf[n++] = '"';
    for (; *s; s++) {
        if (n + (*s == '"' ? 2 : 1) + 2 > len) {
            too_long("statement", len);
        }
        if (*s == '"') {
            buf[n++] = '"';
        }
        buf[n++] = *s;
    }
    buf[n++] = '"';
    buf[n] = '\0';
}

/* Appends s as it is; aborts when buf is too small. */
static void str_append(char *buf, size_t len, const char *s)
{
    size_t n = strlen(buf);
    if ((size_t)snprintf(buf + n, len - n, "%s", s) >= len - n) {
        too_long("statement", len);
    }
}

static void conninfo_for(const struct testdb *db, const char *host, const char *dbname,
                         const char *app, char *buf, size_t len)
{
    buf[0] = '\0';
    ci_append(buf, len, "host", host ? host : db->host);
    ci_append(buf, len, "port", db->port);
    ci_append(buf, len, "user", db->user);
    ci_append(buf, len, "dbname", dbname);
    if (app) {
        ci_append(buf, len, "application_name", app);
    }
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Runs one statement in the maintenance database of the test cluster. */
static int admin_exec(const struct testdb *db, const char *sql)
{
    char ci[1024];
    conninfo_for(db, NULL, MAINTENANCE_DB, "classment_testdb", ci, sizeof ci);
    PGresult *res = NULL;
    int r = 0;
    PGconn *pg = PQconnectdb(ci);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "\n*** testdb: cannot connect to PostgreSQL at %s:%s as %s: %s"
                        "*** This test FAILS rather than skip.\n\n",
                db->host, db->port, db->user, PQerrorMessage(pg));
        r = -ECONNREFUSED;
        goto out;
    }
    PQsetNoticeProcessor(pg, ignore_notice, NULL);
    res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        fprintf(stderr, "testdb: %s: %s", sql, PQerrorMessage(pg));
        r = -EIO;
    }
out:
    PQclear(res);
    PQfinish(pg);
    return r;
}

int testdb_create(struct testdb *db, const char *prefix)
{
    memset(db, 0, sizeof *db);
    char missing[256] = "";
    for (size_t i = 0; i < sizeof env_names / sizeof env_names[0]; i++) {
        const char *v = getenv(env_names[i]);
        if (!v || !*v) {
            strncat(missing, " ", sizeof missing - strlen(missing) - 1);
            strncat(missing, env_names[i], sizeof missing - strlen(missing) - 1);
        }
    }
    if (missing[0]) {
        fprintf(stderr,
                "\n*** testdb: not set:%s\n"
                "*** Integration tests need a PostgreSQL cluster with a PostGIS template "
                "database:\n"
                "*** CLASSMENT_TEST_PGHOST (socket directory), CLASSMENT_TEST_PGPORT,\n"
                "*** CLASSMENT_TEST_PGUSER and CLASSMENT_TEST_TEMPLATE (tools/classment test, or\n"
                "*** source devtools/devpg.sh, sets them).\n"
                "*** This test FAILS rather than skip, because a skipped test looks like a "
                "pass.\n\n",
                missing);
        return -EINVAL;
    }
    copy(db->host, sizeof db->host, "CLASSMENT_TEST_PGHOST", getenv("CLASSMENT_TEST_PGHOST"));
    copy(db->port, sizeof db->port, "CLASSMENT_TEST_PGPORT", getenv("CLASSMENT_TEST_PGPORT"));
    copy(db->user, sizeof db->user, "CLASSMENT_TEST_PGUSER", getenv("CLASSMENT_TEST_PGUSER"));
    /* The pid and a counter keep names apart within this machine; the clock, from a process
     * of another pid namespace sharing the cluster. */
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    char name[128];
    snprintf(name, sizeof name, "%s_%d_%d_%06ld", prefix, (int)getpid(), ++db_counter,
             (long)((now.tv_sec % 1000) * 1000 + now.tv_nsec / 1000000));
    copy(db->name, sizeof db->name, "the database name", name);
    char sql[512] = "CREATE DATABASE ";
    ident_append(sql, sizeof sql, db->name);
    str_append(sql, sizeof sql, " TEMPLATE ");
    ident_append(sql, sizeof sql, getenv("CLASSMENT_TEST_TEMPLATE"));
    int r = admin_exec(db, sql);
    if (r) {
        db->name[0] = '\0';
        return r;
    }
    conninfo_for(db, NULL, db->name, NULL, db->conninfo, sizeof db->conninfo);
    return 0;
}

void testdb_drop(struct testdb *db)
{
    if (!db->name[0]) {
        return;
    }
    char sql[256] = "DROP DATABASE IF EXISTS ";
    ident_append(sql, sizeof sql, db->name);
    str_append(sql, sizeof sql, " WITH (FORCE)");   /* a test may leave sessions behind */
    admin_exec(db, sql);
    db->name[0] = '\0';
    db->conninfo[0] = '\0';
}

void testdb_conninfo(const struct testdb *db, const char *host, const char *app, char *buf,
                     size_t len)
{
    conninfo_for(db, host, db->name, app, buf, len);
}
