/* Who may call what: every op the server serves (sys, auth, user, audit, school set-up,
 * trips), called over the socket by an anonymous connection and by each role (admin,
 * teacher, librarian, driver, parent) of school A, once with ids of school A and once with ids
 * of school B, against a table of expected outcomes. The list of ops comes from the gateway's
 * own op tables (gateway/ops.h): an op without a row here fails the test, so a new op must be
 * added to the matrix. Also the admin's user and audit ops in detail, scoped to their own
 * school, and that a connection that logs out stops receiving a trip it followed. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway/ops.h"
#include "gateway/router.h"
#include "tests/support/harness.h"
#include "tests/support/tauth.h"
#include "tests/support/tcheck.h"
#include "tests/support/tclient.h"
#include "tests/support/tmsg.h"
#include "tests/support/tsys.h"
#include "tests/support/wsclient.h"

#define JUNK_TOKEN "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
#define AUDIT_WAIT_MS 3000

/* Callers, in the order of the expectation strings below. */
enum { ANON, ADMIN, TEACHER, LIBRARIAN, DRIVER, PARENT, N_CALLERS };
static const char *const caller_names[N_CALLERS] = { "anonymous", "admin",  "teacher",
                                                     "librarian", "driver", "parent" };
/* Ids in the arguments: the caller's own school's, or the other school's. */
enum { OWN, OTHER, N_SCOPES };
static const char *const scope_names[N_SCOPES] = { "own-school ids", "other-school ids" };

/* Everything the rows need: connections, users and sessions of both schools. */
struct mx {
    struct harness *h;
    int port;
    int64_t school_a, school_b;
    struct wsclient *anon;
    struct tauth_login who[N_CALLERS];  /* [ANON] unused */
    int64_t spare_session[N_CALLERS];   /* a second session of each A user, to revoke */
    int64_t a_ids[16];                  /* every user of school A */
    int n_a;
    int64_t a_teacher, a_to_update, a_to_deactivate;
    struct tauth_login b_admin;
    char b_admin_phone[TAUTH_PHONE_MAX];
    char b_teacher_phone[TAUTH_PHONE_MAX];
    int64_t b_ids[16];                  /* every user of school B */
    int n_b;
    int64_t b_teacher, b_to_deactivate;
    char b_spare_phone[N_CALLERS][TAUTH_PHONE_MAX]; /* B parents never logged in */
    char b_dead_token[TAUTH_TOKEN_MAX + 1];         /* a B session that was logged out */
    unsigned next_phone;                            /* unregistered numbers */
    /* Tracking: a route of each school, a student of A's parent riding A's route, an active
     * trip of another A driver (for the admin to end), an active trip in B; the matrix's
     * driver starts trip_a on route_a. */
    int64_t route_a, route_b, trip_a, trip_a2, trip_b;
    /* School set-up: the rider of route_a (a child of A's parent), a spare student, route and
     * bus of A for the rows that change or delete them, and B's counterparts. */
    int64_t parent_a, student_a, student_x, route_spare, bus_a, bus_spare;
    int64_t driver_b, student_b, bus_b;
};

/* ---- the matrix ---- */

/* Args for one call, as msgpack (malloc'd). */
typedef uint8_t *build_fn(struct mx *mx, int caller, int scope, size_t *len);
/* Extra checks of a success's data; returns NULL or what is wrong (static text). */
typedef const char *check_fn(struct mx *mx, int caller, int scope, const struct tmsg *m);

/* Expected outcomes, one letter per caller (anonymous admin teacher librarian driver
 * parent): o ok, e ok with an empty list, b bad_request, u unauthenticated, f forbidden,
 * n not_found, c conflict, - not called. */
struct row {
    const char *op;
    build_fn *build;
    const char *own;
    const char *other;
    check_fn *check;
    bool last; /* ends the caller's session: runs after every other row */
};

static void fresh_phone(struct mx *mx, char out[TAUTH_PHONE_MAX])
{
    tauth_phone(out, 70000 + mx->next_phone++);
}

static uint8_t *build_empty(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)mx, (void)caller, (void)scope;
    return tmsg_build(len, "{}");
}

static uint8_t *build_otp_request(struct mx *mx, int caller, int scope, size_t *len)
{
    char phone[TAUTH_PHONE_MAX];
    if (scope == OWN) {
        fresh_phone(mx, phone);
        return tmsg_build(len, "{phone: %s}", phone);
    }
    /* A registered number of the other school: the same answer, a code for its owner. */
    return tmsg_build(len, "{phone: %s}", mx->b_spare_phone[caller]);
}

static uint8_t *build_otp_verify(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    char phone[TAUTH_PHONE_MAX];
    if (scope == OWN) {
        fresh_phone(mx, phone);
        return tmsg_build(len, "{phone: %s, code: \"000000\"}", phone);
    }
    /* The other school's admin, whose only code is used: never a session. */
    return tmsg_build(len, "{phone: %s, code: \"000000\"}", mx->b_admin_phone);
}

static uint8_t *build_resume(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{token: %s}", scope == OWN ? JUNK_TOKEN : mx->b_dead_token);
}

static uint8_t *build_revoke(struct mx *mx, int caller, int scope, size_t *len)
{
    if (scope == OWN) {
        return tmsg_build(len, "{id: %D}", mx->spare_session[caller == ANON ? ADMIN : caller]);
    }
    return tmsg_build(len, "{id: %D}", mx->b_admin.session_id);
}

static uint8_t *build_user_create(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    char phone[TAUTH_PHONE_MAX];
    if (scope == OWN) {
        fresh_phone(mx, phone);
        return tmsg_build(len, "{role: teacher, name: \"New Teacher\", phone: %s}", phone);
    }
    /* A number of the other school: numbers are unique platform-wide. */
    return tmsg_build(len, "{role: teacher, name: \"New Teacher\", phone: %s}",
                      mx->b_teacher_phone);
}

static uint8_t *build_user_get(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{id: %D}", scope == OWN ? mx->a_teacher : mx->b_teacher);
}

static uint8_t *build_user_list(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    if (scope == OWN) {
        return tmsg_build(len, "{}");
    }
    /* Paging from the other school's first user still lists only the caller's school. */
    return tmsg_build(len, "{after: %D, limit: 500}", mx->b_ids[0] - 1);
}

static uint8_t *build_user_update(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    if (scope == OWN) {
        return tmsg_build(len, "{id: %D, name: \"Renamed\"}", mx->a_to_update);
    }
    return tmsg_build(len, "{id: %D, name: \"Hijacked\", employee_id: \"X-1\"}", mx->b_teacher);
}

static uint8_t *build_user_deactivate(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{id: %D}", scope == OWN ? mx->a_to_deactivate : mx->b_to_deactivate);
}

static uint8_t *build_audit_list(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    if (scope == OWN) {
        return tmsg_build(len, "{limit: 1000}");
    }
    return tmsg_build(len, "{user: %D}", mx->b_admin.user_id);
}

