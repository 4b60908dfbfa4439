/* The socket API's envelope: safe decoding of request frames and encoding of replies and
 * events (see envelope.h). */
#include "core/envelope.h"

#include <math.h>
#include <string.h>

static const char *const err_codes[OP_E__COUNT] = {
    [OP_OK] = "ok",
    [OP_E_BAD_REQUEST] = "bad_request",
    [OP_E_UNKNOWN_OP] = "unknown_op",
    [OP_E_UNAUTHENTICATED] = "unauthenticated",
    [OP_E_FORBIDDEN] = "forbidden",
    [OP_E_NOT_FOUND] = "not_found",
    [OP_E_CONFLICT] = "conflict",
    [OP_E_RATE_LIMITED] = "rate_limited",
    [OP_E_TOO_LARGE] = "too_large",
    [OP_E_UNAVAILABLE] = "unavailable",
    [OP_E_INTERNAL] = "internal",
};

const char *op_err_code(int err)
{
    if (err < 0 || err >= OP_E__COUNT) {
        return err_codes[OP_E_INTERNAL];
    }
    return err_codes[err];
}

/* Reads a big-endian unsigned integer of n bytes. */
static uint64_t be(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* Walks one value at *pos. Containers are walked with an explicit count of pending values per
 * level rather than recursion, so hostile depth costs nothing. */
static int scan(const unsigned char *d, size_t len, int max_depth, const char **why)
{
    size_t pos = 0;
    uint64_t pending[ENVELOPE_MAX_DEPTH + 2];
    int depth = 0;
    pending[0] = 1;
    if (max_depth > ENVELOPE_MAX_DEPTH) {
        max_depth = ENVELOPE_MAX_DEPTH;
    }
    while (depth >= 0) {
        if (pending[depth] == 0) {
            depth--;
            continue;
        }
        pending[depth]--;
        if (pos >= len) {
            *why = "truncated msgpack";
            return -1;
        }
        unsigned char t = d[pos++];
        uint64_t skip = 0;   /* payload bytes after the header */
        uint64_t children = 0;
        bool container = false;
        int hdr = 0;         /* size of the length field */
        if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) {
            /* fixint, nil, false, true */
        } else if (t >= 0x80 && t <= 0x8f) {
            container = true;
            children = (uint64_t)(t & 0x0f) * 2;
        } else if (t >= 0x90 && t <= 0x9f) {
            container = true;
            children = t & 0x0f;
        } else if (t >= 0xa0 && t <= 0xbf) {
            skip = t & 0x1f;
        } else {
            switch (t) {
            case 0xc4: case 0xd9: hdr = 1; break;               /* bin8, str8 */
            case 0xc5: case 0xda: hdr = 2; break;               /* bin16, str16 */
            case 0xc6: case 0xdb: hdr = 4; break;               /* bin32, str32 */
            case 0xc7: hdr = 1; skip = 1; break;                /* ext8: +type */
            case 0xc8: hdr = 2; skip = 1; break;
            case 0xc9: hdr = 4; skip = 1; break;
            case 0xca: skip = 4; break;                         /* float32 */
            case 0xcb: skip = 8; break;                         /* float64 */
            case 0xcc: case 0xd0: skip = 1; break;
            case 0xcd: case 0xd1: skip = 2; break;
            case 0xce: case 0xd2: skip = 4; break;
            case 0xcf: case 0xd3: skip = 8; break;
            case 0xd4: skip = 2; break;                         /* fixext 1..16 (+type) */
            case 0xd5: skip = 3; break;
            case 0xd6: skip = 5; break;
            case 0xd7: skip = 9; break;
            case 0xd8: skip = 17; break;
            case 0xdc: case 0xde: hdr = 2; container = true; break;
            case 0xdd: case 0xdf: hdr = 4; container = true; break;
            default:
                *why = "invalid msgpack";
                return -1;
            }
            if (hdr) {
                if (len - pos < (size_t)hdr) {
                    *why = "truncated msgpack";
                    return -1;
                }
                uint64_t n = be(d + pos, hdr);
                pos += (size_t)hdr;
                if (container) {
                    children = (t == 0xde || t == 0xdf) ? n * 2 : n;
                } else {
                    skip += n;
                }
            }
        }
        if (skip > len - pos) {
            *why = "truncated msgpack";
            return -1;
        }
        pos += (size_t)skip;
        if (container) {
            /* Even an empty container counts towards the depth limit. */
            if (depth + 1 > max_depth) {
                *why = "msgpack nested too deeply";
                return -1;
            }
            /* Every element takes at least one byte: a larger count is a lie. */
            if (children > len - pos) {
                *why = "truncated msgpack";
                return -1;
            }
            if (children > 0) {
                pending[++depth] = children;
            }
        }
    }
    if (pos != len) {
        *why = "trailing bytes after the message";
        return -1;
    }
    return 0;
}

