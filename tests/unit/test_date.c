/* core/date: wire dates "YYYY-MM-DD" and times "HH:MM". */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "core/date.h"

static void dates(void **state)
{
    (void)state;
    long ymd = 0;
    assert_int_equal(date_parse("2024-02-29", &ymd), DATE_OK);
    assert_int_equal(ymd, 20240229);
    assert_int_equal(date_parse("2000-02-29", NULL), DATE_OK);
    assert_int_equal(date_parse("1900-02-29", NULL), DATE_NOT_REAL);
    assert_int_equal(date_parse("2023-02-29", NULL), DATE_NOT_REAL);
    assert_int_equal(date_parse("2023-04-31", NULL), DATE_NOT_REAL);
    assert_int_equal(date_parse("2023-13-01", NULL), DATE_NOT_REAL);
    assert_int_equal(date_parse("2023-00-10", NULL), DATE_NOT_REAL);
    assert_int_equal(date_parse("2023-01-00", NULL), DATE_NOT_REAL);
    assert_int_equal(date_parse("0000-01-01", NULL), DATE_NOT_REAL);
    assert_int_equal(date_parse("2023-12-31", NULL), DATE_OK);
    assert_int_equal(date_parse("2023-1-01", NULL), DATE_BAD_FORMAT);
    assert_int_equal(date_parse("2023/01/01", NULL), DATE_BAD_FORMAT);
    assert_int_equal(date_parse("2023-01-01T", NULL), DATE_BAD_FORMAT);
    assert_int_equal(date_parse("2023-0a-01", NULL), DATE_BAD_FORMAT);
    assert_int_equal(date_parse("", NULL), DATE_BAD_FORMAT);
    assert_int_equal(date_parse(NULL, NULL), DATE_BAD_FORMAT);
}

static void times(void **state)
{
    (void)state;
    int m = -1;
    assert_int_equal(date_parse_time("00:00", &m), DATE_OK);
    assert_int_equal(m, 0);
    assert_int_equal(date_parse_time("23:59", &m), DATE_OK);
    assert_int_equal(m, 23 * 60 + 59);
    assert_int_equal(date_parse_time("08:05", &m), DATE_OK);
    assert_int_equal(m, 485);
    assert_int_equal(date_parse_time("24:00", NULL), DATE_NOT_REAL);
    assert_int_equal(date_parse_time("12:60", NULL), DATE_NOT_REAL);
    assert_int_equal(date_parse_time("8:05", NULL), DATE_BAD_FORMAT);
    assert_int_equal(date_parse_time("08-05", NULL), DATE_BAD_FORMAT);
    assert_int_equal(date_parse_time("08:05:00", NULL), DATE_BAD_FORMAT);
}

static void today(void **state)
{
    (void)state;
    long t = date_latest_today();
    assert_true(t > 20240101 && t < 30000101);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dates),
        cmocka_unit_test(times),
        cmocka_unit_test(today),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
