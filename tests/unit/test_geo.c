/* Unit tests for tracking/geo: great-circle distances between WGS 84 points. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>

#include "tracking/geo.h"

/* Half the circumference of the mean-radius sphere: the farthest two points can be. */
#define HALF_CIRCUMFERENCE_M (M_PI * 6371008.8)

/* cmocka's assert_float_equal works in float; these values need double. Fails on NaN. */
static void assert_near(double got, double want, double tol)
{
    if (!(fabs(got - want) <= tol)) {
        fail_msg("%.9g is not within %g of %.9g", got, tol, want);
    }
}

static void assert_within_percent(double got, double want, double percent)
{
    assert_near(got, want, want * percent / 100.0);
}

static void test_distance_is_zero_for_same_point(void **state)
{
    (void)state;
    assert_near(geo_distance_m(28.6139, 77.2090, 28.6139, 77.2090), 0.0, 1e-9);
    assert_near(geo_distance_m(0, 0, 0, 0), 0.0, 1e-9);
    assert_near(geo_distance_m(-33.8688, 151.2093, -33.8688, 151.2093), 0.0, 1e-9);
}

static void test_distance_delhi_mumbai_is_about_1148_km(void **state)
{
    (void)state;
    assert_within_percent(geo_distance_m(28.6139, 77.2090, 19.0760, 72.8777), 1148e3, 1.0);
}

static void test_distance_matches_other_known_city_pairs(void **state)
{
    (void)state;
    /* Bengaluru - Chennai, about 290 km. */
    assert_within_percent(geo_distance_m(12.9716, 77.5946, 13.0827, 80.2707), 290e3, 1.0);
    /* London - Paris, about 344 km. */
    assert_within_percent(geo_distance_m(51.5074, -0.1278, 48.8566, 2.3522), 344e3, 1.0);
    /* New York - Los Angeles, about 3936 km. */
    assert_within_percent(geo_distance_m(40.7128, -74.0060, 34.0522, -118.2437), 3936e3, 1.0);
}

static void test_distance_one_degree_of_latitude_is_about_111_km(void **state)
{
    (void)state;
    assert_within_percent(geo_distance_m(10, 77, 11, 77), 111.195e3, 0.1);
}

static void test_distance_of_a_few_metres_is_precise(void **state)
{
    (void)state;
    /* 0.0001 degree of latitude is 11.1 m: arrival radii depend on metres, not kilometres. */
    assert_near(geo_distance_m(28.6139, 77.2090, 28.6140, 77.2090), 11.12, 0.05);
}

static void test_distance_shrinks_with_latitude_along_a_parallel(void **state)
{
    (void)state;
    double equator = geo_distance_m(0, 10, 0, 11);
    double sixty = geo_distance_m(60, 10, 60, 11);
    assert_within_percent(equator, 111.195e3, 0.1);
    /* Along a parallel at 60 degrees a degree of longitude is about half as long. */
    assert_within_percent(sixty, equator / 2, 0.5);
}

static void test_distance_crosses_antimeridian_the_short_way(void **state)
{
    (void)state;
    /* Fiji: 179.5 E to 179.5 W is one degree, not 359. */
    assert_within_percent(geo_distance_m(0, 179.5, 0, -179.5), 111.195e3, 0.1);
    assert_within_percent(geo_distance_m(-17.8, 179.9, -17.8, -179.9),
                          geo_distance_m(-17.8, -0.1, -17.8, 0.1), 0.001);
}

static void test_distance_treats_longitude_360_apart_as_same_place(void **state)
{
    (void)state;
    assert_near(geo_distance_m(12.5, -180, 12.5, 180), 0.0, 1e-6);
    assert_near(geo_distance_m(12.5, 10, 12.5, 370), 0.0, 1e-6);
}

