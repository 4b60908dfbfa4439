/* route.create/get/list/update/delete and route.assign/unassign for a school's admins.
 * Stops are stored as geography points in their order (seq 1..n); a route and its stops are
 * written by one statement, with the stops passed as array parameters. Every query is scoped
 * to the caller's school: another school's ids are simply not found. */
#include "tracking/route_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/strbuf.h"
#include "core/xalloc.h"
#include "tracking/tracker.h"

#define NAME_MAX_LEN 100
#define STOPS_MAX 100
#define PATH_MIN_POINTS 2
#define PATH_MAX_POINTS 2000
#define FIELD_MAX 32 /* "stops[99].name", "path[1999]" */
#define UNAVAILABLE "the database is unavailable, try again shortly"

/* Stops and a path read from a request, in the text form the queries take. */
struct route_shape {
    size_t n_stops;
    struct strbuf names; /* text[] literal */
    struct strbuf lats;  /* float8[] literals */
    struct strbuf lons;
    bool has_path;
    struct strbuf path; /* EWKT: SRID=4326;LINESTRING(lon lat,…) */
};

static void shape_init(struct route_shape *sh)
{
    memset(sh, 0, sizeof *sh);
    strbuf_init(&sh->names);
    strbuf_init(&sh->lats);
    strbuf_init(&sh->lons);
    strbuf_init(&sh->path);
}

static void shape_deinit(struct route_shape *sh)
{
    strbuf_deinit(&sh->names);
    strbuf_deinit(&sh->lats);
    strbuf_deinit(&sh->lons);
    strbuf_deinit(&sh->path);
}

/* Appends one element to an array literal that starts with "{". Inside double quotes only
 * '"' and '\' are special, so escaping those two makes any string safe. */
static void array_add_text(struct strbuf *sb, const char *s, size_t len)
{
    strbuf_append(sb, sb->len > 1 ? ",\"" : "\"", sb->len > 1 ? 2 : 1);
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\') {
            strbuf_append(sb, "\\", 1);
        }
        strbuf_append(sb, &s[i], 1);
    }
    strbuf_append(sb, "\"", 1);
}

/* %.17g gives back exactly the double that was read. */
static void array_add_f64(struct strbuf *sb, double v)
{
    strbuf_printf(sb, sb->len > 1 ? ",%.17g" : "%.17g", v);
}

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

static bool valid_lat_lon(double lat, double lon)
{
    /* The comparisons are false for NaN, so it is refused too. */
    return lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180;
}

/* Names of nested fields are built at run time: the readers below write them into field and
 * the handler answers with op_fail itself (which copies it) instead of returning the code. */
static int fail_at(struct op_ctx *op, const char *field)
{
    op_fail(op, OP_E_BAD_REQUEST, op->fail_message, field);
    return 0;
}

static int bad(struct op_ctx *op, char field[FIELD_MAX], const char *name, const char *message)
{
    snprintf(field, FIELD_MAX, "%s", name);
    op->fail_message = message;
    return OP_E_BAD_REQUEST;
}

/* Reads stops: [{name, lat, lon}] (1..STOPS_MAX) into sh. Returns 0, or OP_E_BAD_REQUEST with
 * field and op->fail_message set. */
static int read_stops(struct op_ctx *op, struct route_shape *sh, char field[FIELD_MAX])
{
    const msgpack_object *arr;
    int r = op_arg_array(op, "stops", STOPS_MAX, &arr);
    if (r) {
        return bad(op, field, op->fail_field, op->fail_message);
    }
    if (arr->via.array.size == 0) {
        return bad(op, field, "stops", "must have 1 to 100 stops");
    }
    strbuf_append(&sh->names, "{", 1);
    strbuf_append(&sh->lats, "{", 1);
    strbuf_append(&sh->lons, "{", 1);
    /* Each stop is read with the usual readers by pointing args at it for a moment. */
    const msgpack_object *args = op->args;
    for (uint32_t i = 0; i < arr->via.array.size; i++) {
        const msgpack_object *stop = &arr->via.array.ptr[i];
        if (stop->type != MSGPACK_OBJECT_MAP) {
            snprintf(field, FIELD_MAX, "stops[%u]", (unsigned)i);
            op->fail_message = "must be a map {name, lat, lon}";
            return OP_E_BAD_REQUEST;
        }
        op->args = stop;
        const char *name;
        size_t len;
        double lat, lon;
        r = op_arg_str(op, "name", NAME_MAX_LEN, &name, &len);
        if (r == 0) {
            r = op_arg_f64(op, "lat", -90, 90, &lat);
        }
        if (r == 0) {
            r = op_arg_f64(op, "lon", -180, 180, &lon);
        }
        op->args = args;
        if (r) {
            snprintf(field, FIELD_MAX, "stops[%u].%s", (unsigned)i, op->fail_field);
            return r;
        }
        array_add_text(&sh->names, name, len);
        array_add_f64(&sh->lats, lat);
        array_add_f64(&sh->lons, lon);
    }
    strbuf_append(&sh->names, "}", 1);
    strbuf_append(&sh->lats, "}", 1);
    strbuf_append(&sh->lons, "}", 1);
    sh->n_stops = arr->via.array.size;
    return 0;
}

