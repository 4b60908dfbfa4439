/* student.create/get/list/update/delete and guardian.link/unlink/list for a school's admins.
 * Every query is scoped to the caller's school: another school's ids are simply not found.
 * Changes that can take away a parent's right to follow a bus tell the tracker at once. */
#include "academics/student_ops.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/audit.h"
#include "core/crypto.h"
#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/log.h"
#include "core/pii.h"
#include "core/xalloc.h"
#include "tracking/tracker.h"

#define NAME_MAX_LEN 200
#define ADMISSION_NO_MAX_LEN 64
#define CLASS_MAX_LEN 32
#define SECTION_MAX_LEN 16
#define RELATIONSHIP_MAX_LEN 32
#define ROLL_NO_MAX 1000
#define UNAVAILABLE "the database is unavailable, try again shortly"

/* Dates of birth are sealed like phone numbers: bound to "students.dob:<row id>". */
#define DOB_COLUMN "students.dob"
#define DOB_LEN 10 /* YYYY-MM-DD */
#define DOB_MIN_YEAR 1990

/* What a create or update carries across its round trips. */
struct student_change {
    struct op_ctx *op;
    int64_t id;
    char *name;         /* NULL: unchanged (update) */
    char *admission_no;
    char *class_name;   /* NULL: none / unchanged */
    char *section;
    const char *gender; /* a static string, or NULL */
    bool has_dob;
    char dob[DOB_LEN + 1];
    bool has_roll_no;
    int64_t roll_no;
};

static void change_free(struct student_change *c)
{
    free(c->name);
    free(c->admission_no);
    free(c->class_name);
    free(c->section);
    memset(c, 0, sizeof *c);
    free(c);
}

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

static int refuse(struct op_ctx *op, const char *field, const char *message)
{
    op->fail_field = field;
    op->fail_message = message;
    return OP_E_BAD_REQUEST;
}

static int read_dob_opt(struct op_ctx *op, struct student_change *c)
{
    const char *s;
    size_t len;
    bool present;
    int r = op_arg_str_opt(op, "dob", 16, &s, &len, &present);
    if (r || !present) {
        return r;
    }
    if (len != DOB_LEN || s[4] != '-' || s[7] != '-' || !all_digits(s, 4) ||
        !all_digits(s + 5, 2) || !all_digits(s + 8, 2)) {
        return refuse(op, "dob", "must be a date YYYY-MM-DD");
    }
    static const int month_days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int year = number(s, 4), month = number(s + 5, 2), day = number(s + 8, 2);
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (month < 1 || month > 12 || day < 1 ||
        day > month_days[month - 1] + (month == 2 && leap ? 1 : 0)) {
        return refuse(op, "dob", "is not a real date");
    }
    if (year < DOB_MIN_YEAR) {
        return refuse(op, "dob", "must be in 1990 or later");
    }
    if (year * 10000L + month * 100L + day > latest_today()) {
        return refuse(op, "dob", "must not be in the future");
    }
    memcpy(c->dob, s, DOB_LEN);
    c->dob[DOB_LEN] = '\0';
    c->has_dob = true;
    return 0;
}

static int read_gender_opt(struct op_ctx *op, struct student_change *c)
{
    static const char *const genders[] = { "female", "male", "other" };
    const char *s;
    size_t len;
    bool present;
    int r = op_arg_str_opt(op, "gender", 16, &s, &len, &present);
    if (r || !present) {
        return r;
    }
    for (size_t i = 0; i < sizeof genders / sizeof genders[0]; i++) {
        if (strlen(genders[i]) == len && memcmp(genders[i], s, len) == 0) {
            c->gender = genders[i];
            return 0;
        }
    }
    return refuse(op, "gender", "must be female, male or other");
}

