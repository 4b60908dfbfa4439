/* An iCalendar (RFC 5545) writer: content lines ending in CRLF, folded at 75 octets without
 * splitting a UTF-8 character, TEXT values escaped. Pure string building: no clock, no
 * database. */
#pragma once
#include <stddef.h>

#include "core/strbuf.h"

/* The longest content line, in octets, before the CRLF (RFC 5545 3.1). */
#define ICS_LINE_MAX 75

/* Appends the TEXT value s escaped (RFC 5545 3.3.11): backslash, semicolon and comma get a
 * backslash, a line break becomes \n, other control characters (but tab) are dropped. */
void ics_escape_text(struct strbuf *sb, const char *s);
/* Appends one content line "name:value" (value as is), folded and ended with CRLF. */
void ics_line(struct strbuf *sb, const char *name, const char *value);
/* The same with value as TEXT, escaped. */
void ics_text(struct strbuf *sb, const char *name, const char *value);

/* BEGIN:VCALENDAR with VERSION, PRODID, CALSCALE and, when name is set, X-WR-CALNAME. */
void ics_begin_calendar(struct strbuf *sb, const char *prodid, const char *name);
void ics_end_calendar(struct strbuf *sb);

/* A weekly event in floating local time. Dates and times in iCalendar's basic forms:
 * dtstamp "YYYYMMDDTHHMMSSZ"; dtstart, dtend and until "YYYYMMDDTHHMMSS". */
struct ics_weekly {
    const char *uid;
    const char *dtstamp;
    const char *dtstart;
    const char *dtend;
    const char *until;    /* NULL: no end */
    const char *summary;  /* TEXT */
    const char *location; /* TEXT; NULL: none */
};
void ics_weekly_event(struct strbuf *sb, const struct ics_weekly *ev);
