/* The school's records: the daily register, its corrections and reports.
 *
 * attendance.mark writes a section's day in one statement: the marks (new or changed rows
 * only), a history row for every correction (before and after), and a notice for each parent
 * of a child newly absent or late. After the reply, each such parent's live connections get
 * the event attendance.marked. "Today" is the server's local date (the school's day). */
#include "academics/attendance.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "academics/academics.h"
#include "academics/dates.h"
#include "academics/notices.h"
#include "academics/scope.h"
#include "core/audit.h"
#include "core/config.h"
#include "core/date.h"
#include "core/dbval.h"
#include "core/msgbuf.h"
#include "core/op_db.h"
#include "core/op_pack.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

#define ENTRIES_MAX 200
#define NOTE_MAX_LEN 200
#define REPORT_MAX_DAYS 366
#define DATE_LEN 10  /* YYYY-MM-DD */
#define MONTH_LEN 7  /* YYYY-MM */

/* --- dates (checked by academics/dates.h; here only day arithmetic) --- */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* A real date "YYYY-MM-DD" as days since the epoch; false otherwise. */
static bool parse_day(const char *s, long *out)
{
    long ymd;
    if (!s || date_parse(s, &ymd) != DATE_OK) {
        return false;
    }
    *out = days_from_civil((int)(ymd / 10000), (int)(ymd / 100 % 100), (int)(ymd % 100));
    return true;
}

