/* records_bench: the school records' load generator. From a records fixture
 * (classment-fixture records) it logs in every section's class teacher and the admin, then:
 *   - marks: in every round of --interval seconds, for --seconds, every teacher marks their
 *     whole section once (attendance.mark with one entry per student; a few absent or late,
 *     changing each round, so every round writes, corrects and tells parents). --spread F
 *     spreads a round's marks evenly over that fraction of the interval: 0 sends all of them
 *     at the same instant (a burst), 1 (the default) spreads them over the whole interval;
 *   - import: --import N rows of students with their guardians sent as one student.import
 *     while the marking runs (0: none);
 *   - register: --register N sections' monthly registers, one after another, after the marks.
 * It reports each op's latency (p50, p99, max) and the import's time. Run it beside trip_bench
 * to measure the tracking load with and without the records load (bench/run records). */
#include <getopt.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "bench/args.h"
#include "bench/hist.h"
#include "bench/reply.h"
#include "bench/wsconn.h"

#define MAX_STUDENTS_PER_SECTION 200

enum phase { P_CONNECT, P_RESUME, P_READY, P_BUSY, P_FAILED };

struct client {
    struct wsconn conn;
    enum phase phase;
    char token[48];
    long long section, exam, term;
    char class_name[40], section_name[24];
    long long *students;
    size_t n_students;
    uint64_t sent_ns; /* the request in flight */
    int rounds_done;  /* marks sent or skipped (still busy with the last one when due) */
    const char *op;   /* its op, for the report of a refusal */
};

static struct {
    uv_loop_t *loop;
    struct wsconn_target target;
    struct client *teachers;
    size_t n_teachers;
    struct client admin;
    size_t opening, ready, failed, next_to_open, max_parallel;
    double seconds, interval_s, spread;
    size_t import_rows, registers;
    int round, rounds;
    bool stopping;
    uint64_t t_mark0_ns, t_mark1_ns;
    uint64_t marks_ok, marks_failed, marks_skipped, in_flight;
    struct hist mark_lat, register_lat;
    uint64_t import_ns;
    long long import_created;
    bool import_ok, import_done, import_sent;
    bool exam_marks;         /* --op marks: exam.marks.set instead of attendance.mark */
    size_t cards, cards_done; /* --cards N: report-card links asked for afterwards */
    FILE *cards_out;
    size_t registers_done;
    uint64_t register_failed;
    uv_timer_t tick, watchdog;
    char today[11], month[8];
    const char *label, *prefix;
    msgpack_sbuffer sb;
} B;

static uint64_t mono_ns(void)
{
    return uv_hrtime();
}

static void pack_str(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* Sends the request packed after the envelope's "args" key. */
static void begin(msgpack_packer *pk, uint64_t id, const char *op)
{
    msgpack_sbuffer_clear(&B.sb);
    msgpack_packer_init(pk, &B.sb, msgpack_sbuffer_write);
    msgpack_pack_map(pk, 3);
    pack_str(pk, "id");
    msgpack_pack_uint64(pk, id);
    pack_str(pk, "op");
    pack_str(pk, op);
    pack_str(pk, "args");
}

static void send_now(struct client *c, const char *op)
{
    c->op = op;
    c->sent_ns = mono_ns();
    c->phase = P_BUSY;
    wsconn_send(&c->conn, WSCONN_OP_BINARY, (const uint8_t *)B.sb.data, B.sb.size);
}

/* Student i's mark in a round: mostly present; one in ten absent and one in ten late, a
 * different tenth each round, so every round changes a fifth of the register. */
static const char *status_of(size_t i, int round)
{
    switch ((i * 7 + (size_t)round) % 10) {
    case 0: return "absent";
    case 1: return "late";
    default: return "present";
    }
}

/* exam.marks.set for the section's exam: marks that change each round for a fifth of the
 * students, one in twenty absent. */
static void send_exam_marks(struct client *c)
{
    msgpack_packer pk;
    begin(&pk, 10, "exam.marks.set");
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "exam");
    msgpack_pack_int64(&pk, c->exam);
    pack_str(&pk, "entries");
    msgpack_pack_array(&pk, (uint32_t)c->n_students);
    for (size_t i = 0; i < c->n_students; i++) {
        size_t k = (i * 7 + (size_t)c->rounds_done) % 20;
        msgpack_pack_map(&pk, k == 0 ? 2 : 3);
        pack_str(&pk, "student");
        msgpack_pack_int64(&pk, c->students[i]);
        pack_str(&pk, "status");
        pack_str(&pk, k == 0 ? "absent" : "present");
        if (k != 0) {
            pack_str(&pk, "marks");
            msgpack_pack_double(&pk, 40.0 + (double)((i * 13 + (size_t)c->rounds_done *
                                                      (k < 4)) % 60));
        }
    }
    B.in_flight++;
    send_now(c, "exam.marks.set");
}

