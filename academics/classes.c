/* class.*, section.* (but section.promote: structure.c), subject.* and teacher.assign/
 * unassign/assignments. Every id argument is asked through academics/scope.h (checks.h);
 * a teacher named in arguments must be a teacher of the school. */
#include "academics/classes.h"

#include "academics/checks.h"
#include "core/audit.h"
#include "core/dbval.h"
#include "core/op_db.h"
#include "core/op_pack.h"

#define CLASS_NAME_MAX 32
#define SECTION_NAME_MAX 16
#define ROOM_MAX 32
#define SUBJECT_NAME_MAX 64
#define SUBJECT_CODE_MAX 16

static const struct op_db_error in_use[] = {
    { .cond = OP_DB_FOREIGN_KEY, .code = OP_E_CONFLICT, .field = "id",
      .message = "records still refer to it" },
    { .cond = 0 },
};

/* --- class.create --- */

static const struct op_db_error class_errors[] = {
    { .cond = OP_DB_UNIQUE, .constraint = "classes_year_id_name_key", .code = OP_E_CONFLICT,
      .field = "name", .message = "this class name is already used in the year" },
    { .cond = 0 },
};

static int class_inserted(struct op_ctx *op, const PGresult *res)
{
    if (PQgetisnull(res, 0, 0)) {
        return op_refuse(op, OP_E_CONFLICT, "year", "the school has no current academic year");
    }
    int64_t id = dbval_get_i64(res, 0, 0);
    audit_op(op, "class", id, "ok");
    op_reply_id(op, id);
    return 0;
}

static int class_create(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    op_param_arg(op, "year");
    op_param_arg(op, "seq");
    return op_sql(op, &(struct op_sql){
        .sql = "WITH c AS (INSERT INTO classes (school_id, year_id, name, seq)"
               "           SELECT $1, y.id, $2, coalesce($4::int, 0) FROM academic_years y"
               "           WHERE y.school_id = $1"
               "           AND CASE WHEN $3::bigint IS NULL THEN y.current ELSE y.id = $3 END"
               "           RETURNING id)"
               " SELECT (SELECT id FROM c)",
        .errors = class_errors, .on_rows = class_inserted });
}

static int op_class_create(struct op_ctx *op)
{
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_YEAR, "year");
    return checks_run(op, c, class_create);
}

/* --- class.list --- */

enum { CL_ID, CL_NAME, CL_SEQ, CL_YEAR, CL_S_ID, CL_S_NAME, CL_T_ID, CL_T_NAME, CL_ROOM };

static const struct op_col teacher_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = CL_T_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = CL_T_NAME },
    { .key = NULL },
};

static const struct op_col section_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = CL_S_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = CL_S_NAME },
    { .key = "class_teacher", .type = OP_COL_OBJECT, .col = CL_T_ID, .fields = teacher_cols },
    { .key = "room", .type = OP_COL_TEXT, .col = CL_ROOM },
    { .key = NULL },
};

/* The rows of the class starting at row: up to the next class. */
static int class_rows_end(const PGresult *res, int row)
{
    int end = row + 1;
    while (end < PQntuples(res) &&
           dbval_get_i64(res, end, CL_ID) == dbval_get_i64(res, row, CL_ID)) {
        end++;
    }
    return end;
}

static void pack_sections(struct op_ctx *op, msgpack_packer *pk, const PGresult *res, int row,
                          int col)
{
    (void)col;
    int end = class_rows_end(res, row);
    int n = 0;
    for (int i = row; i < end; i++) {
        n += !PQgetisnull(res, i, CL_S_ID);
    }
    msgpack_pack_array(pk, (size_t)n);
    for (int i = row; i < end; i++) {
        if (!PQgetisnull(res, i, CL_S_ID)) {
            op_pack_row(op, pk, res, i, section_cols);
        }
    }
}

static const struct op_col class_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = CL_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = CL_NAME },
    { .key = "seq", .type = OP_COL_I64, .col = CL_SEQ },
    { .key = "year", .type = OP_COL_I64, .col = CL_YEAR },
    { .key = "sections", .type = OP_COL_FN, .fn = pack_sections },
    { .key = NULL },
};

