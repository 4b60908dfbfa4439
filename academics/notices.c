/* The school's records: parents' notices: what they were told live, kept for when they were
 * offline. Each user reads only their own, in id order (oldest first), paging with `after`,
 * and marks them read up to an id. A notice's kind-specific payload (jsonb) is returned as
 * `data`, a msgpack map (nil when the kind has none, e.g. attendance: its fields stay at the
 * top level). */
#include "academics/notices.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/msgbuf.h"
#include "core/op_db.h"
#include "core/op_pack.h"
#include "core/peer.h"
#include "core/presence.h"
#include "core/retention.h"
#include "core/strbuf.h"
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

/* --- payloads: jsonb text as msgpack --- */

#define JSON_DEPTH_MAX 16

struct json {
    const char *p, *end;
    bool bad;
};

static void json_ws(struct json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) {
        j->p++;
    }
}

static int json_hex4(struct json *j)
{
    if (j->end - j->p < 4) {
        return -1;
    }
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = j->p[i];
        v <<= 4;
        if (c >= '0' && c <= '9') {
            v |= c - '0';
        } else if (c >= 'a' && c <= 'f') {
            v |= c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            v |= c - 'A' + 10;
        } else {
            return -1;
        }
    }
    j->p += 4;
    return v;
}

static void utf8_put(struct strbuf *sb, uint32_t c)
{
    char b[4];
    size_t n;
    if (c < 0x80) {
        b[0] = (char)c;
        n = 1;
    } else if (c < 0x800) {
        b[0] = (char)(0xC0 | (c >> 6));
        b[1] = (char)(0x80 | (c & 0x3F));
        n = 2;
    } else if (c < 0x10000) {
        b[0] = (char)(0xE0 | (c >> 12));
        b[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        b[2] = (char)(0x80 | (c & 0x3F));
        n = 3;
    } else {
        b[0] = (char)(0xF0 | (c >> 18));
        b[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        b[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        b[3] = (char)(0x80 | (c & 0x3F));
        n = 4;
    }
    strbuf_append(sb, b, n);
}

/* A string at j->p (its opening quote), decoded into sb (when not NULL). */
static void json_string(struct json *j, struct strbuf *sb)
{
    j->p++; /* the quote */
    while (j->p < j->end && *j->p != '"') {
        const char *run = j->p;
        while (j->p < j->end && *j->p != '"' && *j->p != '\\') {
            j->p++;
        }
        if (sb) {
            strbuf_append(sb, run, (size_t)(j->p - run));
        }
        if (j->p < j->end && *j->p == '\\') {
            if (j->end - j->p < 2) {
                j->bad = true;
                return;
            }
            char e = j->p[1];
            j->p += 2;
            static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
            const char *k = e ? strchr(from, e) : NULL;
            if (k) {
                if (sb) {
                    strbuf_append(sb, &to[k - from], 1);
                }
            } else if (e == 'u') {
                int c = json_hex4(j);
                if (c >= 0xD800 && c < 0xDC00 && j->end - j->p >= 6 && j->p[0] == '\\' &&
                    j->p[1] == 'u') {
                    j->p += 2;
                    int lo = json_hex4(j);
                    c = lo >= 0xDC00 && lo < 0xE000 ? 0x10000 + ((c - 0xD800) << 10) + (lo - 0xDC00)
                                                  : -1;
                }
                if (c < 0 || (c >= 0xD800 && c < 0xE000)) {
                    j->bad = true;
                    return;
                }
                if (sb) {
                    utf8_put(sb, (uint32_t)c);
                }
            } else {
                j->bad = true;
                return;
            }
        }
    }
    if (j->p >= j->end) {
        j->bad = true;
        return;
    }
    j->p++; /* the closing quote */
}

static void json_value(struct json *j, msgpack_packer *pk, int depth);

/* The members (or items) of the object or array at j->p: packed (pk not NULL) or skipped;
 * returns how many. An object's keys must be strings. */
static uint32_t json_members(struct json *j, msgpack_packer *pk, int depth)
{
    char open = *j->p, close = open == '{' ? '}' : ']';
    j->p++;
    json_ws(j);
    uint32_t n = 0;
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return 0;
    }
    for (;;) {
        if (open == '{' && (j->p >= j->end || *j->p != '"')) {
            j->bad = true;
            return n;
        }
        json_value(j, pk, depth + 1); /* an object's key, or an item */
        json_ws(j);
        if (open == '{') {
            if (j->p >= j->end || *j->p != ':') {
                j->bad = true;
                return n;
            }
            j->p++;
            json_value(j, pk, depth + 1);
            json_ws(j);
        }
        n++;
        if (j->bad) {
            return n;
        }
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            json_ws(j);
            continue;
        }
        break;
    }
    if (j->p >= j->end || *j->p != close) {
        j->bad = true;
        return n;
    }
    j->p++;
    return n;
}

/* Packs (pk not NULL) or skips one value. */
static void json_value(struct json *j, msgpack_packer *pk, int depth)
{
    json_ws(j);
    if (j->bad || j->p >= j->end || depth > JSON_DEPTH_MAX) {
        j->bad = true;
        return;
    }
    char c = *j->p;
    if (c == '{' || c == '[') {
        if (pk) {
            struct json count = *j; /* a skipping pass first: the header needs the count */
            uint32_t n = json_members(&count, NULL, depth);
            if (count.bad) {
                j->bad = true;
                return;
            }
            if (c == '{') {
                msgpack_pack_map(pk, n);
            } else {
                msgpack_pack_array(pk, n);
            }
        }
        json_members(j, pk, depth);
    } else if (c == '"') {
        struct strbuf sb;
        strbuf_init(&sb);
        json_string(j, pk ? &sb : NULL);
        if (pk) {
            msgpack_pack_str(pk, sb.len);
            msgpack_pack_str_body(pk, sb.data ? sb.data : "", sb.len);
        }
        strbuf_deinit(&sb);
    } else if (c == 't' && j->end - j->p >= 4 && memcmp(j->p, "true", 4) == 0) {
        j->p += 4;
        if (pk) {
            msgpack_pack_true(pk);
        }
    } else if (c == 'f' && j->end - j->p >= 5 && memcmp(j->p, "false", 5) == 0) {
        j->p += 5;
        if (pk) {
            msgpack_pack_false(pk);
        }
    } else if (c == 'n' && j->end - j->p >= 4 && memcmp(j->p, "null", 4) == 0) {
        j->p += 4;
        if (pk) {
            msgpack_pack_nil(pk);
        }
    } else if (c == '-' || (c >= '0' && c <= '9')) {
        const char *s = j->p;
        bool integer = true;
        while (j->p < j->end && strchr("+-0123456789.eE", *j->p)) {
            integer = integer && *j->p != '.' && *j->p != 'e' && *j->p != 'E';
            j->p++;
        }
        char num[64];
        size_t len = (size_t)(j->p - s);
        if (len >= sizeof num) {
            integer = false;
            len = sizeof num - 1;
        }
        memcpy(num, s, len);
        num[len] = '\0';
        char first = num[num[0] == '-'], *end;
        double d = strtod(num, &end);
        if (first < '0' || first > '9' || *end != '\0') {
            j->bad = true; /* "-", "1e", "1.2.3" */
            return;
        }
        if (pk) {
            errno = 0;
            long long v = integer ? strtoll(num, &end, 10) : 0;
            if (integer && errno == 0 && *end == '\0') {
                msgpack_pack_int64(pk, v);
            } else {
                msgpack_pack_double(pk, d);
            }
        }
    } else {
        j->bad = true;
    }
}

void notices_pack_json(msgpack_packer *pk, const char *json, size_t len)
{
    struct json j = { .p = json, .end = json + len };
    json_value(&j, NULL, 0); /* a dry run first: a malformed payload packs nil, never half */
    json_ws(&j);
    if (!json || len == 0 || j.bad || j.p != j.end) {
        msgpack_pack_nil(pk);
        return;
    }
    j = (struct json){ .p = json, .end = json + len };
    json_value(&j, pk, 0);
}

static void pack_payload(struct op_ctx *op, msgpack_packer *pk, const PGresult *res, int row,
                         int col)
{
    (void)op;
    if (PQgetisnull(res, row, col)) {
        msgpack_pack_nil(pk);
        return;
    }
    notices_pack_json(pk, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
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
    { .key = "data", .type = OP_COL_FN, .col = 8, .fn = pack_payload },
    { .key = NULL },
};

static int op_notice_list(struct op_ctx *op)
{
    op_param_id(op, op->caller.user_id);
    op_param_i64(op, op_get_int(op, "after", 0));
    op_param_i64(op, op_get_int(op, "limit", LIST_DEFAULT));
    return op_sql(op, &(struct op_sql){
        .sql = "SELECT id, kind, (extract(epoch FROM created_at) * 1000)::bigint, student_id,"
               " day::text, status, note, read_at IS NOT NULL, payload FROM notices"
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
