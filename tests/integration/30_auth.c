/* Login by phone and one-time code, sessions and their end, against a real classmentd
 * (PROTOCOL.md "Authentication"): codes read from the SMS outbox, wrong, expired, reused and
 * locked-out codes, the per-number, per-connection and per-address limits, resume, logout,
 * the session list and revocation (live connections closed with 4001), suspended schools and
 * deactivated users, and that an unknown number looks and takes the same as a registered one.
 * Also a verification sent in several frames, and racing verifications of one code.
 * Each test starts its own server (session re-check every second) on a fresh database with
 * one school made by classment-admin. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tcheck.h"
#include "tests/support/tclient.h"
#include "tests/support/tmsg.h"
#include "tests/support/tsys.h"
#include "tests/support/wsclient.h"

#define ADMIN_NAME "Asha Admin"
#define CODE_MESSAGE "wrong or expired code"
#define CLOSE_WAIT_MS 5000
/* CLASSMENT_SESSION_CHECK_S=1: suspended schools' connections close within a few seconds. */
#define SUSPEND_CLOSE_WAIT_MS 5000
/* A 43-character token that no session has. */
#define JUNK_TOKEN "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

struct fx {
    struct harness *h;
    int port;
    int64_t school;
    int64_t admin_id;
    char admin_phone[TAUTH_PHONE_MAX];
};

static int setup(void **state)
{
    static const char *const env[] = { "CLASSMENT_SESSION_CHECK_S=1", NULL };
    struct harness_opts opts = { .env = env };
    struct fx *fx = calloc(1, sizeof *fx);
    *state = fx;
    if (harness_start(&fx->h, &opts) != 0) {
        return -1;
    }
    fx->port = harness_port(fx->h);
    tauth_phone(fx->admin_phone, 1);
    fx->school = tauth_school_create(fx->h, "Green Valley School", ADMIN_NAME, fx->admin_phone,
                                     &fx->admin_id);
    return fx->school > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    struct fx *fx = *state;
    if (fx) {
        harness_free(fx->h);
        free(fx);
    }
    *state = NULL;
    return 0;
}

static struct wsclient *open_client(struct fx *fx)
{
    struct wsclient *c = tclient_open(fx->port);
    assert_non_null(c);
    return c;
}

static void login(struct fx *fx, const char *phone, struct tauth_login *l)
{
    if (tauth_login(fx->h, phone, NULL, NULL, NULL, l) != 0) {
        fail_msg("logging %s in failed", phone);
    }
}

static void login_admin(struct fx *fx, struct tauth_login *l)
{
    login(fx, fx->admin_phone, l);
}

/* Lets the number ask for a new code now: moves its codes 31 s into the past. */
static void age_codes(struct fx *fx, const char *seconds)
{
    assert_true(tauth_sql(fx->h, "UPDATE otp_codes SET created_at = created_at - $1::interval",
                          seconds, (const char *)NULL) >= 0);
}

/* auth.otp.request that must succeed, then the new code from the outbox. */
static void request_code(struct fx *fx, struct wsclient *c, const char *phone, char code[7])
{
    int seen = tauth_outbox_count(fx->h, phone);
    struct tmsg *m = tauth_call(c, "auth.otp.request", "{phone: %s}", phone);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);
    if (!tauth_outbox_wait_code(fx->h, phone, seen, code, 5000)) {
        fail_msg("no code for %s in the outbox", phone);
    }
}

