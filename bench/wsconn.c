/* A lean non-blocking WebSocket client connection on libuv (see wsconn.h). */
#include "bench/wsconn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <signal.h>
#include <sys/resource.h>

#include "tests/support/digest.h"

#define MAX_HTTP_HEAD 8192
/* The server's messages in a benchmark are tens of bytes; a frame this big means the framing
 * was lost. */
#define MAX_IN_FRAME (1u << 20)
#define WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

enum {
    OP_TEXT = 0x1,
    OP_CLOSE = 0x8,
    OP_PING = 0x9,
};

/* One read buffer serves every connection: reads are handled at once, on one thread, and
 * only the tail of a frame cut in two is copied into its connection. */
static uint8_t read_buf[65536];

struct write_req {
    uv_write_t req;
    struct wsconn *c;
    char data[];
};

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) {
        fprintf(stderr, "wsconn: out of memory\n");
        abort();
    }
    return q;
}

static uint32_t next_random(struct wsconn *c)
{
    /* xorshift32: masking keys only need to vary here, not to be secret. */
    c->_rng ^= c->_rng << 13;
    c->_rng ^= c->_rng >> 17;
    c->_rng ^= c->_rng << 5;
    return c->_rng;
}

static uint64_t be_read(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = v << 8 | p[i];
    }
    return v;
}

void wsconn_close(struct wsconn *c)
{
    c->state = WSCONN_CLOSED;
    if (c->_handle_open) {
        c->_handle_open = false;
        uv_close((uv_handle_t *)&c->_tcp, NULL);
    }
}

static void fail(struct wsconn *c, const char *why)
{
    if (c->state == WSCONN_CLOSED) {
        return;
    }
    wsconn_close(c);
    c->_handler->closed(c, why);
}

static void on_write(uv_write_t *req, int status)
{
    struct write_req *w = req->data;
    struct wsconn *c = w->c;
    free(w);
    if (status < 0) {
        fail(c, uv_strerror(status));
    }
}

/* Writes at once when the socket takes it (almost always: frames are tiny); only the rest is
 * copied and queued. libuv refuses uv_try_write while writes are queued, so order is kept. */
