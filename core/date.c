/* Wire dates and times (see date.h). */
#include "core/date.h"

#include <string.h>
#include <time.h>

static bool digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return false;
        }
    }
    return true;
}

static int number(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

enum date_check date_parse(const char *s, long *ymd)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-' || !digits(s, 4) ||
        !digits(s + 5, 2) || !digits(s + 8, 2)) {
        return DATE_BAD_FORMAT;
    }
    static const int month_days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int year = number(s, 4), month = number(s + 5, 2), day = number(s + 8, 2);
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (year < 1 || month < 1 || month > 12 || day < 1 ||
        day > month_days[month - 1] + (month == 2 && leap ? 1 : 0)) {
        return DATE_NOT_REAL;
    }
    if (ymd) {
        *ymd = year * 10000L + month * 100L + day;
    }
    return DATE_OK;
}

enum date_check date_parse_time(const char *s, int *minutes)
{
    if (!s || strlen(s) != 5 || s[2] != ':' || !digits(s, 2) || !digits(s + 3, 2)) {
        return DATE_BAD_FORMAT;
    }
    int h = number(s, 2), m = number(s + 3, 2);
    if (h > 23 || m > 59) {
        return DATE_NOT_REAL;
    }
    if (minutes) {
        *minutes = h * 60 + m;
    }
    return DATE_OK;
}

long date_latest_today(void)
{
    time_t now = time(NULL) + 14 * 3600;
    struct tm tm;
    gmtime_r(&now, &tm);
    return (tm.tm_year + 1900) * 10000L + (tm.tm_mon + 1) * 100L + tm.tm_mday;
}
