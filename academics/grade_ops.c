/* The grade.* ops (see grade_ops.h): the school's scale and settings, a student's term,
 * progress across the year's terms and a section's distribution, all computed by
 * academics/grades.h (the report card's computation too). */
#include "academics/grade_ops.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "academics/grades.h"
#include "academics/scope.h"
#include "core/dbval.h"
#include "core/op_db.h"
#include "core/op_pack.h"
#include "core/strbuf.h"

#define PROGRESS_MAX_TERMS 12

/* Packs a band's grade and point, or nils. */
static void pack_band(msgpack_packer *pk, const struct grade_band *b)
{
    envelope_pack_key(pk, "grade");
    if (b) {
        envelope_pack_str(pk, b->grade);
    } else {
        msgpack_pack_nil(pk);
    }
    envelope_pack_key(pk, "point");
    if (b) {
        msgpack_pack_double(pk, b->point);
    } else {
        msgpack_pack_nil(pk);
    }
}

static void pack_pct(msgpack_packer *pk, bool has, double v)
{
    if (has) {
        msgpack_pack_double(pk, v);
    } else {
        msgpack_pack_nil(pk);
    }
}

static void pack_ref(msgpack_packer *pk, int64_t id, const char *name)
{
    msgpack_pack_map(pk, 2);
    envelope_pack_key(pk, "id");
    msgpack_pack_int64(pk, id);
    envelope_pack_key(pk, "name");
    envelope_pack_str(pk, name);
}

/* ===== grade.scale.*, grade.settings.* ===== */

static int reply_scale(struct op_ctx *op, const PGresult *res)
{
    struct grade_scale scale;
    grades_scale_read(res, &scale);
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 2);
    envelope_pack_key(pk, "bands");
    msgpack_pack_array(pk, scale.n);
    for (size_t i = 0; i < scale.n; i++) {
        msgpack_pack_map(pk, 3);
        envelope_pack_key(pk, "min");
        msgpack_pack_double(pk, scale.bands[i].min);
        envelope_pack_key(pk, "grade");
        envelope_pack_str(pk, scale.bands[i].grade);
        envelope_pack_key(pk, "point");
        msgpack_pack_double(pk, scale.bands[i].point);
    }
    envelope_pack_key(pk, "default");
    envelope_pack_bool(pk, PQntuples(res) == 0);
    op_reply_end(op);
    return 0;
}

static int op_grade_scale_get(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT 0, NULL::bigint, NULL::bigint, NULL::bigint, grade, min_pct, point,"
               " NULL::numeric, NULL::text FROM grade_bands WHERE school_id = $1",
        .on_rows = reply_scale });
}

static int op_grade_scale_set(struct op_ctx *op)
{
    const msgpack_object *bands = op_map_get(op->args, "bands");
    struct grade_scale scale = { .n = bands->via.array.size };
    if (scale.n == 0 || scale.n > GRADES_MAX_BANDS) {
        return op_refuse(op, OP_E_BAD_REQUEST, "bands", "must have 1 to 16 bands");
    }
    for (uint32_t i = 0; i < bands->via.array.size; i++) {
        const msgpack_object *b = &bands->via.array.ptr[i];
        if (b->type != MSGPACK_OBJECT_MAP) {
            return op_refuse(op, OP_E_BAD_REQUEST, arena_printf(&op->arena, "bands[%u]", i),
                             "must be a map");
        }
        const msgpack_object *grade = op_map_get(b, "grade");
        scale.bands[i].min = grades_round2(op_num(op_map_get(b, "min")));
        scale.bands[i].point = grades_round2(op_num(op_map_get(b, "point")));
        snprintf(scale.bands[i].grade, sizeof scale.bands[i].grade, "%.*s",
                 (int)grade->via.str.size, grade->via.str.ptr);
        for (uint32_t j = 0; j < i; j++) {
            if (strcmp(scale.bands[j].grade, scale.bands[i].grade) == 0) {
                return op_refuse(op, OP_E_BAD_REQUEST,
                                 arena_printf(&op->arena, "bands[%u].grade", i),
                                 "is given twice");
            }
        }
    }
    if (grades_scale_check(&scale) != 0) {
        return op_refuse(op, OP_E_BAD_REQUEST, "bands",
                         "minimums must be distinct and one of them 0");
    }
    struct strbuf mins, grades, points;
    strbuf_init(&mins);
    strbuf_init(&grades);
    strbuf_init(&points);
    for (size_t i = 0; i < scale.n; i++) {
        strbuf_printf(&mins, "%s%.2f", i ? "," : "{", scale.bands[i].min);
        strbuf_printf(&points, "%s%.2f", i ? "," : "{", scale.bands[i].point);
        strbuf_append(&grades, i ? "," : "{", 1);
        dbval_text_array_add(&grades, scale.bands[i].grade, strlen(scale.bands[i].grade));
    }
    op_param_id(op, op->caller.school_id);
    strbuf_append(&mins, "}", 1);
    op_param_str(op, arena_take_strbuf(&op->arena, &mins));
    strbuf_append(&grades, "}", 1);
    op_param_str(op, arena_take_strbuf(&op->arena, &grades));
    strbuf_append(&points, "}", 1);
    op_param_str(op, arena_take_strbuf(&op->arena, &points));
    return op_sql(op, &(struct op_sql){
        /* The insert reads the delete's count, so the old bands are gone before the new
         * ones go in; a concurrent replacement makes this one collide (run again). */
        .sql = "WITH d AS (DELETE FROM grade_bands WHERE school_id = $1 RETURNING 1)"
               " INSERT INTO grade_bands (school_id, min_pct, grade, point)"
               " SELECT $1, u.m, u.g, u.p FROM unnest($2::numeric[], $3::text[], $4::numeric[])"
               " AS u(m, g, p) WHERE (SELECT count(*) FROM d) >= 0",
        .errors = (const struct op_db_error[]){
            { .cond = OP_DB_UNIQUE, .retry = true },
            { .cond = 0 } },
        .audit = "grade_scale", .audit_id = op->caller.school_id });
}

