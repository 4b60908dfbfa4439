/* Unit tests for tracking/gps: every rule a position must pass, at its boundary and just past
 * it, with the server's time passed in (no clock, no sleeps). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "tracking/geo.h"
#include "tracking/gps.h"

/* The server's time in every test: 2023-11-14T22:13:20Z. */
#define NOW 1700000000000u

/* Limits unlike the configuration's defaults, so no test leans on those. */
static const struct tracking_config cfg = {
    .gps_min_interval_ms = 500,
    .gps_max_age_s = 120,
    .gps_max_speed_mps = 50,
};

static const char *const names[] = {
    [GPS_OK] = "GPS_OK",
    [GPS_E_LAT_RANGE] = "GPS_E_LAT_RANGE",
    [GPS_E_LON_RANGE] = "GPS_E_LON_RANGE",
    [GPS_E_TS_RANGE] = "GPS_E_TS_RANGE",
    [GPS_E_SPD_RANGE] = "GPS_E_SPD_RANGE",
    [GPS_E_HDG_RANGE] = "GPS_E_HDG_RANGE",
    [GPS_E_ACC_RANGE] = "GPS_E_ACC_RANGE",
    [GPS_E_FUTURE] = "GPS_E_FUTURE",
    [GPS_E_STALE] = "GPS_E_STALE",
    [GPS_E_TOO_SOON] = "GPS_E_TOO_SOON",
    [GPS_E_OUT_OF_ORDER] = "GPS_E_OUT_OF_ORDER",
    [GPS_E_TOO_FAST] = "GPS_E_TOO_FAST",
};

static struct gps_frame at(double lat, double lon, double ts_ms)
{
    return (struct gps_frame){ .lat = lat, .lon = lon, .ts_ms = ts_ms };
}

/* A previous fix accepted a second ago, stamped a second ago by the phone. */
static struct gps_fix fix(double lat, double lon)
{
    return (struct gps_fix){ .lat = lat, .lon = lon, .ts_ms = NOW - 1000.0, .rx_ms = NOW - 1000 };
}

static void expect_at(struct gps_frame f, const struct gps_fix *prev,
                      const struct tracking_config *limits, uint64_t now_ms,
                      enum gps_result want)
{
    enum gps_result got = gps_check(&f, prev, limits, now_ms, NULL);
    if (got != want) {
        fail_msg("frame (%.17g, %.17g, ts %.17g, spd %.17g/%d, hdg %.17g/%d, acc %.17g/%d) "
                 "at %llu: got %s, want %s", f.lat, f.lon, f.ts_ms, f.spd, f.has_spd, f.hdg,
                 f.has_hdg, f.acc, f.has_acc, (unsigned long long)now_ms, names[got],
                 names[want]);
    }
}

static void expect(struct gps_frame f, const struct gps_fix *prev, enum gps_result want)
{
    expect_at(f, prev, &cfg, NOW, want);
}

/* --- the first fix of a trip --- */

static void test_first_fix_is_accepted_with_no_implied_speed(void **state)
{
    (void)state;
    struct gps_frame f = at(12.9716, 77.5946, NOW);
    double implied = -1;
    assert_int_equal(gps_check(&f, NULL, &cfg, NOW, &implied), GPS_OK);
    assert_true(implied == 0);
}

static void test_first_fix_skips_the_rules_that_need_a_previous_fix(void **state)
{
    (void)state;
    /* From the other side of the Earth, at the same instant: only a previous fix makes this a
     * jump, too soon and out of order. */
    expect(at(-12.9716, -102.4054, NOW), NULL, GPS_OK);
    /* Still subject to the clock window. */
    expect(at(0, 0, NOW + 60001.0), NULL, GPS_E_FUTURE);
    expect(at(0, 0, NOW - 120001.0), NULL, GPS_E_STALE);
}

static void test_implied_mps_may_be_null(void **state)
{
    (void)state;
    struct gps_fix prev = fix(0, 0);
    struct gps_frame f = at(0.0001, 0, NOW);
    assert_int_equal(gps_check(&f, &prev, &cfg, NOW, NULL), GPS_OK);
}

