/* The stored GPS track (trip_positions) and how long it is kept: tracking registers the purge
 * of old positions with core's retention schedule at start-up. */
#pragma once

struct retention;

/* Adds to r the purge of positions received more than days ago (purge_positions, sql/0004),
 * logged as positions=count. Returns 0, or -ENOSPC when r has no room. */
int positions_register_purge(struct retention *r, int days);
