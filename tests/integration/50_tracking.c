/* Live bus tracking against a real classmentd (PROTOCOL.md "Live tracking", docs/tracking.md):
 * who may follow a trip and who never sees it, every refused GPS frame (never forwarded, never
 * stored, counted), the trip life cycle and its events, a subscriber that stops reading, stop
 * events that fire once, trip.mine and trip.history, idle trips, the retention purge, and
 * subscriptions that end when the right to follow a trip ends. Each test starts its own server
 * on a fresh database and loads its schools with classment-fixture. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tcheck.h"
#include "tests/support/tclient.h"
#include "tests/support/tmsg.h"
#include "tests/support/tsys.h"
#include "tests/support/ttrack.h"
#include "tests/support/wsclient.h"

/* How long an event may take to arrive, and how long silence is watched for. */
#define EVENT_MS 3000
#define QUIET_MS 500
/* Stored positions reach the database within a second (the flush tick). */
#define STORED_MS 4000
/* Where the fixture's route t = 0 starts; stop i is at (LAT0 + 0.004 i, LON0 + 0.0035 i). */
#define LAT0 12.90
#define LON0 77.55
/* Where positions go when a test is not about stops: 22 km south of every stop, so no stop is
 * within the approach time (300 s) even at the highest speed allowed (50 m/s). */
#define BUS_LAT (LAT0 - 0.2)
#define BUS_LON LON0
#define MAX_CLIENTS 24

struct fx {
    struct harness *h;
    int port;
    struct ttrack_fixture f;      /* the school under test */
    struct ttrack_fixture other;  /* another school, for tests that need one */
    struct ttrack_client *clients[MAX_CLIENTS];
    size_t n_clients;
    struct ttrack_raw *raw;       /* a bare connection, when a test has one */
};

static int teardown(void **state)
{
    struct fx *fx = *state;
    if (fx) {
        for (size_t i = 0; i < fx->n_clients; i++) {
            ttrack_client_free(fx->clients[i]);
        }
        ttrack_raw_free(fx->raw);
        harness_free(fx->h);
        ttrack_fixture_deinit(&fx->f);
        ttrack_fixture_deinit(&fx->other);
        free(fx);
    }
    *state = NULL;
    return 0;
}

/* Starts a server with env and loads one school with trips routes and parents per trip. */
static struct fx *start(void **state, const char *const *env, int trips, int parents)
{
    struct fx *fx = calloc(1, sizeof *fx);
    *state = fx;
    struct harness_opts opts = { .env = env };
    if (harness_start(&fx->h, &opts) != 0) {
        fail_msg("the server did not start");
    }
    fx->port = harness_port(fx->h);
    if (ttrack_fixture_load(fx->h, trips, parents, &fx->f) != 0) {
        fail_msg("classment-fixture load failed");
    }
    return fx;
}

static void load_other_school(struct fx *fx, int trips, int parents)
{
    if (ttrack_fixture_load(fx->h, trips, parents, &fx->other) != 0) {
        fail_msg("classment-fixture load (second school) failed");
    }
}

static struct ttrack_client *track(struct fx *fx, struct ttrack_client *c)
{
    assert_non_null(c);
    assert_true(fx->n_clients < MAX_CLIENTS);
    fx->clients[fx->n_clients++] = c;
    return c;
}

static struct ttrack_client *login(struct fx *fx, const char *token, const char *name)
{
    return track(fx, ttrack_login(fx->port, token, name));
}

static struct ttrack_client *driver(struct fx *fx, size_t i)
{
    char name[32];
    snprintf(name, sizeof name, "driver %zu", i + 1);
    return login(fx, fx->f.drivers[i].token, name);
}

static struct ttrack_client *parent(struct fx *fx, size_t i)
{
    char name[32];
    snprintf(name, sizeof name, "parent %zu", i + 1);
    return login(fx, fx->f.parents[i].token, name);
}

/* A user of role made straight in the database, logged in. */
static struct ttrack_client *user(struct fx *fx, int64_t school, const char *role,
                                  const char *name, int64_t *id)
{
    char token[TAUTH_TOKEN_MAX + 1];
    int64_t uid = ttrack_user_create(fx->h, school, role, name, token);
    assert_true(uid > 0);
    if (id) {
        *id = uid;
    }
    return login(fx, token, name);
}

/* Closes a tracked client early (it is then skipped at teardown). */
static void drop(struct fx *fx, struct ttrack_client *c)
{
    for (size_t i = 0; i < fx->n_clients; i++) {
        if (fx->clients[i] == c) {
            ttrack_client_free(c);
            fx->clients[i] = fx->clients[--fx->n_clients];
            return;
        }
    }
}

/* Stops the server with SIGTERM (it must exit 0: under ASan that also means no leaks) and
 * marks the test as passed. */
static void pass(struct fx *fx)
{
    for (size_t i = 0; i < fx->n_clients; i++) {
        ttrack_client_free(fx->clients[i]);
    }
    fx->n_clients = 0;
    int r = harness_stop(fx->h, 15000);
    if (r != 0) {
        fail_msg("classmentd exited with %d after SIGTERM", r);
    }
    harness_passed(fx->h);
}

static int64_t now_ms(void)
{
    return (int64_t)tsys_wall_ms();
}

/* trip.subscribe that must succeed; returns the reply. */
static struct tmsg *subscribe(struct ttrack_client *c, int64_t trip)
{
    struct tmsg *m = ttrack_call(c, "trip.subscribe", "{trip: %D}", trip);
    assert_msg(tauth_is_ok(m), m);
    assert_msg(tmsg_uint_is(m, "data.trip", (uint64_t)trip), m);
    return m;
}

static void subscribe_quietly(struct ttrack_client *c, int64_t trip)
{
    tmsg_free(subscribe(c, trip));
}

static bool num_is(const struct tmsg *m, const char *path, double want)
{
    double v;
    return ttrack_num(m, path, &v) && fabs(v - want) < 1e-9;
}

/* A trip.pos event (or a `last` map at prefix) for trip at (lat, lon) with integer ts. */
static bool is_pos_at(const struct tmsg *m, const char *prefix, int64_t trip, double lat,
                      double lon, int64_t ts)
{
    char p_trip[64], p_lat[64], p_lon[64], p_ts[64];
    snprintf(p_trip, sizeof p_trip, "%s.trip", prefix);
    snprintf(p_lat, sizeof p_lat, "%s.lat", prefix);
    snprintf(p_lon, sizeof p_lon, "%s.lon", prefix);
    snprintf(p_ts, sizeof p_ts, "%s.ts", prefix);
    return m && tmsg_uint_is(m, p_trip, (uint64_t)trip) && num_is(m, p_lat, lat) &&
           num_is(m, p_lon, lon) && tmsg_uint_is(m, p_ts, (uint64_t)ts);
}

/* The next trip.pos c receives must be this one. */
static void expect_pos(struct ttrack_client *c, int64_t trip, double lat, double lon,
                       int64_t ts)
{
    struct tmsg *m = ttrack_event(c, "trip.pos", EVENT_MS);
    if (!is_pos_at(m, "data", trip, lat, lon, ts)) {
        fail_msg("%s: expected trip.pos {trip %lld, %.6f, %.6f, ts %lld}, got %s",
                 ttrack_name(c), (long long)trip, lat, lon, (long long)ts, tmsg_text(m));
    }
    tmsg_free(m);
}

/* Watches c for QUIET_MS and requires that it got no event at all. */
static void expect_nothing(struct ttrack_client *c)
{
    if (!ttrack_collect(c, QUIET_MS)) {
        fail_msg("%s: the connection ended", ttrack_name(c));
    }
    if (ttrack_count(c, NULL) != 0) {
        static const char *const none[] = { NULL };
        ttrack_only(c, none);
        fail_msg("%s received %zu events, expected none", ttrack_name(c),
                 ttrack_count(c, NULL));
    }
}

static long long gps_refused(struct fx *fx, const char *reason)
{
    char sample[128];
    snprintf(sample, sizeof sample,
             "classment_gps_frames_total{outcome=\"refused\",reason=\"%s\"}", reason);
    return tauth_metric(fx->port, sample);
}

static int64_t positions_stored(struct fx *fx, int64_t trip)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)trip);
    return tauth_sql_int(fx->h, "SELECT count(*) FROM trip_positions WHERE trip_id = $1", id,
                         (const char *)NULL);
}

/* Waits until the trip has exactly n stored positions, and that it stays so for a flush. */
static void expect_stored(struct fx *fx, int64_t trip, int64_t n)
{
    uint64_t deadline = tsys_mono_ms() + STORED_MS;
    int64_t have;
    while ((have = positions_stored(fx, trip)) != n && tsys_left_ms(deadline) > 0) {
        tsys_sleep_ms(100);
    }
    if (have == n) {
        tsys_sleep_ms(1500);
        have = positions_stored(fx, trip);
    }
    if (have != n) {
        fail_msg("trip %lld has %lld stored positions, expected %lld", (long long)trip,
                 (long long)have, (long long)n);
    }
}

static const msgpack_object *array_at(const struct tmsg *m, const char *path, uint32_t *n)
{
    const msgpack_object *a = m ? tmsg_get(tmsg_root(m), path) : NULL;
    if (!a || a->type != MSGPACK_OBJECT_ARRAY) {
        return NULL;
    }
    *n = a->via.array.size;
    return a;
}

static int64_t obj_id(const msgpack_object *o, const char *path)
{
    const msgpack_object *v = tmsg_get(o, path);
    return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int64_t)v->via.u64 : -1;
}

