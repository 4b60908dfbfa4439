/* Unit tests for core/peer: the bounded, shared send queue, waking and closing the transport,
 * and the error-event budget. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/log.h"
#include "core/peer.h"

struct fake_tx {
    bool backlogged;
    int flush_takes;  /* messages fake_flush writes */
    int flushes;
    int wakes;
    int closes;
    int close_code;
    char reason[64];
};

static void fake_wake(void *ctx)
{
    ((struct fake_tx *)ctx)->wakes++;
}

static void fake_close(void *ctx, int code, const char *reason)
{
    struct fake_tx *t = ctx;
    t->closes++;
    t->close_code = code;
    strncpy(t->reason, reason ? reason : "", sizeof t->reason - 1);
}

static const struct peer_transport fake_transport = { .wake = fake_wake, .close = fake_close };

/* A transport whose flush writes (pops) up to fake_tx.flush_takes queued messages. */
static struct peer *flushing_peer;

static void fake_flush(void *ctx)
{
    struct fake_tx *t = ctx;
    t->flushes++;
    for (int i = 0; i < t->flush_takes; i++) {
        msgbuf_unref(peer_pop(flushing_peer));
    }
}

static const struct peer_transport fake_transport_flush = {
    .wake = fake_wake, .close = fake_close, .flush = fake_flush,
};

/* A transport that says whether the connection is backed up (fake_tx.backlogged). */
static bool fake_backlogged(void *ctx)
{
    return ((struct fake_tx *)ctx)->backlogged;
}

static const struct peer_transport fake_transport_bl = {
    .wake = fake_wake, .close = fake_close, .backlogged = fake_backlogged,
};

/* A message whose payload is one byte, tag, so that order can be checked. */
static struct msgbuf *msg(unsigned char tag)
{
    struct msgbuf *m = msgbuf_new(1);
    msgbuf_append(m, &tag, 1);
    return m;
}

static unsigned char tag_of(struct msgbuf *m)
{
    assert_int_equal(m->len, 1);
    return msgbuf_data(m)[0];
}

/* Pops the next message, checks its tag and drops it. */
static void pop_expect(struct peer *p, unsigned char tag)
{
    struct msgbuf *m = peer_pop(p);
    assert_non_null(m);
    assert_int_equal(tag_of(m), tag);
    msgbuf_unref(m);
}

static void test_send_queues_and_wakes_once_per_empty_to_non_empty(void **state)
{
    (void)state;
    struct fake_tx tx = { 0 };
    struct peer *p = peer_new(1, &fake_transport, &tx, 16);
    assert_int_equal(p->refs, 1);
    assert_false(p->closed);
    for (unsigned char i = 0; i < 3; i++) {
        struct msgbuf *m = msg(i);
        assert_int_equal(peer_send(p, m), 0);
        msgbuf_unref(m);
    }
    assert_int_equal(tx.wakes, 1);
    assert_int_equal(p->len, 3);
    assert_int_equal(p->queued_bytes, 3);
    pop_expect(p, 0);
    pop_expect(p, 1);
    struct msgbuf *m = msg(9);
    assert_int_equal(peer_send(p, m), 0); /* not empty: no new wake */
    msgbuf_unref(m);
    assert_int_equal(tx.wakes, 1);
    pop_expect(p, 2);
    pop_expect(p, 9);
    assert_null(peer_pop(p));
    assert_int_equal(p->queued_bytes, 0);
    m = msg(10);
    assert_int_equal(peer_send(p, m), 0); /* empty again: wake */
    msgbuf_unref(m);
    assert_int_equal(tx.wakes, 2);
    assert_int_equal(tx.closes, 0);
    peer_unref(p); /* frees the queued message */
}

static void test_queue_keeps_order_across_growth_and_wrap_around(void **state)
{
    (void)state;
    struct fake_tx tx = { 0 };
    struct peer *p = peer_new(1, &fake_transport, &tx, 64);
    unsigned char next_in = 0, next_out = 0;
    /* interleave sends and pops so the ring wraps while it grows and shrinks */
    static const int pattern[][2] = { { 3, 2 }, { 5, 1 }, { 9, 4 }, { 20, 25 }, { 7, 3 },
                                      { 40, 30 }, { 1, 14 }, { 58, 64 } };
    for (size_t s = 0; s < sizeof pattern / sizeof pattern[0]; s++) {
        for (int i = 0; i < pattern[s][0]; i++) {
            struct msgbuf *m = msg(next_in++);
            assert_int_equal(peer_send(p, m), 0);
            msgbuf_unref(m);
        }
        for (int i = 0; i < pattern[s][1]; i++) {
            pop_expect(p, next_out++);
        }
        assert_int_equal(p->len, (uint32_t)(unsigned char)(next_in - next_out));
        assert_true(p->cap <= p->max);
    }
    assert_null(peer_pop(p));
    assert_int_equal(tx.closes, 0);
    peer_unref(p);
}

