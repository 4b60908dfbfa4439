/* Strict number parsing for the benchmarks' command lines: the whole argument must be a
 * number within [min, max], so a typo is refused instead of read as 0. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* True with *out set when s is a number (strtod syntax) within [min, max]. */
bool bench_parse_number(const char *s, double min, double max, double *out);
/* Like bench_parse_number, for a whole number. */
bool bench_parse_count(const char *s, double min, double max, size_t *out);
