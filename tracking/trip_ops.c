/* trip.*: starting and ending trips, GPS ingest, subscriptions, the caller's trips and a
 * trip's stored track (see PROTOCOL.md "Live tracking", docs/tracking.md). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/log.h"
#include "core/policy.h"
#include "core/xalloc.h"
#include "tracking/tracker.h"
#include "tracking/tracker_internal.h"

#define UNAVAILABLE "the database is unavailable, try again shortly"
#define HISTORY_MAX_POINTS 100000

/* --- trip.start --- */

static void on_started_loaded(void *arg, struct live_trip *lt, int status)
{
    struct op_ctx *op = arg;
    (void)status;
    if (!lt) {
        /* The trip was created; a later subscribe or position loads it. */
        log_event(LOG_WARN, "trip", "new trip not loaded", "status=%d", status);
        op_fail(op, OP_E_UNAVAILABLE, UNAVAILABLE, NULL);
        return;
    }
    struct tracker *t = op->env->tracker;
    t->trips_started++;
    struct envelope_writer w;
    envelope_begin_event(&w, "trip.started");
    msgpack_pack_map(&w.pk, 2);
    envelope_pack_key(&w.pk, "trip");
    msgpack_pack_int64(&w.pk, lt->id);
    envelope_pack_key(&w.pk, "route");
    msgpack_pack_int64(&w.pk, lt->route_id);
    struct msgbuf *m = envelope_finish(&w);
    tracker_push_to_route_parents(t, lt, m);
    msgbuf_unref(m);
    audit_op(op, "trip", lt->id, "ok");
    log_event(LOG_INFO, "trip", "trip started", "trip=%lld route=%lld driver=%lld",
              (long long)lt->id, (long long)lt->route_id, (long long)lt->driver_id);
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 1);
    envelope_pack_key(pk, "trip");
    msgpack_pack_int64(pk, lt->id);
    op_reply_end(op);
}

static void on_trip_inserted(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (strcmp(dbpool_sqlstate(status, res), "23505") == 0) {
        op_fail(op, OP_E_CONFLICT, "you already have an active trip: end it first", NULL);
        return;
    }
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    if (PQntuples(res) == 0) {
        op_fail(op, OP_E_NOT_FOUND, "no such route", "route");
        return;
    }
    tracker_load(op->env->tracker, dbval_get_i64(res, 0, 0), on_started_loaded, op);
}

static int op_trip_start(struct op_ctx *op)
{
    int64_t route;
    int r = op_arg_id(op, "route", &route);
    if (r) {
        return r;
    }
    char route_s[24], school[24], driver[24];
    const char *params[] = { dbval_i64(route, route_s), dbval_i64(op->caller.school_id, school),
                             dbval_i64(op->caller.user_id, driver) };
    /* The driver's usual bus, if one is set, is recorded with the trip. */
    return op_query(op,
                    "INSERT INTO trips (school_id, route_id, driver_id, bus_id)"
                    " SELECT $2, r.id, $3, (SELECT b.id FROM buses b WHERE b.school_id = $2"
                    "   AND b.driver_id = $3 ORDER BY b.id LIMIT 1)"
                    " FROM routes r WHERE r.id = $1 AND r.school_id = $2 RETURNING id",
                    3, params, on_trip_inserted, op);
}

/* --- trip.pos --- */

/* A position that waits for its trip to be loaded (after a server restart). */
struct pending_pos {
    struct op_ctx *op;
    struct pos_in pos;
};

static void ingest_and_answer(struct op_ctx *op, struct live_trip *lt, const struct pos_in *pos)
{
    const char *why = NULL, *field = NULL;
    int r = tracker_ingest(op->env->tracker, lt, &op->caller, pos, &why, &field);
    if (r == OP_E_RATE_LIMITED) {
        op_fail_rate_limited(op, op->env->tracker->cfg.min_interval_ms / 1000.0);
    } else if (r) {
        op_fail(op, r, why, field);
    } else {
        op_reply_empty(op);
    }
}

static void on_pos_trip_loaded(void *arg, struct live_trip *lt, int status)
{
    struct pending_pos *pp = arg;
    struct op_ctx *op = pp->op;
    if (lt) {
        ingest_and_answer(op, lt, &pp->pos);
    } else if (status == DBPOOL_OK) {
        op->env->tracker->refused[REFUSE_NOT_ACTIVE]++;
        op_fail(op, OP_E_NOT_FOUND, "no such active trip", "trip");
    } else {
        op_fail(op, OP_E_UNAVAILABLE, UNAVAILABLE, NULL);
    }
    free(pp);
}