/* A full queue is written out before the peer is judged: a client that sent many requests
 * at once is not slow. When the flush can write nothing (the socket is full), it is. */
static void test_full_queue_is_flushed_before_the_peer_counts_as_slow(void **state)
{
    (void)state;
    struct fake_tx tx = { .flush_takes = 4 };
    struct peer *p = flushing_peer = peer_new(1, &fake_transport_flush, &tx, 4);
    for (unsigned char i = 0; i < 10; i++) {
        struct msgbuf *m = msg(i);
        assert_int_equal(peer_send(p, m), 0);
        msgbuf_unref(m);
    }
    assert_int_equal(tx.flushes, 2);
    assert_int_equal(tx.closes, 0);
    pop_expect(p, 8);
    pop_expect(p, 9);
    tx.flush_takes = 0; /* backed up: nothing can be written */
    for (unsigned char i = 0; i < 4; i++) {
        struct msgbuf *m = msg(i);
        assert_int_equal(peer_send(p, m), 0);
        msgbuf_unref(m);
    }
    struct msgbuf *m = msg(99);
    assert_int_equal(peer_send(p, m), PEER_E_FULL);
    msgbuf_unref(m);
    assert_int_equal(tx.closes, 1);
    assert_string_equal(tx.reason, "too slow");
    peer_unref(p);
    flushing_peer = NULL;
}

static void test_queue_keeps_order_when_max_is_not_a_power_of_two(void **state)
{
    (void)state;
    struct fake_tx tx = { 0 };
    struct peer *p = peer_new(1, &fake_transport, &tx, 6);
    unsigned char in = 0, out = 0;
    for (int round = 0; round < 20; round++) {
        /* fill to the brim from a moving head, then drain most of it */
        while (p->len < 6) {
            struct msgbuf *m = msg(in++);
            assert_int_equal(peer_send(p, m), 0);
            msgbuf_unref(m);
        }
        assert_true(p->cap <= 6);
        for (int i = 0; i < 1 + round % 5; i++) {
            pop_expect(p, out++);
        }
    }
    assert_int_equal(tx.closes, 0);
    peer_unref(p);
}

static void test_message_sent_to_three_peers_is_shared_not_copied(void **state)
{
    (void)state;
    struct fake_tx tx[3] = { { 0 } };
    struct peer *peers[3];
    for (int i = 0; i < 3; i++) {
        peers[i] = peer_new((uint64_t)i, &fake_transport, &tx[i], 16);
    }
    struct msgbuf *m = msg(7);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(peer_send(peers[i], m), 0);
    }
    assert_int_equal(m->refs, 4);
    for (int i = 0; i < 3; i++) {
        struct msgbuf *got = peer_pop(peers[i]);
        assert_ptr_equal(got, m);
        msgbuf_unref(got);
        assert_int_equal(m->refs, 3 - i);
        assert_int_equal(tx[i].wakes, 1);
    }
    assert_int_equal(m->refs, 1);
    msgbuf_unref(m);
    for (int i = 0; i < 3; i++) {
        peer_unref(peers[i]);
    }
}

static void test_send_many_returns_how_many_took_it(void **state)
{
    (void)state;
    struct fake_tx tx[4] = { { 0 } };
    struct peer *peers[4];
    for (int i = 0; i < 4; i++) {
        peers[i] = peer_new((uint64_t)i, &fake_transport, &tx[i], 16);
    }
    peer_close(peers[1], PEER_CLOSE_GOING_AWAY, "bye");
    peer_detach(peers[3]);
    struct msgbuf *m = msg(1);
    assert_int_equal(peer_send_many(peers, 4, m), 2);
    assert_int_equal(m->refs, 3);
    assert_int_equal(peer_send_many(peers, 0, m), 0);
    assert_int_equal(peer_send_many(peers, 1, m), 1);
    assert_int_equal(m->refs, 4);
    for (int i = 0; i < 4; i++) {
        peer_unref(peers[i]);
    }
    assert_int_equal(m->refs, 1);
    msgbuf_unref(m);
}

