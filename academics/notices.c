/* The school's records: parents' notices: what they were told live, kept for when they were
 * offline. Each user reads only their own, in id order (oldest first), paging with `after`,
 * and marks them read up to an id. */
#include "academics/notices.h"

#include "core/op_db.h"
#include "core/op_pack.h"
#include "core/retention.h"

#define LIST_DEFAULT 50
#define LIST_MAX 200

int notices_register_purge(struct retention *r, int days)
{
    return retention_add(r, "notices", "SELECT purge_notices($1)", days);
}

/* --- notice.list --- */

static const struct op_col notice_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = 0 },
    { .key = "kind", .type = OP_COL_TEXT, .col = 1 },
    { .key = "at", .type = OP_COL_I64, .col = 2 },
    { .key = "student", .type = OP_COL_I64, .col = 3 },
    { .key = "day", .type = OP_COL_TEXT, .col = 4 },
    { .key = "status", .type = OP_COL_TEXT, .col = 5 },
    { .key = "note", .type = OP_COL_TEXT, .col = 6 },
    { .key = "read", .type = OP_COL_BOOL, .col = 7 },
    { .key = NULL },
};

static int op_notice_list(struct op_ctx *op)
{
    op_param_id(op, op->caller.user_id);
    op_param_i64(op, op_get_int(op, "after", 0));
    op_param_i64(op, op_get_int(op, "limit", LIST_DEFAULT));
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT id, kind, (extract(epoch FROM created_at) * 1000)::bigint, student_id,"
               " day::text, status, note, read_at IS NOT NULL FROM notices"
               " WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        .reply_rows = notice_cols });
}

/* --- notice.read --- */

static int op_notice_read(struct op_ctx *op)
{
    op_param_id(op, op->caller.user_id);
    op_param_id(op, op_get_id(op, "upto"));
    return op_sql(op, &(struct op_sql){
        .sql = "UPDATE notices SET read_at = now()"
               " WHERE user_id = $1 AND id <= $2 AND read_at IS NULL" });
}

static const struct op_arg LIST_ARGS[] = {
    { .name = "after", .type = OP_T_ID },
    { .name = "limit", .type = OP_T_INT, .min = 1, .max = LIST_MAX },
    { .name = NULL },
};

static const struct op_arg READ_ARGS[] = {
    { .name = "upto", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

const struct op_def notice_ops[] = {
    { .name = "notice.list", .fn = op_notice_list, .roles = ROLE_ANY, .args = LIST_ARGS },
    { .name = "notice.read", .fn = op_notice_read, .roles = ROLE_ANY, .args = READ_ARGS },
    { .name = NULL },
};