/* Reads path?: [[lat, lon], …] (PATH_MIN_POINTS..PATH_MAX_POINTS) into sh. */
static int read_path_opt(struct op_ctx *op, struct route_shape *sh, char field[FIELD_MAX])
{
    const msgpack_object *v = op_map_get(op->args, "path");
    if (!v || v->type == MSGPACK_OBJECT_NIL) {
        return 0;
    }
    const msgpack_object *arr;
    int r = op_arg_array(op, "path", PATH_MAX_POINTS, &arr);
    if (r) {
        return bad(op, field, "path", op->fail_message);
    }
    if (arr->via.array.size < PATH_MIN_POINTS) {
        return bad(op, field, "path", "must have 2 to 2000 points");
    }
    strbuf_append(&sh->path, "SRID=4326;LINESTRING(", 21);
    for (uint32_t i = 0; i < arr->via.array.size; i++) {
        const msgpack_object *p = &arr->via.array.ptr[i];
        double lat, lon;
        if (p->type != MSGPACK_OBJECT_ARRAY || p->via.array.size != 2 ||
            !as_number(&p->via.array.ptr[0], &lat) || !as_number(&p->via.array.ptr[1], &lon) ||
            !valid_lat_lon(lat, lon)) {
            snprintf(field, FIELD_MAX, "path[%u]", (unsigned)i);
            op->fail_message = "must be [lat, lon] with lat -90..90 and lon -180..180";
            return OP_E_BAD_REQUEST;
        }
        /* WKT puts longitude first. */
        strbuf_printf(&sh->path, "%s%.17g %.17g", i ? "," : "", lon, lat);
    }
    strbuf_append(&sh->path, ")", 1);
    sh->has_path = true;
    return 0;
}

static double get_f64(const PGresult *res, int row, int col)
{
    return strtod(PQgetvalue(res, row, col), NULL);
}

/* Calls fn for each id of a bigint[] column in text form ("{1,2}"); NULL is empty. */
static void each_id(const PGresult *res, int row, int col,
                    void (*fn)(struct tracker *t, int64_t school, int64_t id),
                    struct tracker *t, int64_t school)
{
    const char *s = dbval_get_text(res, row, col);
    while (s && *s) {
        if (*s >= '0' && *s <= '9') {
            char *end;
            fn(t, school, strtoll(s, &end, 10));
            s = end;
        } else {
            s++;
        }
    }
}

static void route_changed(struct tracker *t, int64_t school, int64_t route)
{
    (void)school;
    tracker_route_changed(t, route);
}

/* --- route.create --- */

static void on_route_created(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    int rows = PQntuples(res);
    if (rows == 0) {
        op_fail(op, OP_E_INTERNAL, "internal error", NULL);
        return;
    }
    int64_t id = dbval_get_i64(res, 0, 0);
    audit_op(op, "route", id, "ok");
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 2);
    envelope_pack_key(pk, "id");
    msgpack_pack_int64(pk, id);
    envelope_pack_key(pk, "stops");
    msgpack_pack_array(pk, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        msgpack_pack_map(pk, 5);
        envelope_pack_key(pk, "id");
        msgpack_pack_int64(pk, dbval_get_i64(res, i, 1));
        envelope_pack_key(pk, "seq");
        msgpack_pack_int64(pk, dbval_get_i64(res, i, 2));
        envelope_pack_key(pk, "name");
        envelope_pack_str(pk, PQgetvalue(res, i, 3));
        envelope_pack_key(pk, "lat");
        msgpack_pack_double(pk, get_f64(res, i, 4));
        envelope_pack_key(pk, "lon");
        msgpack_pack_double(pk, get_f64(res, i, 5));
    }
    op_reply_end(op);
}

