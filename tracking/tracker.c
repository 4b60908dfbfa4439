/* Live trips in memory: loading, GPS ingest, fan-out to subscribers, stop events, batched
 * storage of positions and ending idle trips (see tracker.h). */
#include "tracking/tracker.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/envelope.h"
#include "core/log.h"
#include "core/presence.h"
#include "core/xalloc.h"
#include "tracking/geo.h"
#include "tracking/tracker_internal.h"

/* ETAs use at least this speed, so a bus waiting at a light does not report "never". */
#define MIN_ETA_SPEED_MPS 3.0
/* Stored positions are written at least this often, in INSERTs of up to BATCH_MAX rows. */
#define FLUSH_MS 1000
#define BATCH_MAX 5000
/* Positions held for the database while it is down (about 12 MB); beyond that new ones are
 * counted as overflow and not stored. */
#define BUFFER_MAX 200000

static void query_done(struct tracker *t);

/* --- the registry --- */

static size_t slot_of(const struct tracker *t, int64_t id)
{
    return (size_t)(((uint64_t)id * 11400714819323198485ull) >> 32) & (t->n_slots - 1);
}

struct live_trip *tracker_find(struct tracker *t, int64_t trip_id)
{
    if (!t) {
        return NULL;
    }
    for (struct live_trip *lt = t->slots[slot_of(t, trip_id)]; lt; lt = lt->next) {
        if (lt->id == trip_id) {
            return lt;
        }
    }
    return NULL;
}

static void trip_free(struct live_trip *lt)
{
    for (size_t i = 0; i < lt->n_subs; i++) {
        lt->subs[i].peer->n_listeners--;
        peer_unref(lt->subs[i].peer);
    }
    for (size_t i = 0; i < lt->n_stops; i++) {
        free(lt->stops[i].name);
        free(lt->stops[i].parents);
    }
    msgbuf_unref(lt->last);
    free(lt->subs);
    free(lt->stops);
    free(lt->parents);
    free(lt->route_name);
    free(lt);
}

static void insert(struct tracker *t, struct live_trip *lt)
{
    struct live_trip **s = &t->slots[slot_of(t, lt->id)];
    lt->next = *s;
    *s = lt;
    t->n_trips++;
}

static struct live_trip *detach(struct tracker *t, int64_t trip_id)
{
    for (struct live_trip **p = &t->slots[slot_of(t, trip_id)]; *p; p = &(*p)->next) {
        if ((*p)->id == trip_id) {
            struct live_trip *lt = *p;
            *p = lt->next;
            t->n_trips--;
            return lt;
        }
    }
    return NULL;
}

/* --- loading a trip from the database --- */

/* One round trip: the active trip, its stops with the parents boarding at each, and every
 * parent of the route's riders, as rows of two kinds ($1 = trip id). */
static const char load_sql[] =
    "WITH tr AS (SELECT t.id, t.school_id, t.route_id, t.driver_id, r.name"
    "  FROM trips t JOIN routes r ON r.id = t.route_id"
    "  WHERE t.id = $1 AND t.status = 'active')"
    " SELECT 'trip', tr.school_id, tr.route_id, tr.driver_id, tr.name,"
    "  NULL::float8, NULL::float8,"
    "  (SELECT string_agg(DISTINCT g.user_id::text, ',')"
    "   FROM route_assignments a JOIN guardians g ON g.student_id = a.student_id"
    "   JOIN students st ON st.id = a.student_id AND st.active"
    "   WHERE a.route_id = tr.route_id)"
    " FROM tr"
    " UNION ALL"
    " SELECT 'stop', s.id, s.seq, NULL, s.name,"
    "  ST_Y(s.location::geometry), ST_X(s.location::geometry),"
    "  (SELECT string_agg(DISTINCT g.user_id::text, ',')"
    "   FROM route_assignments a JOIN guardians g ON g.student_id = a.student_id"
    "   JOIN students st ON st.id = a.student_id AND st.active"
    "   WHERE a.stop_id = s.id)"
    " FROM route_stops s JOIN tr ON s.route_id = tr.route_id";


/* "1,2,3" -> ids */
static int64_t *parse_ids(const char *s, size_t *n)
{
    *n = 0;
    if (!s || !*s) {
        return NULL;
    }
    size_t cap = 1;
    for (const char *c = s; *c; c++) {
        cap += *c == ',';
    }
    int64_t *ids = xmalloc(cap * sizeof *ids);
    for (const char *c = s; *c;) {
        char *end;
        ids[(*n)++] = strtoll(c, &end, 10);
        c = *end == ',' ? end + 1 : end;
        if (end == c && *c) {
            break;
        }
    }
    return ids;
}