static int reply_classes(struct op_ctx *op, const PGresult *res)
{
    int n = 0;
    for (int row = 0; row < PQntuples(res); row = class_rows_end(res, row)) {
        n++;
    }
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_array(pk, (size_t)n);
    for (int row = 0; row < PQntuples(res); row = class_rows_end(res, row)) {
        op_pack_row(op, pk, res, row, class_cols);
    }
    op_reply_end(op);
    return 0;
}

static int class_list(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "year");
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT c.id, c.name, c.seq, c.year_id, s.id, s.name, s.class_teacher_id,"
               " u.name, s.room"
               " FROM classes c LEFT JOIN sections s ON s.class_id = c.id"
               " LEFT JOIN users u ON u.id = s.class_teacher_id"
               " WHERE c.school_id = $1 AND c.year_id = coalesce($2::bigint,"
               "   (SELECT id FROM academic_years WHERE school_id = $1 AND current))"
               " ORDER BY c.seq, c.name, c.id, s.name, s.id",
        .on_rows = reply_classes });
}

static int op_class_list(struct op_ctx *op)
{
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_YEAR, "year");
    return checks_run(op, c, class_list);
}

/* --- class.update / class.delete --- */

static int class_update(struct op_ctx *op)
{
    int64_t id = op_get_id(op, "id");
    op_param_id(op, id);
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    op_param_arg(op, "seq");
    return op_sql(op, &(struct op_sql){
        .sql = "UPDATE classes SET name = coalesce($3, name), seq = coalesce($4::int, seq)"
               " WHERE id = $1 AND school_id = $2 RETURNING id",
        .not_found = "no such class", .not_found_field = "id", .errors = class_errors,
        .audit = "class", .audit_id = id });
}

static int op_class_update(struct op_ctx *op)
{
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_CLASS, "id");
    return checks_run(op, c, class_update);
}

/* Row: students placed (bool), deleted (bool). */
static int finish_delete(struct op_ctx *op, const PGresult *res, const char *record)
{
    if (dbval_get_bool(res, 0, 0)) {
        return op_refuse(op, OP_E_CONFLICT, "id", "students are placed in it");
    }
    if (!dbval_get_bool(res, 0, 1)) {
        return op_refuse(op, OP_E_NOT_FOUND, "id", "no longer exists");
    }
    audit_op(op, record, op_get_id(op, "id"), "ok");
    op_reply_empty(op);
    return 0;
}

static int class_deleted(struct op_ctx *op, const PGresult *res)
{
    return finish_delete(op, res, "class");
}

static int section_deleted(struct op_ctx *op, const PGresult *res)
{
    return finish_delete(op, res, "section");
}

static int class_delete(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.school_id);
    /* Its sections go with it (their assignments cascade), its subjects cascade; students
     * placed in any of its sections, enrolled or left, keep it. */
    return op_sql(op, &(struct op_sql){
        .sql = "WITH placed AS (SELECT 1 FROM students WHERE section_id IN"
               "                (SELECT id FROM sections WHERE class_id = $1) LIMIT 1),"
               " ds AS (DELETE FROM sections WHERE class_id = $1 AND school_id = $2"
               "        AND NOT EXISTS (SELECT 1 FROM placed) RETURNING id),"
               " dc AS (DELETE FROM classes WHERE id = $1 AND school_id = $2"
               "        AND NOT EXISTS (SELECT 1 FROM placed) RETURNING id)"
               " SELECT EXISTS (SELECT 1 FROM placed), EXISTS (SELECT 1 FROM dc),"
               " (SELECT count(*) FROM ds)",
        .errors = in_use, .on_rows = class_deleted });
}

static int op_class_delete(struct op_ctx *op)
{
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_CLASS, "id");
    return checks_run(op, c, class_delete);
}

/* --- section.create --- */

static const struct op_db_error section_errors[] = {
    { .cond = OP_DB_UNIQUE, .constraint = "sections_class_id_name_key", .code = OP_E_CONFLICT,
      .field = "name", .message = "this section name is already used in the class" },
    { .cond = 0 },
};

