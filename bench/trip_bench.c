/* trip_bench: the live-tracking load generator. From a load fixture (classment-fixture load)
 * it opens every parent connection (auth.resume + trip.subscribe, timed: the "reconnect
 * storm"), then every driver connection, then has each driver publish trip.pos at --rate Hz
 * for --seconds, and reports deliveries/s, loss, end-to-end latency (the position's ts is the
 * send time, with microseconds), the server's CPU time per 1,000 deliveries and memory per
 * connection, and its own CPU, so a saturated generator is never mistaken for a slow server.
 * With --idle it only holds the subscribed parents and reports memory. */
#include <getopt.h>
#include <math.h>
#include <msgpack.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <uv.h>

#include "bench/args.h"
#include "bench/hist.h"
#include "bench/reply.h"
#include "bench/procstat.h"
#include "bench/wsconn.h"

enum role { DRIVER, PARENT };
enum phase { P_CONNECT, P_RESUME, P_SUBSCRIBE, P_READY, P_FAILED };

struct client {
    struct wsconn conn;
    enum role role;
    enum phase phase;
    char token[48];
    long long trip;
    int driver_index;       /* drivers: their slot in the trip table */
    double lat, lon;        /* drivers: where the bus is */
    uint64_t next_send_ns;  /* drivers: when the next position is due */
    uint64_t received;      /* parents: trip.pos events */
};

static struct {
    uv_loop_t *loop;
    struct wsconn_target target;
    struct client *clients;
    size_t n_clients, n_drivers, n_parents;
    size_t next_to_open, opening, ready_parents, ready_drivers, failed, failed_drivers;
    size_t max_parallel;
    double rate_hz, seconds, warmup_s;
    bool idle, measuring, stopping;
    int server_pid;
    uint64_t t_start_ns, t_parents_ready_ns, t_measure_ns, t_end_ns;
    uint64_t sent, sent_measured, received_measured, received_total;
    uint64_t refused; /* error events on driver connections: positions not accepted */
    uint64_t subscribers_per_trip_sum; /* expected deliveries per frame, summed at send */
    size_t *subs_of_trip;              /* by driver index */
    struct hist latency;
    uv_timer_t tick, phase_timer;
    struct procstat srv_base, srv0, srv1;
    struct rusage self0, self1;
    const char *label;
} B;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- requests ---- */

static void send_packed(struct client *c, msgpack_sbuffer *sb)
{
    if (sb->size <= WSCONN_MAX_SEND) {
        wsconn_send(&c->conn, WSCONN_OP_BINARY, (const uint8_t *)sb->data, sb->size);
    }
    msgpack_sbuffer_clear(sb);
}

static void request(struct client *c, uint64_t id, const char *op, const char *key,
                    const char *str, long long num)
{
    static msgpack_sbuffer sb;
    static bool init;
    if (!init) {
        msgpack_sbuffer_init(&sb);
        init = true;
    }
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 3);
    msgpack_pack_str_with_body(&pk, "id", 2);
    msgpack_pack_uint64(&pk, id);
    msgpack_pack_str_with_body(&pk, "op", 2);
    msgpack_pack_str_with_body(&pk, op, strlen(op));
    msgpack_pack_str_with_body(&pk, "args", 4);
    msgpack_pack_map(&pk, 1);
    msgpack_pack_str_with_body(&pk, key, strlen(key));
    if (str) {
        msgpack_pack_str_with_body(&pk, str, strlen(str));
    } else {
        msgpack_pack_int64(&pk, num);
    }
    send_packed(c, &sb);
}

static void send_position(struct client *c)
{
    static msgpack_sbuffer sb;
    static bool init;
    if (!init) {
        msgpack_sbuffer_init(&sb);
        init = true;
    }
    /* North at 8.5 m/s whatever the rate, so the server's speed check never refuses it. */
    c->lat += 8.5 / B.rate_hz / 111000.0;
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "op", 2);
    msgpack_pack_str_with_body(&pk, "trip.pos", 8);
    msgpack_pack_str_with_body(&pk, "args", 4);
    msgpack_pack_map(&pk, 5);
    msgpack_pack_str_with_body(&pk, "trip", 4);
    msgpack_pack_int64(&pk, c->trip);
    msgpack_pack_str_with_body(&pk, "lat", 3);
    msgpack_pack_double(&pk, c->lat);
    msgpack_pack_str_with_body(&pk, "lon", 3);
    msgpack_pack_double(&pk, c->lon);
    msgpack_pack_str_with_body(&pk, "ts", 2);
    /* Milliseconds with a fraction: the subscriber's latency is measured to the microsecond. */
    msgpack_pack_double(&pk, (double)now_ns() / 1e6);
    msgpack_pack_str_with_body(&pk, "spd", 3);
    msgpack_pack_double(&pk, 8.5);
    send_packed(c, &sb);
    B.sent++;
    if (B.measuring) {
        B.sent_measured++;
        B.subscribers_per_trip_sum += B.subs_of_trip[c->driver_index];
    }
}

