/* A blocking WebSocket client for tests: handshake, masked frames, fragments, raw bytes, and a
 * receive loop that answers pings and reassembles messages. The socket is non-blocking and
 * every wait goes through poll() with a deadline. */
#include "tests/support/wsclient.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/digest.h"
#include "tests/support/tsys.h"

/* Largest message the client accepts from the server; the server's own limit is far lower. */
#define MAX_IN_MESSAGE (16u << 20)
/* Largest handshake response head. */
#define MAX_HTTP_HEAD 16384

struct wsclient {
    int fd;
    /* bytes read but not yet parsed */
    uint8_t *in;
    size_t in_len, in_cap;
    /* a fragmented message being reassembled */
    uint8_t *frag;
    size_t frag_len;
    int frag_opcode;       /* 0 when no fragmented message is open */
    bool close_sent;
    bool eof;
    uint32_t rng;
};

static uint32_t next_random(struct wsclient *c)
{
    /* xorshift32: masks only need to vary, not to be secret, in a test client. */
    c->rng ^= c->rng << 13;
    c->rng ^= c->rng >> 17;
    c->rng ^= c->rng << 5;
    return c->rng;
}

static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        struct pollfd p = { .fd = fd, .events = events };
        int r = poll(&p, 1, tsys_left_ms(deadline));
        if (r > 0) {
            return 0;
        }
        if (r == 0) {
            return -ETIMEDOUT;
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

static int write_all(int fd, const void *data, size_t len, uint64_t deadline)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int r = wait_fd(fd, POLLOUT, deadline);
            if (r) {
                return r;
            }
            continue;
        }
        return n < 0 ? -errno : -EIO;
    }
    return 0;
}

/* Reads what is available into c->in (keeping one spare byte for a NUL), waiting until
 * deadline for at least one byte. Returns 0, -ETIMEDOUT, -ECONNRESET at end of stream, or a
 * negative errno. */
static int fill(struct wsclient *c, uint64_t deadline)
{
    if (c->eof) {
        return -ECONNRESET;
    }
    if (c->in_cap - c->in_len < 4096) {
        c->in_cap = c->in_cap * 2 + 4096;
        c->in = realloc(c->in, c->in_cap);
    }
    for (;;) {
        ssize_t n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1, MSG_DONTWAIT);
        if (n > 0) {
            c->in_len += (size_t)n;
            return 0;
        }
        if (n == 0) {
            c->eof = true;
            return -ECONNRESET;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            c->eof = true;
            return errno == ECONNRESET ? -ECONNRESET : -errno;
        }
        int r = wait_fd(c->fd, POLLIN, deadline);
        if (r) {
            return r;
        }
    }
}

static void consume(struct wsclient *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
}

static int tcp_connect(int port, uint64_t deadline, int *out_fd)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int r = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno != EINPROGRESS) {
            r = -errno;
            goto out;
        }
        r = wait_fd(fd, POLLOUT, deadline);
        if (r) {
            goto out;
        }
        int err = 0;
        socklen_t err_len = sizeof err;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &err_len);
        if (err) {
            r = -err;
            goto out;
        }
    }
    *out_fd = fd;
    fd = -1;
out:
    if (fd >= 0) {
        close(fd);
    }
    return r;
}

/* Finds header name in an HTTP head (NUL-terminated) and copies its trimmed value. */
static bool find_header(const char *head, const char *name, char *value, size_t value_len)
{
    size_t name_len = strlen(name);
    const char *line = strstr(head, "\r\n");
    while (line && line[2] != '\0') {
        line += 2;
        const char *end = strstr(line, "\r\n");
        if (!end) {
            break;
        }
        if ((size_t)(end - line) > name_len && strncasecmp(line, name, name_len) == 0 &&
                line[name_len] == ':') {
            const char *v = line + name_len + 1;
            while (v < end && (*v == ' ' || *v == '\t')) {
                v++;
            }
            const char *v_end = end;
            while (v_end > v && (v_end[-1] == ' ' || v_end[-1] == '\t')) {
                v_end--;
            }
            size_t n = (size_t)(v_end - v);
            if (n >= value_len) {
                n = value_len - 1;
            }
            memcpy(value, v, n);
            value[n] = '\0';
            return true;
        }
        line = end;
    }
    return false;
}

