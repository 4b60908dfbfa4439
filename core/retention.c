/* Scheduled purge of expired personal data (see retention.h). */
#include "core/retention.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

#define MAX_PARAMS 2
#define MAX_KEYS 3

/* One purge query and the log keys of its row's columns. */
struct purge {
    char *sql;
    char params[MAX_PARAMS][24];
    int n_params;
    char *keys[MAX_KEYS];
    int n_keys;
};

struct retention {
    uv_timer_t timer;
    struct dbpool *db;
    struct purge purges[RETENTION_MAX_PURGES];
    size_t n_purges;
    /* the round in flight: the purge running now and the counts logged so far */
    bool running;
    size_t next;
    struct strbuf counts;
    bool closing, timer_closed;
};

static void add(struct retention *r, const char *sql, const int *params, int n_params,
                const char *const *keys, int n_keys)
{
    struct purge *p = &r->purges[r->n_purges++];
    p->sql = xstrdup(sql);
    p->n_params = n_params;
    for (int i = 0; i < n_params; i++) {
        dbval_i64(params[i], p->params[i]);
    }
    p->n_keys = n_keys;
    for (int i = 0; i < n_keys; i++) {
        p->keys[i] = xstrdup(keys[i]);
    }
}

static void retention_free(struct retention *r)
{
    for (size_t i = 0; i < r->n_purges; i++) {
        free(r->purges[i].sql);
        for (int k = 0; k < r->purges[i].n_keys; k++) {
            free(r->purges[i].keys[k]);
        }
    }
    strbuf_deinit(&r->counts);
    free(r);
}

static void end_round(struct retention *r)
{
    if (r->counts.len) {
        log_event(LOG_INFO, "retention", "purged expired data", "%s", r->counts.data);
    }
    strbuf_deinit(&r->counts);
    r->running = false;
    if (r->timer_closed) {
        retention_free(r);
    }
}

static void on_purged(void *arg, int status, const PGresult *res);

/* Starts the next purge of the round, or ends it. Purges run one after another: each is a
 * large DELETE, and running them side by side would only make them contend. */
static void run_next(struct retention *r)
{
    if (r->closing || r->next == r->n_purges) {
        end_round(r);
        return;
    }
    const struct purge *p = &r->purges[r->next];
    const char *params[MAX_PARAMS] = { p->params[0], p->params[1] };
    if (dbpool_query(r->db, p->sql, p->n_params, params, on_purged, r) != 0) {
        /* The database is away: the others would fail too. The next tick tries again. */
        log_event(LOG_WARN, "retention", "database unavailable, purge postponed", NULL);
        end_round(r);
    }
}

static void on_purged(void *arg, int status, const PGresult *res)
{
    struct retention *r = arg;
    const struct purge *p = &r->purges[r->next++];
    if (status != DBPOOL_OK) {
        log_event(LOG_WARN, "retention", "purge failed, will retry", "purge=%s status=%d",
                  p->keys[0], status);
    } else {
        for (int i = 0; i < p->n_keys && i < PQnfields(res); i++) {
            strbuf_printf(&r->counts, "%s%s=%lld", r->counts.len ? " " : "", p->keys[i],
                          (long long)dbval_get_i64(res, 0, i));
        }
    }
    run_next(r);
}

static void on_tick(uv_timer_t *t)
{
    struct retention *r = t->data;
    if (r->running) {
        return; /* the previous round is still at work */
    }
    r->running = true;
    r->next = 0;
    strbuf_init(&r->counts);
    run_next(r);
}

struct retention *retention_new(uv_loop_t *loop, struct dbpool *db, int audit_days,
                                int session_days, int interval_s)
{
    struct retention *r = xcalloc(1, sizeof *r);
    r->db = db;
    static const char *const keys[] = { "otp_codes", "sessions", "audit_entries" };
    add(r, "SELECT otp_codes, sessions, audit_entries FROM purge_expired($1, $2)",
        (const int[]){ audit_days, session_days }, 2, keys, 3);
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_tick, 60000, (uint64_t)interval_s * 1000u);
    return r;
}

int retention_add(struct retention *r, const char *name, const char *sql, int days)
{
    if (r->n_purges == RETENTION_MAX_PURGES) {
        return -ENOSPC;
    }
    add(r, sql, &days, 1, &name, 1);
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    struct retention *r = h->data;
    r->timer_closed = true;
    if (!r->running) {
        retention_free(r);
    }
}

void retention_close(struct retention *r)
{
    if (r) {
        r->closing = true;
        uv_close((uv_handle_t *)&r->timer, on_closed);
    }
}
