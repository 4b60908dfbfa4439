/* Asynchronous PostgreSQL pool: libpq connections driven by uv_poll, a FIFO of queries waiting
 * for a free connection, reconnection with back-off and idle health checks (see dbpool.h). */
#include "core/dbpool.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/xalloc.h"

#define HEALTH_SQL "SELECT 1"

enum conn_state {
    CONN_DOWN,       /* no PGconn; the timer counts down to the next connect attempt */
    CONN_CONNECTING, /* PQconnectPoll in progress; the timer is the connect deadline */
    CONN_READY,      /* connected; idle when inflight is NULL, busy otherwise */
};

/* Statements remembered per connection; beyond this, queries run unprepared. */
#define PREPARED_MAX 256

struct query {
    struct query *next;
    char *sql;
    uint64_t sql_hash;    /* names its prepared statement */
    int n_params;
    char **params;
    dbpool_result_fn *cb; /* NULL for the pool's own health checks */
    void *arg;
};

struct conn {
    struct dbpool *pool;
    int index;
    enum conn_state state;
    PGconn *pg;
    uv_poll_t *poll;       /* heap allocated: it may be replaced while the old one closes */
    int poll_fd;
    bool want_write;       /* PQflush returned 1: the send buffer still holds data */
    uv_timer_t timer;      /* reconnect back-off, connect deadline or health interval */
    int backoff_ms;
    bool ever_connected;
    struct query *inflight;
    PGresult *result;      /* the last result of inflight so far */
    /* Statements prepared on this PGconn, by the hash of their text: planning costs more than
     * running most of our queries (1-2 ms against 0.1 ms), so each is planned once per
     * connection. A new PGconn starts empty. */
    uint64_t prepared[PREPARED_MAX];
    int n_prepared;
    bool preparing;        /* inflight's statement is being prepared; it runs next */
};

struct dbpool {
    uv_loop_t *loop;
    char *conninfo;
    int size;
    int max_queued;
    int connect_timeout_ms;
    int reconnect_min_ms;
    int reconnect_max_ms;
    int health_interval_ms;

    struct conn *conns;
    int n_connected;

    struct query *queue_head;
    struct query *queue_tail;
    int n_queued;

    /* Every state change that may complete queued queries or finish a close goes through this
     * zero timer, so no callback ever runs inside dbpool_query or dbpool_close. */
    uv_timer_t kick;
    uv_timer_t drain;
    int n_handles;         /* initialised uv handles whose close callback has not run yet */

    bool closing;
    bool torn_down;
    void (*done_cb)(void *arg);
    void *done_arg;

    struct dbpool_stats stats;
};

static void on_poll(uv_poll_t *h, int status, int events);
static void on_conn_timer(uv_timer_t *t);
static void on_kick(uv_timer_t *t);
static void handle_gone(struct dbpool *p);

/* Error text from libpq spans lines and may contain quotes; log lines must not. */
static void clean_message(char *dst, size_t n, const char *src)
{
    size_t j = 0;
    for (size_t i = 0; src && src[i] && j + 1 < n; i++) {
        char ch = src[i];
        if (ch == '\n' || ch == '\r' || ch == '\t') {
            ch = ' ';
        } else if (ch == '"') {
            ch = '\'';
        }
        dst[j++] = ch;
    }
    while (j > 0 && dst[j - 1] == ' ') {
        j--;
    }
    dst[j] = '\0';
}

static void log_conn_error(enum log_level level, struct conn *c, const char *msg)
{
    char why[256];
    clean_message(why, sizeof why, c->pg ? PQerrorMessage(c->pg) : "");
    log_event(level, "dbpool", msg, "conn=%d error=\"%s\"", c->index, why);
}

/* libpq's default notice processor writes raw lines to stderr; keep them in our log format. */
static void on_notice(void *arg, const char *message)
{
    struct conn *c = arg;
    char text[256];
    clean_message(text, sizeof text, message);
    log_event(LOG_DEBUG, "dbpool", "server notice", "conn=%d notice=\"%s\"", c->index, text);
}

static void query_free(struct query *q)
{
    for (int i = 0; i < q->n_params; i++) {
        free(q->params[i]);
    }
    free(q->params);
    free(q->sql);
    free(q);
}

