/* ping_bench: a load generator for classmentd. One libuv loop opens many WebSocket connections
 * (subprotocol classment.v1), sends sys.ping requests either closed loop (one in flight per
 * connection) or at a fixed total rate, matches replies by id, and prints throughput, latency
 * percentiles and the server's CPU time and memory (from /proc) over the measured window. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <uv.h>

#include "bench/args.h"
#include "bench/hist.h"
#include "bench/procstat.h"
#include "bench/wsconn.h"

#define PROTOCOL "classment.v1"

/* {"id": uint64, "op": "sys.ping"}: fixmap(2), fixstr key, uint64, fixstr key, fixstr. The id
 * always takes 8 bytes, so every request has the same size. */
#define PING_PAYLOAD_LEN (1 + 3 + 9 + 3 + 9)
#define PING_ID_OFFSET 5

struct options {
    char host[64];
    int port;
    char path[128];
    int conns;
    double rate;            /* requests per second over all connections; 0 = closed loop */
    double seconds;         /* measured window */
    double warmup_s;
    double drain_s;         /* how long to wait for the replies still in flight at the end */
    double connect_timeout_s;
    int connect_parallel;   /* connections being opened at once */
    int tick_us;            /* pacing step of the fixed-rate mode: each step is a wake-up,
                               so finer steps cost the generator CPU the server could use */
    bool idle;              /* open and hold the connections, send nothing */
    pid_t server_pid;       /* 0 when not given */
    const char *label;
};

enum conn_state {
    CONN_WAITING,           /* not started yet */
    CONN_OPENING,           /* connecting, upgrading, or waiting for the hello event */
    CONN_READY,
    CONN_CLOSED,
};

struct bench;

struct conn {
    struct wsconn ws;
    struct bench *b;
    enum conn_state state;
};

enum phase { PHASE_CONNECT, PHASE_WARMUP, PHASE_MEASURE, PHASE_DRAIN, PHASE_DONE };

struct bench {
    uv_loop_t *loop;
    struct options opt;
    struct wsconn_target target;
    struct conn *conns;
    int next_to_start;
    int n_pending;          /* opening */
    int n_ready;
    int n_failed;           /* never became ready */
    int n_dropped;          /* closed after becoming ready */
    bool in_connect_more;
    char first_error[192];
    enum phase phase;
    uv_timer_t timer;       /* the current phase's deadline */
    uv_poll_t tick;         /* fixed-rate pacing, on a timerfd */
    int tick_fd;
    bool tick_started;
    uint64_t t_start_ns, t_ready_ns, t_measure_ns, t_measure_end_ns;
    /* Send time of each request by id, 0 once answered. Ids are never reused, so a late or
     * duplicate reply cannot be matched to the wrong request. */
    uint64_t next_id;
    uint64_t *sent_ns;
    size_t sent_cap;
    uint64_t first_measured_id, end_measured_id;
    /* measured requests: sent in the window, answered whenever (until the drain ends) */
    uint64_t n_sent, n_replied, n_replied_in_window, n_errors;
    uint64_t n_unmatched;   /* replies to no request in flight (any phase) */
    uint64_t n_events;      /* events after the hello (any phase), such as error events */
    /* fixed-rate schedule */
    uint64_t rate_t0_ns, rate_sent, max_lag_ns;
    int rr;
    struct hist hist;
    struct procstat srv_before, srv_start, srv_end;
    struct procstat_machine machine_start, machine_end;
    struct rusage ru_start, ru_end;
};

static void connect_more(struct bench *b);
static void begin_measure(struct bench *b);
static void end_measure(struct bench *b);
static void finish(struct bench *b);

/* ---- msgpack: just enough to read {id, ok, ev} from a reply or an event --------------- */

struct mp {
    const uint8_t *p, *end;
};