static int op_route_create(struct op_ctx *op)
{
    const char *name_s;
    size_t name_len;
    int r = op_arg_str(op, "name", NAME_MAX_LEN, &name_s, &name_len);
    if (r) {
        return r;
    }
    char name[NAME_MAX_LEN + 1], field[FIELD_MAX];
    memcpy(name, name_s, name_len);
    name[name_len] = '\0';
    struct route_shape sh;
    shape_init(&sh);
    if (read_stops(op, &sh, field) != 0 || read_path_opt(op, &sh, field) != 0) {
        shape_deinit(&sh);
        return fail_at(op, field);
    }
    char school[24];
    const char *params[] = { dbval_i64(op->caller.school_id, school), name, sh.names.data,
                             sh.lats.data, sh.lons.data, sh.has_path ? sh.path.data : NULL };
    r = dbpool_query(op->env->db,
                     "WITH r AS (INSERT INTO routes (school_id, name, path)"
                     "           VALUES ($1, $2, ST_GeogFromText($6::text)) RETURNING id),"
                     " s AS (INSERT INTO route_stops (route_id, seq, name, location)"
                     "       SELECT r.id, t.seq, t.name,"
                     "              ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326)::geography"
                     "       FROM r, unnest($3::text[], $4::float8[], $5::float8[])"
                     "            WITH ORDINALITY AS t(name, lat, lon, seq)"
                     "       RETURNING id, seq, name, location)"
                     " SELECT r.id, s.id, s.seq, s.name, ST_Y(s.location::geometry),"
                     " ST_X(s.location::geometry) FROM r, s ORDER BY s.seq",
                     6, params, on_route_created, op);
    shape_deinit(&sh);
    if (r != 0) {
        op->fail_message = UNAVAILABLE;
        return OP_E_UNAVAILABLE;
    }
    return 0;
}

/* --- route.get --- */

/* One query, rows told apart by their first column: 0 the route, 1 its stops by seq,
 * 2 its riders by id, 3 the points of its path in order. */
enum { RG_ROUTE, RG_STOP, RG_RIDER, RG_POINT, RG__KINDS };

static void on_route_got(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    int rows = PQntuples(res);
    if (rows == 0) {
        op_fail(op, OP_E_NOT_FOUND, "no such route", "id");
        return;
    }
    size_t count[RG__KINDS] = { 0 };
    for (int i = 0; i < rows; i++) {
        long kind = strtol(PQgetvalue(res, i, 0), NULL, 10);
        if (kind >= 0 && kind < RG__KINDS) {
            count[kind]++;
        }
    }
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 5);
    envelope_pack_key(pk, "id");
    msgpack_pack_int64(pk, dbval_get_i64(res, 0, 1));
    envelope_pack_key(pk, "name");
    envelope_pack_str(pk, PQgetvalue(res, 0, 2));
    /* Rows are ordered by kind, so each list is one run of rows. */
    int row = 1;
    envelope_pack_key(pk, "stops");
    msgpack_pack_array(pk, count[RG_STOP]);
    for (size_t i = 0; i < count[RG_STOP]; i++, row++) {
        msgpack_pack_map(pk, 5);
        envelope_pack_key(pk, "id");
        msgpack_pack_int64(pk, dbval_get_i64(res, row, 1));
        envelope_pack_key(pk, "seq");
        msgpack_pack_int64(pk, dbval_get_i64(res, row, 3));
        envelope_pack_key(pk, "name");
        envelope_pack_str(pk, PQgetvalue(res, row, 2));
        envelope_pack_key(pk, "lat");
        msgpack_pack_double(pk, get_f64(res, row, 4));
        envelope_pack_key(pk, "lon");
        msgpack_pack_double(pk, get_f64(res, row, 5));
    }
    envelope_pack_key(pk, "students");
    msgpack_pack_array(pk, count[RG_RIDER]);
    for (size_t i = 0; i < count[RG_RIDER]; i++, row++) {
        msgpack_pack_map(pk, 3);
        envelope_pack_key(pk, "id");
        msgpack_pack_int64(pk, dbval_get_i64(res, row, 1));
        envelope_pack_key(pk, "name");
        envelope_pack_str(pk, PQgetvalue(res, row, 2));
        envelope_pack_key(pk, "stop");
        if (PQgetisnull(res, row, 6)) {
            msgpack_pack_nil(pk);
        } else {
            msgpack_pack_int64(pk, dbval_get_i64(res, row, 6));
        }
    }
    envelope_pack_key(pk, "path");
    if (count[RG_POINT] == 0) {
        msgpack_pack_nil(pk);
    } else {
        msgpack_pack_array(pk, count[RG_POINT]);
        for (size_t i = 0; i < count[RG_POINT]; i++, row++) {
            msgpack_pack_array(pk, 2);
            msgpack_pack_double(pk, get_f64(res, row, 4));
            msgpack_pack_double(pk, get_f64(res, row, 5));
        }
    }
    op_reply_end(op);
}