/* --- field ranges: poles, the antimeridian, NaN and infinity --- */

static void test_lat_accepts_both_poles_and_refuses_just_past_them(void **state)
{
    (void)state;
    expect(at(90, 0, NOW), NULL, GPS_OK);
    expect(at(-90, 0, NOW), NULL, GPS_OK);
    expect(at(nextafter(90, INFINITY), 0, NOW), NULL, GPS_E_LAT_RANGE);
    expect(at(nextafter(-90, -INFINITY), 0, NOW), NULL, GPS_E_LAT_RANGE);
    expect(at(91, 0, NOW), NULL, GPS_E_LAT_RANGE);
}

static void test_lon_accepts_the_antimeridian_from_both_sides(void **state)
{
    (void)state;
    expect(at(0, 180, NOW), NULL, GPS_OK);
    expect(at(0, -180, NOW), NULL, GPS_OK);
    expect(at(0, nextafter(180, INFINITY), NOW), NULL, GPS_E_LON_RANGE);
    expect(at(0, nextafter(-180, -INFINITY), NOW), NULL, GPS_E_LON_RANGE);
    expect(at(0, 360, NOW), NULL, GPS_E_LON_RANGE);
}

static void test_ts_range_is_checked_before_the_clock_window(void **state)
{
    (void)state;
    /* At time 0 and at the largest ts, both ends of the range are inside the window. */
    expect_at(at(0, 0, 0), NULL, &cfg, 0, GPS_OK);
    expect_at(at(0, 0, -1), NULL, &cfg, 0, GPS_E_TS_RANGE);
    expect_at(at(0, 0, GPS_TS_MAX), NULL, &cfg, (uint64_t)GPS_TS_MAX, GPS_OK);
    expect_at(at(0, 0, nextafter(GPS_TS_MAX, INFINITY)), NULL, &cfg, (uint64_t)GPS_TS_MAX,
              GPS_E_TS_RANGE);
}

static void test_nan_and_infinity_are_out_of_range_in_every_field(void **state)
{
    (void)state;
    const double bad[] = { NAN, -NAN, INFINITY, -INFINITY };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        double x = bad[i];
        expect(at(x, 0, NOW), NULL, GPS_E_LAT_RANGE);
        expect(at(0, x, NOW), NULL, GPS_E_LON_RANGE);
        expect(at(0, 0, x), NULL, GPS_E_TS_RANGE);
        struct gps_frame f = at(0, 0, NOW);
        f.spd = x;
        f.has_spd = true;
        expect(f, NULL, GPS_E_SPD_RANGE);
        f = at(0, 0, NOW);
        f.hdg = x;
        f.has_hdg = true;
        expect(f, NULL, GPS_E_HDG_RANGE);
        f = at(0, 0, NOW);
        f.acc = x;
        f.has_acc = true;
        expect(f, NULL, GPS_E_ACC_RANGE);
        /* With a previous fix too: NaN must not slip past the comparisons of the later rules. */
        struct gps_fix prev = fix(0, 0);
        expect(at(x, 0, NOW), &prev, GPS_E_LAT_RANGE);
        expect(at(0, 0, x), &prev, GPS_E_TS_RANGE);
    }
}

static void test_absent_optional_fields_are_not_checked(void **state)
{
    (void)state;
    struct gps_frame f = at(0, 0, NOW);
    f.spd = NAN;
    f.hdg = -1;
    f.acc = INFINITY;
    expect(f, NULL, GPS_OK);
}

/* A frame at (0, 0) now, with one optional field (0 spd, 1 hdg, 2 acc) set to v. */
static struct gps_frame with_optional(int which, double v)
{
    struct gps_frame f = at(0, 0, NOW);
    if (which == 0) {
        f.spd = v;
        f.has_spd = true;
    } else if (which == 1) {
        f.hdg = v;
        f.has_hdg = true;
    } else {
        f.acc = v;
        f.has_acc = true;
    }
    return f;
}

