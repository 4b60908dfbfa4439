/* Server counters and the op latency histogram, rendered in the Prometheus text format.
 * Single-threaded: everything runs on the loop. */
#pragma once
#include <stdint.h>

#include "core/envelope.h"
#include "core/strbuf.h"

/* Upper bounds of the latency buckets, in seconds (the last, +Inf, is implicit). */
#define METRICS_N_BUCKETS 12

/* Per-op figures: replies by outcome and the latency of the ones that completed. */
struct op_metrics {
    const char *op; /* static name */
    uint64_t replies[OP_E__COUNT];
    uint64_t buckets[METRICS_N_BUCKETS + 1];
    uint64_t count;
    double sum_s;
};

/* A domain's own figures, appended to /metrics after the server's (the tracker's trips and
 * GPS frames, say); registered at start-up, so core needs to know no domain. */
struct metrics_source {
    void (*render)(void *ctx, struct strbuf *out);
    void *ctx;
};

#define METRICS_MAX_SOURCES 8

struct metrics {
    uint64_t connections;        /* gauge */
    uint64_t connections_total;
    uint64_t frames_in, frames_out;
    uint64_t bytes_in, bytes_out;
    uint64_t error_events;       /* error events sent */
    uint64_t error_events_dropped;
    uint64_t malformed_frames;
    uint64_t slow_closes;        /* connections closed because their queue filled */
    uint64_t heartbeat_drops;    /* connections dropped after three silent heartbeat periods */
    uint64_t close_timeouts;     /* closing connections dropped at their deadline, unflushed */
    uint64_t batched_writes;     /* writes that carried more than one queued frame */
    uint64_t refused_connections;/* closed at accept: too close to the descriptor limit */
    uint64_t sealed_open_failures; /* sealed values sent as nil because they did not open */
    /* Fair shares (gateway/router.c): requests that waited for their connection's turn, and
     * requests refused rate_limited: the connection's waiting line was full, its request rate
     * was spent, or its address's budget of public database requests was. */
    uint64_t fair_waited;
    uint64_t fair_refused_waiting;
    uint64_t fair_refused_rate;
    uint64_t fair_refused_address;
    struct metrics_source sources[METRICS_MAX_SOURCES];
    size_t n_sources;
};

/* Adds a source of figures; returns 0 or -ENOSPC. */
int metrics_add_source(struct metrics *m, void (*render)(void *ctx, struct strbuf *out),
                       void *ctx);
/* Appends every registered source's figures. */
void metrics_render_sources(const struct metrics *m, struct strbuf *out);

/* Records one completed op: outcome code (OP_OK or an OP_E_*) and its latency. */
void op_metrics_observe(struct op_metrics *m, int code, double seconds);

/* Appends the metrics in the Prometheus text format: the server's counters, then per-op
 * replies and latency histograms for n_ops ops. */
void metrics_render(const struct metrics *m, const struct op_metrics *ops, int n_ops,
                    struct strbuf *out);
