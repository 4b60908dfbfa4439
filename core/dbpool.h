/* Asynchronous PostgreSQL on the libuv loop: a small pool of libpq connections, parameterised
 * queries queued when every connection is busy, results delivered to a callback on the loop,
 * reconnection with back-off when the database goes away. The loop never blocks in here. */
#pragma once
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

/* Outcomes passed to dbpool_result_fn and returned by dbpool_query. */
enum {
    DBPOOL_OK = 0,
    DBPOOL_E_UNAVAILABLE = 1, /* no connection to the database, or it was lost mid-query */
    DBPOOL_E_QUERY = 2,       /* the server answered with an error: see the PGresult */
    DBPOOL_E_CANCELLED = 3,   /* the pool is closing */
};

struct dbpool_config {
    const char *conninfo;       /* libpq connection string (copied) */
    int size;                   /* connections, >= 1 */
    int max_queued;             /* queries waiting for a connection before callers get
                                 * DBPOOL_E_UNAVAILABLE; 0 means 10000 */
    int connect_timeout_ms;     /* app-side connect deadline (libpq's is not enforced async);
                                 * 0 means 5000 */
    int reconnect_min_ms;       /* first back-off; 0 means 100 */
    int reconnect_max_ms;       /* back-off ceiling; 0 means 5000 */
    int health_interval_ms;     /* idle connections run SELECT 1 this often to notice a dead
                                 * server; 0 means 2000 */
};

struct dbpool_stats {
    int size;         /* configured connections */
    int connected;    /* connections ready or busy */
    int busy;         /* connections running a query */
    int queued;       /* queries waiting for a connection */
    unsigned long long queries_total;
    unsigned long long errors_total;       /* DBPOOL_E_QUERY results */
    unsigned long long unavailable_total;  /* queries refused or failed as unavailable */
    unsigned long long reconnects_total;   /* successful connects after the first */
};

struct dbpool;

/* Called exactly once per accepted query, on the loop, never before dbpool_query returned.
 * status is DBPOOL_OK (res holds the rows), DBPOOL_E_QUERY (res holds the error),
 * DBPOOL_E_UNAVAILABLE or DBPOOL_E_CANCELLED (res is NULL). res is freed when cb returns. */
typedef void dbpool_result_fn(void *arg, int status, const PGresult *res);

/* Starts connecting all connections in the background; never blocks. */
struct dbpool *dbpool_new(uv_loop_t *loop, const struct dbpool_config *cfg);

/* Queues a parameterised query (text params, NULL entries are SQL NULL; text results).
 * Copies sql and params. Returns 0 and cb will run once; or DBPOOL_E_UNAVAILABLE when no
 * connection is up or the queue is full, and cb will not run. */
int dbpool_query(struct dbpool *p, const char *sql, int n_params, const char *const *params,
                 dbpool_result_fn *cb, void *arg);

/* The SQLSTATE of a DBPOOL_E_QUERY result ("23505" for a unique violation), or "" for any
 * other status. Borrowed from res. */
const char *dbpool_sqlstate(int status, const PGresult *res);

/* True while at least one connection is up. */
bool dbpool_available(const struct dbpool *p);
void dbpool_get_stats(const struct dbpool *p, struct dbpool_stats *out);

/* Stops taking queries, lets in-flight and queued ones finish (up to drain_ms, after which
 * they complete with DBPOOL_E_CANCELLED), closes every connection and its uv handles, frees
 * the pool, then runs done_cb on the loop. */
void dbpool_close(struct dbpool *p, int drain_ms, void (*done_cb)(void *arg), void *arg);
