/* trip.*: starting and ending trips, GPS ingest, subscriptions, the caller's trips and a trip's
 * stored track (see docs/protocol.md "Live tracking", docs/tracking.md). */
#pragma once
#include "core/op.h"

/* trip.start, trip.pos, trip.end, trip.subscribe, trip.unsubscribe, trip.mine, trip.history;
 * op->domain is the struct tracker. */
extern const struct op_def trip_ops[];
