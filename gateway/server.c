/* libwebsockets on the shared libuv loop: context and vhost set-up, and the graceful stop
 * (see server.h). The WebSocket and HTTP halves live in ws.c and http.c. */
#include "gateway/server.h"

#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <string.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "gateway/server_internal.h"
#include "gateway/heartbeat.h"
#include "gateway/session_check.h"

/* How long a graceful stop waits for clients to take their close frames. */
#define DRAIN_MS 2000

static void lws_log(int level, const char *line)
{
    char text[512];
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        n--;
    }
    if (n >= sizeof text) {
        n = sizeof text - 1;
    }
    /* lws lines are free text: keep them out of the msg field's quotes. */
    for (size_t i = 0; i < n; i++) {
        text[i] = line[i] == '"' ? '\'' : line[i];
    }
    text[n] = '\0';
    log_event(level == LLL_ERR ? LOG_ERROR : LOG_WARN, "lws", "libwebsockets", "detail=\"%s\"",
              text);
}

static struct lws_protocols protocols[3];

/* ---- The mask bit of client frames (RFC 6455 5.1) ----
 *
 * A server must close the connection on a client frame that is not masked. lws 4.1 parses the
 * mask bit (wsi->ws->this_frame_masked, in its private struct) but neither enforces it on the
 * server side nor tells the protocol callback: lws-ws-state.h exposes only the FIN, first
 * fragment, reserved bits, binary flag and remaining payload, and no LWS_SERVER_OPTION_ asks
 * for it. Nor can the bytes be peeked at before lws reads them: lws owns the socket's uv_poll
 * (libuv allows one per descriptor) and reads as soon as it is readable.
 *
 * So the process watches the bytes as lws reads them: classmentd defines accept(), recv() and
 * SSL_read(), which the dynamic linker binds lws's calls to (the executable comes first in
 * symbol lookup), and each calls the C library's or OpenSSL's own. A descriptor lws accepts is
 * followed from its first byte: HTTP request heads up to their blank line, then, from the
 * first byte that cannot start a request line, WebSocket frame headers, whose payloads are
 * skipped by their length. A frame header without the mask bit marks the descriptor, and
 * ws.c closes that connection with 1002 (server_wire_unmasked). The cost is a table lookup
 * per read, and per frame a few byte steps: no allocation, no system call. Descriptors lws did
 * not accept (PostgreSQL's, say) are not followed. Over TLS, SSL_read's plaintext is followed
 * (OpenSSL reads the ciphertext with read(), which is left alone). An HTTP/2 connection
 * (a request head starting "PR", the preface) is not followed. */

enum wire_state {
    WIRE_OFF,       /* not followed */
    WIRE_HEAD,      /* in an HTTP request head */
    WIRE_NEXT,      /* a head ended: another head or the first frame follows */
    WIRE_FRAME0,    /* first byte of a frame header */
    WIRE_FRAME1,    /* mask bit and 7-bit length */
    WIRE_EXTLEN,    /* extended length bytes */
    WIRE_MASK,      /* masking key bytes */
    WIRE_PAYLOAD,   /* payload bytes, skipped */
};

struct wire_fd {
    uint8_t state;
    uint8_t left_small;  /* EXTLEN, MASK: bytes still to come; HEAD: terminator bytes seen */
    bool masked;
    bool unmasked;       /* a client frame without the mask bit was seen */
    uint32_t head_len;   /* bytes of the current head so far */
    uint8_t head0;       /* first byte of the current head */
    uint64_t left;       /* PAYLOAD: bytes to skip; EXTLEN: the length so far */
};

#define WIRE_HEAD_MAX 65536 /* lws refuses longer heads: stop following such a descriptor */

static struct wire_fd *wire;
static size_t wire_cap;

static int (*real_accept)(int, __SOCKADDR_ARG, socklen_t *__restrict);
static ssize_t (*real_recv)(int, void *, size_t, int);
static int (*real_ssl_read)(SSL *, void *, int);
static int (*ssl_get_fd)(const SSL *); /* looked up too: classmentd does not link OpenSSL */

