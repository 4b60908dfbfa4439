/* The scoped access questions (see policy.h): one query each, answering whether the record is
 * in the caller's school and whether the caller may have it. */
#include "core/policy.h"

#include <errno.h>
#include <stdlib.h>

#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/xalloc.h"

/* Every query takes $1 = the record id, $2 = the caller's school, $3 = the caller's user id,
 * $4 = the caller's role, and returns one row (in_school, allowed) or none. */
static const char *const questions[POLICY__COUNT] = {
    [POLICY_USER_IN_SCHOOL] =
        "SELECT true, true FROM users WHERE id = $1 AND school_id = $2"
        " AND $3::bigint IS NOT NULL AND $4::text IS NOT NULL",
    [POLICY_STUDENT_IN_SCHOOL] =
        "SELECT true, true FROM students WHERE id = $1 AND school_id = $2"
        " AND $3::bigint IS NOT NULL AND $4::text IS NOT NULL",
    [POLICY_ROUTE_IN_SCHOOL] =
        "SELECT true, true FROM routes WHERE id = $1 AND school_id = $2"
        " AND $3::bigint IS NOT NULL AND $4::text IS NOT NULL",
    [POLICY_BUS_IN_SCHOOL] =
        "SELECT true, true FROM buses WHERE id = $1 AND school_id = $2"
        " AND $3::bigint IS NOT NULL AND $4::text IS NOT NULL",
    [POLICY_TRIP_IN_SCHOOL] =
        "SELECT true, true FROM trips WHERE id = $1 AND school_id = $2"
        " AND $3::bigint IS NOT NULL AND $4::text IS NOT NULL",
    [POLICY_PARENT_OF_STUDENT] =
        "SELECT true, $4::text = 'parent' AND EXISTS (SELECT 1 FROM guardians g"
        "   WHERE g.student_id = s.id AND g.user_id = $3)"
        " FROM students s WHERE s.id = $1 AND s.school_id = $2",
    [POLICY_FOLLOWS_TRIP] =
        "SELECT true, $4::text = 'admin' OR ($4::text = 'parent' AND EXISTS ("
        "   SELECT 1 FROM route_assignments a JOIN guardians g ON g.student_id = a.student_id"
        "   JOIN students st ON st.id = a.student_id AND st.active"
        "   WHERE a.route_id = t.route_id AND g.user_id = $3))"
        " FROM trips t WHERE t.id = $1 AND t.school_id = $2",
    [POLICY_DRIVES_TRIP] =
        "SELECT true, $4::text = 'driver' AND t.driver_id = $3"
        " FROM trips t WHERE t.id = $1 AND t.school_id = $2",
};

struct ask {
    policy_fn *cb;
    void *arg;
};

static void on_answer(void *arg, int status, const PGresult *res)
{
    struct ask *a = arg;
    enum policy_answer answer = POLICY_NOT_FOUND;
    if (status == DBPOOL_OK && PQntuples(res) > 0) {
        answer = dbval_get_bool(res, 0, 1) ? POLICY_ALLOW : POLICY_FORBIDDEN;
    }
    a->cb(a->arg, status, answer);
    free(a);
}

int policy_ask(struct dbpool *db, const struct caller *who, enum policy_question q, int64_t id,
               policy_fn *cb, void *arg)
{
    if ((unsigned)q >= POLICY__COUNT) {
        return -EINVAL;
    }
    struct ask *a = xmalloc(sizeof *a);
    a->cb = cb;
    a->arg = arg;
    char id_s[24], school[24], user[24];
    const char *params[] = { dbval_i64(id, id_s), dbval_i64(who->school_id, school),
                             dbval_i64(who->user_id, user), role_name(who->role) };
    int r = dbpool_query(db, questions[q], 4, params, on_answer, a);
    if (r != 0) {
        free(a);
    }
    return r;
}
