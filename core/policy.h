/* Access policy in one place: the scoped questions every module asks before it shows or
 * changes a record — is this record in the caller's school, is this parent linked to this
 * student, may this parent follow this trip, is this trip driven by this driver. Each answer is
 * one query; another school's records are "not found", never "forbidden", so their existence
 * is not revealed. Role checks happen before, in the op table (gateway/router.c). */
#pragma once
#include <stdint.h>

#include "core/caller.h"

struct dbpool;

enum policy_question {
    POLICY_USER_IN_SCHOOL,     /* id: a user */
    POLICY_STUDENT_IN_SCHOOL,  /* id: a student */
    POLICY_ROUTE_IN_SCHOOL,    /* id: a route */
    POLICY_BUS_IN_SCHOOL,      /* id: a bus */
    POLICY_TRIP_IN_SCHOOL,     /* id: a trip */
    POLICY_PARENT_OF_STUDENT,  /* id: a student; the caller is one of their guardians */
    POLICY_FOLLOWS_TRIP,       /* id: a trip; the caller is an admin of its school, or a parent
                                * of a student assigned to its route */
    POLICY_DRIVES_TRIP,        /* id: a trip; the caller is its driver */
    POLICY__COUNT
};

enum policy_answer {
    POLICY_ALLOW = 0,
    POLICY_FORBIDDEN = 1, /* the record is in the caller's school, but not theirs to see */
    POLICY_NOT_FOUND = 2, /* no such record in the caller's school */
};

/* The answer, on the loop; status is a DBPOOL_* (answer is meaningful only when it is
 * DBPOOL_OK). */
typedef void policy_fn(void *arg, int status, enum policy_answer answer);

/* Asks q about id for the caller. Returns 0 and cb runs once; or DBPOOL_E_UNAVAILABLE (or
 * -EINVAL for an unknown question) and cb never runs. */
int policy_ask(struct dbpool *db, const struct caller *who, enum policy_question q, int64_t id,
               policy_fn *cb, void *arg);
