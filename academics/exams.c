/* Exams and marks (see exams.h; the grades they make are academics/grades.h).
 *
 * exam.marks.set writes a whole exam in one statement: new and changed marks, a correction
 * row (before and after) for every existing mark that changed, and nothing at all when an
 * entry names a student not enrolled in the exam's section, marks above the exam's maximum, or
 * the marks are locked (the term's report cards are published for the section) and the caller
 * is not an admin. Each correction is also recorded in the audit log (record marks_change, the
 * correction's id). */
#include "academics/exams.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "academics/dates.h"
#include "academics/grades.h"
#include "academics/scope.h"
#include "core/audit.h"
#include "core/dbval.h"
#include "core/op_db.h"
#include "core/op_pack.h"
#include "core/strbuf.h"

#define ENTRIES_MAX 200
#define NAME_MAX_LEN 64
#define DATE_LEN 10
#define MAX_MARKS_LIMIT 1000
#define WEIGHT_LIMIT 100

static const char LOCKED_MSG[] =
    "marks are locked: the report cards of this term are published (an admin may change them)";

static bool is_admin(const struct op_ctx *op)
{
    return op->caller.role == ROLE_ADMIN;
}

/* ===== exams ===== */

/* What an exam op knows of its exam after loading it. */
struct exam_state {
    int64_t id, section, subject, term;
    double max_marks;
    bool published, has_marks;
    /* exam.marks.set */
    uint32_t n_entries;
    double *marks;        /* per entry; < 0: none */
    const char *students, *marks_arr, *statuses;
    op_rows_fn *then; /* what follows the load */
};

/* $1 exam, $2 school. */
static const char EXAM_SQL[] =
    "SELECT e.section_id, e.subject_id, e.term_id, e.max_marks,"
    " EXISTS (SELECT 1 FROM report_card_publications p WHERE p.term_id = e.term_id"
    "         AND p.section_id = e.section_id),"
    " EXISTS (SELECT 1 FROM marks m WHERE m.exam_id = e.id)"
    " FROM exams e WHERE e.id = $1 AND e.school_id = $2";

static int exam_loaded(struct op_ctx *op, const PGresult *res);

/* Loads the exam named by field, then continues with then. */
static int load_exam(struct op_ctx *op, struct exam_state *st, const char *field,
                     op_rows_fn *then)
{
    st->id = op_get_id(op, field);
    op->state = st;
    op_param_id(op, st->id);
    op_param_id(op, op->caller.school_id);
    st->then = then;
    return op_sql(op, &(struct op_sql){ .sql = EXAM_SQL, .not_found = "no such exam",
                                        .not_found_field = field, .on_rows = exam_loaded });
}

static int exam_loaded(struct op_ctx *op, const PGresult *res)
{
    struct exam_state *st = op->state;
    st->section = dbval_get_i64(res, 0, 0);
    st->subject = dbval_get_i64(res, 0, 1);
    st->term = dbval_get_i64(res, 0, 2);
    st->max_marks = dbval_get_f64(res, 0, 3);
    st->published = dbval_get_bool(res, 0, 4);
    st->has_marks = dbval_get_bool(res, 0, 5);
    return st->then(op, res);
}

/* --- exam.create --- */

enum { CR_SAME_YEAR, CR_PUBLISHED, CR_ID };

static int created(struct op_ctx *op, const PGresult *res)
{
    if (PQgetisnull(res, 0, CR_SAME_YEAR)) {
        return op_refuse(op, OP_E_NOT_FOUND, "term", "no such term");
    }
    if (!dbval_get_bool(res, 0, CR_SAME_YEAR)) {
        return op_refuse(op, OP_E_BAD_REQUEST, "term", "is not a term of this section's year");
    }
    if (PQgetisnull(res, 0, CR_ID)) {
        return op_refuse(op, OP_E_FORBIDDEN, "term", LOCKED_MSG);
    }
    int64_t id = dbval_get_i64(res, 0, CR_ID);
    audit_op(op, "exam", id, "ok");
    op_reply_id(op, id);
    return 0;
}