static bool in(const int64_t *ids, int n, int64_t id)
{
    for (int i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

/* Every element of the data array has key with a value from school A's users (or nil when
 * nil_ok). */
static const char *only_school_a(struct mx *mx, const struct tmsg *m, const char *key,
                                 bool nil_ok)
{
    const msgpack_object *list = tmsg_get(tmsg_root(m), "data");
    if (!list || list->type != MSGPACK_OBJECT_ARRAY) {
        return "data is not an array";
    }
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *v = tmsg_get(&list->via.array.ptr[i], key);
        if (v && v->type == MSGPACK_OBJECT_NIL && nil_ok) {
            continue;
        }
        if (!v || v->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
            return "an element lacks its user id";
        }
        if (in(mx->b_ids, mx->n_b, (int64_t)v->via.u64)) {
            return "lists a user of the other school";
        }
        /* Users created by the matrix itself are A's too; B's are all known. */
    }
    return NULL;
}

static const char *check_user_list(struct mx *mx, int caller, int scope, const struct tmsg *m)
{
    (void)caller;
    const char *why = only_school_a(mx, m, "id", false);
    if (why || scope == OTHER) {
        return why;
    }
    const msgpack_object *list = tmsg_get(tmsg_root(m), "data");
    for (int i = 0; i < mx->n_a; i++) {
        bool found = false;
        for (uint32_t k = 0; k < list->via.array.size; k++) {
            const msgpack_object *v = tmsg_get(&list->via.array.ptr[k], "id");
            found = found || (v && v->via.u64 == (uint64_t)mx->a_ids[i]);
        }
        if (!found) {
            return "misses a user of the caller's school";
        }
    }
    return NULL;
}

static const char *check_audit_list(struct mx *mx, int caller, int scope, const struct tmsg *m)
{
    (void)caller, (void)scope;
    return only_school_a(mx, m, "user", true);
}

static const char *check_sessions_list(struct mx *mx, int caller, int scope,
                                       const struct tmsg *m)
{
    (void)scope;
    const msgpack_object *list = tmsg_get(tmsg_root(m), "data");
    if (!list || list->type != MSGPACK_OBJECT_ARRAY || list->via.array.size == 0) {
        return "not a list of sessions";
    }
    bool current = false;
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *id = tmsg_get(&list->via.array.ptr[i], "id");
        const msgpack_object *cur = tmsg_get(&list->via.array.ptr[i], "current");
        if (!id || id->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
            return "a session without an id";
        }
        if ((int64_t)id->via.u64 == mx->b_admin.session_id) {
            return "lists the other school's session";
        }
        for (int c = ADMIN; c < N_CALLERS; c++) {
            if (c != caller && (int64_t)id->via.u64 == mx->who[c].session_id) {
                return "lists another user's session";
            }
        }
        if (cur && cur->type == MSGPACK_OBJECT_BOOLEAN && cur->via.boolean) {
            current = (int64_t)id->via.u64 == mx->who[caller].session_id;
        }
    }
    return current ? NULL : "the current session is missing or wrong";
}

static const char *check_otp_request(struct mx *mx, int caller, int scope, const struct tmsg *m)
{
    (void)mx, (void)caller, (void)scope;
    return tmsg_uint_is(m, "data.ttl_s", 300) && tmsg_uint_is(m, "data.resend_after_s", 30)
               ? NULL
               : "not {ttl_s: 300, resend_after_s: 30}";
}

static uint8_t *build_trip_start(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{route: %D}", scope == OWN ? mx->route_a : mx->route_b);
}

static uint8_t *build_trip_pos(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{trip: %D, lat: 12.9716, lon: 77.5946, ts: %U, spd: 5.5, hdg: 90}",
                      scope == OWN ? mx->trip_a : mx->trip_b, tsys_wall_ms());
}

static uint8_t *build_trip(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{trip: %D}", scope == OWN ? mx->trip_a : mx->trip_b);
}

/* The admin ends another driver's trip, the driver their own. */
static uint8_t *build_trip_end(struct mx *mx, int caller, int scope, size_t *len)
{
    if (scope == OTHER) {
        return tmsg_build(len, "{trip: %D}", mx->trip_b);
    }
    return tmsg_build(len, "{trip: %D}", caller == ADMIN ? mx->trip_a2 : mx->trip_a);
}

static const char *check_trip_start(struct mx *mx, int caller, int scope, const struct tmsg *m)
{
    (void)caller, (void)scope;
    return tauth_int(m, "data.trip", &mx->trip_a) && mx->trip_a > 0 ? NULL : "no data.trip";
}

static const char *check_trip_subscribe(struct mx *mx, int caller, int scope,
                                        const struct tmsg *m)
{
    (void)caller, (void)scope;
    if (!tmsg_uint_is(m, "data.trip", (uint64_t)mx->trip_a) ||
        !tmsg_uint_is(m, "data.route.id", (uint64_t)mx->route_a) ||
        !tmsg_str_is(m, "data.status", "active")) {
        return "not the caller's school's trip";
    }
    return NULL;
}

/* The caller's trips: the one the driver started, never the other school's. */
static const char *check_trip_mine(struct mx *mx, int caller, int scope, const struct tmsg *m)
{
    (void)scope;
    const msgpack_object *list = tmsg_get(tmsg_root(m), "data");
    if (!list || list->type != MSGPACK_OBJECT_ARRAY) {
        return "data is not an array";
    }
    bool found = false;
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *t = tmsg_get(&list->via.array.ptr[i], "trip");
        if (!t || t->type != MSGPACK_OBJECT_POSITIVE_INTEGER) {
            return "an element without its trip";
        }
        if ((int64_t)t->via.u64 == mx->trip_b) {
            return "lists the other school's trip";
        }
        if (caller == DRIVER && (int64_t)t->via.u64 == mx->trip_a2) {
            return "lists another driver's trip";
        }
        found = found || (int64_t)t->via.u64 == mx->trip_a;
    }
    return found ? NULL : "misses the caller's trip";
}

static const char *check_trip_history(struct mx *mx, int caller, int scope,
                                      const struct tmsg *m)
{
    (void)mx, (void)caller, (void)scope;
    const msgpack_object *points = tmsg_get(tmsg_root(m), "data.points");
    return points && points->type == MSGPACK_OBJECT_ARRAY ? NULL : "no data.points";
}

static uint8_t *build_student_create(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)mx, (void)caller;
    /* Admission numbers are unique within a school: B's "B-1" is free in A. */
    return tmsg_build(len, "{name: \"New pupil\", admission_no: %s}",
                      scope == OWN ? "A-9" : "B-1");
}

static uint8_t *build_student_id(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{id: %D}", scope == OWN ? mx->student_a : mx->student_b);
}

static uint8_t *build_student_x(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{id: %D}", scope == OWN ? mx->student_x : mx->student_b);
}

static uint8_t *build_student_leave(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{id: %D, reason: moved}",
                      scope == OWN ? mx->student_x : mx->student_b);
}

static uint8_t *build_student_update(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{id: %D, name: \"Renamed pupil\", nationality: Indian}",
                      scope == OWN ? mx->student_x : mx->student_b);
}

static uint8_t *build_guardian_link(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{student: %D, user: %D, relationship: father}",
                      scope == OWN ? mx->student_x : mx->student_b, mx->parent_a);
}

static uint8_t *build_guardian_list(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{student: %D}", scope == OWN ? mx->student_a : mx->student_b);
}

static uint8_t *build_route_create(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)mx, (void)caller, (void)scope;
    return tmsg_build(len, "{name: \"New route\", stops: [{name: Gate, lat: 12.97, "
                           "lon: 77.59}, {name: Park, lat: 12.98, lon: 77.60}]}");
}

static uint8_t *build_route_id(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{id: %D}", scope == OWN ? mx->route_a : mx->route_b);
}

/* A name only: allowed while route_a has active trips. */
static uint8_t *build_route_update(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{id: %D, name: \"Renamed route\"}",
                      scope == OWN ? mx->route_a : mx->route_b);
}

/* route_b has trips: its school's admin would get conflict, any other not_found. */
static uint8_t *build_route_delete(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{id: %D}", scope == OWN ? mx->route_spare : mx->route_b);
}

static uint8_t *build_route_assign(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    if (scope == OWN) {
        return tmsg_build(len, "{route: %D, student: %D}", mx->route_a, mx->student_x);
    }
    return tmsg_build(len, "{route: %D, student: %D}", mx->route_b, mx->student_x);
}

static uint8_t *build_route_unassign(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    if (scope == OWN) {
        return tmsg_build(len, "{route: %D, student: %D}", mx->route_a, mx->student_x);
    }
    return tmsg_build(len, "{route: %D, student: %D}", mx->route_b, mx->student_b);
}

