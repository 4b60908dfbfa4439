/* Integration tests for core/dbpool and core/migrate against a real PostgreSQL: queries, queueing,
 * errors, outages (backends killed with pg_terminate_backend), draining on close, migrations. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <uv.h>

#include "core/dbpool.h"
#include "core/migrate.h"
#include "tests/support/testdb.h"

/* The throwaway database; filled once by the group setup. */
struct env {
    struct testdb db;     /* db.conninfo has no application_name */
    PGconn *admin;        /* plain blocking connection to the test database */
};

static struct env env;

/* A loop and at most one pool, per test. */
struct fixture {
    uv_loop_t loop;
    struct dbpool *pool;
    int closed;           /* done_cb runs */
};

/* What one query's callback saw. */
struct tally {
    int done;
};

struct call {
    struct tally *tally;
    int calls;
    int status;
    int seq;              /* completion order across the tally */
    char value[128];
    char error[256];
    char sqlstate[8];
};

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static PGconn *admin_connect(void)
{
    char ci[1024];
    testdb_conninfo(&env.db, NULL, "t05_admin", ci, sizeof ci);
    PGconn *pg = PQconnectdb(ci);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "05_dbpool: cannot connect to %s: %s", env.db.name, PQerrorMessage(pg));
        PQfinish(pg);
        return NULL;
    }
    PQsetNoticeProcessor(pg, ignore_notice, NULL);
    return pg;
}

/* Runs a one-value query on the admin connection and returns it as an integer. */
static long admin_int(const char *sql, const char *param)
{
    const char *params[1] = { param };
    PGresult *res = PQexecParams(env.admin, sql, param ? 1 : 0, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        fail_msg("%s: %s", sql, PQresultErrorMessage(res));
    }
    long v = strtol(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

static int group_setup(void **state)
{
    (void)state;
    if (testdb_create(&env.db, "t_dbpool") != 0) {
        return -1;
    }
    env.admin = admin_connect();
    return env.admin ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    PQfinish(env.admin);
    env.admin = NULL;
    testdb_drop(&env.db);
    return 0;
}

static int fixture_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    if (!f || uv_loop_init(&f->loop) != 0) {
        free(f);
        return -1;
    }
    *state = f;
    return 0;
}

static void on_deadline(uv_timer_t *t)
{
    *(bool *)t->data = true;
}

/* Spins the loop until cond(arg) holds or timeout_ms passed; returns cond(arg). */
static bool run_until(uv_loop_t *loop, bool (*cond)(void *), void *arg, int timeout_ms)
{
    bool expired = false;
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = &expired;
    uv_timer_start(&t, on_deadline, (uint64_t)timeout_ms, 0);
    while (!cond(arg) && !expired) {
        uv_run(loop, UV_RUN_ONCE);
    }
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    return cond(arg);
}

static bool never(void *arg)
{
    (void)arg;
    return false;
}

static void run_for(uv_loop_t *loop, int ms)
{
    run_until(loop, never, NULL, ms);
}

static bool fixture_closed(void *arg)
{
    return ((struct fixture *)arg)->closed > 0;
}

static void on_closed(void *arg)
{
    ((struct fixture *)arg)->closed++;
}

static int fixture_teardown(void **state)
{
    struct fixture *f = *state;
    int rc = 0;
    if (f->pool && !f->closed) {
        dbpool_close(f->pool, 1000, on_closed, f);
        if (!run_until(&f->loop, fixture_closed, f, 5000)) {
            fprintf(stderr, "05_dbpool: pool did not close\n");
            rc = -1;
        }
    }
    uv_run(&f->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&f->loop) != 0) {
        fprintf(stderr, "05_dbpool: handles left open on the loop\n");
        rc = -1;
    }
    free(f);
    return rc;
}

static bool pool_all_connected(void *arg)
{
    struct fixture *f = arg;
    struct dbpool_stats st;
    dbpool_get_stats(f->pool, &st);
    return st.connected == st.size;
}

/* Opens a pool on the test database and waits until every connection is up. */
static void pool_open(struct fixture *f, struct dbpool_config *cfg, const char *app)
{
    char ci[1024];
    testdb_conninfo(&env.db, NULL, app, ci, sizeof ci);
    cfg->conninfo = ci;
    f->pool = dbpool_new(&f->loop, cfg);
    assert_non_null(f->pool);
    assert_true(run_until(&f->loop, pool_all_connected, f, 5000));
    assert_true(dbpool_available(f->pool));
}

