/* The operation registry and dispatcher (see router.h). */
#include "gateway/router.h"

#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "core/op_schema.h"
#include "core/ratelimit.h"
#include "core/xalloc.h"

/* Fair shares (docs/operations.md): each connection has at most cfg->conn_in_flight requests
 * being handled (conn_in_flight_anon before login); later ones wait in its own line, up to
 * conn_waiting frames (and WAIT_BYTES_MIN or one largest message of bytes; before login one
 * largest message), and past that are refused rate_limited. Before login, the connections of
 * one address also share addr_in_flight_anon requests in flight (struct share); after login,
 * the requests with an id of all the connections of one user (school and user id) share
 * user_in_flight, the same way (a school behind one NAT address has hundreds of users: the
 * user, not the address, is the key). Requests with an id, and every request before login,
 * also take a token of the connection's rate bucket (conn_rate a second, a burst of as many).
 * Public ops that went to the database (seen answering later; auth.* excepted, they have their
 * own limits) take a token of the address's budget before login. A logged-in connection's
 * requests without an id (a bus's trip.pos) only touch two counters (and the share fields of
 * peer_request_done's test). */
#define WAIT_BYTES_MIN (1u << 20)
/* Idle addresses are forgotten this often. */
#define ADDR_SWEEP_MS 60000
#define SHARE_SLOTS 1024

/* What a share is keyed by: the address of connections not logged in (peer->share, held
 * while it counts some of the connection's requests), or the user of logged-in ones
 * (peer->user_share, held while the connection acts as that user). */
enum share_kind { SHARE_ADDR, SHARE_USER };

/* The requests in flight of one address's connections not logged in (addr_in_flight_anon at
 * most) or of one user's connections (user_in_flight), and the connections whose requests
 * wait for room in it, in the order they came. */
struct share {
    struct share *next;
    uint32_t in_flight;
    uint32_t refs; /* connections whose peer->share (user_share) is this */
    struct peer *blocked_head, *blocked_tail;
    enum share_kind kind;
    int64_t school_id, user_id; /* SHARE_USER */
    char key[sizeof ((struct peer *)0)->addr]; /* the address, or "school:user" */
};

/* A connection's fields for one kind of share (peer.h). */
struct hold {
    void **share;
    uint32_t *counted;
    bool *blocked;
};

static struct hold hold_of(struct peer *p, enum share_kind kind)
{
    return kind == SHARE_USER
               ? (struct hold){ &p->user_share, &p->user_counted, &p->user_blocked }
               : (struct hold){ &p->share, &p->share_counted, &p->share_blocked };
}

static struct peer **next_of(struct peer *p, enum share_kind kind)
{
    return kind == SHARE_USER ? &p->user_next : &p->share_next;
}

struct router {
    const struct op_def **ops; /* sorted by name */
    void **domains;            /* each op's table context, in the same order */
    size_t n_ops;
    msgpack_sbuffer schema;    /* sys.schema's data, packed on first use */
    /* n_ops entries in the same order, then the two pseudo-ops below */
    struct op_metrics *metrics;
    /* Public ops seen answering after the handler returned (they went to the database): the
     * address budget applies to them. */
    bool *deferred;
    /* Fair shares: the address budget (made on first use), connections whose waiting
     * requests may now go, and the timer that runs them (one per burst, closed after). */
    struct ratelimit *by_addr;
    uint64_t swept_ms;
    const struct op_env *env;
    struct peer **ready;
    size_t n_ready, cap_ready;
    uv_timer_t *turn_timer;
    struct share **shares; /* SHARE_SLOTS chains, made on first use */
    uint64_t shares_swept_ms;
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
    r->deferred = xcalloc(r->n_ops + 1, sizeof *r->deferred);
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
    for (size_t i = 0; i < r->n_ready; i++) {
        r->ready[i]->turn_listed = false;
        peer_unref(r->ready[i]);
    }
    free(r->ready);
    for (size_t i = 0; r->shares && i < SHARE_SLOTS; i++) {
        for (struct share *sh = r->shares[i], *next; sh; sh = next) {
            next = sh->next;
            for (struct peer *b = sh->blocked_head, *bn; b; b = bn) {
                bn = *next_of(b, sh->kind);
                *hold_of(b, sh->kind).blocked = false;
                *next_of(b, sh->kind) = NULL;
                peer_unref(b);
            }
            free(sh);
        }
    }
    free(r->shares);
    ratelimit_free(r->by_addr);
    free(r->deferred);
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

static void on_turn(struct peer *p, void *ctx);
static void pass_turn(struct router *r, const struct op_env *env, struct peer *p);
static void share_wake(struct router *r, const struct config *cfg, struct share *sh,
                       enum share_kind kind, uint32_t n);

static size_t share_slot(const char *key)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (const char *c = key; *c; c++) {
        h = (h ^ (unsigned char)*c) * 1099511628211ull;
    }
    return (size_t)(h % SHARE_SLOTS);
}

