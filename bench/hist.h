/* A latency histogram with logarithmic buckets (HDR-like): exact below 64 ns, then 64
 * buckets per power of two, so any percentile it reports is within 1/64 (1.6 %) of the true
 * value, in a fixed 30 KiB whatever the number of samples. */
#pragma once
#include <stdint.h>

#define HIST_SUB_BITS 6
#define HIST_BUCKETS ((64 - HIST_SUB_BITS + 1) << HIST_SUB_BITS)

/* Embed or zero-initialise; there is nothing to free. */
struct hist {
    uint64_t counts[HIST_BUCKETS];
    uint64_t total;
    uint64_t max;
};

void hist_add(struct hist *h, uint64_t v);

/* The value at percentile p (0 < p <= 100): the middle of its bucket, never above the largest
 * value added. 0 when the histogram is empty. */
uint64_t hist_percentile(const struct hist *h, double p);