static void pool_close(struct fixture *f, int drain_ms)
{
    dbpool_close(f->pool, drain_ms, on_closed, f);
    assert_true(run_until(&f->loop, fixture_closed, f, drain_ms + 5000));
    assert_int_equal(f->closed, 1);
}

static void on_result(void *arg, int status, const PGresult *res)
{
    struct call *c = arg;
    c->calls++;
    c->status = status;
    c->seq = c->tally->done++;
    if (res && status == DBPOOL_OK && PQntuples(res) > 0 && PQnfields(res) > 0) {
        snprintf(c->value, sizeof c->value, "%s",
                 PQgetisnull(res, 0, 0) ? "(null)" : PQgetvalue(res, 0, 0));
        if (PQnfields(res) > 1) {
            size_t n = strlen(c->value);
            snprintf(c->value + n, sizeof c->value - n, "|%s",
                     PQgetisnull(res, 0, 1) ? "(null)" : PQgetvalue(res, 0, 1));
        }
    }
    if (res && status == DBPOOL_E_QUERY) {
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        const char *code = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        snprintf(c->error, sizeof c->error, "%s", msg ? msg : "");
        snprintf(c->sqlstate, sizeof c->sqlstate, "%s", code ? code : "");
    }
}

struct wait_done {
    struct tally *tally;
    int target;
};

static bool tally_reached(void *arg)
{
    struct wait_done *w = arg;
    return w->tally->done >= w->target;
}

static void wait_tally(struct fixture *f, struct tally *t, int target, int timeout_ms)
{
    struct wait_done w = { t, target };
    assert_true(run_until(&f->loop, tally_reached, &w, timeout_ms));
}

/* Waits until the admin connection sees a query of application app running pg_sleep. */
static void wait_backend_sleeping(struct fixture *f, const char *app)
{
    for (int i = 0; i < 250; i++) {
        run_for(&f->loop, 20);
        if (admin_int("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
                      " AND state = 'active' AND query LIKE '%pg_sleep%'",
                      app) > 0) {
            return;
        }
    }
    fail_msg("the pool's query never started");
}

static long terminate_backends(const char *app)
{
    return admin_int("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                     " WHERE application_name = $1",
                     app);
}

static void test_query_with_params(void **state)
{
    struct fixture *f = *state;
    struct dbpool_config cfg = { .size = 2 };
    pool_open(f, &cfg, "t05_params");

    struct tally t = { 0 };
    struct call sum = { .tally = &t };
    struct call nul = { .tally = &t };
    struct call txt = { .tally = &t };
    const char *p1[] = { "2", "40" };
    const char *p2[] = { NULL };
    const char *p3[] = { "it's \"quoted\"; DROP TABLE x; --" };
    assert_int_equal(dbpool_query(f->pool, "SELECT $1::int + $2::int", 2, p1, on_result, &sum),
                     0);
    assert_int_equal(dbpool_query(f->pool, "SELECT $1::text IS NULL, $1::text", 1, p2,
                                  on_result, &nul),
                     0);
    assert_int_equal(dbpool_query(f->pool, "SELECT $1::text", 1, p3, on_result, &txt), 0);
    /* Never before dbpool_query returned. */
    assert_int_equal(t.done, 0);
    wait_tally(f, &t, 3, 5000);

    assert_int_equal(sum.calls, 1);
    assert_int_equal(sum.status, DBPOOL_OK);
    assert_string_equal(sum.value, "42");
    assert_int_equal(nul.status, DBPOOL_OK);
    assert_string_equal(nul.value, "t|(null)");
    assert_int_equal(txt.status, DBPOOL_OK);
    assert_string_equal(txt.value, p3[0]);

    struct dbpool_stats st;
    dbpool_get_stats(f->pool, &st);
    assert_int_equal(st.size, 2);
    assert_int_equal(st.connected, 2);
    assert_int_equal(st.queued, 0);
    assert_int_equal(st.busy, 0);
    assert_true(st.queries_total == 3);
    assert_true(st.errors_total == 0);
    pool_close(f, 1000);
}

