/* Many clients at once: 1,000 WebSocket connections open together, each gets its ping
 * answered, and the server's connection count returns to zero when they leave. */
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

/* The classment_connections gauge, or -1 when /metrics does not answer with it. */
static double connections_gauge(int port)
{
    int status = 0;
    char *body = NULL;
    double v = -1;
    if (harness_http_get(port, "/metrics", 5000, &status, &body) == 0 && status == 200) {
        const char *line = strstr(body, "\nclassment_connections ");
        if (line) {
            v = strtod(line + strlen("\nclassment_connections "), NULL);
        }
    }
    free(body);
    return v;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_thousand_concurrent_connections_each_get_a_ping_reply,
                                        setup_many, harness_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