static int by_seq(const void *a, const void *b)
{
    const struct trip_stop *x = a, *y = b;
    return (x->seq > y->seq) - (x->seq < y->seq);
}

static struct live_trip *build_trip(int64_t trip_id, const PGresult *res)
{
    int rows = PQntuples(res);
    struct live_trip *lt = NULL;
    size_t n_stops = 0;
    for (int i = 0; i < rows; i++) {
        n_stops += strcmp(PQgetvalue(res, i, 0), "stop") == 0;
    }
    for (int i = 0; i < rows; i++) {
        if (strcmp(PQgetvalue(res, i, 0), "trip") == 0) {
            lt = xcalloc(1, sizeof *lt);
            lt->id = trip_id;
            lt->school_id = dbval_get_i64(res, i, 1);
            lt->route_id = dbval_get_i64(res, i, 2);
            lt->driver_id = dbval_get_i64(res, i, 3);
            lt->route_name = xstrdup(PQgetvalue(res, i, 4));
            lt->parents = parse_ids(dbval_get_text(res, i, 7), &lt->n_parents);
            lt->stops = xcalloc(n_stops ? n_stops : 1, sizeof *lt->stops);
        }
    }
    if (!lt) {
        return NULL;
    }
    for (int i = 0; i < rows; i++) {
        if (strcmp(PQgetvalue(res, i, 0), "stop") != 0) {
            continue;
        }
        struct trip_stop *s = &lt->stops[lt->n_stops++];
        s->id = dbval_get_i64(res, i, 1);
        s->seq = (int)dbval_get_i64(res, i, 2);
        s->name = xstrdup(PQgetvalue(res, i, 4));
        s->lat = atof(PQgetvalue(res, i, 5));
        s->lon = atof(PQgetvalue(res, i, 6));
        s->parents = parse_ids(dbval_get_text(res, i, 7), &s->n_parents);
    }
    qsort(lt->stops, lt->n_stops, sizeof *lt->stops, by_seq);
    for (size_t i = 1; i < lt->n_stops; i++) {
        lt->stops[i].along_m = lt->stops[i - 1].along_m +
                               geo_distance_m(lt->stops[i - 1].lat, lt->stops[i - 1].lon,
                                              lt->stops[i].lat, lt->stops[i].lon);
    }
    lt->rx_ms = op_now_ms();
    return lt;
}

struct tracker_load_waiter {
    tracker_load_fn *cb;
    void *arg;
};

struct load_ctx {
    struct tracker *t;
    int64_t trip_id;
};

static struct pending_load **find_pending(struct tracker *t, int64_t trip_id)
{
    struct pending_load **p = &t->loading;
    while (*p && (*p)->trip_id != trip_id) {
        p = &(*p)->next;
    }
    return p;
}

static void add_waiter(struct pending_load *pl, tracker_load_fn *cb, void *arg)
{
    if (pl->n_waiters == pl->cap_waiters) {
        pl->cap_waiters = pl->cap_waiters ? pl->cap_waiters * 2 : 4;
        pl->waiters = xrealloc(pl->waiters, pl->cap_waiters * sizeof *pl->waiters);
    }
    pl->waiters[pl->n_waiters++] = (struct tracker_load_waiter){ .cb = cb, .arg = arg };
}

static void on_loaded(void *arg, int status, const PGresult *res)
{
    struct load_ctx *lc = arg;
    struct tracker *t = lc->t;
    struct pending_load **pp = find_pending(t, lc->trip_id);
    struct pending_load *pl = *pp;
    *pp = pl->next;
    struct live_trip *lt = NULL;
    if (status == DBPOOL_OK) {
        lt = build_trip(lc->trip_id, res);
        if (lt) {
            insert(t, lt);
        }
    }
    /* In arrival order, so positions that queued up during the load keep their order. Each
     * callback may end the trip; look it up again for the next one. */
    for (size_t i = 0; i < pl->n_waiters; i++) {
        struct live_trip *now = lt ? tracker_find(t, lc->trip_id) : NULL;
        pl->waiters[i].cb(pl->waiters[i].arg, now, status);
    }
    free(pl->waiters);
    free(pl);
    free(lc);
    query_done(t);
}

