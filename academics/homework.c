/* The school's records: homework.
 *
 * A teacher assigned a subject in a section (teacher_assignments), or an admin, posts homework
 * to the section: title, optional text, a due date not before today (the server's local
 * date). homework.create inserts it, and a notice (kind 'homework') for every parent of the
 * section's enrolled students, in one statement; after the reply each such parent's live
 * connections get homework.assigned with their own children of the section (the notice's
 * payload, the same map). Statuses (submitted, late, missing) are set for enrolled students of
 * the section, in one statement, by the same teachers. Staff of the section read every
 * student's status; a parent only their own children's. */
#include "academics/homework.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "academics/academics.h"
#include "academics/dates.h"
#include "academics/notices.h"
#include "academics/scope.h"
#include "core/audit.h"
#include "core/caller.h"
#include "core/dbval.h"
#include "core/envelope.h"
#include "core/msgbuf.h"
#include "core/op_db.h"
#include "core/op_pack.h"
#include "core/strbuf.h"

#define TITLE_MAX 200
#define TEXT_MAX 4000
#define ENTRIES_MAX 200
#define LIST_DEFAULT 50
#define LIST_MAX 200
#define DATE_LEN 10

static const char *const STATUSES[] = { "submitted", "late", "missing", NULL };

/* The server's local date "YYYY-MM-DD" (the school's day). */
static void local_today(char out[DATE_LEN + 1])
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    if (strftime(out, DATE_LEN + 1, "%Y-%m-%d", &tm) != DATE_LEN) {
        out[0] = '\0';
    }
}

/* May the caller ($3 user, $4 role) post to / set statuses of section sec and subject subj
 * (SQL expressions)? Admins always; a teacher assigned that subject in that section. */
#define TEACHES(sec, subj)                                                                  \
    "($4::text = 'admin' OR ($4::text = 'teacher' AND EXISTS (SELECT 1 FROM"                 \
    " teacher_assignments ta WHERE ta.teacher_id = $3 AND ta.section_id = " sec              \
    " AND ta.subject_id = " subj ")))"

/* --- homework.create --- */

/* $1 school, $2 section, $3 caller, $4 role, $5 subject, $6 title, $7 text, $8 due_on.
 * Rows: kind 0 (one: subject found in the section's class, allowed, the new id or NULL),
 * then kind 1 per parent told (user, payload). scope_teaches asked first; the statement
 * checks again, so that an assignment taken away in between writes nothing. */
#define CREATE_SQL                                                                           \
    "WITH sj AS (SELECT j.id, j.name FROM subjects j JOIN sections s ON s.class_id = j.class_id" \
    "            WHERE j.id = $5 AND j.school_id = $1 AND s.id = $2),"                        \
    " ok AS (SELECT " TEACHES("$2", "$5") " AS allowed),"                                    \
    " hw AS (INSERT INTO homework (school_id, section_id, subject_id, teacher_id, title, text," \
    "        due_on) SELECT $1, $2, sj.id, $3, $6, $7, $8::date FROM sj, ok WHERE ok.allowed" \
    "        RETURNING id),"                                                                 \
    " kids AS (SELECT g.user_id, array_agg(st.id ORDER BY st.id) AS students"                \
    "        FROM students st JOIN guardians g ON g.student_id = st.id"                      \
    "        WHERE st.school_id = $1 AND st.section_id = $2 AND st.status = 'enrolled'"       \
    "        GROUP BY g.user_id),"                                                           \
    " nt AS (INSERT INTO notices (school_id, user_id, kind, payload)"                        \
    "        SELECT $1, kids.user_id, 'homework', jsonb_build_object('homework', hw.id,"      \
    "          'section', $2::bigint, 'subject', jsonb_build_object('id', sj.id, 'name', sj.name)," \
    "          'title', $6::text, 'due_on', $8::text, 'students', to_jsonb(kids.students))"  \
    "        FROM hw, sj, kids RETURNING user_id, payload)"                                  \
    " SELECT 0 AS k, EXISTS (SELECT 1 FROM sj), (SELECT allowed FROM ok),"                   \
    "        (SELECT id FROM hw), NULL::bigint, NULL::jsonb"                                 \
    " UNION ALL SELECT 1, NULL, NULL, NULL, user_id, payload FROM nt ORDER BY 1, 5"

