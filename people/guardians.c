/* guardian.link/unlink/list for a school's admins. Every query is scoped to the caller's
 * school: another school's ids are simply not found. A link or unlink changes whom a parent
 * may follow, so the roster's listeners hear of it at once, after the reply. */
#include "people/guardians.h"

#include "core/audit.h"
#include "core/dbval.h"
#include "core/op_db.h"
#include "people/people.h"

#define RELATIONSHIP_MAX_LEN 32

const struct op_col guardian_cols[] = {
    { .key = "user", .type = OP_COL_I64, .col = 0 },
    { .key = "name", .type = OP_COL_TEXT, .col = 1 },
    { .key = "relationship", .type = OP_COL_TEXT, .col = 2 },
    { .key = "emergency", .type = OP_COL_BOOL, .col = 3 },
    { .key = NULL },
};

/* Replies {} (which frees op), then tells the roster's listeners that the user's rights over
 * the student changed: a running trip of the child's route tells its stop's parents, and a
 * parent following this child's bus stops now if nothing else allows it. */
static void reply_and_tell(struct op_ctx *op, int64_t student, int64_t user)
{
    int64_t school = op->caller.school_id;
    const struct roster *roster = &((struct people *)op->domain)->roster;
    op_reply_empty(op);
    roster_user_changed(roster, school, user);
    roster_student_changed(roster, school, student);
}

/* --- guardian.link --- */

/* One row: the student found, the user's role (NULL: not a user of the school), linked, the
 * student, the user. Linking again updates the relationship, and emergency when it is given. */
#define LINK_SQL                                                                              \
    "WITH st AS (SELECT id FROM students WHERE id = $1 AND school_id = $3),"                  \
    " us AS (SELECT id, role FROM users WHERE id = $2 AND school_id = $3),"                   \
    " up AS (INSERT INTO guardians (student_id, user_id, school_id, relationship, emergency)" \
    "        SELECT st.id, us.id, $3, $4, coalesce($5::boolean, false)"                       \
    "        FROM st, us WHERE us.role = 'parent'"                                            \
    "        ON CONFLICT (student_id, user_id) DO UPDATE"                                     \
    "        SET relationship = EXCLUDED.relationship,"                                       \
    "            emergency = coalesce($5::boolean, guardians.emergency)"                      \
    "        RETURNING student_id)"                                                           \
    " SELECT EXISTS (SELECT 1 FROM st), (SELECT role FROM us), EXISTS (SELECT 1 FROM up),"    \
    " $1::bigint, $2::bigint"

static int linked(struct op_ctx *op, const PGresult *res)
{
    if (!dbval_get_bool(res, 0, 0)) {
        return op_refuse(op, OP_E_NOT_FOUND, "student", "no such student");
    }
    if (PQgetisnull(res, 0, 1)) {
        return op_refuse(op, OP_E_NOT_FOUND, "user", "no such user");
    }
    if (!dbval_get_bool(res, 0, 2)) {
        return op_refuse(op, OP_E_BAD_REQUEST, "user", "must be a parent");
    }
    int64_t student = dbval_get_i64(res, 0, 3);
    audit_op(op, "student", student, "ok");
    reply_and_tell(op, student, dbval_get_i64(res, 0, 4));
    return 0;
}

static int op_guardian_link(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "student"));
    op_param_id(op, op_get_id(op, "user"));
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "relationship");
    op_param_arg(op, "emergency");
    return op_sql(op, &(struct op_sql){ .sql = LINK_SQL, .on_rows = linked });
}

/* --- guardian.unlink --- */

static int unlinked(struct op_ctx *op, const PGresult *res)
{
    reply_and_tell(op, dbval_get_i64(res, 0, 0), dbval_get_i64(res, 0, 1));
    return 0;
}

static int op_guardian_unlink(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "student"));
    op_param_id(op, op_get_id(op, "user"));
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
        .sql = "DELETE FROM guardians WHERE student_id = $1 AND user_id = $2"
               " AND school_id = $3 RETURNING student_id, user_id",
        .not_found = "this user is not a guardian of this student", .not_found_field = "user",
        .audit = "student", .on_rows = unlinked });
}

/* --- guardian.list --- */

/* One row per guardian, or one row of NULLs after the student when there are none. */
static int reply_guardians(struct op_ctx *op, const PGresult *res)
{
    op_pack_rows(op, op_reply_begin(op), res, guardian_cols, 0);
    op_reply_end(op);
    return 0;
}

static int op_guardian_list(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "student"));
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT " GUARDIAN_SELECT " FROM students s"
               " LEFT JOIN guardians g ON g.student_id = s.id"
               " LEFT JOIN users u ON u.id = g.user_id"
               " WHERE s.id = $1 AND s.school_id = $2 ORDER BY g.user_id",
        .not_found = "no such student", .not_found_field = "student",
        .on_rows = reply_guardians });
}

static const struct op_arg link_args[] = {
    { .name = "student", .type = OP_T_ID, .required = OP_REQ },
    { .name = "user", .type = OP_T_ID, .required = OP_REQ },
    { .name = "relationship", .type = OP_T_STR, .required = OP_REQ,
      .max = RELATIONSHIP_MAX_LEN },
    { .name = "emergency", .type = OP_T_BOOL },
    { .name = NULL },
};

static const struct op_arg unlink_args[] = {
    { .name = "student", .type = OP_T_ID, .required = OP_REQ },
    { .name = "user", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

static const struct op_arg list_args[] = {
    { .name = "student", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

const struct op_def guardian_ops[] = {
    { .name = "guardian.link", .fn = op_guardian_link, .roles = ROLE_ADMIN, .args = link_args },
    { .name = "guardian.unlink", .fn = op_guardian_unlink, .roles = ROLE_ADMIN,
      .args = unlink_args },
    { .name = "guardian.list", .fn = op_guardian_list, .roles = ROLE_ADMIN, .args = list_args },
    { .name = NULL },
};
