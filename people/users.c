/* user.create, user.get, user.list, user.update, user.deactivate for a school's admins.
 * Every query is scoped to the caller's school: another school's ids are simply not found. */
#include "people/users.h"

#include "core/dbval.h"
#include "core/op_db.h"
#include "core/op_pack.h"
#include "core/pii.h"
#include "people/people.h"
#include "people/people_internal.h"

#define PHONE_TAKEN "this phone number is already registered"

static const char *const roles[] = { "admin", "teacher", "librarian", "driver", "parent", NULL };

/* The unique index on users.phone_bi is the one judge of a number being taken. */
static const struct op_db_error phone_taken[] = {
    { .cond = OP_DB_UNIQUE, .constraint = "users_phone_bi_key", .code = OP_E_CONFLICT,
      .field = "phone", .message = PHONE_TAKEN },
    { .cond = 0 },
};

/* Adds the number sealed to its row, its key version and its blind index under the current
 * key; three NULLs (unchanged) without a number. */
static void param_phone(struct op_ctx *op, int64_t user_id, const char *phone)
{
    if (!phone) {
        op_param_null(op);
        op_param_null(op);
        op_param_null(op);
        return;
    }
    char sealed[PII_SEALED_PHONE_HEX], index[PII_INDEX_HEX];
    int version = pii_seal_phone(op->env->keys, user_id, phone, sealed);
    pii_phone_index(op->env->keys, phone, index);
    op_param_str(op, sealed);
    op_param_i64(op, version);
    op_param_str(op, index);
}

/* --- user.create --- */

/* The unique index sees only the current key's index. A number stored under an older key
 * during a rotation is found through every key's index, and that row's index is inserted
 * instead, so that the unique index refuses it too: one answer for every duplicate. */
#define INSERT_USER_SQL                                                                       \
    "INSERT INTO users (id, school_id, role, name, phone_enc, phone_key, phone_bi, employee_id)" \
    " VALUES ($1, $2, $3, $4, $5, $6,"                                                        \
    "  coalesce((SELECT phone_bi FROM users WHERE phone_bi = ANY($9::bytea[]) LIMIT 1), $7),"  \
    "  $8)"                                                                                   \
    " RETURNING id"

static int insert_user(struct op_ctx *op, const PGresult *res)
{
    const char *phone = op->state; /* normalised */
    /* The id comes first because the sealed phone is bound to its row. */
    int64_t id = dbval_get_i64(res, 0, 0);
    op_param_id(op, id);
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "role");
    op_param_arg(op, "name");
    param_phone(op, id, phone);
    op_param_arg(op, "employee_id");
    people_param_phone_indexes(op, phone);
    return op_sql(op, &(struct op_sql){ .sql = INSERT_USER_SQL, .reply_id = true,
                                        .errors = phone_taken, .audit = "user" });
}

static int op_user_create(struct op_ctx *op)
{
    char *phone = op->state = op_alloc(op, PHONE_MAX);
    int r = people_phone_arg(op, phone);
    if (r) {
        return r;
    }
    return op_sql(op, &(struct op_sql){ .sql = "SELECT nextval('users_id_seq')",
                                        .on_rows = insert_user });
}

static const struct op_arg user_create_args[] = {
    { .name = "role", .type = OP_T_ENUM, .required = OP_REQ, .values = roles },
    { .name = "name", .type = OP_T_STR, .required = OP_REQ, .max = 200 },
    { .name = "phone", .type = OP_T_STR, .required = OP_REQ, .max = 32, .format = "phone" },
    { .name = "employee_id", .type = OP_T_STR, .max = 64 },
    { .name = NULL },
};

/* --- user.get, user.list --- */

#define USER_COLUMNS                                                                 \
    "id, role, name, phone_enc, phone_key, employee_id, active,"                    \
    " (extract(epoch FROM created_at) * 1000)::bigint,"                              \
    " (extract(epoch FROM updated_at) * 1000)::bigint"

/* A number that does not open (tampered with, or sealed under a key this server lacks) is
 * nil, logged and counted: the reply keeps its shape. */
static const struct op_col user_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = 0 },
    { .key = "role", .type = OP_COL_TEXT, .col = 1 },
    { .key = "name", .type = OP_COL_TEXT, .col = 2 },
    { .key = "phone", .type = OP_COL_SEALED_PHONE, .col = 3, .key_col = 4, .id_col = 0 },
    { .key = "employee_id", .type = OP_COL_TEXT, .col = 5 },
    { .key = "active", .type = OP_COL_BOOL, .col = 6 },
    { .key = "created_at", .type = OP_COL_I64, .col = 7 },
    { .key = "updated_at", .type = OP_COL_I64, .col = 8 },
    { .key = NULL },
};