void tracker_load(struct tracker *t, int64_t trip_id, tracker_load_fn *cb, void *arg)
{
    if (!t) {
        cb(arg, NULL, DBPOOL_E_CANCELLED); /* closed: the server is stopping */
        return;
    }
    struct live_trip *lt = tracker_find(t, trip_id);
    if (lt) {
        cb(arg, lt, DBPOOL_OK);
        return;
    }
    struct pending_load **pp = find_pending(t, trip_id);
    if (*pp) {
        add_waiter(*pp, cb, arg);
        return;
    }
    char id[24];
    const char *params[] = { dbval_i64(trip_id, id) };
    struct load_ctx *lc = xcalloc(1, sizeof *lc);
    lc->t = t;
    lc->trip_id = trip_id;
    if (dbpool_query(t->db, load_sql, 1, params, on_loaded, lc) != 0) {
        free(lc);
        cb(arg, NULL, DBPOOL_E_UNAVAILABLE);
        return;
    }
    t->queries++;
    struct pending_load *pl = xcalloc(1, sizeof *pl);
    pl->trip_id = trip_id;
    pl->next = t->loading;
    t->loading = pl;
    add_waiter(pl, cb, arg);
}

/* --- subscriptions --- */

void tracker_subscribe(struct tracker *t, struct live_trip *lt, struct peer *p, int64_t user)
{
    (void)t;
    for (size_t i = 0; i < lt->n_subs; i++) {
        if (lt->subs[i].peer == p) {
            return;
        }
    }
    if (lt->n_subs == lt->cap_subs) {
        lt->cap_subs = lt->cap_subs ? lt->cap_subs * 2 : 8;
        lt->subs = xrealloc(lt->subs, lt->cap_subs * sizeof *lt->subs);
    }
    lt->subs[lt->n_subs++] = (struct trip_sub){ .peer = peer_ref(p), .user_id = user };
    p->n_listeners++;
}

static void remove_sub(struct live_trip *lt, size_t i)
{
    lt->subs[i].peer->n_listeners--;
    peer_unref(lt->subs[i].peer);
    lt->subs[i] = lt->subs[--lt->n_subs];
}

bool tracker_unsubscribe(struct live_trip *lt, struct peer *p)
{
    for (size_t i = 0; i < lt->n_subs; i++) {
        if (lt->subs[i].peer == p) {
            remove_sub(lt, i);
            return true;
        }
    }
    return false;
}

void tracker_peer_gone(struct tracker *t, struct peer *p)
{
    if (!t || p->n_listeners == 0) {
        return;
    }
    for (size_t s = 0; s < t->n_slots && p->n_listeners; s++) {
        for (struct live_trip *lt = t->slots[s]; lt; lt = lt->next) {
            tracker_unsubscribe(lt, p);
        }
    }
}

static struct msgbuf *simple_event(const char *ev, int64_t trip_id)
{
    struct envelope_writer w;
    envelope_begin_event(&w, ev);
    msgpack_pack_map(&w.pk, 1);
    envelope_pack_key(&w.pk, "trip");
    msgpack_pack_int64(&w.pk, trip_id);
    return envelope_finish(&w);
}

struct recheck {
    struct tracker *t;
    int64_t user_id;
};

static void on_rechecked(void *arg, int status, const PGresult *res)
{
    struct recheck *rc = arg;
    struct tracker *t = rc->t;
    if (status != DBPOOL_OK) {
        /* Safer to end the subscriptions than to keep ones we could not confirm. */
        log_event(LOG_WARN, "tracker", "subscription re-check failed, ending them",
                  "user=%lld", (long long)rc->user_id);
    }
    size_t n_allowed = status == DBPOOL_OK ? (size_t)PQntuples(res) : 0;
    for (size_t s = 0; s < t->n_slots; s++) {
        for (struct live_trip *lt = t->slots[s]; lt; lt = lt->next) {
            bool allowed = false;
            for (size_t k = 0; k < n_allowed; k++) {
                allowed |= dbval_get_i64(res, (int)k, 0) == lt->id;
            }
            for (size_t i = 0; !allowed && i < lt->n_subs;) {
                if (lt->subs[i].user_id == rc->user_id) {
                    struct msgbuf *m = simple_event("trip.unsubscribed", lt->id);
                    peer_send(lt->subs[i].peer, m);
                    msgbuf_unref(m);
                    remove_sub(lt, i);
                } else {
                    i++;
                }
            }
        }
    }
    free(rc);
    query_done(t);
}

void tracker_recheck_user(struct tracker *t, int64_t school_id, int64_t user_id)
{
    if (!t) {
        return;
    }
    struct recheck *rc = xcalloc(1, sizeof *rc);
    rc->t = t;
    rc->user_id = user_id;
    char user[24], school[24];
    const char *params[] = { dbval_i64(user_id, user), dbval_i64(school_id, school) };
    /* The active trips the user may still follow: as a parent of a rider, or as an admin. */
    int r = dbpool_query(t->db,
                         "SELECT t.id FROM trips t JOIN users u ON u.id = $1"
                         " WHERE t.status = 'active' AND t.school_id = $2 AND u.active"
                         "   AND u.school_id = $2 AND (u.role = 'admin' OR EXISTS ("
                         "     SELECT 1 FROM route_assignments a JOIN guardians g"
                         "       ON g.student_id = a.student_id"
                         "     JOIN students st ON st.id = a.student_id AND st.active"
                         "     WHERE a.route_id = t.route_id AND g.user_id = $1))",
                         2, params, on_rechecked, rc);
    t->queries++;
    if (r != 0) {
        on_rechecked(rc, DBPOOL_E_UNAVAILABLE, NULL);
    }
}