static int section_create(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "class"));
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    op_param_arg(op, "class_teacher");
    op_param_arg(op, "room");
    return op_sql(op, &(struct op_sql){
        .sql = "INSERT INTO sections (school_id, year_id, class_id, name, class_teacher_id, room)"
               " SELECT $2, c.year_id, c.id, $3, $4::bigint, $5 FROM classes c"
               " WHERE c.id = $1 AND c.school_id = $2 RETURNING id",
        .not_found = "no such class", .not_found_field = "class", .errors = section_errors,
        .audit = "section", .reply_id = true });
}

static int op_section_create(struct op_ctx *op)
{
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_CLASS, "class");
    checks_add(op, c, CHECK_TEACHER_ROLE, "class_teacher");
    return checks_run(op, c, section_create);
}

/* --- section.get --- */

/* One header row (kind 0), then the enrolled students (kind 1), then the assignments
 * (kind 2). */
#define SECTION_GET_SQL                                                                      \
    "SELECT 0 AS k, s.id, s.name, c.id, c.name, s.year_id, s.class_teacher_id, u.name,"      \
    " s.room, NULL::int AS roll, NULL::text, NULL::bigint, NULL::text"                       \
    " FROM sections s JOIN classes c ON c.id = s.class_id"                                   \
    " LEFT JOIN users u ON u.id = s.class_teacher_id"                                        \
    " WHERE s.id = $1 AND s.school_id = $2"                                                  \
    " UNION ALL"                                                                             \
    " SELECT 1, st.id, st.name, NULL, NULL, NULL, NULL, NULL, NULL, st.roll_no,"             \
    " st.admission_no, NULL, NULL FROM students st"                                          \
    " WHERE st.section_id = $1 AND st.school_id = $2 AND st.status = 'enrolled'"             \
    " UNION ALL"                                                                             \
    " SELECT 2, ta.teacher_id, u.name, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,"      \
    " j.id, j.name FROM teacher_assignments ta JOIN users u ON u.id = ta.teacher_id"         \
    " JOIN subjects j ON j.id = ta.subject_id WHERE ta.section_id = $1"                      \
    " ORDER BY 1, 10, 3, 2, 12"

enum { SG_KIND, SG_ID, SG_NAME, SG_C_ID, SG_C_NAME, SG_YEAR, SG_T_ID, SG_T_NAME, SG_ROOM,
       SG_ROLL, SG_ADMISSION, SG_J_ID, SG_J_NAME };

static const struct op_col sg_class_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = SG_C_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = SG_C_NAME },
    { .key = NULL },
};

static const struct op_col sg_teacher_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = SG_T_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = SG_T_NAME },
    { .key = NULL },
};

static const struct op_col sg_student_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = SG_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = SG_NAME },
    { .key = "roll_no", .type = OP_COL_I64, .col = SG_ROLL },
    { .key = "admission_no", .type = OP_COL_TEXT, .col = SG_ADMISSION },
    { .key = NULL },
};

static const struct op_col sg_assignee_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = SG_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = SG_NAME },
    { .key = NULL },
};

static const struct op_col sg_subject_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = SG_J_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = SG_J_NAME },
    { .key = NULL },
};

static const struct op_col sg_assignment_cols[] = {
    { .key = "teacher", .type = OP_COL_OBJECT, .col = SG_ID, .fields = sg_assignee_cols },
    { .key = "subject", .type = OP_COL_OBJECT, .col = SG_J_ID, .fields = sg_subject_cols },
    { .key = NULL },
};

static void pack_kind(struct op_ctx *op, msgpack_packer *pk, const PGresult *res, int kind,
                      const struct op_col *cols)
{
    int n = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        n += dbval_get_i64(res, i, SG_KIND) == kind;
    }
    msgpack_pack_array(pk, (size_t)n);
    for (int i = 0; i < PQntuples(res); i++) {
        if (dbval_get_i64(res, i, SG_KIND) == kind) {
            op_pack_row(op, pk, res, i, cols);
        }
    }
}

static void pack_students(struct op_ctx *op, msgpack_packer *pk, const PGresult *res, int row,
                          int col)
{
    (void)row, (void)col;
    pack_kind(op, pk, res, 1, sg_student_cols);
}

static void pack_assignments(struct op_ctx *op, msgpack_packer *pk, const PGresult *res,
                             int row, int col)
{
    (void)row, (void)col;
    pack_kind(op, pk, res, 2, sg_assignment_cols);
}