static void test_spd_hdg_and_acc_accept_zero_to_their_maximum(void **state)
{
    (void)state;
    static const double max[] = { GPS_SPD_MAX, GPS_HDG_MAX, GPS_ACC_MAX };
    static const enum gps_result past[] = { GPS_E_SPD_RANGE, GPS_E_HDG_RANGE, GPS_E_ACC_RANGE };
    for (int i = 0; i < 3; i++) {
        expect(with_optional(i, 0.0), NULL, GPS_OK);
        expect(with_optional(i, -0.0), NULL, GPS_OK);
        expect(with_optional(i, max[i]), NULL, GPS_OK);
        expect(with_optional(i, nextafter(max[i], INFINITY)), NULL, past[i]);
        expect(with_optional(i, nextafter(0, -INFINITY)), NULL, past[i]);
        expect(with_optional(i, -1), NULL, past[i]);
    }
}

/* --- the clock window: the phone's clock ahead of or behind the server's --- */

static void test_phone_clock_ahead_is_accepted_up_to_the_future_limit(void **state)
{
    (void)state;
    expect(at(0, 0, NOW + 59000.0), NULL, GPS_OK);
    expect(at(0, 0, (double)NOW + GPS_MAX_FUTURE_MS), NULL, GPS_OK);
    expect(at(0, 0, nextafter((double)NOW + GPS_MAX_FUTURE_MS, INFINITY)), NULL, GPS_E_FUTURE);
    expect(at(0, 0, NOW + 60001.0), NULL, GPS_E_FUTURE);
    expect(at(0, 0, NOW + 86400000.0), NULL, GPS_E_FUTURE);
}

static void test_phone_clock_behind_is_accepted_up_to_max_age(void **state)
{
    (void)state;
    expect(at(0, 0, NOW - 119000.0), NULL, GPS_OK);
    expect(at(0, 0, NOW - 120000.0), NULL, GPS_OK);
    expect(at(0, 0, nextafter(NOW - 120000.0, -INFINITY)), NULL, GPS_E_STALE);
    expect(at(0, 0, NOW - 120001.0), NULL, GPS_E_STALE);
    expect(at(0, 0, 0), NULL, GPS_E_STALE);
}

static void test_max_age_comes_from_the_limits(void **state)
{
    (void)state;
    struct tracking_config strict = cfg;
    strict.gps_max_age_s = 5;
    expect_at(at(0, 0, NOW - 5000.0), NULL, &strict, NOW, GPS_OK);
    expect_at(at(0, 0, NOW - 5001.0), NULL, &strict, NOW, GPS_E_STALE);
}

/* --- the interval since the previous fix, on the server's clock --- */

static void test_interval_accepts_exactly_the_minimum_and_refuses_a_ms_less(void **state)
{
    (void)state;
    struct gps_fix prev = fix(0, 0);
    prev.rx_ms = NOW - 500;
    expect(at(0, 0.00001, NOW), &prev, GPS_OK);
    prev.rx_ms = NOW - 499;
    expect(at(0, 0.00001, NOW), &prev, GPS_E_TOO_SOON);
    prev.rx_ms = NOW;
    expect(at(0, 0.00001, NOW), &prev, GPS_E_TOO_SOON);
}

static void test_interval_uses_server_time_not_the_phone_timestamps(void **state)
{
    (void)state;
    /* The phone claims a minute passed; the server saw 100 ms. */
    struct gps_fix prev = fix(0, 0);
    prev.ts_ms = NOW - 60000.0;
    prev.rx_ms = NOW - 100;
    expect(at(0, 0.00001, NOW), &prev, GPS_E_TOO_SOON);
}

static void test_interval_of_zero_accepts_frames_in_the_same_ms(void **state)
{
    (void)state;
    struct tracking_config any = cfg;
    any.gps_min_interval_ms = 0;
    struct gps_fix prev = fix(0, 0);
    prev.rx_ms = NOW;
    expect_at(at(0, 0.00001, NOW), &prev, &any, NOW, GPS_OK);
}

