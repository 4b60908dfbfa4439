/* Phone numbers: normalisation of what people type to E.164 (+919876543210), with a default
 * country for national numbers, and validation. */
#pragma once
#include <stddef.h>

/* Longest E.164 number plus '+' and NUL. */
#define PHONE_MAX 17

enum {
    PHONE_E_INVALID = 1, /* not a phone number we can send an SMS to */
};

/* Normalises in (len bytes, may contain spaces, '-', '.', '(' and ')') to E.164 in out.
 * default_cc is the calling code used for numbers without one ("91"). Indian numbers (+91)
 * must have 10 digits starting with 6-9; others 8 to 15 digits in all.
 * Returns 0 or PHONE_E_INVALID. */
int phone_normalize(const char *in, size_t len, const char *default_cc, char out[PHONE_MAX]);