static const struct op_col settings_cols[] = {
    { .key = "ranks", .type = OP_COL_BOOL, .col = 0 },
    { .key = NULL },
};

static int op_grade_settings_get(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT COALESCE((SELECT ranks FROM grade_settings WHERE school_id = $1), false)",
        .reply_row = settings_cols });
}

static int op_grade_settings_set(struct op_ctx *op)
{
    op_param_id(op, op->caller.school_id);
    op_param_bool(op, op_get_bool(op, "ranks", false));
    return op_sql(op, &(struct op_sql){
        .sql = "INSERT INTO grade_settings (school_id, ranks) VALUES ($1, $2)"
               " ON CONFLICT (school_id) DO UPDATE SET ranks = EXCLUDED.ranks",
        .audit = "grade_settings", .audit_id = op->caller.school_id });
}

/* ===== grade.student ===== */

struct term_state {
    int64_t student, term, section;
    bool published, ranks, parent;
};

static void pack_subject(msgpack_packer *pk, const struct grade_subject *g)
{
    bool graded = g->status == GRADE_GRADED || g->status == GRADE_ABSENT;
    msgpack_pack_map(pk, 7);
    envelope_pack_key(pk, "subject");
    pack_ref(pk, g->id, g->name);
    envelope_pack_key(pk, "marks");
    pack_pct(pk, g->n_counted > 0, g->marks);
    envelope_pack_key(pk, "max");
    pack_pct(pk, g->n_counted > 0, g->max);
    envelope_pack_key(pk, "percentage");
    pack_pct(pk, graded, g->percentage);
    pack_band(pk, graded ? g->band : NULL);
    envelope_pack_key(pk, "status");
    static const char *const names[] = { [GRADE_NONE] = "none", [GRADE_GRADED] = "graded",
                                         [GRADE_ABSENT] = "absent", [GRADE_EXEMPT] = "exempt" };
    envelope_pack_str(pk, names[g->status]);
}

static void pack_overall(msgpack_packer *pk, const struct grade_card *c, bool ranks)
{
    bool rank = ranks && c->rank > 0;
    msgpack_pack_map(pk, rank ? 5 : 3);
    envelope_pack_key(pk, "percentage");
    pack_pct(pk, c->overall.graded, c->overall.percentage);
    pack_band(pk, c->overall.band);
    if (rank) {
        envelope_pack_key(pk, "rank");
        msgpack_pack_int(pk, c->rank);
        envelope_pack_key(pk, "of");
        msgpack_pack_int(pk, c->n_ranked);
    }
}

