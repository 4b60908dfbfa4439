/* Opening a student's sealed date of birth (students.dob_enc) with the server's keys, for the
 * integration tests that check what the database holds (45_school_setup, 49_import). Header
 * only, because it asserts (include after <cmocka.h>) and needs core/crypto, which the support
 * library does not link: the test program must link core. */
#pragma once
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "core/crypto.h"
#include "tests/support/harness.h"

/* Opens the dob_enc of student id bound to row bound_id (id itself, or another row to show
 * that a value moved to another row does not open) into out; crypto_open's result. */
static inline int tdob_open(const struct harness *h, int64_t id, int64_t bound_id, char out[16])
{
    struct crypto_keys keys;
    char err[256];
    assert_int_equal(crypto_init(), 0);
    if (crypto_keys_load(&keys, harness_key_path(h), err, sizeof err) != 0) {
        fail_msg("key file: %s", err);
    }
    PGconn *pg = PQconnectdb(harness_conninfo(h));
    assert_int_equal(PQstatus(pg), CONNECTION_OK);
    char id_s[24];
    snprintf(id_s, sizeof id_s, "%" PRId64, id);
    const char *params[] = { id_s };
    PGresult *res = PQexecParams(pg,
                                 "SELECT encode(dob_enc, 'hex'), dob_key FROM students"
                                 " WHERE id = $1",
                                 1, NULL, params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(res), 1);
    const char *hex = PQgetvalue(res, 0, 0);
    unsigned char sealed[128];
    size_t n = strlen(hex) / 2;
    assert_true(n <= sizeof sealed);
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        sealed[i] = (unsigned char)v;
    }
    int version = atoi(PQgetvalue(res, 0, 1));
    int r = crypto_open(&keys, version, "students.dob", bound_id, sealed, n, out, 16);
    PQclear(res);
    PQfinish(pg);
    crypto_keys_wipe(&keys);
    return r;
}