static void write_bytes(struct wsconn *c, const void *data, size_t len)
{
    uv_buf_t buf = uv_buf_init((char *)data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->_tcp, &buf, 1);
    if (n == (int)len) {
        return;
    }
    if (n < 0 && n != UV_EAGAIN) {
        fail(c, uv_strerror(n));
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    struct write_req *w = xrealloc(NULL, sizeof *w + len - done);
    w->c = c;
    w->req.data = w;
    memcpy(w->data, (const char *)data + done, len - done);
    buf = uv_buf_init(w->data, (unsigned)(len - done));
    int r = uv_write(&w->req, (uv_stream_t *)&c->_tcp, &buf, 1, on_write);
    if (r < 0) {
        free(w);
        fail(c, uv_strerror(r));
    }
}

void wsconn_send(struct wsconn *c, int opcode, const uint8_t *payload, size_t len)
{
    /* One frame is built at a time, on one thread, and write_bytes copies whatever the socket
     * does not take at once: a single static buffer serves every small frame; a large one
     * (an import's CSV) gets a buffer of its own for the call. */
    static uint8_t small[2 + 2 + 4 + WSCONN_MAX_SEND];
    if (c->state != WSCONN_OPEN) {
        return;
    }
    uint8_t *frame = len <= WSCONN_MAX_SEND ? small : xrealloc(NULL, 2 + 8 + 4 + len);
    size_t head = 2;
    frame[0] = (uint8_t)(0x80 | opcode);
    if (len <= 125) {
        frame[1] = (uint8_t)(0x80 | len);
    } else if (len <= WSCONN_MAX_SEND) {
        frame[1] = 0x80 | 126;
        frame[2] = (uint8_t)(len >> 8);
        frame[3] = (uint8_t)len;
        head = 4;
    } else {
        frame[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++) {
            frame[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        }
        head = 10;
    }
    uint32_t mask = next_random(c);
    uint8_t *key = frame + head;
    memcpy(key, &mask, 4);
    uint8_t *out = key + 4;
    for (size_t i = 0; i < len; i++) {
        out[i] = payload[i] ^ key[i & 3];
    }
    write_bytes(c, frame, head + 4 + len);
    if (frame != small) {
        free(frame);
    }
}

static void on_frame(struct wsconn *c, int opcode, bool fin, const uint8_t *p, size_t len,
                     uint64_t now_ns)
{
    char why[160];
    switch (opcode) {
    case WSCONN_OP_BINARY:
        if (!fin) {
            fail(c, "the server fragmented a message (wsconn does not reassemble)");
            return;
        }
        c->_handler->message(c, p, len, now_ns);
        return;
    case OP_PING:
        /* Control frames carry at most 125 bytes (RFC 6455 5.5). */
        if (len <= 125) {
            wsconn_send(c, WSCONN_OP_PONG, p, len);
        }
        return;
    case WSCONN_OP_PONG:
        return;
    case OP_CLOSE: {
        int code = len >= 2 ? (int)be_read(p, 2) : 1005;
        int reason_len = len > 2 ? (int)(len - 2) : 0;
        snprintf(why, sizeof why, "the server closed the connection: %d %.*s", code, reason_len,
                 len > 2 ? (const char *)p + 2 : "");
        fail(c, why);
        return;
    }
    default:
        snprintf(why, sizeof why, "unexpected frame with opcode %d from the server", opcode);
        fail(c, why);
        return;
    }
}

/* Parses whole frames from p; returns how many bytes they took. */
static size_t parse_frames(struct wsconn *c, const uint8_t *p, size_t len, uint64_t now_ns)
{
    size_t off = 0;
    while (c->state == WSCONN_OPEN && len - off >= 2) {
        const uint8_t *f = p + off;
        size_t avail = len - off;
        if (f[1] & 0x80) {
            fail(c, "the server sent a masked frame");
            return off;
        }
        uint64_t payload = f[1] & 0x7f;
        size_t head = 2;
        if (payload == 126) {
            if (avail < 4) {
                break;
            }
            payload = be_read(f + 2, 2);
            head = 4;
        } else if (payload == 127) {
            if (avail < 10) {
                break;
            }
            payload = be_read(f + 2, 8);
            head = 10;
        }
        if (payload > MAX_IN_FRAME) {
            fail(c, "the server sent a frame over 1 MiB");
            return off;
        }
        if (avail < head + payload) {
            break;
        }
        on_frame(c, f[0] & 0x0f, (f[0] & 0x80) != 0, f + head, (size_t)payload, now_ns);
        off += head + (size_t)payload;
    }
    return off;
}

/* The value of header name in a NUL-terminated response head, copied into out. */
static bool find_header(const char *head, const char *name, char *out, size_t out_len)
{
    size_t name_len = strlen(name);
    for (const char *line = strstr(head, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, name_len) != 0 || line[name_len] != ':') {
            continue;
        }
        const char *v = line + name_len + 1;
        while (*v == ' ' || *v == '\t') {
            v++;
        }
        const char *end = strstr(v, "\r\n");
        size_t n = end ? (size_t)(end - v) : strlen(v);
        while (n && (v[n - 1] == ' ' || v[n - 1] == '\t')) {
            n--;
        }
        if (n >= out_len) {
            return false;
        }
        memcpy(out, v, n);
        out[n] = '\0';
        return true;
    }
    return false;
}

static bool check_head(struct wsconn *c, const uint8_t *p, size_t len)
{
    char head[MAX_HTTP_HEAD + 1];
    memcpy(head, p, len);
    head[len] = '\0';
    if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
        char why[128];
        const char *eol = strstr(head, "\r\n");
        snprintf(why, sizeof why, "upgrade refused: %.*s", eol ? (int)(eol - head) : 40, head);
        fail(c, why);
        return false;
    }
    char src[sizeof c->_key + sizeof WS_GUID];
    uint8_t sha[DIGEST_SHA1_LEN];
    char want[32], got[64], proto[64];
    snprintf(src, sizeof src, "%s%s", c->_key, WS_GUID);
    digest_sha1(src, strlen(src), sha);
    digest_base64(sha, sizeof sha, want);
    if (!find_header(head, "Sec-WebSocket-Accept", got, sizeof got) || strcmp(got, want) != 0) {
        fail(c, "wrong Sec-WebSocket-Accept in the upgrade answer");
        return false;
    }
    if (!find_header(head, "Sec-WebSocket-Protocol", proto, sizeof proto) ||
        strcmp(proto, c->_target->protocol) != 0) {
        fail(c, "the server did not select the subprotocol offered");
        return false;
    }
    return true;
}

/* Handles what was read; returns how many bytes were used (the rest is an incomplete frame
 * or head). */
static size_t consume(struct wsconn *c, const uint8_t *p, size_t len, uint64_t now_ns)
{
    size_t used = 0;
    if (c->state == WSCONN_HANDSHAKE) {
        for (size_t i = 3; i < len && !used; i++) {
            if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') {
                used = i + 1;
            }
        }
        if (!used || used > MAX_HTTP_HEAD) {
            if (len > MAX_HTTP_HEAD) {
                fail(c, "upgrade answer too long");
            }
            return 0;
        }
        if (!check_head(c, p, used)) {
            return 0;
        }
        c->state = WSCONN_OPEN;
        c->_handler->opened(c);
    }
    return used + parse_frames(c, p + used, len - used, now_ns);
}

