/* msgpack builders and readers for integration tests: a tiny format language for requests,
 * and path lookups over decoded messages. */
#include "tests/support/tmsg.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tmsg {
    msgpack_unpacked unpacked;
    char *data;
    size_t len;
    char *text;
};

/* ---- building ---- */

struct fmt {
    const char *start;
    const char *p;
    va_list *ap;
};

static void fmt_die(const struct fmt *f, const char *why)
{
    fprintf(stderr, "tmsg_build: %s at offset %td of \"%s\"\n", why, f->p - f->start, f->start);
    abort();
}

static void skip_space(struct fmt *f)
{
    while (isspace((unsigned char)*f->p)) {
        f->p++;
    }
}

static void pack_cstr(msgpack_packer *pk, const char *s, size_t n)
{
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_value(struct fmt *f, msgpack_packer *pk);

/* Packs the elements of a container up to close into a side buffer first, because msgpack
 * needs the element count before the elements. Returns the count (pairs for a map). */
static uint32_t pack_elements(struct fmt *f, char close, bool is_map, msgpack_sbuffer *sb)
{
    msgpack_packer child;
    msgpack_packer_init(&child, sb, msgpack_sbuffer_write);
    uint32_t n = 0;
    skip_space(f);
    if (*f->p == close) {
        f->p++;
        return 0;
    }
    for (;;) {
        pack_value(f, &child);
        if (is_map) {
            skip_space(f);
            if (*f->p != ':') {
                fmt_die(f, "expected ':' after a map key");
            }
            f->p++;
            pack_value(f, &child);
        }
        n++;
        skip_space(f);
        if (*f->p == ',') {
            f->p++;
            skip_space(f);
            if (*f->p == close) {   /* a trailing comma is fine */
                f->p++;
                return n;
            }
            continue;
        }
        if (*f->p == close) {
            f->p++;
            return n;
        }
        fmt_die(f, is_map ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static void pack_directive(struct fmt *f, msgpack_packer *pk)
{
    char d = *f->p++;
    switch (d) {
    case 'u':
        msgpack_pack_uint64(pk, va_arg(*f->ap, unsigned));
        break;
    case 'd':
        msgpack_pack_int64(pk, va_arg(*f->ap, int));
        break;
    case 'U':
        msgpack_pack_uint64(pk, va_arg(*f->ap, uint64_t));
        break;
    case 'D':
        msgpack_pack_int64(pk, va_arg(*f->ap, int64_t));
        break;
    case 'f':
        msgpack_pack_double(pk, va_arg(*f->ap, double));
        break;
    case 't':
        if (va_arg(*f->ap, int)) {
            msgpack_pack_true(pk);
        } else {
            msgpack_pack_false(pk);
        }
        break;
    case 's': {
        const char *s = va_arg(*f->ap, const char *);
        if (s) {
            pack_cstr(pk, s, strlen(s));
        } else {
            msgpack_pack_nil(pk);
        }
        break;
    }
    case 'b': {
        const void *data = va_arg(*f->ap, const void *);
        size_t n = va_arg(*f->ap, size_t);
        msgpack_pack_bin_with_body(pk, data, n);
        break;
    }
    case 'm': {
        const void *data = va_arg(*f->ap, const void *);
        size_t n = va_arg(*f->ap, size_t);
        pk->callback(pk->data, data, n);
        break;
    }
    default:
        f->p--;
        fmt_die(f, "unknown directive");
    }
}

static bool is_word_char(char c)
{
    return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '-';
}

static void pack_value(struct fmt *f, msgpack_packer *pk)
{
    skip_space(f);
    char c = *f->p;
    if (c == '{' || c == '[') {
        f->p++;
        bool is_map = c == '{';
        msgpack_sbuffer sb;
        msgpack_sbuffer_init(&sb);
        uint32_t n = pack_elements(f, is_map ? '}' : ']', is_map, &sb);
        if (is_map) {
            msgpack_pack_map(pk, n);
        } else {
            msgpack_pack_array(pk, n);
        }
        if (sb.size > 0) {
            pk->callback(pk->data, sb.data, sb.size);
        }
        msgpack_sbuffer_destroy(&sb);
        return;
    }
    if (c == '%') {
        f->p++;
        pack_directive(f, pk);
        return;
    }
    if (c == '"') {
        const char *end = strchr(f->p + 1, '"');
        if (!end) {
            fmt_die(f, "unterminated string");
        }
        pack_cstr(pk, f->p + 1, (size_t)(end - f->p - 1));
        f->p = end + 1;
        return;
    }
    if (c == '-' || isdigit((unsigned char)c)) {
        char *end;
        if (strspn(f->p + (c == '-'), "0123456789") < strspn(f->p + (c == '-'), "0123456789.")) {
            double v = strtod(f->p, &end);
            msgpack_pack_double(pk, v);
        } else if (c == '-') {
            long long v = strtoll(f->p, &end, 10);
            msgpack_pack_int64(pk, v);
        } else {
            unsigned long long v = strtoull(f->p, &end, 10);
            msgpack_pack_uint64(pk, v);
        }
        f->p = end;
        return;
    }
    if (is_word_char(c)) {
        const char *start = f->p;
        while (is_word_char(*f->p)) {
            f->p++;
        }
        size_t n = (size_t)(f->p - start);
        if (n == 3 && memcmp(start, "nil", 3) == 0) {
            msgpack_pack_nil(pk);
        } else if (n == 4 && memcmp(start, "true", 4) == 0) {
            msgpack_pack_true(pk);
        } else if (n == 5 && memcmp(start, "false", 5) == 0) {
            msgpack_pack_false(pk);
        } else {
            pack_cstr(pk, start, n);
        }
        return;
    }
    fmt_die(f, c ? "unexpected character" : "unexpected end of format");
}

uint8_t *tmsg_vbuild(size_t *len, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    struct fmt f = { .start = fmt, .p = fmt, .ap = &copy };
    msgpack_sbuffer sb;
    msgpack_sbuffer_init(&sb);
    msgpack_packer pk;
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    pack_value(&f, &pk);
    skip_space(&f);
    if (*f.p != '\0') {
        fmt_die(&f, "text after the value");
    }
    va_end(copy);
    *len = sb.size;
    if (sb.size == 0) {
        return malloc(1);
    }
    return (uint8_t *)msgpack_sbuffer_release(&sb);
}

uint8_t *tmsg_build(size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    uint8_t *out = tmsg_vbuild(len, fmt, ap);
    va_end(ap);
    return out;
}

/* ---- reading ---- */

struct tmsg *tmsg_decode(const void *data, size_t len)
{
    struct tmsg *m = calloc(1, sizeof *m);
    /* Copy first: decoded strings point into the input. */
    m->data = malloc(len ? len : 1);
    memcpy(m->data, data, len);
    m->len = len;
    msgpack_unpacked_init(&m->unpacked);
    size_t off = 0;
    if (msgpack_unpack_next(&m->unpacked, m->data, len, &off) != MSGPACK_UNPACK_SUCCESS ||
            off != len) {
        tmsg_free(m);
        return NULL;
    }
    return m;
}

void tmsg_free(struct tmsg *m)
{
    if (!m) {
        return;
    }
    msgpack_unpacked_destroy(&m->unpacked);
    free(m->data);
    free(m->text);
    free(m);
}

const msgpack_object *tmsg_root(const struct tmsg *m)
{
    return &m->unpacked.data;
}

const char *tmsg_text(struct tmsg *m)
{
    if (!m) {
        return "(no message)";
    }
    if (!m->text) {
        size_t cap = 4096;
        m->text = malloc(cap);
        int n = msgpack_object_print_buffer(m->text, cap, m->unpacked.data);
        if (n < 0) {
            n = 0;
        }
        m->text[(size_t)n < cap ? (size_t)n : cap - 1] = '\0';
    }
    return m->text;
}

static const msgpack_object *map_lookup(const msgpack_object *obj, const char *key, size_t n)
{
    if (!obj || obj->type != MSGPACK_OBJECT_MAP) {
        return NULL;
    }
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object *k = &obj->via.map.ptr[i].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
                memcmp(k->via.str.ptr, key, n) == 0) {
            return &obj->via.map.ptr[i].val;
        }
    }
    return NULL;
}

const msgpack_object *tmsg_get(const msgpack_object *obj, const char *path)
{
    while (obj && *path) {
        const char *dot = strchr(path, '.');
        size_t n = dot ? (size_t)(dot - path) : strlen(path);
        obj = map_lookup(obj, path, n);
        path += n + (dot ? 1 : 0);
    }
    return obj;
}

static const msgpack_object *at(const struct tmsg *m, const char *path)
{
    return m ? tmsg_get(tmsg_root(m), path) : NULL;
}

bool tmsg_has(const struct tmsg *m, const char *path)
{
    return at(m, path) != NULL;
}

bool tmsg_str_is(const struct tmsg *m, const char *path, const char *s)
{
    const msgpack_object *o = at(m, path);
    size_t n = strlen(s);
    return o && o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, s, n) == 0;
}

bool tmsg_uint(const struct tmsg *m, const char *path, uint64_t *out)
{
    const msgpack_object *o = at(m, path);
    if (!o || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
        return false;
    }
    *out = o->via.u64;
    return true;
}

bool tmsg_uint_is(const struct tmsg *m, const char *path, uint64_t v)
{
    uint64_t got;
    return tmsg_uint(m, path, &got) && got == v;
}

bool tmsg_bool_is(const struct tmsg *m, const char *path, bool v)
{
    const msgpack_object *o = at(m, path);
    return o && o->type == MSGPACK_OBJECT_BOOLEAN && o->via.boolean == v;
}

bool tmsg_is_map(const struct tmsg *m, const char *path)
{
    const msgpack_object *o = at(m, path);
    return o && o->type == MSGPACK_OBJECT_MAP;
}

bool tmsg_is_event(const struct tmsg *m, const char *ev)
{
    return tmsg_str_is(m, "ev", ev) && tmsg_is_map(m, "data") && !tmsg_has(m, "id");
}

bool tmsg_is_error_event(const struct tmsg *m, const char *code)
{
    if (!tmsg_is_event(m, "error") || !tmsg_has(m, "data.message")) {
        return false;
    }
    return code ? tmsg_str_is(m, "data.code", code) : tmsg_has(m, "data.code");
}

bool tmsg_is_success(const struct tmsg *m, uint64_t id)
{
    return tmsg_uint_is(m, "id", id) && tmsg_bool_is(m, "ok", true) && tmsg_has(m, "data");
}

bool tmsg_is_failure(const struct tmsg *m, uint64_t id, const char *code, const char *field)
{
    return tmsg_uint_is(m, "id", id) && tmsg_bool_is(m, "ok", false) &&
           tmsg_str_is(m, "error.code", code) && tmsg_has(m, "error.message") &&
           (!field || tmsg_str_is(m, "error.field", field));
}
