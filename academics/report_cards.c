/* The school's records: report cards (see report_cards.h).
 *
 * report_card.remark writes the class teacher's remarks; report_card.publish publishes a
 * term's cards for one section or every section of the term's year in one statement (the
 * publications, a 'report_card' notice for each parent of each enrolled student of a newly
 * published section), then tells the parents online (report_card.published); report_card.get
 * answers a signed link for those allowed. The link is served by gateway/report_card_http.c
 * through report_card_fetch_*: three queries (the grades' head, the grades' rows, the card's
 * other data with the cached copy), a fingerprint of what they returned, then the cached PDF
 * when the fingerprint is the stored one, else a render on the thread pool and a new cached
 * copy (sql/0011 explains why a fingerprint rather than triggers). */
#include "academics/report_cards.h"

#include <errno.h>
#include <inttypes.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "academics/academics.h"
#include "academics/grades.h"
#include "academics/notices.h"
#include "academics/report_card_pdf.h"
#include "academics/scope.h"
#include "core/arena.h"
#include "core/audit.h"
#include "core/crypto.h"
#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/envelope.h"
#include "core/log.h"
#include "core/msgbuf.h"
#include "core/op_db.h"
#include "core/op_pack.h"
#include "core/pii.h"
#include "core/xalloc.h"

/* ---- signed links ---- */

#define LINK_PAYLOAD 34 /* student, term, expires, school (8 bytes each), key version (2) */
#define LINK_RAW (LINK_PAYLOAD + crypto_auth_BYTES)
#define LINK_KDF_CONTEXT "rcardlnk" /* crypto_kdf_CONTEXTBYTES */
#define LINK_KDF_ID 1

_Static_assert(sizeof(LINK_KDF_CONTEXT) - 1 == crypto_kdf_CONTEXTBYTES, "kdf context");
_Static_assert(LINK_RAW % 3 == 0 && LINK_RAW / 3 * 4 == REPORT_CARD_TOKEN_CHARS, "token size");

/* The links' key of one key generation: derived from its index key, never the master key. */
static void link_key(const struct crypto_keyset *ks, unsigned char key[crypto_auth_KEYBYTES])
{
    crypto_kdf_derive_from_key(key, crypto_auth_KEYBYTES, LINK_KDF_ID, LINK_KDF_CONTEXT,
                               ks->index_key);
}

static void put64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;
    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)(u & 0xff);
        u >>= 8;
    }
}

static int64_t get64(const unsigned char *p)
{
    uint64_t u = 0;
    for (int i = 0; i < 8; i++) {
        u = (u << 8) | p[i];
    }
    return (int64_t)u;
}

