/* The asynchronous half of an op as a declaration: parameters that count themselves, one
 * query helper that maps a failed status and SQLSTATEs to wire errors from a small per-call
 * table, and a row callback with the same contract as a handler. No handler checks a dbpool
 * status, compares a SQLSTATE or writes the "unavailable" message itself.
 *
 *     static int op_guardian_list(struct op_ctx *op)
 *     {
 *         op_param_id(op, op_get_id(op, "student"));
 *         op_param_id(op, op->caller.school_id);
 *         return op_sql(op, &(struct op_sql){ .sql = GUARDIANS_SQL, .on_rows = reply_guardians,
 *                                             .not_found = "no such student",
 *                                             .not_found_field = "student" });
 *     } */
#pragma once
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/op.h"

struct op_col;

/* Conditions a query can end in that an op may want to answer specially. */
enum op_db_cond {
    OP_DB_UNIQUE = 1,    /* unique_violation: the value is taken */
    OP_DB_FOREIGN_KEY,   /* foreign_key_violation: a referenced row is gone */
    OP_DB_CHECK,         /* check_violation */
    OP_DB_NOT_NULL,      /* not_null_violation */
    OP_DB_RACE,          /* serialization failure or deadlock: running it again may succeed */
    OP_DB_RAISED,        /* raise_exception from a function (P0001) */
};

/* One row of a query's error table: when the query fails with cond (and, if constraint is
 * set, on that constraint), answer code with field and message; or, with retry set, run the
 * query again with the same parameters (at most OP_SQL_MAX_ATTEMPTS times in all). */
struct op_db_error {
    enum op_db_cond cond; /* 0 ends the table */
    const char *constraint;
    enum op_err code;
    const char *field;
    const char *message;
    bool retry;
    /* Record the refusal in the audit log as this record type (else the op_sql's .audit),
     * with the op_sql's audit_id and the wire code as the outcome. */
    const char *audit;
};

#define OP_SQL_MAX_ATTEMPTS 3

/* Called with the rows of a successful query. Returns like a handler: 0 when it has
 * answered or will answer (it may start another op_sql), a positive OP_E_* to fail with
 * op->fail_field/fail_message, a negative errno for internal. The request's arguments are
 * still readable (op_sql keeps a copy in the arena). Answering frees op and its arena: read
 * op->caller, op->state and anything else needed before the reply. */
typedef int op_rows_fn(struct op_ctx *op, const PGresult *res);

/* A query and what to do with its outcome. op_sql copies it: a compound literal will do. */
struct op_sql {
    const char *sql;
    /* With zero rows: answer not_found with this message and field (when message is set). */
    const char *not_found;
    const char *not_found_field;
    /* On success, the first of these that is set: */
    op_rows_fn *on_rows;              /* the op's own continuation */
    const struct op_col *reply_row;   /* reply with row 0 packed by this table */
    const struct op_col *reply_rows;  /* reply with every row, an array of maps */
    bool reply_id;                    /* reply {id} from column 0 of row 0 */
    /* otherwise reply {} */
    const struct op_db_error *errors; /* cond 0 ends it; may be NULL */
    /* Recorded in the audit log when set: after success (before the reply), and after an
     * error mapped by the errors table with the wire code as the outcome. The record id is
     * audit_id when the op knows it beforehand (an update or a delete of an id); otherwise
     * column audit_id_col of row 0 after success, and 0 after an error. */
    const char *audit;
    int audit_id_col;
    int64_t audit_id;
};

/* Parameters of the next op_sql, numbered $1, $2, … in the order they are added. Values are
 * copied into the request's arena; NULL strings are SQL NULL. */
void op_param_null(struct op_ctx *op);
void op_param_i64(struct op_ctx *op, int64_t v);
void op_param_id(struct op_ctx *op, int64_t v);   /* same as i64; reads better for ids */
void op_param_f64(struct op_ctx *op, double v);
void op_param_bool(struct op_ctx *op, bool v);
void op_param_str(struct op_ctx *op, const char *s);
void op_param_strn(struct op_ctx *op, const char *s, size_t len);
/* The argument name as text (string, integer, number or bool), NULL when absent or nil. */
void op_param_arg(struct op_ctx *op, const char *name);
/* Pass an optional value: SQL NULL when present is false. */
void op_param_i64_opt(struct op_ctx *op, bool present, int64_t v);

/* Runs the query with the parameters added since the last op_sql (then clears them). Returns
 * 0 and the outcome is handled as q says; or OP_E_UNAVAILABLE with the message set when the
 * database is down, to be returned by the handler (or the row callback). */
int op_sql(struct op_ctx *op, const struct op_sql *q);

/* The database's answer to a query that failed, mapped to a wire error: the shared
 * "unavailable" and "internal" replies (the latter logged with op, SQLSTATE and message).
 * For code outside op_sql that still talks to dbpool directly on an op's behalf. */
void op_fail_db_status(struct op_ctx *op, int dbpool_status, const PGresult *res);
