/* The records' scoped questions (see scope.h): one query each. */
#include "academics/scope.h"

#include <errno.h>

static const char *const questions[SCOPE__COUNT] = {
    [SCOPE_SECTION] =
        "SELECT true, $4::text = 'admin' OR ($4::text = 'teacher' AND s.id IN "
        SCOPE_TEACHER_SECTIONS("$3") "), s.class_id, s.year_id"
        " FROM sections s WHERE s.id = $1 AND s.school_id = $2",
    [SCOPE_STUDENT] =
        "SELECT true, $4::text = 'admin'"
        " OR ($4::text = 'teacher' AND s.section_id IN " SCOPE_TEACHER_SECTIONS("$3") ")"
        " OR ($4::text = 'parent' AND EXISTS (SELECT 1 FROM guardians g"
        "     WHERE g.student_id = s.id AND g.user_id = $3)),"
        " s.section_id, s.status"
        " FROM students s WHERE s.id = $1 AND s.school_id = $2",
    [SCOPE_TEACHER] =
        "SELECT true, $4::text = 'admin' OR u.id = $3"
        " FROM users u WHERE u.id = $1 AND u.school_id = $2 AND u.role = 'teacher'",
    [SCOPE_CLASS] =
        "SELECT true, $3::bigint IS NOT NULL AND $4::text IS NOT NULL, c.year_id"
        " FROM classes c WHERE c.id = $1 AND c.school_id = $2",
    [SCOPE_SUBJECT] =
        "SELECT true, $3::bigint IS NOT NULL AND $4::text IS NOT NULL, j.class_id"
        " FROM subjects j WHERE j.id = $1 AND j.school_id = $2",
    [SCOPE_YEAR] =
        "SELECT true, $3::bigint IS NOT NULL AND $4::text IS NOT NULL"
        " FROM academic_years y WHERE y.id = $1 AND y.school_id = $2",
};

static const char *const not_found[SCOPE__COUNT] = {
    [SCOPE_SECTION] = "no such section", [SCOPE_STUDENT] = "no such student",
    [SCOPE_TEACHER] = "no such teacher", [SCOPE_CLASS] = "no such class",
    [SCOPE_SUBJECT] = "no such subject", [SCOPE_YEAR] = "no such academic year",
};

static const char *const forbidden[SCOPE__COUNT] = {
    [SCOPE_SECTION] = "this section is not one of yours",
    [SCOPE_STUDENT] = "this student is not one of yours",
    [SCOPE_TEACHER] = "this is another teacher's",
    [SCOPE_CLASS] = "this class is not yours to see",
    [SCOPE_SUBJECT] = "this subject is not yours to see",
    [SCOPE_YEAR] = "this year is not yours to see",
};

const char *scope_sql(enum scope_question q)
{
    return (unsigned)q < SCOPE__COUNT ? questions[q] : NULL;
}

/* What scope_check keeps across the round trip. */
struct scope_state {
    enum scope_question q;
    const char *field;
    op_rows_fn *next;
    void *outer_state; /* the op's own state, restored before next runs */
};

static int answered(struct op_ctx *op, const PGresult *res)
{
    struct scope_state *st = op->state;
    op->state = st->outer_state;
    switch (policy_answer(res)) {
    case POLICY_ALLOW:
        return st->next(op, res);
    case POLICY_FORBIDDEN:
        return op_refuse(op, OP_E_FORBIDDEN, st->field, forbidden[st->q]);
    case POLICY_NOT_FOUND:
    default:
        return op_refuse(op, OP_E_NOT_FOUND, st->field, not_found[st->q]);
    }
}

int scope_check(struct op_ctx *op, enum scope_question q, int64_t id, const char *field,
                op_rows_fn *next)
{
    if ((unsigned)q >= SCOPE__COUNT || op->n_params != 0) {
        return -EINVAL; /* a programming error, answered internal */
    }
    struct scope_state *st = op_alloc(op, sizeof *st);
    *st = (struct scope_state){ .q = q, .field = field, .next = next, .outer_state = op->state };
    op->state = st;
    policy_params(op, id);
    return op_sql(op, &(struct op_sql){ .sql = questions[q], .on_rows = answered });
}