static int create_exam(struct op_ctx *op, const PGresult *res)
{
    op_param_id(op, op->caller.school_id);
    op_param_id(op, op_get_id(op, "section"));
    op_param_id(op, op_get_id(op, "subject"));
    op_param_id(op, op_get_id(op, "term"));
    op_param_arg(op, "name");
    op_param_arg(op, "max_marks");
    op_param_arg(op, "on");
    op_param_arg(op, "weight");
    op_param_id(op, op->caller.user_id);
    op_param_bool(op, is_admin(op));
    op_param_id(op, dbval_get_i64(res, 0, 3)); /* the section's year */
    return op_sql(op, &(struct op_sql){
        .sql = "WITH t AS (SELECT t.year_id = $11 AS same_year,"
               "   EXISTS (SELECT 1 FROM report_card_publications p WHERE p.term_id = t.id"
               "           AND p.section_id = $2) AS pub"
               "   FROM terms t WHERE t.id = $4 AND t.school_id = $1),"
               " ins AS (INSERT INTO exams (school_id, section_id, subject_id, term_id, name,"
               "   max_marks, held_on, weight, created_by)"
               "   SELECT $1, $2, $3, $4, $5, $6::numeric, $7::date, COALESCE($8::numeric, 1), $9"
               "   FROM t WHERE t.same_year AND (NOT t.pub OR $10::boolean) RETURNING id)"
               " SELECT (SELECT same_year FROM t), (SELECT pub FROM t), (SELECT id FROM ins)",
        .on_rows = created });
}

static int check_exam_numbers(struct op_ctx *op)
{
    if (op_has_arg(op, "max_marks") && !(op_get_num(op, "max_marks", 0) > 0)) {
        return op_refuse(op, OP_E_BAD_REQUEST, "max_marks", "must be above 0");
    }
    if (op_has_arg(op, "weight") && !(op_get_num(op, "weight", 0) > 0)) {
        return op_refuse(op, OP_E_BAD_REQUEST, "weight", "must be above 0");
    }
    return dates_check(op, "on");
}

static int op_exam_create(struct op_ctx *op)
{
    int r = check_exam_numbers(op);
    if (r) {
        return r;
    }
    return scope_teaches(op, op_get_id(op, "section"), op_get_id(op, "subject"), "section",
                         create_exam);
}

/* --- exam.list --- */

enum { EL_ID, EL_NAME, EL_SUBJECT, EL_SUBJECT_NAME, EL_TERM, EL_MAX, EL_ON, EL_WEIGHT,
       EL_MARKED };

static const struct op_col subject_ref_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = EL_SUBJECT },
    { .key = "name", .type = OP_COL_TEXT, .col = EL_SUBJECT_NAME },
    { .key = NULL },
};

static const struct op_col exam_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = EL_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = EL_NAME },
    { .key = "subject", .type = OP_COL_OBJECT, .col = EL_SUBJECT, .fields = subject_ref_cols },
    { .key = "term", .type = OP_COL_I64, .col = EL_TERM },
    { .key = "max_marks", .type = OP_COL_F64, .col = EL_MAX },
    { .key = "on", .type = OP_COL_TEXT, .col = EL_ON },
    { .key = "weight", .type = OP_COL_F64, .col = EL_WEIGHT },
    { .key = "marked", .type = OP_COL_I64, .col = EL_MARKED },
    { .key = NULL },
};

static int list_exams(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    op_param_id(op, op_get_id(op, "section"));
    op_param_id(op, op->caller.school_id);
    op_param_i64_opt(op, op_has_arg(op, "term"), op_get_id(op, "term"));
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT e.id, e.name, e.subject_id, j.name, e.term_id, e.max_marks::float8,"
               " e.held_on::text, e.weight::float8,"
               " (SELECT count(*) FROM marks m WHERE m.exam_id = e.id)"
               " FROM exams e JOIN subjects j ON j.id = e.subject_id"
               " WHERE e.section_id = $1 AND e.school_id = $2"
               " AND ($3::bigint IS NULL OR e.term_id = $3)"
               " ORDER BY e.term_id, e.held_on NULLS LAST, j.name, e.id",
        .reply_rows = exam_cols });
}

