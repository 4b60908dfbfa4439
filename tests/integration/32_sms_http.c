/* SMS through an HTTP gateway instead of the outbox: the test plays the gateway on a local
 * port (a thread that records every request), and classmentd runs without
 * CLASSMENT_SMS_OUTBOX and with CLASSMENT_SMS_URL, _TEMPLATE and _AUTH. Checked: the POST and
 * its JSON body, the retry after a 500, the code in it logs in, the metrics, a gateway that
 * never answers (timeouts, then given up) and one that refuses connections, while callers get
 * their normal answer at once and the log never shows a number or a code. */
#define _GNU_SOURCE /* strcasestr */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tcheck.h"
#include "tests/support/tclient.h"
#include "tests/support/tmsg.h"
#include "tests/support/tsys.h"
#include "tests/support/wsclient.h"

#define TEMPLATE "{\"to\":\"{to}\",\"message\":\"{text}\"}"
#define AUTH "Bearer sms-test-secret"
#define MAX_REQUESTS 16
/* The server's SMS timeout is 5 s an attempt, 3 attempts, 0.5 s then 1 s apart. */
#define GIVE_UP_WAIT_MS 30000

enum mode {
    FAIL_FIRST,   /* 500 to the first request, 200 afterwards */
    NEVER_ANSWER, /* read the request, then say nothing and keep the connection open */
};

/* The gateway the test plays: accepts on 127.0.0.1, records each request whole. */
struct gateway {
    enum mode mode;
    int listen_fd;
    int port;
    int stop_pipe[2];
    pthread_t thread;
    pthread_mutex_t lock;
    int n_connections;
    int n_requests;
    char *requests[MAX_REQUESTS]; /* headers and body, NUL-terminated */
    int held[MAX_REQUESTS];       /* NEVER_ANSWER: connections kept open */
    int n_held;
};