static void send_mark(struct client *c)
{
    if (B.exam_marks) {
        send_exam_marks(c);
        return;
    }
    msgpack_packer pk;
    begin(&pk, 10, "attendance.mark");
    msgpack_pack_map(&pk, 3);
    pack_str(&pk, "section");
    msgpack_pack_int64(&pk, c->section);
    pack_str(&pk, "day");
    pack_str(&pk, B.today);
    pack_str(&pk, "entries");
    msgpack_pack_array(&pk, (uint32_t)c->n_students);
    for (size_t i = 0; i < c->n_students; i++) {
        msgpack_pack_map(&pk, 2);
        pack_str(&pk, "student");
        msgpack_pack_int64(&pk, c->students[i]);
        pack_str(&pk, "status");
        pack_str(&pk, status_of(i, c->rounds_done));
    }
    B.in_flight++;
    send_now(c, "attendance.mark");
}

static void send_register(void)
{
    struct client *t = &B.teachers[B.registers_done % B.n_teachers];
    msgpack_packer pk;
    begin(&pk, 20, "attendance.register");
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "section");
    msgpack_pack_int64(&pk, t->section);
    pack_str(&pk, "month");
    pack_str(&pk, B.month);
    send_now(&B.admin, "attendance.register");
}

/* report_card.get for the next student, taking students section by section. */
static void send_card_get(void)
{
    size_t k = B.cards_done, t = 0;
    while (t < B.n_teachers && k >= B.teachers[t].n_students) {
        k -= B.teachers[t].n_students;
        t++;
    }
    if (t == B.n_teachers) {
        B.cards = B.cards_done; /* fewer students than asked for */
        return;
    }
    msgpack_packer pk;
    begin(&pk, 40, "report_card.get");
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "student");
    msgpack_pack_int64(&pk, B.teachers[t].students[k]);
    pack_str(&pk, "term");
    msgpack_pack_int64(&pk, B.teachers[t].term);
    send_now(&B.admin, "report_card.get");
}

/* N rows of new students with a guardian each, spread over the fixture's sections; unique
 * admission numbers and phone numbers per run (prefix). */
static void send_import(void)
{
    size_t cap = B.import_rows * 160 + 256, len = 0;
    char *csv = malloc(cap);
    len += (size_t)snprintf(csv + len, cap - len,
                            "admission_no,name,dob,gender,class,section,roll_no,guardian_name,"
                            "guardian_phone,guardian_relationship\n");
    unsigned long long phone0 = 8000000000ULL + (unsigned long long)(time(NULL) % 90000) * 10000;
    for (size_t i = 0; i < B.import_rows; i++) {
        const struct client *t = &B.teachers[i % B.n_teachers];
        len += (size_t)snprintf(csv + len, cap - len,
                                "%s-%zu,\"Imported, Student %zu\",2015-%02zu-%02zu,%s,%s,%s,%zu,"
                                "Guardian %zu,+91%llu,mother\n",
                                B.prefix, i + 1, i + 1, i % 12 + 1, i % 28 + 1,
                                i % 2 ? "female" : "male", t->class_name, t->section_name,
                                100 + i / B.n_teachers % 800, i + 1, phone0 + i);
    }
    msgpack_packer pk;
    begin(&pk, 30, "student.import");
    msgpack_pack_map(&pk, 2);
    pack_str(&pk, "csv");
    msgpack_pack_str_with_body(&pk, csv, len);
    pack_str(&pk, "dry_run");
    msgpack_pack_false(&pk);
    free(csv);
    B.import_sent = true;
    send_now(&B.admin, "student.import");
}

