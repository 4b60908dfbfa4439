/* academics/grades: the term percentage per subject (weights, absent, exempt, not entered),
 * the bands (default and a school's, checked), the overall, ranks and number formatting. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "academics/grades.h"

static void assert_near(double got, double want)
{
    if (fabs(got - want) > 1e-9) {
        fail_msg("got %.6f, expected %.6f", got, want);
    }
}

static void test_default_scale_bands(void **state)
{
    (void)state;
    struct grade_scale s;
    grades_default_scale(&s);
    assert_int_equal(s.n, 8);
    assert_int_equal(grades_scale_check(&s), 0);
    static const struct {
        double pct;
        const char *grade;
        double point;
    } cases[] = {
        { 100, "A1", 10 }, { 91, "A1", 10 }, { 90.99, "A2", 9 }, { 81, "A2", 9 },
        { 75, "B1", 8 },   { 61, "B2", 7 },  { 60.5, "C1", 6 },  { 41, "C2", 5 },
        { 40.99, "D", 4 }, { 33, "D", 4 },   { 32.99, "E", 0 },  { 0, "E", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct grade_band *b = grades_band(&s, cases[i].pct);
        assert_non_null(b);
        assert_string_equal(b->grade, cases[i].grade);
        assert_near(b->point, cases[i].point);
    }
}

static void test_scale_check(void **state)
{
    (void)state;
    struct grade_scale s = { .n = 3 };
    s.bands[0] = (struct grade_band){ 50, "B", 2 };
    s.bands[1] = (struct grade_band){ 0, "F", 0 };
    s.bands[2] = (struct grade_band){ 75, "A", 4 };
    assert_int_equal(grades_scale_check(&s), 0);
    assert_string_equal(s.bands[0].grade, "A"); /* sorted, greatest min first */
    assert_string_equal(s.bands[2].grade, "F");
    assert_string_equal(grades_band(&s, 74.99)->grade, "B");
    s.bands[2].min = 10; /* no band from 0 */
    assert_int_not_equal(grades_scale_check(&s), 0);
    s.bands[2].min = 50; /* two with the same min */
    assert_int_not_equal(grades_scale_check(&s), 0);
    s.bands[2].min = 0;
    s.bands[0].min = 100.5;
    assert_int_not_equal(grades_scale_check(&s), 0);
    struct grade_scale empty = { .n = 0 };
    assert_int_not_equal(grades_scale_check(&empty), 0);
}

/* Maths 45/50 (weight 1) and 80/100 (weight 3): (0.9 + 2.4) / 4 = 82.5 %, A2; the sums are
 * 125 of 150. Art 18/20 = 90 %. Overall (82.5 + 90) / 2 = 86.25. */
static void test_weighted_subjects_and_overall(void **state)
{
    (void)state;
    struct grade_scale s;
    grades_default_scale(&s);
    struct grade_card c = { .n_subjects = 2 };
    grades_subject_add(&c.subjects[0], 45, 50, 1, "present");
    grades_subject_add(&c.subjects[0], 80, 100, 3, "present");
    grades_subject_add(&c.subjects[0], 0, 100, 1, NULL); /* not entered: left out */
    grades_subject_add(&c.subjects[1], 18, 20, 1, "present");
    grades_card_finish(&c, &s);
    assert_int_equal(c.subjects[0].status, GRADE_GRADED);
    assert_near(c.subjects[0].percentage, 82.5);
    assert_near(c.subjects[0].marks, 125);
    assert_near(c.subjects[0].max, 150);
    assert_string_equal(c.subjects[0].band->grade, "A2");
    assert_near(c.subjects[1].percentage, 90);
    assert_true(c.overall.graded);
    assert_near(c.overall.percentage, 86.25);
    assert_string_equal(c.overall.band->grade, "A2");
    assert_near(c.overall.band->point, 9);
}

/* Absent counts 0; exempt is left out; a subject with only exempt marks has no grade and does
 * not count in the overall; a subject with nothing entered neither. */
static void test_absent_exempt_and_nothing(void **state)
{
    (void)state;
    struct grade_scale s;
    grades_default_scale(&s);
    struct grade_card c = { .n_subjects = 4 };
    grades_subject_add(&c.subjects[0], 0, 50, 1, "absent");
    grades_subject_add(&c.subjects[0], 60, 100, 3, "present");
    grades_subject_add(&c.subjects[1], 0, 20, 1, "exempt");
    grades_subject_add(&c.subjects[2], 0, 20, 1, NULL);
    grades_subject_add(&c.subjects[3], 0, 20, 1, "absent");
    grades_subject_add(&c.subjects[3], 5, 20, 1, "exempt");
    grades_card_finish(&c, &s);
    assert_near(c.subjects[0].percentage, 45);
    assert_near(c.subjects[0].marks, 60);
    assert_near(c.subjects[0].max, 150);
    assert_string_equal(c.subjects[0].band->grade, "C2");
    assert_int_equal(c.subjects[1].status, GRADE_EXEMPT);
    assert_null(c.subjects[1].band);
    assert_int_equal(c.subjects[2].status, GRADE_NONE);
    assert_int_equal(c.subjects[3].status, GRADE_ABSENT);
    assert_near(c.subjects[3].percentage, 0);
    assert_string_equal(c.subjects[3].band->grade, "E");
    assert_near(c.overall.percentage, 22.5); /* (45 + 0) / 2 */
    struct grade_card none = { .n_subjects = 1 };
    grades_card_finish(&none, &s);
    assert_false(none.overall.graded);
    assert_null(none.overall.band);
}

static void test_rounding_rank_and_format(void **state)
{
    (void)state;
    struct grade_scale s;
    grades_default_scale(&s);
    /* 2/3 of 100 = 66.67 (rounded), B2; 90.995 rounds to 91.00: A1 */
    struct grade_card c = { .n_subjects = 1 };
    grades_subject_add(&c.subjects[0], 2, 3, 1, "present");
    grades_card_finish(&c, &s);
    assert_near(c.subjects[0].percentage, 66.67);
    assert_string_equal(grades_band(&s, grades_round2(90.995))->grade, "A1");
    double others[] = { 90, 86.25, 70, 86.25 };
    assert_int_equal(grades_rank(86.25, others, 4), 2);
    assert_int_equal(grades_rank(95, others, 4), 1);
    assert_int_equal(grades_rank(10, others, 4), 5);
    assert_int_equal(grades_rank(10, NULL, 0), 1);
    char buf[32];
    assert_string_equal(grades_fmt(78.5, buf, sizeof buf), "78.5");
    assert_string_equal(grades_fmt(100, buf, sizeof buf), "100");
    assert_string_equal(grades_fmt(33.333, buf, sizeof buf), "33.33");
    assert_string_equal(grades_fmt(0, buf, sizeof buf), "0");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_scale_bands),
        cmocka_unit_test(test_scale_check),
        cmocka_unit_test(test_weighted_subjects_and_overall),
        cmocka_unit_test(test_absent_exempt_and_nothing),
        cmocka_unit_test(test_rounding_rank_and_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