int wsclient_connect(struct wsclient **out, int port, const char *path, const char *protocol,
                     int timeout_ms)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)timeout_ms;
    struct wsclient *c = calloc(1, sizeof *c);
    c->fd = -1;
    c->rng = (uint32_t)tsys_mono_ms() ^ ((uint32_t)getpid() << 16) ^ (uint32_t)(uintptr_t)c;
    if (c->rng == 0) {
        c->rng = 0x9e3779b9;
    }
    int r = tcp_connect(port, deadline, &c->fd);
    if (r) {
        goto out;
    }
    uint8_t key_raw[16];
    for (int i = 0; i < 16; i += 4) {
        uint32_t v = next_random(c);
        memcpy(key_raw + i, &v, 4);
    }
    char key[32];
    digest_base64(key_raw, sizeof key_raw, key);
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "GET %s HTTP/1.1\r\n"
                     "Host: 127.0.0.1:%d\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "%s%s%s"
                     "\r\n",
                     path, port, key, protocol ? "Sec-WebSocket-Protocol: " : "",
                     protocol ? protocol : "", protocol ? "\r\n" : "");
    if (n < 0 || (size_t)n >= sizeof req) {
        r = -EINVAL;
        goto out;
    }
    r = write_all(c->fd, req, (size_t)n, deadline);
    if (r) {
        goto out;
    }
    /* Read the response head; anything after it is the start of the frame stream. */
    char *head_end = NULL;
    while (!head_end) {
        r = fill(c, deadline);
        if (r) {
            goto out;
        }
        c->in[c->in_len] = '\0';
        head_end = memmem(c->in, c->in_len, "\r\n\r\n", 4);
        if (!head_end && c->in_len > MAX_HTTP_HEAD) {
            r = -EPROTO;
            goto out;
        }
    }
    size_t head_len = (size_t)(head_end - (char *)c->in) + 4;
    char *head = strndup((char *)c->in, head_len);
    consume(c, head_len);
    int status = 0;
    if (sscanf(head, "HTTP/1.%*d %d", &status) != 1) {
        r = -EPROTO;
    } else if (status != 101) {
        r = status;
    } else {
        /* Accept = base64(SHA-1(key + the RFC 6455 GUID)). */
        char expect_src[96], expect[32], got[128];
        snprintf(expect_src, sizeof expect_src, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
        uint8_t sha[DIGEST_SHA1_LEN];
        digest_sha1(expect_src, strlen(expect_src), sha);
        digest_base64(sha, sizeof sha, expect);
        if (!find_header(head, "Sec-WebSocket-Accept", got, sizeof got) ||
                strcmp(got, expect) != 0) {
            r = -EPROTO;
        } else if (protocol && (!find_header(head, "Sec-WebSocket-Protocol", got, sizeof got) ||
                                strcmp(got, protocol) != 0)) {
            r = -EPROTO;
        }
    }
    free(head);
    if (r == 0) {
        *out = c;
        c = NULL;
    }
out:
    wsclient_free(c);
    return r;
}

struct wsclient *wsclient_new(int port)
{
    struct wsclient *c = NULL;
    int r = wsclient_connect(&c, port, "/v1/ws", "classment.v1", WSCLIENT_IO_TIMEOUT_MS);
    if (r) {
        fprintf(stderr, "wsclient: connect to port %d failed: %s %d\n", port,
                r > 0 ? "HTTP status" : strerror(-r), r > 0 ? r : 0);
        return NULL;
    }
    return c;
}

void wsclient_free(struct wsclient *c)
{
    if (!c) {
        return;
    }
    if (c->fd >= 0) {
        close(c->fd);
    }
    free(c->in);
    free(c->frag);
    free(c);
}

int wsclient_fd(const struct wsclient *c)
{
    return c->fd;
}

bool wsclient_has_buffered(const struct wsclient *c)
{
    return c->in_len > 0;
}

