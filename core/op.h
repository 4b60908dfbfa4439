/* The socket operation API: what a handler sees (its caller, its arguments, the services it
 * may use) and how it answers. Each domain exports a table of struct op_def; the gateway's
 * router looks ops up, checks login and roles, and calls the handler. */
#pragma once
#include <libpq-fe.h>
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/arena.h"
#include "core/caller.h"
#include "core/envelope.h"
#include "core/metrics.h"
#include "core/peer.h"

struct audit;
struct config;
struct crypto_keys;
struct dbpool;
struct op_sql_run;

/* The services handlers may use, shared by every op. */
struct op_env {
    uv_loop_t *loop;
    struct dbpool *db;
    const struct config *cfg;
    struct metrics *metrics;
    const struct crypto_keys *keys;
    struct audit *audit;
};

/* One request in flight. Created by the router; ends with exactly one op_reply_end, op_reply_empty
 * or op_fail, which frees it. Holds a reference on its peer, so a handler waiting for the
 * database may finish after the client has gone: the answer is then dropped. */
struct op_ctx {
    const struct op_env *env;
    struct peer *peer;
    struct caller caller;       /* copied at dispatch: stable across round trips */
    const msgpack_object *args; /* a map or NULL; points into the frame during the synchronous
                                 * handler, into the arena once op_keep_args (op_sql) ran */
    bool has_id;
    uint64_t id;
    const char *op_name;
    struct op_metrics *metrics;
    uint64_t start_ns;
    /* set by argument readers when they refuse an argument */
    const char *fail_field;
    const char *fail_message;
    struct envelope_writer reply;
    bool replying;
    /* The op table's context (the domain's services), set by the router. */
    void *domain;
    bool args_kept;
    /* Memory for the request's lifetime: argument copies, query parameters, state kept
     * across round trips. Freed when the request ends. */
    struct arena arena;
    /* Handler state kept across round trips (allocated from arena). */
    void *state;
    /* Parameters of the next query (core/op_db.h), in the arena. */
    const char **params;
    int n_params;
    /* The query in flight (core/op_db.c). */
    struct op_sql_run *sql_run;
};

/* A handler returns 0 when it has answered or will answer exactly once; a positive OP_E_* to
 * have the router answer with that error (using fail_field/fail_message set by a reader);
 * a negative errno for `internal`. */
typedef int op_fn(struct op_ctx *op);

enum op_flags {
    OP_PUBLIC = 1u << 0, /* allowed before login */
};

/* --- Argument schema ---
 * Each op's table row lists its arguments; the router checks a request against them before
 * the handler runs and names the bad field, so handlers read values that are already valid.
 * Every string anywhere in args, declared or not, must be valid UTF-8 without NUL bytes. */
enum op_arg_type {
    OP_T_ID = 1, /* a positive integer id */
    OP_T_INT,    /* an integer in [min, max] */
    OP_T_NUM,    /* a finite number (integer or float) in [lo, hi] */
    OP_T_BOOL,
    OP_T_STR,    /* 1..max bytes (max 0: OP_STR_MAX_DEFAULT) */
    OP_T_ENUM,   /* one of values */
    OP_T_ARRAY,  /* at most max items (0: no limit), each matching items when given */
    OP_T_MAP,    /* a map whose keys are checked against fields when given */
};

enum { OP_REQ = 1 };                 /* struct op_arg.required */
#define OP_STR_MAX_DEFAULT 4096

struct op_arg {
    const char *name;  /* NULL ends a list */
    enum op_arg_type type;
    int required;      /* OP_REQ or 0 */
    int64_t min, max;  /* OP_T_INT: value bounds (both 0: any); OP_T_STR: max bytes;
                        * OP_T_ARRAY: max items */
    double lo, hi;     /* OP_T_NUM bounds */
    const char *const *values;   /* OP_T_ENUM: NULL-terminated */
    const struct op_arg *items;  /* OP_T_ARRAY: one element's schema (its name is unused) */
    const struct op_arg *fields; /* OP_T_MAP: the keys */
    const char *format;          /* informational for clients: "date", "phone", "E.164"... */
    bool nullable;               /* nil means something (clear the value), not "left out";
                                  * published so that forms can offer it */
};

struct op_def {
    const char *name;
    op_fn *fn;
    unsigned roles; /* ROLE_* bits allowed after login */
    unsigned flags; /* OP_* */
    const struct op_arg *args; /* NULL-name-terminated; NULL: the op takes no arguments */
    /* Optional: told when the router refuses a request's arguments, before it answers
     * bad_request (op->fail_field is set), for a domain that counts its own refusals. */
    void (*bad_args)(struct op_ctx *op);
};