static void test_server_clock_stepping_back_does_not_hold_frames_up(void **state)
{
    (void)state;
    /* The previous fix arrived "10 s from now": the server's clock was set back since. */
    struct gps_fix prev = fix(0, 0);
    prev.rx_ms = NOW + 10000;
    expect(at(0, 0.00001, NOW), &prev, GPS_OK);
}

/* --- order --- */

static void test_ts_must_be_after_the_previous_fix(void **state)
{
    (void)state;
    struct gps_fix prev = fix(0, 0);
    expect(at(0, 0, prev.ts_ms), &prev, GPS_E_OUT_OF_ORDER);
    expect(at(0, 0, prev.ts_ms - 1), &prev, GPS_E_OUT_OF_ORDER);
    expect(at(0, 0, nextafter(prev.ts_ms, INFINITY)), &prev, GPS_OK);
    expect(at(0, 0, prev.ts_ms + 1), &prev, GPS_OK);
}

/* --- speed --- */

/* A frame at (lat, lon) whose jump from prev implies factor times the speed limit. */
static struct gps_frame jump(const struct gps_fix *prev, double lat, double lon, double factor)
{
    double dist_m = geo_distance_m(prev->lat, prev->lon, lat, lon);
    double dt_ms = dist_m / (cfg.gps_max_speed_mps * factor) * 1000.0;
    return at(lat, lon, prev->ts_ms + dt_ms);
}

static void test_speed_at_the_limit_is_accepted_and_just_past_it_refused(void **state)
{
    (void)state;
    struct gps_fix prev = fix(12.9716, 77.5946);
    prev.ts_ms = NOW - 30000.0;
    prev.rx_ms = NOW - 30000;
    /* About 1 km north-east, over some 20 s. */
    expect(jump(&prev, 12.9780, 77.6020, 0.999999), &prev, GPS_OK);
    expect(jump(&prev, 12.9780, 77.6020, 1.000001), &prev, GPS_E_TOO_FAST);
    expect(jump(&prev, 12.9780, 77.6020, 10), &prev, GPS_E_TOO_FAST);
}

static void test_implied_speed_is_the_jump_over_the_phone_interval(void **state)
{
    (void)state;
    struct gps_fix prev = fix(0, 0);
    prev.ts_ms = NOW - 10000.0;
    struct gps_frame f = at(0.001, 0, NOW); /* 111.2 m in 10 s */
    double implied = -1;
    assert_int_equal(gps_check(&f, &prev, &cfg, NOW, &implied), GPS_OK);
    double want = geo_distance_m(0, 0, 0.001, 0) / 10.0;
    assert_true(fabs(implied - want) < 1e-9);
    assert_true(implied > 11 && implied < 11.2);
}

static void test_max_speed_comes_from_the_limits(void **state)
{
    (void)state;
    struct tracking_config slow = cfg;
    slow.gps_max_speed_mps = 5;
    struct gps_fix prev = fix(0, 0);
    prev.ts_ms = NOW - 10000.0;
    struct gps_frame f = at(0.001, 0, NOW); /* 11.1 m/s */
    expect_at(f, &prev, &cfg, NOW, GPS_OK);
    expect_at(f, &prev, &slow, NOW, GPS_E_TOO_FAST);
}

static void test_crossing_the_antimeridian_is_a_short_hop(void **state)
{
    (void)state;
    /* 0.0002 degrees of longitude at 10 degrees north: about 22 m, not 360 degrees. */
    struct gps_fix prev = fix(10, 179.9999);
    struct gps_frame f = at(10, -179.9999, NOW);
    double implied = -1;
    assert_int_equal(gps_check(&f, &prev, &cfg, NOW, &implied), GPS_OK);
    assert_true(implied > 21 && implied < 23);
    prev = fix(10, -179.9999);
    f = at(10, 179.9999, NOW);
    assert_int_equal(gps_check(&f, &prev, &cfg, NOW, &implied), GPS_OK);
    assert_true(implied > 21 && implied < 23);
}

