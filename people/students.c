/* student.create/get/list/update/delete/leave: written by a school's admins; read by admins,
 * by teachers within their sections and by parents for their own children. A student is placed
 * in a section of the current year by class and section names. Every query is scoped to the
 * caller's school: another school's ids are simply not found. A student who leaves is told
 * to the roster's listeners (people/roster.h), so that whatever they rode lets them go. */
#include "people/students.h"

#include <stdlib.h>
#include <string.h>

#include "core/date.h"
#include "core/dbval.h"
#include "core/op_db.h"
#include "core/op_pack.h"
#include "core/pii.h"
#include "people/guardians.h"
#include "people/people.h"
#include "people/policy.h"

#define NAME_MAX_LEN 200
#define ADMISSION_NO_MAX_LEN 64
#define CLASS_MAX_LEN 32
#define SECTION_MAX_LEN 16
#define ROLL_NO_MAX 1000
#define NATIONALITY_MAX_LEN 64
#define REASON_MAX_LEN 200

/* Dates of birth are sealed like phone numbers: bound to "students.dob:<row id>". */
#define DOB_COLUMN "students.dob"
#define DOB_LEN 10 /* YYYY-MM-DD */
#define DOB_MIN_YEAR 1990

/* A date argument (NULL: none given): a real date, and not in the future unless future. */
static int check_date(struct op_ctx *op, const char *field, const char *s, bool future)
{
    if (!s) {
        return 0;
    }
    long ymd;
    switch (date_parse(s, &ymd)) {
    case DATE_OK:
        break;
    case DATE_NOT_REAL:
        return op_refuse(op, OP_E_BAD_REQUEST, field, "is not a real date");
    case DATE_BAD_FORMAT:
    default:
        return op_refuse(op, OP_E_BAD_REQUEST, field, "must be a date YYYY-MM-DD");
    }
    if (!future && ymd > date_latest_today()) {
        return op_refuse(op, OP_E_BAD_REQUEST, field, "must not be in the future");
    }
    return 0;
}

/* The rules of a date of birth a schema cannot express (s NULL: none given). */
static int check_dob(struct op_ctx *op, const char *s)
{
    int r = check_date(op, "dob", s, true);
    if (r) {
        return r;
    }
    if (s && date_parse(s, NULL) == DATE_OK && atoi(s) < DOB_MIN_YEAR) {
        return op_refuse(op, OP_E_BAD_REQUEST, "dob", "must be in 1990 or later");
    }
    return check_date(op, "dob", s, false);
}

/* The dates and the placement of student.create/update: class and section go together. */
static int check_details(struct op_ctx *op)
{
    int r = check_dob(op, op_get_str(op, "dob"));
    if (!r) {
        r = check_date(op, "enrolled_on", op_get_str(op, "enrolled_on"), false);
    }
    if (r) {
        return r;
    }
    if (op_has_arg(op, "section") && !op_has_arg(op, "class")) {
        return op_refuse(op, OP_E_BAD_REQUEST, "section", "must be given with class");
    }
    if (op_has_arg(op, "class") && !op_has_arg(op, "section")) {
        return op_refuse(op, OP_E_BAD_REQUEST, "section", "must be given with class");
    }
    return 0;
}

/* The section named by class and section ($1 school, $2 class, $3 section) in the school's
 * current year, as columns c (the class, NULL when none), c+1 (the section) and c+2 (the
 * current year). */
#define PLACEMENT_COLS                                                                       \
    " (SELECT c.id FROM classes c JOIN academic_years y ON y.id = c.year_id"                \
    "  WHERE y.current AND c.school_id = $1 AND c.name = $2),"                               \
    " (SELECT sc.id FROM sections sc JOIN classes c ON c.id = sc.class_id"                   \
    "  JOIN academic_years y ON y.id = c.year_id"                                            \
    "  WHERE y.current AND c.school_id = $1 AND c.name = $2 AND sc.name = $3),"              \
    " (SELECT id FROM academic_years WHERE school_id = $1 AND current)"

/* Refuses a class or section that the placement columns (from col) did not find. */
static int check_placement(struct op_ctx *op, const PGresult *res, int col)
{
    if (!op_has_arg(op, "class")) {
        return 0;
    }
    if (PQgetisnull(res, 0, col)) {
        return op_refuse(op, OP_E_NOT_FOUND, "class", "no such class in the current year");
    }
    if (PQgetisnull(res, 0, col + 1)) {
        return op_refuse(op, OP_E_NOT_FOUND, "section", "no such section in the class");
    }
    return 0;
}

