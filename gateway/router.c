/* The operation registry and dispatcher (see router.h). */
#include "gateway/router.h"

#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/op_schema.h"
#include "core/xalloc.h"

struct router {
    const struct op_def **ops; /* sorted by name */
    void **domains;            /* each op's table context, in the same order */
    size_t n_ops;
    msgpack_sbuffer schema;    /* sys.schema's data, packed on first use */
    /* n_ops entries in the same order, then the two pseudo-ops below */
    struct op_metrics *metrics;
};

enum { PSEUDO_INVALID = 0, PSEUDO_UNKNOWN = 1, N_PSEUDO = 2 };

struct entry {
    const struct op_def *def;
    void *domain;
};

static int compare_entries(const void *a, const void *b)
{
    const struct entry *x = a;
    const struct entry *y = b;
    return strcmp(x->def->name, y->def->name);
}

struct router *router_new(const struct op_table *tables, size_t n_tables)
{
    struct router *r = xcalloc(1, sizeof *r);
    struct entry *entries = NULL;
    for (size_t t = 0; t < n_tables; t++) {
        for (const struct op_def *d = tables[t].ops; d->name; d++) {
            entries = xrealloc(entries, sizeof *entries * (r->n_ops + 1));
            entries[r->n_ops++] = (struct entry){ d, tables[t].domain };
        }
    }
    if (r->n_ops) {
        qsort(entries, r->n_ops, sizeof *entries, compare_entries);
    }
    r->ops = xcalloc(r->n_ops + 1, sizeof *r->ops);
    r->domains = xcalloc(r->n_ops + 1, sizeof *r->domains);
    for (size_t i = 0; i < r->n_ops; i++) {
        r->ops[i] = entries[i].def;
        r->domains[i] = entries[i].domain;
    }
    free(entries);
    for (size_t i = 0; i < r->n_ops; i++) {
        const char *why = NULL;
        if (!r->ops[i]->fn || (i > 0 && strcmp(r->ops[i - 1]->name, r->ops[i]->name) == 0)) {
            why = "no handler, or a duplicate name";
        } else if (op_schema_valid(r->ops[i]->args, &why) != 0) {
            /* why is set */
        }
        if (why) {
            log_event(LOG_ERROR, "router", "bad op table row", "op=%s why=\"%s\"",
                      r->ops[i]->name, why);
            router_free(r);
            return NULL;
        }
    }
    r->metrics = xcalloc(r->n_ops + N_PSEUDO, sizeof *r->metrics);
    for (size_t i = 0; i < r->n_ops; i++) {
        r->metrics[i].op = r->ops[i]->name;
    }
    r->metrics[r->n_ops + PSEUDO_INVALID].op = "(invalid)";
    r->metrics[r->n_ops + PSEUDO_UNKNOWN].op = "(unknown)";
    return r;
}

void router_free(struct router *r)
{
    if (!r) {
        return;
    }
    msgpack_sbuffer_destroy(&r->schema);
    free(r->ops);
    free(r->domains);
    free(r->metrics);
    free(r);
}

/* Compares a registered name with a name of len bytes from the wire (which may hold any
 * bytes, NUL included) in the same order strcmp sorts the table. */
static int compare_name(const char *registered, const char *name, size_t len)
{
    size_t n = strlen(registered);
    int c = memcmp(registered, name, n < len ? n : len);
    if (c != 0) {
        return c;
    }
    return n < len ? -1 : n > len ? 1 : 0;
}

static ptrdiff_t find_index(const struct router *r, const char *name, size_t len)
{
    size_t lo = 0, hi = r->n_ops;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = compare_name(r->ops[mid]->name, name, len);
        if (c == 0) {
            return (ptrdiff_t)mid;
        }
        if (c < 0) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return -1;
}

const struct op_def *router_find(const struct router *r, const char *name, size_t len)
{
    ptrdiff_t i = find_index(r, name, len);
    return i < 0 ? NULL : r->ops[i];
}

size_t router_count(const struct router *r)
{
    return r->n_ops;
}

const struct op_def *router_op_at(const struct router *r, size_t i)
{
    return i < r->n_ops ? r->ops[i] : NULL;
}

