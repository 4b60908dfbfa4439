/* Bulk import of students with guardians from CSV, shared by the op and the operator's
 * command (see import_rows.h). */
#include "academics/import_rows.h"

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/csv.h"
#include "core/date.h"
#include "core/pii.h"
#include "core/strbuf.h"

/* The CHECKs of sql/0002, 0004 and 0007, in characters. */
#define NAME_MAX_CHARS 200
#define ADMISSION_NO_MAX_CHARS 64
#define NATIONALITY_MAX_CHARS 64
#define CLASS_MAX_CHARS 32
#define SECTION_MAX_CHARS 16
#define RELATIONSHIP_MAX_CHARS 32
#define ROLL_NO_MAX 1000
#define DOB_MIN_YEAR 1990
#define DEFAULT_RELATIONSHIP "guardian"
/* Dates of birth are sealed as people/students.c seals them: bound to "students.dob:<id>". */
#define DOB_COLUMN "students.dob"
#define DATE_LEN 10
/* More header fields than this are refused: the file is not a student list. */
#define MAX_HEADER_FIELDS 64

const char *const import_columns[IC_N] = {
    [IC_ADMISSION_NO] = "admission_no",
    [IC_NAME] = "name",
    [IC_DOB] = "dob",
    [IC_GENDER] = "gender",
    [IC_NATIONALITY] = "nationality",
    [IC_CLASS] = "class",
    [IC_SECTION] = "section",
    [IC_ROLL_NO] = "roll_no",
    [IC_ENROLLED_ON] = "enrolled_on",
    [IC_G1_NAME] = "guardian_name",
    [IC_G1_PHONE] = "guardian_phone",
    [IC_G1_RELATIONSHIP] = "guardian_relationship",
    [IC_G2_NAME] = "guardian2_name",
    [IC_G2_PHONE] = "guardian2_phone",
    [IC_G2_RELATIONSHIP] = "guardian2_relationship",
};

static const int guardian_cols[2][3] = {
    { IC_G1_NAME, IC_G1_PHONE, IC_G1_RELATIONSHIP },
    { IC_G2_NAME, IC_G2_PHONE, IC_G2_RELATIONSHIP },
};

/* ---- memory ---- */

/* An array of at least need elements: a bigger copy in the arena when cap is too small. */
static void *grow(struct arena *a, void *p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) {
        return p;
    }
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need) {
        n *= 2;
    }
    void *q = arena_alloc(a, n * size);
    if (p) {
        memcpy(q, p, *cap * size);
    }
    *cap = n;
    return q;
}

void import_init(struct import_batch *b, struct arena *arena)
{
    memset(b, 0, sizeof *b);
    b->arena = arena;
}

void import_params_free(struct import_params *p)
{
    for (int i = 0; i < p->n; i++) {
        free(p->v[i]);
    }
    p->n = 0;
}

/* ---- errors ---- */

/* Drops a character that snprintf cut in the middle at the end of s (values quoted in an
 * error are valid UTF-8; the error must stay so). */
static void utf8_cut(char *s)
{
    size_t n = strlen(s);
    size_t i = n;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
        i--;
    }
    if (i == 0) {
        return;
    }
    unsigned char lead = (unsigned char)s[i - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (n - (i - 1) < want) {
        s[i - 1] = '\0';
    }
}