enum { CR_KIND, CR_SUBJECT, CR_ALLOWED, CR_ID, CR_USER, CR_PAYLOAD };

static struct msgbuf *assigned_event(const PGresult *res, int row)
{
    struct envelope_writer w;
    envelope_begin_event(&w, "homework.assigned");
    notices_pack_json(&w.pk, PQgetvalue(res, row, CR_PAYLOAD),
                      (size_t)PQgetlength(res, row, CR_PAYLOAD));
    return envelope_finish(&w);
}

static int created(struct op_ctx *op, const PGresult *res)
{
    int n = PQntuples(res);
    if (n < 1) {
        return -EIO;
    }
    if (!dbval_get_bool(res, 0, CR_SUBJECT)) {
        return op_refuse(op, OP_E_NOT_FOUND, "subject", "no such subject in this section's class");
    }
    if (!dbval_get_bool(res, 0, CR_ALLOWED) || PQgetisnull(res, 0, CR_ID)) {
        return op_refuse(op, OP_E_FORBIDDEN, "subject",
                         "you do not teach this subject in this section");
    }
    int64_t id = dbval_get_i64(res, 0, CR_ID);
    struct notices_outbox out;
    notices_outbox_init(&out, ((struct academics *)op->domain)->presence);
    for (int r = 1; r < n; r++) {
        struct msgbuf *m = assigned_event(res, r); /* each parent's own children */
        notices_outbox_add(&out, dbval_get_i64(res, r, CR_USER), m);
        msgbuf_unref(m);
    }
    audit_op(op, "homework", id, "ok");
    op_reply_fields(op, (struct op_field[]){ op_f_i64("id", id), { 0 } });
    notices_outbox_send(&out); /* op is freed: tell the parents who are online now */
    return 0;
}

static int create_homework(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    op_param_id(op, op->caller.school_id);
    op_param_id(op, op_get_id(op, "section"));
    op_param_id(op, op->caller.user_id);
    op_param_str(op, role_name(op->caller.role));
    op_param_id(op, op_get_id(op, "subject"));
    op_param_arg(op, "title");
    op_param_arg(op, "text");
    op_param_arg(op, "due_on");
    return op_sql(op, &(struct op_sql){ .sql = CREATE_SQL, .on_rows = created });
}

static int op_homework_create(struct op_ctx *op)
{
    int r = dates_check(op, "due_on");
    if (r) {
        return r;
    }
    char today[DATE_LEN + 1];
    local_today(today);
    if (strcmp(op_get_str(op, "due_on"), today) < 0) {
        return op_refuse(op, OP_E_BAD_REQUEST, "due_on", "must not be before today");
    }
    return scope_teaches(op, op_get_id(op, "section"), op_get_id(op, "subject"), "subject",
                         create_homework);
}

/* --- homework.list --- */

enum { HL_ID, HL_SECTION, HL_SUBJ_ID, HL_SUBJ_NAME, HL_TITLE, HL_TEXT, HL_DUE, HL_AT, HL_T_ID,
       HL_T_NAME, HL_STATUS };

static const struct op_col subject_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = HL_SUBJ_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = HL_SUBJ_NAME },
    { .key = NULL },
};

static const struct op_col teacher_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = HL_T_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = HL_T_NAME },
    { .key = NULL },
};