static int op_exam_list(struct op_ctx *op)
{
    return scope_check(op, SCOPE_SECTION, op_get_id(op, "section"), "section", list_exams);
}

/* --- exam.update --- */

static int updated(struct op_ctx *op, const PGresult *res)
{
    struct exam_state *st = op->state;
    if (PQntuples(res) == 0) {
        return op_refuse(op, OP_E_BAD_REQUEST, "max_marks", "is below marks already entered");
    }
    audit_op(op, "exam", st->id, "ok");
    op_reply_empty(op);
    return 0;
}

static int update_exam(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    struct exam_state *st = op->state;
    if (st->published && !is_admin(op)) {
        return op_refuse(op, OP_E_FORBIDDEN, "id", LOCKED_MSG);
    }
    op_param_id(op, st->id);
    op_param_id(op, op->caller.school_id);
    op_param_arg(op, "name");
    op_param_arg(op, "max_marks");
    op_param_arg(op, "on");
    op_param_arg(op, "weight");
    return op_sql(op, &(struct op_sql){
        .sql = "UPDATE exams SET name = COALESCE($3, name),"
               " max_marks = COALESCE($4::numeric, max_marks),"
               " held_on = COALESCE($5::date, held_on), weight = COALESCE($6::numeric, weight)"
               " WHERE id = $1 AND school_id = $2 AND ($4::numeric IS NULL OR $4::numeric >="
               "   COALESCE((SELECT max(marks) FROM marks WHERE exam_id = $1), 0))"
               " RETURNING id",
        .on_rows = updated });
}

static int update_scoped(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    struct exam_state *st = op->state;
    return scope_teaches(op, st->section, st->subject, "id", update_exam);
}

static int op_exam_update(struct op_ctx *op)
{
    int r = check_exam_numbers(op);
    if (r) {
        return r;
    }
    return load_exam(op, op_alloc(op, sizeof(struct exam_state)), "id", update_scoped);
}

/* --- exam.delete --- */

static int deleted(struct op_ctx *op, const PGresult *res)
{
    if (PQntuples(res) == 0) {
        return op_refuse(op, OP_E_CONFLICT, "id", "has marks: only an admin may delete it");
    }
    op_reply_empty(op);
    return 0;
}

static int delete_exam(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    struct exam_state *st = op->state;
    if (!is_admin(op)) {
        if (st->published) {
            return op_refuse(op, OP_E_FORBIDDEN, "id", LOCKED_MSG);
        }
        if (st->has_marks) {
            return op_refuse(op, OP_E_CONFLICT, "id", "has marks: only an admin may delete it");
        }
    }
    op_param_id(op, st->id);
    op_param_id(op, op->caller.school_id);
    op_param_bool(op, is_admin(op));
    return op_sql(op, &(struct op_sql){
        .sql = "DELETE FROM exams e WHERE e.id = $1 AND e.school_id = $2 AND ($3::boolean OR"
               " NOT EXISTS (SELECT 1 FROM marks m WHERE m.exam_id = e.id)) RETURNING id",
        .on_rows = deleted, .audit = "exam", .audit_id = st->id });
}

static int delete_scoped(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    struct exam_state *st = op->state;
    return scope_teaches(op, st->section, st->subject, "id", delete_exam);
}

static int op_exam_delete(struct op_ctx *op)
{
    return load_exam(op, op_alloc(op, sizeof(struct exam_state)), "id", delete_scoped);
}

/* --- exam.marks.set --- */