size_t wsclient_put_header(uint8_t *out, bool fin, int opcode, const uint8_t mask[4],
                           uint64_t len)
{
    size_t h = 2;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
    if (len < 126) {
        out[1] = (uint8_t)(0x80 | len);
    } else if (len <= 0xffff) {
        out[1] = 0x80 | 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        h = 4;
    } else {
        out[1] = 0x80 | 127;
        for (int i = 0; i < 8; i++) {
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        }
        h = 10;
    }
    memcpy(out + h, mask, 4);
    return h + 4;
}

size_t wsclient_put_frame(uint8_t *out, bool fin, int opcode, const uint8_t mask[4],
                          const void *data, size_t len)
{
    size_t h = wsclient_put_header(out, fin, opcode, mask, len);
    const uint8_t *src = data;
    for (size_t i = 0; i < len; i++) {
        out[h + i] = src[i] ^ mask[i & 3];
    }
    return h + len;
}

int wsclient_send_frame(struct wsclient *c, bool fin, int opcode, const void *data, size_t len)
{
    uint64_t deadline = tsys_mono_ms() + WSCLIENT_IO_TIMEOUT_MS;
    uint8_t *frame = malloc(14 + len);
    uint32_t mask_word = next_random(c);
    uint8_t mask[4];
    memcpy(mask, &mask_word, 4);
    size_t n = wsclient_put_frame(frame, fin, opcode, mask, data, len);
    int r = write_all(c->fd, frame, n, deadline);
    free(frame);
    return r;
}

int wsclient_send(struct wsclient *c, int opcode, const void *data, size_t len)
{
    return wsclient_send_frame(c, true, opcode, data, len);
}

int wsclient_send_fragmented(struct wsclient *c, int opcode, const void *data, size_t len,
                             int n_fragments)
{
    if (n_fragments < 1) {
        n_fragments = 1;
    }
    const uint8_t *p = data;
    size_t per = len / (size_t)n_fragments;
    for (int i = 0; i < n_fragments; i++) {
        bool last = i == n_fragments - 1;
        size_t n = last ? len - per * (size_t)i : per;
        int r = wsclient_send_frame(c, last, i == 0 ? opcode : WSCLIENT_OP_CONT,
                                    p + per * (size_t)i, n);
        if (r) {
            return r;
        }
    }
    return 0;
}

int wsclient_send_raw(struct wsclient *c, const void *data, size_t len)
{
    return write_all(c->fd, data, len, tsys_mono_ms() + WSCLIENT_IO_TIMEOUT_MS);
}

/* Parses one frame from c->in when it is complete. Returns 1 with the frame's parts set
 * (payload points into c->in; consume hdr + len afterwards), 0 when more bytes are needed,
 * or -EPROTO. */
static int parse_frame(struct wsclient *c, bool *fin, int *opcode, size_t *hdr, size_t *len)
{
    if (c->in_len < 2) {
        return 0;
    }
    const uint8_t *p = c->in;
    *fin = p[0] & 0x80;
    *opcode = p[0] & 0x0f;
    bool masked = p[1] & 0x80;
    uint64_t n = p[1] & 0x7f;
    size_t h = 2;
    if (n == 126) {
        if (c->in_len < 4) {
            return 0;
        }
        n = (uint64_t)p[2] << 8 | p[3];
        h = 4;
    } else if (n == 127) {
        if (c->in_len < 10) {
            return 0;
        }
        n = 0;
        for (int i = 0; i < 8; i++) {
            n = n << 8 | p[2 + i];
        }
        h = 10;
    }
    if (n > MAX_IN_MESSAGE) {
        fprintf(stderr, "wsclient: server frame of %llu bytes refused\n", (unsigned long long)n);
        return -EPROTO;
    }
    size_t mask_at = h;
    if (masked) {
        h += 4;
    }
    if (c->in_len < h + n) {
        return 0;
    }
    if (masked) {
        /* Servers must not mask (RFC 6455 5.1), but unmask anyway so the test can see it. */
        for (size_t i = 0; i < n; i++) {
            c->in[h + i] ^= p[mask_at + (i & 3)];
        }
    }
    *hdr = h;
    *len = (size_t)n;
    return 1;
}

static void set_payload(struct wsclient_msg *m, const uint8_t *data, size_t len)
{
    m->data = malloc(len + 1);
    memcpy(m->data, data, len);
    m->data[len] = '\0';
    m->len = len;
}

