/* chaos_bench: the well-behaved and the hostile clients of the chaos soak (bench/run chaos),
 * run beside trip_bench's morning tracking load while bench/run kills and restarts PostgreSQL.
 * From a records fixture (classment-fixture records):
 *   writers  --writers W class teachers, each creating homework (homework.create) one at a
 *            time, one every 200 ms; every acknowledged title goes to --acked FILE, one a line,
 *            so that bench/run can check afterwards that the database holds each of them (and
 *            every refused one to --unacked FILE: how many were done after all);
 *   readers  --readers R class teachers, each alternating sys.ping (answered from memory) and
 *            homework.list (the database) every 100 ms, one in flight: latency p50/p99/max of
 *            each, answers by code, the seconds in which the database was seen down, and
 *            requests never answered (there must be none);
 *   flood    from --flood-from (another loopback address, so the server sees one other
 *            address), --flood-conns connections not logged in keeping 256 sys.status in flight
 *            each, and as many logged in as the admin keeping 256 homework.list in flight each,
 *            from --flood-start to --flood-stop seconds;
 *   stalled  --stalled K connections from --stalled-from that send sys.ping as fast as their
 *            socket takes it and never read, over the same window; each is opened again 2 s
 *            after the server drops it. How long they lasted is reported.
 * It exits 1 when a well-behaved request went unanswered for 10 s, was refused other than
 * `unavailable` (the database is down on purpose), or a well-behaved connection was dropped. */
#include <getopt.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "bench/args.h"
#include "bench/hist.h"
#include "bench/reply.h"
#include "bench/wsconn.h"

#define FLOOD_DEPTH 256        /* requests each flooding connection keeps in flight */
#define ANSWER_TIMEOUT_NS 10000000000ull
#define MAX_SECONDS 3600
#define STALLED_REOPEN_MS 2000

enum kind { WRITER, READER, FLOOD_ANON, FLOOD_ADMIN, STALLED };
enum phase { P_CLOSED, P_CONNECT, P_RESUME, P_READY, P_DONE };

struct client {
    struct wsconn conn;
    enum kind kind;
    enum phase phase;
    const char *token;      /* borrowed from the fixture table; NULL: not logged in */
    long long section, subject;
    uint64_t next_id;
    uint64_t sent_ns;       /* writers, readers: the request in flight (0: none) */
    uint64_t due_ns;        /* writers, readers: when the next request goes */
    bool db_turn;           /* readers: the next request is homework.list */
    char title[64];         /* writers: the title in flight */
    uint32_t in_flight;     /* flooders */
    uint64_t opened_ns;     /* stalled: when it opened */
    uint64_t reopen_ns;     /* stalled: when to open again (0: not waiting) */
};

struct section_row {
    char token[48];
    long long section, subject;
};

/* Answers of one kind of request, by outcome. */
struct tally {
    uint64_t ok, unavailable, rate_limited, other;
};

static struct {
    uv_loop_t *loop;
    struct wsconn_target good, flood, stalled_target;
    struct sockaddr_in flood_src, stalled_src;
    struct section_row *rows;
    size_t n_rows;
    char admin[48];
    struct client *clients;
    size_t n_clients;
    size_t writers, readers, flood_conns, stalled;
    double seconds, flood_start_s, flood_stop_s;
    uint64_t t0_ns;
    uv_timer_t tick;
    bool stopping;
    FILE *acked, *unacked; /* titles answered ok, and refused */
    const char *label;
    char due_on[11];
    msgpack_sbuffer sb;
    /* what the well-behaved saw */
    struct hist ping_lat, db_lat, write_lat;
    struct hist ping_calm, ping_flood, db_calm, db_flood; /* outside and inside the window */
    struct tally ping, db, write, flood_anon, flood_admin;
    uint64_t unanswered, dropped, refused_wrongly, login_failed;
    char last_wrong[64];
    bool db_down_in_second[MAX_SECONDS + 16];
    /* the stalled clients */
    uint64_t stalled_opened, stalled_dropped, stalled_pings;
    struct hist stalled_life;
} B;

