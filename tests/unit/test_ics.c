/* Unit tests for academics/ics: TEXT escaping, CRLF line ends, folding at 75 octets without
 * splitting a UTF-8 character, and a whole calendar with a weekly event. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "academics/ics.h"

static char *escaped(const char *s)
{
    struct strbuf sb;
    strbuf_init(&sb);
    ics_escape_text(&sb, s);
    char *out = strbuf_release(&sb);
    return out ? out : calloc(1, 1);
}

static void test_text_escapes_backslash_semicolon_comma_and_newlines(void **state)
{
    (void)state;
    char *e = escaped("a\\b;c,d\ne\r\nf\rg");
    assert_string_equal(e, "a\\\\b\\;c\\,d\\ne\\nf\\ng");
    free(e);
    e = escaped("tab\tok, bell\x07 and del\x7f gone");
    assert_string_equal(e, "tab\tok\\, bell and del gone");
    free(e);
    e = escaped("Maths \xe2\x80\x94 5 A: room \"12\"");
    assert_string_equal(e, "Maths \xe2\x80\x94 5 A: room \"12\"");
    free(e);
}

/* Every line of text ends in CRLF, has no other CR or LF, and has at most 75 octets; no
 * line starts in the middle of a UTF-8 character. Returns the number of lines. */
static int check_lines(const char *text)
{
    int n = 0;
    const char *p = text;
    while (*p) {
        const char *crlf = strstr(p, "\r\n");
        assert_non_null(crlf);
        size_t len = (size_t)(crlf - p);
        assert_true(len <= ICS_LINE_MAX);
        assert_null(memchr(p, '\n', len));
        assert_null(memchr(p, '\r', len));
        unsigned char first = (unsigned char)(n > 0 && p[0] == ' ' ? p[1] : p[0]);
        assert_false((first & 0xc0) == 0x80);
        p = crlf + 2;
        n++;
    }
    return n;
}