/* The server's local date, the school's "today": as days and as "YYYY-MM-DD". */
static long local_today(char out[DATE_LEN + 1])
{
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    if (strftime(out, DATE_LEN + 1, "%Y-%m-%d", &tm) != DATE_LEN) {
        out[0] = '\0';
    }
    return days_from_civil(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

/* Reads the optional date argument name (default today). Returns 0 with *day and *text (in
 * the arena), or bad_request naming it. */
static int day_arg(struct op_ctx *op, const char *name, long *day, const char **text)
{
    char today[DATE_LEN + 1];
    long t = local_today(today);
    const char *s = op_get_str(op, name);
    if (!s) {
        *day = t;
        *text = arena_strdup(&op->arena, today);
        return 0;
    }
    int r = dates_check(op, name);
    if (r) {
        return r;
    }
    parse_day(s, day);
    *text = s;
    return 0;
}

static const char *const STATUSES[] = { "present", "absent", "late", "leave", NULL };

/* --- attendance.mark --- */

struct mark_state {
    const char *day;
    const char *students; /* bigint[] literal */
    const char *statuses; /* text[] literal */
    const char *notes;    /* text[] literal, NULL elements for none */
};

/* The whole write, one statement. $1 school, $2 section, $3 day, $4 the caller, $5 students,
 * $6 statuses, $7 notes (in entries' order). Rows: kind 0 (one: the first entry, 1-based, whose
 * student is not enrolled in the section, or NULL; entries; rows written), kind 1 (a
 * corrected student), kind 2 (a parent to tell: user, student, status, note), ordered by
 * kind, student, user. Nothing is written when an entry's student is not in the section. */
#define MARK_SQL                                                                              \
    "WITH e AS (SELECT u.student, u.status, u.note, u.i"                                       \
    "           FROM unnest($5::bigint[], $6::text[], $7::text[]) WITH ORDINALITY"              \
    "                AS u(student, status, note, i)),"                                         \
    " bad AS (SELECT min(e.i) AS i FROM e WHERE NOT EXISTS (SELECT 1 FROM students s"          \
    "         WHERE s.id = e.student AND s.school_id = $1 AND s.section_id = $2"               \
    "         AND s.status = 'enrolled')),"                                                    \
    " old AS (SELECT a.student_id, a.status, a.note FROM attendance a"                         \
    "         WHERE a.student_id IN (SELECT student FROM e) AND a.day = $3::date),"            \
    " up AS (INSERT INTO attendance AS a (school_id, section_id, student_id, day, status,"     \
    "        note, marked_by)"                                                                 \
    "        SELECT $1, $2, e.student, $3::date, e.status, e.note, $4 FROM e"                  \
    "        WHERE (SELECT i FROM bad) IS NULL"                                                \
    "        ON CONFLICT (student_id, day) DO UPDATE"                                          \
    "        SET section_id = EXCLUDED.section_id, status = EXCLUDED.status,"                  \
    "            note = EXCLUDED.note, marked_by = EXCLUDED.marked_by, marked_at = now()"      \
    "        WHERE (a.status, a.note) IS DISTINCT FROM (EXCLUDED.status, EXCLUDED.note)"       \
    "        RETURNING a.student_id, a.status, a.note),"                                       \
    " ch AS (INSERT INTO attendance_changes (school_id, student_id, day, before_status,"       \
    "        before_note, after_status, after_note, changed_by)"                               \
    "        SELECT $1, up.student_id, $3::date, old.status, old.note, up.status, up.note, $4" \
    "        FROM up JOIN old ON old.student_id = up.student_id"                               \
    "        RETURNING student_id),"                                                           \
    " nt AS (INSERT INTO notices (school_id, user_id, kind, student_id, day, status, note)"    \
    "        SELECT $1, g.user_id, 'attendance', up.student_id, $3::date, up.status, up.note"  \
    "        FROM up LEFT JOIN old ON old.student_id = up.student_id"                          \
    "        JOIN guardians g ON g.student_id = up.student_id"                                 \
    "        WHERE up.status IN ('absent', 'late') AND old.status IS DISTINCT FROM up.status"  \
    "        RETURNING user_id, student_id, status, note)"                                     \
    " SELECT 0 AS k, (SELECT i FROM bad), (SELECT count(*) FROM e), (SELECT count(*) FROM up),"\
    "        NULL::bigint AS student, NULL::bigint AS usr, NULL::text, NULL::text"             \
    " UNION ALL SELECT 1, NULL, NULL, NULL, student_id, NULL, NULL, NULL FROM ch"              \
    " UNION ALL SELECT 2, NULL, NULL, NULL, student_id, user_id, status, note FROM nt"         \
    " ORDER BY 1, 5, 6"

enum { MK_KIND, MK_BAD, MK_ENTRIES, MK_WRITTEN, MK_STUDENT, MK_USER, MK_STATUS, MK_NOTE };

static struct msgbuf *marked_event(const PGresult *res, int row, const char *day)
{
    struct envelope_writer w;
    envelope_begin_event(&w, "attendance.marked");
    msgpack_pack_map(&w.pk, 4);
    envelope_pack_key(&w.pk, "student");
    msgpack_pack_int64(&w.pk, dbval_get_i64(res, row, MK_STUDENT));
    envelope_pack_key(&w.pk, "day");
    envelope_pack_str(&w.pk, day);
    envelope_pack_key(&w.pk, "status");
    dbval_pack_text(&w.pk, res, row, MK_STATUS);
    envelope_pack_key(&w.pk, "note");
    dbval_pack_text(&w.pk, res, row, MK_NOTE);
    return envelope_finish(&w);
}

static int marked(struct op_ctx *op, const PGresult *res)
{
    struct mark_state *st = op->state;
    int n = PQntuples(res);
    if (n < 1) {
        return -EIO;
    }
    if (!PQgetisnull(res, 0, MK_BAD)) {
        int64_t i = dbval_get_i64(res, 0, MK_BAD) - 1;
        return op_refuse(op, OP_E_BAD_REQUEST,
                         arena_printf(&op->arena, "entries[%lld].student", (long long)i),
                         "is not a student enrolled in this section");
    }
    int64_t entries = dbval_get_i64(res, 0, MK_ENTRIES);
    int64_t written = dbval_get_i64(res, 0, MK_WRITTEN);
    struct notices_outbox out;
    notices_outbox_init(&out, ((struct academics *)op->domain)->presence);
    struct msgbuf *last = NULL;
    int64_t last_student = 0;
    for (int r = 1; r < n; r++) {
        int64_t student = dbval_get_i64(res, r, MK_STUDENT);
        if (dbval_get_i64(res, r, MK_KIND) == 1) {
            audit_op(op, "attendance", student, "ok"); /* a correction */
            continue;
        }
        if (!last || student != last_student) {
            msgbuf_unref(last);
            last = marked_event(res, r, st->day); /* one message per child, for all parents */
            last_student = student;
        }
        notices_outbox_add(&out, dbval_get_i64(res, r, MK_USER), last);
    }
    msgbuf_unref(last);
    op_reply_fields(op, (struct op_field[]){ op_f_i64("marked", entries),
                                             op_f_i64("changed", written), { 0 } });
    notices_outbox_send(&out); /* op is freed: tell the parents who are online now */
    return 0;
}

static int write_marks(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    struct mark_state *st = op->state;
    op_param_id(op, op->caller.school_id);
    op_param_id(op, op_get_id(op, "section"));
    op_param_str(op, st->day);
    op_param_id(op, op->caller.user_id);
    op_param_str(op, st->students);
    op_param_str(op, st->statuses);
    op_param_str(op, st->notes);
    return op_sql(op, &(struct op_sql){ .sql = MARK_SQL, .on_rows = marked });
}

static int op_attendance_mark(struct op_ctx *op)
{
    struct mark_state *st = op_alloc(op, sizeof *st);
    char today_text[DATE_LEN + 1];
    long today = local_today(today_text);
    long day;
    int r = day_arg(op, "day", &day, &st->day);
    if (r) {
        return r;
    }
    if (day > today) {
        return op_refuse(op, OP_E_BAD_REQUEST, "day", "must not be in the future");
    }
    int window = op->env->cfg->attendance_edit_days;
    if (op->caller.role != ROLE_ADMIN && day < today - window) {
        return op_refuse(op, OP_E_FORBIDDEN, "day",
                         arena_printf(&op->arena,
                                      "is locked: days older than %d days are for an admin",
                                      window));
    }
    const msgpack_object *entries = op_map_get(op->args, "entries");
    if (!entries || entries->type != MSGPACK_OBJECT_ARRAY || entries->via.array.size == 0) {
        return op_refuse(op, OP_E_BAD_REQUEST, "entries", "must have 1 to 200 entries");
    }
    uint32_t n = entries->via.array.size;
    int64_t *ids = op_alloc(op, n * sizeof *ids);
    struct strbuf sid, sst, snote;
    strbuf_init(&sid);
    strbuf_init(&sst);
    strbuf_init(&snote);
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *e = &entries->via.array.ptr[i];
        if (e->type != MSGPACK_OBJECT_MAP) { /* nil items pass the schema */
            strbuf_deinit(&sid);
            strbuf_deinit(&sst);
            strbuf_deinit(&snote);
            return op_refuse(op, OP_E_BAD_REQUEST, arena_printf(&op->arena, "entries[%u]", i),
                             "must be a map");
        }
        const msgpack_object *student = op_map_get(e, "student");
        const msgpack_object *status = op_map_get(e, "status");
        const msgpack_object *note = op_map_get(e, "note");
        ids[i] = (int64_t)student->via.u64; /* the schema checked: a positive id */
        for (uint32_t j = 0; j < i; j++) {
            if (ids[j] == ids[i]) {
                strbuf_deinit(&sid);
                strbuf_deinit(&sst);
                strbuf_deinit(&snote);
                return op_refuse(op, OP_E_BAD_REQUEST,
                                 arena_printf(&op->arena, "entries[%u].student", i),
                                 "is marked twice");
            }
        }
        strbuf_printf(&sid, "%s%lld", i ? "," : "{", (long long)ids[i]);
        strbuf_append(&sst, i ? "," : "{", 1);
        strbuf_append(&sst, status->via.str.ptr, status->via.str.size);
        strbuf_append(&snote, i ? "," : "{", 1);
        if (note && note->type == MSGPACK_OBJECT_STR) {
            dbval_text_array_add(&snote, note->via.str.ptr, note->via.str.size);
        } else {
            strbuf_append(&snote, "NULL", 4);
        }
    }
    strbuf_append(&sid, "}", 1);
    strbuf_append(&sst, "}", 1);
    strbuf_append(&snote, "}", 1);
    st->students = arena_take_strbuf(&op->arena, &sid);
    st->statuses = arena_take_strbuf(&op->arena, &sst);
    st->notes = arena_take_strbuf(&op->arena, &snote);
    op->state = st;
    return scope_check(op, SCOPE_SECTION, op_get_id(op, "section"), "section", write_marks);
}

/* --- attendance.get --- */

struct day_state {
    const char *day;
};

enum { AG_ID, AG_NAME, AG_ROLL_NO, AG_STATUS, AG_NOTE };

static const struct op_col get_cols[] = {
    { .key = "student", .type = OP_COL_I64, .col = AG_ID },
    { .key = "name", .type = OP_COL_TEXT, .col = AG_NAME },
    { .key = "roll_no", .type = OP_COL_I64, .col = AG_ROLL_NO },
    { .key = "status", .type = OP_COL_TEXT, .col = AG_STATUS },
    { .key = "note", .type = OP_COL_TEXT, .col = AG_NOTE },
    { .key = NULL },
};

static int reply_day(struct op_ctx *op, const PGresult *res)
{
    struct day_state *st = op->state;
    bool any = false;
    for (int r = 0; r < PQntuples(res) && !any; r++) {
        any = !PQgetisnull(res, r, AG_STATUS);
    }
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 4);
    envelope_pack_key(pk, "section");
    msgpack_pack_int64(pk, op_get_id(op, "section"));
    envelope_pack_key(pk, "day");
    envelope_pack_str(pk, st->day);
    envelope_pack_key(pk, "marked");
    envelope_pack_bool(pk, any);
    envelope_pack_key(pk, "students");
    op_pack_rows(op, pk, res, get_cols, -1);
    op_reply_end(op);
    return 0;
}

