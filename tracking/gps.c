/* GPS frame validation (see gps.h). */
#include "tracking/gps.h"

#include "tracking/geo.h"

/* False for NaN too: every comparison with it is false. */
static bool within(double x, double min, double max)
{
    return x >= min && x <= max;
}

static enum gps_result check_ranges(const struct gps_frame *f)
{
    if (!within(f->lat, -GPS_LAT_MAX, GPS_LAT_MAX)) {
        return GPS_E_LAT_RANGE;
    }
    if (!within(f->lon, -GPS_LON_MAX, GPS_LON_MAX)) {
        return GPS_E_LON_RANGE;
    }
    if (!within(f->ts_ms, 0, GPS_TS_MAX)) {
        return GPS_E_TS_RANGE;
    }
    if (f->has_spd && !within(f->spd, 0, GPS_SPD_MAX)) {
        return GPS_E_SPD_RANGE;
    }
    if (f->has_hdg && !within(f->hdg, 0, GPS_HDG_MAX)) {
        return GPS_E_HDG_RANGE;
    }
    if (f->has_acc && !within(f->acc, 0, GPS_ACC_MAX)) {
        return GPS_E_ACC_RANGE;
    }
    return GPS_OK;
}

enum gps_result gps_check(const struct gps_frame *f, const struct gps_fix *prev,
                          const struct tracking_config *cfg, uint64_t now_ms,
                          double *implied_mps)
{
    enum gps_result r = check_ranges(f);
    if (r != GPS_OK) {
        return r;
    }
    if (f->ts_ms > (double)now_ms + GPS_MAX_FUTURE_MS) {
        return GPS_E_FUTURE;
    }
    if (f->ts_ms < (double)now_ms - cfg->gps_max_age_s * 1000.0) {
        return GPS_E_STALE;
    }
    double speed = 0;
    if (prev) {
        /* The interval is measured on the server's clock, which the phone cannot speed up.
         * If that clock stepped back since the previous fix, the frame is not held up. */
        if (now_ms >= prev->rx_ms && now_ms - prev->rx_ms < (uint64_t)cfg->gps_min_interval_ms) {
            return GPS_E_TOO_SOON;
        }
        /* Written so that NaN (from a previous fix that was never a number) refuses, as
         * every comparison with it is false (found by tests/fuzz/fuzz_gps.c). */
        double dt_s = (f->ts_ms - prev->ts_ms) / 1000.0;
        if (!(dt_s > 0)) {
            return GPS_E_OUT_OF_ORDER;
        }
        speed = geo_distance_m(prev->lat, prev->lon, f->lat, f->lon) / dt_s;
        if (!(speed <= cfg->gps_max_speed_mps)) {
            return GPS_E_TOO_FAST;
        }
    }
    if (implied_mps) {
        *implied_mps = speed;
    }
    return GPS_OK;
}