static int op_trip_pos(struct op_ctx *op)
{
    struct tracker *t = op->env->tracker;
    int64_t trip;
    struct pos_in pos = { 0 };
    int r = op_arg_id(op, "trip", &trip);
    if (r == 0) {
        r = op_arg_f64(op, "lat", -90, 90, &pos.lat);
    }
    if (r == 0) {
        r = op_arg_f64(op, "lon", -180, 180, &pos.lon);
    }
    if (r == 0) {
        r = op_arg_f64(op, "ts", 0, 1e15, &pos.ts_ms);
    }
    if (r == 0) {
        r = op_arg_f64_opt(op, "spd", 0, 200, &pos.spd, &pos.has_spd);
    }
    if (r == 0) {
        r = op_arg_f64_opt(op, "hdg", 0, 360, &pos.hdg, &pos.has_hdg);
    }
    if (r == 0) {
        r = op_arg_f64_opt(op, "acc", 0, 100000, &pos.acc, &pos.has_acc);
    }
    if (r) {
        t->refused[REFUSE_RANGE]++;
        return r;
    }
    const msgpack_object *ts = op_map_get(op->args, "ts");
    pos.ts_is_float = ts->type == MSGPACK_OBJECT_FLOAT32 || ts->type == MSGPACK_OBJECT_FLOAT64;
    struct live_trip *lt = tracker_find(t, trip);
    if (lt) {
        ingest_and_answer(op, lt, &pos);
        return 0;
    }
    /* Not in memory: ended, another school's, or active from before a restart. */
    struct pending_pos *pp = xcalloc(1, sizeof *pp);
    pp->op = op;
    pp->pos = pos;
    tracker_load(t, trip, on_pos_trip_loaded, pp);
    return 0;
}

/* --- trip.end --- */

struct trip_end {
    struct op_ctx *op;
    int64_t trip;
};

static void on_trip_ended(void *arg, int status, const PGresult *res)
{
    struct trip_end *te = arg;
    struct op_ctx *op = te->op;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
    } else if (PQntuples(res) == 0) {
        op_fail(op, OP_E_NOT_FOUND, "no such trip", "trip");
    } else if (!dbval_get_bool(res, 0, 2)) {
        const char *st = PQgetvalue(res, 0, 1);
        if (strcmp(st, "active") != 0) {
            op_fail(op, OP_E_CONFLICT, "the trip has already ended", "trip");
        } else {
            op_fail(op, OP_E_FORBIDDEN, "only the trip's driver or an admin ends it", "trip");
        }
    } else {
        tracker_forget(op->env->tracker, te->trip, op->caller.role == ROLE_ADMIN ? "admin"
                                                                                 : "driver");
        audit_op(op, "trip", te->trip, "ok");
        op_reply_empty(op);
    }
    free(te);
}

static int op_trip_end(struct op_ctx *op)
{
    int64_t trip;
    int r = op_arg_id(op, "trip", &trip);
    if (r) {
        return r;
    }
    struct trip_end *te = xcalloc(1, sizeof *te);
    te->op = op;
    te->trip = trip;
    bool admin = op->caller.role == ROLE_ADMIN;
    char trip_s[24], school[24], driver[24];
    const char *params[] = { dbval_i64(trip, trip_s), dbval_i64(op->caller.school_id, school),
                             admin ? NULL : dbval_i64(op->caller.user_id, driver),
                             admin ? "admin" : "driver" };
    int err = op_query(op,
                       "WITH t AS (SELECT id, driver_id, status FROM trips"
                       "           WHERE id = $1 AND school_id = $2),"
                       " u AS (UPDATE trips SET status = 'ended', ended_at = now(), end_reason = $4"
                       "       WHERE id = (SELECT id FROM t WHERE status = 'active'"
                       "                   AND ($3::bigint IS NULL OR driver_id = $3))"
                       "       RETURNING id)"
                       " SELECT t.id, t.status, EXISTS (SELECT 1 FROM u) FROM t",
                       4, params, on_trip_ended, te);
    if (err) {
        free(te);
    }
    return err;
}