static uint64_t now_ns(void)
{
    return uv_hrtime();
}

static double since_start_s(void)
{
    return (double)(now_ns() - B.t0_ns) / 1e9;
}

static bool flood_window(void)
{
    double t = since_start_s();
    return t >= B.flood_start_s && t < B.flood_stop_s;
}

/* ---- requests ---- */

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* Packs {id, op, args: {…}} with nargs argument pairs still to pack after it. */
static void begin(msgpack_packer *pk, uint64_t id, const char *op, uint32_t nargs)
{
    msgpack_sbuffer_clear(&B.sb);
    msgpack_packer_init(pk, &B.sb, msgpack_sbuffer_write);
    msgpack_pack_map(pk, 3);
    pack_str(pk, "id");
    msgpack_pack_uint64(pk, id);
    pack_str(pk, "op");
    pack_str(pk, op);
    pack_str(pk, "args");
    msgpack_pack_map(pk, nargs);
}

static void send_packed(struct client *c)
{
    wsconn_send(&c->conn, WSCONN_OP_BINARY, (const uint8_t *)B.sb.data, B.sb.size);
}

static void send_resume(struct client *c)
{
    msgpack_packer pk;
    begin(&pk, c->next_id++, "auth.resume", 1);
    pack_str(&pk, "token");
    pack_str(&pk, c->token);
    c->phase = P_RESUME;
    send_packed(c);
}

static void send_homework_list(struct client *c)
{
    msgpack_packer pk;
    begin(&pk, c->next_id++, "homework.list", 2);
    pack_str(&pk, "section");
    msgpack_pack_int64(&pk, c->section);
    pack_str(&pk, "limit");
    msgpack_pack_int64(&pk, 5);
    send_packed(c);
}

static void send_simple(struct client *c, const char *op)
{
    msgpack_packer pk;
    begin(&pk, c->next_id++, op, 0);
    send_packed(c);
}

static void send_homework_create(struct client *c)
{
    snprintf(c->title, sizeof c->title, "chaos %s w%zu-%llu", B.label,
             (size_t)(c - B.clients), (unsigned long long)c->next_id);
    msgpack_packer pk;
    begin(&pk, c->next_id++, "homework.create", 4);
    pack_str(&pk, "section");
    msgpack_pack_int64(&pk, c->section);
    pack_str(&pk, "subject");
    msgpack_pack_int64(&pk, c->subject);
    pack_str(&pk, "title");
    pack_str(&pk, c->title);
    pack_str(&pk, "due_on");
    pack_str(&pk, B.due_on);
    send_packed(c);
}

/* ---- replies ---- */

static void tally_add(struct tally *t, const struct bench_reply *r)
{
    if (r->ok) {
        t->ok++;
    } else if (strcmp(r->code, "unavailable") == 0) {
        t->unavailable++;
    } else if (strcmp(r->code, "rate_limited") == 0) {
        t->rate_limited++;
    } else {
        t->other++;
    }
}

/* A well-behaved client's answer: ok, or unavailable while the database is down. */
static void judge(struct client *c, const struct bench_reply *r, const char *op)
{
    if (!r->ok && strcmp(r->code, "unavailable") != 0) {
        B.refused_wrongly++;
        snprintf(B.last_wrong, sizeof B.last_wrong, "%s: %s", op, r->code[0] ? r->code : "?");
    }
    if (!r->ok && strcmp(r->code, "unavailable") == 0) {
        size_t s = (size_t)since_start_s();
        if (s < MAX_SECONDS) {
            B.db_down_in_second[s] = true;
        }
    }
    (void)c;
}