/* With one connection every query waits its turn, so completion order is submission order. */
static void test_queue_is_fifo(void **state)
{
    struct fixture *f = *state;
    struct dbpool_config cfg = { .size = 1 };
    pool_open(f, &cfg, "t05_fifo");

    enum { N = 40 };
    struct tally t = { 0 };
    struct call calls[N];
    char num[N][16];
    for (int i = 0; i < N; i++) {
        calls[i] = (struct call){ .tally = &t };
        snprintf(num[i], sizeof num[i], "%d", i);
        const char *params[] = { num[i] };
        assert_int_equal(dbpool_query(f->pool, "SELECT $1::int", 1, params, on_result, &calls[i]),
                         0);
    }
    struct dbpool_stats st;
    dbpool_get_stats(f->pool, &st);
    assert_true(st.queued >= N - 1);
    wait_tally(f, &t, N, 10000);
    for (int i = 0; i < N; i++) {
        assert_int_equal(calls[i].calls, 1);
        assert_int_equal(calls[i].status, DBPOOL_OK);
        assert_int_equal(calls[i].seq, i);
        assert_string_equal(calls[i].value, num[i]);
    }
    pool_close(f, 1000);
}

/* Many more queries than connections: each callback gets its own query's answer, once. */
static void test_many_queries_share_pool(void **state)
{
    struct fixture *f = *state;
    struct dbpool_config cfg = { .size = 3 };
    pool_open(f, &cfg, "t05_many");

    enum { N = 300 };
    struct tally t = { 0 };
    struct call *calls = calloc(N, sizeof *calls);
    assert_non_null(calls);
    for (int i = 0; i < N; i++) {
        calls[i].tally = &t;
        char num[16];
        snprintf(num, sizeof num, "%d", i);
        const char *params[] = { num };
        /* The sql and params are copied: num goes out of scope at once. */
        assert_int_equal(dbpool_query(f->pool, "SELECT $1::int * 2, pg_backend_pid()", 1, params,
                                      on_result, &calls[i]),
                         0);
    }
    wait_tally(f, &t, N, 20000);
    for (int i = 0; i < N; i++) {
        char want[16];
        snprintf(want, sizeof want, "%d|", i * 2);
        assert_int_equal(calls[i].calls, 1);
        assert_int_equal(calls[i].status, DBPOOL_OK);
        assert_memory_equal(calls[i].value, want, strlen(want));
    }
    struct dbpool_stats st;
    dbpool_get_stats(f->pool, &st);
    assert_true(st.queries_total == N);
    assert_int_equal(st.queued, 0);
    free(calls);
    pool_close(f, 1000);
}

static void test_queue_is_bounded(void **state)
{
    struct fixture *f = *state;
    struct dbpool_config cfg = { .size = 1, .max_queued = 5 };
    pool_open(f, &cfg, "t05_bound");

    enum { N = 10 };
    struct tally t = { 0 };
    struct call calls[N];
    int accepted = 0;
    for (int i = 0; i < N; i++) {
        calls[i] = (struct call){ .tally = &t };
        int r = dbpool_query(f->pool, "SELECT 1", 0, NULL, on_result, &calls[i]);
        if (r == 0) {
            accepted++;
        } else {
            assert_int_equal(r, DBPOOL_E_UNAVAILABLE);
        }
    }
    assert_in_range(accepted, 5, 6);
    wait_tally(f, &t, accepted, 5000);
    run_for(&f->loop, 50);
    assert_int_equal(t.done, accepted);
    for (int i = 0; i < N; i++) {
        assert_int_equal(calls[i].calls, i < accepted ? 1 : 0);
    }
    struct dbpool_stats st;
    dbpool_get_stats(f->pool, &st);
    assert_true(st.unavailable_total == (unsigned long long)(N - accepted));
    pool_close(f, 1000);
}