int envelope_prescan(const unsigned char *data, size_t len, int max_depth, const char **why)
{
    if (len == 0) {
        *why = "empty message";
        return OP_E_BAD_REQUEST;
    }
    return scan(data, len, max_depth, why) == 0 ? 0 : OP_E_BAD_REQUEST;
}

static bool key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, name, n) == 0;
}

static int set_err(struct envelope_error *err, enum op_err code, const char *message,
                   const char *field)
{
    err->code = code;
    err->message = message;
    err->field = field;
    return code;
}

int envelope_decode(struct envelope_request *req, const unsigned char *data, size_t len,
                    struct envelope_error *err)
{
    memset(req, 0, sizeof *req);
    msgpack_unpacked_init(&req->unpacked);
    const char *why = NULL;
    if (envelope_prescan(data, len, ENVELOPE_MAX_DEPTH, &why) != 0) {
        return set_err(err, OP_E_BAD_REQUEST, why, NULL);
    }
    size_t off = 0;
    if (msgpack_unpack_next(&req->unpacked, (const char *)data, len, &off) !=
            MSGPACK_UNPACK_SUCCESS || off != len) {
        return set_err(err, OP_E_BAD_REQUEST, "invalid msgpack", NULL);
    }
    const msgpack_object *root = &req->unpacked.data;
    if (root->type != MSGPACK_OBJECT_MAP) {
        return set_err(err, OP_E_BAD_REQUEST, "a message must be a msgpack map", NULL);
    }
    const msgpack_object *id = NULL, *op = NULL, *args = NULL;
    for (uint32_t i = 0; i < root->via.map.size; i++) {
        const msgpack_object_kv *kv = &root->via.map.ptr[i];
        if (key_is(&kv->key, "id")) {
            id = &kv->val;
        } else if (key_is(&kv->key, "op")) {
            op = &kv->val;
        } else if (key_is(&kv->key, "args")) {
            args = &kv->val;
        }
    }
    /* Read op before judging id, so an error event can still name the op (only a plausible
     * one: the name is echoed back). */
    bool op_ok = op && op->type == MSGPACK_OBJECT_STR && op->via.str.size > 0 &&
                 op->via.str.size <= 64 && !memchr(op->via.str.ptr, '\0', op->via.str.size);
    if (op_ok) {
        req->op = op->via.str.ptr;
        req->op_len = op->via.str.size;
    }
    if (id) {
        if (id->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
            return set_err(err, OP_E_BAD_REQUEST, "id must be a non-negative integer", "id");
        }
        req->has_id = true;
        req->id = id->via.u64;
    }
    if (!op) {
        return set_err(err, OP_E_BAD_REQUEST, "op is missing", "op");
    }
    if (!op_ok) {
        return set_err(err, OP_E_BAD_REQUEST, "op must be a non-empty string of at most 64 bytes",
                       "op");
    }
    if (args && args->type == MSGPACK_OBJECT_NIL) {
        args = NULL;
    }
    if (args && args->type != MSGPACK_OBJECT_MAP) {
        return set_err(err, OP_E_BAD_REQUEST, "args must be a map", "args");
    }
    req->args = args;
    return 0;
}

void envelope_request_deinit(struct envelope_request *req)
{
    msgpack_unpacked_destroy(&req->unpacked);
    memset(req, 0, sizeof *req);
}

void envelope_pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

void envelope_pack_bool(msgpack_packer *pk, bool v)
{
    if (v) {
        msgpack_pack_true(pk);
    } else {
        msgpack_pack_false(pk);
    }
}

void envelope_pack_key(msgpack_packer *pk, const char *key)
{
    envelope_pack_str(pk, key);
}

