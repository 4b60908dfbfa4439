/* Answering requests and reading their arguments (see op.h). */
#include "core/op.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/dbpool.h"
#include "core/log.h"
#include "core/xalloc.h"

uint64_t op_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t op_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Records the outcome and frees the request. */
static void finish(struct op_ctx *op, int code)
{
    double seconds = (double)(op_mono_ns() - op->start_ns) / 1e9;
    if (op->metrics) {
        op_metrics_observe(op->metrics, code, seconds);
    }
    log_event(LOG_DEBUG, "op", "request done", "conn=%llu op=%s code=%s us=%.0f",
              (unsigned long long)op->peer->id, op->op_name, op_err_code(code), seconds * 1e6);
    peer_request_done(op->peer); /* the router counted it in (fair shares) */
    peer_unref(op->peer);
    arena_deinit(&op->arena);
    free(op);
}

void op_finish_rc(struct op_ctx *op, int rc)
{
    if (rc > 0) {
        op->args = NULL;
        op_fail(op, (enum op_err)rc, op->fail_message, op->fail_field);
    } else if (rc < 0) {
        log_event(LOG_ERROR, "op", "handler failed", "op=%s conn=%llu err=%d", op->op_name,
                  (unsigned long long)op->peer->id, rc);
        op_fail(op, OP_E_INTERNAL, "internal error", NULL);
    }
}

/* A deep copy of o into the arena. Depth is bounded by the envelope's pre-scan
 * (ENVELOPE_MAX_DEPTH), sizes by the frame the objects came from. */
static void copy_object(struct arena *a, msgpack_object *to, const msgpack_object *from)
{
    *to = *from;
    switch (from->type) {
    case MSGPACK_OBJECT_STR:
        to->via.str.ptr = arena_strndup(a, from->via.str.ptr, from->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        to->via.bin.ptr = arena_strndup(a, from->via.bin.ptr, from->via.bin.size);
        break;
    case MSGPACK_OBJECT_EXT:
        to->via.ext.ptr = arena_strndup(a, from->via.ext.ptr, from->via.ext.size);
        break;
    case MSGPACK_OBJECT_ARRAY: {
        msgpack_object *items = arena_alloc(a, sizeof *items * (from->via.array.size + 1));
        for (uint32_t i = 0; i < from->via.array.size; i++) {
            copy_object(a, &items[i], &from->via.array.ptr[i]);
        }
        to->via.array.ptr = items;
        break;
    }
    case MSGPACK_OBJECT_MAP: {
        msgpack_object_kv *kv = arena_alloc(a, sizeof *kv * (from->via.map.size + 1));
        for (uint32_t i = 0; i < from->via.map.size; i++) {
            copy_object(a, &kv[i].key, &from->via.map.ptr[i].key);
            copy_object(a, &kv[i].val, &from->via.map.ptr[i].val);
        }
        to->via.map.ptr = kv;
        break;
    }
    default:
        break;
    }
}

void op_keep_args(struct op_ctx *op)
{
    if (op->args_kept || !op->args) {
        return;
    }
    msgpack_object *copy = arena_alloc(&op->arena, sizeof *copy);
    copy_object(&op->arena, copy, op->args);
    op->args = copy;
    op->args_kept = true;
}

void *op_alloc(struct op_ctx *op, size_t n)
{
    return arena_alloc(&op->arena, n);
}

int op_refuse(struct op_ctx *op, enum op_err code, const char *field, const char *message)
{
    op->fail_field = field;
    op->fail_message = message;
    return code;
}

static void deliver(struct op_ctx *op, struct msgbuf *m)
{
    peer_send(op->peer, m);
    msgbuf_unref(m);
}

msgpack_packer *op_reply_begin(struct op_ctx *op)
{
    envelope_begin_reply(&op->reply, op->id);
    op->replying = true;
    return &op->reply.pk;
}

void op_reply_end(struct op_ctx *op)
{
    struct msgbuf *m = envelope_finish(&op->reply);
    if (op->has_id) {
        deliver(op, m);
    } else {
        msgbuf_unref(m);
    }
    finish(op, OP_OK);
}

void op_reply_packed(struct op_ctx *op, const unsigned char *data, size_t len)
{
    msgpack_packer *pk = op_reply_begin(op);
    pk->callback(pk->data, (const char *)data, len);
    op_reply_end(op);
}

void op_reply_empty(struct op_ctx *op)
{
    if (!op->has_id) {
        /* Fire and forget (trip.pos from every bus, every second): nothing to build. */
        finish(op, OP_OK);
        return;
    }
    msgpack_pack_map(op_reply_begin(op), 0);
    op_reply_end(op);
}

void op_fail(struct op_ctx *op, enum op_err code, const char *message, const char *field)
{
    if (code <= OP_OK || code >= OP_E__COUNT) {
        code = OP_E_INTERNAL;
    }
    if (op->has_id) {
        deliver(op, envelope_failure(op->id, code, message, field));
    } else if (peer_take_error_budget(op->peer, op_now_ms())) {
        if (op->env && op->env->metrics) {
            op->env->metrics->error_events++;
        }
        deliver(op, envelope_error_event(op->op_name, strlen(op->op_name), code, message,
                                             field));
    } else if (op->env && op->env->metrics) {
        op->env->metrics->error_events_dropped++;
    }
    finish(op, code);
}

void op_fail_rate_limited(struct op_ctx *op, double retry_after_s)
{
    if (!op->has_id) {
        op_fail(op, OP_E_RATE_LIMITED, "too many requests", NULL);
        return;
    }
    deliver(op, envelope_failure_retry(op->id, "too many requests, try again later",
                                       retry_after_s));
    finish(op, OP_E_RATE_LIMITED);
}

void op_reply_id(struct op_ctx *op, int64_t id)
{
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 1);
    envelope_pack_key(pk, "id");
    msgpack_pack_int64(pk, id);
    op_reply_end(op);
}

