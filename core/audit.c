/* Buffered, batched audit log writer (see audit.h). */
#include "core/audit.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dbpool.h"
#include "core/log.h"
#include "core/op.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

#define FLUSH_MS 200
#define BATCH_MAX 500
#define BUFFER_MAX 20000

struct audit_row {
    int64_t school_id, user_id, session_id, record_id;
    unsigned role;
    char op[48];
    char record_type[32];
    char addr[48];
    char outcome[24];
};

struct audit {
    uv_loop_t *loop;
    struct dbpool *db;
    uv_timer_t timer;
    struct audit_row *rows;
    size_t n, cap;
    size_t in_flight; /* rows[0..in_flight) are being written */
    struct audit_stats stats;
    bool closing;
    void (*done)(void *arg);
    void *done_arg;
};

static void flush(struct audit *a);
static void finish(struct audit *a);

static void on_tick(uv_timer_t *t)
{
    flush(t->data);
}

struct audit *audit_new(uv_loop_t *loop, struct dbpool *db)
{
    struct audit *a = xcalloc(1, sizeof *a);
    a->loop = loop;
    a->db = db;
    uv_timer_init(loop, &a->timer);
    a->timer.data = a;
    uv_timer_start(&a->timer, on_tick, FLUSH_MS, FLUSH_MS);
    return a;
}

static void copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

void audit_record(struct audit *a, const struct caller *who, const char *addr, const char *op,
                  const char *record_type, int64_t record_id, const char *outcome)
{
    if (a->n == BUFFER_MAX) {
        a->stats.dropped++;
        if (a->stats.dropped == 1 || a->stats.dropped % 1000 == 0) {
            log_event(LOG_ERROR, "audit", "audit buffer full, entries lost", "dropped=%llu",
                      (unsigned long long)a->stats.dropped);
        }
        return;
    }
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->rows = xrealloc(a->rows, a->cap * sizeof *a->rows);
    }
    struct audit_row *r = &a->rows[a->n++];
    memset(r, 0, sizeof *r);
    r->school_id = who->school_id;
    r->user_id = who->user_id;
    r->session_id = who->session_id;
    r->role = who->role;
    r->record_id = record_id;
    copy(r->op, sizeof r->op, op);
    copy(r->record_type, sizeof r->record_type, record_type);
    copy(r->addr, sizeof r->addr, addr);
    copy(r->outcome, sizeof r->outcome, outcome);
    a->stats.recorded++;
}

void audit_op(struct op_ctx *op, const char *record_type, int64_t record_id,
              const char *outcome)
{
    audit_record(op->env->audit, &op->caller, op->peer->addr, op->op_name, record_type,
                 record_id, outcome);
}

/* Appends one element of a PostgreSQL array literal; NULL for empty/zero. Values here are
 * ids and short names from the server itself, quoted and escaped all the same. */
static void array_text(struct strbuf *sb, const char *s, bool first)
{
    if (!first) {
        strbuf_append(sb, ",", 1);
    }
    if (!*s) {
        strbuf_append(sb, "NULL", 4);
        return;
    }
    strbuf_append(sb, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') {
            strbuf_append(sb, "\\", 1);
        }
        strbuf_append(sb, s, 1);
    }
    strbuf_append(sb, "\"", 1);
}

static void array_id(struct strbuf *sb, int64_t v, bool first)
{
    if (!first) {
        strbuf_append(sb, ",", 1);
    }
    if (v) {
        strbuf_printf(sb, "%lld", (long long)v);
    } else {
        strbuf_append(sb, "NULL", 4);
    }
}

static void timer_closed(uv_handle_t *h)
{
    finish(h->data);
}

static void close_timer(struct audit *a)
{
    if (!uv_is_closing((uv_handle_t *)&a->timer)) {
        uv_close((uv_handle_t *)&a->timer, timer_closed);
    }
}

static void on_written(void *arg, int status, const PGresult *res)
{
    struct audit *a = arg;
    (void)res;
    if (status == DBPOOL_OK) {
        a->stats.written += a->in_flight;
        memmove(a->rows, a->rows + a->in_flight, (a->n - a->in_flight) * sizeof *a->rows);
        a->n -= a->in_flight;
    } else if (status == DBPOOL_E_QUERY) {
        /* The database refused the rows themselves: retrying would fail forever. */
        log_event(LOG_ERROR, "audit", "audit batch refused", "rows=%zu", a->in_flight);
        a->stats.dropped += a->in_flight;
        memmove(a->rows, a->rows + a->in_flight, (a->n - a->in_flight) * sizeof *a->rows);
        a->n -= a->in_flight;
    }
    /* Unavailable: keep the rows and try again on the next tick. */
    a->in_flight = 0;
    if (a->closing) {
        /* While stopping, keep going only as long as the database takes the rows. */
        if (status == DBPOOL_OK && a->n) {
            flush(a);
        } else {
            close_timer(a);
        }
    }
}

static void finish(struct audit *a)
{
    if (a->n) {
        log_event(LOG_WARN, "audit", "audit entries not written at stop", "rows=%zu", a->n);
    }
    free(a->rows);
    void (*done)(void *) = a->done;
    void *arg = a->done_arg;
    free(a);
    if (done) {
        done(arg);
    }
}


static void flush(struct audit *a)
{
    a->stats.buffered = a->n;
    if (a->in_flight) {
        return;
    }
    if (a->n == 0) {
        if (a->closing) {
            close_timer(a);
        }
        return;
    }
    size_t n = a->n < BATCH_MAX ? a->n : BATCH_MAX;
    struct strbuf cols[9];
    for (int c = 0; c < 9; c++) {
        strbuf_init(&cols[c]);
        strbuf_append(&cols[c], "{", 1);
    }
    for (size_t i = 0; i < n; i++) {
        const struct audit_row *r = &a->rows[i];
        bool first = i == 0;
        array_id(&cols[0], r->school_id, first);
        array_id(&cols[1], r->user_id, first);
        array_text(&cols[2], r->role ? role_name(r->role) : "", first);
        array_id(&cols[3], r->session_id, first);
        array_text(&cols[4], r->op, first);
        array_text(&cols[5], r->record_type, first);
        array_id(&cols[6], r->record_id, first);
        array_text(&cols[7], r->addr, first);
        array_text(&cols[8], r->outcome, first);
    }
    const char *params[9];
    for (int c = 0; c < 9; c++) {
        strbuf_append(&cols[c], "}", 1);
    }
    for (int c = 0; c < 9; c++) {
        params[c] = cols[c].data;
    }
    int r = dbpool_query(a->db,
                         "INSERT INTO audit_log (school_id, user_id, role, session_id, op, "
                         "record_type, record_id, addr, outcome) "
                         "SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], "
                         "$4::bigint[], $5::text[], $6::text[], $7::bigint[], $8::text[], "
                         "$9::text[])",
                         9, params, on_written, a);
    for (int c = 0; c < 9; c++) {
        strbuf_deinit(&cols[c]);
    }
    if (r == 0) {
        a->in_flight = n;
    } else if (a->closing) {
        close_timer(a);
    }
}

void audit_get_stats(const struct audit *a, struct audit_stats *out)
{
    *out = a->stats;
    out->buffered = a->n;
}

void audit_close(struct audit *a, void (*done)(void *arg), void *arg)
{
    a->closing = true;
    a->done = done;
    a->done_arg = arg;
    uv_timer_stop(&a->timer);
    flush(a);
}