static void add_error(struct import_batch *b, int row, const char *column, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void add_error(struct import_batch *b, int row, const char *column, const char *fmt, ...)
{
    b->errors_total++;
    if (!b->errors) {
        b->errors = arena_alloc(b->arena, (IMPORT_MAX_ERRORS + 1) * sizeof *b->errors);
    }
    if (b->n_errors >= IMPORT_MAX_ERRORS) {
        return;
    }
    struct import_error *e = &b->errors[b->n_errors];
    e->seq = (int)b->n_errors++;
    e->row = row;
    snprintf(e->column, sizeof e->column, "%s", column ? column : "");
    utf8_cut(e->column);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    utf8_cut(e->message);
}

static int column_order(const char *column)
{
    for (int c = 0; c < IC_N; c++) {
        if (strcmp(column, import_columns[c]) == 0) {
            return c;
        }
    }
    return column[0] ? IC_N : -1;
}

static int error_cmp(const void *pa, const void *pb)
{
    const struct import_error *a = pa, *b = pb;
    if (a->row != b->row) {
        return a->row < b->row ? -1 : 1;
    }
    int ca = column_order(a->column), cb = column_order(b->column);
    if (ca != cb) {
        return ca < cb ? -1 : 1;
    }
    return a->seq < b->seq ? -1 : a->seq > b->seq; /* the order they were found in */
}

/* Sorts what was kept by row and column, then says how many more were found. Once. */
static void finish_errors(struct import_batch *b)
{
    if (b->errors_done || !b->errors) {
        return;
    }
    b->errors_done = true;
    qsort(b->errors, b->n_errors, sizeof *b->errors, error_cmp);
    if (b->errors_total > b->n_errors) {
        struct import_error *last = &b->errors[b->n_errors++]; /* the spare slot */
        last->row = 0;
        last->column[0] = '\0';
        snprintf(last->message, sizeof last->message, "%zu more errors not listed",
                 b->errors_total - (b->n_errors - 1));
    }
}

/* ---- a small string -> index map (open addressing; it owns copies of its keys) ---- */

struct smap {
    char **keys;
    int *vals;
    size_t cap; /* a power of two */
    size_t n;
};

static size_t hash(const char *s)
{
    size_t h = (size_t)1469598103934665603u;
    for (; *s; s++) {
        h = (h ^ (unsigned char)*s) * (size_t)1099511628211u;
    }
    return h;
}

static int smap_alloc(struct smap *m, size_t cap)
{
    m->cap = cap;
    m->n = 0;
    m->keys = calloc(cap, sizeof *m->keys);
    m->vals = calloc(cap, sizeof *m->vals);
    return m->keys && m->vals ? 0 : -1;
}

static void smap_free(struct smap *m)
{
    for (size_t i = 0; m->keys && i < m->cap; i++) {
        free(m->keys[i]);
    }
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

static size_t smap_slot(const struct smap *m, const char *key)
{
    size_t i = hash(key) & (m->cap - 1);
    while (m->keys[i] && strcmp(m->keys[i], key) != 0) {
        i = (i + 1) & (m->cap - 1);
    }
    return i;
}

/* The value of key, or -1; with add >= 0, adds key -> add when absent. -2: out of memory. */
static int smap_get(struct smap *m, const char *key, int add)
{
    size_t i = smap_slot(m, key);
    if (m->keys[i]) {
        return m->vals[i];
    }
    if (add < 0) {
        return -1;
    }
    if (2 * (m->n + 1) > m->cap) {
        struct smap big;
        if (smap_alloc(&big, m->cap * 2) != 0) {
            smap_free(&big);
            return -2;
        }
        for (size_t j = 0; j < m->cap; j++) {
            if (m->keys[j]) {
                size_t k = smap_slot(&big, m->keys[j]);
                big.keys[k] = m->keys[j];
                big.vals[k] = m->vals[j];
                big.n++;
            }
        }
        free(m->keys);
        free(m->vals);
        *m = big;
        i = smap_slot(m, key);
    }
    if (!(m->keys[i] = strdup(key))) {
        return -2;
    }
    m->vals[i] = add;
    m->n++;
    return -1;
}

/* ---- one value's rules ---- */

static size_t chars(const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        n += ((unsigned char)*s & 0xC0) != 0x80;
    }
    return n;
}

/* A roll number of 1 to 4 digits as its value; 0 for anything else. (Dates are read by
 * core/date.h.) */
static int roll_number(const char *s)
{
    int v = 0;
    size_t n = 0;
    for (; s[n]; n++) {
        if (n == 4 || s[n] < '0' || s[n] > '9') {
            return 0;
        }
        v = v * 10 + (s[n] - '0');
    }
    return v;
}

/* NULL when s is a real date YYYY-MM-DD (its YYYYMMDD in *ymd); else why not, in the words
 * of student.create. */
static const char *check_date(const char *s, long *ymd)
{
    switch (date_parse(s, ymd)) {
    case DATE_OK:
        return NULL;
    case DATE_NOT_REAL:
        return "is not a real date";
    case DATE_BAD_FORMAT:
    default:
        return "must be a date YYYY-MM-DD";
    }
}

/* ---- reading the file ---- */

/* A field's value trimmed of spaces and tabs, copied; NULL when empty. */
static char *value_of(struct arena *a, const struct csv_field *f)
{
    const char *s = f->s, *e = f->s + f->len;
    while (s < e && (*s == ' ' || *s == '\t')) {
        s++;
    }
    while (e > s && (e[-1] == ' ' || e[-1] == '\t')) {
        e--;
    }
    if (s == e) {
        return NULL;
    }
    return arena_strndup(a, s, (size_t)(e - s));
}

/* Maps header fields to columns; false (errors added on row 1) when the header is wrong. */
static bool read_header(struct import_batch *b, const struct csv_reader *r, int field_col[],
                        int col_field[IC_N])
{
    bool ok = true;
    int row = (int)r->record_line;
    for (int c = 0; c < IC_N; c++) {
        col_field[c] = -1;
    }
    if (r->too_many_fields) {
        add_error(b, row, "", "the header has more than %d columns", MAX_HEADER_FIELDS);
        return false;
    }
    for (size_t i = 0; i < r->n_fields; i++) {
        field_col[i] = -1;
        const struct csv_field *f = &r->fields[i];
        char *name = f->flags ? NULL : value_of(b->arena, f);
        if (!name) {
            add_error(b, row, "", "column %zu of the header %s", i + 1,
                      f->flags & CSV_F_BAD_UTF8 ? "is not valid UTF-8" : f->flags ? "is too long"
                                                                                 : "is empty");
            ok = false;
            continue;
        }
        for (char *p = name; *p; p++) {
            *p = (char)tolower((unsigned char)*p);
        }
        int c = column_order(name);
        if (c < 0 || c >= IC_N) {
            add_error(b, row, name, "unknown column");
            ok = false;
        } else if (col_field[c] >= 0) {
            add_error(b, row, name, "column given twice");
            ok = false;
        } else {
            col_field[c] = (int)i;
            field_col[i] = c;
        }
    }
    for (int c = IC_ADMISSION_NO; c <= IC_NAME; c++) {
        if (col_field[c] < 0) {
            add_error(b, row, import_columns[c], "missing column (it is required)");
            ok = false;
        }
    }
    return ok;
}

/* The index of the file's placement (class, section), added when new; -1 out of memory. */
static int placement_of(struct import_batch *b, struct smap *m, const char *class_name,
                        const char *section)
{
    struct strbuf key;
    strbuf_init(&key);
    strbuf_printf(&key, "%s\x1f%s", class_name, section);
    int i = key.data ? smap_get(m, key.data, (int)b->n_placements) : -2;
    strbuf_deinit(&key);
    if (i >= 0 || i == -2) {
        return i >= 0 ? i : -1;
    }
    struct import_placement *p = grow(b->arena, b->placements, &b->cap_placements, b->n_placements + 1,
                                      sizeof *p);
    b->placements = p;
    p[b->n_placements] = (struct import_placement){ .class_name = class_name,
                                                    .section = section };
    return (int)b->n_placements++;
}

struct parse_maps {
    struct smap admission, phones, placements;
};

/* Checks one row's guardian k (0 or 1). */
static int check_guardian(struct import_batch *b, struct parse_maps *m, struct import_student *s,
                          int k, const char *default_cc)
{
    const int *gc = guardian_cols[k];
    char *name = s->v[gc[0]], *phone = s->v[gc[1]], *rel = s->v[gc[2]];
    s->phone[k] = -1;
    if (name && chars(name) > NAME_MAX_CHARS) {
        add_error(b, s->row, import_columns[gc[0]], "must be at most %d characters",
                  NAME_MAX_CHARS);
    }
    if (rel && chars(rel) > RELATIONSHIP_MAX_CHARS) {
        add_error(b, s->row, import_columns[gc[2]], "must be at most %d characters",
                  RELATIONSHIP_MAX_CHARS);
    }
    if (s->bad & (1u << gc[0] | 1u << gc[1] | 1u << gc[2])) {
        return 0; /* reported already; the guardian is not used */
    }
    if (!phone) {
        if (name) {
            add_error(b, s->row, import_columns[gc[1]], "is required with a guardian's name");
        } else if (rel) {
            add_error(b, s->row, import_columns[gc[2]], "is given without a guardian");
        }
        return 0;
    }
    char e164[PHONE_MAX];
    if (phone_normalize(phone, strlen(phone), default_cc, e164) != 0) {
        add_error(b, s->row, import_columns[gc[1]], "not a valid phone number");
        return 0;
    }
    if (!name) {
        add_error(b, s->row, import_columns[gc[0]], "is required with a guardian's phone");
    }
    if (k == 1 && s->phone[0] >= 0 && strcmp(b->phones[s->phone[0]].e164, e164) == 0) {
        add_error(b, s->row, import_columns[gc[1]], "is the same number as guardian_phone");
        return 0;
    }
    int i = smap_get(&m->phones, e164, (int)b->n_phones);
    if (i == -2) {
        return -1;
    }
    if (i < 0) {
        struct import_phone *p = grow(b->arena, b->phones, &b->cap_phones, b->n_phones + 1,
                                      sizeof *p);
        b->phones = p;
        i = (int)b->n_phones++;
        p[i] = (struct import_phone){ .name = name };
        memcpy(p[i].e164, e164, sizeof e164);
    } else if (!b->phones[i].name) {
        b->phones[i].name = name;
    }
    s->phone[k] = i;
    return 0;
}

/* Checks one row's own rules and notes its placement and guardians. -1: out of memory. */
static int check_row(struct import_batch *b, struct parse_maps *m, struct import_student *s,
                     const char *default_cc)
{
    const char *const *col = import_columns;
    char **v = s->v;
    s->placement = -1;
    s->phone[0] = s->phone[1] = -1;
    if (!v[IC_ADMISSION_NO]) {
        if (!(s->bad & (1u << IC_ADMISSION_NO))) {
            add_error(b, s->row, col[IC_ADMISSION_NO], "is required");
        }
    } else if (chars(v[IC_ADMISSION_NO]) > ADMISSION_NO_MAX_CHARS) {
        add_error(b, s->row, col[IC_ADMISSION_NO], "must be at most %d characters",
                  ADMISSION_NO_MAX_CHARS);
    } else {
        int first = smap_get(&m->admission, v[IC_ADMISSION_NO], s->row);
        if (first == -2) {
            return -1;
        }
        if (first >= 0) {
            add_error(b, s->row, col[IC_ADMISSION_NO], "is repeated: row %d has it too", first);
            v[IC_ADMISSION_NO] = NULL; /* asked of the database once */
        }
    }
    if (!v[IC_NAME]) {
        if (!(s->bad & (1u << IC_NAME))) {
            add_error(b, s->row, col[IC_NAME], "is required");
        }
    } else if (chars(v[IC_NAME]) > NAME_MAX_CHARS) {
        add_error(b, s->row, col[IC_NAME], "must be at most %d characters", NAME_MAX_CHARS);
    }
    long ymd;
    const char *why;
    if (v[IC_DOB]) {
        if ((why = check_date(v[IC_DOB], &ymd))) {
            add_error(b, s->row, col[IC_DOB], "%s", why);
        } else if (ymd / 10000 < DOB_MIN_YEAR) {
            add_error(b, s->row, col[IC_DOB], "must be in %d or later", DOB_MIN_YEAR);
        } else if (ymd > date_latest_today()) {
            add_error(b, s->row, col[IC_DOB], "must not be in the future");
        }
    }
    if (v[IC_ENROLLED_ON]) {
        if ((why = check_date(v[IC_ENROLLED_ON], &ymd))) {
            add_error(b, s->row, col[IC_ENROLLED_ON], "%s", why);
        } else if (ymd > date_latest_today()) {
            add_error(b, s->row, col[IC_ENROLLED_ON], "must not be in the future");
        }
    }
    if (v[IC_GENDER]) {
        static const char *const genders[] = { "female", "male", "other" };
        bool ok = false;
        for (size_t i = 0; i < 3 && !ok; i++) {
            if (strcasecmp(v[IC_GENDER], genders[i]) == 0) {
                strcpy(v[IC_GENDER], genders[i]); /* same length */
                ok = true;
            }
        }
        if (!ok) {
            add_error(b, s->row, col[IC_GENDER], "must be female, male or other");
        }
    }
    if (v[IC_NATIONALITY] && chars(v[IC_NATIONALITY]) > NATIONALITY_MAX_CHARS) {
        add_error(b, s->row, col[IC_NATIONALITY], "must be at most %d characters",
                  NATIONALITY_MAX_CHARS);
    }
    if (v[IC_ROLL_NO]) {
        int roll = roll_number(v[IC_ROLL_NO]);
        if (roll < 1 || roll > ROLL_NO_MAX) {
            add_error(b, s->row, col[IC_ROLL_NO], "must be a whole number from 1 to %d",
                      ROLL_NO_MAX);
        } else {
            s->roll_no = roll;
        }
    }
    const char *cls = v[IC_CLASS], *sec = v[IC_SECTION];
    bool place_ok = true;
    if (cls && chars(cls) > CLASS_MAX_CHARS) {
        add_error(b, s->row, col[IC_CLASS], "must be at most %d characters", CLASS_MAX_CHARS);
        place_ok = false;
    }
    if (sec && chars(sec) > SECTION_MAX_CHARS) {
        add_error(b, s->row, col[IC_SECTION], "must be at most %d characters",
                  SECTION_MAX_CHARS);
        place_ok = false;
    }
    if (s->bad & (1u << IC_CLASS | 1u << IC_SECTION)) {
        /* reported already */
    } else if (cls && !sec) {
        add_error(b, s->row, col[IC_SECTION], "is required with a class");
    } else if (sec && !cls) {
        add_error(b, s->row, col[IC_CLASS], "is required with a section");
    } else if (cls && sec && place_ok) {
        if ((s->placement = placement_of(b, &m->placements, cls, sec)) < 0) {
            return -1;
        }
    }
    for (int k = 0; k < 2; k++) {
        if (check_guardian(b, m, s, k, default_cc) != 0) {
            return -1;
        }
    }
    return 0;
}

int import_parse(struct import_batch *b, const char *csv, size_t len, const char *default_cc)
{
    struct csv_reader r;
    if (csv_init(&r, csv, len, MAX_HEADER_FIELDS, IMPORT_FIELD_MAX) != 0) {
        return -1;
    }
    struct parse_maps m;
    memset(&m, 0, sizeof m);
    int rc = -1;
    if (smap_alloc(&m.admission, 1024) || smap_alloc(&m.phones, 1024) ||
        smap_alloc(&m.placements, 64)) {
        goto out;
    }
    int field_col[MAX_HEADER_FIELDS], col_field[IC_N];
    enum csv_status st = csv_next(&r);
    bool header_ok = st == CSV_RECORD;
    if (st == CSV_END) {
        add_error(b, 1, "", "the file is empty: it needs a header row");
        b->fatal = true;
    } else if (st == CSV_RECORD && !read_header(b, &r, field_col, col_field)) {
        b->fatal = true;
    }
    (void)col_field;
    size_t header_fields = r.n_fields;
    while (!b->fatal && (st = csv_next(&r)) == CSV_RECORD) {
        int row = (int)r.record_line;
        if (b->n_rows >= IMPORT_MAX_ROWS) {
            add_error(b, row, "", "the file has more than %d rows: split it", IMPORT_MAX_ROWS);
            b->fatal = true;
            break;
        }
        if (r.total_fields != header_fields) {
            add_error(b, row, "", "has %zu fields where the header has %zu", r.total_fields,
                      header_fields);
            b->n_rows++; /* counted as a row, not kept */
            continue;
        }
        struct import_student *s = grow(b->arena, b->students, &b->cap_students,
                                        b->n_students + 1, sizeof *s);
        b->students = s;
        s = &s[b->n_students++];
        b->n_rows++;
        memset(s, 0, sizeof *s);
        s->row = row;
        for (size_t i = 0; i < r.n_fields; i++) {
            int c = field_col[i];
            const struct csv_field *f = &r.fields[i];
            if (f->flags) {
                s->bad |= 1u << c; /* reported once here, and taken as given below */
            }
            if (f->flags & CSV_F_BAD_UTF8) {
                add_error(b, row, import_columns[c], "is not valid UTF-8");
            } else if (f->flags & CSV_F_TOO_LONG) {
                add_error(b, row, import_columns[c], "is longer than %d bytes", IMPORT_FIELD_MAX);
            } else {
                s->v[c] = value_of(b->arena, f);
            }
        }
        if (check_row(b, &m, s, default_cc) != 0) {
            goto out;
        }
    }
    if (st == CSV_ERROR) {
        const char *column = "";
        if (header_ok && r.err_field >= 1 && r.err_field <= header_fields) {
            int c = field_col[r.err_field - 1];
            column = c >= 0 ? import_columns[c] : "";
        }
        add_error(b, (int)r.err_line, column, "%s", r.err);
        b->fatal = true;
    }
    rc = 0;
out:
    smap_free(&m.admission);
    smap_free(&m.phones);
    smap_free(&m.placements);
    csv_free(&r);
    if (b->fatal) {
        finish_errors(b);
    }
    return rc;
}

/* ---- statements ---- */

/* PostgreSQL array literals of text, every element quoted. */
static void arr_begin(struct strbuf *sb)
{
    strbuf_init(sb);
    strbuf_append(sb, "{", 1);
}

static void arr_text(struct strbuf *sb, const char *s)
{
    if (sb->len > 1) {
        strbuf_append(sb, ",", 1);
    }
    if (!s) {
        strbuf_append(sb, "NULL", 4);
        return;
    }
    strbuf_append(sb, "\"", 1);
    for (const char *p = s; *p;) {
        size_t n = strcspn(p, "\"\\");
        strbuf_append(sb, p, n);
        p += n;
        if (*p) {
            char esc[2] = { '\\', *p++ };
            strbuf_append(sb, esc, 2);
        }
    }
    strbuf_append(sb, "\"", 1);
}

static void arr_i64(struct strbuf *sb, int64_t v, bool present)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, v);
    arr_text(sb, present ? s : NULL);
}

