/* classment-fixture: data for benchmarks and demos, written straight into a database.
 *   load --trips T --parents S [--url URL] [--out FILE]   one school, T routes with a driver and
 *        an active trip each, S parents per trip whose children ride that route, a session
 *        for every driver and parent; prints {"url", "drivers": [{token, trip}],
 *        "parents": [{token, trip}]} (PROTOCOL.md, "Load fixtures").
 *   records [--sections N] [--students M] [--url URL] [--out FILE]   one school with a
 *        current year, N sections (default 300) over twelve classes, each with a class
 *        teacher and M students (default 40) with a parent each, a term with a marked
 *        Mathematics exam per section and a remark per student; prints {"url", "school",
 *        "admin": token, "sections": [{token, section, class, name, exam, term,
 *        students: [ids]}]}.
 *   demo --school ID                                       a route of real-looking stops in
 *        Bengaluru, a bus, a driver, two parents and their children for the demo school;
 *        prints {"route", "driver": {phone, token}, "parents": [{phone}]}.
 * Uses CLASSMENT_DB and CLASSMENT_KEY_FILE like classment-admin. */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/crypto.h"
#include "core/dbval.h"
#include "core/pii.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

#define MAX_TRIPS 10000
#define MAX_PARENTS 1000
#define STOPS_PER_ROUTE 6
#define MAX_SECTIONS 2000
#define MAX_SECTION_STUDENTS 100

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "classment-fixture: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static PGresult *exec_ok(PGconn *pg, const char *what, const char *sql, int n,
                         const char *const *params)
{
    PGresult *res = PQexecParams(pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
        const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
        die("%s: %s", what, msg ? msg : PQerrorMessage(pg));
    }
    return res;
}

static void exec_cmd(PGconn *pg, const char *what, const char *sql, int n,
                     const char *const *params)
{
    PQclear(exec_ok(pg, what, sql, n, params));
}

static const char *arg_value(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++) {
        if (strcmp(argv[i], name) == 0) {
            return argv[i + 1];
        }
    }
    return NULL;
}

/* Users of one role, created in one statement; phones are synthetic and unique per school.
 * ids[] receives the new ids in order. */
static void create_users(PGconn *pg, const struct crypto_keys *keys, int64_t school,
                         const char *role, const char *name_prefix, int64_t phone_base,
                         size_t n, int64_t *ids)
{
    char count[24];
    const char *p1[] = { dbval_i64((int64_t)n, count) };
    PGresult *res = exec_ok(pg, "allocating user ids",
                            "SELECT nextval('users_id_seq') FROM generate_series(1, $1)", 1, p1);
    struct strbuf c_id, c_name, c_enc, c_key, c_bi;
    struct strbuf *cols[] = { &c_id, &c_name, &c_enc, &c_key, &c_bi };
    for (size_t c = 0; c < 5; c++) {
        strbuf_init(cols[c]);
        strbuf_append(cols[c], "{", 1);
    }
    for (size_t i = 0; i < n; i++) {
        ids[i] = strtoll(PQgetvalue(res, (int)i, 0), NULL, 10);
        char phone[32];
        snprintf(phone, sizeof phone, "+91%010" PRId64, (phone_base + (int64_t)i) % 10000000000);
        char sealed[PII_SEALED_PHONE_HEX];
        unsigned char bi[CRYPTO_HASH_BYTES];
        int version = pii_seal_phone(keys, ids[i], phone, sealed);
        pii_phone_index_raw(keys, phone, bi);
        const char *sep = i ? "," : "";
        strbuf_printf(&c_id, "%s%" PRId64, sep, ids[i]);
        strbuf_printf(&c_name, "%s\"%s %zu\"", sep, name_prefix, i + 1);
        /* sealed is "\x…": inside an array literal the backslash is escaped. */
        strbuf_printf(&c_enc, "%s\"\\\\%s\"", sep, sealed + 1);
        strbuf_printf(&c_key, "%s%d", sep, version);
        dbval_bytea_array_add(&c_bi, bi, sizeof bi);
    }
    PQclear(res);
    for (size_t c = 0; c < 5; c++) {
        strbuf_append(cols[c], "}", 1);
    }
    char school_s[24];
    const char *params[] = { dbval_i64(school, school_s), role, c_id.data, c_name.data,
                             c_enc.data, c_key.data, c_bi.data };
    exec_cmd(pg, "creating users",
             "INSERT INTO users (id, school_id, role, name, phone_enc, phone_key, phone_bi)"
             " SELECT u.id, $1, $2, u.name, u.enc, u.k, u.bi"
             " FROM unnest($3::bigint[], $4::text[], $5::bytea[], $6::smallint[], $7::bytea[])"
             "  AS u(id, name, enc, k, bi)",
             7, params);
    for (size_t c = 0; c < 5; c++) {
        strbuf_deinit(cols[c]);
    }
}