static double obj_num(const msgpack_object *o, const char *path)
{
    double v = NAN;
    ttrack_obj_num(tmsg_get(o, path), &v);
    return v;
}

struct stop {
    int64_t id;
    double lat, lon;
};

/* The route's stops from a trip.subscribe reply, in seq order. */
static size_t route_stops(const struct tmsg *m, struct stop *out, size_t cap)
{
    uint32_t n = 0;
    const msgpack_object *a = array_at(m, "data.route.stops", &n);
    assert_non_null(a);
    for (uint32_t i = 0; i < n && i < cap; i++) {
        const msgpack_object *s = &a->via.array.ptr[i];
        out[i] = (struct stop){ .id = obj_id(s, "id"), .lat = obj_num(s, "lat"),
                                .lon = obj_num(s, "lon") };
    }
    return n;
}

/* ---- following a trip ---- */

static void test_parents_of_riders_receive_positions_and_the_last_one_at_subscribe(void **state)
{
    static const char *const env[] = { "CLASSMENT_GPS_MIN_INTERVAL_MS=0", NULL };
    struct fx *fx = start(state, env, 1, 3);
    int64_t trip = fx->f.drivers[0].trip;
    struct ttrack_client *d = driver(fx, 0);
    struct ttrack_client *p1 = parent(fx, 0);
    struct ttrack_client *p2 = parent(fx, 1);
    struct ttrack_client *admin = user(fx, fx->f.school, "admin", "Asha Admin", NULL);

    struct tmsg *m = subscribe(p1, trip);
    assert_msg(tmsg_str_is(m, "data.status", "active"), m);
    assert_msg(tmsg_str_is(m, "data.route.name", "Route 1"), m);
    assert_msg(ttrack_id(m, "data.route.id") > 0, m);
    const msgpack_object *last = tmsg_get(tmsg_root(m), "data.last");
    assert_msg(last && last->type == MSGPACK_OBJECT_NIL, m);
    uint32_t n_stops = 0;
    const msgpack_object *stops = array_at(m, "data.route.stops", &n_stops);
    assert_msg(stops && n_stops == 6, m);
    for (uint32_t i = 0; i < n_stops; i++) {
        const msgpack_object *s = &stops->via.array.ptr[i];
        assert_msg(obj_id(s, "id") > 0 && obj_id(s, "seq") == (int64_t)i + 1, m);
        assert_msg(fabs(obj_num(s, "lat") - (LAT0 + 0.004 * i)) < 1e-6, m);
        assert_msg(fabs(obj_num(s, "lon") - (LON0 + 0.0035 * i)) < 1e-6, m);
        const msgpack_object *name = tmsg_get(s, "name");
        assert_msg(name && name->type == MSGPACK_OBJECT_STR, m);
    }
    tmsg_free(m);
    subscribe_quietly(p2, trip);
    /* An admin of the school may follow it too. */
    subscribe_quietly(admin, trip);

    /* A position without an id: no reply, both parents (and the admin) get it as sent. */
    const double lat1 = BUS_LAT + 0.0001, lon1 = BUS_LON + 0.0002;
    const double lat2 = BUS_LAT + 0.0002, lon2 = BUS_LON + 0.0003;
    const double lat3 = BUS_LAT + 0.0003, lon3 = BUS_LON + 0.0004;
    int64_t ts1 = now_ms() - 1000;
    assert_int_equal(ttrack_pos(d, trip, lat1, lon1, ts1), 0);
    expect_pos(p1, trip, lat1, lon1, ts1);
    expect_pos(p2, trip, lat1, lon1, ts1);
    expect_pos(admin, trip, lat1, lon1, ts1);
    m = ttrack_call(admin, "trip.unsubscribe", "{trip: %D}", trip);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);

    /* Speed and heading are forwarded (accuracy is not), and a float ts is echoed as a
     * float. */
    double ts2 = (double)ts1 + 1000.5;
    assert_int_equal(tclient_send(ttrack_ws(d),
                                  "{op: trip.pos, args: {trip: %D, lat: %f, lon: %f, ts: %f, "
                                  "spd: %f, hdg: %f, acc: %f}}",
                                  trip, lat2, lon2, ts2, 8.5, 45.0, 12.0),
                     0);
    for (int k = 0; k < 2; k++) {
        struct ttrack_client *p = k ? p2 : p1;
        m = ttrack_event(p, "trip.pos", EVENT_MS);
        assert_msg(m && num_is(m, "data.lat", lat2) && num_is(m, "data.lon", lon2), m);
        const msgpack_object *ts = tmsg_get(tmsg_root(m), "data.ts");
        assert_msg(ts && ts->type == MSGPACK_OBJECT_FLOAT64 && ts->via.f64 == ts2, m);
        assert_msg(num_is(m, "data.spd", 8.5) && num_is(m, "data.hdg", 45.0), m);
        assert_msg(!tmsg_has(m, "data.acc"), m);
        tmsg_free(m);
    }

    /* A late subscriber has the latest position at once. */
    struct ttrack_client *p3 = parent(fx, 2);
    m = subscribe(p3, trip);
    assert_msg(tmsg_uint_is(m, "data.last.trip", (uint64_t)trip), m);
    assert_msg(num_is(m, "data.last.lat", lat2) && num_is(m, "data.last.lon", lon2), m);
    const msgpack_object *lts = tmsg_get(tmsg_root(m), "data.last.ts");
    assert_msg(lts && lts->type == MSGPACK_OBJECT_FLOAT64 && lts->via.f64 == ts2, m);
    assert_msg(num_is(m, "data.last.spd", 8.5) && num_is(m, "data.last.hdg", 45.0), m);
    tmsg_free(m);

    /* Subscribing twice is harmless: the next position arrives once. */
    m = subscribe(p1, trip);
    assert_msg(num_is(m, "data.last.lat", lat2) && num_is(m, "data.last.lon", lon2), m);
    tmsg_free(m);
    /* After trip.unsubscribe, p2 gets nothing more. */
    m = ttrack_call(p2, "trip.unsubscribe", "{trip: %D}", trip);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);
    int64_t ts3 = ts1 + 2000;
    assert_int_equal(ttrack_pos(d, trip, lat3, lon3, ts3), 0);
    expect_pos(p1, trip, lat3, lon3, ts3);
    expect_pos(p3, trip, lat3, lon3, ts3);
    expect_nothing(p1);
    expect_nothing(p2);
    expect_nothing(p3);
    expect_nothing(admin);
    /* The driver follows nothing and was answered nothing (no ids). */
    expect_nothing(d);
    pass(fx);
}

static void test_refused_subscribers_never_see_the_trip(void **state)
{
    static const char *const env[] = { "CLASSMENT_GPS_MIN_INTERVAL_MS=0", NULL };
    struct fx *fx = start(state, env, 2, 1);
    load_other_school(fx, 1, 1);
    int64_t trip = fx->f.drivers[0].trip;
    struct ttrack_client *d = driver(fx, 0);
    struct ttrack_client *rider_parent = parent(fx, 0);
    struct ttrack_client *route2_parent = parent(fx, 1);
    struct ttrack_client *other_parent = login(fx, fx->other.parents[0].token, "other parent");
    struct ttrack_client *other_admin = user(fx, fx->other.school, "admin", "Other admin", NULL);
    struct ttrack_client *teacher = user(fx, fx->f.school, "teacher", "Tara Teacher", NULL);
    struct ttrack_client *driver2 = driver(fx, 1);
    struct ttrack_client *anon = track(fx, ttrack_connect(fx->port, "anonymous"));

    subscribe_quietly(rider_parent, trip);
    struct tmsg *m = ttrack_call(route2_parent, "trip.subscribe", "{trip: %D}", trip);
    assert_msg(tauth_is_err(m, "forbidden", "trip"), m);
    tmsg_free(m);
    m = ttrack_call(other_parent, "trip.subscribe", "{trip: %D}", trip);
    assert_msg(tauth_is_err(m, "not_found", "trip"), m);
    tmsg_free(m);
    m = ttrack_call(other_admin, "trip.subscribe", "{trip: %D}", trip);
    assert_msg(tauth_is_err(m, "not_found", "trip"), m);
    tmsg_free(m);
    m = ttrack_call(teacher, "trip.subscribe", "{trip: %D}", trip);
    assert_msg(tauth_is_err(m, "forbidden", NULL), m);
    tmsg_free(m);
    m = ttrack_call(driver2, "trip.subscribe", "{trip: %D}", trip);
    assert_msg(tauth_is_err(m, "forbidden", NULL), m);
    tmsg_free(m);
    m = ttrack_call(anon, "trip.subscribe", "{trip: %D}", trip);
    assert_msg(tauth_is_err(m, "unauthenticated", NULL), m);
    tmsg_free(m);
    /* Unknown trips and malformed ids. */
    m = ttrack_call(rider_parent, "trip.subscribe", "{trip: 999999999}");
    assert_msg(tauth_is_err(m, "not_found", "trip"), m);
    tmsg_free(m);
    m = ttrack_call(rider_parent, "trip.subscribe", "{trip: \"1\"}");
    assert_msg(tauth_is_err(m, "bad_request", "trip"), m);
    tmsg_free(m);
    /* What the refused ones may still see of their own. */
    m = ttrack_call(other_parent, "trip.mine", NULL);
    uint32_t n = 0;
    const msgpack_object *a = array_at(m, "data", &n);
    assert_msg(tauth_is_ok(m) && a && n == 1 &&
               obj_id(&a->via.array.ptr[0], "trip") == fx->other.drivers[0].trip, m);
    tmsg_free(m);

    int64_t ts = now_ms();
    for (int i = 0; i < 3; i++) {
        assert_int_equal(ttrack_pos(d, trip, BUS_LAT + 0.0001 * i, BUS_LON, ts + i * 1000), 0);
        expect_pos(rider_parent, trip, BUS_LAT + 0.0001 * i, BUS_LON, ts + i * 1000);
    }
    struct ttrack_client *refused[] = { route2_parent, other_parent, other_admin, teacher,
                                        driver2, anon };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        expect_nothing(refused[i]);
    }
    expect_nothing(rider_parent);
    pass(fx);
}

