/* audit.list: the caller's school's audit entries, newest first, filtered by user, record and
 * time range, paged with `before` (an entry id). Reading the log is itself audited. */
#include "academics/audit_ops.h"

#include <stdio.h>

#include "core/audit.h"
#include "core/dbpool.h"
#include "core/dbval.h"

static void on_listed(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    static const char *const keys[] = { "id",     "at",          "user",      "role",
                                        "session", "op",         "record_type", "record_id",
                                        "addr",   "outcome" };
    int rows = PQntuples(res);
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_array(pk, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        msgpack_pack_map(pk, 10);
        for (int k = 0; k < 10; k++) {
            envelope_pack_key(pk, keys[k]);
            if (k == 0 || k == 1 || k == 2 || k == 4 || k == 7) {
                dbval_pack_i64(pk, res, i, k);
            } else {
                dbval_pack_text(pk, res, i, k);
            }
        }
    }
    audit_op(op, "audit_log", 0, "ok");
    op_reply_end(op);
}

static int op_audit_list(struct op_ctx *op)
{
    int64_t user = 0, record = 0, from = 0, to = 0, before = 0, limit = 100;
    bool has_user, has_record, has_type, has_from, has_to, has_before, has_limit;
    const char *type = NULL;
    size_t type_len = 0;
    int r;
    if ((r = op_arg_id_opt(op, "user", &user, &has_user)) != 0 ||
        (r = op_arg_str_opt(op, "record_type", 32, &type, &type_len, &has_type)) != 0 ||
        (r = op_arg_id_opt(op, "record_id", &record, &has_record)) != 0 ||
        (r = op_arg_int_opt(op, "from", 0, INT64_MAX, &from, &has_from)) != 0 ||
        (r = op_arg_int_opt(op, "to", 0, INT64_MAX, &to, &has_to)) != 0 ||
        (r = op_arg_id_opt(op, "before", &before, &has_before)) != 0 ||
        (r = op_arg_int_opt(op, "limit", 1, 1000, &limit, &has_limit)) != 0) {
        return r;
    }
    char school_s[24], user_s[24], record_s[24], from_s[24], to_s[24], before_s[24], limit_s[24];
    char type_buf[33];
    if (has_type) {
        snprintf(type_buf, sizeof type_buf, "%.*s", (int)type_len, type);
    }
    const char *params[] = {
        dbval_i64(op->caller.school_id, school_s),
        has_user ? dbval_i64(user, user_s) : NULL,
        has_type ? type_buf : NULL,
        has_record ? dbval_i64(record, record_s) : NULL,
        has_from ? dbval_i64(from, from_s) : NULL,
        has_to ? dbval_i64(to, to_s) : NULL,
        has_before ? dbval_i64(before, before_s) : NULL,
        dbval_i64(limit, limit_s),
    };
    return op_query(op,
                    "SELECT id, (extract(epoch FROM at) * 1000)::bigint, user_id, role,"
                    " session_id, op, record_type, record_id, addr, outcome"
                    " FROM audit_log WHERE school_id = $1"
                    "  AND ($2::bigint IS NULL OR user_id = $2)"
                    "  AND ($3::text IS NULL OR record_type = $3)"
                    "  AND ($4::bigint IS NULL OR record_id = $4)"
                    "  AND ($5::bigint IS NULL OR at >= to_timestamp($5 / 1000.0))"
                    "  AND ($6::bigint IS NULL OR at < to_timestamp($6 / 1000.0))"
                    "  AND ($7::bigint IS NULL OR id < $7)"
                    " ORDER BY id DESC LIMIT $8",
                    8, params, on_listed, op);
}

const struct op_def audit_ops[] = {
    { .name = "audit.list", .fn = op_audit_list, .roles = ROLE_ADMIN },
    { .name = NULL },
};