int wsclient_recv(struct wsclient *c, struct wsclient_msg *m, int timeout_ms)
{
    memset(m, 0, sizeof *m);
    uint64_t deadline = tsys_mono_ms() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        bool fin;
        int opcode;
        size_t hdr, len;
        int r = parse_frame(c, &fin, &opcode, &hdr, &len);
        if (r < 0) {
            return r;
        }
        if (r == 0) {
            r = fill(c, deadline);
            if (r) {
                return r;
            }
            continue;
        }
        const uint8_t *payload = c->in + hdr;
        switch (opcode) {
        case WSCLIENT_OP_PING:
            r = wsclient_send(c, WSCLIENT_OP_PONG, payload, len);
            consume(c, hdr + len);
            if (r && r != -EPIPE && r != -ECONNRESET) {
                return r;
            }
            break;
        case WSCLIENT_OP_PONG:
            consume(c, hdr + len);
            break;
        case WSCLIENT_OP_CLOSE:
            m->opcode = WSCLIENT_OP_CLOSE;
            m->close_code = WSCLIENT_CLOSE_NO_CODE;
            if (len >= 2) {
                m->close_code = payload[0] << 8 | payload[1];
                size_t reason_len = len - 2;
                if (reason_len >= sizeof m->close_reason) {
                    reason_len = sizeof m->close_reason - 1;
                }
                memcpy(m->close_reason, payload + 2, reason_len);
            }
            set_payload(m, payload, len);
            consume(c, hdr + len);
            if (!c->close_sent) {
                /* Echo the code, as RFC 6455 5.5.1 asks; the server may be gone already. */
                c->close_sent = true;
                wsclient_send(c, WSCLIENT_OP_CLOSE, m->data, len >= 2 ? 2 : 0);
            }
            return 0;
        case WSCLIENT_OP_TEXT:
        case WSCLIENT_OP_BINARY:
            if (c->frag_opcode) {
                fprintf(stderr, "wsclient: new message inside a fragmented one\n");
                return -EPROTO;
            }
            if (fin) {
                m->opcode = opcode;
                set_payload(m, payload, len);
                consume(c, hdr + len);
                return 0;
            }
            c->frag_opcode = opcode;
            c->frag = realloc(c->frag, len + 1);
            memcpy(c->frag, payload, len);
            c->frag_len = len;
            consume(c, hdr + len);
            break;
        case WSCLIENT_OP_CONT:
            if (!c->frag_opcode || c->frag_len + len > MAX_IN_MESSAGE) {
                fprintf(stderr, "wsclient: unexpected continuation frame\n");
                return -EPROTO;
            }
            c->frag = realloc(c->frag, c->frag_len + len + 1);
            memcpy(c->frag + c->frag_len, payload, len);
            c->frag_len += len;
            consume(c, hdr + len);
            if (fin) {
                m->opcode = c->frag_opcode;
                m->data = c->frag;
                m->data[c->frag_len] = '\0';
                m->len = c->frag_len;
                c->frag = NULL;
                c->frag_len = 0;
                c->frag_opcode = 0;
                return 0;
            }
            break;
        default:
            fprintf(stderr, "wsclient: unknown opcode 0x%x from the server\n", opcode);
            return -EPROTO;
        }
    }
}

void wsclient_msg_deinit(struct wsclient_msg *m)
{
    free(m->data);
    memset(m, 0, sizeof *m);
}

int wsclient_close(struct wsclient *c, int code, int timeout_ms)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)timeout_ms;
    if (!c->close_sent) {
        uint8_t payload[2] = { (uint8_t)(code >> 8), (uint8_t)code };
        c->close_sent = true;
        int r = wsclient_send(c, WSCLIENT_OP_CLOSE, payload, sizeof payload);
        if (r) {
            return 0; /* the connection is already gone */
        }
    }
    for (;;) {
        struct wsclient_msg m;
        int r = wsclient_recv(c, &m, tsys_left_ms(deadline));
        if (r == -ETIMEDOUT) {
            return r;
        }
        if (r) {
            return 0;
        }
        bool done = m.opcode == WSCLIENT_OP_CLOSE;
        wsclient_msg_deinit(&m);
        if (done) {
            return 0;
        }
    }
}
