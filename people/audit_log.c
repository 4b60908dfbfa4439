/* audit.list: the caller's school's audit entries, newest first, filtered by user, record and
 * time range, paged with `before` (an entry id). Reading the log is itself audited. */
#include "people/audit_log.h"

#include "core/audit.h"
#include "core/op_db.h"
#include "core/op_pack.h"

static const struct op_col entry_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = 0 },
    { .key = "at", .type = OP_COL_I64, .col = 1 },
    { .key = "user", .type = OP_COL_I64, .col = 2 },
    { .key = "role", .type = OP_COL_TEXT, .col = 3 },
    { .key = "session", .type = OP_COL_I64, .col = 4 },
    { .key = "op", .type = OP_COL_TEXT, .col = 5 },
    { .key = "record_type", .type = OP_COL_TEXT, .col = 6 },
    { .key = "record_id", .type = OP_COL_I64, .col = 7 },
    { .key = "addr", .type = OP_COL_TEXT, .col = 8 },
    { .key = "outcome", .type = OP_COL_TEXT, .col = 9 },
    { .key = NULL },
};

/* The read is recorded against the log as a whole (no record id), so not with .audit, which
 * would take the first entry's id. */
static int reply_entries(struct op_ctx *op, const PGresult *res)
{
    audit_op(op, "audit_log", 0, "ok");
    op_reply_rows(op, res, entry_cols);
    return 0;
}

static int op_audit_list(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "user");
    op_param_arg(op, "record_type");
    op_param_arg(op, "record_id");
    op_param_arg(op, "from");
    op_param_arg(op, "to");
    op_param_arg(op, "before");
    op_param_i64(op, op_get_int(op, "limit", 100));
    return op_sql(op, &(struct op_sql){
                          .sql = "SELECT id, (extract(epoch FROM at) * 1000)::bigint, user_id,"
                                 " role, session_id, op, record_type, record_id, addr, outcome"
                                 " FROM audit_log WHERE school_id = $1"
                                 "  AND ($2::bigint IS NULL OR user_id = $2)"
                                 "  AND ($3::text IS NULL OR record_type = $3)"
                                 "  AND ($4::bigint IS NULL OR record_id = $4)"
                                 "  AND ($5::bigint IS NULL OR at >= to_timestamp($5 / 1000.0))"
                                 "  AND ($6::bigint IS NULL OR at < to_timestamp($6 / 1000.0))"
                                 "  AND ($7::bigint IS NULL OR id < $7)"
                                 " ORDER BY id DESC LIMIT $8",
                          .on_rows = reply_entries });
}

static const struct op_arg audit_list_args[] = {
    { .name = "user", .type = OP_T_ID },
    { .name = "record_type", .type = OP_T_STR, .max = 32 },
    { .name = "record_id", .type = OP_T_ID },
    { .name = "from", .type = OP_T_INT, .min = 0, .max = INT64_MAX },
    { .name = "to", .type = OP_T_INT, .min = 0, .max = INT64_MAX },
    { .name = "before", .type = OP_T_ID },
    { .name = "limit", .type = OP_T_INT, .min = 1, .max = 1000 },
    { .name = NULL },
};

const struct op_def audit_ops[] = {
    { .name = "audit.list", .fn = op_audit_list, .roles = ROLE_ADMIN, .args = audit_list_args },
    { .name = NULL },
};
