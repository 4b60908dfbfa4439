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
    uint64_t batched_writes;     /* writes that carried more than one queued frame */
    uint64_t refused_connections;/* closed at accept: too close to the descriptor limit */
};

/* Records one completed op: outcome code (OP_OK or an OP_E_*) and its latency. */
void op_metrics_observe(struct op_metrics *m, int code, double seconds);

/* Appends the metrics in the Prometheus text format: the server's counters, then per-op
 * replies and latency histograms for n_ops ops. */
void metrics_render(const struct metrics *m, const struct op_metrics *ops, int n_ops,
                    struct strbuf *out);
