/* tcp_floor: the hardware floor of WebSocket-style fan-out on this machine.
 *
 * classmentd delivers each trip.pos event as one small WebSocket frame per subscribed parent,
 * that is one write() on one loopback TCP connection per recipient. This program does exactly
 * that and nothing else: no libuv, no libwebsockets, no database, no msgpack. Whatever CPU it
 * needs per delivery is a lower bound for any server on this machine, so a server target below
 * it cannot be met by tuning the server.
 *
 * Shape (as trip_bench): G groups ("trips") of P connections ("parents"), N = G * P loopback
 * TCP connections with TCP_NODELAY between two processes forked from this one:
 *   - the writer (the parent process, playing the server) publishes every group at --rate Hz,
 *     the groups spread evenly over the period; for a due group it builds one frame (0x82, the
 *     length, then a payload that starts with the send time, CLOCK_REALTIME ns) and send()s it
 *     once to each connection of the group. Its loop is a bare epoll_wait with a timeout to
 *     the next due group; a short or refused (EAGAIN) write is counted, never retried.
 *   - the reader (the child, playing the load generator) runs a level-triggered epoll loop
 *     over all N connections, one read() of up to 64 KiB per ready connection per wake-up,
 *     splits the bytes into frames (keeping partial ones per connection) and records each
 *     frame's end-to-end latency.
 *
 * Only frames sent inside the measured window count; the expected count is the frames sent in
 * the window times P. The writer's CPU time is the figure that matters: on Linux the receive
 * side of a loopback TCP segment (tcp_v4_rcv, queueing, waking the reader) runs in softirq
 * context on the sending CPU, normally inside the writer's own send() call, so the writer is
 * charged for both halves of the kernel's work, as a server would be. (With
 * CONFIG_IRQ_TIME_ACCOUNTING that softirq time is kept out of the task's own time, which is
 * why the machine-wide CPU over the window is reported too.)
 *
 * The two processes share one anonymous MAP_SHARED page set: the writer publishes the window
 * and its accept count there, the reader leaves its counts and latency histogram there before
 * it exits. Two pipes carry the rest: the reader says "all connected" on one, and reads the
 * writer's "stop" (its end being closed) on the other; either side sees the other die as EOF.
 * CPU times (the writer's from getrusage, the reader's and the machine's from /proc) are
 * taken at the start and the end of the sending window. */
#define _GNU_SOURCE /* accept4, pipe2 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/args.h"
#include "bench/hist.h"
#include "bench/procstat.h"

#define NS_PER_S 1000000000ull
#define NS_PER_MS 1000000ull
#define LISTEN_BACKLOG 4096         /* the kernel caps it at net.core.somaxconn */
#define READ_BUF_SIZE (64 * 1024)
#define MAX_EVENTS 1024
#define CONNS_PER_SOURCE 4096       /* reader connections per loopback source address */
#define SETUP_TIMEOUT_NS (30 * NS_PER_S) /* no connection progress for this long: give up */
#define DRAIN_NS NS_PER_S           /* wait for frames in flight after the window */
#define TS_LEN 8                    /* the send time at the start of the payload */
#define MIN_PAYLOAD TS_LEN
#define MAX_PAYLOAD 65535           /* 16-bit extended length at most */

/* epoll tags besides connection indices */
#define TAG_LISTEN UINT64_MAX
#define TAG_STATUS (UINT64_MAX - 1)
#define TAG_CTL (UINT64_MAX - 2)

struct options {
    size_t groups, parents;
    double rate_hz;
    double seconds;
    double warmup_s;
    size_t payload;
    const char *label;
};

/* Lives in a MAP_SHARED mapping made before fork(). */
struct shared {
    /* written by the writer while running */
    _Atomic uint64_t accepted;      /* connections accepted so far (paces the reader's connects) */
    _Atomic uint64_t t_measure_ns;  /* start of the measured window; 0 until it starts */
    _Atomic uint64_t t_end_ns;      /* its end; 0 until it ends */
    /* written by the reader; the writer reads them after waitpid() */
    bool reader_done;
    uint64_t received_total, received_measured;
    uint64_t bad_frames, conns_lost, reads;
    struct hist latency;            /* frames sent inside the window, ns */
};

/* One frame as both sides see it: a WebSocket server frame (FIN + binary, unmasked). */
struct frame_shape {
    uint8_t hdr[4];
    size_t hdr_len, len;
};

struct writer {
    const struct options *o;
    struct shared *sh;
    const struct frame_shape *fs;
    pid_t reader;
    int ep, lfd, ctl_w, status_r;
    size_t n_conns;
    int *fds;                       /* accept order: group g owns [g * P, (g + 1) * P) */
    uint8_t *broken;                /* a partial frame went out or send() failed: skip */
    uint8_t *frame;
    uint64_t *next_send_ns;         /* by group */
    uint64_t period_ns;
    bool measuring;
    uint64_t t_setup_ns, t_ready_ns, t_measure_ns, t_end_ns;
    uint64_t frames_measured;
    uint64_t short_writes, write_errors;
    struct rusage ru0, ru1;
    struct procstat rd0, rd1;
    struct procstat_machine m0, m1;
};