/* --- trip.subscribe, trip.unsubscribe --- */

static void pack_route(msgpack_packer *pk, const struct live_trip *lt)
{
    msgpack_pack_map(pk, 3);
    envelope_pack_key(pk, "id");
    msgpack_pack_int64(pk, lt->route_id);
    envelope_pack_key(pk, "name");
    envelope_pack_str(pk, lt->route_name);
    envelope_pack_key(pk, "stops");
    msgpack_pack_array(pk, lt->n_stops);
    for (size_t i = 0; i < lt->n_stops; i++) {
        const struct trip_stop *s = &lt->stops[i];
        msgpack_pack_map(pk, 5);
        envelope_pack_key(pk, "id");
        msgpack_pack_int64(pk, s->id);
        envelope_pack_key(pk, "seq");
        msgpack_pack_int(pk, s->seq);
        envelope_pack_key(pk, "name");
        envelope_pack_str(pk, s->name);
        envelope_pack_key(pk, "lat");
        msgpack_pack_double(pk, s->lat);
        envelope_pack_key(pk, "lon");
        msgpack_pack_double(pk, s->lon);
    }
}

static void on_subscribe_loaded(void *arg, struct live_trip *lt, int status)
{
    struct op_ctx *op = arg;
    if (!lt) {
        if (status == DBPOOL_OK) {
            /* Ended between the check and the load. */
            op_fail(op, OP_E_CONFLICT, "the trip has ended", "trip");
        } else {
            op_fail(op, OP_E_UNAVAILABLE, UNAVAILABLE, NULL);
        }
        return;
    }
    if (op->peer->closed || op->peer->caller.user_id != op->caller.user_id) {
        /* The connection closed or logged out meanwhile: nothing to subscribe. */
        op_fail(op, OP_E_UNAUTHENTICATED, "log in first", NULL);
        return;
    }
    tracker_subscribe(op->env->tracker, lt, op->peer, op->caller.user_id);
    audit_op(op, "trip", lt->id, "subscribed");
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 4);
    envelope_pack_key(pk, "trip");
    msgpack_pack_int64(pk, lt->id);
    envelope_pack_key(pk, "status");
    envelope_pack_str(pk, "active");
    envelope_pack_key(pk, "route");
    pack_route(pk, lt);
    envelope_pack_key(pk, "last");
    if (lt->has_pos) {
        tracker_pack_pos(pk, lt);
    } else {
        msgpack_pack_nil(pk);
    }
    op_reply_end(op);
}

struct subscribe {
    struct op_ctx *op;
    int64_t trip;
};

static void on_subscribe_checked(void *arg, int status, enum policy_answer answer)
{
    struct subscribe *sc = arg;
    struct op_ctx *op = sc->op;
    int64_t trip = sc->trip;
    free(sc);
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, NULL);
    } else if (answer == POLICY_NOT_FOUND) {
        op_fail(op, OP_E_NOT_FOUND, "no such trip", "trip");
    } else if (answer == POLICY_FORBIDDEN) {
        audit_op(op, "trip", trip, "forbidden");
        op_fail(op, OP_E_FORBIDDEN, "none of your children rides this trip", "trip");
    } else {
        /* Not loaded means not active: on_subscribe_loaded answers conflict. */
        tracker_load(op->env->tracker, trip, on_subscribe_loaded, op);
    }
}

static int op_trip_subscribe(struct op_ctx *op)
{
    int64_t trip;
    int r = op_arg_id(op, "trip", &trip);
    if (r) {
        return r;
    }
    struct subscribe *sc = xcalloc(1, sizeof *sc);
    sc->op = op;
    sc->trip = trip;
    /* The one check of who may follow a trip, asked once here; positions then flow without
     * touching the database. */
    if (policy_ask(op->env->db, &op->caller, POLICY_FOLLOWS_TRIP, trip, on_subscribe_checked,
                   sc) != 0) {
        free(sc);
        op->fail_message = UNAVAILABLE;
        return OP_E_UNAVAILABLE;
    }
    return 0;
}

static int op_trip_unsubscribe(struct op_ctx *op)
{
    int64_t trip;
    int r = op_arg_id(op, "trip", &trip);
    if (r) {
        return r;
    }
    struct live_trip *lt = tracker_find(op->env->tracker, trip);
    if (lt) {
        tracker_unsubscribe(lt, op->peer);
    }
    op_reply_empty(op);
    return 0;
}