/* A 6-digit code that differs from code in digit i. */
static void wrong_code(const char *code, int i, char out[7])
{
    memcpy(out, code, 7);
    out[i] = (char)('0' + (code[i] - '0' + 1) % 10);
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The outbox line sent to phone (the last one), copied into out. */
static bool outbox_line(struct fx *fx, const char *phone, char *out, size_t cap)
{
    char *text = tauth_outbox_text(fx->h);
    char to[64];
    snprintf(to, sizeof to, "\"to\":\"%s\"", phone);
    bool found = false;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
        }
        if (strstr(line, to)) {
            snprintf(out, cap, "%s", line);
            found = true;
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return found;
}

/* ---- login ---- */

static void test_login_through_the_outbox(void **state)
{
    struct fx *fx = *state;
    struct wsclient *c = open_client(fx);
    TAUTH_ERR("unauthenticated", NULL, c, "user.list", "{}");

    /* The number typed the national way is the same number. */
    int seen = tauth_outbox_count(fx->h, fx->admin_phone);
    struct tmsg *m = tauth_call(c, "auth.otp.request", "{phone: \"70000 00001\"}");
    assert_msg(tauth_is_ok(m), m);
    assert_msg(tmsg_uint_is(m, "data.ttl_s", 300), m);
    assert_msg(tmsg_uint_is(m, "data.resend_after_s", 30), m);
    assert_msg(tmsg_get(tmsg_root(m), "data")->via.map.size == 2, m);
    tmsg_free(m);
    char code[7];
    assert_true(tauth_outbox_wait_code(fx->h, fx->admin_phone, seen, code, 5000));
    assert_int_equal(strspn(code, "0123456789"), 6);
    char line[512];
    assert_true(outbox_line(fx, fx->admin_phone, line, sizeof line));
    char want[64];
    snprintf(want, sizeof want, "\"text\":\"%s ", code);
    if (!strstr(line, want)) {
        fail_msg("the SMS text does not start with the code: %s", line);
    }
    const char *at = strstr(line, "\"at\":");
    assert_non_null(at);
    long long at_ms = strtoll(at + 5, NULL, 10);
    assert_true(llabs(at_ms - (long long)tsys_wall_ms()) < 10000);

    m = tauth_call(c, "auth.otp.verify",
                   "{phone: %s, code: %s, device: {type: phone, os: \"android 14\", "
                   "app: \"1.4.2\"}}",
                   fx->admin_phone, code);
    assert_msg(tauth_is_ok(m), m);
    char token[TAUTH_TOKEN_MAX + 1];
    assert_msg(tauth_str(m, "data.token", token, sizeof token), m);
    assert_int_equal(strlen(token), 43);
    assert_int_equal(strspn(token, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                   "0123456789-_"),
                     43);
    int64_t expires_at = 0, id = 0, school = 0;
    assert_msg(tauth_int(m, "data.expires_at", &expires_at), m);
    /* Admin sessions last 12 hours. */
    int64_t want_exp = (int64_t)tsys_wall_ms() + 12 * 3600 * 1000LL;
    assert_true(llabs(expires_at - want_exp) < 60000);
    assert_msg(tauth_int(m, "data.user.id", &id) && id == fx->admin_id, m);
    assert_msg(tauth_int(m, "data.user.school", &school) && school == fx->school, m);
    assert_msg(tmsg_str_is(m, "data.user.role", "admin"), m);
    assert_msg(tmsg_str_is(m, "data.user.name", ADMIN_NAME), m);
    tmsg_free(m);
    /* The connection now acts as the admin. */
    TAUTH_OK(c, "user.list", "{}");

    /* Other roles' sessions last 60 days, and they are who they are. */
    char phone[TAUTH_PHONE_MAX];
    tauth_phone(phone, 100);
    int64_t teacher = tauth_user_create(c, "teacher", "Tara Teacher", phone);
    assert_true(teacher > 0);
    struct tauth_login t;
    login(fx, phone, &t);
    assert_int_equal(t.user_id, teacher);
    assert_string_equal(t.role, "teacher");
    assert_int_equal(t.school_id, fx->school);
    want_exp = (int64_t)tsys_wall_ms() + 60LL * 86400 * 1000;
    assert_true(llabs(t.expires_at - want_exp) < 60000);
    TAUTH_ERR("forbidden", NULL, t.c, "user.list", "{}");
    tauth_login_close(&t);
    wsclient_free(c);
    harness_passed(fx->h);
}

static void test_wrong_code_is_refused_and_the_right_one_still_works(void **state)
{
    struct fx *fx = *state;
    struct wsclient *c = open_client(fx);
    char code[7], bad[7];
    request_code(fx, c, fx->admin_phone, code);
    wrong_code(code, 5, bad);
    struct tmsg *m = tauth_call(c, "auth.otp.verify", "{phone: %s, code: %s}", fx->admin_phone,
                                bad);
    assert_msg(tauth_is_err(m, "unauthenticated", "code"), m);
    assert_msg(tmsg_str_is(m, "error.message", CODE_MESSAGE), m);
    tmsg_free(m);
    TAUTH_ERR("unauthenticated", NULL, c, "user.list", "{}");
    TAUTH_OK(c, "auth.otp.verify", "{phone: %s, code: %s}", fx->admin_phone, code);
    TAUTH_OK(c, "user.list", "{}");
    wsclient_free(c);
    harness_passed(fx->h);
}

static void test_expired_code_is_refused(void **state)
{
    struct fx *fx = *state;
    struct wsclient *c = open_client(fx);
    char code[7];
    request_code(fx, c, fx->admin_phone, code);
    assert_int_equal(tauth_sql(fx->h, "UPDATE otp_codes SET expires_at = now() - interval "
                                      "'1 second'",
                               (const char *)NULL),
                     1);
    struct tmsg *m = tauth_call(c, "auth.otp.verify", "{phone: %s, code: %s}", fx->admin_phone,
                                code);
    assert_msg(tauth_is_err(m, "unauthenticated", "code"), m);
    assert_msg(tmsg_str_is(m, "error.message", CODE_MESSAGE), m);
    tmsg_free(m);
    TAUTH_ERR("unauthenticated", NULL, c, "user.list", "{}");
    wsclient_free(c);
    harness_passed(fx->h);
}

static void test_code_is_single_use(void **state)
{
    struct fx *fx = *state;
    struct tauth_login l;
    login_admin(fx, &l);
    struct wsclient *c = open_client(fx);
    struct tmsg *m = tauth_call(c, "auth.otp.verify", "{phone: %s, code: %s}", fx->admin_phone,
                                l.code);
    assert_msg(tauth_is_err(m, "unauthenticated", "code"), m);
    assert_msg(tmsg_str_is(m, "error.message", CODE_MESSAGE), m);
    tmsg_free(m);
    /* Also not on the connection that used it. */
    TAUTH_ERR("unauthenticated", "code", l.c, "auth.otp.verify", "{phone: %s, code: %s}",
              fx->admin_phone, l.code);
    assert_int_equal(tauth_sql_int(fx->h, "SELECT count(*) FROM sessions", (const char *)NULL),
                     1);
    wsclient_free(c);
    tauth_login_close(&l);
    harness_passed(fx->h);
}

static void test_code_opens_one_session_when_two_verifications_race(void **state)
{
    struct fx *fx = *state;
    enum { N = 4 };
    struct wsclient *c[N];
    for (int i = 0; i < N; i++) {
        c[i] = open_client(fx);
    }
    char code[7];
    request_code(fx, c[0], fx->admin_phone, code);
    for (int i = 0; i < N; i++) {
        assert_int_equal(tclient_send(c[i], "{id: 7, op: auth.otp.verify, args: {phone: %s, "
                                            "code: %s}}",
                                      fx->admin_phone, code),
                         0);
    }
    int ok = 0;
    for (int i = 0; i < N; i++) {
        struct tmsg *m = tclient_reply(c[i], 7, 5000);
        if (tauth_is_ok(m)) {
            ok++;
        } else {
            assert_msg(tauth_is_err(m, "unauthenticated", "code"), m);
        }
        tmsg_free(m);
        wsclient_free(c[i]);
    }
    assert_int_equal(ok, 1);
    assert_int_equal(tauth_sql_int(fx->h, "SELECT count(*) FROM sessions", (const char *)NULL),
                     1);
    harness_passed(fx->h);
}

/* A request in several WebSocket frames is reassembled into a buffer of its exact size;
 * the code is the last thing in it, so reading past its 6 bytes reads past the buffer. */
static void test_verify_in_fragments_with_the_code_last(void **state)
{
    struct fx *fx = *state;
    struct wsclient *c = open_client(fx);
    char code[7];
    request_code(fx, c, fx->admin_phone, code);
    size_t len;
    uint8_t *msg = tmsg_build(&len, "{id: 9, op: auth.otp.verify, args: {phone: %s, code: %s}}",
                              fx->admin_phone, code);
    assert_int_equal(memcmp(msg + len - 6, code, 6), 0);
    assert_int_equal(wsclient_send_fragmented(c, WSCLIENT_OP_BINARY, msg, len, 3), 0);
    free(msg);
    struct tmsg *m = tclient_reply(c, 9, 5000);
    assert_msg(tauth_is_ok(m), m);
    tmsg_free(m);
    /* A wrong code the same way, and the server is still there. */
    char bad[7];
    wrong_code(code, 2, bad);
    msg = tmsg_build(&len, "{id: 10, op: auth.otp.verify, args: {phone: %s, code: %s}}",
                     fx->admin_phone, bad);
    assert_int_equal(wsclient_send_fragmented(c, WSCLIENT_OP_BINARY, msg, len, 2), 0);
    free(msg);
    m = tclient_reply(c, 10, 5000);
    assert_msg(tauth_is_err(m, "unauthenticated", "code"), m);
    tmsg_free(m);
    assert_true(tclient_ping(c, tauth_next_id()));
    assert_int_equal(harness_wait(fx->h, 0), -ETIMEDOUT);
    wsclient_free(c);
    harness_passed(fx->h);
}

static void test_five_wrong_tries_end_the_code(void **state)
{
    struct fx *fx = *state;
    struct wsclient *c = open_client(fx);
    char code[7], bad[7];
    request_code(fx, c, fx->admin_phone, code);
    for (int i = 0; i < 5; i++) {
        wrong_code(code, i, bad);
        struct tmsg *m = tauth_call(c, "auth.otp.verify", "{phone: %s, code: %s}",
                                    fx->admin_phone, bad);
        assert_msg(tauth_is_err(m, "unauthenticated", "code"), m);
        assert_msg(tmsg_str_is(m, "error.message", CODE_MESSAGE), m);
        tmsg_free(m);
    }
    /* The right code no longer works, and the refusal looks the same. */
    struct tmsg *m = tauth_call(c, "auth.otp.verify", "{phone: %s, code: %s}", fx->admin_phone,
                                code);
    assert_msg(tauth_is_err(m, "unauthenticated", "code"), m);
    assert_msg(tmsg_str_is(m, "error.message", CODE_MESSAGE), m);
    tmsg_free(m);
    assert_int_equal(tauth_sql_int(fx->h, "SELECT attempts FROM otp_codes", (const char *)NULL),
                     5);
    assert_int_equal(tauth_sql_int(fx->h, "SELECT count(*) FROM sessions", (const char *)NULL),
                     0);
    TAUTH_ERR("unauthenticated", NULL, c, "user.list", "{}");
    wsclient_free(c);
    harness_passed(fx->h);
}

static void test_newer_code_retires_the_older(void **state)
{
    struct fx *fx = *state;
    struct wsclient *c = open_client(fx);
    char first[7], second[7];
    request_code(fx, c, fx->admin_phone, first);
    age_codes(fx, "31 seconds");
    request_code(fx, c, fx->admin_phone, second);
    assert_int_equal(tauth_outbox_count(fx->h, fx->admin_phone), 2);
    if (strcmp(first, second) != 0) {
        TAUTH_ERR("unauthenticated", "code", c, "auth.otp.verify", "{phone: %s, code: %s}",
                  fx->admin_phone, first);
    }
    TAUTH_OK(c, "auth.otp.verify", "{phone: %s, code: %s}", fx->admin_phone, second);
    wsclient_free(c);
    harness_passed(fx->h);
}

static void test_malformed_phone_and_code_are_bad_requests(void **state)
{
    struct fx *fx = *state;
    static const char *const phones[] = {
        "12", "+1", "abcdefghij", "1234567890", "+91 12345 67890", "+9198765432101234",
        "9876543210x",
    };
    /* The limit on login requests is not what answers here: spread over connections. */
    struct wsclient *c = open_client(fx);
    for (size_t i = 0; i < sizeof phones / sizeof phones[0]; i++) {
        TAUTH_ERR("bad_request", "phone", c, "auth.otp.request", "{phone: %s}", phones[i]);
    }
    TAUTH_ERR("bad_request", "phone", c, "auth.otp.request", "{phone: \"\"}");
    TAUTH_ERR("bad_request", "phone", c, "auth.otp.request", "{phone: 9876543210}");
    TAUTH_ERR("bad_request", "phone", c, "auth.otp.request", "{}");
    TAUTH_ERR("bad_request", "phone", c, "auth.otp.verify", "{phone: \"12\", code: \"123456\"}");
    TAUTH_ERR("bad_request", "phone", c, "auth.otp.verify", "{code: \"123456\"}");
    wsclient_free(c);

    c = open_client(fx);
    static const char *const codes[] = { "12345", "1234567", "12a456", "12345 ", " 12345",
                                         "-12345", "１２３４５６" };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        TAUTH_ERR("bad_request", "code", c, "auth.otp.verify", "{phone: %s, code: %s}",
                  fx->admin_phone, codes[i]);
    }
    TAUTH_ERR("bad_request", "code", c, "auth.otp.verify", "{phone: %s, code: \"\"}",
              fx->admin_phone);
    TAUTH_ERR("bad_request", "code", c, "auth.otp.verify", "{phone: %s, code: 123456}",
              fx->admin_phone);
    TAUTH_ERR("bad_request", "code", c, "auth.otp.verify", "{phone: %s}", fx->admin_phone);
    TAUTH_ERR("bad_request", "device", c, "auth.otp.verify",
              "{phone: %s, code: \"123456\", device: phone}", fx->admin_phone);
    TAUTH_ERR("bad_request", "device.type", c, "auth.otp.verify",
              "{phone: %s, code: \"123456\", device: {type: 5}}", fx->admin_phone);
    TAUTH_ERR("bad_request", "device.os", c, "auth.otp.verify",
              "{phone: %s, code: \"123456\", device: {type: phone, os: [1]}}", fx->admin_phone);
    TAUTH_ERR("bad_request", "device.app", c, "auth.otp.verify",
              "{phone: %s, code: \"123456\", device: {app: "
              "\"0123456789012345678901234567890123456789\"}}",
              fx->admin_phone);
    /* Text must be UTF-8, nested strings too. */
    TAUTH_ERR("bad_request", "device.os", c, "auth.otp.verify",
              "{phone: %s, code: \"123456\", device: {type: phone, os: %s}}", fx->admin_phone,
              "android \xff\xfe");
    TAUTH_ERR("bad_request", "token", c, "auth.resume", "{}");
    TAUTH_ERR("bad_request", "token", c, "auth.resume", "{token: 42}");
    /* None of this made a code or a session. */
    assert_int_equal(tauth_sql_int(fx->h, "SELECT count(*) FROM otp_codes", (const char *)NULL),
                     0);
    assert_int_equal(tauth_sql_int(fx->h, "SELECT count(*) FROM sessions", (const char *)NULL),
                     0);
    wsclient_free(c);
    harness_passed(fx->h);
}