static int reply_term(struct op_ctx *op, const PGresult *res)
{
    struct term_state *st = op->state;
    struct grade_scale scale;
    struct grade_card *card = op_alloc(op, sizeof *card);
    grades_scale_read(res, &scale);
    grades_card_read(res, st->student, st->term, &scale, st->ranks, card);
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 6);
    envelope_pack_key(pk, "student");
    msgpack_pack_int64(pk, st->student);
    envelope_pack_key(pk, "term");
    msgpack_pack_int64(pk, st->term);
    envelope_pack_key(pk, "section");
    msgpack_pack_int64(pk, st->section);
    envelope_pack_key(pk, "published");
    envelope_pack_bool(pk, st->published);
    envelope_pack_key(pk, "subjects");
    msgpack_pack_array(pk, card->n_subjects);
    for (size_t i = 0; i < card->n_subjects; i++) {
        pack_subject(pk, &card->subjects[i]);
    }
    envelope_pack_key(pk, "overall");
    pack_overall(pk, card, st->ranks);
    op_reply_end(op);
    return 0;
}

static int term_head(struct op_ctx *op, const PGresult *res)
{
    struct term_state *st = op->state;
    st->section = PQgetisnull(res, 0, GRADES_HEAD_SECTION)
                      ? 0 : dbval_get_i64(res, 0, GRADES_HEAD_SECTION);
    st->published = dbval_get_bool(res, 0, GRADES_HEAD_PUBLISHED);
    st->ranks = dbval_get_bool(res, 0, GRADES_HEAD_RANKS);
    if (st->parent && !st->published) {
        return op_refuse(op, OP_E_FORBIDDEN, "term",
                         "the report cards of this term are not published yet");
    }
    op_param_id(op, st->student);
    op_param_id(op, st->term);
    op_param_id(op, op->caller.school_id);
    op_param_id(op, st->section);
    op_param_bool(op, st->ranks);
    return op_sql(op, &(struct op_sql){ .sql = GRADES_CARD_SQL, .on_rows = reply_term });
}

static int term_scoped(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    struct term_state *st = op->state;
    op_param_id(op, st->student);
    op_param_id(op, st->term);
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){ .sql = GRADES_CARD_HEAD_SQL, .not_found = "no such term",
                                        .not_found_field = "term", .on_rows = term_head });
}

static int op_grade_student(struct op_ctx *op)
{
    struct term_state *st = op_alloc(op, sizeof *st);
    st->student = op_get_id(op, "student");
    st->term = op_get_id(op, "term");
    st->parent = op->caller.role == ROLE_PARENT;
    op->state = st;
    return scope_check(op, SCOPE_STUDENT, st->student, "student", term_scoped);
}

/* ===== grade.progress ===== */

/* $1 student, $2 school, $3 only published terms. Kind 0 bands, kind 2 terms of the
 * student's year in order (days present or late, days marked; 'published'), kind 1 the
 * student's exams of those terms in their section or with their mark. */
static const char PROGRESS_SQL[] =
    "WITH st AS (SELECT id, section_id, year_id FROM students WHERE id = $1 AND school_id = $2),"
    " tm AS (SELECT t.id, t.name, t.starts_on, t.ends_on,"
    "   EXISTS (SELECT 1 FROM report_card_publications p WHERE p.term_id = t.id"
    "           AND p.section_id = (SELECT section_id FROM st)) AS pub"
    "   FROM terms t WHERE t.year_id = (SELECT year_id FROM st) AND t.school_id = $2),"
    " vis AS (SELECT * FROM tm WHERE pub OR NOT $3::boolean)"
    " SELECT * FROM ("
    " SELECT 0 AS k, NULL::bigint AS term, NULL::bigint AS student, NULL::bigint AS subject,"
    "  b.grade AS name, b.min_pct AS a, b.point AS b, NULL::numeric AS marks,"
    "  NULL::text AS status FROM grade_bands b WHERE b.school_id = $2"
    " UNION ALL"
    " SELECT 2, v.id, NULL, NULL, v.name,"
    "  (SELECT count(*) FROM attendance a WHERE a.student_id = $1"
    "   AND a.day BETWEEN v.starts_on AND v.ends_on AND a.status IN ('present', 'late')),"
    "  (SELECT count(*) FROM attendance a WHERE a.student_id = $1"
    "   AND a.day BETWEEN v.starts_on AND v.ends_on),"
    "  extract(epoch FROM v.starts_on)::numeric, CASE WHEN v.pub THEN 'published' END"
    " FROM vis v"
    " UNION ALL"
    " SELECT 1, e.term_id, $1, e.subject_id, j.name, e.max_marks, e.weight, m.marks, m.status"
    " FROM exams e JOIN vis v ON v.id = e.term_id JOIN subjects j ON j.id = e.subject_id"
    " LEFT JOIN marks m ON m.exam_id = e.id AND m.student_id = $1"
    " WHERE e.school_id = $2 AND (e.section_id = (SELECT section_id FROM st)"
    "   OR m.student_id IS NOT NULL)"
    " ) u ORDER BY k, CASE WHEN k = 2 THEN marks END, term, name, subject";