/* Adds two parameters: the date of birth sealed for row id and its key version, or two
 * NULLs when dob is NULL. */
static void param_dob(struct op_ctx *op, int64_t id, const char *dob)
{
    if (!dob) {
        op_param_null(op);
        op_param_null(op);
        return;
    }
    char sealed[PII_SEALED_TEXT_HEX];
    int version = pii_seal_text(op->env->keys, DOB_COLUMN, id, dob, DOB_LEN, sealed);
    op_param_str(op, sealed);
    op_param_i64(op, version);
}

/* --- student.create --- */

static const struct op_db_error create_errors[] = {
    { .cond = OP_DB_UNIQUE, .constraint = "students_school_id_admission_no_key",
      .code = OP_E_CONFLICT, .field = "admission_no",
      .message = "this admission number is already used in the school" },
    { .cond = OP_DB_FOREIGN_KEY, .code = OP_E_NOT_FOUND, .field = "section",
      .message = "no such section in the class" },
    { .cond = 0 },
};

/* The id comes first because the sealed date of birth is bound to its row; the placement
 * comes with it (columns 1-3). */
static int insert_student(struct op_ctx *op, const PGresult *res)
{
    int r = check_placement(op, res, 1);
    if (r) {
        return r;
    }
    int64_t id = dbval_get_i64(res, 0, 0);
    bool placed = op_has_arg(op, "class");
    op_param_id(op, id);
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    op_param_arg(op, "admission_no");
    param_dob(op, id, op_get_str(op, "dob"));
    op_param_arg(op, "gender");
    op_param_i64_opt(op, placed, placed ? dbval_get_i64(res, 0, 2) : 0);
    op_param_i64_opt(op, !PQgetisnull(res, 0, 3),
                     PQgetisnull(res, 0, 3) ? 0 : dbval_get_i64(res, 0, 3));
    op_param_arg(op, "roll_no");
    op_param_arg(op, "nationality");
    op_param_arg(op, "enrolled_on");
    return op_sql(op, &(struct op_sql){
        .sql = "INSERT INTO students (id, school_id, name, admission_no, dob_enc, dob_key,"
               " gender, section_id, year_id, roll_no, nationality, enrolled_on)"
               " VALUES ($1, $2, $3, $4, $5::bytea, $6::smallint, $7, $8::bigint, $9::bigint,"
               " $10::int, $11, coalesce($12::date, current_date))"
               " RETURNING id",
        .errors = create_errors, .audit = "student", .reply_id = true });
}

static int op_student_create(struct op_ctx *op)
{
    int r = check_details(op);
    if (r) {
        return r;
    }
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "class");
    op_param_arg(op, "section");
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT nextval('students_id_seq')," PLACEMENT_COLS,
        .on_rows = insert_student });
}

/* --- student.get --- */

/* One row per guardian (at least one row, the guardian NULL when there is none), each
 * carrying the student and the route they ride. */
#define STUDENT_GET_SQL                                                                      \
    "SELECT " GUARDIAN_SELECT ", s.id, s.name, s.admission_no, s.dob_enc, s.dob_key,"         \
    " s.gender, c.name, sc.name, s.roll_no, s.active,"                                       \
    " r.route_id, r.route_name, r.stop_id, r.stop_name,"                                     \
    " s.nationality, s.enrolled_on::text, s.status, s.left_on::text, s.leave_reason,"        \
    " s.section_id, s.year_id"                                                               \
    " FROM students s"                                                                       \
    " LEFT JOIN sections sc ON sc.id = s.section_id"                                         \
    " LEFT JOIN classes c ON c.id = sc.class_id"                                             \
    " LEFT JOIN LATERAL (SELECT ra.route_id, ro.name AS route_name, ra.stop_id,"             \
    "                    st.name AS stop_name"                                               \
    "                    FROM route_assignments ra JOIN routes ro ON ro.id = ra.route_id"    \
    "                    LEFT JOIN route_stops st ON st.id = ra.stop_id"                     \
    "                    WHERE ra.student_id = s.id"                                         \
    "                    ORDER BY ra.created_at DESC LIMIT 1) r ON true"                     \
    " LEFT JOIN guardians g ON g.student_id = s.id"                                          \
    " LEFT JOIN users u ON u.id = g.user_id"                                                 \
    " WHERE s.id = $1 AND s.school_id = $2"                                                  \
    " ORDER BY g.user_id"