static void wire_feed(struct wire_fd *w, const unsigned char *p, size_t n)
{
    static const char end[4] = { '\r', '\n', '\r', '\n' };
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        switch (w->state) {
        case WIRE_OFF:
            return;
        case WIRE_HEAD:
            if (w->head_len == 0) {
                w->head0 = c;
            } else if (w->head_len == 1 && w->head0 == 'P' && c == 'R') {
                w->state = WIRE_OFF; /* "PRI * HTTP/2.0": HTTP/2, not followed */
                return;
            }
            if (++w->head_len > WIRE_HEAD_MAX) {
                w->state = WIRE_OFF;
                return;
            }
            w->left_small = c == (unsigned char)end[w->left_small] ? w->left_small + 1
                            : c == '\r'                           ? 1
                                                                  : 0;
            if (w->left_small == 4) {
                w->state = WIRE_NEXT;
            }
            i++;
            break;
        case WIRE_NEXT:
            /* A request line starts with a method in capitals; a frame's first byte with
             * FIN and an opcode (a capital would mean reserved bits, which lws refuses). */
            if (c >= 'A' && c <= 'Z') {
                w->state = WIRE_HEAD;
                w->head_len = 0;
                w->left_small = 0;
            } else {
                w->state = WIRE_FRAME0;
            }
            break;
        case WIRE_FRAME0:
            w->state = WIRE_FRAME1;
            i++;
            break;
        case WIRE_FRAME1:
            w->masked = c & 0x80;
            if (!w->masked) {
                w->unmasked = true;
                w->state = WIRE_OFF; /* the connection is being closed */
                return;
            }
            c &= 0x7f;
            w->left = c < 126 ? c : 0;
            w->left_small = c == 126 ? 2 : c == 127 ? 8 : 0;
            w->state = w->left_small ? WIRE_EXTLEN : WIRE_MASK;
            if (w->state == WIRE_MASK) {
                w->left_small = 4;
            }
            i++;
            break;
        case WIRE_EXTLEN:
            w->left = w->left << 8 | c;
            if (--w->left_small == 0) {
                w->state = WIRE_MASK;
                w->left_small = 4;
            }
            i++;
            break;
        case WIRE_MASK: {
            size_t k = n - i < w->left_small ? n - i : w->left_small;
            i += k;
            w->left_small = (uint8_t)(w->left_small - k);
            if (w->left_small == 0) {
                w->state = w->left ? WIRE_PAYLOAD : WIRE_FRAME0;
            }
            break;
        }
        case WIRE_PAYLOAD: {
            uint64_t k = (uint64_t)(n - i) < w->left ? (uint64_t)(n - i) : w->left;
            i += (size_t)k;
            w->left -= k;
            if (w->left == 0) {
                w->state = WIRE_FRAME0;
            }
            break;
        }
        default:
            return;
        }
    }
}

static void wire_resolve(void)
{
    if (!real_recv) {
        real_accept = (int (*)(int, __SOCKADDR_ARG, socklen_t *__restrict))dlsym(RTLD_NEXT,
                                                                          "accept");
        real_ssl_read = (int (*)(SSL *, void *, int))dlsym(RTLD_NEXT, "SSL_read");
        ssl_get_fd = (int (*)(const SSL *))dlsym(RTLD_NEXT, "SSL_get_fd");
        real_recv = (ssize_t (*)(int, void *, size_t, int))dlsym(RTLD_NEXT, "recv");
    }
}

int accept(int fd, __SOCKADDR_ARG addr, socklen_t *__restrict addr_len)
{
    wire_resolve();
    int c = real_accept(fd, addr, addr_len);
    if (c >= 0) {
        if ((size_t)c >= wire_cap) {
            size_t cap = wire_cap ? wire_cap : 1024;
            while (cap <= (size_t)c) {
                cap *= 2;
            }
            struct wire_fd *w = realloc(wire, cap * sizeof *w);
            if (!w) {
                return c; /* not followed: no worse than without */
            }
            memset(w + wire_cap, 0, (cap - wire_cap) * sizeof *w);
            wire = w;
            wire_cap = cap;
        }
        wire[c] = (struct wire_fd){ .state = WIRE_HEAD };
    }
    return c;
}

ssize_t recv(int fd, void *buf, size_t len, int flags)
{
    wire_resolve();
    ssize_t n = real_recv(fd, buf, len, flags);
    if (fd >= 0 && (size_t)fd < wire_cap && wire[fd].state != WIRE_OFF && !(flags & MSG_PEEK)) {
        if (n > 0) {
            wire_feed(&wire[fd], buf, (size_t)n);
        } else if (n == 0) {
            wire[fd].state = WIRE_OFF; /* the client is gone: its descriptor will be reused */
        }
    }
    return n;
}

int SSL_read(SSL *ssl, void *buf, int num)
{
    wire_resolve();
    int n = real_ssl_read(ssl, buf, num);
    if (n > 0 && ssl_get_fd) {
        int fd = ssl_get_fd(ssl);
        if (fd >= 0 && (size_t)fd < wire_cap && wire[fd].state != WIRE_OFF) {
            wire_feed(&wire[fd], buf, (size_t)n);
        }
    }
    return n;
}

bool server_wire_unmasked(int fd)
{
    return fd >= 0 && (size_t)fd < wire_cap && wire[fd].unmasked;
}

void server_wire_forget(int fd)
{
    if (fd >= 0 && (size_t)fd < wire_cap) {
        wire[fd] = (struct wire_fd){ .state = WIRE_OFF };
    }
}

static void flush_after_io(uv_check_t *h)
{
    ws_flush(h->data);
}

static void flush_before_wait(uv_prepare_t *h)
{
    ws_flush(h->data);
}

struct server *server_new(uv_loop_t *loop, const struct config *cfg, struct op_env *env,
                          struct people *people, struct router *router)
{
    struct server *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->cfg = cfg;
    s->env = env;
    s->people = people;
    s->router = router;
    /* Connections are bounded by descriptors, not by anything of ours: take all the process
     * may have. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        s->fd_limit = rl.rlim_cur > (rlim_t)INT32_MAX ? INT32_MAX : (int)rl.rlim_cur;
    }
    /* Keep-alive is heartbeat.c's: a policy with no hang-up time turns lws's own validity
     * timers off (their cost grows with the number of connections). */
    memset(&s->idle_policy, 0, sizeof s->idle_policy);

