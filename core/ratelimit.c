/* Token buckets in a chained hash table (see ratelimit.h). */
#include "core/ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

#define KEY_MAX 64

struct bucket {
    struct bucket *next;
    double tokens;
    uint64_t at_ms;
    size_t key_len;
    char key[KEY_MAX];
};

struct ratelimit {
    double burst, per_s;
    size_t max_keys, n_keys, n_slots;
    struct bucket **slots;
};

struct ratelimit *ratelimit_new(double burst, double per_s, size_t max_keys)
{
    struct ratelimit *rl = xcalloc(1, sizeof *rl);
    rl->burst = burst;
    rl->per_s = per_s;
    rl->max_keys = max_keys;
    rl->n_slots = 1024;
    rl->slots = xcalloc(rl->n_slots, sizeof *rl->slots);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl) {
        return;
    }
    for (size_t i = 0; i < rl->n_slots; i++) {
        struct bucket *b = rl->slots[i];
        while (b) {
            struct bucket *next = b->next;
            free(b);
            b = next;
        }
    }
    free(rl->slots);
    free(rl);
}

static size_t hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t i = 0; i < len; i++) {
        h = (h ^ (unsigned char)key[i]) * 1099511628211ull;
    }
    return (size_t)h;
}

static void refill(const struct ratelimit *rl, struct bucket *b, uint64_t now_ms)
{
    if (now_ms > b->at_ms) {
        b->tokens += (double)(now_ms - b->at_ms) * rl->per_s / 1000.0;
        if (b->tokens > rl->burst) {
            b->tokens = rl->burst;
        }
    }
    b->at_ms = now_ms;
}

bool ratelimit_take(struct ratelimit *rl, const char *key, size_t key_len, uint64_t now_ms,
                    double *retry_after_s)
{
    if (key_len > KEY_MAX) {
        key_len = KEY_MAX;
    }
    struct bucket **slot = &rl->slots[hash(key, key_len) % rl->n_slots];
    struct bucket *b = *slot;
    while (b && (b->key_len != key_len || memcmp(b->key, key, key_len) != 0)) {
        b = b->next;
    }
    if (!b) {
        if (rl->n_keys >= rl->max_keys) {
            *retry_after_s = 1.0;
            return false;
        }
        b = xcalloc(1, sizeof *b);
        memcpy(b->key, key, key_len);
        b->key_len = key_len;
        b->tokens = rl->burst;
        b->at_ms = now_ms;
        b->next = *slot;
        *slot = b;
        rl->n_keys++;
    }
    refill(rl, b, now_ms);
    if (b->tokens >= 1.0) {
        b->tokens -= 1.0;
        return true;
    }
    *retry_after_s = (1.0 - b->tokens) / rl->per_s;
    return false;
}

void ratelimit_sweep(struct ratelimit *rl, uint64_t now_ms)
{
    for (size_t i = 0; i < rl->n_slots; i++) {
        struct bucket **p = &rl->slots[i];
        while (*p) {
            struct bucket *b = *p;
            refill(rl, b, now_ms);
            if (b->tokens >= rl->burst) {
                *p = b->next;
                free(b);
                rl->n_keys--;
            } else {
                p = &b->next;
            }
        }
    }
}

size_t ratelimit_count(const struct ratelimit *rl)
{
    return rl->n_keys;
}
