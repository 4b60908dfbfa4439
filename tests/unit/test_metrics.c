/* Unit tests for core/metrics: the latency histogram's buckets and counts, and rendering in
 * the Prometheus text format (checked line by line against the format's grammar). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/metrics.h"

static uint64_t bucket_total(const struct op_metrics *m)
{
    uint64_t n = 0;
    for (int b = 0; b <= METRICS_N_BUCKETS; b++) {
        n += m->buckets[b];
    }
    return n;
}

/* --- op_metrics_observe --- */

static void test_observe_counts_replies_by_code(void **state)
{
    (void)state;
    struct op_metrics m = { .op = "x" };
    op_metrics_observe(&m, OP_OK, 0.001);
    op_metrics_observe(&m, OP_OK, 0.001);
    op_metrics_observe(&m, OP_E_NOT_FOUND, 0.001);
    for (int c = 0; c < OP_E__COUNT; c++) {
        op_metrics_observe(&m, c, 0.0);
    }
    assert_int_equal(m.replies[OP_OK], 3);
    assert_int_equal(m.replies[OP_E_NOT_FOUND], 2);
    assert_int_equal(m.replies[OP_E_CONFLICT], 1);
    assert_int_equal(m.count, 3 + OP_E__COUNT);
    assert_int_equal(bucket_total(&m), m.count);
}

static void test_observe_counts_out_of_range_codes_as_internal(void **state)
{
    (void)state;
    struct op_metrics m = { .op = "x" };
    op_metrics_observe(&m, -5, 0.0);
    op_metrics_observe(&m, OP_E__COUNT, 0.0);
    op_metrics_observe(&m, 1 << 30, 0.0);
    assert_int_equal(m.replies[OP_E_INTERNAL], 3);
    assert_int_equal(m.count, 3);
}

static int bucket_of(double seconds)
{
    struct op_metrics m = { .op = "x" };
    op_metrics_observe(&m, OP_OK, seconds);
    int found = -1;
    for (int b = 0; b <= METRICS_N_BUCKETS; b++) {
        if (m.buckets[b]) {
            assert_int_equal(found, -1);
            assert_int_equal(m.buckets[b], 1);
            found = b;
        }
    }
    return found;
}

static void test_observe_puts_latency_in_the_right_bucket(void **state)
{
    (void)state;
    /* bounds 0.0001 0.00025 0.0005 0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.5 1, then +Inf */
    assert_int_equal(bucket_of(0.0), 0);
    assert_int_equal(bucket_of(0.00005), 0);
    assert_int_equal(bucket_of(0.0001), 0); /* a bucket includes its upper bound ("le") */
    assert_int_equal(bucket_of(0.00011), 1);
    assert_int_equal(bucket_of(0.00025), 1);
    assert_int_equal(bucket_of(0.0003), 2);
    assert_int_equal(bucket_of(0.001), 3);
    assert_int_equal(bucket_of(0.002), 4);
    assert_int_equal(bucket_of(0.004), 5);
    assert_int_equal(bucket_of(0.01), 6);
    assert_int_equal(bucket_of(0.02), 7);
    assert_int_equal(bucket_of(0.05), 8);
    assert_int_equal(bucket_of(0.07), 9);
    assert_int_equal(bucket_of(0.3), 10);
    assert_int_equal(bucket_of(1.0), 11);
    assert_int_equal(bucket_of(1.0001), METRICS_N_BUCKETS);
    assert_int_equal(bucket_of(3600.0), METRICS_N_BUCKETS);
    assert_int_equal(bucket_of(INFINITY), METRICS_N_BUCKETS);
}

static void test_observe_sums_seconds(void **state)
{
    (void)state;
    struct op_metrics m = { .op = "x" };
    op_metrics_observe(&m, OP_OK, 0.25);
    op_metrics_observe(&m, OP_OK, 0.5);
    op_metrics_observe(&m, OP_E_INTERNAL, 2.0);
    assert_true(fabs(m.sum_s - 2.75) < 1e-12);
    assert_int_equal(m.count, 3);
}

/* --- Prometheus text format --- */

static bool is_name(const char *s, size_t n)
{
    if (n == 0 || !(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == ':')) {
        return false;
    }
    for (size_t i = 1; i < n; i++) {
        if (!(isalnum((unsigned char)s[i]) || s[i] == '_' || s[i] == ':')) {
            return false;
        }
    }
    return true;
}

