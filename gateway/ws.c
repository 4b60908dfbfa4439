/* The classment.v1 WebSocket protocol: connection life-cycle, message reassembly with the
 * size limit, refusal of text and garbage, and draining each peer's send queue. */
#include <string.h>

#include "core/envelope.h"
#include "core/log.h"
#include "core/presence.h"
#include "core/xalloc.h"
#include "gateway/heartbeat.h"
#include "gateway/server_internal.h"
#include "people/people.h"

_Static_assert(LWS_PRE <= MSGBUF_HEADROOM, "msgbuf headroom must fit the lws frame header");

/* A client that sends more malformed messages than this within the window is closed: it is
 * broken or hostile, and answering it costs more than it is worth. */
#define GARBAGE_MAX 30
#define GARBAGE_WINDOW_MS 10000
/* Bytes of one refused (too large) message we are willing to read and throw away before we
 * close the connection instead. */
#define DISCARD_MAX ((size_t)16 << 20)
/* RFC 6455 7.4.1: the endpoint is terminating the connection because of a protocol error. */
#define WS_CLOSE_PROTOCOL_ERROR 1002

size_t ws_session_size(void)
{
    return sizeof(struct ws_session);
}

static void flush_list_add(struct server *srv, struct ws_session *s)
{
    if (s->in_flush_list) {
        return;
    }
    s->in_flush_list = true;
    s->flush_prev = NULL;
    s->flush_next = srv->flush_head;
    if (srv->flush_head) {
        srv->flush_head->flush_prev = s;
    }
    srv->flush_head = s;
}

static void flush_list_remove(struct server *srv, struct ws_session *s)
{
    if (!s->in_flush_list) {
        return;
    }
    s->in_flush_list = false;
    if (s->flush_prev) {
        s->flush_prev->flush_next = s->flush_next;
    } else {
        srv->flush_head = s->flush_next;
    }
    if (s->flush_next) {
        s->flush_next->flush_prev = s->flush_prev;
    }
    s->flush_prev = s->flush_next = NULL;
}

/* Messages are waiting: they are written when this loop iteration's callbacks are done
 * (ws_flush), so that everything a connection is sent in one iteration (a burst of positions,
 * a reply and an event) leaves in one send. */
static void transport_wake(void *ctx)
{
    struct ws_session *s = ctx;
    flush_list_add(s->srv, s);
}

static void transport_close(void *ctx, int code, const char *reason)
{
    struct ws_session *s = ctx;
    if (!s->close_code) {
        s->close_code = code;
        s->close_reason = reason;
    }
    if (code == PEER_CLOSE_POLICY && reason && strcmp(reason, "too slow") == 0) {
        s->srv->env->metrics->slow_closes++;
    }
    /* Gone within a bounded time, whether or not the close frame can be written and whatever
     * the client keeps sending (its input no longer keeps it alive: see ws_callback). */
    heartbeat_closing(s->srv, s);
    lws_callback_on_writable(s->wsi);
}

static void write_now(struct ws_session *s);

/* The queue is full: write it now rather than judge the client (see peer_transport.flush). */
static void transport_flush(void *ctx)
{
    write_now(ctx);
}

/* Backed up: lws holds bytes the kernel would not take, so the client is not keeping up. */
static bool transport_backlogged(void *ctx)
{
    struct ws_session *s = ctx;
    return lws_partial_buffered(s->wsi) != 0;
}

static const struct peer_transport transport = {
    .wake = transport_wake,
    .close = transport_close,
    .flush = transport_flush,
    .backlogged = transport_backlogged,
};

static void list_add(struct server *srv, struct ws_session *s)
{
    s->prev = NULL;
    s->next = srv->sessions;
    if (srv->sessions) {
        srv->sessions->prev = s;
    }
    srv->sessions = s;
}

static void list_remove(struct server *srv, struct ws_session *s)
{
    heartbeat_forget(srv, s);
    flush_list_remove(srv, s);
    if (s->prev) {
        s->prev->next = s->next;
    } else if (srv->sessions == s) {
        srv->sessions = s->next;
    }
    if (s->next) {
        s->next->prev = s->prev;
    }
    s->prev = s->next = NULL;
}

void ws_close_all(struct server *srv)
{
    for (struct ws_session *s = srv->sessions; s; s = s->next) {
        peer_close(s->peer, PEER_CLOSE_GOING_AWAY, "going away");
    }
}

