/* route.create/get/list/update/delete for a school's admins. Stops are stored as geography
 * points in their order (seq 1..n); a route and its stops are written by one statement, with
 * the stops passed as array parameters. Every query is scoped to the caller's school: another
 * school's ids are simply not found. */
#include "tracking/routes.h"

#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/dbval.h"
#include "core/op_db.h"
#include "core/op_pack.h"
#include "core/op_schema.h"
#include "tracking/tracker.h"

#define NAME_MAX_LEN 100
#define STOPS_MAX 100
#define PATH_MIN_POINTS 2
#define PATH_MAX_POINTS 2000

/* --- Stops and path ---
 * The schema declares stops and path as arrays of at most STOPS_MAX and PATH_MAX_POINTS, and
 * the router checks that every string in them is text (naming it, "stops[3].name").
 * Their elements are checked here, not in the schema: a stop that is not a map has always
 * been answered "must be a map {name, lat, lon}" (the router would say "must be a map"), and
 * a point [lat, lon] has two ranges in one array. */

/* One stop's fields, checked one at a time in this order, so that the first bad one in this
 * order is named whatever the order of the keys sent. */
static const struct op_arg STOP_FIELDS[] = {
    { .name = "name", .type = OP_T_STR, .required = OP_REQ, .max = NAME_MAX_LEN },
    { .name = "lat", .type = OP_T_NUM, .required = OP_REQ, .lo = -90, .hi = 90 },
    { .name = "lon", .type = OP_T_NUM, .required = OP_REQ, .lo = -180, .hi = 180 },
    { .name = NULL },
};

static bool as_number(const msgpack_object *v, double *out)
{
    switch (v->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        *out = v->via.f64;
        return true;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = (double)v->via.u64;
        return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = (double)v->via.i64;
        return true;
    default:
        return false;
    }
}

/* One element of a text[] literal. Inside double quotes only '"' and '\' are special, so
 * escaping those two makes any string safe. */
static char *quoted(struct op_ctx *op, const msgpack_object *s)
{
    char *q = op_alloc(op, 2 * (size_t)s->via.str.size + 3), *p = q;
    *p++ = '"';
    for (uint32_t i = 0; i < s->via.str.size; i++) {
        if (s->via.str.ptr[i] == '"' || s->via.str.ptr[i] == '\\') {
            *p++ = '\\';
        }
        *p++ = s->via.str.ptr[i];
    }
    *p = '"';
    return q;
}

/* open, then the n parts separated by commas, then close: an array literal, or WKT. */
static const char *join(struct op_ctx *op, const char *open, char *const *parts, uint32_t n,
                        const char *close)
{
    size_t len = strlen(open) + n + strlen(close);
    for (uint32_t i = 0; i < n; i++) {
        len += strlen(parts[i]);
    }
    char *s = op_alloc(op, len + 1), *p = stpcpy(s, open);
    for (uint32_t i = 0; i < n; i++) {
        p = stpcpy(i ? stpcpy(p, ",") : p, parts[i]);
    }
    stpcpy(p, close);
    return s;
}

static int check_stop(struct op_ctx *op, uint32_t i, const msgpack_object *stop)
{
    if (stop->type != MSGPACK_OBJECT_MAP) {
        return op_refuse(op, OP_E_BAD_REQUEST, arena_printf(&op->arena, "stops[%u]", i),
                         "must be a map {name, lat, lon}");
    }
    for (const struct op_arg *a = STOP_FIELDS; a->name; a++) {
        const struct op_arg one[] = { *a, { .name = NULL } };
        const char *field, *message;
        if (op_schema_check(one, stop, &op->arena, &field, &message) != 0) {
            return op_refuse(op, OP_E_BAD_REQUEST,
                             arena_printf(&op->arena, "stops[%u].%s", i, field), message);
        }
    }
    return 0;
}

/* Checks stops (1..STOPS_MAX maps {name, lat, lon}) and adds three parameters: the names
 * (text[]), the latitudes and the longitudes (float8[]); three NULLs when stops is absent.
 * %.17g gives back exactly the double that was sent. */