/* --- trip.mine --- */

static void on_mine(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    bool parent = op->caller.role == ROLE_PARENT;
    int rows = PQntuples(res);
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_array(pk, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        msgpack_pack_map(pk, parent ? 4 : 3);
        envelope_pack_key(pk, "trip");
        msgpack_pack_int64(pk, dbval_get_i64(res, i, 0));
        envelope_pack_key(pk, "route");
        msgpack_pack_map(pk, 2);
        envelope_pack_key(pk, "id");
        msgpack_pack_int64(pk, dbval_get_i64(res, i, 1));
        envelope_pack_key(pk, "name");
        envelope_pack_str(pk, PQgetvalue(res, i, 2));
        envelope_pack_key(pk, "status");
        envelope_pack_str(pk, PQgetvalue(res, i, 3));
        if (parent) {
            /* "id:name" pairs joined by newlines: names may hold commas. */
            envelope_pack_key(pk, "students");
            const char *s = PQgetvalue(res, i, 4);
            size_t n = *s ? 1 : 0;
            for (const char *c = s; *c; c++) {
                n += *c == '\n';
            }
            msgpack_pack_array(pk, n);
            while (*s) {
                const char *colon = strchr(s, ':');
                const char *end = strchr(s, '\n');
                if (!end) {
                    end = s + strlen(s);
                }
                msgpack_pack_map(pk, 2);
                envelope_pack_key(pk, "id");
                msgpack_pack_int64(pk, strtoll(s, NULL, 10));
                envelope_pack_key(pk, "name");
                const char *name = colon && colon < end ? colon + 1 : end;
                msgpack_pack_str(pk, (size_t)(end - name));
                msgpack_pack_str_body(pk, name, (size_t)(end - name));
                s = *end ? end + 1 : end;
            }
        }
    }
    op_reply_end(op);
}

static int op_trip_mine(struct op_ctx *op)
{
    char school[24], user[24];
    const char *params[] = { dbval_i64(op->caller.school_id, school),
                             dbval_i64(op->caller.user_id, user) };
    const char *sql;
    switch (op->caller.role) {
    case ROLE_PARENT:
        sql = "SELECT t.id, r.id, r.name, t.status,"
              "  string_agg(s.id || ':' || replace(s.name, E'\\n', ' '), E'\\n' ORDER BY s.id)"
              " FROM trips t JOIN routes r ON r.id = t.route_id"
              " JOIN route_assignments a ON a.route_id = t.route_id"
              " JOIN guardians g ON g.student_id = a.student_id AND g.user_id = $2"
              " JOIN students s ON s.id = a.student_id AND s.active"
              " WHERE t.school_id = $1 AND t.status = 'active'"
              " GROUP BY t.id, r.id ORDER BY t.id";
        break;
    case ROLE_DRIVER:
        sql = "SELECT t.id, r.id, r.name, t.status FROM trips t"
              " JOIN routes r ON r.id = t.route_id"
              " WHERE t.school_id = $1 AND t.driver_id = $2 AND t.status = 'active'";
        break;
    default:
        sql = "SELECT t.id, r.id, r.name, t.status FROM trips t"
              " JOIN routes r ON r.id = t.route_id"
              " WHERE t.school_id = $1 AND t.status = 'active' AND $2::bigint IS NOT NULL"
              " ORDER BY t.id";
        break;
    }
    return op_query(op, sql, 2, params, on_mine, op);
}

/* --- trip.history --- */

struct history {
    struct op_ctx *op;
    int64_t trip;
};