/* Checks one "{a="b",c="d"}" label set; returns a pointer past the closing brace. */
static const char *check_labels(const char *p)
{
    assert_int_equal(*p, '{');
    p++;
    while (*p != '}') {
        const char *name = p;
        while (isalnum((unsigned char)*p) || *p == '_') {
            p++;
        }
        assert_true(is_name(name, (size_t)(p - name)));
        assert_int_equal(*p, '=');
        p++;
        assert_int_equal(*p, '"');
        p++;
        while (*p != '"') {
            assert_int_not_equal(*p, '\0');
            assert_int_not_equal(*p, '\n');
            if (*p == '\\') {
                p++;
                assert_true(*p == '\\' || *p == '"' || *p == 'n');
            }
            p++;
        }
        p++;
        if (*p == ',') {
            p++;
        }
    }
    return p + 1;
}

struct family {
    char name[96];
    char type[16];
    bool help;
};

/* Checks the whole exposition: every line is HELP, TYPE or a sample of a declared family,
 * each family is declared once with HELP before TYPE, and values are numbers. Returns the
 * number of sample lines. */
static int check_exposition(const char *text)
{
    struct family fam[64];
    int n_fam = 0, samples = 0;
    assert_non_null(text);
    size_t len = strlen(text);
    assert_true(len > 0);
    assert_int_equal(text[len - 1], '\n');
    const char *line = text;
    while (*line) {
        const char *end = strchr(line, '\n');
        assert_non_null(end);
        char buf[512];
        size_t n = (size_t)(end - line);
        assert_true(n > 0 && n < sizeof buf);
        memcpy(buf, line, n);
        buf[n] = '\0';
        if (strncmp(buf, "# HELP ", 7) == 0 || strncmp(buf, "# TYPE ", 7) == 0) {
            bool is_help = buf[2] == 'H';
            char *name = buf + 7;
            char *sp = strchr(name, ' ');
            assert_non_null(sp);
            *sp = '\0';
            assert_true(is_name(name, strlen(name)));
            int f = 0;
            while (f < n_fam && strcmp(fam[f].name, name) != 0) {
                f++;
            }
            if (f == n_fam) {
                assert_true(is_help); /* HELP first */
                assert_true(n_fam < 64);
                memset(&fam[f], 0, sizeof fam[f]);
                snprintf(fam[f].name, sizeof fam[f].name, "%s", name);
                fam[f].help = true;
                n_fam++;
            } else {
                assert_false(is_help);          /* one HELP */
                assert_int_equal(fam[f].type[0], '\0'); /* one TYPE */
                const char *type = sp + 1;
                assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                            strcmp(type, "histogram") == 0);
                snprintf(fam[f].type, sizeof fam[f].type, "%s", type);
            }
        } else {
            assert_int_not_equal(buf[0], '#');
            const char *p = buf;
            while (isalnum((unsigned char)*p) || *p == '_' || *p == ':') {
                p++;
            }
            size_t name_len = (size_t)(p - buf);
            assert_true(is_name(buf, name_len));
            /* the sample belongs to a declared family (histograms add suffixes) */
            int f;
            for (f = 0; f < n_fam; f++) {
                size_t fl = strlen(fam[f].name);
                if (fl > name_len || strncmp(buf, fam[f].name, fl) != 0) {
                    continue;
                }
                const char *suffix = buf + fl;
                size_t sl = name_len - fl;
                if (sl == 0 && strcmp(fam[f].type, "histogram") != 0) {
                    break;
                }
                if (strcmp(fam[f].type, "histogram") == 0 &&
                    ((sl == 7 && strncmp(suffix, "_bucket", 7) == 0) ||
                     (sl == 4 && strncmp(suffix, "_sum", 4) == 0) ||
                     (sl == 6 && strncmp(suffix, "_count", 6) == 0))) {
                    break;
                }
            }
            if (f == n_fam) {
                fail_msg("sample of an undeclared family: %s", buf);
            }
            assert_int_not_equal(fam[f].type[0], '\0');
            if (*p == '{') {
                p = check_labels(p);
            }
            assert_int_equal(*p, ' ');
            p++;
            char *num_end;
            double v = strtod(p, &num_end);
            assert_true(num_end != p);
            assert_int_equal(*num_end, '\0');
            assert_true(v >= 0);
            samples++;
        }
        line = end + 1;
    }
    return samples;
}

static bool has_line(const char *text, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == '\n') {
            return true;
        }
    }
    return false;
}

static void assert_has_line(const char *text, const char *line)
{
    if (!has_line(text, line)) {
        fail_msg("missing line \"%s\" in:\n%s", line, text);
    }
}

/* The value of the one sample line starting with prefix (labels included). */
static double sample(const char *text, const char *prefix)
{
    size_t n = strlen(prefix);
    const char *found = NULL;
    for (const char *p = text; (p = strstr(p, prefix)) != NULL; p++) {
        if ((p == text || p[-1] == '\n') && p[n] == ' ') {
            assert_null(found);
            found = p;
        }
    }
    if (!found) {
        fail_msg("no sample %s", prefix);
    }
    return strtod(found + n + 1, NULL);
}