struct route_reload {
    struct tracker *t;
    int64_t trip_id;
};

static void on_route_reloaded(void *arg, int status, const PGresult *res)
{
    struct route_reload *rr = arg;
    struct tracker *t = rr->t;
    struct live_trip *old = tracker_find(t, rr->trip_id);
    struct live_trip *fresh = status == DBPOOL_OK && old ? build_trip(rr->trip_id, res) : NULL;
    if (old && fresh) {
        /* Keep what the running trip has learnt; take the new stops and riders. */
        for (size_t i = 0; i < fresh->n_stops; i++) {
            for (size_t j = 0; j < old->n_stops; j++) {
                if (old->stops[j].id == fresh->stops[i].id) {
                    fresh->stops[i].approached = old->stops[j].approached;
                    fresh->stops[i].arrived = old->stops[j].arrived;
                }
            }
        }
        struct trip_stop *stops = old->stops;
        size_t n_stops = old->n_stops;
        int64_t *parents = old->parents;
        old->stops = fresh->stops;
        old->n_stops = fresh->n_stops;
        old->parents = fresh->parents;
        old->n_parents = fresh->n_parents;
        fresh->stops = stops;
        fresh->n_stops = n_stops;
        fresh->parents = parents;
    }
    if (fresh) {
        trip_free(fresh);
    }
    free(rr);
    query_done(t);
}

void tracker_route_changed(struct tracker *t, int64_t route_id)
{
    if (!t) {
        return;
    }
    for (size_t s = 0; s < t->n_slots; s++) {
        for (struct live_trip *lt = t->slots[s]; lt; lt = lt->next) {
            if (lt->route_id != route_id) {
                continue;
            }
            /* The loader's query reads the trip's current stops and riders. */
            struct route_reload *rr = xcalloc(1, sizeof *rr);
            rr->t = t;
            rr->trip_id = lt->id;
            char id[24];
            const char *params[] = { dbval_i64(lt->id, id) };
            if (dbpool_query(t->db, load_sql, 1, params, on_route_reloaded, rr) != 0) {
                free(rr);
            } else {
                t->queries++;
            }
        }
    }
}

/* --- pushing events --- */

static void send_to_peer(struct peer *p, void *arg)
{
    peer_send(p, arg);
}

void tracker_push_to_route_parents(struct tracker *t, struct live_trip *lt, struct msgbuf *m)
{
    for (size_t i = 0; i < lt->n_parents; i++) {
        presence_each(t->presence, lt->parents[i], send_to_peer, m);
    }
}

void tracker_forget(struct tracker *t, int64_t trip_id, const char *reason)
{
    struct live_trip *lt = t ? detach(t, trip_id) : NULL;
    if (!lt) {
        return;
    }
    struct envelope_writer w;
    envelope_begin_event(&w, "trip.ended");
    msgpack_pack_map(&w.pk, 2);
    envelope_pack_key(&w.pk, "trip");
    msgpack_pack_int64(&w.pk, trip_id);
    envelope_pack_key(&w.pk, "reason");
    envelope_pack_str(&w.pk, reason);
    struct msgbuf *m = envelope_finish(&w);
    for (size_t i = 0; i < lt->n_subs; i++) {
        peer_send(lt->subs[i].peer, m);
    }
    msgbuf_unref(m);
    log_event(LOG_INFO, "tracker", "trip ended", "trip=%lld reason=%s subscribers=%zu",
              (long long)trip_id, reason, lt->n_subs);
    trip_free(lt);
}

void tracker_pack_pos(msgpack_packer *pk, const struct live_trip *lt)
{
    msgpack_pack_map(pk, 4 + lt->has_spd + lt->has_hdg);
    envelope_pack_key(pk, "trip");
    msgpack_pack_int64(pk, lt->id);
    envelope_pack_key(pk, "lat");
    msgpack_pack_double(pk, lt->lat);
    envelope_pack_key(pk, "lon");
    msgpack_pack_double(pk, lt->lon);
    envelope_pack_key(pk, "ts");
    if (lt->ts_is_float) {
        msgpack_pack_double(pk, lt->ts_ms);
    } else {
        msgpack_pack_uint64(pk, (uint64_t)lt->ts_ms);
    }
    if (lt->has_spd) {
        envelope_pack_key(pk, "spd");
        msgpack_pack_double(pk, lt->spd);
    }
    if (lt->has_hdg) {
        envelope_pack_key(pk, "hdg");
        msgpack_pack_double(pk, lt->hdg);
    }
}