static const struct op_col section_get_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = SG_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = SG_NAME },
    { .key = "class", .type = OP_COL_OBJECT, .col = SG_C_ID, .fields = sg_class_cols },
    { .key = "year", .type = OP_COL_I64, .col = SG_YEAR },
    { .key = "class_teacher", .type = OP_COL_OBJECT, .col = SG_T_ID, .fields = sg_teacher_cols },
    { .key = "room", .type = OP_COL_TEXT, .col = SG_ROOM },
    { .key = "students", .type = OP_COL_FN, .fn = pack_students },
    { .key = "teachers", .type = OP_COL_FN, .fn = pack_assignments },
    { .key = NULL },
};

static int section_got(struct op_ctx *op, const PGresult *res)
{
    if (PQntuples(res) == 0 || dbval_get_i64(res, 0, SG_KIND) != 0) {
        return op_refuse(op, OP_E_NOT_FOUND, "id", "no such section");
    }
    op_reply_row(op, res, 0, section_get_cols);
    return 0;
}

static int section_get(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){ .sql = SECTION_GET_SQL, .on_rows = section_got });
}

static int op_section_get(struct op_ctx *op)
{
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_SECTION, "id");
    return checks_run(op, c, section_get);
}

/* --- section.list --- */

enum { SL_ID, SL_NAME, SL_C_ID, SL_C_NAME, SL_YEAR, SL_T_ID, SL_T_NAME, SL_ROOM };

static const struct op_col sl_class_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = SL_C_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = SL_C_NAME },
    { .key = NULL },
};

static const struct op_col sl_teacher_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = SL_T_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = SL_T_NAME },
    { .key = NULL },
};

static const struct op_col section_list_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = SL_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = SL_NAME },
    { .key = "class", .type = OP_COL_OBJECT, .col = SL_C_ID, .fields = sl_class_cols },
    { .key = "year", .type = OP_COL_I64, .col = SL_YEAR },
    { .key = "class_teacher", .type = OP_COL_OBJECT, .col = SL_T_ID, .fields = sl_teacher_cols },
    { .key = "room", .type = OP_COL_TEXT, .col = SL_ROOM },
    { .key = NULL },
};

static int section_list(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "class");
    op_param_arg(op, "year");
    op_param_id(op, op->caller.user_id);
    op_param_str(op, role_name(op->caller.role));
    /* Without class or year: the current year's. */
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT s.id, s.name, c.id, c.name, s.year_id, s.class_teacher_id, u.name, s.room"
               " FROM sections s JOIN classes c ON c.id = s.class_id"
               " LEFT JOIN users u ON u.id = s.class_teacher_id"
               " WHERE s.school_id = $1 AND ($2::bigint IS NULL OR s.class_id = $2)"
               " AND CASE WHEN $3::bigint IS NOT NULL THEN s.year_id = $3"
               "          WHEN $2::bigint IS NOT NULL THEN true"
               "          ELSE s.year_id = (SELECT id FROM academic_years"
               "                            WHERE school_id = $1 AND current) END"
               " AND ($5::text = 'admin' OR s.id IN " SCOPE_TEACHER_SECTIONS("$4") ")"
               " ORDER BY c.seq, c.name, c.id, s.name, s.id",
        .reply_rows = section_list_cols });
}

static int op_section_list(struct op_ctx *op)
{
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_CLASS, "class");
    checks_add(op, c, SCOPE_YEAR, "year");
    return checks_run(op, c, section_list);
}

/* --- section.update / section.delete --- */

static int section_update(struct op_ctx *op)
{
    int64_t id = op_get_id(op, "id");
    op_param_id(op, id);
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    op_param_arg(op, "class_teacher");
    /* class_teacher, room: nil clears, leaving them out keeps them */
    op_param_bool(op, op_map_get(op->args, "class_teacher") != NULL);
    op_param_arg(op, "room");
    op_param_bool(op, op_map_get(op->args, "room") != NULL);
    return op_sql(op, &(struct op_sql){
        .sql = "UPDATE sections SET name = coalesce($3, name),"
               " class_teacher_id = CASE WHEN $5::boolean THEN $4::bigint"
               "                    ELSE class_teacher_id END,"
               " room = CASE WHEN $7::boolean THEN $6 ELSE room END"
               " WHERE id = $1 AND school_id = $2 RETURNING id",
        .not_found = "no such section", .not_found_field = "id", .errors = section_errors,
        .audit = "section", .audit_id = id });
}

