/* Set-up and reply reading shared by the school-records integration tests (45_school_setup to
 * 49_import): one server with two schools whose admins are logged in, users of a school,
 * guardians, typed reads of reply fields, and assertion macros for calls. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include <msgpack.h>

#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tmsg.h"
#include "tests/support/wsclient.h"

/* Starts the harness (opts may be NULL), creates "School A" (admin "Admin A", phone
 * tauth_phone 1) and "School B" ("Admin B", phone 2) and logs both admins in ("web"). 0, or
 * -1 after printing why (*h is set as soon as the harness started: free it). */
int tfix_two_schools(struct harness **h, const struct harness_opts *opts, struct tauth_login *a,
                     struct tauth_login *b);
/* user.create {role, name, phone tauth_phone(n)} on an admin's connection; the phone is copied
 * to phone_out (TAUTH_PHONE_MAX bytes) unless NULL. The id, or -1 after printing the reply. */
int64_t tfix_user(struct wsclient *admin, const char *role, const char *name, unsigned n,
                  char *phone_out);
/* guardian.link {student, user, relationship: mother}: 0, or -1 after printing the reply. */
int tfix_link_guardian(struct wsclient *admin, int64_t student, int64_t user);
/* v in decimal, into buf (for tauth_sql's text parameters); returns buf. */
const char *tf_num(char buf[24], int64_t v);
/* Waits up to 5 s for school's audit log to hold an entry for op with this outcome, of
 * record_type type ("": any) and record id record (0: any; TFIX_NO_RECORD: an entry without
 * one). Whether it came. */
#define TFIX_NO_RECORD (-1)
bool tfix_audit_seen(const struct harness *h, int64_t school, const char *op, const char *type,
                     int64_t record, const char *outcome);
/* Whether the stopped server's valgrind report (its log) shows no definite leak; false, after
 * printing the report's line, when it does or when the log cannot be read. */
bool tfix_leak_free(const struct harness *h);
/* The last test of a group: closes the logins (a NULL-terminated list), stops the server
 * (SIGTERM, 30 s) and, when it ran under valgrind, reads its report. Whether it stopped with
 * status 0 and, under valgrind, lost nothing. */
bool tfix_stop_clean(struct harness *h, bool valgrind, ...);
/* A group teardown: closes the logins (a NULL-terminated list), marks the harness passed when
 * passed, frees it. */
void tfix_end(struct harness *h, bool passed, ...);

/* ---- reading replies (every reader takes NULL and a missing path) ---- */

/* The object at path of m's root; tf_data: its "data". */
const msgpack_object *tf_at(const struct tmsg *m, const char *path);
const msgpack_object *tf_data(const struct tmsg *m);
/* Element i of the array at path of obj ("" : obj itself); NULL when absent. */
const msgpack_object *tf_item(const msgpack_object *obj, const char *path, uint32_t i);
/* The length of the array at path; -1 when not an array. */
long tf_len(const msgpack_object *obj, const char *path);
/* A non-negative integer at path; -1 when absent or not one. */
int64_t tf_int_of(const msgpack_object *obj, const char *path);
/* Whether path holds the integer v (negative too). */
bool tf_int_is(const msgpack_object *obj, const char *path, int64_t v);
bool tf_str_is(const msgpack_object *obj, const char *path, const char *s);
bool tf_nil_at(const msgpack_object *obj, const char *path);
bool tf_bool_is(const msgpack_object *obj, const char *path, bool v);

/* ---- assertions (use after <cmocka.h> and tests/support/tcheck.h) ---- */

/* Calls op and asserts success; evaluates to the reply (free it). */
#define CALL_OK(c, op, ...)                                                                  \
    ({                                                                                       \
        struct tmsg *m_ = tauth_call((c), (op), __VA_ARGS__);                                \
        assert_msg(tauth_is_ok(m_), m_);                                                     \
        m_;                                                                                  \
    })
/* Calls op and asserts the error code and field (NULL: any field). */
#define CALL_ERR(code, field, c, op, ...)                                                    \
    do {                                                                                     \
        struct tmsg *m_ = tauth_call((c), (op), __VA_ARGS__);                                \
        if (!tauth_is_err(m_, (code), (field))) {                                            \
            fail_msg("%s line %d: expected %s (field %s), got %s", (op), __LINE__, (code),   \
                     (field) ? (field) : "-", tmsg_text(m_));                                \
        }                                                                                    \
        tmsg_free(m_);                                                                       \
    } while (0)
/* Calls op, asserts success with a positive data.id and evaluates to it. */
#define CREATE_ID(c, op, ...)                                                                \
    ({                                                                                       \
        struct tmsg *m_ = tauth_call((c), (op), __VA_ARGS__);                                \
        int64_t id_ = tf_int_of(tf_data(m_), "id");                                          \
        if (!tauth_is_ok(m_) || id_ <= 0) {                                                  \
            fail_msg("%s: %s", (op), tmsg_text(m_));                                         \
        }                                                                                    \
        tmsg_free(m_);                                                                       \
        id_;                                                                                 \
    })
