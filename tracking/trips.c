/* trip.*: starting and ending trips, GPS ingest, subscriptions, the caller's trips and a trip's
 * stored track (see trips.h). The live state is the tracker's (tracker_of(op)); trip.pos, sent by
 * every bus every second, reads its checked arguments and answers from memory alone. */
#include "tracking/trips.h"

#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/log.h"
#include "core/op_db.h"
#include "core/op_pack.h"
#include "tracking/access.h"
#include "tracking/gps.h"
#include "tracking/tracker.h"
#include "tracking/tracker_internal.h"

#define HISTORY_MAX_POINTS 100000

static const struct op_arg trip_arg[] = {
    { .name = "trip", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

/* Answers for a trip tracker_load did not return. With status DBPOOL_OK the database says it
 * is not active: answered with code (0: treated as a failed load). Otherwise the load failed:
 * unavailable, whatever the cause, so that the client tries again. */
static void fail_not_loaded(struct op_ctx *op, int status, enum op_err code, const char *field,
                            const char *message)
{
    if (status == DBPOOL_OK && code) {
        op_fail(op, code, message, field);
    } else {
        op_fail_db_status(op, DBPOOL_E_UNAVAILABLE, NULL);
    }
}

/* --- trip.start --- */

static void started(void *arg, struct live_trip *lt, int status)
{
    struct op_ctx *op = arg;
    if (!lt) {
        /* The trip was created; a later subscribe or position loads it. */
        log_event(LOG_WARN, "trip", "new trip not loaded", "status=%d", status);
        fail_not_loaded(op, status, 0, NULL, NULL);
        return;
    }
    struct tracker *t = tracker_of(op); /* not NULL: lt was found in it */
    t->trips_started++;
    struct envelope_writer w;
    envelope_begin_event(&w, "trip.started");
    op_pack_fields(&w.pk, (struct op_field[]){ op_f_i64("trip", lt->id),
                                               op_f_i64("route", lt->route_id), { 0 } });
    struct msgbuf *m = envelope_finish(&w);
    tracker_push_to_route_parents(t, lt, m);
    msgbuf_unref(m);
    audit_op(op, "trip", lt->id, "ok");
    log_event(LOG_INFO, "trip", "trip started", "trip=%lld route=%lld driver=%lld",
              (long long)lt->id, (long long)lt->route_id, (long long)lt->driver_id);
    op_reply_fields(op, (struct op_field[]){ op_f_i64("trip", lt->id), { 0 } });
}

static int trip_inserted(struct op_ctx *op, const PGresult *res)
{
    tracker_load(tracker_of(op), dbval_get_i64(res, 0, 0), started, op);
    return 0;
}

static const struct op_db_error one_active_trip[] = {
    { .cond = OP_DB_UNIQUE, .constraint = "trips_one_active_per_driver",
      .code = OP_E_CONFLICT, .message = "you already have an active trip: end it first" },
    { .cond = 0 },
};

static int op_trip_start(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "route"));
    op_param_id(op, op->caller.school_id);
    op_param_id(op, op->caller.user_id);
    /* The driver's usual bus, if one is set, is recorded with the trip. */
    return op_sql(op, &(struct op_sql){
        .sql = "INSERT INTO trips (school_id, route_id, driver_id, bus_id)"
               " SELECT $2, r.id, $3, (SELECT b.id FROM buses b WHERE b.school_id = $2"
               "   AND b.driver_id = $3 ORDER BY b.id LIMIT 1)"
               " FROM routes r WHERE r.id = $1 AND r.school_id = $2 RETURNING id",
        .on_rows = trip_inserted, .not_found = "no such route", .not_found_field = "route",
        .errors = one_active_trip });
}