enum {
    SG_ID = 4, SG_NAME, SG_ADMISSION_NO, SG_DOB_ENC, SG_DOB_KEY, SG_GENDER, SG_CLASS,
    SG_SECTION, SG_ROLL_NO, SG_ACTIVE, SG_ROUTE, SG_ROUTE_NAME, SG_STOP, SG_STOP_NAME,
    SG_NATIONALITY, SG_ENROLLED_ON, SG_STATUS, SG_LEFT_ON, SG_LEAVE_REASON, SG_SECTION_ID,
    SG_YEAR
};

static void pack_guardians(struct op_ctx *op, msgpack_packer *pk, const PGresult *res,
                           int row, int col)
{
    (void)row;
    (void)col;
    op_pack_rows(op, pk, res, guardian_cols, 0);
}

static const struct op_col stop_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = SG_STOP },
    { .key = "name", .type = OP_COL_TEXT, .col = SG_STOP_NAME },
    { .key = NULL },
};

static const struct op_col route_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = SG_ROUTE },
    { .key = "name", .type = OP_COL_TEXT, .col = SG_ROUTE_NAME },
    { .key = "stop", .type = OP_COL_OBJECT, .col = SG_STOP, .fields = stop_cols },
    { .key = NULL },
};

static const struct op_col student_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = SG_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = SG_NAME },
    { .key = "admission_no", .type = OP_COL_TEXT, .col = SG_ADMISSION_NO },
    { .key = "dob", .type = OP_COL_SEALED_TEXT, .col = SG_DOB_ENC, .key_col = SG_DOB_KEY,
      .id_col = SG_ID, .sealed = DOB_COLUMN },
    { .key = "gender", .type = OP_COL_TEXT, .col = SG_GENDER },
    { .key = "class", .type = OP_COL_TEXT, .col = SG_CLASS },
    { .key = "section", .type = OP_COL_TEXT, .col = SG_SECTION },
    { .key = "roll_no", .type = OP_COL_I64, .col = SG_ROLL_NO },
    { .key = "active", .type = OP_COL_BOOL, .col = SG_ACTIVE },
    { .key = "nationality", .type = OP_COL_TEXT, .col = SG_NATIONALITY },
    { .key = "enrolled_on", .type = OP_COL_TEXT, .col = SG_ENROLLED_ON },
    { .key = "status", .type = OP_COL_TEXT, .col = SG_STATUS },
    { .key = "left_on", .type = OP_COL_TEXT, .col = SG_LEFT_ON },
    { .key = "leave_reason", .type = OP_COL_TEXT, .col = SG_LEAVE_REASON },
    { .key = "section_id", .type = OP_COL_I64, .col = SG_SECTION_ID },
    { .key = "year", .type = OP_COL_I64, .col = SG_YEAR },
    { .key = "guardians", .type = OP_COL_FN, .fn = pack_guardians },
    { .key = "route", .type = OP_COL_OBJECT, .col = SG_ROUTE, .fields = route_cols },
    { .key = NULL },
};

static int student_get(struct op_ctx *op, const PGresult *res)
{
    switch (policy_answer(res)) {
    case POLICY_ALLOW:
        break;
    case POLICY_FORBIDDEN:
        return op_refuse(op, OP_E_FORBIDDEN, "id", "this student is not one of yours");
    case POLICY_NOT_FOUND:
    default:
        return op_refuse(op, OP_E_NOT_FOUND, "id", "no such student");
    }
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.school_id);
    /* The date of birth is personal data: reading the record is recorded. */
    return op_sql(op, &(struct op_sql){ .sql = STUDENT_GET_SQL, .reply_row = student_cols,
                                        .not_found = "no such student", .not_found_field = "id",
                                        .audit = "student", .audit_id_col = SG_ID });
}

/* An admin, a teacher of the student's section, a guardian of the student. */
static int op_student_get(struct op_ctx *op)
{
    policy_params(op, op_get_id(op, "id"));
    return op_sql(op, &(struct op_sql){ .sql = policy_sql(POLICY_STUDENT_READ),
                                        .on_rows = student_get });
}

/* --- student.list --- */

static const struct op_col list_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = 0 },
    { .key = "name", .type = OP_COL_TEXT, .col = 1 },
    { .key = "admission_no", .type = OP_COL_TEXT, .col = 2 },
    { .key = "class", .type = OP_COL_TEXT, .col = 3 },
    { .key = "section", .type = OP_COL_TEXT, .col = 4 },
    { .key = "roll_no", .type = OP_COL_I64, .col = 5 },
    { .key = "active", .type = OP_COL_BOOL, .col = 6 },
    { .key = "status", .type = OP_COL_TEXT, .col = 7 },
    { .key = NULL },
};

