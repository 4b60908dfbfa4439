/* HTTP on the WebSocket port: /healthz, the Prometheus /metrics, the web pages, and paths
 * that must never leave the web root; the pages' /config.json, their security headers
 * (Content-Security-Policy with and without a tile server, nosniff, no referrer) and caching
 * (ETag and 304, immutable /vendor/), against a web root of fixture files. */
#define _GNU_SOURCE /* strcasestr, nftw */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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

/* --- Pages, headers and caching, against a web root of fixture files --- */

#define TILES "https://{s}.tile.example.org/{z}/{x}/{y}.png"
#define ATTRIBUTION "\u00a9 \"Example\" <a href=x>maps</a>"

struct web {
    struct harness *server;
    char root[64];
};

static void write_file(const char *root, const char *name, const char *text)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", root, name);
    /* Create the folders on the way. */
    char *first = path + strlen(root) + 1;
    for (char *slash = strchr(first, '/'); slash; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        mkdir(path, 0700);
        *slash = '/';
    }
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static int teardown_web(void **state)
{
    struct web *w = *state;
    if (w) {
        harness_free(w->server);
        nftw(w->root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        free(w);
    }
    *state = NULL;
    return 0;
}

/* Starts a server on a fresh web root holding the three faces, a script, a vendored library
 * and one file of each type the pages use, with extra ("NAME=value", NULL-terminated). */
static int start_web(void **state, const char *const *extra)
{
    struct web *w = calloc(1, sizeof *w);
    snprintf(w->root, sizeof w->root, "/tmp/classment-web.XXXXXX");
    if (!mkdtemp(w->root)) {
        free(w);
        return -1;
    }
    write_file(w->root, "index.html", "<!doctype html><title>Classment</title>\n");
    write_file(w->root, "parent/index.html", "<!doctype html><title>parent face</title>\n");
    write_file(w->root, "driver/index.html", "<!doctype html><title>driver face</title>\n");
    write_file(w->root, "admin/index.html", "<!doctype html><title>admin face</title>\n");
    write_file(w->root, "empty/readme.txt", "no index here\n");
    write_file(w->root, "common/app.js", "export const x = 1;\n");
    write_file(w->root, "common/mod.mjs", "export const y = 2;\n");
    write_file(w->root, "common/style.css", "body { margin: 0; }\n");
    write_file(w->root, "common/icon.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n");
    write_file(w->root, "common/font.woff2", "wOF2");
    write_file(w->root, "common/data.json", "{}\n");
    write_file(w->root, "vendor/lib-1.0.0/lib.js", "window.Lib = {};\n");
    char root_env[96];
    snprintf(root_env, sizeof root_env, "CLASSMENT_WEB_ROOT=%s", w->root);
    const char *env[8] = { root_env };
    for (size_t i = 0; extra && extra[i] && i + 2 < sizeof env / sizeof env[0]; i++) {
        env[i + 1] = extra[i];
    }
    struct harness_opts opts = { .env = env };
    *state = w;
    if (harness_start(&w->server, &opts) != 0) {
        teardown_web(state); /* cmocka skips the teardown of a failed setup */
        return -1;
    }
    return 0;
}

static int setup_web(void **state)
{
    return start_web(state, NULL);
}

static int setup_web_with_tiles(void **state)
{
    static const char *const env[] = { "CLASSMENT_MAP_TILES=" TILES,
                                       "CLASSMENT_MAP_ATTRIBUTION=" ATTRIBUTION, NULL };
    return start_web(state, env);
}

struct response {
    int status;
    char *head;
    char *body;
};

static struct response request(void **state, const char *path, const char *headers)
{
    struct web *w = *state;
    struct response r = { 0 };
    assert_int_equal(harness_http_request(harness_port(w->server), path, headers, WAIT_MS,
                                          &r.status, &r.head, &r.body),
                     0);
    return r;
}

static void response_free(struct response *r)
{
    free(r->head);
    free(r->body);
}

/* The value of header name in head (names compare without case), or NULL; caller frees. */
static char *header(const char *head, const char *name)
{
    char key[128];
    snprintf(key, sizeof key, "\r\n%s:", name);
    const char *h = strcasestr(head, key);
    if (!h) {
        return NULL;
    }
    h += strlen(key);
    h += strspn(h, " ");
    return strndup(h, strcspn(h, "\r\n"));
}

/* Fails unless path answers 200 with header name equal to want. */
static void expect_header(void **state, const char *path, const char *name, const char *want)
{
    struct response r = request(state, path, NULL);
    char *got = header(r.head, name);
    if (r.status != 200 || !got || strcmp(got, want) != 0) {
        fail_msg("GET %s: status %d, %s: \"%s\", expected \"%s\"\n%s", path, r.status, name,
                 got ? got : "(none)", want, r.head);
    }
    free(got);
    response_free(&r);
}

static void test_faces_serve_their_index_html(void **state)
{
    static const struct {
        const char *path, *title;
    } faces[] = {
        { "/parent", "parent face" }, { "/parent/", "parent face" },
        { "/parent/index.html", "parent face" }, { "/driver", "driver face" },
        { "/driver/", "driver face" }, { "/admin", "admin face" }, { "/admin/", "admin face" },
        { "/", "Classment" },
    };
    for (size_t i = 0; i < sizeof faces / sizeof faces[0]; i++) {
        struct response r = request(state, faces[i].path, NULL);
        if (r.status != 200 || !strstr(r.body, faces[i].title)) {
            fail_msg("GET %s: status %d, body %.200s", faces[i].path, r.status, r.body);
        }
        char *type = header(r.head, "content-type");
        assert_string_equal(type, "text/html; charset=utf-8");
        free(type);
        response_free(&r);
    }
    /* A folder without an index, a missing one, and a hidden name. */
    static const char *const missing[] = { "/empty", "/empty/", "/nothing/", "/.parent" };
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        struct response r = request(state, missing[i], NULL);
        if (r.status != 404) {
            fail_msg("GET %s: status %d, expected 404", missing[i], r.status);
        }
        response_free(&r);
    }
    harness_passed(((struct web *)*state)->server);
}

