/* Unit tests for core/phone: normalising what people type to E.164, and refusing the rest. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "core/phone.h"

/* Normalises the NUL-terminated s with default calling code cc. */
static int norm_cc(const char *s, const char *cc, char out[PHONE_MAX])
{
    memset(out, 'Z', PHONE_MAX);
    return phone_normalize(s, strlen(s), cc, out);
}

static int norm(const char *s, char out[PHONE_MAX])
{
    return norm_cc(s, "91", out);
}

static void assert_normalises(const char *in, const char *want)
{
    char out[PHONE_MAX];
    assert_int_equal(norm(in, out), 0);
    assert_string_equal(out, want);
}

static void assert_refused_cc(const char *in, const char *cc)
{
    char out[PHONE_MAX];
    assert_int_equal(norm_cc(in, cc, out), PHONE_E_INVALID);
}

static void assert_refused(const char *in)
{
    assert_refused_cc(in, "91");
}

static void test_normalise_keeps_e164_indian_mobile(void **state)
{
    (void)state;
    assert_normalises("+919876543210", "+919876543210");
}

static void test_normalise_adds_default_calling_code_to_national_number(void **state)
{
    (void)state;
    assert_normalises("9876543210", "+919876543210");
    assert_normalises("6000000000", "+916000000000");
}

static void test_normalise_uses_the_given_default_calling_code(void **state)
{
    (void)state;
    char out[PHONE_MAX];
    assert_int_equal(norm_cc("2025550123", "1", out), 0);
    assert_string_equal(out, "+12025550123");
    assert_int_equal(norm_cc("07911123456", "44", out), 0);
    assert_string_equal(out, "+447911123456");
}

static void test_normalise_drops_national_trunk_zero(void **state)
{
    (void)state;
    assert_normalises("09876543210", "+919876543210");
}

static void test_normalise_strips_spaces_dashes_dots_and_brackets(void **state)
{
    (void)state;
    assert_normalises("+91 98765-43210", "+919876543210");
    assert_normalises("(0) 98765.43210", "+919876543210");
    assert_normalises("  98 76 54 32 10  ", "+919876543210");
    assert_normalises("+1 (202) 555-0123", "+12025550123");
}

static void test_normalise_allows_spaces_before_leading_plus(void **state)
{
    (void)state;
    assert_normalises("  +919876543210", "+919876543210");
}

static void test_normalise_treats_00_prefix_as_plus(void **state)
{
    (void)state;
    assert_normalises("00919876543210", "+919876543210");
    assert_normalises("0044 7911 123456", "+447911123456");
}

static void test_normalise_accepts_other_countries_with_plus(void **state)
{
    (void)state;
    assert_normalises("+447911123456", "+447911123456");
    assert_normalises("+6591234567", "+6591234567");    /* Singapore: 10 digits in all */
}

static void test_normalise_accepts_8_and_15_digit_bounds(void **state)
{
    (void)state;
    assert_normalises("+12345678", "+12345678");
    assert_normalises("+123456789012345", "+123456789012345");
}

static void test_normalise_refuses_fewer_than_8_digits(void **state)
{
    (void)state;
    assert_refused("+1234567");
    assert_refused_cc("123456", "1");
}

static void test_normalise_refuses_more_than_15_digits(void **state)
{
    (void)state;
    assert_refused("+1234567890123456");
    /* Far more digits than the scratch buffer holds. */
    assert_refused("+1234567890123456789012345678901234567890123456789");
}

static void test_normalise_refuses_indian_number_of_wrong_length(void **state)
{
    (void)state;
    assert_refused("987654321");      /* 9 digits */
    assert_refused("98765432100");    /* 11 digits */
    assert_refused("+91987654321");
    assert_refused("+9198765432100");
}

static void test_normalise_refuses_indian_number_not_starting_6_to_9(void **state)
{
    (void)state;
    assert_refused("5876543210");
    assert_refused("+911123456789"); /* a Delhi landline: no SMS */
    assert_refused("+910876543210");
}

