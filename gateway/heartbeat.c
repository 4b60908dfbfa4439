/* Pinging quiet connections and dropping dead ones (see heartbeat.h). */
#include "gateway/heartbeat.h"

#include "core/log.h"
#include "gateway/server_internal.h"

/* A connection is pinged after one silent period and dropped after this many. */
#define HEARTBEAT_DEAD_PERIODS 3
#define SWEEP_INTERVAL_MS 1000

void heartbeat_seen(struct ws_session *s)
{
    s->last_rx_ms = uv_now(s->srv->loop);
    s->ping_sent = false;
}

void heartbeat_closing(struct server *srv, struct ws_session *s)
{
    if (s->in_closing_list) {
        return;
    }
    s->in_closing_list = true;
    s->close_deadline_ms = uv_now(srv->loop) + HEARTBEAT_CLOSE_MS;
    s->closing_prev = NULL;
    s->closing_next = srv->closing_head;
    if (srv->closing_head) {
        srv->closing_head->closing_prev = s;
    }
    srv->closing_head = s;
}

static void closing_remove(struct server *srv, struct ws_session *s)
{
    if (!s->in_closing_list) {
        return;
    }
    s->in_closing_list = false;
    if (s->closing_prev) {
        s->closing_prev->closing_next = s->closing_next;
    } else {
        srv->closing_head = s->closing_next;
    }
    if (s->closing_next) {
        s->closing_next->closing_prev = s->closing_prev;
    }
    s->closing_prev = s->closing_next = NULL;
}

void heartbeat_forget(struct server *srv, struct ws_session *s)
{
    if (srv->heartbeat_cursor == s) {
        srv->heartbeat_cursor = s->next;
    }
    closing_remove(srv, s);
}

/* Drops the closing connections whose deadline has passed. lws_set_timeout's LWS_TO_KILL_SYNC
 * would not do: lws 4.1 then waits up to 5 s more to flush what it holds for the socket
 * (FLUSHING_BEFORE_CLOSE), which is just what a client that does not read never takes. An
 * expired timeout (LWS_TO_KILL_ASYNC: due now, run by lws on the loop right after) is a
 * "violent death" in lws: the socket is closed without flushing. ws.c's LWS_CALLBACK_CLOSED
 * then takes the session off the list. */
static void sweep_closing(struct server *srv, uint64_t now)
{
    struct ws_session *s = srv->closing_head;
    while (s) {
        if (now < s->close_deadline_ms) {
            s = s->closing_next;
            continue;
        }
        if (!s->close_killed) {
            s->close_killed = true;
            srv->env->metrics->close_timeouts++;
            log_event(LOG_INFO, "ws", "dropping connection that did not close in time",
                      "conn=%llu close_sent=%d", (unsigned long long)s->peer->id,
                      s->close_sent);
        }
        /* Again at each tick while it is still there, should lws have set another timeout
         * meanwhile. */
        lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        s = s->closing_next;
    }
}

/* One connection's check: ping it after a silent period, drop it after three. */
static void check_session(struct server *srv, struct ws_session *s, uint64_t now)
{
    uint64_t period_ms = (uint64_t)srv->cfg->heartbeat_s * 1000u;
    uint64_t silent_ms = now - s->last_rx_ms;
    if (silent_ms >= HEARTBEAT_DEAD_PERIODS * period_ms) {
        if (!s->heartbeat_dead) {
            s->heartbeat_dead = true; /* counted and logged once, however the close goes */
            srv->env->metrics->heartbeat_drops++;
            log_event(LOG_INFO, "ws", "dropping silent connection", "conn=%llu silent_s=%llu",
                      (unsigned long long)s->peer->id, (unsigned long long)(silent_ms / 1000));
            /* No close handshake: the client is not reading. An expired timeout, so that lws
             * drops the socket without first waiting to flush what it holds for it (see
             * sweep_closing); ws.c's LWS_CALLBACK_CLOSED then takes s off the session list
             * (heartbeat_forget moves the sweep past it). */
            lws_set_timeout(s->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
        }
    } else if (silent_ms >= period_ms && !s->ping_sent && !s->close_code) {
        s->ping_due = true;
        lws_callback_on_writable(s->wsi);
    }
}

/* Visits 1/heartbeat_s of the connections, resuming where the last tick stopped, so that each
 * connection is seen once per period whatever their number. */
static void on_sweep(uv_timer_t *t)
{
    struct server *srv = t->data;
    uint64_t now = uv_now(srv->loop);
    sweep_closing(srv, now);
    int64_t open = srv->env->metrics->connections;
    if (open <= 0) {
        return;
    }
    uint64_t slice = ((uint64_t)open + (uint64_t)srv->cfg->heartbeat_s - 1) /
                     (uint64_t)srv->cfg->heartbeat_s;
    for (uint64_t i = 0; i < slice && i < (uint64_t)open; i++) {
        if (!srv->heartbeat_cursor) {
            srv->heartbeat_cursor = srv->sessions;
            if (!srv->heartbeat_cursor) {
                return;
            }
        }
        struct ws_session *s = srv->heartbeat_cursor;
        srv->heartbeat_cursor = s->next;
        check_session(srv, s, now);
    }
}

void heartbeat_start(struct server *srv)
{
    uv_timer_init(srv->loop, &srv->heartbeat_timer);
    srv->heartbeat_timer.data = srv;
    uv_timer_start(&srv->heartbeat_timer, on_sweep, SWEEP_INTERVAL_MS, SWEEP_INTERVAL_MS);
    srv->heartbeat_started = true;
}

void heartbeat_stop(struct server *srv)
{
    if (srv->heartbeat_started) {
        srv->heartbeat_started = false;
        uv_close((uv_handle_t *)&srv->heartbeat_timer, NULL);
    }
}