static int op_section_update(struct op_ctx *op)
{
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_SECTION, "id");
    checks_add(op, c, CHECK_TEACHER_ROLE, "class_teacher");
    return checks_run(op, c, section_update);
}

static int section_delete(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
        .sql = "WITH placed AS (SELECT 1 FROM students WHERE section_id = $1 LIMIT 1),"
               " d AS (DELETE FROM sections WHERE id = $1 AND school_id = $2"
               "       AND NOT EXISTS (SELECT 1 FROM placed) RETURNING id)"
               " SELECT EXISTS (SELECT 1 FROM placed), EXISTS (SELECT 1 FROM d)",
        .errors = in_use, .on_rows = section_deleted });
}

static int op_section_delete(struct op_ctx *op)
{
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_SECTION, "id");
    return checks_run(op, c, section_delete);
}

/* --- subjects --- */

static const struct op_db_error subject_errors[] = {
    { .cond = OP_DB_UNIQUE, .constraint = "subjects_class_id_name_key", .code = OP_E_CONFLICT,
      .field = "name", .message = "this subject is already in the class" },
    { .cond = 0 },
};

static int subject_create(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "class"));
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    op_param_arg(op, "code");
    return op_sql(op, &(struct op_sql){
        .sql = "INSERT INTO subjects (school_id, class_id, name, code)"
               " SELECT $2, c.id, $3, $4 FROM classes c WHERE c.id = $1 AND c.school_id = $2"
               " RETURNING id",
        .not_found = "no such class", .not_found_field = "class", .errors = subject_errors,
        .audit = "subject", .reply_id = true });
}

static int op_subject_create(struct op_ctx *op)
{
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_CLASS, "class");
    return checks_run(op, c, subject_create);
}

static const struct op_col subject_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = 0 },
    { .key = "name", .type = OP_COL_TEXT, .col = 1 },
    { .key = "code", .type = OP_COL_TEXT, .col = 2 },
    { .key = NULL },
};

static int subject_list(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "class"));
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT id, name, code FROM subjects WHERE class_id = $1 AND school_id = $2"
               " ORDER BY name, id",
        .reply_rows = subject_cols });
}

static int op_subject_list(struct op_ctx *op)
{
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_CLASS, "class");
    return checks_run(op, c, subject_list);
}

static int subject_delete(struct op_ctx *op)
{
    int64_t id = op_get_id(op, "id");
    op_param_id(op, id);
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
        .sql = "DELETE FROM subjects WHERE id = $1 AND school_id = $2 RETURNING id",
        .not_found = "no such subject", .not_found_field = "id", .errors = in_use,
        .audit = "subject", .audit_id = id });
}

static int op_subject_delete(struct op_ctx *op)
{
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_SUBJECT, "id");
    return checks_run(op, c, subject_delete);
}

/* --- teachers' assignments --- */

/* checks: teacher, section (col2: class), subject (col2: class) */
static int same_class(struct op_ctx *op)
{
    struct checks *c = op->state;
    if (c->k[1].col2 != c->k[2].col2) {
        return op_refuse(op, OP_E_BAD_REQUEST, "subject",
                         "is not a subject of the section's class");
    }
    return 0;
}

static int assign(struct op_ctx *op)
{
    int r = same_class(op);
    if (r) {
        return r;
    }
    op_param_id(op, op->caller.school_id);
    op_param_id(op, op_get_id(op, "teacher"));
    op_param_id(op, op_get_id(op, "section"));
    op_param_id(op, op_get_id(op, "subject"));
    /* Assigning twice is the same assignment. */
    return op_sql(op, &(struct op_sql){
        .sql = "INSERT INTO teacher_assignments (school_id, teacher_id, section_id, subject_id)"
               " VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        .errors = (const struct op_db_error[]){
            { .cond = OP_DB_FOREIGN_KEY, .code = OP_E_NOT_FOUND, .field = "section",
              .message = "no longer exists" },
            { .cond = 0 } },
        .audit = "teacher_assignment", .audit_id = op_get_id(op, "teacher") });
}