static void on_good_reply(struct client *c, const struct bench_reply *r)
{
    if (!c->sent_ns) {
        return; /* an answer the watchdog already gave up on */
    }
    uint64_t lat = now_ns() - c->sent_ns;
    c->sent_ns = 0;
    if (c->kind == WRITER) {
        hist_add(&B.write_lat, lat);
        tally_add(&B.write, r);
        judge(c, r, "homework.create");
        if (r->ok && B.acked) {
            fprintf(B.acked, "%s\n", c->title);
        } else if (!r->ok && B.unacked) {
            fprintf(B.unacked, "%s\n", c->title);
        }
        c->due_ns += 200000000ull;
    } else if (c->db_turn) {
        hist_add(&B.db_lat, lat);
        hist_add(flood_window() ? &B.db_flood : &B.db_calm, lat);
        tally_add(&B.db, r);
        judge(c, r, "homework.list");
        c->db_turn = false;
        c->due_ns += 50000000ull;
    } else {
        hist_add(&B.ping_lat, lat);
        hist_add(flood_window() ? &B.ping_flood : &B.ping_calm, lat);
        tally_add(&B.ping, r);
        judge(c, r, "sys.ping");
        c->db_turn = true;
        c->due_ns += 50000000ull;
    }
    if (c->due_ns < now_ns()) {
        c->due_ns = now_ns();
    }
}

static void flood_fill(struct client *c)
{
    while (c->phase == P_READY && c->in_flight < FLOOD_DEPTH && flood_window()) {
        if (c->kind == FLOOD_ANON) {
            send_simple(c, "sys.status");
        } else {
            send_homework_list(c);
        }
        c->in_flight++;
    }
}

static void on_message(struct wsconn *conn, const uint8_t *data, size_t len, uint64_t t_ns)
{
    (void)t_ns;
    struct client *c = conn->data;
    struct bench_reply r;
    bench_reply_read(data, len, &r);
    if (!r.has_id) {
        return; /* hello, homework.assigned, … */
    }
    if (c->phase == P_RESUME) {
        if (!r.ok) {
            B.login_failed++;
            c->phase = P_DONE;
            wsconn_close(conn);
            return;
        }
        c->phase = P_READY;
        c->due_ns = now_ns();
        return;
    }
    switch (c->kind) {
    case WRITER:
    case READER:
        on_good_reply(c, &r);
        break;
    case FLOOD_ANON:
    case FLOOD_ADMIN:
        tally_add(c->kind == FLOOD_ANON ? &B.flood_anon : &B.flood_admin, &r);
        if (c->in_flight) {
            c->in_flight--;
        }
        flood_fill(c);
        break;
    case STALLED:
        break;
    }
}

static void on_opened(struct wsconn *conn)
{
    struct client *c = conn->data;
    if (c->kind == STALLED) {
        wsconn_stop_reading(conn);
        c->phase = P_READY;
        c->opened_ns = now_ns();
        B.stalled_opened++;
        return;
    }
    if (c->token) {
        send_resume(c);
    } else {
        c->phase = P_READY;
    }
}

static void on_closed(struct wsconn *conn, const char *why)
{
    struct client *c = conn->data;
    if (B.stopping) {
        return;
    }
    if (c->kind == STALLED) {
        if (c->phase == P_READY) {
            B.stalled_dropped++;
            hist_add(&B.stalled_life, now_ns() - c->opened_ns);
        }
        c->phase = P_CLOSED;
        c->reopen_ns = now_ns() + STALLED_REOPEN_MS * 1000000ull;
        return;
    }
    if (c->kind == FLOOD_ANON || c->kind == FLOOD_ADMIN) {
        c->phase = P_DONE; /* the server may drop a flooder; it is not reopened */
        return;
    }
    fprintf(stderr, "chaos_bench: a well-behaved connection was dropped: %s\n", why);
    B.dropped++;
    c->phase = P_DONE;
}

static const struct wsconn_handler handler = {
    .opened = on_opened, .message = on_message, .closed = on_closed,
};