static uint64_t be_read(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

static bool mp_need(const struct mp *m, uint64_t n)
{
    return (uint64_t)(m->end - m->p) >= n;
}

static bool mp_map(struct mp *m, uint32_t *n)
{
    if (!mp_need(m, 1)) {
        return false;
    }
    uint8_t t = *m->p;
    int w = t == 0xde ? 2 : t == 0xdf ? 4 : 0;
    if ((t & 0xf0) == 0x80) {
        *n = t & 0x0f;
    } else if (w && mp_need(m, 1 + (uint64_t)w)) {
        *n = (uint32_t)be_read(m->p + 1, w);
    } else {
        return false;
    }
    m->p += 1 + w;
    return true;
}

static bool mp_str(struct mp *m, const uint8_t **s, uint32_t *len)
{
    if (!mp_need(m, 1)) {
        return false;
    }
    uint8_t t = *m->p;
    int w = t == 0xd9 ? 1 : t == 0xda ? 2 : t == 0xdb ? 4 : 0;
    uint64_t n;
    if ((t & 0xe0) == 0xa0) {
        n = t & 0x1f;
    } else if (w && mp_need(m, 1 + (uint64_t)w)) {
        n = be_read(m->p + 1, w);
    } else {
        return false;
    }
    if (!mp_need(m, 1 + (uint64_t)w + n)) {
        return false;
    }
    *s = m->p + 1 + w;
    *len = (uint32_t)n;
    m->p += 1 + w + n;
    return true;
}

static bool mp_uint(struct mp *m, uint64_t *v)
{
    if (!mp_need(m, 1)) {
        return false;
    }
    uint8_t t = *m->p;
    int w = t == 0xcc ? 1 : t == 0xcd ? 2 : t == 0xce ? 4 : t == 0xcf ? 8 : 0;
    if (t <= 0x7f) {
        *v = t;
    } else if (w && mp_need(m, 1 + (uint64_t)w)) {
        *v = be_read(m->p + 1, w);
    } else {
        return false;
    }
    m->p += 1 + w;
    return true;
}

static bool mp_bool(struct mp *m, bool *v)
{
    if (!mp_need(m, 1) || (*m->p != 0xc2 && *m->p != 0xc3)) {
        return false;
    }
    *v = *m->p++ == 0xc3;
    return true;
}

/* Skips one value of any type, nested at most 16 deep. */
static bool mp_skip(struct mp *m, int depth)
{
    if (depth > 16 || !mp_need(m, 1)) {
        return false;
    }
    uint8_t t = *m->p++;
    uint64_t bytes = 0; /* payload to skip */
    uint64_t items = 0; /* nested values to skip */
    int w = 0;          /* width of a length field that follows */
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
        return true;
    } else if ((t & 0xf0) == 0x80) {
        items = 2u * (t & 0x0f);
    } else if ((t & 0xf0) == 0x90) {
        items = t & 0x0f;
    } else if ((t & 0xe0) == 0xa0) {
        bytes = t & 0x1f;
    } else {
        switch (t) {
        case 0xc4: case 0xd9: w = 1; break;                 /* bin8, str8 */
        case 0xc5: case 0xda: w = 2; break;                 /* bin16, str16 */
        case 0xc6: case 0xdb: w = 4; break;                 /* bin32, str32 */
        case 0xc7: w = 1; bytes = 1; break;                 /* ext: length, then type */
        case 0xc8: w = 2; bytes = 1; break;
        case 0xc9: w = 4; bytes = 1; break;
        case 0xcc: case 0xd0: bytes = 1; break;
        case 0xcd: case 0xd1: bytes = 2; break;
        case 0xca: case 0xce: case 0xd2: bytes = 4; break;
        case 0xcb: case 0xcf: case 0xd3: bytes = 8; break;
        case 0xd4: case 0xd5: case 0xd6: case 0xd7: case 0xd8: /* fixext 1..16, plus type */
            bytes = 1 + (1u << (t - 0xd4));
            break;
        case 0xdc: case 0xde:
            if (!mp_need(m, 2)) {
                return false;
            }
            items = be_read(m->p, 2) * (t == 0xde ? 2u : 1u);
            m->p += 2;
            break;
        case 0xdd: case 0xdf:
            if (!mp_need(m, 4)) {
                return false;
            }
            items = be_read(m->p, 4) * (t == 0xdf ? 2u : 1u);
            m->p += 4;
            break;
        default: /* 0xc1 is never used */
            return false;
        }
    }
    if (w) {
        if (!mp_need(m, (uint64_t)w)) {
            return false;
        }
        bytes += be_read(m->p, w);
        m->p += w;
    }
    if (!mp_need(m, bytes)) {
        return false;
    }
    m->p += bytes;
    for (uint64_t i = 0; i < items; i++) {
        if (!mp_skip(m, depth + 1)) {
            return false;
        }
    }
    return true;
}

/* ---- requests and replies ------------------------------------------------------------ */

