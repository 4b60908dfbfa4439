/* GPS frame validation: whether a trip accepts a position, decided from the frame, the trip's
 * previous accepted fix, the limits and the server's time alone (no clock, no I/O, no wire
 * codes), so that every rule can be tested at its boundary. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "core/config.h"

/* The range of each field: lat and lon in degrees, ts in ms since the epoch, spd in m/s,
 * hdg in degrees, acc in metres. The lower bound is -max for lat and lon, 0 for the rest.
 * trip.pos's argument readers use the same bounds. */
#define GPS_LAT_MAX 90.0
#define GPS_LON_MAX 180.0
#define GPS_TS_MAX 1e15
#define GPS_SPD_MAX 200.0
#define GPS_HDG_MAX 360.0
#define GPS_ACC_MAX 100000.0
/* How far ahead of the server's clock a phone's may run (not configurable). */
#define GPS_MAX_FUTURE_MS 60000

/* A position as the driver's phone sent it. */
struct gps_frame {
    double lat, lon;
    double ts_ms;          /* the phone's clock */
    double spd, hdg, acc;  /* each only when its has_ flag is set */
    bool has_spd, has_hdg, has_acc;
};

/* The trip's previous accepted fix. */
struct gps_fix {
    double lat, lon;
    double ts_ms;          /* its phone time */
    uint64_t rx_ms;        /* the server's time when it was accepted */
};

/* The rules, in the order they are checked; the first one broken is the result. */
enum gps_result {
    GPS_OK = 0,
    GPS_E_LAT_RANGE,       /* a field is not a number within its range */
    GPS_E_LON_RANGE,
    GPS_E_TS_RANGE,
    GPS_E_SPD_RANGE,
    GPS_E_HDG_RANGE,
    GPS_E_ACC_RANGE,
    GPS_E_FUTURE,          /* ts more than GPS_MAX_FUTURE_MS ahead of now */
    GPS_E_STALE,           /* ts more than gps_max_age_s behind now */
    GPS_E_TOO_SOON,        /* less than gps_min_interval_ms since the previous fix arrived */
    GPS_E_OUT_OF_ORDER,    /* ts not after the previous fix's */
    GPS_E_TOO_FAST,        /* the jump from the previous fix implies more than
                            * gps_max_speed_mps */
};

/* Checks f, arriving at now_ms (the server's clock), against the limits in cfg. prev is the
 * trip's previous accepted fix, or NULL for its first (which skips the last three rules).
 * When f passes and implied_mps is not NULL, *implied_mps is the speed of the jump from prev
 * (0 for a first fix). */
enum gps_result gps_check(const struct gps_frame *f, const struct gps_fix *prev,
                          const struct tracking_config *cfg, uint64_t now_ms,
                          double *implied_mps);