/* ---- refused positions ---- */

static struct tmsg *pos_call_raw(struct ttrack_client *c, const char *args_fmt, ...)
{
    va_list ap;
    va_start(ap, args_fmt);
    size_t len;
    uint8_t *args = tmsg_vbuild(&len, args_fmt, ap);
    va_end(ap);
    struct tmsg *m = ttrack_call(c, "trip.pos", "%m", args, len);
    free(args);
    return m;
}

#define POS_REFUSED(code, field, c, trip, lat, lon, ts)                                     \
    do {                                                                                    \
        struct tmsg *pr_m_ = ttrack_pos_call((c), (trip), (lat), (lon), (ts));             \
        assert_msg(tauth_is_err(pr_m_, (code), (field)), pr_m_);                            \
        tmsg_free(pr_m_);                                                                   \
    } while (0)

/* The next error event c receives is about trip.pos with code, naming field (NULL: none),
 * as the failure reply with an id would. */
static void expect_error_event(struct ttrack_client *c, const char *code, const char *field)
{
    struct tmsg *m = ttrack_event(c, "error", EVENT_MS);
    assert_msg(tmsg_is_error_event(m, code) && tmsg_str_is(m, "data.op", "trip.pos") &&
               tmsg_has(m, "data.message") &&
               (field ? tmsg_str_is(m, "data.field", field) : !tmsg_has(m, "data.field")), m);
    tmsg_free(m);
}

static void test_refused_positions_are_neither_forwarded_nor_stored(void **state)
{
    static const char *const env[] = { "CLASSMENT_GPS_MIN_INTERVAL_MS=300", NULL };
    struct fx *fx = start(state, env, 2, 1);
    load_other_school(fx, 1, 0);
    int64_t trip = fx->f.drivers[0].trip, trip2 = fx->f.drivers[1].trip;
    struct ttrack_client *d = driver(fx, 0);
    struct ttrack_client *d2 = driver(fx, 1);
    struct ttrack_client *p = parent(fx, 0);
    struct ttrack_client *admin = user(fx, fx->f.school, "admin", "Asha Admin", NULL);
    subscribe_quietly(p, trip);

    int64_t ts0 = now_ms() - 5000;
    double lat = BUS_LAT, lon = BUS_LON;
    struct tmsg *m = ttrack_pos_call(d, trip, lat, lon, ts0);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);

    /* range: bad numbers name their field, with or without an id. */
    POS_REFUSED("bad_request", "lat", d, trip, 91.0, lon, ts0 + 1000);
    POS_REFUSED("bad_request", "lon", d, trip, lat, -181.0, ts0 + 1000);
    m = pos_call_raw(d, "{trip: %D, lat: \"12.9\", lon: %f, ts: %D}", trip, lon, ts0 + 1000);
    assert_msg(tauth_is_err(m, "bad_request", "lat"), m);
    tmsg_free(m);
    m = pos_call_raw(d, "{trip: %D, lat: %f, lon: %f, ts: %D, spd: 500}", trip, lat, lon,
                     ts0 + 1000);
    assert_msg(tauth_is_err(m, "bad_request", "spd"), m);
    tmsg_free(m);
    m = pos_call_raw(d, "{trip: %D, lat: %f, lon: %f, ts: %D, hdg: 361}", trip, lat, lon,
                     ts0 + 1000);
    assert_msg(tauth_is_err(m, "bad_request", "hdg"), m);
    tmsg_free(m);
    /* Without an id the refusal is an error event naming the same field. */
    assert_int_equal(ttrack_pos(d, trip, 91.0, lon, ts0 + 1000), 0);
    expect_error_event(d, "bad_request", "lat");
    assert_int_equal(ttrack_pos(d, trip, lat, lon, now_ms() + 120000), 0);
    expect_error_event(d, "bad_request", "ts");
    /* future and too_old */
    POS_REFUSED("bad_request", "ts", d, trip, lat, lon, now_ms() + 120000);
    POS_REFUSED("bad_request", "ts", d, trip, lat, lon, now_ms() - 200000);
    /* order and speed are judged against the previous fix, once the rate allows a frame. */
    tsys_sleep_ms(400);
    POS_REFUSED("bad_request", "ts", d, trip, lat, lon, ts0);
    POS_REFUSED("bad_request", "ts", d, trip, lat + 0.0001, lon, ts0 - 1000);
    /* 10 km in one second */
    POS_REFUSED("bad_request", "lat", d, trip, lat + 0.09, lon, ts0 + 1000);
    /* not_driver, not_active (unknown, another school's, ended) */
    POS_REFUSED("forbidden", "trip", d2, trip, lat, lon, ts0 + 1000);
    POS_REFUSED("not_found", "trip", d, 999999999, lat, lon, ts0 + 1000);
    POS_REFUSED("not_found", "trip", d, fx->other.drivers[0].trip, lat, lon, ts0 + 1000);
    m = ttrack_call(d2, "trip.end", "{trip: %D}", trip2);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);
    POS_REFUSED("not_found", "trip", d2, trip2, lat, lon, now_ms());

    /* rate: a frame right after an accepted one */
    m = ttrack_pos_call(d, trip, lat + 0.0001, lon, ts0 + 1000);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);
    m = ttrack_pos_call(d, trip, lat + 0.0002, lon, ts0 + 2000);
    assert_msg(tauth_is_err(m, "rate_limited", NULL), m);
    double retry = -1;
    assert_msg(ttrack_num(m, "error.retry_after_s", &retry) && retry > 0 && retry <= 1, m);
    tmsg_free(m);
    assert_int_equal(ttrack_pos(d, trip, lat + 0.0002, lon, ts0 + 2000), 0);
    expect_error_event(d, "rate_limited", NULL);

    /* The subscriber saw the two accepted positions and nothing else. */
    expect_pos(p, trip, lat, lon, ts0);
    expect_pos(p, trip, lat + 0.0001, lon, ts0 + 1000);
    expect_nothing(p);
    expect_nothing(d);
    /* The stored track holds the same two. */
    expect_stored(fx, trip, 2);
    assert_int_equal(positions_stored(fx, trip2), 0);
    m = ttrack_call(admin, "trip.history", "{trip: %D}", trip);
    uint32_t n = 0;
    const msgpack_object *pts = array_at(m, "data.points", &n);
    assert_msg(tauth_is_ok(m) && pts && n == 2, m);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *pt = &pts->via.array.ptr[i];
        double v[3];
        assert_msg(pt->type == MSGPACK_OBJECT_ARRAY && pt->via.array.size == 5 &&
                   ttrack_obj_num(&pt->via.array.ptr[0], &v[0]) &&
                   ttrack_obj_num(&pt->via.array.ptr[1], &v[1]) &&
                   ttrack_obj_num(&pt->via.array.ptr[2], &v[2]), m);
        assert_msg(fabs(v[0] - (double)(ts0 + 1000 * i)) < 1 &&
                   fabs(v[1] - (lat + 0.0001 * i)) < 1e-9 && fabs(v[2] - lon) < 1e-9, m);
    }
    tmsg_free(m);

    /* Each refusal was counted under its reason. */
    static const struct {
        const char *reason;
        long long n;
    } counts[] = {
        { "range", 6 }, { "future", 2 }, { "too_old", 1 }, { "order", 2 }, { "speed", 1 },
        { "not_driver", 1 }, { "not_active", 3 }, { "rate", 2 },
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        long long have = gps_refused(fx, counts[i].reason);
        if (have != counts[i].n) {
            fail_msg("classment_gps_frames_total refused %s is %lld, expected %lld",
                     counts[i].reason, have, counts[i].n);
        }
    }
    assert_int_equal(tauth_metric(fx->port, "classment_gps_frames_total{outcome=\"accepted\"}"),
                     2);

    /* A storm of bad frames without ids: each is counted, but only a few error events a
     * second come back. */
    for (int i = 0; i < 20; i++) {
        assert_int_equal(ttrack_pos(d, trip, 91.0, lon, ts0 + 3000), 0);
    }
    assert_true(ttrack_collect(d, 600));
    size_t n_errors = ttrack_count(d, "error");
    fprintf(stderr, "20 bad frames without an id: %zu error events\n", n_errors);
    assert_true(n_errors >= 1 && n_errors <= 6);
    assert_int_equal(gps_refused(fx, "range"), 26);
    pass(fx);
}

/* ---- the trip life cycle ---- */

static int64_t route_of(struct ttrack_client *drv)
{
    struct tmsg *m = ttrack_call(drv, "trip.mine", NULL);
    uint32_t n = 0;
    const msgpack_object *a = array_at(m, "data", &n);
    assert_msg(tauth_is_ok(m) && a && n == 1, m);
    int64_t route = obj_id(&a->via.array.ptr[0], "route.id");
    assert_msg(route > 0, m);
    tmsg_free(m);
    return route;
}