static void send_hello(struct ws_session *s)
{
    struct envelope_writer w;
    envelope_begin_event(&w, "hello");
    msgpack_packer *pk = &w.pk;
    msgpack_pack_map(pk, 4);
    envelope_pack_key(pk, "server");
    envelope_pack_str(pk, "classment");
    envelope_pack_key(pk, "proto");
    msgpack_pack_uint32(pk, 1);
    envelope_pack_key(pk, "version");
    envelope_pack_str(pk, CLASSMENT_VERSION);
    envelope_pack_key(pk, "heartbeat_s");
    msgpack_pack_int(pk, s->srv->cfg->heartbeat_s);
    struct msgbuf *m = envelope_finish(&w);
    peer_send(s->peer, m);
    msgbuf_unref(m);
}

/* Counts a refused message; too many in the window closes the connection. */
static void count_garbage(struct ws_session *s)
{
    s->srv->env->metrics->malformed_frames++;
    uint64_t now = op_now_ms();
    if (now - s->garbage_window_ms > GARBAGE_WINDOW_MS) {
        s->garbage_window_ms = now;
        s->garbage_count = 0;
    }
    if (++s->garbage_count > GARBAGE_MAX) {
        log_event(LOG_WARN, "ws", "closing connection sending garbage", "conn=%llu",
                  (unsigned long long)s->peer->id);
        peer_close(s->peer, PEER_CLOSE_POLICY, "too many malformed messages");
    }
}

static void refuse_frame(struct ws_session *s, enum op_err code, const char *message)
{
    struct metrics *m = s->srv->env->metrics;
    if (peer_take_error_budget(s->peer, op_now_ms())) {
        m->error_events++;
        struct msgbuf *ev = envelope_error_event(NULL, 0, code, message, NULL);
        peer_send(s->peer, ev);
        msgbuf_unref(ev);
    } else {
        m->error_events_dropped++;
    }
    count_garbage(s);
}

/* RFC 6455 5.1: a client frame without the mask bit (see server.c) closes the connection
 * with 1002; it and whatever follows are dropped unread. */
static void refuse_unmasked(struct ws_session *s)
{
    s->srv->env->metrics->malformed_frames++;
    log_event(LOG_WARN, "ws", "closing connection sending unmasked frames", "conn=%llu",
              (unsigned long long)s->peer->id);
    peer_close(s->peer, WS_CLOSE_PROTOCOL_ERROR, "client frames must be masked");
}

static void dispatch(struct ws_session *s, const unsigned char *data, size_t len)
{
    struct server *srv = s->srv;
    srv->env->metrics->frames_in++;
    srv->env->metrics->bytes_in += len;
    if (router_dispatch(srv->router, srv->env, s->peer, data, len) == ROUTER_MALFORMED) {
        count_garbage(s);
    }
}

/* One piece of a message arrived: reassembled by ws_rx_feed (gateway/ws_reassembly.c, the
 * rules and why), which says what to do. */
static void on_receive(struct ws_session *s, const unsigned char *in, size_t len)
{
    struct lws *wsi = s->wsi;
    bool first = lws_is_first_fragment(wsi);
    struct ws_rx_piece piece = {
        .data = in, .len = len, .first = first, .binary = first && lws_frame_is_binary(wsi),
        .final = lws_is_final_fragment(wsi), .remaining = lws_remaining_packet_payload(wsi),
    };
    struct ws_rx_result r = ws_rx_feed(&s->rx, &piece, s->srv->cfg->max_message_bytes,
                                       DISCARD_MAX);
    if (r.too_large) {
        refuse_frame(s, OP_E_TOO_LARGE, "message too large");
    }
    switch (r.action) {
    case WS_RX_MORE:
        break;
    case WS_RX_MESSAGE:
        dispatch(s, r.msg, r.msg_len);
        ws_rx_reset(&s->rx);
        break;
    case WS_RX_TEXT:
        refuse_frame(s, OP_E_BAD_REQUEST,
                     "text frames are not accepted: send msgpack in binary frames");
        break;
    case WS_RX_CLOSE:
        peer_close(s->peer, PEER_CLOSE_TOO_BIG, "message too large");
        break;
    }
}

/* lws 4.1 keeps the close opcode out of its public enum (the gap at 4 in
 * enum lws_write_protocol, "handled by lws_close_reason()"). */
#define WRITE_CLOSE_FRAME ((enum lws_write_protocol)4)