/* Runs the query's callback, then frees the query; res stays owned by the caller. */
static void query_complete(struct dbpool *p, struct query *q, int status, const PGresult *res)
{
    if (q->cb) {
        if (status == DBPOOL_E_QUERY) {
            p->stats.errors_total++;
        } else if (status == DBPOOL_E_UNAVAILABLE) {
            p->stats.unavailable_total++;
        }
        q->cb(q->arg, status, res);
    }
    query_free(q);
}

static void queue_push(struct dbpool *p, struct query *q)
{
    q->next = NULL;
    if (p->queue_tail) {
        p->queue_tail->next = q;
    } else {
        p->queue_head = q;
    }
    p->queue_tail = q;
    p->n_queued++;
}

static struct query *queue_pop(struct dbpool *p)
{
    struct query *q = p->queue_head;
    if (q) {
        p->queue_head = q->next;
        if (!p->queue_head) {
            p->queue_tail = NULL;
        }
        p->n_queued--;
        q->next = NULL;
    }
    return q;
}

/* Detaches the whole queue first: callbacks may call dbpool_query while we walk it. */
static void queue_fail_all(struct dbpool *p, int status)
{
    struct query *q = p->queue_head;
    p->queue_head = NULL;
    p->queue_tail = NULL;
    p->n_queued = 0;
    while (q) {
        struct query *next = q->next;
        query_complete(p, q, status, NULL);
        q = next;
    }
}

static void kick(struct dbpool *p)
{
    if (!p->torn_down) {
        uv_timer_start(&p->kick, on_kick, 0, 0);
    }
}

static void on_poll_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    free(h);
    handle_gone(c->pool);
}

/* Stops watching the socket at once: libpq may close or already have closed the fd, and
 * libuv must never poll a closed fd. */
static void poll_release(struct conn *c)
{
    if (!c->poll) {
        return;
    }
    uv_poll_stop(c->poll);
    uv_close((uv_handle_t *)c->poll, on_poll_closed);
    c->poll = NULL;
    c->poll_fd = -1;
}

/* Watches fd, replacing the handle when libpq switched sockets (it can, during connect). */
static int poll_watch(struct conn *c, int fd, int events)
{
    if (fd < 0) {
        return -1;
    }
    if (c->poll && c->poll_fd != fd) {
        poll_release(c);
    }
    if (!c->poll) {
        uv_poll_t *h = xmalloc(sizeof *h);
        int r = uv_poll_init(c->pool->loop, h, fd);
        if (r < 0) {
            log_event(LOG_ERROR, "dbpool", "uv_poll_init failed", "conn=%d fd=%d error=\"%s\"",
                      c->index, fd, uv_strerror(r));
            free(h);
            return -1;
        }
        h->data = c;
        c->pool->n_handles++;
        c->poll = h;
        c->poll_fd = fd;
    }
    return uv_poll_start(c->poll, events, on_poll) < 0 ? -1 : 0;
}

static int conn_arm(struct conn *c)
{
    return poll_watch(c, PQsocket(c->pg), UV_READABLE | (c->want_write ? UV_WRITABLE : 0));
}

static void schedule_reconnect(struct conn *c)
{
    struct dbpool *p = c->pool;
    c->state = CONN_DOWN;
    if (p->closing) {
        return;
    }
    uv_timer_start(&c->timer, on_conn_timer, (uint64_t)c->backoff_ms, 0);
    c->backoff_ms = c->backoff_ms * 2 > p->reconnect_max_ms ? p->reconnect_max_ms
                                                            : c->backoff_ms * 2;
}

/* Abandons a connect attempt that failed or timed out. */
static void connect_failed(struct conn *c, const char *msg)
{
    log_conn_error(LOG_WARN, c, msg);
    uv_timer_stop(&c->timer);
    poll_release(c);
    PQfinish(c->pg);
    c->pg = NULL;
    schedule_reconnect(c);
    kick(c->pool);
}

/* A ready connection went away: the poll goes first because libpq has already closed the fd. */
static void conn_lost(struct conn *c, const char *msg)
{
    struct dbpool *p = c->pool;
    log_conn_error(LOG_WARN, c, msg);
    uv_timer_stop(&c->timer);
    poll_release(c);
    PQfinish(c->pg);
    c->pg = NULL;
    PQclear(c->result);
    c->result = NULL;
    c->want_write = false;
    p->n_connected--;
    struct query *q = c->inflight;
    c->inflight = NULL;
    schedule_reconnect(c);
    if (q) {
        query_complete(p, q, DBPOOL_E_UNAVAILABLE, NULL);
    }
    kick(p);
}

