/* Unit tests for core/csv: RFC 4180 quoting, line endings, a byte order mark, bounds on
 * fields and records, UTF-8 checks, and where malformed text is reported. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/csv.h"

static void open_text(struct csv_reader *r, const char *text, size_t max_fields,
                      size_t max_field)
{
    assert_int_equal(csv_init(r, text, strlen(text), max_fields, max_field), 0);
}

static void expect_record(struct csv_reader *r, size_t line, size_t n, const char *const *want)
{
    assert_int_equal(csv_next(r), CSV_RECORD);
    assert_int_equal(r->record_line, line);
    assert_int_equal(r->n_fields, n);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(r->fields[i].s, want[i]);
        assert_int_equal(r->fields[i].len, strlen(want[i]));
        assert_int_equal(r->fields[i].flags, 0);
    }
}

static void test_plain_lf_and_crlf(void **state)
{
    (void)state;
    struct csv_reader r;
    open_text(&r, "a,b,c\n1,,3\r\nx,y,z", 8, 64);
    expect_record(&r, 1, 3, (const char *[]){ "a", "b", "c" });
    expect_record(&r, 2, 3, (const char *[]){ "1", "", "3" });
    expect_record(&r, 3, 3, (const char *[]){ "x", "y", "z" });
    assert_int_equal(csv_next(&r), CSV_END);
    assert_int_equal(csv_next(&r), CSV_END);
    csv_free(&r);
}

static void test_quoted(void **state)
{
    (void)state;
    struct csv_reader r;
    /* A comma, a CRLF and an LF inside quotes, an escaped quote, an empty quoted field. */
    open_text(&r, "\"a,b\",\"line1\r\nline2\nline3\",\"say \"\"hi\"\"\",\"\"\r\nnext,2,3,4\r\n",
              8, 64);
    expect_record(&r, 1, 4,
                  (const char *[]){ "a,b", "line1\r\nline2\nline3", "say \"hi\"", "" });
    /* The record after a quoted field with two line breaks starts on line 4. */
    expect_record(&r, 4, 4, (const char *[]){ "next", "2", "3", "4" });
    assert_int_equal(csv_next(&r), CSV_END);
    csv_free(&r);
}

static void test_bom_empty_lines_and_trailing_comma(void **state)
{
    (void)state;
    struct csv_reader r;
    open_text(&r, "\xEF\xBB\xBFname,no\n\n\r\nअनन्या,1,\n", 8, 64);
    expect_record(&r, 1, 2, (const char *[]){ "name", "no" });
    expect_record(&r, 4, 3, (const char *[]){ "अनन्या", "1", "" });
    assert_int_equal(csv_next(&r), CSV_END);
    csv_free(&r);
}

static void test_bounds(void **state)
{
    (void)state;
    struct csv_reader r;
    open_text(&r, "abcdef,\"ghijkl\",x,y\nok\n", 3, 4);
    assert_int_equal(csv_next(&r), CSV_RECORD);
    assert_true(r.too_many_fields);
    assert_int_equal(r.n_fields, 3);
    assert_int_equal(r.total_fields, 4);
    assert_string_equal(r.fields[0].s, "abcd");
    assert_int_equal(r.fields[0].flags, CSV_F_TOO_LONG);
    assert_string_equal(r.fields[1].s, "ghij");
    assert_int_equal(r.fields[1].flags, CSV_F_TOO_LONG);
    assert_int_equal(r.fields[2].flags, 0);
    /* The reader goes on after a record that broke a bound. */
    expect_record(&r, 2, 1, (const char *[]){ "ok" });
    assert_false(r.too_many_fields);
    csv_free(&r);
}

static void test_bad_utf8_is_flagged(void **state)
{
    (void)state;
    struct csv_reader r;
    open_text(&r, "ok,bad\xC3\x28,\xED\xA0\x80\nnext\n", 8, 64);
    assert_int_equal(csv_next(&r), CSV_RECORD);
    assert_int_equal(r.n_fields, 3);
    assert_int_equal(r.fields[0].flags, 0);
    assert_int_equal(r.fields[1].flags, CSV_F_BAD_UTF8);
    assert_int_equal(r.fields[2].flags, CSV_F_BAD_UTF8); /* a surrogate */
    expect_record(&r, 2, 1, (const char *[]){ "next" });
    csv_free(&r);

    static const char with_nul[] = "a\0b,c\n";
    assert_int_equal(csv_init(&r, with_nul, sizeof with_nul - 1, 8, 64), 0);
    assert_int_equal(csv_next(&r), CSV_RECORD);
    assert_int_equal(r.fields[0].flags, CSV_F_BAD_UTF8);
    csv_free(&r);
}

static void test_errors(void **state)
{
    (void)state;
    struct csv_reader r;
    open_text(&r, "a,b\n1,\"open\nstill open", 8, 64);
    expect_record(&r, 1, 2, (const char *[]){ "a", "b" });
    assert_int_equal(csv_next(&r), CSV_ERROR);
    assert_string_equal(r.err, "a quoted field is not closed");
    assert_int_equal(r.err_line, 2);
    assert_int_equal(r.err_field, 2);
    assert_int_equal(csv_next(&r), CSV_END);
    csv_free(&r);

    open_text(&r, "a,b\n\n\"x\"y,z\n", 8, 64);
    expect_record(&r, 1, 2, (const char *[]){ "a", "b" });
    assert_int_equal(csv_next(&r), CSV_ERROR);
    assert_string_equal(r.err, "text after a closing quote");
    assert_int_equal(r.err_line, 3);
    assert_int_equal(r.err_field, 1);
    csv_free(&r);
}

static void test_lenient_quote_and_big_record(void **state)
{
    (void)state;
    struct csv_reader r;
    open_text(&r, "it's a \"b\",c", 8, 64);
    expect_record(&r, 1, 2, (const char *[]){ "it's a \"b\"", "c" });
    csv_free(&r);

    /* A record larger than the reader's first buffer. */
    char big[4000];
    memset(big, 'x', sizeof big);
    for (size_t i = 100; i < sizeof big - 1; i += 100) {
        big[i] = ',';
    }
    big[sizeof big - 1] = '\0';
    open_text(&r, big, 64, 200);
    assert_int_equal(csv_next(&r), CSV_RECORD);
    assert_int_equal(r.n_fields, 40);
    for (size_t i = 1; i + 1 < r.n_fields; i++) { /* the last is one shorter */
        assert_int_equal(r.fields[i].len, 99);
        assert_int_equal(r.fields[i].s[0], 'x');
        assert_int_equal(r.fields[i].s[99], '\0');
    }
    csv_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_lf_and_crlf),
        cmocka_unit_test(test_quoted),
        cmocka_unit_test(test_bom_empty_lines_and_trailing_comma),
        cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_bad_utf8_is_flagged),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_lenient_quote_and_big_record),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