/* $1 school, $2 exam, $3 section, $4 the caller, $5 students, $6 marks, $7 statuses (in the
 * entries' order), $8 the caller is an admin. Row kind 0 first (the first entry, 1-based, whose
 * student is not enrolled in the section, or NULL; the first whose marks are above the
 * maximum, or NULL; locked; entries; rows written), then kind 1 rows (a correction's id). */
#define MARKS_SQL                                                                             \
    "WITH e AS (SELECT u.student, u.marks, u.status, u.i"                                      \
    "           FROM unnest($5::bigint[], $6::numeric[], $7::text[]) WITH ORDINALITY"          \
    "                AS u(student, marks, status, i)),"                                        \
    " x AS (SELECT ex.max_marks, EXISTS (SELECT 1 FROM report_card_publications p"             \
    "         WHERE p.term_id = ex.term_id AND p.section_id = ex.section_id) AS locked"        \
    "       FROM exams ex WHERE ex.id = $2 AND ex.school_id = $1),"                            \
    " bad AS (SELECT min(e.i) AS i FROM e WHERE NOT EXISTS (SELECT 1 FROM students s"          \
    "         WHERE s.id = e.student AND s.school_id = $1 AND s.section_id = $3"               \
    "         AND s.status = 'enrolled')),"                                                    \
    " over AS (SELECT min(e.i) AS i FROM e WHERE e.marks > (SELECT max_marks FROM x)),"        \
    " go AS (SELECT (SELECT i FROM bad) IS NULL AND (SELECT i FROM over) IS NULL"             \
    "        AND EXISTS (SELECT 1 FROM x WHERE NOT x.locked OR $8::boolean) AS ok),"           \
    " old AS (SELECT m.student_id, m.marks, m.status FROM marks m"                             \
    "         WHERE m.exam_id = $2 AND m.student_id IN (SELECT student FROM e)),"              \
    " up AS (INSERT INTO marks AS m (exam_id, student_id, school_id, marks, status, entered_by)"\
    "        SELECT $2, e.student, $1, e.marks, e.status, $4 FROM e WHERE (SELECT ok FROM go)"  \
    "        ON CONFLICT (exam_id, student_id) DO UPDATE"                                      \
    "        SET marks = EXCLUDED.marks, status = EXCLUDED.status,"                            \
    "            entered_by = EXCLUDED.entered_by, entered_at = now()"                         \
    "        WHERE (m.marks, m.status) IS DISTINCT FROM (EXCLUDED.marks, EXCLUDED.status)"     \
    "        RETURNING m.student_id, m.marks, m.status),"                                      \
    " ch AS (INSERT INTO marks_changes (school_id, exam_id, student_id, before_marks,"         \
    "        before_status, after_marks, after_status, changed_by)"                            \
    "        SELECT $1, $2, up.student_id, old.marks, old.status, up.marks, up.status, $4"     \
    "        FROM up JOIN old ON old.student_id = up.student_id RETURNING id)"                 \
    " SELECT 0 AS k, (SELECT i FROM bad), (SELECT i FROM over), (SELECT locked FROM x),"       \
    "        (SELECT count(*) FROM e), (SELECT count(*) FROM up), NULL::bigint AS change"      \
    " UNION ALL SELECT 1, NULL, NULL, NULL, NULL, NULL, id FROM ch"                            \
    " ORDER BY 1, 7"

enum { MS_KIND, MS_BAD, MS_OVER, MS_LOCKED, MS_ENTRIES, MS_WRITTEN, MS_CHANGE };

