/* Per-request bump allocator (see arena.h). */
#include "core/arena.h"

#include "core/strbuf.h"

#include <stdalign.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "core/xalloc.h"

/* Most requests need a few hundred bytes; a first block of 1 KiB serves them in one malloc. */
#define ARENA_BLOCK_MIN 1024

struct arena_block {
    struct arena_block *next;
    size_t cap;
    alignas(max_align_t) unsigned char mem[];
};

static size_t round_up(size_t n)
{
    size_t a = alignof(max_align_t);
    return (n + a - 1) / a * a;
}

void *arena_alloc(struct arena *a, size_t n)
{
    n = round_up(n ? n : 1);
    if (!a->head || a->head->cap - a->used < n) {
        size_t cap = n > ARENA_BLOCK_MIN ? n : ARENA_BLOCK_MIN;
        if (a->head && a->head->cap * 2 > cap && n <= a->head->cap) {
            cap = a->head->cap * 2;
        }
        struct arena_block *b = xmalloc(sizeof *b + cap);
        b->next = a->head;
        b->cap = cap;
        a->head = b;
        a->used = 0;
    }
    void *p = a->head->mem + a->used;
    a->used += n;
    memset(p, 0, n);
    return p;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_printf(struct arena *a, const char *fmt, ...)
{
    /* Most results (field paths, numbers) fit the stack buffer: one format, one copy. */
    char small[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return arena_strdup(a, "");
    }
    if ((size_t)n < sizeof small) {
        return arena_strndup(a, small, (size_t)n);
    }
    char *p = arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void arena_deinit(struct arena *a)
{
    struct arena_block *b = a->head;
    while (b) {
        struct arena_block *next = b->next;
        sodium_memzero(b->mem, b->cap);
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used = 0;
}

const char *arena_take_strbuf(struct arena *a, struct strbuf *sb)
{
    const char *s = arena_strdup(a, sb->data ? sb->data : "");
    strbuf_deinit(sb);
    return s;
}