static void send_ping(struct bench *b, struct conn *c, uint64_t now_ns)
{
    static const uint8_t tmpl[PING_PAYLOAD_LEN] = {
        0x82, 0xa2, 'i', 'd', 0xcf, 0, 0, 0, 0, 0, 0, 0, 0,
        0xa2, 'o', 'p', 0xa8, 's', 'y', 's', '.', 'p', 'i', 'n', 'g',
    };
    uint64_t id = b->next_id++;
    if (id >= b->sent_cap) {
        size_t cap = b->sent_cap ? b->sent_cap * 2 : 65536;
        uint64_t *grown = realloc(b->sent_ns, cap * sizeof *grown);
        if (!grown) {
            fprintf(stderr, "ping_bench: out of memory\n");
            abort();
        }
        memset(grown + b->sent_cap, 0, (cap - b->sent_cap) * sizeof *grown);
        b->sent_ns = grown;
        b->sent_cap = cap;
    }
    b->sent_ns[id] = now_ns;
    uint8_t payload[PING_PAYLOAD_LEN];
    memcpy(payload, tmpl, sizeof payload);
    for (int i = 0; i < 8; i++) {
        payload[PING_ID_OFFSET + i] = (uint8_t)(id >> (56 - 8 * i));
    }
    if (b->phase == PHASE_MEASURE) {
        b->n_sent++;
    }
    wsconn_send(&c->ws, WSCONN_OP_BINARY, payload, sizeof payload);
}

static void on_reply(struct conn *c, uint64_t id, bool ok, uint64_t now_ns)
{
    struct bench *b = c->b;
    if (id >= b->next_id || b->sent_ns[id] == 0) {
        b->n_unmatched++;
        return;
    }
    uint64_t latency = now_ns - b->sent_ns[id];
    b->sent_ns[id] = 0;
    if (id >= b->first_measured_id && id < b->end_measured_id) {
        if (!ok) {
            b->n_errors++;
        }
        hist_add(&b->hist, latency);
        b->n_replied++;
        if (b->phase == PHASE_MEASURE) {
            b->n_replied_in_window++;
        }
    }
    if (b->opt.rate == 0 && (b->phase == PHASE_WARMUP || b->phase == PHASE_MEASURE)) {
        send_ping(b, c, now_ns);
    } else if (b->phase == PHASE_DRAIN && b->n_replied == b->n_sent) {
        finish(b);
    }
}

static void conn_lost(struct conn *c, const char *why)
{
    struct bench *b = c->b;
    if (c->state == CONN_READY) {
        b->n_dropped++;
    } else {
        if (c->state == CONN_OPENING) {
            b->n_pending--;
        }
        b->n_failed++;
    }
    c->state = CONN_CLOSED;
    if (!b->first_error[0]) {
        snprintf(b->first_error, sizeof b->first_error, "%s", why);
    }
    connect_more(b);
}

static void fail_conn(struct conn *c, const char *why)
{
    wsconn_close(&c->ws);
    conn_lost(c, why);
}

static void on_opened(struct wsconn *ws)
{
    (void)ws; /* ready only once the hello event has come */
}

static void on_closed(struct wsconn *ws, const char *why)
{
    conn_lost(ws->data, why);
}

static void on_message(struct wsconn *ws, const uint8_t *data, size_t len, uint64_t now_ns)
{
    struct conn *c = ws->data;
    struct mp m = { data, data + len };
    uint32_t n;
    if (!mp_map(&m, &n)) {
        fail_conn(c, "a message from the server is not a msgpack map");
        return;
    }
    bool has_id = false, ok = false;
    uint64_t id = 0;
    const uint8_t *ev = NULL;
    uint32_t ev_len = 0;
    for (uint32_t i = 0; i < n; i++) {
        const uint8_t *k;
        uint32_t k_len;
        bool good;
        if (!mp_str(&m, &k, &k_len)) {
            good = false;
        } else if (k_len == 2 && memcmp(k, "id", 2) == 0) {
            good = has_id = mp_uint(&m, &id);
        } else if (k_len == 2 && memcmp(k, "ok", 2) == 0) {
            good = mp_bool(&m, &ok);
        } else if (k_len == 2 && memcmp(k, "ev", 2) == 0) {
            good = mp_str(&m, &ev, &ev_len);
        } else {
            good = mp_skip(&m, 0);
        }
        if (!good) {
            fail_conn(c, "cannot read a message from the server");
            return;
        }
    }
    if (c->state == CONN_OPENING) {
        if (!ev || ev_len != 5 || memcmp(ev, "hello", 5) != 0) {
            fail_conn(c, "the first message was not the hello event");
            return;
        }
        struct bench *b = c->b;
        c->state = CONN_READY;
        b->n_pending--;
        b->n_ready++;
        connect_more(b);
        return;
    }
    if (has_id) {
        on_reply(c, id, ok, now_ns);
    } else {
        c->b->n_events++;
    }
}

static const struct wsconn_handler handler = {
    .opened = on_opened,
    .message = on_message,
    .closed = on_closed,
};

/* ---- phases -------------------------------------------------------------------------- */

static uint64_t ms_of(double seconds)
{
    return seconds > 0 ? (uint64_t)(seconds * 1000.0 + 0.5) : 0;
}

