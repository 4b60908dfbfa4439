/* Reading the server's messages for the load generators (see reply.h). */
#include "bench/reply.h"

#include <msgpack.h>
#include <stdio.h>
#include <string.h>

static bool key_is(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, name, n) == 0;
}

static void copy_str(char *out, size_t cap, const msgpack_object *v)
{
    if (v->type == MSGPACK_OBJECT_STR) {
        snprintf(out, cap, "%.*s", (int)v->via.str.size, v->via.str.ptr);
    }
}

static void read_data(const msgpack_object_map *m, struct bench_reply *r)
{
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
        if (key_is(k, "ts")) {
            if (v->type == MSGPACK_OBJECT_FLOAT64 || v->type == MSGPACK_OBJECT_FLOAT32) {
                r->ts = v->via.f64;
            } else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
                r->ts = (double)v->via.u64;
            }
        } else if (key_is(k, "created") && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            r->created = (long long)v->via.u64;
        } else if (key_is(k, "url")) {
            copy_str(r->url, sizeof r->url, v);
        } else if (key_is(k, "code")) {
            copy_str(r->code, sizeof r->code, v); /* an error event's */
        }
    }
}

void bench_reply_read(const uint8_t *data, size_t len, struct bench_reply *r)
{
    memset(r, 0, sizeof *r);
    r->created = -1;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    if (msgpack_unpack_next(&u, (const char *)data, len, NULL) != MSGPACK_UNPACK_SUCCESS ||
        u.data.type != MSGPACK_OBJECT_MAP) {
        msgpack_unpacked_destroy(&u);
        return;
    }
    const msgpack_object_map *m = &u.data.via.map;
    for (uint32_t i = 0; i < m->size; i++) {
        const msgpack_object *k = &m->ptr[i].key, *v = &m->ptr[i].val;
        if (key_is(k, "id")) {
            r->has_id = true;
        } else if (key_is(k, "ok")) {
            r->ok = v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean;
        } else if (key_is(k, "ev")) {
            copy_str(r->ev, sizeof r->ev, v);
        } else if (key_is(k, "data") && v->type == MSGPACK_OBJECT_MAP) {
            read_data(&v->via.map, r);
        } else if (key_is(k, "error") && v->type == MSGPACK_OBJECT_MAP) {
            for (uint32_t j = 0; j < v->via.map.size; j++) {
                if (key_is(&v->via.map.ptr[j].key, "code")) {
                    copy_str(r->code, sizeof r->code, &v->via.map.ptr[j].val);
                }
            }
        }
    }
    msgpack_unpacked_destroy(&u);
}