static void expect_trip_status(struct fx *fx, int64_t trip, const char *status,
                               const char *reason)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)trip);
    /* "" for no reason: a NULL would end the parameter list. */
    long n = tauth_sql(fx->h,
                       "SELECT 1 FROM trips WHERE id = $1 AND status = $2"
                       " AND end_reason IS NOT DISTINCT FROM NULLIF($3, '')"
                       " AND (ended_at IS NOT NULL) = ($2 = 'ended')",
                       id, status, reason ? reason : "", (const char *)NULL);
    if (n != 1) {
        fail_msg("trip %lld is not %s (reason %s) in the database", (long long)trip, status,
                 reason ? reason : "none");
    }
}

static void expect_ended(struct ttrack_client *c, int64_t trip, const char *reason)
{
    struct tmsg *m = ttrack_event(c, "trip.ended", EVENT_MS);
    assert_msg(m && tmsg_uint_is(m, "data.trip", (uint64_t)trip) &&
               tmsg_str_is(m, "data.reason", reason), m);
    tmsg_free(m);
}

static void test_trip_start_and_end(void **state)
{
    static const char *const env[] = { "CLASSMENT_GPS_MIN_INTERVAL_MS=0", NULL };
    struct fx *fx = start(state, env, 2, 2);
    load_other_school(fx, 1, 0);
    int64_t trip1 = fx->f.drivers[0].trip;
    struct ttrack_client *d1 = driver(fx, 0);
    struct ttrack_client *d2 = driver(fx, 1);
    struct ttrack_client *follower = parent(fx, 0);   /* subscribed */
    struct ttrack_client *connected = parent(fx, 1);  /* same route, only connected */
    struct ttrack_client *route2 = parent(fx, 2);     /* another route */
    struct ttrack_client *admin = user(fx, fx->f.school, "admin", "Asha Admin", NULL);
    int64_t route1 = route_of(d1);
    subscribe_quietly(follower, trip1);

    /* One active trip per driver. */
    struct tmsg *m = ttrack_call(d1, "trip.start", "{route: %D}", route1);
    assert_msg(tauth_is_err(m, "conflict", NULL), m);
    tmsg_free(m);
    m = ttrack_call(d1, "trip.start", "{route: 999999999}");
    assert_msg(tauth_is_err(m, "not_found", "route") || tauth_is_err(m, "conflict", NULL), m);
    tmsg_free(m);
    /* Another driver may not end it; neither may a parent. */
    m = ttrack_call(d2, "trip.end", "{trip: %D}", trip1);
    assert_msg(tauth_is_err(m, "forbidden", NULL), m);
    tmsg_free(m);
    m = ttrack_call(follower, "trip.end", "{trip: %D}", trip1);
    assert_msg(tauth_is_err(m, "forbidden", NULL), m);
    tmsg_free(m);
    m = ttrack_call(d1, "trip.end", "{trip: %D}", fx->other.drivers[0].trip);
    assert_msg(tauth_is_err(m, "not_found", NULL), m);
    tmsg_free(m);
    expect_trip_status(fx, trip1, "active", NULL);

    /* The driver ends it: subscribers are told, the database agrees. */
    m = ttrack_call(d1, "trip.end", "{trip: %D}", trip1);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);
    expect_ended(follower, trip1, "driver");
    expect_trip_status(fx, trip1, "ended", "driver");
    m = ttrack_call(d1, "trip.end", "{trip: %D}", trip1);
    assert_msg(tauth_is_err(m, "conflict", NULL), m);
    tmsg_free(m);
    m = ttrack_call(connected, "trip.subscribe", "{trip: %D}", trip1);
    assert_msg(tauth_is_err(m, "conflict", "trip"), m);
    tmsg_free(m);
    char other_trip[24];
    snprintf(other_trip, sizeof other_trip, "%lld", (long long)fx->other.drivers[0].trip);
    int64_t other_route = tauth_sql_int(fx->h, "SELECT route_id FROM trips WHERE id = $1",
                                        other_trip, (const char *)NULL);
    assert_true(other_route > 0);
    m = ttrack_call(d1, "trip.start", "{route: %D}", other_route);
    assert_msg(tauth_is_err(m, "not_found", "route"), m);
    tmsg_free(m);
    m = ttrack_call(d1, "trip.mine", NULL);
    uint32_t n = 99;
    assert_msg(tauth_is_ok(m) && array_at(m, "data", &n) && n == 0, m);
    tmsg_free(m);

    /* A new trip: every connected parent of the route hears of it, no one else. */
    m = ttrack_call(d1, "trip.start", "{route: %D}", route1);
    assert_msg(tauth_is_ok(m), m);
    int64_t trip3 = ttrack_id(m, "data.trip");
    assert_msg(trip3 > 0 && trip3 != trip1, m);
    tmsg_free(m);
    struct ttrack_client *told[] = { follower, connected };
    for (size_t i = 0; i < 2; i++) {
        m = ttrack_event(told[i], "trip.started", EVENT_MS);
        assert_msg(m && tmsg_uint_is(m, "data.trip", (uint64_t)trip3) &&
                   tmsg_uint_is(m, "data.route", (uint64_t)route1), m);
        tmsg_free(m);
    }
    expect_trip_status(fx, trip3, "active", NULL);
    m = ttrack_call(d1, "trip.mine", NULL);
    const msgpack_object *a = array_at(m, "data", &n);
    assert_msg(tauth_is_ok(m) && a && n == 1 && obj_id(&a->via.array.ptr[0], "trip") == trip3,
               m);
    tmsg_free(m);

    /* The new trip works end to end, and an admin may end it. */
    subscribe_quietly(follower, trip3);
    int64_t ts = now_ms();
    assert_int_equal(ttrack_pos(d1, trip3, BUS_LAT, BUS_LON, ts), 0);
    expect_pos(follower, trip3, BUS_LAT, BUS_LON, ts);
    m = ttrack_call(admin, "trip.end", "{trip: %D}", trip3);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);
    expect_ended(follower, trip3, "admin");
    expect_trip_status(fx, trip3, "ended", "admin");
    POS_REFUSED("not_found", "trip", d1, trip3, BUS_LAT, BUS_LON, ts + 1000);
    expect_nothing(follower);
    expect_nothing(connected);
    expect_nothing(route2);
    expect_nothing(d2);
    pass(fx);
}

/* ---- a subscriber that stops reading ---- */

/* VmRSS of pid in KiB, or -1. */
static long rss_kb(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    char *text = tsys_read_file(path, NULL);
    const char *line = text ? strstr(text, "VmRSS:") : NULL;
    long kb = line ? strtol(line + 6, NULL, 10) : -1;
    free(text);
    return kb;
}

/* Positions sent one at a time, each awaited by the reading subscriber; then a burst sent
 * without waiting, larger than what the kernel buffers on loopback (a few MiB per socket), so
 * that the server's own queue for the slow subscriber is what has to hold the line. */
#define SLOW_POSITIONS 2000
#define BURST_POSITIONS 50000
#define SLOW_MAX_GROWTH_KB (64 * 1024)

/* A request on the raw connection: its reply (events meanwhile are dropped). */
static struct tmsg *raw_call(struct ttrack_raw *r, uint64_t id, const char *op,
                             const char *args_fmt, const char *token, int64_t trip)
{
    int rc = token ? ttrack_raw_send(r, args_fmt, id, op, token)
                   : ttrack_raw_send(r, args_fmt, id, op, trip);
    assert_int_equal(rc, 0);
    uint64_t deadline = tsys_mono_ms() + EVENT_MS;
    for (;;) {
        struct tmsg *m = ttrack_raw_recv(r, tsys_left_ms(deadline));
        if (!m || tmsg_uint_is(m, "id", id)) {
            return m;
        }
        tmsg_free(m);
    }
}

/* Reads trip.pos events (on c, or on raw) until nothing comes for 1 s: how many, and the last
 * one's ts and lat. Each must be newer than the one before. */
/* Checks one position against the one before (prev): newer, with a latitude. */
static void check_position(struct tmsg *m, double *prev, double *last_ts, double *last_lat)
{
    double ts = 0;
    assert_msg(tmsg_is_event(m, "trip.pos") && ttrack_num(m, "data.ts", &ts) && ts > *prev &&
               ttrack_num(m, "data.lat", last_lat), m);
    *prev = *last_ts = ts;
}

static size_t read_positions(struct ttrack_client *c, struct ttrack_raw *raw, double *last_ts,
                             double *last_lat)
{
    double prev = -1;
    size_t got = 0;
    if (c) {
        /* A client that keeps up may get all 50,000: take them in one pass. */
        assert_true(ttrack_settle(c, 1000, 60000));
        struct tmsg **all = NULL;
        got = ttrack_take_all(c, "trip.pos", &all);
        for (size_t i = 0; i < got; i++) {
            check_position(all[i], &prev, last_ts, last_lat);
            tmsg_free(all[i]);
        }
        free(all);
        return got;
    }
    struct tmsg *m;
    while ((m = ttrack_raw_recv(raw, 1000)) != NULL) {
        check_position(m, &prev, last_ts, last_lat);
        got++;
        tmsg_free(m);
    }
    return got;
}

