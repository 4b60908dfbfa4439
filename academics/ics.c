/* The iCalendar writer (see ics.h). */
#include "academics/ics.h"

#include <stdbool.h>
#include <string.h>

void ics_escape_text(struct strbuf *sb, const char *s)
{
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        switch (*c) {
        case '\\':
        case ';':
        case ',':
            strbuf_append(sb, "\\", 1);
            strbuf_append(sb, (const char *)c, 1);
            break;
        case '\n':
            strbuf_append(sb, "\\n", 2);
            break;
        case '\r':
            if (c[1] != '\n') {
                strbuf_append(sb, "\\n", 2); /* a lone CR is a line break too */
            }
            break;
        case '\t':
            strbuf_append(sb, "\t", 1);
            break;
        default:
            if (*c >= 0x20 && *c != 0x7f) {
                strbuf_append(sb, (const char *)c, 1);
            }
            break;
        }
    }
}

/* Appends the logical line (len octets) folded: at most ICS_LINE_MAX octets per physical line
 * including the leading space of continuation lines, never inside a UTF-8 sequence. */
static void fold(struct strbuf *sb, const char *line, size_t len)
{
    size_t pos = 0;
    bool first = true;
    while (pos < len) {
        size_t room = first ? ICS_LINE_MAX : ICS_LINE_MAX - 1;
        size_t n = len - pos < room ? len - pos : room;
        if (pos + n < len) {
            /* Step back while the next octet continues a character (10xxxxxx). */
            while (n > 1 && ((unsigned char)line[pos + n] & 0xc0) == 0x80) {
                n--;
            }
        }
        if (!first) {
            strbuf_append(sb, " ", 1);
        }
        strbuf_append(sb, line + pos, n);
        strbuf_append(sb, "\r\n", 2);
        pos += n;
        first = false;
    }
    if (len == 0) {
        strbuf_append(sb, "\r\n", 2);
    }
}

static void line_of(struct strbuf *sb, const char *name, const char *value, bool text)
{
    struct strbuf l;
    strbuf_init(&l);
    strbuf_append(&l, name, strlen(name));
    strbuf_append(&l, ":", 1);
    if (text) {
        ics_escape_text(&l, value);
    } else {
        strbuf_append(&l, value, strlen(value));
    }
    fold(sb, l.data, l.len);
    strbuf_deinit(&l);
}

void ics_line(struct strbuf *sb, const char *name, const char *value)
{
    line_of(sb, name, value, false);
}

void ics_text(struct strbuf *sb, const char *name, const char *value)
{
    line_of(sb, name, value, true);
}

void ics_begin_calendar(struct strbuf *sb, const char *prodid, const char *name)
{
    ics_line(sb, "BEGIN", "VCALENDAR");
    ics_line(sb, "VERSION", "2.0");
    ics_text(sb, "PRODID", prodid);
    ics_line(sb, "CALSCALE", "GREGORIAN");
    ics_line(sb, "METHOD", "PUBLISH");
    if (name) {
        ics_text(sb, "X-WR-CALNAME", name);
    }
}

void ics_end_calendar(struct strbuf *sb)
{
    ics_line(sb, "END", "VCALENDAR");
}

void ics_weekly_event(struct strbuf *sb, const struct ics_weekly *ev)
{
    ics_line(sb, "BEGIN", "VEVENT");
    ics_text(sb, "UID", ev->uid);
    ics_line(sb, "DTSTAMP", ev->dtstamp);
    ics_line(sb, "DTSTART", ev->dtstart);
    ics_line(sb, "DTEND", ev->dtend);
    if (ev->until) {
        struct strbuf r;
        strbuf_init(&r);
        strbuf_printf(&r, "FREQ=WEEKLY;UNTIL=%s", ev->until);
        ics_line(sb, "RRULE", r.data);
        strbuf_deinit(&r);
    } else {
        ics_line(sb, "RRULE", "FREQ=WEEKLY");
    }
    ics_text(sb, "SUMMARY", ev->summary);
    if (ev->location) {
        ics_text(sb, "LOCATION", ev->location);
    }
    ics_line(sb, "END", "VEVENT");
}