/* The optional fields create and update share. */
static int read_details(struct op_ctx *op, struct student_change *c)
{
    int r = read_dob_opt(op, c);
    if (r || (r = read_gender_opt(op, c)) != 0 ||
        (r = op_arg_str_dup_opt(op, "class", CLASS_MAX_LEN, &c->class_name)) != 0 ||
        (r = op_arg_str_dup_opt(op, "section", SECTION_MAX_LEN, &c->section)) != 0) {
        return r;
    }
    return op_arg_int_opt(op, "roll_no", 1, ROLL_NO_MAX, &c->roll_no, &c->has_roll_no);
}

/* --- student.create --- */

static void on_student_inserted(void *arg, int status, const PGresult *res)
{
    struct student_change *c = arg;
    struct op_ctx *op = c->op;
    if (strcmp(dbpool_sqlstate(status, res), "23505") == 0 || (status == DBPOOL_OK && PQntuples(res) == 0)) {
        audit_op(op, "student", 0, "conflict");
        op_fail(op, OP_E_CONFLICT, "this admission number is already used in the school",
                "admission_no");
    } else if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
    } else {
        audit_op(op, "student", c->id, "ok");
        op_reply_id(op, c->id);
    }
    change_free(c);
}

static void on_student_id(void *arg, int status, const PGresult *res)
{
    struct student_change *c = arg;
    struct op_ctx *op = c->op;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        change_free(c);
        return;
    }
    /* The id comes first because the sealed date of birth is bound to its row. */
    c->id = dbval_get_i64(res, 0, 0);
    char id[24], school[24], key[24], roll[24], sealed[PII_SEALED_TEXT_HEX];
    const char *key_s = NULL;
    if (c->has_dob) {
        int version = pii_seal_text(op->env->keys, DOB_COLUMN, c->id, c->dob, DOB_LEN, sealed);
        key_s = dbval_i64(version, key);
    }
    const char *params[] = { dbval_i64(c->id, id), dbval_i64(op->caller.school_id, school),
                             c->name, c->admission_no, c->has_dob ? sealed : NULL, key_s,
                             c->gender, c->class_name, c->section,
                             c->has_roll_no ? dbval_i64(c->roll_no, roll) : NULL };
    if (dbpool_query(op->env->db,
                     "INSERT INTO students (id, school_id, name, admission_no, dob_enc, dob_key,"
                     " gender, class_name, section, roll_no)"
                     " VALUES ($1, $2, $3, $4, $5::bytea, $6::smallint, $7, $8, $9, $10::int)"
                     " ON CONFLICT (school_id, admission_no) DO NOTHING RETURNING id",
                     10, params, on_student_inserted, c) != 0) {
        op_fail(op, OP_E_UNAVAILABLE, UNAVAILABLE, NULL);
        change_free(c);
    }
}

static int op_student_create(struct op_ctx *op)
{
    struct student_change *c = xcalloc(1, sizeof *c);
    c->op = op;
    int r = op_arg_str_dup(op, "name", NAME_MAX_LEN, &c->name);
    if (r || (r = op_arg_str_dup(op, "admission_no", ADMISSION_NO_MAX_LEN,
                                 &c->admission_no)) != 0 ||
        (r = read_details(op, c)) != 0) {
        change_free(c);
        return r;
    }
    int err = op_query(op, "SELECT nextval('students_id_seq')", 0, NULL, on_student_id,
                       c);
    if (err) {
        change_free(c);
    }
    return err;
}

/* --- student.get --- */

/* One row per guardian (at least one row), each carrying the student and their route. */
#define STUDENT_GET_SQL                                                                      \
    "SELECT s.id, s.name, s.admission_no, s.dob_enc, s.dob_key, s.gender, s.class_name,"     \
    " s.section, s.roll_no, s.active, r.route_id, r.route_name, r.stop_id, r.stop_name,"     \
    " g.user_id, u.name, g.relationship, g.emergency"                                        \
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
    SG_ID, SG_NAME, SG_ADMISSION_NO, SG_DOB_ENC, SG_DOB_KEY, SG_GENDER, SG_CLASS, SG_SECTION,
    SG_ROLL_NO, SG_ACTIVE, SG_ROUTE, SG_ROUTE_NAME, SG_STOP, SG_STOP_NAME, SG_G_USER,
    SG_G_NAME, SG_G_RELATIONSHIP, SG_G_EMERGENCY
};