struct reader {
    struct shared *sh;
    const struct frame_shape *fs;
    pid_t writer;
    int ep, ctl_r, status_w;
    size_t n_conns;
    int *fds;
    uint32_t *carry_len;            /* bytes of a partial frame kept, by connection */
    uint8_t *carry;                 /* n_conns * fs->len bytes */
    uint8_t *buf;                   /* READ_BUF_SIZE */
    uint64_t received_total, received_measured, bad_frames, conns_lost, reads;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_REALTIME, &ts) != 0) {
        abort(); /* cannot fail with a valid clock and pointer */
    }
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void syserr(const char *who, const char *what)
{
    fprintf(stderr, "tcp_floor: %s: %s: %s\n", who, what, strerror(errno));
}

static int set_nodelay(int fd)
{
    int one = 1;
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int epoll_add(int ep, int fd, uint64_t tag)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
    return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static struct frame_shape frame_shape(size_t payload)
{
    struct frame_shape fs = { .hdr = { 0x82 } };
    if (payload <= 125) {
        fs.hdr[1] = (uint8_t)payload;
        fs.hdr_len = 2;
    } else {
        fs.hdr[1] = 126;
        fs.hdr[2] = (uint8_t)(payload >> 8);
        fs.hdr[3] = (uint8_t)payload;
        fs.hdr_len = 4;
    }
    fs.len = fs.hdr_len + payload;
    return fs;
}

/* The accept queue's real size: listen() silently caps the backlog at somaxconn. */
static size_t accept_queue_size(void)
{
    size_t n = 128; /* the historical default, if it cannot be read */
    FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
    if (f) {
        unsigned long v;
        if (fscanf(f, "%lu", &v) == 1 && v > 0) {
            n = v;
        }
        fclose(f);
    }
    return n < LISTEN_BACKLOG ? n : LISTEN_BACKLOG;
}

/* ---- reader (the child) ----------------------------------------------------------------- */

/* Closes with a reset rather than a FIN. The reader closes first, so an orderly close would
 * leave each of its ephemeral ports in TIME_WAIT for a minute; with ~19,000 of them a run
 * that follows within that minute spends seconds of kernel time in connect() looking for a
 * free port. Nothing is in flight by now, so the reset loses nothing. */
static void reader_close(int fd)
{
    struct linger lg = { .l_onoff = 1, .l_linger = 0 };
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0) {
        syserr("reader", "SO_LINGER"); /* then it is an orderly close: still correct */
    }
    close(fd);
}

/* Drops a connection whose stream ended or broke; it no longer receives anything. */
static void reader_lose(struct reader *r, size_t i, const char *why)
{
    if (++r->conns_lost <= 5) {
        fprintf(stderr, "tcp_floor: reader: connection %zu lost: %s\n", i, why);
    }
    /* Closing the descriptor also removes it from the epoll set. */
    close(r->fds[i]);
    r->fds[i] = -1;
}

/* One whole frame at p. False when its header is not the expected one (stream out of step). */
static bool reader_frame(struct reader *r, const uint8_t *p, uint64_t now, uint64_t t0,
                         uint64_t t1)
{
    const struct frame_shape *fs = r->fs;
    if (memcmp(p, fs->hdr, fs->hdr_len) != 0) {
        r->bad_frames++;
        return false;
    }
    uint64_t ts;
    memcpy(&ts, p + fs->hdr_len, sizeof ts); /* host order: both ends are this program */
    r->received_total++;
    if (t0 && ts >= t0 && (!t1 || ts < t1)) {
        r->received_measured++;
        hist_add(&r->sh->latency, now > ts ? now - ts : 0);
    }
    return true;
}

/* n bytes read from connection i at time now: whole frames, with the partial one before
 * them completed from the carry buffer and the partial one after them kept there. */
static bool reader_consume(struct reader *r, size_t i, const uint8_t *p, size_t n, uint64_t now)
{
    /* The writer stores the window bounds before it sends the first frame they cover, and
     * that frame reached us after, through the kernel. */
    uint64_t t0 = atomic_load_explicit(&r->sh->t_measure_ns, memory_order_acquire);
    uint64_t t1 = atomic_load_explicit(&r->sh->t_end_ns, memory_order_acquire);
    size_t flen = r->fs->len;
    uint8_t *carry = r->carry + i * flen;
    size_t have = r->carry_len[i];
    if (have) {
        size_t take = flen - have < n ? flen - have : n;
        memcpy(carry + have, p, take);
        have += take;
        p += take;
        n -= take;
        if (have < flen) {
            r->carry_len[i] = (uint32_t)have;
            return true;
        }
        if (!reader_frame(r, carry, now, t0, t1)) {
            return false;
        }
    }
    for (; n >= flen; p += flen, n -= flen) {
        if (!reader_frame(r, p, now, t0, t1)) {
            return false;
        }
    }
    memcpy(carry, p, n);
    r->carry_len[i] = (uint32_t)n;
    return true;
}