/* Lists show no numbers: reading one is a sensitive read, audited one user at a time. */
static const struct op_col user_list_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = 0 },
    { .key = "role", .type = OP_COL_TEXT, .col = 1 },
    { .key = "name", .type = OP_COL_TEXT, .col = 2 },
    { .key = "employee_id", .type = OP_COL_TEXT, .col = 5 },
    { .key = "active", .type = OP_COL_BOOL, .col = 6 },
    { .key = "created_at", .type = OP_COL_I64, .col = 7 },
    { .key = "updated_at", .type = OP_COL_I64, .col = 8 },
    { .key = NULL },
};

static int op_user_get(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
                          .sql = "SELECT " USER_COLUMNS " FROM users"
                                 " WHERE id = $1 AND school_id = $2",
                          .not_found = "no such user", .not_found_field = "id",
                          .reply_row = user_cols, .audit = "user" });
}

/* user.get and user.deactivate take only the user's id. */
static const struct op_arg user_id_args[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

static int op_user_list(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "role");
    op_param_i64(op, op_get_int(op, "after", 0));
    op_param_i64(op, op_get_int(op, "limit", 100));
    return op_sql(op, &(struct op_sql){
                          .sql = "SELECT " USER_COLUMNS " FROM users"
                                 " WHERE school_id = $1 AND ($2::text IS NULL OR role = $2)"
                                 "   AND id > $3 ORDER BY id LIMIT $4",
                          .reply_rows = user_list_cols });
}

static const struct op_arg user_list_args[] = {
    { .name = "role", .type = OP_T_ENUM, .values = roles },
    { .name = "after", .type = OP_T_ID },
    { .name = "limit", .type = OP_T_INT, .min = 1, .max = 500 },
    { .name = NULL },
};

/* --- user.update --- */

static int op_user_update(struct op_ctx *op)
{
    int64_t id = op_get_id(op, "id");
    char phone[PHONE_MAX];
    bool has_phone = op_has_arg(op, "phone");
    int r = has_phone ? people_phone_arg(op, phone) : 0;
    if (r) {
        return r;
    }
    op_param_id(op, id);
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    param_phone(op, id, has_phone ? phone : NULL);
    op_param_arg(op, "employee_id");
    return op_sql(op, &(struct op_sql){
                          .sql = "UPDATE users SET name = coalesce($3, name),"
                                 " phone_enc = coalesce($4::bytea, phone_enc),"
                                 " phone_key = coalesce($5::smallint, phone_key),"
                                 " phone_bi = coalesce($6::bytea, phone_bi),"
                                 " employee_id = coalesce($7, employee_id), updated_at = now()"
                                 " WHERE id = $1 AND school_id = $2 RETURNING id",
                          .not_found = "no such user", .not_found_field = "id",
                          .errors = phone_taken, .audit = "user", .audit_id = id });
}

static const struct op_arg user_update_args[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = "name", .type = OP_T_STR, .max = 200 },
    { .name = "phone", .type = OP_T_STR, .max = 32, .format = "phone" },
    { .name = "employee_id", .type = OP_T_STR, .max = 64 },
    { .name = NULL },
};

/* --- user.deactivate --- */

static int deactivated(struct op_ctx *op, const PGresult *res)
{
    const struct people *pp = op->domain;
    int64_t id = dbval_get_i64(res, 0, 0);
    op_reply_empty(op);
    people_close_sessions(pp, 0, id);
    return 0;
}

static int op_user_deactivate(struct op_ctx *op)
{
    int64_t id = op_get_id(op, "id");
    if (id == op->caller.user_id) {
        return op_refuse(op, OP_E_CONFLICT, "id", "you cannot deactivate yourself");
    }
    op_param_id(op, id);
    op_param_id(op, op->caller.school_id);
    /* Deactivating ends the user's sessions in the same statement. */
    return op_sql(op, &(struct op_sql){
                          .sql = "WITH u AS (UPDATE users SET active = false, updated_at = now()"
                                 "           WHERE id = $1 AND school_id = $2 RETURNING id),"
                                 " s AS (UPDATE sessions SET revoked_at = now()"
                                 "       WHERE user_id IN (SELECT id FROM u)"
                                 "         AND revoked_at IS NULL)"
                                 " SELECT id FROM u",
                          .not_found = "no such user", .not_found_field = "id",
                          .on_rows = deactivated, .audit = "user" });
}

const struct op_def user_ops[] = {
    { .name = "user.create", .fn = op_user_create, .roles = ROLE_ADMIN,
      .args = user_create_args },
    { .name = "user.get", .fn = op_user_get, .roles = ROLE_ADMIN, .args = user_id_args },
    { .name = "user.list", .fn = op_user_list, .roles = ROLE_ADMIN, .args = user_list_args },
    { .name = "user.update", .fn = op_user_update, .roles = ROLE_ADMIN,
      .args = user_update_args },
    { .name = "user.deactivate", .fn = op_user_deactivate, .roles = ROLE_ADMIN,
      .args = user_id_args },
    { .name = NULL },
};
