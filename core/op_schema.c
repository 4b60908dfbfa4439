/* Argument schema checks and publication (see op_schema.h). */
#include "core/op_schema.h"

#include <errno.h>
#include <math.h>
#include <string.h>

#include "core/utf8.h"

/* The same words the op_arg_* readers use, so a refusal reads the same from either. */
#define MSG_REQUIRED "is required"
#define MSG_ID "must be a positive integer id"
#define MSG_INT "must be an integer"
#define MSG_RANGE "number out of range"
#define MSG_NUM "must be a number"
#define MSG_BOOL "must be true or false"
#define MSG_STR "must be a string"
#define MSG_EMPTY "must not be empty"
#define MSG_LONG "is too long"
#define MSG_NUL "must not contain NUL bytes"
#define MSG_UTF8 "must be valid UTF-8 text"
#define MSG_ARRAY "must be an array"
#define MSG_ITEMS "has too many items"
#define MSG_MAP "must be a map"

struct check {
    struct arena *arena;
    const char **field;
    const char **message;
};

/* Where a value sits in args, kept on the stack while checking and written out as text
 * ("stops[2].name") only when something is refused: the accepted path allocates nothing. */
struct where {
    const struct where *up;
    const char *name; /* a key, or NULL for an array element */
    size_t name_len;
    uint32_t index;
};

static const char *render(struct arena *arena, const struct where *w)
{
    if (!w) {
        return "";
    }
    const char *up = render(arena, w->up);
    if (!w->name) {
        return arena_printf(arena, "%s[%u]", up, w->index);
    }
    return arena_printf(arena, "%s%s%.*s", up, up[0] ? "." : "", (int)w->name_len, w->name);
}

static int refuse(struct check *c, const struct where *w, const char *message)
{
    *c->field = w && !w->up && w->name ? arena_strndup(c->arena, w->name, w->name_len)
                                       : render(c->arena, w);
    *c->message = message;
    return OP_E_BAD_REQUEST;
}

static bool is_key(const msgpack_object *k, const char *name)
{
    size_t n = strlen(name);
    return k->type == MSGPACK_OBJECT_STR && k->via.str.size == n &&
           memcmp(k->via.str.ptr, name, n) == 0;
}

/* "must be a, b or c" for an enum's values. */
static const char *enum_message(struct arena *arena, const char *const *values)
{
    const char *m = arena_printf(arena, "must be %s", values[0]);
    for (size_t i = 1; values[i]; i++) {
        m = arena_printf(arena, "%s%s%s", m, values[i + 1] ? ", " : " or ", values[i]);
    }
    return m;
}

/* Every string inside v (keys excepted) is valid text; w says where v is. */
static int check_text_deep(struct check *c, const struct where *w, const msgpack_object *v)
{
    switch (v->type) {
    case MSGPACK_OBJECT_STR:
        if (!utf8_valid_text(v->via.str.ptr, v->via.str.size)) {
            return refuse(c, w,
                          memchr(v->via.str.ptr, '\0', v->via.str.size) ? MSG_NUL : MSG_UTF8);
        }
        return 0;
    case MSGPACK_OBJECT_ARRAY:
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            struct where item = { .up = w, .index = i };
            int r = check_text_deep(c, &item, &v->via.array.ptr[i]);
            if (r) {
                return r;
            }
        }
        return 0;
    case MSGPACK_OBJECT_MAP:
        for (uint32_t i = 0; i < v->via.map.size; i++) {
            const msgpack_object *k = &v->via.map.ptr[i].key;
            struct where key = { .up = w, .name = "?", .name_len = 1 };
            if (k->type == MSGPACK_OBJECT_STR) {
                key.name = k->via.str.ptr;
                key.name_len = k->via.str.size;
            }
            int r = check_text_deep(c, &key, &v->via.map.ptr[i].val);
            if (r) {
                return r;
            }
        }
        return 0;
    default:
        return 0;
    }
}

static int check_map(struct check *c, const struct where *up, const struct op_arg *schema,
                     const msgpack_object *map);

