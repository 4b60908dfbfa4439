/* route.assign/unassign for a school's admins: a student rides at most one route, from one of
 * its stops or none. Every query is scoped to the caller's school. Once the change is
 * answered, the routes' live trips reload their riders and the guardians' live subscriptions
 * are checked again, so a parent whose child left a route stops following its bus at once. */
#include "tracking/route_assignments.h"

#include <stdlib.h>

#include "core/audit.h"
#include "core/dbval.h"
#include "core/op_db.h"
#include "tracking/tracker.h"

/* The next id of a bigint[] in text form ("{1,2}"), advancing *s; 0 at the end, or when *s
 * is NULL (SQL NULL: no ids). */
static int64_t next_id(const char **s)
{
    while (*s && **s && (**s < '0' || **s > '9')) {
        (*s)++;
    }
    if (!*s || !**s) {
        return 0;
    }
    char *end;
    int64_t id = strtoll(*s, &end, 10);
    *s = end;
    return id;
}

/* Called after the reply: trips of route and of the routes in left reload their riders; the
 * guardians' subscriptions are checked again. t may be NULL (a router without a server). */
static void tell_tracker(struct tracker *t, int64_t school, int64_t route, const char *left,
                         const char *guardians)
{
    if (!t) {
        return;
    }
    tracker_route_changed(t, route);
    for (int64_t id; (id = next_id(&left)) > 0;) {
        tracker_route_changed(t, id);
    }
    for (int64_t id; (id = next_id(&guardians)) > 0;) {
        tracker_recheck_user(t, school, id);
    }
}

/* --- route.assign --- */

/* Statements run before the move is made without naming the route the student left. */
#define ASSIGN_ATTEMPTS 3

/* A student rides at most one route: route_assignments has one row per student (its key is
 * student_id, sql/0005), and assigning is one upsert on it, so concurrent calls for the same
 * student queue on that row and the last to commit wins; assigning again to the same route
 * changes (or clears) the stop. Statement by statement, in READ COMMITTED:
 *   r, s   the route and the student in the caller's school ($4); s is locked FOR SHARE, so a
 *          student.delete that committed meanwhile is seen (the lock wait returns the newest
 *          version) and no route is given to a student who has left;
 *   ok     one row when the assignment is allowed (active student, stop on the route);
 *   prev   the student's current assignment, locked FOR UPDATE: a concurrent move of that
 *          row is waited for and its result read, and no other call can move the student
 *          until this one commits. It must run before the upsert (the upsert's
 *          `count(*) >= 0` sees to that): FOR UPDATE skips a row this statement changed;
 *   up     the upsert. A row inserted by a transaction that committed after this statement's
 *          snapshot is invisible to prev but still hit by ON CONFLICT; then the DO UPDATE's
 *          WHERE declines the move (prev is empty) and the statement reports `raced`, to be
 *          run again with a new snapshot. The last attempt ($5) moves the student anyway.
 * One row: route found, student active (NULL: not found), assigned, the routes the student
 * left, the student's guardians, raced. */
enum { ASG_ROUTE_FOUND, ASG_ACTIVE, ASG_DONE, ASG_LEFT, ASG_GUARDIANS, ASG_RACED };
#define ROUTE_ASSIGN_SQL                                                                     \
    "WITH r AS (SELECT id FROM routes WHERE id = $1 AND school_id = $4),"                    \
    " s AS (SELECT id, active FROM students WHERE id = $2 AND school_id = $4 FOR SHARE),"    \
    " ok AS (SELECT r.id AS route_id, s.id AS student_id FROM r, s"                          \
    "        WHERE s.active AND ($3::bigint IS NULL OR EXISTS"                               \
    "        (SELECT 1 FROM route_stops WHERE id = $3 AND route_id = r.id))),"               \
    " prev AS (SELECT route_id FROM route_assignments"                                       \
    "          WHERE student_id = $2 AND school_id = $4 AND EXISTS (SELECT 1 FROM ok)"       \
    "          FOR UPDATE),"                                                                 \
    " up AS (INSERT INTO route_assignments AS ra"                                            \
    "        (route_id, student_id, stop_id, school_id)"                                     \
    "        SELECT route_id, student_id, $3::bigint, $4 FROM ok"                            \
    "        WHERE (SELECT count(*) FROM prev) >= 0"                                         \
    "        ON CONFLICT (student_id) DO UPDATE"                                             \
    "        SET route_id = EXCLUDED.route_id, stop_id = EXCLUDED.stop_id,"                  \
    "            created_at = CASE WHEN ra.route_id = EXCLUDED.route_id THEN ra.created_at"  \
    "                         ELSE EXCLUDED.created_at END"                                  \
    "        WHERE $5::boolean OR EXISTS (SELECT 1 FROM prev) RETURNING route_id)"           \
    " SELECT EXISTS (SELECT 1 FROM r), (SELECT active FROM s), EXISTS (SELECT 1 FROM up),"   \
    " (SELECT array_agg(route_id) FROM prev WHERE route_id <> $1)::text,"                    \
    " (SELECT array_agg(user_id) FROM guardians WHERE student_id = $2"                       \
    "  AND school_id = $4)::text,"                                                           \
    " EXISTS (SELECT 1 FROM ok) AND NOT EXISTS (SELECT 1 FROM up)"

#define NOT_A_STOP "not a stop of this route"

/* A route.update or route.delete that committed while the statement ran removed the stop (or
 * the route) it had found: answer as if it had never been there. */