static void test_render_counters_with_help_and_type(void **state)
{
    (void)state;
    struct metrics m = {
        .connections = 3, .connections_total = 10, .frames_in = 100, .frames_out = 120,
        .bytes_in = 4096, .bytes_out = 8192, .error_events = 4, .error_events_dropped = 2,
        .malformed_frames = 5, .slow_closes = 1, .refused_connections = 6,
        .heartbeat_drops = 7, .batched_writes = 8, .sealed_open_failures = 9,
        .fair_waited = 10, .fair_refused_waiting = 11, .fair_refused_rate = 12,
        .fair_refused_address = 13, .close_timeouts = 14,
    };
    struct strbuf out;
    strbuf_init(&out);
    metrics_render(&m, NULL, 0, &out);
    assert_true(check_exposition(out.data) == 19);
    assert_has_line(out.data, "# TYPE classment_connections gauge");
    assert_has_line(out.data, "classment_connections 3");
    assert_has_line(out.data, "# TYPE classment_connections_total counter");
    assert_has_line(out.data, "classment_connections_total 10");
    assert_has_line(out.data, "classment_frames_in_total 100");
    assert_has_line(out.data, "classment_frames_out_total 120");
    assert_has_line(out.data, "classment_bytes_in_total 4096");
    assert_has_line(out.data, "classment_bytes_out_total 8192");
    assert_has_line(out.data, "classment_malformed_frames_total 5");
    assert_has_line(out.data, "classment_error_events_total 4");
    assert_has_line(out.data, "classment_error_events_dropped_total 2");
    assert_has_line(out.data, "classment_slow_closes_total 1");
    assert_has_line(out.data, "classment_refused_connections_total 6");
    assert_has_line(out.data, "classment_heartbeat_drops_total 7");
    assert_has_line(out.data, "classment_close_timeouts_total 14");
    assert_has_line(out.data, "classment_sealed_open_failures_total 9");
    assert_has_line(out.data, "classment_batched_writes_total 8");
    assert_has_line(out.data, "classment_requests_waited_total 10");
    assert_has_line(out.data, "classment_rate_limited_total{reason=\"waiting\"} 11");
    assert_has_line(out.data, "classment_rate_limited_total{reason=\"conn_rate\"} 12");
    assert_has_line(out.data, "classment_rate_limited_total{reason=\"address\"} 13");
    assert_has_line(out.data, "# TYPE classment_replies_total counter");
    assert_has_line(out.data, "# TYPE classment_op_duration_seconds histogram");
    strbuf_deinit(&out);
}

static void test_render_prints_large_counters_exactly(void **state)
{
    (void)state;
    struct metrics m = { .bytes_out = UINT64_MAX };
    struct strbuf out;
    strbuf_init(&out);
    metrics_render(&m, NULL, 0, &out);
    check_exposition(out.data);
    assert_has_line(out.data, "classment_bytes_out_total 18446744073709551615");
    assert_has_line(out.data, "classment_connections 0");
    strbuf_deinit(&out);
}

static void test_render_replies_by_op_and_code_skipping_zeros(void **state)
{
    (void)state;
    struct metrics m = { 0 };
    struct op_metrics ops[3] = { { .op = "sys.ping" }, { .op = "trip.end" }, { .op = "idle" } };
    op_metrics_observe(&ops[0], OP_OK, 0.0002);
    op_metrics_observe(&ops[0], OP_OK, 0.0002);
    op_metrics_observe(&ops[1], OP_E_FORBIDDEN, 0.003);
    op_metrics_observe(&ops[1], OP_OK, 0.003);
    struct strbuf out;
    strbuf_init(&out);
    metrics_render(&m, ops, 3, &out);
    check_exposition(out.data);
    assert_has_line(out.data, "classment_replies_total{op=\"sys.ping\",code=\"ok\"} 2");
    assert_has_line(out.data, "classment_replies_total{op=\"trip.end\",code=\"ok\"} 1");
    assert_has_line(out.data, "classment_replies_total{op=\"trip.end\",code=\"forbidden\"} 1");
    assert_null(strstr(out.data, "code=\"not_found\""));
    assert_null(strstr(out.data, "op=\"idle\"")); /* an op never called prints nothing */
    strbuf_deinit(&out);
}

