/* A throwaway PostgreSQL cluster driven with initdb and pg_ctl (STACK-NOTES §4): as root the
 * tools must run as another user, so the directory is handed to that user first. */
#include "tests/support/pgcluster.h"

#include <errno.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/support/tsys.h"

/* Any port works: with listen_addresses='' only the socket directory tells clusters apart. */
#define PG_PORT "5432"
#define PG_TOOL_TIMEOUT_MS 60000

struct pgcluster {
    char dir[64];        /* also the unix socket directory: keep it short (107-byte limit) */
    char data[96];
    char log[96];        /* the postgres server log */
    char tool_log[96];   /* initdb and pg_ctl output */
    char bindir[512];
    char runas[64];
    bool running;
};

static void find_bindir(struct pgcluster *c)
{
    const char *env = getenv("PG_BINDIR");
    if (env && *env) {
        snprintf(c->bindir, sizeof c->bindir, "%s", env);
        return;
    }
    snprintf(c->bindir, sizeof c->bindir, "/usr/lib/postgresql/15/bin");
    FILE *p = popen("pg_config --bindir 2>/dev/null", "r");
    if (p) {
        char line[512];
        if (fgets(line, sizeof line, p)) {
            line[strcspn(line, "\n")] = '\0';
            if (line[0]) {
                snprintf(c->bindir, sizeof c->bindir, "%s", line);
            }
        }
        pclose(p);
    }
}

/* Runs a PostgreSQL tool from bindir with args, as c->runas when set. */
static int run_tool(struct pgcluster *c, const char *tool, const char *const *args)
{
    const char *argv[24];
    int n = 0;
    char path[640];
    snprintf(path, sizeof path, "%s/%s", c->bindir, tool);
    if (c->runas[0]) {
        argv[n++] = "runuser";
        argv[n++] = "-u";
        argv[n++] = c->runas;
        argv[n++] = "--";
    }
    argv[n++] = path;
    for (int i = 0; args[i] && n < 23; i++) {
        argv[n++] = args[i];
    }
    argv[n] = NULL;
    int r = tsys_run(argv, c->tool_log, PG_TOOL_TIMEOUT_MS);
    if (r != 0) {
        fprintf(stderr, "pgcluster: %s failed with status %d\n", tool, r);
        tsys_print_file("pg tool output", c->tool_log, 8192);
        return r < 0 ? r : -EIO;
    }
    return 0;
}

int pgcluster_new(struct pgcluster **out)
{
    struct pgcluster *c = calloc(1, sizeof *c);
    int r = 0;
    find_bindir(c);
    const char *runas = getenv("CLASSMENT_TEST_PG_RUNAS");
    if (runas && *runas) {
        snprintf(c->runas, sizeof c->runas, "%s", runas);
    } else if (geteuid() == 0) {
        fprintf(stderr, "pgcluster: running as root needs CLASSMENT_TEST_PG_RUNAS (e.g. "
                        "postgres): initdb and pg_ctl refuse to run as root\n");
        r = -EPERM;
        goto out;
    }
    snprintf(c->dir, sizeof c->dir, "/tmp/cmpg.XXXXXX");
    if (!mkdtemp(c->dir)) {
        r = -errno;
        c->dir[0] = '\0';
        goto out;
    }
    snprintf(c->data, sizeof c->data, "%s/data", c->dir);
    snprintf(c->log, sizeof c->log, "%s/postgres.log", c->dir);
    snprintf(c->tool_log, sizeof c->tool_log, "%s/tools.log", c->dir);
    if (c->runas[0]) {
        struct passwd *pw = getpwnam(c->runas);
        if (!pw) {
            fprintf(stderr, "pgcluster: no user %s\n", c->runas);
            r = -ENOENT;
            goto out;
        }
        if (chown(c->dir, pw->pw_uid, pw->pw_gid) != 0) {
            r = -errno;
            goto out;
        }
    }
    const char *initdb_args[] = { "-D", c->data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                                  "--locale=C.UTF-8", "--no-sync", NULL };
    r = run_tool(c, "initdb", initdb_args);
    if (r) {
        goto out;
    }
    r = pgcluster_start(c);
out:
    if (r) {
        pgcluster_free(c);
        return r;
    }
    *out = c;
    return 0;
}

int pgcluster_start(struct pgcluster *c)
{
    char opts[256];
    snprintf(opts, sizeof opts,
             "-k %s -c listen_addresses='' -p " PG_PORT " -c fsync=off "
             "-c synchronous_commit=off -c full_page_writes=off",
             c->dir);
    const char *args[] = { "-D", c->data, "-l", c->log, "-w", "-t", "30", "-o", opts, "start",
                           NULL };
    int r = run_tool(c, "pg_ctl", args);
    if (r) {
        tsys_print_file("postgres log", c->log, 8192);
        return r;
    }
    c->running = true;
    return 0;
}

int pgcluster_stop(struct pgcluster *c, const char *mode)
{
    const char *args[] = { "-D", c->data, "-m", mode, "-w", "-t", "30", "stop", NULL };
    int r = run_tool(c, "pg_ctl", args);
    if (r == 0) {
        c->running = false;
    }
    return r;
}

void pgcluster_conninfo(const struct pgcluster *c, const char *dbname, char *out, size_t len)
{
    snprintf(out, len, "host=%s port=" PG_PORT " user=postgres dbname=%s", c->dir, dbname);
}

int pgcluster_exec(struct pgcluster *c, const char *dbname, const char *sql)
{
    char conninfo[256];
    pgcluster_conninfo(c, dbname, conninfo, sizeof conninfo);
    strncat(conninfo, " connect_timeout=10", sizeof conninfo - strlen(conninfo) - 1);
    int r = 0;
    PGresult *res = NULL;
    PGconn *conn = PQconnectdb(conninfo);
    if (PQstatus(conn) != CONNECTION_OK) {
        fprintf(stderr, "pgcluster: connect %s: %s", conninfo, PQerrorMessage(conn));
        r = -ECONNREFUSED;
        goto out;
    }
    res = PQexec(conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
        fprintf(stderr, "pgcluster: %s: %s", sql, PQerrorMessage(conn));
        r = -EIO;
    }
out:
    PQclear(res);
    PQfinish(conn);
    return r;
}

void pgcluster_free(struct pgcluster *c)
{
    if (!c) {
        return;
    }
    if (c->running) {
        pgcluster_stop(c, "immediate");
    }
    if (c->dir[0]) {
        tsys_rmtree(c->dir);
    }
    free(c);
}