/* Reads one request (headers, then Content-Length bytes of body) for at most 5 s. */
static char *read_request(int fd)
{
    size_t cap = 8192, len = 0;
    char *buf = malloc(cap);
    uint64_t deadline = tsys_mono_ms() + 5000;
    for (;;) {
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (end) {
            const char *cl = strcasestr(buf, "\r\ncontent-length:");
            size_t body = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
            if (len >= (size_t)(end - buf) + 4 + body) {
                return buf;
            }
        }
        if (len + 1 >= cap) {
            free(buf);
            return NULL;
        }
        struct pollfd p = { .fd = fd, .events = POLLIN };
        if (poll(&p, 1, tsys_left_ms(deadline)) != 1) {
            free(buf);
            return NULL;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        if (n <= 0) {
            free(buf);
            return NULL;
        }
        len += (size_t)n;
    }
}

static void *gateway_main(void *arg)
{
    struct gateway *g = arg;
    for (;;) {
        struct pollfd p[2] = { { .fd = g->listen_fd, .events = POLLIN },
                               { .fd = g->stop_pipe[0], .events = POLLIN } };
        if (poll(p, 2, 1000) < 0 && errno != EINTR) {
            break;
        }
        if (p[1].revents) {
            break;
        }
        if (!(p[0].revents & POLLIN)) {
            continue;
        }
        int fd = accept(g->listen_fd, NULL, NULL);
        if (fd < 0) {
            continue;
        }
        pthread_mutex_lock(&g->lock);
        g->n_connections++;
        pthread_mutex_unlock(&g->lock);
        char *req = read_request(fd);
        pthread_mutex_lock(&g->lock);
        int nth = g->n_requests;
        if (req && g->n_requests < MAX_REQUESTS) {
            g->requests[g->n_requests++] = req;
            req = NULL;
        }
        pthread_mutex_unlock(&g->lock);
        free(req);
        if (g->mode == NEVER_ANSWER) {
            pthread_mutex_lock(&g->lock);
            if (g->n_held < MAX_REQUESTS) {
                g->held[g->n_held++] = fd;
                fd = -1;
            }
            pthread_mutex_unlock(&g->lock);
        } else {
            const char *answer =
                nth == 0 ? "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n"
                           "Connection: close\r\n\r\noops\n"
                         : "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                           "Content-Length: 12\r\nConnection: close\r\n\r\n{\"ok\":true}\n";
            ssize_t w = send(fd, answer, strlen(answer), MSG_NOSIGNAL);
            (void)w;
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    return NULL;
}

static struct gateway *gateway_start(enum mode mode)
{
    struct gateway *g = calloc(1, sizeof *g);
    g->mode = mode;
    pthread_mutex_init(&g->lock, NULL);
    g->listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sa_len = sizeof sa;
    if (g->listen_fd < 0 || bind(g->listen_fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        listen(g->listen_fd, 16) != 0 ||
        getsockname(g->listen_fd, (struct sockaddr *)&sa, &sa_len) != 0 ||
        pipe(g->stop_pipe) != 0) {
        fail_msg("cannot set up the test SMS gateway: %s", strerror(errno));
    }
    g->port = ntohs(sa.sin_port);
    if (pthread_create(&g->thread, NULL, gateway_main, g) != 0) {
        fail_msg("pthread_create failed");
    }
    return g;
}

static void gateway_stop(struct gateway *g)
{
    if (!g) {
        return;
    }
    ssize_t w = write(g->stop_pipe[1], "x", 1);
    (void)w;
    pthread_join(g->thread, NULL);
    close(g->listen_fd);
    close(g->stop_pipe[0]);
    close(g->stop_pipe[1]);
    for (int i = 0; i < g->n_held; i++) {
        close(g->held[i]);
    }
    for (int i = 0; i < g->n_requests; i++) {
        free(g->requests[i]);
    }
    pthread_mutex_destroy(&g->lock);
    free(g);
}

static int gateway_requests(struct gateway *g)
{
    pthread_mutex_lock(&g->lock);
    int n = g->n_requests;
    pthread_mutex_unlock(&g->lock);
    return n;
}

/* A copy of request i (caller frees). */
static char *gateway_request(struct gateway *g, int i)
{
    pthread_mutex_lock(&g->lock);
    char *r = i < g->n_requests ? strdup(g->requests[i]) : NULL;
    pthread_mutex_unlock(&g->lock);
    return r;
}

/* ---- fixture: a gateway and a server that sends to it ---- */

struct fx {
    struct gateway *g;
    struct harness *h;
    int port;
    char phone[TAUTH_PHONE_MAX];
    int64_t admin_id;
};

static int start(void **state, enum mode mode, int gateway_port)
{
    struct fx *fx = calloc(1, sizeof *fx);
    *state = fx;
    if (gateway_port == 0) {
        fx->g = gateway_start(mode);
        gateway_port = fx->g->port;
    }
    char url[128];
    snprintf(url, sizeof url, "CLASSMENT_SMS_URL=http://127.0.0.1:%d/send", gateway_port);
    const char *env[] = { url, "CLASSMENT_SMS_TEMPLATE=" TEMPLATE, "CLASSMENT_SMS_AUTH=" AUTH,
                          NULL };
    struct harness_opts opts = { .env = env, .no_outbox = true };
    if (harness_start(&fx->h, &opts) != 0) {
        return -1;
    }
    fx->port = harness_port(fx->h);
    tauth_phone(fx->phone, 1);
    return tauth_school_create(fx->h, "Green Valley School", "Asha Admin", fx->phone,
                               &fx->admin_id) > 0
               ? 0
               : -1;
}

static int setup_fail_first(void **state)
{
    return start(state, FAIL_FIRST, 0);
}

static int setup_never_answer(void **state)
{
    return start(state, NEVER_ANSWER, 0);
}

/* A port nobody listens on: bound and closed again. */
static int setup_refused(void **state)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t sa_len = sizeof sa;
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
        getsockname(fd, (struct sockaddr *)&sa, &sa_len) != 0) {
        return -1;
    }
    close(fd);
    return start(state, FAIL_FIRST, ntohs(sa.sin_port));
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    if (fx) {
        harness_free(fx->h);
        gateway_stop(fx->g);
        free(fx);
    }
    *state = NULL;
    return 0;
}

static long long sms_metric(struct fx *fx, const char *outcome)
{
    char sample[96];
    snprintf(sample, sizeof sample, "classment_sms_total{outcome=\"%s\"}", outcome);
    return tauth_metric(fx->port, sample);
}

/* Waits up to timeout_ms for the metric to reach want; returns its last value. */
static long long wait_metric(struct fx *fx, const char *outcome, long long want, int timeout_ms)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)timeout_ms;
    long long v;
    while ((v = sms_metric(fx, outcome)) != want && tsys_left_ms(deadline) > 0) {
        tsys_sleep_ms(50);
    }
    return v;
}

/* auth.otp.request that must be answered as usual, and at once. */
static void request_answered_at_once(struct wsclient *c, const char *phone)
{
    uint64_t start_ms = tsys_mono_ms();
    struct tmsg *m = tauth_call(c, "auth.otp.request", "{phone: %s}", phone);
    uint64_t took = tsys_mono_ms() - start_ms;
    assert_msg(tauth_is_ok(m) && tmsg_uint_is(m, "data.ttl_s", 300) &&
                   tmsg_uint_is(m, "data.resend_after_s", 30),
               m);
    tmsg_free(m);
    /* Well under the gateway's 5 s timeout, with room for a loaded machine. */
    if (took > 2500) {
        fail_msg("auth.otp.request took %llu ms: the caller waited for the SMS gateway",
                 (unsigned long long)took);
    }
}

/* The server log holds neither the number nor the code, nor the gateway's secret. */
static void log_is_clean(struct fx *fx, const char *code)
{
    char *log = tsys_read_file(harness_log_path(fx->h), NULL);
    assert_non_null(log);
    const char *digits = fx->phone + 3;
    if (strstr(log, digits) || (code && strstr(log, code)) || strstr(log, "sms-test-secret")) {
        fail_msg("the server log shows the number, the code or the gateway secret");
    }
    free(log);
}

/* ---- tests ---- */

static void test_gateway_gets_the_code_after_a_retry(void **state)
{
    struct fx *fx = *state;
    struct wsclient *c = tclient_open(fx->port);
    assert_non_null(c);
    request_answered_at_once(c, fx->phone);
    assert_int_equal(wait_metric(fx, "delivered", 1, 10000), 1);
    assert_int_equal(gateway_requests(fx->g), 2);
    assert_int_equal(sms_metric(fx, "accepted"), 1);
    assert_int_equal(sms_metric(fx, "retried"), 1);
    assert_int_equal(sms_metric(fx, "failed"), 0);

    char *first = gateway_request(fx->g, 0), *second = gateway_request(fx->g, 1);
    assert_non_null(first);
    assert_non_null(second);
    assert_string_equal(first, second);
    if (strncmp(first, "POST /send HTTP/1.1\r\n", 21) != 0 ||
        !strcasestr(first, "\r\nContent-Type: application/json\r\n") ||
        !strcasestr(first, "\r\nAuthorization: " AUTH "\r\n")) {
        fail_msg("not the POST expected: %s", first);
    }
    char *body = strstr(first, "\r\n\r\n") + 4;
    const char *cl = strcasestr(first, "\r\nContent-Length:");
    assert_non_null(cl);
    assert_int_equal(strtoul(cl + 17, NULL, 10), strlen(body));
    char head[64];
    snprintf(head, sizeof head, "{\"to\":\"%s\",\"message\":\"", fx->phone);
    if (strncmp(body, head, strlen(head)) != 0 || strspn(body + strlen(head), "0123456789") != 6 ||
        strncmp(body + strlen(head) + 6, " is your Classment login code", 29) != 0 ||
        strcmp(body + strlen(body) - 2, "\"}") != 0) {
        fail_msg("the body is not the template filled with the number and the text: %s", body);
    }
    char code[7];
    memcpy(code, body + strlen(head), 6);
    code[6] = '\0';
    free(first);
    free(second);

    /* The code in the message logs in. */
    struct tmsg *m = tauth_call(c, "auth.otp.verify", "{phone: %s, code: %s}", fx->phone, code);
    int64_t id = 0;
    assert_msg(tauth_is_ok(m) && tauth_int(m, "data.user.id", &id) && id == fx->admin_id, m);
    tmsg_free(m);

    /* An unknown number: the same answer, nothing to the gateway. */
    char unknown[TAUTH_PHONE_MAX];
    tauth_phone(unknown, 50001);
    request_answered_at_once(c, unknown);
    tsys_sleep_ms(1000);
    assert_int_equal(gateway_requests(fx->g), 2);
    assert_int_equal(sms_metric(fx, "accepted"), 1);
    /* No outbox was written. */
    assert_int_not_equal(access(harness_outbox_path(fx->h), F_OK), 0);
    log_is_clean(fx, code);
    wsclient_free(c);
    harness_passed(fx->h);
}

static void test_gateway_that_never_answers_is_given_up(void **state)
{
    struct fx *fx = *state;
    struct wsclient *c = tclient_open(fx->port);
    assert_non_null(c);
    uint64_t start_ms = tsys_mono_ms();
    request_answered_at_once(c, fx->phone);
    /* The server keeps serving while the SMS waits. */
    tsys_sleep_ms(1000);
    assert_true(tclient_ping(c, tauth_next_id()));
    TAUTH_OK(c, "sys.status", "{}");
    assert_int_equal(wait_metric(fx, "failed", 1, GIVE_UP_WAIT_MS), 1);
    uint64_t took = tsys_mono_ms() - start_ms;
    fprintf(stderr, "32_sms_http: gave up after %llu ms\n", (unsigned long long)took);
    /* Three attempts of 5 s each. */
    assert_true(took >= 14000);
    assert_int_equal(gateway_requests(fx->g), 3);
    assert_int_equal(sms_metric(fx, "accepted"), 1);
    assert_int_equal(sms_metric(fx, "delivered"), 0);
    assert_int_equal(sms_metric(fx, "retried"), 2);
    /* No fourth attempt. */
    tsys_sleep_ms(1500);
    assert_int_equal(gateway_requests(fx->g), 3);
    char *log = tsys_read_file(harness_log_path(fx->h), NULL);
    assert_non_null(log);
    assert_non_null(strstr(log, "gateway delivery failed"));
    free(log);
    log_is_clean(fx, NULL);
    assert_true(tclient_ping(c, tauth_next_id()));
    wsclient_free(c);
    harness_passed(fx->h);
}

static void test_unreachable_gateway_is_retried_then_given_up(void **state)
{
    struct fx *fx = *state;
    struct wsclient *c = tclient_open(fx->port);
    assert_non_null(c);
    request_answered_at_once(c, fx->phone);
    assert_int_equal(wait_metric(fx, "failed", 1, 10000), 1);
    assert_int_equal(sms_metric(fx, "retried"), 2);
    assert_int_equal(sms_metric(fx, "delivered"), 0);
    log_is_clean(fx, NULL);
    assert_true(tclient_ping(c, tauth_next_id()));
    wsclient_free(c);
    harness_passed(fx->h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_gateway_gets_the_code_after_a_retry,
                                        setup_fail_first, teardown),
        cmocka_unit_test_setup_teardown(test_gateway_that_never_answers_is_given_up,
                                        setup_never_answer, teardown),
        cmocka_unit_test_setup_teardown(test_unreachable_gateway_is_retried_then_given_up,
                                        setup_refused, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