static int op_route_get(struct op_ctx *op)
{
    int64_t id;
    int r = op_arg_id(op, "id", &id);
    if (r) {
        return r;
    }
    char id_s[24], school[24];
    const char *params[] = { dbval_i64(id, id_s), dbval_i64(op->caller.school_id, school) };
    return op_query(op,
                    "WITH r AS (SELECT id, name, path FROM routes"
                    "           WHERE id = $1 AND school_id = $2)"
                    " SELECT 0, r.id, r.name, NULL::int, NULL::float8, NULL::float8,"
                    " NULL::bigint FROM r"
                    " UNION ALL SELECT 1, st.id, st.name, st.seq,"
                    " ST_Y(st.location::geometry), ST_X(st.location::geometry), NULL"
                    " FROM r JOIN route_stops st ON st.route_id = r.id"
                    " UNION ALL SELECT 2, s.id, s.name, NULL, NULL, NULL, ra.stop_id"
                    " FROM r JOIN route_assignments ra ON ra.route_id = r.id"
                    " JOIN students s ON s.id = ra.student_id"
                    " UNION ALL SELECT 3, NULL, NULL, (dp.path)[1], ST_Y(dp.geom),"
                    " ST_X(dp.geom), NULL FROM r, ST_DumpPoints(r.path::geometry) dp"
                    " ORDER BY 1, 4, 2",
                    2, params, on_route_got, op);
}

/* --- route.list --- */

static void on_routes_listed(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    int rows = PQntuples(res);
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_array(pk, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        msgpack_pack_map(pk, 4);
        envelope_pack_key(pk, "id");
        msgpack_pack_int64(pk, dbval_get_i64(res, i, 0));
        envelope_pack_key(pk, "name");
        envelope_pack_str(pk, PQgetvalue(res, i, 1));
        envelope_pack_key(pk, "n_stops");
        msgpack_pack_int64(pk, dbval_get_i64(res, i, 2));
        envelope_pack_key(pk, "n_students");
        msgpack_pack_int64(pk, dbval_get_i64(res, i, 3));
    }
    op_reply_end(op);
}

static int op_route_list(struct op_ctx *op)
{
    bool has_after, has_limit;
    int64_t after = 0, limit = 100;
    int r = op_arg_id_opt(op, "after", &after, &has_after);
    if (r || (r = op_arg_int_opt(op, "limit", 1, 500, &limit, &has_limit)) != 0) {
        return r;
    }
    char school[24], after_s[24], limit_s[24];
    const char *params[] = { dbval_i64(op->caller.school_id, school), dbval_i64(after, after_s),
                             dbval_i64(limit, limit_s) };
    return op_query(op,
                    "SELECT r.id, r.name,"
                    " (SELECT count(*) FROM route_stops WHERE route_id = r.id),"
                    " (SELECT count(*) FROM route_assignments WHERE route_id = r.id)"
                    " FROM routes r WHERE r.school_id = $1 AND r.id > $2"
                    " ORDER BY r.id LIMIT $3",
                    3, params, on_routes_listed, op);
}

/* --- route.update --- */

/* Replacing the stops deletes the old ones (riders keep the route, their stop becomes
 * NULL through the foreign key) and inserts the new ones with seq 1..n. The insert waits
 * for the delete through its WHERE, so the old (route, seq) pairs are gone first. A live
 * trip follows the stops it loaded, so they may not change under it. */
