/* bus.create/get/list/update/delete for a school's admins. Registration numbers are stored
 * normalised (upper case, no spaces) so "ka 01 ab 1234" and "KA01AB1234" are the same bus.
 * Every query is scoped to the caller's school: another school's ids are simply not found. */
#include "tracking/bus_ops.h"

#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/xalloc.h"

#define REGISTRATION_MAX_LEN 20   /* after normalising */
#define REGISTRATION_INPUT_MAX 64 /* as sent, spaces included */
#define CAPACITY_MAX 200
#define UNAVAILABLE "the database is unavailable, try again shortly"

/* What update and delete carry to their callback: the id, for the audit log, also when the
 * database answered with an error. */
struct bus_req {
    struct op_ctx *op;
    int64_t id;
};

static int refuse(struct op_ctx *op, const char *field, const char *message)
{
    op->fail_field = field;
    op->fail_message = message;
    return OP_E_BAD_REQUEST;
}

/* Reads registration_no, upper-cased and without spaces, into out. */
static int read_registration_opt(struct op_ctx *op, char out[REGISTRATION_MAX_LEN + 1],
                                 bool *present)
{
    const char *s;
    size_t len;
    int r = op_arg_str_opt(op, "registration_no", REGISTRATION_INPUT_MAX, &s, &len, present);
    if (r || !*present) {
        return r;
    }
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (ch == ' ') {
            continue;
        }
        if (ch >= 'a' && ch <= 'z') {
            ch = (char)(ch - 'a' + 'A');
        }
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-')) {
            return refuse(op, "registration_no", "may hold only letters, digits and '-'");
        }
        if (n == REGISTRATION_MAX_LEN) {
            return refuse(op, "registration_no", "is too long (20 characters without spaces)");
        }
        out[n++] = ch;
    }
    if (n == 0) {
        return refuse(op, "registration_no", "must not be empty");
    }
    out[n] = '\0';
    return 0;
}

/* Answers for a driver check: col_found says whether the id was a user of the school, col_role
 * holds their role. Returns true when it answered. */
static bool fail_driver(struct op_ctx *op, const PGresult *res, int col_found, int col_role)
{
    if (!dbval_get_bool(res, 0, col_found)) {
        op_fail(op, OP_E_NOT_FOUND, "no such user", "driver");
        return true;
    }
    const char *role = dbval_get_text(res, 0, col_role);
    if (role && strcmp(role, "driver") != 0) {
        op_fail(op, OP_E_BAD_REQUEST, "must be a driver", "driver");
        return true;
    }
    return false;
}

/* --- bus.create --- */

static void on_bus_created(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    /* A concurrent create of the same number trips the unique key instead of DO NOTHING. */
    bool duplicate = strcmp(dbpool_sqlstate(status, res), "23505") == 0;
    if (status != DBPOOL_OK && !duplicate) {
        op_fail_db(op, status, res);
        return;
    }
    /* One row: the new id (NULL when nothing was inserted), driver found, driver's role. */
    if (!duplicate && !PQgetisnull(res, 0, 0)) {
        int64_t id = dbval_get_i64(res, 0, 0);
        audit_op(op, "bus", id, "ok");
        op_reply_id(op, id);
        return;
    }
    if (!duplicate && fail_driver(op, res, 1, 2)) {
        return;
    }
    audit_op(op, "bus", 0, "conflict");
    op_fail(op, OP_E_CONFLICT, "a bus with this registration number exists in the school",
            "registration_no");
}

static int op_bus_create(struct op_ctx *op)
{
    char registration[REGISTRATION_MAX_LEN + 1];
    bool has_registration, has_driver;
    int64_t capacity, driver = 0;
    int r = read_registration_opt(op, registration, &has_registration);
    if (r == 0 && !has_registration) {
        r = refuse(op, "registration_no", "is required");
    }
    if (r || (r = op_arg_int(op, "capacity", 1, CAPACITY_MAX, &capacity)) != 0 ||
        (r = op_arg_id_opt(op, "driver", &driver, &has_driver)) != 0) {
        return r;
    }
    char school[24], capacity_s[24], driver_s[24];
    const char *params[] = { dbval_i64(op->caller.school_id, school), registration,
                             dbval_i64(capacity, capacity_s),
                             has_driver ? dbval_i64(driver, driver_s) : NULL };
    return op_query(op,
                    "WITH d AS (SELECT id, role FROM users WHERE id = $4 AND school_id = $1),"
                    " ins AS (INSERT INTO buses (school_id, registration_no, capacity,"
                    "         driver_id)"
                    "         SELECT $1::bigint, $2::text, $3::int, $4::bigint"
                    "         WHERE $4::bigint IS NULL"
                    "         OR EXISTS (SELECT 1 FROM d WHERE role = 'driver')"
                    "         ON CONFLICT (school_id, registration_no) DO NOTHING RETURNING id)"
                    " SELECT (SELECT id FROM ins),"
                    " $4::bigint IS NULL OR EXISTS (SELECT 1 FROM d), (SELECT role FROM d)",
                    4, params, on_bus_created, op);
}