static int marks_written(struct op_ctx *op, const PGresult *res)
{
    int n = PQntuples(res);
    if (n < 1) {
        return -EIO;
    }
    if (!PQgetisnull(res, 0, MS_BAD)) {
        return op_refuse(op, OP_E_BAD_REQUEST,
                         arena_printf(&op->arena, "entries[%lld].student",
                                      (long long)dbval_get_i64(res, 0, MS_BAD) - 1),
                         "is not a student enrolled in this exam's section");
    }
    if (!PQgetisnull(res, 0, MS_OVER)) {
        return op_refuse(op, OP_E_BAD_REQUEST,
                         arena_printf(&op->arena, "entries[%lld].marks",
                                      (long long)dbval_get_i64(res, 0, MS_OVER) - 1),
                         "is above the exam's max_marks");
    }
    if (PQgetisnull(res, 0, MS_LOCKED)) {
        return op_refuse(op, OP_E_NOT_FOUND, "exam", "no such exam"); /* deleted meanwhile */
    }
    if (dbval_get_bool(res, 0, MS_LOCKED) && !is_admin(op)) {
        return op_refuse(op, OP_E_FORBIDDEN, "exam", LOCKED_MSG);
    }
    for (int r = 1; r < n; r++) {
        audit_op(op, "marks_change", dbval_get_i64(res, r, MS_CHANGE), "ok");
    }
    op_reply_fields(op, (struct op_field[]){
                            op_f_i64("entered", dbval_get_i64(res, 0, MS_ENTRIES)),
                            op_f_i64("changed", dbval_get_i64(res, 0, MS_WRITTEN)), { 0 } });
    return 0;
}

static int write_marks(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    struct exam_state *st = op->state;
    if (st->published && !is_admin(op)) {
        return op_refuse(op, OP_E_FORBIDDEN, "exam", LOCKED_MSG);
    }
    for (uint32_t i = 0; i < st->n_entries; i++) {
        if (st->marks[i] > st->max_marks) {
            char max[32];
            return op_refuse(op, OP_E_BAD_REQUEST,
                             arena_printf(&op->arena, "entries[%u].marks", i),
                             arena_printf(&op->arena, "is above the exam's max_marks (%s)",
                                          grades_fmt(st->max_marks, max, sizeof max)));
        }
    }
    op_param_id(op, op->caller.school_id);
    op_param_id(op, st->id);
    op_param_id(op, st->section);
    op_param_id(op, op->caller.user_id);
    op_param_str(op, st->students);
    op_param_str(op, st->marks_arr);
    op_param_str(op, st->statuses);
    op_param_bool(op, is_admin(op));
    return op_sql(op, &(struct op_sql){ .sql = MARKS_SQL, .on_rows = marks_written });
}

static int marks_scoped(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    struct exam_state *st = op->state;
    return scope_teaches(op, st->section, st->subject, "exam", write_marks);
}