static void test_sql_error_is_query_error(void **state)
{
    struct fixture *f = *state;
    struct dbpool_config cfg = { .size = 1 };
    pool_open(f, &cfg, "t05_sqlerr");

    struct tally t = { 0 };
    struct call bad = { .tally = &t };
    struct call cast = { .tally = &t };
    struct call after = { .tally = &t };
    const char *params[] = { "not a number" };
    assert_int_equal(dbpool_query(f->pool, "SELECT * FROM no_such_table", 0, NULL, on_result,
                                  &bad),
                     0);
    assert_int_equal(dbpool_query(f->pool, "SELECT $1::int", 1, params, on_result, &cast), 0);
    assert_int_equal(dbpool_query(f->pool, "SELECT 'still fine'", 0, NULL, on_result, &after),
                     0);
    wait_tally(f, &t, 3, 5000);

    assert_int_equal(bad.status, DBPOOL_E_QUERY);
    assert_non_null(strstr(bad.error, "no_such_table"));
    assert_string_equal(bad.sqlstate, "42P01");
    assert_int_equal(cast.status, DBPOOL_E_QUERY);
    assert_string_equal(cast.sqlstate, "22P02");
    assert_int_equal(after.status, DBPOOL_OK);
    assert_string_equal(after.value, "still fine");

    struct dbpool_stats st;
    dbpool_get_stats(f->pool, &st);
    assert_true(st.errors_total == 2);
    assert_int_equal(st.connected, 1);
    assert_true(st.reconnects_total == 0);
    pool_close(f, 1000);
}

static void test_unavailable_without_server(void **state)
{
    struct fixture *f = *state;
    char dir[64];
    char ci[1024];
    snprintf(dir, sizeof dir, "/tmp/t05-no-such-dir-%d", (int)getpid());
    testdb_conninfo(&env.db, dir, "t05_nosrv", ci, sizeof ci);
    struct dbpool_config cfg = {
        .conninfo = ci, .size = 2, .connect_timeout_ms = 500,
        .reconnect_min_ms = 20, .reconnect_max_ms = 80,
    };
    f->pool = dbpool_new(&f->loop, &cfg);
    assert_non_null(f->pool);
    run_for(&f->loop, 300);
    assert_false(dbpool_available(f->pool));

    struct tally t = { 0 };
    struct call c = { .tally = &t };
    assert_int_equal(dbpool_query(f->pool, "SELECT 1", 0, NULL, on_result, &c),
                     DBPOOL_E_UNAVAILABLE);
    run_for(&f->loop, 50);
    assert_int_equal(c.calls, 0);

    struct dbpool_stats st;
    dbpool_get_stats(f->pool, &st);
    assert_int_equal(st.connected, 0);
    assert_int_equal(st.busy, 0);
    assert_true(st.unavailable_total == 1);
    assert_true(st.reconnects_total == 0);
    pool_close(f, 200);
}

static void test_invalid_config_is_refused(void **state)
{
    struct fixture *f = *state;
    struct dbpool_config bad_size = { .conninfo = env.db.conninfo, .size = 0 };
    assert_null(dbpool_new(&f->loop, &bad_size));
    struct dbpool_config bad_ci = { .conninfo = "host='unterminated", .size = 1 };
    assert_null(dbpool_new(&f->loop, &bad_ci));
}

/* Kills both backends while one runs a query: that query is unavailable, the pool comes back. */
static void test_lost_connection_fails_inflight_then_reconnects(void **state)
{
    struct fixture *f = *state;
    char app[64];
    snprintf(app, sizeof app, "t05_loss_%d", (int)getpid());
    struct dbpool_config cfg = { .size = 2, .reconnect_min_ms = 50, .reconnect_max_ms = 400 };
    pool_open(f, &cfg, app);

    struct tally t = { 0 };
    struct call slow = { .tally = &t };
    assert_int_equal(dbpool_query(f->pool, "SELECT pg_sleep(30)", 0, NULL, on_result, &slow), 0);
    wait_backend_sleeping(f, app);
    assert_int_equal(terminate_backends(app), 2);

    wait_tally(f, &t, 1, 5000);
    assert_int_equal(slow.calls, 1);
    assert_int_equal(slow.status, DBPOOL_E_UNAVAILABLE);

    assert_true(run_until(&f->loop, pool_all_connected, f, 5000));
    struct dbpool_stats st;
    dbpool_get_stats(f->pool, &st);
    assert_true(st.reconnects_total >= 2);
    assert_true(st.unavailable_total >= 1);

    struct call after = { .tally = &t };
    assert_int_equal(dbpool_query(f->pool, "SELECT 'back'", 0, NULL, on_result, &after), 0);
    wait_tally(f, &t, 2, 5000);
    assert_int_equal(after.status, DBPOOL_OK);
    assert_string_equal(after.value, "back");
    pool_close(f, 1000);
}