static int unassign(struct op_ctx *op)
{
    int r = same_class(op);
    if (r) {
        return r;
    }
    int64_t teacher = op_get_id(op, "teacher");
    op_param_id(op, op->caller.school_id);
    op_param_id(op, teacher);
    op_param_id(op, op_get_id(op, "section"));
    op_param_id(op, op_get_id(op, "subject"));
    return op_sql(op, &(struct op_sql){
        .sql = "DELETE FROM teacher_assignments WHERE school_id = $1 AND teacher_id = $2"
               " AND section_id = $3 AND subject_id = $4 RETURNING teacher_id",
        .not_found = "no such assignment", .not_found_field = "teacher",
        .audit = "teacher_assignment", .audit_id = teacher });
}

static int assignment_checks(struct op_ctx *op, op_fn *next)
{
    struct checks *c = checks_new(op);
    checks_add(op, c, CHECK_TEACHER_ROLE, "teacher");
    checks_add(op, c, SCOPE_SECTION, "section");
    checks_add(op, c, SCOPE_SUBJECT, "subject");
    return checks_run(op, c, next);
}

static int op_teacher_assign(struct op_ctx *op)
{
    return assignment_checks(op, assign);
}

static int op_teacher_unassign(struct op_ctx *op)
{
    return assignment_checks(op, unassign);
}

enum { TA_T_ID, TA_T_NAME, TA_S_ID, TA_S_NAME, TA_C_ID, TA_C_NAME, TA_J_ID, TA_J_NAME };

#define PAIR(name, id_col, name_col)                                                         \
    static const struct op_col name[] = {                                                    \
        { .key = "id", .type = OP_COL_I64, .col = id_col },                                  \
        { .key = "name", .type = OP_COL_TEXT, .col = name_col },                             \
        { .key = NULL },                                                                     \
    }
PAIR(ta_teacher_cols, TA_T_ID, TA_T_NAME);
PAIR(ta_section_cols, TA_S_ID, TA_S_NAME);
PAIR(ta_class_cols, TA_C_ID, TA_C_NAME);
PAIR(ta_subject_cols, TA_J_ID, TA_J_NAME);

static const struct op_col assignment_cols[] = {
    { .key = "teacher", .type = OP_COL_OBJECT, .col = TA_T_ID, .fields = ta_teacher_cols },
    { .key = "section", .type = OP_COL_OBJECT, .col = TA_S_ID, .fields = ta_section_cols },
    { .key = "class", .type = OP_COL_OBJECT, .col = TA_C_ID, .fields = ta_class_cols },
    { .key = "subject", .type = OP_COL_OBJECT, .col = TA_J_ID, .fields = ta_subject_cols },
    { .key = NULL },
};

static int assignments(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    /* A teacher without the argument: their own. An admin without it: the school's. */
    if (op_has_arg(op, "teacher")) {
        op_param_id(op, op_get_id(op, "teacher"));
    } else if (op->caller.role == ROLE_TEACHER) {
        op_param_id(op, op->caller.user_id);
    } else {
        op_param_null(op);
    }
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT u.id, u.name, s.id, s.name, c.id, c.name, j.id, j.name"
               " FROM teacher_assignments ta JOIN users u ON u.id = ta.teacher_id"
               " JOIN sections s ON s.id = ta.section_id JOIN classes c ON c.id = s.class_id"
               " JOIN subjects j ON j.id = ta.subject_id"
               " WHERE ta.school_id = $1 AND ($2::bigint IS NULL OR ta.teacher_id = $2)"
               " ORDER BY u.name, u.id, c.seq, c.name, s.name, j.name",
        .reply_rows = assignment_cols });
}

static int op_teacher_assignments(struct op_ctx *op)
{
    struct checks *c = checks_new(op);
    checks_add(op, c, SCOPE_TEACHER, "teacher");
    return checks_run(op, c, assignments);
}

/* --- the table --- */

