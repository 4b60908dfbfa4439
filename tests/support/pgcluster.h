/* A private PostgreSQL cluster for tests that need to stop and restart the database itself
 * (90_db_outage). Lives in a short temp directory under /tmp; the binaries come from env
 * PG_BINDIR (default: pg_config --bindir), run as env CLASSMENT_TEST_PG_RUNAS when set. */
#pragma once
#include <stddef.h>

struct pgcluster;

/* Runs initdb (trust auth, superuser postgres) and starts the server, listening only on a
 * unix socket in the cluster's directory. Returns 0 with *out set, or a negative errno after
 * printing why. */
int pgcluster_new(struct pgcluster **out);

/* Starts the stopped cluster and waits until it accepts connections. Returns 0 or a negative
 * errno. */
int pgcluster_start(struct pgcluster *c);

/* Stops the cluster with pg_ctl -m mode ("immediate", "fast"). Returns 0 or a negative errno. */
int pgcluster_stop(struct pgcluster *c, const char *mode);

/* Runs sql in database dbname as postgres. Returns 0 or a negative errno after printing the
 * error. */
int pgcluster_exec(struct pgcluster *c, const char *dbname, const char *sql);

/* Writes the libpq conninfo for dbname into out. */
void pgcluster_conninfo(const struct pgcluster *c, const char *dbname, char *out, size_t len);

/* Stops the cluster if it runs, removes its directory and frees c. NULL does nothing. */
void pgcluster_free(struct pgcluster *c);