static void test_full_queue_closes_slow_peer_with_1008(void **state)
{
    (void)state;
    struct fake_tx tx = { 0 };
    struct peer *p = peer_new(1, &fake_transport, &tx, 8);
    struct msgbuf *m = msg(1);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(peer_send(p, m), 0);
    }
    assert_int_equal(m->refs, 9);
    assert_int_equal(tx.closes, 0);
    assert_int_equal(peer_send(p, m), PEER_E_FULL);
    assert_int_equal(tx.closes, 1);
    assert_int_equal(tx.close_code, 1008);
    assert_int_equal(tx.close_code, PEER_CLOSE_POLICY);
    assert_string_equal(tx.reason, "too slow");
    assert_true(p->closed);
    /* the queue was dropped with its references */
    assert_int_equal(p->len, 0);
    assert_int_equal(p->queued_bytes, 0);
    assert_int_equal(m->refs, 1);
    assert_null(peer_pop(p));
    /* later sends are refused without closing again */
    assert_int_equal(peer_send(p, m), PEER_E_CLOSED);
    assert_int_equal(peer_send(p, m), PEER_E_CLOSED);
    assert_int_equal(tx.closes, 1);
    assert_int_equal(m->refs, 1);
    msgbuf_unref(m);
    peer_unref(p);
}

static void test_queue_full_at_max_of_one(void **state)
{
    (void)state;
    struct fake_tx tx = { 0 };
    struct peer *p = peer_new(1, &fake_transport, &tx, 1);
    struct msgbuf *m = msg(1);
    assert_int_equal(peer_send(p, m), 0);
    assert_int_equal(peer_send(p, m), PEER_E_FULL);
    assert_int_equal(tx.closes, 1);
    msgbuf_unref(m);
    peer_unref(p);
}

static void test_max_queue_zero_or_negative_means_256(void **state)
{
    (void)state;
    struct peer *p = peer_new(1, NULL, NULL, 0);
    assert_int_equal(p->max, 256);
    peer_unref(p);
    p = peer_new(1, NULL, NULL, -5);
    assert_int_equal(p->max, 256);
    struct msgbuf *m = msg(1);
    for (int i = 0; i < 256; i++) {
        assert_int_equal(peer_send(p, m), 0);
    }
    assert_int_equal(peer_send(p, m), PEER_E_FULL);
    assert_true(p->closed);
    msgbuf_unref(m);
    peer_unref(p);
}

static void test_close_keeps_queued_messages_and_refuses_new_ones(void **state)
{
    (void)state;
    struct fake_tx tx = { 0 };
    struct peer *p = peer_new(1, &fake_transport, &tx, 16);
    struct msgbuf *a = msg(1);
    struct msgbuf *b = msg(2);
    assert_int_equal(peer_send(p, a), 0);
    assert_int_equal(peer_send(p, b), 0);
    peer_close(p, PEER_CLOSE_GOING_AWAY, "shutting down");
    assert_true(p->closed);
    assert_int_equal(tx.closes, 1);
    assert_int_equal(tx.close_code, 1001);
    assert_string_equal(tx.reason, "shutting down");
    /* a reply queued just before the close is still written */
    assert_int_equal(p->len, 2);
    assert_int_equal(peer_send(p, a), PEER_E_CLOSED);
    assert_int_equal(a->refs, 2);
    pop_expect(p, 1);
    pop_expect(p, 2);
    assert_null(peer_pop(p));
    assert_int_equal(a->refs, 1);
    assert_int_equal(b->refs, 1);
    msgbuf_unref(a);
    msgbuf_unref(b);
    peer_unref(p);
}

static void test_close_is_idempotent(void **state)
{
    (void)state;
    struct fake_tx tx = { 0 };
    struct peer *p = peer_new(1, &fake_transport, &tx, 16);
    peer_close(p, PEER_CLOSE_GOING_AWAY, "shutting down");
    peer_close(p, PEER_CLOSE_POLICY, "again");
    assert_int_equal(tx.closes, 1);
    assert_int_equal(tx.close_code, 1001);
    assert_string_equal(tx.reason, "shutting down");
    peer_unref(p);
}