static const struct wsconn_target *target_of(const struct client *c)
{
    switch (c->kind) {
    case FLOOD_ANON:
    case FLOOD_ADMIN: return &B.flood;
    case STALLED: return &B.stalled_target;
    default: return &B.good;
    }
}

static void open_client(struct client *c)
{
    c->phase = P_CONNECT;
    c->in_flight = 0;
    c->sent_ns = 0;
    if (wsconn_start(&c->conn, B.loop, target_of(c), &handler, c) != 0) {
        c->phase = c->kind == STALLED ? P_CLOSED : P_DONE;
        c->reopen_ns = now_ns() + STALLED_REOPEN_MS * 1000000ull;
        if (c->kind == WRITER || c->kind == READER) {
            B.dropped++;
        }
    }
}

/* ---- the clock: every 5 ms ---- */

static void stop_all(void)
{
    B.stopping = true;
    for (size_t i = 0; i < B.n_clients; i++) {
        struct client *c = &B.clients[i];
        if ((c->kind == WRITER || c->kind == READER) && c->sent_ns) {
            B.unanswered++; /* still waiting at the end */
        }
        wsconn_close(&c->conn);
    }
    uv_close((uv_handle_t *)&B.tick, NULL);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
    uint64_t now = now_ns();
    /* The time is up: no new requests; the answers still due get up to 10 s, then every
     * request without one counts as unanswered. */
    bool draining = since_start_s() >= B.seconds;
    if (draining) {
        bool waiting = false;
        for (size_t i = 0; i < B.n_clients && !waiting; i++) {
            const struct client *c = &B.clients[i];
            waiting = (c->kind == WRITER || c->kind == READER) && c->phase == P_READY &&
                      c->sent_ns;
        }
        if (!waiting || since_start_s() >= B.seconds + ANSWER_TIMEOUT_NS / 1e9) {
            stop_all();
            return;
        }
    }
    bool window = flood_window();
    for (size_t i = 0; i < B.n_clients; i++) {
        struct client *c = &B.clients[i];
        switch (c->kind) {
        case WRITER:
        case READER:
            if (c->phase != P_READY) {
                break;
            }
            if (c->sent_ns && now - c->sent_ns > ANSWER_TIMEOUT_NS) {
                B.unanswered++;
                fprintf(stderr, "chaos_bench: no answer in 10 s to %s (request %llu) sent at "
                                "second %.1f\n",
                        c->kind == WRITER ? "homework.create"
                                          : c->db_turn ? "homework.list" : "sys.ping",
                        (unsigned long long)(c->next_id - 1),
                        (double)(c->sent_ns - B.t0_ns) / 1e9);
                c->sent_ns = 0;
                c->due_ns = now;
            }
            if (!draining && !c->sent_ns && c->due_ns <= now) {
                c->sent_ns = now;
                if (c->kind == WRITER) {
                    send_homework_create(c);
                } else if (c->db_turn) {
                    send_homework_list(c);
                } else {
                    send_simple(c, "sys.ping");
                }
            }
            break;
        case FLOOD_ANON:
        case FLOOD_ADMIN:
            if (window && c->phase == P_CLOSED) {
                open_client(c);
            } else if (!window && c->phase != P_CLOSED && c->phase != P_DONE) {
                wsconn_close(&c->conn);
                c->phase = P_DONE;
            }
            flood_fill(c);
            break;
        case STALLED:
            if (window && c->phase == P_CLOSED && now >= c->reopen_ns) {
                open_client(c);
            } else if (!window && c->phase != P_CLOSED && c->phase != P_DONE) {
                wsconn_close(&c->conn);
                c->phase = P_DONE;
            } else if (c->phase == P_READY) {
                /* As fast as the socket takes them, never reading the answers. */
                for (int k = 0; k < 64 && c->phase == P_READY && wsconn_queued(&c->conn) == 0;
                     k++) {
                    send_simple(c, "sys.ping");
                    B.stalled_pings++;
                }
            }
            break;
        }
    }
}

/* ---- fixture and report ---- */