/* Binds connection i to source address 127.0.0.(1 + i / CONNS_PER_SOURCE), port still 0.
 * connect() picks the ephemeral port, trying candidates until the (source, destination) pair
 * is unused; with every connection from one source to one listener, the search grows with
 * the connections already open and 19,000 connects take seconds of kernel time. A few
 * thousand per source keep it short. All of 127/8 is loopback: the data path is the same. IP_BIND_ADDRESS_NO_PORT leaves the port to connect(), which can share it. */
static int reader_bind_source(int fd, size_t i)
{
    int one = 1;
    if (setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one) != 0) {
        return -1;
    }
    struct sockaddr_in src = { .sin_family = AF_INET, .sin_port = 0 };
    src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + (uint32_t)(i / CONNS_PER_SOURCE));
    return bind(fd, (struct sockaddr *)&src, sizeof src);
}

/* Opens the N connections, never more than half the accept queue ahead of the writer's
 * accept() calls, so that no SYN is dropped (a dropped SYN costs a 1 s retransmit). Blocking
 * connect() returns as soon as the handshake is done, which on loopback is at once. */
static int reader_connect(struct reader *r, const struct sockaddr_in *addr)
{
    size_t room = accept_queue_size() / 2;
    if (room == 0) {
        room = 1;
    }
    for (size_t i = 0; i < r->n_conns; i++) {
        uint64_t waited_from = 0;
        for (;;) {
            uint64_t acc = atomic_load_explicit(&r->sh->accepted, memory_order_acquire);
            if (acc >= i || i - acc < room) {
                break;
            }
            if (getppid() != r->writer) {
                fprintf(stderr, "tcp_floor: reader: the writer is gone\n");
                return -1;
            }
            uint64_t now = now_ns();
            if (!waited_from) {
                waited_from = now;
            } else if (now - waited_from > SETUP_TIMEOUT_NS) {
                fprintf(stderr, "tcp_floor: reader: the writer stopped accepting\n");
                return -1;
            }
            struct timespec pause = { .tv_nsec = 100000 };
            nanosleep(&pause, NULL); /* an early wake-up (EINTR) only means looking sooner */
        }
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            syserr("reader", "socket");
            return -1;
        }
        r->fds[i] = fd;
        if (set_nodelay(fd) != 0) {
            syserr("reader", "TCP_NODELAY");
            return -1;
        }
        if (reader_bind_source(fd, i) != 0) {
            syserr("reader", "binding a loopback source address");
            return -1;
        }
        int rc;
        do {
            rc = connect(fd, (const struct sockaddr *)addr, sizeof *addr);
        } while (rc != 0 && errno == EINTR);
        if (rc != 0) {
            fprintf(stderr, "tcp_floor: reader: connection %zu of %zu: connect: %s\n", i + 1,
                    r->n_conns, strerror(errno));
            return -1;
        }
        int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0) {
            syserr("reader", "O_NONBLOCK");
            return -1;
        }
        if (epoll_add(r->ep, fd, i) != 0) {
            syserr("reader", "epoll_ctl");
            return -1;
        }
    }
    return 0;
}

/* Reads until the writer closes the control pipe. */
static int reader_loop(struct reader *r)
{
    struct epoll_event evs[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(r->ep, evs, MAX_EVENTS, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            syserr("reader", "epoll_wait");
            return -1;
        }
        bool stop = false;
        for (int k = 0; k < n; k++) {
            uint64_t tag = evs[k].data.u64;
            if (tag == TAG_CTL) {
                stop = true; /* EOF: the writer is done (or gone) */
                continue;
            }
            size_t i = (size_t)tag;
            if (r->fds[i] < 0) {
                continue; /* lost earlier in this batch */
            }
            ssize_t got = read(r->fds[i], r->buf, READ_BUF_SIZE);
            if (got > 0) {
                r->reads++;
                if (!reader_consume(r, i, r->buf, (size_t)got, now_ns())) {
                    reader_lose(r, i, "bad frame header");
                }
            } else if (got == 0) {
                reader_lose(r, i, "closed by the writer");
            } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
                reader_lose(r, i, strerror(errno));
            }
        }
        if (stop) {
            return 0;
        }
    }
}