static void stop_all(void)
{
    B.stopping = true;
    uv_timer_stop(&B.tick);
    uv_close((uv_handle_t *)&B.tick, NULL);
    uv_close((uv_handle_t *)&B.watchdog, NULL);
    for (size_t i = 0; i < B.n_teachers; i++) {
        wsconn_close(&B.teachers[i].conn);
    }
    wsconn_close(&B.admin.conn);
}

static void maybe_finish(void)
{
    if (B.stopping || B.round < B.rounds || B.in_flight > 0 ||
        (B.import_rows && !B.import_done)) {
        return;
    }
    if (!B.t_mark1_ns) {
        B.t_mark1_ns = mono_ns();
    }
    if (B.registers_done < B.registers) {
        if (B.admin.phase == P_READY) {
            send_register();
        }
        return;
    }
    if (B.cards_done < B.cards && B.admin.phase != P_FAILED) {
        if (B.admin.phase == P_READY) {
            send_card_get();
        }
        return;
    }
    stop_all();
}

/* Every millisecond: send the marks that are due. Teacher i's mark of round r is due at
 * r * interval + i / n * interval * spread from the start. */
static void on_tick(uv_timer_t *t)
{
    (void)t;
    double since = (double)(mono_ns() - B.t_mark0_ns) / 1e9;
    int done = 0;
    for (size_t i = 0; i < B.n_teachers; i++) {
        struct client *c = &B.teachers[i];
        if (c->phase == P_FAILED || c->rounds_done >= B.rounds) {
            done++;
            continue;
        }
        double due = B.interval_s * ((double)c->rounds_done +
                                     B.spread * (double)i / (double)B.n_teachers);
        if (since < due) {
            continue;
        }
        if (c->phase == P_READY) {
            send_mark(c);
        } else {
            B.marks_skipped++; /* the last mark has not come back yet */
        }
        c->rounds_done++;
    }
    if (since >= B.interval_s && B.import_rows && !B.import_sent) {
        send_import();
    }
    if (done == (int)B.n_teachers) {
        B.round = B.rounds;
        uv_timer_stop(&B.tick);
        maybe_finish();
    }
}

/* A run that cannot finish (a reply that never comes) ends two minutes after it should. */
static void on_watchdog(uv_timer_t *t)
{
    (void)t;
    fprintf(stderr, "records_bench: replies still missing; giving up\n");
    B.failed++;
    stop_all();
}

static void all_ready(void)
{
    fprintf(stderr, "records_bench: %zu teachers and the admin logged in; marking\n", B.ready);
    B.t_mark0_ns = mono_ns();
    uv_timer_start(&B.tick, on_tick, 0, 1);
}

/* ---- replies ---- */

static void all_ready(void);

static void client_failed(struct client *c, const char *why)
{
    bool logging_in = c->phase == P_CONNECT || c->phase == P_RESUME;
    if (logging_in) {
        B.opening--;
    }
    if (c->phase != P_FAILED) {
        B.failed++;
        if (B.failed <= 5) {
            fprintf(stderr, "records_bench: a connection failed: %s\n", why);
        }
    }
    if (c->phase == P_BUSY && c != &B.admin) {
        B.in_flight--;
    }
    if (c == &B.admin) {
        B.import_done = true; /* nothing more will come */
        B.registers = B.registers_done;
    }
    c->phase = P_FAILED;
    if (logging_in && B.ready + B.failed == B.n_teachers + 1 && !B.t_mark0_ns) {
        all_ready();
    }
}

static void open_more(void);