/* Opens a session for each user; tokens[i] receives user i's token. */
static void create_sessions(PGconn *pg, int64_t school, const int64_t *users, size_t n,
                            char (*tokens)[CRYPTO_TOKEN_CHARS + 1])
{
    struct strbuf c_user, c_hash;
    strbuf_init(&c_user);
    strbuf_init(&c_hash);
    strbuf_append(&c_user, "{", 1);
    strbuf_append(&c_hash, "{", 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char hash[CRYPTO_HASH_BYTES];
        crypto_token_new(tokens[i]);
        crypto_token_hash(tokens[i], strlen(tokens[i]), hash);
        strbuf_printf(&c_user, "%s%" PRId64, i ? "," : "", users[i]);
        dbval_bytea_array_add(&c_hash, hash, sizeof hash);
    }
    strbuf_append(&c_user, "}", 1);
    strbuf_append(&c_hash, "}", 1);
    char school_s[24];
    const char *params[] = { dbval_i64(school, school_s), c_user.data, c_hash.data };
    exec_cmd(pg, "creating sessions",
             "INSERT INTO sessions (user_id, school_id, token_hash, device_type, device_os,"
             " app_version, expires_at)"
             " SELECT u, $1, h, 'fixture', 'linux', '1', now() + interval '30 days'"
             " FROM unnest($2::bigint[], $3::bytea[]) AS s(u, h)",
             3, params);
    strbuf_deinit(&c_user);
    strbuf_deinit(&c_hash);
}

static int64_t insert_school(PGconn *pg, const char *name)
{
    const char *params[] = { name };
    PGresult *res = exec_ok(pg, "creating the school",
                            "INSERT INTO schools (name) VALUES ($1) RETURNING id", 1, params);
    int64_t id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    return id;
}

/* A route of STOPS_PER_ROUTE stops about 600 m apart, heading north-east from (lat, lon). */
static int64_t insert_route(PGconn *pg, int64_t school, const char *name, double lat,
                            double lon, const char *const *stop_names, int64_t *stop_ids)
{
    struct strbuf names, lats, lons;
    strbuf_init(&names);
    strbuf_init(&lats);
    strbuf_init(&lons);
    strbuf_append(&names, "{", 1);
    strbuf_append(&lats, "{", 1);
    strbuf_append(&lons, "{", 1);
    for (int i = 0; i < STOPS_PER_ROUTE; i++) {
        const char *sep = i ? "," : "";
        strbuf_printf(&names, "%s\"%s\"", sep, stop_names[i]);
        strbuf_printf(&lats, "%s%.6f", sep, lat + 0.004 * i);
        strbuf_printf(&lons, "%s%.6f", sep, lon + 0.0035 * i);
    }
    strbuf_append(&names, "}", 1);
    strbuf_append(&lats, "}", 1);
    strbuf_append(&lons, "}", 1);
    char school_s[24];
    const char *params[] = { dbval_i64(school, school_s), name, names.data, lats.data,
                             lons.data };
    PGresult *res = exec_ok(pg, "creating a route",
                            "WITH r AS (INSERT INTO routes (school_id, name) VALUES ($1, $2)"
                            "  RETURNING id)"
                            " INSERT INTO route_stops (route_id, seq, name, location)"
                            " SELECT r.id, s.seq, s.name,"
                            "  ST_SetSRID(ST_MakePoint(s.lon, s.lat), 4326)::geography"
                            " FROM r, unnest($3::text[], $4::float8[], $5::float8[])"
                            "  WITH ORDINALITY AS s(name, lat, lon, seq)"
                            " RETURNING route_id, id",
                            5, params);
    int64_t route = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    for (int i = 0; i < PQntuples(res) && i < STOPS_PER_ROUTE; i++) {
        stop_ids[i] = strtoll(PQgetvalue(res, i, 1), NULL, 10);
    }
    PQclear(res);
    strbuf_deinit(&names);
    strbuf_deinit(&lats);
    strbuf_deinit(&lons);
    return route;
}

