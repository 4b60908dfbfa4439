/* The school's records: academic years and their terms, year-end promotion, and the purge of
 * leavers past their retention. Classes, sections, subjects and teachers' assignments are in
 * classes.c. Every id argument is asked through academics/scope.h (checks.h). */
#include "academics/structure.h"

#include <stdio.h>
#include <stdlib.h>

#include "academics/academics.h"
#include "academics/checks.h"
#include "academics/dates.h"
#include "core/audit.h"
#include "core/dbval.h"
#include "core/op_db.h"
#include "core/op_pack.h"
#include "core/retention.h"
#include "core/xalloc.h"
#include "people/roster.h"

#define YEAR_NAME_MAX 32
#define TERM_NAME_MAX 32
#define REASON_MAX 200
#define LEAVERS_MAX 1000

/* --- year.create --- */

static const struct op_db_error year_errors[] = {
    { .cond = OP_DB_UNIQUE, .constraint = "academic_years_school_id_name_key",
      .code = OP_E_CONFLICT, .field = "name", .message = "this year name is already used" },
    { .cond = OP_DB_CHECK, .constraint = "academic_years_dates", .code = OP_E_BAD_REQUEST,
      .field = "ends_on", .message = "must be after starts_on" },
    { .cond = OP_DB_RACE, .retry = true },
    { .cond = 0 },
};

static int check_year_dates(struct op_ctx *op, bool both)
{
    int r = dates_check(op, "starts_on");
    if (!r) {
        r = dates_check(op, "ends_on");
    }
    if (!r && both) {
        r = dates_check_order(op, "starts_on", "ends_on", true);
    }
    return r;
}

static int op_year_create(struct op_ctx *op)
{
    int r = check_year_dates(op, true);
    if (r) {
        return r;
    }
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    op_param_arg(op, "starts_on");
    op_param_arg(op, "ends_on");
    op_param_bool(op, op_get_bool(op, "current", false));
    /* One current year per school: the constraint is deferred to the commit, so that the
     * year that was current can give it up in the same statement. */
    return op_sql(op, &(struct op_sql){
        .sql = "WITH un AS (UPDATE academic_years SET current = false"
               "            WHERE school_id = $1 AND current AND $5::boolean)"
               " INSERT INTO academic_years (school_id, name, starts_on, ends_on, current)"
               " VALUES ($1, $2, $3::date, $4::date, $5::boolean) RETURNING id",
        .errors = year_errors, .audit = "academic_year", .reply_id = true });
}

/* --- year.list --- */

static const struct op_col year_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = 0 },
    { .key = "name", .type = OP_COL_TEXT, .col = 1 },
    { .key = "starts_on", .type = OP_COL_TEXT, .col = 2 },
    { .key = "ends_on", .type = OP_COL_TEXT, .col = 3 },
    { .key = "current", .type = OP_COL_BOOL, .col = 4 },
    { .key = NULL },
};

static int op_year_list(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT id, name, starts_on::text, ends_on::text, current FROM academic_years"
               " WHERE school_id = $1 ORDER BY starts_on, id",
        .reply_rows = year_cols });
}

/* --- year.update --- */

static int year_update(struct op_ctx *op)
{
    int64_t id = op_get_id(op, "id");
    op_param_id(op, id);
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    op_param_arg(op, "starts_on");
    op_param_arg(op, "ends_on");
    op_param_arg(op, "current");
    return op_sql(op, &(struct op_sql){
        .sql = "WITH un AS (UPDATE academic_years SET current = false"
               "            WHERE school_id = $2 AND current AND id <> $1"
               "            AND $6::boolean IS TRUE)"
               " UPDATE academic_years SET name = coalesce($3, name),"
               " starts_on = coalesce($4::date, starts_on), ends_on = coalesce($5::date, ends_on),"
               " current = coalesce($6::boolean, current)"
               " WHERE id = $1 AND school_id = $2 RETURNING id",
        .not_found = "no such academic year", .not_found_field = "id", .errors = year_errors,
        .audit = "academic_year", .audit_id = id });
}

