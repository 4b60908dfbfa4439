/* bus.create/get/list/update/delete for a school's admins. Registration numbers are stored
 * normalised (upper case, no spaces) so "ka 01 ab 1234" and "KA01AB1234" are the same bus.
 * Every query is scoped to the caller's school: another school's ids are simply not found. */
#include "tracking/buses.h"

#include <string.h>

#include "core/audit.h"
#include "core/dbval.h"
#include "core/op_db.h"
#include "core/op_pack.h"

#define REGISTRATION_MAX_LEN 20   /* after normalising */
#define REGISTRATION_INPUT_MAX 64 /* as sent, spaces included */
#define CAPACITY_MAX 200
#define TAKEN "a bus with this registration number exists in the school"

/* Reads registration_no, upper-cased and without spaces, into the request's arena; *out is
 * NULL when it is absent. */
static int read_registration(struct op_ctx *op, const char **out)
{
    const char *s = op_get_str(op, "registration_no");
    *out = NULL;
    if (!s) {
        return 0;
    }
    char *reg = op_alloc(op, REGISTRATION_MAX_LEN + 1);
    size_t n = 0;
    for (; *s; s++) {
        char ch = *s;
        if (ch == ' ') {
            continue;
        }
        if (ch >= 'a' && ch <= 'z') {
            ch = (char)(ch - 'a' + 'A');
        }
        if (!((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-')) {
            return op_refuse(op, OP_E_BAD_REQUEST, "registration_no",
                             "may hold only letters, digits and '-'");
        }
        if (n == REGISTRATION_MAX_LEN) {
            return op_refuse(op, OP_E_BAD_REQUEST, "registration_no",
                             "is too long (20 characters without spaces)");
        }
        reg[n++] = ch;
    }
    if (n == 0) {
        return op_refuse(op, OP_E_BAD_REQUEST, "registration_no", "must not be empty");
    }
    *out = reg;
    return 0;
}

/* The driver check's columns of row 0: whether the id is a user of the school (true when no
 * driver was given), and their role. */
static int refuse_driver(struct op_ctx *op, const PGresult *res, int col_found, int col_role)
{
    if (!dbval_get_bool(res, 0, col_found)) {
        return op_refuse(op, OP_E_NOT_FOUND, "driver", "no such user");
    }
    const char *role = dbval_get_text(res, 0, col_role);
    if (role && strcmp(role, "driver") != 0) {
        return op_refuse(op, OP_E_BAD_REQUEST, "driver", "must be a driver");
    }
    return 0;
}

/* A concurrent create or update with the same number trips the unique key; run again, the
 * query sees the other bus and answers conflict itself, audited like any other. */
static const struct op_db_error registration_race[] = {
    { .cond = OP_DB_UNIQUE, .constraint = "buses_school_id_registration_no_key", .retry = true },
    { .cond = 0 },
};

/* --- bus.create --- */

/* One row: the new id (NULL when nothing was inserted), driver found, driver's role. */
static int created(struct op_ctx *op, const PGresult *res)
{
    if (!PQgetisnull(res, 0, 0)) {
        int64_t id = dbval_get_i64(res, 0, 0);
        audit_op(op, "bus", id, "ok");
        op_reply_id(op, id);
        return 0;
    }
    int r = refuse_driver(op, res, 1, 2);
    if (r) {
        return r;
    }
    audit_op(op, "bus", 0, "conflict");
    return op_refuse(op, OP_E_CONFLICT, "registration_no", TAKEN);
}

static int op_bus_create(struct op_ctx *op)
{
    const char *registration;
    int r = read_registration(op, &registration);
    if (r) {
        return r;
    }
    op_param_id(op, op->caller.school_id);
    op_param_str(op, registration);
    op_param_arg(op, "capacity");
    op_param_arg(op, "driver");
    return op_sql(op, &(struct op_sql){
        .sql = "WITH d AS (SELECT id, role FROM users WHERE id = $4 AND school_id = $1),"
               " ins AS (INSERT INTO buses (school_id, registration_no, capacity, driver_id)"
               "         SELECT $1::bigint, $2::text, $3::int, $4::bigint"
               "         WHERE $4::bigint IS NULL"
               "         OR EXISTS (SELECT 1 FROM d WHERE role = 'driver')"
               "         ON CONFLICT (school_id, registration_no) DO NOTHING RETURNING id)"
               " SELECT (SELECT id FROM ins),"
               " $4::bigint IS NULL OR EXISTS (SELECT 1 FROM d), (SELECT role FROM d)",
        .on_rows = created, .errors = registration_race });
}

static const struct op_arg create_args[] = {
    { .name = "registration_no", .type = OP_T_STR, .required = OP_REQ,
      .max = REGISTRATION_INPUT_MAX },
    { .name = "capacity", .type = OP_T_INT, .required = OP_REQ, .min = 1, .max = CAPACITY_MAX },
    { .name = "driver", .type = OP_T_ID },
    { .name = NULL },
};

/* --- bus.get, bus.list --- */

#define BUS_FROM                                                                               \
    "SELECT b.id, b.registration_no, b.capacity, b.driver_id, u.name"                        \
    " FROM buses b LEFT JOIN users u ON u.id = b.driver_id"

static const struct op_col driver_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = 3 },
    { .key = "name", .type = OP_COL_TEXT, .col = 4 },
    { .key = NULL },
};

/* {id, registration_no, capacity, driver: {id, name} or nil} */
static const struct op_col bus_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = 0 },
    { .key = "registration_no", .type = OP_COL_TEXT, .col = 1 },
    { .key = "capacity", .type = OP_COL_I64, .col = 2 },
    { .key = "driver", .type = OP_COL_OBJECT, .col = 3, .fields = driver_cols },
    { .key = NULL },
};

