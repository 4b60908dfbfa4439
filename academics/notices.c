/* The school's records: parents' notices: what they were told live, kept for when they were
 * offline. Each user reads only their own, in id order (oldest first), paging with `after`,
 * and marks them read up to an id. */
#include "academics/notices.h"

#include <stdlib.h>

#include "core/msgbuf.h"
#include "core/op_db.h"
#include "core/op_pack.h"
#include "core/peer.h"
#include "core/presence.h"
#include "core/retention.h"
#include "core/xalloc.h"

#define LIST_DEFAULT 50
#define LIST_MAX 200

int notices_register_purge(struct retention *r, int days)
{
    return retention_add(r, "notices", "SELECT purge_notices($1)", days);
}

/* --- live events --- */

struct notices_send {
    int64_t user;
    struct msgbuf *m;
};

void notices_outbox_init(struct notices_outbox *o, struct presence *presence)
{
    *o = (struct notices_outbox){ .presence = presence };
}

void notices_outbox_add(struct notices_outbox *o, int64_t user, struct msgbuf *m)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 16;
        o->items = xrealloc(o->items, o->cap * sizeof *o->items);
    }
    o->items[o->n++] = (struct notices_send){ .user = user, .m = msgbuf_ref(m) };
}

static void send_to_peer(struct peer *p, void *arg)
{
    peer_send(p, arg);
}

void notices_outbox_send(struct notices_outbox *o)
{
    for (size_t i = 0; i < o->n; i++) {
        if (o->presence) {
            presence_each(o->presence, o->items[i].user, send_to_peer, o->items[i].m);
        }
        msgbuf_unref(o->items[i].m);
    }
    free(o->items);
    *o = (struct notices_outbox){ .presence = NULL };
}

/* --- notice.list --- */

static const struct op_col notice_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = 0 },
    { .key = "kind", .type = OP_COL_TEXT, .col = 1 },
    { .key = "at", .type = OP_COL_I64, .col = 2 },
    { .key = "student", .type = OP_COL_I64, .col = 3 },
    { .key = "day", .type = OP_COL_TEXT, .col = 4 },
    { .key = "status", .type = OP_COL_TEXT, .col = 5 },
    { .key = "note", .type = OP_COL_TEXT, .col = 6 },
    { .key = "read", .type = OP_COL_BOOL, .col = 7 },
    { .key = NULL },
};

static int op_notice_list(struct op_ctx *op)
{
    op_param_id(op, op->caller.user_id);
    op_param_i64(op, op_get_int(op, "after", 0));
    op_param_i64(op, op_get_int(op, "limit", LIST_DEFAULT));
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT id, kind, (extract(epoch FROM created_at) * 1000)::bigint, student_id,"
               " day::text, status, note, read_at IS NOT NULL FROM notices"
               " WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3",
        .reply_rows = notice_cols });
}

/* --- notice.read --- */

static int op_notice_read(struct op_ctx *op)
{
    op_param_id(op, op->caller.user_id);
    op_param_id(op, op_get_id(op, "upto"));
    return op_sql(op, &(struct op_sql){
        .sql = "UPDATE notices SET read_at = now()"
               " WHERE user_id = $1 AND id <= $2 AND read_at IS NULL" });
}

static const struct op_arg LIST_ARGS[] = {
    { .name = "after", .type = OP_T_ID },
    { .name = "limit", .type = OP_T_INT, .min = 1, .max = LIST_MAX },
    { .name = NULL },
};

static const struct op_arg READ_ARGS[] = {
    { .name = "upto", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

const struct op_def notice_ops[] = {
    { .name = "notice.list", .fn = op_notice_list, .roles = ROLE_ANY, .args = LIST_ARGS },
    { .name = "notice.read", .fn = op_notice_read, .roles = ROLE_ANY, .args = READ_ARGS },
    { .name = NULL },
};