/* Sends a close frame with code and reason. lws_close_reason() only takes effect when a
 * RECEIVE callback returns -1: a writable callback that returns -1 marks the socket unusable
 * and drops it without a close frame (seen on 4.1.6), so the frame is written here. */
static int write_close_frame(struct lws *wsi, int code, const char *reason)
{
    unsigned char frame[LWS_PRE + 2 + 123];
    size_t len = strlen(reason);
    if (len > 123) {
        len = 123; /* control frames carry at most 125 bytes */
    }
    frame[LWS_PRE] = (unsigned char)(code >> 8);
    frame[LWS_PRE + 1] = (unsigned char)code;
    memcpy(frame + LWS_PRE + 2, reason, len);
    return lws_write(wsi, frame + LWS_PRE, 2 + len, WRITE_CLOSE_FRAME);
}

/* Writes a server-to-client frame header (FIN set, not masked) for a payload of len bytes;
 * returns its size (2, 4 or 10 bytes). */
static size_t put_frame_header(unsigned char *h, unsigned char opcode, size_t len)
{
    h[0] = (unsigned char)(0x80 | opcode);
    if (len < 126) {
        h[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        h[1] = 126;
        h[2] = (unsigned char)(len >> 8);
        h[3] = (unsigned char)len;
        return 4;
    }
    h[1] = 127;
    for (int i = 0; i < 8; i++) {
        h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    }
    return 10;
}

#define WS_OPCODE_BINARY 0x2
#define WS_OPCODE_PING 0x9
#define WS_MAX_FRAME_HEADER 10
#define PING_PAYLOAD "alive?"

/* Frames the due ping and as many queued messages as fit in WS_WRITE_BATCH_BYTES into the
 * server's batch buffer and writes them with one send. Returns lws_write's result. */
static int write_batch(struct ws_session *s)
{
    struct server *srv = s->srv;
    unsigned char *start = srv->write_batch + LWS_PRE, *at = start;
    const unsigned char *end = start + WS_WRITE_BATCH_BYTES;
    if (s->ping_due) {
        /* With a payload: lws 4.1 does not report an empty pong to the protocol callback. */
        at += put_frame_header(at, WS_OPCODE_PING, sizeof PING_PAYLOAD - 1);
        memcpy(at, PING_PAYLOAD, sizeof PING_PAYLOAD - 1);
        at += sizeof PING_PAYLOAD - 1;
        s->ping_due = false;
        s->ping_sent = true;
    }
    size_t frames = 0, payload = 0;
    const struct msgbuf *next;
    while ((next = peer_peek(s->peer)) &&
           next->len + WS_MAX_FRAME_HEADER <= (size_t)(end - at)) {
        struct msgbuf *m = peer_pop(s->peer);
        at += put_frame_header(at, WS_OPCODE_BINARY, m->len);
        memcpy(at, msgbuf_data(m), m->len);
        at += m->len;
        payload += m->len;
        frames++;
        msgbuf_unref(m);
    }
    struct metrics *metrics = srv->env->metrics;
    metrics->frames_out += frames;
    metrics->bytes_out += payload;
    metrics->batched_writes += frames > 1;
    /* The frames are complete: lws sends the bytes as they are, and keeps (copies) whatever
     * the socket did not take. */
    return lws_write(s->wsi, start, (size_t)(at - start), LWS_WRITE_RAW);
}

/* Writes what is queued: a lone message straight from its shared buffer (lws frames it in
 * the headroom); several, or a due ping, framed together into one send, so a connection costs
 * one system call per loop iteration however many messages it was sent. Returns lws_write's
 * result, or 0 when there was nothing to write. */
static int write_queued(struct ws_session *s)
{
    const struct msgbuf *head = peer_peek(s->peer);
    if (!head && !s->ping_due) {
        return 0;
    }
    if (s->ping_due || (s->peer->len > 1 &&
                        head->len + WS_MAX_FRAME_HEADER <= WS_WRITE_BATCH_BYTES)) {
        return write_batch(s);
    }
    struct msgbuf *m = peer_pop(s->peer);
    int n = lws_write(s->wsi, msgbuf_data(m), m->len, LWS_WRITE_BINARY);
    struct metrics *metrics = s->srv->env->metrics;
    metrics->frames_out++;
    metrics->bytes_out += m->len;
    /* lws copies whatever it could not send, so the shared message can go now. */
    msgbuf_unref(m);
    return n;
}

/* Writes a connection's queue now, unless it is closing or its socket is full: then, as for a
 * failed write (which closes it) or a queue larger than one batch, lws's writable callback
 * takes it from here. */
static void write_now(struct ws_session *s)
{
    if (s->close_code || lws_partial_buffered(s->wsi) || write_queued(s) < 0 || s->peer->len) {
        lws_callback_on_writable(s->wsi);
    }
}

void ws_flush(struct server *srv)
{
    struct ws_session *s;
    while ((s = srv->flush_head) != NULL) {
        flush_list_remove(srv, s);
        write_now(s);
    }
}

/* The socket can take more (lws has flushed what it held). Once the queue is empty, carries
 * out a pending close. */
static int on_writable(struct ws_session *s)
{
    if (s->close_sent) {
        return 0;
    }
    if (!peer_peek(s->peer) && !s->ping_due) {
        if (s->close_code) {
            /* The socket stays open until the client answers with its close (see
             * LWS_CALLBACK_WS_PEER_INITIATED_CLOSE) or the close deadline (heartbeat.c), and
             * what it sends meanwhile is read and dropped: closing with unread input would
             * make the kernel send a reset, which can cut a client off before it reads the
             * close frame (a client still streaming a refused message, say). */
            s->close_sent = true;
            return write_close_frame(s->wsi, s->close_code, s->close_reason) < 0 ? -1 : 0;
        }
        return 0;
    }
    if (write_queued(s) < 0) {
        return -1;
    }
    if (s->peer->len || s->close_code) {
        lws_callback_on_writable(s->wsi);
    }
    return 0;
}

static bool path_is_api(struct lws *wsi)
{
    char uri[64];
    int n = lws_hdr_copy(wsi, uri, sizeof uri, WSI_TOKEN_GET_URI);
    return n > 0 && strcmp(uri, "/v1/ws") == 0;
}

int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                size_t len)
{
    struct ws_session *s = user;
    struct server *srv = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* Returning non-zero refuses the upgrade. */
        return srv->draining || !path_is_api(wsi);
    case LWS_CALLBACK_ESTABLISHED:
        memset(s, 0, sizeof *s);
        s->srv = srv;
        s->wsi = wsi;
        s->fd = lws_get_socket_fd(wsi);
        s->peer = peer_new(++srv->next_conn_id, &transport, s, srv->cfg->send_queue_max);
        heartbeat_seen(s);
        lws_get_peer_simple(wsi, s->peer->addr, sizeof s->peer->addr);
        list_add(srv, s);
        srv->env->metrics->connections++;
        srv->env->metrics->connections_total++;
        log_event(LOG_DEBUG, "ws", "connection opened", "conn=%llu addr=%s",
                  (unsigned long long)s->peer->id, s->peer->addr);
        send_hello(s);
        return 0;
    case LWS_CALLBACK_RECEIVE:
        /* A closing connection's frames are dropped unread, and do not keep it alive. */
        if (s->peer->closed) {
            return 0;
        }
        if (server_wire_unmasked(s->fd)) {
            refuse_unmasked(s);
            return 0;
        }
        heartbeat_seen(s);
        on_receive(s, in, len);
        return 0;
    case LWS_CALLBACK_RECEIVE_PONG:
        if (s->peer->closed) {
            return 0;
        }
        if (server_wire_unmasked(s->fd)) {
            refuse_unmasked(s);
            return 0;
        }
        heartbeat_seen(s);
        return 0;
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
        /* The client's answer to our close frame ends the connection (without an echo: our
         * frame was the close); a close the client starts is echoed by lws. */
        return s->close_sent ? -1 : 0;
    case LWS_CALLBACK_SERVER_WRITEABLE:
        return on_writable(s);
    case LWS_CALLBACK_CLOSED:
        if (!s->peer) {
            return 0;
        }
        log_event(LOG_DEBUG, "ws", "connection closed", "conn=%llu",
                  (unsigned long long)s->peer->id);
        list_remove(srv, s);
        server_wire_forget(s->fd);
        srv->env->metrics->connections--;
        ws_rx_reset(&s->rx);
        if (s->peer->caller.user_id) {
            presence_remove(srv->people->presence, s->peer->caller.user_id, s->peer);
        }
        roster_peer_left(&srv->people->roster, s->peer); /* its subscriptions end */
        peer_detach(s->peer);
        peer_unref(s->peer);
        s->peer = NULL;
        return 0;
    default:
        return 0;
    }
}