/* One child per parent, riding route from one of its stops. */
static void insert_riders(PGconn *pg, int64_t school, int64_t route, const int64_t *stop_ids,
                          const int64_t *parents, size_t n, const char *prefix)
{
    struct strbuf c_parent, c_stop, c_no;
    strbuf_init(&c_parent);
    strbuf_init(&c_stop);
    strbuf_init(&c_no);
    strbuf_append(&c_parent, "{", 1);
    strbuf_append(&c_stop, "{", 1);
    strbuf_append(&c_no, "{", 1);
    for (size_t i = 0; i < n; i++) {
        const char *sep = i ? "," : "";
        strbuf_printf(&c_parent, "%s%" PRId64, sep, parents[i]);
        strbuf_printf(&c_stop, "%s%" PRId64, sep, stop_ids[i % STOPS_PER_ROUTE]);
        strbuf_printf(&c_no, "%s\"%s-%" PRId64 "-%zu\"", sep, prefix, route, i + 1);
    }
    strbuf_append(&c_parent, "}", 1);
    strbuf_append(&c_stop, "}", 1);
    strbuf_append(&c_no, "}", 1);
    char school_s[24], route_s[24];
    const char *params[] = { dbval_i64(school, school_s), dbval_i64(route, route_s),
                             c_parent.data, c_stop.data, c_no.data };
    exec_cmd(pg, "creating students",
             "WITH input AS (SELECT * FROM unnest($3::bigint[], $4::bigint[], $5::text[])"
             "   AS x(parent, stop, adm)),"
             " st AS (INSERT INTO students (school_id, name, admission_no)"
             "   SELECT $1, 'Student ' || adm, adm FROM input RETURNING id, admission_no),"
             " g AS (INSERT INTO guardians (student_id, user_id, school_id, relationship)"
             "   SELECT st.id, input.parent, $1, 'parent' FROM st"
             "   JOIN input ON input.adm = st.admission_no)"
             " INSERT INTO route_assignments (route_id, student_id, stop_id, school_id)"
             " SELECT $2, st.id, input.stop, $1 FROM st JOIN input ON input.adm = st.admission_no",
             5, params);
    strbuf_deinit(&c_parent);
    strbuf_deinit(&c_stop);
    strbuf_deinit(&c_no);
}

static const char *const generic_stops[STOPS_PER_ROUTE] = {
    "Stop 1", "Stop 2", "Stop 3", "Stop 4", "Stop 5", "School gate",
};