/* ---- limits ---- */

/* auth.otp.request that must be refused with rate_limited; returns retry_after_s. */
static int64_t request_limited(struct wsclient *c, const char *phone, char *message, size_t cap)
{
    struct tmsg *m = tauth_call(c, "auth.otp.request", "{phone: %s}", phone);
    int64_t wait_s = -1;
    assert_msg(tauth_is_err(m, "rate_limited", NULL), m);
    assert_msg(tauth_int(m, "error.retry_after_s", &wait_s), m);
    if (message) {
        assert_true(tauth_str(m, "error.message", message, cap));
    }
    tmsg_free(m);
    return wait_s;
}

static void test_second_request_within_30_s_is_rate_limited(void **state)
{
    struct fx *fx = *state;
    struct wsclient *c = open_client(fx);
    char code[7], unknown[TAUTH_PHONE_MAX];
    tauth_phone(unknown, 50001);
    request_code(fx, c, fx->admin_phone, code);
    char msg_known[128], msg_unknown[128];
    int64_t wait_known = request_limited(c, fx->admin_phone, msg_known, sizeof msg_known);
    assert_true(wait_known >= 29 && wait_known <= 30);
    /* An unknown number is limited alike. */
    TAUTH_OK(c, "auth.otp.request", "{phone: %s}", unknown);
    int64_t wait_unknown = request_limited(c, unknown, msg_unknown, sizeof msg_unknown);
    assert_true(wait_unknown >= 29 && wait_unknown <= 30);
    assert_string_equal(msg_known, msg_unknown);
    /* 20 s later, 10 s are left. */
    age_codes(fx, "20 seconds");
    int64_t wait = request_limited(c, fx->admin_phone, NULL, 0);
    if (wait < 9 || wait > 11) {
        fail_msg("20 s after a code, retry_after_s is %lld, expected about 10", (long long)wait);
    }
    /* After 30 s a new code comes. */
    age_codes(fx, "11 seconds");
    request_code(fx, c, fx->admin_phone, code);
    assert_int_equal(tauth_outbox_count(fx->h, fx->admin_phone), 2);
    assert_int_equal(tauth_outbox_count(fx->h, unknown), 0);
    wsclient_free(c);
    harness_passed(fx->h);
}

