/* Unit tests for core/ratelimit: token buckets per key, refill over (given) time, retry-after,
 * the key cap and sweeping idle keys. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "core/ratelimit.h"

#define T0 1000000 /* an arbitrary start time, in ms */

/* cmocka's assert_float_equal works in float; these values need double. Fails on NaN. */
static void assert_near(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol)) {
        fail_msg("%.9g is not within %g of %.9g", got, tol, want);
    }
}

static bool take(struct ratelimit *rl, const char *key, uint64_t now_ms, double *retry)
{
    *retry = -1.0;
    return ratelimit_take(rl, key, strlen(key), now_ms, retry);
}

/* Takes n tokens at now_ms, asserting each is allowed. */
static void drain(struct ratelimit *rl, const char *key, int n, uint64_t now_ms)
{
    double retry;
    for (int i = 0; i < n; i++) {
        assert_true(take(rl, key, now_ms, &retry));
    }
}

static void test_take_allows_a_full_burst(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(5, 1, 100);
    drain(rl, "10.0.0.1", 5, T0);
    ratelimit_free(rl);
}

static void test_take_refuses_after_burst(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(5, 1, 100);
    drain(rl, "10.0.0.1", 5, T0);
    double retry;
    assert_false(take(rl, "10.0.0.1", T0, &retry));
    assert_false(take(rl, "10.0.0.1", T0, &retry));
    ratelimit_free(rl);
}

static void test_take_reports_seconds_until_next_token(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(10, 1.0 / 6.0, 100); /* one per 6 s */
    drain(rl, "c1", 10, T0);
    double retry;
    assert_false(take(rl, "c1", T0, &retry));
    assert_near(retry, 6.0, 1e-9);
    /* Two seconds later a third of the token has come back. */
    assert_false(take(rl, "c1", T0 + 2000, &retry));
    assert_near(retry, 4.0, 1e-9);
    ratelimit_free(rl);
}

static void test_take_refills_at_rate_over_time(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(3, 2, 100); /* two per second */
    double retry;
    drain(rl, "k", 3, T0);
    assert_false(take(rl, "k", T0 + 250, &retry)); /* half a token */
    assert_true(take(rl, "k", T0 + 500, &retry));
    assert_false(take(rl, "k", T0 + 500, &retry));
    /* A second later two more tokens, not three. */
    drain(rl, "k", 2, T0 + 1500);
    assert_false(take(rl, "k", T0 + 1500, &retry));
    ratelimit_free(rl);
}

static void test_take_refill_is_capped_at_burst(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(4, 10, 100);
    double retry;
    drain(rl, "k", 4, T0);
    /* An hour idle refills only up to the burst. */
    drain(rl, "k", 4, T0 + 3600 * 1000);
    assert_false(take(rl, "k", T0 + 3600 * 1000, &retry));
    ratelimit_free(rl);
}

static void test_take_refused_attempts_do_not_earn_tokens(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(1, 1, 100);
    double retry;
    drain(rl, "k", 1, T0);
    for (uint64_t t = T0; t < T0 + 1000; t += 125) {
        assert_false(take(rl, "k", t, &retry));
    }
    assert_true(take(rl, "k", T0 + 1000, &retry));
    ratelimit_free(rl);
}

static void test_take_keeps_distinct_keys_independent(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(2, 1, 100);
    double retry;
    drain(rl, "10.0.0.1", 2, T0);
    assert_false(take(rl, "10.0.0.1", T0, &retry));
    drain(rl, "10.0.0.2", 2, T0);
    assert_false(take(rl, "10.0.0.2", T0, &retry));
    assert_int_equal(ratelimit_count(rl), 2);
    ratelimit_free(rl);
}

static void test_take_treats_prefix_of_key_as_another_key(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(1, 1, 100);
    double retry;
    drain(rl, "c12", 1, T0);
    assert_true(take(rl, "c1", T0, &retry));
    assert_true(take(rl, "c123", T0, &retry));
    assert_int_equal(ratelimit_count(rl), 3);
    ratelimit_free(rl);
}

static void test_take_keys_compare_bytes_past_a_nul(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(1, 1, 100);
    double retry;
    assert_true(ratelimit_take(rl, "a\0b", 3, T0, &retry));
    assert_true(ratelimit_take(rl, "a\0c", 3, T0, &retry));
    assert_false(ratelimit_take(rl, "a\0b", 3, T0, &retry));
    ratelimit_free(rl);
}

static void test_take_refuses_new_key_when_full(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(5, 1, 2);
    double retry;
    assert_true(take(rl, "a", T0, &retry));
    assert_true(take(rl, "b", T0, &retry));
    assert_false(take(rl, "c", T0, &retry));
    assert_near(retry, 1.0, 1e-9);
    assert_int_equal(ratelimit_count(rl), 2);
    /* Keys already held still get their tokens. */
    assert_true(take(rl, "a", T0, &retry));
    ratelimit_free(rl);
}

