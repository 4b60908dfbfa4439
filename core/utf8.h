/* UTF-8 validation for text that came from the network, before it reaches PostgreSQL (which
 * refuses invalid sequences with SQLSTATE 22021) or another client. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* True when s[0..len) is well-formed UTF-8 (RFC 3629: no overlong forms, no surrogates,
 * nothing above U+10FFFF) and holds no NUL byte. */
bool utf8_valid_text(const char *s, size_t len);