/* Packs {user, name, relationship, emergency}; columns start at col. */
static void pack_guardian(msgpack_packer *pk, const PGresult *res, int row, int col)
{
    msgpack_pack_map(pk, 4);
    envelope_pack_key(pk, "user");
    msgpack_pack_int64(pk, dbval_get_i64(res, row, col));
    envelope_pack_key(pk, "name");
    dbval_pack_text(pk, res, row, col + 1);
    envelope_pack_key(pk, "relationship");
    envelope_pack_str(pk, PQgetvalue(res, row, col + 2));
    envelope_pack_key(pk, "emergency");
    envelope_pack_bool(pk, dbval_get_bool(res, row, col + 3));
}

static void pack_route(msgpack_packer *pk, const PGresult *res)
{
    if (PQgetisnull(res, 0, SG_ROUTE)) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_map(pk, 3);
    envelope_pack_key(pk, "id");
    msgpack_pack_int64(pk, dbval_get_i64(res, 0, SG_ROUTE));
    envelope_pack_key(pk, "name");
    envelope_pack_str(pk, PQgetvalue(res, 0, SG_ROUTE_NAME));
    envelope_pack_key(pk, "stop");
    if (PQgetisnull(res, 0, SG_STOP)) {
        msgpack_pack_nil(pk);
        return;
    }
    msgpack_pack_map(pk, 2);
    envelope_pack_key(pk, "id");
    msgpack_pack_int64(pk, dbval_get_i64(res, 0, SG_STOP));
    envelope_pack_key(pk, "name");
    envelope_pack_str(pk, PQgetvalue(res, 0, SG_STOP_NAME));
}

static void on_student_got(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    int rows = PQntuples(res);
    if (rows == 0) {
        op_fail(op, OP_E_NOT_FOUND, "no such student", "id");
        return;
    }
    int64_t id = dbval_get_i64(res, 0, SG_ID);
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 11);
    envelope_pack_key(pk, "id");
    msgpack_pack_int64(pk, id);
    envelope_pack_key(pk, "name");
    envelope_pack_str(pk, PQgetvalue(res, 0, SG_NAME));
    envelope_pack_key(pk, "admission_no");
    envelope_pack_str(pk, PQgetvalue(res, 0, SG_ADMISSION_NO));
    envelope_pack_key(pk, "dob");
    char dob[DOB_LEN + 1];
    if (PQgetisnull(res, 0, SG_DOB_ENC)) {
        msgpack_pack_nil(pk);
    } else if (pii_open_text(op->env->keys, (int)dbval_get_i64(res, 0, SG_DOB_KEY), DOB_COLUMN,
                             id, res, 0, SG_DOB_ENC, dob, sizeof dob) == 0) {
        envelope_pack_str(pk, dob);
    } else {
        /* Tampered with, or sealed under a key this server lacks: never shown. */
        msgpack_pack_nil(pk);
        log_event(LOG_ERROR, "student", "sealed date of birth failed to open", "student=%lld",
                  (long long)id);
    }
    envelope_pack_key(pk, "gender");
    dbval_pack_text(pk, res, 0, SG_GENDER);
    envelope_pack_key(pk, "class");
    dbval_pack_text(pk, res, 0, SG_CLASS);
    envelope_pack_key(pk, "section");
    dbval_pack_text(pk, res, 0, SG_SECTION);
    envelope_pack_key(pk, "roll_no");
    dbval_pack_i64(pk, res, 0, SG_ROLL_NO);
    envelope_pack_key(pk, "active");
    envelope_pack_bool(pk, dbval_get_bool(res, 0, SG_ACTIVE));
    envelope_pack_key(pk, "guardians");
    bool has_guardians = !PQgetisnull(res, 0, SG_G_USER);
    msgpack_pack_array(pk, has_guardians ? (size_t)rows : 0);
    for (int i = 0; has_guardians && i < rows; i++) {
        pack_guardian(pk, res, i, SG_G_USER);
    }
    envelope_pack_key(pk, "route");
    pack_route(pk, res);
    memset(dob, 0, sizeof dob);
    /* The date of birth is personal data: reading the record is recorded. */
    audit_op(op, "student", id, "ok");
    op_reply_end(op);
}