/* With the only connection gone, queued queries fail at once instead of hanging. */
static void test_lost_connection_fails_queued(void **state)
{
    struct fixture *f = *state;
    char app[64];
    snprintf(app, sizeof app, "t05_lossq_%d", (int)getpid());
    struct dbpool_config cfg = { .size = 1, .reconnect_min_ms = 200, .reconnect_max_ms = 400 };
    pool_open(f, &cfg, app);

    enum { N = 4 };
    struct tally t = { 0 };
    struct call calls[N];
    for (int i = 0; i < N; i++) {
        calls[i] = (struct call){ .tally = &t };
        assert_int_equal(dbpool_query(f->pool, i == 0 ? "SELECT pg_sleep(30)" : "SELECT 1", 0,
                                      NULL, on_result, &calls[i]),
                         0);
    }
    wait_backend_sleeping(f, app);
    assert_int_equal(terminate_backends(app), 1);
    wait_tally(f, &t, N, 5000);
    for (int i = 0; i < N; i++) {
        assert_int_equal(calls[i].calls, 1);
        assert_int_equal(calls[i].status, DBPOOL_E_UNAVAILABLE);
    }
    assert_true(run_until(&f->loop, pool_all_connected, f, 5000));
    struct call after = { .tally = &t };
    assert_int_equal(dbpool_query(f->pool, "SELECT 1", 0, NULL, on_result, &after), 0);
    wait_tally(f, &t, N + 1, 5000);
    assert_int_equal(after.status, DBPOOL_OK);
    pool_close(f, 1000);
}

static bool pool_reconnected(void *arg)
{
    struct fixture *f = arg;
    struct dbpool_stats st;
    dbpool_get_stats(f->pool, &st);
    return st.reconnects_total >= 1 && st.connected == st.size;
}

/* An idle pool runs its health check, and notices a killed backend without any traffic. */
static void test_idle_pool_health_check_and_loss(void **state)
{
    struct fixture *f = *state;
    char app[64];
    snprintf(app, sizeof app, "t05_idle_%d", (int)getpid());
    struct dbpool_config cfg = { .size = 1, .health_interval_ms = 100, .reconnect_min_ms = 50 };
    pool_open(f, &cfg, app);

    run_for(&f->loop, 350);
    assert_int_equal(admin_int("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1"
                               " AND query = 'SELECT 1'",
                               app),
                     1);
    assert_int_equal(terminate_backends(app), 1);
    assert_true(run_until(&f->loop, pool_reconnected, f, 5000));
    assert_true(dbpool_available(f->pool));
    pool_close(f, 1000);
}

static void test_close_drains_pending_queries(void **state)
{
    struct fixture *f = *state;
    struct dbpool_config cfg = { .size = 2 };
    pool_open(f, &cfg, "t05_drain");

    enum { N = 5 };
    struct tally t = { 0 };
    struct call calls[N];
    for (int i = 0; i < N; i++) {
        calls[i] = (struct call){ .tally = &t };
        assert_int_equal(dbpool_query(f->pool, "SELECT 'ok', pg_sleep(0.1)", 0, NULL, on_result,
                                      &calls[i]),
                         0);
    }
    dbpool_close(f->pool, 5000, on_closed, f);
    struct call late = { .tally = &t };
    assert_int_not_equal(dbpool_query(f->pool, "SELECT 1", 0, NULL, on_result, &late), 0);
    assert_true(run_until(&f->loop, fixture_closed, f, 10000));
    assert_int_equal(f->closed, 1);
    for (int i = 0; i < N; i++) {
        assert_int_equal(calls[i].calls, 1);
        assert_int_equal(calls[i].status, DBPOOL_OK);
        assert_string_equal(calls[i].value, "ok|");
    }
    assert_int_equal(late.calls, 0);
}