static const struct op_arg start_args[] = {
    { .name = "route", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

/* --- trip.pos --- */

/* The answer to each refused position (docs/tracking.md, "Validation of positions"). */
struct pos_refusal {
    enum op_err code;
    const char *message;
    const char *field;
};

static const struct pos_refusal tracker_refusals[] = {
    [TRACKER_E_NOT_ACTIVE] = { OP_E_NOT_FOUND, "no such active trip", "trip" },
    [TRACKER_E_NOT_DRIVER] = { OP_E_FORBIDDEN, "only the trip's driver sends positions",
                               "trip" },
};

/* The range rules repeat the schema's (same bounds, same answer), which refuses such frames
 * first. GPS_E_TOO_SOON is answered with a retry time instead of a message. */
static const struct pos_refusal gps_refusals[] = {
    [GPS_E_LAT_RANGE] = { OP_E_BAD_REQUEST, "number out of range", "lat" },
    [GPS_E_LON_RANGE] = { OP_E_BAD_REQUEST, "number out of range", "lon" },
    [GPS_E_TS_RANGE] = { OP_E_BAD_REQUEST, "number out of range", "ts" },
    [GPS_E_SPD_RANGE] = { OP_E_BAD_REQUEST, "number out of range", "spd" },
    [GPS_E_HDG_RANGE] = { OP_E_BAD_REQUEST, "number out of range", "hdg" },
    [GPS_E_ACC_RANGE] = { OP_E_BAD_REQUEST, "number out of range", "acc" },
    [GPS_E_FUTURE] = { OP_E_BAD_REQUEST, "ts is in the future", "ts" },
    [GPS_E_STALE] = { OP_E_BAD_REQUEST, "ts is too old", "ts" },
    [GPS_E_TOO_SOON] = { OP_E_RATE_LIMITED, NULL, NULL },
    [GPS_E_OUT_OF_ORDER] = { OP_E_BAD_REQUEST, "ts is not after the previous position", "ts" },
    [GPS_E_TOO_FAST] = { OP_E_BAD_REQUEST, "position implies an impossible speed", "lat" },
};

static void refuse_pos(struct op_ctx *op, const struct pos_refusal *why)
{
    if (why->code == OP_E_RATE_LIMITED) {
        const struct tracker *t = tracker_of(op); /* not NULL: the trip was in it */
        op_fail_rate_limited(op, t->cfg.gps_min_interval_ms / 1000.0);
    } else {
        op_fail(op, why->code, why->message, why->field);
    }
}

static void ingest(struct op_ctx *op, struct live_trip *lt, const struct pos_in *pos)
{
    enum gps_result gps = GPS_OK;
    int r = tracker_ingest(tracker_of(op), lt, &op->caller, pos, op_now_ms(), &gps);
    if (r == 0) {
        op_reply_empty(op);
    } else {
        refuse_pos(op, r == TRACKER_E_GPS ? &gps_refusals[gps] : &tracker_refusals[r]);
    }
}

static void pos_trip_loaded(void *arg, struct live_trip *lt, int status)
{
    struct op_ctx *op = arg;
    if (lt) {
        ingest(op, lt, op->state);
        return;
    }
    const struct pos_refusal *why = &tracker_refusals[TRACKER_E_NOT_ACTIVE];
    struct tracker *t = tracker_of(op);
    if (status == DBPOOL_OK && t) {
        t->refused[REFUSE_NOT_ACTIVE]++;
    }
    fail_not_loaded(op, status, why->code, why->field, why->message);
}

/* The hot path: the router has checked the frame against pos_args, so reading it cannot fail
 * and allocates nothing; a trip in memory answers at once. */
static int op_trip_pos(struct op_ctx *op)
{
    struct pos_in pos = {
        .gps = { .lat = op_get_num(op, "lat", 0), .lon = op_get_num(op, "lon", 0),
                 .ts_ms = op_get_num(op, "ts", 0), .spd = op_get_num(op, "spd", 0),
                 .hdg = op_get_num(op, "hdg", 0), .acc = op_get_num(op, "acc", 0),
                 .has_spd = op_has_arg(op, "spd"), .has_hdg = op_has_arg(op, "hdg"),
                 .has_acc = op_has_arg(op, "acc") },
        /* ts is echoed as sent; op_get_int gives the default for a float (ts is >= 0). */
        .ts_is_float = op_get_int(op, "ts", -1) < 0,
    };
    int64_t trip = op_get_id(op, "trip");
    struct live_trip *lt = tracker_find(tracker_of(op), trip);
    if (lt) {
        ingest(op, lt, &pos);
        return 0;
    }
    /* Not in memory: ended, another school's, or active from before a restart. The frame
     * waits for the load in the request's memory. */
    struct pos_in *waiting = op_alloc(op, sizeof *waiting);
    *waiting = pos;
    op->state = waiting;
    tracker_load(tracker_of(op), trip, pos_trip_loaded, op);
    return 0;
}

/* A frame the router refused (a field missing, not a number or out of range) is counted with
 * the tracker's other refusals. */
static void pos_refused(struct op_ctx *op)
{
    struct tracker *t = tracker_of(op);
    if (t) {
        t->refused[REFUSE_RANGE]++;
    }
}

static const struct op_arg pos_args[] = {
    { .name = "trip", .type = OP_T_ID, .required = OP_REQ },
    { .name = "lat", .type = OP_T_NUM, .required = OP_REQ, .lo = -GPS_LAT_MAX,
      .hi = GPS_LAT_MAX },
    { .name = "lon", .type = OP_T_NUM, .required = OP_REQ, .lo = -GPS_LON_MAX,
      .hi = GPS_LON_MAX },
    { .name = "ts", .type = OP_T_NUM, .required = OP_REQ, .lo = 0, .hi = GPS_TS_MAX },
    { .name = "spd", .type = OP_T_NUM, .lo = 0, .hi = GPS_SPD_MAX },
    { .name = "hdg", .type = OP_T_NUM, .lo = 0, .hi = GPS_HDG_MAX },
    { .name = "acc", .type = OP_T_NUM, .lo = 0, .hi = GPS_ACC_MAX },
    { .name = NULL },
};

/* --- trip.end --- */

/* One row when the trip is the school's: its id, its status, whether this call ended it. */
static int trip_ended(struct op_ctx *op, const PGresult *res)
{
    int64_t trip = dbval_get_i64(res, 0, 0);
    if (!dbval_get_bool(res, 0, 2)) {
        if (strcmp(PQgetvalue(res, 0, 1), "active") != 0) {
            return op_refuse(op, OP_E_CONFLICT, "trip", "the trip has already ended");
        }
        return op_refuse(op, OP_E_FORBIDDEN, "trip", "only the trip's driver or an admin ends it");
    }
    tracker_forget(tracker_of(op), trip, op->caller.role == ROLE_ADMIN ? "admin" : "driver");
    audit_op(op, "trip", trip, "ok");
    op_reply_empty(op);
    return 0;
}

static int op_trip_end(struct op_ctx *op)
{
    bool admin = op->caller.role == ROLE_ADMIN;
    op_param_id(op, op_get_id(op, "trip"));
    op_param_id(op, op->caller.school_id);
    op_param_i64_opt(op, !admin, op->caller.user_id); /* NULL: any driver's trip */
    op_param_str(op, admin ? "admin" : "driver");
    return op_sql(op, &(struct op_sql){
        .sql = "WITH t AS (SELECT id, driver_id, status FROM trips"
               "           WHERE id = $1 AND school_id = $2),"
               " u AS (UPDATE trips SET status = 'ended', ended_at = now(), end_reason = $4"
               "       WHERE id = (SELECT id FROM t WHERE status = 'active'"
               "                   AND ($3::bigint IS NULL OR driver_id = $3))"
               "       RETURNING id)"
               " SELECT t.id, t.status, EXISTS (SELECT 1 FROM u) FROM t",
        .on_rows = trip_ended, .not_found = "no such trip", .not_found_field = "trip" });
}

/* --- trip.subscribe, trip.unsubscribe --- */

static void pack_stops(msgpack_packer *pk, const void *arg)
{
    const struct live_trip *lt = arg;
    msgpack_pack_array(pk, lt->n_stops);
    for (size_t i = 0; i < lt->n_stops; i++) {
        const struct trip_stop *s = &lt->stops[i];
        op_pack_fields(pk, (struct op_field[]){ op_f_i64("id", s->id), op_f_i64("seq", s->seq),
                                                op_f_str("name", s->name),
                                                op_f_f64("lat", s->lat),
                                                op_f_f64("lon", s->lon), { 0 } });
    }
}

/* {id, name, stops: [{id, seq, name, lat, lon}]} */
static void pack_route(msgpack_packer *pk, const void *arg)
{
    const struct live_trip *lt = arg;
    op_pack_fields(pk, (struct op_field[]){ op_f_i64("id", lt->route_id),
                                            op_f_str("name", lt->route_name),
                                            op_f_fn("stops", pack_stops, lt), { 0 } });
}

/* The latest position, or nil. */
static void pack_last(msgpack_packer *pk, const void *arg)
{
    const struct live_trip *lt = arg;
    if (lt->has_pos) {
        tracker_pack_pos(pk, lt);
    } else {
        msgpack_pack_nil(pk);
    }
}

static void subscribe_loaded(void *arg, struct live_trip *lt, int status)
{
    struct op_ctx *op = arg;
    if (!lt) {
        /* Ended between the check and the load. */
        fail_not_loaded(op, status, OP_E_CONFLICT, "trip", "the trip has ended");
        return;
    }
    if (op->peer->closed || op->peer->caller.user_id != op->caller.user_id) {
        /* The connection closed or logged out meanwhile: nothing to subscribe. */
        op_fail(op, OP_E_UNAUTHENTICATED, "log in first", NULL);
        return;
    }
    tracker_subscribe(tracker_of(op), lt, op->peer, op->caller.user_id);
    audit_op(op, "trip", lt->id, "subscribed");
    op_reply_fields(op, (struct op_field[]){ op_f_i64("trip", lt->id),
                                             op_f_str("status", "active"),
                                             op_f_fn("route", pack_route, lt),
                                             op_f_fn("last", pack_last, lt), { 0 } });
}

static int subscribe_checked(struct op_ctx *op, const PGresult *res)
{
    int64_t trip = op_get_id(op, "trip");
    if (policy_answer(res) != POLICY_ALLOW) {
        audit_op(op, "trip", trip, "forbidden");
        return op_refuse(op, OP_E_FORBIDDEN, "trip", "none of your children rides this trip");
    }
    /* Not loaded means not active: subscribe_loaded answers conflict. */
    tracker_load(tracker_of(op), trip, subscribe_loaded, op);
    return 0;
}

static int op_trip_subscribe(struct op_ctx *op)
{
    /* The one check of who may follow a trip, asked once here; positions then flow without
     * touching the database. */
    policy_params(op, op_get_id(op, "trip"));
    return op_sql(op, &(struct op_sql){ .sql = access_sql(ACCESS_FOLLOWS_TRIP),
                                        .on_rows = subscribe_checked,
                                        .not_found = "no such trip", .not_found_field = "trip" });
}

static int op_trip_unsubscribe(struct op_ctx *op)
{
    struct live_trip *lt = tracker_find(tracker_of(op), op_get_id(op, "trip"));
    if (lt) {
        tracker_unsubscribe(lt, op->peer);
    }
    op_reply_empty(op);
    return 0;
}

/* --- trip.mine --- */

/* A nested map from an op_field list: the stop of a child in trip.mine. */
static void pack_field_map(msgpack_packer *pk, const void *arg)
{
    op_pack_fields(pk, arg);
}

/* A parent's children on the trip, from records joined by newlines (the query turns newlines
 * in names into spaces): "id:stop_id:stop_name_bytes:" then the stop's name and the child's
 * name, back to back. The stop's name is length-prefixed because names may hold colons;
 * stop_id is empty for a child assigned without a stop. [{id, name, stop: {id, name} | nil}] */
static void pack_students(struct op_ctx *op, msgpack_packer *pk, const PGresult *res, int row,
                          int col)
{
    const char *s = PQgetvalue(res, row, col);
    size_t n = *s ? 1 : 0;
    for (const char *c = s; *c; c++) {
        n += *c == '\n';
    }
    msgpack_pack_array(pk, n);
    while (*s) {
        const char *end = strchr(s, '\n');
        if (!end) {
            end = s + strlen(s);
        }
        char *p;
        int64_t id = strtoll(s, &p, 10);
        int64_t stop_id = *p == ':' ? strtoll(p + 1, &p, 10) : 0;
        size_t stop_len = *p == ':' ? strtoull(p + 1, &p, 10) : 0;
        const char *stop_name = *p == ':' ? p + 1 : end;
        if (stop_len > (size_t)(end - stop_name)) {
            stop_len = (size_t)(end - stop_name);
        }
        const char *name = stop_name + stop_len;
        struct op_field stop[] = {
            op_f_i64("id", stop_id),
            op_f_str("name", arena_strndup(&op->arena, stop_name, stop_len)),
            { 0 },
        };
        op_pack_fields(pk, (struct op_field[]){
                               op_f_i64("id", id),
                               op_f_str("name", arena_strndup(&op->arena, name,
                                                              (size_t)(end - name))),
                               stop_id > 0 ? op_f_fn("stop", pack_field_map, stop)
                                           : op_f_nil("stop"),
                               { 0 } });
        s = *end ? end + 1 : end;
    }
}

static const struct op_col route_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = 1 },
    { .key = "name", .type = OP_COL_TEXT, .col = 2 },
    { .key = NULL },
};