static int param_stops(struct op_ctx *op)
{
    if (!op_has_arg(op, "stops")) {
        op_param_null(op);
        op_param_null(op);
        op_param_null(op);
        return 0;
    }
    const msgpack_object *stops = op_map_get(op->args, "stops");
    uint32_t n = stops->via.array.size;
    if (n == 0) {
        return op_refuse(op, OP_E_BAD_REQUEST, "stops", "must have 1 to 100 stops");
    }
    char **names = op_alloc(op, 3 * n * sizeof *names), **lats = names + n, **lons = lats + n;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *stop = &stops->via.array.ptr[i];
        double lat = 0, lon = 0; /* numbers once checked */
        int r = check_stop(op, i, stop);
        if (r) {
            return r;
        }
        as_number(op_map_get(stop, "lat"), &lat);
        as_number(op_map_get(stop, "lon"), &lon);
        names[i] = quoted(op, op_map_get(stop, "name"));
        lats[i] = arena_printf(&op->arena, "%.17g", lat);
        lons[i] = arena_printf(&op->arena, "%.17g", lon);
    }
    op_param_str(op, join(op, "{", names, n, "}"));
    op_param_str(op, join(op, "{", lats, n, "}"));
    op_param_str(op, join(op, "{", lons, n, "}"));
    return 0;
}

/* Checks path (PATH_MIN_POINTS..PATH_MAX_POINTS points [lat, lon]) and adds it as EWKT, NULL
 * when absent. WKT puts longitude first. */
static int param_path(struct op_ctx *op)
{
    if (!op_has_arg(op, "path")) {
        op_param_null(op);
        return 0;
    }
    const msgpack_object *path = op_map_get(op->args, "path");
    uint32_t n = path->via.array.size;
    if (n < PATH_MIN_POINTS) {
        return op_refuse(op, OP_E_BAD_REQUEST, "path", "must have 2 to 2000 points");
    }
    char **points = op_alloc(op, n * sizeof *points);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *p = &path->via.array.ptr[i];
        double lat, lon;
        /* The range comparisons are false for NaN, so it is refused too. */
        if (p->type != MSGPACK_OBJECT_ARRAY || p->via.array.size != 2 ||
            !as_number(&p->via.array.ptr[0], &lat) || !as_number(&p->via.array.ptr[1], &lon) ||
            !(lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180)) {
            return op_refuse(op, OP_E_BAD_REQUEST, arena_printf(&op->arena, "path[%u]", i),
                             "must be [lat, lon] with lat -90..90 and lon -180..180");
        }
        points[i] = arena_printf(&op->arena, "%.17g %.17g", lon, lat);
    }
    op_param_str(op, join(op, "SRID=4326;LINESTRING(", points, n, ")"));
    return 0;
}

/* A stop as route.create and route.get answer it; both queries put its columns here. */
enum { COL_ID = 1, COL_NAME, COL_SEQ, COL_LAT, COL_LON };

static const struct op_col STOP_COLS[] = {
    { .key = "id", .type = OP_COL_I64, .col = COL_ID },
    { .key = "seq", .type = OP_COL_I64, .col = COL_SEQ },
    { .key = "name", .type = OP_COL_TEXT, .col = COL_NAME },
    { .key = "lat", .type = OP_COL_F64, .col = COL_LAT },
    { .key = "lon", .type = OP_COL_F64, .col = COL_LON },
    { .key = NULL },
};

/* The rows whose seq is set are the stops (in route.get, the others are not). */
static void pack_stops(struct op_ctx *op, msgpack_packer *pk, const PGresult *res, int row,
                       int col)
{
    (void)row, (void)col;
    op_pack_rows(op, pk, res, STOP_COLS, COL_SEQ);
}

/* --- route.create --- */

#define ROUTE_CREATE_SQL                                                                     \
    "WITH r AS (INSERT INTO routes (school_id, name, path)"                                  \
    "           VALUES ($1, $2, ST_GeogFromText($6::text)) RETURNING id),"                   \
    " s AS (INSERT INTO route_stops (route_id, seq, name, location)"                         \
    "       SELECT r.id, t.seq, t.name,"                                                     \
    "              ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326)::geography"                  \
    "       FROM r, unnest($3::text[], $4::float8[], $5::float8[])"                          \
    "            WITH ORDINALITY AS t(name, lat, lon, seq)"                                  \
    "       RETURNING id, seq, name, location)"                                              \
    " SELECT r.id, s.id, s.name, s.seq, ST_Y(s.location::geometry),"                        \
    " ST_X(s.location::geometry) FROM r, s ORDER BY s.seq"

