/* Changes to a school's roster that domains above the people layer must react to at once: a
 * parent unlinked from a child stops seeing the child's bus now, not at the next check. Each
 * domain registers a listener at start-up; the people layer calls them and never includes
 * the domains. */
#pragma once
#include <stddef.h>
#include <stdint.h>

struct peer;

struct roster_listener {
    /* A user's rights over students may have changed (a guardian link made or removed). */
    void (*user_changed)(void *ctx, int64_t school_id, int64_t user_id);
    /* A student's enrolment or guardians changed (left the school, a guardian linked or
     * unlinked): whatever the student rides or belongs to may need a fresh look. */
    void (*student_changed)(void *ctx, int64_t school_id, int64_t student_id);
    /* A connection stopped acting as its user (logout, or a login as someone else on it):
     * drop what it was given as that user, such as live-trip subscriptions. */
    void (*peer_left)(void *ctx, struct peer *p);
    void *ctx;
};

#define ROSTER_MAX_LISTENERS 8

struct roster {
    struct roster_listener listeners[ROSTER_MAX_LISTENERS];
    size_t n_listeners;
};

/* Adds a listener (copied); returns 0 or -ENOSPC. Any callback may be NULL. */
int roster_listen(struct roster *r, const struct roster_listener *l);
/* Tell every listener; r may be NULL (no listeners). */
void roster_user_changed(const struct roster *r, int64_t school_id, int64_t user_id);
void roster_student_changed(const struct roster *r, int64_t school_id, int64_t student_id);
void roster_peer_left(const struct roster *r, struct peer *p);