const msgpack_object *op_map_get(const msgpack_object *map, const char *key)
{
    if (!map || map->type != MSGPACK_OBJECT_MAP) {
        return NULL;
    }
    size_t n = strlen(key);
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
            memcmp(k->via.str.ptr, key, n) == 0) {
            return &map->via.map.ptr[i].val;
        }
    }
    return NULL;
}

static int refuse(struct op_ctx *op, const char *name, const char *message)
{
    op->fail_field = name;
    op->fail_message = message;
    return OP_E_BAD_REQUEST;
}

/* The value of an argument, or NULL when it is absent or nil. */
static const msgpack_object *arg(struct op_ctx *op, const char *name)
{
    const msgpack_object *v = op_map_get(op->args, name);
    return v && v->type != MSGPACK_OBJECT_NIL ? v : NULL;
}

bool op_has_arg(struct op_ctx *op, const char *name)
{
    return arg(op, name) != NULL;
}

int64_t op_get_id(struct op_ctx *op, const char *name)
{
    return op_get_int(op, name, 0);
}

int64_t op_get_int(struct op_ctx *op, const char *name, int64_t dflt)
{
    const msgpack_object *v = arg(op, name);
    if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && v->via.u64 <= INT64_MAX) {
        return (int64_t)v->via.u64;
    }
    if (v && v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        return v->via.i64;
    }
    return dflt;
}

double op_num(const msgpack_object *o)
{
    switch (o->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        return o->via.f64;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        return (double)o->via.u64;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        return (double)o->via.i64;
    default:
        return 0;
    }
}

double op_get_num(struct op_ctx *op, const char *name, double dflt)
{
    const msgpack_object *v = arg(op, name);
    bool number = v && (v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64 ||
                        v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ||
                        v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER);
    return number ? op_num(v) : dflt;
}

bool op_get_bool(struct op_ctx *op, const char *name, bool dflt)
{
    const msgpack_object *v = arg(op, name);
    return v && v->type == MSGPACK_OBJECT_BOOLEAN ? v->via.boolean : dflt;
}

const char *op_get_str(struct op_ctx *op, const char *name)
{
    const msgpack_object *v = arg(op, name);
    if (!v || v->type != MSGPACK_OBJECT_STR) {
        return NULL;
    }
    return arena_strndup(&op->arena, v->via.str.ptr, v->via.str.size);
}

int op_arg_int_opt(struct op_ctx *op, const char *name, int64_t min, int64_t max, int64_t *out,
                   bool *present)
{
    const msgpack_object *v = arg(op, name);
    *present = v != NULL;
    if (!v) {
        return 0;
    }
    int64_t x;
    if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
        if (v->via.u64 > INT64_MAX) {
            return refuse(op, name, "number out of range");
        }
        x = (int64_t)v->via.u64;
    } else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        x = v->via.i64;
    } else {
        return refuse(op, name, "must be an integer");
    }
    if (x < min || x > max) {
        return refuse(op, name, "number out of range");
    }
    *out = x;
    return 0;
}