static void test_close_cancels_after_drain_timeout(void **state)
{
    struct fixture *f = *state;
    char app[64];
    snprintf(app, sizeof app, "t05_cancel_%d", (int)getpid());
    struct dbpool_config cfg = { .size = 1 };
    pool_open(f, &cfg, app);

    struct tally t = { 0 };
    struct call slow = { .tally = &t };
    struct call queued = { .tally = &t };
    assert_int_equal(dbpool_query(f->pool, "SELECT pg_sleep(3)", 0, NULL, on_result, &slow), 0);
    assert_int_equal(dbpool_query(f->pool, "SELECT 1", 0, NULL, on_result, &queued), 0);
    wait_backend_sleeping(f, app);

    uint64_t start = uv_now(&f->loop);
    dbpool_close(f->pool, 150, on_closed, f);
    assert_true(run_until(&f->loop, fixture_closed, f, 5000));
    uv_update_time(&f->loop);
    assert_true(uv_now(&f->loop) - start < 2000);
    assert_int_equal(slow.calls, 1);
    assert_int_equal(slow.status, DBPOOL_E_CANCELLED);
    assert_int_equal(queued.calls, 1);
    assert_int_equal(queued.status, DBPOOL_E_CANCELLED);
    /* The server may still be sleeping for the dropped client; it does not matter here. */
    terminate_backends(app);
}

/* A callback may call dbpool_query and even dbpool_close without harm. */
struct reentry {
    struct fixture *f;
    struct tally *tally;
    struct call inner;
    int inner_rc;
};

static void on_result_reenter(void *arg, int status, const PGresult *res)
{
    struct reentry *r = arg;
    (void)res;
    assert_int_equal(status, DBPOOL_OK);
    r->tally->done++;
    r->inner.tally = r->tally;
    r->inner_rc = dbpool_query(r->f->pool, "SELECT 'inner'", 0, NULL, on_result, &r->inner);
    dbpool_close(r->f->pool, 1000, on_closed, r->f);
}

static void test_callback_may_query_and_close(void **state)
{
    struct fixture *f = *state;
    struct dbpool_config cfg = { .size = 1 };
    pool_open(f, &cfg, "t05_reenter");
    struct tally t = { 0 };
    struct reentry r = { .f = f, .tally = &t };
    assert_int_equal(dbpool_query(f->pool, "SELECT 1", 0, NULL, on_result_reenter, &r), 0);
    assert_true(run_until(&f->loop, fixture_closed, f, 5000));
    assert_int_equal(r.inner_rc, 0);
    assert_int_equal(r.inner.calls, 1);
    assert_int_equal(r.inner.status, DBPOOL_OK);
    assert_string_equal(r.inner.value, "inner");
}

/* ---- migrations ---- */

static void write_file(const char *dir, const char *name, const char *body)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(body, fp);
    assert_int_equal(fclose(fp), 0);
}

static void remove_dir(const char *dir)
{
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    assert_int_equal(system(cmd), 0);
}