static void pend_append(struct wsconn *c, const uint8_t *p, size_t len)
{
    if (c->_pend_len + len > c->_pend_cap) {
        c->_pend_cap = c->_pend_len + len + 256;
        c->_pend = xrealloc(c->_pend, c->_pend_cap);
    }
    memcpy(c->_pend + c->_pend_len, p, len);
    c->_pend_len += len;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init((char *)read_buf, sizeof read_buf);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct wsconn *c = s->data;
    if (nread == 0 || c->state == WSCONN_CLOSED) {
        return;
    }
    if (nread < 0) {
        fail(c, nread == UV_EOF ? "the server closed the connection without a close frame"
                                : uv_strerror((int)nread));
        return;
    }
    /* Every frame of one read arrived together: one clock read serves them all. */
    uint64_t now_ns = uv_hrtime();
    const uint8_t *p = (const uint8_t *)buf->base;
    size_t len = (size_t)nread;
    if (c->_pend_len) {
        pend_append(c, p, len);
        p = c->_pend;
        len = c->_pend_len;
    }
    size_t used = consume(c, p, len, now_ns);
    if (c->state == WSCONN_CLOSED) {
        return;
    }
    size_t rest = len - used;
    if (p == c->_pend) {
        memmove(c->_pend, c->_pend + used, rest);
        c->_pend_len = rest;
    } else if (rest) {
        pend_append(c, p + used, rest);
    }
}

static void on_connect(uv_connect_t *req, int status)
{
    struct wsconn *c = req->data;
    if (c->state == WSCONN_CLOSED) {
        return;
    }
    if (status < 0) {
        fail(c, uv_strerror(status));
        return;
    }
    const struct wsconn_target *t = c->_target;
    uint8_t raw_key[16];
    for (int i = 0; i < 4; i++) {
        uint32_t r = next_random(c);
        memcpy(raw_key + 4 * i, &r, 4);
    }
    digest_base64(raw_key, sizeof raw_key, c->_key);
    char text[512];
    int n = snprintf(text, sizeof text,
                     "GET %s HTTP/1.1\r\n"
                     "Host: %s:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Protocol: %s\r\n"
                     "\r\n",
                     t->path, t->host, ntohs(t->addr.sin_port), c->_key, t->protocol);
    if (n < 0 || (size_t)n >= sizeof text) {
        fail(c, "upgrade request too long");
        return;
    }
    c->state = WSCONN_HANDSHAKE;
    int r = uv_read_start((uv_stream_t *)&c->_tcp, on_alloc, on_read);
    if (r < 0) {
        fail(c, uv_strerror(r));
        return;
    }
    write_bytes(c, text, (size_t)n);
}

int wsconn_start(struct wsconn *c, uv_loop_t *loop, const struct wsconn_target *t,
                 const struct wsconn_handler *h, void *data)
{
    c->data = data;
    c->_target = t;
    c->_handler = h;
    c->_pend_len = 0;
    c->_rng = (uint32_t)(uv_hrtime() ^ (uintptr_t)c) | 1u;
    int r = uv_tcp_init(loop, &c->_tcp);
    if (r < 0) {
        c->state = WSCONN_CLOSED;
        return r;
    }
    c->_handle_open = true;
    c->_tcp.data = c;
    c->_connect_req.data = c;
    /* Requests are tiny and latency is what a benchmark measures: no Nagle delay. */
    uv_tcp_nodelay(&c->_tcp, 1);
    if (t->source) {
        r = uv_tcp_bind(&c->_tcp, (const struct sockaddr *)t->source, 0);
        if (r < 0) {
            wsconn_close(c);
            return r;
        }
    }
    r = uv_tcp_connect(&c->_connect_req, &c->_tcp, (const struct sockaddr *)&t->addr,
                       on_connect);
    if (r < 0) {
        wsconn_close(c);
        return r;
    }
    c->state = WSCONN_CONNECTING;
    return 0;
}

int wsconn_target_from_url(struct wsconn_target *t, const char *url, char host[64])
{
    int port;
    if (!url || sscanf(url, "ws://%63[^:]:%d/", host, &port) != 2 || port <= 0 || port > 65535) {
        return -1;
    }
    *t = (struct wsconn_target){ .host = host, .path = "/v1/ws", .protocol = "classment.v1" };
    const char *ip = strcmp(host, "localhost") == 0 ? "127.0.0.1" : host;
    return uv_ip4_addr(ip, port, &t->addr) == 0 ? 0 : -1;
}

void wsconn_process_init(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
}

void wsconn_stop_reading(struct wsconn *c)
{
    if (c->_handle_open) {
        uv_read_stop((uv_stream_t *)&c->_tcp);
    }
}

size_t wsconn_queued(const struct wsconn *c)
{
    return c->_handle_open ? uv_stream_get_write_queue_size((const uv_stream_t *)&c->_tcp) : 0;
}

void wsconn_deinit(struct wsconn *c)
{
    free(c->_pend);
    c->_pend = NULL;
    c->_pend_len = c->_pend_cap = 0;
}
