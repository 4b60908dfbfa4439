/* The records' scoped questions (see scope.h): one query each. */
#include "academics/scope.h"

#include <errno.h>

#include "core/dbval.h"

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

/* --- scope_teaches --- */

enum { TEACH_IN_SCHOOL, TEACH_ALLOWED, TEACH_CLASS, TEACH_YEAR, TEACH_SUBJECT_FOUND,
       TEACH_SUBJECT_OF_CLASS };

static int teaches_answered(struct op_ctx *op, const PGresult *res)
{
    struct scope_state *st = op->state;
    op->state = st->outer_state;
    if (PQntuples(res) != 1) {
        return op_refuse(op, OP_E_NOT_FOUND, "section", not_found[SCOPE_SECTION]);
    }
    if (!dbval_get_bool(res, 0, TEACH_SUBJECT_FOUND)) {
        return op_refuse(op, OP_E_NOT_FOUND, "subject", not_found[SCOPE_SUBJECT]);
    }
    if (!dbval_get_bool(res, 0, TEACH_SUBJECT_OF_CLASS)) {
        return op_refuse(op, OP_E_BAD_REQUEST, "subject",
                         "is not a subject of this section's class");
    }
    if (!dbval_get_bool(res, 0, TEACH_ALLOWED)) {
        return op_refuse(op, OP_E_FORBIDDEN, st->field,
                         "you do not teach this subject in this section");
    }
    return st->next(op, res);
}

int scope_teaches(struct op_ctx *op, int64_t section, int64_t subject, const char *field,
                  op_rows_fn *next)
{
    if (op->n_params != 0) {
        return -EINVAL;
    }
    struct scope_state *st = op_alloc(op, sizeof *st);
    *st = (struct scope_state){ .q = SCOPE_SECTION, .field = field, .next = next,
                                .outer_state = op->state };
    op->state = st;
    policy_params(op, section);
    op_param_id(op, subject);
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT true, $4::text = 'admin' OR ($4::text = 'teacher' AND EXISTS ("
               "   SELECT 1 FROM teacher_assignments ta WHERE ta.teacher_id = $3"
               "   AND ta.section_id = s.id AND ta.subject_id = $5)),"
               " s.class_id, s.year_id, j.id IS NOT NULL, j.class_id IS NOT DISTINCT FROM s.class_id"
               " FROM sections s LEFT JOIN subjects j ON j.id = $5 AND j.school_id = $2"
               " WHERE s.id = $1 AND s.school_id = $2",
        .on_rows = teaches_answered });
}