static void test_slow_subscriber_costs_one_slot_and_delays_no_one(void **state)
{
    /* Under AddressSanitizer freed memory waits in a quarantine (256 MiB by default) before
     * reuse, which would look like growth: keep it small for this server. */
    char asan[512];
    const char *asan_now = getenv("ASAN_OPTIONS");
    snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%squarantine_size_mb=8", asan_now ? asan_now : "",
             asan_now && *asan_now ? ":" : "");
    const char *const env[] = { "CLASSMENT_GPS_MIN_INTERVAL_MS=0", "CLASSMENT_GPS_MAX_AGE_S=3600",
                                "CLASSMENT_SEND_QUEUE=32", "CLASSMENT_LOG=info", asan, NULL };
    struct fx *fx = start(state, env, 1, 2);
    int64_t trip = fx->f.drivers[0].trip;
    struct ttrack_client *d = driver(fx, 0);
    struct ttrack_client *fast = parent(fx, 1);
    subscribe_quietly(fast, trip);
    /* The slow one offers a tiny receive window from the start, so the server's writes to it
     * block as soon as the server's socket buffer is full. */
    struct ttrack_raw *slow = fx->raw = ttrack_raw_connect(fx->port, 1024);
    assert_non_null(slow);
    struct tmsg *m = raw_call(slow, 1, "auth.resume", "{id: %U, op: %s, args: {token: %s}}",
                              fx->f.parents[0].token, 0);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);
    m = raw_call(slow, 2, "trip.subscribe", "{id: %U, op: %s, args: {trip: %D}}", NULL, trip);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);

    long before_kb = rss_kb(harness_pid(fx->h));
    assert_true(before_kb > 0);
    /* 11 cm per 10 ms of ts (11 m/s). */
    int total = SLOW_POSITIONS + BURST_POSITIONS;
    int64_t ts0 = now_ms() - 1000000;
    uint64_t worst_ms = 0, total_ms = 0;
    for (int i = 0; i < SLOW_POSITIONS; i++) {
        double lat = BUS_LAT + 1e-6 * i;
        int64_t ts = ts0 + 10 * i;
        uint64_t sent = tsys_mono_ms();
        assert_int_equal(ttrack_pos(d, trip, lat, BUS_LON, ts), 0);
        m = ttrack_event(fast, "trip.pos", EVENT_MS);
        if (!is_pos_at(m, "data", trip, lat, BUS_LON, ts)) {
            fail_msg("position %d: the reading subscriber got %s", i, tmsg_text(m));
        }
        tmsg_free(m);
        uint64_t took = tsys_mono_ms() - sent;
        worst_ms = took > worst_ms ? took : worst_ms;
        total_ms += took;
    }
    fprintf(stderr, "reading subscriber: %d positions one by one, worst %llu ms, mean %.2f ms\n",
            SLOW_POSITIONS, (unsigned long long)worst_ms, (double)total_ms / SLOW_POSITIONS);
    assert_true(worst_ms < 1000);

    uint64_t burst_start = tsys_mono_ms();
    for (int i = SLOW_POSITIONS; i < total; i++) {
        assert_int_equal(ttrack_pos(d, trip, BUS_LAT + 1e-6 * i, BUS_LON, ts0 + 10 * i), 0);
    }
    double last_ts = 0, last_lat = 0;
    size_t fast_got = read_positions(fast, NULL, &last_ts, &last_lat);
    double newest_ts = (double)(ts0 + 10 * (total - 1));
    double newest_lat = BUS_LAT + 1e-6 * (total - 1);
    long peak_kb = harness_peak_rss_kb(fx->h);
    fprintf(stderr, "burst of %d: the reading subscriber had the newest within %llu ms (%zu "
                    "positions); server RSS %ld KiB before, peak %ld KiB\n",
            BURST_POSITIONS, (unsigned long long)(tsys_mono_ms() - burst_start - 1000),
            fast_got, before_kb, peak_kb);
    assert_true(fast_got >= 1 && last_ts == newest_ts && fabs(last_lat - newest_lat) < 1e-9);
    assert_true(peak_kb > 0 && peak_kb - before_kb < SLOW_MAX_GROWTH_KB);
    assert_true(ttrack_only(fast, (const char *const[]){ NULL }));

    /* The one that did not read is still connected and ends on the newest position, having
     * been sent fewer than all of them. */
    last_ts = last_lat = 0;
    size_t got = read_positions(NULL, slow, &last_ts, &last_lat);
    fprintf(stderr, "slow subscriber: %zu of %d positions once it read again\n", got, total);
    assert_int_equal(ttrack_raw_close_code(slow), 0);
    assert_true(got >= 1 && got < (size_t)total);
    assert_true(last_ts == newest_ts && fabs(last_lat - newest_lat) < 1e-9);
    m = raw_call(slow, 3, "trip.unsubscribe", "{id: %U, op: %s, args: {trip: %D}}", NULL, trip);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);
    ttrack_raw_free(slow);
    fx->raw = NULL;
    assert_int_equal(tauth_metric(fx->port, "classment_slow_closes_total"), 0);
    assert_int_equal(tauth_metric(fx->port, "classment_gps_frames_total{outcome=\"accepted\"}"),
                     total);
    pass(fx);
}

/* ---- stop events ---- */

/* c's kept stop events of kind ev: exactly n, all for stop. */
static void expect_stop_events(struct ttrack_client *c, const char *ev, int64_t trip,
                               int64_t stop, size_t n)
{
    size_t have = ttrack_count(c, ev);
    for (size_t i = 0; i < have; i++) {
        const struct tmsg *m = ttrack_kept(c, ev, i);
        if (!tmsg_uint_is(m, "data.trip", (uint64_t)trip) ||
            !tmsg_uint_is(m, "data.stop", (uint64_t)stop)) {
            fail_msg("%s got %s for another stop (expected %lld): %s", ttrack_name(c), ev,
                     (long long)stop, tmsg_text((struct tmsg *)m));
        }
    }
    if (have != n) {
        fail_msg("%s got %zu %s events for stop %lld, expected %zu", ttrack_name(c), have, ev,
                 (long long)stop, n);
    }
}

/* Sends a position and waits until the subscriber `watch` has it, so that each position is
 * handled (stop events included) before the next is sent. */
static void drive(struct ttrack_client *d, struct ttrack_client *watch, int64_t trip,
                  double lat, double lon, int64_t ts)
{
    assert_int_equal(ttrack_pos(d, trip, lat, lon, ts), 0);
    expect_pos(watch, trip, lat, lon, ts);
}

static void test_stop_events_fire_once_per_stop(void **state)
{
    static const char *const env[] = { "CLASSMENT_GPS_MIN_INTERVAL_MS=0",
                                       "CLASSMENT_STOP_APPROACH_S=3600", NULL };
    /* Parent k's child boards at stop k. */
    struct fx *fx = start(state, env, 1, 6);
    int64_t trip = fx->f.drivers[0].trip;
    struct ttrack_client *d = driver(fx, 0);
    struct ttrack_client *p0 = parent(fx, 0);
    struct ttrack_client *p2 = parent(fx, 2);
    struct ttrack_client *p4 = parent(fx, 4);   /* connected, not subscribed */
    struct tmsg *m = subscribe(p2, trip);
    struct stop stops[6];
    assert_int_equal(route_stops(m, stops, 6), 6);
    tmsg_free(m);
    static const char *const stop_events[] = { "trip.stop.approaching", "trip.stop.arrived",
                                               NULL };

    /* ~300 m before the first stop: every stop is within an hour, so each stop's parents
     * hear "approaching" once, with the ETA at 3 m/s along the route. */
    int64_t base = now_ms() - 100000;
    drive(d, p2, trip, stops[0].lat - 0.002, stops[0].lon - 0.00175, base);
    m = ttrack_event(p2, "trip.stop.approaching", EVENT_MS);
    double eta = -1;
    assert_msg(m && tmsg_uint_is(m, "data.trip", (uint64_t)trip) &&
               tmsg_uint_is(m, "data.stop", (uint64_t)stops[2].id) &&
               ttrack_num(m, "data.eta_s", &eta), m);
    /* ~290 m to stop 1, then two legs of ~585 m, at 3 m/s */
    assert_msg(eta > 400 && eta < 600, m);
    tmsg_free(m);
    m = ttrack_event(p4, "trip.stop.approaching", EVENT_MS);
    assert_msg(m && tmsg_uint_is(m, "data.stop", (uint64_t)stops[4].id) &&
               ttrack_num(m, "data.eta_s", &eta) && eta > 700 && eta < 1000, m);
    tmsg_free(m);

    /* Between stops 1 and 2, then at stop 2, then waiting there. */
    drive(d, p2, trip, (stops[1].lat + stops[2].lat) / 2, (stops[1].lon + stops[2].lon) / 2,
          base + 45000);
    drive(d, p2, trip, stops[2].lat, stops[2].lon, base + 65000);
    m = ttrack_event(p2, "trip.stop.arrived", EVENT_MS);
    assert_msg(m && tmsg_uint_is(m, "data.trip", (uint64_t)trip) &&
               tmsg_uint_is(m, "data.stop", (uint64_t)stops[2].id) && !tmsg_has(m, "data.eta_s"),
               m);
    tmsg_free(m);
    for (int i = 1; i <= 5; i++) {
        drive(d, p2, trip, stops[2].lat + 1e-5 * (i % 2), stops[2].lon, base + 65000 + 1000 * i);
    }
    assert_true(ttrack_collect(p2, QUIET_MS));
    assert_true(ttrack_only(p2, stop_events));
    expect_stop_events(p2, "trip.stop.approaching", trip, stops[2].id, 0);
    expect_stop_events(p2, "trip.stop.arrived", trip, stops[2].id, 0);

    /* On to stop 4 (stop 3 passed on the way without an event), and waiting there. */
    drive(d, p2, trip, stops[4].lat, stops[4].lon, base + 120000);
    m = ttrack_event(p4, "trip.stop.arrived", EVENT_MS);
    assert_msg(m && tmsg_uint_is(m, "data.stop", (uint64_t)stops[4].id), m);
    tmsg_free(m);
    drive(d, p2, trip, stops[4].lat, stops[4].lon + 1e-5, base + 121000);
    assert_true(ttrack_collect(p4, QUIET_MS));
    assert_true(ttrack_only(p4, stop_events));
    expect_stop_events(p4, "trip.stop.approaching", trip, stops[4].id, 0);
    expect_stop_events(p4, "trip.stop.arrived", trip, stops[4].id, 0);
    /* Stop 0 was passed 300 m away: approaching once, never arrived. */
    assert_true(ttrack_collect(p0, QUIET_MS));
    assert_true(ttrack_only(p0, stop_events));
    expect_stop_events(p0, "trip.stop.approaching", trip, stops[0].id, 1);
    expect_stop_events(p0, "trip.stop.arrived", trip, stops[0].id, 0);
    assert_true(ttrack_collect(p2, QUIET_MS));
    assert_true(ttrack_only(p2, stop_events));
    expect_stop_events(p2, "trip.stop.approaching", trip, stops[2].id, 0);
    expect_stop_events(p2, "trip.stop.arrived", trip, stops[2].id, 0);
    /* Six "approaching" at the first fix, then two arrivals. */
    assert_int_equal(tauth_metric(fx->port, "classment_stop_events_total"), 8);
    pass(fx);
}