static void param_take(struct import_params *p, struct strbuf *sb)
{
    strbuf_append(sb, "}", 1);
    p->v[p->n++] = strbuf_release(sb);
}

static void param_i64(struct import_params *p, int64_t v, bool present)
{
    char s[24];
    snprintf(s, sizeof s, "%" PRId64, v);
    p->v[p->n++] = present ? strdup(s) : NULL;
}

const char IMPORT_CHECK_SQL[] =
    "WITH yr AS (SELECT id FROM academic_years WHERE school_id = $1 AND current)"
    " (SELECT 'y', 0, (SELECT id FROM yr), NULL::boolean, NULL::text)"
    " UNION ALL"
    " (SELECT 's', p.no::int, s.id, c.id IS NOT NULL, NULL"
    "  FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS p(class, section, no)"
    "  LEFT JOIN classes c ON c.school_id = $1 AND c.year_id = (SELECT id FROM yr)"
    "       AND c.name = p.class"
    "  LEFT JOIN sections s ON s.class_id = c.id AND s.name = p.section)"
    " UNION ALL"
    " (SELECT 'a', p.no::int, st.id, NULL, NULL"
    "  FROM unnest($4::text[]) WITH ORDINALITY AS p(adm, no)"
    "  JOIN students st ON st.school_id = $1 AND st.admission_no = p.adm)"
    " UNION ALL"
    /* every key generation's index of each number, so that numbers sealed before a key
     * rotation finished are found too */
    " (SELECT DISTINCT ON (p.no) 'p', p.no::int, u.id, u.school_id = $1, u.role"
    "  FROM (SELECT q.no, unnest(q.bis::bytea[]) AS bi"
    "        FROM unnest($5::text[]) WITH ORDINALITY AS q(bis, no)) p"
    "  JOIN users u ON u.phone_bi = p.bi"
    "  ORDER BY p.no, u.school_id = $1 DESC)";

