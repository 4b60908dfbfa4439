/* user.create, user.get, user.list, user.update, user.deactivate for a school's admins.
 * Every query is scoped to the caller's school: another school's ids are simply not found. */
#include "academics/user_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/config.h"
#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/log.h"
#include "core/phone.h"
#include "core/pii.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

#define NAME_MAX_LEN 200
#define EMPLOYEE_ID_MAX_LEN 64
#define UNAVAILABLE "the database is unavailable, try again shortly"

/* What a create or update carries across its round trips. */
struct user_change {
    struct op_ctx *op;
    int64_t id;
    unsigned role;
    char *name;        /* NULL: unchanged (update) */
    char *employee_id; /* NULL: none / unchanged */
    bool has_phone;
    char phone[PHONE_MAX];
};

static void change_free(struct user_change *c)
{
    free(c->name);
    free(c->employee_id);
    memset(c, 0, sizeof *c);
    free(c);
}

static int read_phone_opt(struct op_ctx *op, struct user_change *c)
{
    const char *s;
    size_t len;
    bool present;
    int r = op_arg_str_opt(op, "phone", 32, &s, &len, &present);
    if (r || !present) {
        return r;
    }
    if (phone_normalize(s, len, op->env->cfg->default_cc, c->phone) != 0) {
        op->fail_field = "phone";
        op->fail_message = "not a valid phone number";
        return OP_E_BAD_REQUEST;
    }
    c->has_phone = true;
    return 0;
}

/* --- user.create --- */

static void on_user_inserted(void *arg, int status, const PGresult *res)
{
    struct user_change *c = arg;
    struct op_ctx *op = c->op;
    if (strcmp(dbpool_sqlstate(status, res), "23505") == 0 || (status == DBPOOL_OK && PQntuples(res) == 0)) {
        audit_op(op, "user", 0, "conflict");
        op_fail(op, OP_E_CONFLICT, "this phone number is already registered", "phone");
    } else if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
    } else {
        audit_op(op, "user", c->id, "ok");
        op_reply_id(op, c->id);
    }
    change_free(c);
}

static void on_user_id(void *arg, int status, const PGresult *res)
{
    struct user_change *c = arg;
    struct op_ctx *op = c->op;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        change_free(c);
        return;
    }
    /* The id comes first because the sealed phone is bound to its row. */
    c->id = dbval_get_i64(res, 0, 0);
    char sealed[PII_SEALED_PHONE_HEX], bi[PII_INDEX_HEX], id[24], school[24], key[24];
    int version = pii_seal_phone(op->env->keys, c->id, c->phone, sealed);
    pii_phone_index(op->env->keys, c->phone, bi);
    struct strbuf all_bi;
    strbuf_init(&all_bi);
    pii_phone_index_all(op->env->keys, c->phone, &all_bi);
    const char *params[] = { dbval_i64(c->id, id), dbval_i64(op->caller.school_id, school),
                             role_name(c->role), c->name, sealed, dbval_i64(version, key), bi,
                             c->employee_id, all_bi.data };
    /* The unique index sees only the current key's index; the NOT EXISTS also catches a
     * number stored under an older key during a rotation. */
    int r = dbpool_query(op->env->db,
                         "INSERT INTO users (id, school_id, role, name, phone_enc, phone_key,"
                         " phone_bi, employee_id)"
                         " SELECT $1, $2, $3, $4, $5, $6, $7, $8"
                         " WHERE NOT EXISTS (SELECT 1 FROM users WHERE phone_bi = ANY($9::bytea[]))"
                         " RETURNING id",
                         9, params, on_user_inserted, c);
    strbuf_deinit(&all_bi);
    if (r != 0) {
        op_fail(op, OP_E_UNAVAILABLE, UNAVAILABLE, NULL);
        change_free(c);
    }
}

static int op_user_create(struct op_ctx *op)
{
    const char *role_s;
    size_t role_len;
    int r = op_arg_str(op, "role", 16, &role_s, &role_len);
    if (r) {
        return r;
    }
    unsigned role = role_parse(role_s, role_len);
    if (!role) {
        op->fail_field = "role";
        op->fail_message = "must be admin, teacher, librarian, driver or parent";
        return OP_E_BAD_REQUEST;
    }
    struct user_change *c = xcalloc(1, sizeof *c);
    c->op = op;
    c->role = role;
    if ((r = op_arg_str_dup(op, "name", NAME_MAX_LEN, &c->name)) != 0 ||
        (r = read_phone_opt(op, c)) != 0 ||
        (r = op_arg_str_dup_opt(op, "employee_id", EMPLOYEE_ID_MAX_LEN, &c->employee_id)) != 0) {
        change_free(c);
        return r;
    }
    if (!c->has_phone) {
        change_free(c);
        op->fail_field = "phone";
        op->fail_message = "is required";
        return OP_E_BAD_REQUEST;
    }
    if (dbpool_query(op->env->db, "SELECT nextval('users_id_seq')", 0, NULL, on_user_id, c) !=
        0) {
        change_free(c);
        op->fail_message = UNAVAILABLE;
        return OP_E_UNAVAILABLE;
    }
    return 0;
}