#define ITEM_COLS                                                                            \
    { .key = "id", .type = OP_COL_I64, .col = HL_ID },                                      \
    { .key = "section", .type = OP_COL_I64, .col = HL_SECTION },                            \
    { .key = "subject", .type = OP_COL_OBJECT, .col = HL_SUBJ_ID, .fields = subject_cols }, \
    { .key = "title", .type = OP_COL_TEXT, .col = HL_TITLE },                               \
    { .key = "text", .type = OP_COL_TEXT, .col = HL_TEXT },                                 \
    { .key = "due_on", .type = OP_COL_TEXT, .col = HL_DUE },                                \
    { .key = "created_at", .type = OP_COL_I64, .col = HL_AT },                              \
    { .key = "teacher", .type = OP_COL_OBJECT, .col = HL_T_ID, .fields = teacher_cols }

static const struct op_col section_item_cols[] = { ITEM_COLS, { .key = NULL } };

static const struct op_col student_item_cols[] = {
    ITEM_COLS,
    { .key = "status", .type = OP_COL_TEXT, .col = HL_STATUS },
    { .key = NULL },
};

#define ITEM_SELECT                                                                          \
    "SELECT h.id, h.section_id, j.id, j.name, h.title, h.text, h.due_on::text,"              \
    " (extract(epoch FROM h.created_at) * 1000)::bigint, h.teacher_id, u.name"

#define ITEM_FROM                                                                            \
    " FROM homework h JOIN subjects j ON j.id = h.subject_id"                                \
    " LEFT JOIN users u ON u.id = h.teacher_id"

/* Newest first; after: the last id of the previous page. */
static int list_section(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    op_param_id(op, op_get_id(op, "section"));
    op_param_i64(op, op_get_int(op, "after", 0));
    op_param_i64(op, op_get_int(op, "limit", LIST_DEFAULT));
    return op_sql(op, &(struct op_sql){
        .sql = ITEM_SELECT ITEM_FROM
               " WHERE h.section_id = $1 AND ($2::bigint = 0 OR h.id < $2::bigint) ORDER BY h.id DESC LIMIT $3",
        .reply_rows = section_item_cols });
}

/* The student's section's homework, and any other with a status of theirs (a section they
 * left), with their status. */
static int list_student(struct op_ctx *op, const PGresult *res)
{
    int64_t section = PQgetisnull(res, 0, 2) ? 0 : dbval_get_i64(res, 0, 2);
    op_param_id(op, op_get_id(op, "student"));
    op_param_i64(op, section);
    op_param_i64(op, op_get_int(op, "after", 0));
    op_param_i64(op, op_get_int(op, "limit", LIST_DEFAULT));
    return op_sql(op, &(struct op_sql){
        .sql = ITEM_SELECT ", hs.status" ITEM_FROM
               " LEFT JOIN homework_status hs ON hs.homework_id = h.id AND hs.student_id = $1"
               " WHERE (h.section_id = $2::bigint OR hs.student_id IS NOT NULL)"
               " AND ($3::bigint = 0 OR h.id < $3::bigint) ORDER BY h.id DESC LIMIT $4",
        .reply_rows = student_item_cols });
}

static int op_homework_list(struct op_ctx *op)
{
    bool section = op_has_arg(op, "section"), student = op_has_arg(op, "student");
    if (section == student) {
        return op_refuse(op, OP_E_BAD_REQUEST, "section", "give a section or a student");
    }
    if (section) {
        return scope_check(op, SCOPE_SECTION, op_get_id(op, "section"), "section", list_section);
    }
    return scope_check(op, SCOPE_STUDENT, op_get_id(op, "student"), "student", list_student);
}

/* --- homework.get --- */

/* $1 homework, $2 school, $3 caller, $4 role. One row per student shown (or one with NULL
 * student columns): the item, allowed, then the student. Staff of the section see every
 * enrolled student and anyone with a status; a parent only their own children among them. */