    protocols[0] = (struct lws_protocols){
        .name = "http",
        .callback = http_callback,
        .per_session_data_size = http_session_size(),
    };
    protocols[1] = (struct lws_protocols){
        .name = "classment.v1",
        .callback = ws_callback,
        .per_session_data_size = ws_session_size(),
        .rx_buffer_size = 0,
        /* Let lws write a whole message per call instead of buffering the tail of large ones
         * once per recipient. */
        .tx_packet_size = 1 << 20,
    };
    protocols[2] = (struct lws_protocols){ 0 };

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
    void *foreign_loops[1] = { loop };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (cfg->tls_cert) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    }
    info.foreign_loops = foreign_loops;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.user = s;
    info.pcontext = &s->lws;
    s->lws = lws_create_context(&info);
    if (!s->lws) {
        log_event(LOG_ERROR, "server", "cannot create libwebsockets context",
                  "hint=\"is libwebsockets-evlib-uv installed?\"");
        free(s);
        return NULL;
    }

    struct lws_context_creation_info vinfo;
    memset(&vinfo, 0, sizeof vinfo);
    vinfo.port = cfg->listen_port;
    vinfo.iface = cfg->listen_host;
    vinfo.protocols = protocols;
    vinfo.vhost_name = "classment";
    vinfo.retry_and_idle_policy = &s->idle_policy;
    vinfo.options = LWS_SERVER_OPTION_LIBUV;
    if (strchr(cfg->listen_host, ':') == NULL) {
        vinfo.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    }
    if (cfg->tls_cert) {
        vinfo.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        vinfo.ssl_cert_filepath = cfg->tls_cert;
        vinfo.ssl_private_key_filepath = cfg->tls_key;
    }
    s->vhost = lws_create_vhost(s->lws, &vinfo);
    if (!s->vhost) {
        log_event(LOG_ERROR, "server", "cannot listen", "host=%s port=%d", cfg->listen_host,
                  cfg->listen_port);
        /* First destroy; the context finishes closing on the loop and server_free makes the
         * second call. */
        lws_context_destroy(s->lws);
        s->draining = true;
        return s;
    }
    uv_check_init(loop, &s->flush_after_io);
    s->flush_after_io.data = s;
    uv_check_start(&s->flush_after_io, flush_after_io);
    uv_prepare_init(loop, &s->flush_before_wait);
    s->flush_before_wait.data = s;
    uv_prepare_start(&s->flush_before_wait, flush_before_wait);
    session_check_start(s);
    heartbeat_start(s);
    log_event(LOG_INFO, "server", "listening", "url=%s://%s:%d/v1/ws max_fds=%d",
              cfg->tls_cert ? "wss" : "ws", cfg->listen_host, cfg->listen_port, s->fd_limit);
    return s;
}

static void drain_closed(uv_handle_t *h)
{
    struct server *s = h->data;
    if (s->drain_done) {
        s->drain_done(s->drain_arg);
    }
}

static void drain_tick(uv_timer_t *t)
{
    struct server *s = t->data;
    if (s->sessions && op_now_ms() < s->drain_deadline_ms) {
        return;
    }
    if (s->sessions) {
        log_event(LOG_WARN, "server", "clients did not close in time", NULL);
    }
    uv_timer_stop(t);
    /* First destroy: closes the listener and every remaining connection; lws's uv handles
     * close asynchronously, after which server_free makes the second call. */
    lws_context_destroy(s->lws);
    /* Writes went on while clients took their close frames; nothing is left to write now. */
    uv_close((uv_handle_t *)&s->flush_after_io, NULL);
    uv_close((uv_handle_t *)&s->flush_before_wait, NULL);
    uv_close((uv_handle_t *)t, drain_closed);
}

void server_shutdown(struct server *s, void (*done)(void *arg), void *arg)
{
    if (s->drain_done) {
        return;
    }
    s->drain_done = done;
    s->drain_arg = arg;
    if (!s->vhost) {
        /* Never listened: the context is already going away. */
        done(arg);
        return;
    }
    s->draining = true;
    session_check_stop(s);
    heartbeat_stop(s);
    ws_close_all(s);
    s->drain_deadline_ms = op_now_ms() + DRAIN_MS;
    uv_timer_init(s->loop, &s->drain_timer);
    s->drain_timer.data = s;
    uv_timer_start(&s->drain_timer, drain_tick, 10, 10);
}

bool server_is_listening(const struct server *s)
{
    return s->vhost != NULL;
}

void server_free(struct server *s)
{
    if (!s) {
        return;
    }
    if (s->lws) {
        lws_context_destroy(s->lws);
    }
    free(s->session_check_ids); /* a check round cut short by the stop */
    free(s);
    free(wire); /* nothing is accepted any more */
    wire = NULL;
    wire_cap = 0;
}