/* [{trip, route: {id, name}, status}], and a parent's children who ride (students) */
static const struct op_col mine_cols[] = {
    { .key = "trip", .type = OP_COL_I64, .col = 0 },
    { .key = "route", .type = OP_COL_OBJECT, .col = 1, .fields = route_cols },
    { .key = "status", .type = OP_COL_TEXT, .col = 3 },
    { .key = NULL },
};

static const struct op_col parent_mine_cols[] = {
    { .key = "trip", .type = OP_COL_I64, .col = 0 },
    { .key = "route", .type = OP_COL_OBJECT, .col = 1, .fields = route_cols },
    { .key = "status", .type = OP_COL_TEXT, .col = 3 },
    { .key = "students", .type = OP_COL_FN, .col = 4, .fn = pack_students },
    { .key = NULL },
};

static int op_trip_mine(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    op_param_id(op, op->caller.user_id);
    switch (op->caller.role) {
    case ROLE_PARENT:
        return op_sql(op, &(struct op_sql){
            .sql = "SELECT t.id, r.id, r.name, t.status,"
                   "  string_agg(s.id || ':' || coalesce(st.id::text, '') || ':'"
                   "   || octet_length(coalesce(st.name, '')) || ':'"
                   "   || replace(coalesce(st.name, ''), E'\\n', ' ')"
                   "   || replace(s.name, E'\\n', ' '), E'\\n' ORDER BY s.id)"
                   " FROM trips t JOIN routes r ON r.id = t.route_id"
                   " JOIN route_assignments a ON a.route_id = t.route_id"
                   " JOIN guardians g ON g.student_id = a.student_id AND g.user_id = $2"
                   " JOIN students s ON s.id = a.student_id AND s.active"
                   " LEFT JOIN route_stops st ON st.id = a.stop_id"
                   " WHERE t.school_id = $1 AND t.status = 'active'"
                   " GROUP BY t.id, r.id ORDER BY t.id",
            .reply_rows = parent_mine_cols });
    case ROLE_DRIVER:
        return op_sql(op, &(struct op_sql){
            .sql = "SELECT t.id, r.id, r.name, t.status FROM trips t"
                   " JOIN routes r ON r.id = t.route_id"
                   " WHERE t.school_id = $1 AND t.driver_id = $2 AND t.status = 'active'",
            .reply_rows = mine_cols });
    default:
        return op_sql(op, &(struct op_sql){
            .sql = "SELECT t.id, r.id, r.name, t.status FROM trips t"
                   " JOIN routes r ON r.id = t.route_id"
                   " WHERE t.school_id = $1 AND t.status = 'active' AND $2::bigint IS NOT NULL"
                   " ORDER BY t.id",
            .reply_rows = mine_cols });
    }
}