#define GET_SQL                                                                              \
    "WITH h AS (" ITEM_SELECT ", $4::text = 'admin'"                                         \
    "     OR ($4::text = 'teacher' AND h.section_id IN " SCOPE_TEACHER_SECTIONS("$3") ")"     \
    "     OR ($4::text = 'parent' AND EXISTS (SELECT 1 FROM guardians g"                      \
    "         JOIN students s ON s.id = g.student_id WHERE g.user_id = $3"                   \
    "         AND ((s.section_id = h.section_id AND s.status = 'enrolled') OR EXISTS"         \
    "          (SELECT 1 FROM homework_status x WHERE x.homework_id = h.id"                  \
    "           AND x.student_id = s.id)))) AS allowed" ITEM_FROM                           \
    "     WHERE h.id = $1 AND h.school_id = $2),"                                            \
    " st AS (SELECT s.id, s.name, s.roll_no, hs.status FROM students s"                      \
    "     LEFT JOIN homework_status hs ON hs.homework_id = $1 AND hs.student_id = s.id"       \
    "     WHERE s.school_id = $2 AND ((s.section_id = (SELECT section_id FROM h)"             \
    "     AND s.status = 'enrolled') OR hs.student_id IS NOT NULL)"                           \
    "     AND ($4::text <> 'parent' OR EXISTS (SELECT 1 FROM guardians g"                     \
    "         WHERE g.user_id = $3 AND g.student_id = s.id)))"                               \
    " SELECT h.*, st.* FROM h LEFT JOIN st ON true"                                          \
    " ORDER BY st.roll_no NULLS LAST, st.name, st.id"

enum { HG_ALLOWED = HL_T_NAME + 1, HG_S_ID, HG_S_NAME, HG_S_ROLL, HG_S_STATUS };

static const struct op_col get_student_cols[] = {
    { .key = "student", .type = OP_COL_I64, .col = HG_S_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = HG_S_NAME },
    { .key = "roll_no", .type = OP_COL_I64, .col = HG_S_ROLL },
    { .key = "status", .type = OP_COL_TEXT, .col = HG_S_STATUS },
    { .key = NULL },
};

static void pack_students(struct op_ctx *op, msgpack_packer *pk, const PGresult *res, int row,
                          int col)
{
    (void)row;
    (void)col;
    op_pack_rows(op, pk, res, get_student_cols, HG_S_ID);
}

static const struct op_col get_cols[] = {
    ITEM_COLS,
    { .key = "students", .type = OP_COL_FN, .col = HG_S_ID, .fn = pack_students },
    { .key = NULL },
};

static int got(struct op_ctx *op, const PGresult *res)
{
    if (!dbval_get_bool(res, 0, HG_ALLOWED)) {
        return op_refuse(op, OP_E_FORBIDDEN, "id", "this homework is not for you");
    }
    op_reply_row(op, res, 0, get_cols);
    return 0;
}

static int op_homework_get(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.school_id);
    op_param_id(op, op->caller.user_id);
    op_param_str(op, role_name(op->caller.role));
    return op_sql(op, &(struct op_sql){ .sql = GET_SQL, .on_rows = got,
                                        .not_found = "no such homework",
                                        .not_found_field = "id" });
}

/* --- homework.status.set --- */

/* $1 school, $2 homework, $3 caller, $4 role, $5 students, $6 statuses. One row: found,
 * allowed, the first entry (1-based) whose student is not enrolled in the section (or NULL),
 * rows changed. Nothing is written unless found, allowed and every student is enrolled. */
#define STATUS_SQL                                                                           \
    "WITH h AS (SELECT id, section_id, subject_id FROM homework WHERE id = $2"                \
    "           AND school_id = $1),"                                                        \
    " ok AS (SELECT " TEACHES("h.section_id", "h.subject_id") " AS allowed FROM h),"          \
    " e AS (SELECT u.student, u.status, u.i FROM unnest($5::bigint[], $6::text[])"            \
    "       WITH ORDINALITY AS u(student, status, i)),"                                      \
    " bad AS (SELECT min(e.i) AS i FROM e WHERE NOT EXISTS (SELECT 1 FROM students s"        \
    "         WHERE s.id = e.student AND s.school_id = $1"                                   \
    "         AND s.section_id = (SELECT section_id FROM h) AND s.status = 'enrolled')),"     \
    " up AS (INSERT INTO homework_status AS hs (homework_id, student_id, status, set_by)"     \
    "        SELECT h.id, e.student, e.status, $3 FROM h, ok, e"                             \
    "        WHERE ok.allowed AND (SELECT i FROM bad) IS NULL"                               \
    "        ON CONFLICT (homework_id, student_id) DO UPDATE"                                \
    "        SET status = EXCLUDED.status, set_by = EXCLUDED.set_by, set_at = now()"          \
    "        WHERE hs.status IS DISTINCT FROM EXCLUDED.status RETURNING 1)"                  \
    " SELECT EXISTS (SELECT 1 FROM h), coalesce((SELECT allowed FROM ok), false),"          \
    "        (SELECT i FROM bad), (SELECT count(*) FROM up)"

