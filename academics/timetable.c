/* The school's records: the bell schedule, sections' timetables and calendar export.
 * The bell schedule is the school's numbered periods with their times, per weekday (ISO:
 * 1 = Monday). A section's timetable gives each period of its week a subject of its class, a
 * teacher assigned to that section and subject, and optionally a room. A teacher and a room
 * are in one place per period of a year: timetable.set checks it and names what clashes, and
 * unique indexes (sql/0008) keep two admins racing from double-booking. The views answer a
 * section's week, a teacher's week and a child's week; calendar tokens let a teacher or a
 * parent subscribe to theirs (GET /v1/calendar/<token>.ics, gateway/calendar_http.c). */
#include "academics/timetable.h"

#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "academics/scope.h"
#include "core/audit.h"
#include "core/crypto.h"
#include "core/dbval.h"
#include "core/op_db.h"
#include "core/op_pack.h"

#define PERIODS_MAX 16
#define PERIOD_NAME_MAX 32
#define ROOM_MAX 32
#define TIME_LEN 5 /* HH:MM */
#define HASH_HEX (2 * CRYPTO_HASH_BYTES + 3)

/* Minutes since midnight of "HH:MM" (len bytes), or -1. */
static int parse_hhmm(const char *s, size_t len)
{
    if (len != TIME_LEN || s[2] != ':') {
        return -1;
    }
    for (int i = 0; i < TIME_LEN; i++) {
        if (i != 2 && (s[i] < '0' || s[i] > '9')) {
            return -1;
        }
    }
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    return h < 24 && m < 60 ? h * 60 + m : -1;
}

/* --- timetable.bells.set --- */

struct bell {
    int period, starts, ends;
    const char *name; /* NULL: none */
};

/* One element of a text[] literal: NULL, or quoted with '"' and '\' escaped. */
static const char *array_text(struct op_ctx *op, const char *s)
{
    if (!s) {
        return "NULL";
    }
    char *q = op_alloc(op, 2 * strlen(s) + 3), *p = q;
    *p++ = '"';
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            *p++ = '\\';
        }
        *p++ = *s;
    }
    *p = '"';
    return q;
}

static const char *str_of(struct op_ctx *op, const msgpack_object *v)
{
    return v && v->type == MSGPACK_OBJECT_STR
               ? arena_strndup(&op->arena, v->via.str.ptr, v->via.str.size)
               : NULL;
}

/* Reads and checks periods[i]; the schema has checked the types and bounds of its fields. */
static int read_bell(struct op_ctx *op, uint32_t i, const msgpack_object *item, struct bell *b)
{
    if (item->type != MSGPACK_OBJECT_MAP) {
        return op_refuse(op, OP_E_BAD_REQUEST, arena_printf(&op->arena, "periods[%u]", i),
                         "must be a map {period, starts, ends, name?}");
    }
    const msgpack_object *p = op_map_get(item, "period");
    b->period = p && p->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? (int)p->via.u64 : 0;
    const char *starts = str_of(op, op_map_get(item, "starts"));
    const char *ends = str_of(op, op_map_get(item, "ends"));
    b->name = str_of(op, op_map_get(item, "name"));
    b->starts = starts ? parse_hhmm(starts, strlen(starts)) : -1;
    b->ends = ends ? parse_hhmm(ends, strlen(ends)) : -1;
    if (b->starts < 0) {
        return op_refuse(op, OP_E_BAD_REQUEST,
                         arena_printf(&op->arena, "periods[%u].starts", i),
                         "must be a time HH:MM");
    }
    if (b->ends < 0) {
        return op_refuse(op, OP_E_BAD_REQUEST, arena_printf(&op->arena, "periods[%u].ends", i),
                         "must be a time HH:MM");
    }
    if (b->ends <= b->starts) {
        return op_refuse(op, OP_E_BAD_REQUEST, arena_printf(&op->arena, "periods[%u].ends", i),
                         "must be after starts");
    }
    return 0;
}