static int reader_main(const struct options *o, struct shared *sh, const struct frame_shape *fs,
                       const struct sockaddr_in *addr, pid_t writer, int ctl_r, int status_w)
{
    struct reader r = {
        .sh = sh, .fs = fs, .writer = writer, .ep = -1, .ctl_r = ctl_r,
        .status_w = status_w, .n_conns = o->groups * o->parents,
    };
    int rc = -1;
    r.fds = malloc(r.n_conns * sizeof *r.fds);
    r.carry_len = calloc(r.n_conns, sizeof *r.carry_len);
    r.carry = malloc(r.n_conns * fs->len);
    r.buf = malloc(READ_BUF_SIZE);
    if (!r.fds || !r.carry_len || !r.carry || !r.buf) {
        fprintf(stderr, "tcp_floor: reader: out of memory\n");
        goto out;
    }
    for (size_t i = 0; i < r.n_conns; i++) {
        r.fds[i] = -1;
    }
    r.ep = epoll_create1(EPOLL_CLOEXEC);
    if (r.ep < 0) {
        syserr("reader", "epoll_create1");
        goto out;
    }
    if (epoll_add(r.ep, ctl_r, TAG_CTL) != 0) {
        syserr("reader", "epoll_ctl");
        goto out;
    }
    if (reader_connect(&r, addr) != 0) {
        goto out;
    }
    if (write(status_w, "R", 1) != 1) {
        syserr("reader", "writing to the status pipe");
        goto out;
    }
    if (reader_loop(&r) != 0) {
        goto out;
    }
    sh->received_total = r.received_total;
    sh->received_measured = r.received_measured;
    sh->bad_frames = r.bad_frames;
    sh->conns_lost = r.conns_lost;
    sh->reads = r.reads;
    sh->reader_done = true;
    rc = 0;
out:
    if (r.fds) {
        for (size_t i = 0; i < r.n_conns; i++) {
            if (r.fds[i] >= 0) {
                reader_close(r.fds[i]);
            }
        }
    }
    if (r.ep >= 0) {
        close(r.ep);
    }
    free(r.fds);
    free(r.carry_len);
    free(r.carry);
    free(r.buf);
    return rc;
}

/* ---- writer (the parent) ---------------------------------------------------------------- */

/* Accepts what is queued; -1 on a real error. */
static int writer_accept(struct writer *w)
{
    for (;;) {
        int fd = accept4(w->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return 0;
            }
            if (errno == EINTR || errno == ECONNABORTED) {
                continue;
            }
            syserr("writer", "accept");
            return -1;
        }
        uint64_t n = atomic_load_explicit(&w->sh->accepted, memory_order_relaxed);
        if (n == w->n_conns) {
            fprintf(stderr, "tcp_floor: writer: an unexpected extra connection\n");
            close(fd);
            return -1;
        }
        if (set_nodelay(fd) != 0) {
            syserr("writer", "TCP_NODELAY");
            close(fd);
            return -1;
        }
        w->fds[n] = fd;
        atomic_store_explicit(&w->sh->accepted, n + 1, memory_order_release);
    }
}

/* The status pipe is readable: 'R' when the reader is connected; EOF when it has exited. */
static int writer_status(struct writer *w, bool *ready)
{
    char c;
    ssize_t n = read(w->status_r, &c, 1);
    if (n == 1 && c == 'R') {
        *ready = true;
        return 0;
    }
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) {
        return 0;
    }
    fprintf(stderr, "tcp_floor: writer: the reader exited early\n");
    return -1;
}

static int writer_setup(struct writer *w)
{
    struct epoll_event evs[4];
    bool ready = false;
    uint64_t last_progress = now_ns();
    uint64_t seen = 0;
    while (!ready || atomic_load(&w->sh->accepted) < w->n_conns) {
        int n = epoll_wait(w->ep, evs, 4, 1000);
        if (n < 0 && errno != EINTR) {
            syserr("writer", "epoll_wait");
            return -1;
        }
        for (int k = 0; k < n; k++) {
            if (evs[k].data.u64 == TAG_LISTEN && writer_accept(w) != 0) {
                return -1;
            }
            if (evs[k].data.u64 == TAG_STATUS && writer_status(w, &ready) != 0) {
                return -1;
            }
        }
        uint64_t now = now_ns(), acc = atomic_load(&w->sh->accepted);
        if (acc != seen) {
            seen = acc;
            last_progress = now;
        } else if (now - last_progress > SETUP_TIMEOUT_NS) {
            fprintf(stderr, "tcp_floor: writer: stuck at %llu of %zu connections\n",
                    (unsigned long long)acc, w->n_conns);
            return -1;
        }
    }
    /* Nothing more to accept: the loop that follows watches only the reader. */
    if (epoll_ctl(w->ep, EPOLL_CTL_DEL, w->lfd, NULL) != 0) {
        syserr("writer", "epoll_ctl");
        return -1;
    }
    close(w->lfd);
    w->lfd = -1;
    return 0;
}