/* One value (not nil) against its schema; field says where it is, for refusals. */
static int check_value(struct check *c, const struct where *field, const struct op_arg *a,
                       const msgpack_object *v)
{
    switch (a->type) {
    case OP_T_ID:
        if (v->type != MSGPACK_OBJECT_POSITIVE_INTEGER || v->via.u64 == 0 ||
            v->via.u64 > INT64_MAX) {
            return refuse(c, field, MSG_ID);
        }
        return 0;
    case OP_T_INT: {
        int64_t x;
        if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            if (v->via.u64 > INT64_MAX) {
                return refuse(c, field, MSG_RANGE);
            }
            x = (int64_t)v->via.u64;
        } else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
            x = v->via.i64;
        } else {
            return refuse(c, field, MSG_INT);
        }
        if ((a->min || a->max) && (x < a->min || x > a->max)) {
            return refuse(c, field, MSG_RANGE);
        }
        return 0;
    }
    case OP_T_NUM: {
        double x;
        if (v->type == MSGPACK_OBJECT_FLOAT32 || v->type == MSGPACK_OBJECT_FLOAT64) {
            x = v->via.f64;
        } else if (v->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            x = (double)v->via.u64;
        } else if (v->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
            x = (double)v->via.i64;
        } else {
            return refuse(c, field, MSG_NUM);
        }
        if (!isfinite(x) || ((a->lo != 0 || a->hi != 0) && (x < a->lo || x > a->hi))) {
            return refuse(c, field, MSG_RANGE);
        }
        return 0;
    }
    case OP_T_BOOL:
        return v->type == MSGPACK_OBJECT_BOOLEAN ? 0 : refuse(c, field, MSG_BOOL);
    case OP_T_STR: {
        if (v->type != MSGPACK_OBJECT_STR) {
            return refuse(c, field, MSG_STR);
        }
        size_t max = a->max > 0 ? (size_t)a->max : OP_STR_MAX_DEFAULT;
        if (v->via.str.size == 0) {
            return refuse(c, field, MSG_EMPTY);
        }
        if (v->via.str.size > max) {
            return refuse(c, field, MSG_LONG);
        }
        return check_text_deep(c, field, v);
    }
    case OP_T_ENUM:
        if (v->type == MSGPACK_OBJECT_STR) {
            for (size_t i = 0; a->values[i]; i++) {
                if (v->via.str.size == strlen(a->values[i]) &&
                    memcmp(v->via.str.ptr, a->values[i], v->via.str.size) == 0) {
                    return 0;
                }
            }
        }
        return refuse(c, field, enum_message(c->arena, a->values));
    case OP_T_ARRAY:
        if (v->type != MSGPACK_OBJECT_ARRAY) {
            return refuse(c, field, MSG_ARRAY);
        }
        if (a->max > 0 && v->via.array.size > (uint64_t)a->max) {
            return refuse(c, field, MSG_ITEMS);
        }
        for (uint32_t i = 0; i < v->via.array.size; i++) {
            const msgpack_object *e = &v->via.array.ptr[i];
            struct where item = { .up = field, .index = i };
            int r = a->items && e->type != MSGPACK_OBJECT_NIL
                        ? check_value(c, &item, a->items, e)
                        : check_text_deep(c, &item, e);
            if (r) {
                return r;
            }
        }
        return 0;
    case OP_T_MAP:
        if (v->type != MSGPACK_OBJECT_MAP) {
            return refuse(c, field, MSG_MAP);
        }
        return a->fields ? check_map(c, field, a->fields, v) : check_text_deep(c, field, v);
    }
    return refuse(c, field, "has an unknown type");
}

/* A map of arguments (or of one nested value's keys) against schema; undeclared keys are
 * ignored but their strings must still be text. As op_map_get does, the first occurrence of a
 * key is the one that counts for "required". */