/* --- stop events --- */

static void push_stop_event(struct tracker *t, struct live_trip *lt, struct trip_stop *s,
                            const char *ev, int eta_s)
{
    struct envelope_writer w;
    envelope_begin_event(&w, ev);
    msgpack_pack_map(&w.pk, eta_s >= 0 ? 3 : 2);
    envelope_pack_key(&w.pk, "trip");
    msgpack_pack_int64(&w.pk, lt->id);
    envelope_pack_key(&w.pk, "stop");
    msgpack_pack_int64(&w.pk, s->id);
    if (eta_s >= 0) {
        envelope_pack_key(&w.pk, "eta_s");
        msgpack_pack_int(&w.pk, eta_s);
    }
    struct msgbuf *m = envelope_finish(&w);
    for (size_t i = 0; i < s->n_parents; i++) {
        presence_each(t->presence, s->parents[i], send_to_peer, m);
    }
    msgbuf_unref(m);
    t->stop_events++;
}

/* After a new position: arrival within the radius, and "approaching" once the ETA along the
 * route (distance to the next stop not yet reached, then stop to stop) drops to approach_s.
 * Each fires once per stop and trip. */
static void check_stops(struct tracker *t, struct live_trip *lt)
{
    size_t next = 0;
    while (next < lt->n_stops && lt->stops[next].arrived) {
        next++;
    }
    for (size_t i = next; i < lt->n_stops; i++) {
        struct trip_stop *s = &lt->stops[i];
        double direct = geo_distance_m(lt->lat, lt->lon, s->lat, s->lon);
        if (!s->arrived && direct <= t->cfg.stop_radius_m) {
            /* Stops passed without a fix inside their radius count as passed, not arrived. */
            for (size_t j = next; j < i; j++) {
                lt->stops[j].arrived = lt->stops[j].approached = true;
            }
            if (!s->approached) {
                s->approached = true;
                push_stop_event(t, lt, s, "trip.stop.approaching", 0);
            }
            s->arrived = true;
            push_stop_event(t, lt, s, "trip.stop.arrived", -1);
            continue;
        }
        if (s->approached || s->arrived) {
            continue;
        }
        double to_next = geo_distance_m(lt->lat, lt->lon, lt->stops[next].lat,
                                        lt->stops[next].lon);
        double along = to_next + (s->along_m - lt->stops[next].along_m);
        double speed = lt->speed_mps > MIN_ETA_SPEED_MPS ? lt->speed_mps : MIN_ETA_SPEED_MPS;
        double eta = along / speed;
        if (eta <= t->cfg.stop_approach_s) {
            s->approached = true;
            push_stop_event(t, lt, s, "trip.stop.approaching", (int)lround(eta));
        }
    }
}

/* --- ingest and fan-out --- */

/* The /metrics reason each broken rule is counted under. */
static const enum refusal gps_refusals[] = {
    [GPS_E_LAT_RANGE] = REFUSE_RANGE,   [GPS_E_LON_RANGE] = REFUSE_RANGE,
    [GPS_E_TS_RANGE] = REFUSE_RANGE,    [GPS_E_SPD_RANGE] = REFUSE_RANGE,
    [GPS_E_HDG_RANGE] = REFUSE_RANGE,   [GPS_E_ACC_RANGE] = REFUSE_RANGE,
    [GPS_E_FUTURE] = REFUSE_FUTURE,     [GPS_E_STALE] = REFUSE_TOO_OLD,
    [GPS_E_TOO_SOON] = REFUSE_RATE,     [GPS_E_OUT_OF_ORDER] = REFUSE_ORDER,
    [GPS_E_TOO_FAST] = REFUSE_SPEED,
};