/* ---- opening connections, a bounded number at a time ---- */

static void open_more(void);
static void all_parents_ready(void);

static void client_ready(struct client *c)
{
    c->phase = P_READY;
    B.opening--;
    if (c->role == PARENT) {
        if (++B.ready_parents == B.n_parents) {
            all_parents_ready();
        }
    } else {
        B.ready_drivers++;
    }
    open_more();
}

static void client_failed(struct client *c, const char *why)
{
    if (c->phase != P_READY && c->phase != P_FAILED) {
        B.opening--;
        B.failed++;
        if (B.failed <= 5) {
            fprintf(stderr, "trip_bench: a %s connection failed: %s\n",
                    c->role == PARENT ? "parent" : "driver", why);
        }
        c->phase = P_FAILED;
        B.failed_drivers += c->role == DRIVER;
        if (c->role == PARENT && B.ready_parents + B.failed >= B.n_parents &&
            !B.t_parents_ready_ns) {
            all_parents_ready();
        }
        open_more();
    }
    c->phase = P_FAILED;
}

/* Reads {id?, ok?, ev?, data.ts?} from a message without building objects for the rest. */
static void on_message(struct wsconn *conn, const uint8_t *data, size_t len, uint64_t t_ns)
{
    struct client *c = conn->data;
    (void)t_ns;
    struct bench_reply v;
    bench_reply_read(data, len, &v);
    if (strcmp(v.ev, "trip.pos") == 0) {
        c->received++;
        B.received_total++;
        /* Count only positions sent inside the measured window, as the expected count is. */
        double sent_ns = v.ts * 1e6;
        if (B.measuring && sent_ns >= (double)B.t_measure_ns &&
            (!B.t_end_ns || sent_ns < (double)B.t_end_ns)) {
            B.received_measured++;
            double lat_ns = (double)now_ns() - sent_ns;
            hist_add(&B.latency, lat_ns > 0 ? (uint64_t)lat_ns : 0);
        }
        return;
    }
    if (strcmp(v.ev, "error") == 0 && c->role == DRIVER) {
        B.refused++; /* a trip.pos the server did not accept (docs/protocol.md) */
        return;
    }
    if (!v.has_id) {
        return; /* hello, trip.started, … */
    }
    if (!v.ok) {
        client_failed(c, c->phase == P_RESUME ? "auth.resume refused" : "trip.subscribe refused");
        wsconn_close(conn);
        return;
    }
    if (c->phase == P_RESUME && c->role == PARENT) {
        c->phase = P_SUBSCRIBE;
        request(c, 2, "trip.subscribe", "trip", NULL, c->trip);
    } else if (c->phase == P_RESUME || c->phase == P_SUBSCRIBE) {
        client_ready(c);
    }
}

static void on_opened(struct wsconn *conn)
{
    struct client *c = conn->data;
    c->phase = P_RESUME;
    request(c, 1, "auth.resume", "token", c->token, 0);
}

static void on_closed(struct wsconn *conn, const char *why)
{
    struct client *c = conn->data;
    if (!B.stopping) {
        client_failed(c, why);
    }
}

static const struct wsconn_handler handler = {
    .opened = on_opened, .message = on_message, .closed = on_closed,
};

static void open_more(void)
{
    while (B.opening < B.max_parallel && B.next_to_open < B.n_clients) {
        struct client *c = &B.clients[B.next_to_open];
        /* Parents first; drivers only once every parent has subscribed. */
        if (c->role == DRIVER && !B.t_parents_ready_ns) {
            return;
        }
        B.next_to_open++;
        B.opening++;
        c->phase = P_CONNECT;
        if (wsconn_start(&c->conn, B.loop, &B.target, &handler, c) != 0) {
            client_failed(c, "connect failed");
        }
    }
}

