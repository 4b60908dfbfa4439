/* The access policy (people/policy.h, tracking/access.h) against a real database: for each
 * scoped question, the caller's own record is allowed, a record of their school that is not
 * theirs is forbidden, and another school's record is not found, exactly as a missing one. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/migrate.h"
#include "people/policy.h"
#include "tracking/access.h"
#include "tests/support/testdb.h"

static struct testdb db;

/* Ids of the records the fixture makes; school B holds one of each kind too. */
static struct {
    int64_t school_a, school_b;
    int64_t admin_a, parent_a, other_parent_a, driver_a, other_driver_a, teacher_a;
    int64_t student_a, route_a, bus_a, trip_a;
    int64_t admin_b, parent_b, student_b, route_b, bus_b, trip_b;
} ids;

static PGconn *connect_db(void)
{
    PGconn *pg = PQconnectdb(db.conninfo);
    if (PQstatus(pg) != CONNECTION_OK) {
        fprintf(stderr, "55_policy: %s", PQerrorMessage(pg));
        exit(1);
    }
    return pg;
}

static int64_t one(PGconn *pg, const char *sql)
{
    PGresult *res = PQexec(pg, sql);
    if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
        fprintf(stderr, "55_policy: %s: %s", sql, PQerrorMessage(pg));
        exit(1);
    }
    int64_t v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return v;
}

static int64_t user(PGconn *pg, int64_t school, const char *role, int n)
{
    char sql[512];
    /* Phones are sealed in real rows; the policy never reads them, so distinct bytes do. */
    snprintf(sql, sizeof sql,
             "INSERT INTO users (school_id, role, name, phone_enc, phone_key, phone_bi)"
             " VALUES (%lld, '%s', '%s %d', '\\x00', 1, '\\x%02x%02x') RETURNING id",
             (long long)school, role, role, n, (unsigned)school, (unsigned)n);
    return one(pg, sql);
}

static int group_setup(void **state)
{
    (void)state;
    if (testdb_create(&db, "t_policy") != 0) {
        return -1;
    }
    PGconn *pg = connect_db();
    char sql[1024];
    char err[512];
    int applied;
    const char *sql_dir = getenv("CLASSMENT_SQL_DIR");
    assert_int_equal(migrate_run(db.conninfo, sql_dir ? sql_dir : "sql", &applied, err, sizeof err),
                     0);
    ids.school_a = one(pg, "INSERT INTO schools (name) VALUES ('A') RETURNING id");
    ids.school_b = one(pg, "INSERT INTO schools (name) VALUES ('B') RETURNING id");
    ids.admin_a = user(pg, ids.school_a, "admin", 1);
    ids.parent_a = user(pg, ids.school_a, "parent", 2);
    ids.other_parent_a = user(pg, ids.school_a, "parent", 3);
    ids.driver_a = user(pg, ids.school_a, "driver", 4);
    ids.other_driver_a = user(pg, ids.school_a, "driver", 5);
    ids.teacher_a = user(pg, ids.school_a, "teacher", 6);
    ids.admin_b = user(pg, ids.school_b, "admin", 1);
    ids.parent_b = user(pg, ids.school_b, "parent", 2);
    int64_t driver_b = user(pg, ids.school_b, "driver", 3);
    int64_t schools[2] = { ids.school_a, ids.school_b };
    int64_t parents[2] = { ids.parent_a, ids.parent_b };
    int64_t drivers[2] = { ids.driver_a, driver_b };
    int64_t *students[2] = { &ids.student_a, &ids.student_b };
    int64_t *routes[2] = { &ids.route_a, &ids.route_b };
    int64_t *buses[2] = { &ids.bus_a, &ids.bus_b };
    int64_t *trips[2] = { &ids.trip_a, &ids.trip_b };
    for (int i = 0; i < 2; i++) {
        long long s = (long long)schools[i];
        snprintf(sql, sizeof sql, "INSERT INTO students (school_id, name, admission_no)"
                                  " VALUES (%lld, 'Child', 'A1') RETURNING id", s);
        *students[i] = one(pg, sql);
        snprintf(sql, sizeof sql, "INSERT INTO routes (school_id, name) VALUES (%lld, 'R')"
                                  " RETURNING id", s);
        *routes[i] = one(pg, sql);
        snprintf(sql, sizeof sql, "INSERT INTO buses (school_id, registration_no, capacity)"
                                  " VALUES (%lld, 'KA01', 40) RETURNING id", s);
        *buses[i] = one(pg, sql);
        snprintf(sql, sizeof sql,
                 "WITH g AS (INSERT INTO guardians (student_id, user_id, school_id, relationship)"
                 "  VALUES (%lld, %lld, %lld, 'mother')),"
                 " a AS (INSERT INTO route_assignments (route_id, student_id, school_id)"
                 "  VALUES (%lld, %lld, %lld))"
                 " INSERT INTO trips (school_id, route_id, driver_id) VALUES (%lld, %lld, %lld)"
                 " RETURNING id",
                 (long long)*students[i], (long long)parents[i], s, (long long)*routes[i],
                 (long long)*students[i], s, s, (long long)*routes[i], (long long)drivers[i]);
        *trips[i] = one(pg, sql);
    }
    PQfinish(pg);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    testdb_drop(&db);
    return 0;
}