void import_check_params(const struct import_batch *b, const struct crypto_keys *keys,
                         int64_t school_id, struct import_params *p)
{
    struct strbuf cls, sec, adm, bis;
    param_i64(p, school_id, true);
    arr_begin(&cls);
    arr_begin(&sec);
    for (size_t i = 0; i < b->n_placements; i++) {
        arr_text(&cls, b->placements[i].class_name);
        arr_text(&sec, b->placements[i].section);
    }
    param_take(p, &cls);
    param_take(p, &sec);
    arr_begin(&adm);
    for (size_t i = 0; i < b->n_students; i++) {
        arr_text(&adm, b->students[i].v[IC_ADMISSION_NO]);
    }
    param_take(p, &adm);
    arr_begin(&bis);
    for (size_t i = 0; i < b->n_phones; i++) {
        struct strbuf one;
        strbuf_init(&one);
        pii_phone_index_all(keys, b->phones[i].e164, &one);
        arr_text(&bis, one.data);
        strbuf_deinit(&one);
    }
    param_take(p, &bis);
}

void import_check_result(struct import_batch *b, const PGresult *res)
{
    for (int i = 0; i < PQntuples(res); i++) {
        char kind = PQgetvalue(res, i, 0)[0];
        size_t no = strtoul(PQgetvalue(res, i, 1), NULL, 10);
        int64_t id = PQgetisnull(res, i, 2) ? 0 : strtoll(PQgetvalue(res, i, 2), NULL, 10);
        bool flag = PQgetvalue(res, i, 3)[0] == 't';
        if (kind == 'y') {
            b->year_id = id;
        } else if (kind == 's' && no >= 1 && no <= b->n_placements) {
            b->placements[no - 1].section_id = id;
            b->placements[no - 1].class_known = flag;
        } else if (kind == 'a' && no >= 1 && no <= b->n_students) {
            add_error(b, b->students[no - 1].row, import_columns[IC_ADMISSION_NO],
                      "is already used in the school");
        } else if (kind == 'p' && no >= 1 && no <= b->n_phones) {
            struct import_phone *ph = &b->phones[no - 1];
            if (!flag) {
                ph->other_school = true;
            } else if (strcmp(PQgetvalue(res, i, 4), "parent") != 0) {
                ph->not_parent = true;
            } else {
                ph->user_id = id;
            }
        }
    }
    b->n_new_users = 0;
    b->n_links = 0;
    for (size_t i = 0; i < b->n_phones; i++) {
        const struct import_phone *ph = &b->phones[i];
        b->n_new_users += !ph->user_id && !ph->other_school && !ph->not_parent;
    }
    for (size_t i = 0; i < b->n_students; i++) {
        const struct import_student *s = &b->students[i];
        if (s->placement >= 0) {
            const struct import_placement *pl = &b->placements[s->placement];
            if (!b->year_id) {
                add_error(b, s->row, import_columns[IC_CLASS],
                          "the school has no current academic year");
            } else if (!pl->class_known) {
                add_error(b, s->row, import_columns[IC_CLASS],
                          "no such class in the current academic year");
            } else if (!pl->section_id) {
                add_error(b, s->row, import_columns[IC_SECTION], "no such section of class %s",
                          pl->class_name);
            }
        }
        for (int k = 0; k < 2; k++) {
            if (s->phone[k] < 0) {
                continue;
            }
            b->n_links++;
            const struct import_phone *ph = &b->phones[s->phone[k]];
            if (ph->other_school) {
                add_error(b, s->row, import_columns[guardian_cols[k][1]],
                          "this phone number belongs to another account");
            } else if (ph->not_parent) {
                add_error(b, s->row, import_columns[guardian_cols[k][1]],
                          "this phone number belongs to a user of the school who is not a "
                          "parent");
            }
        }
    }
    finish_errors(b);
}