static void test_pages_carry_a_strict_csp_without_a_tile_host(void **state)
{
    struct web *w = *state;
    char want[1024];
    int port = harness_port(w->server);
    snprintf(want, sizeof want,
             "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
             "connect-src 'self' ws://127.0.0.1:%d wss://127.0.0.1:%d; object-src 'none'; "
             "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
             port, port);
    expect_header(state, "/parent", "content-security-policy", want);
    expect_header(state, "/", "content-security-policy", want);
    /* Only pages get one: scripts and data do not run under their own policy. */
    struct response r = request(state, "/common/app.js", NULL);
    char *csp = header(r.head, "content-security-policy");
    assert_null(csp);
    response_free(&r);
    harness_passed(w->server);
}

static void test_pages_allow_the_tile_host_in_img_src_only(void **state)
{
    struct web *w = *state;
    char want[1024];
    int port = harness_port(w->server);
    snprintf(want, sizeof want,
             "default-src 'self'; script-src 'self'; style-src 'self'; "
             "img-src 'self' data: https://*.tile.example.org; "
             "connect-src 'self' ws://127.0.0.1:%d wss://127.0.0.1:%d; object-src 'none'; "
             "base-uri 'none'; frame-ancestors 'none'; form-action 'self'",
             port, port);
    expect_header(state, "/driver/", "content-security-policy", want);
    harness_passed(w->server);
}

static void test_config_json_is_null_without_a_tile_server(void **state)
{
    struct response r = request(state, "/config.json", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"tiles\":null,\"attribution\":null}\n");
    char *type = header(r.head, "content-type");
    assert_string_equal(type, "application/json");
    free(type);
    response_free(&r);
    harness_passed(((struct web *)*state)->server);
}

static void test_config_json_gives_tiles_and_escaped_attribution(void **state)
{
    struct response r = request(state, "/config.json", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "{\"tiles\":\"" TILES "\",\"attribution\":"
                                "\"\u00a9 \\\"Example\\\" <a href=x>maps</a>\"}\n");
    response_free(&r);
    harness_passed(((struct web *)*state)->server);
}