#define ROUTE_UPDATE_SQL \
    "WITH r AS (SELECT id FROM routes WHERE id = $1 AND school_id = $2" \
    "           FOR UPDATE)," \
    " busy AS (SELECT EXISTS (SELECT 1 FROM trips WHERE route_id = $1" \
    "          AND status = 'active') AS b)," \
    " up AS (UPDATE routes SET name = coalesce($3, name)," \
    "        path = CASE WHEN $7::text IS NULL THEN path" \
    "               ELSE ST_GeogFromText($7::text) END," \
    "        updated_at = now()" \
    "        WHERE id IN (SELECT id FROM r)" \
    "        AND ($4::text[] IS NULL OR NOT (SELECT b FROM busy)) RETURNING id)," \
    " del AS (DELETE FROM route_stops WHERE $4::text[] IS NOT NULL" \
    "         AND route_id IN (SELECT id FROM up) RETURNING id)," \
    " ins AS (INSERT INTO route_stops (route_id, seq, name, location)" \
    "         SELECT up.id, t.seq, t.name," \
    "                ST_SetSRID(ST_MakePoint(t.lon, t.lat), 4326)::geography" \
    "         FROM up, unnest($4::text[], $5::float8[], $6::float8[])" \
    "              WITH ORDINALITY AS t(name, lat, lon, seq)" \
    "         WHERE (SELECT count(*) FROM del) >= 0 RETURNING id)" \
    " SELECT EXISTS (SELECT 1 FROM r), (SELECT b FROM busy)," \
    " EXISTS (SELECT 1 FROM up), $1::bigint, (SELECT count(*) FROM ins)"

/* Statements run before a stop replacement gives up on a concurrent one (see below). */
#define UPDATE_ATTEMPTS 3
#define UPDATE_PARAMS 7

/* route.update's parameters, kept to run the statement again. */
struct route_update {
    struct op_ctx *op;
    int attempt; /* 0-based */
    char *params[UPDATE_PARAMS]; /* owned; NULL is SQL NULL */
};

static void route_update_free(struct route_update *u)
{
    for (int i = 0; i < UPDATE_PARAMS; i++) {
        free(u->params[i]);
    }
    free(u);
}

static void on_route_updated(void *arg, int status, const PGresult *res);

static int update_query(struct route_update *u)
{
    return op_query(u->op, ROUTE_UPDATE_SQL, UPDATE_PARAMS, (const char *const *)u->params,
                    on_route_updated, u);
}

static void on_route_updated(void *arg, int status, const PGresult *res)
{
    struct route_update *u = arg;
    struct op_ctx *op = u->op;
    /* Two replacements of one route's stops: the second waits for the first's row lock on the
     * route, but its snapshot predates the first's new stops, so it does not delete them and
     * its own collide on (route, seq). Run with a new snapshot, it replaces them: the last
     * one wins, as one at a time would. */
    if (strcmp(dbpool_sqlstate(status, res), "23505") == 0 && u->attempt + 1 < UPDATE_ATTEMPTS) {
        u->attempt++;
        if (update_query(u) != 0) {
            op_fail(op, OP_E_UNAVAILABLE, UNAVAILABLE, NULL);
            route_update_free(u);
        }
        return;
    }
    route_update_free(u);
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    /* One row: found, has an active trip, updated, the id, whether stops were given. */
    int64_t id = dbval_get_i64(res, 0, 3);
    if (!dbval_get_bool(res, 0, 0)) {
        op_fail(op, OP_E_NOT_FOUND, "no such route", "id");
        return;
    }
    if (!dbval_get_bool(res, 0, 2)) {
        audit_op(op, "route", id, "conflict");
        op_fail(op, OP_E_CONFLICT, "the route has an active trip: its stops cannot change now",
                "stops");
        return;
    }
    struct tracker *tracker = op->env->tracker;
    audit_op(op, "route", id, "ok");
    op_reply_empty(op);
    if (tracker) {
        tracker_route_changed(tracker, id);
    }
}

static int op_route_update(struct op_ctx *op)
{
    int64_t id;
    const char *name_s = NULL;
    size_t name_len = 0;
    bool has_name;
    int r = op_arg_id(op, "id", &id);
    if (r || (r = op_arg_str_opt(op, "name", NAME_MAX_LEN, &name_s, &name_len, &has_name))) {
        return r;
    }
    char name[NAME_MAX_LEN + 1], field[FIELD_MAX];
    if (has_name) {
        memcpy(name, name_s, name_len);
        name[name_len] = '\0';
    }
    const msgpack_object *stops = op_map_get(op->args, "stops");
    bool has_stops = stops && stops->type != MSGPACK_OBJECT_NIL;
    struct route_shape sh;
    shape_init(&sh);
    if ((has_stops && read_stops(op, &sh, field) != 0) || read_path_opt(op, &sh, field) != 0) {
        shape_deinit(&sh);
        return fail_at(op, field);
    }
    char id_s[24], school[24];
    const char *params[] = { dbval_i64(id, id_s), dbval_i64(op->caller.school_id, school),
                             has_name ? name : NULL, has_stops ? sh.names.data : NULL,
                             has_stops ? sh.lats.data : NULL, has_stops ? sh.lons.data : NULL,
                             sh.has_path ? sh.path.data : NULL };
    struct route_update *u = xcalloc(1, sizeof *u);
    u->op = op;
    for (int i = 0; i < UPDATE_PARAMS; i++) {
        u->params[i] = params[i] ? xstrdup(params[i]) : NULL;
    }
    r = update_query(u);
    shape_deinit(&sh);
    if (r != 0) {
        route_update_free(u);
    }
    return r;
}