int tracker_ingest(struct tracker *t, struct live_trip *lt, const struct caller *who,
                   const struct pos_in *pos, uint64_t now_ms, enum gps_result *gps)
{
    if (lt->school_id != who->school_id) {
        t->refused[REFUSE_NOT_ACTIVE]++;
        return TRACKER_E_NOT_ACTIVE;
    }
    if (lt->driver_id != who->user_id) {
        t->refused[REFUSE_NOT_DRIVER]++;
        return TRACKER_E_NOT_DRIVER;
    }
    const struct gps_frame *f = &pos->gps;
    struct gps_fix prev = { .lat = lt->lat, .lon = lt->lon, .ts_ms = lt->ts_ms,
                            .rx_ms = lt->rx_ms };
    double implied_mps = 0;
    *gps = gps_check(f, lt->has_pos ? &prev : NULL, &t->cfg, now_ms, &implied_mps);
    if (*gps != GPS_OK) {
        t->refused[gps_refusals[*gps]]++;
        return TRACKER_E_GPS;
    }
    /* Accepted: remember it, encode it once, queue it to every subscriber. */
    double speed = f->has_spd ? f->spd : implied_mps;
    lt->speed_mps = lt->has_pos ? 0.7 * lt->speed_mps + 0.3 * speed : speed;
    lt->has_pos = true;
    lt->lat = f->lat;
    lt->lon = f->lon;
    lt->ts_ms = f->ts_ms;
    lt->ts_is_float = pos->ts_is_float;
    lt->spd = f->spd;
    lt->hdg = f->hdg;
    lt->has_spd = f->has_spd;
    lt->has_hdg = f->has_hdg;
    lt->rx_ms = now_ms;
    t->frames_accepted++;

    struct envelope_writer w;
    envelope_begin_event(&w, "trip.pos");
    tracker_pack_pos(&w.pk, lt);
    struct msgbuf *m = envelope_finish(&w);
    for (size_t i = 0; i < lt->n_subs;) {
        struct peer *p = lt->subs[i].peer;
        if (p->closed) {
            remove_sub(lt, i);
            continue;
        }
        /* Latest wins: a subscriber that has not taken the previous position yet gets this
         * one instead, so a slow phone costs one slot per trip, never a growing queue. */
        if (peer_send_latest(p, m, (uint64_t)lt->id) == 0) {
            t->deliveries++;
        }
        i++;
    }
    msgbuf_unref(lt->last);
    lt->last = m;

    if (t->n_rows >= BUFFER_MAX) {
        t->positions_overflow++;
        if (t->positions_overflow == 1 || t->positions_overflow % 10000 == 0) {
            log_event(LOG_ERROR, "tracker", "position buffer full, positions not stored",
                      "overflow=%llu", (unsigned long long)t->positions_overflow);
        }
    } else {
        if (t->n_rows == t->cap_rows) {
            t->cap_rows = t->cap_rows ? t->cap_rows * 2 : 1024;
            t->rows = xrealloc(t->rows, t->cap_rows * sizeof *t->rows);
        }
        t->rows[t->n_rows++] = (struct pos_row){
            .trip_id = lt->id, .ts_ms = f->ts_ms, .lat = f->lat, .lon = f->lon,
            .spd = f->spd, .hdg = f->hdg, .acc = f->acc, .has_spd = f->has_spd,
            .has_hdg = f->has_hdg, .has_acc = f->has_acc,
        };
    }
    if (lt->n_stops) {
        check_stops(t, lt);
    }
    return 0;
}

/* --- storage --- */

static void flush(struct tracker *t);
static void finish_close(struct tracker *t);

static void array_f64(struct strbuf *sb, double v, bool present, bool first)
{
    if (!first) {
        strbuf_append(sb, ",", 1);
    }
    if (present) {
        strbuf_printf(sb, "%.17g", v);
    } else {
        strbuf_append(sb, "NULL", 4);
    }
}

static void on_flushed(void *arg, int status, const PGresult *res)
{
    struct tracker *t = arg;
    size_t n = t->in_flight;
    t->in_flight = 0;
    if (status == DBPOOL_OK || status == DBPOOL_E_QUERY) {
        if (status == DBPOOL_OK) {
            t->positions_stored += n;
        } else {
            const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
            log_event(LOG_ERROR, "tracker", "position batch refused", "rows=%zu error=\"%s\"",
                      n, msg ? msg : "-");
            t->positions_failed += n;
        }
        memmove(t->rows, t->rows + n, (t->n_rows - n) * sizeof *t->rows);
        t->n_rows -= n;
    }
    /* Unavailable: the rows stay and the next tick tries again. */
    if (t->closing) {
        if (status == DBPOOL_OK && t->n_rows) {
            flush(t);
        } else {
            finish_close(t);
        }
    } else if (status == DBPOOL_OK && t->n_rows >= BATCH_MAX) {
        flush(t);
    }
}