/* The weekday's periods are replaced in one statement: the insert waits for the delete
 * through its WHERE, so the old (school, weekday, period) keys are gone first. */
#define BELLS_SET_SQL                                                                        \
    "WITH del AS (DELETE FROM bell_periods WHERE school_id = $1 AND weekday = $2"            \
    "             RETURNING 1),"                                                             \
    " ins AS (INSERT INTO bell_periods (school_id, weekday, period, starts, ends, name)"     \
    "         SELECT $1, $2, t.p, t.s, t.e, t.n"                                             \
    "         FROM unnest($3::smallint[], $4::time[], $5::time[], $6::text[])"               \
    "              AS t(p, s, e, n)"                                                         \
    "         WHERE (SELECT count(*) FROM del) >= 0 RETURNING 1)"                            \
    " SELECT count(*) FROM ins"

/* Two replacements of one weekday at once: the second's snapshot predates the first's rows,
 * so its own collide; run again, the last one wins, as one at a time would. */
static const struct op_db_error BELLS_ERRORS[] = {
    { .cond = OP_DB_UNIQUE, .retry = true },
    { .cond = OP_DB_RACE, .retry = true },
    { .cond = 0 },
};

static int op_bells_set(struct op_ctx *op)
{
    int64_t weekday = op_get_int(op, "weekday", 0);
    const msgpack_object *periods = op_map_get(op->args, "periods");
    uint32_t n = periods->via.array.size;
    struct bell *b = op_alloc(op, (n ? n : 1) * sizeof *b);
    for (uint32_t i = 0; i < n; i++) {
        int r = read_bell(op, i, &periods->via.array.ptr[i], &b[i]);
        if (r) {
            return r;
        }
        for (uint32_t j = 0; j < i; j++) {
            if (b[j].period == b[i].period) {
                return op_refuse(op, OP_E_BAD_REQUEST,
                                 arena_printf(&op->arena, "periods[%u].period", i),
                                 arena_printf(&op->arena, "period %d is given twice",
                                              b[i].period));
            }
            if (b[i].starts < b[j].ends && b[j].starts < b[i].ends) {
                return op_refuse(op, OP_E_BAD_REQUEST,
                                 arena_printf(&op->arena, "periods[%u].starts", i),
                                 arena_printf(&op->arena, "overlaps period %d (periods[%u])",
                                              b[j].period, j));
            }
        }
    }
    struct strbuf ps, ss, es, ns;
    strbuf_init(&ps), strbuf_init(&ss), strbuf_init(&es), strbuf_init(&ns);
    for (uint32_t i = 0; i < n; i++) {
        const char *sep = i ? "," : "";
        strbuf_printf(&ps, "%s%d", sep, b[i].period);
        strbuf_printf(&ss, "%s%02d:%02d", sep, b[i].starts / 60, b[i].starts % 60);
        strbuf_printf(&es, "%s%02d:%02d", sep, b[i].ends / 60, b[i].ends % 60);
        strbuf_printf(&ns, "%s%s", sep, array_text(op, b[i].name));
    }
    op_param_id(op, op->caller.school_id);
    op_param_i64(op, weekday);
    struct strbuf *lists[] = { &ps, &ss, &es, &ns };
    for (size_t k = 0; k < 4; k++) {
        op_param_str(op, arena_printf(&op->arena, "{%s}", lists[k]->data ? lists[k]->data : ""));
        strbuf_deinit(lists[k]);
    }
    return op_sql(op, &(struct op_sql){ .sql = BELLS_SET_SQL, .errors = BELLS_ERRORS,
                                        .audit = "bell_schedule", .audit_id = weekday });
}

/* --- timetable.bells.list --- */

