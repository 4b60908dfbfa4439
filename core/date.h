/* Dates and times as the wire carries them: "YYYY-MM-DD" (a real date of the Gregorian
 * calendar) and "HH:MM" (00:00 to 23:59). Checked in C before PostgreSQL sees them, so that a
 * bad value is a bad_request naming its field, never an internal error from a cast. */
#pragma once
#include <stdbool.h>

enum date_check {
    DATE_OK = 0,
    DATE_BAD_FORMAT, /* not YYYY-MM-DD (or HH:MM) */
    DATE_NOT_REAL,   /* the shape is right, the day (or time) does not exist */
};

/* Checks s; on DATE_OK sets *ymd (may be NULL) to year * 10000 + month * 100 + day. */
enum date_check date_parse(const char *s, long *ymd);
/* Checks s "HH:MM"; on DATE_OK sets *minutes (may be NULL) to minutes since midnight. */
enum date_check date_parse_time(const char *s, int *minutes);
/* Today as YYYYMMDD where the day is furthest ahead on Earth (UTC+14): a date after it is in
 * the future for every school, whatever its time zone. */
long date_latest_today(void);