/* --- user.get --- */

#define USER_COLUMNS                                                                 \
    "id, role, name, phone_enc, phone_key, employee_id, active,"                    \
    " (extract(epoch FROM created_at) * 1000)::bigint,"                              \
    " (extract(epoch FROM updated_at) * 1000)::bigint"

/* Packs one users row; with_phone decrypts the number (a sensitive read, audited). */
static int pack_user_row(struct op_ctx *op, msgpack_packer *pk, const PGresult *res, int row,
                         bool with_phone)
{
    int64_t id = dbval_get_i64(res, row, 0);
    msgpack_pack_map(pk, with_phone ? 8 : 7);
    envelope_pack_key(pk, "id");
    msgpack_pack_int64(pk, id);
    envelope_pack_key(pk, "role");
    envelope_pack_str(pk, PQgetvalue(res, row, 1));
    envelope_pack_key(pk, "name");
    envelope_pack_str(pk, PQgetvalue(res, row, 2));
    if (with_phone) {
        char phone[PHONE_MAX];
        envelope_pack_key(pk, "phone");
        if (pii_open_phone(op->env->keys, (int)dbval_get_i64(res, row, 4), id, res, row, 3,
                           phone) == 0) {
            envelope_pack_str(pk, phone);
        } else {
            /* A row that fails authentication was tampered with or sealed under a key this
             * server lacks: never show it, and say so in the log. */
            msgpack_pack_nil(pk);
            return -1;
        }
    }
    envelope_pack_key(pk, "employee_id");
    dbval_pack_text(pk, res, row, 5);
    envelope_pack_key(pk, "active");
    envelope_pack_bool(pk, dbval_get_bool(res, row, 6));
    envelope_pack_key(pk, "created_at");
    msgpack_pack_int64(pk, dbval_get_i64(res, row, 7));
    envelope_pack_key(pk, "updated_at");
    msgpack_pack_int64(pk, dbval_get_i64(res, row, 8));
    return 0;
}

static void on_user_got(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    if (PQntuples(res) == 0) {
        op_fail(op, OP_E_NOT_FOUND, "no such user", "id");
        return;
    }
    int64_t id = dbval_get_i64(res, 0, 0);
    if (pack_user_row(op, op_reply_begin(op), res, 0, true) != 0) {
        log_event(LOG_ERROR, "user", "sealed phone failed to open", "user=%lld", (long long)id);
    }
    audit_op(op, "user", id, "ok");
    op_reply_end(op);
}

static int op_user_get(struct op_ctx *op)
{
    int64_t id;
    int r = op_arg_id(op, "id", &id);
    if (r) {
        return r;
    }
    char id_s[24], school[24];
    const char *params[] = { dbval_i64(id, id_s), dbval_i64(op->caller.school_id, school) };
    return op_query(op,
                    "SELECT " USER_COLUMNS " FROM users WHERE id = $1 AND school_id = $2",
                    2, params, on_user_got, op);
}

/* --- user.list --- */

static void on_users_listed(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    int rows = PQntuples(res);
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_array(pk, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        pack_user_row(op, pk, res, i, false);
    }
    op_reply_end(op);
}

static int op_user_list(struct op_ctx *op)
{
    const char *role_s = NULL;
    size_t role_len = 0;
    bool has_role, has_after, has_limit;
    int64_t after = 0, limit = 100;
    int r = op_arg_str_opt(op, "role", 16, &role_s, &role_len, &has_role);
    if (r || (r = op_arg_id_opt(op, "after", &after, &has_after)) != 0 ||
        (r = op_arg_int_opt(op, "limit", 1, 500, &limit, &has_limit)) != 0) {
        return r;
    }
    unsigned role = has_role ? role_parse(role_s, role_len) : 0;
    if (has_role && !role) {
        op->fail_field = "role";
        op->fail_message = "must be admin, teacher, librarian, driver or parent";
        return OP_E_BAD_REQUEST;
    }
    char school[24], after_s[24], limit_s[24];
    const char *params[] = { dbval_i64(op->caller.school_id, school),
                             has_role ? role_name(role) : NULL, dbval_i64(after, after_s),
                             dbval_i64(limit, limit_s) };
    return op_query(op,
                    "SELECT " USER_COLUMNS " FROM users"
                    " WHERE school_id = $1 AND ($2::text IS NULL OR role = $2) AND id > $3"
                    " ORDER BY id LIMIT $4",
                    4, params, on_users_listed, op);
}