static void test_crossing_a_pole_is_a_short_hop(void **state)
{
    (void)state;
    /* Over the North Pole along the 0/180 meridian: 0.0002 degrees of latitude, 22 m. */
    struct gps_fix prev = fix(89.9999, 0);
    struct gps_frame f = at(89.9999, 180, NOW);
    double implied = -1;
    assert_int_equal(gps_check(&f, &prev, &cfg, NOW, &implied), GPS_OK);
    assert_true(implied > 21 && implied < 23);
    prev = fix(-89.9999, 90);
    f = at(-89.9999, -90, NOW);
    assert_int_equal(gps_check(&f, &prev, &cfg, NOW, &implied), GPS_OK);
    assert_true(implied > 21 && implied < 23);
    /* From pole to pole in a second is still too fast. */
    prev = fix(90, 0);
    expect(at(-90, 0, NOW), &prev, GPS_E_TOO_FAST);
}

/* --- which rule wins --- */

static void test_the_first_rule_broken_is_the_result(void **state)
{
    (void)state;
    struct gps_fix prev = fix(0, 0);
    prev.rx_ms = NOW; /* too soon for anything */
    /* range before clock window before interval before order before speed */
    expect(at(91, 0, NOW + 1e9), &prev, GPS_E_LAT_RANGE);
    expect(at(0, 181, NOW + 1e9), &prev, GPS_E_LON_RANGE);
    expect(at(0, 0, NOW + 1e9), &prev, GPS_E_FUTURE);
    expect(at(0, 0, NOW - 1e9), &prev, GPS_E_STALE);
    expect(at(45, 0, prev.ts_ms - 1), &prev, GPS_E_TOO_SOON);
    prev.rx_ms = NOW - 1000;
    expect(at(45, 0, prev.ts_ms - 1), &prev, GPS_E_OUT_OF_ORDER);
    expect(at(45, 0, NOW), &prev, GPS_E_TOO_FAST);
    struct gps_frame f = at(91, 0, NOW);
    f.spd = -1;
    f.has_spd = true;
    expect(f, NULL, GPS_E_LAT_RANGE);
    f.lat = 0;
    f.hdg = 361;
    f.has_hdg = true;
    expect(f, NULL, GPS_E_SPD_RANGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_fix_is_accepted_with_no_implied_speed),
        cmocka_unit_test(test_first_fix_skips_the_rules_that_need_a_previous_fix),
        cmocka_unit_test(test_implied_mps_may_be_null),
        cmocka_unit_test(test_lat_accepts_both_poles_and_refuses_just_past_them),
        cmocka_unit_test(test_lon_accepts_the_antimeridian_from_both_sides),
        cmocka_unit_test(test_ts_range_is_checked_before_the_clock_window),
        cmocka_unit_test(test_nan_and_infinity_are_out_of_range_in_every_field),
        cmocka_unit_test(test_absent_optional_fields_are_not_checked),
        cmocka_unit_test(test_spd_hdg_and_acc_accept_zero_to_their_maximum),
        cmocka_unit_test(test_phone_clock_ahead_is_accepted_up_to_the_future_limit),
        cmocka_unit_test(test_phone_clock_behind_is_accepted_up_to_max_age),
        cmocka_unit_test(test_max_age_comes_from_the_limits),
        cmocka_unit_test(test_interval_accepts_exactly_the_minimum_and_refuses_a_ms_less),
        cmocka_unit_test(test_interval_uses_server_time_not_the_phone_timestamps),
        cmocka_unit_test(test_interval_of_zero_accepts_frames_in_the_same_ms),
        cmocka_unit_test(test_server_clock_stepping_back_does_not_hold_frames_up),
        cmocka_unit_test(test_ts_must_be_after_the_previous_fix),
        cmocka_unit_test(test_speed_at_the_limit_is_accepted_and_just_past_it_refused),
        cmocka_unit_test(test_implied_speed_is_the_jump_over_the_phone_interval),
        cmocka_unit_test(test_max_speed_comes_from_the_limits),
        cmocka_unit_test(test_crossing_the_antimeridian_is_a_short_hop),
        cmocka_unit_test(test_crossing_a_pole_is_a_short_hop),
        cmocka_unit_test(test_the_first_rule_broken_is_the_result),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
