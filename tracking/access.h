/* Tracking's scoped access questions: is this route, bus or trip in the caller's school, may
 * the caller follow this trip, does the caller drive it. They follow the contract of the
 * people layer's questions (people/policy.h): the same four parameters (policy_params), one
 * row (in_school, allowed) or none, read with policy_answer. */
#pragma once
#include "people/policy.h"

enum access_question {
    ACCESS_ROUTE_IN_SCHOOL, /* id: a route */
    ACCESS_BUS_IN_SCHOOL,   /* id: a bus */
    ACCESS_TRIP_IN_SCHOOL,  /* id: a trip */
    ACCESS_FOLLOWS_TRIP,    /* id: a trip; the caller is an admin of its school, or a parent of
                             * an active student assigned to its route */
    ACCESS_DRIVES_TRIP,     /* id: a trip; the caller is its driver */
    ACCESS__COUNT
};

/* The query of q, or NULL for an unknown question. */
const char *access_sql(enum access_question q);