static int op_student_get(struct op_ctx *op)
{
    int64_t id;
    int r = op_arg_id(op, "id", &id);
    if (r) {
        return r;
    }
    char id_s[24], school[24];
    const char *params[] = { dbval_i64(id, id_s), dbval_i64(op->caller.school_id, school) };
    return op_query(op, STUDENT_GET_SQL, 2, params, on_student_got, op);
}

/* --- student.list --- */

static void on_students_listed(void *arg, int status, const PGresult *res)
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
        msgpack_pack_map(pk, 7);
        envelope_pack_key(pk, "id");
        msgpack_pack_int64(pk, dbval_get_i64(res, i, 0));
        envelope_pack_key(pk, "name");
        envelope_pack_str(pk, PQgetvalue(res, i, 1));
        envelope_pack_key(pk, "admission_no");
        envelope_pack_str(pk, PQgetvalue(res, i, 2));
        envelope_pack_key(pk, "class");
        dbval_pack_text(pk, res, i, 3);
        envelope_pack_key(pk, "section");
        dbval_pack_text(pk, res, i, 4);
        envelope_pack_key(pk, "roll_no");
        dbval_pack_i64(pk, res, i, 5);
        envelope_pack_key(pk, "active");
        envelope_pack_bool(pk, dbval_get_bool(res, i, 6));
    }
    op_reply_end(op);
}

static int op_student_list(struct op_ctx *op)
{
    const char *class_s = NULL, *section_s = NULL;
    size_t class_len = 0, section_len = 0;
    bool has_class, has_section, has_after, has_limit;
    int64_t after = 0, limit = 100;
    int r = op_arg_str_opt(op, "class", CLASS_MAX_LEN, &class_s, &class_len, &has_class);
    if (r ||
        (r = op_arg_str_opt(op, "section", SECTION_MAX_LEN, &section_s, &section_len,
                            &has_section)) != 0 ||
        (r = op_arg_id_opt(op, "after", &after, &has_after)) != 0 ||
        (r = op_arg_int_opt(op, "limit", 1, 500, &limit, &has_limit)) != 0) {
        return r;
    }
    char class_name[CLASS_MAX_LEN + 1], section[SECTION_MAX_LEN + 1];
    if (has_class) {
        memcpy(class_name, class_s, class_len);
        class_name[class_len] = '\0';
    }
    if (has_section) {
        memcpy(section, section_s, section_len);
        section[section_len] = '\0';
    }
    char school[24], after_s[24], limit_s[24];
    const char *params[] = { dbval_i64(op->caller.school_id, school),
                             has_class ? class_name : NULL, has_section ? section : NULL,
                             dbval_i64(after, after_s), dbval_i64(limit, limit_s) };
    return op_query(op,
                    "SELECT id, name, admission_no, class_name, section, roll_no, active"
                    " FROM students WHERE school_id = $1"
                    " AND ($2::text IS NULL OR class_name = $2)"
                    " AND ($3::text IS NULL OR section = $3) AND id > $4"
                    " ORDER BY id LIMIT $5",
                    5, params, on_students_listed, op);
}

/* --- student.update --- */

static void on_student_updated(void *arg, int status, const PGresult *res)
{
    struct student_change *c = arg;
    struct op_ctx *op = c->op;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
    } else if (PQntuples(res) == 0) {
        op_fail(op, OP_E_NOT_FOUND, "no such student", "id");
    } else {
        audit_op(op, "student", c->id, "ok");
        op_reply_empty(op);
    }
    change_free(c);
}