static int cmd_load(int argc, char **argv, PGconn *pg, const struct crypto_keys *keys)
{
    const char *trips_s = arg_value(argc, argv, "--trips");
    const char *parents_s = arg_value(argc, argv, "--parents");
    const char *url = arg_value(argc, argv, "--url");
    const char *out_path = arg_value(argc, argv, "--out");
    long n_trips = trips_s ? strtol(trips_s, NULL, 10) : 0;
    long per_trip = parents_s ? strtol(parents_s, NULL, 10) : 0;
    if (n_trips < 1 || n_trips > MAX_TRIPS || per_trip < 0 || per_trip > MAX_PARENTS) {
        die("load needs --trips 1-%d and --parents 0-%d", MAX_TRIPS, MAX_PARENTS);
    }
    if (!url) {
        url = "ws://127.0.0.1:8080/v1/ws";
    }
    exec_cmd(pg, "begin", "BEGIN", 0, NULL);
    char name[64];
    snprintf(name, sizeof name, "Load fixture %lld", (long long)time(NULL));
    int64_t school = insert_school(pg, name);
    /* Synthetic numbers +91 6xxxxxxxxx, unique per school. */
    int64_t phone_base = 6000000000LL + (school % 3000) * 1000000LL;
    size_t n_parents = (size_t)(n_trips * per_trip);
    int64_t *drivers = xcalloc((size_t)n_trips, sizeof *drivers);
    int64_t *parents = xcalloc(n_parents ? n_parents : 1, sizeof *parents);
    int64_t *trip_ids = xcalloc((size_t)n_trips, sizeof *trip_ids);
    create_users(pg, keys, school, "driver", "Driver", phone_base, (size_t)n_trips, drivers);
    if (n_parents) {
        create_users(pg, keys, school, "parent", "Parent", phone_base + MAX_TRIPS, n_parents,
                     parents);
    }
    for (long t = 0; t < n_trips; t++) {
        char route_name[32];
        snprintf(route_name, sizeof route_name, "Route %ld", t + 1);
        int64_t stop_ids[STOPS_PER_ROUTE] = { 0 };
        double lat = 12.90 + 0.01 * (double)(t % 20);
        double lon = 77.55 + 0.01 * (double)(t / 20 % 20);
        int64_t route = insert_route(pg, school, route_name, lat, lon, generic_stops, stop_ids);
        if (per_trip) {
            insert_riders(pg, school, route, stop_ids, parents + t * per_trip,
                          (size_t)per_trip, "L");
        }
        char school_s[24], route_s[24], driver_s[24];
        const char *params[] = { dbval_i64(school, school_s), dbval_i64(route, route_s),
                                 dbval_i64(drivers[t], driver_s) };
        PGresult *res = exec_ok(pg, "starting a trip",
                                "INSERT INTO trips (school_id, route_id, driver_id)"
                                " VALUES ($1, $2, $3) RETURNING id",
                                3, params);
        trip_ids[t] = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
        PQclear(res);
    }
    char (*driver_tokens)[CRYPTO_TOKEN_CHARS + 1] = xcalloc((size_t)n_trips,
                                                            sizeof *driver_tokens);
    char (*parent_tokens)[CRYPTO_TOKEN_CHARS + 1] = xcalloc(n_parents ? n_parents : 1,
                                                            sizeof *parent_tokens);
    create_sessions(pg, school, drivers, (size_t)n_trips, driver_tokens);
    if (n_parents) {
        create_sessions(pg, school, parents, n_parents, parent_tokens);
    }
    exec_cmd(pg, "commit", "COMMIT", 0, NULL);

    FILE *out = out_path ? fopen(out_path, "w") : stdout;
    if (!out) {
        die("cannot write %s: %s", out_path, strerror(errno));
    }
    fprintf(out, "{\"url\": \"%s\", \"school\": %" PRId64 ",\n \"drivers\": [", url, school);
    for (long t = 0; t < n_trips; t++) {
        fprintf(out, "%s\n  {\"token\": \"%s\", \"trip\": %" PRId64 "}", t ? "," : "",
                driver_tokens[t], trip_ids[t]);
    }
    fprintf(out, "],\n \"parents\": [");
    for (size_t i = 0; i < n_parents; i++) {
        fprintf(out, "%s\n  {\"token\": \"%s\", \"trip\": %" PRId64 "}", i ? "," : "",
                parent_tokens[i], trip_ids[i / (size_t)per_trip]);
    }
    fprintf(out, "]}\n");
    if (out != stdout && fclose(out) != 0) {
        die("cannot write %s", out_path);
    }
    sodium_memzero(driver_tokens, (size_t)n_trips * sizeof *driver_tokens);
    sodium_memzero(parent_tokens, (n_parents ? n_parents : 1) * sizeof *parent_tokens);
    free(driver_tokens);
    free(parent_tokens);
    free(drivers);
    free(parents);
    free(trip_ids);
    return 0;
}

/* One school's structure for the records benchmark: a current year, twelve classes with
 * sections spread over them, a class teacher (assigned one subject) and a session for each
 * section, students placed in every section each with one parent, and an admin session. */