static uint8_t *build_bus_create(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    if (scope == OWN) {
        return tmsg_build(len, "{registration_no: \"ka 01 zz 0009\", capacity: 40}");
    }
    /* The other school's driver is no driver of this school. */
    return tmsg_build(len, "{registration_no: \"KA01ZZ0010\", capacity: 40, driver: %D}",
                      mx->driver_b);
}

static uint8_t *build_bus_id(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{id: %D}", scope == OWN ? mx->bus_a : mx->bus_b);
}

static uint8_t *build_bus_update(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{id: %D, capacity: 50}", scope == OWN ? mx->bus_a : mx->bus_b);
}

static uint8_t *build_bus_delete(struct mx *mx, int caller, int scope, size_t *len)
{
    (void)caller;
    return tmsg_build(len, "{id: %D}", scope == OWN ? mx->bus_spare : mx->bus_b);
}

/* A list whose elements' key must never be the other school's id. */
static const char *list_without(const struct tmsg *m, const char *key, int64_t other)
{
    const msgpack_object *list = tmsg_get(tmsg_root(m), "data");
    if (!list || list->type != MSGPACK_OBJECT_ARRAY) {
        return "data is not an array";
    }
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *v = tmsg_get(&list->via.array.ptr[i], key);
        if (v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER && (int64_t)v->via.u64 == other) {
            return "lists the other school's record";
        }
    }
    return NULL;
}

static const char *check_student_list(struct mx *mx, int caller, int scope,
                                      const struct tmsg *m)
{
    (void)caller, (void)scope;
    return list_without(m, "id", mx->student_b);
}

static const char *check_route_list(struct mx *mx, int caller, int scope, const struct tmsg *m)
{
    (void)caller, (void)scope;
    return list_without(m, "id", mx->route_b);
}

static const char *check_bus_list(struct mx *mx, int caller, int scope, const struct tmsg *m)
{
    (void)caller, (void)scope;
    return list_without(m, "id", mx->bus_b);
}

/*                      op                      args                  own       other */
static const struct row rows[] = {
    { "sys.ping",             build_empty,           "oooooo", "oooooo", NULL, false },
    { "sys.schema",           build_empty,           "oooooo", "oooooo", NULL, false },
    { "sys.status",           build_empty,           "oooooo", "oooooo", NULL, false },
    { "auth.otp.request",     build_otp_request,     "oooooo", "oooooo", check_otp_request,
      false },
    /* A wrong code for an unknown number, and for the other school's admin. */
    { "auth.otp.verify",      build_otp_verify,      "uuuuuu", "uuuuuu", NULL, false },
    /* A token no session has, and the other school's logged-out token. */
    { "auth.resume",          build_resume,          "uuuuuu", "uuuuuu", NULL, false },
    { "auth.sessions.list",   build_empty,           "uooooo", "uooooo", check_sessions_list,
      false },
    /* The caller's own spare session; the other school admin's session. */
    { "auth.sessions.revoke", build_revoke,          "uooooo", "unnnnn", NULL, false },
    { "user.create",          build_user_create,     "uoffff", "ucffff", NULL, false },
    { "user.get",             build_user_get,        "uoffff", "unffff", NULL, false },
    { "user.list",            build_user_list,       "uoffff", "uoffff", check_user_list,
      false },
    { "user.update",          build_user_update,     "uoffff", "unffff", NULL, false },
    { "user.deactivate",      build_user_deactivate, "uoffff", "unffff", NULL, false },
    { "audit.list",           build_audit_list,      "uoffff", "ueffff", check_audit_list,
      false },
    /* School set-up, admins only. Run in this order on the spare student_x: linked and
     * unlinked, assigned and unassigned, updated, and deleted last. */
    { "student.create",       build_student_create,  "uoffff", "uoffff", NULL, false },
    /* A teacher reads the students of their sections (the matrix's teacher has none); a
     * parent reads their own child (student_a). */
    { "student.get",          build_student_id,      "uofffo", "unnffn", NULL, false },
    { "student.list",         build_empty,           "uoefff", "uoefff", check_student_list,
      false },
    { "guardian.link",        build_guardian_link,   "uoffff", "unffff", NULL, false },
    { "guardian.list",        build_guardian_list,   "uoffff", "unffff", NULL, false },
    { "guardian.unlink",      build_guardian_link,   "uoffff", "unffff", NULL, false },
    { "route.create",         build_route_create,    "uoffff", "uoffff", NULL, false },
    { "route.get",            build_route_id,        "uoffff", "unffff", NULL, false },
    /* Drivers list their school's routes to pick the one to start; never the other's. */
    { "route.list",           build_empty,           "uoffof", "uoffof", check_route_list,
      false },
    { "route.update",         build_route_update,    "uoffff", "unffff", NULL, false },
    { "route.assign",         build_route_assign,    "uoffff", "unffff", NULL, false },
    { "route.unassign",       build_route_unassign,  "uoffff", "unffff", NULL, false },
    { "route.delete",         build_route_delete,    "uoffff", "unffff", NULL, false },
    { "bus.create",           build_bus_create,      "uoffff", "unffff", NULL, false },
    { "bus.get",              build_bus_id,          "uoffff", "unffff", NULL, false },
    { "bus.list",             build_empty,           "uoffff", "uoffff", check_bus_list, false },
    { "bus.update",           build_bus_update,      "uoffff", "unffff", NULL, false },
    { "bus.delete",           build_bus_delete,      "uoffff", "unffff", NULL, false },
    { "student.update",       build_student_update,  "uoffff", "unffff", NULL, false },
    { "student.leave",        build_student_leave,   "uoffff", "unffff", NULL, false },
    { "student.delete",       build_student_x,       "uoffff", "unffff", NULL, false },
    /* Run in this order: the driver starts trip_a, sends a position, parents and admins
     * follow it. Another school's route and trip are not found. */
    { "trip.start",           build_trip_start,      "ufffof", "ufffnf", check_trip_start,
      false },
    { "trip.pos",             build_trip_pos,        "ufffof", "ufffnf", NULL, false },
    /* The parent's child rides route_a. */
    { "trip.subscribe",       build_trip,            "uofffo", "unfffn", check_trip_subscribe,
      false },
    { "trip.mine",            build_empty,           "uoffoo", "uoffoo", check_trip_mine, false },
    { "trip.history",         build_trip,            "uoffff", "unffff", check_trip_history,
      false },
    /* Leaving what one does not follow is harmless, whoever's trip it is. */
    { "trip.unsubscribe",     build_trip,            "uooooo", "uooooo", NULL, false },
    /* Ends trips (the admin ends trip_a2, the driver trip_a): last. */
    { "trip.end",             build_trip_end,        "uoffof", "unffnf", NULL, true },
    /* Takes no ids: once per caller, after everything else. */
    { "auth.logout",          build_empty,           "uooooo", "------", NULL, true },
};
#define N_ROWS (sizeof rows / sizeof rows[0])

static const struct row *find_row(const char *op)
{
    for (size_t i = 0; i < N_ROWS; i++) {
        if (strcmp(rows[i].op, op) == 0) {
            return &rows[i];
        }
    }
    return NULL;
}

/* ---- running it ---- */

static struct wsclient *conn_of(struct mx *mx, int caller)
{
    return caller == ANON ? mx->anon : mx->who[caller].c;
}