const char IMPORT_RESERVE_SQL[] =
    "SELECT 's', nextval('students_id_seq') FROM generate_series(1, $1::int)"
    " UNION ALL SELECT 'u', nextval('users_id_seq') FROM generate_series(1, $2::int)";

void import_reserve_params(struct import_batch *b, struct import_params *p)
{
    param_i64(p, (int64_t)b->n_students, true);
    param_i64(p, (int64_t)b->n_new_users, true);
}

int import_reserve_result(struct import_batch *b, const PGresult *res)
{
    size_t ns = 0, nu = 0;
    b->new_user_ids = arena_alloc(b->arena, (b->n_new_users + 1) * sizeof *b->new_user_ids);
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t id = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        if (PQgetvalue(res, i, 0)[0] == 's' && ns < b->n_students) {
            b->students[ns++].id = id;
        } else if (PQgetvalue(res, i, 0)[0] == 'u' && nu < b->n_new_users) {
            b->new_user_ids[nu++] = id;
        }
    }
    if (ns != b->n_students || nu != b->n_new_users) {
        return -1;
    }
    /* Each phone without a user gets the next new id. */
    nu = 0;
    for (size_t i = 0; i < b->n_phones; i++) {
        if (!b->phones[i].user_id) {
            b->phones[i].user_id = -b->new_user_ids[nu++]; /* negative: to be created */
        }
    }
    return 0;
}