static void on_history(void *arg, int status, const PGresult *res)
{
    struct history *h = arg;
    struct op_ctx *op = h->op;
    int64_t trip = h->trip;
    free(h);
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    int rows = PQntuples(res);
    bool exists = false;
    size_t points = 0;
    double last_ts = -1;
    for (int i = 0; i < rows; i++) {
        if (dbval_get_i64(res, i, 0) == 0) {
            exists = true;
        } else {
            points++;
            last_ts = atof(PQgetvalue(res, i, 1));
        }
    }
    if (!exists) {
        op_fail(op, OP_E_NOT_FOUND, "no such trip", "trip");
        return;
    }
    /* Positions still in the write buffer (at most a second old) complete the track; ts only
     * grows within a trip, so anything the database already returned is left out. */
    const struct tracker *t = op->env->tracker;
    size_t buffered = 0;
    for (size_t i = 0; t && i < t->n_rows; i++) {
        buffered += t->rows[i].trip_id == trip && t->rows[i].ts_ms > last_ts + 0.5;
    }
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 1);
    envelope_pack_key(pk, "points");
    msgpack_pack_array(pk, points + buffered);
    for (int i = 0; i < rows; i++) {
        if (dbval_get_i64(res, i, 0) == 0) {
            continue;
        }
        msgpack_pack_array(pk, 5);
        msgpack_pack_double(pk, atof(PQgetvalue(res, i, 1)));
        msgpack_pack_double(pk, atof(PQgetvalue(res, i, 2)));
        msgpack_pack_double(pk, atof(PQgetvalue(res, i, 3)));
        for (int c = 4; c <= 5; c++) {
            if (PQgetisnull(res, i, c)) {
                msgpack_pack_nil(pk);
            } else {
                msgpack_pack_double(pk, atof(PQgetvalue(res, i, c)));
            }
        }
    }
    for (size_t i = 0; buffered && i < t->n_rows; i++) {
        const struct pos_row *r = &t->rows[i];
        if (r->trip_id != trip || r->ts_ms <= last_ts + 0.5) {
            continue;
        }
        msgpack_pack_array(pk, 5);
        msgpack_pack_double(pk, r->ts_ms);
        msgpack_pack_double(pk, r->lat);
        msgpack_pack_double(pk, r->lon);
        if (r->has_spd) {
            msgpack_pack_double(pk, r->spd);
        } else {
            msgpack_pack_nil(pk);
        }
        if (r->has_hdg) {
            msgpack_pack_double(pk, r->hdg);
        } else {
            msgpack_pack_nil(pk);
        }
    }
    audit_op(op, "trip", trip, "history");
    op_reply_end(op);
}

static int op_trip_history(struct op_ctx *op)
{
    int64_t trip;
    int r = op_arg_id(op, "trip", &trip);
    if (r) {
        return r;
    }
    char trip_s[24], school[24], max[24];
    const char *params[] = { dbval_i64(trip, trip_s), dbval_i64(op->caller.school_id, school),
                             dbval_i64(HISTORY_MAX_POINTS, max) };
    struct history *h = xcalloc(1, sizeof *h);
    h->op = op;
    h->trip = trip;
    /* A marker row (0) says the trip is the caller's school's; the points follow in order. */
    int err = op_query(op,
                       "SELECT 0, NULL::float8, NULL::float8, NULL::float8, NULL::real, NULL::real"
                       " FROM trips WHERE id = $1 AND school_id = $2"
                       " UNION ALL"
                       " (SELECT 1, extract(epoch FROM p.ts) * 1000, ST_Y(p.location::geometry),"
                       "   ST_X(p.location::geometry), p.spd, p.hdg"
                       "  FROM trip_positions p"
                       "  WHERE p.trip_id = $1 AND EXISTS (SELECT 1 FROM trips"
                       "    WHERE id = $1 AND school_id = $2)"
                       "  ORDER BY p.ts LIMIT $3)",
                       3, params, on_history, h);
    if (err) {
        free(h);
    }
    return err;
}

const struct op_def trip_ops[] = {
    { .name = "trip.start", .fn = op_trip_start, .roles = ROLE_DRIVER },
    { .name = "trip.pos", .fn = op_trip_pos, .roles = ROLE_DRIVER },
    { .name = "trip.end", .fn = op_trip_end, .roles = ROLE_DRIVER | ROLE_ADMIN },
    { .name = "trip.subscribe", .fn = op_trip_subscribe, .roles = ROLE_PARENT | ROLE_ADMIN },
    { .name = "trip.unsubscribe", .fn = op_trip_unsubscribe, .roles = ROLE_ANY },
    { .name = "trip.mine", .fn = op_trip_mine,
      .roles = ROLE_PARENT | ROLE_DRIVER | ROLE_ADMIN },
    { .name = "trip.history", .fn = op_trip_history, .roles = ROLE_ADMIN },
    { .name = NULL },
};