/* Calls one cell; appends a line to report on a mismatch. Returns true when it matched. */
static bool run_cell(struct mx *mx, const struct row *r, int caller, int scope, char *report,
                     size_t cap)
{
    char want = (scope == OWN ? r->own : r->other)[caller];
    if (want == '-') {
        return true;
    }
    size_t len;
    uint8_t *args = r->build(mx, caller, scope, &len);
    struct tmsg *m = NULL;
    for (int attempt = 0; attempt < 4; attempt++) {
        uint64_t id = tauth_next_id();
        if (tclient_send(conn_of(mx, caller), "{id: %U, op: %s, args: %m}", id, r->op, args,
                         len) != 0) {
            break;
        }
        m = tclient_reply(conn_of(mx, caller), id, TCLIENT_TIMEOUT_MS);
        int64_t wait_s = 0;
        /* The address's login limit is not what this test is about: wait it out. */
        if (tauth_is_err(m, "rate_limited", NULL) &&
            tauth_int(m, "error.retry_after_s", &wait_s) && wait_s <= 6) {
            tmsg_free(m);
            m = NULL;
            tsys_sleep_ms((int)wait_s * 1000);
            continue;
        }
        break;
    }
    free(args);
    const char *got = tauth_outcome(m);
    const char *why = NULL;
    if (tauth_outcome_matches(want, got) && got[0] == 'o' && r->check) {
        why = r->check(mx, caller, scope, m);
    }
    bool ok = tauth_outcome_matches(want, got) && !why;
    if (!ok) {
        size_t n = strlen(report);
        snprintf(report + n, cap - n, "  %-22s %-9s %-16s expected %c, got %s%s%s: %.300s\n",
                 r->op, caller_names[caller], scope_names[scope], want, got, why ? " - " : "",
                 why ? why : "", tmsg_text(m));
    }
    tmsg_free(m);
    return ok;
}

/* ---- fixtures ---- */

static int setup(void **state)
{
    struct mx *mx = calloc(1, sizeof *mx);
    *state = mx;
    if (harness_start(&mx->h, NULL) != 0) {
        return -1;
    }
    mx->port = harness_port(mx->h);
    return 0;
}

static int teardown(void **state)
{
    struct mx *mx = *state;
    if (!mx) {
        return 0;
    }
    wsclient_free(mx->anon);
    for (int c = 0; c < N_CALLERS; c++) {
        tauth_login_close(&mx->who[c]);
    }
    tauth_login_close(&mx->b_admin);
    harness_free(mx->h);
    free(mx);
    *state = NULL;
    return 0;
}

/* Lets every number ask for a new code at once (the 30 s resend limit). */
static void age_codes(struct mx *mx)
{
    assert_true(tauth_sql(mx->h, "UPDATE otp_codes SET created_at = created_at - interval "
                                 "'31 seconds'",
                          (const char *)NULL) >= 0);
}

static void login_or_fail(struct mx *mx, const char *phone, struct tauth_login *l)
{
    if (tauth_login(mx->h, phone, "phone", "android", "1.0", l) != 0) {
        fail_msg("cannot log %s in", phone);
    }
}

/* Runs an INSERT … RETURNING id with up to four integer parameters (0 ends them). */
static int64_t insert_id(struct mx *mx, const char *sql, int64_t p1, int64_t p2, int64_t p3,
                         int64_t p4)
{
    char s[4][24];
    const char *v[5] = { NULL };
    int64_t p[4] = { p1, p2, p3, p4 };
    for (int i = 0; i < 4 && p[i]; i++) {
        snprintf(s[i], sizeof s[i], "%lld", (long long)p[i]);
        v[i] = s[i];
    }
    int64_t id = tauth_sql_int(mx->h, sql, v[0], v[1], v[2], v[3], v[4]);
    if (id <= 0) {
        fail_msg("%s gave no id", sql);
    }
    return id;
}

/* Routes, students, buses and active trips in both schools, written straight into the
 * tables so that the matrix does not depend on the set-up ops it checks. */
static void build_tracking(struct mx *mx, int64_t parent)
{
    static const char route_sql[] =
        "WITH r AS (INSERT INTO routes (school_id, name) VALUES ($1::bigint, 'Route ' || $1::text)"
        " RETURNING id),"
        " s AS (INSERT INTO route_stops (route_id, seq, name, location)"
        "  SELECT id, 1, 'Gate', 'SRID=4326;POINT(77.5946 12.9716)'::geography FROM r"
        "  UNION ALL SELECT id, 2, 'Market', 'SRID=4326;POINT(77.6046 12.9816)'::geography"
        "  FROM r RETURNING route_id)"
        " SELECT id FROM r";
    static const char trip_sql[] =
        "INSERT INTO trips (school_id, route_id, driver_id) VALUES ($1, $2, $3) RETURNING id";
    mx->route_a = insert_id(mx, route_sql, mx->school_a, 0, 0, 0);
    mx->route_b = insert_id(mx, route_sql, mx->school_b, 0, 0, 0);
    int64_t student = insert_id(mx,
                                "INSERT INTO students (school_id, name, admission_no)"
                                " VALUES ($1, 'Sam', 'A-1') RETURNING id",
                                mx->school_a, 0, 0, 0);
    insert_id(mx,
              "INSERT INTO route_assignments (route_id, student_id, school_id)"
              " VALUES ($1, $2, $3) RETURNING route_id",
              mx->route_a, student, mx->school_a, 0);
    insert_id(mx,
              "INSERT INTO guardians (student_id, user_id, school_id, relationship)"
              " VALUES ($1, $2, $3, 'mother') RETURNING student_id",
              student, parent, mx->school_a, 0);
    char phone[TAUTH_PHONE_MAX];
    tauth_phone(phone, 22);
    int64_t driver2 = tauth_user_create(mx->who[ADMIN].c, "driver", "Second driver", phone);
    tauth_phone(phone, 32);
    int64_t driver_b = tauth_user_create(mx->b_admin.c, "driver", "B driver", phone);
    assert_true(driver2 > 0 && driver_b > 0);
    mx->a_ids[mx->n_a++] = driver2;
    mx->b_ids[mx->n_b++] = driver_b;
    mx->trip_a2 = insert_id(mx, trip_sql, mx->school_a, mx->route_a, driver2, 0);
    mx->trip_b = insert_id(mx, trip_sql, mx->school_b, mx->route_b, driver_b, 0);

    static const char student_sql[] =
        "INSERT INTO students (school_id, name, admission_no)"
        " VALUES ($1, 'Pupil', $2::bigint::text) RETURNING id";
    static const char bus_sql[] =
        "INSERT INTO buses (school_id, registration_no, capacity, driver_id)"
        " VALUES ($1, 'KA01AA' || $2::bigint::text, 40, $3) RETURNING id";
    static const char spare_bus_sql[] =
        "INSERT INTO buses (school_id, registration_no, capacity)"
        " VALUES ($1, 'KA01AA' || $2::bigint::text, 40) RETURNING id";
    mx->parent_a = parent;
    mx->driver_b = driver_b;
    mx->student_a = student;
    mx->student_x = insert_id(mx, student_sql, mx->school_a, 2, 0, 0);
    mx->student_b = insert_id(mx, student_sql, mx->school_b, 1, 0, 0);
    insert_id(mx,
              "INSERT INTO route_assignments (route_id, student_id, school_id)"
              " VALUES ($1, $2, $3) RETURNING route_id",
              mx->route_b, mx->student_b, mx->school_b, 0);
    mx->route_spare = insert_id(mx, route_sql, mx->school_a, 0, 0, 0);
    mx->bus_a = insert_id(mx, bus_sql, mx->school_a, 1001, driver2, 0);
    mx->bus_spare = insert_id(mx, spare_bus_sql, mx->school_a, 1002, 0, 0);
    mx->bus_b = insert_id(mx, bus_sql, mx->school_b, 1001, driver_b, 0);
}

/* Two schools; in A an admin, a teacher, a librarian, a driver and a parent, each logged in
 * twice (the second session is theirs to revoke), and two users for update and deactivate;
 * in B an admin, a teacher, a user to deactivate and parents nobody logs in. */
