/* Scheduled purge of expired personal data (see retention.h). */
#include "core/retention.h"

#include <stdio.h>
#include <stdlib.h>

#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/log.h"
#include "core/xalloc.h"

struct retention {
    uv_timer_t timer;
    struct dbpool *db;
    int audit_days, session_days, position_days;
};

static void on_purged(void *arg, int status, const PGresult *res)
{
    (void)arg;
    if (status != DBPOOL_OK) {
        log_event(LOG_WARN, "retention", "purge failed, will retry", "status=%d", status);
        return;
    }
    log_event(LOG_INFO, "retention", "purged expired data",
              "otp_codes=%lld sessions=%lld audit_entries=%lld positions=%lld",
              (long long)dbval_get_i64(res, 0, 0), (long long)dbval_get_i64(res, 0, 1),
              (long long)dbval_get_i64(res, 0, 2), (long long)dbval_get_i64(res, 0, 3));
}

static void on_tick(uv_timer_t *t)
{
    struct retention *r = t->data;
    char audit[24], session[24], positions[24];
    const char *params[] = { dbval_i64(r->audit_days, audit), dbval_i64(r->session_days, session),
                             dbval_i64(r->position_days, positions) };
    if (dbpool_query(r->db, "SELECT p.*, purge_positions($3) FROM purge_expired($1, $2) p", 3,
                     params, on_purged, NULL) != 0) {
        log_event(LOG_WARN, "retention", "database unavailable, purge postponed", NULL);
    }
}

struct retention *retention_new(uv_loop_t *loop, struct dbpool *db, int audit_days,
                                int session_days, int position_days, int interval_s)
{
    struct retention *r = xcalloc(1, sizeof *r);
    r->db = db;
    r->audit_days = audit_days;
    r->session_days = session_days;
    r->position_days = position_days;
    uv_timer_init(loop, &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_tick, 60000, (uint64_t)interval_s * 1000u);
    return r;
}

static void on_closed(uv_handle_t *h)
{
    free(h->data);
}

void retention_close(struct retention *r)
{
    if (r) {
        uv_close((uv_handle_t *)&r->timer, on_closed);
    }
}