static int op_student_update(struct op_ctx *op)
{
    struct student_change *c = xcalloc(1, sizeof *c);
    c->op = op;
    int r = op_arg_id(op, "id", &c->id);
    if (r || (r = op_arg_str_dup_opt(op, "name", NAME_MAX_LEN, &c->name)) != 0 ||
        (r = read_details(op, c)) != 0) {
        change_free(c);
        return r;
    }
    char id[24], school[24], key[24], roll[24], sealed[PII_SEALED_TEXT_HEX];
    const char *key_s = NULL;
    if (c->has_dob) {
        int version = pii_seal_text(op->env->keys, DOB_COLUMN, c->id, c->dob, DOB_LEN, sealed);
        key_s = dbval_i64(version, key);
    }
    const char *params[] = { dbval_i64(c->id, id), dbval_i64(op->caller.school_id, school),
                             c->name, c->has_dob ? sealed : NULL, key_s, c->gender,
                             c->class_name, c->section,
                             c->has_roll_no ? dbval_i64(c->roll_no, roll) : NULL };
    int err = op_query(op,
                       "UPDATE students SET name = coalesce($3, name),"
                       " dob_enc = coalesce($4::bytea, dob_enc),"
                       " dob_key = coalesce($5::smallint, dob_key),"
                       " gender = coalesce($6, gender), class_name = coalesce($7, class_name),"
                       " section = coalesce($8, section), roll_no = coalesce($9::int, roll_no),"
                       " updated_at = now()"
                       " WHERE id = $1 AND school_id = $2 RETURNING id",
                       9, params, on_student_updated, c);
    if (err) {
        change_free(c);
    }
    return err;
}

/* --- student.delete --- */

static void on_left_swept(void *arg, int status, const PGresult *res)
{
    (void)arg;
    (void)res;
    if (status != DBPOOL_OK) {
        log_event(LOG_WARN, "student", "sweep of a deleted student's routes failed",
                  "status=%d", status);
    }
}

/* A route.assign that committed while the delete statement waited for the student's row was
 * invisible to that statement's snapshot: a second statement, with a new snapshot, removes
 * whatever assignment of the (now inactive) student is left. Until it has run, the rider
 * queries (policy, tracker) skip inactive students anyway, and the guardians' subscriptions
 * are re-checked by on_student_deleted. */
static void sweep_left_student(struct op_ctx *op, int64_t student)
{
    char id_s[24], school[24];
    const char *params[] = { dbval_i64(student, id_s), dbval_i64(op->caller.school_id, school) };
    /* Unavailable: nothing is queued; the next delete or assign of the student tidies up. */
    dbpool_query(op->env->db,
                 "DELETE FROM route_assignments ra USING students s"
                 " WHERE ra.student_id = $1 AND s.id = ra.student_id AND s.school_id = $2"
                 " AND NOT s.active",
                 2, params, on_left_swept, NULL);
}

static void on_student_deleted(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    /* Rows: ('s', student) once when found, ('g', guardian user) and ('r', route left). */
    int rows = PQntuples(res);
    int64_t id = 0;
    for (int i = 0; i < rows; i++) {
        if (PQgetvalue(res, i, 0)[0] == 's') {
            id = dbval_get_i64(res, i, 1);
        }
    }
    if (id == 0) {
        op_fail(op, OP_E_NOT_FOUND, "no such student", "id");
        return;
    }
    struct tracker *tracker = op->env->tracker;
    int64_t school = op->caller.school_id;
    sweep_left_student(op, id);
    audit_op(op, "student", id, "ok");
    op_reply_empty(op);
    for (int i = 0; tracker && i < rows; i++) {
        char kind = PQgetvalue(res, i, 0)[0];
        if (kind == 'r') {
            tracker_route_changed(tracker, dbval_get_i64(res, i, 1));
        } else if (kind == 'g') {
            tracker_recheck_user(tracker, school, dbval_get_i64(res, i, 1));
        }
    }
}

