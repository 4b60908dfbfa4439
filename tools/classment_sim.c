/* classment-sim: simulated school buses for demos and soak tests. Each bus logs in as its
 * driver (auth.resume with a session token), starts a trip on its route (or uses the active
 * trip it is given), and drives along the route's stops at a realistic speed, sending
 * trip.pos once a second, pausing at each stop; at the end it ends the trip and, with
 * --loop, starts again after a break.
 *
 *   CLASSMENT_SIM_TOKEN=TOKEN classment-sim --url ws://HOST:PORT/v1/ws --route ROUTE [--loop]
 *   classment-sim --url … --fixture FILE [--seconds S]   (every driver of a load fixture)
 *
 * Route stops are read from the database (CLASSMENT_DB) before driving starts. */
#include <math.h>
#include <msgpack.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <uv.h>

#include "bench/wsconn.h"
#include "tracking/geo.h"

#define MAX_STOPS 200
#define STOP_DWELL_S 20

struct bus {
    struct wsconn conn;
    char token[64];
    long long route, trip;
    bool own_trip;          /* started by us (so we end it) */
    double lat[MAX_STOPS], lon[MAX_STOPS];
    int n_stops;
    int leg;                /* driving from stop leg to leg+1 */
    double leg_done_m;      /* metres driven on the current leg */
    int dwell_s;            /* seconds left waiting at a stop */
    double speed_mps;
    int state;              /* 0 connecting, 1 logging in, 2 starting, 3 driving, 4 ending */
    uint64_t next_id;
    unsigned sent;
};

static struct {
    uv_loop_t *loop;
    struct wsconn_target target;
    struct bus *buses;
    int n_buses;
    bool loop_routes;
    double seconds;
    uv_timer_t tick, stop_timer;
    uv_signal_t sigint, sigterm;
    unsigned long long positions;
} sim;

static double now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec * 1000.0 + (double)tv.tv_usec / 1000.0;
}

/* Packs a request into buf; returns its length (0 when it does not fit a small frame). */
static size_t pack(uint8_t *buf, const char *op, uint64_t id, void (*args)(msgpack_packer *,
                                                                          struct bus *),
                   struct bus *b)
{
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, id ? 3 : 2);
    if (id) {
        msgpack_pack_str_with_body(&pk, "id", 2);
        msgpack_pack_uint64(&pk, id);
    }
    msgpack_pack_str_with_body(&pk, "op", 2);
    msgpack_pack_str_with_body(&pk, op, strlen(op));
    msgpack_pack_str_with_body(&pk, "args", 4);
    args(&pk, b);
    size_t len = sb.size <= WSCONN_MAX_SEND ? sb.size : 0;
    if (len) {
        memcpy(buf, sb.data, len);
    }
    msgpack_sbuffer_destroy(&sb);
    return len;
}

static void args_resume(msgpack_packer *pk, struct bus *b)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_str_with_body(pk, "token", 5);
    msgpack_pack_str_with_body(pk, b->token, strlen(b->token));
}

static void args_route(msgpack_packer *pk, struct bus *b)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_str_with_body(pk, "route", 5);
    msgpack_pack_int64(pk, b->route);
}

static void args_trip(msgpack_packer *pk, struct bus *b)
{
    msgpack_pack_map(pk, 1);
    msgpack_pack_str_with_body(pk, "trip", 4);
    msgpack_pack_int64(pk, b->trip);
}

/* Where the bus is now: along its current leg, or at a stop. */
static void position(const struct bus *b, double *lat, double *lon, double *hdg)
{
    int a = b->leg, z = b->leg + 1 < b->n_stops ? b->leg + 1 : b->leg;
    double len = geo_distance_m(b->lat[a], b->lon[a], b->lat[z], b->lon[z]);
    double f = len > 0 ? b->leg_done_m / len : 0;
    if (f > 1) {
        f = 1;
    }
    *lat = b->lat[a] + (b->lat[z] - b->lat[a]) * f;
    *lon = b->lon[a] + (b->lon[z] - b->lon[a]) * f;
    double y = sin((b->lon[z] - b->lon[a]) * M_PI / 180) * cos(b->lat[z] * M_PI / 180);
    double x = cos(b->lat[a] * M_PI / 180) * sin(b->lat[z] * M_PI / 180) -
               sin(b->lat[a] * M_PI / 180) * cos(b->lat[z] * M_PI / 180) *
                   cos((b->lon[z] - b->lon[a]) * M_PI / 180);
    *hdg = fmod(atan2(y, x) * 180 / M_PI + 360, 360);
}