/* --- route.delete --- */

/* What route.delete carries to its callback: the id, for the audit log, also when the
 * database answered with an error. */
struct route_delete {
    struct op_ctx *op;
    int64_t id;
};

static void on_route_deleted(void *arg, int status, const PGresult *res)
{
    struct route_delete *q = arg;
    struct op_ctx *op = q->op;
    /* A trip started between the check and the delete trips the foreign key instead. */
    bool raced = strcmp(dbpool_sqlstate(status, res), "23503") == 0;
    if (status != DBPOOL_OK && !raced) {
        op_fail_db(op, status, res);
    } else if (!raced && !dbval_get_bool(res, 0, 0)) {
        /* One row: found, has trips, deleted. */
        op_fail(op, OP_E_NOT_FOUND, "no such route", "id");
    } else if (raced || dbval_get_bool(res, 0, 1)) {
        audit_op(op, "route", q->id, "conflict");
        op_fail(op, OP_E_CONFLICT, "the route has trips: it is kept for their history", "id");
    } else {
        audit_op(op, "route", q->id, "ok");
        op_reply_empty(op);
    }
    free(q);
}

static int op_route_delete(struct op_ctx *op)
{
    int64_t id;
    int r = op_arg_id(op, "id", &id);
    if (r) {
        return r;
    }
    struct route_delete *q = xcalloc(1, sizeof *q);
    q->op = op;
    q->id = id;
    char id_s[24], school[24];
    const char *params[] = { dbval_i64(id, id_s), dbval_i64(op->caller.school_id, school) };
    /* Stops and rider assignments go with the route (ON DELETE CASCADE); a route that ever
     * had a trip stays, because the trip's history refers to it. */
    int err = op_query(op,
                       "WITH r AS (SELECT id FROM routes WHERE id = $1 AND school_id = $2),"
                       " t AS (SELECT EXISTS (SELECT 1 FROM trips"
                       "       WHERE route_id IN (SELECT id FROM r)) AS has),"
                       " d AS (DELETE FROM routes WHERE id IN (SELECT id FROM r)"
                       "       AND NOT (SELECT has FROM t) RETURNING id)"
                       " SELECT EXISTS (SELECT 1 FROM r), (SELECT has FROM t),"
                       " EXISTS (SELECT 1 FROM d)",
                       2, params, on_route_deleted, q);
    if (err) {
        free(q);
    }
    return err;
}

/* --- route.assign --- */

/* Statements run before the move is made without naming the route the student left. */
#define ASSIGN_ATTEMPTS 3

/* What route.assign carries to its callback: the parameters, to run the statement again. */
struct route_assign {
    struct op_ctx *op;
    int attempt; /* 0-based */
    bool has_stop;
    char route[24], student[24], stop[24], school[24];
};

/* A student rides at most one route: route_assignments has one row per student (its key is
 * student_id, sql/0005), and assigning is one upsert on it, so concurrent calls for the same
 * student queue on that row and the last to commit wins; assigning again to the same route
 * changes (or clears) the stop. Statement by statement, in READ COMMITTED:
 *   r, s   the route and the student in the caller's school ($4); s is locked FOR SHARE, so a
 *          student.delete that committed meanwhile is seen (the lock wait returns the newest
 *          version) and no route is given to a student who has left;
 *   ok     one row when the assignment is allowed (active student, stop on the route);
 *   prev   the student's current assignment, locked FOR UPDATE: a concurrent move of that
 *          row is waited for and its result read, and no other call can move the student
 *          until this one commits. It must run before the upsert (the upsert's
 *          `count(*) >= 0` sees to that): FOR UPDATE skips a row this statement changed;
 *   up     the upsert. A row inserted by a transaction that committed after this statement's
 *          snapshot is invisible to prev but still hit by ON CONFLICT; then the DO UPDATE's
 *          WHERE declines the move (prev is empty) and the statement reports `raced`, to be
 *          run again with a new snapshot. The last attempt ($5) moves the student anyway. */