/* The section's enrolled students, and anyone marked in it that day (who may have left or
 * moved since), with that day's mark. */
static int read_day(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    struct day_state *st = op->state;
    op_param_id(op, op_get_id(op, "section"));
    op_param_str(op, st->day);
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT s.id, s.name, s.roll_no, a.status, a.note FROM students s"
               " LEFT JOIN attendance a ON a.student_id = s.id AND a.day = $2::date"
               "      AND a.section_id = $1"
               " WHERE s.school_id = $3 AND s.id IN ("
               "   SELECT id FROM students WHERE section_id = $1 AND status = 'enrolled'"
               "   UNION SELECT student_id FROM attendance WHERE section_id = $1"
               "   AND day = $2::date)"
               " ORDER BY s.roll_no NULLS LAST, s.name, s.id",
        .on_rows = reply_day });
}

static int op_attendance_get(struct op_ctx *op)
{
    struct day_state *st = op_alloc(op, sizeof *st);
    long day;
    int r = day_arg(op, "day", &day, &st->day);
    if (r) {
        return r;
    }
    op->state = st;
    return scope_check(op, SCOPE_SECTION, op_get_id(op, "section"), "section", read_day);
}

/* --- attendance.student --- */

struct range_state {
    const char *from, *to;
};

static void pack_days(struct op_ctx *op, msgpack_packer *pk, const PGresult *res)
{
    (void)op;
    int n = PQntuples(res);
    msgpack_pack_array(pk, (size_t)n);
    for (int r = 0; r < n; r++) {
        msgpack_pack_map(pk, 3);
        envelope_pack_key(pk, "day");
        dbval_pack_text(pk, res, r, 0);
        envelope_pack_key(pk, "status");
        dbval_pack_text(pk, res, r, 1);
        envelope_pack_key(pk, "note");
        dbval_pack_text(pk, res, r, 2);
    }
}