/* The timer of an idle connection counts down to its next health check. */
static void conn_idle(struct conn *c)
{
    struct dbpool *p = c->pool;
    if (p->closing) {
        uv_timer_stop(&c->timer);
        return;
    }
    uv_timer_start(&c->timer, on_conn_timer, (uint64_t)p->health_interval_ms, 0);
}

static void conn_connected(struct conn *c)
{
    struct dbpool *p = c->pool;
    uv_timer_stop(&c->timer);
    if (PQsetnonblocking(c->pg, 1) != 0) {
        connect_failed(c, "cannot make connection non-blocking");
        return;
    }
    c->state = CONN_READY;
    c->backoff_ms = p->reconnect_min_ms;
    c->want_write = false;
    if (c->ever_connected) {
        p->stats.reconnects_total++;
    }
    c->ever_connected = true;
    p->n_connected++;
    log_event(LOG_INFO, "dbpool", "connected", "conn=%d", c->index);
    /* An idle connection still watches for input, so a server that closes it is noticed now. */
    if (conn_arm(c) < 0) {
        conn_lost(c, "cannot watch socket");
        return;
    }
    conn_idle(c);
    kick(p);
}

static void connect_step(struct conn *c)
{
    PostgresPollingStatusType st = PQconnectPoll(c->pg);
    int fd = PQsocket(c->pg);
    switch (st) {
    case PGRES_POLLING_OK:
        conn_connected(c);
        return;
    case PGRES_POLLING_READING:
        if (poll_watch(c, fd, UV_READABLE) < 0) {
            connect_failed(c, "connect failed");
        }
        return;
    case PGRES_POLLING_WRITING:
        if (poll_watch(c, fd, UV_WRITABLE) < 0) {
            connect_failed(c, "connect failed");
        }
        return;
    default:
        connect_failed(c, "connect failed");
        return;
    }
}

static void conn_start(struct conn *c)
{
    struct dbpool *p = c->pool;
    c->n_prepared = 0;
    c->preparing = false;
    c->pg = PQconnectStart(p->conninfo);
    if (!c->pg || PQstatus(c->pg) == CONNECTION_BAD) {
        connect_failed(c, "connect failed");
        return;
    }
    PQsetNoticeProcessor(c->pg, on_notice, c);
    c->state = CONN_CONNECTING;
    /* libpq's docs: behave as if PQconnectPoll had just returned PGRES_POLLING_WRITING. */
    if (poll_watch(c, PQsocket(c->pg), UV_WRITABLE) < 0) {
        connect_failed(c, "connect failed");
        return;
    }
    uv_timer_start(&c->timer, on_conn_timer, (uint64_t)p->connect_timeout_ms, 0);
}

/* FNV-1a: names a statement by its text. */
static uint64_t hash_sql(const char *sql)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *c = sql; *c; c++) {
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    }
    return h;
}

static bool is_prepared(const struct conn *c, uint64_t hash)
{
    for (int i = 0; i < c->n_prepared; i++) {
        if (c->prepared[i] == hash) {
            return true;
        }
    }
    return false;
}

static void statement_name(uint64_t hash, char name[24])
{
    snprintf(name, 24, "q%016llx", (unsigned long long)hash);
}

/* Sends q's statement: executes it when it is prepared on c, else prepares it first (the
 * execution follows when the preparation succeeds, see conn_finish_query). Returns false when
 * libpq refused to send. */
static bool send_statement(struct conn *c, struct query *q)
{
    char name[24];
    statement_name(q->sql_hash, name);
    if (is_prepared(c, q->sql_hash)) {
        return PQsendQueryPrepared(c->pg, name, q->n_params, (const char *const *)q->params,
                                   NULL, NULL, 0);
    }
    if (c->n_prepared == PREPARED_MAX) {
        return PQsendQueryParams(c->pg, q->sql, q->n_params, NULL,
                                 (const char *const *)q->params, NULL, NULL, 0);
    }
    c->preparing = true;
    return PQsendPrepare(c->pg, name, q->sql, q->n_params, NULL);
}