/* --- trip.history --- */

/* The stored points of one trip (rows of kind 1 in res) followed by those still in the
 * tracker's write buffer. */
struct track {
    const PGresult *res;
    const struct tracker *t;
    int64_t trip;
    double last_ts; /* the last stored point's ts, or -1 */
    size_t n_points;
};

static void pack_point(msgpack_packer *pk, double ts, double lat, double lon, bool has_spd,
                       double spd, bool has_hdg, double hdg)
{
    msgpack_pack_array(pk, 5);
    msgpack_pack_double(pk, ts);
    msgpack_pack_double(pk, lat);
    msgpack_pack_double(pk, lon);
    if (has_spd) {
        msgpack_pack_double(pk, spd);
    } else {
        msgpack_pack_nil(pk);
    }
    if (has_hdg) {
        msgpack_pack_double(pk, hdg);
    } else {
        msgpack_pack_nil(pk);
    }
}

/* Positions still in the write buffer (at most a second old) complete the track; ts only
 * grows within a trip, so anything the database already returned is left out. */
static bool buffered(const struct track *tr, const struct pos_row *r)
{
    return r->trip_id == tr->trip && r->ts_ms > tr->last_ts + 0.5;
}

static void pack_points(msgpack_packer *pk, const void *arg)
{
    const struct track *tr = arg;
    const PGresult *res = tr->res;
    msgpack_pack_array(pk, tr->n_points);
    for (int i = 0; i < PQntuples(res); i++) {
        if (dbval_get_i64(res, i, 0) == 0) {
            continue; /* the marker row */
        }
        pack_point(pk, atof(PQgetvalue(res, i, 1)), atof(PQgetvalue(res, i, 2)),
                   atof(PQgetvalue(res, i, 3)), !PQgetisnull(res, i, 4),
                   atof(PQgetvalue(res, i, 4)), !PQgetisnull(res, i, 5),
                   atof(PQgetvalue(res, i, 5)));
    }
    for (size_t i = 0; tr->t && i < tr->t->n_rows; i++) {
        const struct pos_row *r = &tr->t->rows[i];
        if (buffered(tr, r)) {
            pack_point(pk, r->ts_ms, r->lat, r->lon, r->has_spd, r->spd, r->has_hdg, r->hdg);
        }
    }
}