static int reply_summary(struct op_ctx *op, const PGresult *res)
{
    struct range_state *st = op->state;
    int64_t count[4] = { 0, 0, 0, 0 };
    int n = PQntuples(res);
    for (int r = 0; r < n; r++) {
        const char *s = dbval_get_text(res, r, 1);
        for (int k = 0; k < 4; k++) {
            if (s && strcmp(s, STATUSES[k]) == 0) {
                count[k]++;
            }
        }
    }
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 10);
    envelope_pack_key(pk, "student");
    msgpack_pack_int64(pk, op_get_id(op, "student"));
    envelope_pack_key(pk, "from");
    envelope_pack_str(pk, st->from);
    envelope_pack_key(pk, "to");
    envelope_pack_str(pk, st->to);
    for (int k = 0; k < 4; k++) {
        envelope_pack_key(pk, STATUSES[k]);
        msgpack_pack_int64(pk, count[k]);
    }
    envelope_pack_key(pk, "marked_days");
    msgpack_pack_int64(pk, n);
    envelope_pack_key(pk, "percentage");
    if (n > 0) {
        msgpack_pack_double(pk, (double)(count[0] + count[2]) * 100.0 / (double)n);
    } else {
        msgpack_pack_nil(pk);
    }
    envelope_pack_key(pk, "days");
    pack_days(op, pk, res);
    op_reply_end(op);
    return 0;
}

