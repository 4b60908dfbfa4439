/* Roster change listeners (see roster.h). */
#include "people/roster.h"

#include <errno.h>

int roster_listen(struct roster *r, const struct roster_listener *l)
{
    if (r->n_listeners >= ROSTER_MAX_LISTENERS) {
        return -ENOSPC;
    }
    r->listeners[r->n_listeners++] = *l;
    return 0;
}

void roster_user_changed(const struct roster *r, int64_t school_id, int64_t user_id)
{
    for (size_t i = 0; r && i < r->n_listeners; i++) {
        if (r->listeners[i].user_changed) {
            r->listeners[i].user_changed(r->listeners[i].ctx, school_id, user_id);
        }
    }
}

void roster_student_changed(const struct roster *r, int64_t school_id, int64_t student_id)
{
    for (size_t i = 0; r && i < r->n_listeners; i++) {
        if (r->listeners[i].student_changed) {
            r->listeners[i].student_changed(r->listeners[i].ctx, school_id, student_id);
        }
    }
}

void roster_peer_left(const struct roster *r, struct peer *p)
{
    for (size_t i = 0; r && i < r->n_listeners; i++) {
        if (r->listeners[i].peer_left) {
            r->listeners[i].peer_left(r->listeners[i].ctx, p);
        }
    }
}