static void on_message(struct wsconn *conn, const uint8_t *data, size_t len, uint64_t t_ns)
{
    struct client *c = conn->data;
    (void)t_ns;
    struct bench_reply r;
    bench_reply_read(data, len, &r);
    if (!r.has_id) {
        return; /* hello and events */
    }
    uint64_t lat = mono_ns() - c->sent_ns;
    if (c->phase == P_RESUME) {
        if (!r.ok) {
            client_failed(c, "auth.resume refused");
            wsconn_close(conn);
            open_more();
            return;
        }
        c->phase = P_READY;
        B.opening--;
        if (++B.ready == B.n_teachers + 1) {
            all_ready();
        }
        open_more();
        return;
    }
    if (c->phase != P_BUSY) {
        return;
    }
    c->phase = P_READY;
    if (c == &B.admin) {
        if (strcmp(c->op, "student.import") == 0) {
            B.import_ns = lat;
            B.import_ok = r.ok;
            B.import_created = r.created;
            B.import_done = true;
            if (!r.ok) {
                fprintf(stderr, "records_bench: student.import refused: %s\n", r.code);
            }
        } else if (strcmp(c->op, "report_card.get") == 0) {
            if (r.ok && r.url[0]) {
                fprintf(B.cards_out, "%s\n", r.url);
            } else {
                B.register_failed++;
                fprintf(stderr, "records_bench: report_card.get refused: %s\n", r.code);
            }
            B.cards_done++;
        } else {
            if (r.ok) {
                hist_add(&B.register_lat, lat);
            } else {
                B.register_failed++;
                fprintf(stderr, "records_bench: attendance.register refused: %s\n", r.code);
            }
            B.registers_done++;
        }
    } else {
        B.in_flight--;
        if (r.ok) {
            B.marks_ok++;
            hist_add(&B.mark_lat, lat);
        } else {
            if (++B.marks_failed <= 5) {
                fprintf(stderr, "records_bench: attendance.mark refused: %s\n", r.code);
            }
        }
    }
    maybe_finish();
}

static void on_opened(struct wsconn *conn)
{
    struct client *c = conn->data;
    msgpack_packer pk;
    begin(&pk, 1, "auth.resume");
    msgpack_pack_map(&pk, 1);
    pack_str(&pk, "token");
    pack_str(&pk, c->token);
    send_now(c, "auth.resume");
    c->phase = P_RESUME;
}

static void on_closed(struct wsconn *conn, const char *why)
{
    if (!B.stopping) {
        client_failed(conn->data, why);
        open_more();
        maybe_finish();
    }
}

static const struct wsconn_handler handler = {
    .opened = on_opened, .message = on_message, .closed = on_closed,
};

static void open_more(void)
{
    while (B.opening < B.max_parallel && B.next_to_open <= B.n_teachers) {
        struct client *c = B.next_to_open < B.n_teachers ? &B.teachers[B.next_to_open]
                                                           : &B.admin;
        B.next_to_open++;
        B.opening++;
        c->phase = P_CONNECT;
        if (wsconn_start(&c->conn, B.loop, &B.target, &handler, c) != 0) {
            client_failed(c, "connect failed");
        }
    }
}

/* ---- fixture ---- */

/* Reads {"admin": "…", "sections": [{"token", "section", "class", "name", "students": […]}]}
 * as classment-fixture records writes it: one section per line. */