static const struct op_col CREATED_COLS[] = {
    { .key = "id", .type = OP_COL_I64, .col = 0 },
    { .key = "stops", .type = OP_COL_FN, .fn = pack_stops },
    { .key = NULL },
};

static int op_route_create(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    int r = param_stops(op);
    if (r || (r = param_path(op)) != 0) {
        return r;
    }
    return op_sql(op, &(struct op_sql){ .sql = ROUTE_CREATE_SQL, .reply_row = CREATED_COLS,
                                        .audit = "route" });
}

/* --- route.get --- */

/* One query; its first row is the route, then its stops by seq (seq set), its riders by id
 * (rider set) and the points of its path in order (point set). */
enum { COL_STOP = COL_LON + 1, COL_RIDER, COL_POINT };
#define ROUTE_GET_SQL                                                                        \
    "WITH r AS (SELECT id, name, path FROM routes WHERE id = $1 AND school_id = $2)"         \
    " SELECT 0, r.id, r.name, NULL::int, NULL::float8, NULL::float8, NULL::bigint,"          \
    " NULL::bigint, NULL::int FROM r"                                                        \
    " UNION ALL SELECT 1, st.id, st.name, st.seq, ST_Y(st.location::geometry),"              \
    " ST_X(st.location::geometry), NULL, NULL, NULL"                                         \
    " FROM r JOIN route_stops st ON st.route_id = r.id"                                      \
    " UNION ALL SELECT 2, NULL, s.name, NULL, NULL, NULL, ra.stop_id, s.id, NULL"            \
    " FROM r JOIN route_assignments ra ON ra.route_id = r.id"                                \
    " JOIN students s ON s.id = ra.student_id"                                               \
    " UNION ALL SELECT 3, NULL, NULL, NULL, ST_Y(dp.geom), ST_X(dp.geom), NULL, NULL,"       \
    " (dp.path)[1] FROM r, ST_DumpPoints(r.path::geometry) dp"                               \
    " ORDER BY 1, 4, 9, 8"

static const struct op_col RIDER_COLS[] = {
    { .key = "id", .type = OP_COL_I64, .col = COL_RIDER },
    { .key = "name", .type = OP_COL_TEXT, .col = COL_NAME },
    { .key = "stop", .type = OP_COL_I64, .col = COL_STOP },
    { .key = NULL },
};

static void pack_riders(struct op_ctx *op, msgpack_packer *pk, const PGresult *res, int row,
                        int col)
{
    (void)row, (void)col;
    op_pack_rows(op, pk, res, RIDER_COLS, COL_RIDER);
}

/* [[lat, lon], …], or nil for a route without a drawn path. */
static void pack_path(struct op_ctx *op, msgpack_packer *pk, const PGresult *res, int row,
                      int col)
{
    (void)op, (void)row, (void)col;
    size_t n = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        n += !PQgetisnull(res, i, COL_POINT);
    }
    if (n == 0) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_array(pk, n);
    for (int i = 0; i < PQntuples(res); i++) {
        if (!PQgetisnull(res, i, COL_POINT)) {
            msgpack_pack_array(pk, 2);
            msgpack_pack_double(pk, strtod(PQgetvalue(res, i, COL_LAT), NULL));
            msgpack_pack_double(pk, strtod(PQgetvalue(res, i, COL_LON), NULL));
        }
    }
}

static const struct op_col ROUTE_COLS[] = {
    { .key = "id", .type = OP_COL_I64, .col = COL_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = COL_NAME },
    { .key = "stops", .type = OP_COL_FN, .fn = pack_stops },
    { .key = "students", .type = OP_COL_FN, .fn = pack_riders },
    { .key = "path", .type = OP_COL_FN, .fn = pack_path },
    { .key = NULL },
};

static int op_route_get(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){ .sql = ROUTE_GET_SQL, .reply_row = ROUTE_COLS,
                                        .not_found = "no such route", .not_found_field = "id" });
}

/* --- route.list --- */

static const struct op_col LIST_COLS[] = {
    { .key = "id", .type = OP_COL_I64, .col = 0 },
    { .key = "name", .type = OP_COL_TEXT, .col = 1 },
    { .key = "n_stops", .type = OP_COL_I64, .col = 2 },
    { .key = "n_students", .type = OP_COL_I64, .col = 3 },
    { .key = NULL },
};