static void test_render_histogram_is_cumulative_and_inf_equals_count(void **state)
{
    (void)state;
    struct metrics m = { 0 };
    struct op_metrics op = { .op = "trip.pos" };
    static const double seconds[] = { 0.00005, 0.0002, 0.0002, 0.004, 0.09, 0.7, 2.0, 30.0 };
    double sum = 0;
    for (size_t i = 0; i < sizeof seconds / sizeof seconds[0]; i++) {
        op_metrics_observe(&op, i % 3 ? OP_OK : OP_E_UNAVAILABLE, seconds[i]);
        sum += seconds[i];
    }
    struct strbuf out;
    strbuf_init(&out);
    metrics_render(&m, &op, 1, &out);
    check_exposition(out.data);
    static const char *const le[] = { "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
                                      "0.005", "0.01", "0.025", "0.05", "0.1", "0.5", "1",
                                      "+Inf" };
    static const double expect[] = { 1, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 6, 8 };
    double prev = 0, prev_le = 0;
    for (int b = 0; b <= METRICS_N_BUCKETS; b++) {
        char prefix[128];
        snprintf(prefix, sizeof prefix,
                 "classment_op_duration_seconds_bucket{op=\"trip.pos\",le=\"%s\"}", le[b]);
        double v = sample(out.data, prefix);
        assert_true(v == expect[b]);
        assert_true(v >= prev);
        prev = v;
        if (b < METRICS_N_BUCKETS) {
            double bound = strtod(le[b], NULL);
            assert_true(bound > prev_le);
            prev_le = bound;
        }
    }
    assert_true(sample(out.data, "classment_op_duration_seconds_count{op=\"trip.pos\"}") == 8);
    assert_true(fabs(sample(out.data, "classment_op_duration_seconds_sum{op=\"trip.pos\"}") -
                     sum) < 1e-5);
    /* the last bucket is the one named +Inf, and it comes after the finite ones */
    const char *inf = strstr(out.data, "le=\"+Inf\"");
    const char *one = strstr(out.data, "le=\"1\"");
    assert_non_null(inf);
    assert_non_null(one);
    assert_true(one < inf);
    strbuf_deinit(&out);
}

static void test_render_histogram_for_every_op_with_calls(void **state)
{
    (void)state;
    struct metrics m = { 0 };
    struct op_metrics ops[4] = { { .op = "a.one" }, { .op = "(invalid)" }, { .op = "b.two" },
                                 { .op = "(unknown)" } };
    op_metrics_observe(&ops[0], OP_OK, 0.001);
    op_metrics_observe(&ops[1], OP_E_BAD_REQUEST, 0.00001);
    op_metrics_observe(&ops[3], OP_E_UNKNOWN_OP, 0.00001);
    op_metrics_observe(&ops[3], OP_E_UNKNOWN_OP, 5.0);
    struct strbuf out;
    strbuf_init(&out);
    metrics_render(&m, ops, 4, &out);
    check_exposition(out.data);
    assert_true(sample(out.data, "classment_op_duration_seconds_bucket{op=\"a.one\","
                                 "le=\"+Inf\"}") == 1);
    assert_true(sample(out.data, "classment_op_duration_seconds_bucket{op=\"(invalid)\","
                                 "le=\"+Inf\"}") == 1);
    assert_true(sample(out.data, "classment_op_duration_seconds_bucket{op=\"(unknown)\","
                                 "le=\"1\"}") == 1);
    assert_true(sample(out.data, "classment_op_duration_seconds_bucket{op=\"(unknown)\","
                                 "le=\"+Inf\"}") == 2);
    assert_true(sample(out.data, "classment_op_duration_seconds_count{op=\"(unknown)\"}") == 2);
    assert_null(strstr(out.data, "op=\"b.two\""));
    assert_has_line(out.data, "classment_replies_total{op=\"(unknown)\",code=\"unknown_op\"} 2");
    strbuf_deinit(&out);
}

static void test_render_appends_to_what_the_buffer_holds(void **state)
{
    (void)state;
    struct metrics m = { .connections = 1 };
    struct strbuf out;
    strbuf_init(&out);
    strbuf_printf(&out, "# HELP other_metric Something else.\n# TYPE other_metric gauge\n"
                        "other_metric 7\n");
    metrics_render(&m, NULL, 0, &out);
    assert_int_equal(strncmp(out.data, "# HELP other_metric", 19), 0);
    check_exposition(out.data);
    assert_has_line(out.data, "other_metric 7");
    assert_has_line(out.data, "classment_connections 1");
    strbuf_deinit(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_observe_counts_replies_by_code),
        cmocka_unit_test(test_observe_counts_out_of_range_codes_as_internal),
        cmocka_unit_test(test_observe_puts_latency_in_the_right_bucket),
        cmocka_unit_test(test_observe_sums_seconds),
        cmocka_unit_test(test_render_counters_with_help_and_type),
        cmocka_unit_test(test_render_prints_large_counters_exactly),
        cmocka_unit_test(test_render_replies_by_op_and_code_skipping_zeros),
        cmocka_unit_test(test_render_histogram_is_cumulative_and_inf_equals_count),
        cmocka_unit_test(test_render_histogram_for_every_op_with_calls),
        cmocka_unit_test(test_render_appends_to_what_the_buffer_holds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
