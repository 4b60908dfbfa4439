/* Per-request memory: a bump allocator whose blocks are all freed together when the request
 * ends (in the spirit of h2o's request pool), so a handler that spans database round trips
 * keeps its copies of arguments and its state here instead of carrier structs with their own
 * free functions. */
#pragma once
#include <stdarg.h>
#include <stddef.h>

struct arena_block;

/* Embedded in its owner; a zeroed struct is an empty arena. */
struct arena {
    struct arena_block *head; /* newest block first */
    size_t used;              /* bytes used in head */
};

/* Zeroed memory of n bytes aligned for any type, valid until arena_deinit. Aborts on OOM. */
void *arena_alloc(struct arena *a, size_t n);
/* A NUL-terminated copy of n bytes of s (which need not be terminated). */
char *arena_strndup(struct arena *a, const char *s, size_t n);
char *arena_strdup(struct arena *a, const char *s);
struct strbuf;
/* Copies what sb holds ("" when empty) into the arena and frees sb's buffer. */
const char *arena_take_strbuf(struct arena *a, struct strbuf *sb);
/* printf into the arena. */
char *arena_printf(struct arena *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees every block, wiping them first (they may hold personal data); a stays usable. */
void arena_deinit(struct arena *a);