static const struct op_arg class_create_args[] = {
    { .name = "name", .type = OP_T_STR, .required = OP_REQ, .max = CLASS_NAME_MAX },
    { .name = "year", .type = OP_T_ID },
    { .name = "seq", .type = OP_T_INT, .min = 0, .max = 1000 },
    { .name = NULL },
};

static const struct op_arg year_filter_args[] = {
    { .name = "year", .type = OP_T_ID },
    { .name = NULL },
};

static const struct op_arg class_update_args[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = "name", .type = OP_T_STR, .max = CLASS_NAME_MAX },
    { .name = "seq", .type = OP_T_INT, .min = 0, .max = 1000 },
    { .name = NULL },
};

static const struct op_arg id_args[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

static const struct op_arg section_create_args[] = {
    { .name = "class", .type = OP_T_ID, .required = OP_REQ },
    { .name = "name", .type = OP_T_STR, .required = OP_REQ, .max = SECTION_NAME_MAX },
    { .name = "class_teacher", .type = OP_T_ID },
    { .name = "room", .type = OP_T_STR, .max = ROOM_MAX },
    { .name = NULL },
};

static const struct op_arg section_list_args[] = {
    { .name = "class", .type = OP_T_ID },
    { .name = "year", .type = OP_T_ID },
    { .name = NULL },
};

static const struct op_arg section_update_args[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = "name", .type = OP_T_STR, .max = SECTION_NAME_MAX },
    { .name = "class_teacher", .type = OP_T_ID, .nullable = true },
    { .name = "room", .type = OP_T_STR, .max = ROOM_MAX, .nullable = true },
    { .name = NULL },
};

static const struct op_arg subject_create_args[] = {
    { .name = "class", .type = OP_T_ID, .required = OP_REQ },
    { .name = "name", .type = OP_T_STR, .required = OP_REQ, .max = SUBJECT_NAME_MAX },
    { .name = "code", .type = OP_T_STR, .max = SUBJECT_CODE_MAX },
    { .name = NULL },
};

static const struct op_arg class_arg[] = {
    { .name = "class", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

static const struct op_arg assign_args[] = {
    { .name = "teacher", .type = OP_T_ID, .required = OP_REQ },
    { .name = "section", .type = OP_T_ID, .required = OP_REQ },
    { .name = "subject", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

static const struct op_arg teacher_filter_args[] = {
    { .name = "teacher", .type = OP_T_ID },
    { .name = NULL },
};

#define STAFF (ROLE_ADMIN | ROLE_TEACHER)

const struct op_def class_ops[] = {
    { .name = "class.create", .fn = op_class_create, .roles = ROLE_ADMIN,
      .args = class_create_args },
    { .name = "class.list", .fn = op_class_list, .roles = STAFF, .args = year_filter_args },
    { .name = "class.update", .fn = op_class_update, .roles = ROLE_ADMIN,
      .args = class_update_args },
    { .name = "class.delete", .fn = op_class_delete, .roles = ROLE_ADMIN, .args = id_args },
    { .name = "section.create", .fn = op_section_create, .roles = ROLE_ADMIN,
      .args = section_create_args },
    { .name = "section.get", .fn = op_section_get, .roles = STAFF, .args = id_args },
    { .name = "section.list", .fn = op_section_list, .roles = STAFF, .args = section_list_args },
    { .name = "section.update", .fn = op_section_update, .roles = ROLE_ADMIN,
      .args = section_update_args },
    { .name = "section.delete", .fn = op_section_delete, .roles = ROLE_ADMIN, .args = id_args },
    { .name = "subject.create", .fn = op_subject_create, .roles = ROLE_ADMIN,
      .args = subject_create_args },
    { .name = "subject.list", .fn = op_subject_list, .roles = STAFF, .args = class_arg },
    { .name = "subject.delete", .fn = op_subject_delete, .roles = ROLE_ADMIN, .args = id_args },
    { .name = "teacher.assign", .fn = op_teacher_assign, .roles = ROLE_ADMIN,
      .args = assign_args },
    { .name = "teacher.unassign", .fn = op_teacher_unassign, .roles = ROLE_ADMIN,
      .args = assign_args },
    { .name = "teacher.assignments", .fn = op_teacher_assignments, .roles = STAFF,
      .args = teacher_filter_args },
    { .name = NULL },
};