/* --- asking --- */

/* Runs a question's query as (school, user, role) with the parameters an op would add
 * (policy_params), and returns the answer its result gives. */
static enum policy_answer ask(int64_t school, int64_t user_id, unsigned role, const char *sql,
                              int64_t id)
{
    struct op_ctx op = { .caller = { .user_id = user_id, .school_id = school, .session_id = 1,
                                     .role = role },
                         .op_name = "55_policy" };
    policy_params(&op, id);
    PGconn *pg = connect_db();
    PGresult *res = PQexecParams(pg, sql, op.n_params, NULL, op.params, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    enum policy_answer answer = policy_answer(res);
    PQclear(res);
    PQfinish(pg);
    arena_deinit(&op.arena);
    return answer;
}

static void test_records_of_the_callers_school_are_found_and_others_are_not(void **state)
{
    (void)state;
    int64_t a = ids.school_a, admin = ids.admin_a;
    const char *user = policy_sql(POLICY_USER_IN_SCHOOL);
    const char *student = policy_sql(POLICY_STUDENT_IN_SCHOOL);
    const char *route = access_sql(ACCESS_ROUTE_IN_SCHOOL);
    const char *bus = access_sql(ACCESS_BUS_IN_SCHOOL);
    const char *trip = access_sql(ACCESS_TRIP_IN_SCHOOL);
    assert_int_equal(ask(a, admin, ROLE_ADMIN, user, ids.parent_a), POLICY_ALLOW);
    assert_int_equal(ask(a, admin, ROLE_ADMIN, user, ids.parent_b), POLICY_NOT_FOUND);
    assert_int_equal(ask(a, admin, ROLE_ADMIN, student, ids.student_a), POLICY_ALLOW);
    assert_int_equal(ask(a, admin, ROLE_ADMIN, student, ids.student_b), POLICY_NOT_FOUND);
    assert_int_equal(ask(a, admin, ROLE_ADMIN, route, ids.route_a), POLICY_ALLOW);
    assert_int_equal(ask(a, admin, ROLE_ADMIN, route, ids.route_b), POLICY_NOT_FOUND);
    assert_int_equal(ask(a, admin, ROLE_ADMIN, bus, ids.bus_a), POLICY_ALLOW);
    assert_int_equal(ask(a, admin, ROLE_ADMIN, bus, ids.bus_b), POLICY_NOT_FOUND);
    assert_int_equal(ask(a, admin, ROLE_ADMIN, trip, ids.trip_a), POLICY_ALLOW);
    assert_int_equal(ask(a, admin, ROLE_ADMIN, trip, ids.trip_b), POLICY_NOT_FOUND);
    assert_int_equal(ask(a, admin, ROLE_ADMIN, trip, 999999), POLICY_NOT_FOUND);
}

static void test_only_a_linked_parent_is_parent_of_a_student(void **state)
{
    (void)state;
    int64_t a = ids.school_a;
    const char *parent_of = policy_sql(POLICY_PARENT_OF_STUDENT);
    assert_int_equal(ask(a, ids.parent_a, ROLE_PARENT, parent_of, ids.student_a), POLICY_ALLOW);
    assert_int_equal(ask(a, ids.other_parent_a, ROLE_PARENT, parent_of, ids.student_a),
                     POLICY_FORBIDDEN);
    assert_int_equal(ask(a, ids.teacher_a, ROLE_TEACHER, parent_of, ids.student_a),
                     POLICY_FORBIDDEN);
    /* Another school's child: not found, even for that child's own parent asking as school A. */
    assert_int_equal(ask(a, ids.parent_a, ROLE_PARENT, parent_of, ids.student_b),
                     POLICY_NOT_FOUND);
}

static void test_a_trip_is_followed_by_its_riders_parents_and_admins_only(void **state)
{
    (void)state;
    int64_t a = ids.school_a, trip = ids.trip_a;
    const char *follows = access_sql(ACCESS_FOLLOWS_TRIP);
    assert_int_equal(ask(a, ids.parent_a, ROLE_PARENT, follows, trip), POLICY_ALLOW);
    assert_int_equal(ask(a, ids.admin_a, ROLE_ADMIN, follows, trip), POLICY_ALLOW);
    assert_int_equal(ask(a, ids.other_parent_a, ROLE_PARENT, follows, trip), POLICY_FORBIDDEN);
    assert_int_equal(ask(a, ids.teacher_a, ROLE_TEACHER, follows, trip), POLICY_FORBIDDEN);
    assert_int_equal(ask(a, ids.driver_a, ROLE_DRIVER, follows, trip), POLICY_FORBIDDEN);
    assert_int_equal(ask(a, ids.admin_a, ROLE_ADMIN, follows, ids.trip_b), POLICY_NOT_FOUND);
    assert_int_equal(ask(ids.school_b, ids.admin_b, ROLE_ADMIN, follows, trip),
                     POLICY_NOT_FOUND);
}

/* A student who has left (inactive) rides nothing, even while an assignment row is still there
 * (student.delete removes it, but a concurrent route.assign can leave one for a moment): their
 * parent no longer follows the trip. */
static void test_the_parent_of_a_student_who_left_does_not_follow_the_trip(void **state)
{
    (void)state;
    const char *follows = access_sql(ACCESS_FOLLOWS_TRIP);
    PGconn *pg = connect_db();
    char sql[256];
    snprintf(sql, sizeof sql, "UPDATE students SET active = false, status = 'left',"
             " left_on = current_date WHERE id = %lld",
             (long long)ids.student_a);
    PQclear(PQexec(pg, sql));
    enum policy_answer left = ask(ids.school_a, ids.parent_a, ROLE_PARENT, follows, ids.trip_a);
    snprintf(sql, sizeof sql, "UPDATE students SET active = true, status = 'enrolled',"
             " left_on = NULL WHERE id = %lld",
             (long long)ids.student_a);
    PQclear(PQexec(pg, sql));
    PQfinish(pg);
    assert_int_equal(left, POLICY_FORBIDDEN);
    assert_int_equal(ask(ids.school_a, ids.parent_a, ROLE_PARENT, follows, ids.trip_a),
                     POLICY_ALLOW);
}

static void test_a_trip_is_driven_by_its_driver_only(void **state)
{
    (void)state;
    int64_t a = ids.school_a, trip = ids.trip_a;
    const char *drives = access_sql(ACCESS_DRIVES_TRIP);
    assert_int_equal(ask(a, ids.driver_a, ROLE_DRIVER, drives, trip), POLICY_ALLOW);
    assert_int_equal(ask(a, ids.other_driver_a, ROLE_DRIVER, drives, trip), POLICY_FORBIDDEN);
    assert_int_equal(ask(a, ids.admin_a, ROLE_ADMIN, drives, trip), POLICY_FORBIDDEN);
    assert_int_equal(ask(a, ids.driver_a, ROLE_DRIVER, drives, ids.trip_b), POLICY_NOT_FOUND);
}

static void test_an_unknown_question_has_no_query(void **state)
{
    (void)state;
    assert_null(policy_sql(POLICY__COUNT));
    assert_null(access_sql(ACCESS__COUNT));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_of_the_callers_school_are_found_and_others_are_not),
        cmocka_unit_test(test_only_a_linked_parent_is_parent_of_a_student),
        cmocka_unit_test(test_a_trip_is_followed_by_its_riders_parents_and_admins_only),
        cmocka_unit_test(test_the_parent_of_a_student_who_left_does_not_follow_the_trip),
        cmocka_unit_test(test_a_trip_is_driven_by_its_driver_only),
        cmocka_unit_test(test_an_unknown_question_has_no_query),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