static void args_pos(msgpack_packer *pk, struct bus *b)
{
    double lat, lon, hdg;
    position(b, &lat, &lon, &hdg);
    bool moving = b->dwell_s == 0;
    msgpack_pack_map(pk, 6);
    msgpack_pack_str_with_body(pk, "trip", 4);
    msgpack_pack_int64(pk, b->trip);
    msgpack_pack_str_with_body(pk, "lat", 3);
    msgpack_pack_double(pk, lat);
    msgpack_pack_str_with_body(pk, "lon", 3);
    msgpack_pack_double(pk, lon);
    msgpack_pack_str_with_body(pk, "ts", 2);
    msgpack_pack_uint64(pk, (uint64_t)now_ms());
    msgpack_pack_str_with_body(pk, "spd", 3);
    msgpack_pack_double(pk, moving ? b->speed_mps : 0);
    msgpack_pack_str_with_body(pk, "hdg", 3);
    msgpack_pack_double(pk, hdg);
}

static void send_req(struct bus *b, const char *op, uint64_t id,
                     void (*args)(msgpack_packer *, struct bus *))
{
    uint8_t buf[WSCONN_MAX_SEND];
    size_t len = pack(buf, op, id, args, b);
    if (len) {
        wsconn_send(&b->conn, WSCONN_OP_BINARY, buf, len);
    }
}

static void start_trip(struct bus *b)
{
    b->leg = 0;
    b->leg_done_m = 0;
    b->dwell_s = 0;
    if (b->trip) {
        b->state = 3;
        return;
    }
    b->state = 2;
    send_req(b, "trip.start", ++b->next_id, args_route);
}

/* One second of driving. */
static void drive(struct bus *b)
{
    if (b->state != 3) {
        return;
    }
    if (b->dwell_s > 0) {
        b->dwell_s--;
    } else {
        b->leg_done_m += b->speed_mps;
        double len = geo_distance_m(b->lat[b->leg], b->lon[b->leg], b->lat[b->leg + 1],
                                    b->lon[b->leg + 1]);
        if (b->leg_done_m >= len) {
            b->leg++;
            b->leg_done_m = 0;
            b->dwell_s = STOP_DWELL_S;
            /* A little variety: traffic makes each leg a bit faster or slower. */
            b->speed_mps = 7 + (double)(rand() % 60) / 10.0;
        }
    }
    send_req(b, "trip.pos", 0, args_pos);
    sim.positions++;
    b->sent++;
    if (b->leg >= b->n_stops - 1 && b->dwell_s == 0) {
        if (b->own_trip) {
            b->state = 4;
            send_req(b, "trip.end", ++b->next_id, args_trip);
        } else {
            b->leg = 0;
        }
    }
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    for (int i = 0; i < sim.n_buses; i++) {
        drive(&sim.buses[i]);
    }
}

/* Reads a reply: whether it is one (events have no id), ok, and data.trip. */
static bool reply_ok(const msgpack_object *root, long long *trip, bool *is_reply)
{
    bool ok = false;
    *is_reply = false;
    for (uint32_t i = 0; root->type == MSGPACK_OBJECT_MAP && i < root->via.map.size; i++) {
        const msgpack_object_kv *kv = &root->via.map.ptr[i];
        if (kv->key.type != MSGPACK_OBJECT_STR) {
            continue;
        }
        if (kv->key.via.str.size == 2 && memcmp(kv->key.via.str.ptr, "id", 2) == 0) {
            *is_reply = true;
        }
        if (kv->key.via.str.size == 2 && memcmp(kv->key.via.str.ptr, "ok", 2) == 0) {
            ok = kv->val.type == MSGPACK_OBJECT_BOOLEAN && kv->val.via.boolean;
        }
        if (kv->key.via.str.size == 4 && memcmp(kv->key.via.str.ptr, "data", 4) == 0 && trip &&
            kv->val.type == MSGPACK_OBJECT_MAP) {
            for (uint32_t j = 0; j < kv->val.via.map.size; j++) {
                const msgpack_object_kv *d = &kv->val.via.map.ptr[j];
                if (d->key.type == MSGPACK_OBJECT_STR && d->key.via.str.size == 4 &&
                    memcmp(d->key.via.str.ptr, "trip", 4) == 0 &&
                    d->val.type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                    *trip = (long long)d->val.via.u64;
                }
            }
        }
    }
    return ok;
}

static void on_end_break(uv_timer_t *t)
{
    struct bus *b = t->data;
    uv_close((uv_handle_t *)t, (uv_close_cb)free);
    start_trip(b);
}

