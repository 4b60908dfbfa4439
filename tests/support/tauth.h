/* Identity helpers for integration tests: schools through the operator's command line
 * (classment-admin, env CLASSMENT_ADMIN_BIN), logins through the SMS outbox, requests whose
 * replies are read without repeating their id, direct SQL on the server's database, and
 * /metrics values. Every wait has a timeout. */
#pragma once
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tests/support/harness.h"
#include "tests/support/tmsg.h"
#include "tests/support/wsclient.h"

/* Session tokens are 43 base64url characters; the server reads at most 64. */
#define TAUTH_TOKEN_MAX 64
/* "+" and at most 15 digits, NUL. */
#define TAUTH_PHONE_MAX 17

/* A fresh request id, unique within the test program. */
uint64_t tauth_next_id(void);

/* Sends {id, op, args} with args built from args_fmt (tmsg_build's format; NULL sends no
 * args) and waits up to 10 s for the reply to that id. NULL (after printing
 * why) when none came. Free with tmsg_free. */
struct tmsg *tauth_call(struct wsclient *c, const char *op, const char *args_fmt, ...);

struct tmsg *tauth_vcall(struct wsclient *c, const char *op, const char *args_fmt, va_list ap);

/* Reply shapes, for a reply already matched to its request. */
bool tauth_is_ok(const struct tmsg *m);
/* ok:false with this error code, and this field unless field is NULL. */
bool tauth_is_err(const struct tmsg *m, const char *code, const char *field);
/* The outcome of a reply as one letter, for role matrices: "o" ok, "e" ok with an empty list,
 * "b" bad_request, "u" unauthenticated, "f" forbidden, "n" not_found, "c" conflict; "?" for
 * any other error and "no reply" for NULL. */
const char *tauth_outcome(const struct tmsg *m);
/* Whether an outcome letter is the expected one (an empty list is also a success). */
bool tauth_outcome_matches(char want, const char *got);
/* A signed integer at path (positive or negative msgpack integer). */
bool tauth_int(const struct tmsg *m, const char *path, int64_t *out);
/* Copies the string at path into out (NUL-terminated); false when missing or too long. */
bool tauth_str(const struct tmsg *m, const char *path, char *out, size_t cap);

/* A valid Indian mobile number in E.164 that no other call with another n returns:
 * "+9170000" followed by n in 5 digits (n < 100000). */
void tauth_phone(char out[TAUTH_PHONE_MAX], unsigned n);

/* ---- classment-admin ---- */

/* Runs classment-admin ARG... (NULL-terminated) with CLASSMENT_DB and CLASSMENT_KEY_FILE of the
 * harness's server, capturing stdout into out (NUL-terminated; out may be NULL). Its stderr is
 * printed to the test's stderr. Returns the exit status, or a negative errno. */
int tauth_admin(const struct harness *h, char *out, size_t cap, ...);
/* school create --name NAME --admin-name ADMIN_NAME --admin-phone PHONE. Returns the school id
 * and sets *admin_id, or returns -1 after printing why. */
int64_t tauth_school_create(const struct harness *h, const char *name, const char *admin_name,
                            const char *phone, int64_t *admin_id);
/* school suspend ID. Returns 0 or -1. */
int tauth_school_suspend(const struct harness *h, int64_t school);

/* ---- the SMS outbox ---- */

/* How many outbox lines were sent to phone (E.164) so far. 0 when the file does not exist. */
int tauth_outbox_count(const struct harness *h, const char *phone);
/* Every outbox line, for checks the helpers do not cover. Caller frees; "" when none. */
char *tauth_outbox_text(const struct harness *h);
/* Waits up to timeout_ms until more than `seen` lines were sent to phone, and copies the code
 * of the newest into code. Returns true, or false on timeout. */
bool tauth_outbox_wait_code(const struct harness *h, const char *phone, int seen, char code[7],
                            int timeout_ms);

/* ---- logins ---- */