static void build_world(struct mx *mx)
{
    char phone[TAUTH_PHONE_MAX];
    int64_t admin_a = 0, admin_b = 0;
    tauth_phone(phone, 1);
    mx->school_a = tauth_school_create(mx->h, "School A", "Admin A", phone, &admin_a);
    assert_true(mx->school_a > 0);
    tauth_phone(mx->b_admin_phone, 2);
    mx->school_b = tauth_school_create(mx->h, "School B", "Admin B", mx->b_admin_phone,
                                       &admin_b);
    assert_true(mx->school_b > 0);
    mx->a_ids[mx->n_a++] = admin_a;
    mx->b_ids[mx->n_b++] = admin_b;
    login_or_fail(mx, phone, &mx->who[ADMIN]);
    login_or_fail(mx, mx->b_admin_phone, &mx->b_admin);

    static const char *const roles[N_CALLERS] = { NULL, "admin", "teacher", "librarian",
                                                  "driver", "parent" };
    char phones[N_CALLERS][TAUTH_PHONE_MAX];
    int64_t user_ids[N_CALLERS] = { 0 };
    snprintf(phones[ADMIN], sizeof phones[ADMIN], "%s", phone);
    for (int c = TEACHER; c < N_CALLERS; c++) {
        tauth_phone(phones[c], 10 + (unsigned)c);
        int64_t id = tauth_user_create(mx->who[ADMIN].c, roles[c], "A user", phones[c]);
        assert_true(id > 0);
        user_ids[c] = id;
        mx->a_ids[mx->n_a++] = id;
        if (c == TEACHER) {
            mx->a_teacher = id;
        }
    }
    tauth_phone(phone, 20);
    mx->a_to_update = tauth_user_create(mx->who[ADMIN].c, "teacher", "To update", phone);
    tauth_phone(phone, 21);
    mx->a_to_deactivate = tauth_user_create(mx->who[ADMIN].c, "driver", "To deactivate", phone);
    assert_true(mx->a_to_update > 0 && mx->a_to_deactivate > 0);
    mx->a_ids[mx->n_a++] = mx->a_to_update;
    mx->a_ids[mx->n_a++] = mx->a_to_deactivate;

    tauth_phone(mx->b_teacher_phone, 30);
    mx->b_teacher = tauth_user_create(mx->b_admin.c, "teacher", "B teacher", mx->b_teacher_phone);
    tauth_phone(phone, 31);
    mx->b_to_deactivate = tauth_user_create(mx->b_admin.c, "librarian", "B librarian", phone);
    assert_true(mx->b_teacher > 0 && mx->b_to_deactivate > 0);
    mx->b_ids[mx->n_b++] = mx->b_teacher;
    mx->b_ids[mx->n_b++] = mx->b_to_deactivate;
    for (int c = 0; c < N_CALLERS; c++) {
        tauth_phone(mx->b_spare_phone[c], 40 + (unsigned)c);
        int64_t id = tauth_user_create(mx->b_admin.c, "parent", "B parent",
                                       mx->b_spare_phone[c]);
        assert_true(id > 0);
        mx->b_ids[mx->n_b++] = id;
    }
    build_tracking(mx, user_ids[PARENT]);

    /* A token of school B that no longer works. */
    struct tauth_login dead;
    login_or_fail(mx, mx->b_teacher_phone, &dead);
    TAUTH_OK(dead.c, "auth.logout", NULL);
    snprintf(mx->b_dead_token, sizeof mx->b_dead_token, "%s", dead.token);
    tauth_login_close(&dead);

    /* School A's callers: a spare session first (it is revoked by its owner), then the one
     * that makes the calls. */
    for (int c = TEACHER; c < N_CALLERS; c++) {
        login_or_fail(mx, phones[c], &mx->who[c]);
    }
    age_codes(mx);
    for (int c = ADMIN; c < N_CALLERS; c++) {
        struct tauth_login spare;
        login_or_fail(mx, phones[c], &spare);
        mx->spare_session[c] = spare.session_id;
        tauth_login_close(&spare);
    }
    mx->anon = tclient_open(mx->port);
    assert_non_null(mx->anon);
}

/* ---- tests ---- */

/* Every op the server serves but the school records', which have their own matrix
 * (36_records_roles.c). */
static struct router *served_router(void)
{
    struct op_table all[OPS_MAX_TABLES], tables[OPS_MAX_TABLES];
    size_t n = ops_tables(NULL, all), kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (!ops_table_is_records(all[i].ops)) {
            tables[kept++] = all[i];
        }
    }
    return router_new(tables, kept);
}

static void test_every_served_op_has_a_matrix_row(void **state)
{
    struct mx *mx = *state;
    struct router *r = served_router();
    assert_non_null(r);
    char missing[4096] = "";
    for (size_t i = 0; i < router_count(r); i++) {
        const char *name = router_op_at(r, i)->name;
        if (!find_row(name)) {
            size_t n = strlen(missing);
            snprintf(missing + n, sizeof missing - n, " %s", name);
        }
    }
    char stale[1024] = "";
    for (size_t i = 0; i < N_ROWS; i++) {
        if (!router_find(r, rows[i].op, strlen(rows[i].op))) {
            size_t n = strlen(stale);
            snprintf(stale + n, sizeof stale - n, " %s", rows[i].op);
        }
        assert_int_equal(strlen(rows[i].own), N_CALLERS);
        assert_int_equal(strlen(rows[i].other), N_CALLERS);
    }
    size_t n_ops = router_count(r);
    router_free(r);
    if (missing[0]) {
        fail_msg("ops served without a row in the role matrix of 35_roles.c (add one with "
                 "the expected outcome for every role):%s",
                 missing);
    }
    if (stale[0]) {
        fail_msg("rows of the role matrix for ops the server does not serve:%s", stale);
    }
    assert_true(n_ops >= 41);
    harness_passed(mx->h);
}

