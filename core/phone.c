/* Phone number normalisation to E.164 (see phone.h). */
#include "core/phone.h"

#include <stdbool.h>
#include <string.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int phone_normalize(const char *in, size_t len, const char *default_cc, char out[PHONE_MAX])
{
    char digits[32];
    size_t n = 0;
    bool plus = false;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c == '+' && n == 0 && !plus) {
            plus = true;
        } else if (is_digit(c)) {
            if (n == sizeof digits) {
                return PHONE_E_INVALID;
            }
            digits[n++] = c;
        } else if (c != ' ' && c != '-' && c != '.' && c != '(' && c != ')') {
            return PHONE_E_INVALID;
        }
    }
    const char *d = digits;
    char full[40];
    size_t full_len;
    if (!plus && n > 2 && d[0] == '0' && d[1] == '0') {
        /* International prefix 00 means the same as '+'. */
        d += 2;
        n -= 2;
        plus = true;
    }
    if (plus) {
        memcpy(full, d, n);
        full_len = n;
    } else {
        /* A national number: drop the trunk prefix 0, add the default country code. */
        if (n > 0 && d[0] == '0') {
            d++;
            n--;
        }
        size_t cc = strlen(default_cc);
        if (cc + n > sizeof full) {
            return PHONE_E_INVALID;
        }
        memcpy(full, default_cc, cc);
        memcpy(full + cc, d, n);
        full_len = cc + n;
    }
    if (full_len < 8 || full_len > 15 || full[0] == '0') {
        return PHONE_E_INVALID;
    }
    if (full[0] == '9' && full[1] == '1') {
        if (full_len != 12 || full[2] < '6') {
            return PHONE_E_INVALID;
        }
    }
    out[0] = '+';
    memcpy(out + 1, full, full_len);
    out[full_len + 1] = '\0';
    return 0;
}