static void make_dir(char *dir, size_t len)
{
    snprintf(dir, len, "/tmp/t05mig.XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void write_base_migrations(const char *dir)
{
    /* 0002 needs 0001's table, so applying them out of order fails. */
    write_file(dir, "0002_b.sql", "CREATE TABLE b (id int REFERENCES a (id));\n"
                                  "INSERT INTO b VALUES (1);\n");
    write_file(dir, "0001_a.sql", "-- first\nCREATE TABLE a (id int PRIMARY KEY);\n"
                                  "CREATE TABLE IF NOT EXISTS a (id int);\n"
                                  "INSERT INTO a VALUES (1);\n");
    write_file(dir, "README.txt", "not a migration");
    write_file(dir, "0001_a.sql.orig", "garbage");
}

static void test_migrate_applies_in_order_once(void **state)
{
    (void)state;
    char dir[64];
    make_dir(dir, sizeof dir);
    write_base_migrations(dir);
    char err[512];
    int n = -1;
    int rc = migrate_run(env.db.conninfo, dir, &n, err, sizeof err);
    if (rc != 0) {
        fail_msg("migrate_run: %d %s", rc, err);
    }
    assert_int_equal(n, 2);
    rc = migrate_run(env.db.conninfo, dir, &n, err, sizeof err);
    assert_int_equal(rc, 0);
    assert_int_equal(n, 0);
    assert_int_equal(admin_int("SELECT count(*) FROM schema_migrations", NULL), 2);
    assert_int_equal(admin_int("SELECT count(*) FROM schema_migrations"
                               " WHERE (version, name) IN ((1, '0001_a.sql'), (2, '0002_b.sql'))"
                               " AND applied_at <= now()",
                               NULL),
                     2);
    assert_int_equal(admin_int("SELECT count(*) FROM b", NULL), 1);
    remove_dir(dir);
}

static void test_migrate_failure_leaves_no_trace(void **state)
{
    (void)state;
    char dir[64];
    make_dir(dir, sizeof dir);
    write_base_migrations(dir);
    char err[512];
    int n = -1;
    assert_int_equal(migrate_run(env.db.conninfo, dir, &n, err, sizeof err), 0);
    write_file(dir, "0003_c.sql", "CREATE TABLE c (id int);\n"
                                  "INSERT INTO c VALUES (1);\n"
                                  "SELECT * FROM no_such_table;\n");
    n = -1;
    assert_int_equal(migrate_run(env.db.conninfo, dir, &n, err, sizeof err), MIGRATE_E_FAILED);
    assert_int_equal(n, 0);
    assert_non_null(strstr(err, "0003_c.sql"));
    assert_non_null(strstr(err, "no_such_table"));
    assert_null(strchr(err, '\n'));
    assert_int_equal(admin_int("SELECT count(*) FROM pg_class WHERE relname = 'c'", NULL), 0);
    assert_int_equal(admin_int("SELECT count(*) FROM schema_migrations", NULL), 2);
    /* The advisory lock went with the session (its backend exits asynchronously). */
    long locks = 1;
    for (int i = 0; i < 100 && locks > 0; i++) {
        locks = admin_int("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'", NULL);
        if (locks > 0) {
            usleep(20 * 1000);
        }
    }
    assert_int_equal(locks, 0);
    remove_dir(dir);
}

static void test_migrate_rejects_bad_folder(void **state)
{
    (void)state;
    char err[512];
    int n = -1;
    char dir[64];

    make_dir(dir, sizeof dir);
    write_file(dir, "0001_a.sql", "SELECT 1;");
    write_file(dir, "1_bad.sql", "SELECT 1;");
    assert_int_equal(migrate_run(env.db.conninfo, dir, &n, err, sizeof err), MIGRATE_E_DIR);
    assert_non_null(strstr(err, "1_bad.sql"));
    assert_int_equal(n, 0);
    remove_dir(dir);

    make_dir(dir, sizeof dir);
    write_file(dir, "0007_x.sql", "SELECT 1;");
    write_file(dir, "0007_y.sql", "SELECT 1;");
    assert_int_equal(migrate_run(env.db.conninfo, dir, &n, err, sizeof err), MIGRATE_E_DIR);
    assert_non_null(strstr(err, "duplicate"));
    remove_dir(dir);

    make_dir(dir, sizeof dir);
    write_file(dir, "0008_.sql", "SELECT 1;");
    assert_int_equal(migrate_run(env.db.conninfo, dir, &n, err, sizeof err), MIGRATE_E_DIR);
    remove_dir(dir);

    assert_int_equal(migrate_run(env.db.conninfo, "/tmp/t05-no-such-migrations", &n, err,
                                 sizeof err),
                     MIGRATE_E_DIR);
    /* Nothing was touched. */
    assert_int_equal(admin_int("SELECT count(*) FROM schema_migrations", NULL), 2);
}

static void test_migrate_reports_connect_failure(void **state)
{
    (void)state;
    char dir[64];
    make_dir(dir, sizeof dir);
    char ci[1024];
    testdb_conninfo(&env.db, "/tmp/t05-no-such-dir", NULL, ci, sizeof ci);
    char err[512];
    int n = -1;
    assert_int_equal(migrate_run(ci, dir, &n, err, sizeof err), MIGRATE_E_CONNECT);
    assert_true(strlen(err) > 0);
    assert_int_equal(n, 0);
    remove_dir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_query_with_params, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_queue_is_fifo, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_many_queries_share_pool, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_queue_is_bounded, fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_sql_error_is_query_error, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_unavailable_without_server, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_invalid_config_is_refused, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lost_connection_fails_inflight_then_reconnects,
                                        fixture_setup, fixture_teardown),
        cmocka_unit_test_setup_teardown(test_lost_connection_fails_queued, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_idle_pool_health_check_and_loss, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_close_drains_pending_queries, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_close_cancels_after_drain_timeout, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(test_callback_may_query_and_close, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test(test_migrate_applies_in_order_once),
        cmocka_unit_test(test_migrate_failure_leaves_no_trace),
        cmocka_unit_test(test_migrate_rejects_bad_folder),
        cmocka_unit_test(test_migrate_reports_connect_failure),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
