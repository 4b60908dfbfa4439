/* Scoped questions in a row (see checks.h). */
#include "academics/checks.h"

#include <errno.h>

#include "core/dbval.h"

static int step(struct op_ctx *op);

static void keep_cols(struct check *k, const PGresult *res)
{
    if (PQntuples(res) < 1) {
        return;
    }
    if (PQnfields(res) > 2 && !PQgetisnull(res, 0, 2)) {
        k->col2 = dbval_get_i64(res, 0, 2);
    }
    if (PQnfields(res) > 3 && !PQgetisnull(res, 0, 3)) {
        k->col3 = dbval_get_i64(res, 0, 3);
    }
}

static int answered(struct op_ctx *op, const PGresult *res)
{
    struct checks *c = op->state;
    keep_cols(&c->k[c->i], res);
    c->i++;
    return step(op);
}

static int teacher_answered(struct op_ctx *op, const PGresult *res)
{
    struct checks *c = op->state;
    const struct check *k = &c->k[c->i];
    if (PQntuples(res) == 0) {
        return op_refuse(op, OP_E_NOT_FOUND, k->field, "no such user");
    }
    if (!dbval_get_bool(res, 0, 0)) {
        return op_refuse(op, OP_E_BAD_REQUEST, k->field, "must be a teacher");
    }
    c->i++;
    return step(op);
}

static int step(struct op_ctx *op)
{
    struct checks *c = op->state;
    while (c->i < c->n && c->k[c->i].id <= 0) {
        c->i++;
    }
    if (c->i >= c->n) {
        return c->done(op);
    }
    struct check *k = &c->k[c->i];
    if (k->q == CHECK_TEACHER_ROLE) {
        op_param_id(op, k->id);
        op_param_id(op, op->caller.school_id);
        return op_sql(op, &(struct op_sql){
            .sql = "SELECT role = 'teacher' FROM users WHERE id = $1 AND school_id = $2",
            .on_rows = teacher_answered });
    }
    return scope_check(op, (enum scope_question)k->q, k->id, k->field, answered);
}

void checks_add(struct op_ctx *op, struct checks *c, int q, const char *field)
{
    if (c->n >= CHECKS_MAX) {
        return;
    }
    c->k[c->n++] = (struct check){ .q = q, .id = op_get_id(op, field), .field = field };
}

struct checks *checks_new(struct op_ctx *op)
{
    struct checks *c = op_alloc(op, sizeof *c);
    op->state = c;
    return c;
}

int checks_run(struct op_ctx *op, struct checks *c, op_fn *done)
{
    if (op->state != c) {
        return -EINVAL;
    }
    op_keep_args(op);
    c->done = done;
    c->i = 0;
    return step(op);
}