static int cmd_records(int argc, char **argv, PGconn *pg, const struct crypto_keys *keys)
{
    const char *sections_s = arg_value(argc, argv, "--sections");
    const char *students_s = arg_value(argc, argv, "--students");
    const char *url = arg_value(argc, argv, "--url");
    const char *out_path = arg_value(argc, argv, "--out");
    long n_sections = sections_s ? strtol(sections_s, NULL, 10) : 300;
    long per_section = students_s ? strtol(students_s, NULL, 10) : 40;
    if (n_sections < 1 || n_sections > MAX_SECTIONS || per_section < 1 ||
        per_section > MAX_SECTION_STUDENTS) {
        die("records needs --sections 1-%d and --students 1-%d", MAX_SECTIONS,
            MAX_SECTION_STUDENTS);
    }
    if (!url) {
        url = "ws://127.0.0.1:8080/v1/ws";
    }
    exec_cmd(pg, "begin", "BEGIN", 0, NULL);
    char name[64];
    snprintf(name, sizeof name, "Records fixture %lld", (long long)time(NULL));
    int64_t school = insert_school(pg, name);
    int64_t phone_base = 7000000000LL + (school % 2000) * 1000000LL;
    size_t n_students = (size_t)(n_sections * per_section);
    int64_t admin;
    int64_t *teachers = xcalloc((size_t)n_sections, sizeof *teachers);
    int64_t *parents = xcalloc(n_students, sizeof *parents);
    create_users(pg, keys, school, "admin", "Records admin", phone_base, 1, &admin);
    create_users(pg, keys, school, "teacher", "Teacher", phone_base + 1, (size_t)n_sections,
                 teachers);
    create_users(pg, keys, school, "parent", "Parent", phone_base + 1 + MAX_SECTIONS,
                 n_students, parents);
    struct strbuf c_teacher, c_parent;
    strbuf_init(&c_teacher);
    strbuf_init(&c_parent);
    strbuf_append(&c_teacher, "{", 1);
    strbuf_append(&c_parent, "{", 1);
    for (long i = 0; i < n_sections; i++) {
        strbuf_printf(&c_teacher, "%s%" PRId64, i ? "," : "", teachers[i]);
    }
    for (size_t i = 0; i < n_students; i++) {
        strbuf_printf(&c_parent, "%s%" PRId64, i ? "," : "", parents[i]);
    }
    strbuf_append(&c_teacher, "}", 1);
    strbuf_append(&c_parent, "}", 1);
    char school_s[24], per_s[24];
    const char *params[] = { dbval_i64(school, school_s), c_teacher.data, c_parent.data,
                             dbval_i64(per_section, per_s) };
    /* Section k (1-based) is in class (k - 1) % 12 + 1, named S<k>; its class teacher is
     * teacher k, assigned the class's one subject; its students are placed in roll order and
     * student j of the school has parent j. */
    exec_cmd(pg, "creating the structure",
             "WITH y AS (INSERT INTO academic_years (school_id, name, starts_on, ends_on, current)"
             "   VALUES ($1, 'Bench year', current_date - 150, current_date + 200, true)"
             "   RETURNING id),"
             " c AS (INSERT INTO classes (school_id, year_id, name, seq)"
             "   SELECT $1, y.id, 'Class ' || n, n FROM y, generate_series(1, 12) n"
             "   RETURNING id, seq),"
             " t AS (SELECT k, teacher FROM unnest($2::bigint[]) WITH ORDINALITY AS x(teacher, k)),"
             " s AS (INSERT INTO sections (school_id, year_id, class_id, name, class_teacher_id)"
             "   SELECT $1, y.id, c.id, 'S' || t.k, t.teacher FROM y, t"
             "   JOIN c ON c.seq = (t.k - 1) % 12 + 1 RETURNING id, class_id, class_teacher_id),"
             " j AS (INSERT INTO subjects (school_id, class_id, name)"
             "   SELECT $1, c.id, 'Mathematics' FROM c RETURNING id, class_id),"
             " a AS (INSERT INTO teacher_assignments (school_id, teacher_id, section_id, subject_id)"
             "   SELECT $1, s.class_teacher_id, s.id, j.id FROM s JOIN j USING (class_id)),"
             " p AS (SELECT k, parent FROM unnest($3::bigint[]) WITH ORDINALITY AS x(parent, k)),"
             " ranked AS (SELECT s.id AS section, row_number() OVER (ORDER BY s.id) AS k FROM s),"
             " st AS (INSERT INTO students (school_id, name, admission_no, section_id, year_id,"
             "   roll_no, enrolled_on)"
             "   SELECT $1, 'Student ' || r.k || '-' || n, 'R' || r.k || '-' || n, r.section,"
             "   y.id, n, current_date - 150"
             "   FROM y, ranked r, generate_series(1, $4::int) n"
             "   RETURNING id, section_id, roll_no)"
             " INSERT INTO guardians (student_id, user_id, school_id, relationship)"
             " SELECT st.id, p.parent, $1, 'mother' FROM st"
             " JOIN ranked r ON r.section = st.section_id"
             " JOIN p ON p.k = (r.k - 1) * $4::int + st.roll_no",
             4, params);
    strbuf_deinit(&c_teacher);
    strbuf_deinit(&c_parent);
    /* A term up to today, a Mathematics exam of 100 marks per section with every student's
     * marks (so that report cards have something to print), and a remark per student. */
    const char *p1[] = { school_s };
    exec_cmd(pg, "creating the exams",
             "WITH t AS (INSERT INTO terms (school_id, year_id, name, starts_on, ends_on)"
             "   SELECT $1, id, 'Term 1', starts_on, current_date FROM academic_years"
             "   WHERE school_id = $1 AND current RETURNING id),"
             " e AS (INSERT INTO exams (school_id, section_id, subject_id, term_id, name,"
             "   max_marks, held_on, created_by)"
             "   SELECT $1, s.id, j.id, t.id, 'Unit test 1', 100, current_date - 7,"
             "   s.class_teacher_id FROM t, sections s JOIN subjects j ON j.class_id = s.class_id"
             "   WHERE s.school_id = $1 RETURNING id, section_id, term_id),"
             " m AS (INSERT INTO marks (exam_id, student_id, school_id, marks, status)"
             "   SELECT e.id, st.id, $1, 35 + (st.id * 37) % 65, 'present' FROM e"
             "   JOIN students st ON st.section_id = e.section_id)"
             " INSERT INTO report_card_remarks (student_id, term_id, remarks)"
             " SELECT st.id, t.id, 'Works steadily; reads well. अच्छा प्रयास।' FROM t, students st"
             " WHERE st.school_id = $1",
             1, p1);
    char (*teacher_tokens)[CRYPTO_TOKEN_CHARS + 1] = xcalloc((size_t)n_sections,
                                                             sizeof *teacher_tokens);
    char admin_token[1][CRYPTO_TOKEN_CHARS + 1];
    create_sessions(pg, school, teachers, (size_t)n_sections, teacher_tokens);
    create_sessions(pg, school, &admin, 1, admin_token);
    const char *p2[] = { school_s };
    PGresult *res = exec_ok(pg, "listing the sections",
                            "SELECT s.id, s.class_teacher_id, c.name, s.name,"
                            " array_to_string(array_agg(st.id ORDER BY st.roll_no), ','),"
                            " (SELECT e.id FROM exams e WHERE e.section_id = s.id),"
                            " (SELECT e.term_id FROM exams e WHERE e.section_id = s.id),"
                            " (SELECT e.subject_id FROM exams e WHERE e.section_id = s.id)"
                            " FROM sections s JOIN classes c ON c.id = s.class_id"
                            " JOIN students st ON st.section_id = s.id"
                            " WHERE s.school_id = $1 GROUP BY s.id, c.name ORDER BY s.id",
                            1, p2);
    exec_cmd(pg, "commit", "COMMIT", 0, NULL);

    FILE *out = out_path ? fopen(out_path, "w") : stdout;
    if (!out) {
        die("cannot write %s: %s", out_path, strerror(errno));
    }
    fprintf(out, "{\"url\": \"%s\", \"school\": %" PRId64 ",\n \"admin\": \"%s\",\n"
                 " \"sections\": [", url, school, admin_token[0]);
    for (int i = 0; i < PQntuples(res); i++) {
        int64_t teacher = strtoll(PQgetvalue(res, i, 1), NULL, 10);
        size_t k = 0;
        while (k < (size_t)n_sections && teachers[k] != teacher) {
            k++;
        }
        fprintf(out, "%s\n  {\"token\": \"%s\", \"section\": %s, \"class\": \"%s\","
                     " \"name\": \"%s\", \"exam\": %s, \"term\": %s, \"students\": [%s],"
                     " \"subject\": %s}",
                i ? "," : "", k < (size_t)n_sections ? teacher_tokens[k] : "",
                PQgetvalue(res, i, 0), PQgetvalue(res, i, 2), PQgetvalue(res, i, 3),
                PQgetvalue(res, i, 5), PQgetvalue(res, i, 6), PQgetvalue(res, i, 4),
                PQgetvalue(res, i, 7));
    }
    fprintf(out, "]}\n");
    PQclear(res);
    if (out != stdout && fclose(out) != 0) {
        die("cannot write %s", out_path);
    }
    sodium_memzero(teacher_tokens, (size_t)n_sections * sizeof *teacher_tokens);
    sodium_memzero(admin_token, sizeof admin_token);
    free(teacher_tokens);
    free(teachers);
    free(parents);
    return 0;
}