static void on_message(struct wsconn *c, const uint8_t *data, size_t len, uint64_t now_ns)
{
    struct bus *b = c->data;
    (void)now_ns;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)data, len, NULL) != MSGPACK_UNPACK_SUCCESS) {
        msgpack_unpacked_destroy(&u);
        return;
    }
    long long trip = 0;
    bool is_reply;
    bool ok = reply_ok(&u.data, &trip, &is_reply);
    msgpack_unpacked_destroy(&u);
    if (!is_reply) {
        return; /* hello and other events */
    }
    switch (b->state) {
    case 1:
        if (!ok) {
            fprintf(stderr, "classment-sim: route %lld: login refused (token expired?)\n",
                    b->route);
            wsconn_close(c);
            return;
        }
        start_trip(b);
        break;
    case 2:
        if (ok && trip) {
            b->trip = trip;
            b->own_trip = true;
            b->state = 3;
            printf("classment-sim: route %lld: trip %lld started\n", b->route, trip);
            fflush(stdout);
        } else if (!ok) {
            fprintf(stderr, "classment-sim: route %lld: trip.start refused (already on a trip?)\n",
                    b->route);
        }
        break;
    case 4:
        printf("classment-sim: route %lld: trip %lld ended\n", b->route, b->trip);
        fflush(stdout);
        b->trip = 0;
        b->state = 0;
        if (sim.loop_routes) {
            uv_timer_t *t = malloc(sizeof *t);
            uv_timer_init(sim.loop, t);
            t->data = b;
            uv_timer_start(t, on_end_break, 30000, 0);
        }
        break;
    default:
        break;
    }
}

static void on_opened(struct wsconn *c)
{
    struct bus *b = c->data;
    b->state = 1;
    send_req(b, "auth.resume", ++b->next_id, args_resume);
}

static void on_closed(struct wsconn *c, const char *why)
{
    struct bus *b = c->data;
    fprintf(stderr, "classment-sim: route %lld: connection closed (%s)\n", b->route, why);
}

static const struct wsconn_handler handler = {
    .opened = on_opened, .message = on_message, .closed = on_closed,
};

/* Stops of a route (or of a trip's route when trip is set), from the database. */
static int load_stops(PGconn *pg, struct bus *b)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", b->trip ? b->trip : b->route);
    const char *params[] = { id };
    PGresult *res = PQexecParams(
        pg,
        b->trip ? "SELECT ST_Y(s.location::geometry), ST_X(s.location::geometry), s.route_id"
                  " FROM trips t JOIN route_stops s ON s.route_id = t.route_id"
                  " WHERE t.id = $1 ORDER BY s.seq"
                : "SELECT ST_Y(location::geometry), ST_X(location::geometry), route_id"
                  " FROM route_stops WHERE route_id = $1 ORDER BY seq",
        1, NULL, params, NULL, NULL, 0);
    int n = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res) : 0;
    for (int i = 0; i < n && i < MAX_STOPS; i++) {
        b->lat[i] = atof(PQgetvalue(res, i, 0));
        b->lon[i] = atof(PQgetvalue(res, i, 1));
        b->route = atoll(PQgetvalue(res, i, 2));
    }
    b->n_stops = n < MAX_STOPS ? n : MAX_STOPS;
    PQclear(res);
    return b->n_stops >= 2 ? 0 : -1;
}

/* Reads {"drivers": [{"token": "…", "trip": N}, …]} from a fixture file (the fixture writes
 * one object per line, so a line scan is enough). */
static int read_fixture(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    char line[512];
    bool in_drivers = false;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "\"drivers\"")) {
            in_drivers = true;
        } else if (strstr(line, "\"parents\"")) {
            in_drivers = false;
        }
        char token[64];
        long long trip;
        const char *p = strstr(line, "{\"token\"");
        if (in_drivers && p &&
            sscanf(p, "{\"token\": \"%63[^\"]\", \"trip\": %lld", token, &trip) == 2) {
            sim.buses = realloc(sim.buses, (size_t)(sim.n_buses + 1) * sizeof *sim.buses);
            struct bus *b = &sim.buses[sim.n_buses++];
            memset(b, 0, sizeof *b);
            snprintf(b->token, sizeof b->token, "%s", token);
            b->trip = trip;
        }
    }
    fclose(f);
    return 0;
}

static void close_any(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        /* Only the break timers between trips carry data (their bus) and were malloc'd. */
        bool owned = h->type == UV_TIMER && h->data != NULL;
        uv_close(h, owned ? (uv_close_cb)free : NULL);
    }
}

static void on_stop(uv_signal_t *s, int signum)
{
    (void)s;
    (void)signum;
    for (int i = 0; i < sim.n_buses; i++) {
        wsconn_close(&sim.buses[i].conn);
    }
    uv_walk(sim.loop, close_any, NULL);
}

