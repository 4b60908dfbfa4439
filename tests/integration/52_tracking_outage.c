/* The database goes away during a trip: positions keep reaching subscribers, are buffered, and
 * every accepted one is stored once the database is back (docs/tracking.md "Storage and
 * outages"). Runs on a private cluster the test can stop. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/harness.h"
#include "tests/support/pgcluster.h"
#include "tests/support/tauth.h"
#include "tests/support/tcheck.h"
#include "tests/support/tsys.h"
#include "tests/support/ttrack.h"

#define DB_NAME "classment"
#define BEFORE 5          /* positions stored before the outage */
#define DURING 20         /* positions accepted while the database is down */
#define STORE_MS 4000     /* a flush happens every second */
#define RECOVER_MS 20000  /* the pool reconnects with a back-off of up to 5 s */
#define EVENT_MS 3000

struct outage {
    struct pgcluster *pg;
    struct harness *h;
    struct ttrack_fixture f;
    struct ttrack_client *driver, *parent;
};

static int teardown(void **state)
{
    struct outage *o = *state;
    if (o) {
        ttrack_client_free(o->driver);
        ttrack_client_free(o->parent);
        harness_free(o->h);
        pgcluster_free(o->pg);
        ttrack_fixture_deinit(&o->f);
        free(o);
    }
    *state = NULL;
    return 0;
}

static int setup(void **state)
{
    struct outage *o = calloc(1, sizeof *o);
    *state = o;
    if (pgcluster_new(&o->pg) != 0 ||
        pgcluster_exec(o->pg, "postgres", "CREATE DATABASE " DB_NAME) != 0 ||
        pgcluster_exec(o->pg, DB_NAME, "CREATE EXTENSION postgis") != 0 ||
        /* The cluster runs with synchronous_commit=off for speed; an immediate stop would then
         * lose the last commits it had already acknowledged, which no real deployment does.
         * A database setting outranks the command line. */
        pgcluster_exec(o->pg, "postgres",
                       "ALTER DATABASE " DB_NAME " SET synchronous_commit = on") != 0) {
        teardown(state);
        return -1;
    }
    char conninfo[256];
    pgcluster_conninfo(o->pg, DB_NAME, conninfo, sizeof conninfo);
    /* The server migrates the empty database as it starts; the fixture needs its schema. */
    static const char *const env[] = { "CLASSMENT_GPS_MIN_INTERVAL_MS=0", NULL };
    struct harness_opts opts = { .env = env, .db_conninfo = conninfo };
    if (harness_start(&o->h, &opts) != 0 ||
        ttrack_fixture_load(o->h, 1, 1, &o->f) != 0) {
        teardown(state);
        return -1;
    }
    return 0;
}

/* Stored positions of trip, read with a connection of the test's own; -1 while the database
 * is down. */
static int64_t stored(struct outage *o, int64_t trip)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)trip);
    return tauth_sql_int(o->h, "SELECT count(*) FROM trip_positions WHERE trip_id = $1", id,
                         (const char *)NULL);
}

static int64_t wait_stored(struct outage *o, int64_t trip, int64_t n, int timeout_ms)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)timeout_ms;
    int64_t have;
    while ((have = stored(o, trip)) != n && tsys_left_ms(deadline) > 0) {
        tsys_sleep_ms(200);
    }
    return have;
}

/* Sends position i with an id (it must be accepted) and checks the parent got it. */
static void send_pos(struct outage *o, int64_t trip, int64_t ts0, int i)
{
    double lat = 12.90 + 0.0001 * i;
    int64_t ts = ts0 + 1000 * i;
    struct tmsg *m = ttrack_pos_call(o->driver, trip, lat, 77.55, ts);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);
    m = ttrack_event(o->parent, "trip.pos", EVENT_MS);
    assert_msg(m && tmsg_uint_is(m, "data.trip", (uint64_t)trip) &&
               tmsg_uint_is(m, "data.ts", (uint64_t)ts), m);
    tmsg_free(m);
}

static void test_outage_during_a_trip_loses_no_accepted_position(void **state)
{
    struct outage *o = *state;
    int port = harness_port(o->h);
    int64_t trip = o->f.drivers[0].trip;
    o->driver = ttrack_login(port, o->f.drivers[0].token, "driver");
    o->parent = ttrack_login(port, o->f.parents[0].token, "parent");
    assert_non_null(o->driver);
    assert_non_null(o->parent);
    struct tmsg *m = ttrack_call(o->parent, "trip.subscribe", "{trip: %D}", trip);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);

    int64_t ts0 = (int64_t)tsys_wall_ms() - 60000;
    for (int i = 0; i < BEFORE; i++) {
        send_pos(o, trip, ts0, i);
    }
    assert_int_equal(wait_stored(o, trip, BEFORE, STORE_MS), BEFORE);

    assert_int_equal(pgcluster_stop(o->pg, "immediate"), 0);
    uint64_t down = tsys_mono_ms();
    /* Spread over a few flush ticks, so that some writes are tried while it is down. */
    for (int i = BEFORE; i < BEFORE + DURING; i++) {
        send_pos(o, trip, ts0, i);
        tsys_sleep_ms(100);
    }
    long long buffered = tauth_metric(port, "classment_positions_buffered");
    fprintf(stderr, "%d positions accepted during the outage (%llu ms); %lld buffered\n",
            DURING, (unsigned long long)(tsys_mono_ms() - down), buffered);
    assert_true(buffered >= 1 && buffered <= DURING);

    assert_int_equal(pgcluster_start(o->pg), 0);
    int64_t have = wait_stored(o, trip, BEFORE + DURING, RECOVER_MS);
    if (have != BEFORE + DURING) {
        fail_msg("trip_positions holds %lld rows for the trip, expected %d", (long long)have,
                 BEFORE + DURING);
    }
    /* Once, not again on a later tick. */
    tsys_sleep_ms(2000);
    assert_int_equal(stored(o, trip), BEFORE + DURING);
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)trip);
    assert_int_equal(tauth_sql_int(o->h,
                                   "SELECT count(DISTINCT ts) FROM trip_positions"
                                   " WHERE trip_id = $1",
                                   id, (const char *)NULL),
                     BEFORE + DURING);
    assert_int_equal(tauth_metric(port, "classment_positions_buffered"), 0);
    assert_int_equal(tauth_metric(port, "classment_positions_total{outcome=\"overflow\"}"), 0);
    assert_int_equal(tauth_metric(port, "classment_positions_total{outcome=\"failed\"}"), 0);
    assert_int_equal(tauth_metric(port, "classment_positions_total{outcome=\"stored\"}"),
                     BEFORE + DURING);

    ttrack_client_free(o->driver);
    ttrack_client_free(o->parent);
    o->driver = o->parent = NULL;
    int r = harness_stop(o->h, 15000);
    if (r != 0) {
        fail_msg("classmentd exited with %d after SIGTERM", r);
    }
    harness_passed(o->h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_outage_during_a_trip_loses_no_accepted_position,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