static struct conn *next_ready(struct bench *b)
{
    for (int i = 0; i < b->opt.conns; i++) {
        struct conn *c = &b->conns[b->rr];
        b->rr = (b->rr + 1) % b->opt.conns;
        if (c->state == CONN_READY) {
            return c;
        }
    }
    return NULL;
}

/* Fixed rate: sends what the schedule says is due by now, round robin over connections. The
 * send time recorded is the actual one; how far sends slipped behind the schedule is kept in
 * max_lag_ns, so a generator that cannot keep up shows. */
static void on_tick(uv_poll_t *h, int status, int events)
{
    (void)status;
    (void)events;
    struct bench *b = h->data;
    uint64_t expirations;
    if (read(b->tick_fd, &expirations, sizeof expirations) < 0 && errno != EAGAIN) {
        fprintf(stderr, "ping_bench: timerfd: %s\n", strerror(errno));
    }
    if (b->phase != PHASE_WARMUP && b->phase != PHASE_MEASURE) {
        return;
    }
    uint64_t now_ns = uv_hrtime();
    uint64_t due = (uint64_t)((double)(now_ns - b->rate_t0_ns) * b->opt.rate / 1e9);
    while (b->rate_sent < due) {
        struct conn *c = next_ready(b);
        if (!c) {
            return;
        }
        uint64_t planned = b->rate_t0_ns + (uint64_t)((double)b->rate_sent * 1e9 / b->opt.rate);
        if (b->phase == PHASE_MEASURE && now_ns > planned && now_ns - planned > b->max_lag_ns) {
            b->max_lag_ns = now_ns - planned;
        }
        b->rate_sent++;
        send_ping(b, c, now_ns);
    }
}

/* A timerfd rather than a uv_timer: libuv timers have millisecond steps, and --tick-us may
 * ask for less. */
static int start_ticker(struct bench *b)
{
    b->tick_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (b->tick_fd < 0) {
        return -errno;
    }
    struct timespec step = { .tv_sec = b->opt.tick_us / 1000000,
                             .tv_nsec = (long)(b->opt.tick_us % 1000000) * 1000 };
    struct itimerspec its = { .it_interval = step, .it_value = step };
    int r = 0;
    if (timerfd_settime(b->tick_fd, 0, &its, NULL) < 0) {
        r = -errno;
        goto out;
    }
    r = uv_poll_init(b->loop, &b->tick, b->tick_fd);
    if (r < 0) {
        goto out;
    }
    b->tick.data = b;
    b->tick_started = true;
    b->rate_t0_ns = uv_hrtime();
    return uv_poll_start(&b->tick, UV_READABLE, on_tick);
out:
    close(b->tick_fd);
    b->tick_fd = -1;
    return r;
}

static void on_tick_closed(uv_handle_t *h)
{
    struct bench *b = h->data;
    close(b->tick_fd);
    b->tick_fd = -1;
}

static void on_warmup_done(uv_timer_t *t)
{
    begin_measure(t->data);
}

static void on_window_done(uv_timer_t *t)
{
    end_measure(t->data);
}

static void on_drain_timeout(uv_timer_t *t)
{
    finish(t->data);
}

/* Every connection is ready or has failed: load (or hold) them. */
static void begin_run(struct bench *b)
{
    uv_timer_stop(&b->timer);
    b->t_ready_ns = uv_hrtime();
    fprintf(stderr, "ping_bench: %d of %d connections ready in %.0f ms\n", b->n_ready,
            b->opt.conns, (double)(b->t_ready_ns - b->t_start_ns) / 1e6);
    if (b->n_ready == 0) {
        fprintf(stderr, "ping_bench: no connection could be opened: %s\n", b->first_error);
        finish(b);
        return;
    }
    if (b->opt.idle) {
        begin_measure(b);
        return;
    }
    b->phase = PHASE_WARMUP;
    if (b->opt.rate > 0) {
        int r = start_ticker(b);
        if (r < 0) {
            fprintf(stderr, "ping_bench: pacing timer: %s\n", strerror(-r));
            finish(b);
            return;
        }
    } else {
        uint64_t now_ns = uv_hrtime();
        for (int i = 0; i < b->opt.conns; i++) {
            if (b->conns[i].state == CONN_READY) {
                send_ping(b, &b->conns[i], now_ns);
            }
        }
    }
    if (b->opt.warmup_s > 0) {
        uv_timer_start(&b->timer, on_warmup_done, ms_of(b->opt.warmup_s), 0);
    } else {
        begin_measure(b);
    }
}

/* Keeps connect_parallel connections opening; once every one is ready or has failed, the run
 * begins. A connection that fails at once calls back in here: the flag keeps that from
 * recursing once per connection. */