static const struct op_col BELL_COLS[] = {
    { .key = "weekday", .type = OP_COL_I64, .col = 0 },
    { .key = "period", .type = OP_COL_I64, .col = 1 },
    { .key = "starts", .type = OP_COL_TEXT, .col = 2 },
    { .key = "ends", .type = OP_COL_TEXT, .col = 3 },
    { .key = "name", .type = OP_COL_TEXT, .col = 4 },
    { .key = NULL },
};

static int op_bells_list(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
                          .sql = "SELECT weekday, period, to_char(starts, 'HH24:MI'),"
                                 " to_char(ends, 'HH24:MI'), name FROM bell_periods"
                                 " WHERE school_id = $1 ORDER BY weekday, period",
                          .reply_rows = BELL_COLS });
}

/* --- timetable.set --- */

/* One row: what exists and what clashes, and the slot's id when it was written. */
enum {
    SET_SECTION,
    SET_SUBJECT,
    SET_SAME_CLASS,
    SET_TEACHER,
    SET_BELL,
    SET_ASSIGNED,
    SET_TEACHER_CLASH,
    SET_ROOM_CLASH,
    SET_ID
};
#define SLOT_CLASH(cond)                                                                     \
    "(SELECT c.name || ' ' || s.name AS label FROM timetable_slots t"                        \
    " JOIN sections s ON s.id = t.section_id JOIN classes c ON c.id = s.class_id"            \
    " WHERE t.year_id IN (SELECT year_id FROM sec) AND " cond                                \
    " AND t.weekday = $3 AND t.period = $4 AND t.section_id <> $1 LIMIT 1)"
#define TIMETABLE_SET_SQL                                                                    \
    "WITH sec AS (SELECT id, year_id, class_id FROM sections WHERE id = $1 AND school_id = $2),"\
    " subj AS (SELECT class_id FROM subjects WHERE id = $5 AND school_id = $2),"             \
    " tch AS (SELECT id FROM users WHERE id = $6 AND school_id = $2 AND role = 'teacher'"     \
    "         AND active),"                                                                  \
    " bell AS (SELECT 1 FROM bell_periods WHERE school_id = $2 AND weekday = $3"             \
    "          AND period = $4),"                                                            \
    " asg AS (SELECT 1 FROM teacher_assignments WHERE teacher_id = $6 AND section_id = $1"   \
    "         AND subject_id = $5),"                                                         \
    " tclash AS " SLOT_CLASH("t.teacher_id = $6") ","                                        \
    " rclash AS " SLOT_CLASH("t.room = $7::text") ","                                        \
    " ok AS (SELECT EXISTS (SELECT 1 FROM sec) AND EXISTS (SELECT 1 FROM tch)"               \
    "        AND EXISTS (SELECT 1 FROM bell) AND EXISTS (SELECT 1 FROM asg)"                 \
    "        AND (SELECT class_id FROM subj) = (SELECT class_id FROM sec)"                   \
    "        AND NOT EXISTS (SELECT 1 FROM tclash) AND NOT EXISTS (SELECT 1 FROM rclash)"    \
    "        AS go),"                                                                        \
    " ins AS (INSERT INTO timetable_slots (school_id, year_id, section_id, weekday, period," \
    "         subject_id, teacher_id, room)"                                                 \
    "         SELECT $2, sec.year_id, $1, $3, $4, $5, $6, $7 FROM sec"                       \
    "         WHERE (SELECT go FROM ok)"                                                     \
    "         ON CONFLICT (section_id, weekday, period) DO UPDATE"                           \
    "         SET subject_id = EXCLUDED.subject_id, teacher_id = EXCLUDED.teacher_id,"       \
    "             room = EXCLUDED.room, updated_at = now()"                                  \
    "         RETURNING id)"                                                                 \
    " SELECT EXISTS (SELECT 1 FROM sec), EXISTS (SELECT 1 FROM subj),"                       \
    " coalesce((SELECT class_id FROM subj) = (SELECT class_id FROM sec), false),"            \
    " EXISTS (SELECT 1 FROM tch), EXISTS (SELECT 1 FROM bell), EXISTS (SELECT 1 FROM asg),"  \
    " (SELECT label FROM tclash), (SELECT label FROM rclash), (SELECT id FROM ins)"