struct subject_ref {
    int64_t id;
    const char *name;
};

static int reply_progress(struct op_ctx *op, const PGresult *res)
{
    int64_t student = op_get_id(op, "student");
    struct grade_scale scale;
    grades_scale_read(res, &scale);
    int n = PQntuples(res);
    int terms[PROGRESS_MAX_TERMS]; /* rows of kind 2 */
    size_t n_terms = 0;
    for (int r = 0; r < n && n_terms < PROGRESS_MAX_TERMS; r++) {
        if (dbval_get_i64(res, r, GRADES_COL_KIND) == 2) {
            terms[n_terms++] = r;
        }
    }
    struct grade_card *cards = op_alloc(op, (n_terms ? n_terms : 1) * sizeof *cards);
    struct subject_ref subjects[GRADES_MAX_SUBJECTS];
    size_t n_subjects = 0;
    for (size_t t = 0; t < n_terms; t++) {
        grades_card_read(res, student, dbval_get_i64(res, terms[t], GRADES_COL_TERM), &scale,
                         false, &cards[t]);
        for (size_t i = 0; i < cards[t].n_subjects; i++) {
            size_t k = 0;
            while (k < n_subjects && subjects[k].id != cards[t].subjects[i].id) {
                k++;
            }
            if (k == n_subjects && n_subjects < GRADES_MAX_SUBJECTS) {
                subjects[n_subjects++] = (struct subject_ref){ cards[t].subjects[i].id,
                                                               cards[t].subjects[i].name };
            }
        }
    }
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 3);
    envelope_pack_key(pk, "student");
    msgpack_pack_int64(pk, student);
    envelope_pack_key(pk, "terms");
    msgpack_pack_array(pk, n_terms);
    for (size_t t = 0; t < n_terms; t++) {
        int r = terms[t];
        double present = dbval_get_f64(res, r, GRADES_COL_MAX), marked = dbval_get_f64(res, r, GRADES_COL_WEIGHT);
        msgpack_pack_map(pk, 4);
        envelope_pack_key(pk, "term");
        pack_ref(pk, dbval_get_i64(res, r, GRADES_COL_TERM), PQgetvalue(res, r, GRADES_COL_NAME));
        envelope_pack_key(pk, "published");
        envelope_pack_bool(pk, !PQgetisnull(res, r, GRADES_COL_STATUS));
        envelope_pack_key(pk, "overall");
        pack_overall(pk, &cards[t], false);
        envelope_pack_key(pk, "attendance");
        msgpack_pack_map(pk, 3);
        envelope_pack_key(pk, "present");
        msgpack_pack_int64(pk, (int64_t)present);
        envelope_pack_key(pk, "marked");
        msgpack_pack_int64(pk, (int64_t)marked);
        envelope_pack_key(pk, "percentage");
        pack_pct(pk, marked > 0, marked > 0 ? grades_round2(present / marked * 100.0) : 0);
    }
    envelope_pack_key(pk, "subjects");
    msgpack_pack_array(pk, n_subjects);
    for (size_t k = 0; k < n_subjects; k++) {
        msgpack_pack_map(pk, 2);
        envelope_pack_key(pk, "subject");
        pack_ref(pk, subjects[k].id, subjects[k].name);
        envelope_pack_key(pk, "terms");
        size_t count = 0;
        for (size_t t = 0; t < n_terms; t++) {
            for (size_t i = 0; i < cards[t].n_subjects; i++) {
                count += cards[t].subjects[i].id == subjects[k].id;
            }
        }
        msgpack_pack_array(pk, count);
        for (size_t t = 0; t < n_terms; t++) {
            for (size_t i = 0; i < cards[t].n_subjects; i++) {
                const struct grade_subject *g = &cards[t].subjects[i];
                if (g->id != subjects[k].id) {
                    continue;
                }
                bool graded = g->status == GRADE_GRADED || g->status == GRADE_ABSENT;
                msgpack_pack_map(pk, 3);
                envelope_pack_key(pk, "term");
                msgpack_pack_int64(pk, dbval_get_i64(res, terms[t], GRADES_COL_TERM));
                envelope_pack_key(pk, "percentage");
                pack_pct(pk, graded, g->percentage);
                envelope_pack_key(pk, "grade");
                if (graded && g->band) {
                    envelope_pack_str(pk, g->band->grade);
                } else {
                    msgpack_pack_nil(pk);
                }
            }
        }
    }
    op_reply_end(op);
    return 0;
}

