/* student.create/get/list/update/delete for a school's admins. Every query is scoped to the
 * caller's school: another school's ids are simply not found. A student who leaves is told
 * to the roster's listeners (people/roster.h), so that whatever they rode lets them go. */
#include "people/students.h"

#include <string.h>
#include <time.h>

#include "core/dbval.h"
#include "core/op_db.h"
#include "core/op_pack.h"
#include "core/pii.h"
#include "people/guardians.h"
#include "people/people.h"

#define NAME_MAX_LEN 200
#define ADMISSION_NO_MAX_LEN 64
#define CLASS_MAX_LEN 32
#define SECTION_MAX_LEN 16
#define ROLL_NO_MAX 1000

/* Dates of birth are sealed like phone numbers: bound to "students.dob:<row id>". */
#define DOB_COLUMN "students.dob"
#define DOB_LEN 10 /* YYYY-MM-DD */
#define DOB_MIN_YEAR 1990

static bool all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

static int number(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Today's date, as YYYYMMDD, where the day is furthest ahead on Earth (UTC+14): a date after
 * it is in the future for every school, whatever its time zone. */
static long latest_today(void)
{
    time_t now = time(NULL) + 14 * 3600;
    struct tm tm;
    gmtime_r(&now, &tm);
    return (tm.tm_year + 1900) * 10000L + (tm.tm_mon + 1) * 100L + tm.tm_mday;
}

/* The rules of a date of birth a schema cannot express (s NULL: none given). */
static int check_dob(struct op_ctx *op, const char *s)
{
    if (!s) {
        return 0;
    }
    if (strlen(s) != DOB_LEN || s[4] != '-' || s[7] != '-' || !all_digits(s, 4) ||
        !all_digits(s + 5, 2) || !all_digits(s + 8, 2)) {
        return op_refuse(op, OP_E_BAD_REQUEST, "dob", "must be a date YYYY-MM-DD");
    }
    static const int month_days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int year = number(s, 4), month = number(s + 5, 2), day = number(s + 8, 2);
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month < 1 || month > 12 || day < 1 ||
        day > month_days[month - 1] + (month == 2 && leap ? 1 : 0)) {
        return op_refuse(op, OP_E_BAD_REQUEST, "dob", "is not a real date");
    }
    if (year < DOB_MIN_YEAR) {
        return op_refuse(op, OP_E_BAD_REQUEST, "dob", "must be in 1990 or later");
    }
    if (year * 10000L + month * 100L + day > latest_today()) {
        return op_refuse(op, OP_E_BAD_REQUEST, "dob", "must not be in the future");
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

static const struct op_db_error admission_taken[] = {
    { .cond = OP_DB_UNIQUE, .constraint = "students_school_id_admission_no_key",
      .code = OP_E_CONFLICT, .field = "admission_no",
      .message = "this admission number is already used in the school" },
    { .cond = 0 },
};

/* The id comes first because the sealed date of birth is bound to its row. */
static int insert_student(struct op_ctx *op, const PGresult *res)
{
    int64_t id = dbval_get_i64(res, 0, 0);
    op_param_id(op, id);
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    op_param_arg(op, "admission_no");
    param_dob(op, id, op_get_str(op, "dob"));
    op_param_arg(op, "gender");
    op_param_arg(op, "class");
    op_param_arg(op, "section");
    op_param_arg(op, "roll_no");
    return op_sql(op, &(struct op_sql){
        .sql = "INSERT INTO students (id, school_id, name, admission_no, dob_enc, dob_key,"
               " gender, class_name, section, roll_no)"
               " VALUES ($1, $2, $3, $4, $5::bytea, $6::smallint, $7, $8, $9, $10::int)"
               " RETURNING id",
        .errors = admission_taken, .audit = "student", .reply_id = true });
}

static int op_student_create(struct op_ctx *op)
{
    int r = check_dob(op, op_get_str(op, "dob"));
    if (r) {
        return r;
    }
    return op_sql(op, &(struct op_sql){ .sql = "SELECT nextval('students_id_seq')",
                                        .on_rows = insert_student });
}

/* --- student.get --- */

/* One row per guardian (at least one row, the guardian NULL when there is none), each
 * carrying the student and the route they ride. */
#define STUDENT_GET_SQL                                                                      \
    "SELECT " GUARDIAN_SELECT ", s.id, s.name, s.admission_no, s.dob_enc, s.dob_key,"         \
    " s.gender, s.class_name, s.section, s.roll_no, s.active,"                               \
    " r.route_id, r.route_name, r.stop_id, r.stop_name"                                      \
    " FROM students s"                                                                       \
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
    SG_SECTION, SG_ROLL_NO, SG_ACTIVE, SG_ROUTE, SG_ROUTE_NAME, SG_STOP, SG_STOP_NAME
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
    { .key = "guardians", .type = OP_COL_FN, .fn = pack_guardians },
    { .key = "route", .type = OP_COL_OBJECT, .col = SG_ROUTE, .fields = route_cols },
    { .key = NULL },
};

static int op_student_get(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.school_id);
    /* The date of birth is personal data: reading the record is recorded. */
    return op_sql(op, &(struct op_sql){ .sql = STUDENT_GET_SQL, .reply_row = student_cols,
                                        .not_found = "no such student", .not_found_field = "id",
                                        .audit = "student", .audit_id_col = SG_ID });
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
    { .key = NULL },
};