static void on_time_up(uv_timer_t *t)
{
    (void)t;
    on_stop(NULL, 0);
}

int main(int argc, char **argv)
{
    const char *url = NULL, *token = NULL, *fixture = NULL;
    long long route = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--url") == 0 && v) {
            url = v, i++;
        } else if (strcmp(a, "--token") == 0) {
            /* A command line is readable by every user on the machine (ps, /proc/PID/cmdline);
             * the environment only by the same user. */
            fprintf(stderr, "classment-sim: pass the session token in CLASSMENT_SIM_TOKEN, not "
                            "on the command line\n");
            return 2;
        } else if (strcmp(a, "--route") == 0 && v) {
            route = atoll(v), i++;
        } else if (strcmp(a, "--fixture") == 0 && v) {
            fixture = v, i++;
        } else if (strcmp(a, "--seconds") == 0 && v) {
            sim.seconds = atof(v), i++;
        } else if (strcmp(a, "--loop") == 0) {
            sim.loop_routes = true;
        } else {
            fprintf(stderr, "usage: classment-sim --url ws://HOST:PORT/v1/ws "
                            "(--route R [--loop] | --fixture FILE) [--seconds S]\n"
                            "  with --route, the driver's session token is read from "
                            "CLASSMENT_SIM_TOKEN\n");
            return 2;
        }
    }
    const char *env_token = getenv("CLASSMENT_SIM_TOKEN");
    if (env_token && *env_token) {
        token = env_token;
    }
    int port = 0;
    char host[64] = "127.0.0.1";
    if (!url || sscanf(url, "ws://%63[^:]:%d/", host, &port) != 2 || (!fixture && (!token ||
                                                                                 route <= 0))) {
        fprintf(stderr, "classment-sim: give --url ws://HOST:PORT/v1/ws and a driver "
                        "(--route with CLASSMENT_SIM_TOKEN set) or --fixture\n");
        return 2;
    }
    if (fixture) {
        if (read_fixture(fixture) != 0 || sim.n_buses == 0) {
            fprintf(stderr, "classment-sim: no drivers in %s\n", fixture);
            return 1;
        }
    } else {
        sim.buses = calloc(1, sizeof *sim.buses);
        sim.n_buses = 1;
        snprintf(sim.buses[0].token, sizeof sim.buses[0].token, "%s", token);
        sim.buses[0].route = route;
    }
    const char *conninfo = getenv("CLASSMENT_DB");
    PGconn *pg = PQconnectdb(conninfo && *conninfo ? conninfo : "dbname=classment");
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "classment-sim: cannot read routes: %s", PQerrorMessage(pg));
        return 1;
    }
    for (int i = 0; i < sim.n_buses; i++) {
        if (load_stops(pg, &sim.buses[i]) != 0) {
            fprintf(stderr, "classment-sim: route %lld has fewer than 2 stops\n",
                    sim.buses[i].route);
            return 1;
        }
        sim.buses[i].speed_mps = 9;
    }
    PQfinish(pg);
    signal(SIGPIPE, SIG_IGN);
    sim.loop = uv_default_loop();
    sim.target.host = host;
    sim.target.path = "/v1/ws";
    sim.target.protocol = "classment.v1";
    uv_ip4_addr(strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, port, &sim.target.addr);
    for (int i = 0; i < sim.n_buses; i++) {
        if (wsconn_start(&sim.buses[i].conn, sim.loop, &sim.target, &handler, &sim.buses[i]) !=
            0) {
            fprintf(stderr, "classment-sim: cannot connect\n");
            return 1;
        }
    }
    uv_timer_init(sim.loop, &sim.tick);
    uv_timer_start(&sim.tick, on_tick, 1000, 1000);
    uv_timer_init(sim.loop, &sim.stop_timer);
    if (sim.seconds > 0) {
        uv_timer_start(&sim.stop_timer, on_time_up, (uint64_t)(sim.seconds * 1000), 0);
    }
    uv_signal_init(sim.loop, &sim.sigint);
    uv_signal_init(sim.loop, &sim.sigterm);
    uv_signal_start(&sim.sigint, on_stop, SIGINT);
    uv_signal_start(&sim.sigterm, on_stop, SIGTERM);
    printf("classment-sim: %d bus(es) driving; Ctrl-C stops\n", sim.n_buses);
    fflush(stdout);
    uv_run(sim.loop, UV_RUN_DEFAULT);
    printf("classment-sim: sent %llu positions\n", sim.positions);
    for (int i = 0; i < sim.n_buses; i++) {
        wsconn_deinit(&sim.buses[i].conn);
    }
    free(sim.buses);
    uv_loop_close(sim.loop);
    return 0;
}