static int progress_scoped(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    op_param_id(op, op_get_id(op, "student"));
    op_param_id(op, op->caller.school_id);
    op_param_bool(op, op->caller.role == ROLE_PARENT);
    return op_sql(op, &(struct op_sql){ .sql = PROGRESS_SQL, .on_rows = reply_progress });
}

static int op_grade_progress(struct op_ctx *op)
{
    return scope_check(op, SCOPE_STUDENT, op_get_id(op, "student"), "student", progress_scoped);
}

/* ===== grade.distribution ===== */

/* $1 section, $2 term, $3 school. Kind 0 bands, kind 2 the term (none: not the school's),
 * kind 1 every mark of the term's exams in the section, by student. */
static const char DISTRIBUTION_SQL[] =
    "SELECT 0 AS k, NULL::bigint, NULL::bigint, NULL::bigint, b.grade, b.min_pct, b.point,"
    "  NULL::numeric, NULL::text FROM grade_bands b WHERE b.school_id = $3"
    " UNION ALL SELECT 2, t.id, NULL, NULL, t.name, NULL, NULL, NULL, NULL FROM terms t"
    "  WHERE t.id = $2 AND t.school_id = $3"
    " UNION ALL SELECT 1, e.term_id, m.student_id, e.subject_id, j.name, e.max_marks,"
    "  e.weight, m.marks, m.status"
    "  FROM exams e JOIN subjects j ON j.id = e.subject_id JOIN marks m ON m.exam_id = e.id"
    "  WHERE e.section_id = $1 AND e.term_id = $2 AND e.school_id = $3"
    " ORDER BY 1, 3, 5, 4";

static int reply_distribution(struct op_ctx *op, const PGresult *res)
{
    int64_t term = op_get_id(op, "term");
    int n = PQntuples(res);
    bool found = false;
    for (int r = 0; r < n && !found; r++) {
        found = dbval_get_i64(res, r, GRADES_COL_KIND) == 2;
    }
    if (!found) {
        return op_refuse(op, OP_E_NOT_FOUND, "term", "no such term");
    }
    struct grade_scale scale;
    grades_scale_read(res, &scale);
    struct subject_ref subjects[GRADES_MAX_SUBJECTS];
    size_t n_subjects = 0;
    int (*counts)[GRADES_MAX_BANDS] = op_alloc(op, sizeof(int[GRADES_MAX_SUBJECTS][GRADES_MAX_BANDS]));
    int *ungraded = op_alloc(op, sizeof(int[GRADES_MAX_SUBJECTS]));
    struct grade_card *card = op_alloc(op, sizeof *card);
    for (int r = 0; r < n; r++) {
        if (dbval_get_i64(res, r, GRADES_COL_KIND) != 1) {
            continue;
        }
        int64_t subject = dbval_get_i64(res, r, GRADES_COL_SUBJECT);
        size_t k = 0;
        while (k < n_subjects && subjects[k].id != subject) {
            k++;
        }
        if (k == n_subjects && n_subjects < GRADES_MAX_SUBJECTS) {
            subjects[n_subjects++] = (struct subject_ref){
                subject, PQgetvalue(res, r, GRADES_COL_NAME) };
        }
    }
    for (int r = 0; r < n;) {
        if (dbval_get_i64(res, r, GRADES_COL_KIND) != 1) {
            r++;
            continue;
        }
        int64_t who = dbval_get_i64(res, r, GRADES_COL_STUDENT);
        grades_card_read(res, who, term, &scale, false, card);
        while (r < n && dbval_get_i64(res, r, GRADES_COL_KIND) == 1 &&
               dbval_get_i64(res, r, GRADES_COL_STUDENT) == who) {
            r++;
        }
        for (size_t i = 0; i < card->n_subjects; i++) {
            const struct grade_subject *g = &card->subjects[i];
            for (size_t k = 0; k < n_subjects; k++) {
                if (subjects[k].id != g->id) {
                    continue;
                }
                if ((g->status == GRADE_GRADED || g->status == GRADE_ABSENT) && g->band) {
                    counts[k][g->band - scale.bands]++;
                } else {
                    ungraded[k]++;
                }
            }
        }
    }
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 3);
    envelope_pack_key(pk, "section");
    msgpack_pack_int64(pk, op_get_id(op, "section"));
    envelope_pack_key(pk, "term");
    msgpack_pack_int64(pk, term);
    envelope_pack_key(pk, "subjects");
    msgpack_pack_array(pk, n_subjects);
    for (size_t k = 0; k < n_subjects; k++) {
        msgpack_pack_map(pk, 3);
        envelope_pack_key(pk, "subject");
        pack_ref(pk, subjects[k].id, subjects[k].name);
        envelope_pack_key(pk, "grades");
        msgpack_pack_array(pk, scale.n);
        for (size_t b = 0; b < scale.n; b++) {
            msgpack_pack_map(pk, 2);
            envelope_pack_key(pk, "grade");
            envelope_pack_str(pk, scale.bands[b].grade);
            envelope_pack_key(pk, "students");
            msgpack_pack_int(pk, counts[k][b]);
        }
        envelope_pack_key(pk, "ungraded");
        msgpack_pack_int(pk, ungraded[k]);
    }
    op_reply_end(op);
    return 0;
}