void report_card_link_sign(const struct crypto_keys *keys, const struct report_card_link *link,
                           char out[REPORT_CARD_TOKEN_CHARS + 1])
{
    const struct crypto_keyset *ks = crypto_keys_current(keys);
    unsigned char raw[LINK_RAW];
    put64(raw, link->student);
    put64(raw + 8, link->term);
    put64(raw + 16, link->expires);
    put64(raw + 24, link->school);
    raw[32] = (unsigned char)((unsigned)ks->version >> 8);
    raw[33] = (unsigned char)((unsigned)ks->version & 0xff);
    unsigned char key[crypto_auth_KEYBYTES];
    link_key(ks, key);
    crypto_auth(raw + LINK_PAYLOAD, raw, LINK_PAYLOAD, key);
    sodium_memzero(key, sizeof key);
    sodium_bin2base64(out, REPORT_CARD_TOKEN_CHARS + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
}

int report_card_link_check(const struct crypto_keys *keys, const char *token, size_t len,
                           int64_t now, struct report_card_link *link)
{
    unsigned char raw[LINK_RAW];
    size_t raw_len = 0;
    const char *end = NULL;
    if (len != REPORT_CARD_TOKEN_CHARS ||
        sodium_base642bin(raw, sizeof raw, token, len, NULL, &raw_len, &end,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 ||
        raw_len != sizeof raw || end != token + len) {
        return RC_LINK_FORGED;
    }
    const struct crypto_keyset *ks = crypto_keys_find(keys, (raw[32] << 8) | raw[33]);
    if (!ks) {
        return RC_LINK_FORGED;
    }
    unsigned char key[crypto_auth_KEYBYTES];
    link_key(ks, key);
    int bad = crypto_auth_verify(raw + LINK_PAYLOAD, raw, LINK_PAYLOAD, key);
    sodium_memzero(key, sizeof key);
    if (bad) {
        return RC_LINK_FORGED;
    }
    *link = (struct report_card_link){ .student = get64(raw), .term = get64(raw + 8),
                                       .expires = get64(raw + 16), .school = get64(raw + 24) };
    return link->expires < now ? RC_LINK_EXPIRED : RC_LINK_OK;
}

/* ---- report_card.remark ---- */

/* $1 student, $2 term, $3 school, $4 the caller, $5 the caller's role, $6 remarks. One row:
 * terms found (0/1), allowed (an admin, or the class teacher of the student's section),
 * rows written. */
#define REMARK_SQL                                                                            \
    "WITH t AS (SELECT id FROM terms WHERE id = $2 AND school_id = $3),"                       \
    " ok AS (SELECT $5::text = 'admin' OR EXISTS (SELECT 1 FROM students s"                    \
    "        JOIN sections sc ON sc.id = s.section_id"                                          \
    "        WHERE s.id = $1 AND sc.class_teacher_id = $4) AS yes),"                           \
    " up AS (INSERT INTO report_card_remarks AS r (student_id, term_id, remarks, updated_by)"  \
    "        SELECT $1, t.id, $6, $4 FROM t, ok WHERE ok.yes"                                  \
    "        ON CONFLICT (student_id, term_id) DO UPDATE SET remarks = EXCLUDED.remarks,"      \
    "        updated_by = EXCLUDED.updated_by, updated_at = now() RETURNING 1)"                \
    " SELECT (SELECT count(*) FROM t), (SELECT yes FROM ok), (SELECT count(*) FROM up)"

static int remark_written(struct op_ctx *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        return -EIO;
    }
    if (dbval_get_i64(res, 0, 0) == 0) {
        return op_refuse(op, OP_E_NOT_FOUND, "term", "no such term");
    }
    if (!dbval_get_bool(res, 0, 1)) {
        return op_refuse(op, OP_E_FORBIDDEN, "student",
                         "only the class teacher of the student's section writes remarks");
    }
    audit_op(op, "report_card_remarks", op_get_id(op, "student"), "ok");
    op_reply_empty(op);
    return 0;
}

static int remark_write(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    op_param_id(op, op_get_id(op, "student"));
    op_param_id(op, op_get_id(op, "term"));
    op_param_id(op, op->caller.school_id);
    op_param_id(op, op->caller.user_id);
    op_param_str(op, op->caller.role == ROLE_ADMIN ? "admin" : "teacher");
    op_param_arg(op, "remarks");
    return op_sql(op, &(struct op_sql){ .sql = REMARK_SQL, .on_rows = remark_written });
}

static int op_report_card_remark(struct op_ctx *op)
{
    return scope_check(op, SCOPE_STUDENT, op_get_id(op, "student"), "student", remark_write);
}

/* ---- report_card.publish ---- */

/* $1 school, $2 term, $3 section or NULL (every section of the term's year), $4 the caller.
 * Row kind 0 first (terms found, sections matched, students newly published), then kind 1:
 * a parent told (student, user), ordered by student and user. Sections published already
 * are left as they were: nobody is told twice. */
#define PUBLISH_SQL                                                                           \
    "WITH t AS (SELECT id, year_id FROM terms WHERE id = $2 AND school_id = $1),"              \
    " sec AS (SELECT sc.id FROM sections sc JOIN t ON sc.year_id = t.year_id"                  \
    "         WHERE sc.school_id = $1 AND ($3::bigint IS NULL OR sc.id = $3::bigint)),"        \
    " pub AS (INSERT INTO report_card_publications (term_id, section_id, published_by)"        \
    "         SELECT $2, sec.id, $4 FROM sec"                                                  \
    "         ON CONFLICT (term_id, section_id) DO NOTHING RETURNING section_id),"             \
    " st AS (SELECT s.id FROM students s JOIN pub ON pub.section_id = s.section_id"            \
    "        WHERE s.school_id = $1 AND s.status = 'enrolled'),"                               \
    " nt AS (INSERT INTO notices (school_id, user_id, kind, student_id, payload)"              \
    "        SELECT $1, g.user_id, 'report_card', st.id,"                                      \
    "               jsonb_build_object('term', $2::bigint, 'student', st.id)"                  \
    "        FROM st JOIN guardians g ON g.student_id = st.id RETURNING user_id, student_id)"  \
    " SELECT 0 AS k, (SELECT count(*) FROM t), (SELECT count(*) FROM sec),"                    \
    "        (SELECT count(*) FROM st), NULL::bigint AS student, NULL::bigint AS usr"          \
    " UNION ALL SELECT 1, NULL, NULL, NULL, student_id, user_id FROM nt ORDER BY 1, 5, 6"

enum { PB_KIND, PB_TERMS, PB_SECTIONS, PB_STUDENTS, PB_STUDENT, PB_USER };

static struct msgbuf *published_event(int64_t student, int64_t term)
{
    struct envelope_writer w;
    envelope_begin_event(&w, "report_card.published");
    msgpack_pack_map(&w.pk, 2);
    envelope_pack_key(&w.pk, "student");
    msgpack_pack_int64(&w.pk, student);
    envelope_pack_key(&w.pk, "term");
    msgpack_pack_int64(&w.pk, term);
    return envelope_finish(&w);
}

static int published(struct op_ctx *op, const PGresult *res)
{
    int n = PQntuples(res);
    if (n < 1) {
        return -EIO;
    }
    if (dbval_get_i64(res, 0, PB_TERMS) == 0) {
        return op_refuse(op, OP_E_NOT_FOUND, "term", "no such term");
    }
    if (op_has_arg(op, "section") && dbval_get_i64(res, 0, PB_SECTIONS) == 0) {
        return op_refuse(op, OP_E_BAD_REQUEST, "section", "is not a section of the term's year");
    }
    int64_t term = op_get_id(op, "term");
    int64_t students = dbval_get_i64(res, 0, PB_STUDENTS);
    audit_op(op, "term", term, "ok");
    struct notices_outbox out;
    notices_outbox_init(&out, ((struct academics *)op->domain)->presence);
    struct msgbuf *last = NULL;
    int64_t last_student = 0;
    for (int r = 1; r < n; r++) {
        int64_t student = dbval_get_i64(res, r, PB_STUDENT);
        if (!last || student != last_student) {
            msgbuf_unref(last);
            last = published_event(student, term); /* one message per child, for all parents */
            last_student = student;
        }
        notices_outbox_add(&out, dbval_get_i64(res, r, PB_USER), last);
    }
    msgbuf_unref(last);
    op_reply_fields(op, (struct op_field[]){ op_f_i64("published", students), { 0 } });
    notices_outbox_send(&out); /* op is freed: tell the parents who are online now */
    return 0;
}

static int publish_write(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    bool has_section = op_has_arg(op, "section");
    op_param_id(op, op->caller.school_id);
    op_param_id(op, op_get_id(op, "term"));
    op_param_i64_opt(op, has_section, has_section ? op_get_id(op, "section") : 0);
    op_param_id(op, op->caller.user_id);
    return op_sql(op, &(struct op_sql){ .sql = PUBLISH_SQL, .on_rows = published });
}

static int op_report_card_publish(struct op_ctx *op)
{
    if (op_has_arg(op, "section")) {
        return scope_check(op, SCOPE_SECTION, op_get_id(op, "section"), "section",
                           publish_write);
    }
    op_keep_args(op);
    return publish_write(op, NULL);
}

/* ---- report_card.get ---- */

static int link_reply(struct op_ctx *op, const PGresult *res)
{
    if (PQntuples(res) != 1) {
        return op_refuse(op, OP_E_NOT_FOUND, "term", "no such term");
    }
    if (op->caller.role == ROLE_PARENT && !dbval_get_bool(res, 0, GRADES_HEAD_PUBLISHED)) {
        return op_refuse(op, OP_E_FORBIDDEN, "term",
                         "this term's report cards are not published yet");
    }
    struct report_card_link link = {
        .student = op_get_id(op, "student"),
        .term = op_get_id(op, "term"),
        .school = op->caller.school_id,
        .expires = (int64_t)time(NULL) + REPORT_CARD_LINK_TTL_S,
    };
    char token[REPORT_CARD_TOKEN_CHARS + 1];
    report_card_link_sign(op->env->keys, &link, token);
    char url[sizeof REPORT_CARD_HTTP_PREFIX + REPORT_CARD_TOKEN_CHARS + 8];
    snprintf(url, sizeof url, "%s%s.pdf", REPORT_CARD_HTTP_PREFIX, token);
    op_reply_fields(op, (struct op_field[]){ op_f_str("url", url),
                                             op_f_i64("expires_at", link.expires * 1000),
                                             { 0 } });
    return 0;
}

static int link_head(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    op_param_id(op, op_get_id(op, "student"));
    op_param_id(op, op_get_id(op, "term"));
    op_param_id(op, op->caller.school_id);
    return op_sql(op, &(struct op_sql){ .sql = GRADES_CARD_HEAD_SQL, .on_rows = link_reply });
}

static int op_report_card_get(struct op_ctx *op)
{
    return scope_check(op, SCOPE_STUDENT, op_get_id(op, "student"), "student", link_head);
}

static const struct op_arg REMARK_ARGS[] = {
    { .name = "student", .type = OP_T_ID, .required = OP_REQ },
    { .name = "term", .type = OP_T_ID, .required = OP_REQ },
    { .name = "remarks", .type = OP_T_STR, .required = OP_REQ, .max = REPORT_CARD_REMARKS_MAX },
    { .name = NULL },
};

static const struct op_arg PUBLISH_ARGS[] = {
    { .name = "term", .type = OP_T_ID, .required = OP_REQ },
    { .name = "section", .type = OP_T_ID },
    { .name = NULL },
};

static const struct op_arg GET_ARGS[] = {
    { .name = "student", .type = OP_T_ID, .required = OP_REQ },
    { .name = "term", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

const struct op_def report_card_ops[] = {
    { .name = "report_card.remark", .fn = op_report_card_remark,
      .roles = ROLE_ADMIN | ROLE_TEACHER, .args = REMARK_ARGS },
    { .name = "report_card.publish", .fn = op_report_card_publish, .roles = ROLE_ADMIN,
      .args = PUBLISH_ARGS },
    { .name = "report_card.get", .fn = op_report_card_get,
      .roles = ROLE_ADMIN | ROLE_TEACHER | ROLE_PARENT, .args = GET_ARGS },
    { .name = NULL },
};

/* ---- the render queue ---- */

struct render_job {
    uv_work_t work;
    const struct report_card *rc;
    report_cards_rendered_fn *cb;
    void *arg;
    int r;
    unsigned char *pdf;
    size_t len;
    struct render_job *next;
};

/* One loop per process; touched only on it. */
static struct {
    uv_loop_t *loop;
    int in_flight;
    size_t waiting;
    struct render_job *head, *tail;
    uint64_t renders, failures, cache_hits, max_bytes;
} rq;

/* Drawing is background work: the pool thread that draws runs at a lower priority (Linux
 * sets nice values per thread), so that on a machine whose cores are all drawing the event
 * loop still gets the CPU the moment a position or a request arrives. A pool thread keeps
 * the priority; Classment gives the pool only background work (drawing, an import's
 * parsing). */
#define RENDER_NICE 10

static void render_work(uv_work_t *w)
{
    static _Thread_local bool lowered;
    if (!lowered) {
        lowered = true;
        (void)setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), RENDER_NICE);
    }
    struct render_job *j = w->data;
    j->r = report_card_pdf(j->rc, &j->pdf, &j->len);
}

static void render_start(struct render_job *j);

static void render_after(uv_work_t *w, int status)
{
    struct render_job *j = w->data;
    rq.in_flight--;
    if (status != 0 && j->r == 0) { /* cancelled */
        free(j->pdf);
        j->pdf = NULL;
        j->r = status;
    }
    if (j->r == 0) {
        rq.renders++;
        if (j->len > rq.max_bytes) {
            rq.max_bytes = j->len;
        }
    } else {
        rq.failures++;
    }
    while (rq.head && rq.in_flight < REPORT_CARDS_MAX_RENDERS) {
        struct render_job *next = rq.head;
        rq.head = next->next;
        if (!rq.head) {
            rq.tail = NULL;
        }
        rq.waiting--;
        render_start(next);
    }
    report_cards_rendered_fn *cb = j->cb;
    void *arg = j->arg;
    int r = j->r;
    unsigned char *pdf = j->pdf;
    size_t len = j->len;
    free(j);
    cb(arg, r, pdf, len);
}

static void render_start(struct render_job *j)
{
    j->work.data = j;
    rq.in_flight++;
    int r = uv_queue_work(rq.loop, &j->work, render_work, render_after);
    if (r != 0) { /* cannot happen with valid arguments; answer as a failed render */
        j->r = r;
        rq.in_flight--;
        rq.failures++;
        report_cards_rendered_fn *cb = j->cb;
        void *arg = j->arg;
        free(j);
        cb(arg, r, NULL, 0);
    }
}

int report_cards_render(uv_loop_t *loop, const struct report_card *rc,
                        report_cards_rendered_fn *cb, void *arg)
{
    if (!loop || !rc || !cb) {
        return -EINVAL;
    }
    rq.loop = loop;
    struct render_job *j = xcalloc(1, sizeof *j);
    j->rc = rc;
    j->cb = cb;
    j->arg = arg;
    if (rq.in_flight < REPORT_CARDS_MAX_RENDERS) {
        render_start(j);
    } else {
        if (rq.tail) {
            rq.tail->next = j;
        } else {
            rq.head = j;
        }
        rq.tail = j;
        rq.waiting++;
    }
    return 0;
}

void report_cards_render_metrics(struct strbuf *out)
{
    strbuf_printf(out,
                  "# HELP classment_report_cards_rendered_total Report cards drawn.\n"
                  "# TYPE classment_report_cards_rendered_total counter\n"
                  "classment_report_cards_rendered_total %llu\n"
                  "# HELP classment_report_cards_failed_total Report cards that failed to draw.\n"
                  "# TYPE classment_report_cards_failed_total counter\n"
                  "classment_report_cards_failed_total %llu\n"
                  "# HELP classment_report_cards_cached_total Report cards served from the "
                  "cache.\n"
                  "# TYPE classment_report_cards_cached_total counter\n"
                  "classment_report_cards_cached_total %llu\n"
                  "# HELP classment_report_cards_rendering Report cards drawing or waiting.\n"
                  "# TYPE classment_report_cards_rendering gauge\n"
                  "classment_report_cards_rendering{state=\"drawing\"} %d\n"
                  "classment_report_cards_rendering{state=\"waiting\"} %zu\n"
                  "# HELP classment_report_card_max_bytes Largest report card drawn.\n"
                  "# TYPE classment_report_card_max_bytes gauge\n"
                  "classment_report_card_max_bytes %llu\n",
                  (unsigned long long)rq.renders, (unsigned long long)rq.failures,
                  (unsigned long long)rq.cache_hits, rq.in_flight, rq.waiting,
                  (unsigned long long)rq.max_bytes);
}

/* ---- a card over HTTP ---- */

/* The renderer's version: part of the fingerprint, so a new layout draws every card anew. */
#define RENDER_VERSION "report-card 1"
#define CACHE_MAX_BYTES (1048576 - CRYPTO_SEAL_OVERHEAD)

/* The card's other data: $1 student, $2 term, $3 school, $4 the grades' section (or NULL).
 * One row when the student and the term are the school's. */
#define INFO_SQL                                                                              \
    "SELECT sch.name, y.name, t.name, s.name, s.admission_no, s.dob_enc, s.dob_key, c.name,"   \
    " sc.name, s.roll_no, ct.name, r.remarks,"                                                 \
    " (SELECT count(*) FROM attendance a WHERE a.student_id = s.id"                            \
    "  AND a.day BETWEEN t.starts_on AND t.ends_on AND a.status IN ('present', 'late')),"      \
    " (SELECT count(*) FROM attendance a WHERE a.student_id = s.id"                            \
    "  AND a.day BETWEEN t.starts_on AND t.ends_on),"                                          \
    " k.fingerprint, k.pdf_enc, k.pdf_key"                                                     \
    " FROM students s JOIN schools sch ON sch.id = s.school_id"                                \
    " JOIN terms t ON t.id = $2 AND t.school_id = s.school_id"                                 \
    " JOIN academic_years y ON y.id = t.year_id"                                               \
    " LEFT JOIN sections sc ON sc.id = $4::bigint"                                             \
    " LEFT JOIN classes c ON c.id = sc.class_id"                                               \
    " LEFT JOIN users ct ON ct.id = sc.class_teacher_id"                                       \
    " LEFT JOIN report_card_remarks r ON r.student_id = s.id AND r.term_id = t.id"             \
    " LEFT JOIN report_card_cache k ON k.student_id = s.id AND k.term_id = t.id"               \
    " WHERE s.id = $1 AND s.school_id = $3"

enum {
    IN_SCHOOL, IN_YEAR, IN_TERM, IN_NAME, IN_ADMISSION, IN_DOB_ENC, IN_DOB_KEY, IN_CLASS,
    IN_SECTION, IN_ROLL, IN_TEACHER, IN_REMARKS, IN_PRESENT, IN_MARKED,
    IN_DATA_COLS, /* the columns above are the card's data; below, the cached copy */
    IN_FINGERPRINT = IN_DATA_COLS, IN_PDF, IN_PDF_KEY,
};

#define STORE_SQL                                                                             \
    "INSERT INTO report_card_cache AS k (student_id, term_id, school_id, fingerprint,"         \
    " pdf_enc, pdf_key) VALUES ($1, $2, $3, $4, $5, $6)"                                      \
    " ON CONFLICT (student_id, term_id) DO UPDATE SET fingerprint = EXCLUDED.fingerprint,"     \
    " pdf_enc = EXCLUDED.pdf_enc, pdf_key = EXCLUDED.pdf_key, renders = k.renders + 1,"        \
    " rendered_at = now()"

struct report_card_fetch {
    const struct op_env *env;
    struct report_card_link link;
    report_card_fetch_fn *cb;
    void *arg;
    struct arena arena;
    bool has_section, ranks;
    int64_t section;
    crypto_generichash_state fp_state;
    unsigned char fp[CRYPTO_HASH_BYTES];
    struct grade_scale scale;
    struct grade_card *card;
    struct report_card rc;
    struct report_card_subject subjects[REPORT_CARD_MAX_SUBJECTS];
    const char *filename;
    unsigned char *pdf; /* malloc'd */
    size_t len;
};

/* Folds every value of res's rows (columns [0, cols)) into the fingerprint. */
static void fp_add(struct report_card_fetch *f, const PGresult *res, int cols)
{
    int n = PQntuples(res);
    unsigned char sep[9];
    for (int r = 0; r < n; r++) {
        for (int c = 0; c < cols; c++) {
            int len = PQgetisnull(res, r, c) ? -1 : PQgetlength(res, r, c);
            put64(sep, len);
            sep[8] = (unsigned char)c;
            crypto_generichash_update(&f->fp_state, sep, sizeof sep);
            if (len > 0) {
                crypto_generichash_update(&f->fp_state,
                                          (const unsigned char *)PQgetvalue(res, r, c),
                                          (unsigned long long)len);
            }
        }
    }
}

static void finish(struct report_card_fetch *f, unsigned status)
{
    const char *text = status == 404   ? "not found\n"
                       : status == 503 ? "unavailable\n"
                                       : "internal error\n";
    if (status == 200) {
        f->cb(f->arg, f, 200, f->pdf, f->len, f->filename);
    } else {
        f->cb(f->arg, f, status, (const unsigned char *)text, strlen(text), NULL);
    }
}

static void finish_db(struct report_card_fetch *f, int status, const PGresult *res)
{
    if (status == DBPOOL_E_QUERY) {
        log_event(LOG_ERROR, "report_cards", "query failed", "sqlstate=%s",
                  dbpool_sqlstate(status, res));
        finish(f, 500);
    } else {
        finish(f, 503);
    }
}

/* The cache column binds the sealed copy to its term; the row id is the student. */
static const char *cache_column(struct report_card_fetch *f)
{
    return arena_printf(&f->arena, "report_card_cache.pdf:%" PRId64, f->link.term);
}

static void on_stored(void *arg, int status, const PGresult *res)
{
    struct report_card_fetch *f = arg;
    if (status != DBPOOL_OK) { /* served anyway; drawn again next time */
        log_event(LOG_WARN, "report_cards", "cache write failed", "sqlstate=%s",
                  dbpool_sqlstate(status, res));
    }
    finish(f, 200);
}

static void on_rendered(void *arg, int r, unsigned char *pdf, size_t len)
{
    struct report_card_fetch *f = arg;
    if (r != 0) {
        log_event(LOG_ERROR, "report_cards", "render failed", "error=%d", r);
        finish(f, 500);
        return;
    }
    f->pdf = pdf;
    f->len = len;
    /* Too big to keep, or drawn while the server stopped (the pool is gone: env->db NULL). */
    if (len > CACHE_MAX_BYTES || !f->env->db) {
        finish(f, 200);
        return;
    }
    size_t sealed_len = len + CRYPTO_SEAL_OVERHEAD;
    unsigned char *sealed = xmalloc(sealed_len);
    int version = crypto_seal(f->env->keys, cache_column(f), f->link.student, pdf, len, sealed);
    char *hex = xmalloc(2 * sealed_len + 3);
    dbval_bytea(sealed, sealed_len, hex);
    free(sealed);
    char fp_hex[2 * CRYPTO_HASH_BYTES + 3], student[24], term[24], school[24], key[24];
    dbval_bytea(f->fp, sizeof f->fp, fp_hex);
    const char *params[] = { dbval_i64(f->link.student, student), dbval_i64(f->link.term, term),
                             dbval_i64(f->link.school, school), fp_hex, hex,
                             dbval_i64(version, key) };
    int q = dbpool_query(f->env->db, STORE_SQL, 6, params, on_stored, f);
    free(hex);
    if (q != DBPOOL_OK) {
        finish(f, 200);
    }
}

/* The cached copy when its fingerprint is f->fp and it opens; false otherwise. */
static bool take_cached(struct report_card_fetch *f, const PGresult *res)
{
    unsigned char fp[CRYPTO_HASH_BYTES];
    if (dbval_get_bytea(res, 0, IN_FINGERPRINT, fp, sizeof fp) != (long)sizeof fp ||
        sodium_memcmp(fp, f->fp, sizeof fp) != 0 || PQgetisnull(res, 0, IN_PDF)) {
        return false;
    }
    size_t cap = (size_t)PQgetlength(res, 0, IN_PDF) / 2;
    unsigned char *sealed = xmalloc(cap + 1);
    long n = dbval_get_bytea(res, 0, IN_PDF, sealed, cap);
    bool ok = false;
    if (n > CRYPTO_SEAL_OVERHEAD) {
        size_t len = (size_t)n - CRYPTO_SEAL_OVERHEAD;
        char *pdf = xmalloc(len + 1);
        if (crypto_open(f->env->keys, (int)dbval_get_i64(res, 0, IN_PDF_KEY), cache_column(f),
                        f->link.student, sealed, (size_t)n, pdf, len + 1) == 0) {
            f->pdf = (unsigned char *)pdf;
            f->len = len;
            ok = true;
        } else {
            free(pdf);
            log_event(LOG_WARN, "report_cards", "cached copy does not open", "student=%" PRId64,
                      f->link.student);
        }
    }
    free(sealed);
    return ok;
}

/* A copy of a text column in the fetch's arena ("" when NULL). */
static const char *col_text(struct report_card_fetch *f, const PGresult *res, int col)
{
    const char *s = dbval_get_text(res, 0, col);
    return arena_strdup(&f->arena, s ? s : "");
}

static const char *fmt(struct report_card_fetch *f, double v)
{
    char buf[32];
    return arena_strdup(&f->arena, grades_fmt(v, buf, sizeof buf));
}

/* Appends s to the file name keeping [A-Za-z0-9._], any other run as one '-'. */
static void safe_name(char *out, size_t cap, const char *s)
{
    size_t n = strlen(out);
    bool dash = n > 0 && out[n - 1] == '-';
    for (; *s && n + 1 < cap; s++) {
        char c = *s;
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_';
        if (ok) {
            out[n++] = c;
            dash = false;
        } else if (!dash) {
            out[n++] = '-';
            dash = true;
        }
    }
    out[n] = '\0';
}

static void build_card(struct report_card_fetch *f, const PGresult *res)
{
    struct report_card *rc = &f->rc;
    rc->school = col_text(f, res, IN_SCHOOL);
    rc->year = col_text(f, res, IN_YEAR);
    rc->term = col_text(f, res, IN_TERM);
    rc->student = col_text(f, res, IN_NAME);
    rc->admission_no = col_text(f, res, IN_ADMISSION);
    rc->class_name = col_text(f, res, IN_CLASS);
    rc->section = col_text(f, res, IN_SECTION);
    rc->roll_no = (int)dbval_get_i64(res, 0, IN_ROLL);
    rc->remarks = col_text(f, res, IN_REMARKS);
    rc->class_teacher = PQgetisnull(res, 0, IN_TEACHER) ? NULL : col_text(f, res, IN_TEACHER);
    rc->days_present = (int)dbval_get_i64(res, 0, IN_PRESENT);
    rc->days_marked = (int)dbval_get_i64(res, 0, IN_MARKED);
    rc->dob = NULL;
    if (!PQgetisnull(res, 0, IN_DOB_ENC)) {
        char dob[PII_TEXT_MAX + 1];
        if (pii_open_text(f->env->keys, (int)dbval_get_i64(res, 0, IN_DOB_KEY), "students.dob",
                          f->link.student, res, 0, IN_DOB_ENC, dob, sizeof dob) == 0) {
            rc->dob = arena_strdup(&f->arena, dob);
        }
        sodium_memzero(dob, sizeof dob);
    }
    const struct grade_card *g = f->card;
    size_t n = g->n_subjects < REPORT_CARD_MAX_SUBJECTS ? g->n_subjects
                                                        : REPORT_CARD_MAX_SUBJECTS;
    for (size_t i = 0; i < n; i++) {
        const struct grade_subject *s = &g->subjects[i];
        struct report_card_subject *o = &f->subjects[i];
        o->name = arena_strdup(&f->arena, s->name);
        o->max = s->status == GRADE_NONE ? "" : fmt(f, s->max);
        o->grade = s->status == GRADE_GRADED || s->status == GRADE_ABSENT
                       ? (s->band ? arena_strdup(&f->arena, s->band->grade) : "")
                       : "";
        o->marks = s->status == GRADE_ABSENT   ? "AB"
                   : s->status == GRADE_EXEMPT ? "EX"
                   : s->status == GRADE_NONE   ? ""
                                               : fmt(f, s->marks);
    }
    rc->subjects = f->subjects;
    rc->n_subjects = n;
    rc->overall_percentage = g->overall.graded ? fmt(f, g->overall.percentage) : "";
    rc->overall_grade = g->overall.graded && g->overall.band
                            ? arena_strdup(&f->arena, g->overall.band->grade)
                            : "";
    rc->rank = f->ranks && g->rank > 0
                   ? arena_printf(&f->arena, "%d of %d", g->rank, g->n_ranked)
                   : NULL;
    char name[160] = "report-card-";
    safe_name(name, sizeof name - 8, rc->admission_no);
    strcat(name, "-");
    safe_name(name, sizeof name - 8, rc->term);
    strcat(name, ".pdf");
    f->filename = arena_strdup(&f->arena, name);
}

static void on_info(void *arg, int status, const PGresult *res)
{
    struct report_card_fetch *f = arg;
    if (status != DBPOOL_OK) {
        finish_db(f, status, res);
        return;
    }
    if (PQntuples(res) != 1) {
        finish(f, 404);
        return;
    }
    fp_add(f, res, IN_DATA_COLS);
    crypto_generichash_final(&f->fp_state, f->fp, sizeof f->fp);
    if (take_cached(f, res)) {
        rq.cache_hits++;
        build_card(f, res); /* for the file name */
        finish(f, 200);
        return;
    }
    build_card(f, res);
    if (report_cards_render(f->env->loop, &f->rc, on_rendered, f) != 0) {
        finish(f, 500);
    }
}

static void on_grades(void *arg, int status, const PGresult *res)
{
    struct report_card_fetch *f = arg;
    if (status != DBPOOL_OK) {
        finish_db(f, status, res);
        return;
    }
    fp_add(f, res, PQnfields(res));
    grades_scale_read(res, &f->scale);
    f->card = arena_alloc(&f->arena, sizeof *f->card);
    grades_card_read(res, f->link.student, f->link.term, &f->scale, f->ranks, f->card);
    char student[24], term[24], school[24], section[24];
    const char *params[] = { dbval_i64(f->link.student, student), dbval_i64(f->link.term, term),
                             dbval_i64(f->link.school, school),
                             f->has_section ? dbval_i64(f->section, section) : NULL };
    if (dbpool_query(f->env->db, INFO_SQL, 4, params, on_info, f) != DBPOOL_OK) {
        finish(f, 503);
    }
}

static void on_head(void *arg, int status, const PGresult *res)
{
    struct report_card_fetch *f = arg;
    if (status != DBPOOL_OK) {
        finish_db(f, status, res);
        return;
    }
    if (PQntuples(res) != 1) {
        finish(f, 404);
        return;
    }
    fp_add(f, res, PQnfields(res));
    f->has_section = !PQgetisnull(res, 0, GRADES_HEAD_SECTION);
    f->section = dbval_get_i64(res, 0, GRADES_HEAD_SECTION);
    f->ranks = dbval_get_bool(res, 0, GRADES_HEAD_RANKS);
    char student[24], term[24], school[24], section[24];
    const char *params[] = { dbval_i64(f->link.student, student), dbval_i64(f->link.term, term),
                             dbval_i64(f->link.school, school),
                             f->has_section ? dbval_i64(f->section, section) : NULL,
                             f->ranks ? "true" : "false" };
    if (dbpool_query(f->env->db, GRADES_CARD_SQL, 5, params, on_grades, f) != DBPOOL_OK) {
        finish(f, 503);
    }
}

struct report_card_fetch *report_card_fetch_start(const struct op_env *env,
                                                  const struct report_card_link *link,
                                                  report_card_fetch_fn *cb, void *arg)
{
    struct report_card_fetch *f = xcalloc(1, sizeof *f);
    f->env = env;
    f->link = *link;
    f->cb = cb;
    f->arg = arg;
    crypto_generichash_init(&f->fp_state, NULL, 0, sizeof f->fp);
    crypto_generichash_update(&f->fp_state, (const unsigned char *)RENDER_VERSION,
                              sizeof RENDER_VERSION);
    char student[24], term[24], school[24];
    const char *params[] = { dbval_i64(link->student, student), dbval_i64(link->term, term),
                             dbval_i64(link->school, school) };
    if (dbpool_query(env->db, GRADES_CARD_HEAD_SQL, 3, params, on_head, f) != DBPOOL_OK) {
        free(f);
        return NULL;
    }
    return f;
}

void report_card_fetch_free(struct report_card_fetch *f)
{
    if (f) {
        if (f->pdf) {
            sodium_memzero(f->pdf, f->len);
            free(f->pdf);
        }
        arena_deinit(&f->arena);
        free(f);
    }
}