/* With less than a second of the 30 left, the client should be told to wait one second. */
static void test_retry_after_counts_down_to_the_last_second(void **state)
{
    struct fx *fx = *state;
    struct wsclient *c = open_client(fx);
    char code[7];
    request_code(fx, c, fx->admin_phone, code);
    age_codes(fx, "29.3 seconds");
    struct tmsg *m = tauth_call(c, "auth.otp.request", "{phone: %s}", fx->admin_phone);
    /* Slow machines may already be past the 30 s: then a new code is fine. */
    if (!tauth_is_ok(m)) {
        int64_t wait = -1;
        assert_msg(tauth_is_err(m, "rate_limited", NULL), m);
        assert_msg(tauth_int(m, "error.retry_after_s", &wait), m);
        if (wait > 2) {
            fail_msg("with under a second of the 30 s left, retry_after_s is %lld (expected 1)",
                     (long long)wait);
        }
    }
    tmsg_free(m);
    wsclient_free(c);
    harness_passed(fx->h);
}

static void test_at_most_five_codes_an_hour(void **state)
{
    struct fx *fx = *state;
    char unknown[TAUTH_PHONE_MAX];
    tauth_phone(unknown, 50002);
    const char *numbers[] = { fx->admin_phone, unknown };
    for (int n = 0; n < 2; n++) {
        struct wsclient *c = open_client(fx);
        for (int i = 0; i < 5; i++) {
            TAUTH_OK(c, "auth.otp.request", "{phone: %s}", numbers[n]);
            age_codes(fx, "31 seconds");
        }
        int64_t wait = request_limited(c, numbers[n], NULL, 0);
        /* The oldest code leaves the hour in about 3600 - 5 * 31 s. */
        if (wait < 3300 || wait > 3600) {
            fail_msg("the sixth code in an hour for %s: retry_after_s %lld, expected about "
                     "3445",
                     numbers[n], (long long)wait);
        }
        wsclient_free(c);
    }
    assert_int_equal(tauth_outbox_count(fx->h, fx->admin_phone), 5);
    assert_int_equal(tauth_outbox_count(fx->h, unknown), 0);
    harness_passed(fx->h);
}

static void test_connection_gets_10_login_requests_then_rate_limited(void **state)
{
    struct fx *fx = *state;
    struct wsclient *c = open_client(fx);
    for (int i = 0; i < 10; i++) {
        TAUTH_ERR("unauthenticated", "token", c, "auth.resume", "{token: %s}", JUNK_TOKEN);
    }
    struct tmsg *m = tauth_call(c, "auth.resume", "{token: %s}", JUNK_TOKEN);
    int64_t wait = -1;
    assert_msg(tauth_is_err(m, "rate_limited", NULL), m);
    assert_msg(tauth_int(m, "error.retry_after_s", &wait) && wait >= 1 && wait <= 6, m);
    tmsg_free(m);
    /* Every login-path op shares the budget. */
    char unknown[TAUTH_PHONE_MAX];
    tauth_phone(unknown, 50003);
    TAUTH_ERR("rate_limited", NULL, c, "auth.otp.request", "{phone: %s}", unknown);
    TAUTH_ERR("rate_limited", NULL, c, "auth.otp.verify", "{phone: %s, code: \"123456\"}",
              unknown);
    /* Other ops are not limited, and another connection is not. */
    assert_true(tclient_ping(c, tauth_next_id()));
    struct wsclient *c2 = open_client(fx);
    TAUTH_ERR("unauthenticated", "token", c2, "auth.resume", "{token: %s}", JUNK_TOKEN);
    TAUTH_OK(c2, "auth.otp.request", "{phone: %s}", unknown);
    wsclient_free(c2);
    wsclient_free(c);
    harness_passed(fx->h);
}

static void test_address_gets_60_login_requests_then_rate_limited(void **state)
{
    struct fx *fx = *state;
    enum { CONNS = 8, PER_CONN = 9 }; /* each under the connection's 10 */
    struct wsclient *c[CONNS];
    for (int i = 0; i < CONNS; i++) {
        c[i] = open_client(fx);
    }
    uint64_t start = tsys_mono_ms();
    for (int i = 0; i < CONNS; i++) {
        for (int k = 0; k < PER_CONN; k++) {
            /* Verifications count per address; resumes do not (see people/auth.c). */
            assert_int_equal(tclient_send(c[i], "{id: %u, op: auth.otp.verify, args: "
                                                "{phone: \"+919999988888\", code: \"000000\"}}",
                                          (unsigned)k + 1),
                             0);
        }
    }
    int answered = 0, limited = 0;
    for (int i = 0; i < CONNS; i++) {
        for (int k = 0; k < PER_CONN; k++) {
            struct tmsg *m = tclient_recv(c[i], 5000);
            assert_non_null(m);
            int64_t wait = -1;
            if (tauth_is_err(m, "rate_limited", NULL)) {
                assert_msg(tauth_int(m, "error.retry_after_s", &wait) && wait == 1, m);
                limited++;
            } else {
                assert_msg(tauth_is_err(m, "unauthenticated", "code"), m);
                answered++;
            }
            tmsg_free(m);
        }
    }
    double elapsed_s = (double)(tsys_mono_ms() - start) / 1000.0;
    if (limited == 0 || answered > 60 + (int)ceil(5 * elapsed_s) + 1) {
        fail_msg("%d of %d login requests from one address in %.2f s were answered, %d "
                 "limited; expected at most 60 plus 5 a second",
                 answered, CONNS * PER_CONN, elapsed_s, limited);
    }
    for (int i = 0; i < CONNS; i++) {
        wsclient_free(c[i]);
    }
    harness_passed(fx->h);
}

