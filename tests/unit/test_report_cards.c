/* academics/report_cards.c without a database: the signed links (a round trip, expiry, every
 * single-character forgery, another key file, an older key generation after a rotation) and
 * the render queue (at most REPORT_CARDS_MAX_RENDERS drawing, the others waiting, every card
 * told once, on the loop). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "academics/report_card_pdf.h"
#include "academics/report_cards.h"
#include "core/crypto.h"

static void fresh_keys(struct crypto_keys *k, int versions)
{
    memset(k, 0, sizeof *k);
    for (int v = 1; v <= versions; v++) {
        struct crypto_keyset *ks = &k->sets[k->n++];
        ks->version = v;
        randombytes_buf(ks->data_key, sizeof ks->data_key);
        randombytes_buf(ks->index_key, sizeof ks->index_key);
        randombytes_buf(ks->otp_key, sizeof ks->otp_key);
    }
}

static const struct report_card_link LINK = {
    .student = 1234567, .term = 42, .school = 7, .expires = 2000000000,
};

static void test_link_round_trip_and_expiry(void **state)
{
    (void)state;
    assert_int_equal(crypto_init(), 0);
    struct crypto_keys k;
    fresh_keys(&k, 1);
    char token[REPORT_CARD_TOKEN_CHARS + 1];
    report_card_link_sign(&k, &LINK, token);
    assert_int_equal(strlen(token), REPORT_CARD_TOKEN_CHARS);
    assert_int_equal(strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_"),
                     REPORT_CARD_TOKEN_CHARS);
    struct report_card_link got;
    assert_int_equal(report_card_link_check(&k, token, strlen(token), LINK.expires - 1, &got),
                     RC_LINK_OK);
    assert_int_equal(got.student, LINK.student);
    assert_int_equal(got.term, LINK.term);
    assert_int_equal(got.school, LINK.school);
    assert_int_equal(got.expires, LINK.expires);
    assert_int_equal(report_card_link_check(&k, token, strlen(token), LINK.expires, &got),
                     RC_LINK_OK);
    assert_int_equal(report_card_link_check(&k, token, strlen(token), LINK.expires + 1, &got),
                     RC_LINK_EXPIRED);
    crypto_keys_wipe(&k);
}

static void test_forgeries(void **state)
{
    (void)state;
    struct crypto_keys k, other;
    fresh_keys(&k, 1);
    fresh_keys(&other, 1);
    char token[REPORT_CARD_TOKEN_CHARS + 1];
    report_card_link_sign(&k, &LINK, token);
    struct report_card_link got;
    /* Every character changed, one at a time (also in the expiry: an expired forgery is 404
     * rather than 410, the MAC is checked first). */
    for (size_t i = 0; i < REPORT_CARD_TOKEN_CHARS; i++) {
        char forged[REPORT_CARD_TOKEN_CHARS + 1];
        memcpy(forged, token, sizeof forged);
        forged[i] = forged[i] == 'A' ? 'B' : 'A';
        assert_int_equal(report_card_link_check(&k, forged, REPORT_CARD_TOKEN_CHARS, 0, &got),
                         RC_LINK_FORGED);
        assert_int_equal(report_card_link_check(&k, forged, REPORT_CARD_TOKEN_CHARS,
                                                LINK.expires + 100, &got),
                         RC_LINK_FORGED);
    }
    /* Another server's key; wrong lengths; characters outside base64url. */
    assert_int_equal(report_card_link_check(&other, token, REPORT_CARD_TOKEN_CHARS, 0, &got),
                     RC_LINK_FORGED);
    assert_int_equal(report_card_link_check(&k, token, REPORT_CARD_TOKEN_CHARS - 1, 0, &got),
                     RC_LINK_FORGED);
    assert_int_equal(report_card_link_check(&k, "", 0, 0, &got), RC_LINK_FORGED);
    char bad[REPORT_CARD_TOKEN_CHARS + 1];
    memcpy(bad, token, sizeof bad);
    bad[10] = '+';
    assert_int_equal(report_card_link_check(&k, bad, REPORT_CARD_TOKEN_CHARS, 0, &got),
                     RC_LINK_FORGED);
    crypto_keys_wipe(&k);
    crypto_keys_wipe(&other);
}

