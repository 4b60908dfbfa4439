/* Live bus tracking: the active trips held in memory, GPS ingest and validation, fan-out of
 * each accepted position to the trip's subscribers only, stop events, batched storage of the
 * track in PostGIS, and ending idle trips. The per-frame path touches no database: who may
 * subscribe is checked once, at subscribe time. */
#pragma once
#include <stdint.h>
#include <uv.h>

#include "core/op.h"
#include "core/strbuf.h"

struct dbpool;
struct presence;
struct tracker;

struct tracker_config {
    int min_interval_ms;     /* frames from one trip closer together are refused (500) */
    int max_age_s;           /* positions older than this are refused (120) */
    int max_future_s;        /* positions further ahead than this are refused (60) */
    double max_speed_mps;    /* a jump implying more than this is refused (50) */
    int idle_end_s;          /* a trip with no position for this long is ended (900) */
    int stop_radius_m;       /* within this distance of a stop the bus has arrived (60) */
    int approach_s;          /* trip.stop.approaching when the ETA drops to this (300) */
    int flush_ms;            /* stored positions are written at least this often (1000) */
    int buffer_max;          /* positions waiting for the database before overflow (200000) */
    int retention_days;      /* stored positions are purged after this (30) */
};

/* Fills cfg with the defaults above. */
void tracker_config_defaults(struct tracker_config *cfg);

/* The tracker serves the trip.* ops through op->env->tracker. */
struct tracker *tracker_new(uv_loop_t *loop, struct dbpool *db, struct presence *presence,
                            const struct tracker_config *cfg);
/* Writes buffered positions (one last attempt), stops timers, frees t, then runs done. */
void tracker_close(struct tracker *t, void (*done)(void *arg), void *arg);

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

/* trip.start, trip.pos, trip.end, trip.subscribe, trip.unsubscribe, trip.mine, trip.history. */
extern const struct op_def trip_ops[];
