/* A connected client as the rest of the server sees it: its identity and a bounded queue of
 * shared outgoing messages. The transport (gateway) drains the queue when the socket is
 * writable; any module can push to one peer or to a set of peers without knowing the socket. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/caller.h"
#include "core/msgbuf.h"

/* How a peer reaches its socket. */
struct peer_transport {
    /* The queue went from empty to non-empty: write it soon. The gateway writes every such
     * queue once at the end of the loop iteration, all its messages in one send. */
    void (*wake)(void *ctx);
    void (*close)(void *ctx, int code, const char *reason);/* close with a WebSocket code */
    /* Optional: write what is queued now if the socket can take it. Called when the queue is
     * full, before the peer is judged too slow: a client that sent many requests at once is
     * not slow, the server just has not written yet. */
    void (*flush)(void *ctx);
    /* Optional: true while the connection is backed up (bytes the socket refused are still
     * waiting). Only then do "latest wins" messages replace each other; without this hook they
     * always may. */
    bool (*backlogged)(void *ctx);
};

enum {
    PEER_E_CLOSED = 1, /* the peer is gone or closing: the message was not queued */
    PEER_E_FULL = 2,   /* the queue was full: the peer is being closed as too slow */
};

/* Close codes the server uses (RFC 6455). */
enum {
    PEER_CLOSE_GOING_AWAY = 1001,
    PEER_CLOSE_POLICY = 1008,
    PEER_CLOSE_TOO_BIG = 1009,
    PEER_CLOSE_TRY_LATER = 1013,
};

/* One queued message; key is non-zero for "latest wins" messages (see peer_send_latest). */
struct peer_slot {
    struct msgbuf *msg;
    uint64_t key;
};

struct peer {
    int refs;
    uint64_t id;          /* connection number, for logs */
    bool closed;
    struct caller caller;
    char addr[48];        /* client address, for rate limits and the audit log */
    /* send queue: a ring of messages, each holding one reference */
    struct peer_slot *ring;
    uint32_t head, len, cap, max;
    size_t queued_bytes;
    uint64_t coalesced;   /* messages replaced by a newer one with the same key */
    /* Registrations some domain holds on this peer (subscriptions, say): while 0, closing
     * the peer needs no domain to look for its own. */
    uint32_t n_listeners;
    /* error-event budget (token bucket) */
    double err_tokens;
    uint64_t err_refill_ms;
    uint64_t error_events_dropped;
    const struct peer_transport *tx;
    void *tx_ctx;
    /* Fair shares (counted and used by gateway/router.c): requests of this connection being
     * handled now, and the ones waiting their turn (copies of their frames, in arrival order;
     * dropped when the connection closes). When a request ends and some wait (and the router
     * has not listed the connection yet: turn_listed), or while the address's share below
     * counts its requests, on_turn is called. */
    uint32_t in_flight;
    uint32_t n_waiting;
    size_t waiting_bytes;
    struct peer_frame *wait_head, *wait_tail;
    void (*on_turn)(struct peer *p, void *ctx);
    void *on_turn_ctx;
    bool turn_listed;
    /* The connection's request-rate bucket, in thousandths of a request (router.c). */
    int64_t rate_milli;
    uint64_t rate_at_ms;
    /* Before login, requests count towards the address's share too (router.c): the share
     * (opaque here), how many of this connection's requests it holds, and the line of
     * connections waiting for room in it. */
    void *share;
    uint32_t share_counted;
    bool share_blocked;
    struct peer *share_next;
    /* Logged in, its requests with an id count towards its user's share (router.c: all the
     * connections of one user have user_in_flight in flight at most): the share, held from
     * the first such request until the connection closes or acts as someone else, how many
     * of its requests in flight the share counts (never more than in_flight: when in_flight
     * falls below it, the share gives the difference back), and the share's line. */
    void *user_share;
    uint32_t user_counted;
    bool user_blocked;
    struct peer *user_next;
};

/* A request frame waiting for its connection's turn. */
struct peer_frame {
    struct peer_frame *next;
    size_t len;
    unsigned char data[];
};

/* A new peer with one reference, owned by the transport. max_queue bounds its send queue. */
struct peer *peer_new(uint64_t id, const struct peer_transport *tx, void *tx_ctx, int max_queue);
struct peer *peer_ref(struct peer *p);
void peer_unref(struct peer *p);

/* Queues m (taking a new reference). Returns 0, PEER_E_CLOSED, or PEER_E_FULL after which the
 * queue is dropped and the peer closed with 1008 because it does not read fast enough (the
 * queue was full and the transport's flush could not empty any of it). */
int peer_send(struct peer *p, struct msgbuf *m);
/* Queues m; but when the connection is backed up (the transport's backlogged hook, or half
 * the queue in use) and a message with the same non-zero key is still waiting, m replaces it
 * in place: a client that cannot keep up gets only the newest (a bus position, say) and the
 * queue does not grow. A client that keeps up gets every message, even when the server itself
 * is briefly behind. Same results as peer_send. */
int peer_send_latest(struct peer *p, struct msgbuf *m, uint64_t key);
/* Queues one message to each peer of a set; the message is shared, never copied. Returns how
 * many peers took it. */
size_t peer_send_many(struct peer *const *peers, size_t n, struct msgbuf *m);
/* True when an error event may be sent now (at most a few per second); counts refusals. */
bool peer_take_error_budget(struct peer *p, uint64_t now_ms);

/* For the transport: the next message to write, still queued (borrowed), or NULL. */
const struct msgbuf *peer_peek(const struct peer *p);
/* For the transport: the next message to write (the caller now owns that reference), or NULL. */
struct msgbuf *peer_pop(struct peer *p);
/* Closes the connection with code and reason once the messages already queued are written
 * (so a reply sent just before still arrives); nothing more is accepted. Idempotent. */
void peer_close(struct peer *p, int code, const char *reason);
/* For the transport, when the socket is gone: drops the queue and the transport link, and
 * lets the router give back the user's share the connection held (on_turn). Does not drop the
 * transport's reference. */
void peer_detach(struct peer *p);

/* A request of this connection ended (core/op.c, for every op_ctx): counts it down and, when
 * requests wait their turn or a share (the address's, the user's) counts more requests than
 * the connection now has in flight, tells the router (on_turn). A decrement and a few tests
 * of fields of p. */
static inline void peer_request_done(struct peer *p)
{
    if (p->in_flight) {
        p->in_flight--;
    }
    if (((p->n_waiting && !p->turn_listed) || p->share_counted > p->in_flight ||
         p->user_counted > p->in_flight) &&
        p->on_turn) {
        p->on_turn(p, p->on_turn_ctx);
    }
}
/* Appends a copy of a request frame to the waiting line. */
void peer_wait_push(struct peer *p, const unsigned char *frame, size_t len);
/* The oldest waiting frame (the caller frees it), or NULL. */
struct peer_frame *peer_wait_pop(struct peer *p);
/* Drops every waiting frame. */
void peer_wait_drop(struct peer *p);
