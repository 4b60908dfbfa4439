/* The query helper every op uses for its database round trips (see op_db.h). */
#include "core/op_db.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "core/audit.h"
#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/log.h"
#include "core/op_pack.h"

/* Enough for the widest statement we have (student.create: 10); a row with more is a bug
 * caught in every test that runs it. */
#define OP_MAX_PARAMS 32

#define MSG_UNAVAILABLE "the database is unavailable, try again shortly"

/* A query in flight, kept in the request's arena with its parameters for a retry. */
struct op_sql_run {
    struct op_sql q;
    const char **params;
    int n_params;
    int attempts;
};

static void add(struct op_ctx *op, const char *value)
{
    if (!op->params) {
        op->params = op_alloc(op, sizeof *op->params * OP_MAX_PARAMS);
    }
    if (op->n_params >= OP_MAX_PARAMS) {
        log_event(LOG_ERROR, "op", "too many query parameters", "op=%s", op->op_name);
        return;
    }
    op->params[op->n_params++] = value;
}

void op_param_null(struct op_ctx *op)
{
    add(op, NULL);
}

void op_param_i64(struct op_ctx *op, int64_t v)
{
    add(op, arena_printf(&op->arena, "%" PRId64, v));
}

void op_param_id(struct op_ctx *op, int64_t v)
{
    op_param_i64(op, v);
}

void op_param_f64(struct op_ctx *op, double v)
{
    add(op, arena_printf(&op->arena, "%.17g", v));
}

void op_param_bool(struct op_ctx *op, bool v)
{
    add(op, v ? "true" : "false");
}

void op_param_str(struct op_ctx *op, const char *s)
{
    add(op, s ? arena_strdup(&op->arena, s) : NULL);
}

void op_param_strn(struct op_ctx *op, const char *s, size_t len)
{
    add(op, arena_strndup(&op->arena, s, len));
}

void op_param_i64_opt(struct op_ctx *op, bool present, int64_t v)
{
    if (present) {
        op_param_i64(op, v);
    } else {
        op_param_null(op);
    }
}

void op_param_arg(struct op_ctx *op, const char *name)
{
    const msgpack_object *v = op_map_get(op->args, name);
    if (!v) {
        op_param_null(op);
        return;
    }
    switch (v->type) {
    case MSGPACK_OBJECT_STR:
        op_param_strn(op, v->via.str.ptr, v->via.str.size);
        return;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        add(op, arena_printf(&op->arena, "%" PRIu64, v->via.u64));
        return;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        op_param_i64(op, v->via.i64);
        return;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        op_param_f64(op, v->via.f64);
        return;
    case MSGPACK_OBJECT_BOOLEAN:
        op_param_bool(op, v->via.boolean);
        return;
    default:
        op_param_null(op);
        return;
    }
}

static enum op_db_cond condition(const char *sqlstate)
{
    static const struct {
        const char *state;
        enum op_db_cond cond;
    } states[] = {
        { "23505", OP_DB_UNIQUE },   { "23503", OP_DB_FOREIGN_KEY }, { "23514", OP_DB_CHECK },
        { "23502", OP_DB_NOT_NULL }, { "40001", OP_DB_RACE },        { "40P01", OP_DB_RACE },
        { "P0001", OP_DB_RAISED },
    };
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        if (strcmp(states[i].state, sqlstate) == 0) {
            return states[i].cond;
        }
    }
    return 0;
}

void op_fail_db_status(struct op_ctx *op, int dbpool_status, const PGresult *res)
{
    if (dbpool_status == DBPOOL_E_QUERY) {
        const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
        const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
        log_event(LOG_ERROR, "op", "query failed", "op=%s sqlstate=%s error=\"%s\"",
                  op->op_name, state ? state : "-", primary ? primary : "-");
        op_fail(op, OP_E_INTERNAL, "internal error", NULL);
        return;
    }
    op_fail(op, OP_E_UNAVAILABLE, MSG_UNAVAILABLE, NULL);
}