/* ---- phases ---- */

static void stop_all(void);

/* Every millisecond: send the positions that are due. Drivers are spread evenly over the
 * period, as real buses are, instead of all sending in the same instant. */
static void on_tick(uv_timer_t *t)
{
    (void)t;
    uint64_t now = now_ns();
    uint64_t period_ns = (uint64_t)(1e9 / B.rate_hz);
    for (size_t i = 0; i < B.n_drivers; i++) {
        struct client *c = &B.clients[B.n_parents + i];
        if (c->phase != P_READY) {
            continue;
        }
        if (!c->next_send_ns) {
            c->next_send_ns = now + period_ns * i / B.n_drivers;
        }
        if (c->next_send_ns <= now) {
            send_position(c);
            c->next_send_ns += period_ns;
            if (c->next_send_ns < now) {
                c->next_send_ns = now + period_ns; /* fell behind: do not burst to catch up */
            }
        }
    }
}

static void on_phase(uv_timer_t *t);

static void start_measuring(void)
{
    B.measuring = true;
    B.t_measure_ns = now_ns();
    B.srv0 = procstat_read(B.server_pid);
    getrusage(RUSAGE_SELF, &B.self0);
    uv_timer_start(&B.phase_timer, on_phase, (uint64_t)(B.seconds * 1000), 0);
}

static int phase_step;

static void on_phase(uv_timer_t *t)
{
    (void)t;
    switch (phase_step++) {
    case 0: /* warm-up over */
        start_measuring();
        break;
    case 1: /* measuring over: stop sending, let what is in flight arrive */
        uv_timer_stop(&B.tick);
        B.t_end_ns = now_ns();
        uv_timer_start(&B.phase_timer, on_phase, 1500, 0);
        break;
    default:
        B.measuring = false;
        B.srv1 = procstat_read(B.server_pid);
        getrusage(RUSAGE_SELF, &B.self1);
        stop_all();
        break;
    }
}

static void all_drivers_ready_check(uv_timer_t *t);

static void all_parents_ready(void)
{
    if (B.t_parents_ready_ns) {
        return;
    }
    B.t_parents_ready_ns = now_ns();
    printf("subscribed       %zu parents in %.2f s (%zu failed)\n", B.ready_parents,
           (double)(B.t_parents_ready_ns - B.t_start_ns) / 1e9, B.failed);
    fflush(stdout);
    if (B.idle) {
        B.srv0 = procstat_read(B.server_pid);
        uv_timer_start(&B.phase_timer, on_phase, (uint64_t)(B.seconds * 1000), 0);
        phase_step = 2;
        return;
    }
    open_more();
    uv_timer_start(&B.phase_timer, all_drivers_ready_check, 50, 50);
}

static void all_drivers_ready_check(uv_timer_t *t)
{
    if (B.ready_drivers + B.failed_drivers < B.n_drivers) {
        return;
    }
    uv_timer_stop(t);
    uv_timer_start(&B.tick, on_tick, 1, 1);
    uv_timer_start(&B.phase_timer, on_phase, (uint64_t)(B.warmup_s * 1000), 0);
    phase_step = 0;
}

static void stop_all(void)
{
    B.stopping = true;
    for (size_t i = 0; i < B.n_clients; i++) {
        wsconn_close(&B.clients[i].conn);
    }
    uv_close((uv_handle_t *)&B.tick, NULL);
    uv_close((uv_handle_t *)&B.phase_timer, NULL);
}

/* ---- fixture ---- */

