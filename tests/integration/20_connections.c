/* Many clients at once: 1,000 WebSocket connections open together, each gets its ping
 * answered, and the server's connection count returns to zero when they leave. A client that
 * stops reading gets everything queued for it, intact and in order, when it reads again.
 * Keep-alive: a client that answers the server's pings stays; one that is silent for three
 * heartbeat periods is dropped. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tclient.h"
#include "tests/support/tsys.h"

#define N_CLIENTS 1000

/* The test and the server each hold one socket per client, plus a few. */
static int setup_many(void **state)
{
    if (harness_raise_fd_limit(N_CLIENTS + 256) != 0) {
        return -1;
    }
    return harness_setup(state);
}

static double connections_gauge(int port)
{
    return tauth_metric(port, "classment_connections");
}

static void test_thousand_concurrent_connections_each_get_a_ping_reply(void **state)
{
    int port = harness_port(*state);
    struct wsclient **c = calloc(N_CLIENTS, sizeof *c);
    uint64_t t0 = tsys_mono_ms();
    for (int i = 0; i < N_CLIENTS; i++) {
        c[i] = wsclient_new(port);
        if (!c[i]) {
            fail_msg("connection %d of %d failed", i + 1, N_CLIENTS);
        }
    }
    uint64_t t_open = tsys_mono_ms();
    for (int i = 0; i < N_CLIENTS; i++) {
        struct tmsg *m = tclient_recv(c[i], 5000);
        if (!tmsg_is_event(m, "hello")) {
            fail_msg("connection %d: expected hello, got %s", i, tmsg_text(m));
        }
        tmsg_free(m);
    }
    /* Whether the gauge also counts the HTTP request that reads it is not specified. */
    double open_gauge = connections_gauge(port);
    if (open_gauge < N_CLIENTS || open_gauge > N_CLIENTS + 1) {
        fail_msg("classment_connections is %g with %d clients connected", open_gauge,
                 N_CLIENTS);
    }
    /* Every ping is sent before any reply is read, so the server has them all in flight. */
    for (int i = 0; i < N_CLIENTS; i++) {
        assert_int_equal(tclient_send(c[i], "{id: %u, op: sys.ping}", (unsigned)i), 0);
    }
    int replies = 0;
    for (int i = 0; i < N_CLIENTS; i++) {
        struct tmsg *m = tclient_recv(c[i], 10000);
        if (tmsg_is_success(m, (uint64_t)i)) {
            replies++;
        } else {
            fprintf(stderr, "connection %d: %s\n", i, tmsg_text(m));
        }
        tmsg_free(m);
    }
    uint64_t t_ping = tsys_mono_ms();
    assert_int_equal(replies, N_CLIENTS);
    /* Send every close first (a zero wait), then collect the server's answers. */
    for (int i = 0; i < N_CLIENTS; i++) {
        wsclient_close(c[i], 1000, 0);
    }
    for (int i = 0; i < N_CLIENTS; i++) {
        assert_int_equal(wsclient_close(c[i], 1000, 5000), 0);
        wsclient_free(c[i]);
    }
    uint64_t t_close = tsys_mono_ms();
    fprintf(stderr, "%d connections: open %llu ms, hello+ping %llu ms, close %llu ms\n",
            N_CLIENTS, (unsigned long long)(t_open - t0), (unsigned long long)(t_ping - t_open),
            (unsigned long long)(t_close - t_ping));
    free(c);
    /* The server notices every close and counts the connections down. */
    uint64_t deadline = tsys_mono_ms() + 5000;
    double gauge = -1;
    while ((gauge = connections_gauge(port)) > 1 && tsys_left_ms(deadline) > 0) {
        tsys_sleep_ms(100);
    }
    if (gauge < 0 || gauge > 1) {
        fail_msg("classment_connections is %g after every client left", gauge);
    }
    harness_passed(*state);
}

#define N_BURST 500

/* The client sends N_BURST pings without reading: the replies pile up in the server's queue
 * for it and leave several to a write. Each must arrive whole, once, in order. */
static void test_replies_queued_for_a_client_arrive_intact_and_in_order(void **state)
{
    int port = harness_port(*state);
    struct wsclient *c = tclient_open(port);
    assert_non_null(c);
    for (unsigned i = 1; i <= N_BURST; i++) {
        assert_int_equal(tclient_send(c, "{id: %u, op: sys.ping}", i), 0);
    }
    for (unsigned i = 1; i <= N_BURST; i++) {
        struct tmsg *m = tclient_recv(c, 5000);
        if (!tmsg_is_success(m, i)) {
            fail_msg("reply %u of %d: got %s", i, N_BURST, tmsg_text(m));
        }
        tmsg_free(m);
    }
    assert_true(tclient_quiet(c, 200));
    double batched = tauth_metric(port, "classment_batched_writes_total");
    fprintf(stderr, "%d replies; writes carrying several: %g\n", N_BURST, batched);
    assert_true(batched > 0);
    wsclient_free(c);
    harness_passed(*state);
}

#define HEARTBEAT_S 5

static int setup_heartbeat(void **state)
{
    static const char *const env[] = { "CLASSMENT_HEARTBEAT_S=5", NULL };
    struct harness_opts opts = { .env = env };
    struct harness *h = NULL;
    if (harness_start(&h, &opts) != 0) {
        return -1;
    }
    *state = h;
    return 0;
}

/* Two clients say nothing after their hello. One reads (and so answers the server's pings);
 * the other never reads, as a phone that lost its network. After four heartbeat periods the
 * silent one is gone and the answering one still works. */
static void test_silent_client_is_dropped_and_one_answering_pings_kept(void **state)
{
    int port = harness_port(*state);
    struct wsclient *live = tclient_open(port), *silent = tclient_open(port);
    assert_non_null(live);
    assert_non_null(silent);
    uint64_t deadline = tsys_mono_ms() + 4 * HEARTBEAT_S * 1000 + 1000;
    while (tsys_left_ms(deadline) > 0) {
        /* Reading answers pings; no message is expected. */
        struct wsclient_msg m;
        int r = wsclient_recv(live, &m, tsys_left_ms(deadline));
        if (r == 0) {
            fail_msg("the quiet client got a message (opcode %d): %s", m.opcode, m.data);
        }
        assert_int_equal(r, -ETIMEDOUT);
    }
    assert_true(tclient_ping(live, 7));
    assert_int_equal(tauth_metric(port, "classment_heartbeat_drops_total"), 1);
    /* The silent one finds its hello and a ping, then the end of the connection. */
    struct wsclient_msg m;
    int r;
    while ((r = wsclient_recv(silent, &m, 2000)) == 0) {
        assert_int_not_equal(m.opcode, WSCLIENT_OP_CLOSE);
        wsclient_msg_deinit(&m);
    }
    assert_int_equal(r, -ECONNRESET);
    wsclient_free(live);
    wsclient_free(silent);
    harness_passed(*state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_thousand_concurrent_connections_each_get_a_ping_reply,
                                        setup_many, harness_teardown),
        cmocka_unit_test_setup_teardown(test_replies_queued_for_a_client_arrive_intact_and_in_order,
                                        harness_setup, harness_teardown),
        cmocka_unit_test_setup_teardown(test_silent_client_is_dropped_and_one_answering_pings_kept,
                                        setup_heartbeat, harness_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
