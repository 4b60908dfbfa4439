/* Tracking's scoped access questions (see access.h): one query each. */
#include "tracking/access.h"

static const char *const questions[ACCESS__COUNT] = {
    [ACCESS_ROUTE_IN_SCHOOL] =
        "SELECT true, true FROM routes WHERE id = $1 AND school_id = $2"
        " AND $3::bigint IS NOT NULL AND $4::text IS NOT NULL",
    [ACCESS_BUS_IN_SCHOOL] =
        "SELECT true, true FROM buses WHERE id = $1 AND school_id = $2"
        " AND $3::bigint IS NOT NULL AND $4::text IS NOT NULL",
    [ACCESS_TRIP_IN_SCHOOL] =
        "SELECT true, true FROM trips WHERE id = $1 AND school_id = $2"
        " AND $3::bigint IS NOT NULL AND $4::text IS NOT NULL",
    /* A student who has left rides nothing, even while an assignment row remains. */
    [ACCESS_FOLLOWS_TRIP] =
        "SELECT true, $4::text = 'admin' OR ($4::text = 'parent' AND EXISTS ("
        "   SELECT 1 FROM route_assignments a JOIN guardians g ON g.student_id = a.student_id"
        "   JOIN students st ON st.id = a.student_id AND st.active"
        "   WHERE a.route_id = t.route_id AND g.user_id = $3))"
        " FROM trips t WHERE t.id = $1 AND t.school_id = $2",
    [ACCESS_DRIVES_TRIP] =
        "SELECT true, $4::text = 'driver' AND t.driver_id = $3"
        " FROM trips t WHERE t.id = $1 AND t.school_id = $2",
};

const char *access_sql(enum access_question q)
{
    return (unsigned)q < ACCESS__COUNT ? questions[q] : NULL;
}
