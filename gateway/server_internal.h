/* Shared between the gateway's WebSocket and HTTP halves: the server state and the
 * per-connection session. Not for use outside gateway/. */
#pragma once
#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"
#include "core/metrics.h"
#include "core/op.h"
#include "core/peer.h"
#include "gateway/router.h"
#include "gateway/ws_reassembly.h"
#include "people/people.h"

struct ws_session;

/* Most bytes of queued frames written with one send (see ws.c, write_batch). */
#define WS_WRITE_BATCH_BYTES (64 * 1024)

struct server {
    uv_loop_t *loop;
    const struct config *cfg;
    struct op_env *env;
    struct people *people; /* SMS statistics, presence of closing connections */
    struct router *router;
    struct lws_context *lws;
    struct lws_vhost *vhost;
    lws_retry_bo_t idle_policy;
    uint64_t next_conn_id;
    int fd_limit;                /* RLIMIT_NOFILE when the server started */
    struct ws_session *sessions; /* every open WebSocket, for shutdown */
    bool draining;
    /* Connections with messages queued in this loop iteration, written by ws_flush when the
     * iteration's callbacks are done (uv_check after I/O, uv_prepare before the next wait). */
    struct ws_session *flush_head;
    uv_check_t flush_after_io;
    uv_prepare_t flush_before_wait;
    uv_timer_t drain_timer;
    uint64_t drain_deadline_ms;
    uv_timer_t heartbeat_timer;  /* see heartbeat.c */
    struct ws_session *heartbeat_cursor; /* next session the sweep visits */
    struct ws_session *closing_head;     /* sessions being closed, each with a deadline */
    bool heartbeat_started;
    /* frames of one batched write, after LWS_PRE bytes of headroom (see ws.c) */
    unsigned char write_batch[LWS_PRE + WS_WRITE_BATCH_BYTES];
    uv_timer_t session_timer;    /* see session_check.c */
    bool session_check_busy;
    int64_t *session_check_ids;  /* the round's session ids, checked in batches */
    size_t session_check_n, session_check_done;
    bool session_timer_started;
    void (*drain_done)(void *arg);
    void *drain_arg;
};

/* One WebSocket connection: lws's per-session data for the classment.v1 protocol. */
struct ws_session {
    struct server *srv;
    struct lws *wsi;
    struct peer *peer;
    struct ws_session *prev, *next;
    struct ws_rx rx; /* reassembly of the current message (ws_reassembly.h) */
    /* malformed-frame budget: count within the current window */
    uint64_t garbage_window_ms;
    int garbage_count;
    struct ws_session *flush_prev, *flush_next; /* in the server's flush list */
    bool in_flush_list;
    /* keep-alive (heartbeat.c) */
    uint64_t last_rx_ms;  /* loop time of the last message or pong */
    bool ping_due;        /* write a ping at the next writable callback */
    bool ping_sent;       /* a ping is out and nothing has come back since */
    bool heartbeat_dead;  /* being dropped for silence */
    /* set when the connection should close once the writable callback comes */
    int close_code;
    const char *close_reason;
    /* A closing connection ends by close_deadline_ms whatever it does (heartbeat.c): the
     * close frame is written and the client's answer awaited (its input read and dropped)
     * until then, and a socket still open at the deadline is dropped without more ado. */
    uint64_t close_deadline_ms;
    int fd;               /* the socket, for server_wire_unmasked */
    struct ws_session *closing_prev, *closing_next; /* in the server's closing list */
    bool in_closing_list;
    bool close_sent;      /* our close frame is written: waiting for the client's */
    bool close_killed;    /* the deadline passed: being dropped */
};

/* lws protocol callbacks. */
int ws_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                size_t len);
int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len);

/* Writes the queues of the connections woken in this loop iteration (see flush_head). */
void ws_flush(struct server *srv);

/* Closes every WebSocket with 1001 (used by server_shutdown). */
void ws_close_all(struct server *srv);

/* True once a client frame without the mask bit arrived on socket fd (see server.c: lws 4.1
 * accepts such frames and does not say so); the connection must then be closed with 1002. */
bool server_wire_unmasked(int fd);
/* The socket fd is closing: stop following it. */
void server_wire_forget(int fd);

/* Bytes of lws per-session data each protocol needs. */
size_t ws_session_size(void);
size_t http_session_size(void);