static int read_range(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    struct range_state *st = op->state;
    op_param_id(op, op_get_id(op, "student"));
    op_param_str(op, st->from);
    op_param_str(op, st->to);
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT day::text, status, note FROM attendance"
               " WHERE student_id = $1 AND day BETWEEN $2::date AND $3::date ORDER BY day",
        .on_rows = reply_summary });
}

static int op_attendance_student(struct op_ctx *op)
{
    struct range_state *st = op_alloc(op, sizeof *st);
    long from, to;
    st->from = op_get_str(op, "from");
    st->to = op_get_str(op, "to");
    int r = dates_check(op, "from");
    if (!r) {
        r = dates_check(op, "to");
    }
    if (!r) {
        r = dates_check_order(op, "from", "to", false);
    }
    if (r) {
        return r;
    }
    parse_day(st->from, &from);
    parse_day(st->to, &to);
    if (to - from + 1 > REPORT_MAX_DAYS) {
        return op_refuse(op, OP_E_BAD_REQUEST, "to", "the range is at most 366 days");
    }
    op->state = st;
    return scope_check(op, SCOPE_STUDENT, op_get_id(op, "student"), "student", read_range);
}

/* --- attendance.register --- */

struct month_state {
    const char *month;
    const char *first; /* YYYY-MM-01 */
};

/* One row per student (enrolled in the section, or marked in it that month), each with the
 * month's marked days (all rows alike, comma-separated) and the student's marks as one letter
 * per day: P, A, L, V (leave) or '-' for none. */
#define REGISTER_SQL                                                                          \
    "WITH a AS (SELECT student_id, day, status FROM attendance"                                \
    "           WHERE section_id = $1 AND day >= $2::date"                                     \
    "           AND day < ($2::date + interval '1 month')),"                                   \
    " d AS (SELECT DISTINCT day FROM a),"                                                      \
    " st AS (SELECT id FROM students WHERE section_id = $1 AND status = 'enrolled'"            \
    "        UNION SELECT student_id FROM a)"                                                  \
    " SELECT (SELECT string_agg(day::text, ',' ORDER BY day) FROM d),"                         \
    "        s.id, s.name, s.roll_no,"                                                         \
    "        (SELECT string_agg(CASE a.status WHEN 'present' THEN 'P' WHEN 'absent' THEN 'A'"  \
    "                WHEN 'late' THEN 'L' WHEN 'leave' THEN 'V' ELSE '-' END, ''"              \
    "                ORDER BY d.day)"                                                          \
    "         FROM d LEFT JOIN a ON a.day = d.day AND a.student_id = s.id)"                    \
    " FROM st JOIN students s ON s.id = st.id AND s.school_id = $3"                            \
    " ORDER BY s.roll_no NULLS LAST, s.name, s.id"