const char IMPORT_WRITE_SQL[] =
    "WITH st AS ("
    "  INSERT INTO students (id, school_id, name, admission_no, dob_enc, dob_key, gender,"
    "                        nationality, section_id, year_id, roll_no, enrolled_on)"
    "  SELECT t.id, $1, t.name, t.adm, t.dob::bytea, t.dobk::smallint, t.gender, t.nat,"
    "         t.sec, $2::bigint, t.roll, coalesce(t.enr::date, current_date)"
    "  FROM unnest($3::bigint[], $4::text[], $5::text[], $6::text[], $7::int[], $8::text[],"
    "              $9::text[], $10::bigint[], $11::int[], $12::text[])"
    "       AS t(id, name, adm, dob, dobk, gender, nat, sec, roll, enr)"
    "  RETURNING id),"
    " nu AS ("
    "  INSERT INTO users (id, school_id, role, name, phone_enc, phone_key, phone_bi)"
    "  SELECT u.id, $1, 'parent', u.name, u.enc::bytea, u.k::smallint, u.bi::bytea"
    "  FROM unnest($13::bigint[], $14::text[], $15::text[], $16::int[], $17::text[])"
    "       AS u(id, name, enc, k, bi)"
    "  RETURNING id),"
    " gl AS ("
    "  INSERT INTO guardians (student_id, user_id, school_id, relationship)"
    "  SELECT g.s, g.u, $1, g.rel"
    "  FROM unnest($18::bigint[], $19::bigint[], $20::text[]) AS g(s, u, rel)"
    "  RETURNING user_id)"
    " SELECT (SELECT count(*) FROM st), (SELECT count(*) FROM nu), (SELECT count(*) FROM gl)";