static int op_year_update(struct op_ctx *op)
{
    int r = check_year_dates(op, op_has_arg(op, "starts_on") && op_has_arg(op, "ends_on"));
    if (r) {
        return r;
    }
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_YEAR, "id");
    return checks_run(op, c, year_update);
}

/* --- term.create --- */

static const struct op_db_error term_errors[] = {
    { .cond = OP_DB_UNIQUE, .constraint = "terms_year_id_name_key", .code = OP_E_CONFLICT,
      .field = "name", .message = "this term name is already used in the year" },
    { .cond = OP_DB_CHECK, .constraint = "terms_dates", .code = OP_E_BAD_REQUEST,
      .field = "ends_on", .message = "must not be before starts_on" },
    { .cond = 0 },
};

static int term_inserted(struct op_ctx *op, const PGresult *res)
{
    if (PQgetisnull(res, 0, 0)) {
        return op_refuse(op, OP_E_BAD_REQUEST, "starts_on", "the term must lie within its year");
    }
    int64_t id = dbval_get_i64(res, 0, 0);
    audit_op(op, "term", id, "ok");
    op_reply_id(op, id);
    return 0;
}

static int term_create(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "year"));
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    op_param_arg(op, "starts_on");
    op_param_arg(op, "ends_on");
    return op_sql(op, &(struct op_sql){
        .sql = "WITH t AS (INSERT INTO terms (school_id, year_id, name, starts_on, ends_on)"
               "           SELECT $2, y.id, $3, $4::date, $5::date FROM academic_years y"
               "           WHERE y.id = $1 AND y.school_id = $2 AND $4::date >= y.starts_on"
               "           AND $5::date <= y.ends_on RETURNING id)"
               " SELECT (SELECT id FROM t)",
        .errors = term_errors, .on_rows = term_inserted });
}

static int op_term_create(struct op_ctx *op)
{
    int r = check_year_dates(op, false);
    if (!r) {
        r = dates_check_order(op, "starts_on", "ends_on", false);
    }
    if (r) {
        return r;
    }
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_YEAR, "year");
    return checks_run(op, c, term_create);
}

/* --- term.list --- */

static const struct op_col term_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = 0 },
    { .key = "year", .type = OP_COL_I64, .col = 1 },
    { .key = "name", .type = OP_COL_TEXT, .col = 2 },
    { .key = "starts_on", .type = OP_COL_TEXT, .col = 3 },
    { .key = "ends_on", .type = OP_COL_TEXT, .col = 4 },
    { .key = NULL },
};

static int term_list(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "year");
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT id, year_id, name, starts_on::text, ends_on::text FROM terms"
               " WHERE school_id = $1 AND ($2::bigint IS NULL OR year_id = $2)"
               " ORDER BY starts_on, id",
        .reply_rows = term_cols });
}

static int op_term_list(struct op_ctx *op)
{
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_YEAR, "year");
    return checks_run(op, c, term_list);
}

/* --- term.delete --- */

static int op_term_delete(struct op_ctx *op)
{
    int64_t id = op_get_id(op, "id");
    op_param_id(op, id);
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
        .sql = "DELETE FROM terms WHERE id = $1 AND school_id = $2 RETURNING id",
        .not_found = "no such term", .not_found_field = "id", .audit = "term", .audit_id = id });
}

/* --- section.promote --- */

/* The leavers as a PostgreSQL array literal "{1,2,3}". */
static const char *leavers_param(struct op_ctx *op)
{
    const msgpack_object *a = op_map_get(op->args, "leavers");
    if (!a || a->type != MSGPACK_OBJECT_ARRAY) {
        return "{}";
    }
    size_t cap = 2 + (size_t)a->via.array.size * 21;
    char *s = op_alloc(op, cap + 1);
    size_t n = 0;
    s[n++] = '{';
    for (uint32_t i = 0; i < a->via.array.size; i++) {
        n += (size_t)snprintf(s + n, cap + 1 - n, "%s%llu", i ? "," : "",
                              (unsigned long long)a->via.array.ptr[i].via.u64);
    }
    s[n++] = '}';
    s[n] = '\0';
    return s;
}

