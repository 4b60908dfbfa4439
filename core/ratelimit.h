/* Token-bucket rate limits keyed by a string (a client address, a phone's blind index, …),
 * held in memory on the loop. Idle keys are forgotten, so memory follows the active keys. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ratelimit;

/* burst tokens at most, refilled at per_s tokens per second. max_keys bounds memory: when full,
 * new keys are refused (callers see rate_limited) until idle ones are swept. */
struct ratelimit *ratelimit_new(double burst, double per_s, size_t max_keys);
void ratelimit_free(struct ratelimit *rl);

/* Takes one token for key. Returns true when allowed; otherwise false with *retry_after_s set
 * to the seconds until a token is available. */
bool ratelimit_take(struct ratelimit *rl, const char *key, size_t key_len, uint64_t now_ms,
                    double *retry_after_s);
/* Forgets keys whose bucket has refilled completely. */
void ratelimit_sweep(struct ratelimit *rl, uint64_t now_ms);
size_t ratelimit_count(const struct ratelimit *rl);