/* One frame with the send time, written once to every connection of group g. */
static void writer_send_group(struct writer *w, size_t g)
{
    const struct frame_shape *fs = w->fs;
    uint64_t ts = now_ns();
    memcpy(w->frame + fs->hdr_len, &ts, sizeof ts);
    size_t first = g * w->o->parents, end = first + w->o->parents;
    for (size_t i = first; i < end; i++) {
        if (w->broken[i]) {
            continue;
        }
        ssize_t n;
        do {
            n = send(w->fds[i], w->frame, fs->len, MSG_NOSIGNAL);
        } while (n < 0 && errno == EINTR);
        if (n == (ssize_t)fs->len) {
            continue;
        }
        if (n >= 0) {
            w->short_writes++;
            w->broken[i] = 1; /* part of a frame went out: the stream is out of step */
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            w->short_writes++; /* the whole frame dropped; the stream is still whole */
        } else {
            if (++w->write_errors <= 5) {
                fprintf(stderr, "tcp_floor: writer: send to connection %zu: %s\n", i,
                        strerror(errno));
            }
            w->broken[i] = 1;
        }
    }
    if (w->measuring) {
        w->frames_measured++;
    }
}

/* Sends what is due at now (each group at most once: a writer that falls behind does not
 * burst to catch up, as in trip_bench); returns when the next group is due. */
static uint64_t writer_send_due(struct writer *w, uint64_t now)
{
    uint64_t next = UINT64_MAX;
    for (size_t g = 0; g < w->o->groups; g++) {
        if (w->next_send_ns[g] <= now) {
            writer_send_group(w, g);
            w->next_send_ns[g] += w->period_ns;
            if (w->next_send_ns[g] < now) {
                w->next_send_ns[g] = now + w->period_ns;
            }
        }
        if (w->next_send_ns[g] < next) {
            next = w->next_send_ns[g];
        }
    }
    return next;
}

static void writer_sample(struct writer *w, struct rusage *ru, struct procstat *rd,
                          struct procstat_machine *m)
{
    if (getrusage(RUSAGE_SELF, ru) != 0) {
        memset(ru, 0, sizeof *ru); /* cannot fail for RUSAGE_SELF */
    }
    *rd = procstat_read(w->reader);
    *m = procstat_read_machine();
}

enum writer_phase { PH_WARMUP, PH_MEASURE, PH_DRAIN };

static int writer_run(struct writer *w)
{
    const struct options *o = w->o;
    struct epoll_event evs[4];
    uint64_t now = now_ns();
    for (size_t g = 0; g < o->groups; g++) {
        w->next_send_ns[g] = now + w->period_ns * g / o->groups;
    }
    enum writer_phase phase = PH_WARMUP;
    uint64_t deadline = now + (uint64_t)(o->warmup_s * 1e9);
    for (;;) {
        now = now_ns();
        if (now >= deadline) {
            if (phase == PH_WARMUP) {
                writer_sample(w, &w->ru0, &w->rd0, &w->m0);
                w->t_measure_ns = now_ns();
                atomic_store_explicit(&w->sh->t_measure_ns, w->t_measure_ns,
                                      memory_order_release);
                w->measuring = true;
                phase = PH_MEASURE;
                deadline = w->t_measure_ns + (uint64_t)(o->seconds * 1e9);
            } else if (phase == PH_MEASURE) {
                /* Sending stops here; CPU is taken over the sending window only, as the
                 * drain that follows is idle time for both processes. */
                w->measuring = false;
                w->t_end_ns = now_ns();
                atomic_store_explicit(&w->sh->t_end_ns, w->t_end_ns, memory_order_release);
                writer_sample(w, &w->ru1, &w->rd1, &w->m1);
                phase = PH_DRAIN;
                deadline = w->t_end_ns + DRAIN_NS;
            } else {
                return 0;
            }
            now = now_ns();
        }
        uint64_t wake = deadline;
        if (phase != PH_DRAIN) {
            uint64_t next = writer_send_due(w, now);
            if (next < wake) {
                wake = next;
            }
            now = now_ns();
        }
        int timeout = wake > now ? (int)((wake - now + NS_PER_MS - 1) / NS_PER_MS) : 0;
        int n = epoll_wait(w->ep, evs, 4, timeout);
        if (n < 0 && errno != EINTR) {
            syserr("writer", "epoll_wait");
            return -1;
        }
        for (int k = 0; k < n; k++) {
            bool ready;
            if (evs[k].data.u64 == TAG_STATUS && writer_status(w, &ready) != 0) {
                return -1;
            }
        }
    }
}

