/* Counters and histograms in the Prometheus text format (see metrics.h). */
#include "core/metrics.h"

#include <errno.h>

static const double bucket_bounds_s[METRICS_N_BUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0,
};

void op_metrics_observe(struct op_metrics *m, int code, double seconds)
{
    if (code < 0 || code >= OP_E__COUNT) {
        code = OP_E_INTERNAL;
    }
    m->replies[code]++;
    int b = 0;
    while (b < METRICS_N_BUCKETS && seconds > bucket_bounds_s[b]) {
        b++;
    }
    m->buckets[b]++;
    m->count++;
    m->sum_s += seconds;
}

static void counter(struct strbuf *out, const char *name, const char *type, const char *help,
                    uint64_t value)
{
    strbuf_printf(out, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
                  (unsigned long long)value);
}

void metrics_render(const struct metrics *m, const struct op_metrics *ops, int n_ops,
                    struct strbuf *out)
{
    counter(out, "classment_connections", "gauge", "Open WebSocket connections.",
            m->connections);
    counter(out, "classment_connections_total", "counter", "WebSocket connections accepted.",
            m->connections_total);
    counter(out, "classment_frames_in_total", "counter", "WebSocket messages received.",
            m->frames_in);
    counter(out, "classment_frames_out_total", "counter", "WebSocket messages sent.",
            m->frames_out);
    counter(out, "classment_bytes_in_total", "counter", "WebSocket payload bytes received.",
            m->bytes_in);
    counter(out, "classment_bytes_out_total", "counter", "WebSocket payload bytes sent.",
            m->bytes_out);
    counter(out, "classment_malformed_frames_total", "counter",
            "Messages refused before dispatch (not msgpack, not a map, text, too large).",
            m->malformed_frames);
    counter(out, "classment_error_events_total", "counter", "Error events sent.",
            m->error_events);
    counter(out, "classment_error_events_dropped_total", "counter",
            "Error events not sent because of the per-connection rate limit.",
            m->error_events_dropped);
    counter(out, "classment_slow_closes_total", "counter",
            "Connections closed because their send queue filled.", m->slow_closes);
    counter(out, "classment_heartbeat_drops_total", "counter",
            "Connections dropped after three heartbeat periods without a message or pong.",
            m->heartbeat_drops);
    counter(out, "classment_close_timeouts_total", "counter",
            "Closing connections dropped without a clean close at their deadline.",
            m->close_timeouts);
    counter(out, "classment_batched_writes_total", "counter",
            "Socket writes that carried several queued frames at once.", m->batched_writes);
    counter(out, "classment_refused_connections_total", "counter",
            "Connections closed at accept because the descriptor limit was near.",
            m->refused_connections);
    counter(out, "classment_sealed_open_failures_total", "counter",
            "Sealed personal values that failed to open (tampered with, or under a missing "
            "key); each was sent as nil.",
            m->sealed_open_failures);
    counter(out, "classment_requests_waited_total", "counter",
            "Requests that waited because their connection had its share in flight.",
            m->fair_waited);
    strbuf_printf(out,
                  "# HELP classment_rate_limited_total Requests refused rate_limited by the "
                  "fair-share bounds, by reason.\n"
                  "# TYPE classment_rate_limited_total counter\n"
                  "classment_rate_limited_total{reason=\"waiting\"} %llu\n"
                  "classment_rate_limited_total{reason=\"conn_rate\"} %llu\n"
                  "classment_rate_limited_total{reason=\"address\"} %llu\n",
                  (unsigned long long)m->fair_refused_waiting,
                  (unsigned long long)m->fair_refused_rate,
                  (unsigned long long)m->fair_refused_address);

    strbuf_printf(out, "# HELP classment_replies_total Requests completed, by op and code.\n"
                       "# TYPE classment_replies_total counter\n");
    for (int i = 0; i < n_ops; i++) {
        for (int c = 0; c < OP_E__COUNT; c++) {
            if (ops[i].replies[c]) {
                strbuf_printf(out, "classment_replies_total{op=\"%s\",code=\"%s\"} %llu\n",
                              ops[i].op, op_err_code(c),
                              (unsigned long long)ops[i].replies[c]);
            }
        }
    }
    strbuf_printf(out, "# HELP classment_op_duration_seconds Time from request to reply.\n"
                       "# TYPE classment_op_duration_seconds histogram\n");
    for (int i = 0; i < n_ops; i++) {
        if (!ops[i].count) {
            continue;
        }
        uint64_t cumulative = 0;
        for (int b = 0; b < METRICS_N_BUCKETS; b++) {
            cumulative += ops[i].buckets[b];
            strbuf_printf(out, "classment_op_duration_seconds_bucket{op=\"%s\",le=\"%g\"} %llu\n",
                          ops[i].op, bucket_bounds_s[b], (unsigned long long)cumulative);
        }
        cumulative += ops[i].buckets[METRICS_N_BUCKETS];
        strbuf_printf(out,
                      "classment_op_duration_seconds_bucket{op=\"%s\",le=\"+Inf\"} %llu\n"
                      "classment_op_duration_seconds_sum{op=\"%s\"} %.6f\n"
                      "classment_op_duration_seconds_count{op=\"%s\"} %llu\n",
                      ops[i].op, (unsigned long long)cumulative, ops[i].op, ops[i].sum_s,
                      ops[i].op, (unsigned long long)ops[i].count);
    }
}

int metrics_add_source(struct metrics *m, void (*render)(void *ctx, struct strbuf *out),
                       void *ctx)
{
    if (m->n_sources >= METRICS_MAX_SOURCES) {
        return -ENOSPC;
    }
    m->sources[m->n_sources++] = (struct metrics_source){ render, ctx };
    return 0;
}

void metrics_render_sources(const struct metrics *m, struct strbuf *out)
{
    for (size_t i = 0; i < m->n_sources; i++) {
        m->sources[i].render(m->sources[i].ctx, out);
    }
}