static int distribution_scoped(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    op_param_id(op, op_get_id(op, "section"));
    op_param_id(op, op_get_id(op, "term"));
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){ .sql = DISTRIBUTION_SQL, .on_rows = reply_distribution });
}

static int op_grade_distribution(struct op_ctx *op)
{
    return scope_check(op, SCOPE_SECTION, op_get_id(op, "section"), "section",
                       distribution_scoped);
}
/* ===== the table ===== */

static const struct op_arg BAND_FIELDS[] = {
    { .name = "min", .type = OP_T_NUM, .required = OP_REQ, .lo = 0, .hi = 100 },
    { .name = "grade", .type = OP_T_STR, .required = OP_REQ, .max = GRADES_MAX_GRADE_LEN },
    { .name = "point", .type = OP_T_NUM, .required = OP_REQ, .lo = 0, .hi = 100 },
    { .name = NULL },
};
static const struct op_arg BAND_ITEM[] = {
    { .name = "band", .type = OP_T_MAP, .required = OP_REQ, .fields = BAND_FIELDS },
    { .name = NULL },
};
static const struct op_arg SCALE_SET_ARGS[] = {
    { .name = "bands", .type = OP_T_ARRAY, .required = OP_REQ, .max = GRADES_MAX_BANDS,
      .items = BAND_ITEM },
    { .name = NULL },
};
static const struct op_arg SETTINGS_SET_ARGS[] = {
    { .name = "ranks", .type = OP_T_BOOL, .required = OP_REQ },
    { .name = NULL },
};static const struct op_arg STUDENT_TERM_ARGS[] = {
    { .name = "student", .type = OP_T_ID, .required = OP_REQ },
    { .name = "term", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};
static const struct op_arg STUDENT_ARGS[] = {
    { .name = "student", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};
static const struct op_arg SECTION_TERM_ARGS[] = {
    { .name = "section", .type = OP_T_ID, .required = OP_REQ },
    { .name = "term", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

#define STAFF (ROLE_ADMIN | ROLE_TEACHER)

const struct op_def grade_ops[] = {
    { .name = "grade.scale.get", .fn = op_grade_scale_get, .roles = STAFF | ROLE_PARENT },
    { .name = "grade.scale.set", .fn = op_grade_scale_set, .roles = ROLE_ADMIN,
      .args = SCALE_SET_ARGS },
    { .name = "grade.settings.get", .fn = op_grade_settings_get, .roles = ROLE_ADMIN },
    { .name = "grade.settings.set", .fn = op_grade_settings_set, .roles = ROLE_ADMIN,
      .args = SETTINGS_SET_ARGS },
    { .name = "grade.student", .fn = op_grade_student, .roles = STAFF | ROLE_PARENT,
      .args = STUDENT_TERM_ARGS },
    { .name = "grade.progress", .fn = op_grade_progress, .roles = STAFF | ROLE_PARENT,
      .args = STUDENT_ARGS },
    { .name = "grade.distribution", .fn = op_grade_distribution, .roles = STAFF,
      .args = SECTION_TERM_ARGS },
    { .name = NULL },
};