/* An admin lists the school's students; a teacher, the students of their sections. */
static int op_student_list(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "class");
    op_param_arg(op, "section");
    op_param_i64(op, op_get_int(op, "after", 0));
    op_param_i64(op, op_get_int(op, "limit", 100));
    op_param_arg(op, "status");
    op_param_id(op, op->caller.user_id);
    op_param_bool(op, op->caller.role == ROLE_ADMIN);
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT s.id, s.name, s.admission_no, c.name, sc.name, s.roll_no, s.active,"
               " s.status"
               " FROM students s LEFT JOIN sections sc ON sc.id = s.section_id"
               " LEFT JOIN classes c ON c.id = sc.class_id"
               " WHERE s.school_id = $1"
               " AND ($2::text IS NULL OR c.name = $2)"
               " AND ($3::text IS NULL OR sc.name = $3) AND s.id > $4"
               " AND ($6::text IS NULL OR s.status = $6)"
               " AND ($8::boolean OR s.section_id IN " POLICY_TEACHER_SECTIONS("$7") ")"
               " ORDER BY s.id LIMIT $5",
        .reply_rows = list_cols });
}

/* --- student.update --- */

/* res: the placement columns (0-2) when class and section were given, else NULL. */
static int update_student(struct op_ctx *op, const PGresult *res)
{
    if (res) {
        int r = check_placement(op, res, 0);
        if (r) {
            return r;
        }
    }
    int64_t id = op_get_id(op, "id");
    op_param_id(op, id);
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    param_dob(op, id, op_get_str(op, "dob"));
    op_param_arg(op, "gender");
    op_param_i64_opt(op, res != NULL, res ? dbval_get_i64(res, 0, 1) : 0);
    op_param_i64_opt(op, res && !PQgetisnull(res, 0, 2),
                     res && !PQgetisnull(res, 0, 2) ? dbval_get_i64(res, 0, 2) : 0);
    op_param_arg(op, "roll_no");
    op_param_arg(op, "nationality");
    op_param_arg(op, "enrolled_on");
    return op_sql(op, &(struct op_sql){
        .sql = "UPDATE students SET name = coalesce($3, name),"
               " dob_enc = coalesce($4::bytea, dob_enc),"
               " dob_key = coalesce($5::smallint, dob_key),"
               " gender = coalesce($6, gender),"
               " section_id = coalesce($7::bigint, section_id),"
               " year_id = CASE WHEN $7::bigint IS NULL THEN year_id ELSE $8::bigint END,"
               " roll_no = coalesce($9::int, roll_no),"
               " nationality = coalesce($10, nationality),"
               " enrolled_on = coalesce($11::date, enrolled_on),"
               " updated_at = now()"
               " WHERE id = $1 AND school_id = $2 RETURNING id",
        .not_found = "no such student", .not_found_field = "id", .audit = "student",
        .errors = create_errors });
}

static int op_student_update(struct op_ctx *op)
{
    int r = check_details(op);
    if (r) {
        return r;
    }
    if (!op_has_arg(op, "class")) {
        return update_student(op, NULL);
    }
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "class");
    op_param_arg(op, "section");
    return op_sql(op, &(struct op_sql){ .sql = "SELECT" PLACEMENT_COLS,
                                        .on_rows = update_student });
}

/* --- student.delete --- */

/* One row per guardian (NULL when there is none), each carrying the student. */
static int left(struct op_ctx *op, const PGresult *res)
{
    const struct roster *roster = &((struct people *)op->domain)->roster;
    int64_t school = op->caller.school_id;
    op_reply_empty(op); /* frees op */
    for (int i = 0; i < PQntuples(res); i++) {
        if (!PQgetisnull(res, i, 1)) {
            roster_user_changed(roster, school, dbval_get_i64(res, i, 1));
        }
    }
    roster_student_changed(roster, school, dbval_get_i64(res, 0, 0));
    return 0;
}