static void test_role_matrix(void **state)
{
    struct mx *mx = *state;
    build_world(mx);
    /* Every op the server serves must have a row: one without is reported with the cells
     * that went wrong, so the matrix cannot fall behind silently. */
    struct router *router = served_router();
    assert_non_null(router);
    static char report[65536];
    report[0] = '\0';
    int cells = 0, bad = 0;
    for (size_t i = 0; i < router_count(router); i++) {
        if (!find_row(router_op_at(router, i)->name)) {
            size_t n = strlen(report);
            snprintf(report + n, sizeof report - n, "  %-22s has no row\n",
                     router_op_at(router, i)->name);
            bad++;
        }
    }
    /* Rows run in table order (some build on the ones before): first every row that leaves
     * sessions as they are, with own then other ids; then the rows marked last, each with
     * both kinds of ids before the next. */
    for (int scope = 0; scope < N_SCOPES; scope++) {
        for (size_t i = 0; i < N_ROWS; i++) {
            if (rows[i].last || !router_find(router, rows[i].op, strlen(rows[i].op))) {
                continue;
            }
            for (int caller = 0; caller < N_CALLERS; caller++) {
                cells++;
                bad += !run_cell(mx, &rows[i], caller, scope, report, sizeof report);
            }
        }
    }
    for (size_t i = 0; i < N_ROWS; i++) {
        if (!rows[i].last || !router_find(router, rows[i].op, strlen(rows[i].op))) {
            continue;
        }
        for (int scope = 0; scope < N_SCOPES; scope++) {
            for (int caller = 0; caller < N_CALLERS; caller++) {
                cells++;
                bad += !run_cell(mx, &rows[i], caller, scope, report, sizeof report);
            }
        }
    }
    router_free(router);
    fprintf(stderr, "35_roles: %d cells of the matrix called, %d wrong\n", cells, bad);
    if (bad) {
        fail_msg("the role matrix does not hold in %d places:\n%s", bad, report);
    }

    /* What the refused calls must not have done. */
    struct tmsg *m = tauth_call(mx->b_admin.c, "user.get", "{id: %D}", mx->b_teacher);
    assert_msg(tauth_is_ok(m) && tmsg_str_is(m, "data.name", "B teacher") &&
                   tmsg_has(m, "data.employee_id") &&
                   tmsg_get(tmsg_root(m), "data.employee_id")->type == MSGPACK_OBJECT_NIL,
               m);
    tmsg_free(m);
    m = tauth_call(mx->b_admin.c, "user.get", "{id: %D}", mx->b_to_deactivate);
    assert_msg(tauth_is_ok(m) && tmsg_bool_is(m, "data.active", true), m);
    tmsg_free(m);
    TAUTH_OK(mx->b_admin.c, "auth.sessions.list", NULL);
    /* After logout every caller is anonymous, and the school's admin row did its work. */
    for (int c = ADMIN; c < N_CALLERS; c++) {
        TAUTH_ERR("unauthenticated", NULL, mx->who[c].c, "auth.sessions.list", NULL);
    }
    struct tauth_login again;
    char phone[TAUTH_PHONE_MAX];
    tauth_phone(phone, 1);
    age_codes(mx);
    login_or_fail(mx, phone, &again);
    m = tauth_call(again.c, "user.get", "{id: %D}", mx->a_to_update);
    assert_msg(tauth_is_ok(m) && tmsg_str_is(m, "data.name", "Renamed"), m);
    tmsg_free(m);
    m = tauth_call(again.c, "user.get", "{id: %D}", mx->a_to_deactivate);
    assert_msg(tauth_is_ok(m) && tmsg_bool_is(m, "data.active", false), m);
    tmsg_free(m);
    tauth_login_close(&again);
    /* Ended by the driver and by the admin; the other school's trip still runs. */
    char ids[64];
    snprintf(ids, sizeof ids, "{%lld,%lld}", (long long)mx->trip_a, (long long)mx->trip_a2);
    assert_int_equal(tauth_sql_int(mx->h, "SELECT count(*) FROM trips WHERE id = ANY($1::bigint[])"
                                          " AND status = 'ended'",
                                   ids, (const char *)NULL),
                     2);
    snprintf(ids, sizeof ids, "%lld", (long long)mx->trip_b);
    assert_int_equal(tauth_sql_int(mx->h, "SELECT count(*) FROM trips WHERE id = $1"
                                          " AND status = 'active'",
                                   ids, (const char *)NULL),
                     1);
    harness_passed(mx->h);
}

/* Polls audit.list with args until an entry has op and record_id (0: any), or fails. */
static struct tmsg *wait_audit(struct wsclient *c, const char *op, int64_t record_id)
{
    uint64_t deadline = tsys_mono_ms() + AUDIT_WAIT_MS;
    for (;;) {
        struct tmsg *m = tauth_call(c, "audit.list", "{limit: 1000}");
        assert_msg(tauth_is_ok(m), m);
        const msgpack_object *list = tmsg_get(tmsg_root(m), "data");
        for (uint32_t i = 0; i < list->via.array.size; i++) {
            const msgpack_object *e = &list->via.array.ptr[i];
            const msgpack_object *eop = tmsg_get(e, "op");
            const msgpack_object *rid = tmsg_get(e, "record_id");
            if (eop && eop->type == MSGPACK_OBJECT_STR && eop->via.str.size == strlen(op) &&
                memcmp(eop->via.str.ptr, op, eop->via.str.size) == 0 &&
                (!record_id ||
                 (rid && rid->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                  rid->via.u64 == (uint64_t)record_id))) {
                return m;
            }
        }
        if (tsys_left_ms(deadline) == 0) {
            fail_msg("no audit entry for %s %lld within %d ms: %s", op, (long long)record_id,
                     AUDIT_WAIT_MS, tmsg_text(m));
        }
        tmsg_free(m);
        tsys_sleep_ms(50);
    }
}

