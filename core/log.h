/* Structured logging: one line per event on stderr,
 * `ts=… level=… module=… msg="…" key=value …`. Callers pass ids, never tokens,
 * OTP codes or phone numbers. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_set_level(enum log_level level);
bool log_enabled(enum log_level level);
/* Parses "debug", "info", "warn" or "error". Returns 0, or -EINVAL. */
int log_parse_level(const char *s, enum log_level *out);

/* Writes one line. msg is a short fixed phrase; fields, if not NULL, is a printf format of
 * space-separated key=value pairs (string values should be quoted with log_quote rules in mind). */
void log_event(enum log_level level, const char *module, const char *msg, const char *fields, ...)
    __attribute__((format(printf, 4, 5)));