static int op_route_list(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    op_param_id(op, op_get_id(op, "after"));
    op_param_i64(op, op_get_int(op, "limit", 100));
    return op_sql(op, &(struct op_sql){
                          .sql = "SELECT r.id, r.name,"
                                 " (SELECT count(*) FROM route_stops WHERE route_id = r.id),"
                                 " (SELECT count(*) FROM route_assignments"
                                 "  WHERE route_id = r.id)"
                                 " FROM routes r WHERE r.school_id = $1 AND r.id > $2"
                                 " ORDER BY r.id LIMIT $3",
                          .reply_rows = LIST_COLS });
}

/* --- route.update --- */

/* Replacing the stops deletes the old ones (riders keep the route, their stop becomes
 * NULL through the foreign key) and inserts the new ones with seq 1..n. The insert waits
 * for the delete through its WHERE, so the old (route, seq) pairs are gone first. A live
 * trip follows the stops it loaded, so they may not change under it. One row: found, has an
 * active trip, updated, the id, how many stops went in. */
enum { UPD_FOUND, UPD_BUSY, UPD_DONE, UPD_ID };
#define ROUTE_UPDATE_SQL                                                                     \
    "WITH r AS (SELECT id FROM routes WHERE id = $1 AND school_id = $2"                      \
    "           FOR UPDATE),"                                                                \
    " busy AS (SELECT EXISTS (SELECT 1 FROM trips WHERE route_id = $1"                       \
    "          AND status = 'active') AS b),"                                                \
    " up AS (UPDATE routes SET name = coalesce($3, name),"                                   \
    "        path = CASE WHEN $7::text IS NULL THEN path"                                    \
    "               ELSE ST_GeogFromText($7::text) END,"                                     \
    "        updated_at = now()"                                                             \
    "        WHERE id IN (SELECT id FROM r)"                                                 \
    "        AND ($4::text[] IS NULL OR NOT (SELECT b FROM busy)) RETURNING id),"            \
    " del AS (DELETE FROM route_stops WHERE $4::text[] IS NOT NULL"                          \
    "         AND route_id IN (SELECT id FROM up) RETURNING id),"                            \
    " ins AS (INSERT INTO route_stops (route_id, seq, name, location)"                       \
    "         SELECT up.id, t.seq, t.name,"                                                  \
    "                ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326)::geography"                \
    "         FROM up, unnest($4::text[], $5::float8[], $6::float8[])"                       \
    "              WITH ORDINALITY AS t(name, lat, lon, seq)"                                \
    "         WHERE (SELECT count(*) FROM del) >= 0 RETURNING id)"                           \
    " SELECT EXISTS (SELECT 1 FROM r), (SELECT b FROM busy),"                                \
    " EXISTS (SELECT 1 FROM up), $1::bigint, (SELECT count(*) FROM ins)"

/* Two replacements of one route's stops: the second waits for the first's row lock on the
 * route, but its snapshot predates the first's new stops, so it does not delete them and its
 * own collide on (route, seq). Run with a new snapshot, it replaces them: the last one wins,
 * as one at a time would. That is the statement's only unique key. */
static const struct op_db_error UPDATE_ERRORS[] = {
    { .cond = OP_DB_UNIQUE, .retry = true },
    { .cond = 0 },
};

static int route_updated(struct op_ctx *op, const PGresult *res)
{
    int64_t id = dbval_get_i64(res, 0, UPD_ID);
    if (!dbval_get_bool(res, 0, UPD_FOUND)) {
        return op_refuse(op, OP_E_NOT_FOUND, "id", "no such route");
    }
    if (!dbval_get_bool(res, 0, UPD_DONE)) {
        audit_op(op, "route", id, "conflict");
        return op_refuse(op, OP_E_CONFLICT, "stops",
                         "the route has an active trip: its stops cannot change now");
    }
    struct tracker *t = tracker_of(op); /* op is gone once it has replied */
    audit_op(op, "route", id, "ok");
    op_reply_empty(op);
    if (t) {
        tracker_route_changed(t, id);
    }
    return 0;
}

static int op_route_update(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    int r = param_stops(op);
    if (r || (r = param_path(op)) != 0) {
        return r;
    }
    return op_sql(op, &(struct op_sql){ .sql = ROUTE_UPDATE_SQL, .on_rows = route_updated,
                                        .errors = UPDATE_ERRORS });
}