static int status_set(struct op_ctx *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        return -EIO;
    }
    if (!dbval_get_bool(res, 0, 0)) {
        return op_refuse(op, OP_E_NOT_FOUND, "homework", "no such homework");
    }
    if (!dbval_get_bool(res, 0, 1)) {
        return op_refuse(op, OP_E_FORBIDDEN, "homework",
                         "you do not teach this subject in this section");
    }
    if (!PQgetisnull(res, 0, 2)) {
        int64_t i = dbval_get_i64(res, 0, 2) - 1;
        return op_refuse(op, OP_E_BAD_REQUEST,
                         arena_printf(&op->arena, "entries[%lld].student", (long long)i),
                         "is not a student enrolled in this section");
    }
    int64_t changed = dbval_get_i64(res, 0, 3);
    if (changed > 0) {
        audit_op(op, "homework", op_get_id(op, "homework"), "ok");
    }
    op_reply_fields(op, (struct op_field[]){ op_f_i64("changed", changed), { 0 } });
    return 0;
}

static int op_homework_status_set(struct op_ctx *op)
{
    const msgpack_object *entries = op_map_get(op->args, "entries");
    if (!entries || entries->type != MSGPACK_OBJECT_ARRAY || entries->via.array.size == 0) {
        return op_refuse(op, OP_E_BAD_REQUEST, "entries", "must have 1 to 200 entries");
    }
    uint32_t n = entries->via.array.size;
    int64_t *ids = op_alloc(op, n * sizeof *ids);
    struct strbuf sid, sst;
    strbuf_init(&sid);
    strbuf_init(&sst);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *e = &entries->via.array.ptr[i];
        const char *why = NULL, *field = NULL;
        if (e->type != MSGPACK_OBJECT_MAP) { /* nil items pass the schema */
            field = arena_printf(&op->arena, "entries[%u]", i);
            why = "must be a map";
        } else {
            ids[i] = (int64_t)op_map_get(e, "student")->via.u64; /* the schema checked */
            for (uint32_t j = 0; j < i && !why; j++) {
                if (ids[j] == ids[i]) {
                    field = arena_printf(&op->arena, "entries[%u].student", i);
                    why = "is given twice";
                }
            }
        }
        if (why) {
            strbuf_deinit(&sid);
            strbuf_deinit(&sst);
            return op_refuse(op, OP_E_BAD_REQUEST, field, why);
        }
        const msgpack_object *status = op_map_get(e, "status");
        strbuf_printf(&sid, "%s%lld", i ? "," : "{", (long long)ids[i]);
        strbuf_append(&sst, i ? "," : "{", 1);
        strbuf_append(&sst, status->via.str.ptr, status->via.str.size); /* an enum value */
    }
    strbuf_append(&sid, "}", 1);
    strbuf_append(&sst, "}", 1);
    op_param_id(op, op->caller.school_id);
    op_param_id(op, op_get_id(op, "homework"));
    op_param_id(op, op->caller.user_id);
    op_param_str(op, role_name(op->caller.role));
    op_param_str(op, sid.data);
    op_param_str(op, sst.data);
    strbuf_deinit(&sid);
    strbuf_deinit(&sst);
    return op_sql(op, &(struct op_sql){ .sql = STATUS_SQL, .on_rows = status_set });
}