/* ---- trip.mine and trip.history ---- */

static void test_trip_mine_and_history(void **state)
{
    static const char *const env[] = { "CLASSMENT_GPS_MIN_INTERVAL_MS=0", NULL };
    struct fx *fx = start(state, env, 2, 1);
    load_other_school(fx, 1, 0);
    int64_t trip1 = fx->f.drivers[0].trip, trip2 = fx->f.drivers[1].trip;
    struct ttrack_client *d = driver(fx, 0);
    struct ttrack_client *p = parent(fx, 0);
    struct ttrack_client *admin = user(fx, fx->f.school, "admin", "Asha Admin", NULL);

    struct tmsg *m = ttrack_call(d, "trip.mine", NULL);
    uint32_t n = 0;
    const msgpack_object *a = array_at(m, "data", &n);
    assert_msg(tauth_is_ok(m) && a && n == 1, m);
    const msgpack_object *e = &a->via.array.ptr[0];
    assert_msg(obj_id(e, "trip") == trip1 && obj_id(e, "route.id") > 0 && !tmsg_get(e, "students"),
               m);
    const msgpack_object *s = tmsg_get(e, "status");
    assert_msg(s && s->type == MSGPACK_OBJECT_STR && s->via.str.size == 6 &&
               memcmp(s->via.str.ptr, "active", 6) == 0, m);
    int64_t route1 = obj_id(e, "route.id");
    tmsg_free(m);

    m = ttrack_call(p, "trip.mine", NULL);
    a = array_at(m, "data", &n);
    assert_msg(tauth_is_ok(m) && a && n == 1, m);
    e = &a->via.array.ptr[0];
    uint32_t n_students = 0;
    const msgpack_object *students = tmsg_get(e, "students");
    if (students && students->type == MSGPACK_OBJECT_ARRAY) {
        n_students = students->via.array.size;
    }
    assert_msg(obj_id(e, "trip") == trip1 && obj_id(e, "route.id") == route1 &&
               n_students == 1 && obj_id(&students->via.array.ptr[0], "id") > 0, m);
    const msgpack_object *child = &students->via.array.ptr[0];
    const msgpack_object *name = tmsg_get(child, "name");
    assert_msg(name && name->type == MSGPACK_OBJECT_STR && name->via.str.size > 0, m);
    /* Each child comes with the stop they board at: the assignment's, with its name. */
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)obj_id(child, "id"));
    int64_t stop = tauth_sql_int(fx->h, "SELECT stop_id FROM route_assignments"
                                        " WHERE student_id = $1", sid, (const char *)NULL);
    const msgpack_object *stop_name = tmsg_get(child, "stop.name");
    assert_msg(stop > 0 && obj_id(child, "stop.id") == stop && stop_name &&
               stop_name->type == MSGPACK_OBJECT_STR, m);
    char stop_id[24], stop_name_s[128];
    snprintf(stop_id, sizeof stop_id, "%lld", (long long)stop);
    snprintf(stop_name_s, sizeof stop_name_s, "%.*s", (int)stop_name->via.str.size,
             stop_name->via.str.ptr);
    uint32_t name_size = name->via.str.size;
    assert_int_equal(tauth_sql_int(fx->h, "SELECT count(*) FROM route_stops"
                                          " WHERE id = $1 AND name = $2",
                                   stop_id, stop_name_s, (const char *)NULL),
                     1);
    tmsg_free(m);
    /* A child assigned without a stop: stop is nil, the child is still listed. */
    assert_int_equal(tauth_sql(fx->h, "UPDATE route_assignments SET stop_id = NULL"
                                      " WHERE student_id = $1", sid, (const char *)NULL),
                     1);
    m = ttrack_call(p, "trip.mine", NULL);
    a = array_at(m, "data", &n);
    assert_msg(tauth_is_ok(m) && a && n == 1, m);
    students = tmsg_get(&a->via.array.ptr[0], "students");
    assert_msg(students && students->type == MSGPACK_OBJECT_ARRAY &&
               students->via.array.size == 1, m);
    child = &students->via.array.ptr[0];
    const msgpack_object *no_stop = tmsg_get(child, "stop");
    name = tmsg_get(child, "name");
    assert_msg(obj_id(child, "id") == strtoll(sid, NULL, 10) && no_stop &&
               no_stop->type == MSGPACK_OBJECT_NIL && name &&
               name->type == MSGPACK_OBJECT_STR && name->via.str.size == name_size, m);
    tmsg_free(m);

    m = ttrack_call(admin, "trip.mine", NULL);
    a = array_at(m, "data", &n);
    assert_msg(tauth_is_ok(m) && a && n == 2 && obj_id(&a->via.array.ptr[0], "trip") == trip1 &&
               obj_id(&a->via.array.ptr[1], "trip") == trip2, m);
    tmsg_free(m);

    /* Five positions, some with speed and heading. */
    int64_t ts0 = now_ms() - 10000;
    for (int i = 0; i < 5; i++) {
        double lat = BUS_LAT + 0.0001 * i, lon = BUS_LON + 0.00005 * i;
        int r;
        if (i == 0) {
            /* With an id: the trip is in memory before the next ones arrive. */
            struct tmsg *first = ttrack_pos_call(d, trip1, lat, lon, ts0);
            r = tauth_is_ok(first) ? 0 : -1;
            tmsg_free(first);
        } else if (i % 2) {
            r = tclient_send(ttrack_ws(d),
                             "{op: trip.pos, args: {trip: %D, lat: %f, lon: %f, ts: %D, "
                             "spd: %f, hdg: %f}}",
                             trip1, lat, lon, ts0 + 1000 * i, 5.5 + i, 30.0 + i);
        } else {
            r = ttrack_pos(d, trip1, lat, lon, ts0 + 1000 * i);
        }
        assert_int_equal(r, 0);
    }
    expect_stored(fx, trip1, 5);
    m = ttrack_call(admin, "trip.history", "{trip: %D}", trip1);
    const msgpack_object *pts = array_at(m, "data.points", &n);
    assert_msg(tauth_is_ok(m) && pts && n == 5, m);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *pt = &pts->via.array.ptr[i];
        assert_msg(pt->type == MSGPACK_OBJECT_ARRAY && pt->via.array.size == 5, m);
        const msgpack_object *f = pt->via.array.ptr;
        double ts = -1, lat = -1, lon = -1, spd = -1, hdg = -1;
        assert_msg(ttrack_obj_num(&f[0], &ts) && ttrack_obj_num(&f[1], &lat) &&
                   ttrack_obj_num(&f[2], &lon), m);
        assert_msg(fabs(ts - (double)(ts0 + 1000 * i)) < 1 &&
                   fabs(lat - (BUS_LAT + 0.0001 * i)) < 1e-9 &&
                   fabs(lon - (BUS_LON + 0.00005 * i)) < 1e-9, m);
        if (i % 2) {
            assert_msg(ttrack_obj_num(&f[3], &spd) && fabs(spd - (5.5 + i)) < 1e-3 &&
                       ttrack_obj_num(&f[4], &hdg) && fabs(hdg - (30.0 + i)) < 1e-3, m);
        } else {
            assert_msg(f[3].type == MSGPACK_OBJECT_NIL && f[4].type == MSGPACK_OBJECT_NIL, m);
        }
    }
    tmsg_free(m);
    /* An active trip with no stored track yet. */
    m = ttrack_call(admin, "trip.history", "{trip: %D}", trip2);
    assert_msg(tauth_is_ok(m) && array_at(m, "data.points", &n) && n == 0, m);
    tmsg_free(m);
    /* Only admins, and only their school's trips. */
    m = ttrack_call(p, "trip.history", "{trip: %D}", trip1);
    assert_msg(tauth_is_err(m, "forbidden", NULL), m);
    tmsg_free(m);
    m = ttrack_call(d, "trip.history", "{trip: %D}", trip1);
    assert_msg(tauth_is_err(m, "forbidden", NULL), m);
    tmsg_free(m);
    m = ttrack_call(admin, "trip.history", "{trip: %D}", fx->other.drivers[0].trip);
    assert_msg(tauth_is_err(m, "not_found", NULL), m);
    tmsg_free(m);
    m = ttrack_call(admin, "trip.history", "{trip: 999999999}");
    assert_msg(tauth_is_err(m, "not_found", NULL), m);
    tmsg_free(m);
    pass(fx);
}