#define ROUTE_ASSIGN_SQL                                                                     \
    "WITH r AS (SELECT id FROM routes WHERE id = $1 AND school_id = $4),"                    \
    " s AS (SELECT id, active FROM students WHERE id = $2 AND school_id = $4 FOR SHARE),"    \
    " ok AS (SELECT r.id AS route_id, s.id AS student_id FROM r, s"                          \
    "        WHERE s.active AND ($3::bigint IS NULL OR EXISTS"                               \
    "        (SELECT 1 FROM route_stops WHERE id = $3 AND route_id = r.id))),"               \
    " prev AS (SELECT route_id FROM route_assignments"                                       \
    "          WHERE student_id = $2 AND school_id = $4 AND EXISTS (SELECT 1 FROM ok)"       \
    "          FOR UPDATE),"                                                                 \
    " up AS (INSERT INTO route_assignments AS ra"                                            \
    "        (route_id, student_id, stop_id, school_id)"                                     \
    "        SELECT route_id, student_id, $3::bigint, $4 FROM ok"                            \
    "        WHERE (SELECT count(*) FROM prev) >= 0"                                         \
    "        ON CONFLICT (student_id) DO UPDATE"                                             \
    "        SET route_id = EXCLUDED.route_id, stop_id = EXCLUDED.stop_id,"                  \
    "            created_at = CASE WHEN ra.route_id = EXCLUDED.route_id THEN ra.created_at"  \
    "                         ELSE EXCLUDED.created_at END"                                  \
    "        WHERE $5::boolean OR EXISTS (SELECT 1 FROM prev) RETURNING route_id)"           \
    " SELECT EXISTS (SELECT 1 FROM r), (SELECT active FROM s), EXISTS (SELECT 1 FROM up),"   \
    " (SELECT array_agg(route_id) FROM prev WHERE route_id <> $1)::text,"                    \
    " (SELECT array_agg(user_id) FROM guardians WHERE student_id = $2"                       \
    "  AND school_id = $4)::text, $1::bigint, $2::bigint,"                                   \
    " EXISTS (SELECT 1 FROM ok) AND NOT EXISTS (SELECT 1 FROM up)"

static void on_route_assigned(void *arg, int status, const PGresult *res);

static int assign_query(struct route_assign *q)
{
    bool last = q->attempt + 1 >= ASSIGN_ATTEMPTS;
    const char *params[] = { q->route, q->student, q->has_stop ? q->stop : NULL, q->school,
                             last ? "true" : "false" };
    return op_query(q->op, ROUTE_ASSIGN_SQL, 5, params, on_route_assigned, q);
}

static void on_route_assigned(void *arg, int status, const PGresult *res)
{
    struct route_assign *q = arg;
    struct op_ctx *op = q->op;
    if (strcmp(dbpool_sqlstate(status, res), "23503") == 0) {
        /* A route.update or route.delete that committed while this statement ran removed the
         * stop (or the route) it had found: answer as if it had never been there. */
        const char *fk = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
        free(q);
        if (fk && strcmp(fk, "route_assignments_stop_id_fkey") == 0) {
            op_fail(op, OP_E_BAD_REQUEST, "not a stop of this route", "stop");
        } else {
            op_fail(op, OP_E_NOT_FOUND, "no such route", "route");
        }
        return;
    }
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        free(q);
        return;
    }
    /* One row: route found, student active (NULL: not found), assigned, routes the student
     * left, the student's guardians, the route, the student, raced (see ROUTE_ASSIGN_SQL).
     * Once assigned (and committed: the callback runs after the statement), the student is on
     * this route alone. `left` is the route they were on just before, read under the row
     * lock; it is only missing after a last attempt that still raced, and then that route's
     * live trips keep the student among their riders until they reload (the guardians'
     * subscriptions are checked against the database all the same). The guardians are those
     * of the statement's snapshot: one linked while it ran may be missed. */
    if (dbval_get_bool(res, 0, 7) && q->attempt + 1 < ASSIGN_ATTEMPTS) {
        q->attempt++;
        if (assign_query(q) != 0) {
            op_fail(op, OP_E_UNAVAILABLE, UNAVAILABLE, NULL);
            free(q);
        }
        return;
    }
    free(q);
    if (!dbval_get_bool(res, 0, 0)) {
        op_fail(op, OP_E_NOT_FOUND, "no such route", "route");
        return;
    }
    if (PQgetisnull(res, 0, 1)) {
        op_fail(op, OP_E_NOT_FOUND, "no such student", "student");
        return;
    }
    int64_t route = dbval_get_i64(res, 0, 5), student = dbval_get_i64(res, 0, 6);
    if (!dbval_get_bool(res, 0, 1)) {
        audit_op(op, "student", student, "conflict");
        op_fail(op, OP_E_CONFLICT, "the student is no longer active", "student");
        return;
    }
    if (!dbval_get_bool(res, 0, 2)) {
        op_fail(op, OP_E_BAD_REQUEST, "not a stop of this route", "stop");
        return;
    }
    struct tracker *tracker = op->env->tracker;
    int64_t school = op->caller.school_id;
    audit_op(op, "student", student, "ok");
    op_reply_empty(op);
    /* The new route's live trips load their riders again; a route the student left does
     * too, and the guardians' subscriptions to it end. */
    if (tracker) {
        tracker_route_changed(tracker, route);
        each_id(res, 0, 3, route_changed, tracker, school);
        each_id(res, 0, 4, tracker_recheck_user, tracker, school);
    }
}

