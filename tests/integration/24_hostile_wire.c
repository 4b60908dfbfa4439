/* Hostile wire behaviour (issue 12): a client judged too slow that keeps talking is still
 * closed within a bound; a client cut off for streaming an over-size message or garbage reads
 * its close frame instead of a reset; an unmasked client frame is refused with 1002. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tcheck.h"
#include "tests/support/tclient.h"
#include "tests/support/tmsg.h"
#include "tests/support/tsys.h"
#include "tests/support/wsclient.h"

/* The server's bound for a closing connection (gateway/heartbeat.h: 3 s plus a sweep tick),
 * with room for a loaded machine. */
#define GONE_WITHIN_MS 10000

static const uint8_t test_mask[4] = { 0x5a, 0xc3, 0x17, 0x88 };

/* A buffer of n masked sys.ping frames, for streaming without a call per frame. */
static uint8_t *build_pings(size_t n, size_t *total)
{
    size_t len;
    uint8_t *ping = tmsg_build(&len, "{id: 1, op: sys.ping, args: {}}");
    assert_true(len < 126);
    uint8_t *buf = malloc(n * (len + 6));
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        at += wsclient_put_frame(buf + at, true, WSCLIENT_OP_BINARY, test_mask, ping, len);
    }
    free(ping);
    *total = at;
    return buf;
}

/* A raw client sends 250,000 sys.ping without reading a byte, so that its replies fill the
 * socket and then its send queue: it is judged too slow. It then sends one frame a second, as
 * a client that keeps talking. Its frames must not keep it alive: the connection is gone
 * within the bound after the judgement, and another client is served throughout. */
static void test_slow_client_that_keeps_talking_is_closed_within_bound(void **state)
{
    int port = harness_port(*state);
    struct wsclient *bystander = tclient_open(port);
    struct wsclient *c = wsclient_new(port);
    assert_non_null(bystander);
    assert_non_null(c);
    assert_int_equal(tauth_metric(port, "classment_connections"), 2);

    enum { BATCH = 10000, TOTAL = 250000 };
    size_t batch_len;
    uint8_t *batch = build_pings(BATCH, &batch_len);
    int sent = 0, r = 0;
    while (sent < TOTAL && (r = wsclient_send_raw(c, batch, batch_len)) == 0) {
        sent += BATCH;
    }
    free(batch);
    fprintf(stderr, "sent %d pings without reading (last send: %s)\n", sent,
            r ? strerror(-r) : "ok");
    /* Judged too slow: the send queue filled. */
    uint64_t deadline = tsys_mono_ms() + 5000;
    while (tauth_metric(port, "classment_slow_closes_total") < 1 && tsys_left_ms(deadline) > 0) {
        usleep(50 * 1000);
    }
    assert_true(tauth_metric(port, "classment_slow_closes_total") >= 1);
    uint64_t judged = tsys_mono_ms();

    /* One frame a second; the connection must go within the bound all the same. */
    size_t one_len;
    uint8_t *one = build_pings(1, &one_len);
    bool gone = false;
    while (!gone && tsys_mono_ms() - judged < GONE_WITHIN_MS) {
        if (wsclient_send_raw(c, one, one_len) != 0 ||
            tauth_metric(port, "classment_connections") == 1) {
            gone = true;
            break;
        }
        usleep(1000 * 1000);
    }
    free(one);
    uint64_t took = tsys_mono_ms() - judged;
    fprintf(stderr, "slow client %s %llu ms after it was judged too slow\n",
            gone ? "gone" : "still connected", (unsigned long long)took);
    assert_true(gone);
    deadline = tsys_mono_ms() + 3000;
    while (tauth_metric(port, "classment_connections") != 1 && tsys_left_ms(deadline) > 0) {
        usleep(50 * 1000);
    }
    assert_int_equal(tauth_metric(port, "classment_connections"), 1);
    /* Its close frame could not be written (it never read): dropped at the deadline. */
    assert_true(tauth_metric(port, "classment_close_timeouts_total") >= 1);
    assert_true(tclient_ping(bystander, 2));
    wsclient_free(c);
    wsclient_free(bystander);
    harness_passed(*state);
}