static int op_exam_marks_set(struct op_ctx *op)
{
    struct exam_state *st = op_alloc(op, sizeof *st);
    const msgpack_object *entries = op_map_get(op->args, "entries");
    if (!entries || entries->type != MSGPACK_OBJECT_ARRAY || entries->via.array.size == 0) {
        return op_refuse(op, OP_E_BAD_REQUEST, "entries", "must have 1 to 200 entries");
    }
    uint32_t n = entries->via.array.size;
    int64_t *ids = op_alloc(op, n * sizeof *ids);
    st->marks = op_alloc(op, n * sizeof *st->marks);
    st->n_entries = n;
    struct strbuf sid, smarks, sst;
    strbuf_init(&sid);
    strbuf_init(&smarks);
    strbuf_init(&sst);
    int rc = 0;
    for (uint32_t i = 0; i < n && !rc; i++) {
        const msgpack_object *e = &entries->via.array.ptr[i];
        if (e->type != MSGPACK_OBJECT_MAP) { /* nil items pass the schema */
            rc = op_refuse(op, OP_E_BAD_REQUEST, arena_printf(&op->arena, "entries[%u]", i),
                           "must be a map");
            break;
        }
        const msgpack_object *student = op_map_get(e, "student");
        const msgpack_object *marks = op_map_get(e, "marks");
        const msgpack_object *status = op_map_get(e, "status");
        bool has_marks = marks && marks->type != MSGPACK_OBJECT_NIL;
        char stat[8] = "present";
        if (status && status->type == MSGPACK_OBJECT_STR) {
            snprintf(stat, sizeof stat, "%.*s", (int)status->via.str.size, status->via.str.ptr);
        }
        ids[i] = (int64_t)student->via.u64; /* the schema checked: a positive id */
        for (uint32_t j = 0; j < i && !rc; j++) {
            if (ids[j] == ids[i]) {
                rc = op_refuse(op, OP_E_BAD_REQUEST,
                               arena_printf(&op->arena, "entries[%u].student", i),
                               "is given twice");
            }
        }
        if (rc) {
            break;
        }
        bool present = strcmp(stat, "present") == 0;
        if (present && !has_marks) {
            rc = op_refuse(op, OP_E_BAD_REQUEST, arena_printf(&op->arena, "entries[%u].marks", i),
                           "is required when the student is present");
            break;
        }
        if (!present && has_marks) {
            rc = op_refuse(op, OP_E_BAD_REQUEST, arena_printf(&op->arena, "entries[%u].marks", i),
                           "must be left out when the student is absent or exempt");
            break;
        }
        st->marks[i] = has_marks ? grades_round2(op_num(marks)) : -1;
        strbuf_printf(&sid, "%s%lld", i ? "," : "{", (long long)ids[i]);
        if (has_marks) {
            strbuf_printf(&smarks, "%s%.2f", i ? "," : "{", st->marks[i]);
        } else {
            strbuf_printf(&smarks, "%sNULL", i ? "," : "{");
        }
        strbuf_printf(&sst, "%s%s", i ? "," : "{", stat);
    }
    if (rc) {
        strbuf_deinit(&sid);
        strbuf_deinit(&smarks);
        strbuf_deinit(&sst);
        return rc;
    }
    strbuf_append(&sid, "}", 1);
    st->students = arena_take_strbuf(&op->arena, &sid);
    strbuf_append(&smarks, "}", 1);
    st->marks_arr = arena_take_strbuf(&op->arena, &smarks);
    strbuf_append(&sst, "}", 1);
    st->statuses = arena_take_strbuf(&op->arena, &sst);
    return load_exam(op, st, "exam", marks_scoped);
}

/* --- exam.marks.get --- */

enum { MG_ID, MG_NAME, MG_ROLL_NO, MG_MARKS, MG_STATUS };

static const struct op_col marks_cols[] = {
    { .key = "student", .type = OP_COL_I64, .col = MG_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = MG_NAME },
    { .key = "roll_no", .type = OP_COL_I64, .col = MG_ROLL_NO },
    { .key = "marks", .type = OP_COL_F64, .col = MG_MARKS },
    { .key = "status", .type = OP_COL_TEXT, .col = MG_STATUS },
    { .key = NULL },
};

static int reply_marks(struct op_ctx *op, const PGresult *res)
{
    struct exam_state *st = op->state;
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 4);
    envelope_pack_key(pk, "exam");
    msgpack_pack_int64(pk, st->id);
    envelope_pack_key(pk, "max_marks");
    msgpack_pack_double(pk, st->max_marks);
    envelope_pack_key(pk, "locked");
    envelope_pack_bool(pk, st->published);
    envelope_pack_key(pk, "students");
    op_pack_rows(op, pk, res, marks_cols, -1);
    op_reply_end(op);
    return 0;
}

/* The section's enrolled students and anyone with a mark in the exam (who may have left or
 * moved since), with their mark. */
static int read_marks(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    struct exam_state *st = op->state;
    op_param_id(op, st->id);
    op_param_id(op, st->section);
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT s.id, s.name, s.roll_no, m.marks::float8, m.status FROM students s"
               " LEFT JOIN marks m ON m.student_id = s.id AND m.exam_id = $1"
               " WHERE s.school_id = $3 AND s.id IN ("
               "   SELECT id FROM students WHERE section_id = $2 AND status = 'enrolled'"
               "   UNION SELECT student_id FROM marks WHERE exam_id = $1)"
               " ORDER BY s.roll_no NULLS LAST, s.name, s.id",
        .on_rows = reply_marks });
}