/* Reads the admin token and each section's teacher token, section and subject from the file
 * classment-fixture records writes (one section per line). */
static int read_fixture(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, n_cap = 0;
    while (getline(&line, &cap, f) > 0) {
        const char *a = strstr(line, "\"admin\": \"");
        if (a) {
            sscanf(a, "\"admin\": \"%47[^\"]\"", B.admin);
            continue;
        }
        const char *p = strstr(line, "{\"token\": \"");
        const char *s = strstr(line, "\"subject\": ");
        struct section_row row = { 0 };
        if (!p || !s || sscanf(p, "{\"token\": \"%47[^\"]\", \"section\": %lld", row.token,
                               &row.section) != 2 ||
            sscanf(s, "\"subject\": %lld", &row.subject) != 1) {
            continue;
        }
        if (B.n_rows == n_cap) {
            n_cap = n_cap ? n_cap * 2 : 64;
            B.rows = realloc(B.rows, n_cap * sizeof *B.rows);
        }
        B.rows[B.n_rows++] = row;
    }
    free(line);
    fclose(f);
    return B.admin[0] && B.n_rows ? 0 : -1;
}

static void print_lat(const char *name, const struct hist *h, const struct tally *t)
{
    printf("%-16s %llu ok, %llu unavailable, %llu rate_limited, %llu other; ms p50 %.2f  "
           "p99 %.2f  max %.2f\n",
           name, (unsigned long long)t->ok, (unsigned long long)t->unavailable,
           (unsigned long long)t->rate_limited, (unsigned long long)t->other,
           (double)hist_percentile(h, 50) / 1e6, (double)hist_percentile(h, 99) / 1e6,
           (double)h->max / 1e6);
}

/* The seconds in which readers saw the database down, as ranges "25-34 51-58". */
static void print_down_seconds(void)
{
    printf("database down    seen by the readers in seconds:");
    bool any = false;
    for (size_t s = 0; s < MAX_SECONDS; s++) {
        if (!B.db_down_in_second[s] || (s > 0 && B.db_down_in_second[s - 1])) {
            continue;
        }
        size_t e = s;
        while (e + 1 < MAX_SECONDS && B.db_down_in_second[e + 1]) {
            e++;
        }
        printf(" %zu-%zu", s, e + 1);
        any = true;
    }
    printf("%s\n", any ? "" : " none");
}

