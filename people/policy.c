/* The scoped questions about people (see policy.h): one query each, answering whether the
 * record is in the caller's school and whether the caller may have it. */
#include "people/policy.h"

#include "core/dbval.h"
#include "core/op_db.h"

static const char *const questions[POLICY__COUNT] = {
    [POLICY_USER_IN_SCHOOL] =
        "SELECT true, true FROM users WHERE id = $1 AND school_id = $2"
        " AND $3::bigint IS NOT NULL AND $4::text IS NOT NULL",
    [POLICY_STUDENT_IN_SCHOOL] =
        "SELECT true, true FROM students WHERE id = $1 AND school_id = $2"
        " AND $3::bigint IS NOT NULL AND $4::text IS NOT NULL",
    [POLICY_PARENT_OF_STUDENT] =
        "SELECT true, $4::text = 'parent' AND EXISTS (SELECT 1 FROM guardians g"
        "   WHERE g.student_id = s.id AND g.user_id = $3)"
        " FROM students s WHERE s.id = $1 AND s.school_id = $2",
    [POLICY_STUDENT_READ] =
        "SELECT true, $4::text = 'admin'"
        " OR ($4::text = 'teacher' AND s.section_id IN " POLICY_TEACHER_SECTIONS("$3") ")"
        " OR ($4::text = 'parent' AND EXISTS (SELECT 1 FROM guardians g"
        "     WHERE g.student_id = s.id AND g.user_id = $3))"
        " FROM students s WHERE s.id = $1 AND s.school_id = $2",
};

const char *policy_sql(enum policy_question q)
{
    return (unsigned)q < POLICY__COUNT ? questions[q] : NULL;
}

void policy_params(struct op_ctx *op, int64_t id)
{
    op_param_id(op, id);
    op_param_id(op, op->caller.school_id);
    op_param_id(op, op->caller.user_id);
    op_param_str(op, role_name(op->caller.role));
}

enum policy_answer policy_answer(const PGresult *res)
{
    if (PQntuples(res) == 0) {
        return POLICY_NOT_FOUND;
    }
    return dbval_get_bool(res, 0, 1) ? POLICY_ALLOW : POLICY_FORBIDDEN;
}