static void test_distance_at_a_pole_ignores_longitude(void **state)
{
    (void)state;
    assert_near(geo_distance_m(90, 0, 90, 123), 0.0, 1e-6);
    assert_near(geo_distance_m(-90, -45, -90, 170), 0.0, 1e-6);
    /* From the pole to any point at 89 degrees is one degree of latitude. */
    assert_within_percent(geo_distance_m(90, 0, 89, -150), 111.195e3, 0.1);
}

static void test_distance_pole_to_pole_is_half_the_circumference(void **state)
{
    (void)state;
    assert_within_percent(geo_distance_m(90, 0, -90, 0), HALF_CIRCUMFERENCE_M, 1e-6);
    assert_within_percent(geo_distance_m(0, 0, 90, 0), HALF_CIRCUMFERENCE_M / 2, 1e-6);
}

static void test_distance_between_antipodes_is_half_the_circumference(void **state)
{
    (void)state;
    /* Rounding can push haversine's a just above 1 for antipodes: the result must stay a
     * number, never NaN. */
    for (double lat = -90; lat <= 90; lat += 0.37) {
        for (double lon = -180; lon < 180; lon += 1.13) {
            double d = geo_distance_m(lat, lon, -lat, lon + 180);
            assert_within_percent(d, HALF_CIRCUMFERENCE_M, 1e-6);
        }
    }
}

static void test_distance_never_exceeds_half_the_circumference(void **state)
{
    (void)state;
    for (double lat = -90; lat <= 90; lat += 7.3) {
        for (double lon = -180; lon <= 180; lon += 11.7) {
            double d = geo_distance_m(28.6139, 77.2090, lat, lon);
            assert_false(isnan(d));
            assert_true(d >= 0.0);
            assert_true(d <= HALF_CIRCUMFERENCE_M * (1 + 1e-12));
        }
    }
}

static void test_distance_is_symmetric(void **state)
{
    (void)state;
    static const double pts[][2] = {
        { 28.6139, 77.2090 }, { 19.0760, 72.8777 }, { -33.8688, 151.2093 },
        { 64.1466, -21.9426 }, { 0, 179.9 }, { -90, 0 },
    };
    size_t n = sizeof pts / sizeof pts[0];
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < n; j++) {
            double ab = geo_distance_m(pts[i][0], pts[i][1], pts[j][0], pts[j][1]);
            double ba = geo_distance_m(pts[j][0], pts[j][1], pts[i][0], pts[i][1]);
            assert_near(ab, ba, 1e-6);
        }
    }
}

static void test_distance_obeys_triangle_inequality(void **state)
{
    (void)state;
    double dm = geo_distance_m(28.6139, 77.2090, 19.0760, 72.8777);   /* Delhi - Mumbai */
    double mb = geo_distance_m(19.0760, 72.8777, 12.9716, 77.5946);   /* Mumbai - Bengaluru */
    double db = geo_distance_m(28.6139, 77.2090, 12.9716, 77.5946);   /* Delhi - Bengaluru */
    assert_true(db <= dm + mb);
    assert_true(db > dm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distance_is_zero_for_same_point),
        cmocka_unit_test(test_distance_delhi_mumbai_is_about_1148_km),
        cmocka_unit_test(test_distance_matches_other_known_city_pairs),
        cmocka_unit_test(test_distance_one_degree_of_latitude_is_about_111_km),
        cmocka_unit_test(test_distance_of_a_few_metres_is_precise),
        cmocka_unit_test(test_distance_shrinks_with_latitude_along_a_parallel),
        cmocka_unit_test(test_distance_crosses_antimeridian_the_short_way),
        cmocka_unit_test(test_distance_treats_longitude_360_apart_as_same_place),
        cmocka_unit_test(test_distance_at_a_pole_ignores_longitude),
        cmocka_unit_test(test_distance_pole_to_pole_is_half_the_circumference),
        cmocka_unit_test(test_distance_between_antipodes_is_half_the_circumference),
        cmocka_unit_test(test_distance_never_exceeds_half_the_circumference),
        cmocka_unit_test(test_distance_is_symmetric),
        cmocka_unit_test(test_distance_obeys_triangle_inequality),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
