/* The operation registry and dispatcher: joins every domain's op table, looks a request's op
 * up, checks login and role, and calls its handler. The only place that decides who may call
 * what before a handler runs. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "core/metrics.h"
#include "core/op.h"
#include "core/peer.h"

struct router;

/* Joins the op tables in tables[0..n_tables); each op's handler finds its table's domain in
 * op->domain. Returns NULL (after logging the name) when two rows share a name, a row has no
 * handler or its argument schema is malformed. */
struct router *router_new(const struct op_table *tables, size_t n_tables);
void router_free(struct router *r);

enum router_outcome {
    ROUTER_DISPATCHED = 0, /* a handler ran, or the request was answered with an error */
    ROUTER_MALFORMED = 1,  /* the frame was not a request at all (counts as garbage) */
};

/* Decodes one binary frame from peer p and answers it. frame is borrowed for the call. */
enum router_outcome router_dispatch(struct router *r, const struct op_env *env, struct peer *p,
                                    const unsigned char *frame, size_t len);

/* Looks up an op by name; NULL when unknown. */
const struct op_def *router_find(const struct router *r, const char *name, size_t len);
/* The registered ops in name order, for introspection and the role-matrix test. */
size_t router_count(const struct router *r);
const struct op_def *router_op_at(const struct router *r, size_t i);
/* The published schema of every op (sys.schema): a msgpack array of
 * {name, roles, public, args}, packed once and kept; borrowed, len in *len. */
const unsigned char *router_schema(struct router *r, size_t *len);
/* Per-op metrics: one entry per registered op, then "(invalid)" and "(unknown)". */
const struct op_metrics *router_metrics(const struct router *r, int *n);