static void test_admin_manages_users_of_own_school_only(void **state)
{
    struct mx *mx = *state;
    char a_phone[TAUTH_PHONE_MAX], t_phone[TAUTH_PHONE_MAX], t_phone2[TAUTH_PHONE_MAX];
    int64_t a_admin = 0, b_admin = 0;
    tauth_phone(a_phone, 1);
    tauth_phone(mx->b_admin_phone, 2);
    tauth_phone(t_phone, 10);
    tauth_phone(t_phone2, 11);
    assert_true(tauth_school_create(mx->h, "School A", "Admin A", a_phone, &a_admin) > 0);
    assert_true(tauth_school_create(mx->h, "School B", "Admin B", mx->b_admin_phone,
                                    &b_admin) > 0);
    login_or_fail(mx, a_phone, &mx->who[ADMIN]);
    login_or_fail(mx, mx->b_admin_phone, &mx->b_admin);
    struct wsclient *a = mx->who[ADMIN].c, *b = mx->b_admin.c;

    /* create */
    struct tmsg *m = tauth_call(a, "user.create",
                                "{role: teacher, name: \"Tara Teacher\", phone: \"70000 00010\","
                                " employee_id: \"EMP-7\"}");
    int64_t teacher = 0;
    assert_msg(tauth_is_ok(m) && tauth_int(m, "data.id", &teacher) && teacher > 0, m);
    assert_msg(tmsg_get(tmsg_root(m), "data")->via.map.size == 1, m);
    tmsg_free(m);
    TAUTH_ERR("conflict", "phone", a, "user.create", "{role: parent, name: P, phone: %s}",
              t_phone);
    TAUTH_ERR("conflict", "phone", a, "user.create", "{role: parent, name: P, phone: %s}",
              mx->b_admin_phone);
    TAUTH_ERR("conflict", "phone", b, "user.create", "{role: parent, name: P, phone: %s}",
              t_phone);
    TAUTH_ERR("bad_request", "role", a, "user.create", "{role: janitor, name: J, phone: %s}",
              t_phone2);
    TAUTH_ERR("bad_request", "role", a, "user.create", "{role: Admin, name: J, phone: %s}",
              t_phone2);
    TAUTH_ERR("bad_request", "role", a, "user.create", "{name: J, phone: %s}", t_phone2);
    TAUTH_ERR("bad_request", "name", a, "user.create", "{role: parent, phone: %s}", t_phone2);
    TAUTH_ERR("bad_request", "phone", a, "user.create", "{role: parent, name: J}");
    TAUTH_ERR("bad_request", "phone", a, "user.create", "{role: parent, name: J, phone: \"12\"}");
    TAUTH_ERR("bad_request", "employee_id", a, "user.create",
              "{role: parent, name: J, phone: %s, employee_id: %s}", t_phone2,
              "01234567890123456789012345678901234567890123456789012345678901234");
    TAUTH_ERR("bad_request", "name", a, "user.create", "{role: parent, name: %s, phone: %s}",
              "J\xff\xfe", t_phone2);

    /* get */
    m = tauth_call(a, "user.get", "{id: %D}", teacher);
    assert_msg(tauth_is_ok(m), m);
    assert_msg(tmsg_get(tmsg_root(m), "data")->via.map.size == 8, m);
    assert_msg(tmsg_uint_is(m, "data.id", (uint64_t)teacher), m);
    assert_msg(tmsg_str_is(m, "data.role", "teacher") && tmsg_str_is(m, "data.name",
                                                                      "Tara Teacher"),
               m);
    assert_msg(tmsg_str_is(m, "data.phone", t_phone), m);
    assert_msg(tmsg_str_is(m, "data.employee_id", "EMP-7") && tmsg_bool_is(m, "data.active",
                                                                           true),
               m);
    int64_t created = 0, updated = 0;
    assert_msg(tauth_int(m, "data.created_at", &created) && tauth_int(m, "data.updated_at",
                                                                       &updated),
               m);
    assert_true(llabs(created - (int64_t)tsys_wall_ms()) < 60000 && updated >= created);
    tmsg_free(m);
    TAUTH_ERR("not_found", "id", b, "user.get", "{id: %D}", teacher);
    TAUTH_ERR("not_found", "id", a, "user.get", "{id: %D}", b_admin);
    TAUTH_ERR("not_found", "id", a, "user.get", "{id: 999999}");
    TAUTH_ERR("bad_request", "id", a, "user.get", "{id: 0}");
    TAUTH_ERR("bad_request", "id", a, "user.get", "{}");

    /* list: the school's users without their numbers, filtered and paged */
    int64_t parent = tauth_user_create(a, "parent", "Pia Parent", t_phone2);
    assert_true(parent > 0);
    m = tauth_call(a, "user.list", "{}");
    assert_msg(tauth_is_ok(m), m);
    const msgpack_object *list = tmsg_get(tmsg_root(m), "data");
    assert_msg(list->type == MSGPACK_OBJECT_ARRAY && list->via.array.size == 3, m);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        assert_msg(!tmsg_get(&list->via.array.ptr[i], "phone"), m);
        assert_msg(tmsg_get(&list->via.array.ptr[i], "id")->via.u64 != (uint64_t)b_admin, m);
    }
    assert_msg(tmsg_get(&list->via.array.ptr[0], "id")->via.u64 == (uint64_t)a_admin, m);
    tmsg_free(m);
    m = tauth_call(a, "user.list", "{role: parent}");
    list = tmsg_get(tmsg_root(m), "data");
    assert_msg(tauth_is_ok(m) && list->via.array.size == 1 &&
                   tmsg_get(&list->via.array.ptr[0], "id")->via.u64 == (uint64_t)parent,
               m);
    tmsg_free(m);
    m = tauth_call(a, "user.list", "{after: %D, limit: 1}", a_admin);
    list = tmsg_get(tmsg_root(m), "data");
    assert_msg(tauth_is_ok(m) && list->via.array.size == 1 &&
                   tmsg_get(&list->via.array.ptr[0], "id")->via.u64 == (uint64_t)teacher,
               m);
    tmsg_free(m);
    m = tauth_call(b, "user.list", "{}");
    list = tmsg_get(tmsg_root(m), "data");
    assert_msg(tauth_is_ok(m) && list->via.array.size == 1 &&
                   tmsg_get(&list->via.array.ptr[0], "id")->via.u64 == (uint64_t)b_admin,
               m);
    tmsg_free(m);
    TAUTH_ERR("bad_request", "role", a, "user.list", "{role: janitor}");
    TAUTH_ERR("bad_request", "limit", a, "user.list", "{limit: 0}");
    TAUTH_ERR("bad_request", "limit", a, "user.list", "{limit: 501}");

    /* update */
    char new_phone[TAUTH_PHONE_MAX];
    tauth_phone(new_phone, 12);
    TAUTH_OK(a, "user.update", "{id: %D, name: \"Tara T\", phone: %s, employee_id: \"EMP-8\"}",
             teacher, new_phone);
    m = tauth_call(a, "user.get", "{id: %D}", teacher);
    assert_msg(tauth_is_ok(m) && tmsg_str_is(m, "data.name", "Tara T") &&
                   tmsg_str_is(m, "data.phone", new_phone) &&
                   tmsg_str_is(m, "data.employee_id", "EMP-8") &&
                   tmsg_str_is(m, "data.role", "teacher"),
               m);
    int64_t updated2 = 0;
    assert_msg(tauth_int(m, "data.updated_at", &updated2) && updated2 >= updated, m);
    tmsg_free(m);
    TAUTH_ERR("conflict", "phone", a, "user.update", "{id: %D, phone: %s}", teacher,
              mx->b_admin_phone);
    TAUTH_ERR("conflict", "phone", a, "user.update", "{id: %D, phone: %s}", teacher, t_phone2);
    TAUTH_ERR("not_found", "id", b, "user.update", "{id: %D, name: Hijacked}", teacher);
    TAUTH_ERR("not_found", "id", a, "user.update", "{id: %D, name: Hijacked}", b_admin);
    /* A user's own number again is no conflict. */
    TAUTH_OK(a, "user.update", "{id: %D, phone: %s}", teacher, new_phone);
    TAUTH_ERR("bad_request", "phone", a, "user.update", "{id: %D, phone: \"12\"}", teacher);
    /* The new number logs in; the old one gets no SMS. */
    struct tauth_login t;
    login_or_fail(mx, new_phone, &t);
    assert_int_equal(t.user_id, teacher);
    tauth_login_close(&t);
    struct wsclient *c = tclient_open(mx->port);
    assert_non_null(c);
    TAUTH_OK(c, "auth.otp.request", "{phone: %s}", t_phone);
    tsys_sleep_ms(200);
    assert_int_equal(tauth_outbox_count(mx->h, t_phone), 0);
    wsclient_free(c);

    /* The audit log: written in the background, school by school. */
    m = wait_audit(a, "user.update", teacher);
    list = tmsg_get(tmsg_root(m), "data");
    bool create_seen = false, conflict_seen = false, login_seen = false;
    bool update_conflict_seen = false; /* refused updates name the record they tried */
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *e = &list->via.array.ptr[i];
        const msgpack_object *op = tmsg_get(e, "op");
        const msgpack_object *user = tmsg_get(e, "user");
        const msgpack_object *outcome = tmsg_get(e, "outcome");
        assert_msg(op && op->type == MSGPACK_OBJECT_STR && tmsg_get(e, "at") &&
                       tmsg_get(e, "id") && tmsg_get(e, "addr") && outcome,
                   m);
        assert_msg(!user || user->type == MSGPACK_OBJECT_NIL ||
                       user->via.u64 != (uint64_t)b_admin,
                   m);
        if (op->via.str.size == 11 && memcmp(op->via.str.ptr, "user.create", 11) == 0) {
            const msgpack_object *rid = tmsg_get(e, "record_id");
            if (outcome->via.str.size == 2 && rid && rid->via.u64 == (uint64_t)teacher) {
                create_seen = true;
                assert_msg(user && user->via.u64 == (uint64_t)a_admin, m);
                const msgpack_object *role = tmsg_get(e, "role");
                assert_msg(role && role->type == MSGPACK_OBJECT_STR && role->via.str.size == 5,
                           m);
            }
            conflict_seen = conflict_seen || (outcome->via.str.size == 8 &&
                                              memcmp(outcome->via.str.ptr, "conflict", 8) == 0);
        }
        if (op->via.str.size == 11 && memcmp(op->via.str.ptr, "user.update", 11) == 0 &&
            outcome->via.str.size == 8 && memcmp(outcome->via.str.ptr, "conflict", 8) == 0) {
            const msgpack_object *rid = tmsg_get(e, "record_id");
            update_conflict_seen = update_conflict_seen ||
                                   (rid && rid->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
                                    rid->via.u64 == (uint64_t)teacher);
        }
        login_seen = login_seen || (op->via.str.size == 15 &&
                                    memcmp(op->via.str.ptr, "auth.otp.verify", 15) == 0);
    }
    assert_msg(create_seen && conflict_seen && login_seen && update_conflict_seen, m);
    tmsg_free(m);
    /* Filters */
    m = tauth_call(a, "audit.list", "{record_type: user, record_id: %D}", teacher);
    list = tmsg_get(tmsg_root(m), "data");
    assert_msg(tauth_is_ok(m) && list->via.array.size >= 3, m);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        assert_msg(tmsg_get(&list->via.array.ptr[i], "record_id")->via.u64 == (uint64_t)teacher,
                   m);
    }
    uint64_t newest = tmsg_get(&list->via.array.ptr[0], "id")->via.u64;
    uint64_t second = tmsg_get(&list->via.array.ptr[1], "id")->via.u64;
    assert_msg(newest > second, m);
    tmsg_free(m);
    m = tauth_call(a, "audit.list", "{record_type: user, record_id: %D, before: %U, limit: 1}",
                   teacher, newest);
    list = tmsg_get(tmsg_root(m), "data");
    assert_msg(tauth_is_ok(m) && list->via.array.size == 1 &&
                   tmsg_get(&list->via.array.ptr[0], "id")->via.u64 == second,
               m);
    tmsg_free(m);
    uint64_t later = tsys_wall_ms() + 3600 * 1000;
    m = tauth_call(a, "audit.list", "{from: %U}", later);
    assert_msg(tauth_is_ok(m) && tmsg_get(tmsg_root(m), "data")->via.array.size == 0, m);
    tmsg_free(m);
    /* School B's log has none of school A's entries. */
    m = tauth_call(b, "audit.list", "{record_type: user, record_id: %D}", teacher);
    list = tmsg_get(tmsg_root(m), "data");
    assert_msg(tauth_is_ok(m), m);
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        /* Only B's own refused attempts on A's id may be there, made by B's admin. */
        assert_msg(tmsg_get(&list->via.array.ptr[i], "user")->via.u64 == (uint64_t)b_admin, m);
    }
    tmsg_free(m);
    m = tauth_call(b, "audit.list", "{user: %D}", a_admin);
    assert_msg(tauth_is_ok(m) && tmsg_get(tmsg_root(m), "data")->via.array.size == 0, m);
    tmsg_free(m);
    TAUTH_ERR("bad_request", "limit", a, "audit.list", "{limit: 0}");
    TAUTH_ERR("bad_request", "user", a, "audit.list", "{user: x}");
    TAUTH_ERR("bad_request", "record_type", a, "audit.list", "{record_type: %s}", "user\xff");
    harness_passed(mx->h);
}