static void test_key_rotation(void **state)
{
    (void)state;
    struct crypto_keys old, both;
    fresh_keys(&both, 2);
    old = both;
    old.n = 1; /* before the rotation: version 1 only */
    char token[REPORT_CARD_TOKEN_CHARS + 1];
    report_card_link_sign(&old, &LINK, token);
    struct report_card_link got;
    /* After it, a link of the old generation still checks; a new one uses version 2. */
    assert_int_equal(report_card_link_check(&both, token, REPORT_CARD_TOKEN_CHARS, 0, &got),
                     RC_LINK_OK);
    char token2[REPORT_CARD_TOKEN_CHARS + 1];
    report_card_link_sign(&both, &LINK, token2);
    assert_int_equal(report_card_link_check(&old, token2, REPORT_CARD_TOKEN_CHARS, 0, &got),
                     RC_LINK_FORGED);
    assert_int_equal(report_card_link_check(&both, token2, REPORT_CARD_TOKEN_CHARS, 0, &got),
                     RC_LINK_OK);
    crypto_keys_wipe(&old);
    crypto_keys_wipe(&both);
}

/* ---- the render queue ---- */

#define N_CARDS 6

struct queue_run {
    int told[N_CARDS];
    int n_told;
    int max_drawing;
    size_t bytes[N_CARDS];
};

static struct queue_run run;

/* The gauge of cards drawing or waiting, from /metrics' text. */
static int gauge(const char *state)
{
    struct strbuf sb;
    strbuf_init(&sb);
    report_cards_render_metrics(&sb);
    char key[96];
    snprintf(key, sizeof key, "classment_report_cards_rendering{state=\"%s\"} ", state);
    const char *p = strstr(sb.data, key);
    int v = p ? atoi(p + strlen(key)) : -1;
    strbuf_deinit(&sb);
    return v;
}

static long long counter(const char *name)
{
    struct strbuf sb;
    strbuf_init(&sb);
    report_cards_render_metrics(&sb);
    char key[96];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(sb.data, key);
    long long v = p ? atoll(p + strlen(key)) : -1;
    strbuf_deinit(&sb);
    return v;
}

static void rendered(void *arg, int r, unsigned char *pdf, size_t len)
{
    int i = (int)(intptr_t)arg;
    assert_int_equal(r, 0);
    assert_non_null(pdf);
    assert_memory_equal(pdf, "%PDF", 4);
    run.told[i]++;
    run.bytes[i] = len;
    run.n_told++;
    int drawing = gauge("drawing");
    if (drawing > run.max_drawing) {
        run.max_drawing = drawing;
    }
    free(pdf);
}

static void test_queue_bounds_renders(void **state)
{
    (void)state;
    uv_loop_t loop;
    assert_int_equal(uv_loop_init(&loop), 0);
    static const struct report_card_subject subjects[] = {
        { .name = "Mathematics", .marks = "78.5", .max = "100", .grade = "B1" },
        { .name = "हिन्दी", .marks = "AB", .max = "100", .grade = "E" },
    };
    struct report_card rc = {
        .school = "School", .year = "2026-27", .term = "Term 1", .student = "आरव शर्मा",
        .admission_no = "A-1", .class_name = "5", .section = "A", .roll_no = 1,
        .subjects = subjects, .n_subjects = 2, .overall_percentage = "50", .overall_grade = "C2",
        .days_present = 3, .days_marked = 4, .remarks = "Good.", .class_teacher = "Meera",
    };
    long long before = counter("classment_report_cards_rendered_total");
    memset(&run, 0, sizeof run);
    for (int i = 0; i < N_CARDS; i++) {
        assert_int_equal(report_cards_render(&loop, &rc, rendered, (void *)(intptr_t)i), 0);
    }
    /* Nothing is told before the loop runs; two draw, the rest wait. */
    assert_int_equal(run.n_told, 0);
    assert_int_equal(gauge("drawing"), REPORT_CARDS_MAX_RENDERS);
    assert_int_equal(gauge("waiting"), N_CARDS - REPORT_CARDS_MAX_RENDERS);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(run.n_told, N_CARDS);
    for (int i = 0; i < N_CARDS; i++) {
        assert_int_equal(run.told[i], 1);
        assert_true(run.bytes[i] > 1000 && run.bytes[i] < 100 * 1024);
    }
    assert_true(run.max_drawing <= REPORT_CARDS_MAX_RENDERS);
    assert_int_equal(gauge("drawing"), 0);
    assert_int_equal(gauge("waiting"), 0);
    assert_int_equal(counter("classment_report_cards_rendered_total"), before + N_CARDS);
    assert_int_equal(report_cards_render(&loop, NULL, rendered, NULL), -EINVAL);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_link_round_trip_and_expiry),
        cmocka_unit_test(test_forgeries),
        cmocka_unit_test(test_key_rotation),
        cmocka_unit_test(test_queue_bounds_renders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