#define TEACHER_BUSY "the teacher teaches another section at this period"
#define ROOM_BUSY "the room is used by another section at this period"

/* Another admin booked the same teacher or room between the checks and the insert. */
static const struct op_db_error SET_ERRORS[] = {
    { .cond = OP_DB_UNIQUE, .constraint = "timetable_teacher_slot", .code = OP_E_CONFLICT,
      .field = "teacher", .message = TEACHER_BUSY, .audit = "timetable_slot" },
    { .cond = OP_DB_UNIQUE, .constraint = "timetable_room_slot", .code = OP_E_CONFLICT,
      .field = "room", .message = ROOM_BUSY, .audit = "timetable_slot" },
    { .cond = OP_DB_FOREIGN_KEY, .code = OP_E_NOT_FOUND, .field = "section",
      .message = "the section or subject was deleted meanwhile" },
    { .cond = OP_DB_RACE, .retry = true },
    { .cond = 0 },
};

static int slot_set(struct op_ctx *op, const PGresult *res)
{
    if (!dbval_get_bool(res, 0, SET_SECTION)) {
        return op_refuse(op, OP_E_NOT_FOUND, "section", "no such section");
    }
    if (!dbval_get_bool(res, 0, SET_SUBJECT)) {
        return op_refuse(op, OP_E_NOT_FOUND, "subject", "no such subject");
    }
    if (!dbval_get_bool(res, 0, SET_SAME_CLASS)) {
        return op_refuse(op, OP_E_BAD_REQUEST, "subject",
                         "is a subject of another class than the section's");
    }
    if (!dbval_get_bool(res, 0, SET_TEACHER)) {
        return op_refuse(op, OP_E_NOT_FOUND, "teacher", "no such teacher");
    }
    if (!dbval_get_bool(res, 0, SET_BELL)) {
        return op_refuse(op, OP_E_NOT_FOUND, "period",
                         "no such period in the bell schedule of this weekday");
    }
    const char *msg = NULL, *field = NULL;
    if (!dbval_get_bool(res, 0, SET_ASSIGNED)) {
        field = "teacher", msg = "not assigned to this section and subject";
    } else if (!PQgetisnull(res, 0, SET_TEACHER_CLASH)) {
        field = "teacher",
        msg = arena_printf(&op->arena, "the teacher teaches %s at this period",
                           PQgetvalue(res, 0, SET_TEACHER_CLASH));
    } else if (!PQgetisnull(res, 0, SET_ROOM_CLASH)) {
        field = "room", msg = arena_printf(&op->arena, "the room is used by %s at this period",
                                           PQgetvalue(res, 0, SET_ROOM_CLASH));
    }
    if (msg) {
        audit_op(op, "timetable_slot", 0, "conflict");
        return op_refuse(op, OP_E_CONFLICT, field, msg);
    }
    if (PQgetisnull(res, 0, SET_ID)) {
        return -EIO; /* every check passed, so the row was written */
    }
    int64_t id = dbval_get_i64(res, 0, SET_ID);
    audit_op(op, "timetable_slot", id, "ok");
    op_reply_id(op, id);
    return 0;
}

static int op_timetable_set(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "section"));
    op_param_id(op, op->caller.school_id);
    op_param_i64(op, op_get_int(op, "weekday", 0));
    op_param_i64(op, op_get_int(op, "period", 0));
    op_param_id(op, op_get_id(op, "subject"));
    op_param_id(op, op_get_id(op, "teacher"));
    op_param_arg(op, "room");
    /* slot_set audits what it answers; the error table audits the races. */
    return op_sql(op, &(struct op_sql){ .sql = TIMETABLE_SET_SQL, .on_rows = slot_set,
                                        .errors = SET_ERRORS });
}