static void test_static_files_revalidate_with_etag_and_304(void **state)
{
    struct response r = request(state, "/common/app.js", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "export const x = 1;\n");
    char *etag = header(r.head, "etag");
    char *cache = header(r.head, "cache-control");
    assert_non_null(etag);
    assert_true(etag[0] == '"');
    assert_string_equal(cache, "no-cache");
    response_free(&r);

    char inm[160];
    snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", etag);
    r = request(state, "/common/app.js", inm);
    if (r.status != 304 || r.body[0] != '\0') {
        fail_msg("If-None-Match %s: status %d, body \"%s\"\n%s", etag, r.status, r.body, r.head);
    }
    char *again = header(r.head, "etag");
    assert_string_equal(again, etag);
    free(again);
    response_free(&r);

    /* A list holding it matches too; another tag does not. */
    snprintf(inm, sizeof inm, "If-None-Match: \"0-0\", %s\r\n", etag);
    r = request(state, "/common/app.js", inm);
    assert_int_equal(r.status, 304);
    response_free(&r);
    r = request(state, "/common/app.js", "If-None-Match: \"1-2\"\r\n");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "export const x = 1;\n");
    response_free(&r);

    /* A page revalidates the same way (and keeps its CSP on the 304). */
    r = request(state, "/parent", NULL);
    char *page_tag = header(r.head, "etag");
    assert_non_null(page_tag);
    response_free(&r);
    snprintf(inm, sizeof inm, "If-None-Match: %s\r\n", page_tag);
    r = request(state, "/parent", inm);
    assert_int_equal(r.status, 304);
    char *csp = header(r.head, "content-security-policy");
    assert_non_null(csp);
    free(csp);
    response_free(&r);

    free(page_tag);
    free(etag);
    free(cache);
    harness_passed(((struct web *)*state)->server);
}

static void test_vendor_files_are_immutable(void **state)
{
    expect_header(state, "/vendor/lib-1.0.0/lib.js", "cache-control",
                  "public, max-age=31536000, immutable");
    harness_passed(((struct web *)*state)->server);
}

static void test_files_get_their_mime_types(void **state)
{
    static const struct {
        const char *path, *type;
    } files[] = {
        { "/common/app.js", "text/javascript; charset=utf-8" },
        { "/common/mod.mjs", "text/javascript; charset=utf-8" },
        { "/common/style.css", "text/css; charset=utf-8" },
        { "/common/icon.svg", "image/svg+xml" },
        { "/common/font.woff2", "font/woff2" },
        { "/common/data.json", "application/json" },
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        expect_header(state, files[i].path, "content-type", files[i].type);
    }
    harness_passed(((struct web *)*state)->server);
}

static void test_every_response_says_nosniff_and_no_referrer(void **state)
{
    static const char *const paths[] = { "/healthz", "/metrics", "/config.json", "/parent",
                                          "/common/app.js", "/vendor/lib-1.0.0/lib.js",
                                          "/no/such/file.js", "/v1/ws" };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct response r = request(state, paths[i], NULL);
        char *sniff = header(r.head, "x-content-type-options");
        char *referrer = header(r.head, "referrer-policy");
        if (!sniff || strcmp(sniff, "nosniff") != 0 || !referrer ||
            strcmp(referrer, "no-referrer") != 0) {
            fail_msg("GET %s (status %d) lacks nosniff or no-referrer:\n%s", paths[i], r.status,
                     r.head);
        }
        free(sniff);
        free(referrer);
        response_free(&r);
    }
    harness_passed(((struct web *)*state)->server);
}

#define SERVER_TEST(fn) cmocka_unit_test_setup_teardown(fn, harness_setup, harness_teardown)
#define WEB_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_web, teardown_web)
#define TILES_TEST(fn) cmocka_unit_test_setup_teardown(fn, setup_web_with_tiles, teardown_web)

int main(void)
{
    const struct CMUnitTest tests[] = {
        SERVER_TEST(test_healthz_answers_200_ok),
        SERVER_TEST(test_metrics_count_connections_replies_latency_and_pool),
        SERVER_TEST(test_root_serves_index_html),
        SERVER_TEST(test_path_traversal_never_leaves_the_web_root),
        SERVER_TEST(test_unknown_path_answers_404),
        WEB_TEST(test_faces_serve_their_index_html),
        WEB_TEST(test_pages_carry_a_strict_csp_without_a_tile_host),
        TILES_TEST(test_pages_allow_the_tile_host_in_img_src_only),
        WEB_TEST(test_config_json_is_null_without_a_tile_server),
        TILES_TEST(test_config_json_gives_tiles_and_escaped_attribution),
        WEB_TEST(test_static_files_revalidate_with_etag_and_304),
        WEB_TEST(test_vendor_files_are_immutable),
        WEB_TEST(test_files_get_their_mime_types),
        WEB_TEST(test_every_response_says_nosniff_and_no_referrer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