static struct share *share_find(struct router *r, enum share_kind kind, const char *key,
                                bool create)
{
    if (!r->shares) {
        if (!create) {
            return NULL;
        }
        r->shares = xcalloc(SHARE_SLOTS, sizeof *r->shares);
    }
    struct share **slot = &r->shares[share_slot(key)];
    for (struct share *sh = *slot; sh; sh = sh->next) {
        if (sh->kind == kind && strcmp(sh->key, key) == 0) {
            return sh;
        }
    }
    if (!create) {
        return NULL;
    }
    struct share *sh = xcalloc(1, sizeof *sh);
    sh->kind = kind;
    snprintf(sh->key, sizeof sh->key, "%s", key);
    sh->next = *slot;
    *slot = sh;
    return sh;
}

/* Forgets the shares nothing refers to any more (once a minute: a flood's refusals do not
 * make and free one each time). */
static void share_sweep(struct router *r, uint64_t now_ms)
{
    if (now_ms - r->shares_swept_ms < ADDR_SWEEP_MS) {
        return;
    }
    r->shares_swept_ms = now_ms;
    for (size_t i = 0; r->shares && i < SHARE_SLOTS; i++) {
        for (struct share **at = &r->shares[i]; *at;) {
            struct share *sh = *at;
            if (sh->in_flight || sh->refs || sh->blocked_head) {
                at = &sh->next;
            } else {
                *at = sh->next;
                free(sh);
            }
        }
    }
}

static uint32_t share_bound(const struct config *cfg, enum share_kind kind)
{
    return (uint32_t)(kind == SHARE_USER ? cfg->user_in_flight : cfg->addr_in_flight_anon);
}

/* True when the user share sh is the one of the user the connection acts as now. */
static bool share_is_callers(const struct share *sh, const struct peer *p)
{
    return p->caller.role && sh->user_id == p->caller.user_id &&
           sh->school_id == p->caller.school_id;
}

/* The key of p's share of that kind now, into key (sizeof share.key bytes). */
static void share_key(const struct peer *p, enum share_kind kind, char *key)
{
    if (kind == SHARE_USER) {
        snprintf(key, sizeof ((struct share *)0)->key, "%lld:%lld",
                 (long long)p->caller.school_id, (long long)p->caller.user_id);
    } else {
        snprintf(key, sizeof ((struct share *)0)->key, "%s", p->addr);
    }
}

/* The connection lets go of its share (it counts none of its requests any more). */
static void share_release(struct peer *p, enum share_kind kind)
{
    struct hold h = hold_of(p, kind);
    struct share *sh = *h.share;
    *h.share = NULL;
    sh->refs--;
}

/* The share p's requests count towards now: the one it holds (a user share while it counts
 * requests of a previous user too: the connection moves once those ended), else found (made
 * when create) and held (an address's only when create: a request starts). NULL when there
 * is none and create is false. */
static struct share *share_of(struct router *r, const struct op_env *env, struct peer *p,
                              enum share_kind kind, bool create)
{
    struct hold h = hold_of(p, kind);
    struct share *sh = *h.share;
    if (sh && (kind == SHARE_ADDR || *h.counted || share_is_callers(sh, p))) {
        return sh;
    }
    if (sh) {
        share_release(p, kind); /* the caller changed: logout, or a login as someone else */
    }
    char key[sizeof sh->key];
    share_key(p, kind, key);
    if (create) {
        share_sweep(r, uv_now(env->loop));
    }
    sh = share_find(r, kind, key, create);
    if (sh && (create || kind == SHARE_USER)) {
        if (sh->refs++ == 0 && kind == SHARE_USER) {
            sh->school_id = p->caller.school_id;
            sh->user_id = p->caller.user_id;
        }
        *h.share = sh;
    }
    return sh;
}