static int read_fixture(const char *path, size_t max_parents)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    char line[256];
    enum role role = DRIVER;
    size_t cap = 0;
    struct client *drivers = NULL, *parents = NULL;
    size_t nd = 0, np = 0, capd = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "\"drivers\"")) {
            role = DRIVER;
        } else if (strstr(line, "\"parents\"")) {
            role = PARENT;
        }
        const char *p = strstr(line, "{\"token\"");
        char token[48];
        long long trip;
        if (!p || sscanf(p, "{\"token\": \"%47[^\"]\", \"trip\": %lld", token, &trip) != 2) {
            continue;
        }
        if (role == PARENT && max_parents && np >= max_parents) {
            continue;
        }
        struct client **arr = role == DRIVER ? &drivers : &parents;
        size_t *n = role == DRIVER ? &nd : &np;
        size_t *c = role == DRIVER ? &capd : &cap;
        if (*n == *c) {
            *c = *c ? *c * 2 : 256;
            *arr = realloc(*arr, *c * sizeof **arr);
        }
        struct client *cl = &(*arr)[(*n)++];
        memset(cl, 0, sizeof *cl);
        cl->role = role;
        snprintf(cl->token, sizeof cl->token, "%s", token);
        cl->trip = trip;
    }
    fclose(f);
    /* One array, parents first. */
    B.n_parents = np;
    B.n_drivers = B.idle ? 0 : nd;
    B.n_clients = B.n_parents + B.n_drivers;
    B.clients = calloc(B.n_clients ? B.n_clients : 1, sizeof *B.clients);
    memcpy(B.clients, parents, np * sizeof *parents);
    B.subs_of_trip = calloc(nd ? nd : 1, sizeof *B.subs_of_trip);
    for (size_t i = 0; i < B.n_drivers; i++) {
        struct client *c = &B.clients[np + i];
        *c = drivers[i];
        c->driver_index = (int)i;
        c->lat = 12.9 + 0.001 * (double)(i % 100);
        c->lon = 77.5 + 0.001 * (double)(i / 100);
        for (size_t k = 0; k < np; k++) {
            B.subs_of_trip[i] += parents[k].trip == c->trip;
        }
    }
    free(drivers);
    free(parents);
    return 0;
}

/* ---- report ---- */

static void report(void)
{
    double secs = (double)(B.t_end_ns - B.t_measure_ns) / 1e9;
    printf("label            %s\n", B.label);
    printf("connections      %zu parents, %zu drivers (%zu failed)\n", B.n_parents,
           B.n_drivers, B.failed);
    if (B.idle) {
        long rss = B.srv0.ok ? B.srv0.rss_kib : -1;
        long base = B.srv_base.ok ? B.srv_base.rss_kib : 0;
        double per = B.ready_parents ? (double)(rss - base) / (double)B.ready_parents : 0;
        printf("server rss       %ld KiB before, %ld KiB holding %zu subscribed connections: "
               "%.2f KiB per connection\n",
               base, rss, B.ready_parents, per);
        printf("RESULT label=%s parents=%zu subscribed_s=%.3f server_rss_kib=%ld "
               "kib_per_conn=%.2f\n",
               B.label, B.ready_parents, (double)(B.t_parents_ready_ns - B.t_start_ns) / 1e9,
               rss, per);
        return;
    }
    uint64_t expected = B.subscribers_per_trip_sum;
    double delivered_per_s = (double)B.received_measured / secs;
    double loss = expected ? 1.0 - (double)B.received_measured / (double)expected : 0;
    double p50 = (double)hist_percentile(&B.latency, 50) / 1e6;
    double p99 = (double)hist_percentile(&B.latency, 99) / 1e6;
    double p999 = (double)hist_percentile(&B.latency, 99.9) / 1e6;
    double max = (double)B.latency.max / 1e6;
    printf("frames sent      %llu in %.2f s (%.0f/s)\n", (unsigned long long)B.sent_measured,
           secs, (double)B.sent_measured / secs);
    printf("deliveries       %llu of %llu expected: %.0f/s, loss %.4f %%\n",
           (unsigned long long)B.received_measured, (unsigned long long)expected,
           delivered_per_s, loss * 100);
    printf("latency ms       p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", p50, p99, p999, max);
    double srv_cpu_ms = -1, srv_per_k = -1;
    if (B.srv0.ok && B.srv1.ok) {
        srv_cpu_ms = (double)(B.srv1.cpu_ms - B.srv0.cpu_ms);
        srv_per_k = B.received_measured ? srv_cpu_ms / ((double)B.received_measured / 1000) : 0;
        printf("server cpu       %.0f ms = %.2f ms per 1,000 deliveries (%.0f %% of a core); "
               "rss %ld KiB\n",
               srv_cpu_ms, srv_per_k, srv_cpu_ms / 10 / secs, B.srv1.rss_kib);
    }
    double self_ms = (double)(B.self1.ru_utime.tv_sec - B.self0.ru_utime.tv_sec +
                              B.self1.ru_stime.tv_sec - B.self0.ru_stime.tv_sec) * 1000 +
                     (double)(B.self1.ru_utime.tv_usec - B.self0.ru_utime.tv_usec +
                              B.self1.ru_stime.tv_usec - B.self0.ru_stime.tv_usec) / 1000;
    printf("generator cpu    %.0f ms (%.0f %% of a core)\n", self_ms, self_ms / 10 / secs);
    /* Every position of the run, warm-up included: what the server must have stored. */
    printf("positions        %llu sent in all, %llu refused, %llu accepted\n",
           (unsigned long long)B.sent, (unsigned long long)B.refused,
           (unsigned long long)(B.sent - B.refused));
    printf("RESULT label=%s parents=%zu drivers=%zu rate_hz=%.1f deliveries_per_s=%.0f "
           "loss_pct=%.4f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f "
           "server_cpu_ms_per_1k=%.2f generator_cpu_pct=%.0f subscribed_s=%.3f "
           "positions_accepted=%llu\n",
           B.label, B.n_parents, B.n_drivers, B.rate_hz, delivered_per_s, loss * 100, p50, p99,
           p999, max, srv_per_k, self_ms / 10 / secs,
           (double)(B.t_parents_ready_ns - B.t_start_ns) / 1e9,
           (unsigned long long)(B.sent - B.refused));
}