static void on_result(void *arg, int status, const PGresult *res);

static int submit(struct op_ctx *op)
{
    struct op_sql_run *run = op->sql_run;
    run->attempts++;
    if (dbpool_query(op->env->db, run->q.sql, run->n_params, run->params, on_result, op) != 0) {
        op->fail_field = NULL;
        op->fail_message = MSG_UNAVAILABLE;
        return OP_E_UNAVAILABLE;
    }
    return 0;
}

/* The error table's row for a failed query, or NULL. */
static const struct op_db_error *match_error(const struct op_sql *q, const PGresult *res)
{
    enum op_db_cond cond = condition(dbpool_sqlstate(DBPOOL_E_QUERY, res));
    if (!cond || !q->errors) {
        return NULL;
    }
    const char *constraint = PQresultErrorField(res, PG_DIAG_CONSTRAINT_NAME);
    for (const struct op_db_error *e = q->errors; e->cond; e++) {
        if (e->cond == cond &&
            (!e->constraint || (constraint && strcmp(e->constraint, constraint) == 0))) {
            return e;
        }
    }
    return NULL;
}

static int on_success(struct op_ctx *op, const struct op_sql *q, const PGresult *res)
{
    int rows = PQntuples(res);
    if (q->not_found && rows == 0) {
        return op_refuse(op, OP_E_NOT_FOUND, q->not_found_field, q->not_found);
    }
    if (q->audit) {
        int64_t id = q->audit_id ? q->audit_id
                     : rows > 0 && q->audit_id_col < PQnfields(res)
                         ? dbval_get_i64(res, 0, q->audit_id_col)
                         : 0;
        audit_op(op, q->audit, id, "ok");
    }
    if (q->on_rows) {
        return q->on_rows(op, res);
    }
    if (q->reply_row) {
        if (rows == 0) {
            return -ENOENT; /* a query that must return a row did not: a bug */
        }
        op_reply_row(op, res, 0, q->reply_row);
    } else if (q->reply_rows) {
        op_reply_rows(op, res, q->reply_rows);
    } else if (q->reply_id) {
        if (rows == 0) {
            return -ENOENT;
        }
        op_reply_id(op, dbval_get_i64(res, 0, 0));
    } else {
        op_reply_empty(op);
    }
    return 0;
}

static void on_result(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    const struct op_sql *q = &op->sql_run->q;
    if (status == DBPOOL_OK) {
        op_finish_rc(op, on_success(op, q, res));
        return;
    }
    const struct op_db_error *e = status == DBPOOL_E_QUERY ? match_error(q, res) : NULL;
    if (e && e->retry && op->sql_run->attempts < OP_SQL_MAX_ATTEMPTS) {
        log_event(LOG_DEBUG, "op", "query raced, running it again", "op=%s attempt=%d",
                  op->op_name, op->sql_run->attempts + 1);
        op_finish_rc(op, submit(op));
        return;
    }
    if (e && !e->retry) {
        if (e->audit || q->audit) {
            audit_op(op, e->audit ? e->audit : q->audit, q->audit_id, op_err_code(e->code));
        }
        op_fail(op, e->code, e->message, e->field);
        return;
    }
    op_fail_db_status(op, status, res);
}

int op_sql(struct op_ctx *op, const struct op_sql *q)
{
    /* The row callback may read the arguments: the frame they point into is gone by then. */
    op_keep_args(op);
    /* A new run each time: a row callback may start the next query while the previous
     * run's memory is still in use; both live until the request ends. */
    struct op_sql_run *run = op_alloc(op, sizeof *run);
    run->q = *q;
    run->params = op->params;
    run->n_params = op->n_params;
    op->sql_run = run;
    /* The parameters stay with the run for a retry; the next op_param_* starts afresh. */
    op->params = NULL;
    op->n_params = 0;
    return submit(op);
}
