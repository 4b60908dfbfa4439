/* Grades: a term's marks turned into per-subject percentages, grades and points and an
 * overall, shared by the grade.* ops and the report cards. Pure computation (grades_subject_*,
 * grades_card_finish, grades_rank) plus one row format any query can produce (GRADES_COL_*),
 * read by grades_scale_read and grades_card_read.
 *
 * The rules: a subject's term percentage is the weighted mean of its exams' percentages,
 * sum(marks / max * weight) / sum(weight) * 100, over the exams the student sat or missed: an
 * absent student scores 0 in that exam, an exempt one has it left out, an exam without a mark
 * entered is left out. marks and max are the plain sums over the same exams (what a report
 * card prints). The overall percentage is the mean of the subjects' percentages (each subject
 * counts the same). Percentages are rounded to 2 decimals, then the grade and point are those
 * of the band with the greatest minimum not above it. Rank (when the school turned ranks on)
 * is the competition rank of the overall percentage among the section's students who have
 * one: 1 + the number of classmates strictly above.
 *
 * For a report card of (student, term), the report-card engineer runs:
 *
 *     op_param_id(op, student); op_param_id(op, term); op_param_id(op, school_id);
 *     op_sql(op, &(struct op_sql){ .sql = GRADES_CARD_HEAD_SQL, .on_rows = head });
 *         -> one row (GRADES_HEAD_*) or none (no such term in the school)
 *     then $1 student, $2 term, $3 school, $4 the head's section, $5 the head's ranks:
 *     op_sql(op, &(struct op_sql){ .sql = GRADES_CARD_SQL, .on_rows = rows });
 *     in rows: grades_scale_read(res, &scale); grades_card_read(res, student, term, &scale,
 *              ranks, &card);  (a struct grade_card is large: op_alloc it)
 *
 * and prints card.subjects[i].name, grades_fmt(marks), grades_fmt(max) and grade (or "AB"
 * / "EX" when card.subjects[i].status says so), card.overall and card.rank. */
#pragma once
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GRADES_MAX_BANDS 16
#define GRADES_MAX_GRADE_LEN 8
#define GRADES_MAX_SUBJECTS 32
#define GRADES_MAX_NAME 64

struct grade_band {
    double min;   /* lowest percentage of the band, inclusive */
    char grade[GRADES_MAX_GRADE_LEN + 1];
    double point;
};

/* Bands sorted by min, greatest first; the last one's min is 0. */
struct grade_scale {
    struct grade_band bands[GRADES_MAX_BANDS];
    size_t n;
};

/* What a subject's marks say about a student's term. */
enum grade_status {
    GRADE_NONE = 0,   /* no exam counted: no percentage, no grade */
    GRADE_GRADED,     /* a percentage, a grade and a point */
    GRADE_ABSENT,     /* absent from every exam counted (graded too: 0 %) */
    GRADE_EXEMPT,     /* exempt from every exam with a mark */
};

struct grade_subject {
    int64_t id;
    char name[GRADES_MAX_NAME * 4 + 1]; /* up to 64 characters of UTF-8 */
    double marks, max;          /* sums over the exams counted */
    double weighted, weight;    /* sum(marks / max * weight), sum(weight) */
    int n_counted, n_absent, n_exempt;
    enum grade_status status;
    double percentage;          /* when graded: rounded to 2 decimals */
    const struct grade_band *band; /* when graded: in the scale given to finish */
};

struct grade_overall {
    bool graded;
    double percentage;
    const struct grade_band *band;
};

struct grade_card {
    struct grade_subject subjects[GRADES_MAX_SUBJECTS]; /* ordered by name */
    size_t n_subjects;
    struct grade_overall overall;
    int rank;        /* 0: none (ranks off, or not graded) */
    int n_ranked;    /* how many classmates (the student included) were ranked */
};

/* The default 9-point CBSE-style scale: A1 91 (10), A2 81 (9), B1 71 (8), B2 61 (7), C1 51 (6),
 * C2 41 (5), D 33 (4), E 0 (0). */
