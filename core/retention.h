/* Retention limits, enforced on a schedule. Whoever owns a kind of personal data registers
 * the purge of what is past its limit: core purges its own (expired login codes, long-ended
 * sessions and old audit entries: purge_expired, sql/0003), and each domain adds its purges
 * at start-up (tracking: the stored GPS track). One log line reports every count. */
#pragma once
#include <uv.h>

struct dbpool;
struct retention;

#define RETENTION_MAX_PURGES 8

/* Runs the purges a minute after start, then every interval_s seconds: one after another,
 * core's first, then the added ones in the order they were added. */
struct retention *retention_new(uv_loop_t *loop, struct dbpool *db, int audit_days,
                                int session_days, int interval_s);
/* Adds a purge: sql takes $1 = days and returns one row whose first column counts the rows
 * it deleted, logged as name=count. name and sql are copied. Returns 0, or -ENOSPC when
 * RETENTION_MAX_PURGES are registered. */
int retention_add(struct retention *r, const char *name, const char *sql, int days);
/* Stops the schedule; r is freed once its timer has closed and a round of purges in flight
 * has finished (no purge starts after this call). r may be NULL. */
void retention_close(struct retention *r);
