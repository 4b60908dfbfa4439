/* Grades (see grades.h): the term percentage per subject, bands, the overall and the rank,
 * and the rows that feed them. */
#include "academics/grades.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dbval.h"
#include "core/xalloc.h"

void grades_default_scale(struct grade_scale *s)
{
    static const struct grade_band cbse[] = {
        { 91, "A1", 10 }, { 81, "A2", 9 }, { 71, "B1", 8 }, { 61, "B2", 7 },
        { 51, "C1", 6 },  { 41, "C2", 5 }, { 33, "D", 4 },  { 0, "E", 0 },
    };
    memset(s, 0, sizeof *s);
    s->n = sizeof cbse / sizeof cbse[0];
    memcpy(s->bands, cbse, sizeof cbse);
}

static int by_min_desc(const void *a, const void *b)
{
    double x = ((const struct grade_band *)a)->min, y = ((const struct grade_band *)b)->min;
    return x < y ? 1 : x > y ? -1 : 0;
}

int grades_scale_check(struct grade_scale *s)
{
    if (s->n < 1 || s->n > GRADES_MAX_BANDS) {
        return -EINVAL;
    }
    qsort(s->bands, s->n, sizeof s->bands[0], by_min_desc);
    for (size_t i = 0; i < s->n; i++) {
        if (!(s->bands[i].min >= 0 && s->bands[i].min <= 100) ||
            (i > 0 && s->bands[i].min == s->bands[i - 1].min)) {
            return -EINVAL;
        }
    }
    return s->bands[s->n - 1].min == 0 ? 0 : -EINVAL;
}

const struct grade_band *grades_band(const struct grade_scale *s, double pct)
{
    for (size_t i = 0; i < s->n; i++) {
        if (pct >= s->bands[i].min) {
            return &s->bands[i];
        }
    }
    return s->n ? &s->bands[s->n - 1] : NULL;
}

double grades_round2(double v)
{
    return round(v * 100.0) / 100.0;
}

void grades_subject_add(struct grade_subject *g, double marks, double max, double weight,
                        const char *status)
{
    if (!status || !(max > 0) || !(weight > 0)) {
        return; /* not entered */
    }
    if (strcmp(status, "exempt") == 0) {
        g->n_exempt++;
        return;
    }
    bool absent = strcmp(status, "absent") == 0;
    if (absent) {
        g->n_absent++;
        marks = 0;
    }
    g->n_counted++;
    g->marks += marks;
    g->max += max;
    g->weighted += marks / max * weight;
    g->weight += weight;
}

void grades_card_finish(struct grade_card *c, const struct grade_scale *scale)
{
    double sum = 0;
    int n = 0;
    for (size_t i = 0; i < c->n_subjects; i++) {
        struct grade_subject *g = &c->subjects[i];
        g->band = NULL;
        g->percentage = 0;
        if (g->n_counted == 0) {
            g->status = g->n_exempt ? GRADE_EXEMPT : GRADE_NONE;
            continue;
        }
        g->status = g->n_absent == g->n_counted ? GRADE_ABSENT : GRADE_GRADED;
        g->percentage = grades_round2(g->weighted / g->weight * 100.0);
        g->band = grades_band(scale, g->percentage);
        sum += g->percentage;
        n++;
    }
    c->overall.graded = n > 0;
    c->overall.percentage = n ? grades_round2(sum / n) : 0;
    c->overall.band = n ? grades_band(scale, c->overall.percentage) : NULL;
}

int grades_rank(double own, const double *others, size_t n)
{
    int above = 0;
    for (size_t i = 0; i < n; i++) {
        above += others[i] > own;
    }
    return 1 + above;
}

char *grades_fmt(double v, char *buf, size_t cap)
{
    snprintf(buf, cap, "%.2f", grades_round2(v));
    char *dot = strchr(buf, '.');
    if (dot) {
        char *end = buf + strlen(buf) - 1;
        while (end > dot && *end == '0') {
            *end-- = '\0';
        }
        if (end == dot) {
            *end = '\0';
        }
    }
    return buf;
}

/* --- rows --- */

const char GRADES_CARD_HEAD_SQL[] =
    "WITH st AS (SELECT s.id, s.section_id FROM students s WHERE s.id = $1 AND s.school_id = $3),"
    " sec AS (SELECT COALESCE((SELECT e.section_id FROM marks m JOIN exams e ON e.id = m.exam_id"
    "         WHERE m.student_id = $1 AND e.term_id = $2 ORDER BY m.entered_at DESC LIMIT 1),"
    "         (SELECT section_id FROM st)) AS id)"
    " SELECT (SELECT id FROM sec),"
    "  EXISTS (SELECT 1 FROM report_card_publications p WHERE p.term_id = $2"
    "          AND p.section_id = (SELECT id FROM sec)),"
    "  COALESCE((SELECT ranks FROM grade_settings WHERE school_id = $3), false)"
    " FROM terms t WHERE t.id = $2 AND t.school_id = $3 AND EXISTS (SELECT 1 FROM st)";