static void begin(struct envelope_writer *w, size_t hint)
{
    w->msg = msgbuf_new(hint);
    msgbuf_packer_init(w->msg, &w->pk);
}

void envelope_begin_reply(struct envelope_writer *w, uint64_t id)
{
    begin(w, 128);
    msgpack_pack_map(&w->pk, 3);
    envelope_pack_key(&w->pk, "id");
    msgpack_pack_uint64(&w->pk, id);
    envelope_pack_key(&w->pk, "ok");
    msgpack_pack_true(&w->pk);
    envelope_pack_key(&w->pk, "data");
}

void envelope_begin_event(struct envelope_writer *w, const char *ev)
{
    begin(w, 128);
    msgpack_pack_map(&w->pk, 2);
    envelope_pack_key(&w->pk, "ev");
    envelope_pack_str(&w->pk, ev);
    envelope_pack_key(&w->pk, "data");
}

struct msgbuf *envelope_finish(struct envelope_writer *w)
{
    struct msgbuf *m = w->msg;
    w->msg = NULL;
    return m;
}

struct msgbuf *envelope_failure(uint64_t id, enum op_err code, const char *message,
                                const char *field)
{
    struct envelope_writer w;
    begin(&w, 128);
    msgpack_pack_map(&w.pk, 3);
    envelope_pack_key(&w.pk, "id");
    msgpack_pack_uint64(&w.pk, id);
    envelope_pack_key(&w.pk, "ok");
    msgpack_pack_false(&w.pk);
    envelope_pack_key(&w.pk, "error");
    msgpack_pack_map(&w.pk, field ? 3 : 2);
    envelope_pack_key(&w.pk, "code");
    envelope_pack_str(&w.pk, op_err_code(code));
    envelope_pack_key(&w.pk, "message");
    envelope_pack_str(&w.pk, message ? message : op_err_code(code));
    if (field) {
        envelope_pack_key(&w.pk, "field");
        envelope_pack_str(&w.pk, field);
    }
    return envelope_finish(&w);
}

struct msgbuf *envelope_failure_retry(uint64_t id, const char *message, double retry_after_s)
{
    struct envelope_writer w;
    begin(&w, 128);
    msgpack_pack_map(&w.pk, 3);
    envelope_pack_key(&w.pk, "id");
    msgpack_pack_uint64(&w.pk, id);
    envelope_pack_key(&w.pk, "ok");
    msgpack_pack_false(&w.pk);
    envelope_pack_key(&w.pk, "error");
    msgpack_pack_map(&w.pk, 3);
    envelope_pack_key(&w.pk, "code");
    envelope_pack_str(&w.pk, op_err_code(OP_E_RATE_LIMITED));
    envelope_pack_key(&w.pk, "message");
    envelope_pack_str(&w.pk, message);
    envelope_pack_key(&w.pk, "retry_after_s");
    /* Rounded up, so a client that waits exactly this long is let in; clamped to a day. */
    double wait = ceil(retry_after_s);
    if (!(wait >= 1.0)) {
        wait = 1.0;
    } else if (wait > 86400.0) {
        wait = 86400.0;
    }
    msgpack_pack_uint32(&w.pk, (uint32_t)wait);
    return envelope_finish(&w);
}

struct msgbuf *envelope_error_event(const char *op, size_t op_len, enum op_err code,
                                    const char *message, const char *field)
{
    struct envelope_writer w;
    envelope_begin_event(&w, "error");
    msgpack_pack_map(&w.pk, 2 + (op != NULL) + (field != NULL));
    if (op) {
        envelope_pack_key(&w.pk, "op");
        msgpack_pack_str(&w.pk, op_len);
        msgpack_pack_str_body(&w.pk, op, op_len);
    }
    envelope_pack_key(&w.pk, "code");
    envelope_pack_str(&w.pk, op_err_code(code));
    envelope_pack_key(&w.pk, "message");
    envelope_pack_str(&w.pk, message ? message : op_err_code(code));
    /* The same field a failure reply would name: clients map it without reading the text. */
    if (field) {
        envelope_pack_key(&w.pk, "field");
        envelope_pack_str(&w.pk, field);
    }
    return envelope_finish(&w);
}