/* --- homework.delete --- */

static int deleted(struct op_ctx *op, const PGresult *res)
{
    if (!dbval_get_bool(res, 0, 0)) {
        return op_refuse(op, OP_E_FORBIDDEN, "id", "this homework is another teacher's");
    }
    audit_op(op, "homework", op_get_id(op, "id"), "ok");
    op_reply_fields(op, (struct op_field[]){ { 0 } });
    return 0;
}

/* Statuses go with it (ON DELETE CASCADE); parents' notices of it stay until purged. */
static int op_homework_delete(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.school_id);
    op_param_id(op, op->caller.user_id);
    op_param_str(op, role_name(op->caller.role));
    return op_sql(op, &(struct op_sql){
        .sql = "WITH h AS (SELECT id, $4::text = 'admin' OR teacher_id = $3 AS allowed"
               "           FROM homework WHERE id = $1 AND school_id = $2),"
               " d AS (DELETE FROM homework WHERE id IN (SELECT id FROM h WHERE allowed)"
               "       RETURNING id)"
               " SELECT EXISTS (SELECT 1 FROM d) FROM h",
        .on_rows = deleted, .not_found = "no such homework", .not_found_field = "id" });
}

/* --- the table --- */

static const struct op_arg CREATE_ARGS[] = {
    { .name = "section", .type = OP_T_ID, .required = OP_REQ },
    { .name = "subject", .type = OP_T_ID, .required = OP_REQ },
    { .name = "title", .type = OP_T_STR, .required = OP_REQ, .max = TITLE_MAX },
    { .name = "text", .type = OP_T_STR, .max = TEXT_MAX },
    { .name = "due_on", .type = OP_T_STR, .required = OP_REQ, .max = DATE_LEN,
      .format = "date" },
    { .name = NULL },
};

static const struct op_arg LIST_ARGS[] = {
    { .name = "section", .type = OP_T_ID },
    { .name = "student", .type = OP_T_ID },
    { .name = "after", .type = OP_T_ID },
    { .name = "limit", .type = OP_T_INT, .min = 1, .max = LIST_MAX },
    { .name = NULL },
};

static const struct op_arg ID_ARGS[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

static const struct op_arg ENTRY_FIELDS[] = {
    { .name = "student", .type = OP_T_ID, .required = OP_REQ },
    { .name = "status", .type = OP_T_ENUM, .required = OP_REQ, .values = STATUSES },
    { .name = NULL },
};

static const struct op_arg ENTRY[] = {
    { .name = "entry", .type = OP_T_MAP, .required = OP_REQ, .fields = ENTRY_FIELDS },
    { .name = NULL },
};

static const struct op_arg STATUS_ARGS[] = {
    { .name = "homework", .type = OP_T_ID, .required = OP_REQ },
    { .name = "entries", .type = OP_T_ARRAY, .required = OP_REQ, .max = ENTRIES_MAX,
      .items = ENTRY },
    { .name = NULL },
};

const struct op_def homework_ops[] = {
    { .name = "homework.create", .fn = op_homework_create, .roles = ROLE_ADMIN | ROLE_TEACHER,
      .args = CREATE_ARGS },
    { .name = "homework.list", .fn = op_homework_list,
      .roles = ROLE_ADMIN | ROLE_TEACHER | ROLE_PARENT, .args = LIST_ARGS },
    { .name = "homework.get", .fn = op_homework_get,
      .roles = ROLE_ADMIN | ROLE_TEACHER | ROLE_PARENT, .args = ID_ARGS },
    { .name = "homework.status.set", .fn = op_homework_status_set,
      .roles = ROLE_ADMIN | ROLE_TEACHER, .args = STATUS_ARGS },
    { .name = "homework.delete", .fn = op_homework_delete, .roles = ROLE_ADMIN | ROLE_TEACHER,
      .args = ID_ARGS },
    { .name = NULL },
};