static int op_bus_get(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){ .sql = BUS_FROM " WHERE b.id = $1 AND b.school_id = $2",
                                        .reply_row = bus_cols, .not_found = "no such bus",
                                        .not_found_field = "id" });
}

static int op_bus_list(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    op_param_i64(op, op_get_id(op, "after"));
    op_param_i64(op, op_get_int(op, "limit", 100));
    return op_sql(op, &(struct op_sql){
        .sql = BUS_FROM " WHERE b.school_id = $1 AND b.id > $2 ORDER BY b.id LIMIT $3",
        .reply_rows = bus_cols });
}

static const struct op_arg id_args[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

static const struct op_arg list_args[] = {
    { .name = "after", .type = OP_T_ID },
    { .name = "limit", .type = OP_T_INT, .min = 1, .max = 500 },
    { .name = NULL },
};

/* --- bus.update --- */

/* One row when the bus is the school's: its id, driver found, driver's role, and whether
 * another bus of the school has the new number (nothing was updated then). */
static int updated(struct op_ctx *op, const PGresult *res)
{
    int64_t id = dbval_get_i64(res, 0, 0);
    int r = refuse_driver(op, res, 1, 2);
    if (r) {
        return r;
    }
    if (dbval_get_bool(res, 0, 3)) {
        audit_op(op, "bus", id, "conflict");
        return op_refuse(op, OP_E_CONFLICT, "registration_no", TAKEN);
    }
    audit_op(op, "bus", id, "ok");
    op_reply_empty(op);
    return 0;
}

static int op_bus_update(struct op_ctx *op)
{
    const char *registration;
    int r = read_registration(op, &registration);
    if (r) {
        return r;
    }
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.school_id);
    op_param_str(op, registration);
    op_param_arg(op, "capacity");
    op_param_arg(op, "driver");
    /* driver: nil takes the driver off the bus; leaving driver out keeps them. */
    op_param_bool(op, op_map_get(op->args, "driver") != NULL);
    return op_sql(op, &(struct op_sql){
        .sql = "WITH b AS (SELECT id FROM buses WHERE id = $1 AND school_id = $2),"
               " d AS (SELECT id, role FROM users WHERE id = $5 AND school_id = $2),"
               " taken AS (SELECT 1 FROM buses WHERE school_id = $2 AND registration_no = $3"
               "           AND id <> $1),"
               " up AS (UPDATE buses SET registration_no = coalesce($3, registration_no),"
               "        capacity = coalesce($4::int, capacity),"
               "        driver_id = CASE WHEN $6::boolean THEN $5::bigint ELSE driver_id END,"
               "        updated_at = now()"
               "        WHERE id IN (SELECT id FROM b) AND NOT EXISTS (SELECT 1 FROM taken)"
               "        AND ($5::bigint IS NULL"
               "        OR EXISTS (SELECT 1 FROM d WHERE role = 'driver')) RETURNING id)"
               " SELECT b.id, $5::bigint IS NULL OR EXISTS (SELECT 1 FROM d),"
               " (SELECT role FROM d), EXISTS (SELECT 1 FROM taken) FROM b",
        .on_rows = updated, .not_found = "no such bus", .not_found_field = "id",
        .errors = registration_race });
}

static const struct op_arg update_args[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = "registration_no", .type = OP_T_STR, .max = REGISTRATION_INPUT_MAX },
    { .name = "capacity", .type = OP_T_INT, .min = 1, .max = CAPACITY_MAX },
    { .name = "driver", .type = OP_T_ID, .nullable = true }, /* nil: no driver */
    { .name = NULL },
};

/* --- bus.delete --- */

/* Trips refer to their bus, and their history stays: a bus with trips is kept. */
static int deleted(struct op_ctx *op, const PGresult *res)
{
    int64_t id = dbval_get_i64(res, 0, 0);
    if (dbval_get_bool(res, 0, 1)) {
        audit_op(op, "bus", id, "conflict");
        return op_refuse(op, OP_E_CONFLICT, "id",
                         "the bus has trips: it is kept for their history");
    }
    audit_op(op, "bus", id, "ok");
    op_reply_empty(op);
    return 0;
}

/* A trip started on the bus while it was being deleted: run again, the query sees it. */
static const struct op_db_error trip_race[] = {
    { .cond = OP_DB_FOREIGN_KEY, .constraint = "trips_bus_id_fkey", .retry = true },
    { .cond = 0 },
};

static int op_bus_delete(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
        .sql = "WITH b AS (SELECT id, EXISTS (SELECT 1 FROM trips t WHERE t.bus_id = buses.id)"
               "           AS has_trips FROM buses WHERE id = $1 AND school_id = $2),"
               " del AS (DELETE FROM buses WHERE id IN (SELECT id FROM b WHERE NOT has_trips))"
               " SELECT id, has_trips FROM b",
        .on_rows = deleted, .not_found = "no such bus", .not_found_field = "id",
        .errors = trip_race });
}

const struct op_def bus_ops[] = {
    { .name = "bus.create", .fn = op_bus_create, .roles = ROLE_ADMIN, .args = create_args },
    { .name = "bus.get", .fn = op_bus_get, .roles = ROLE_ADMIN, .args = id_args },
    { .name = "bus.list", .fn = op_bus_list, .roles = ROLE_ADMIN, .args = list_args },
    { .name = "bus.update", .fn = op_bus_update, .roles = ROLE_ADMIN, .args = update_args },
    { .name = "bus.delete", .fn = op_bus_delete, .roles = ROLE_ADMIN, .args = id_args },
    { .name = NULL },
};