static int op_student_list(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "class");
    op_param_arg(op, "section");
    op_param_i64(op, op_get_int(op, "after", 0));
    op_param_i64(op, op_get_int(op, "limit", 100));
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT id, name, admission_no, class_name, section, roll_no, active"
               " FROM students WHERE school_id = $1"
               " AND ($2::text IS NULL OR class_name = $2)"
               " AND ($3::text IS NULL OR section = $3) AND id > $4"
               " ORDER BY id LIMIT $5",
        .reply_rows = list_cols });
}

/* --- student.update --- */

static int op_student_update(struct op_ctx *op)
{
    int64_t id = op_get_id(op, "id");
    const char *dob = op_get_str(op, "dob");
    int r = check_dob(op, dob);
    if (r) {
        return r;
    }
    op_param_id(op, id);
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    param_dob(op, id, dob);
    op_param_arg(op, "gender");
    op_param_arg(op, "class");
    op_param_arg(op, "section");
    op_param_arg(op, "roll_no");
    return op_sql(op, &(struct op_sql){
        .sql = "UPDATE students SET name = coalesce($3, name),"
               " dob_enc = coalesce($4::bytea, dob_enc),"
               " dob_key = coalesce($5::smallint, dob_key),"
               " gender = coalesce($6, gender), class_name = coalesce($7, class_name),"
               " section = coalesce($8, section), roll_no = coalesce($9::int, roll_no),"
               " updated_at = now()"
               " WHERE id = $1 AND school_id = $2 RETURNING id",
        .not_found = "no such student", .not_found_field = "id", .audit = "student" });
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
        .sql = "WITH s AS (UPDATE students SET active = false, updated_at = now()"
               "           WHERE id = $1 AND school_id = $2 RETURNING id)"
               " SELECT s.id, g.user_id FROM s LEFT JOIN guardians g ON g.student_id = s.id",
        .not_found = "no such student", .not_found_field = "id", .audit = "student",
        .on_rows = left });
}

/* The arguments of student.create and student.update besides name, admission_no and id. */
static const char *const genders[] = { "female", "male", "other", NULL };
#define STUDENT_DETAIL_ARGS                                                                  \
    { .name = "dob", .type = OP_T_STR, .max = 16, .format = "date" },                        \
    { .name = "gender", .type = OP_T_ENUM, .values = genders },                              \
    { .name = "class", .type = OP_T_STR, .max = CLASS_MAX_LEN },                             \
    { .name = "section", .type = OP_T_STR, .max = SECTION_MAX_LEN },                         \
    { .name = "roll_no", .type = OP_T_INT, .min = 1, .max = ROLL_NO_MAX }

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
    { .name = "after", .type = OP_T_ID },
    { .name = "limit", .type = OP_T_INT, .min = 1, .max = 500 },
    { .name = NULL },
};

const struct op_def student_ops[] = {
    { .name = "student.create", .fn = op_student_create, .roles = ROLE_ADMIN,
      .args = create_args },
    { .name = "student.get", .fn = op_student_get, .roles = ROLE_ADMIN, .args = id_args },
    { .name = "student.list", .fn = op_student_list, .roles = ROLE_ADMIN, .args = list_args },
    { .name = "student.update", .fn = op_student_update, .roles = ROLE_ADMIN,
      .args = update_args },
    { .name = "student.delete", .fn = op_student_delete, .roles = ROLE_ADMIN, .args = id_args },
    { .name = NULL },
};
