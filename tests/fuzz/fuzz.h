/* Shared by the libFuzzer targets in tests/fuzz (see tests/fuzz/meson.build and
 * `tools/classment fuzz`): the server's configured limits, loaded once with every setting at
 * its default, the way classmentd starts without a CLASSMENT_* variable. */
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The defaults every target runs with (CLASSMENT_DB has no default and no target opens it; the
 * development environment spares the key file). */
static inline const char *fuzz_getenv(const char *name)
{
    if (__builtin_strcmp(name, "CLASSMENT_DB") == 0) {
        return "dbname=fuzz";
    }
    /* development: no key file needed */
    return __builtin_strcmp(name, "CLASSMENT_ENV") == 0 ? "development" : NULL;
}

static inline const struct config *fuzz_config(void)
{
    static struct config cfg;
    static int loaded;
    if (!loaded) {
        char err[256];
        if (config_load(&cfg, fuzz_getenv, err, sizeof err) != 0) {
            fprintf(stderr, "fuzz: the default configuration does not load: %s\n", err);
            abort();
        }
        loaded = 1;
    }
    return &cfg;
}

/* A broken invariant is a crash, so that libFuzzer keeps the input. */
#define FUZZ_ASSERT(cond)                                                                    \
    do {                                                                                     \
        if (!(cond)) {                                                                       \
            fprintf(stderr, "fuzz: %s:%d: %s\n", __FILE__, __LINE__, #cond);                 \
            abort();                                                                         \
        }                                                                                    \
    } while (0)
