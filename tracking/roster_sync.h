/* Tracking's listener on the people layer's roster (people/roster.h): when a guardian is
 * linked or unlinked or a student leaves, the users' live subscriptions are checked again and
 * the running trips of the routes concerned reload their riders, at once; when a connection
 * closes or changes user, its subscriptions end. */
#pragma once
#include "people/roster.h"

struct tracker;

/* Registers the listener on r. The tracker is read through *t at each change: the gateway
 * sets *t to NULL once the tracker has closed, and changes told after that (a request that
 * finishes during the stop) are ignored. Returns 0 or -ENOSPC. */
int roster_sync_register(struct roster *r, struct tracker **t);