static void flush(struct tracker *t)
{
    if (t->in_flight || t->n_rows == 0) {
        if (t->closing && !t->in_flight) {
            finish_close(t);
        }
        return;
    }
    size_t n = t->n_rows < BATCH_MAX ? t->n_rows : BATCH_MAX;
    struct strbuf cols[7];
    for (int c = 0; c < 7; c++) {
        strbuf_init(&cols[c]);
        strbuf_append(&cols[c], "{", 1);
    }
    for (size_t i = 0; i < n; i++) {
        const struct pos_row *r = &t->rows[i];
        bool first = i == 0;
        strbuf_printf(&cols[0], "%s%lld", first ? "" : ",", (long long)r->trip_id);
        array_f64(&cols[1], r->ts_ms, true, first);
        array_f64(&cols[2], r->lat, true, first);
        array_f64(&cols[3], r->lon, true, first);
        array_f64(&cols[4], r->spd, r->has_spd, first);
        array_f64(&cols[5], r->hdg, r->has_hdg, first);
        array_f64(&cols[6], r->acc, r->has_acc, first);
    }
    const char *params[7];
    for (int c = 0; c < 7; c++) {
        strbuf_append(&cols[c], "}", 1);
        params[c] = cols[c].data;
    }
    int r = dbpool_query(t->db,
                         "INSERT INTO trip_positions (trip_id, ts, location, spd, hdg, acc)"
                         " SELECT u.trip, to_timestamp(u.ts / 1000.0),"
                         "  ST_SetSRID(ST_MakePoint(u.lon, u.lat), 4326)::geography,"
                         "  u.spd, u.hdg, u.acc"
                         " FROM unnest($1::bigint[], $2::float8[], $3::float8[], $4::float8[],"
                         "  $5::real[], $6::real[], $7::real[])"
                         "  AS u(trip, ts, lat, lon, spd, hdg, acc)",
                         7, params, on_flushed, t);
    for (int c = 0; c < 7; c++) {
        strbuf_deinit(&cols[c]);
    }
    if (r == 0) {
        t->in_flight = n;
    } else if (t->closing) {
        finish_close(t);
    }
}

static void on_flush_tick(uv_timer_t *h)
{
    flush(h->data);
}

/* --- ending idle trips --- */

struct idle_end {
    struct tracker *t;
    int64_t trip_id;
};

static void on_idle_ended(void *arg, int status, const PGresult *res)
{
    struct idle_end *ie = arg;
    struct tracker *t = ie->t;
    (void)res;
    if (status == DBPOOL_OK) {
        t->trips_ended_idle++;
        tracker_forget(t, ie->trip_id, "idle");
    }
    free(ie);
    query_done(t);
}

static void on_idle_tick(uv_timer_t *h)
{
    struct tracker *t = h->data;
    uint64_t now = op_now_ms();
    for (size_t s = 0; s < t->n_slots; s++) {
        for (struct live_trip *lt = t->slots[s]; lt; lt = lt->next) {
            if (now - lt->rx_ms < (uint64_t)t->cfg.trip_idle_s * 1000u) {
                continue;
            }
            /* Push the deadline on so a slow database does not get the same request twice. */
            lt->rx_ms = now;
            struct idle_end *ie = xcalloc(1, sizeof *ie);
            ie->t = t;
            ie->trip_id = lt->id;
            char id[24];
            const char *params[] = { dbval_i64(lt->id, id) };
            if (dbpool_query(t->db,
                             "UPDATE trips SET status = 'ended', ended_at = now(),"
                             " end_reason = 'idle' WHERE id = $1 AND status = 'active'",
                             1, params, on_idle_ended, ie) != 0) {
                free(ie);
            } else {
                t->queries++;
            }
        }
    }
}

/* --- life cycle --- */

static void query_done(struct tracker *t)
{
    t->queries--;
    if (t->closing && t->flush_over && t->queries == 0) {
        finish_close(t);
    }
}

struct tracker *tracker_new(uv_loop_t *loop, struct dbpool *db, struct presence *presence,
                            const struct tracking_config *cfg)
{
    struct tracker *t = xcalloc(1, sizeof *t);
    t->loop = loop;
    t->db = db;
    t->presence = presence;
    t->cfg = *cfg;
    t->n_slots = 1024;
    t->slots = xcalloc(t->n_slots, sizeof *t->slots);
    uv_timer_init(loop, &t->flush_timer);
    uv_timer_init(loop, &t->idle_timer);
    t->flush_timer.data = t->idle_timer.data = t;
    t->open_timers = 2;
    uv_timer_start(&t->flush_timer, on_flush_tick, FLUSH_MS, FLUSH_MS);
    uint64_t idle_check_ms = cfg->trip_idle_s * 1000u / 4;
    if (idle_check_ms > 5000) {
        idle_check_ms = 5000;
    }
    if (idle_check_ms < 100) {
        idle_check_ms = 100;
    }
    uv_timer_start(&t->idle_timer, on_idle_tick, idle_check_ms, idle_check_ms);
    return t;
}