static int promoted(struct op_ctx *op, const PGresult *res)
{
    if (!dbval_get_bool(res, 0, 0)) {
        return op_refuse(op, OP_E_CONFLICT, "from", "the sections changed meanwhile");
    }
    int64_t moved = dbval_get_i64(res, 0, 1), left = dbval_get_i64(res, 0, 2);
    audit_op(op, "section", op_get_id(op, "from"), "ok");
    /* The leavers ride nothing now (sql/0006): their parents' live views end at once. Read
     * what the roster needs before the reply frees op. */
    const struct roster *roster = ((struct academics *)op->domain)->roster;
    int64_t school = op->caller.school_id;
    const msgpack_object *a = op_map_get(op->args, "leavers");
    size_t n = left > 0 && a && a->type == MSGPACK_OBJECT_ARRAY ? a->via.array.size : 0;
    int64_t *leavers = n ? xcalloc(n, sizeof *leavers) : NULL;
    for (size_t i = 0; i < n; i++) {
        leavers[i] = (int64_t)a->via.array.ptr[i].via.u64;
    }
    op_reply_fields(op, (struct op_field[]){ op_f_i64("moved", moved), op_f_i64("left", left),
                                             { .key = NULL } });
    for (size_t i = 0; i < n; i++) {
        roster_student_changed(roster, school, leavers[i]);
    }
    free(leavers);
    return 0;
}

/* The write, guarded again by the same conditions as the checks: one statement. */
static int promote(struct op_ctx *op, const PGresult *res)
{
    if (!dbval_get_bool(res, 0, 0)) {
        return op_refuse(op, OP_E_BAD_REQUEST, "to",
                         "must be a section of a year starting after the section's");
    }
    if (!dbval_get_bool(res, 0, 1)) {
        return op_refuse(op, OP_E_BAD_REQUEST, "leavers",
                         "must be enrolled students of the section");
    }
    op_param_id(op, op_get_id(op, "from"));
    op_param_id(op, op->caller.school_id);
    op_param_id(op, op_get_id(op, "to"));
    op_param_str(op, leavers_param(op));
    op_param_arg(op, "left_on");
    op_param_arg(op, "reason");
    return op_sql(op, &(struct op_sql){
        .sql = "WITH f AS (SELECT s.id, y.starts_on FROM sections s"
               "           JOIN academic_years y ON y.id = s.year_id"
               "           WHERE s.id = $1 AND s.school_id = $2),"
               " t AS (SELECT s.id, s.year_id FROM sections s"
               "       JOIN academic_years y ON y.id = s.year_id"
               "       WHERE s.id = $3 AND s.school_id = $2"
               "       AND y.starts_on > (SELECT starts_on FROM f)),"
               " lv AS (UPDATE students SET status = 'left', active = false,"
               "        left_on = coalesce($5::date, current_date),"
               "        leave_reason = coalesce($6, 'left at year end'), updated_at = now()"
               "        WHERE section_id = $1 AND school_id = $2 AND status = 'enrolled'"
               "        AND id = ANY ($4::bigint[]) AND EXISTS (SELECT 1 FROM t)"
               "        RETURNING id),"
               " mv AS (UPDATE students SET section_id = (SELECT id FROM t),"
               "        year_id = (SELECT year_id FROM t), updated_at = now()"
               "        WHERE section_id = $1 AND school_id = $2 AND status = 'enrolled'"
               "        AND NOT (id = ANY ($4::bigint[])) AND EXISTS (SELECT 1 FROM t)"
               "        RETURNING id)"
               " SELECT EXISTS (SELECT 1 FROM t), (SELECT count(*) FROM mv),"
               " (SELECT count(*) FROM lv)",
        .on_rows = promoted,
        .errors = (const struct op_db_error[]){ { .cond = OP_DB_RACE, .retry = true },
                                                { .cond = 0 } } });
}

