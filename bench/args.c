/* Command-line numbers for the benchmarks (see args.h). */
#include "bench/args.h"

#include <errno.h>
#include <stdlib.h>

bool bench_parse_number(const char *s, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end != '\0' || errno != 0 || !(v >= min && v <= max)) {
        return false;
    }
    *out = v;
    return true;
}

bool bench_parse_count(const char *s, double min, double max, size_t *out)
{
    double v;
    if (!bench_parse_number(s, min, max, &v) || v != (double)(size_t)v) {
        return false;
    }
    *out = (size_t)v;
    return true;
}