/* Whether a logged-in connection's request counts towards its user's share: only one with an
 * id (a bus's trip.pos does not look at the share). A configuration made by hand without the
 * bound (0; the settings' minimum is 1) has no user shares. */
static bool counts_user(const struct config *cfg, const struct peer *p, bool has_id)
{
    return has_id && cfg && cfg->user_in_flight > 0 && p->caller.role != 0;
}

/* A request starts: the connection's share of that kind counts it. */
static void share_count(struct router *r, const struct op_env *env, struct peer *p,
                        enum share_kind kind)
{
    struct share *sh = share_of(r, env, p, kind, true);
    sh->in_flight++;
    (*hold_of(p, kind).counted)++;
    p->on_turn = on_turn;
    p->on_turn_ctx = r;
    r->env = env;
}

/* True when the connection's share of that kind has no room. A user's share is found (and
 * held) here at the connection's first request with an id; an address's is only looked at. */
static bool share_full(struct router *r, const struct op_env *env, struct peer *p,
                       enum share_kind kind)
{
    struct share *sh = share_of(r, env, p, kind, kind == SHARE_USER);
    if (sh && kind == SHARE_USER) {
        p->on_turn = on_turn; /* to give the share back when the connection closes */
        p->on_turn_ctx = r;
        r->env = env;
    }
    return sh && sh->in_flight >= share_bound(env->cfg, kind);
}

/* p's requests wait for room in its share of that kind: p joins the share's line (once). */
static void share_block(struct router *r, const struct op_env *env, struct peer *p,
                        enum share_kind kind)
{
    struct hold h = hold_of(p, kind);
    if (*h.blocked) {
        return;
    }
    /* A connection waiting for room in its address's share does not hold it (it may count
     * none of the connection's requests). */
    struct share *sh = kind == SHARE_ADDR && !p->share
                           ? share_find(r, SHARE_ADDR, p->addr, true)
                           : share_of(r, env, p, kind, true);
    *h.blocked = true;
    *next_of(p, kind) = NULL;
    if (sh->blocked_tail) {
        *next_of(sh->blocked_tail, kind) = p;
    } else {
        sh->blocked_head = p;
    }
    sh->blocked_tail = peer_ref(p);
}

static struct op_ctx *op_new(struct router *r, const struct op_env *env, struct peer *p,
                             const char *name, struct op_metrics *m, uint64_t start_ns)
{
    struct op_ctx *op = xcalloc(1, sizeof *op);
    op->env = env;
    op->peer = peer_ref(p);
    op->caller = p->caller;
    op->op_name = name;
    op->metrics = m;
    op->start_ns = start_ns;
    p->in_flight++; /* counted down in op.c's finish (peer_request_done) */
    if (r && env->cfg && p->caller.role == 0) {
        share_count(r, env, p, SHARE_ADDR);
    }
    return op;
}

/* Answers a request that never reached a handler: a failure reply when it has an id, else a
 * rate-limited error event. The op name read from the frame is only borrowed for this call. */
