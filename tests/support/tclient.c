/* Protocol-level helpers for integration tests: hello, requests, replies, closes. */
#include "tests/support/tclient.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/tsys.h"

struct wsclient *tclient_open(int port)
{
    struct wsclient *c = wsclient_new(port);
    if (!c) {
        return NULL;
    }
    struct tmsg *hello = tclient_recv(c, TCLIENT_TIMEOUT_MS);
    bool ok = tmsg_is_event(hello, "hello");
    if (!ok) {
        fprintf(stderr, "tclient: expected the hello event, got %s\n", tmsg_text(hello));
        wsclient_free(c);
        c = NULL;
    }
    tmsg_free(hello);
    return c;
}

int tclient_send(struct wsclient *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t len;
    uint8_t *data = tmsg_vbuild(&len, fmt, ap);
    va_end(ap);
    int r = wsclient_send(c, WSCLIENT_OP_BINARY, data, len);
    free(data);
    return r;
}

struct tmsg *tclient_recv(struct wsclient *c, int timeout_ms)
{
    struct wsclient_msg m;
    int r = wsclient_recv(c, &m, timeout_ms);
    if (r) {
        fprintf(stderr, "tclient: no message: %s\n",
                r == -ECONNRESET ? "the connection ended" : strerror(-r));
        return NULL;
    }
    struct tmsg *out = NULL;
    if (m.opcode == WSCLIENT_OP_CLOSE) {
        fprintf(stderr, "tclient: close frame %d \"%s\" instead of a message\n", m.close_code,
                m.close_reason);
    } else if (m.opcode != WSCLIENT_OP_BINARY) {
        fprintf(stderr, "tclient: text frame \"%.200s\" instead of a binary one\n",
                (char *)m.data);
    } else {
        out = tmsg_decode(m.data, m.len);
        if (!out) {
            fprintf(stderr, "tclient: a binary frame of %zu bytes that is not msgpack\n", m.len);
        }
    }
    wsclient_msg_deinit(&m);
    return out;
}

struct tmsg *tclient_reply(struct wsclient *c, uint64_t id, int timeout_ms)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        struct tmsg *m = tclient_recv(c, tsys_left_ms(deadline));
        if (!m || tmsg_uint_is(m, "id", id)) {
            return m;
        }
        fprintf(stderr, "tclient: waiting for reply %llu, skipped %s\n", (unsigned long long)id,
                tmsg_text(m));
        tmsg_free(m);
    }
}

bool tclient_ping(struct wsclient *c, uint64_t id)
{
    if (tclient_send(c, "{id: %U, op: sys.ping}", id) != 0) {
        return false;
    }
    struct tmsg *m = tclient_reply(c, id, TCLIENT_TIMEOUT_MS);
    bool ok = tmsg_is_success(m, id);
    if (m && !ok) {
        fprintf(stderr, "tclient: ping %llu answered with %s\n", (unsigned long long)id,
                tmsg_text(m));
    }
    tmsg_free(m);
    return ok;
}

bool tclient_quiet(struct wsclient *c, int ms)
{
    struct wsclient_msg m;
    int r = wsclient_recv(c, &m, ms);
    if (r == -ETIMEDOUT) {
        return true;
    }
    if (r == 0) {
        struct tmsg *t = m.opcode == WSCLIENT_OP_BINARY ? tmsg_decode(m.data, m.len) : NULL;
        fprintf(stderr, "tclient: expected silence, got opcode %d: %s\n", m.opcode,
                t ? tmsg_text(t) : "(not msgpack)");
        tmsg_free(t);
        wsclient_msg_deinit(&m);
    } else {
        fprintf(stderr, "tclient: expected silence, the connection ended: %s\n", strerror(-r));
    }
    return false;
}

int tclient_wait_close(struct wsclient *c, int timeout_ms, int *close_code, int *n_error_events)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)timeout_ms;
    if (n_error_events) {
        *n_error_events = 0;
    }
    for (;;) {
        struct wsclient_msg m;
        int r = wsclient_recv(c, &m, tsys_left_ms(deadline));
        if (r == -ETIMEDOUT) {
            return r;
        }
        if (r) {
            fprintf(stderr, "tclient: the connection ended without a close frame (%s)\n",
                    r == -ECONNRESET ? "end of stream or reset" : strerror(-r));
            *close_code = 0;
            return 0;
        }
        if (m.opcode == WSCLIENT_OP_CLOSE) {
            *close_code = m.close_code;
            wsclient_msg_deinit(&m);
            return 0;
        }
        struct tmsg *t = m.opcode == WSCLIENT_OP_BINARY ? tmsg_decode(m.data, m.len) : NULL;
        if (n_error_events && tmsg_is_error_event(t, NULL)) {
            (*n_error_events)++;
        }
        tmsg_free(t);
        wsclient_msg_deinit(&m);
    }
}
