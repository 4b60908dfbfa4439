/* A fresh PostgreSQL database for an integration test, cloned from the test template on the
 * test cluster that CLASSMENT_TEST_PGHOST, _PGPORT, _PGUSER and _TEMPLATE locate. A missing
 * variable or an unreachable cluster is a loud failure, never a skip. */
#pragma once
#include <stddef.h>

struct testdb {
    char host[256];       /* the cluster's socket directory (or host name) */
    char port[16];
    char user[64];
    char name[64];        /* the database; empty until created and after testdb_drop */
    char conninfo[1024];  /* libpq connection string of the database, no application_name */
};

/* Reads the CLASSMENT_TEST_* variables and creates the database "<prefix>_<pid>_<n>_<clock>"
 * from the template, filling db. Returns 0, or a negative errno after printing why to stderr:
 * -EINVAL when a variable is missing (named, with a note that the test fails rather than
 * skips), -ECONNREFUSED when the cluster does not answer, -EIO when CREATE DATABASE fails. */
int testdb_create(struct testdb *db, const char *prefix);

/* Drops the database (WITH (FORCE): a test may leave sessions behind) and empties db->name.
 * Does nothing on a zeroed db or one whose creation failed. */
void testdb_drop(struct testdb *db);

/* Writes into buf a libpq connection string for db->name on db's cluster, but through host
 * when it is not NULL (a directory without a server, to test refusals), and with
 * application_name when app is not NULL. Values are quoted; aborts if buf is too small. */
void testdb_conninfo(const struct testdb *db, const char *host, const char *app, char *buf,
                     size_t len);
