/* msgpack for tests: build messages from a short format string, decode frames, and read
 * fields by dotted path, so a test reads like the behaviour it checks. */
#pragma once
#include <msgpack.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Builds one msgpack value from fmt and returns it in a malloc'd buffer (*len set).
 * Format: {k: v, ...} is a map, [v, ...] an array; nil true false; numbers (-3, 42, 1.5);
 * bare words (sys.ping, args) and "quoted text" are strings. Directives take arguments:
 *   %u unsigned, %d int, %U uint64_t, %D int64_t, %f double, %t bool (int), %s string
 *   (NULL packs nil), %b bin (const void *, size_t), %m raw msgpack inserted as one value
 *   (const void *, size_t).
 * A malformed format is a bug in the test: it aborts with a message. */
uint8_t *tmsg_build(size_t *len, const char *fmt, ...);
uint8_t *tmsg_vbuild(size_t *len, const char *fmt, va_list ap);

/* A decoded message; owns a copy of its bytes (strings point into it). */
struct tmsg;

/* Decodes exactly one msgpack value filling data; NULL when data is anything else. */
struct tmsg *tmsg_decode(const void *data, size_t len);
void tmsg_free(struct tmsg *m);
const msgpack_object *tmsg_root(const struct tmsg *m);
/* The message as text, for failure messages; valid until tmsg_free. */
const char *tmsg_text(struct tmsg *m);

/* Follows a dotted path of map keys ("error.code") from obj; "" is obj itself. NULL when a
 * key is missing or a step is not a map. obj may be NULL. */
const msgpack_object *tmsg_get(const msgpack_object *obj, const char *path);

/* Path readers on a message's root. False when the field is missing or of another type. */
bool tmsg_has(const struct tmsg *m, const char *path);
bool tmsg_str_is(const struct tmsg *m, const char *path, const char *s);
bool tmsg_uint(const struct tmsg *m, const char *path, uint64_t *out);
bool tmsg_uint_is(const struct tmsg *m, const char *path, uint64_t v);
bool tmsg_bool_is(const struct tmsg *m, const char *path, bool v);
bool tmsg_is_map(const struct tmsg *m, const char *path);

/* Envelope shapes (PROTOCOL.md). */
bool tmsg_is_event(const struct tmsg *m, const char *ev);
/* {ev:"error", data:{code}} with this code (any code when code is NULL). */
bool tmsg_is_error_event(const struct tmsg *m, const char *code);
/* {id, ok:true, data}. */
bool tmsg_is_success(const struct tmsg *m, uint64_t id);
/* {id, ok:false, error:{code, message}} with this code, and this field unless field is NULL. */
bool tmsg_is_failure(const struct tmsg *m, uint64_t id, const char *code, const char *field);
