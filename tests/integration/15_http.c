/* HTTP on the WebSocket port: /healthz, the Prometheus /metrics, the web pages, and paths
 * that must never leave the web root. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/harness.h"
#include "tests/support/tclient.h"

#define WAIT_MS 5000

static int port_of(void **state)
{
    return harness_port(*state);
}

/* GETs path and returns the body (caller frees), failing the test unless the status is
 * want_status. */
static char *get(void **state, const char *path, int want_status)
{
    int status = 0;
    char *body = NULL;
    assert_int_equal(harness_http_get(port_of(state), path, WAIT_MS, &status, &body), 0);
    if (status != want_status) {
        fail_msg("GET %s: status %d, expected %d; body: %.300s", path, status, want_status,
                 body);
    }
    return body;
}

/* The value of the sample whose name and labels are exactly series, or -1 when absent. */
static double metric_value(const char *text, const char *series)
{
    size_t n = strlen(series);
    for (const char *line = text; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n') {
            line++;
        }
        if (strncmp(line, series, n) == 0 && line[n] == ' ') {
            return strtod(line + n + 1, NULL);
        }
    }
    return -1;
}

static bool has_metric(const char *text, const char *name)
{
    size_t n = strlen(name);
    for (const char *line = text; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n') {
            line++;
        }
        if (strncmp(line, name, n) == 0 && (line[n] == ' ' || line[n] == '{')) {
            return true;
        }
    }
    return false;
}

static void test_healthz_answers_200_ok(void **state)
{
    char *body = get(state, "/healthz", 200);
    size_t n = strlen(body);
    while (n > 0 && (body[n - 1] == '\n' || body[n - 1] == '\r' || body[n - 1] == ' ')) {
        body[--n] = '\0';
    }
    assert_string_equal(body, "ok");
    free(body);
    harness_passed(*state);
}

static void test_metrics_count_connections_replies_latency_and_pool(void **state)
{
    struct wsclient *c = tclient_open(port_of(state));
    assert_non_null(c);
    for (unsigned id = 1; id <= 3; id++) {
        assert_true(tclient_ping(c, id));
    }
    char *text = get(state, "/metrics", 200);
    if (!has_metric(text, "classment_connections")) {
        fail_msg("no classment_connections in:\n%s", text);
    }
    assert_true(metric_value(text, "classment_connections") >= 1);
    double pings = metric_value(text, "classment_replies_total{op=\"sys.ping\",code=\"ok\"}");
    if (pings != 3) {
        fail_msg("classment_replies_total{op=\"sys.ping\",code=\"ok\"} is %g, expected 3 in:\n%s",
                 pings, text);
    }
    assert_true(has_metric(text, "classment_op_duration_seconds_bucket"));
    assert_true(has_metric(text, "classment_db_pool_connections"));
    free(text);
    wsclient_free(c);
    harness_passed(*state);
}

static void test_root_serves_index_html(void **state)
{
    char *body = get(state, "/", 200);
    if (!strstr(body, "Classment")) {
        fail_msg("GET / did not serve web/index.html: %.300s", body);
    }
    free(body);
    harness_passed(*state);
}

static void test_path_traversal_never_leaves_the_web_root(void **state)
{
    static const char *const paths[] = {
        "/../../etc/passwd",
        "/../../../../../../etc/passwd",
        "/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
        "/..%2f..%2f..%2fetc%2fpasswd",
        "/x/../../../../etc/passwd",
        "//etc/passwd",
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int status = 0;
        char *body = NULL;
        assert_int_equal(harness_http_get(port_of(state), paths[i], WAIT_MS, &status, &body), 0);
        if ((status != 403 && status != 404 && status != 400) || strstr(body, "root:")) {
            fail_msg("GET %s: status %d, body %.200s", paths[i], status, body);
        }
        free(body);
    }
    harness_passed(*state);
}

static void test_unknown_path_answers_404(void **state)
{
    free(get(state, "/no/such/page.html", 404));
    free(get(state, "/metricsx", 404));
    harness_passed(*state);
}

#define SERVER_TEST(fn) cmocka_unit_test_setup_teardown(fn, harness_setup, harness_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SERVER_TEST(test_healthz_answers_200_ok),
        SERVER_TEST(test_metrics_count_connections_replies_latency_and_pool),
        SERVER_TEST(test_root_serves_index_html),
        SERVER_TEST(test_path_traversal_never_leaves_the_web_root),
        SERVER_TEST(test_unknown_path_answers_404),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