static void connect_more(struct bench *b)
{
    if (b->phase != PHASE_CONNECT || b->in_connect_more) {
        return;
    }
    b->in_connect_more = true;
    while (b->next_to_start < b->opt.conns && b->n_pending < b->opt.connect_parallel) {
        struct conn *c = &b->conns[b->next_to_start++];
        c->state = CONN_OPENING;
        b->n_pending++;
        int r = wsconn_start(&c->ws, b->loop, &b->target, &handler, c);
        if (r < 0) {
            conn_lost(c, uv_strerror(r));
        }
    }
    b->in_connect_more = false;
    if (b->next_to_start == b->opt.conns && b->n_pending == 0) {
        begin_run(b);
    }
}

static void on_connect_timeout(uv_timer_t *t)
{
    struct bench *b = t->data;
    fprintf(stderr, "ping_bench: connect phase timed out after %.0f s\n",
            b->opt.connect_timeout_s);
    /* Connections never started count as failed; stop starting new ones first. */
    b->n_failed += b->opt.conns - b->next_to_start;
    b->next_to_start = b->opt.conns;
    for (int i = 0; i < b->opt.conns && b->phase == PHASE_CONNECT; i++) {
        if (b->conns[i].state == CONN_OPENING) {
            fail_conn(&b->conns[i], "connect phase timed out");
        }
    }
    connect_more(b);
}

static void begin_measure(struct bench *b)
{
    b->phase = PHASE_MEASURE;
    b->first_measured_id = b->next_id;
    b->end_measured_id = UINT64_MAX;
    b->srv_start = procstat_read(b->opt.server_pid);
    b->machine_start = procstat_read_machine();
    getrusage(RUSAGE_SELF, &b->ru_start);
    b->t_measure_ns = uv_hrtime();
    uv_timer_start(&b->timer, on_window_done, ms_of(b->opt.seconds), 0);
}

static void end_measure(struct bench *b)
{
    b->t_measure_end_ns = uv_hrtime();
    b->srv_end = procstat_read(b->opt.server_pid);
    b->machine_end = procstat_read_machine();
    getrusage(RUSAGE_SELF, &b->ru_end);
    b->end_measured_id = b->next_id;
    b->phase = PHASE_DRAIN;
    if (b->tick_started) {
        uv_poll_stop(&b->tick);
    }
    if (b->n_replied == b->n_sent) {
        finish(b);
        return;
    }
    uv_timer_start(&b->timer, on_drain_timeout, ms_of(b->opt.drain_s), 0);
}

/* ---- report -------------------------------------------------------------------------- */

static double tv_ms(const struct timeval *tv)
{
    return (double)tv->tv_sec * 1e3 + (double)tv->tv_usec / 1e3;
}