/* ---- sessions ---- */

static void test_resume_on_a_new_connection(void **state)
{
    struct fx *fx = *state;
    struct tauth_login l;
    login_admin(fx, &l);
    struct wsclient *c = open_client(fx);
    TAUTH_ERR("unauthenticated", NULL, c, "user.list", "{}");
    struct tmsg *m = tauth_call(c, "auth.resume", "{token: %s}", l.token);
    assert_msg(tauth_is_ok(m), m);
    int64_t v = 0;
    assert_msg(tauth_int(m, "data.expires_at", &v) && v == l.expires_at, m);
    assert_msg(tauth_int(m, "data.user.id", &v) && v == fx->admin_id, m);
    assert_msg(tauth_int(m, "data.user.school", &v) && v == fx->school, m);
    assert_msg(tmsg_str_is(m, "data.user.role", "admin"), m);
    assert_msg(tmsg_str_is(m, "data.user.name", ADMIN_NAME), m);
    assert_msg(!tmsg_has(m, "data.token"), m);
    tmsg_free(m);
    TAUTH_OK(c, "user.list", "{}");
    /* The resumed connection is the same session. */
    m = tauth_call(c, "auth.sessions.list", NULL);
    assert_msg(tauth_is_ok(m), m);
    const msgpack_object *list = tmsg_get(tmsg_root(m), "data");
    assert_msg(list->type == MSGPACK_OBJECT_ARRAY && list->via.array.size == 1, m);
    const msgpack_object *id = tmsg_get(&list->via.array.ptr[0], "id");
    const msgpack_object *cur = tmsg_get(&list->via.array.ptr[0], "current");
    assert_msg(id && id->via.u64 == (uint64_t)l.session_id && cur && cur->via.boolean, m);
    tmsg_free(m);

    struct wsclient *c2 = open_client(fx);
    char bad[TAUTH_TOKEN_MAX + 1];
    snprintf(bad, sizeof bad, "%s", l.token);
    bad[42] = bad[42] == 'A' ? 'B' : 'A';
    m = tauth_call(c2, "auth.resume", "{token: %s}", bad);
    assert_msg(tauth_is_err(m, "unauthenticated", "token"), m);
    tmsg_free(m);
    TAUTH_ERR("unauthenticated", "token", c2, "auth.resume", "{token: %s}", "x");
    TAUTH_ERR("bad_request", "token", c2, "auth.resume", "{token: %s}",
              "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA");
    TAUTH_ERR("unauthenticated", NULL, c2, "user.list", "{}");
    wsclient_free(c2);
    wsclient_free(c);
    tauth_login_close(&l);
    harness_passed(fx->h);
}

static void test_logout_ends_the_session_everywhere(void **state)
{
    struct fx *fx = *state;
    struct wsclient *anon = open_client(fx);
    TAUTH_ERR("unauthenticated", NULL, anon, "auth.logout", NULL);
    struct tauth_login l;
    login_admin(fx, &l);
    struct wsclient *c2 = open_client(fx);
    TAUTH_OK(c2, "auth.resume", "{token: %s}", l.token);

    struct tmsg *m = tauth_call(l.c, "auth.logout", NULL);
    assert_msg(tauth_is_ok(m), m);
    assert_msg(tmsg_is_map(m, "data") && tmsg_get(tmsg_root(m), "data")->via.map.size == 0, m);
    tmsg_free(m);
    /* This connection stays open and anonymous. */
    TAUTH_ERR("unauthenticated", NULL, l.c, "user.list", "{}");
    TAUTH_ERR("unauthenticated", NULL, l.c, "auth.sessions.list", NULL);
    assert_true(tclient_ping(l.c, tauth_next_id()));
    /* The other connection on the session is closed. */
    TAUTH_CLOSED_4001(c2, CLOSE_WAIT_MS);
    TAUTH_ERR("unauthenticated", "token", anon, "auth.resume", "{token: %s}", l.token);
    assert_int_equal(tauth_sql_int(fx->h, "SELECT count(*) FROM sessions WHERE revoked_at IS "
                                          "NOT NULL",
                                   (const char *)NULL),
                     1);
    wsclient_free(c2);
    wsclient_free(anon);
    tauth_login_close(&l);
    harness_passed(fx->h);
}

/* The element of a sessions list with this id, or NULL. */
static const msgpack_object *session_in(const struct tmsg *m, int64_t id)
{
    const msgpack_object *list = tmsg_get(tmsg_root(m), "data");
    if (!list || list->type != MSGPACK_OBJECT_ARRAY) {
        return NULL;
    }
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        const msgpack_object *eid = tmsg_get(e, "id");
        if (eid && eid->type == MSGPACK_OBJECT_POSITIVE_INTEGER && eid->via.u64 == (uint64_t)id) {
            return e;
        }
    }
    return NULL;
}

static bool str_at(const msgpack_object *o, const char *path, const char *want)
{
    const msgpack_object *v = tmsg_get(o, path);
    if (!want) {
        return v && v->type == MSGPACK_OBJECT_NIL;
    }
    return v && v->type == MSGPACK_OBJECT_STR && v->via.str.size == strlen(want) &&
           memcmp(v->via.str.ptr, want, v->via.str.size) == 0;
}

static bool bool_at(const msgpack_object *o, const char *path, bool want)
{
    const msgpack_object *v = tmsg_get(o, path);
    return v && v->type == MSGPACK_OBJECT_BOOLEAN && v->via.boolean == want;
}

static bool recent_at(const msgpack_object *o, const char *path)
{
    const msgpack_object *v = tmsg_get(o, path);
    return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
           llabs((long long)v->via.u64 - (long long)tsys_wall_ms()) < 60000;
}