static int report(void)
{
    printf("label            %s\n", B.label);
    print_lat("sys.ping", &B.ping_lat, &B.ping);
    print_lat("homework.list", &B.db_lat, &B.db);
    print_lat("homework.create", &B.write_lat, &B.write);
    printf("p99 ms           sys.ping %.2f calm, %.2f during the flood; homework.list %.2f calm, "
           "%.2f during the flood (and the outages)\n",
           (double)hist_percentile(&B.ping_calm, 99) / 1e6,
           (double)hist_percentile(&B.ping_flood, 99) / 1e6,
           (double)hist_percentile(&B.db_calm, 99) / 1e6,
           (double)hist_percentile(&B.db_flood, 99) / 1e6);
    print_down_seconds();
    printf("well-behaved     %llu unanswered (10 s), %llu refused other than unavailable%s%s, "
           "%llu connections dropped, %llu logins failed\n",
           (unsigned long long)B.unanswered, (unsigned long long)B.refused_wrongly,
           B.last_wrong[0] ? " (last: " : "", B.last_wrong[0] ? B.last_wrong : "",
           (unsigned long long)B.dropped, (unsigned long long)B.login_failed);
    if (B.last_wrong[0]) {
        printf(")\n");
    }
    printf("flood anon       %llu ok, %llu rate_limited, %llu unavailable, %llu other\n",
           (unsigned long long)B.flood_anon.ok, (unsigned long long)B.flood_anon.rate_limited,
           (unsigned long long)B.flood_anon.unavailable, (unsigned long long)B.flood_anon.other);
    printf("flood admin      %llu ok, %llu rate_limited, %llu unavailable, %llu other\n",
           (unsigned long long)B.flood_admin.ok, (unsigned long long)B.flood_admin.rate_limited,
           (unsigned long long)B.flood_admin.unavailable,
           (unsigned long long)B.flood_admin.other);
    printf("stalled          %llu opened, %llu dropped by the server after s p50 %.2f max %.2f; "
           "%llu pings sent unread\n",
           (unsigned long long)B.stalled_opened, (unsigned long long)B.stalled_dropped,
           (double)hist_percentile(&B.stalled_life, 50) / 1e9,
           (double)B.stalled_life.max / 1e9, (unsigned long long)B.stalled_pings);
    bool good = B.unanswered == 0 && B.refused_wrongly == 0 && B.dropped == 0 &&
                B.login_failed == 0;
    printf("RESULT label=%s ping_p99_ms=%.2f db_p99_ms=%.2f write_p99_ms=%.2f writes_acked=%llu "
           "unanswered=%llu refused_wrongly=%llu dropped=%llu flood_refused=%llu "
           "stalled_dropped=%llu stalled_max_s=%.2f\n",
           B.label, (double)hist_percentile(&B.ping_lat, 99) / 1e6,
           (double)hist_percentile(&B.db_lat, 99) / 1e6,
           (double)hist_percentile(&B.write_lat, 99) / 1e6, (unsigned long long)B.write.ok,
           (unsigned long long)B.unanswered, (unsigned long long)B.refused_wrongly,
           (unsigned long long)B.dropped,
           (unsigned long long)(B.flood_anon.rate_limited + B.flood_admin.rate_limited),
           (unsigned long long)B.stalled_dropped, (double)B.stalled_life.max / 1e9);
    return good ? 0 : 1;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: chaos_bench --fixture RECORDS.json --url ws://127.0.0.1:PORT/v1/ws "
            "[--seconds S] [--writers W] [--readers R] [--flood-conns F] [--flood-from ADDR] "
            "[--flood-start S] [--flood-stop S] [--stalled K] [--stalled-from ADDR] "
            "[--acked FILE] [--unacked FILE] [--label NAME]\n");
}