/* A client that never reads, its own receive buffer small, is judged too slow as soon as the
 * server's send buffer for it (CLASSMENT_SOCKET_SNDBUF, 128 KiB: the kernel makes it 256) and
 * its send queue are full: here after about 4,000 answers, against some 40,000 when the
 * kernel's autotuning lets the socket grow to 4 MiB (CLASSMENT_SOCKET_SNDBUF=0). The pings go
 * in paced batches, so the count sent is about the count answered. */
static void test_non_reading_client_is_judged_after_little(void **state)
{
    int port = harness_port(*state);
    long long before = tauth_metric(port, "classment_slow_closes_total");
    struct wsclient *c = wsclient_new(port);
    assert_non_null(c);
    int small = 4096;
    assert_int_equal(setsockopt(wsclient_fd(c), SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
    enum { BATCH = 500, LIMIT = 150000, JUDGED_WITHIN = 15000 };
    size_t batch_len;
    uint8_t *batch = build_pings(BATCH, &batch_len);
    int sent = 0;
    while (sent < LIMIT && tauth_metric(port, "classment_slow_closes_total") <= before) {
        if (wsclient_send_raw(c, batch, batch_len) != 0) {
            break; /* closed: the metric says why */
        }
        sent += BATCH;
        usleep(10 * 1000);
    }
    free(batch);
    uint64_t deadline = tsys_mono_ms() + 5000;
    while (tauth_metric(port, "classment_slow_closes_total") <= before && tsys_left_ms(deadline) > 0) {
        usleep(50 * 1000);
    }
    fprintf(stderr, "non-reading client judged too slow after %d pings\n", sent);
    assert_true(tauth_metric(port, "classment_slow_closes_total") > before);
    assert_true(sent <= JUDGED_WITHIN);
    wsclient_free(c);
    harness_passed(*state);
}

/* A client announces a 128 MiB frame and streams 56 MiB of it without reading: past the
 * 16 MiB the server reads and throws away, it is closed with 1009. Every byte it sends is
 * still taken (no reset cuts its stream off: the 40 MiB after the close are more than the
 * kernel's socket buffers hold, 32 MiB + 4 MiB at most here) and it then reads the too_large
 * error event and the 1009 close. */
static void test_oversize_stream_reads_1009_close_not_a_reset(void **state)
{
    int port = harness_port(*state);
    struct wsclient *c = tclient_open(port);
    assert_non_null(c);
    uint8_t header[14];
    size_t header_len = wsclient_put_header(header, true, WSCLIENT_OP_BINARY, test_mask,
                                            128ull << 20);
    assert_int_equal(wsclient_send_raw(c, header, header_len), 0);
    size_t chunk = 1 << 20, sent = 0;
    uint8_t *junk = calloc(1, chunk);
    int r = 0;
    while (sent < (56u << 20) && (r = wsclient_send_raw(c, junk, chunk)) == 0) {
        sent += chunk;
    }
    free(junk);
    fprintf(stderr, "streamed %zu MiB (last send: %s)\n", sent >> 20, r ? strerror(-r) : "ok");
    assert_int_equal(r, 0);
    int code = -1, n_events = 0;
    assert_int_equal(tclient_wait_close(c, 5000, &code, &n_events), 0);
    fprintf(stderr, "close code %d after %d error events\n", code, n_events);
    assert_int_equal(code, 1009);
    assert_int_equal(n_events, 1);
    wsclient_free(c);
    harness_passed(*state);
}

/* After the 31st malformed message in ten seconds the server closes with 1008. A client that
 * goes on sending for half a second before it reads finds every send taken and the close. */
static void test_garbage_then_more_reads_1008_close_not_a_reset(void **state)
{
    static const uint8_t invalid[] = { 0xc1 };
    int port = harness_port(*state);
    struct wsclient *c = tclient_open(port);
    assert_non_null(c);
    for (int i = 0; i < 31; i++) {
        assert_int_equal(wsclient_send(c, WSCLIENT_OP_BINARY, invalid, sizeof invalid), 0);
    }
    int failed = 0;
    for (int i = 0; i < 50; i++) {
        usleep(10 * 1000);
        if (wsclient_send(c, WSCLIENT_OP_BINARY, invalid, sizeof invalid) != 0) {
            failed++;
        }
    }
    fprintf(stderr, "%d of 50 sends after the close failed\n", failed);
    assert_int_equal(failed, 0);
    int code = -1;
    assert_int_equal(tclient_wait_close(c, 5000, &code, NULL), 0);
    assert_int_equal(code, 1008);
    wsclient_free(c);
    harness_passed(*state);
}

/* RFC 6455 5.1: the server must close the connection upon an unmasked client frame. */
static void test_unmasked_frame_gets_1002_close(void **state)
{
    int port = harness_port(*state);
    struct wsclient *c = tclient_open(port);
    assert_non_null(c);
    /* Masked frames with 16-bit lengths first, answered as ever: the server follows the
     * frames by their lengths and finds the unmasked one where it starts. */
    size_t len;
    char zeros[3000] = { 0 };
    for (unsigned id = 1; id <= 3; id++) {
        uint8_t *padded = tmsg_build(&len, "{id: %u, op: sys.ping, args: {pad: %b}}", id, zeros,
                                     (size_t)1000 * id);
        assert_int_equal(wsclient_send(c, WSCLIENT_OP_BINARY, padded, len), 0);
        free(padded);
        struct tmsg *r = tclient_reply(c, id, 5000);
        assert_non_null(r);
        tmsg_free(r);
    }
    uint8_t *ping = tmsg_build(&len, "{id: 5, op: sys.ping, args: {}}");
    assert_true(len < 126);
    uint8_t frame[2 + 125];
    frame[0] = 0x80 | WSCLIENT_OP_BINARY;
    frame[1] = (uint8_t)len; /* mask bit clear, no masking key */
    memcpy(frame + 2, ping, len);
    free(ping);
    assert_int_equal(wsclient_send_raw(c, frame, 2 + len), 0);
    /* Not answered: the close comes, and nothing before it. */
    struct wsclient_msg m;
    assert_int_equal(wsclient_recv(c, &m, 5000), 0);
    assert_int_equal(m.opcode, WSCLIENT_OP_CLOSE);
    assert_int_equal(m.close_code, 1002);
    wsclient_msg_deinit(&m);
    wsclient_free(c);
    /* Masked frames (whole, fragmented, long) on another connection are served as ever. */
    struct wsclient *ok = tclient_open(port);
    assert_non_null(ok);
    assert_true(tclient_ping(ok, 6));
    uint8_t *big = tmsg_build(&len, "{id: 7, op: sys.ping, args: {}}");
    assert_int_equal(wsclient_send_fragmented(ok, WSCLIENT_OP_BINARY, big, len, 3), 0);
    free(big);
    struct tmsg *r = tclient_reply(ok, 7, 5000);
    assert_msg(tmsg_is_success(r, 7), r);
    tmsg_free(r);
    assert_true(tclient_ping(ok, 8));
    wsclient_free(ok);
    harness_passed(*state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_slow_client_that_keeps_talking_is_closed_within_bound,
                                        harness_setup, harness_teardown),
        cmocka_unit_test_setup_teardown(test_non_reading_client_is_judged_after_little,
                                        harness_setup, harness_teardown),
        cmocka_unit_test_setup_teardown(test_oversize_stream_reads_1009_close_not_a_reset,
                                        harness_setup, harness_teardown),
        cmocka_unit_test_setup_teardown(test_garbage_then_more_reads_1008_close_not_a_reset,
                                        harness_setup, harness_teardown),
        cmocka_unit_test_setup_teardown(test_unmasked_frame_gets_1002_close,
                                        harness_setup, harness_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
