/* Logarithmic latency histogram (see hist.h). */
#include "bench/hist.h"

#define SUB (1u << HIST_SUB_BITS)

static unsigned bucket_of(uint64_t v)
{
    if (v < SUB) {
        return (unsigned)v;
    }
    /* Keep the top HIST_SUB_BITS + 1 bits: the leading one picks the power of two, the
     * rest the bucket within it. */
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - HIST_SUB_BITS;
    return (shift + 1) * SUB + (unsigned)((v >> shift) & (SUB - 1));
}

static uint64_t middle_of(unsigned i)
{
    if (i < SUB) {
        return i;
    }
    unsigned shift = i / SUB - 1;
    uint64_t low = (uint64_t)(SUB + i % SUB) << shift;
    return low + ((1ull << shift) >> 1);
}

void hist_add(struct hist *h, uint64_t v)
{
    h->counts[bucket_of(v)]++;
    h->total++;
    if (v > h->max) {
        h->max = v;
    }
}

uint64_t hist_percentile(const struct hist *h, double p)
{
    if (h->total == 0) {
        return 0;
    }
    uint64_t rank = (uint64_t)((double)h->total * p / 100.0 + 0.999999);
    if (rank < 1) {
        rank = 1;
    }
    uint64_t seen = 0;
    for (unsigned i = 0; i < HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = middle_of(i);
            return v > h->max ? h->max : v;
        }
    }
    return h->max;
}