const unsigned char *router_schema(struct router *r, size_t *len)
{
    if (r->schema.size == 0) {
        msgpack_packer pk;
        msgpack_packer_init(&pk, &r->schema, msgpack_sbuffer_write);
        msgpack_pack_array(&pk, r->n_ops);
        for (size_t i = 0; i < r->n_ops; i++) {
            op_schema_pack_op(&pk, r->ops[i]);
        }
    }
    *len = r->schema.size;
    return (const unsigned char *)r->schema.data;
}

const struct op_metrics *router_metrics(const struct router *r, int *n)
{
    *n = (int)(r->n_ops + N_PSEUDO);
    return r->metrics;
}

static struct op_ctx *op_new(const struct op_env *env, struct peer *p, const char *name,
                             struct op_metrics *m, uint64_t start_ns)
{
    struct op_ctx *op = xcalloc(1, sizeof *op);
    op->env = env;
    op->peer = peer_ref(p);
    op->caller = p->caller;
    op->op_name = name;
    op->metrics = m;
    op->start_ns = start_ns;
    return op;
}

/* Answers a request that never reached a handler: a failure reply when it has an id, else a
 * rate-limited error event. The op name read from the frame is only borrowed for this call. */
static void refuse(const struct op_env *env, struct peer *p, const struct envelope_request *req,
                   struct op_metrics *m, uint64_t start_ns, enum op_err code,
                   const char *message, const char *field)
{
    if (req->has_id) {
        struct op_ctx *op = op_new(env, p, m->op, m, start_ns);
        op->has_id = true;
        op->id = req->id;
        op_fail(op, code, message, field);
        return;
    }
    if (peer_take_error_budget(p, op_now_ms())) {
        env->metrics->error_events++;
        struct msgbuf *ev = envelope_error_event(req->op, req->op_len, code, message, field);
        peer_send(p, ev);
        msgbuf_unref(ev);
    } else {
        env->metrics->error_events_dropped++;
    }
    op_metrics_observe(m, code, (double)(op_mono_ns() - start_ns) / 1e9);
}

enum router_outcome router_dispatch(struct router *r, const struct op_env *env, struct peer *p,
                                    const unsigned char *frame, size_t len)
{
    uint64_t start_ns = op_mono_ns();
    struct envelope_request req;
    struct envelope_error err;
    enum router_outcome outcome = ROUTER_DISPATCHED;
    if (envelope_decode(&req, frame, len, &err) != 0) {
        refuse(env, p, &req, &r->metrics[r->n_ops + PSEUDO_INVALID], start_ns, err.code,
               err.message, err.field);
        outcome = ROUTER_MALFORMED;
        goto out;
    }
    ptrdiff_t i = find_index(r, req.op, req.op_len);
    if (i < 0) {
        refuse(env, p, &req, &r->metrics[r->n_ops + PSEUDO_UNKNOWN], start_ns, OP_E_UNKNOWN_OP,
               "no such operation", "op");
        goto out;
    }
    const struct op_def *def = r->ops[i];
    struct op_metrics *m = &r->metrics[i];
    if (!(def->flags & OP_PUBLIC)) {
        if (p->caller.role == 0) {
            refuse(env, p, &req, m, start_ns, OP_E_UNAUTHENTICATED, "log in first", NULL);
            goto out;
        }
        if (!(def->roles & p->caller.role)) {
            refuse(env, p, &req, m, start_ns, OP_E_FORBIDDEN, "not allowed for your role",
                   NULL);
            goto out;
        }
    }
    struct op_ctx *op = op_new(env, p, def->name, m, start_ns);
    op->has_id = req.has_id;
    op->id = req.id;
    op->args = req.args;
    op->domain = r->domains[i];
    int rc = op_schema_check(def->args, req.args, &op->arena, &op->fail_field,
                             &op->fail_message);
    if (rc == 0) {
        rc = def->fn(op);
    } else if (def->bad_args) {
        def->bad_args(op);
    }
    /* A handler that returned an error has not answered and kept no reference to op;
     * rc == 0: op may already be freed; it must not be touched here. */
    op_finish_rc(op, rc);
out:
    envelope_request_deinit(&req);
    return outcome;
}