static void test_unref_of_a_closed_peer_frees_what_it_still_queued(void **state)
{
    (void)state;
    struct fake_tx tx = { 0 };
    struct peer *p = peer_new(1, &fake_transport, &tx, 16);
    struct msgbuf *m = msg(1);
    assert_int_equal(peer_send(p, m), 0);
    assert_int_equal(peer_send(p, m), 0);
    peer_close(p, PEER_CLOSE_TRY_LATER, "restart");
    assert_int_equal(m->refs, 3);
    peer_unref(p);
    assert_int_equal(m->refs, 1);
    msgbuf_unref(m);
}

static void test_detach_drops_queue_and_transport(void **state)
{
    (void)state;
    struct fake_tx tx = { 0 };
    struct peer *p = peer_new(1, &fake_transport, &tx, 16);
    struct peer *held = peer_ref(p); /* e.g. an op waiting for the database */
    struct msgbuf *m = msg(1);
    assert_int_equal(peer_send(p, m), 0);
    assert_int_equal(m->refs, 2);
    peer_detach(p);
    assert_true(p->closed);
    assert_null(p->tx);
    assert_int_equal(p->len, 0);
    assert_int_equal(m->refs, 1);
    assert_int_equal(tx.closes, 0); /* the socket is already gone */
    assert_int_equal(peer_send(p, m), PEER_E_CLOSED);
    peer_close(p, PEER_CLOSE_POLICY, "x"); /* no transport left to call */
    assert_int_equal(tx.closes, 0);
    assert_int_equal(tx.wakes, 1);
    peer_unref(p); /* the transport's reference */
    assert_int_equal(held->refs, 1);
    peer_unref(held);
    msgbuf_unref(m);
}

static void test_unref_frees_queued_messages_only_at_last_reference(void **state)
{
    (void)state;
    struct fake_tx tx = { 0 };
    struct peer *p = peer_new(1, &fake_transport, &tx, 16);
    peer_ref(p);
    struct msgbuf *m = msg(1);
    assert_int_equal(peer_send(p, m), 0);
    peer_unref(p);
    assert_int_equal(p->refs, 1);
    assert_int_equal(m->refs, 2);
    peer_unref(p);
    assert_int_equal(m->refs, 1);
    msgbuf_unref(m);
    peer_unref(NULL);
}

/* A client that keeps up gets every position, even while the server has several queued for
 * it (the server, not the client, is behind). */
static void test_latest_keeps_every_message_while_not_backlogged(void **state)
{
    (void)state;
    struct fake_tx tx = { 0 };
    struct peer *p = peer_new(1, &fake_transport_bl, &tx, 16);
    struct msgbuf *a = msg(1), *b = msg(2), *c = msg(3);
    assert_int_equal(peer_send_latest(p, a, 7), 0);
    assert_int_equal(peer_send_latest(p, b, 7), 0);
    assert_int_equal(peer_send_latest(p, c, 7), 0);
    assert_int_equal(p->len, 3);
    assert_int_equal(p->coalesced, 0);
    pop_expect(p, 1);
    pop_expect(p, 2);
    pop_expect(p, 3);
    msgbuf_unref(a);
    msgbuf_unref(b);
    msgbuf_unref(c);
    peer_unref(p);
}

/* Backed up: a newer message with the same key replaces the waiting one in its place; other
 * keys and plain messages keep theirs, and the bytes follow. */
static void test_latest_replaces_same_key_in_place_when_backlogged(void **state)
{
    (void)state;
    struct fake_tx tx = { .backlogged = true };
    struct peer *p = peer_new(1, &fake_transport_bl, &tx, 16);
    struct msgbuf *pos1 = msg(1), *other = msg(2), *reply = msg(3), *pos2 = msgbuf_new(4);
    msgbuf_append(pos2, "\x04xyz", 4);
    assert_int_equal(peer_send_latest(p, pos1, 7), 0);
    assert_int_equal(peer_send_latest(p, other, 8), 0);
    assert_int_equal(peer_send(p, reply), 0);
    assert_int_equal(peer_send_latest(p, pos2, 7), 0);
    assert_int_equal(p->len, 3);
    assert_int_equal(p->coalesced, 1);
    assert_int_equal(p->queued_bytes, 4 + 1 + 1);
    assert_int_equal(pos1->refs, 1); /* the queue let go of it */
    struct msgbuf *m = peer_pop(p);
    assert_ptr_equal(m, pos2);
    msgbuf_unref(m);
    pop_expect(p, 2);
    pop_expect(p, 3);
    /* Backed up or not, a key with nothing waiting is queued. */
    assert_int_equal(peer_send_latest(p, pos1, 7), 0);
    assert_int_equal(p->len, 1);
    msgbuf_unref(pos1);
    msgbuf_unref(other);
    msgbuf_unref(reply);
    msgbuf_unref(pos2);
    peer_unref(p);
}