void grades_default_scale(struct grade_scale *s);
/* Sorts s's bands (greatest min first). Returns 0, or -EINVAL unless the minimums are
 * distinct, within 0..100, one of them 0, and there are 1..GRADES_MAX_BANDS bands. */
int grades_scale_check(struct grade_scale *s);
/* The band of a percentage (0..100): the one with the greatest min <= pct. */
const struct grade_band *grades_band(const struct grade_scale *s, double pct);
/* Rounds to 2 decimals (half away from zero). */
double grades_round2(double v);

/* Adds one exam's mark to a subject: status "present" (with marks), "absent", "exempt", or
 * NULL (not entered: ignored). max and weight are the exam's. */
void grades_subject_add(struct grade_subject *g, double marks, double max, double weight,
                        const char *status);
/* Computes each subject's percentage and band, and the overall, with scale. */
void grades_card_finish(struct grade_card *c, const struct grade_scale *scale);
/* The competition rank of own among others (n overall percentages of the classmates, own
 * excluded): 1 + how many are strictly above. */
int grades_rank(double own, const double *others, size_t n);
/* Formats a number as printed: up to 2 decimals, trailing zeros dropped ("78.5", "100").
 * Returns buf. */
char *grades_fmt(double v, char *buf, size_t cap);

/* --- Rows ---
 * Queries for grades produce rows of these columns. Kind 0: a band of the school's scale
 * (none: the default scale); kind 1: one exam of a subject for a student, with its mark
 * (marks and status NULL when none is entered); kind 2 (grade.progress): a term. */
enum {
    GRADES_COL_KIND,    /* int: 0 band, 1 mark, 2 term */
    GRADES_COL_TERM,    /* bigint: the term (kind 1, 2) */
    GRADES_COL_STUDENT, /* bigint: the student (kind 1) */
    GRADES_COL_SUBJECT, /* bigint: the subject (kind 1) */
    GRADES_COL_NAME,    /* text: the subject's name (1), the grade (0), the term's name (2) */
    GRADES_COL_MAX,     /* numeric: the exam's max_marks (1), the band's min (0),
                         * days present or late in the term (2) */
    GRADES_COL_WEIGHT,  /* numeric: the exam's weight (1), the band's point (0),
                         * days marked in the term (2) */
    GRADES_COL_MARKS,   /* numeric: the marks (1); NULL when none */
    GRADES_COL_STATUS,  /* text: present|absent|exempt|NULL (1); 'published' or NULL (2) */
    GRADES__COLS
};

/* The head of a report card of (student, term): $1 student, $2 term, $3 school. One row
 * when the term and student are the school's, none otherwise: GRADES_HEAD_SECTION (bigint,
 * the section whose exams count: the one the student has marks of in the term, else the
 * student's own; NULL when not placed), GRADES_HEAD_PUBLISHED (boolean: the term's report cards
 * are published for that section), GRADES_HEAD_RANKS (boolean: the school's setting). */
enum { GRADES_HEAD_SECTION, GRADES_HEAD_PUBLISHED, GRADES_HEAD_RANKS };
extern const char GRADES_CARD_HEAD_SQL[];

/* The rows of a report card: $1 student, $2 term, $3 school, $4 section (the head's),
 * $5 ranks (boolean: also the classmates' marks, for the rank). Kind 0 and kind 1 rows, the
 * student's own kind 1 rows for every exam of the term in the section (a subject without
 * exams is not listed). */
extern const char GRADES_CARD_SQL[];

/* Fills scale from the kind 0 rows of res (the default scale when there are none). */
void grades_scale_read(const PGresult *res, struct grade_scale *scale);
/* Fills card from the kind 1 rows of res for (student, term): the student's subjects, and
 * finished with scale; with ranks, the rank among the other students' rows. Subjects past
 * GRADES_MAX_SUBJECTS are dropped. */
void grades_card_read(const PGresult *res, int64_t student, int64_t term,
                      const struct grade_scale *scale, bool ranks, struct grade_card *card);