static void test_take_allows_new_key_after_sweep_frees_room(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(2, 1, 1);
    double retry;
    assert_true(take(rl, "a", T0, &retry));
    assert_false(take(rl, "b", T0, &retry));
    ratelimit_sweep(rl, T0 + 1000);
    assert_int_equal(ratelimit_count(rl), 0);
    assert_true(take(rl, "b", T0 + 1000, &retry));
    ratelimit_free(rl);
}

static void test_sweep_keeps_keys_not_yet_refilled(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(3, 1, 100);
    double retry;
    drain(rl, "busy", 3, T0);
    drain(rl, "light", 1, T0);
    ratelimit_sweep(rl, T0 + 500);
    assert_int_equal(ratelimit_count(rl), 2);
    ratelimit_sweep(rl, T0 + 1000); /* "light" is full again, "busy" has 1 of 3 */
    assert_int_equal(ratelimit_count(rl), 1);
    /* The kept bucket remembers how empty it is: 1 token back, 1 taken, none left. */
    assert_true(take(rl, "busy", T0 + 1000, &retry));
    assert_false(take(rl, "busy", T0 + 1000, &retry));
    ratelimit_sweep(rl, T0 + 4000);
    assert_int_equal(ratelimit_count(rl), 0);
    ratelimit_free(rl);
}

static void test_swept_key_starts_with_full_burst(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(2, 1, 100);
    double retry;
    drain(rl, "k", 2, T0);
    ratelimit_sweep(rl, T0 + 2000);
    assert_int_equal(ratelimit_count(rl), 0);
    drain(rl, "k", 2, T0 + 2000);
    assert_false(take(rl, "k", T0 + 2000, &retry));
    ratelimit_free(rl);
}

static void test_count_tracks_many_keys_across_slots(void **state)
{
    (void)state;
    struct ratelimit *rl = ratelimit_new(1, 1, 5000);
    double retry;
    char key[16];
    for (int i = 0; i < 3000; i++) { /* more keys than hash slots: chains */
        int n = snprintf(key, sizeof key, "c%d", i);
        assert_true(ratelimit_take(rl, key, (size_t)n, T0, &retry));
    }
    assert_int_equal(ratelimit_count(rl), 3000);
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(key, sizeof key, "c%d", i);
        assert_false(ratelimit_take(rl, key, (size_t)n, T0, &retry));
    }
    ratelimit_sweep(rl, T0 + 1000);
    assert_int_equal(ratelimit_count(rl), 0);
    ratelimit_free(rl);
}

static void test_take_shares_bucket_for_keys_equal_in_first_64_bytes(void **state)
{
    (void)state;
    /* Keys are held to 64 bytes; longer ones (none today: addresses, "c<id>") share a bucket
     * when they agree on those, which limits more, never less. */
    struct ratelimit *rl = ratelimit_new(1, 1, 100);
    double retry;
    char a[80], b[80];
    memset(a, 'x', sizeof a - 1);
    a[sizeof a - 1] = '\0';
    memcpy(b, a, sizeof b);
    b[70] = 'y';
    assert_true(take(rl, a, T0, &retry));
    assert_false(take(rl, b, T0, &retry));
    assert_int_equal(ratelimit_count(rl), 1);
    ratelimit_free(rl);
}

static void test_free_accepts_null(void **state)
{
    (void)state;
    ratelimit_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_take_allows_a_full_burst),
        cmocka_unit_test(test_take_refuses_after_burst),
        cmocka_unit_test(test_take_reports_seconds_until_next_token),
        cmocka_unit_test(test_take_refills_at_rate_over_time),
        cmocka_unit_test(test_take_refill_is_capped_at_burst),
        cmocka_unit_test(test_take_refused_attempts_do_not_earn_tokens),
        cmocka_unit_test(test_take_keeps_distinct_keys_independent),
        cmocka_unit_test(test_take_treats_prefix_of_key_as_another_key),
        cmocka_unit_test(test_take_keys_compare_bytes_past_a_nul),
        cmocka_unit_test(test_take_refuses_new_key_when_full),
        cmocka_unit_test(test_take_allows_new_key_after_sweep_frees_room),
        cmocka_unit_test(test_sweep_keeps_keys_not_yet_refilled),
        cmocka_unit_test(test_swept_key_starts_with_full_burst),
        cmocka_unit_test(test_count_tracks_many_keys_across_slots),
        cmocka_unit_test(test_take_shares_bucket_for_keys_equal_in_first_64_bytes),
        cmocka_unit_test(test_free_accepts_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