static void report(const struct bench *b)
{
    const struct options *o = &b->opt;
    double window_s = (double)(b->t_measure_end_ns - b->t_measure_ns) / 1e9;
    double connect_ms = (double)(b->t_ready_ns - b->t_start_ns) / 1e6;
    uint64_t lost = b->n_sent - b->n_replied;
    double rps = (double)b->n_replied_in_window / window_s;
    double sent_rps = (double)b->n_sent / window_s;
    double p50 = (double)hist_percentile(&b->hist, 50.0) / 1e6;
    double p99 = (double)hist_percentile(&b->hist, 99.0) / 1e6;
    double p999 = (double)hist_percentile(&b->hist, 99.9) / 1e6;
    double max = (double)b->hist.max / 1e6;

    double gen_user_ms = tv_ms(&b->ru_end.ru_utime) - tv_ms(&b->ru_start.ru_utime);
    double gen_sys_ms = tv_ms(&b->ru_end.ru_stime) - tv_ms(&b->ru_start.ru_stime);
    double gen_pct = (gen_user_ms + gen_sys_ms) / (window_s * 10.0);

    bool srv = b->srv_before.ok && b->srv_start.ok && b->srv_end.ok;
    double srv_cpu_ms = 0, srv_pct = 0, srv_per_1k = 0, rss_per_conn = 0;
    if (srv) {
        srv_cpu_ms = (double)(b->srv_end.cpu_ms - b->srv_start.cpu_ms);
        srv_pct = srv_cpu_ms / (window_s * 10.0);
        if (b->n_replied_in_window) {
            srv_per_1k = srv_cpu_ms * 1000.0 / (double)b->n_replied_in_window;
        }
        rss_per_conn = (double)(b->srv_end.rss_kib - b->srv_before.rss_kib) / b->n_ready;
    }

    printf("\n== ping_bench %s ==\n", o->label);
    if (o->idle) {
        printf("mode             idle: connections held open for %.1f s, no requests\n",
               o->seconds);
    } else if (o->rate > 0) {
        printf("mode             fixed rate, %.0f req/s over all connections, %.1f s measured "
               "after %.1f s warm-up\n", o->rate, o->seconds, o->warmup_s);
    } else {
        printf("mode             closed loop, one ping in flight per connection, %.1f s "
               "measured after %.1f s warm-up\n", o->seconds, o->warmup_s);
    }
    printf("connections      %d ready of %d (%d failed, %d dropped later), opened in %.0f ms\n",
           b->n_ready, o->conns, b->n_failed, b->n_dropped, connect_ms);
    if (b->first_error[0]) {
        printf("first error      %s\n", b->first_error);
    }
    if (!o->idle) {
        printf("requests         sent %llu, replied %llu, lost %llu, error replies %llu, "
               "unmatched %llu, events %llu\n", (unsigned long long)b->n_sent,
               (unsigned long long)b->n_replied, (unsigned long long)lost,
               (unsigned long long)b->n_errors, (unsigned long long)b->n_unmatched,
               (unsigned long long)b->n_events);
        printf("throughput       %.0f replies/s (sent %.0f req/s)\n", rps, sent_rps);
        printf("latency ms       p50 %.3f   p99 %.3f   p99.9 %.3f   max %.3f\n", p50, p99, p999,
               max);
        if (o->rate > 0) {
            printf("send lag max     %.3f ms behind schedule (pacing step %.3f ms)\n",
                   (double)b->max_lag_ns / 1e6, o->tick_us / 1e3);
        }
    }
    if (srv) {
        if (o->idle) {
            printf("server CPU       %.1f %% of one core while the connections were held\n",
                   srv_pct);
        } else {
            printf("server CPU       %.1f %% of one core, %.1f ms per 1,000 replies\n", srv_pct,
                   srv_per_1k);
        }
        printf("server RSS       before %ld KiB, after %ld KiB (peak %ld KiB), "
               "%.2f KiB per connection\n", b->srv_before.rss_kib, b->srv_end.rss_kib,
               b->srv_end.hwm_kib, rss_per_conn);
    } else if (o->server_pid) {
        printf("server           no figures: /proc/%ld could not be read (did the server exit?)\n",
               (long)o->server_pid);
    } else {
        printf("server           no figures (give --server-pid of a local classmentd)\n");
    }
    printf("generator CPU    %.1f %% of one core (user %.0f ms, system %.0f ms)%s\n", gen_pct,
           gen_user_ms, gen_sys_ms, gen_pct > 90 ? "  <- saturated: the server got less load"
                                                 : "");
    /* The machine's busy time minus ours and the server's: other processes competing for the
     * same cores, which on a small machine decides the tail latency. */
    bool machine = b->machine_start.ok && b->machine_end.ok;
    double other_pct = 0, steal_pct = 0;
    if (machine) {
        double busy_ms = (double)(b->machine_end.busy_ms - b->machine_start.busy_ms);
        other_pct = (busy_ms - gen_user_ms - gen_sys_ms - srv_cpu_ms) / (window_s * 10.0);
        if (other_pct < 0) {
            other_pct = 0;
        }
        steal_pct = (double)(b->machine_end.steal_ms - b->machine_start.steal_ms) /
                    (window_s * 10.0);
        printf("other load       %.1f %% of one core used by other processes, %.1f %% stolen "
               "by the hypervisor (%ld cores)%s\n", other_pct, steal_pct,
               sysconf(_SC_NPROCESSORS_ONLN),
               other_pct > 20 ? "  <- busy machine: figures are noisy" : "");
    }

    printf("RESULT label=%s conns=%d conns_failed=%d dropped=%d rate=%.0f seconds=%.1f "
           "sent=%llu replied=%llu lost=%llu errors=%llu rps=%.0f p50_ms=%.3f p99_ms=%.3f "
           "p999_ms=%.3f max_ms=%.3f", o->label, b->n_ready, b->n_failed, b->n_dropped,
           o->rate, o->seconds, (unsigned long long)b->n_sent, (unsigned long long)b->n_replied,
           (unsigned long long)lost, (unsigned long long)b->n_errors, rps, p50, p99, p999, max);
    if (srv) {
        printf(" srv_cpu_pct=%.1f srv_cpu_ms_per_1k=%.2f rss_before_kib=%ld rss_after_kib=%ld "
               "rss_peak_kib=%ld rss_per_conn_kib=%.2f", srv_pct, srv_per_1k,
               b->srv_before.rss_kib, b->srv_end.rss_kib, b->srv_end.hwm_kib, rss_per_conn);
    }
    printf(" gen_cpu_pct=%.1f", gen_pct);
    if (machine) {
        printf(" other_cpu_pct=%.1f steal_pct=%.1f", other_pct, steal_pct);
    }
    printf(" send_lag_max_ms=%.3f connect_ms=%.0f\n", (double)b->max_lag_ns / 1e6, connect_ms);
    fflush(stdout);
}