/* --- timetable.clear --- */

static int op_timetable_clear(struct op_ctx *op)
{
    int64_t section = op_get_id(op, "section");
    op_param_id(op, section);
    op_param_id(op, op->caller.school_id);
    op_param_i64(op, op_get_int(op, "weekday", 0));
    op_param_i64(op, op_get_int(op, "period", 0));
    return op_sql(op, &(struct op_sql){
                          .sql = "WITH sec AS (SELECT id FROM sections"
                                 "             WHERE id = $1 AND school_id = $2),"
                                 " d AS (DELETE FROM timetable_slots WHERE section_id IN"
                                 "       (SELECT id FROM sec) AND weekday = $3 AND period = $4"
                                 "       RETURNING id)"
                                 " SELECT (SELECT count(*) FROM d) FROM sec",
                          .not_found = "no such section", .not_found_field = "section",
                          .audit = "timetable_slot", .audit_id = section });
}

/* --- The views --- */

enum {
    V_WEEKDAY, V_PERIOD, V_STARTS, V_ENDS, V_SUBJECT_ID, V_SUBJECT, V_TEACHER_ID, V_TEACHER,
    V_SECTION_ID, V_SECTION, V_CLASS_ID, V_CLASS, V_ROOM
};
#define VIEW_SQL(where)                                                                      \
    "SELECT t.weekday, t.period, to_char(b.starts, 'HH24:MI'), to_char(b.ends, 'HH24:MI'),"  \
    " j.id, j.name, u.id, u.name, s.id, s.name, c.id, c.name, t.room"                        \
    " FROM timetable_slots t JOIN subjects j ON j.id = t.subject_id"                         \
    " JOIN users u ON u.id = t.teacher_id JOIN sections s ON s.id = t.section_id"            \
    " JOIN classes c ON c.id = s.class_id"                                                   \
    " LEFT JOIN bell_periods b ON b.school_id = t.school_id AND b.weekday = t.weekday"       \
    "   AND b.period = t.period"                                                             \
    " WHERE t.school_id = $2 AND " where " ORDER BY t.weekday, t.period"

static const struct op_col ID_NAME_SUBJECT[] = {
    { .key = "id", .type = OP_COL_I64, .col = V_SUBJECT_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = V_SUBJECT },
    { .key = NULL },
};
static const struct op_col ID_NAME_TEACHER[] = {
    { .key = "id", .type = OP_COL_I64, .col = V_TEACHER_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = V_TEACHER },
    { .key = NULL },
};
static const struct op_col ID_NAME_CLASS[] = {
    { .key = "id", .type = OP_COL_I64, .col = V_CLASS_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = V_CLASS },
    { .key = NULL },
};
static const struct op_col SECTION_FIELDS[] = {
    { .key = "id", .type = OP_COL_I64, .col = V_SECTION_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = V_SECTION },
    { .key = "class", .type = OP_COL_OBJECT, .col = V_CLASS_ID, .fields = ID_NAME_CLASS },
    { .key = NULL },
};
static const struct op_col VIEW_COLS[] = {
    { .key = "weekday", .type = OP_COL_I64, .col = V_WEEKDAY },
    { .key = "period", .type = OP_COL_I64, .col = V_PERIOD },
    { .key = "starts", .type = OP_COL_TEXT, .col = V_STARTS },
    { .key = "ends", .type = OP_COL_TEXT, .col = V_ENDS },
    { .key = "subject", .type = OP_COL_OBJECT, .col = V_SUBJECT_ID, .fields = ID_NAME_SUBJECT },
    { .key = "teacher", .type = OP_COL_OBJECT, .col = V_TEACHER_ID, .fields = ID_NAME_TEACHER },
    { .key = "section", .type = OP_COL_OBJECT, .col = V_SECTION_ID, .fields = SECTION_FIELDS },
    { .key = "room", .type = OP_COL_TEXT, .col = V_ROOM },
    { .key = NULL },
};