/* A burst the client cannot take at once: past half the queue, positions replace each other
 * even though the socket is not backed up, and the queue never fills. */
static void test_latest_replaces_past_half_the_queue(void **state)
{
    (void)state;
    struct fake_tx tx = { 0 };
    struct peer *p = peer_new(1, &fake_transport_bl, &tx, 8);
    struct msgbuf *m[10];
    for (int i = 0; i < 10; i++) {
        m[i] = msg((unsigned char)i);
        assert_int_equal(peer_send_latest(p, m[i], 7), 0);
    }
    assert_int_equal(p->len, 4);
    assert_int_equal(p->coalesced, 6);
    assert_int_equal(tx.closes, 0);
    pop_expect(p, 0);
    pop_expect(p, 1);
    pop_expect(p, 2);
    pop_expect(p, 9);
    for (int i = 0; i < 10; i++) {
        msgbuf_unref(m[i]);
    }
    peer_unref(p);
}

/* Without the hook, latest-wins messages always replace a waiting one with the same key. */
static void test_latest_without_backlog_hook_always_replaces(void **state)
{
    (void)state;
    struct fake_tx tx = { 0 };
    struct peer *p = peer_new(1, &fake_transport, &tx, 16);
    struct msgbuf *a = msg(1), *b = msg(2);
    assert_int_equal(peer_send_latest(p, a, 7), 0);
    assert_int_equal(peer_send_latest(p, b, 7), 0);
    assert_int_equal(p->len, 1);
    pop_expect(p, 2);
    msgbuf_unref(a);
    msgbuf_unref(b);
    peer_unref(p);
}

static void test_peer_without_transport_queues_and_closes_silently(void **state)
{
    (void)state;
    struct peer *p = peer_new(1, NULL, NULL, 8);
    struct msgbuf *m = msg(1);
    for (int i = 0; i < 8; i++) {
        assert_int_equal(peer_send(p, m), 0);
    }
    assert_int_equal(peer_send(p, m), PEER_E_FULL);
    assert_true(p->closed);
    msgbuf_unref(m);
    peer_unref(p);
}

static void test_queued_bytes_follow_message_sizes(void **state)
{
    (void)state;
    struct peer *p = peer_new(1, NULL, NULL, 8);
    struct msgbuf *a = msgbuf_new(10);
    msgbuf_append(a, "0123456789", 10);
    struct msgbuf *b = msgbuf_new(1000);
    static char big[1000];
    msgbuf_append(b, big, sizeof big);
    assert_int_equal(peer_send(p, a), 0);
    assert_int_equal(peer_send(p, b), 0);
    assert_int_equal(p->queued_bytes, 1010);
    msgbuf_unref(peer_pop(p));
    assert_int_equal(p->queued_bytes, 1000);
    msgbuf_unref(peer_pop(p));
    assert_int_equal(p->queued_bytes, 0);
    msgbuf_unref(a);
    msgbuf_unref(b);
    peer_unref(p);
}

/* --- Error budget: a burst of 5, then 5 per second --- */

static void test_error_budget_allows_burst_of_5_then_refuses(void **state)
{
    (void)state;
    struct peer *p = peer_new(1, NULL, NULL, 8);
    const uint64_t t = 1700000000000ull;
    for (int i = 0; i < 5; i++) {
        assert_true(peer_take_error_budget(p, t));
    }
    assert_false(peer_take_error_budget(p, t));
    assert_false(peer_take_error_budget(p, t));
    assert_int_equal(p->error_events_dropped, 2);
    peer_unref(p);
}

static void test_error_budget_refills_at_5_per_second(void **state)
{
    (void)state;
    struct peer *p = peer_new(1, NULL, NULL, 8);
    const uint64_t t = 1000000;
    for (int i = 0; i < 5; i++) {
        assert_true(peer_take_error_budget(p, t));
    }
    assert_false(peer_take_error_budget(p, t));       /* 0 tokens */
    assert_false(peer_take_error_budget(p, t + 100)); /* 0.5 */
    assert_true(peer_take_error_budget(p, t + 300));  /* 1.5, takes one */
    assert_false(peer_take_error_budget(p, t + 300)); /* 0.5 */
    assert_true(peer_take_error_budget(p, t + 500));  /* 1.5 */
    assert_int_equal(p->error_events_dropped, 3);
    peer_unref(p);
}

