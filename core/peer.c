/* Connected clients and their bounded send queues (see peer.h). */
#include "core/peer.h"

#include <string.h>

#include "core/log.h"
#include "core/xalloc.h"

/* Error events: a burst of 5, refilled at 5 per second. */
#define ERROR_EVENT_BURST 5.0
#define ERROR_EVENT_PER_S 5.0

struct peer *peer_new(uint64_t id, const struct peer_transport *tx, void *tx_ctx, int max_queue)
{
    struct peer *p = xcalloc(1, sizeof *p);
    p->refs = 1;
    p->id = id;
    p->max = max_queue > 0 ? (uint32_t)max_queue : 256;
    p->err_tokens = ERROR_EVENT_BURST;
    p->tx = tx;
    p->tx_ctx = tx_ctx;
    return p;
}

struct peer *peer_ref(struct peer *p)
{
    p->refs++;
    return p;
}

static void drop_queue(struct peer *p)
{
    while (p->len) {
        msgbuf_unref(peer_pop(p));
    }
    free(p->ring);
    p->ring = NULL;
    p->cap = 0;
    p->head = 0;
}

void peer_unref(struct peer *p)
{
    if (!p || --p->refs > 0) {
        return;
    }
    drop_queue(p);
    peer_wait_drop(p);
    free(p);
}

static int enqueue(struct peer *p, struct msgbuf *m, uint64_t key);

int peer_send(struct peer *p, struct msgbuf *m)
{
    return enqueue(p, m, 0);
}

int peer_send_latest(struct peer *p, struct msgbuf *m, uint64_t key)
{
    if (p->closed) {
        return PEER_E_CLOSED;
    }
    /* Half the queue is the most a burst may take before positions replace each other even
     * for a client that reads: the other half stays for replies. (Nothing waiting, nothing to
     * replace: the transport is not asked.) */
    bool may_replace = key && p->len > 0 &&
                      (!p->tx || !p->tx->backlogged || p->len >= p->max / 2 ||
                       p->tx->backlogged(p->tx_ctx));
    /* The newest waiting one with this key is replaced, so what arrives stays in order. */
    for (uint32_t i = p->len; may_replace && i-- > 0;) {
        struct peer_slot *slot = &p->ring[(p->head + i) % p->cap];
        if (slot->key == key) {
            p->queued_bytes += m->len - slot->msg->len;
            msgbuf_unref(slot->msg);
            slot->msg = msgbuf_ref(m);
            p->coalesced++;
            return 0;
        }
    }
    return enqueue(p, m, key);
}

static int enqueue(struct peer *p, struct msgbuf *m, uint64_t key)
{
    if (p->closed) {
        return PEER_E_CLOSED;
    }
    if (p->len == p->max && p->tx && p->tx->flush) {
        p->tx->flush(p->tx_ctx);
    }
    if (p->len == p->max) {
        log_event(LOG_WARN, "peer", "send queue full, closing slow connection",
                  "conn=%llu queued=%u bytes=%zu", (unsigned long long)p->id, p->len,
                  p->queued_bytes);
        drop_queue(p);
        peer_close(p, PEER_CLOSE_POLICY, "too slow");
        return PEER_E_FULL;
    }
    /* The ring starts small and grows: most connections never have more than one or two
     * messages in flight, and idle ones should cost little memory. */
    if (p->len == p->cap) {
        uint32_t cap = p->cap ? p->cap * 2 : 4;
        if (cap > p->max) {
            cap = p->max;
        }
        struct peer_slot *ring = xmalloc(sizeof *ring * cap);
        for (uint32_t i = 0; i < p->len; i++) {
            ring[i] = p->ring[(p->head + i) % p->cap];
        }
        free(p->ring);
        p->ring = ring;
        p->cap = cap;
        p->head = 0;
    }
    p->ring[(p->head + p->len) % p->cap] = (struct peer_slot){ .msg = msgbuf_ref(m), .key = key };
    p->len++;
    p->queued_bytes += m->len;
    if (p->len == 1 && p->tx) {
        p->tx->wake(p->tx_ctx);
    }
    return 0;
}

size_t peer_send_many(struct peer *const *peers, size_t n, struct msgbuf *m)
{
    size_t sent = 0;
    for (size_t i = 0; i < n; i++) {
        if (peer_send(peers[i], m) == 0) {
            sent++;
        }
    }
    return sent;
}

bool peer_take_error_budget(struct peer *p, uint64_t now_ms)
{
    if (now_ms > p->err_refill_ms) {
        p->err_tokens += (double)(now_ms - p->err_refill_ms) * ERROR_EVENT_PER_S / 1000.0;
        if (p->err_tokens > ERROR_EVENT_BURST) {
            p->err_tokens = ERROR_EVENT_BURST;
        }
    }
    p->err_refill_ms = now_ms;
    if (p->err_tokens >= 1.0) {
        p->err_tokens -= 1.0;
        return true;
    }
    p->error_events_dropped++;
    return false;
}

const struct msgbuf *peer_peek(const struct peer *p)
{
    return p->len ? p->ring[p->head].msg : NULL;
}

struct msgbuf *peer_pop(struct peer *p)
{
    if (p->len == 0) {
        return NULL;
    }
    struct msgbuf *m = p->ring[p->head].msg;
    p->head = (p->head + 1) % p->cap;
    p->len--;
    p->queued_bytes -= m->len;
    if (p->len == 0 && p->cap > 4) {
        /* Give back the memory a burst needed. */
        free(p->ring);
        p->ring = NULL;
        p->cap = 0;
        p->head = 0;
    }
    return m;
}

void peer_close(struct peer *p, int code, const char *reason)
{
    if (p->closed) {
        return;
    }
    p->closed = true;
    peer_wait_drop(p);
    if (p->tx) {
        p->tx->close(p->tx_ctx, code, reason);
    }
}

void peer_detach(struct peer *p)
{
    p->closed = true;
    drop_queue(p);
    peer_wait_drop(p);
    p->tx = NULL;
    p->tx_ctx = NULL;
    if (p->user_share && p->on_turn) {
        p->on_turn(p, p->on_turn_ctx);
    }
}

void peer_wait_push(struct peer *p, const unsigned char *frame, size_t len)
{
    struct peer_frame *f = xmalloc(sizeof *f + len);
    f->next = NULL;
    f->len = len;
    memcpy(f->data, frame, len);
    if (p->wait_tail) {
        p->wait_tail->next = f;
    } else {
        p->wait_head = f;
    }
    p->wait_tail = f;
    p->n_waiting++;
    p->waiting_bytes += len;
}

struct peer_frame *peer_wait_pop(struct peer *p)
{
    struct peer_frame *f = p->wait_head;
    if (!f) {
        return NULL;
    }
    p->wait_head = f->next;
    if (!p->wait_head) {
        p->wait_tail = NULL;
    }
    p->n_waiting--;
    p->waiting_bytes -= f->len;
    return f;
}

void peer_wait_drop(struct peer *p)
{
    struct peer_frame *f;
    while ((f = peer_wait_pop(p))) {
        free(f);
    }
}