static void pack_register_days(msgpack_packer *pk, const char *days)
{
    size_t n = days && *days ? 1 : 0;
    for (const char *p = days; p && *p; p++) {
        n += *p == ',';
    }
    msgpack_pack_array(pk, n);
    for (const char *p = days; n > 0 && p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        msgpack_pack_str(pk, len);
        msgpack_pack_str_body(pk, p, len);
    }
}

static void pack_marks(msgpack_packer *pk, const char *marks)
{
    size_t n = marks ? strlen(marks) : 0;
    msgpack_pack_array(pk, n);
    for (size_t i = 0; i < n; i++) {
        if (marks[i] == '-') {
            msgpack_pack_nil(pk);
        } else {
            msgpack_pack_str(pk, 1);
            msgpack_pack_str_body(pk, &marks[i], 1);
        }
    }
}

static int reply_register(struct op_ctx *op, const PGresult *res)
{
    struct month_state *st = op->state;
    int n = PQntuples(res);
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 4);
    envelope_pack_key(pk, "section");
    msgpack_pack_int64(pk, op_get_id(op, "section"));
    envelope_pack_key(pk, "month");
    envelope_pack_str(pk, st->month);
    envelope_pack_key(pk, "days");
    pack_register_days(pk, n > 0 ? dbval_get_text(res, 0, 0) : NULL);
    envelope_pack_key(pk, "students");
    msgpack_pack_array(pk, (size_t)n);
    for (int r = 0; r < n; r++) {
        msgpack_pack_map(pk, 4);
        envelope_pack_key(pk, "student");
        dbval_pack_i64(pk, res, r, 1);
        envelope_pack_key(pk, "name");
        dbval_pack_text(pk, res, r, 2);
        envelope_pack_key(pk, "roll_no");
        dbval_pack_i64(pk, res, r, 3);
        envelope_pack_key(pk, "marks");
        pack_marks(pk, dbval_get_text(res, r, 4));
    }
    op_reply_end(op);
    return 0;
}

static int read_month(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    struct month_state *st = op->state;
    op_param_id(op, op_get_id(op, "section"));
    op_param_str(op, st->first);
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){ .sql = REGISTER_SQL, .on_rows = reply_register });
}

static int op_attendance_register(struct op_ctx *op)
{
    struct month_state *st = op_alloc(op, sizeof *st);
    st->month = op_get_str(op, "month");
    long day;
    st->first = arena_printf(&op->arena, "%s-01", st->month);
    if (strlen(st->month) != MONTH_LEN || !parse_day(st->first, &day)) {
        return op_refuse(op, OP_E_BAD_REQUEST, "month", "must be a month YYYY-MM");
    }
    op->state = st;
    return scope_check(op, SCOPE_SECTION, op_get_id(op, "section"), "section", read_month);
}

/* --- attendance.absentees --- */

static const struct op_col absentee_cols[] = {
    { .key = "student", .type = OP_COL_I64, .col = 0 },
    { .key = "name", .type = OP_COL_TEXT, .col = 1 },
    { .key = "class", .type = OP_COL_TEXT, .col = 2 },
    { .key = "section", .type = OP_COL_TEXT, .col = 3 },
    { .key = "status", .type = OP_COL_TEXT, .col = 4 },
    { .key = "note", .type = OP_COL_TEXT, .col = 5 },
    { .key = NULL },
};