static int section_week(struct op_ctx *op, int64_t section)
{
    op_param_id(op, section);
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){ .sql = VIEW_SQL("t.section_id = $1"),
                                        .reply_rows = VIEW_COLS });
}

static int section_allowed(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    return section_week(op, op_get_id(op, "section"));
}

static int op_timetable_section(struct op_ctx *op)
{
    return scope_check(op, SCOPE_SECTION, op_get_id(op, "section"), "section",
                       section_allowed);
}

/* The teacher's lessons in the school's current year. */
static int teacher_allowed(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    int64_t *teacher = op->state;
    op_param_id(op, *teacher);
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
                          .sql = VIEW_SQL("t.teacher_id = $1 AND t.year_id IN (SELECT y.id"
                                          " FROM academic_years y WHERE y.school_id = $2"
                                          " AND y.current)"),
                          .reply_rows = VIEW_COLS });
}

static int op_timetable_teacher(struct op_ctx *op)
{
    int64_t *teacher = op->state = op_alloc(op, sizeof *teacher);
    if (op_has_arg(op, "teacher")) {
        *teacher = op_get_id(op, "teacher");
    } else if (op->caller.role == ROLE_TEACHER) {
        *teacher = op->caller.user_id;
    } else {
        return op_refuse(op, OP_E_BAD_REQUEST, "teacher", "is required for an admin");
    }
    return scope_check(op, SCOPE_TEACHER, *teacher, "teacher", teacher_allowed);
}

/* SCOPE_STUDENT's row: in_school, allowed, section_id, status. A student not placed in a
 * section has an empty week. */
static int student_allowed(struct op_ctx *op, const PGresult *res)
{
    if (PQgetisnull(res, 0, 2)) {
        msgpack_pack_array(op_reply_begin(op), 0);
        op_reply_end(op);
        return 0;
    }
    return section_week(op, dbval_get_i64(res, 0, 2));
}

static int op_timetable_student(struct op_ctx *op)
{
    return scope_check(op, SCOPE_STUDENT, op_get_id(op, "student"), "student",
                       student_allowed);
}

/* --- calendar.token.create / calendar.token.revoke --- */

/* A new token replaces the user's previous one (one row per user). */
static int token_stored(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    const char *token = op->state;
    op_reply_fields(op, (struct op_field[]){
                            op_f_str("token", token),
                            op_f_str("path", arena_printf(&op->arena, "/v1/calendar/%s.ics",
                                                          token)),
                            { .key = NULL },
                        });
    return 0;
}

static int op_calendar_token_create(struct op_ctx *op)
{
    char *token = op->state = op_alloc(op, CRYPTO_TOKEN_CHARS + 1);
    unsigned char hash[CRYPTO_HASH_BYTES];
    char hex[HASH_HEX];
    crypto_token_new(token);
    crypto_token_hash(token, strlen(token), hash);
    dbval_bytea(hash, sizeof hash, hex);
    sodium_memzero(hash, sizeof hash);
    op_param_id(op, op->caller.user_id);
    op_param_id(op, op->caller.school_id);
    op_param_str(op, hex);
    return op_sql(op, &(struct op_sql){
                          .sql = "INSERT INTO calendar_tokens (user_id, school_id, token_hash)"
                                 " VALUES ($1, $2, $3::bytea) ON CONFLICT (user_id) DO UPDATE"
                                 " SET token_hash = EXCLUDED.token_hash, created_at = now()",
                          .on_rows = token_stored, .audit = "calendar_token",
                          .audit_id = op->caller.user_id });
}

static int op_calendar_token_revoke(struct op_ctx *op)
{
    op_param_id(op, op->caller.user_id);
    return op_sql(op, &(struct op_sql){
                          .sql = "DELETE FROM calendar_tokens WHERE user_id = $1",
                          .audit = "calendar_token", .audit_id = op->caller.user_id });
}