/* A domain's ops and the context their handlers find in op->domain. */
struct op_table {
    const struct op_def *ops; /* NULL-name-terminated */
    void *domain;
};

/* --- Answering --- */

/* Starts a success reply; pack exactly one value (the data) with the returned packer, then
 * call op_reply_end. For fire-and-forget requests the reply is built and dropped. */
msgpack_packer *op_reply_begin(struct op_ctx *op);
void op_reply_end(struct op_ctx *op);
/* Replies with data: exactly one msgpack value, already packed (len bytes, copied). */
void op_reply_packed(struct op_ctx *op, const unsigned char *data, size_t len);
/* Replies {} . */
void op_reply_empty(struct op_ctx *op);
/* Answers with an error: a failure reply, or an error event when the request had no id.
 * message and field are copied; field may be NULL. */
void op_fail(struct op_ctx *op, enum op_err code, const char *message, const char *field);
/* Answers rate_limited, telling the client how many seconds to wait (error.retry_after_s). */
void op_fail_rate_limited(struct op_ctx *op, double retry_after_s);
/* Finishes a request the way the router finishes a handler: rc 0 means answered (nothing
 * to do), a positive OP_E_* fails with op->fail_message/fail_field, a negative errno fails
 * with internal (logged). */
void op_finish_rc(struct op_ctx *op, int rc);
/* Replies {id}: what a create answers. */
void op_reply_id(struct op_ctx *op, int64_t id);

/* --- Arguments ---
 * Each reader returns 0, or OP_E_BAD_REQUEST naming the field (the handler returns that code).
 * _opt readers also return 0 when the field is absent or nil, with *present false. */
int op_arg_id(struct op_ctx *op, const char *name, int64_t *out);
int op_arg_id_opt(struct op_ctx *op, const char *name, int64_t *out, bool *present);
int op_arg_int(struct op_ctx *op, const char *name, int64_t min, int64_t max, int64_t *out);
int op_arg_int_opt(struct op_ctx *op, const char *name, int64_t min, int64_t max, int64_t *out,
                   bool *present);
int op_arg_f64(struct op_ctx *op, const char *name, double min, double max, double *out);
int op_arg_f64_opt(struct op_ctx *op, const char *name, double min, double max, double *out,
                   bool *present);
int op_arg_bool_opt(struct op_ctx *op, const char *name, bool *out, bool *present);
/* A string of 1..max_len bytes without NUL bytes; *out is borrowed (not NUL-terminated). */
int op_arg_str(struct op_ctx *op, const char *name, size_t max_len, const char **out,
               size_t *len);
int op_arg_str_opt(struct op_ctx *op, const char *name, size_t max_len, const char **out,
                   size_t *len, bool *present);
/* Same, returning a NUL-terminated copy the caller owns (free()). */
int op_arg_str_dup(struct op_ctx *op, const char *name, size_t max_len, char **out);
/* An optional string copied into *out (NUL-terminated, the caller frees); *out is left as it
 * was when the field is absent. */
int op_arg_str_dup_opt(struct op_ctx *op, const char *name, size_t max_len, char **out);
/* An array of at most max_items; borrowed. */
int op_arg_array(struct op_ctx *op, const char *name, size_t max_items,
                 const msgpack_object **out);

/* --- Validated arguments ---
 * Readers for ops whose schema the router has checked: they cannot fail. Absent or nil
 * arguments give the default (or NULL/0). */
bool op_has_arg(struct op_ctx *op, const char *name);
int64_t op_get_id(struct op_ctx *op, const char *name);
int64_t op_get_int(struct op_ctx *op, const char *name, int64_t dflt);
double op_get_num(struct op_ctx *op, const char *name, double dflt);
bool op_get_bool(struct op_ctx *op, const char *name, bool dflt);
/* A msgpack number's value (integer or float); 0 for any other type. */
double op_num(const msgpack_object *o);
/* A NUL-terminated copy in the request's arena, or NULL when absent. */
const char *op_get_str(struct op_ctx *op, const char *name);
/* Copies the arguments into the request's arena, so that op_get_* and op_param_arg still
 * read them after a database round trip (op_sql calls it). Idempotent. */
void op_keep_args(struct op_ctx *op);
/* Memory for the request's lifetime (zeroed). */
void *op_alloc(struct op_ctx *op, size_t n);
/* Sets op->fail_field/fail_message and returns code: `return op_refuse(op, OP_E_..., ...);` */
int op_refuse(struct op_ctx *op, enum op_err code, const char *field, const char *message);

/* Finds a key in a msgpack map; NULL when absent. */
const msgpack_object *op_map_get(const msgpack_object *map, const char *key);

/* Milliseconds since the Unix epoch. */
uint64_t op_now_ms(void);
/* Monotonic nanoseconds. */
uint64_t op_mono_ns(void);
