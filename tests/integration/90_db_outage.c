/* The database goes away and comes back while classmentd runs: requests that need it fail
 * fast with unavailable, everything else keeps working, and the server recovers by itself. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/support/harness.h"
#include "tests/support/pgcluster.h"
#include "tests/support/tcheck.h"
#include "tests/support/tclient.h"
#include "tests/support/tsys.h"

#define DB_NAME "classment"
#define NOTICE_MS 5000     /* how soon the outage must show */
#define RECOVER_MS 15000   /* how soon the server must be back after the database is */

struct outage {
    struct pgcluster *pg;
    struct harness *h;
};

static int teardown_outage(void **state)
{
    struct outage *o = *state;
    if (o) {
        harness_free(o->h);
        pgcluster_free(o->pg);
        free(o);
    }
    *state = NULL;
    return 0;
}

static int setup_outage(void **state)
{
    struct outage *o = calloc(1, sizeof *o);
    *state = o;
    int r = -1;
    if (pgcluster_new(&o->pg) != 0 ||
            pgcluster_exec(o->pg, "postgres", "CREATE DATABASE " DB_NAME) != 0 ||
            pgcluster_exec(o->pg, DB_NAME, "CREATE EXTENSION postgis") != 0) {
        goto out;
    }
    char conninfo[256];
    pgcluster_conninfo(o->pg, DB_NAME, conninfo, sizeof conninfo);
    struct harness_opts opts = { .db_conninfo = conninfo };
    r = harness_start(&o->h, &opts) == 0 ? 0 : -1;
out:
    if (r) {
        /* Clean up here too: the cluster must not outlive a failed set-up. */
        teardown_outage(state);
    }
    return r;
}

static int healthz_status(int port)
{
    int status = 0;
    if (harness_http_get(port, "/healthz", 5000, &status, NULL) != 0) {
        return -1;
    }
    return status;
}

/* Sends sys.status with id and returns the reply (NULL when none came in time). */
static struct tmsg *status_request(struct wsclient *c, uint64_t id)
{
    if (tclient_send(c, "{id: %U, op: sys.status}", id) != 0) {
        return NULL;
    }
    return tclient_reply(c, id, TCLIENT_TIMEOUT_MS);
}

/* Polls sys.status until it is a success (want_ok) or an unavailable failure, for at most
 * timeout_ms. Any other answer fails the test. Returns the milliseconds it took, or -1. */
static long wait_status(struct wsclient *c, uint64_t *next_id, bool want_ok, int timeout_ms)
{
    uint64_t start = tsys_mono_ms();
    uint64_t deadline = start + (uint64_t)timeout_ms;
    do {
        uint64_t id = (*next_id)++;
        struct tmsg *m = status_request(c, id);
        bool ok = tmsg_is_success(m, id);
        bool unavailable = tmsg_is_failure(m, id, "unavailable", NULL);
        assert_msg(ok || unavailable, m);
        if (ok) {
            assert_msg(tmsg_has(m, "data.now") && tmsg_has(m, "data.db_ms"), m);
        }
        tmsg_free(m);
        if (ok == want_ok) {
            return (long)(tsys_mono_ms() - start);
        }
        tsys_sleep_ms(200);
    } while (tsys_left_ms(deadline) > 0);
    return -1;
}

/* Polls /healthz until it answers want, for at most timeout_ms. Returns the milliseconds it
 * took, or -1. */
static long wait_healthz(int port, int want, int timeout_ms)
{
    uint64_t start = tsys_mono_ms();
    uint64_t deadline = start + (uint64_t)timeout_ms;
    int last;
    do {
        last = healthz_status(port);
        if (last == want) {
            return (long)(tsys_mono_ms() - start);
        }
        tsys_sleep_ms(200);
    } while (tsys_left_ms(deadline) > 0);
    fprintf(stderr, "/healthz still answers %d, expected %d\n", last, want);
    return -1;
}

static void test_database_outage_degrades_and_recovers_without_restart(void **state)
{
    struct outage *o = *state;
    int port = harness_port(o->h);
    pid_t pid = harness_pid(o->h);
    uint64_t id = 1;

    struct wsclient *before = tclient_open(port);
    assert_non_null(before);
    assert_true(wait_status(before, &id, true, 1000) >= 0);
    assert_int_equal(healthz_status(port), 200);

    assert_int_equal(pgcluster_stop(o->pg, "immediate"), 0);
    long status_ms = wait_status(before, &id, false, NOTICE_MS);
    fprintf(stderr, "sys.status answered unavailable after %ld ms\n", status_ms);
    assert_true(status_ms >= 0);
    assert_true(tclient_ping(before, id++));
    long healthz_ms = wait_healthz(port, 503, NOTICE_MS);
    fprintf(stderr, "/healthz answered 503 after %ld ms\n", healthz_ms);
    assert_true(healthz_ms >= 0);
    /* New clients are still welcome while the database is away. */
    struct wsclient *during = tclient_open(port);
    assert_non_null(during);
    assert_true(tclient_ping(during, 1));
    struct tmsg *m = status_request(during, 2);
    assert_msg(tmsg_is_failure(m, 2, "unavailable", NULL), m);
    tmsg_free(m);

    assert_int_equal(pgcluster_start(o->pg), 0);
    status_ms = wait_status(before, &id, true, RECOVER_MS);
    fprintf(stderr, "sys.status succeeded %ld ms after the database came back\n", status_ms);
    assert_true(status_ms >= 0);
    healthz_ms = wait_healthz(port, 200, RECOVER_MS);
    assert_true(healthz_ms >= 0);
    assert_true(tclient_ping(before, id++));
    assert_true(wait_status(during, &id, true, RECOVER_MS) >= 0);

    /* Same process throughout: recovery came from the server, not from a restart. */
    assert_int_equal(harness_pid(o->h), pid);
    assert_int_equal(kill(pid, 0), 0);
    wsclient_free(during);
    wsclient_free(before);
    harness_passed(o->h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_database_outage_degrades_and_recovers_without_restart,
                                        setup_outage, teardown_outage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
