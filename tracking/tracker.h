/* Live bus tracking: the active trips held in memory, GPS ingest (by the rules of gps.h),
 * fan-out of each accepted position to the trip's subscribers only, stop events, batched
 * storage of the track in PostGIS, and ending idle trips. The per-frame path touches no
 * database: who may subscribe is checked once, at subscribe time. */
#pragma once
#include <stdint.h>
#include <uv.h>

#include "core/op.h"
#include "core/strbuf.h"

struct dbpool;
struct presence;
struct tracker;
struct tracking_config;

/* Copies cfg (the tracking section of the server's configuration). */
struct tracker *tracker_new(uv_loop_t *loop, struct dbpool *db, struct presence *presence,
                            const struct tracking_config *cfg);
/* Writes buffered positions (one last attempt), stops timers, frees t, then runs done. */
void tracker_close(struct tracker *t, void (*done)(void *arg), void *arg);

/* The tracker of a request to a tracking op. The tracking tables' context (op->domain) is
 * the address of the server's tracker pointer, which becomes NULL when the tracker closes at
 * shutdown while requests may still be finishing: callers treat NULL as "stopping". */
static inline struct tracker *tracker_of(const struct op_ctx *op)
{
    struct tracker *const *t = op->domain;
    return t ? *t : NULL;
}

/* A connection logged out or closed: its subscriptions end now. */
void tracker_peer_gone(struct tracker *t, struct peer *p);
/* Something that allowed user_id's subscriptions may have changed (a guardian unlinked, a
 * student unassigned from a route): re-check that user's live subscriptions against the
 * database and end those no longer allowed (the connection gets trip.unsubscribed). */
void tracker_recheck_user(struct tracker *t, int64_t school_id, int64_t user_id);
/* A route's stops or riders changed: active trips of that route reload them. */
void tracker_route_changed(struct tracker *t, int64_t route_id);

/* Appends the tracker's Prometheus metrics. */
void tracker_render_metrics(const struct tracker *t, struct strbuf *out);