/* Reports (when a window was measured) and closes everything; uv_run then returns. */
static void finish(struct bench *b)
{
    if (b->phase == PHASE_DONE) {
        return;
    }
    bool measured = b->phase == PHASE_DRAIN;
    b->phase = PHASE_DONE;
    uv_timer_stop(&b->timer);
    if (measured) {
        report(b);
    }
    for (int i = 0; i < b->opt.conns; i++) {
        wsconn_close(&b->conns[i].ws);
    }
    uv_close((uv_handle_t *)&b->timer, NULL);
    if (b->tick_started) {
        uv_close((uv_handle_t *)&b->tick, on_tick_closed);
    }
}

/* ---- options ------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: ping_bench [options]\n"
            "  --url ws://HOST:PORT/PATH   server to load (IPv4 address or localhost; default\n"
            "                              ws://127.0.0.1:8080/v1/ws)\n"
            "  --port PORT                 short for --url ws://127.0.0.1:PORT/v1/ws\n"
            "  --conns N                   connections (default 100)\n"
            "  --rate R                    requests/s over all connections; 0 = closed loop,\n"
            "                              one ping in flight per connection (default 0)\n"
            "  --seconds S                 measured window (default 10)\n"
            "  --warmup S                  load before measuring (default 2)\n"
            "  --drain S                   wait for replies in flight at the end (default 2)\n"
            "  --idle                      open the connections and hold them for --seconds\n"
            "  --server-pid PID            read the server's CPU time and RSS from /proc\n"
            "  --connect-timeout S         give up opening connections after S (default 30)\n"
            "  --connect-parallel N        connections being opened at once (default 256)\n"
            "  --tick-us N                 pacing step of --rate in microseconds (default 1000)\n"
            "  --label NAME                name in the report and the RESULT line\n"
            "Exits 0 when every connection opened and every measured request got a success\n"
            "reply, 1 otherwise, 2 on bad options.\n");
}

static int parse_url(const char *url, struct options *o)
{
    const char *p = url;
    if (strncmp(p, "ws://", 5) != 0) {
        return -EINVAL;
    }
    p += 5;
    size_t host_len = strcspn(p, ":/");
    if (host_len == 0 || host_len >= sizeof o->host || p[host_len] != ':') {
        return -EINVAL;
    }
    memcpy(o->host, p, host_len);
    o->host[host_len] = '\0';
    p += host_len + 1;
    char *end;
    long port = strtol(p, &end, 10);
    if (end == p || port < 1 || port > 65535 || (*end != '\0' && *end != '/')) {
        return -EINVAL;
    }
    o->port = (int)port;
    const char *path = *end ? end : "/v1/ws";
    if (strlen(path) >= sizeof o->path) {
        return -EINVAL;
    }
    snprintf(o->path, sizeof o->path, "%s", path);
    return 0;
}

static int parse_options(int argc, char **argv, struct options *o)
{
    enum {
        OPT_URL = 256, OPT_PORT, OPT_CONNS, OPT_RATE, OPT_SECONDS, OPT_WARMUP, OPT_DRAIN,
        OPT_IDLE, OPT_PID, OPT_CTIMEOUT, OPT_CPARALLEL, OPT_TICK, OPT_LABEL, OPT_HELP,
    };
    /* In the order of the enum: an option's name is longopts[opt - OPT_URL].name. */
    static const struct option longopts[] = {
        { "url", required_argument, NULL, OPT_URL },
        { "port", required_argument, NULL, OPT_PORT },
        { "conns", required_argument, NULL, OPT_CONNS },
        { "rate", required_argument, NULL, OPT_RATE },
        { "seconds", required_argument, NULL, OPT_SECONDS },
        { "warmup", required_argument, NULL, OPT_WARMUP },
        { "drain", required_argument, NULL, OPT_DRAIN },
        { "idle", no_argument, NULL, OPT_IDLE },
        { "server-pid", required_argument, NULL, OPT_PID },
        { "connect-timeout", required_argument, NULL, OPT_CTIMEOUT },
        { "connect-parallel", required_argument, NULL, OPT_CPARALLEL },
        { "tick-us", required_argument, NULL, OPT_TICK },
        { "label", required_argument, NULL, OPT_LABEL },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    *o = (struct options){
        .host = "127.0.0.1", .port = 8080, .path = "/v1/ws", .conns = 100, .rate = 0,
        .seconds = 10, .warmup_s = 2, .drain_s = 2, .connect_timeout_s = 30,
        .connect_parallel = 256, .tick_us = 1000, .label = "ping",
    };
    int opt;
    double v = 0;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        bool good = true;
        switch (opt) {
        case OPT_URL:
            good = parse_url(optarg, o) == 0;
            break;
        case OPT_PORT:
            good = bench_parse_number(optarg, 1, 65535, &v);
            o->port = (int)v;
            snprintf(o->host, sizeof o->host, "127.0.0.1");
            snprintf(o->path, sizeof o->path, "/v1/ws");
            break;
        case OPT_CONNS:
            good = bench_parse_number(optarg, 1, 1000000, &v);
            o->conns = (int)v;
            break;
        case OPT_RATE:
            good = bench_parse_number(optarg, 0, 1e8, &o->rate);
            break;
        case OPT_SECONDS:
            good = bench_parse_number(optarg, 0.1, 3600, &o->seconds);
            break;
        case OPT_WARMUP:
            good = bench_parse_number(optarg, 0, 3600, &o->warmup_s);
            break;
        case OPT_DRAIN:
            good = bench_parse_number(optarg, 0, 600, &o->drain_s);
            break;
        case OPT_IDLE:
            o->idle = true;
            break;
        case OPT_PID:
            good = bench_parse_number(optarg, 1, 4194304, &v);
            o->server_pid = (pid_t)v;
            break;
        case OPT_CTIMEOUT:
            good = bench_parse_number(optarg, 0.1, 3600, &o->connect_timeout_s);
            break;
        case OPT_CPARALLEL:
            good = bench_parse_number(optarg, 1, 100000, &v);
            o->connect_parallel = (int)v;
            break;
        case OPT_TICK:
            good = bench_parse_number(optarg, 10, 1000000, &v);
            o->tick_us = (int)v;
            break;
        case OPT_LABEL:
            o->label = optarg;
            break;
        case OPT_HELP:
            usage(stdout);
            exit(0);
        default:
            /* getopt has already said what was wrong */
            usage(stderr);
            return -EINVAL;
        }
        if (!good) {
            fprintf(stderr, "ping_bench: bad value for --%s: %s\n", longopts[opt - OPT_URL].name,
                    optarg);
            usage(stderr);
            return -EINVAL;
        }
    }
    if (optind != argc) {
        usage(stderr);
        return -EINVAL;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct bench bench;
    struct bench *b = &bench;
    if (parse_options(argc, argv, &b->opt) != 0) {
        return 2;
    }
    /* A server that goes away mid-write must show as an error, not kill the generator. */
    signal(SIGPIPE, SIG_IGN);
    const char *ip = strcmp(b->opt.host, "localhost") == 0 ? "127.0.0.1" : b->opt.host;
    if (uv_ip4_addr(ip, b->opt.port, &b->target.addr) != 0) {
        fprintf(stderr, "ping_bench: %s is not an IPv4 address\n", b->opt.host);
        return 2;
    }
    b->target.host = b->opt.host;
    b->target.path = b->opt.path;
    b->target.protocol = PROTOCOL;
    b->loop = uv_default_loop();
    b->tick_fd = -1;
    b->first_measured_id = UINT64_MAX;
    b->end_measured_id = UINT64_MAX;
    b->conns = calloc((size_t)b->opt.conns, sizeof *b->conns);
    if (!b->conns) {
        fprintf(stderr, "ping_bench: out of memory\n");
        return 1;
    }
    for (int i = 0; i < b->opt.conns; i++) {
        b->conns[i].b = b;
    }
    if (b->opt.server_pid) {
        b->srv_before = procstat_read(b->opt.server_pid);
        if (!b->srv_before.ok) {
            fprintf(stderr, "ping_bench: cannot read /proc/%ld: no server figures\n",
                    (long)b->opt.server_pid);
        }
    }
    fprintf(stderr, "ping_bench: opening %d connections to ws://%s:%d%s\n", b->opt.conns,
            b->opt.host, b->opt.port, b->opt.path);
    uv_timer_init(b->loop, &b->timer);
    b->timer.data = b;
    b->t_start_ns = uv_hrtime();
    b->phase = PHASE_CONNECT;
    uv_timer_start(&b->timer, on_connect_timeout, ms_of(b->opt.connect_timeout_s), 0);
    connect_more(b);
    uv_run(b->loop, UV_RUN_DEFAULT);

    bool clean = b->t_measure_end_ns != 0 && b->n_ready == b->opt.conns && b->n_dropped == 0 &&
                 b->n_replied == b->n_sent && b->n_errors == 0 && b->n_unmatched == 0;
    for (int i = 0; i < b->opt.conns; i++) {
        wsconn_deinit(&b->conns[i].ws);
    }
    free(b->conns);
    free(b->sent_ns);
    uv_loop_close(b->loop);
    return clean ? 0 : 1;
}