static int check_map(struct check *c, const struct where *up, const struct op_arg *schema,
                     const msgpack_object *map)
{
    uint64_t seen = 0, present = 0; /* bit i: schema[i] (op_schema_valid caps them at 64) */
    for (uint32_t i = 0; i < map->via.map.size; i++) {
        const msgpack_object *k = &map->via.map.ptr[i].key;
        const msgpack_object *v = &map->via.map.ptr[i].val;
        struct where here = { .up = up, .name = "args", .name_len = 4 };
        if (k->type == MSGPACK_OBJECT_STR) {
            here.name = k->via.str.ptr;
            here.name_len = k->via.str.size;
        }
        const struct op_arg *a = NULL;
        unsigned bit = 0;
        for (const struct op_arg *s = schema; s && s->name; s++, bit++) {
            if (is_key(k, s->name)) {
                a = s;
                break;
            }
        }
        if (!a) {
            int r = check_text_deep(c, &here, v);
            if (r) {
                return r;
            }
            continue;
        }
        if (!(seen & (1ull << bit))) {
            seen |= 1ull << bit;
            present |= (uint64_t)(v->type != MSGPACK_OBJECT_NIL) << bit;
        }
        if (v->type == MSGPACK_OBJECT_NIL) {
            continue; /* nil means absent; required ones are caught below */
        }
        int r = check_value(c, &here, a, v);
        if (r) {
            return r;
        }
    }
    unsigned bit = 0;
    for (const struct op_arg *s = schema; s && s->name; s++, bit++) {
        if (s->required && !(present & (1ull << bit))) {
            struct where missing = { .up = up, .name = s->name, .name_len = strlen(s->name) };
            return refuse(c, &missing, MSG_REQUIRED);
        }
    }
    return 0;
}

int op_schema_check(const struct op_arg *schema, const msgpack_object *args, struct arena *arena,
                    const char **field, const char **message)
{
    struct check c = { arena, field, message };
    if (!args) {
        static const msgpack_object empty = { .type = MSGPACK_OBJECT_MAP };
        args = &empty;
    }
    return check_map(&c, NULL, schema, args);
}

static int valid_one(const struct op_arg *a, const char **why)
{
    switch (a->type) {
    case OP_T_ID:
    case OP_T_BOOL:
        return 0;
    case OP_T_INT:
        if (a->min > a->max) {
            *why = "int bounds out of order";
            return -EINVAL;
        }
        return 0;
    case OP_T_NUM:
        if (a->lo > a->hi) {
            *why = "number bounds out of order";
            return -EINVAL;
        }
        return 0;
    case OP_T_STR:
        if (a->max < 0) {
            *why = "negative string length";
            return -EINVAL;
        }
        return 0;
    case OP_T_ENUM:
        if (!a->values || !a->values[0]) {
            *why = "enum without values";
            return -EINVAL;
        }
        return 0;
    case OP_T_ARRAY:
        return a->items ? valid_one(a->items, why) : 0;
    case OP_T_MAP:
        return a->fields ? op_schema_valid(a->fields, why) : 0;
    }
    *why = "unknown argument type";
    return -EINVAL;
}

int op_schema_valid(const struct op_arg *schema, const char **why)
{
    size_t n = 0;
    for (const struct op_arg *a = schema; a && a->name; a++) {
        if (++n > 64) {
            *why = "more than 64 arguments";
            return -EINVAL;
        }
        for (const struct op_arg *b = schema; b != a; b++) {
            if (strcmp(a->name, b->name) == 0) {
                *why = "an argument is declared twice";
                return -EINVAL;
            }
        }
        int r = valid_one(a, why);
        if (r) {
            return r;
        }
    }
    return 0;
}

const char *op_schema_type_name(enum op_arg_type t)
{
    switch (t) {
    case OP_T_ID:
        return "id";
    case OP_T_INT:
        return "int";
    case OP_T_NUM:
        return "number";
    case OP_T_BOOL:
        return "bool";
    case OP_T_STR:
        return "string";
    case OP_T_ENUM:
        return "enum";
    case OP_T_ARRAY:
        return "array";
    case OP_T_MAP:
        return "map";
    }
    return "";
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    size_t n = strlen(s);
    msgpack_pack_str(pk, n);
    msgpack_pack_str_body(pk, s, n);
}

