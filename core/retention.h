/* Retention limits, enforced on a schedule: expired login codes, long-ended sessions, old
 * audit entries (purge_expired, sql/0003) and old GPS positions (purge_positions, sql/0004)
 * are deleted. */
#pragma once
#include <uv.h>

struct dbpool;
struct retention;

/* Runs the purge a minute after start, then every interval_s seconds. */
struct retention *retention_new(uv_loop_t *loop, struct dbpool *db, int audit_days,
                                int session_days, int position_days, int interval_s);
/* Stops the schedule and frees r once its timer has closed (a purge in flight finishes on its
 * own: its callback does not touch r). */
void retention_close(struct retention *r);