/* Hands q to an idle connection. On a send failure the query completes here, so this must only
 * run from a loop callback. */
static void conn_send(struct conn *c, struct query *q)
{
    struct dbpool *p = c->pool;
    c->inflight = q;
    if (q->cb) {
        uv_timer_stop(&c->timer);
    } else {
        /* A health check that hangs means the server is gone without closing the socket. */
        uv_timer_start(&c->timer, on_conn_timer, (uint64_t)p->health_interval_ms, 0);
    }
    if (!send_statement(c, q)) {
        if (PQstatus(c->pg) == CONNECTION_BAD) {
            conn_lost(c, "connection lost");
            return;
        }
        /* Refused locally (for example too many parameters): the connection is fine. */
        PGresult *res = PQmakeEmptyPGresult(c->pg, PGRES_FATAL_ERROR);
        c->inflight = NULL;
        c->preparing = false;
        conn_idle(c);
        query_complete(p, q, DBPOOL_E_QUERY, res);
        PQclear(res);
        kick(p);
        return;
    }
    int r = PQflush(c->pg);
    if (r < 0) {
        conn_lost(c, "connection lost");
        return;
    }
    c->want_write = r == 1;
    if (conn_arm(c) < 0) {
        conn_lost(c, "cannot watch socket");
    }
}

/* The last result of the in-flight query arrived (PQgetResult gave NULL). */
static void conn_finish_query(struct conn *c)
{
    struct dbpool *p = c->pool;
    struct query *q = c->inflight;
    PGresult *res = c->result;
    c->result = NULL;
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (c->preparing) {
        c->preparing = false;
        if (st == PGRES_COMMAND_OK) {
            /* Prepared: now run it, on the same connection. */
            PQclear(res);
            c->prepared[c->n_prepared++] = q->sql_hash;
            c->inflight = NULL;
            conn_send(c, q);
            return;
        }
        /* A statement that does not prepare would not run either: its error is the answer. */
    }
    c->inflight = NULL;
    int status = DBPOOL_E_QUERY;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        status = DBPOOL_OK;
    }
    conn_idle(c);
    if (!q->cb && status != DBPOOL_OK) {
        char why[256];
        clean_message(why, sizeof why, res ? PQresultErrorMessage(res) : "");
        log_event(LOG_WARN, "dbpool", "health check failed", "conn=%d error=\"%s\"", c->index,
                  why);
    }
    query_complete(p, q, status, res);
    PQclear(res);
    kick(p);
}

static void io_step(struct conn *c, int status, int events)
{
    if (c->want_write && (status < 0 || (events & UV_WRITABLE))) {
        int r = PQflush(c->pg);
        if (r < 0) {
            conn_lost(c, "connection lost");
            return;
        }
        c->want_write = r == 1;
    }
    /* After a poll error the socket state is unknown; PQconsumeInput finds out. */
    if (status < 0 || (events & UV_READABLE)) {
        if (!PQconsumeInput(c->pg)) {
            conn_lost(c, "connection lost");
            return;
        }
        bool done = false;
        while (!PQisBusy(c->pg)) {
            PGresult *res = PQgetResult(c->pg);
            if (!res) {
                done = true;
                break;
            }
            ExecStatusType st = PQresultStatus(res);
            if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH) {
                /* COPY would leave the connection in a state we never drive; drop it. */
                PQclear(res);
                conn_lost(c, "COPY is not supported");
                return;
            }
            if (c->inflight) {
                PQclear(c->result);
                c->result = res;
            } else {
                PQclear(res);
            }
        }
        /* A terminated backend sends its FATAL error and then closes: that is a lost
         * connection, not a query error. */
        if (PQstatus(c->pg) == CONNECTION_BAD || PQsocket(c->pg) < 0) {
            conn_lost(c, "connection lost");
            return;
        }
        if (done && c->inflight) {
            conn_finish_query(c);
        }
    }
    if (conn_arm(c) < 0) {
        conn_lost(c, "cannot watch socket");
    }
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct conn *c = h->data;
    /* Stop first: PQconnectPoll and PQconsumeInput may close the fd under us. */
    uv_poll_stop(h);
    if (c->state == CONN_CONNECTING) {
        /* UV_EBADF here can mean libpq moved on to another address: let it tell us. */
        connect_step(c);
    } else if (c->state == CONN_READY) {
        io_step(c, status, events);
    }
}