/* The demo school's records: the current year, class 5 with section A (the teacher is its
 * class teacher and teaches its three subjects), a Monday-to-Friday bell schedule of four
 * periods with 5A's timetable, and the demo children placed in 5A. */
static void insert_demo_records(PGconn *pg, int64_t school, int64_t teacher)
{
    char school_s[24], teacher_s[24];
    const char *params[] = { dbval_i64(school, school_s), dbval_i64(teacher, teacher_s) };
    exec_cmd(pg, "creating the demo records",
             "WITH y AS (INSERT INTO academic_years (school_id, name, starts_on, ends_on, current)"
             "   VALUES ($1, 'This year', current_date - 120, current_date + 240, true)"
             "   RETURNING id),"
             " c AS (INSERT INTO classes (school_id, year_id, name, seq)"
             "   SELECT $1, y.id, '5', 5 FROM y RETURNING id, year_id),"
             " s AS (INSERT INTO sections (school_id, year_id, class_id, name, class_teacher_id,"
             "   room) SELECT $1, c.year_id, c.id, 'A', $2, 'Room 12' FROM c"
             "   RETURNING id, class_id, year_id),"
             " j AS (INSERT INTO subjects (school_id, class_id, name, code)"
             "   SELECT $1, c.id, x.name, x.code FROM c,"
             "   (VALUES ('Mathematics', 'MAT', 1), ('English', 'ENG', 2), ('Science', 'SCI', 3))"
             "   AS x(name, code, n) RETURNING id, name),"
             " a AS (INSERT INTO teacher_assignments (school_id, teacher_id, section_id, subject_id)"
             "   SELECT $1, $2, s.id, j.id FROM s, j),"
             " b AS (INSERT INTO bell_periods (school_id, weekday, period, starts, ends)"
             "   SELECT $1, d, p, time '08:30' + (p - 1) * interval '45 minutes',"
             "   time '09:10' + (p - 1) * interval '45 minutes'"
             "   FROM generate_series(1, 5) d, generate_series(1, 4) p),"
             " t AS (INSERT INTO timetable_slots (school_id, year_id, section_id, weekday, period,"
             "   subject_id, teacher_id, room)"
             "   SELECT $1, s.year_id, s.id, d, p, j.id, $2, 'Room 12' FROM s,"
             "   generate_series(1, 5) d, generate_series(1, 3) p,"
             "   j WHERE j.name = (ARRAY['Mathematics', 'English', 'Science'])[(d + p) % 3 + 1])"
             " UPDATE students st SET section_id = s.id, year_id = s.year_id,"
             "   enrolled_on = current_date - 120,"
             "   roll_no = CASE st.admission_no WHEN (SELECT min(admission_no) FROM students"
             "     WHERE school_id = $1 AND admission_no LIKE 'DEMO-%') THEN 1 ELSE 2 END"
             " FROM s WHERE st.school_id = $1 AND st.admission_no LIKE 'DEMO-%'",
             2, params);
}

