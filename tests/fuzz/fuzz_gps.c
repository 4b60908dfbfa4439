/* libFuzzer target: GPS frame validation (tracking/gps.c) on the path a position takes in
 * trip.pos (tracking/trips.c): each frame is decoded, checked against trip.pos's real schema
 * (from the op tables, as the router does), read the way op_trip_pos reads it, and judged by
 * gps_check against the trip's previous accepted fix, with the default limits and a server
 * clock that the input moves forward (or, now and then, back).
 *
 * Input: 8 bytes of the server's start time (ms, little-endian), then records of
 *   [u16 frame length][i16 clock step in ms][frame bytes]   (little-endian).
 * An input whose first byte is 0xff is instead read as raw numbers for gps_check (a frame,
 * a previous fix and the clock, any bit pattern: NaN, infinities, negative zero). */
#include <math.h>
#include <string.h>

#include "core/envelope.h"
#include "core/op.h"
#include "core/op_schema.h"
#include "gateway/ops.h"
#include "gateway/router.h"
#include "tests/fuzz/fuzz.h"
#include "tracking/gps.h"

static const struct op_def *trip_pos(void)
{
    static const struct op_def *def;
    if (!def) {
        static struct op_table tables[OPS_MAX_TABLES];
        size_t n = ops_tables(NULL, tables);
        static struct router *r; /* kept for the process's life */
        r = router_new(tables, n);
        FUZZ_ASSERT(r);
        def = router_find(r, "trip.pos", 8);
        FUZZ_ASSERT(def);
    }
    return def;
}

static uint64_t rd_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) {
        v = v << 8 | p[i];
    }
    return v;
}

static double rd_f64(const uint8_t *p)
{
    uint64_t bits = rd_u64(p);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

static void check_result(enum gps_result g, double implied)
{
    FUZZ_ASSERT(g >= GPS_OK && g <= GPS_E_TOO_FAST);
    if (g == GPS_OK) {
        FUZZ_ASSERT(isfinite(implied) && implied >= 0);
    }
}

/* Any bit patterns straight into gps_check. */
static void raw(const uint8_t *data, size_t size, const struct tracking_config *cfg)
{
    enum { NEED = 1 + 8 * 6 + 1 + 8 * 3 + 8 + 8 };
    if (size < NEED) {
        return;
    }
    const uint8_t *p = data + 1;
    struct gps_frame f = { .lat = rd_f64(p), .lon = rd_f64(p + 8), .ts_ms = rd_f64(p + 16),
                           .spd = rd_f64(p + 24), .hdg = rd_f64(p + 32), .acc = rd_f64(p + 40) };
    p += 48;
    f.has_spd = *p & 1;
    f.has_hdg = *p & 2;
    f.has_acc = *p & 4;
    bool has_prev = *p & 8;
    p++;
    struct gps_fix prev = { .lat = rd_f64(p), .lon = rd_f64(p + 8), .ts_ms = rd_f64(p + 16),
                            .rx_ms = rd_u64(p + 24) };
    uint64_t now = rd_u64(p + 32);
    double implied = -1;
    enum gps_result g = gps_check(&f, has_prev ? &prev : NULL, cfg, now, &implied);
    FUZZ_ASSERT(g >= GPS_OK && g <= GPS_E_TOO_FAST);
    if (g == GPS_OK) {
        /* a range rule passed, so the frame's fields are finite */
        FUZZ_ASSERT(isfinite(f.lat) && isfinite(f.lon) && isfinite(f.ts_ms));
        FUZZ_ASSERT(!has_prev || implied <= cfg->gps_max_speed_mps);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const struct tracking_config *cfg = &fuzz_config()->tracking;
    if (size > 0 && data[0] == 0xff) {
        raw(data, size, cfg);
        return 0;
    }
    if (size < 8) {
        return 0;
    }
    const struct op_def *def = trip_pos();
    uint64_t now = rd_u64(data) % 4000000000000ull; /* up to the year 2096 */
    size_t off = 8;
    struct gps_fix prev;
    bool has_prev = false;
    size_t max = fuzz_config()->max_message_bytes;
    while (size - off >= 4) {
        size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8;
        int16_t step = (int16_t)((uint16_t)data[off + 2] | (uint16_t)data[off + 3] << 8);
        off += 4;
        if (len > size - off) {
            len = size - off;
        }
        if (step < 0 && (uint64_t)-step > now) {
            step = 0;
        }
        now = (uint64_t)((int64_t)now + step);
        const uint8_t *frame = data + off;
        off += len;
        if (len > max) {
            continue;
        }
        struct envelope_request req;
        struct envelope_error err;
        if (envelope_decode(&req, frame, len, &err) != 0) {
            envelope_request_deinit(&req);
            continue;
        }
        struct op_ctx op = { .op_name = def->name, .args = req.args };
        if (op_schema_check(def->args, req.args, &op.arena, &op.fail_field,
                            &op.fail_message) == 0) {
            /* as op_trip_pos reads it */
            struct gps_frame f = {
                .lat = op_get_num(&op, "lat", 0), .lon = op_get_num(&op, "lon", 0),
                .ts_ms = op_get_num(&op, "ts", 0), .spd = op_get_num(&op, "spd", 0),
                .hdg = op_get_num(&op, "hdg", 0), .acc = op_get_num(&op, "acc", 0),
                .has_spd = op_has_arg(&op, "spd"), .has_hdg = op_has_arg(&op, "hdg"),
                .has_acc = op_has_arg(&op, "acc"),
            };
            FUZZ_ASSERT(op_get_id(&op, "trip") > 0);
            double implied = -1;
            enum gps_result g = gps_check(&f, has_prev ? &prev : NULL, cfg, now, &implied);
            check_result(g, implied);
            /* the schema refuses every frame that breaks a range rule first (trips.c) */
            FUZZ_ASSERT(g == GPS_OK || g >= GPS_E_FUTURE);
            if (g == GPS_OK) {
                FUZZ_ASSERT(!has_prev || implied <= cfg->gps_max_speed_mps);
                prev = (struct gps_fix){ .lat = f.lat, .lon = f.lon, .ts_ms = f.ts_ms,
                                         .rx_ms = now };
                has_prev = true;
            }
        }
        arena_deinit(&op.arena);
        envelope_request_deinit(&req);
    }
    return 0;
}