static void on_conn_timer(uv_timer_t *t)
{
    struct conn *c = t->data;
    struct dbpool *p = c->pool;
    switch (c->state) {
    case CONN_DOWN:
        conn_start(c);
        break;
    case CONN_CONNECTING:
        connect_failed(c, "connect timed out");
        break;
    case CONN_READY:
        if (c->inflight && !c->inflight->cb) {
            conn_lost(c, "health check timed out");
        } else if (!c->inflight && !p->closing) {
            struct query *q = xcalloc(1, sizeof *q);
            q->sql = xstrdup(HEALTH_SQL);
            q->sql_hash = hash_sql(q->sql);
            conn_send(c, q);
        }
        break;
    }
}

static void teardown(struct dbpool *p);

static void on_kick(uv_timer_t *t)
{
    struct dbpool *p = t->data;
    if (p->n_connected == 0) {
        queue_fail_all(p, p->closing ? DBPOOL_E_CANCELLED : DBPOOL_E_UNAVAILABLE);
    }
    for (int i = 0; i < p->size && p->queue_head; i++) {
        struct conn *c = &p->conns[i];
        if (c->state == CONN_READY && !c->inflight) {
            conn_send(c, queue_pop(p));
        }
    }
    if (p->closing && !p->torn_down && !p->queue_head) {
        for (int i = 0; i < p->size; i++) {
            if (p->conns[i].inflight) {
                return;
            }
        }
        teardown(p);
    }
}

static void on_drain_timeout(uv_timer_t *t)
{
    struct dbpool *p = t->data;
    log_event(LOG_WARN, "dbpool", "drain timed out, cancelling queries", "queued=%d",
              p->n_queued);
    teardown(p);
}

/* The pool is freed only after libuv let go of its last handle, then done_cb runs. */
static void handle_gone(struct dbpool *p)
{
    if (--p->n_handles > 0) {
        return;
    }
    void (*done_cb)(void *) = p->done_cb;
    void *done_arg = p->done_arg;
    free(p->conns);
    free(p->conninfo);
    free(p);
    if (done_cb) {
        done_cb(done_arg);
    }
}

/* Cancels whatever is left, then closes every handle; the pool is freed by the last close
 * callback. Runs only from the pool's own timers, never inside a connection's callback. */
static void on_conn_timer_closed(uv_handle_t *h)
{
    handle_gone(((struct conn *)h->data)->pool);
}

static void on_pool_timer_closed(uv_handle_t *h)
{
    handle_gone(h->data);
}

static void teardown(struct dbpool *p)
{
    p->torn_down = true;
    queue_fail_all(p, DBPOOL_E_CANCELLED);
    for (int i = 0; i < p->size; i++) {
        struct conn *c = &p->conns[i];
        struct query *q = c->inflight;
        c->inflight = NULL;
        PQclear(c->result);
        c->result = NULL;
        if (q) {
            query_complete(p, q, DBPOOL_E_CANCELLED, NULL);
        }
    }
    for (int i = 0; i < p->size; i++) {
        struct conn *c = &p->conns[i];
        poll_release(c);
        PQfinish(c->pg);
        c->pg = NULL;
        if (c->state == CONN_READY) {
            p->n_connected--;
        }
        c->state = CONN_DOWN;
        uv_close((uv_handle_t *)&c->timer, on_conn_timer_closed);
    }
    uv_close((uv_handle_t *)&p->kick, on_pool_timer_closed);
    uv_close((uv_handle_t *)&p->drain, on_pool_timer_closed);
}

struct dbpool *dbpool_new(uv_loop_t *loop, const struct dbpool_config *cfg)
{
    if (!cfg->conninfo || cfg->size < 1) {
        log_event(LOG_ERROR, "dbpool", "invalid configuration", "size=%d", cfg->size);
        return NULL;
    }
    /* Check the syntax once here; the parser's message may quote the string, so omit it. */
    char *parse_err = NULL;
    PQconninfoOption *opts = PQconninfoParse(cfg->conninfo, &parse_err);
    if (!opts) {
        PQfreemem(parse_err);
        log_event(LOG_ERROR, "dbpool", "invalid conninfo", NULL);
        return NULL;
    }
    PQconninfoFree(opts);

