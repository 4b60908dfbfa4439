/* Allocation helpers that abort on failure, so callers carry no ENOMEM paths.
 * Sizes that come from the network must be capped before they reach these. */
#pragma once
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Copies n bytes of s (which need not be NUL-terminated) and terminates the copy. */
char *xstrndup(const char *s, size_t n);