struct tauth_login {
    struct wsclient *c;     /* the connection that logged in */
    int64_t user_id;
    int64_t school_id;
    int64_t session_id;     /* from auth.sessions.list (current) */
    int64_t expires_at;
    char role[16];
    char code[7];           /* the code that was used */
    char token[TAUTH_TOKEN_MAX + 1];
};

/* Opens a connection to the harness's server and logs phone in: auth.otp.request, the code
 * from the outbox, auth.otp.verify with a device {type, os, app} unless device_type is NULL.
 * Waits out address rate limits (a few times). Returns 0 with *out filled, or -1 after
 * printing why (then nothing is left open). */
int tauth_login(const struct harness *h, const char *phone, const char *device_type,
                const char *device_os, const char *app, struct tauth_login *out);
/* Closes the connection (if still open). */
void tauth_login_close(struct tauth_login *l);

/* user.create {role, name, phone} on an admin's connection. Returns the id, or -1 after
 * printing the reply. */
int64_t tauth_user_create(struct wsclient *admin, const char *role, const char *name,
                          const char *phone);

/* Reads until a close frame or the end of the connection (replies and events are skipped),
 * for at most timeout_ms. Returns 0 with *code (0 when the connection ended without a close
 * frame) and the reason (reason may be NULL), or -ETIMEDOUT. */
int tauth_wait_close(struct wsclient *c, int timeout_ms, int *code, char *reason, size_t cap);

/* ---- the database ---- */

/* Runs sql with text parameters (NULL-terminated after sql, at most 8) on the server's
 * database. Returns the number of rows returned or affected, or -1 after printing the error. */
long tauth_sql(const struct harness *h, const char *sql, ...);
/* The first column of the first row as an integer; -1 when NULL, missing or on an error. */
int64_t tauth_sql_int(const struct harness *h, const char *sql, ...);

/* ---- /metrics ---- */

/* The value of the sample whose name and labels are exactly `sample` (for example
 * classment_sms_total{outcome="delivered"}), or -1 when absent or unreadable. */
long long tauth_metric(int port, const char *sample);

/* ---- assertions (use after <cmocka.h> and tests/support/tcheck.h) ---- */

/* Calls op (args as for tauth_call) and requires a success, or a failure with code and field
 * (any field when NULL). Macros, so that cmocka reports the test's own line. */
#define TAUTH_OK(c, op, ...)                                                                \
    do {                                                                                    \
        struct tmsg *tauth_m_ = tauth_call((c), (op), __VA_ARGS__);                         \
        assert_msg(tauth_is_ok(tauth_m_), tauth_m_);                                        \
        tmsg_free(tauth_m_);                                                                \
    } while (0)
#define TAUTH_ERR(code, field, c, op, ...)                                                  \
    do {                                                                                    \
        struct tmsg *tauth_m_ = tauth_call((c), (op), __VA_ARGS__);                         \
        assert_msg(tauth_is_err(tauth_m_, (code), (field)), tauth_m_);                      \
        tmsg_free(tauth_m_);                                                                \
    } while (0)
/* Requires the server to close c with 4001 "session ended" within timeout_ms. */
#define TAUTH_CLOSED_4001(c, timeout_ms)                                                    \
    do {                                                                                    \
        int tauth_code_ = -1;                                                               \
        char tauth_reason_[128];                                                            \
        if (tauth_wait_close((c), (timeout_ms), &tauth_code_, tauth_reason_,                \
                             sizeof tauth_reason_) != 0) {                                  \
            fail_msg("%s was not closed within %d ms", #c, (int)(timeout_ms));              \
        }                                                                                   \
        if (tauth_code_ != 4001 || strcmp(tauth_reason_, "session ended") != 0) {           \
            fail_msg("%s closed with %d \"%s\", expected 4001 \"session ended\"", #c,       \
                     tauth_code_, tauth_reason_);                                           \
        }                                                                                   \
    } while (0)
