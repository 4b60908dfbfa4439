/* libFuzzer target: the iCalendar writer (academics/ics.c) with arbitrary TEXT values (the
 * names of subjects, rooms and calendars that people typed). The input is split at NUL bytes
 * into a calendar name, a summary and a location. The output must stay well-formed whatever
 * they hold: CRLF-terminated lines of at most 75 octets with no other CR or LF (no injected
 * property), continuation lines starting with a space and, for valid UTF-8, never with the
 * middle of a character; unfolded, each TEXT line is its name, a colon and the escaped value,
 * whose escapes are only \\ \; \, \n and whose control characters are only tabs. */
#include <string.h>

#include "academics/ics.h"
#include "core/utf8.h"
#include "tests/fuzz/fuzz.h"

/* Checks the physical lines of out[0..len) and unfolds them into *logical. */
static void check_lines(const char *out, size_t len, bool utf8, struct strbuf *logical)
{
    size_t pos = 0;
    while (pos < len) {
        const char *crlf = NULL;
        for (size_t i = pos; i + 1 < len; i++) {
            if (out[i] == '\r' && out[i + 1] == '\n') {
                crlf = out + i;
                break;
            }
        }
        FUZZ_ASSERT(crlf); /* every line ends with CRLF */
        size_t n = (size_t)(crlf - (out + pos));
        const char *line = out + pos;
        FUZZ_ASSERT(n <= ICS_LINE_MAX);
        FUZZ_ASSERT(!memchr(line, '\r', n) && !memchr(line, '\n', n));
        if (line[0] == ' ') {
            FUZZ_ASSERT(logical->len > 0); /* a continuation follows a line */
            if (utf8 && n > 1) {
                FUZZ_ASSERT(((unsigned char)line[1] & 0xc0) != 0x80);
            }
            strbuf_append(logical, line + 1, n - 1);
        } else {
            if (logical->len) {
                strbuf_append(logical, "\n", 1); /* logical lines, LF-separated */
            }
            strbuf_append(logical, line, n);
        }
        pos += n + 2;
    }
}

/* The escaped value must decode to s without its control characters (but tab), with each
 * line break (CRLF, LF or a lone CR) as one \n. */
static void check_escaped(const char *esc, size_t len, const char *s)
{
    struct strbuf want, got;
    strbuf_init(&want);
    strbuf_init(&got);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '\r' && c[1] == '\n') {
            continue;
        }
        if (*c == '\r' || *c == '\n') {
            strbuf_append(&want, "\n", 1);
        } else if (*c == '\t' || (*c >= 0x20 && *c != 0x7f)) {
            strbuf_append(&want, (const char *)c, 1);
        }
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)esc[i];
        FUZZ_ASSERT(c == '\t' || (c >= 0x20 && c != 0x7f));
        if (c == ';' || c == ',') {
            FUZZ_ASSERT(false); /* unescaped separator */
        }
        if (c == '\\') {
            FUZZ_ASSERT(i + 1 < len);
            char e = esc[++i];
            FUZZ_ASSERT(e == '\\' || e == ';' || e == ',' || e == 'n');
            strbuf_append(&got, e == 'n' ? "\n" : &esc[i], 1);
        } else {
            strbuf_append(&got, (const char *)&esc[i], 1);
        }
    }
    FUZZ_ASSERT(got.len == want.len && (got.len == 0 || memcmp(got.data, want.data, got.len) == 0));
    strbuf_deinit(&want);
    strbuf_deinit(&got);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 16384) {
        return 0;
    }
    char *copy = malloc(size + 3);
    FUZZ_ASSERT(copy);
    memcpy(copy, data, size);
    copy[size] = copy[size + 1] = copy[size + 2] = '\0';
    const char *name = copy;
    const char *summary = name + strlen(name) + 1;
    if (summary > copy + size) {
        summary = copy + size + 1;
    }
    const char *location = summary + strlen(summary) + 1;
    if (location > copy + size + 1) {
        location = copy + size + 2;
    }

    /* one TEXT line alone: unfolded, it is "SUMMARY:" and the escaped value */
    struct strbuf out, logical;
    strbuf_init(&out);
    strbuf_init(&logical);
    ics_text(&out, "SUMMARY", summary);
    check_lines(out.data, out.len, utf8_valid_text(summary, strlen(summary)), &logical);
    FUZZ_ASSERT(logical.len >= 8 && memcmp(logical.data, "SUMMARY:", 8) == 0);
    check_escaped(logical.data + 8, logical.len - 8, summary);
    strbuf_deinit(&out);
    strbuf_deinit(&logical);

    /* a whole calendar: still well-formed lines */
    strbuf_init(&out);
    strbuf_init(&logical);
    ics_begin_calendar(&out, "-//Classment//Timetable//EN", name[0] ? name : NULL);
    struct ics_weekly ev = {
        .uid = "tt-17-3@classment", .dtstamp = "20261204T071500Z",
        .dtstart = "20261207T091500", .dtend = "20261207T100000",
        .until = (size & 1) ? "20270331T235959" : NULL,
        .summary = summary, .location = location[0] ? location : NULL,
    };
    ics_weekly_event(&out, &ev);
    ics_end_calendar(&out);
    check_lines(out.data, out.len, false, &logical);
    strbuf_deinit(&out);
    strbuf_deinit(&logical);
    free(copy);
    return 0;
}