static void test_normalise_refuses_national_number_with_calling_code_typed_without_plus(
    void **state)
{
    (void)state;
    /* Without '+' or 00 the digits are national: 91 + 919876543210 is too long for India. */
    assert_refused("919876543210");
}

static void test_normalise_refuses_letters(void **state)
{
    (void)state;
    assert_refused("98765x3210");
    assert_refused("+91 98765 4321O");
    assert_refused("call 9876543210");
}

static void test_normalise_refuses_other_punctuation_and_tabs(void **state)
{
    (void)state;
    assert_refused("98765/43210");
    assert_refused("9876543210\t");
    assert_refused("9876543210\n");
    assert_refused("98765,43210");
}

static void test_normalise_refuses_nul_byte_inside_length(void **state)
{
    (void)state;
    char out[PHONE_MAX];
    static const char in[] = "98765\0" "43210";
    assert_int_equal(phone_normalize(in, sizeof in - 1, "91", out), PHONE_E_INVALID);
}

static void test_normalise_reads_only_len_bytes(void **state)
{
    (void)state;
    char out[PHONE_MAX];
    static const char in[] = "9876543210garbage";
    assert_int_equal(phone_normalize(in, 10, "91", out), 0);
    assert_string_equal(out, "+919876543210");
}

static void test_normalise_refuses_plus_not_at_start(void **state)
{
    (void)state;
    assert_refused("91+9876543210");
    assert_refused("9876543210+");
    assert_refused("++919876543210");
}

static void test_normalise_refuses_zero_after_plus(void **state)
{
    (void)state;
    assert_refused("+0919876543210");
    assert_refused("+0044791112345");
}

static void test_normalise_refuses_empty_and_punctuation_only(void **state)
{
    (void)state;
    char out[PHONE_MAX];
    assert_int_equal(phone_normalize("", 0, "91", out), PHONE_E_INVALID);
    assert_refused("+");
    assert_refused("   ");
    assert_refused("()-.");
    assert_refused("0");
    assert_refused("00");
}

static void test_normalise_output_is_nul_terminated_within_phone_max(void **state)
{
    (void)state;
    char out[PHONE_MAX + 1];
    out[PHONE_MAX] = 'Q';
    assert_int_equal(phone_normalize("+123456789012345", 16, "91", out), 0);
    assert_int_equal(strlen(out), PHONE_MAX - 1);
    assert_int_equal(out[PHONE_MAX], 'Q');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalise_keeps_e164_indian_mobile),
        cmocka_unit_test(test_normalise_adds_default_calling_code_to_national_number),
        cmocka_unit_test(test_normalise_uses_the_given_default_calling_code),
        cmocka_unit_test(test_normalise_drops_national_trunk_zero),
        cmocka_unit_test(test_normalise_strips_spaces_dashes_dots_and_brackets),
        cmocka_unit_test(test_normalise_allows_spaces_before_leading_plus),
        cmocka_unit_test(test_normalise_treats_00_prefix_as_plus),
        cmocka_unit_test(test_normalise_accepts_other_countries_with_plus),
        cmocka_unit_test(test_normalise_accepts_8_and_15_digit_bounds),
        cmocka_unit_test(test_normalise_refuses_fewer_than_8_digits),
        cmocka_unit_test(test_normalise_refuses_more_than_15_digits),
        cmocka_unit_test(test_normalise_refuses_indian_number_of_wrong_length),
        cmocka_unit_test(test_normalise_refuses_indian_number_not_starting_6_to_9),
        cmocka_unit_test(
            test_normalise_refuses_national_number_with_calling_code_typed_without_plus),
        cmocka_unit_test(test_normalise_refuses_letters),
        cmocka_unit_test(test_normalise_refuses_other_punctuation_and_tabs),
        cmocka_unit_test(test_normalise_refuses_nul_byte_inside_length),
        cmocka_unit_test(test_normalise_reads_only_len_bytes),
        cmocka_unit_test(test_normalise_refuses_plus_not_at_start),
        cmocka_unit_test(test_normalise_refuses_zero_after_plus),
        cmocka_unit_test(test_normalise_refuses_empty_and_punctuation_only),
        cmocka_unit_test(test_normalise_output_is_nul_terminated_within_phone_max),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