    struct dbpool *p = xcalloc(1, sizeof *p);
    p->loop = loop;
    p->conninfo = xstrdup(cfg->conninfo);
    p->size = cfg->size;
    p->max_queued = cfg->max_queued > 0 ? cfg->max_queued : 10000;
    p->connect_timeout_ms = cfg->connect_timeout_ms > 0 ? cfg->connect_timeout_ms : 5000;
    p->reconnect_min_ms = cfg->reconnect_min_ms > 0 ? cfg->reconnect_min_ms : 100;
    p->reconnect_max_ms = cfg->reconnect_max_ms > 0 ? cfg->reconnect_max_ms : 5000;
    if (p->reconnect_max_ms < p->reconnect_min_ms) {
        p->reconnect_max_ms = p->reconnect_min_ms;
    }
    p->health_interval_ms = cfg->health_interval_ms > 0 ? cfg->health_interval_ms : 2000;
    p->stats.size = p->size;

    uv_timer_init(loop, &p->kick);
    p->kick.data = p;
    uv_timer_init(loop, &p->drain);
    p->drain.data = p;
    p->n_handles = 2;

    p->conns = xcalloc((size_t)p->size, sizeof *p->conns);
    for (int i = 0; i < p->size; i++) {
        struct conn *c = &p->conns[i];
        c->pool = p;
        c->index = i;
        c->poll_fd = -1;
        c->backoff_ms = p->reconnect_min_ms;
        uv_timer_init(loop, &c->timer);
        c->timer.data = c;
        p->n_handles++;
    }
    for (int i = 0; i < p->size; i++) {
        conn_start(&p->conns[i]);
    }
    return p;
}

int dbpool_query(struct dbpool *p, const char *sql, int n_params, const char *const *params,
                 dbpool_result_fn *cb, void *arg)
{
    if (p->closing) {
        return DBPOOL_E_CANCELLED;
    }
    if (p->n_connected == 0 || p->n_queued >= p->max_queued) {
        p->stats.unavailable_total++;
        return DBPOOL_E_UNAVAILABLE;
    }
    struct query *q = xcalloc(1, sizeof *q);
    q->sql = xstrdup(sql);
    q->sql_hash = hash_sql(sql);
    q->n_params = n_params > 0 ? n_params : 0;
    q->params = xcalloc((size_t)q->n_params, sizeof *q->params);
    for (int i = 0; i < q->n_params; i++) {
        q->params[i] = params[i] ? xstrdup(params[i]) : NULL;
    }
    q->cb = cb;
    q->arg = arg;
    p->stats.queries_total++;
    /* Dispatch from the loop, not here: a send failure completes the query, and its callback
     * must not run before we return. */
    queue_push(p, q);
    kick(p);
    return 0;
}

const char *dbpool_sqlstate(int status, const PGresult *res)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    return status == DBPOOL_E_QUERY && state ? state : "";
}

bool dbpool_available(const struct dbpool *p)
{
    return p->n_connected > 0;
}

void dbpool_get_stats(const struct dbpool *p, struct dbpool_stats *out)
{
    *out = p->stats;
    out->connected = p->n_connected;
    out->busy = 0;
    for (int i = 0; i < p->size; i++) {
        if (p->conns[i].inflight) {
            out->busy++;
        }
    }
    out->queued = p->n_queued;
}

void dbpool_close(struct dbpool *p, int drain_ms, void (*done_cb)(void *arg), void *arg)
{
    if (p->closing) {
        return;
    }
    p->closing = true;
    p->done_cb = done_cb;
    p->done_arg = arg;
    for (int i = 0; i < p->size; i++) {
        struct conn *c = &p->conns[i];
        /* No more reconnects or health checks; a health check already sent may finish. */
        if (c->state == CONN_DOWN || (c->state == CONN_READY && !c->inflight)) {
            uv_timer_stop(&c->timer);
        }
    }
    uv_timer_start(&p->drain, on_drain_timeout, (uint64_t)(drain_ms > 0 ? drain_ms : 0), 0);
    kick(p);
}