static int reply_history(struct op_ctx *op, const PGresult *res)
{
    struct track tr = { .res = res, .t = tracker_of(op), .trip = op_get_id(op, "trip"),
                        .last_ts = -1 };
    for (int i = 0; i < PQntuples(res); i++) {
        if (dbval_get_i64(res, i, 0) != 0) {
            tr.n_points++;
            tr.last_ts = atof(PQgetvalue(res, i, 1));
        }
    }
    for (size_t i = 0; tr.t && i < tr.t->n_rows; i++) { /* NULL: stopping */
        tr.n_points += buffered(&tr, &tr.t->rows[i]);
    }
    audit_op(op, "trip", tr.trip, "history");
    op_reply_fields(op, (struct op_field[]){ op_f_fn("points", pack_points, &tr), { 0 } });
    return 0;
}

static int op_trip_history(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "trip"));
    op_param_id(op, op->caller.school_id);
    op_param_i64(op, HISTORY_MAX_POINTS);
    /* A marker row (0) says the trip is the caller's school's; the points follow in order.
     * No row at all: not the school's trip. */
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT 0, NULL::float8, NULL::float8, NULL::float8, NULL::real, NULL::real"
               " FROM trips WHERE id = $1 AND school_id = $2"
               " UNION ALL"
               " (SELECT 1, extract(epoch FROM p.ts) * 1000, ST_Y(p.location::geometry),"
               "   ST_X(p.location::geometry), p.spd, p.hdg"
               "  FROM trip_positions p"
               "  WHERE p.trip_id = $1 AND EXISTS (SELECT 1 FROM trips"
               "    WHERE id = $1 AND school_id = $2)"
               "  ORDER BY p.ts LIMIT $3)",
        .on_rows = reply_history, .not_found = "no such trip", .not_found_field = "trip" });
}

const struct op_def trip_ops[] = {
    { .name = "trip.start", .fn = op_trip_start, .roles = ROLE_DRIVER, .args = start_args },
    { .name = "trip.pos", .fn = op_trip_pos, .roles = ROLE_DRIVER, .args = pos_args,
      .bad_args = pos_refused },
    { .name = "trip.end", .fn = op_trip_end, .roles = ROLE_DRIVER | ROLE_ADMIN,
      .args = trip_arg },
    { .name = "trip.subscribe", .fn = op_trip_subscribe, .roles = ROLE_PARENT | ROLE_ADMIN,
      .args = trip_arg },
    { .name = "trip.unsubscribe", .fn = op_trip_unsubscribe, .roles = ROLE_ANY,
      .args = trip_arg },
    { .name = "trip.mine", .fn = op_trip_mine, .roles = ROLE_PARENT | ROLE_DRIVER | ROLE_ADMIN },
    { .name = "trip.history", .fn = op_trip_history, .roles = ROLE_ADMIN, .args = trip_arg },
    { .name = NULL },
};