/* --- bus.get, bus.list --- */

#define BUS_COLUMNS "b.id, b.registration_no, b.capacity, b.driver_id, u.name"

/* {id, registration_no, capacity, driver: {id, name} or nil} */
static void pack_bus(msgpack_packer *pk, const PGresult *res, int row)
{
    msgpack_pack_map(pk, 4);
    envelope_pack_key(pk, "id");
    msgpack_pack_int64(pk, dbval_get_i64(res, row, 0));
    envelope_pack_key(pk, "registration_no");
    envelope_pack_str(pk, PQgetvalue(res, row, 1));
    envelope_pack_key(pk, "capacity");
    msgpack_pack_int64(pk, dbval_get_i64(res, row, 2));
    envelope_pack_key(pk, "driver");
    if (PQgetisnull(res, row, 3)) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_map(pk, 2);
    envelope_pack_key(pk, "id");
    msgpack_pack_int64(pk, dbval_get_i64(res, row, 3));
    envelope_pack_key(pk, "name");
    envelope_pack_str(pk, PQgetvalue(res, row, 4));
}

static void on_bus_got(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    if (PQntuples(res) == 0) {
        op_fail(op, OP_E_NOT_FOUND, "no such bus", "id");
        return;
    }
    pack_bus(op_reply_begin(op), res, 0);
    op_reply_end(op);
}

static int op_bus_get(struct op_ctx *op)
{
    int64_t id;
    int r = op_arg_id(op, "id", &id);
    if (r) {
        return r;
    }
    char id_s[24], school[24];
    const char *params[] = { dbval_i64(id, id_s), dbval_i64(op->caller.school_id, school) };
    return op_query(op,
                    "SELECT " BUS_COLUMNS " FROM buses b LEFT JOIN users u ON u.id = b.driver_id"
                    " WHERE b.id = $1 AND b.school_id = $2",
                    2, params, on_bus_got, op);
}

static void on_buses_listed(void *arg, int status, const PGresult *res)
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
        pack_bus(pk, res, i);
    }
    op_reply_end(op);
}

static int op_bus_list(struct op_ctx *op)
{
    bool has_after, has_limit;
    int64_t after = 0, limit = 100;
    int r = op_arg_id_opt(op, "after", &after, &has_after);
    if (r || (r = op_arg_int_opt(op, "limit", 1, 500, &limit, &has_limit)) != 0) {
        return r;
    }
    char school[24], after_s[24], limit_s[24];
    const char *params[] = { dbval_i64(op->caller.school_id, school), dbval_i64(after, after_s),
                             dbval_i64(limit, limit_s) };
    return op_query(op,
                    "SELECT " BUS_COLUMNS " FROM buses b LEFT JOIN users u ON u.id = b.driver_id"
                    " WHERE b.school_id = $1 AND b.id > $2 ORDER BY b.id LIMIT $3",
                    3, params, on_buses_listed, op);
}

/* --- bus.update --- */

static void on_bus_updated(void *arg, int status, const PGresult *res)
{
    struct bus_req *q = arg;
    struct op_ctx *op = q->op;
    if (strcmp(dbpool_sqlstate(status, res), "23505") == 0) {
        audit_op(op, "bus", q->id, "conflict");
        op_fail(op, OP_E_CONFLICT, "a bus with this registration number exists in the school",
                "registration_no");
    } else if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
    } else if (!dbval_get_bool(res, 0, 0)) {
        /* One row: bus found, driver found, driver's role, updated. */
        op_fail(op, OP_E_NOT_FOUND, "no such bus", "id");
    } else if (!fail_driver(op, res, 1, 2)) {
        audit_op(op, "bus", q->id, "ok");
        op_reply_empty(op);
    }
    free(q);
}