static void refuse(struct router *r, const struct op_env *env, struct peer *p,
                   const struct envelope_request *req, struct op_metrics *m, uint64_t start_ns,
                   enum op_err code, const char *message, const char *field)
{
    if (req->has_id) {
        struct op_ctx *op = op_new(r, env, p, m->op, m, start_ns);
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

/* Refuses rate_limited: a reply with retry_after_s, or an error event without an id. */
static void refuse_rate(struct router *r, const struct op_env *env, struct peer *p,
                        const struct envelope_request *req, struct op_metrics *m,
                        uint64_t start_ns, double retry_after_s)
{
    if (req->has_id) {
        struct op_ctx *op = op_new(r, env, p, m->op, m, start_ns);
        op->has_id = true;
        op->id = req->id;
        op_fail_rate_limited(op, retry_after_s);
        return;
    }
    refuse(r, env, p, req, m, start_ns, OP_E_RATE_LIMITED, "too many requests", NULL);
}

static uint32_t in_flight_bound(const struct config *cfg, const struct peer *p)
{
    return (uint32_t)(p->caller.role ? cfg->conn_in_flight : cfg->conn_in_flight_anon);
}

/* Takes one token of the connection's bucket (thousandths of a request, conn_rate a second,
 * a burst of one second's worth); integer arithmetic on two fields. */
static bool take_conn_token(struct peer *p, int rate, uint64_t now_ms, double *retry_after_s)
{
    int64_t cap = (int64_t)rate * 1000;
    if (p->rate_at_ms == 0) {
        p->rate_milli = cap;
    } else if (now_ms > p->rate_at_ms) {
        uint64_t gained = (now_ms - p->rate_at_ms) * (uint64_t)rate;
        p->rate_milli = gained >= (uint64_t)cap ? cap : p->rate_milli + (int64_t)gained;
        if (p->rate_milli > cap) {
            p->rate_milli = cap;
        }
    }
    p->rate_at_ms = now_ms ? now_ms : 1;
    if (p->rate_milli >= 1000) {
        p->rate_milli -= 1000;
        return true;
    }
    *retry_after_s = (double)(1000 - p->rate_milli) / ((double)rate * 1000.0);
    return false;
}

static bool take_addr_token(struct router *r, const struct config *cfg, const struct peer *p,
                            uint64_t now_ms, double *retry_after_s)
{
    if (!r->by_addr) {
        r->by_addr = ratelimit_new(cfg->addr_public_burst, cfg->addr_public_rate, 200000);
        r->swept_ms = now_ms;
    }
    if (now_ms - r->swept_ms > ADDR_SWEEP_MS) {
        ratelimit_sweep(r->by_addr, now_ms);
        r->swept_ms = now_ms;
    }
    return ratelimit_take(r->by_addr, p->addr, strnlen(p->addr, sizeof p->addr), now_ms,
                          retry_after_s);
}

/* The login ops keep their own limits (people/auth.c): by connection, and by address for code
 * requests and verifications; resumes not by address, by design (thousands of parents behind
 * one carrier NAT resume together when a network comes back). The address budget leaves them
 * to it. */
static bool has_login_limits(const struct op_def *def)
{
    return strncmp(def->name, "auth.", 5) == 0;
}

/* Decodes and answers one frame. queued: the frame waited its turn (its rate token was taken
 * when it arrived, and it is at the head of its connection's line). */
static enum router_outcome dispatch_frame(struct router *r, const struct op_env *env,
                                          struct peer *p, const unsigned char *frame,
                                          size_t len, bool queued)
{
    uint64_t start_ns = op_mono_ns();
    struct envelope_request req;
    struct envelope_error err;
    enum router_outcome outcome = ROUTER_DISPATCHED;
    const struct config *cfg = env->cfg;
    if (envelope_decode(&req, frame, len, &err) != 0) {
        refuse(r, env, p, &req, &r->metrics[r->n_ops + PSEUDO_INVALID], start_ns, err.code,
               err.message, err.field);
        outcome = ROUTER_MALFORMED;
        goto out;
    }
    ptrdiff_t i = find_index(r, req.op, req.op_len);
    if (i < 0) {
        refuse(r, env, p, &req, &r->metrics[r->n_ops + PSEUDO_UNKNOWN], start_ns, OP_E_UNKNOWN_OP,
               "no such operation", "op");
        goto out;
    }
    const struct op_def *def = r->ops[i];
    struct op_metrics *m = &r->metrics[i];
    bool anon = p->caller.role == 0;
    if (cfg && !queued) {
        double retry = 1.0;
        /* The hot path (a logged-in bus's trip.pos, no id) skips the bucket. */
        if ((req.has_id || anon) &&
            !take_conn_token(p, cfg->conn_rate, start_ns / 1000000u, &retry)) {
            env->metrics->fair_refused_rate++;
            refuse_rate(r, env, p, &req, m, start_ns, retry);
            goto out;
        }
        bool addr_full = anon && share_full(r, env, p, SHARE_ADDR);
        bool user_full = counts_user(cfg, p, req.has_id) && share_full(r, env, p, SHARE_USER);
        if (p->n_waiting || p->in_flight >= in_flight_bound(cfg, p) || addr_full ||
            user_full) {
            /* Before login, one largest message's worth: an address may open many. */
            size_t max_bytes = anon || cfg->max_message_bytes > WAIT_BYTES_MIN
                                   ? cfg->max_message_bytes
                                   : WAIT_BYTES_MIN;
            if (p->n_waiting >= (uint32_t)cfg->conn_waiting ||
                p->waiting_bytes + len > max_bytes) {
                env->metrics->fair_refused_waiting++;
                refuse_rate(r, env, p, &req, m, start_ns, 1.0);
                goto out;
            }
            if (p->closed) {
                goto out; /* nothing more will be answered */
            }
            env->metrics->fair_waited++;
            r->env = env;
            p->on_turn = on_turn;
            p->on_turn_ctx = r;
            peer_wait_push(p, frame, len);
            if (addr_full) {
                share_block(r, env, p, SHARE_ADDR);
            }
            if (user_full) {
                share_block(r, env, p, SHARE_USER);
            }
            goto out;
        }
    }
    if (!(def->flags & OP_PUBLIC)) {
        if (anon) {
            refuse(r, env, p, &req, m, start_ns, OP_E_UNAUTHENTICATED, "log in first", NULL);
            goto out;
        }
        if (!(def->roles & p->caller.role)) {
            refuse(r, env, p, &req, m, start_ns, OP_E_FORBIDDEN, "not allowed for your role",
                   NULL);
            goto out;
        }
    } else if (anon && cfg && r->deferred[i]) {
        double retry = 1.0;
        if (!take_addr_token(r, cfg, p, start_ns / 1000000u, &retry)) {
            env->metrics->fair_refused_address++;
            refuse_rate(r, env, p, &req, m, start_ns, retry);
            goto out;
        }
    }
    uint32_t before = p->in_flight;
    struct op_ctx *op = op_new(r, env, p, def->name, m, start_ns);
    op->has_id = req.has_id;
    op->id = req.id;
    op->args = req.args;
    op->domain = r->domains[i];
    if (counts_user(cfg, p, req.has_id)) {
        share_count(r, env, p, SHARE_USER);
    }
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
    if ((def->flags & OP_PUBLIC) && p->in_flight > before && !has_login_limits(def)) {
        r->deferred[i] = true; /* still in flight: it went to the database */
    }
out:
    envelope_request_deinit(&req);
    return outcome;
}

enum router_outcome router_dispatch(struct router *r, const struct op_env *env, struct peer *p,
                                    const unsigned char *frame, size_t len)
{
    return dispatch_frame(r, env, p, frame, len, false);
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

/* Runs the waiting requests of each listed connection while it has room in flight. */
static void on_turn_timer(uv_timer_t *t)
{
    struct router *r = t->data;
    uv_close((uv_handle_t *)t, free_handle);
    r->turn_timer = NULL;
    struct peer **ready = r->ready;
    size_t n = r->n_ready;
    r->ready = NULL;
    r->n_ready = r->cap_ready = 0;
    const struct op_env *env = r->env;
    for (size_t k = 0; k < n; k++) {
        struct peer *p = ready[k];
        /* turn_listed stays set while its requests run, so that those that end at once do
         * not list it again: this loop goes on with it. */
        while (!p->closed && p->n_waiting && p->in_flight < in_flight_bound(env->cfg, p)) {
            /* Room in the address's (user's) share wakes it. */
            enum share_kind kind = p->caller.role == 0 ? SHARE_ADDR : SHARE_USER;
            if ((kind == SHARE_ADDR || counts_user(env->cfg, p, true)) &&
                share_full(r, env, p, kind)) {
                share_block(r, env, p, kind);
                break;
            }
            struct peer_frame *f = peer_wait_pop(p);
            dispatch_frame(r, env, p, f->data, f->len, true);
            free(f);
        }
        if (p->closed) {
            peer_wait_drop(p);
            pass_turn(r, env, p);
        }
        p->turn_listed = false;
        peer_unref(p);
    }
    free(ready);
}

/* p closed, perhaps just after room in a share was given to it: the room goes to the next
 * connection in the share's line instead (else a line could wait with room and nothing in
 * flight to wake it). */
static void pass_turn(struct router *r, const struct op_env *env, struct peer *p)
{
    for (int k = SHARE_ADDR; k <= SHARE_USER; k++) {
        enum share_kind kind = (enum share_kind)k;
        struct share *sh = *hold_of(p, kind).share;
        if (!sh && (kind == SHARE_ADDR || p->caller.role)) {
            char key[sizeof sh->key];
            share_key(p, kind, key);
            sh = share_find(r, kind, key, false);
        }
        if (sh) {
            share_wake(r, env->cfg, sh, kind, 1);
        }
    }
}

static void list_ready(struct router *r, struct peer *p)
{
    if (p->turn_listed) {
        return;
    }
    if (r->n_ready == r->cap_ready) {
        r->cap_ready = r->cap_ready ? r->cap_ready * 2 : 16;
        r->ready = xrealloc(r->ready, sizeof *r->ready * r->cap_ready);
    }
    p->turn_listed = true;
    r->ready[r->n_ready++] = peer_ref(p);
    if (!r->turn_timer) {
        r->turn_timer = xmalloc(sizeof *r->turn_timer);
        uv_timer_init(r->env->loop, r->turn_timer);
        r->turn_timer->data = r;
        uv_timer_start(r->turn_timer, on_turn_timer, 0, 0);
    }
}

/* Gives room in sh to up to n connections of its line, first come first: each is listed to
 * run its waiting requests at the next turn of the loop (the closed ones and those with
 * nothing waiting leave the line). */
static void share_wake(struct router *r, const struct config *cfg, struct share *sh,
                       enum share_kind kind, uint32_t n)
{
    while (n && sh->blocked_head && sh->in_flight < share_bound(cfg, kind)) {
        struct peer *b = sh->blocked_head;
        sh->blocked_head = *next_of(b, kind);
        if (!sh->blocked_head) {
            sh->blocked_tail = NULL;
        }
        *hold_of(b, kind).blocked = false;
        *next_of(b, kind) = NULL;
        bool runs = !b->closed && b->n_waiting;
        if (runs) {
            list_ready(r, b);
            n--;
        }
        peer_unref(b);
    }
}

/* The requests in flight of p that its share of that kind counts are at most p's requests in
 * flight (they are among them): when p has fewer now, the share gets the difference back and
 * gives the room to the first connections waiting for it. (A request that ended may have been
 * one the share did not count, a logged-in connection's trip.pos: then the share holds that
 * room until p's requests in flight fall again; never less than it should.) A user's share is
 * let go when the connection closed or acts as someone else, an address's when it counts
 * nothing. */
static void share_settle(struct router *r, const struct config *cfg, struct peer *p,
                         enum share_kind kind)
{
    struct hold h = hold_of(p, kind);
    struct share *sh = *h.share;
    if (!sh) {
        return;
    }
    uint32_t freed = 0;
    if (*h.counted > p->in_flight) {
        freed = *h.counted - p->in_flight;
        sh->in_flight -= freed;
        *h.counted = p->in_flight;
    }
    if (*h.counted == 0 &&
        (kind == SHARE_ADDR || p->closed || !share_is_callers(sh, p))) {
        share_release(p, kind);
    }
    share_wake(r, cfg, sh, kind, freed);
}

/* A request of p ended while others wait, or while a share counts more of its requests than
 * it has in flight, or p closed holding a user's share: the shares settle, and p's own
 * waiting requests run at the next turn of the loop (not here, inside whatever answered the
 * request). */
static void on_turn(struct peer *p, void *ctx)
{
    struct router *r = ctx;
    const struct config *cfg = r->env->cfg;
    share_settle(r, cfg, p, SHARE_ADDR);
    share_settle(r, cfg, p, SHARE_USER);
    if (p->closed) {
        peer_wait_drop(p);
        return;
    }
    /* A connection in a share's line waits there for its turn (the room its own request
     * gave back went to the first in the line). */
    if (p->n_waiting && p->in_flight < in_flight_bound(cfg, p) && !p->share_blocked &&
        !p->user_blocked) {
        list_ready(r, p);
    }
}