static void test_sessions_list_shows_devices_and_the_current_one(void **state)
{
    struct fx *fx = *state;
    struct tauth_login a, b, c;
    assert_int_equal(tauth_login(fx->h, fx->admin_phone, "phone", "android 14", "1.4.2", &a), 0);
    age_codes(fx, "31 seconds");
    assert_int_equal(tauth_login(fx->h, fx->admin_phone, "tablet", "ios 17.2", "2.0.0", &b), 0);
    age_codes(fx, "31 seconds");
    login_admin(fx, &c);
    assert_true(a.session_id != b.session_id && b.session_id != c.session_id);

    struct tmsg *m = tauth_call(a.c, "auth.sessions.list", NULL);
    assert_msg(tauth_is_ok(m), m);
    assert_msg(tmsg_get(tmsg_root(m), "data")->via.array.size == 3, m);
    const msgpack_object *sa = session_in(m, a.session_id);
    const msgpack_object *sb = session_in(m, b.session_id);
    const msgpack_object *sc = session_in(m, c.session_id);
    assert_msg(sa && sb && sc, m);
    assert_msg(str_at(sa, "device.type", "phone") && str_at(sa, "device.os", "android 14") &&
                   str_at(sa, "device.app", "1.4.2"),
               m);
    assert_msg(str_at(sb, "device.type", "tablet") && str_at(sb, "device.os", "ios 17.2") &&
                   str_at(sb, "device.app", "2.0.0"),
               m);
    assert_msg(str_at(sc, "device.type", NULL) && str_at(sc, "device.os", NULL) &&
                   str_at(sc, "device.app", NULL),
               m);
    assert_msg(bool_at(sa, "current", true) && bool_at(sb, "current", false) &&
                   bool_at(sc, "current", false),
               m);
    assert_msg(recent_at(sa, "created_at") && recent_at(sa, "last_seen_at"), m);
    assert_msg(recent_at(sc, "created_at") && recent_at(sc, "last_seen_at"), m);
    tmsg_free(m);

    m = tauth_call(b.c, "auth.sessions.list", NULL);
    assert_msg(tauth_is_ok(m), m);
    sa = session_in(m, a.session_id);
    sb = session_in(m, b.session_id);
    assert_msg(sa && sb && bool_at(sa, "current", false) && bool_at(sb, "current", true), m);
    tmsg_free(m);

    /* Another user sees only their own. */
    char phone[TAUTH_PHONE_MAX];
    tauth_phone(phone, 100);
    assert_true(tauth_user_create(a.c, "parent", "Pia Parent", phone) > 0);
    struct tauth_login p;
    login(fx, phone, &p);
    m = tauth_call(p.c, "auth.sessions.list", NULL);
    assert_msg(tauth_is_ok(m), m);
    assert_msg(tmsg_get(tmsg_root(m), "data")->via.array.size == 1 && session_in(m, p.session_id),
               m);
    tmsg_free(m);
    tauth_login_close(&p);
    tauth_login_close(&a);
    tauth_login_close(&b);
    tauth_login_close(&c);
    harness_passed(fx->h);
}

static void test_revoke_closes_the_other_sessions_connections(void **state)
{
    struct fx *fx = *state;
    struct tauth_login a, b, other;
    assert_int_equal(tauth_login(fx->h, fx->admin_phone, "phone", "android", "1", &a), 0);
    age_codes(fx, "31 seconds");
    assert_int_equal(tauth_login(fx->h, fx->admin_phone, "laptop", "linux", "1", &b), 0);
    struct wsclient *b2 = open_client(fx);
    TAUTH_OK(b2, "auth.resume", "{token: %s}", b.token);
    char phone[TAUTH_PHONE_MAX];
    tauth_phone(phone, 100);
    assert_true(tauth_user_create(a.c, "teacher", "Tara Teacher", phone) > 0);
    login(fx, phone, &other);

    struct tmsg *m = tauth_call(a.c, "auth.sessions.revoke", "{id: %D}", b.session_id);
    assert_msg(tauth_is_ok(m), m);
    assert_msg(tmsg_is_map(m, "data") && tmsg_get(tmsg_root(m), "data")->via.map.size == 0, m);
    tmsg_free(m);
    TAUTH_CLOSED_4001(b.c, CLOSE_WAIT_MS);
    TAUTH_CLOSED_4001(b2, CLOSE_WAIT_MS);
    struct wsclient *c = open_client(fx);
    TAUTH_ERR("unauthenticated", "token", c, "auth.resume", "{token: %s}", b.token);
    m = tauth_call(a.c, "auth.sessions.list", NULL);
    assert_msg(tauth_is_ok(m) && tmsg_get(tmsg_root(m), "data")->via.array.size == 1, m);
    tmsg_free(m);
    /* Ended sessions, other users' sessions and junk are not found or refused. */
    TAUTH_ERR("not_found", "id", a.c, "auth.sessions.revoke", "{id: %D}", b.session_id);
    TAUTH_ERR("not_found", "id", a.c, "auth.sessions.revoke", "{id: %D}", other.session_id);
    TAUTH_ERR("not_found", "id", a.c, "auth.sessions.revoke", "{id: 999999}");
    TAUTH_ERR("bad_request", "id", a.c, "auth.sessions.revoke", "{id: 0}");
    TAUTH_ERR("bad_request", "id", a.c, "auth.sessions.revoke", "{id: -3}");
    TAUTH_ERR("bad_request", "id", a.c, "auth.sessions.revoke", "{id: x}");
    TAUTH_ERR("bad_request", "id", a.c, "auth.sessions.revoke", "{}");
    /* The other user's session goes on. */
    assert_true(tclient_quiet(other.c, 300));
    TAUTH_OK(other.c, "auth.sessions.list", NULL);
    TAUTH_OK(c, "auth.resume", "{token: %s}", other.token);
    TAUTH_OK(a.c, "user.list", "{}");
    wsclient_free(c);
    wsclient_free(b2);
    tauth_login_close(&a);
    tauth_login_close(&b);
    tauth_login_close(&other);
    harness_passed(fx->h);
}

static void test_revoking_the_current_session_answers_then_closes(void **state)
{
    struct fx *fx = *state;
    struct tauth_login a;
    login_admin(fx, &a);
    uint64_t id = tauth_next_id();
    assert_int_equal(tclient_send(a.c, "{id: %U, op: auth.sessions.revoke, args: {id: %D}}", id,
                                  a.session_id),
                     0);
    struct tmsg *m = tclient_recv(a.c, 5000);
    assert_msg(tmsg_is_success(m, id), m);
    tmsg_free(m);
    TAUTH_CLOSED_4001(a.c, CLOSE_WAIT_MS);
    tauth_login_close(&a);
    harness_passed(fx->h);
}

static void test_expired_session_closes_its_connections(void **state)
{
    struct fx *fx = *state;
    struct tauth_login a, b;
    login_admin(fx, &a);
    age_codes(fx, "31 seconds");
    login_admin(fx, &b);
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)a.session_id);
    assert_int_equal(tauth_sql(fx->h, "UPDATE sessions SET expires_at = now() - interval "
                                      "'1 second' WHERE id = $1",
                               id, (const char *)NULL),
                     1);
    /* The re-check (every second here) ends it; the other session goes on. */
    TAUTH_CLOSED_4001(a.c, SUSPEND_CLOSE_WAIT_MS);
    struct wsclient *c = open_client(fx);
    TAUTH_ERR("unauthenticated", "token", c, "auth.resume", "{token: %s}", a.token);
    TAUTH_OK(c, "auth.resume", "{token: %s}", b.token);
    TAUTH_OK(b.c, "user.list", "{}");
    struct tmsg *m = tauth_call(b.c, "auth.sessions.list", NULL);
    assert_msg(tauth_is_ok(m) && tmsg_get(tmsg_root(m), "data")->via.array.size == 1 &&
                   session_in(m, b.session_id),
               m);
    tmsg_free(m);
    wsclient_free(c);
    tauth_login_close(&a);
    tauth_login_close(&b);
    harness_passed(fx->h);
}