static int op_bus_update(struct op_ctx *op)
{
    int64_t id, capacity = 0, driver = 0;
    char registration[REGISTRATION_MAX_LEN + 1];
    bool has_registration, has_capacity, has_driver;
    int r = op_arg_id(op, "id", &id);
    if (r || (r = read_registration_opt(op, registration, &has_registration)) != 0 ||
        (r = op_arg_int_opt(op, "capacity", 1, CAPACITY_MAX, &capacity, &has_capacity)) != 0 ||
        (r = op_arg_id_opt(op, "driver", &driver, &has_driver)) != 0) {
        return r;
    }
    /* driver: nil takes the driver off the bus; leaving driver out keeps them. */
    const msgpack_object *d = op_map_get(op->args, "driver");
    bool set_driver = d != NULL;
    struct bus_req *q = xcalloc(1, sizeof *q);
    q->op = op;
    q->id = id;
    char id_s[24], school[24], capacity_s[24], driver_s[24];
    const char *params[] = { dbval_i64(id, id_s), dbval_i64(op->caller.school_id, school),
                             has_registration ? registration : NULL,
                             has_capacity ? dbval_i64(capacity, capacity_s) : NULL,
                             has_driver ? dbval_i64(driver, driver_s) : NULL,
                             set_driver ? "true" : "false" };
    int err = op_query(op,
                       "WITH b AS (SELECT id FROM buses WHERE id = $1 AND school_id = $2),"
                       " d AS (SELECT id, role FROM users WHERE id = $5 AND school_id = $2),"
                       " up AS (UPDATE buses SET registration_no = coalesce($3, registration_no),"
                       "        capacity = coalesce($4::int, capacity),"
                       "        driver_id = CASE WHEN $6::boolean THEN $5::bigint"
                       "                    ELSE driver_id END,"
                       "        updated_at = now()"
                       "        WHERE id IN (SELECT id FROM b) AND ($5::bigint IS NULL"
                       "        OR EXISTS (SELECT 1 FROM d WHERE role = 'driver')) RETURNING id)"
                       " SELECT EXISTS (SELECT 1 FROM b),"
                       " $5::bigint IS NULL OR EXISTS (SELECT 1 FROM d), (SELECT role FROM d),"
                       " EXISTS (SELECT 1 FROM up)",
                       6, params, on_bus_updated, q);
    if (err) {
        free(q);
    }
    return err;
}

/* --- bus.delete --- */

static void on_bus_deleted(void *arg, int status, const PGresult *res)
{
    struct bus_req *q = arg;
    struct op_ctx *op = q->op;
    /* Trips refer to their bus, and their history stays. */
    if (strcmp(dbpool_sqlstate(status, res), "23503") == 0) {
        audit_op(op, "bus", q->id, "conflict");
        op_fail(op, OP_E_CONFLICT, "the bus has trips: it is kept for their history", "id");
    } else if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
    } else if (PQntuples(res) == 0) {
        op_fail(op, OP_E_NOT_FOUND, "no such bus", "id");
    } else {
        audit_op(op, "bus", q->id, "ok");
        op_reply_empty(op);
    }
    free(q);
}

static int op_bus_delete(struct op_ctx *op)
{
    int64_t id;
    int r = op_arg_id(op, "id", &id);
    if (r) {
        return r;
    }
    struct bus_req *q = xcalloc(1, sizeof *q);
    q->op = op;
    q->id = id;
    char id_s[24], school[24];
    const char *params[] = { dbval_i64(id, id_s), dbval_i64(op->caller.school_id, school) };
    int err = op_query(op,
                       "DELETE FROM buses WHERE id = $1 AND school_id = $2 RETURNING id", 2, params,
                       on_bus_deleted, q);
    if (err) {
        free(q);
    }
    return err;
}

const struct op_def bus_ops[] = {
    { .name = "bus.create", .fn = op_bus_create, .roles = ROLE_ADMIN },
    { .name = "bus.get", .fn = op_bus_get, .roles = ROLE_ADMIN },
    { .name = "bus.list", .fn = op_bus_list, .roles = ROLE_ADMIN },
    { .name = "bus.update", .fn = op_bus_update, .roles = ROLE_ADMIN },
    { .name = "bus.delete", .fn = op_bus_delete, .roles = ROLE_ADMIN },
    { .name = NULL },
};