/* Stops of the demo route: a school run through south Bengaluru. */
static const char *const demo_stops[STOPS_PER_ROUTE] = {
    "Jayanagar 4th Block", "South End Circle", "Lalbagh West Gate",
    "Shanti Nagar", "Richmond Circle", "Demo Public School",
};

static int cmd_demo(int argc, char **argv, PGconn *pg, const struct crypto_keys *keys)
{
    const char *school_s = arg_value(argc, argv, "--school");
    int64_t school = school_s ? strtoll(school_s, NULL, 10) : 0;
    if (school <= 0) {
        die("demo needs --school ID");
    }
    exec_cmd(pg, "begin", "BEGIN", 0, NULL);
    char id_s[24];
    const char *p1[] = { dbval_i64(school, id_s) };
    PGresult *res = exec_ok(pg, "looking for the demo route",
                            "SELECT id FROM routes WHERE school_id = $1 AND name = 'Morning run'",
                            1, p1);
    if (PQntuples(res) > 0) {
        PQclear(res);
        exec_cmd(pg, "rollback", "ROLLBACK", 0, NULL);
        die("the demo school already has its demo data");
    }
    PQclear(res);
    int64_t stop_ids[STOPS_PER_ROUTE] = { 0 };
    int64_t route = insert_route(pg, school, "Morning run", 12.9250, 77.5830, demo_stops,
                                 stop_ids);
    int64_t driver, parents[2];
    create_users(pg, keys, school, "driver", "Ravi (driver)", 9000000002LL, 1, &driver);
    create_users(pg, keys, school, "parent", "Demo parent", 9000000003LL, 2, parents);
    insert_riders(pg, school, route, stop_ids + 1, parents, 2, "DEMO");
    char driver_s[24];
    const char *p2[] = { dbval_i64(school, id_s), dbval_i64(driver, driver_s) };
    exec_cmd(pg, "creating the bus",
             "INSERT INTO buses (school_id, registration_no, capacity, driver_id)"
             " VALUES ($1, 'KA01AB1234', 40, $2)",
             2, p2);
    int64_t teacher;
    create_users(pg, keys, school, "teacher", "Meena (class teacher)", 9000000005LL, 1,
                 &teacher);
    insert_demo_records(pg, school, teacher);
    char token[1][CRYPTO_TOKEN_CHARS + 1];
    create_sessions(pg, school, &driver, 1, token);
    exec_cmd(pg, "commit", "COMMIT", 0, NULL);
    printf("{\"route\": %" PRId64 ", \"driver\": {\"phone\": \"+919000000002\", \"token\": \"%s\"},"
           " \"parents\": [{\"phone\": \"+919000000003\"}, {\"phone\": \"+919000000004\"}],"
           " \"teacher\": {\"phone\": \"+919000000005\"}}\n",
           route, token[0]);
    sodium_memzero(token, sizeof token);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0) {
        printf("Usage: classment-fixture load --trips T --parents S [--url URL] [--out FILE]\n"
               "       classment-fixture records [--sections N] [--students M] [--url URL]"
               " [--out FILE]\n"
               "       classment-fixture demo --school ID\n"
               "Environment: CLASSMENT_DB, CLASSMENT_KEY_FILE\n");
        return argc < 2 ? 2 : 0;
    }
    if (crypto_init() != 0) {
        die("libsodium failed to initialise");
    }
    const char *key_path = getenv("CLASSMENT_KEY_FILE");
    if (!key_path) {
        die("CLASSMENT_KEY_FILE is not set");
    }
    struct crypto_keys keys;
    char err[512];
    if (crypto_keys_load(&keys, key_path, err, sizeof err) != 0) {
        die("%s", err);
    }
    const char *conninfo = getenv("CLASSMENT_DB");
    PGconn *pg = PQconnectdb(conninfo && *conninfo ? conninfo : "dbname=classment");
    if (PQstatus(pg) != CONNECTION_OK) {
        die("cannot connect to the database: %s", PQerrorMessage(pg));
    }
    int r;
    if (strcmp(argv[1], "load") == 0) {
        r = cmd_load(argc - 2, argv + 2, pg, &keys);
    } else if (strcmp(argv[1], "records") == 0) {
        r = cmd_records(argc - 2, argv + 2, pg, &keys);
    } else if (strcmp(argv[1], "demo") == 0) {
        r = cmd_demo(argc - 2, argv + 2, pg, &keys);
    } else {
        die("unknown command (load, records or demo)");
    }
    PQfinish(pg);
    crypto_keys_wipe(&keys);
    return r;
}