void import_write_params(const struct import_batch *b, const struct crypto_keys *keys,
                         int64_t school_id, struct import_params *p)
{
    param_i64(p, school_id, true);
    param_i64(p, b->year_id, b->year_id != 0);
    struct strbuf a[10];
    for (int i = 0; i < 10; i++) {
        arr_begin(&a[i]);
    }
    for (size_t i = 0; i < b->n_students; i++) {
        const struct import_student *s = &b->students[i];
        arr_i64(&a[0], s->id, true);
        arr_text(&a[1], s->v[IC_NAME]);
        arr_text(&a[2], s->v[IC_ADMISSION_NO]);
        if (s->v[IC_DOB]) {
            char sealed[PII_SEALED_TEXT_HEX];
            int version = pii_seal_text(keys, DOB_COLUMN, s->id, s->v[IC_DOB], DATE_LEN, sealed);
            arr_text(&a[3], sealed);
            arr_i64(&a[4], version, true);
        } else {
            arr_text(&a[3], NULL);
            arr_text(&a[4], NULL);
        }
        arr_text(&a[5], s->v[IC_GENDER]);
        arr_text(&a[6], s->v[IC_NATIONALITY]);
        int64_t section = s->placement >= 0 ? b->placements[s->placement].section_id : 0;
        arr_i64(&a[7], section, section != 0);
        arr_i64(&a[8], s->roll_no, s->roll_no != 0);
        arr_text(&a[9], s->v[IC_ENROLLED_ON]);
    }
    for (int i = 0; i < 10; i++) {
        param_take(p, &a[i]);
    }
    struct strbuf u[5];
    for (int i = 0; i < 5; i++) {
        arr_begin(&u[i]);
    }
    for (size_t i = 0; i < b->n_phones; i++) {
        const struct import_phone *ph = &b->phones[i];
        if (ph->user_id >= 0) {
            continue; /* already a parent of the school */
        }
        int64_t id = -ph->user_id;
        char sealed[PII_SEALED_PHONE_HEX], index[PII_INDEX_HEX];
        int version = pii_seal_phone(keys, id, ph->e164, sealed);
        pii_phone_index(keys, ph->e164, index);
        arr_i64(&u[0], id, true);
        arr_text(&u[1], ph->name);
        arr_text(&u[2], sealed);
        arr_i64(&u[3], version, true);
        arr_text(&u[4], index);
    }
    for (int i = 0; i < 5; i++) {
        param_take(p, &u[i]);
    }
    struct strbuf g[3];
    for (int i = 0; i < 3; i++) {
        arr_begin(&g[i]);
    }
    for (size_t i = 0; i < b->n_students; i++) {
        const struct import_student *s = &b->students[i];
        for (int k = 0; k < 2; k++) {
            if (s->phone[k] < 0) {
                continue;
            }
            int64_t user = b->phones[s->phone[k]].user_id;
            const char *rel = s->v[guardian_cols[k][2]];
            arr_i64(&g[0], s->id, true);
            arr_i64(&g[1], user < 0 ? -user : user, true);
            arr_text(&g[2], rel ? rel : DEFAULT_RELATIONSHIP);
        }
    }
    for (int i = 0; i < 3; i++) {
        param_take(p, &g[i]);
    }
}

void import_write_result(struct import_batch *b, const PGresult *res)
{
    b->created = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    b->guardians_created = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
    b->guardians_linked = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
}