/* Tells the reader to stop (EOF on its control pipe) and collects it. */
static int writer_reap(struct writer *w, bool kill_it)
{
    if (w->ctl_w >= 0) {
        close(w->ctl_w);
        w->ctl_w = -1;
    }
    if (kill_it && kill(w->reader, SIGKILL) != 0) {
        syserr("writer", "kill");
    }
    int st;
    pid_t p;
    do {
        p = waitpid(w->reader, &st, 0);
    } while (p < 0 && errno == EINTR);
    if (p < 0) {
        syserr("writer", "waitpid");
        return -1;
    }
    if (!kill_it && !(WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        fprintf(stderr, "tcp_floor: writer: the reader failed (%s %d)\n",
                WIFEXITED(st) ? "exit" : "signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
        return -1;
    }
    return 0;
}

static double ms_of(const struct timeval *a, const struct timeval *b)
{
    return (double)(b->tv_sec - a->tv_sec) * 1000 + (double)(b->tv_usec - a->tv_usec) / 1000;
}

/* Prints the report; true when every expected frame arrived and nothing was dropped. */
static bool writer_report(const struct writer *w)
{
    const struct options *o = w->o;
    const struct shared *sh = w->sh;
    double secs = (double)(w->t_end_ns - w->t_measure_ns) / 1e9;
    uint64_t expected = w->frames_measured * o->parents;
    uint64_t got = sh->received_measured;
    double loss = expected ? 1.0 - (double)got / (double)expected : 0;
    double per_s = (double)got / secs;
    double p50 = (double)hist_percentile(&sh->latency, 50) / 1e6;
    double p99 = (double)hist_percentile(&sh->latency, 99) / 1e6;
    double p999 = (double)hist_percentile(&sh->latency, 99.9) / 1e6;
    double max = (double)sh->latency.max / 1e6;

    double w_user = ms_of(&w->ru0.ru_utime, &w->ru1.ru_utime);
    double w_sys = ms_of(&w->ru0.ru_stime, &w->ru1.ru_stime);
    double w_ms = w_user + w_sys;
    double w_per_k = got ? w_ms / ((double)got / 1000) : 0;
    double w_pct = w_ms / 10 / secs;
    double r_pct = -1;
    if (w->rd0.ok && w->rd1.ok) {
        r_pct = (double)(w->rd1.cpu_ms - w->rd0.cpu_ms) / 10 / secs;
    }
    double m_pct = -1, m_all_pct = -1, m_steal_pct = 0;
    if (w->m0.ok && w->m1.ok && w->m1.total_ms > w->m0.total_ms) {
        double busy = (double)(w->m1.busy_ms - w->m0.busy_ms);
        m_pct = busy / 10 / secs;
        m_all_pct = busy * 100 / (double)(w->m1.total_ms - w->m0.total_ms);
        m_steal_pct = (double)(w->m1.steal_ms - w->m0.steal_ms) / 10 / secs;
    }

    printf("label            %s\n", o->label);
    printf("connections      %zu (%zu groups x %zu), %zu-byte frames, connected in %.2f s\n",
           w->n_conns, o->groups, o->parents, w->fs->len,
           (double)(w->t_ready_ns - w->t_setup_ns) / 1e9);
    /* A writer that cannot keep up sends fewer frames than are due; that shows here and in
     * deliveries_per_s, not as loss. */
    printf("frames sent      %llu in %.2f s (%.0f/s of %.0f/s due), one send() per recipient\n",
           (unsigned long long)w->frames_measured, secs, (double)w->frames_measured / secs,
           (double)o->groups * o->rate_hz);
    printf("deliveries       %llu of %llu expected: %.0f/s, loss %.4f %%\n",
           (unsigned long long)got, (unsigned long long)expected, per_s, loss * 100);
    printf("latency ms       p50 %.3f  p99 %.3f  p99.9 %.3f  max %.3f\n", p50, p99, p999, max);
    printf("writer cpu       %.0f ms (user %.0f, sys %.0f) = %.2f ms per 1,000 deliveries "
           "(%.0f %% of a core)\n",
           w_ms, w_user, w_sys, w_per_k, w_pct);
    printf("reader cpu       %.0f %% of a core, %llu reads for %llu frames in all\n", r_pct,
           (unsigned long long)sh->reads, (unsigned long long)sh->received_total);
    if (m_pct >= 0) {
        printf("machine cpu      %.0f %% of a core busy (%.0f %% of all %ld), steal %.0f %%\n",
               m_pct, m_all_pct, sysconf(_SC_NPROCESSORS_ONLN), m_steal_pct);
    }
    printf("short writes     %llu; send errors %llu; reader: %llu bad frames, %llu lost "
           "connections\n",
           (unsigned long long)w->short_writes, (unsigned long long)w->write_errors,
           (unsigned long long)sh->bad_frames, (unsigned long long)sh->conns_lost);
    printf("RESULT label=%s conns=%zu groups=%zu rate_hz=%.1f deliveries_per_s=%.0f "
           "loss_pct=%.4f p50_ms=%.3f p99_ms=%.3f p999_ms=%.3f max_ms=%.3f "
           "writer_cpu_ms_per_1k=%.2f writer_cpu_pct=%.0f reader_cpu_pct=%.0f "
           "short_writes=%llu machine_cpu_pct=%.0f\n",
           o->label, w->n_conns, o->groups, o->rate_hz, per_s, loss * 100, p50, p99, p999, max,
           w_per_k, w_pct, r_pct, (unsigned long long)w->short_writes, m_pct);
    fflush(stdout);
    return got >= expected && w->short_writes == 0 && w->write_errors == 0 &&
           sh->bad_frames == 0 && sh->conns_lost == 0;
}

static int writer_main(const struct options *o, struct shared *sh, const struct frame_shape *fs,
                       pid_t reader, int lfd, int ctl_w, int status_r)
{
    struct writer w = {
        .o = o, .sh = sh, .fs = fs, .reader = reader, .ep = -1, .lfd = lfd, .ctl_w = ctl_w,
        .status_r = status_r, .n_conns = o->groups * o->parents,
        .period_ns = (uint64_t)(1e9 / o->rate_hz), .t_setup_ns = now_ns(),
    };
    int rc = 1;
    bool reaped = false;
    w.fds = malloc(w.n_conns * sizeof *w.fds);
    w.broken = calloc(w.n_conns, 1);
    w.frame = calloc(1, fs->len);
    w.next_send_ns = calloc(o->groups, sizeof *w.next_send_ns);
    if (!w.fds || !w.broken || !w.frame || !w.next_send_ns) {
        fprintf(stderr, "tcp_floor: writer: out of memory\n");
        goto out;
    }
    memcpy(w.frame, fs->hdr, fs->hdr_len);
    memset(w.frame + fs->hdr_len + TS_LEN, 'x', o->payload - TS_LEN);
    w.ep = epoll_create1(EPOLL_CLOEXEC);
    if (w.ep < 0) {
        syserr("writer", "epoll_create1");
        goto out;
    }
    if (epoll_add(w.ep, lfd, TAG_LISTEN) != 0 || epoll_add(w.ep, status_r, TAG_STATUS) != 0) {
        syserr("writer", "epoll_ctl");
        goto out;
    }
    if (writer_setup(&w) != 0) {
        goto out;
    }
    w.t_ready_ns = now_ns();
    printf("connected        %zu connections (%zu groups x %zu) in %.2f s\n", w.n_conns,
           o->groups, o->parents, (double)(w.t_ready_ns - w.t_setup_ns) / 1e9);
    fflush(stdout);
    if (writer_run(&w) != 0) {
        goto out;
    }
    reaped = true;
    if (writer_reap(&w, false) != 0 || !sh->reader_done) {
        goto out;
    }
    rc = writer_report(&w) ? 0 : 1;
out:
    if (!reaped) {
        writer_reap(&w, true);
    }
    if (w.fds) {
        size_t n = atomic_load(&sh->accepted);
        for (size_t i = 0; i < n; i++) {
            close(w.fds[i]);
        }
    }
    if (w.lfd >= 0) {
        close(w.lfd);
    }
    if (w.ep >= 0) {
        close(w.ep);
    }
    close(status_r);
    free(w.fds);
    free(w.broken);
    free(w.frame);
    free(w.next_send_ns);
    return rc;
}

/* ---- options and start-up --------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: tcp_floor [options]\n"
            "The kernel's floor for fan-out: G groups of P loopback TCP connections, one\n"
            "small frame per group at --rate Hz written once to each of its connections.\n"
            "  --groups G         groups, like trips (default 200)\n"
            "  --parents P        connections per group (default 25)\n"
            "  --rate HZ          frames per group per second (default 1)\n"
            "  --seconds S        measured window (default 10)\n"
            "  --warmup S         sending before measuring (default 2)\n"
            "  --payload BYTES    frame payload, %d to %d (default 96)\n"
            "  --label NAME       name in the report and the RESULT line\n"
            "Exits 0 when every frame sent in the window arrived and no write was short,\n"
            "1 otherwise, 2 on bad options.\n",
            MIN_PAYLOAD, MAX_PAYLOAD);
}

static int parse_options(int argc, char **argv, struct options *o)
{
    enum {
        OPT_GROUPS = 256, OPT_PARENTS, OPT_RATE, OPT_SECONDS, OPT_WARMUP, OPT_PAYLOAD,
        OPT_LABEL, OPT_HELP,
    };
    /* In the order of the enum: an option's name is longopts[opt - OPT_GROUPS].name. */
    static const struct option longopts[] = {
        { "groups", required_argument, NULL, OPT_GROUPS },
        { "parents", required_argument, NULL, OPT_PARENTS },
        { "rate", required_argument, NULL, OPT_RATE },
        { "seconds", required_argument, NULL, OPT_SECONDS },
        { "warmup", required_argument, NULL, OPT_WARMUP },
        { "payload", required_argument, NULL, OPT_PAYLOAD },
        { "label", required_argument, NULL, OPT_LABEL },
        { "help", no_argument, NULL, OPT_HELP },
        { NULL, 0, NULL, 0 },
    };
    *o = (struct options){
        .groups = 200, .parents = 25, .rate_hz = 1, .seconds = 10, .warmup_s = 2,
        .payload = 96, .label = "floor",
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
        bool good = true;
        switch (opt) {
        case OPT_GROUPS:
            good = bench_parse_count(optarg, 1, 1000000, &o->groups);
            break;
        case OPT_PARENTS:
            good = bench_parse_count(optarg, 1, 1000000, &o->parents);
            break;
        case OPT_RATE:
            good = bench_parse_number(optarg, 0.001, 100000, &o->rate_hz);
            break;
        case OPT_SECONDS:
            good = bench_parse_number(optarg, 0.1, 86400, &o->seconds);
            break;
        case OPT_WARMUP:
            good = bench_parse_number(optarg, 0, 86400, &o->warmup_s);
            break;
        case OPT_PAYLOAD:
            good = bench_parse_count(optarg, MIN_PAYLOAD, MAX_PAYLOAD, &o->payload);
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
            return -1;
        }
        if (!good) {
            fprintf(stderr, "tcp_floor: bad value for --%s: %s\n",
                    longopts[opt - OPT_GROUPS].name, optarg);
            usage(stderr);
            return -1;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "tcp_floor: unexpected argument: %s\n", argv[optind]);
        usage(stderr);
        return -1;
    }
    if (o->groups * o->parents > 1000000) {
        fprintf(stderr, "tcp_floor: %zu x %zu connections is too many (at most 1,000,000)\n",
                o->groups, o->parents);
        usage(stderr);
        return -1;
    }
    return 0;
}

/* Each process holds a descriptor per connection plus a few of its own. */
static int raise_nofile(size_t n_conns)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        syserr("main", "getrlimit");
        return -1;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            syserr("main", "setrlimit");
            return -1;
        }
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < n_conns + 16) {
        fprintf(stderr, "tcp_floor: %zu connections need %zu descriptors per process; the "
                        "limit is %llu\n",
                n_conns, n_conns + 16, (unsigned long long)rl.rlim_cur);
        return -1;
    }
    return 0;
}