static void pack_args(msgpack_packer *pk, const struct op_arg *schema);

/* {name?, type, required, min?, max?, values?, items?, fields?, format?, nullable?}: the optional keys
 * only where they apply, counted before packing. */
static void pack_arg(msgpack_packer *pk, const struct op_arg *a, bool named)
{
    bool int_bounds = (a->type == OP_T_INT && (a->min || a->max)) ||
                      (a->type == OP_T_ARRAY && a->max > 0);
    bool num_bounds = a->type == OP_T_NUM && (a->lo != 0 || a->hi != 0);
    bool str_max = a->type == OP_T_STR;
    size_t n = 2 + named + (int_bounds ? 2 : 0) + (num_bounds ? 2 : 0) + str_max +
               (a->type == OP_T_ENUM) + (a->type == OP_T_ARRAY && a->items) +
               (a->type == OP_T_MAP && a->fields) + (a->format != NULL) + a->nullable;
    msgpack_pack_map(pk, n);
    if (named) {
        pack_str(pk, "name");
        pack_str(pk, a->name);
    }
    pack_str(pk, "type");
    pack_str(pk, op_schema_type_name(a->type));
    pack_str(pk, "required");
    if (a->required) {
        msgpack_pack_true(pk);
    } else {
        msgpack_pack_false(pk);
    }
    if (int_bounds) {
        pack_str(pk, "min");
        msgpack_pack_int64(pk, a->type == OP_T_ARRAY ? 0 : a->min);
        pack_str(pk, "max");
        msgpack_pack_int64(pk, a->max);
    }
    if (num_bounds) {
        pack_str(pk, "min");
        msgpack_pack_double(pk, a->lo);
        pack_str(pk, "max");
        msgpack_pack_double(pk, a->hi);
    }
    if (str_max) {
        pack_str(pk, "max_len");
        msgpack_pack_int64(pk, a->max > 0 ? a->max : OP_STR_MAX_DEFAULT);
    }
    if (a->type == OP_T_ENUM) {
        size_t k = 0;
        while (a->values[k]) {
            k++;
        }
        pack_str(pk, "values");
        msgpack_pack_array(pk, k);
        for (size_t i = 0; i < k; i++) {
            pack_str(pk, a->values[i]);
        }
    }
    if (a->type == OP_T_ARRAY && a->items) {
        pack_str(pk, "items");
        pack_arg(pk, a->items, false);
    }
    if (a->type == OP_T_MAP && a->fields) {
        pack_str(pk, "fields");
        pack_args(pk, a->fields);
    }
    if (a->format) {
        pack_str(pk, "format");
        pack_str(pk, a->format);
    }
    if (a->nullable) {
        pack_str(pk, "nullable");
        msgpack_pack_true(pk);
    }
}

static void pack_args(msgpack_packer *pk, const struct op_arg *schema)
{
    size_t n = 0;
    for (const struct op_arg *a = schema; a && a->name; a++) {
        n++;
    }
    msgpack_pack_array(pk, n);
    for (const struct op_arg *a = schema; a && a->name; a++) {
        pack_arg(pk, a, true);
    }
}

void op_schema_pack_op(msgpack_packer *pk, const struct op_def *def)
{
    msgpack_pack_map(pk, 4);
    pack_str(pk, "name");
    pack_str(pk, def->name);
    pack_str(pk, "roles");
    size_t n_roles = 0;
    for (unsigned bit = 1; bit & ROLE_ANY; bit <<= 1) {
        n_roles += (def->roles & bit) != 0;
    }
    msgpack_pack_array(pk, n_roles);
    for (unsigned bit = 1; bit & ROLE_ANY; bit <<= 1) {
        if (def->roles & bit) {
            pack_str(pk, role_name(bit));
        }
    }
    pack_str(pk, "public");
    if (def->flags & OP_PUBLIC) {
        msgpack_pack_true(pk);
    } else {
        msgpack_pack_false(pk);
    }
    pack_str(pk, "args");
    pack_args(pk, def->args);
}