static int promote_checked(struct op_ctx *op)
{
    struct checks *c = op->state;
    op_param_id(op, c->k[0].col3); /* from's year */
    op_param_id(op, c->k[1].col3); /* to's year */
    op_param_id(op, op_get_id(op, "from"));
    op_param_str(op, leavers_param(op));
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT (SELECT starts_on FROM academic_years WHERE id = $2)"
               "       > (SELECT starts_on FROM academic_years WHERE id = $1),"
               " (SELECT count(*) FROM students WHERE id = ANY ($4::bigint[])"
               "  AND section_id = $3 AND school_id = $5 AND status = 'enrolled')"
               " = (SELECT count(DISTINCT x) FROM unnest($4::bigint[]) x)",
        .on_rows = promote });
}

static int op_section_promote(struct op_ctx *op)
{
    int r = dates_check(op, "left_on");
    if (r) {
        return r;
    }
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_SECTION, "from");
    checks_add(op, c, SCOPE_SECTION, "to");
    return checks_run(op, c, promote_checked);
}

/* --- the table --- */

static const struct op_arg year_create_args[] = {
    { .name = "name", .type = OP_T_STR, .required = OP_REQ, .max = YEAR_NAME_MAX },
    { .name = "starts_on", .type = OP_T_STR, .required = OP_REQ, .max = 10, .format = "date" },
    { .name = "ends_on", .type = OP_T_STR, .required = OP_REQ, .max = 10, .format = "date" },
    { .name = "current", .type = OP_T_BOOL },
    { .name = NULL },
};

static const struct op_arg year_update_args[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = "name", .type = OP_T_STR, .max = YEAR_NAME_MAX },
    { .name = "starts_on", .type = OP_T_STR, .max = 10, .format = "date" },
    { .name = "ends_on", .type = OP_T_STR, .max = 10, .format = "date" },
    { .name = "current", .type = OP_T_BOOL },
    { .name = NULL },
};

static const struct op_arg term_create_args[] = {
    { .name = "year", .type = OP_T_ID, .required = OP_REQ },
    { .name = "name", .type = OP_T_STR, .required = OP_REQ, .max = TERM_NAME_MAX },
    { .name = "starts_on", .type = OP_T_STR, .required = OP_REQ, .max = 10, .format = "date" },
    { .name = "ends_on", .type = OP_T_STR, .required = OP_REQ, .max = 10, .format = "date" },
    { .name = NULL },
};

static const struct op_arg term_list_args[] = {
    { .name = "year", .type = OP_T_ID },
    { .name = NULL },
};

static const struct op_arg id_args[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

static const struct op_arg leaver_item = { .name = "leaver", .type = OP_T_ID };

static const struct op_arg promote_args[] = {
    { .name = "from", .type = OP_T_ID, .required = OP_REQ },
    { .name = "to", .type = OP_T_ID, .required = OP_REQ },
    { .name = "leavers", .type = OP_T_ARRAY, .max = LEAVERS_MAX, .items = &leaver_item },
    { .name = "left_on", .type = OP_T_STR, .max = 10, .format = "date" },
    { .name = "reason", .type = OP_T_STR, .max = REASON_MAX },
    { .name = NULL },
};

#define ALL_READERS (ROLE_ADMIN | ROLE_TEACHER | ROLE_PARENT)

const struct op_def structure_ops[] = {
    { .name = "year.create", .fn = op_year_create, .roles = ROLE_ADMIN,
      .args = year_create_args },
    { .name = "year.list", .fn = op_year_list, .roles = ALL_READERS },
    { .name = "year.update", .fn = op_year_update, .roles = ROLE_ADMIN,
      .args = year_update_args },
    { .name = "term.create", .fn = op_term_create, .roles = ROLE_ADMIN,
      .args = term_create_args },
    { .name = "term.list", .fn = op_term_list, .roles = ALL_READERS, .args = term_list_args },
    { .name = "term.delete", .fn = op_term_delete, .roles = ROLE_ADMIN, .args = id_args },
    { .name = "section.promote", .fn = op_section_promote, .roles = ROLE_ADMIN,
      .args = promote_args },
    { .name = NULL },
};

void structure_register_purge(struct retention *r, int years)
{
    /* Students who left more than `years` ago, with what hangs on them (guardians' links,
     * route assignments, attendance: ON DELETE CASCADE); sql/0007 purge_leavers. */
    retention_add(r, "leavers", "SELECT purge_leavers($1)", years * 365);
}