static int op_attendance_absentees(struct op_ctx *op)
{
    long day;
    const char *text;
    int r = day_arg(op, "day", &day, &text);
    if (r) {
        return r;
    }
    op_param_id(op, op->caller.school_id);
    op_param_str(op, text);
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT s.id, s.name, c.name, sc.name, a.status, a.note FROM attendance a"
               " JOIN students s ON s.id = a.student_id"
               " JOIN sections sc ON sc.id = a.section_id"
               " JOIN classes c ON c.id = sc.class_id"
               " WHERE a.school_id = $1 AND a.day = $2::date"
               " AND a.status IN ('absent', 'late')"
               " ORDER BY c.seq, c.name, sc.name, s.roll_no NULLS LAST, s.name, s.id",
        .reply_rows = absentee_cols });
}

/* --- the table --- */

static const struct op_arg ENTRY_FIELDS[] = {
    { .name = "student", .type = OP_T_ID, .required = OP_REQ },
    { .name = "status", .type = OP_T_ENUM, .required = OP_REQ, .values = STATUSES },
    { .name = "note", .type = OP_T_STR, .max = NOTE_MAX_LEN },
    { .name = NULL },
};

static const struct op_arg ENTRY[] = {
    { .name = "entry", .type = OP_T_MAP, .required = OP_REQ, .fields = ENTRY_FIELDS },
    { .name = NULL },
};

static const struct op_arg MARK_ARGS[] = {
    { .name = "section", .type = OP_T_ID, .required = OP_REQ },
    { .name = "day", .type = OP_T_STR, .max = DATE_LEN, .format = "date" },
    { .name = "entries", .type = OP_T_ARRAY, .required = OP_REQ, .max = ENTRIES_MAX,
      .items = ENTRY },
    { .name = NULL },
};

static const struct op_arg GET_ARGS[] = {
    { .name = "section", .type = OP_T_ID, .required = OP_REQ },
    { .name = "day", .type = OP_T_STR, .max = DATE_LEN, .format = "date" },
    { .name = NULL },
};

static const struct op_arg STUDENT_ARGS[] = {
    { .name = "student", .type = OP_T_ID, .required = OP_REQ },
    { .name = "from", .type = OP_T_STR, .required = OP_REQ, .max = DATE_LEN, .format = "date" },
    { .name = "to", .type = OP_T_STR, .required = OP_REQ, .max = DATE_LEN, .format = "date" },
    { .name = NULL },
};

static const struct op_arg REGISTER_ARGS[] = {
    { .name = "section", .type = OP_T_ID, .required = OP_REQ },
    { .name = "month", .type = OP_T_STR, .required = OP_REQ, .max = MONTH_LEN,
      .format = "YYYY-MM" },
    { .name = NULL },
};

static const struct op_arg ABSENTEES_ARGS[] = {
    { .name = "day", .type = OP_T_STR, .max = DATE_LEN, .format = "date" },
    { .name = NULL },
};

const struct op_def attendance_ops[] = {
    { .name = "attendance.mark", .fn = op_attendance_mark, .roles = ROLE_ADMIN | ROLE_TEACHER,
      .args = MARK_ARGS },
    { .name = "attendance.get", .fn = op_attendance_get, .roles = ROLE_ADMIN | ROLE_TEACHER,
      .args = GET_ARGS },
    { .name = "attendance.student", .fn = op_attendance_student,
      .roles = ROLE_ADMIN | ROLE_TEACHER | ROLE_PARENT, .args = STUDENT_ARGS },
    { .name = "attendance.register", .fn = op_attendance_register,
      .roles = ROLE_ADMIN | ROLE_TEACHER, .args = REGISTER_ARGS },
    { .name = "attendance.absentees", .fn = op_attendance_absentees, .roles = ROLE_ADMIN,
      .args = ABSENTEES_ARGS },
    { .name = NULL },
};