/* ---- schools and users that end ---- */

static void test_suspended_school_closes_connections_and_refuses_login(void **state)
{
    struct fx *fx = *state;
    struct tauth_login admin, teacher, other;
    login_admin(fx, &admin);
    char teacher_phone[TAUTH_PHONE_MAX], parent_phone[TAUTH_PHONE_MAX], b_phone[TAUTH_PHONE_MAX];
    tauth_phone(teacher_phone, 100);
    tauth_phone(parent_phone, 101);
    tauth_phone(b_phone, 200);
    assert_true(tauth_user_create(admin.c, "teacher", "Tara Teacher", teacher_phone) > 0);
    assert_true(tauth_user_create(admin.c, "parent", "Pia Parent", parent_phone) > 0);
    login(fx, teacher_phone, &teacher);
    int64_t school_b = tauth_school_create(fx->h, "Blue Hills School", "Bela Admin", b_phone,
                                           NULL);
    assert_true(school_b > 0);
    login(fx, b_phone, &other);
    /* The parent asked for a code before the suspension. */
    struct wsclient *pc = open_client(fx);
    char parent_code[7];
    request_code(fx, pc, parent_phone, parent_code);

    assert_int_equal(tauth_school_suspend(fx->h, fx->school), 0);
    TAUTH_CLOSED_4001(admin.c, SUSPEND_CLOSE_WAIT_MS);
    TAUTH_CLOSED_4001(teacher.c, SUSPEND_CLOSE_WAIT_MS);
    /* The other school goes on. */
    TAUTH_OK(other.c, "user.list", "{}");

    struct tmsg *m = tauth_call(pc, "auth.otp.verify", "{phone: %s, code: %s}", parent_phone,
                                parent_code);
    assert_msg(tauth_is_err(m, "forbidden", NULL), m);
    assert_msg(tmsg_str_is(m, "error.message", "your school's account is not active"), m);
    tmsg_free(m);
    TAUTH_ERR("unauthenticated", NULL, pc, "user.list", "{}");
    assert_int_equal(tauth_sql_int(fx->h, "SELECT count(*) FROM sessions WHERE revoked_at IS NULL",
                                   (const char *)NULL),
                     1); /* school B's admin only */
    TAUTH_ERR("unauthenticated", "token", pc, "auth.resume", "{token: %s}", admin.token);
    TAUTH_ERR("unauthenticated", "token", pc, "auth.resume", "{token: %s}", teacher.token);
    /* A new request is answered as usual, but no SMS goes out. */
    age_codes(fx, "31 seconds");
    long long accepted = tauth_metric(fx->port, "classment_sms_total{outcome=\"accepted\"}");
    int seen = tauth_outbox_count(fx->h, fx->admin_phone);
    m = tauth_call(pc, "auth.otp.request", "{phone: %s}", fx->admin_phone);
    assert_msg(tauth_is_ok(m) && tmsg_uint_is(m, "data.ttl_s", 300), m);
    tmsg_free(m);
    tsys_sleep_ms(200);
    assert_int_equal(tauth_metric(fx->port, "classment_sms_total{outcome=\"accepted\"}"),
                     accepted);
    assert_int_equal(tauth_outbox_count(fx->h, fx->admin_phone), seen);
    wsclient_free(pc);
    tauth_login_close(&admin);
    tauth_login_close(&teacher);
    tauth_login_close(&other);
    harness_passed(fx->h);
}

static void test_deactivated_user_is_logged_out_everywhere(void **state)
{
    struct fx *fx = *state;
    struct tauth_login admin, t1, t2;
    login_admin(fx, &admin);
    char phone[TAUTH_PHONE_MAX];
    tauth_phone(phone, 100);
    int64_t teacher = tauth_user_create(admin.c, "teacher", "Tara Teacher", phone);
    assert_true(teacher > 0);
    login(fx, phone, &t1);
    age_codes(fx, "31 seconds");
    login(fx, phone, &t2);

    /* A code asked for before the deactivation opens no session after it. */
    age_codes(fx, "31 seconds");
    struct wsclient *c = open_client(fx);
    char code[7];
    request_code(fx, c, phone, code);

    TAUTH_OK(admin.c, "user.deactivate", "{id: %D}", teacher);
    TAUTH_CLOSED_4001(t1.c, CLOSE_WAIT_MS);
    TAUTH_CLOSED_4001(t2.c, CLOSE_WAIT_MS);
    struct tmsg *m = tauth_call(c, "auth.otp.verify", "{phone: %s, code: %s}", phone, code);
    assert_msg(tauth_is_err(m, "unauthenticated", "code"), m);
    assert_msg(tmsg_str_is(m, "error.message", CODE_MESSAGE), m);
    tmsg_free(m);
    TAUTH_ERR("unauthenticated", "token", c, "auth.resume", "{token: %s}", t1.token);
    TAUTH_ERR("unauthenticated", "token", c, "auth.resume", "{token: %s}", t2.token);
    m = tauth_call(admin.c, "user.get", "{id: %D}", teacher);
    assert_msg(tauth_is_ok(m) && tmsg_bool_is(m, "data.active", false), m);
    tmsg_free(m);
    /* No code goes out any more, and the answer does not say so. */
    age_codes(fx, "31 seconds");
    int seen = tauth_outbox_count(fx->h, phone);
    m = tauth_call(c, "auth.otp.request", "{phone: %s}", phone);
    assert_msg(tauth_is_ok(m) && tmsg_uint_is(m, "data.ttl_s", 300), m);
    tmsg_free(m);
    tsys_sleep_ms(200);
    assert_int_equal(tauth_outbox_count(fx->h, phone), seen);
    /* An admin cannot deactivate themselves, nor an unknown user. */
    TAUTH_ERR("conflict", "id", admin.c, "user.deactivate", "{id: %D}", fx->admin_id);
    TAUTH_ERR("not_found", "id", admin.c, "user.deactivate", "{id: 999999}");
    TAUTH_OK(admin.c, "user.list", "{}");
    wsclient_free(c);
    tauth_login_close(&admin);
    tauth_login_close(&t1);
    tauth_login_close(&t2);
    harness_passed(fx->h);
}