/* --- user.update --- */

static void on_user_updated(void *arg, int status, const PGresult *res)
{
    struct user_change *c = arg;
    struct op_ctx *op = c->op;
    if (strcmp(dbpool_sqlstate(status, res), "23505") == 0) {
        audit_op(op, "user", c->id, "conflict");
        op_fail(op, OP_E_CONFLICT, "this phone number is already registered", "phone");
    } else if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
    } else if (PQntuples(res) == 0) {
        op_fail(op, OP_E_NOT_FOUND, "no such user", "id");
    } else {
        audit_op(op, "user", c->id, "ok");
        op_reply_empty(op);
    }
    change_free(c);
}

static int op_user_update(struct op_ctx *op)
{
    struct user_change *c = xcalloc(1, sizeof *c);
    c->op = op;
    int r = op_arg_id(op, "id", &c->id);
    if (r || (r = op_arg_str_dup_opt(op, "name", NAME_MAX_LEN, &c->name)) != 0 ||
        (r = read_phone_opt(op, c)) != 0 ||
        (r = op_arg_str_dup_opt(op, "employee_id", EMPLOYEE_ID_MAX_LEN, &c->employee_id)) != 0) {
        change_free(c);
        return r;
    }
    char id[24], school[24], key[24];
    char sealed[PII_SEALED_PHONE_HEX], bi[PII_INDEX_HEX];
    const char *key_s = NULL;
    if (c->has_phone) {
        key_s = dbval_i64(pii_seal_phone(op->env->keys, c->id, c->phone, sealed), key);
        pii_phone_index(op->env->keys, c->phone, bi);
    }
    const char *params[] = { dbval_i64(c->id, id), dbval_i64(op->caller.school_id, school),
                             c->name, c->has_phone ? sealed : NULL, key_s,
                             c->has_phone ? bi : NULL, c->employee_id };
    int err = op_query(op,
                       "UPDATE users SET name = coalesce($3, name),"
                       " phone_enc = coalesce($4::bytea, phone_enc),"
                       " phone_key = coalesce($5::smallint, phone_key),"
                       " phone_bi = coalesce($6::bytea, phone_bi),"
                       " employee_id = coalesce($7, employee_id), updated_at = now()"
                       " WHERE id = $1 AND school_id = $2 RETURNING id",
                       7, params, on_user_updated, c);
    if (err) {
        change_free(c);
    }
    return err;
}

/* --- user.deactivate --- */

static void on_user_deactivated(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    if (PQntuples(res) == 0) {
        op_fail(op, OP_E_NOT_FOUND, "no such user", "id");
        return;
    }
    int64_t id = dbval_get_i64(res, 0, 0);
    const struct op_env *env = op->env;
    audit_op(op, "user", id, "ok");
    op_reply_empty(op);
    if (env->close_sessions) {
        env->close_sessions(env->close_sessions_ctx, 0, id);
    }
}

static int op_user_deactivate(struct op_ctx *op)
{
    int64_t id;
    int r = op_arg_id(op, "id", &id);
    if (r) {
        return r;
    }
    if (id == op->caller.user_id) {
        op->fail_field = "id";
        op->fail_message = "you cannot deactivate yourself";
        return OP_E_CONFLICT;
    }
    char id_s[24], school[24];
    const char *params[] = { dbval_i64(id, id_s), dbval_i64(op->caller.school_id, school) };
    /* Deactivating ends the user's sessions in the same statement. */
    return op_query(op,
                    "WITH u AS (UPDATE users SET active = false, updated_at = now()"
                    "           WHERE id = $1 AND school_id = $2 RETURNING id),"
                    " s AS (UPDATE sessions SET revoked_at = now()"
                    "       WHERE user_id IN (SELECT id FROM u) AND revoked_at IS NULL)"
                    " SELECT id FROM u",
                    2, params, on_user_deactivated, op);
}

const struct op_def user_ops[] = {
    { .name = "user.create", .fn = op_user_create, .roles = ROLE_ADMIN },
    { .name = "user.get", .fn = op_user_get, .roles = ROLE_ADMIN },
    { .name = "user.list", .fn = op_user_list, .roles = ROLE_ADMIN },
    { .name = "user.update", .fn = op_user_update, .roles = ROLE_ADMIN },
    { .name = "user.deactivate", .fn = op_user_deactivate, .roles = ROLE_ADMIN },
    { .name = NULL },
};