static void on_timer_closed(uv_handle_t *h)
{
    struct tracker *t = h->data;
    if (--t->open_timers > 0) {
        return;
    }
    for (size_t s = 0; s < t->n_slots; s++) {
        for (struct live_trip *lt = t->slots[s], *next; lt; lt = next) {
            next = lt->next;
            trip_free(lt);
        }
    }
    if (t->n_rows) {
        log_event(LOG_WARN, "tracker", "positions not stored at stop", "rows=%zu", t->n_rows);
    }
    free(t->slots);
    free(t->rows);
    void (*done)(void *) = t->done;
    void *arg = t->done_arg;
    free(t);
    if (done) {
        done(arg);
    }
}

/* The last step of closing, once the final flush is over: it waits for any query whose
 * callback still uses the tracker. */
static void finish_close(struct tracker *t)
{
    t->flush_over = true;
    if (t->queries > 0 || uv_is_closing((uv_handle_t *)&t->flush_timer)) {
        return;
    }
    uv_close((uv_handle_t *)&t->flush_timer, on_timer_closed);
    uv_close((uv_handle_t *)&t->idle_timer, on_timer_closed);
}

void tracker_close(struct tracker *t, void (*done)(void *arg), void *arg)
{
    t->closing = true;
    t->done = done;
    t->done_arg = arg;
    uv_timer_stop(&t->flush_timer);
    uv_timer_stop(&t->idle_timer);
    flush(t);
}

void tracker_render_metrics(const struct tracker *t, struct strbuf *out)
{
    static const char *const reasons[REFUSE__COUNT] = {
        [REFUSE_RANGE] = "range",       [REFUSE_FUTURE] = "future",
        [REFUSE_TOO_OLD] = "too_old",   [REFUSE_RATE] = "rate",
        [REFUSE_SPEED] = "speed",       [REFUSE_ORDER] = "order",
        [REFUSE_NOT_DRIVER] = "not_driver", [REFUSE_NOT_ACTIVE] = "not_active",
    };
    size_t subs = 0;
    for (size_t s = 0; s < t->n_slots; s++) {
        for (struct live_trip *lt = t->slots[s]; lt; lt = lt->next) {
            subs += lt->n_subs;
        }
    }
    strbuf_printf(out,
                  "# HELP classment_trips_active Trips held in memory.\n"
                  "# TYPE classment_trips_active gauge\nclassment_trips_active %zu\n"
                  "# HELP classment_trip_subscriptions Live subscriptions to trips.\n"
                  "# TYPE classment_trip_subscriptions gauge\n"
                  "classment_trip_subscriptions %zu\n"
                  "# HELP classment_gps_frames_total GPS frames by outcome.\n"
                  "# TYPE classment_gps_frames_total counter\n"
                  "classment_gps_frames_total{outcome=\"accepted\"} %llu\n",
                  t->n_trips, subs, (unsigned long long)t->frames_accepted);
    for (int r = 0; r < REFUSE__COUNT; r++) {
        strbuf_printf(out, "classment_gps_frames_total{outcome=\"refused\",reason=\"%s\"} %llu\n",
                      reasons[r], (unsigned long long)t->refused[r]);
    }
    strbuf_printf(out,
                  "# HELP classment_position_deliveries_total Positions queued to subscribers.\n"
                  "# TYPE classment_position_deliveries_total counter\n"
                  "classment_position_deliveries_total %llu\n"
                  "# HELP classment_stop_events_total Stop events sent.\n"
                  "# TYPE classment_stop_events_total counter\n"
                  "classment_stop_events_total %llu\n"
                  "# HELP classment_trips_ended_idle_total Trips ended for lack of positions.\n"
                  "# TYPE classment_trips_ended_idle_total counter\n"
                  "classment_trips_ended_idle_total %llu\n"
                  "# HELP classment_positions_total Stored positions by outcome.\n"
                  "# TYPE classment_positions_total counter\n"
                  "classment_positions_total{outcome=\"stored\"} %llu\n"
                  "classment_positions_total{outcome=\"overflow\"} %llu\n"
                  "classment_positions_total{outcome=\"failed\"} %llu\n"
                  "# HELP classment_positions_buffered Positions waiting for the database.\n"
                  "# TYPE classment_positions_buffered gauge\n"
                  "classment_positions_buffered %zu\n",
                  (unsigned long long)t->deliveries, (unsigned long long)t->stop_events,
                  (unsigned long long)t->trips_ended_idle,
                  (unsigned long long)t->positions_stored,
                  (unsigned long long)t->positions_overflow,
                  (unsigned long long)t->positions_failed, t->n_rows);
}
