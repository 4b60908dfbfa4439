/* Ending connections whose session has ended (see session_check.h). */
#include "gateway/session_check.h"

#include <stdlib.h>

#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/xalloc.h"
#include "gateway/server_internal.h"

void session_check_close(void *ctx, int64_t session_id, int64_t user_id)
{
    struct server *srv = ctx;
    for (struct ws_session *s = srv->sessions; s; s = s->next) {
        const struct caller *c = &s->peer->caller;
        if (!c->role) {
            continue;
        }
        if ((session_id > 0 && c->session_id == session_id) ||
            (user_id > 0 && c->user_id == user_id)) {
            log_event(LOG_INFO, "session", "closing connection of ended session",
                      "conn=%llu session=%lld", (unsigned long long)s->peer->id,
                      (long long)c->session_id);
            peer_close(s->peer, SESSION_CLOSE_ENDED, "session ended");
        }
    }
}

/* Sessions per query: at 100,000 connections one query would carry about 1 MB of ids and
 * lock as many rows in one UPDATE; batches keep each query small and the pool shared. */
#define CHECK_BATCH 5000

static void check_next_batch(struct server *srv);

static void end_round(struct server *srv)
{
    free(srv->session_check_ids);
    srv->session_check_ids = NULL;
    srv->session_check_n = srv->session_check_done = 0;
    srv->session_check_busy = false;
}

static void on_checked(void *arg, int status, const PGresult *res)
{
    struct server *srv = arg;
    if (status != DBPOOL_OK) {
        /* The database is away: keep connections as they are and look again next round. */
        end_round(srv);
        return;
    }
    for (int i = 0; i < PQntuples(res); i++) {
        session_check_close(srv, dbval_get_i64(res, i, 0), 0);
    }
    check_next_batch(srv);
}

/* Sends the next batch of the round, or ends the round. */
static void check_next_batch(struct server *srv)
{
    if (srv->draining || srv->session_check_done >= srv->session_check_n) {
        end_round(srv);
        return;
    }
    size_t from = srv->session_check_done;
    size_t n = srv->session_check_n - from;
    if (n > CHECK_BATCH) {
        n = CHECK_BATCH;
    }
    srv->session_check_done += n;
    struct strbuf ids;
    strbuf_init(&ids);
    strbuf_append(&ids, "{", 1);
    for (size_t i = 0; i < n; i++) {
        strbuf_printf(&ids, "%s%lld", i ? "," : "", (long long)srv->session_check_ids[from + i]);
    }
    strbuf_append(&ids, "}", 1);
    const char *params[] = { ids.data };
    /* Which of these sessions have ended; the rest were seen just now. */
    int r = dbpool_query(srv->env->db,
                         "WITH ids AS (SELECT DISTINCT unnest($1::bigint[]) AS id),"
                         " ended AS ("
                         "  SELECT ids.id FROM ids"
                         "  LEFT JOIN sessions se ON se.id = ids.id"
                         "  LEFT JOIN users u ON u.id = se.user_id"
                         "  LEFT JOIN schools s ON s.id = se.school_id"
                         "  WHERE se.id IS NULL OR se.revoked_at IS NOT NULL"
                         "     OR se.expires_at <= now() OR NOT u.active"
                         "     OR s.status <> 'active'),"
                         " seen AS ("
                         "  UPDATE sessions SET last_seen_at = now()"
                         "  WHERE id IN (SELECT id FROM ids EXCEPT SELECT id FROM ended))"
                         " SELECT id FROM ended",
                         1, params, on_checked, srv);
    strbuf_deinit(&ids);
    if (r != 0) {
        end_round(srv);
    }
}

/* Takes the session ids of every logged-in connection now and checks them batch by batch. */
static void on_tick(uv_timer_t *t)
{
    struct server *srv = t->data;
    if (srv->session_check_busy || srv->draining) {
        return;
    }
    size_t n = 0, cap = 0;
    int64_t *ids = NULL;
    for (struct ws_session *s = srv->sessions; s; s = s->next) {
        if (s->peer->caller.role && !s->peer->closed) {
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                ids = xrealloc(ids, cap * sizeof *ids);
            }
            ids[n++] = s->peer->caller.session_id;
        }
    }
    if (n == 0) {
        free(ids);
        return;
    }
    srv->session_check_busy = true;
    srv->session_check_ids = ids;
    srv->session_check_n = n;
    srv->session_check_done = 0;
    check_next_batch(srv);
}

void session_check_start(struct server *srv)
{
    uv_timer_init(srv->loop, &srv->session_timer);
    srv->session_timer.data = srv;
    uint64_t ms = (uint64_t)srv->cfg->session_check_s * 1000u;
    uv_timer_start(&srv->session_timer, on_tick, ms, ms);
    srv->session_timer_started = true;
}

void session_check_stop(struct server *srv)
{
    if (srv->session_timer_started) {
        srv->session_timer_started = false;
        uv_close((uv_handle_t *)&srv->session_timer, NULL);
    }
}
