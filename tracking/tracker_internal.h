/* The tracker's state, shared by tracker.c (registry, ingest, fan-out, storage) and
 * trips.c (the trip.* handlers). Not for use outside tracking/. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/config.h"
#include "core/msgbuf.h"
#include "core/peer.h"
#include "tracking/gps.h"
#include "tracking/tracker.h"

struct trip_stop {
    int64_t id;
    int seq;
    double lat, lon;
    char *name;
    double along_m;      /* distance along the route from the first stop */
    bool approached, arrived;
    int64_t *parents;    /* parents of students boarding here */
    size_t n_parents;
};

struct trip_sub {
    struct peer *peer;   /* one reference */
    int64_t user_id;
};

/* One active trip, held in memory while it runs. */
struct live_trip {
    struct live_trip *next; /* hash chain */
    int64_t id, school_id, route_id, driver_id;
    char *route_name;
    struct trip_stop *stops; /* by seq */
    size_t n_stops;
    int64_t *parents;        /* parents of every rider of the route */
    size_t n_parents;
    struct trip_sub *subs;
    size_t n_subs, cap_subs;
    /* the last accepted position */
    bool has_pos;
    double lat, lon, ts_ms, spd, hdg;
    bool has_spd, has_hdg;
    bool ts_is_float;
    uint64_t rx_ms;          /* when it arrived (or when the trip was loaded) */
    double speed_mps;        /* recent speed, for ETAs */
    struct msgbuf *last;     /* the encoded trip.pos event of the last position */
};

/* A position waiting to be stored. */
struct pos_row {
    int64_t trip_id;
    double ts_ms, lat, lon, spd, hdg, acc;
    bool has_spd, has_hdg, has_acc;
};

/* Why frames were refused, as counted in /metrics (in this order). */
enum refusal {
    REFUSE_RANGE,      /* a field out of range or not a number */
    REFUSE_FUTURE,
    REFUSE_TOO_OLD,
    REFUSE_RATE,
    REFUSE_SPEED,
    REFUSE_ORDER,      /* ts not after the previous position */
    REFUSE_NOT_DRIVER,
    REFUSE_NOT_ACTIVE, /* unknown trip, another school's, or ended */
    REFUSE__COUNT
};

struct tracker_load_waiter;

/* A trip being loaded: later callers wait here, in arrival order, instead of loading again. */
struct pending_load {
    struct pending_load *next;
    int64_t trip_id;
    struct tracker_load_waiter *waiters; /* first in, first served */
    size_t n_waiters, cap_waiters;
};

struct tracker {
    uv_loop_t *loop;
    struct dbpool *db;
    struct presence *presence;
    struct tracking_config cfg;
    struct live_trip **slots;
    size_t n_slots, n_trips;
    struct pending_load *loading;
    size_t queries;          /* queries in flight whose callbacks use the tracker */
    /* positions waiting for the database; rows[0..in_flight) are being written */
    struct pos_row *rows;
    size_t n_rows, cap_rows, in_flight;
    uv_timer_t flush_timer, idle_timer;
    bool closing;
    bool flush_over;         /* closing: the last flush has finished */
    int open_timers;
    void (*done)(void *arg);
    void *done_arg;
    /* figures for /metrics */
    uint64_t frames_accepted, refused[REFUSE__COUNT];
    uint64_t deliveries, stop_events, trips_started, trips_ended_idle;
    uint64_t positions_stored, positions_overflow, positions_failed;
};

struct live_trip *tracker_find(struct tracker *t, int64_t trip_id);

/* Loads an active trip into memory (or finds it there); cb runs once on the loop with the trip,
 * or NULL when it is not active or the database failed (status says which). */
typedef void tracker_load_fn(void *arg, struct live_trip *lt, int status);
void tracker_load(struct tracker *t, int64_t trip_id, tracker_load_fn *cb, void *arg);

/* Adds p as a subscriber of lt (idempotent). */
void tracker_subscribe(struct tracker *t, struct live_trip *lt, struct peer *p, int64_t user);
/* Removes p from lt's subscribers; true when it was one. */
bool tracker_unsubscribe(struct live_trip *lt, struct peer *p);

/* A position from trip.pos; ts_is_float says how to echo ts to subscribers. */
struct pos_in {
    struct gps_frame gps;
    bool ts_is_float;
};

/* Outcomes of tracker_ingest besides 0. */
enum {
    TRACKER_E_NOT_ACTIVE = 1, /* the trip is another school's */
    TRACKER_E_NOT_DRIVER,     /* the caller does not drive it */
    TRACKER_E_GPS,            /* the frame broke a rule of gps.h */
};

/* Checks and accepts one position from the trip's driver, arriving at now_ms (the server's
 * clock): stores it, fans it out, checks the stops. Returns 0, or a TRACKER_E_* (for
 * TRACKER_E_GPS with *gps set to the rule broken); each refusal is counted. */
int tracker_ingest(struct tracker *t, struct live_trip *lt, const struct caller *who,
                   const struct pos_in *pos, uint64_t now_ms, enum gps_result *gps);

/* Ends a live trip in memory: tells its subscribers (trip.ended) and forgets it. */
void tracker_forget(struct tracker *t, int64_t trip_id, const char *reason);
/* Pushes an event to every connected parent of the route's riders. */
void tracker_push_to_route_parents(struct tracker *t, struct live_trip *lt, struct msgbuf *m);
/* Packs a position map {trip, lat, lon, ts, spd?, hdg?} of lt's last position. */
void tracker_pack_pos(msgpack_packer *pk, const struct live_trip *lt);