/* --- The table --- */

static const struct op_arg BELL_FIELDS[] = {
    { .name = "period", .type = OP_T_INT, .required = OP_REQ, .min = 1, .max = PERIODS_MAX },
    { .name = "starts", .type = OP_T_STR, .required = OP_REQ, .max = TIME_LEN,
      .format = "time" },
    { .name = "ends", .type = OP_T_STR, .required = OP_REQ, .max = TIME_LEN, .format = "time" },
    { .name = "name", .type = OP_T_STR, .max = PERIOD_NAME_MAX },
    { .name = NULL },
};
static const struct op_arg BELL_ITEM = { .name = "period", .type = OP_T_MAP,
                                         .fields = BELL_FIELDS };

static const struct op_arg BELLS_SET_ARGS[] = {
    { .name = "weekday", .type = OP_T_INT, .required = OP_REQ, .min = 1, .max = 7 },
    { .name = "periods", .type = OP_T_ARRAY, .required = OP_REQ, .max = PERIODS_MAX,
      .items = &BELL_ITEM },
    { .name = NULL },
};

static const struct op_arg SET_ARGS[] = {
    { .name = "section", .type = OP_T_ID, .required = OP_REQ },
    { .name = "weekday", .type = OP_T_INT, .required = OP_REQ, .min = 1, .max = 7 },
    { .name = "period", .type = OP_T_INT, .required = OP_REQ, .min = 1, .max = PERIODS_MAX },
    { .name = "subject", .type = OP_T_ID, .required = OP_REQ },
    { .name = "teacher", .type = OP_T_ID, .required = OP_REQ },
    { .name = "room", .type = OP_T_STR, .max = ROOM_MAX },
    { .name = NULL },
};

static const struct op_arg CLEAR_ARGS[] = {
    { .name = "section", .type = OP_T_ID, .required = OP_REQ },
    { .name = "weekday", .type = OP_T_INT, .required = OP_REQ, .min = 1, .max = 7 },
    { .name = "period", .type = OP_T_INT, .required = OP_REQ, .min = 1, .max = PERIODS_MAX },
    { .name = NULL },
};

static const struct op_arg SECTION_ARGS[] = {
    { .name = "section", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

static const struct op_arg TEACHER_ARGS[] = {
    { .name = "teacher", .type = OP_T_ID },
    { .name = NULL },
};

static const struct op_arg STUDENT_ARGS[] = {
    { .name = "student", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

const struct op_def timetable_ops[] = {
    { .name = "timetable.bells.set", .fn = op_bells_set, .roles = ROLE_ADMIN,
      .args = BELLS_SET_ARGS },
    { .name = "timetable.bells.list", .fn = op_bells_list, .roles = ROLE_ANY },
    { .name = "timetable.set", .fn = op_timetable_set, .roles = ROLE_ADMIN, .args = SET_ARGS },
    { .name = "timetable.clear", .fn = op_timetable_clear, .roles = ROLE_ADMIN,
      .args = CLEAR_ARGS },
    { .name = "timetable.section", .fn = op_timetable_section,
      .roles = ROLE_ADMIN | ROLE_TEACHER, .args = SECTION_ARGS },
    { .name = "timetable.teacher", .fn = op_timetable_teacher,
      .roles = ROLE_ADMIN | ROLE_TEACHER, .args = TEACHER_ARGS },
    { .name = "timetable.student", .fn = op_timetable_student,
      .roles = ROLE_ADMIN | ROLE_TEACHER | ROLE_PARENT, .args = STUDENT_ARGS },
    { .name = "calendar.token.create", .fn = op_calendar_token_create,
      .roles = ROLE_ADMIN | ROLE_TEACHER | ROLE_PARENT },
    { .name = "calendar.token.revoke", .fn = op_calendar_token_revoke,
      .roles = ROLE_ADMIN | ROLE_TEACHER | ROLE_PARENT },
    { .name = NULL },
};