const char GRADES_CARD_SQL[] =
    "SELECT 0 AS k, NULL::bigint AS term, NULL::bigint AS student, NULL::bigint AS subject,"
    "  b.grade AS name, b.min_pct AS a, b.point AS b, NULL::numeric AS marks,"
    "  NULL::text AS status"
    " FROM grade_bands b WHERE b.school_id = $3"
    " UNION ALL"
    " SELECT 1, e.term_id, $1, e.subject_id, j.name, e.max_marks, e.weight, m.marks, m.status"
    " FROM exams e JOIN subjects j ON j.id = e.subject_id"
    " LEFT JOIN marks m ON m.exam_id = e.id AND m.student_id = $1"
    " WHERE e.term_id = $2 AND e.section_id = $4 AND e.school_id = $3"
    " UNION ALL"
    " SELECT 1, e.term_id, m.student_id, e.subject_id, j.name, e.max_marks, e.weight, m.marks,"
    "  m.status"
    " FROM exams e JOIN subjects j ON j.id = e.subject_id"
    " JOIN marks m ON m.exam_id = e.id AND m.student_id <> $1"
    " WHERE $5::boolean AND e.term_id = $2 AND e.section_id = $4 AND e.school_id = $3"
    " ORDER BY 1, 3, 5, 4";

static double num(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? 0 : strtod(PQgetvalue(res, row, col), NULL);
}

void grades_scale_read(const PGresult *res, struct grade_scale *scale)
{
    memset(scale, 0, sizeof *scale);
    for (int r = 0; r < PQntuples(res) && scale->n < GRADES_MAX_BANDS; r++) {
        if (dbval_get_i64(res, r, GRADES_COL_KIND) != 0) {
            continue;
        }
        struct grade_band *b = &scale->bands[scale->n++];
        b->min = num(res, r, GRADES_COL_MAX);
        b->point = num(res, r, GRADES_COL_WEIGHT);
        snprintf(b->grade, sizeof b->grade, "%s", PQgetvalue(res, r, GRADES_COL_NAME));
    }
    if (scale->n == 0 || grades_scale_check(scale) != 0) {
        grades_default_scale(scale);
    }
}

/* Adds row r to c's subject (a new one when it is not there yet and there is room). */
static void add_row(struct grade_card *c, const PGresult *res, int r)
{
    int64_t subject = dbval_get_i64(res, r, GRADES_COL_SUBJECT);
    struct grade_subject *g = NULL;
    for (size_t i = 0; i < c->n_subjects && !g; i++) {
        if (c->subjects[i].id == subject) {
            g = &c->subjects[i];
        }
    }
    if (!g) {
        if (c->n_subjects == GRADES_MAX_SUBJECTS) {
            return;
        }
        g = &c->subjects[c->n_subjects++];
        memset(g, 0, sizeof *g);
        g->id = subject;
        snprintf(g->name, sizeof g->name, "%s", PQgetvalue(res, r, GRADES_COL_NAME));
    }
    grades_subject_add(g, num(res, r, GRADES_COL_MARKS), num(res, r, GRADES_COL_MAX),
                       num(res, r, GRADES_COL_WEIGHT),
                       PQgetisnull(res, r, GRADES_COL_STATUS)
                           ? NULL : PQgetvalue(res, r, GRADES_COL_STATUS));
}

static bool mark_row(const PGresult *res, int r, int64_t term)
{
    return dbval_get_i64(res, r, GRADES_COL_KIND) == 1 &&
           dbval_get_i64(res, r, GRADES_COL_TERM) == term;
}

void grades_card_read(const PGresult *res, int64_t student, int64_t term,
                      const struct grade_scale *scale, bool ranks, struct grade_card *card)
{
    memset(card, 0, sizeof *card);
    int n = PQntuples(res);
    for (int r = 0; r < n; r++) {
        if (mark_row(res, r, term) && dbval_get_i64(res, r, GRADES_COL_STUDENT) == student) {
            add_row(card, res, r);
        }
    }
    grades_card_finish(card, scale);
    if (!ranks || !card->overall.graded) {
        return;
    }
    /* The classmates' overalls: their rows come grouped by student. */
    double *others = xcalloc((size_t)n + 1, sizeof *others);
    struct grade_card *mate = xcalloc(1, sizeof *mate);
    size_t n_others = 0;
    for (int r = 0; r < n;) {
        if (!mark_row(res, r, term) || dbval_get_i64(res, r, GRADES_COL_STUDENT) == student) {
            r++;
            continue;
        }
        int64_t who = dbval_get_i64(res, r, GRADES_COL_STUDENT);
        memset(mate, 0, sizeof *mate);
        for (; r < n && mark_row(res, r, term) && dbval_get_i64(res, r, GRADES_COL_STUDENT) == who;
             r++) {
            add_row(mate, res, r);
        }
        grades_card_finish(mate, scale);
        if (mate->overall.graded) {
            others[n_others++] = mate->overall.percentage;
        }
    }
    card->rank = grades_rank(card->overall.percentage, others, n_others);
    card->n_ranked = (int)n_others + 1;
    free(mate);
    free(others);
}