int main(int argc, char **argv)
{
    const char *fixture = NULL, *url = NULL;
    size_t max_parents = 0;
    B.rate_hz = 1;
    B.seconds = 10;
    B.warmup_s = 2;
    B.max_parallel = 500;
    B.label = "trips";
    static const struct option opts[] = {
        { "fixture", required_argument, NULL, 'f' }, { "url", required_argument, NULL, 'u' },
        { "rate", required_argument, NULL, 'r' },    { "seconds", required_argument, NULL, 's' },
        { "warmup", required_argument, NULL, 'w' },  { "server-pid", required_argument, NULL, 'p' },
        { "idle", no_argument, NULL, 'i' },          { "parents", required_argument, NULL, 'n' },
        { "parallel", required_argument, NULL, 'c' }, { "label", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 },
    };
    int o;
    double pid = 0;
    bool good = true;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'f': fixture = optarg; break;
        case 'u': url = optarg; break;
        case 'r': good = bench_parse_number(optarg, 0.001, 100000, &B.rate_hz); break;
        case 's': good = bench_parse_number(optarg, 0.1, 86400, &B.seconds); break;
        case 'w': good = bench_parse_number(optarg, 0, 86400, &B.warmup_s); break;
        case 'p':
            good = bench_parse_number(optarg, 1, 4194304, &pid);
            B.server_pid = (int)pid;
            break;
        case 'i': B.idle = true; break;
        case 'n': good = bench_parse_count(optarg, 1, 10000000, &max_parents); break;
        case 'c': good = bench_parse_count(optarg, 1, 100000, &B.max_parallel); break;
        case 'l': B.label = optarg; break;
        default:
            good = false;
            break;
        }
        if (!good) {
            if (o != '?') {
                fprintf(stderr, "trip_bench: bad value: %s\n", optarg);
            }
            fprintf(stderr, "usage: trip_bench --fixture FILE --url ws://127.0.0.1:PORT/v1/ws "
                            "[--rate HZ] [--seconds S] [--warmup S] [--server-pid PID] "
                            "[--idle] [--parents N] [--parallel N] [--label NAME]\n");
            return 2;
        }
    }
    char host[64];
    if (!fixture || wsconn_target_from_url(&B.target, url, host) != 0 ||
        B.rate_hz <= 0 || B.seconds <= 0) {
        fprintf(stderr, "trip_bench: give --fixture and --url ws://HOST:PORT/v1/ws\n");
        return 2;
    }
    if (read_fixture(fixture, max_parents) != 0 || B.n_clients == 0) {
        fprintf(stderr, "trip_bench: no clients in %s\n", fixture);
        return 1;
    }
    wsconn_process_init();
    B.loop = uv_default_loop();
    uv_timer_init(B.loop, &B.tick);
    uv_timer_init(B.loop, &B.phase_timer);
    B.srv_base = procstat_read(B.server_pid);
    B.t_start_ns = now_ns();
    if (B.n_parents == 0) {
        all_parents_ready();
    }
    open_more();
    uv_run(B.loop, UV_RUN_DEFAULT);
    report();
    for (size_t i = 0; i < B.n_clients; i++) {
        wsconn_deinit(&B.clients[i].conn);
    }
    free(B.clients);
    free(B.subs_of_trip);
    uv_loop_close(B.loop);
    return B.failed ? 1 : 0;
}