/* Waits up to timeout_ms for the event ev about trip; other messages are skipped. */
static bool got_trip_event(struct wsclient *c, const char *ev, int64_t trip, int timeout_ms)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)timeout_ms;
    while (tsys_left_ms(deadline) > 0) {
        struct wsclient_msg raw;
        if (wsclient_recv(c, &raw, tsys_left_ms(deadline)) != 0) {
            return false;
        }
        struct tmsg *m = raw.opcode == WSCLIENT_OP_BINARY ? tmsg_decode(raw.data, raw.len)
                                                          : NULL;
        wsclient_msg_deinit(&raw);
        bool hit = tmsg_is_event(m, ev) && tmsg_uint_is(m, "data.trip", (uint64_t)trip);
        tmsg_free(m);
        if (hit) {
            return true;
        }
    }
    return false;
}

/* A parent who logs out, or logs in as someone else on the same connection, stops getting
 * the bus: the connection is no longer theirs. */
static void test_logout_ends_live_trip_events(void **state)
{
    struct mx *mx = *state;
    char a_phone[TAUTH_PHONE_MAX], d_phone[TAUTH_PHONE_MAX], p_phone[TAUTH_PHONE_MAX],
        t_phone[TAUTH_PHONE_MAX];
    tauth_phone(a_phone, 1);
    tauth_phone(mx->b_admin_phone, 2);
    tauth_phone(d_phone, 10);
    tauth_phone(p_phone, 11);
    tauth_phone(t_phone, 12);
    mx->school_a = tauth_school_create(mx->h, "School A", "Admin A", a_phone, NULL);
    mx->school_b = tauth_school_create(mx->h, "School B", "Admin B", mx->b_admin_phone, NULL);
    assert_true(mx->school_a > 0 && mx->school_b > 0);
    login_or_fail(mx, a_phone, &mx->who[ADMIN]);
    login_or_fail(mx, mx->b_admin_phone, &mx->b_admin);
    assert_true(tauth_user_create(mx->who[ADMIN].c, "driver", "D", d_phone) > 0);
    int64_t parent = tauth_user_create(mx->who[ADMIN].c, "parent", "P", p_phone);
    assert_true(parent > 0);
    assert_true(tauth_user_create(mx->who[ADMIN].c, "teacher", "T", t_phone) > 0);
    build_tracking(mx, parent);
    login_or_fail(mx, d_phone, &mx->who[DRIVER]);
    struct tmsg *m = tauth_call(mx->who[DRIVER].c, "trip.start", "{route: %D}", mx->route_a);
    assert_msg(tauth_is_ok(m) && tauth_int(m, "data.trip", &mx->trip_a), m);
    tmsg_free(m);

    login_or_fail(mx, p_phone, &mx->who[PARENT]);
    struct wsclient *pc = mx->who[PARENT].c;
    TAUTH_OK(pc, "trip.subscribe", "{trip: %D}", mx->trip_a);
    TAUTH_OK(mx->who[DRIVER].c, "trip.pos", "{trip: %D, lat: 12.9716, lon: 77.5946, ts: %U}",
             mx->trip_a, tsys_wall_ms());
    assert_true(got_trip_event(pc, "trip.pos", mx->trip_a, 3000));

    /* Logged out: no more positions on this connection. */
    TAUTH_OK(pc, "auth.logout", NULL);
    tsys_sleep_ms(600); /* the tracker takes one position every 500 ms */
    TAUTH_OK(mx->who[DRIVER].c, "trip.pos", "{trip: %D, lat: 12.97165, lon: 77.59465, ts: %U}",
             mx->trip_a, tsys_wall_ms());
    if (got_trip_event(pc, "trip.pos", mx->trip_a, 700)) {
        fail_msg("a connection that logged out still receives the trip's positions");
    }
    TAUTH_ERR("unauthenticated", NULL, pc, "trip.subscribe", "{trip: %D}", mx->trip_a);

    /* Logged in again there, subscribed, then logged in as a teacher on the same
     * connection: the teacher does not get the parent's bus. */
    age_codes(mx);
    int seen = tauth_outbox_count(mx->h, p_phone);
    TAUTH_OK(pc, "auth.otp.request", "{phone: %s}", p_phone);
    char code[7];
    assert_true(tauth_outbox_wait_code(mx->h, p_phone, seen, code, 5000));
    TAUTH_OK(pc, "auth.otp.verify", "{phone: %s, code: %s}", p_phone, code);
    m = tauth_call(pc, "trip.subscribe", "{trip: %D}", mx->trip_a);
    assert_msg(tauth_is_ok(m) && tmsg_is_map(m, "data.last"), m);
    tmsg_free(m);
    seen = tauth_outbox_count(mx->h, t_phone);
    TAUTH_OK(pc, "auth.otp.request", "{phone: %s}", t_phone);
    assert_true(tauth_outbox_wait_code(mx->h, t_phone, seen, code, 5000));
    m = tauth_call(pc, "auth.otp.verify", "{phone: %s, code: %s}", t_phone, code);
    assert_msg(tauth_is_ok(m) && tmsg_str_is(m, "data.user.role", "teacher"), m);
    tmsg_free(m);
    tsys_sleep_ms(600);
    TAUTH_OK(mx->who[DRIVER].c, "trip.pos", "{trip: %D, lat: 12.97170, lon: 77.59470, ts: %U}",
             mx->trip_a, tsys_wall_ms());
    if (got_trip_event(pc, "trip.pos", mx->trip_a, 700)) {
        fail_msg("a parent's subscription followed the connection to the next user");
    }
    /* The other school's admin can neither follow nor end it. */
    TAUTH_ERR("not_found", "trip", mx->b_admin.c, "trip.subscribe", "{trip: %D}", mx->trip_a);
    TAUTH_ERR("not_found", "trip", mx->b_admin.c, "trip.end", "{trip: %D}", mx->trip_a);
    harness_passed(mx->h);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_every_served_op_has_a_matrix_row),
        T(test_role_matrix),
        T(test_admin_manages_users_of_own_school_only),
        T(test_logout_ends_live_trip_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