static const struct op_db_error ASSIGN_ERRORS[] = {
    { .cond = OP_DB_FOREIGN_KEY, .constraint = "route_assignments_stop_id_fkey",
      .code = OP_E_BAD_REQUEST, .field = "stop", .message = NOT_A_STOP },
    { .cond = OP_DB_FOREIGN_KEY, .code = OP_E_NOT_FOUND, .field = "route",
      .message = "no such route" },
    { .cond = 0 },
};

/* The request, kept to run the statement again (op->state). */
struct assign {
    int64_t route, student, stop; /* stop 0: none */
    int attempt;                  /* 0-based */
};

static int route_assigned(struct op_ctx *op, const PGresult *res);

static int run_assign(struct op_ctx *op)
{
    const struct assign *a = op->state;
    op_param_id(op, a->route);
    op_param_id(op, a->student);
    op_param_i64_opt(op, a->stop > 0, a->stop);
    op_param_id(op, op->caller.school_id);
    op_param_bool(op, a->attempt + 1 >= ASSIGN_ATTEMPTS);
    return op_sql(op, &(struct op_sql){ .sql = ROUTE_ASSIGN_SQL, .on_rows = route_assigned,
                                        .errors = ASSIGN_ERRORS });
}

/* Once assigned (and committed: this runs after the statement), the student is on this route
 * alone. ASG_LEFT is the route they were on just before, read under the row lock; it is only
 * missing after a last attempt that still raced, and then that route's live trips keep the
 * student among their riders until they reload (the guardians' subscriptions are checked
 * against the database all the same). The guardians are those of the statement's snapshot:
 * one linked while it ran may be missed. */
static int route_assigned(struct op_ctx *op, const PGresult *res)
{
    struct assign *a = op->state;
    if (dbval_get_bool(res, 0, ASG_RACED) && a->attempt + 1 < ASSIGN_ATTEMPTS) {
        a->attempt++;
        return run_assign(op);
    }
    if (!dbval_get_bool(res, 0, ASG_ROUTE_FOUND)) {
        return op_refuse(op, OP_E_NOT_FOUND, "route", "no such route");
    }
    if (PQgetisnull(res, 0, ASG_ACTIVE)) {
        return op_refuse(op, OP_E_NOT_FOUND, "student", "no such student");
    }
    if (!dbval_get_bool(res, 0, ASG_ACTIVE)) {
        audit_op(op, "student", a->student, "conflict");
        return op_refuse(op, OP_E_CONFLICT, "student", "the student is no longer active");
    }
    if (!dbval_get_bool(res, 0, ASG_DONE)) {
        return op_refuse(op, OP_E_BAD_REQUEST, "stop", NOT_A_STOP);
    }
    /* a lives in op's arena, and op is gone once it has replied. */
    struct tracker *t = tracker_of(op);
    int64_t school = op->caller.school_id, route = a->route;
    audit_op(op, "student", a->student, "ok");
    op_reply_empty(op);
    tell_tracker(t, school, route, dbval_get_text(res, 0, ASG_LEFT),
                 dbval_get_text(res, 0, ASG_GUARDIANS));
    return 0;
}

static int op_route_assign(struct op_ctx *op)
{
    struct assign *a = op_alloc(op, sizeof *a);
    a->route = op_get_id(op, "route");
    a->student = op_get_id(op, "student");
    a->stop = op_get_id(op, "stop");
    op->state = a;
    return run_assign(op);
}

/* --- route.unassign --- */

/* One row: unassigned, the student's guardians, the route, the student. */
enum { UNA_DONE, UNA_GUARDIANS, UNA_ROUTE, UNA_STUDENT };
#define ROUTE_UNASSIGN_SQL                                                                   \
    "WITH d AS (DELETE FROM route_assignments WHERE route_id = $1"                           \
    "           AND student_id = $2 AND school_id = $3 RETURNING student_id)"                \
    " SELECT EXISTS (SELECT 1 FROM d),"                                                      \
    " (SELECT array_agg(user_id) FROM guardians"                                             \
    "  WHERE student_id IN (SELECT student_id FROM d))::text,"                               \
    " $1::bigint, $2::bigint"

static int route_unassigned(struct op_ctx *op, const PGresult *res)
{
    if (!dbval_get_bool(res, 0, UNA_DONE)) {
        return op_refuse(op, OP_E_NOT_FOUND, "student", "the student does not ride this route");
    }
    struct tracker *t = tracker_of(op); /* op is gone once it has replied */
    int64_t school = op->caller.school_id;
    audit_op(op, "student", dbval_get_i64(res, 0, UNA_STUDENT), "ok");
    op_reply_empty(op);
    tell_tracker(t, school, dbval_get_i64(res, 0, UNA_ROUTE), NULL,
                 dbval_get_text(res, 0, UNA_GUARDIANS));
    return 0;
}

static int op_route_unassign(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "route"));
    op_param_id(op, op_get_id(op, "student"));
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){ .sql = ROUTE_UNASSIGN_SQL, .on_rows = route_unassigned });
}

/* --- The table --- */

static const struct op_arg ASSIGN_ARGS[] = {
    { .name = "route", .type = OP_T_ID, .required = OP_REQ },
    { .name = "student", .type = OP_T_ID, .required = OP_REQ },
    { .name = "stop", .type = OP_T_ID },
    { .name = NULL },
};

static const struct op_arg UNASSIGN_ARGS[] = {
    { .name = "route", .type = OP_T_ID, .required = OP_REQ },
    { .name = "student", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

const struct op_def route_assignment_ops[] = {
    { .name = "route.assign", .fn = op_route_assign, .roles = ROLE_ADMIN, .args = ASSIGN_ARGS },
    { .name = "route.unassign", .fn = op_route_unassign, .roles = ROLE_ADMIN,
      .args = UNASSIGN_ARGS },
    { .name = NULL },
};