static int read_fixture(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        return -1;
    }
    char *line = NULL;
    size_t cap = 0, n_cap = 0;
    while (getline(&line, &cap, f) > 0) {
        const char *a = strstr(line, "\"admin\": \"");
        if (a) {
            sscanf(a, "\"admin\": \"%47[^\"]\"", B.admin.token);
            continue;
        }
        const char *p = strstr(line, "{\"token\": \"");
        struct client t = { 0 };
        int used = 0;
        if (!p || sscanf(p, "{\"token\": \"%47[^\"]\", \"section\": %lld, \"class\": \"%39[^\"]\","
                            " \"name\": \"%23[^\"]\", \"exam\": %lld, \"term\": %lld,"
                            " \"students\": [%n",
                         t.token, &t.section, t.class_name, t.section_name, &t.exam, &t.term,
                         &used) != 6 ||
            !used) {
            continue;
        }
        t.students = calloc(MAX_STUDENTS_PER_SECTION, sizeof *t.students);
        const char *s = p + used;
        while (t.n_students < MAX_STUDENTS_PER_SECTION && *s && *s != ']') {
            char *end;
            long long id = strtoll(s, &end, 10);
            if (end == s) {
                break;
            }
            t.students[t.n_students++] = id;
            s = *end == ',' ? end + 1 : end;
        }
        if (B.n_teachers == n_cap) {
            n_cap = n_cap ? n_cap * 2 : 64;
            B.teachers = realloc(B.teachers, n_cap * sizeof *B.teachers);
        }
        B.teachers[B.n_teachers++] = t;
    }
    free(line);
    fclose(f);
    return B.admin.token[0] && B.n_teachers ? 0 : -1;
}

/* ---- report ---- */

static void report(void)
{
    double ms = 1e6;
    printf("label            %s\n", B.label);
    printf("connections      %zu teachers and an admin (%zu failed)\n", B.n_teachers, B.failed);
    printf("marks            %llu of %d rounds x %zu sections answered (%llu refused, %llu"
           " skipped while the last was in flight); %zu students a section, spread %.2f of"
           " %.1f s\n",
           (unsigned long long)B.marks_ok, B.rounds, B.n_teachers,
           (unsigned long long)B.marks_failed, (unsigned long long)B.marks_skipped,
           B.n_teachers ? B.teachers[0].n_students : 0, B.spread, B.interval_s);
    printf("mark latency ms  p50 %.2f  p99 %.2f  max %.2f\n",
           (double)hist_percentile(&B.mark_lat, 50) / ms,
           (double)hist_percentile(&B.mark_lat, 99) / ms, (double)B.mark_lat.max / ms);
    if (B.import_rows) {
        printf("import           %zu rows: %s, %lld created, %.2f s\n", B.import_rows,
               B.import_ok ? "ok" : "REFUSED", B.import_created, (double)B.import_ns / 1e9);
    }
    if (B.registers) {
        printf("register ms      %zu monthly registers: p50 %.2f  p99 %.2f  max %.2f"
               " (%llu refused)\n",
               B.registers_done, (double)hist_percentile(&B.register_lat, 50) / ms,
               (double)hist_percentile(&B.register_lat, 99) / ms,
               (double)B.register_lat.max / ms, (unsigned long long)B.register_failed);
    }
    if (B.cards) {
        printf("cards            %zu report-card links written\n", B.cards_done);
    }
    printf("RESULT label=%s op=%s sections=%zu rounds=%d spread=%.2f marks=%llu mark_refused=%llu "
           "mark_skipped=%llu "
           "mark_p50_ms=%.2f mark_p99_ms=%.2f mark_max_ms=%.2f import_rows=%zu import_ok=%d "
           "import_s=%.2f register_p50_ms=%.2f register_p99_ms=%.2f register_max_ms=%.2f\n",
           B.label, B.exam_marks ? "exam.marks.set" : "attendance.mark", B.n_teachers, B.rounds,
           B.spread, (unsigned long long)B.marks_ok,
           (unsigned long long)B.marks_failed, (unsigned long long)B.marks_skipped,
           (double)hist_percentile(&B.mark_lat, 50) / ms,
           (double)hist_percentile(&B.mark_lat, 99) / ms, (double)B.mark_lat.max / ms,
           B.import_rows, B.import_ok && B.import_created == (long long)B.import_rows,
           (double)B.import_ns / 1e9, (double)hist_percentile(&B.register_lat, 50) / ms,
           (double)hist_percentile(&B.register_lat, 99) / ms,
           (double)B.register_lat.max / ms);
}