/* ---- idle trips ---- */

static void test_idle_trip_is_ended_and_subscribers_told(void **state)
{
    static const char *const env[] = { "CLASSMENT_GPS_MIN_INTERVAL_MS=0",
                                       "CLASSMENT_TRIP_IDLE_S=2", NULL };
    struct fx *fx = start(state, env, 1, 1);
    int64_t trip = fx->f.drivers[0].trip;
    struct ttrack_client *d = driver(fx, 0);
    struct ttrack_client *p = parent(fx, 0);
    subscribe_quietly(p, trip);

    /* Positions every half second keep it alive for longer than the idle time. */
    int64_t ts = now_ms();
    for (int i = 0; i < 7; i++) {
        assert_int_equal(ttrack_pos(d, trip, BUS_LAT + 0.0001 * i, BUS_LON, ts + 500 * i), 0);
        expect_pos(p, trip, BUS_LAT + 0.0001 * i, BUS_LON, ts + 500 * i);
        tsys_sleep_ms(i < 6 ? 500 : 0);
    }
    uint64_t last = tsys_mono_ms();
    assert_int_equal(ttrack_count(p, "trip.ended"), 0);
    struct tmsg *m = ttrack_event(p, "trip.ended", 8000);
    uint64_t after = tsys_mono_ms() - last;
    assert_msg(m && tmsg_uint_is(m, "data.trip", (uint64_t)trip) &&
               tmsg_str_is(m, "data.reason", "idle"), m);
    tmsg_free(m);
    fprintf(stderr, "trip.ended (idle) arrived %llu ms after the last position\n",
            (unsigned long long)after);
    assert_true(after >= 1500 && after <= 6500);
    expect_trip_status(fx, trip, "ended", "idle");
    POS_REFUSED("not_found", "trip", d, trip, BUS_LAT, BUS_LON, now_ms());
    m = ttrack_call(d, "trip.mine", NULL);
    uint32_t n = 99;
    assert_msg(tauth_is_ok(m) && array_at(m, "data", &n) && n == 0, m);
    tmsg_free(m);
    assert_int_equal(tauth_metric(fx->port, "classment_trips_ended_idle_total"), 1);
    expect_nothing(p);
    pass(fx);
}

/* ---- retention ---- */

static void test_retention_purge_removes_only_old_positions(void **state)
{
    static const char *const env[] = { "CLASSMENT_GPS_MIN_INTERVAL_MS=0", NULL };
    struct fx *fx = start(state, env, 1, 0);
    int64_t trip = fx->f.drivers[0].trip;
    struct ttrack_client *d = driver(fx, 0);
    int64_t ts = now_ms() - 5000;
    for (int i = 0; i < 3; i++) {
        struct tmsg *m = ttrack_pos_call(d, trip, BUS_LAT + 0.0001 * i, BUS_LON, ts + 1000 * i);
        assert_msg(tauth_is_ok(m), m);
        tmsg_free(m);
    }
    expect_stored(fx, trip, 3);
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)trip);
    assert_int_equal(tauth_sql(fx->h,
                               "INSERT INTO trip_positions (trip_id, ts, location, received_at)"
                               " SELECT $1, now() - interval '40 days' + g * interval '1 s',"
                               "  ST_SetSRID(ST_MakePoint(77.55, 12.9), 4326)::geography,"
                               "  now() - interval '40 days' + g * interval '1 s'"
                               " FROM generate_series(1, 4) g",
                               id, (const char *)NULL),
                     4);
    /* One just inside the window stays. */
    assert_int_equal(tauth_sql(fx->h,
                               "INSERT INTO trip_positions (trip_id, ts, location, received_at)"
                               " VALUES ($1, now() - interval '29 days',"
                               "  ST_SetSRID(ST_MakePoint(77.55, 12.9), 4326)::geography,"
                               "  now() - interval '29 days')",
                               id, (const char *)NULL),
                     1);
    assert_int_equal(positions_stored(fx, trip), 8);
    assert_int_equal(tauth_sql_int(fx->h, "SELECT purge_positions(30)", (const char *)NULL), 4);
    assert_int_equal(tauth_sql_int(fx->h,
                                   "SELECT count(*) FROM trip_positions WHERE trip_id = $1"
                                   " AND received_at < now() - interval '30 days'",
                                   id, (const char *)NULL),
                     0);
    assert_int_equal(positions_stored(fx, trip), 4);
    assert_int_equal(tauth_sql_int(fx->h, "SELECT purge_positions(30)", (const char *)NULL), 0);
    pass(fx);
}

/* ---- when the right to follow a trip ends ---- */

/* The child of the fixture's parent i: from trip.mine. */
static int64_t child_of(struct ttrack_client *p)
{
    struct tmsg *m = ttrack_call(p, "trip.mine", NULL);
    uint32_t n = 0;
    const msgpack_object *a = array_at(m, "data", &n);
    assert_msg(tauth_is_ok(m) && a && n == 1, m);
    int64_t student = -1;
    const msgpack_object *students = tmsg_get(&a->via.array.ptr[0], "students");
    if (students && students->type == MSGPACK_OBJECT_ARRAY && students->via.array.size == 1) {
        student = obj_id(&students->via.array.ptr[0], "id");
    }
    assert_msg(student > 0, m);
    tmsg_free(m);
    return student;
}

static void test_unlinked_guardian_can_no_longer_subscribe(void **state)
{
    static const char *const env[] = { "CLASSMENT_GPS_MIN_INTERVAL_MS=0", NULL };
    struct fx *fx = start(state, env, 1, 2);
    int64_t trip = fx->f.drivers[0].trip;
    struct ttrack_client *p = parent(fx, 0);
    int64_t student = child_of(p);
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)student);
    /* The link goes away behind the server's back (no op told it): the next check sees it. */
    assert_int_equal(tauth_sql(fx->h, "DELETE FROM guardians WHERE student_id = $1", sid,
                               (const char *)NULL),
                     1);
    struct tmsg *m = ttrack_call(p, "trip.subscribe", "{trip: %D}", trip);
    assert_msg(tauth_is_err(m, "forbidden", "trip"), m);
    tmsg_free(m);
    m = ttrack_call(p, "trip.mine", NULL);
    uint32_t n = 99;
    assert_msg(tauth_is_ok(m) && array_at(m, "data", &n) && n == 0, m);
    tmsg_free(m);
    /* The same for a child taken off the route. */
    struct ttrack_client *p2 = parent(fx, 1);
    int64_t student2 = child_of(p2);
    snprintf(sid, sizeof sid, "%lld", (long long)student2);
    assert_int_equal(tauth_sql(fx->h, "DELETE FROM route_assignments WHERE student_id = $1",
                               sid, (const char *)NULL),
                     1);
    m = ttrack_call(p2, "trip.subscribe", "{trip: %D}", trip);
    assert_msg(tauth_is_err(m, "forbidden", "trip"), m);
    tmsg_free(m);
    pass(fx);
}

/* The unlink tests: a trip whose parent 0 (child at stop 0) and parent 1 (stop 1) follow it,
 * with the bus 2 km south of stop 0 (no stop is near enough for an event yet). */
struct unlink_fx {
    struct fx *fx;
    int64_t trip;
    struct ttrack_client *admin, *d, *p, *other;
    struct stop stops[6];
    int64_t ts;
};

static void unlink_start(void **state, struct unlink_fx *u)
{
    static const char *const env[] = { "CLASSMENT_GPS_MIN_INTERVAL_MS=0", NULL };
    u->fx = start(state, env, 1, 2);
    u->trip = u->fx->f.drivers[0].trip;
    u->admin = user(u->fx, u->fx->f.school, "admin", "Asha Admin", NULL);
    u->d = driver(u->fx, 0);
    u->p = parent(u->fx, 0);
    u->other = parent(u->fx, 1);
    struct tmsg *m = subscribe(u->p, u->trip);
    assert_int_equal(route_stops(m, u->stops, 6), 6);
    tmsg_free(m);
    subscribe_quietly(u->other, u->trip);
    u->ts = now_ms() - 100000;
    assert_int_equal(ttrack_pos(u->d, u->trip, u->stops[0].lat - 0.018, u->stops[0].lon, u->ts),
                     0);
    expect_pos(u->p, u->trip, u->stops[0].lat - 0.018, u->stops[0].lon, u->ts);
    expect_pos(u->other, u->trip, u->stops[0].lat - 0.018, u->stops[0].lon, u->ts);
}

/* After the right to follow ended: trip.unsubscribed at once, then no trip.pos, while the
 * other parent still gets them; and the stop events of the child's stop no longer reach the
 * user either (the bus drives to stop 0; the other parent hears of stop 1 as a control). */
