/* Argument schemas of socket operations (struct op_arg in op.h): checking a request's args
 * against its op's schema before the handler runs, and publishing the schemas (sys.schema)
 * so that clients and the admin console can build their forms from them. */
#pragma once
#include <msgpack.h>

#include "core/arena.h"
#include "core/op.h"

/* Checks args (a map, or NULL for none) against schema (NULL: no declared arguments). Every
 * string anywhere in args must be valid UTF-8 without NUL bytes, declared or not. Returns 0,
 * or OP_E_BAD_REQUEST with *field (a top-level name, or a path such as "stops[3].name" built
 * in arena) and *message set. */
int op_schema_check(const struct op_arg *schema, const msgpack_object *args, struct arena *arena,
                    const char **field, const char **message);

/* Checks that a table row's schema is well formed (known types, enum values given, bounds in
 * order, no duplicate names). Returns 0, or -EINVAL with *why set. */
int op_schema_valid(const struct op_arg *schema, const char **why);

/* Packs one op's published description:
 * {name, roles: ["admin", …], public: bool, args: [{name, type, required, …}]}. */
void op_schema_pack_op(msgpack_packer *pk, const struct op_def *def);

/* The wire name of a type ("id", "int", "number", "bool", "string", "enum", "array", "map"). */
const char *op_schema_type_name(enum op_arg_type t);