/* --- route.delete --- */

#define KEPT_FOR_TRIPS "the route has trips: it is kept for their history"

/* Stops and rider assignments go with the route (ON DELETE CASCADE); a route that ever had a
 * trip stays, because the trip's history refers to it. One row: found, has trips, deleted,
 * the id. */
enum { DEL_FOUND, DEL_HAS_TRIPS, DEL_DONE, DEL_ID };
#define ROUTE_DELETE_SQL                                                                     \
    "WITH r AS (SELECT id FROM routes WHERE id = $1 AND school_id = $2),"                    \
    " t AS (SELECT EXISTS (SELECT 1 FROM trips"                                              \
    "       WHERE route_id IN (SELECT id FROM r)) AS has),"                                  \
    " d AS (DELETE FROM routes WHERE id IN (SELECT id FROM r)"                               \
    "       AND NOT (SELECT has FROM t) RETURNING id)"                                       \
    " SELECT EXISTS (SELECT 1 FROM r), (SELECT has FROM t),"                                 \
    " EXISTS (SELECT 1 FROM d), $1::bigint"

/* A trip started between the check and the delete trips the foreign key instead. */
static const struct op_db_error DELETE_ERRORS[] = {
    { .cond = OP_DB_FOREIGN_KEY, .code = OP_E_CONFLICT, .field = "id",
      .message = KEPT_FOR_TRIPS, .audit = "route" },
    { .cond = 0 },
};

static int route_deleted(struct op_ctx *op, const PGresult *res)
{
    int64_t id = dbval_get_i64(res, 0, DEL_ID);
    if (!dbval_get_bool(res, 0, DEL_FOUND)) {
        return op_refuse(op, OP_E_NOT_FOUND, "id", "no such route");
    }
    if (dbval_get_bool(res, 0, DEL_HAS_TRIPS)) {
        audit_op(op, "route", id, "conflict");
        return op_refuse(op, OP_E_CONFLICT, "id", KEPT_FOR_TRIPS);
    }
    audit_op(op, "route", id, "ok");
    op_reply_empty(op);
    return 0;
}

static int op_route_delete(struct op_ctx *op)
{
    int64_t id = op_get_id(op, "id");
    op_param_id(op, id);
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){ .sql = ROUTE_DELETE_SQL, .on_rows = route_deleted,
                                        .errors = DELETE_ERRORS, .audit_id = id });
}

/* --- The table --- */

static const struct op_arg ID_ARGS[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

static const struct op_arg CREATE_ARGS[] = {
    { .name = "name", .type = OP_T_STR, .required = OP_REQ, .max = NAME_MAX_LEN },
    { .name = "stops", .type = OP_T_ARRAY, .required = OP_REQ, .max = STOPS_MAX },
    { .name = "path", .type = OP_T_ARRAY, .max = PATH_MAX_POINTS },
    { .name = NULL },
};

static const struct op_arg LIST_ARGS[] = {
    { .name = "after", .type = OP_T_ID },
    { .name = "limit", .type = OP_T_INT, .min = 1, .max = 500 },
    { .name = NULL },
};

static const struct op_arg UPDATE_ARGS[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = "name", .type = OP_T_STR, .max = NAME_MAX_LEN },
    { .name = "stops", .type = OP_T_ARRAY, .max = STOPS_MAX },
    { .name = "path", .type = OP_T_ARRAY, .max = PATH_MAX_POINTS },
    { .name = NULL },
};

const struct op_def route_ops[] = {
    { .name = "route.create", .fn = op_route_create, .roles = ROLE_ADMIN, .args = CREATE_ARGS },
    { .name = "route.get", .fn = op_route_get, .roles = ROLE_ADMIN, .args = ID_ARGS },
    /* Drivers too: the driver page lets the driver pick the route to start (trip.start). */
    { .name = "route.list", .fn = op_route_list, .roles = ROLE_ADMIN | ROLE_DRIVER,
      .args = LIST_ARGS },
    { .name = "route.update", .fn = op_route_update, .roles = ROLE_ADMIN, .args = UPDATE_ARGS },
    { .name = "route.delete", .fn = op_route_delete, .roles = ROLE_ADMIN, .args = ID_ARGS },
    { .name = NULL },
};
