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

#include "core/caller.h"
#include "core/envelope.h"
#include "core/metrics.h"
#include "core/peer.h"

struct audit;
struct config;
struct crypto_keys;
struct dbpool;
struct presence;
struct ratelimit;
struct sms;
struct tracker;

/* The services handlers may use, shared by every op. */
struct op_env {
    uv_loop_t *loop;
    struct dbpool *db;
    const struct config *cfg;
    struct metrics *metrics;
    const struct crypto_keys *keys;
    struct sms *sms;
    struct audit *audit;
    struct ratelimit *login_by_addr; /* auth requests per client address */
    struct ratelimit *login_by_conn; /* auth requests per connection */
    struct presence *presence;       /* user id -> live connections */
    struct tracker *tracker;         /* live trips (tracking/tracker.h) */
    /* Closes the live connections of one session (session_id > 0) or of every session of a
     * user (user_id > 0) with the given WebSocket close code; the gateway provides it. */
    void (*close_sessions)(void *ctx, int64_t session_id, int64_t user_id);
    void *close_sessions_ctx;
};

/* One request in flight. Created by the router; ends with exactly one op_reply_end, op_reply_empty
 * or op_fail, which frees it. Holds a reference on its peer, so a handler waiting for the
 * database may finish after the client has gone: the answer is then dropped. */
struct op_ctx {
    const struct op_env *env;
    struct peer *peer;
    struct caller caller;       /* copied at dispatch: stable across round trips */
    const msgpack_object *args; /* a map or NULL; valid only during the synchronous handler */
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
};

/* A handler returns 0 when it has answered or will answer exactly once; a positive OP_E_* to
 * have the router answer with that error (using fail_field/fail_message set by a reader);
 * a negative errno for `internal`. */
typedef int op_fn(struct op_ctx *op);

enum op_flags {
    OP_PUBLIC = 1u << 0, /* allowed before login */
};

struct op_def {
    const char *name;
    op_fn *fn;
    unsigned roles; /* ROLE_* bits allowed after login */
    unsigned flags; /* OP_* */
};

/* --- Answering --- */

/* Starts a success reply; pack exactly one value (the data) with the returned packer, then
 * call op_reply_end. For fire-and-forget requests the reply is built and dropped. */
msgpack_packer *op_reply_begin(struct op_ctx *op);
void op_reply_end(struct op_ctx *op);
/* Replies {} . */
void op_reply_empty(struct op_ctx *op);
/* Answers with an error: a failure reply, or an error event when the request had no id.
 * message and field are copied; field may be NULL. */
void op_fail(struct op_ctx *op, enum op_err code, const char *message, const char *field);
/* Answers rate_limited, telling the client how many seconds to wait (error.retry_after_s). */
void op_fail_rate_limited(struct op_ctx *op, double retry_after_s);
/* Answers after a database error: unavailable when the database is down, else internal
 * (logged here with the op name, SQLSTATE and PostgreSQL's primary message; res may be NULL). */
void op_fail_db(struct op_ctx *op, int dbpool_status, const PGresult *res);

/* Runs a parameterised query for the request (dbpool_query with op's database); cb runs once
 * with arg. Returns 0, or OP_E_UNAVAILABLE with a message set (the handler returns it and cb
 * never runs): `return op_query(op, sql, n, params, cb, arg);` ends a handler. */
int op_query(struct op_ctx *op, const char *sql, int n_params, const char *const *params,
             void (*cb)(void *arg, int status, const PGresult *res), void *arg);
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

/* Finds a key in a msgpack map; NULL when absent. */
const msgpack_object *op_map_get(const msgpack_object *map, const char *key);

/* Milliseconds since the Unix epoch. */
uint64_t op_now_ms(void);
/* Monotonic nanoseconds. */
uint64_t op_mono_ns(void);
