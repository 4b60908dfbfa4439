/* Every op table the server serves, in one list: adding a domain adds one line here. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "core/op.h"

#define OPS_MAX_TABLES 32

/* The context each domain's handlers find in op->domain; NULL where a domain needs none. */
struct ops_domains {
    struct router **router; /* sys.schema reads the router's published schema */
    void *people;           /* users, students, guardians, logins, the audit log */
    void *tracking;         /* trips, routes, buses: the address of the server's tracker
                             * pointer (tracker_of in tracking/tracker.h) */
    void *academics;        /* the school's records (struct academics) */
};

/* Fills tables (OPS_MAX_TABLES entries) with every domain's ops and context; returns how many.
 * With d NULL every context is NULL (for listing the ops, as tests do). */
size_t ops_tables(const struct ops_domains *d, struct op_table *tables);
/* Whether a table holds the school records' ops (academics), which keep a role matrix of their
 * own (tests/integration/36_records_roles.c) with teachers of one section and of another. */
bool ops_table_is_records(const struct op_def *ops);