static void test_error_budget_burst_is_capped_after_long_idle(void **state)
{
    (void)state;
    struct peer *p = peer_new(1, NULL, NULL, 8);
    uint64_t t = 5000;
    assert_true(peer_take_error_budget(p, t));
    t += 3600 * 1000; /* an hour later: still only 5 */
    for (int i = 0; i < 5; i++) {
        assert_true(peer_take_error_budget(p, t));
    }
    assert_false(peer_take_error_budget(p, t));
    assert_int_equal(p->error_events_dropped, 1);
    peer_unref(p);
}

static void test_error_budget_starts_full_at_time_zero(void **state)
{
    (void)state;
    struct peer *p = peer_new(1, NULL, NULL, 8);
    for (int i = 0; i < 5; i++) {
        assert_true(peer_take_error_budget(p, 0));
    }
    assert_false(peer_take_error_budget(p, 0));
    peer_unref(p);
}

static void test_error_budget_does_not_refill_when_the_clock_goes_back(void **state)
{
    (void)state;
    struct peer *p = peer_new(1, NULL, NULL, 8);
    const uint64_t t = 10000000;
    for (int i = 0; i < 5; i++) {
        assert_true(peer_take_error_budget(p, t));
    }
    assert_false(peer_take_error_budget(p, t - 5000));
    assert_false(peer_take_error_budget(p, t - 5000));
    assert_int_equal(p->error_events_dropped, 2);
    peer_unref(p);
}

static void test_error_budget_is_per_peer(void **state)
{
    (void)state;
    struct peer *a = peer_new(1, NULL, NULL, 8);
    struct peer *b = peer_new(2, NULL, NULL, 8);
    for (int i = 0; i < 6; i++) {
        peer_take_error_budget(a, 1000);
    }
    assert_true(peer_take_error_budget(b, 1000));
    assert_int_equal(b->error_events_dropped, 0);
    assert_int_equal(a->error_events_dropped, 1);
    peer_unref(a);
    peer_unref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_send_queues_and_wakes_once_per_empty_to_non_empty),
        cmocka_unit_test(test_queue_keeps_order_across_growth_and_wrap_around),
        cmocka_unit_test(test_queue_keeps_order_when_max_is_not_a_power_of_two),
        cmocka_unit_test(test_message_sent_to_three_peers_is_shared_not_copied),
        cmocka_unit_test(test_send_many_returns_how_many_took_it),
        cmocka_unit_test(test_full_queue_closes_slow_peer_with_1008),
        cmocka_unit_test(test_queue_full_at_max_of_one),
        cmocka_unit_test(test_max_queue_zero_or_negative_means_256),
        cmocka_unit_test(test_close_keeps_queued_messages_and_refuses_new_ones),
        cmocka_unit_test(test_close_is_idempotent),
        cmocka_unit_test(test_unref_of_a_closed_peer_frees_what_it_still_queued),
        cmocka_unit_test(test_detach_drops_queue_and_transport),
        cmocka_unit_test(test_unref_frees_queued_messages_only_at_last_reference),
        cmocka_unit_test(test_full_queue_is_flushed_before_the_peer_counts_as_slow),
        cmocka_unit_test(test_latest_keeps_every_message_while_not_backlogged),
        cmocka_unit_test(test_latest_replaces_same_key_in_place_when_backlogged),
        cmocka_unit_test(test_latest_replaces_past_half_the_queue),
        cmocka_unit_test(test_latest_without_backlog_hook_always_replaces),
        cmocka_unit_test(test_peer_without_transport_queues_and_closes_silently),
        cmocka_unit_test(test_queued_bytes_follow_message_sizes),
        cmocka_unit_test(test_error_budget_allows_burst_of_5_then_refuses),
        cmocka_unit_test(test_error_budget_refills_at_5_per_second),
        cmocka_unit_test(test_error_budget_burst_is_capped_after_long_idle),
        cmocka_unit_test(test_error_budget_starts_full_at_time_zero),
        cmocka_unit_test(test_error_budget_does_not_refill_when_the_clock_goes_back),
        cmocka_unit_test(test_error_budget_is_per_peer),
    };
    log_set_level(LOG_ERROR); /* the slow-peer warnings are expected here */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