static void expect_unsubscribed(struct unlink_fx *u)
{
    struct tmsg *m = ttrack_event(u->p, "trip.unsubscribed", EVENT_MS);
    assert_msg(m && tmsg_uint_is(m, "data.trip", (uint64_t)u->trip), m);
    tmsg_free(m);
    assert_int_equal(tauth_metric(u->fx->port, "classment_trip_subscriptions"), 1);
    m = ttrack_call(u->p, "trip.subscribe", "{trip: %D}", u->trip);
    assert_msg(tauth_is_err(m, "forbidden", "trip"), m);
    tmsg_free(m);
    /* Whatever the server re-reads after the change has had time to land. */
    tsys_sleep_ms(300);
    drive(u->d, u->other, u->trip, u->stops[0].lat, u->stops[0].lon, u->ts + 100000);
    m = ttrack_event(u->other, "trip.stop.approaching", EVENT_MS);
    assert_msg(m && tmsg_uint_is(m, "data.stop", (uint64_t)u->stops[1].id), m);
    tmsg_free(m);
    if (!ttrack_collect(u->p, QUIET_MS)) {
        fail_msg("the unlinked parent's connection ended");
    }
    if (ttrack_count(u->p, NULL) != 0) {
        static const char *const none[] = { NULL };
        ttrack_only(u->p, none);
        fail_msg("after the change the user still received %zu events of the trip (stop "
                 "events of the child's stop: the trip's stop parents were not updated)",
                 ttrack_count(u->p, NULL));
    }
}

static void test_guardian_unlink_ends_the_live_subscription(void **state)
{
    struct unlink_fx u = { 0 };
    unlink_start(state, &u);
    int64_t student = child_of(u.p);
    char sid[24];
    snprintf(sid, sizeof sid, "%lld", (long long)student);
    int64_t uid = tauth_sql_int(u.fx->h, "SELECT user_id FROM guardians WHERE student_id = $1",
                                sid, (const char *)NULL);
    assert_true(uid > 0);
    struct tmsg *m = ttrack_call(u.admin, "guardian.unlink", "{student: %D, user: %D}", student,
                                 uid);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);
    expect_unsubscribed(&u);
    pass(u.fx);
}

static void test_route_unassign_ends_the_live_subscription(void **state)
{
    struct unlink_fx u = { 0 };
    unlink_start(state, &u);
    int64_t student = child_of(u.p);
    int64_t route = route_of(u.d);
    struct tmsg *m = ttrack_call(u.admin, "route.unassign", "{route: %D, student: %D}", route,
                                 student);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);
    expect_unsubscribed(&u);
    pass(u.fx);
}

/* A child who leaves the school is off their route before student.delete answers: the running
 * trip, which can no longer read that route back, finds it through the child's guardians. */
static void test_student_delete_ends_the_live_subscription(void **state)
{
    struct unlink_fx u = { 0 };
    unlink_start(state, &u);
    struct tmsg *m = ttrack_call(u.admin, "student.delete", "{id: %D}", child_of(u.p));
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);
    expect_unsubscribed(&u);
    pass(u.fx);
}

/* A guardian linked while the bus runs is a parent of a rider like any other: they may follow
 * the trip and hear of their child's stop. */
static void test_guardian_linked_during_a_trip_hears_of_the_childs_stop(void **state)
{
    struct unlink_fx u = { 0 };
    unlink_start(state, &u);
    int64_t student = child_of(u.p);
    int64_t uid = -1;
    struct ttrack_client *mother = user(u.fx, u.fx->f.school, "parent", "Meera Mother", &uid);
    struct tmsg *m = ttrack_call(u.admin, "guardian.link",
                                 "{student: %D, user: %D, relationship: mother}", student, uid);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);
    tsys_sleep_ms(300);
    subscribe_quietly(mother, u.trip);
    drive(u.d, mother, u.trip, u.stops[0].lat, u.stops[0].lon, u.ts + 100000);
    m = ttrack_event(u.p, "trip.stop.arrived", EVENT_MS);
    assert_msg(m && tmsg_uint_is(m, "data.stop", (uint64_t)u.stops[0].id), m);
    tmsg_free(m);
    m = ttrack_event(mother, "trip.stop.arrived", EVENT_MS);
    assert_msg(m && tmsg_uint_is(m, "data.stop", (uint64_t)u.stops[0].id), m);
    tmsg_free(m);
    pass(u.fx);
}

/* ---- positions that arrive while the trip is being loaded ---- */

/* A driver's app sends its backlog back to back, for example right after the server restarted
 * or before anyone followed the trip: the trip is not in memory yet, and every one of those
 * positions, sent in order, must be accepted in order. */
static void test_back_to_back_positions_before_the_trip_is_loaded_are_kept_in_order(void **state)
{
    static const char *const env[] = { "CLASSMENT_GPS_MIN_INTERVAL_MS=0", NULL };
    struct fx *fx = start(state, env, 1, 1);
    int64_t trip = fx->f.drivers[0].trip;
    struct ttrack_client *d = driver(fx, 0);
    enum { N = 20 };
    int64_t ts0 = now_ms() - 30000;
    for (int i = 0; i < N; i++) {
        assert_int_equal(ttrack_pos(d, trip, BUS_LAT + 0.0001 * i, BUS_LON, ts0 + 1000 * i), 0);
    }
    /* Refusals of frames without an id come back as error events. */
    assert_true(ttrack_collect(d, QUIET_MS));
    size_t errors = ttrack_count(d, "error");
    for (size_t i = 0; i < errors; i++) {
        fprintf(stderr, "refused: %s\n", tmsg_text((struct tmsg *)ttrack_kept(d, "error", i)));
    }
    long long order = gps_refused(fx, "order");
    if (errors || order) {
        fail_msg("%lld of %d in-order positions were refused as out of order (%zu error "
                 "events)", order, N, errors);
    }
    struct ttrack_client *p = parent(fx, 0);
    struct tmsg *m = subscribe(p, trip);
    assert_msg(is_pos_at(m, "data.last", trip, BUS_LAT + 0.0001 * (N - 1), BUS_LON,
                         ts0 + 1000 * (N - 1)), m);
    tmsg_free(m);
    expect_stored(fx, trip, N);
    pass(fx);
}

/* ---- subscriptions end with their connection or session ---- */

static void wait_subscriptions(struct fx *fx, long long n)
{
    uint64_t deadline = tsys_mono_ms() + EVENT_MS;
    long long have;
    while ((have = tauth_metric(fx->port, "classment_trip_subscriptions")) != n &&
           tsys_left_ms(deadline) > 0) {
        tsys_sleep_ms(50);
    }
    if (have != n) {
        fail_msg("classment_trip_subscriptions is %lld, expected %lld", have, n);
    }
}

static void test_subscriptions_end_with_logout_and_close(void **state)
{
    static const char *const env[] = { "CLASSMENT_GPS_MIN_INTERVAL_MS=0", NULL };
    struct fx *fx = start(state, env, 1, 3);
    int64_t trip = fx->f.drivers[0].trip;
    struct ttrack_client *d = driver(fx, 0);
    struct ttrack_client *leaves = parent(fx, 0);
    struct ttrack_client *closes = parent(fx, 1);
    struct ttrack_client *stays = parent(fx, 2);
    subscribe_quietly(leaves, trip);
    subscribe_quietly(closes, trip);
    subscribe_quietly(stays, trip);
    subscribe_quietly(stays, trip);
    wait_subscriptions(fx, 3);

    struct tmsg *m = ttrack_call(leaves, "auth.logout", NULL);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);
    drop(fx, closes);
    wait_subscriptions(fx, 1);
    int64_t ts = now_ms();
    assert_int_equal(ttrack_pos(d, trip, BUS_LAT, BUS_LON, ts), 0);
    expect_pos(stays, trip, BUS_LAT, BUS_LON, ts);
    if (ttrack_collect(leaves, QUIET_MS) && ttrack_count(leaves, "trip.pos") != 0) {
        fail_msg("a logged-out connection still receives positions");
    }
    /* Logged out, it may not follow anything. */
    m = ttrack_call(leaves, "trip.subscribe", "{trip: %D}", trip);
    assert_msg(tauth_is_err(m, "unauthenticated", NULL), m);
    tmsg_free(m);
    expect_nothing(stays);
    pass(fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(
            test_parents_of_riders_receive_positions_and_the_last_one_at_subscribe, teardown),
        cmocka_unit_test_teardown(test_refused_subscribers_never_see_the_trip, teardown),
        cmocka_unit_test_teardown(test_refused_positions_are_neither_forwarded_nor_stored,
                                  teardown),
        cmocka_unit_test_teardown(test_trip_start_and_end, teardown),
        cmocka_unit_test_teardown(test_slow_subscriber_costs_one_slot_and_delays_no_one,
                                  teardown),
        cmocka_unit_test_teardown(test_stop_events_fire_once_per_stop, teardown),
        cmocka_unit_test_teardown(test_trip_mine_and_history, teardown),
        cmocka_unit_test_teardown(test_idle_trip_is_ended_and_subscribers_told, teardown),
        cmocka_unit_test_teardown(test_retention_purge_removes_only_old_positions, teardown),
        cmocka_unit_test_teardown(test_unlinked_guardian_can_no_longer_subscribe, teardown),
        cmocka_unit_test_teardown(test_guardian_unlink_ends_the_live_subscription, teardown),
        cmocka_unit_test_teardown(test_route_unassign_ends_the_live_subscription, teardown),
        cmocka_unit_test_teardown(test_student_delete_ends_the_live_subscription, teardown),
        cmocka_unit_test_teardown(test_guardian_linked_during_a_trip_hears_of_the_childs_stop,
                                  teardown),
        cmocka_unit_test_teardown(test_subscriptions_end_with_logout_and_close, teardown),
        cmocka_unit_test_teardown(
            test_back_to_back_positions_before_the_trip_is_loaded_are_kept_in_order, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