static int marks_get_scoped(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    struct exam_state *st = op->state;
    return scope_check(op, SCOPE_SECTION, st->section, "exam", read_marks);
}

static int op_exam_marks_get(struct op_ctx *op)
{
    return load_exam(op, op_alloc(op, sizeof(struct exam_state)), "exam", marks_get_scoped);
}
#define STAFF (ROLE_ADMIN | ROLE_TEACHER)

/* ===== the table ===== */

static const struct op_arg CREATE_ARGS[] = {
    { .name = "section", .type = OP_T_ID, .required = OP_REQ },
    { .name = "subject", .type = OP_T_ID, .required = OP_REQ },
    { .name = "term", .type = OP_T_ID, .required = OP_REQ },
    { .name = "name", .type = OP_T_STR, .required = OP_REQ, .max = NAME_MAX_LEN },
    { .name = "max_marks", .type = OP_T_NUM, .required = OP_REQ, .lo = 0,
      .hi = MAX_MARKS_LIMIT },
    { .name = "on", .type = OP_T_STR, .max = DATE_LEN, .format = "date" },
    { .name = "weight", .type = OP_T_NUM, .lo = 0, .hi = WEIGHT_LIMIT },
    { .name = NULL },
};
static const struct op_arg LIST_ARGS[] = {
    { .name = "section", .type = OP_T_ID, .required = OP_REQ },
    { .name = "term", .type = OP_T_ID },
    { .name = NULL },
};
static const struct op_arg UPDATE_ARGS[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = "name", .type = OP_T_STR, .max = NAME_MAX_LEN },
    { .name = "max_marks", .type = OP_T_NUM, .lo = 0, .hi = MAX_MARKS_LIMIT },
    { .name = "on", .type = OP_T_STR, .max = DATE_LEN, .format = "date" },
    { .name = "weight", .type = OP_T_NUM, .lo = 0, .hi = WEIGHT_LIMIT },
    { .name = NULL },
};
static const struct op_arg ID_ARGS[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};
static const char *const MARK_STATUSES[] = { "present", "absent", "exempt", NULL };
static const struct op_arg ENTRY_FIELDS[] = {
    { .name = "student", .type = OP_T_ID, .required = OP_REQ },
    { .name = "marks", .type = OP_T_NUM, .lo = 0, .hi = MAX_MARKS_LIMIT },
    { .name = "status", .type = OP_T_ENUM, .values = MARK_STATUSES },
    { .name = NULL },
};
static const struct op_arg ENTRY_ITEM[] = {
    { .name = "entry", .type = OP_T_MAP, .required = OP_REQ, .fields = ENTRY_FIELDS },
    { .name = NULL },
};
static const struct op_arg MARKS_SET_ARGS[] = {
    { .name = "exam", .type = OP_T_ID, .required = OP_REQ },
    { .name = "entries", .type = OP_T_ARRAY, .required = OP_REQ, .max = ENTRIES_MAX,
      .items = ENTRY_ITEM },
    { .name = NULL },
};
static const struct op_arg MARKS_GET_ARGS[] = {
    { .name = "exam", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};
const struct op_def exam_ops[] = {
    { .name = "exam.create", .fn = op_exam_create, .roles = STAFF, .args = CREATE_ARGS },
    { .name = "exam.list", .fn = op_exam_list, .roles = STAFF, .args = LIST_ARGS },
    { .name = "exam.update", .fn = op_exam_update, .roles = STAFF, .args = UPDATE_ARGS },
    { .name = "exam.delete", .fn = op_exam_delete, .roles = STAFF, .args = ID_ARGS },
    { .name = "exam.marks.set", .fn = op_exam_marks_set, .roles = STAFF,
      .args = MARKS_SET_ARGS },
    { .name = "exam.marks.get", .fn = op_exam_marks_get, .roles = STAFF,
      .args = MARKS_GET_ARGS },
    { .name = NULL },
};