static int op_route_assign(struct op_ctx *op)
{
    int64_t route, student, stop = 0;
    bool has_stop;
    int r = op_arg_id(op, "route", &route);
    if (r || (r = op_arg_id(op, "student", &student)) != 0 ||
        (r = op_arg_id_opt(op, "stop", &stop, &has_stop)) != 0) {
        return r;
    }
    struct route_assign *q = xcalloc(1, sizeof *q);
    q->op = op;
    q->has_stop = has_stop;
    dbval_i64(route, q->route);
    dbval_i64(student, q->student);
    dbval_i64(stop, q->stop);
    dbval_i64(op->caller.school_id, q->school);
    int err = assign_query(q);
    if (err) {
        free(q);
    }
    return err;
}

/* --- route.unassign --- */

static void on_route_unassigned(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    /* One row: unassigned, the student's guardians, the route, the student. */
    if (!dbval_get_bool(res, 0, 0)) {
        op_fail(op, OP_E_NOT_FOUND, "the student does not ride this route", "student");
        return;
    }
    int64_t route = dbval_get_i64(res, 0, 2), student = dbval_get_i64(res, 0, 3);
    struct tracker *tracker = op->env->tracker;
    int64_t school = op->caller.school_id;
    audit_op(op, "student", student, "ok");
    op_reply_empty(op);
    if (tracker) {
        tracker_route_changed(tracker, route);
        each_id(res, 0, 1, tracker_recheck_user, tracker, school);
    }
}

static int op_route_unassign(struct op_ctx *op)
{
    int64_t route, student;
    int r = op_arg_id(op, "route", &route);
    if (r || (r = op_arg_id(op, "student", &student)) != 0) {
        return r;
    }
    char route_s[24], student_s[24], school[24];
    const char *params[] = { dbval_i64(route, route_s), dbval_i64(student, student_s),
                             dbval_i64(op->caller.school_id, school) };
    return op_query(op,
                    "WITH d AS (DELETE FROM route_assignments WHERE route_id = $1"
                    "           AND student_id = $2 AND school_id = $3 RETURNING student_id)"
                    " SELECT EXISTS (SELECT 1 FROM d),"
                    " (SELECT array_agg(user_id) FROM guardians"
                    "  WHERE student_id IN (SELECT student_id FROM d))::text,"
                    " $1::bigint, $2::bigint",
                    3, params, on_route_unassigned, op);
}

const struct op_def route_ops[] = {
    { .name = "route.create", .fn = op_route_create, .roles = ROLE_ADMIN },
    { .name = "route.get", .fn = op_route_get, .roles = ROLE_ADMIN },
    { .name = "route.list", .fn = op_route_list, .roles = ROLE_ADMIN },
    { .name = "route.update", .fn = op_route_update, .roles = ROLE_ADMIN },
    { .name = "route.delete", .fn = op_route_delete, .roles = ROLE_ADMIN },
    { .name = "route.assign", .fn = op_route_assign, .roles = ROLE_ADMIN },
    { .name = "route.unassign", .fn = op_route_unassign, .roles = ROLE_ADMIN },
    { .name = NULL },
};