/* A listening socket on 127.0.0.1 and an ephemeral port, written to addr. */
static int listen_loopback(struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        syserr("main", "socket");
        return -1;
    }
    *addr = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = 0 };
    addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof *addr;
    if (bind(fd, (struct sockaddr *)addr, sizeof *addr) != 0 ||
        listen(fd, LISTEN_BACKLOG) != 0 ||
        getsockname(fd, (struct sockaddr *)addr, &len) != 0) {
        syserr("main", "listening on 127.0.0.1");
        close(fd);
        return -1;
    }
    return fd;
}

int main(int argc, char **argv)
{
    struct options o;
    if (parse_options(argc, argv, &o) != 0) {
        return 2;
    }
    size_t n_conns = o.groups * o.parents;
    if (raise_nofile(n_conns) != 0) {
        return 1;
    }
    /* A reader that goes away mid-write must show as an error, not kill the writer. */
    if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
        syserr("main", "signal");
        return 1;
    }
    struct frame_shape fs = frame_shape(o.payload);
    struct shared *sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
                             MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        syserr("main", "mmap");
        return 1;
    }
    /* The mapping is zero-filled, which is a valid initial state for every field. */
    if (!atomic_is_lock_free(&sh->accepted)) {
        fprintf(stderr, "tcp_floor: 64-bit atomics are not lock-free here\n");
        return 1;
    }
    struct sockaddr_in addr;
    int lfd = listen_loopback(&addr);
    if (lfd < 0) {
        return 1;
    }
    int ctl[2], status[2];
    if (pipe2(ctl, O_CLOEXEC) != 0 || pipe2(status, O_CLOEXEC | O_NONBLOCK) != 0) {
        syserr("main", "pipe2");
        return 1;
    }
    /* The child must not inherit (and later flush) anything still buffered. */
    fflush(stdout);
    fflush(stderr);
    pid_t writer_pid = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        syserr("main", "fork");
        return 1;
    }
    if (pid == 0) {
        close(lfd);
        close(ctl[1]);
        close(status[0]);
        int rc = reader_main(&o, sh, &fs, &addr, writer_pid, ctl[0], status[1]);
        _exit(rc == 0 ? 0 : 1);
    }
    close(ctl[0]);
    close(status[1]);
    int rc = writer_main(&o, sh, &fs, pid, lfd, ctl[1], status[0]);
    munmap(sh, sizeof *sh);
    return rc;
}