/* ---- unknown numbers ---- */

/* The data of a reply as text, to compare two replies' data byte for byte. */
static void data_text(const struct tmsg *m, char *out, size_t cap)
{
    const msgpack_object *d = tmsg_get(tmsg_root(m), "data");
    out[0] = '\0';
    if (d) {
        msgpack_object_print_buffer(out, cap, *d);
    }
}

/* One auth.otp.request on a fresh connection: its reply data and round trip in µs. */
static uint64_t timed_request(struct fx *fx, const char *phone, char *data, size_t cap)
{
    struct wsclient *c = open_client(fx);
    uint64_t start = now_us();
    struct tmsg *m = tauth_call(c, "auth.otp.request", "{phone: %s}", phone);
    uint64_t us = now_us() - start;
    assert_msg(tauth_is_ok(m), m);
    data_text(m, data, cap);
    tmsg_free(m);
    wsclient_free(c);
    return us;
}

static void test_unknown_number_looks_and_takes_the_same(void **state)
{
    struct fx *fx = *state;
    enum { N = 10 };
    struct tauth_login admin;
    login_admin(fx, &admin);
    char known[N + 1][TAUTH_PHONE_MAX], unknown[N + 1][TAUTH_PHONE_MAX];
    for (int i = 0; i <= N; i++) {
        tauth_phone(known[i], 100 + (unsigned)i);
        tauth_phone(unknown[i], 60000 + (unsigned)i);
        assert_true(tauth_user_create(admin.c, i % 2 ? "parent" : "teacher", "Someone",
                                      known[i]) > 0);
    }
    char data_known[256], data_unknown[256];
    /* Warm up both paths, then alternate. */
    timed_request(fx, known[N], data_known, sizeof data_known);
    timed_request(fx, unknown[N], data_unknown, sizeof data_unknown);
    uint64_t sum_known = 0, sum_unknown = 0;
    for (int i = 0; i < N; i++) {
        sum_known += timed_request(fx, known[i], data_known, sizeof data_known);
        sum_unknown += timed_request(fx, unknown[i], data_unknown, sizeof data_unknown);
        assert_string_equal(data_known, data_unknown);
    }
    double mean_known_ms = (double)sum_known / N / 1000.0;
    double mean_unknown_ms = (double)sum_unknown / N / 1000.0;
    fprintf(stderr, "30_auth: auth.otp.request mean %.2f ms registered, %.2f ms unknown\n",
            mean_known_ms, mean_unknown_ms);
    if (fabs(mean_known_ms - mean_unknown_ms) >= 20.0) {
        fail_msg("registered %.2f ms vs unknown %.2f ms: the difference tells them apart",
                 mean_known_ms, mean_unknown_ms);
    }
    /* Refusals look alike too: a second request, and a wrong code. */
    struct wsclient *c = open_client(fx);
    struct tmsg *mk = tauth_call(c, "auth.otp.request", "{phone: %s}", known[0]);
    struct tmsg *mu = tauth_call(c, "auth.otp.request", "{phone: %s}", unknown[0]);
    assert_msg(tauth_is_err(mk, "rate_limited", NULL), mk);
    assert_msg(tauth_is_err(mu, "rate_limited", NULL), mu);
    char ek[256], eu[256];
    msgpack_object_print_buffer(ek, sizeof ek, *tmsg_get(tmsg_root(mk), "error"));
    msgpack_object_print_buffer(eu, sizeof eu, *tmsg_get(tmsg_root(mu), "error"));
    assert_string_equal(ek, eu);
    tmsg_free(mk);
    tmsg_free(mu);
    char code[7], bad[7];
    assert_true(tauth_outbox_wait_code(fx->h, known[0], 0, code, 5000));
    wrong_code(code, 0, bad);
    mk = tauth_call(c, "auth.otp.verify", "{phone: %s, code: %s}", known[0], bad);
    mu = tauth_call(c, "auth.otp.verify", "{phone: %s, code: %s}", unknown[0], bad);
    msgpack_object_print_buffer(ek, sizeof ek, *tmsg_get(tmsg_root(mk), "error"));
    msgpack_object_print_buffer(eu, sizeof eu, *tmsg_get(tmsg_root(mu), "error"));
    assert_msg(tauth_is_err(mk, "unauthenticated", "code"), mk);
    assert_string_equal(ek, eu);
    tmsg_free(mk);
    tmsg_free(mu);
    wsclient_free(c);

    /* Every registered number got its SMS; no unknown number got one. */
    for (int i = 0; i <= N; i++) {
        char code_i[7];
        assert_true(tauth_outbox_wait_code(fx->h, known[i], 0, code_i, 5000));
    }
    char *outbox = tauth_outbox_text(fx->h);
    for (int i = 0; i <= N; i++) {
        if (strstr(outbox, unknown[i])) {
            fail_msg("an SMS went to the unknown number %s", unknown[i]);
        }
    }
    free(outbox);
    /* The admin's login and the N + 1 registered numbers, nothing else. */
    assert_int_equal(tauth_metric(fx->port, "classment_sms_total{outcome=\"accepted\"}"), N + 2);
    /* Both kinds of number left a stored code behind. */
    assert_int_equal(tauth_sql_int(fx->h, "SELECT count(*) FROM otp_codes", (const char *)NULL),
                     2 * (N + 1) + 1);
    tauth_login_close(&admin);
    harness_passed(fx->h);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_login_through_the_outbox),
        T(test_wrong_code_is_refused_and_the_right_one_still_works),
        T(test_expired_code_is_refused),
        T(test_code_is_single_use),
        T(test_code_opens_one_session_when_two_verifications_race),
        T(test_verify_in_fragments_with_the_code_last),
        T(test_five_wrong_tries_end_the_code),
        T(test_newer_code_retires_the_older),
        T(test_malformed_phone_and_code_are_bad_requests),
        T(test_second_request_within_30_s_is_rate_limited),
        T(test_retry_after_counts_down_to_the_last_second),
        T(test_at_most_five_codes_an_hour),
        T(test_connection_gets_10_login_requests_then_rate_limited),
        T(test_address_gets_60_login_requests_then_rate_limited),
        T(test_resume_on_a_new_connection),
        T(test_logout_ends_the_session_everywhere),
        T(test_sessions_list_shows_devices_and_the_current_one),
        T(test_revoke_closes_the_other_sessions_connections),
        T(test_revoking_the_current_session_answers_then_closes),
        T(test_expired_session_closes_its_connections),
        T(test_suspended_school_closes_connections_and_refuses_login),
        T(test_deactivated_user_is_logged_out_everywhere),
        T(test_unknown_number_looks_and_takes_the_same),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