static int op_student_delete(struct op_ctx *op)
{
    int64_t id;
    int r = op_arg_id(op, "id", &id);
    if (r) {
        return r;
    }
    char id_s[24], school[24];
    const char *params[] = { dbval_i64(id, id_s), dbval_i64(op->caller.school_id, school) };
    /* A student who has left rides no bus: the route assignments go in the same statement,
     * and the tracker then drops the guardians' subscriptions that relied on them. Guardian
     * links stay, as the record of who looked after the student. */
    return op_query(op,
                    "WITH s AS (UPDATE students SET active = false, updated_at = now()"
                    "           WHERE id = $1 AND school_id = $2 RETURNING id),"
                    " ra AS (DELETE FROM route_assignments"
                    "        WHERE student_id IN (SELECT id FROM s) RETURNING route_id)"
                    " SELECT 's', id FROM s"
                    " UNION ALL SELECT 'r', route_id FROM ra"
                    " UNION ALL SELECT 'g', user_id FROM guardians"
                    "           WHERE student_id IN (SELECT id FROM s)",
                    2, params, on_student_deleted, op);
}

/* --- guardian.link --- */

static void on_guardian_linked(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    /* One row: student found, the user's role (NULL: not in the school), linked. */
    int64_t student = dbval_get_i64(res, 0, 3);
    const char *role = dbval_get_text(res, 0, 1);
    if (!dbval_get_bool(res, 0, 0)) {
        op_fail(op, OP_E_NOT_FOUND, "no such student", "student");
    } else if (!role) {
        op_fail(op, OP_E_NOT_FOUND, "no such user", "user");
    } else if (!dbval_get_bool(res, 0, 2)) {
        op_fail(op, OP_E_BAD_REQUEST, "must be a parent", "user");
    } else {
        struct tracker *tracker = op->env->tracker;
        int64_t route = dbval_get_i64(res, 0, 4);
        audit_op(op, "student", student, "ok");
        op_reply_empty(op);
        /* A running trip of the child's route tells its stop's parents: the new one too. */
        if (tracker && route) {
            tracker_route_changed(tracker, route);
        }
    }
}

static int op_guardian_link(struct op_ctx *op)
{
    int64_t student, user;
    const char *rel;
    size_t rel_len;
    bool emergency = false, has_emergency;
    int r = op_arg_id(op, "student", &student);
    if (r || (r = op_arg_id(op, "user", &user)) != 0 ||
        (r = op_arg_str(op, "relationship", RELATIONSHIP_MAX_LEN, &rel, &rel_len)) != 0 ||
        (r = op_arg_bool_opt(op, "emergency", &emergency, &has_emergency)) != 0) {
        return r;
    }
    char relationship[RELATIONSHIP_MAX_LEN + 1];
    memcpy(relationship, rel, rel_len);
    relationship[rel_len] = '\0';
    char student_s[24], user_s[24], school[24];
    const char *params[] = { dbval_i64(student, student_s), dbval_i64(user, user_s),
                             dbval_i64(op->caller.school_id, school), relationship,
                             has_emergency ? (emergency ? "true" : "false") : NULL };
    /* Linking again updates the relationship, and emergency when it is given. */
    return op_query(op,
                    "WITH st AS (SELECT id FROM students WHERE id = $1 AND school_id = $3),"
                    " us AS (SELECT id, role FROM users WHERE id = $2 AND school_id = $3),"
                    " up AS (INSERT INTO guardians"
                    "        (student_id, user_id, school_id, relationship, emergency)"
                    "        SELECT st.id, us.id, $3, $4, coalesce($5::boolean, false)"
                    "        FROM st, us WHERE us.role = 'parent'"
                    "        ON CONFLICT (student_id, user_id) DO UPDATE"
                    "        SET relationship = EXCLUDED.relationship,"
                    "            emergency = coalesce($5::boolean, guardians.emergency)"
                    "        RETURNING student_id)"
                    " SELECT EXISTS (SELECT 1 FROM st), (SELECT role FROM us),"
                    " EXISTS (SELECT 1 FROM up), $1::bigint,"
                    " (SELECT route_id FROM route_assignments WHERE student_id = $1 LIMIT 1)",
                    5, params, on_guardian_linked, op);
}