/* Undoes folding (CRLF followed by a space) and the final CRLF. */
static char *unfold(const char *text)
{
    char *out = malloc(strlen(text) + 1), *o = out;
    for (const char *p = text; *p;) {
        if (p[0] == '\r' && p[1] == '\n' && p[2] == ' ') {
            p += 3;
        } else if (p[0] == '\r' && p[1] == '\n' && p[2] == '\0') {
            p += 2;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return out;
}

static void test_short_line_is_one_crlf_line(void **state)
{
    (void)state;
    struct strbuf sb;
    strbuf_init(&sb);
    ics_line(&sb, "VERSION", "2.0");
    assert_string_equal(sb.data, "VERSION:2.0\r\n");
    strbuf_deinit(&sb);
}

static void test_line_of_exactly_75_octets_is_not_folded(void **state)
{
    (void)state;
    char value[80];
    memset(value, 'x', 75 - 8);
    value[75 - 8] = '\0';
    struct strbuf sb;
    strbuf_init(&sb);
    ics_line(&sb, "SUMMARY", value); /* "SUMMARY:" is 8 octets */
    assert_int_equal(sb.len, 75 + 2);
    assert_int_equal(check_lines(sb.data), 1);
    ics_line(&sb, "SUMMARY", "xx");
    strbuf_deinit(&sb);

    strbuf_init(&sb);
    char longer[80];
    memset(longer, 'y', 76 - 8);
    longer[76 - 8] = '\0';
    ics_line(&sb, "SUMMARY", longer);
    assert_int_equal(check_lines(sb.data), 2);
    assert_memory_equal(sb.data + 75, "\r\n y\r\n", 6);
    strbuf_deinit(&sb);
}

static void test_long_ascii_is_folded_and_unfolds_back(void **state)
{
    (void)state;
    char value[400];
    for (size_t i = 0; i < sizeof value - 1; i++) {
        value[i] = (char)('a' + i % 26);
    }
    value[sizeof value - 1] = '\0';
    struct strbuf sb;
    strbuf_init(&sb);
    ics_line(&sb, "DESCRIPTION", value);
    int lines = check_lines(sb.data);
    assert_true(lines >= 6);
    char *u = unfold(sb.data);
    assert_string_equal(u + strlen("DESCRIPTION:"), value);
    assert_memory_equal(u, "DESCRIPTION:", 12);
    free(u);
    strbuf_deinit(&sb);
}

static void test_folding_never_splits_a_utf8_character(void **state)
{
    (void)state;
    /* Shifting the start by one octet at a time puts each octet of the 3-byte dash and the
     * 4-byte emoji at the fold boundary once. */
    for (int shift = 0; shift < 8; shift++) {
        char value[600];
        size_t n = 0;
        for (int i = 0; i < shift; i++) {
            value[n++] = 'x';
        }
        while (n < 500) {
            memcpy(value + n, "\xe2\x80\x94\xf0\x9f\x93\x9a\xc3\xa9", 9);
            n += 9;
        }
        value[n] = '\0';
        struct strbuf sb;
        strbuf_init(&sb);
        ics_text(&sb, "SUMMARY", value);
        check_lines(sb.data);
        char *u = unfold(sb.data);
        assert_string_equal(u + strlen("SUMMARY:"), value);
        free(u);
        strbuf_deinit(&sb);
    }
}

static void test_folded_escaped_text_unfolds_to_the_escaped_value(void **state)
{
    (void)state;
    const char *v = "Physics; lab, room 12\\B\nsecond line, with commas, semicolons; and "
                    "enough words to need a fold or two in the output of the writer";
    struct strbuf sb;
    strbuf_init(&sb);
    ics_text(&sb, "LOCATION", v);
    check_lines(sb.data);
    char *u = unfold(sb.data);
    char *e = escaped(v);
    assert_string_equal(u + strlen("LOCATION:"), e);
    free(e);
    free(u);
    strbuf_deinit(&sb);
}

static void test_calendar_with_a_weekly_event(void **state)
{
    (void)state;
    struct strbuf sb;
    strbuf_init(&sb);
    ics_begin_calendar(&sb, "-//Classment//Timetable//EN", "Timetable");
    ics_weekly_event(&sb, &(struct ics_weekly){ .uid = "timetable-7@classment",
                                                .dtstamp = "20261204T101500Z",
                                                .dtstart = "20260601T090000",
                                                .dtend = "20260601T094500",
                                                .until = "20270331T235959",
                                                .summary = "Maths \xe2\x80\x94 5 A",
                                                .location = "Room 1, east" });
    ics_weekly_event(&sb, &(struct ics_weekly){ .uid = "timetable-8@classment",
                                                .dtstamp = "20261204T101500Z",
                                                .dtstart = "20260602T090000",
                                                .dtend = "20260602T094500",
                                                .summary = "Art \xe2\x80\x94 5 A" });
    ics_end_calendar(&sb);
    check_lines(sb.data);
    const char *want =
        "BEGIN:VCALENDAR\r\n"
        "VERSION:2.0\r\n"
        "PRODID:-//Classment//Timetable//EN\r\n"
        "CALSCALE:GREGORIAN\r\n"
        "METHOD:PUBLISH\r\n"
        "X-WR-CALNAME:Timetable\r\n"
        "BEGIN:VEVENT\r\n"
        "UID:timetable-7@classment\r\n"
        "DTSTAMP:20261204T101500Z\r\n"
        "DTSTART:20260601T090000\r\n"
        "DTEND:20260601T094500\r\n"
        "RRULE:FREQ=WEEKLY;UNTIL=20270331T235959\r\n"
        "SUMMARY:Maths \xe2\x80\x94 5 A\r\n"
        "LOCATION:Room 1\\, east\r\n"
        "END:VEVENT\r\n"
        "BEGIN:VEVENT\r\n"
        "UID:timetable-8@classment\r\n"
        "DTSTAMP:20261204T101500Z\r\n"
        "DTSTART:20260602T090000\r\n"
        "DTEND:20260602T094500\r\n"
        "RRULE:FREQ=WEEKLY\r\n"
        "SUMMARY:Art \xe2\x80\x94 5 A\r\n"
        "END:VEVENT\r\n"
        "END:VCALENDAR\r\n";
    assert_string_equal(sb.data, want);
    strbuf_deinit(&sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_escapes_backslash_semicolon_comma_and_newlines),
        cmocka_unit_test(test_short_line_is_one_crlf_line),
        cmocka_unit_test(test_line_of_exactly_75_octets_is_not_folded),
        cmocka_unit_test(test_long_ascii_is_folded_and_unfolds_back),
        cmocka_unit_test(test_folding_never_splits_a_utf8_character),
        cmocka_unit_test(test_folded_escaped_text_unfolds_to_the_escaped_value),
        cmocka_unit_test(test_calendar_with_a_weekly_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