int main(int argc, char **argv)
{
    const char *fixture = NULL, *url = NULL, *cards_path = NULL;
    B.seconds = 20;
    B.interval_s = 1;
    B.spread = 1;
    B.registers = 100;
    B.max_parallel = 200;
    B.label = "records";
    B.prefix = "IMP";
    static const struct option opts[] = {
        { "fixture", required_argument, NULL, 'f' },  { "url", required_argument, NULL, 'u' },
        { "seconds", required_argument, NULL, 's' },  { "interval", required_argument, NULL, 'i' },
        { "import", required_argument, NULL, 'm' },   { "register", required_argument, NULL, 'r' },
        { "label", required_argument, NULL, 'l' },    { "prefix", required_argument, NULL, 'x' },
        { "spread", required_argument, NULL, 'p' },   { "op", required_argument, NULL, 'o' },
        { "cards", required_argument, NULL, 'c' },    { "cards-out", required_argument, NULL, 'C' },
        { NULL, 0, NULL, 0 },
    };
    int o;
    bool good = true;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (o) {
        case 'f': fixture = optarg; break;
        case 'u': url = optarg; break;
        case 's': good = bench_parse_number(optarg, 1, 86400, &B.seconds); break;
        case 'i': good = bench_parse_number(optarg, 0.05, 600, &B.interval_s); break;
        case 'm': good = bench_parse_count(optarg, 0, 100000, &B.import_rows); break;
        case 'r': good = bench_parse_count(optarg, 0, 100000, &B.registers); break;
        case 'l': B.label = optarg; break;
        case 'x': B.prefix = optarg; break;
        case 'p': good = bench_parse_number(optarg, 0, 1, &B.spread); break;
        case 'o':
            B.exam_marks = strcmp(optarg, "marks") == 0;
            good = B.exam_marks || strcmp(optarg, "attendance") == 0;
            break;
        case 'c': good = bench_parse_count(optarg, 0, 1000000, &B.cards); break;
        case 'C': cards_path = optarg; break;
        default: good = false; break;
        }
        if (!good) {
            fprintf(stderr, "usage: records_bench --fixture FILE --url ws://127.0.0.1:PORT/v1/ws "
                            "[--seconds S] [--interval S] [--spread F] [--op attendance|marks] "
                            "[--import ROWS] [--register N] [--cards N --cards-out FILE] "
                            "[--label NAME] [--prefix ADMISSION_PREFIX]\n");
            return 2;
        }
    }
    char host[64];
    if (!fixture || wsconn_target_from_url(&B.target, url, host) != 0) {
        fprintf(stderr, "records_bench: give --fixture and --url ws://HOST:PORT/v1/ws\n");
        return 2;
    }
    if (B.cards && !(B.cards_out = fopen(cards_path ? cards_path : "/dev/null", "w"))) {
        fprintf(stderr, "records_bench: cannot write %s\n", cards_path);
        return 2;
    }
    if (read_fixture(fixture) != 0) {
        fprintf(stderr, "records_bench: no admin or sections in %s\n", fixture);
        return 1;
    }
    B.rounds = (int)(B.seconds / B.interval_s);
    time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(B.today, sizeof B.today, "%Y-%m-%d", &tm);
    strftime(B.month, sizeof B.month, "%Y-%m", &tm);
    wsconn_process_init();
    msgpack_sbuffer_init(&B.sb);
    B.loop = uv_default_loop();
    uv_timer_init(B.loop, &B.tick);
    uv_timer_init(B.loop, &B.watchdog);
    uv_timer_start(&B.watchdog, on_watchdog, (uint64_t)((B.seconds + 180) * 1000), 0);
    open_more();
    uv_run(B.loop, UV_RUN_DEFAULT);
    report();
    bool bad = B.failed || B.marks_failed || B.register_failed ||
               (B.import_rows && (!B.import_ok || B.import_created != (long long)B.import_rows));
    for (size_t i = 0; i < B.n_teachers; i++) {
        wsconn_deinit(&B.teachers[i].conn);
        free(B.teachers[i].students);
    }
    wsconn_deinit(&B.admin.conn);
    free(B.teachers);
    msgpack_sbuffer_destroy(&B.sb);
    if (B.cards_out) {
        fclose(B.cards_out);
    }
    uv_loop_close(B.loop);
    return bad ? 1 : 0;
}