/* --- guardian.unlink --- */

static void on_guardian_unlinked(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    if (PQntuples(res) == 0) {
        op_fail(op, OP_E_NOT_FOUND, "this user is not a guardian of this student", "user");
        return;
    }
    int64_t student = dbval_get_i64(res, 0, 0);
    int64_t user = dbval_get_i64(res, 0, 1);
    int64_t route = dbval_get_i64(res, 0, 2);
    struct tracker *tracker = op->env->tracker;
    int64_t school = op->caller.school_id;
    audit_op(op, "student", student, "ok");
    op_reply_empty(op);
    /* The parent may be following this child's bus: that ends now, not at the next check;
     * and a running trip of the route stops telling them about the child's stop. */
    if (tracker) {
        tracker_recheck_user(tracker, school, user);
        if (route) {
            tracker_route_changed(tracker, route);
        }
    }
}

static int op_guardian_unlink(struct op_ctx *op)
{
    int64_t student, user;
    int r = op_arg_id(op, "student", &student);
    if (r || (r = op_arg_id(op, "user", &user)) != 0) {
        return r;
    }
    char student_s[24], user_s[24], school[24];
    const char *params[] = { dbval_i64(student, student_s), dbval_i64(user, user_s),
                             dbval_i64(op->caller.school_id, school) };
    return op_query(op,
                    "DELETE FROM guardians WHERE student_id = $1 AND user_id = $2"
                    " AND school_id = $3 RETURNING student_id, user_id,"
                    " (SELECT route_id FROM route_assignments a"
                    "  WHERE a.student_id = guardians.student_id LIMIT 1)",
                    3, params, on_guardian_unlinked, op);
}

/* --- guardian.list --- */

static void on_guardians_listed(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    /* One row per guardian, or one row of NULLs after the student when there are none. */
    int rows = PQntuples(res);
    if (rows == 0) {
        op_fail(op, OP_E_NOT_FOUND, "no such student", "student");
        return;
    }
    bool any = !PQgetisnull(res, 0, 1);
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_array(pk, any ? (size_t)rows : 0);
    for (int i = 0; any && i < rows; i++) {
        pack_guardian(pk, res, i, 1);
    }
    op_reply_end(op);
}

static int op_guardian_list(struct op_ctx *op)
{
    int64_t student;
    int r = op_arg_id(op, "student", &student);
    if (r) {
        return r;
    }
    char student_s[24], school[24];
    const char *params[] = { dbval_i64(student, student_s),
                             dbval_i64(op->caller.school_id, school) };
    return op_query(op,
                    "SELECT s.id, g.user_id, u.name, g.relationship, g.emergency"
                    " FROM students s LEFT JOIN guardians g ON g.student_id = s.id"
                    " LEFT JOIN users u ON u.id = g.user_id"
                    " WHERE s.id = $1 AND s.school_id = $2 ORDER BY g.user_id",
                    2, params, on_guardians_listed, op);
}

const struct op_def student_ops[] = {
    { .name = "student.create", .fn = op_student_create, .roles = ROLE_ADMIN },
    { .name = "student.get", .fn = op_student_get, .roles = ROLE_ADMIN },
    { .name = "student.list", .fn = op_student_list, .roles = ROLE_ADMIN },
    { .name = "student.update", .fn = op_student_update, .roles = ROLE_ADMIN },
    { .name = "student.delete", .fn = op_student_delete, .roles = ROLE_ADMIN },
    { .name = "guardian.link", .fn = op_guardian_link, .roles = ROLE_ADMIN },
    { .name = "guardian.unlink", .fn = op_guardian_unlink, .roles = ROLE_ADMIN },
    { .name = "guardian.list", .fn = op_guardian_list, .roles = ROLE_ADMIN },
    { .name = NULL },
};
