/* Tracking's roster listener (see roster_sync.h): the people layer says what changed, and
 * tracking reads its own tables to find which users' subscriptions and which live trips it
 * touches. */
#include "tracking/roster_sync.h"

#include <stdbool.h>
#include <stdlib.h>

#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/log.h"
#include "core/xalloc.h"
#include "tracking/tracker_internal.h"

/* A connection closed, logged out or logged in as someone else: its subscriptions were its
 * old user's, and end now. */
static void peer_left(void *ctx, struct peer *p)
{
    struct tracker **t = ctx;
    tracker_peer_gone(*t, p);
}

static void user_changed(void *ctx, int64_t school_id, int64_t user_id)
{
    struct tracker **t = ctx;
    tracker_recheck_user(*t, school_id, user_id);
}

/* Rows ('r', route) for the routes the student rides, and ('g', user) for their guardians.
 * It first sweeps the routes of a student who has left: a route.assign that committed after
 * the leaving statement's snapshot was invisible to it (sql/0006 closes that race in the
 * database; this statement, run after the commit with a new snapshot, is the second guard).
 * Until it has run, the rider queries (policy, tracker) skip inactive students anyway. */
#define STUDENT_SQL                                                                          \
    "WITH swept AS (DELETE FROM route_assignments ra USING students s"                       \
    "               WHERE ra.student_id = $1 AND s.id = ra.student_id AND s.school_id = $2"  \
    "               AND NOT s.active RETURNING ra.route_id)"                                 \
    " SELECT 'r', route_id FROM swept"                                                       \
    " UNION SELECT 'r', route_id FROM route_assignments"                                     \
    "       WHERE student_id = $1 AND school_id = $2"                                        \
    " UNION SELECT 'g', user_id FROM guardians WHERE student_id = $1 AND school_id = $2"

static bool has(const int64_t *ids, size_t n, int64_t id)
{
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

/* True when the trip counts one of the guardians in res among its riders' parents. */
static bool counts_a_guardian(const struct live_trip *lt, const PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        if (PQgetvalue(res, i, 0)[0] == 'g' &&
            has(lt->parents, lt->n_parents, dbval_get_i64(res, i, 1))) {
            return true;
        }
    }
    return false;
}

static void on_student_read(void *arg, int status, const PGresult *res)
{
    struct tracker *t = *(struct tracker **)arg;
    if (status != DBPOOL_OK) {
        log_event(LOG_WARN, "roster", "reading a changed student's routes failed",
                  "status=%d", status);
        return;
    }
    if (!t) {
        return;
    }
    /* The routes whose live trips reload their riders: the student's own, and those of trips
     * that count one of the student's guardians as a rider's parent, maybe through this
     * student. A student who has left is already off their route (sql/0006), so the route
     * they left is found the second way. */
    int rows = PQntuples(res);
    size_t cap = (size_t)rows + t->n_trips, n = 0;
    int64_t *routes = xcalloc(cap + 1, sizeof *routes);
    for (int i = 0; i < rows; i++) {
        int64_t id = dbval_get_i64(res, i, 1);
        if (PQgetvalue(res, i, 0)[0] == 'r' && !has(routes, n, id)) {
            routes[n++] = id;
        }
    }
    for (size_t s = 0; s < t->n_slots; s++) {
        for (struct live_trip *lt = t->slots[s]; lt; lt = lt->next) {
            if (n < cap && !has(routes, n, lt->route_id) && counts_a_guardian(lt, res)) {
                routes[n++] = lt->route_id;
            }
        }
    }
    for (size_t i = 0; i < n; i++) {
        tracker_route_changed(t, routes[i]);
    }
    free(routes);
}

static void student_changed(void *ctx, int64_t school_id, int64_t student_id)
{
    struct tracker **t = ctx;
    if (!*t) {
        return;
    }
    char student[24], school[24];
    const char *params[] = { dbval_i64(student_id, student), dbval_i64(school_id, school) };
    /* Unavailable: nothing is queued; live trips keep the riders they have until they reload,
     * and the guardians' subscriptions were checked against the database all the same. */
    if (dbpool_query((*t)->db, STUDENT_SQL, 2, params, on_student_read, t) != 0) {
        log_event(LOG_WARN, "roster", "database unavailable, live trips not reloaded",
                  "student=%lld", (long long)student_id);
    }
}

int roster_sync_register(struct roster *r, struct tracker **t)
{
    return roster_listen(r, &(struct roster_listener){ .user_changed = user_changed,
                                                       .student_changed = student_changed,
                                                       .peer_left = peer_left, .ctx = t });
}