static int op_student_delete(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.school_id);
    /* A student who has left rides no bus: the database takes them off their route in the
     * same transaction (sql/0006), and the roster's listeners end the guardians'
     * subscriptions that relied on it. Guardian links stay, as the record of who looked
     * after the student. Deleting again answers {} (and tells the listeners again). */
    return op_sql(op, &(struct op_sql){
        .sql = "WITH s AS (UPDATE students SET active = false, status = 'left',"
               "           left_on = coalesce(left_on, current_date), updated_at = now()"
               "           WHERE id = $1 AND school_id = $2 RETURNING id)"
               " SELECT s.id, g.user_id FROM s LEFT JOIN guardians g ON g.student_id = s.id",
        .not_found = "no such student", .not_found_field = "id", .audit = "student",
        .on_rows = left });
}

/* --- student.leave --- */

/* Like student.delete, with the date and the reason: leaving starts the retention clock. */
static int op_student_leave(struct op_ctx *op)
{
    int r = check_date(op, "on", op_get_str(op, "on"), false);
    if (r) {
        return r;
    }
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "reason");
    op_param_arg(op, "on");
    return op_sql(op, &(struct op_sql){
        .sql = "WITH s AS (UPDATE students SET active = false, status = 'left',"
               "           left_on = coalesce($4::date, current_date), leave_reason = $3,"
               "           updated_at = now()"
               "           WHERE id = $1 AND school_id = $2 RETURNING id)"
               " SELECT s.id, g.user_id FROM s LEFT JOIN guardians g ON g.student_id = s.id",
        .not_found = "no such student", .not_found_field = "id", .audit = "student",
        .on_rows = left });
}

/* The arguments of student.create and student.update besides name, admission_no and id. */
static const char *const genders[] = { "female", "male", "other", NULL };
static const char *const statuses[] = { "enrolled", "left", NULL };
#define STUDENT_DETAIL_ARGS                                                                  \
    { .name = "dob", .type = OP_T_STR, .max = 16, .format = "date" },                        \
    { .name = "gender", .type = OP_T_ENUM, .values = genders },                              \
    { .name = "class", .type = OP_T_STR, .max = CLASS_MAX_LEN },                             \
    { .name = "section", .type = OP_T_STR, .max = SECTION_MAX_LEN },                         \
    { .name = "roll_no", .type = OP_T_INT, .min = 1, .max = ROLL_NO_MAX },                   \
    { .name = "nationality", .type = OP_T_STR, .max = NATIONALITY_MAX_LEN },                 \
    { .name = "enrolled_on", .type = OP_T_STR, .max = 16, .format = "date" }

static const struct op_arg create_args[] = {
    { .name = "name", .type = OP_T_STR, .required = OP_REQ, .max = NAME_MAX_LEN },
    { .name = "admission_no", .type = OP_T_STR, .required = OP_REQ,
      .max = ADMISSION_NO_MAX_LEN },
    STUDENT_DETAIL_ARGS,
    { .name = NULL },
};

static const struct op_arg update_args[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = "name", .type = OP_T_STR, .max = NAME_MAX_LEN },
    STUDENT_DETAIL_ARGS,
    { .name = NULL },
};

static const struct op_arg id_args[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

static const struct op_arg list_args[] = {
    { .name = "class", .type = OP_T_STR, .max = CLASS_MAX_LEN },
    { .name = "section", .type = OP_T_STR, .max = SECTION_MAX_LEN },
    { .name = "status", .type = OP_T_ENUM, .values = statuses },
    { .name = "after", .type = OP_T_ID },
    { .name = "limit", .type = OP_T_INT, .min = 1, .max = 500 },
    { .name = NULL },
};

static const struct op_arg leave_args[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = "reason", .type = OP_T_STR, .required = OP_REQ, .max = REASON_MAX_LEN },
    { .name = "on", .type = OP_T_STR, .max = 16, .format = "date" },
    { .name = NULL },
};

const struct op_def student_ops[] = {
    { .name = "student.create", .fn = op_student_create, .roles = ROLE_ADMIN,
      .args = create_args },
    { .name = "student.get", .fn = op_student_get,
      .roles = ROLE_ADMIN | ROLE_TEACHER | ROLE_PARENT, .args = id_args },
    { .name = "student.list", .fn = op_student_list, .roles = ROLE_ADMIN | ROLE_TEACHER,
      .args = list_args },
    { .name = "student.update", .fn = op_student_update, .roles = ROLE_ADMIN,
      .args = update_args },
    { .name = "student.delete", .fn = op_student_delete, .roles = ROLE_ADMIN, .args = id_args },
    { .name = "student.leave", .fn = op_student_leave, .roles = ROLE_ADMIN, .args = leave_args },
    { .name = NULL },
};