int main(int argc, char **argv)
{
    const char *fixture = NULL, *url = NULL, *acked = NULL, *unacked = NULL;
    const char *flood_from = "127.0.0.2", *stalled_from = "127.0.0.3";
    B.seconds = 90;
    B.writers = 4;
    B.readers = 16;
    B.flood_conns = 4;
    B.stalled = 3;
    B.flood_start_s = 10;
    B.flood_stop_s = 70;
    B.label = "chaos";
    static const struct option opts[] = {
        { "fixture", required_argument, NULL, 'f' },     { "url", required_argument, NULL, 'u' },
        { "seconds", required_argument, NULL, 's' },     { "writers", required_argument, NULL, 'w' },
        { "readers", required_argument, NULL, 'r' },     { "flood-conns", required_argument, NULL, 'F' },
        { "flood-from", required_argument, NULL, 'a' },  { "flood-start", required_argument, NULL, 'b' },
        { "flood-stop", required_argument, NULL, 'e' },  { "stalled", required_argument, NULL, 'k' },
        { "stalled-from", required_argument, NULL, 'A' }, { "acked", required_argument, NULL, 'o' },
        { "label", required_argument, NULL, 'l' },       { "unacked", required_argument, NULL, 'U' },
        { NULL, 0, NULL, 0 },
    };
    int o;
    bool good = true;
    while (good && (o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'f': fixture = optarg; break;
        case 'u': url = optarg; break;
        case 's': good = bench_parse_number(optarg, 1, MAX_SECONDS, &B.seconds); break;
        case 'w': good = bench_parse_count(optarg, 0, 1000, &B.writers); break;
        case 'r': good = bench_parse_count(optarg, 0, 1000, &B.readers); break;
        case 'F': good = bench_parse_count(optarg, 0, 1000, &B.flood_conns); break;
        case 'a': flood_from = optarg; break;
        case 'b': good = bench_parse_number(optarg, 0, MAX_SECONDS, &B.flood_start_s); break;
        case 'e': good = bench_parse_number(optarg, 0, MAX_SECONDS, &B.flood_stop_s); break;
        case 'k': good = bench_parse_count(optarg, 0, 1000, &B.stalled); break;
        case 'A': stalled_from = optarg; break;
        case 'o': acked = optarg; break;
        case 'U': unacked = optarg; break;
        case 'l': B.label = optarg; break;
        default: good = false; break;
        }
    }
    char host[64];
    if (!good || !fixture || wsconn_target_from_url(&B.good, url, host) != 0) {
        usage();
        return 2;
    }
    if (read_fixture(fixture) != 0 || B.n_rows < B.writers + B.readers) {
        fprintf(stderr, "chaos_bench: %s has %zu sections with a subject; %zu needed\n", fixture,
                B.n_rows, B.writers + B.readers);
        return 1;
    }
    if ((acked && !(B.acked = fopen(acked, "w"))) ||
        (unacked && !(B.unacked = fopen(unacked, "w")))) {
        fprintf(stderr, "chaos_bench: cannot write %s\n", B.acked ? unacked : acked);
        return 1;
    }
    wsconn_process_init();
    /* A week from today, so that homework.create's due date is never in the past. */
    time_t due = time(NULL) + 7 * 86400;
    struct tm tm;
    strftime(B.due_on, sizeof B.due_on, "%Y-%m-%d", localtime_r(&due, &tm));

    B.loop = uv_default_loop();
    B.flood = B.stalled_target = B.good;
    if (uv_ip4_addr(flood_from, 0, &B.flood_src) != 0 ||
        uv_ip4_addr(stalled_from, 0, &B.stalled_src) != 0) {
        fprintf(stderr, "chaos_bench: --flood-from and --stalled-from take IPv4 addresses\n");
        return 2;
    }
    B.flood.source = &B.flood_src;
    B.stalled_target.source = &B.stalled_src;

    B.n_clients = B.writers + B.readers + 2 * B.flood_conns + B.stalled;
    B.clients = calloc(B.n_clients, sizeof *B.clients);
    size_t n = 0;
    for (size_t i = 0; i < B.writers + B.readers; i++, n++) {
        struct client *c = &B.clients[n];
        c->kind = i < B.writers ? WRITER : READER;
        c->token = B.rows[i].token;
        c->section = B.rows[i].section;
        c->subject = B.rows[i].subject;
    }
    for (size_t i = 0; i < B.flood_conns; i++) {
        B.clients[n++].kind = FLOOD_ANON;
        B.clients[n].kind = FLOOD_ADMIN;
        B.clients[n].token = B.admin;
        B.clients[n++].section = B.rows[0].section;
    }
    for (size_t i = 0; i < B.stalled; i++) {
        B.clients[n++].kind = STALLED;
    }
    msgpack_sbuffer_init(&B.sb);
    B.t0_ns = now_ns();
    for (size_t i = 0; i < B.n_clients; i++) {
        struct client *c = &B.clients[i];
        c->next_id = 1;
        if (c->kind == WRITER || c->kind == READER) {
            open_client(c);
        }
    }
    uv_timer_init(B.loop, &B.tick);
    uv_timer_start(&B.tick, on_tick, 5, 5);
    uv_run(B.loop, UV_RUN_DEFAULT);
    int rc = report();
    for (size_t i = 0; i < B.n_clients; i++) {
        wsconn_deinit(&B.clients[i].conn);
    }
    free(B.clients);
    free(B.rows);
    msgpack_sbuffer_destroy(&B.sb);
    if ((B.acked && fclose(B.acked) != 0) || (B.unacked && fclose(B.unacked) != 0)) {
        rc = 1;
    }
    uv_loop_close(B.loop);
    return rc;
}
