/* A growable, always NUL-terminated string for building text (metrics, HTTP bodies). */
#pragma once
#include <stddef.h>

struct strbuf {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
};

void strbuf_init(struct strbuf *sb);
void strbuf_deinit(struct strbuf *sb);
void strbuf_append(struct strbuf *sb, const char *s, size_t len);
void strbuf_printf(struct strbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the string over to the caller (free with free()); sb is left empty. */
char *strbuf_release(struct strbuf *sb);