int op_arg_int(struct op_ctx *op, const char *name, int64_t min, int64_t max, int64_t *out)
{
    bool present;
    int r = op_arg_int_opt(op, name, min, max, out, &present);
    if (r == 0 && !present) {
        return refuse(op, name, "is required");
    }
    return r;
}

int op_arg_id_opt(struct op_ctx *op, const char *name, int64_t *out, bool *present)
{
    const msgpack_object *v = arg(op, name);
    *present = v != NULL;
    if (!v) {
        return 0;
    }
    if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 == 0 ||
        v->via.u64 > INT64_MAX) {
        return refuse(op, name, "must be a positive integer id");
    }
    *out = (int64_t)v->via.u64;
    return 0;
}

int op_arg_id(struct op_ctx *op, const char *name, int64_t *out)
{
    bool present;
    int r = op_arg_id_opt(op, name, out, &present);
    if (r == 0 && !present) {
        return refuse(op, name, "is required");
    }
    return r;
}

int op_arg_f64_opt(struct op_ctx *op, const char *name, double min, double max, double *out,
                   bool *present)
{
    const msgpack_object *v = arg(op, name);
    *present = v != NULL;
    if (!v) {
        return 0;
    }
    double x;
    switch (v->type) {
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        x = v->via.f64;
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        x = (double)v->via.u64;
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        x = (double)v->via.i64;
        break;
    default:
        return refuse(op, name, "must be a number");
    }
    if (!isfinite(x) || x < min || x > max) {
        return refuse(op, name, "number out of range");
    }
    *out = x;
    return 0;
}

int op_arg_f64(struct op_ctx *op, const char *name, double min, double max, double *out)
{
    bool present;
    int r = op_arg_f64_opt(op, name, min, max, out, &present);
    if (r == 0 && !present) {
        return refuse(op, name, "is required");
    }
    return r;
}

int op_arg_bool_opt(struct op_ctx *op, const char *name, bool *out, bool *present)
{
    const msgpack_object *v = arg(op, name);
    *present = v != NULL;
    if (!v) {
        return 0;
    }
    if (v->type != MSGPACK_OBJECT_BOOLEAN) {
        return refuse(op, name, "must be true or false");
    }
    *out = v->via.boolean;
    return 0;
}

int op_arg_str_opt(struct op_ctx *op, const char *name, size_t max_len, const char **out,
                   size_t *len, bool *present)
{
    const msgpack_object *v = arg(op, name);
    *present = v != NULL;
    if (!v) {
        return 0;
    }
    if (v->type != MSGPACK_OBJECT_STR) {
        return refuse(op, name, "must be a string");
    }
    if (v->via.str.size == 0) {
        return refuse(op, name, "must not be empty");
    }
    if (v->via.str.size > max_len) {
        return refuse(op, name, "is too long");
    }
    if (memchr(v->via.str.ptr, '\0', v->via.str.size)) {
        return refuse(op, name, "must not contain NUL bytes");
    }
    *out = v->via.str.ptr;
    *len = v->via.str.size;
    return 0;
}

int op_arg_str(struct op_ctx *op, const char *name, size_t max_len, const char **out,
               size_t *len)
{
    bool present;
    int r = op_arg_str_opt(op, name, max_len, out, len, &present);
    if (r == 0 && !present) {
        return refuse(op, name, "is required");
    }
    return r;
}

int op_arg_str_dup(struct op_ctx *op, const char *name, size_t max_len, char **out)
{
    const char *s;
    size_t len;
    int r = op_arg_str(op, name, max_len, &s, &len);
    if (r == 0) {
        *out = xstrndup(s, len);
    }
    return r;
}

int op_arg_str_dup_opt(struct op_ctx *op, const char *name, size_t max_len, char **out)
{
    const char *s;
    size_t len;
    bool present;
    int r = op_arg_str_opt(op, name, max_len, &s, &len, &present);
    if (r == 0 && present) {
        *out = xstrndup(s, len);
    }
    return r;
}

int op_arg_array(struct op_ctx *op, const char *name, size_t max_items,
                 const msgpack_object **out)
{
    const msgpack_object *v = arg(op, name);
    if (!v) {
        return refuse(op, name, "is required");
    }
    if (v->type != MSGPACK_OBJECT_ARRAY) {
        return refuse(op, name, "must be an array");
    }
    if (v->via.array.size > max_items) {
        return refuse(op, name, "has too many items");
    }
    *out = v;
    return 0;
}
