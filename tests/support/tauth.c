/* Identity helpers for integration tests (see tauth.h). */
#include "tests/support/tauth.h"

#include <errno.h>
#include <fcntl.h>
#include <libpq-fe.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "tests/support/tclient.h"
#include "tests/support/tsys.h"

#define ADMIN_TIMEOUT_MS 30000
/* Generous: a loaded CI machine must not turn a slow answer into a failure. */
#define REPLY_TIMEOUT_MS 10000
#define OUTBOX_WAIT_MS 10000
/* Rate limits a login waits out: the address (1 s) and the connection (6 s), not a number's
 * 30 s resend limit, which means the test asked too often. */
#define LOGIN_MAX_WAIT_S 6
#define LOGIN_TRIES 5

static uint64_t next_id = 1000;

uint64_t tauth_next_id(void)
{
    return ++next_id;
}

struct tmsg *tauth_call(struct wsclient *c, const char *op, const char *args_fmt, ...)
{
    va_list ap;
    va_start(ap, args_fmt);
    struct tmsg *m = tauth_vcall(c, op, args_fmt, ap);
    va_end(ap);
    return m;
}

struct tmsg *tauth_vcall(struct wsclient *c, const char *op, const char *args_fmt, va_list ap)
{
    uint64_t id = tauth_next_id();
    int r;
    if (args_fmt) {
        size_t len;
        uint8_t *args = tmsg_vbuild(&len, args_fmt, ap);
        r = tclient_send(c, "{id: %U, op: %s, args: %m}", id, op, args, len);
        free(args);
    } else {
        r = tclient_send(c, "{id: %U, op: %s}", id, op);
    }
    if (r) {
        fprintf(stderr, "tauth: sending %s: %s\n", op, strerror(-r));
        return NULL;
    }
    struct tmsg *m = tclient_reply(c, id, REPLY_TIMEOUT_MS);
    if (!m) {
        fprintf(stderr, "tauth: no reply to %s (id %llu)\n", op, (unsigned long long)id);
    }
    return m;
}

bool tauth_is_ok(const struct tmsg *m)
{
    return tmsg_bool_is(m, "ok", true) && tmsg_has(m, "data");
}

bool tauth_is_err(const struct tmsg *m, const char *code, const char *field)
{
    return tmsg_bool_is(m, "ok", false) && tmsg_str_is(m, "error.code", code) &&
           tmsg_has(m, "error.message") && (!field || tmsg_str_is(m, "error.field", field));
}

bool tauth_int(const struct tmsg *m, const char *path, int64_t *out)
{
    const msgpack_object *o = m ? tmsg_get(tmsg_root(m), path) : NULL;
    if (o && o->type == MSGPACK_OBJECT_POSITIVE_INTEGER && o->via.u64 <= INT64_MAX) {
        *out = (int64_t)o->via.u64;
        return true;
    }
    if (o && o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER) {
        *out = o->via.i64;
        return true;
    }
    return false;
}

bool tauth_str(const struct tmsg *m, const char *path, char *out, size_t cap)
{
    const msgpack_object *o = m ? tmsg_get(tmsg_root(m), path) : NULL;
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size >= cap) {
        return false;
    }
    memcpy(out, o->via.str.ptr, o->via.str.size);
    out[o->via.str.size] = '\0';
    return true;
}

void tauth_phone(char out[TAUTH_PHONE_MAX], unsigned n)
{
    snprintf(out, TAUTH_PHONE_MAX, "+9170000%05u", n % 100000u);
}

/* ---- classment-admin ---- */

int tauth_admin(const struct harness *h, char *out, size_t cap, ...)
{
    const char *bin = getenv("CLASSMENT_ADMIN_BIN");
    if (!bin || !*bin) {
        fprintf(stderr, "tauth: CLASSMENT_ADMIN_BIN (classment-admin) is not set; meson test "
                        "sets it\n");
        return -EINVAL;
    }
    const char *argv[32] = { bin };
    int argc = 1;
    va_list ap;
    va_start(ap, cap);
    for (const char *a = va_arg(ap, const char *); a && argc < 31; a = va_arg(ap, const char *)) {
        argv[argc++] = a;
    }
    va_end(ap);
    argv[argc] = NULL;
    char out_path[] = "/tmp/tauth-admin.XXXXXX";
    int fd = mkstemp(out_path);
    if (fd < 0) {
        return -errno;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        int r = -errno;
        close(fd);
        unlink(out_path);
        return r;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int in = open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(fd, 1) < 0) {
            _exit(126);
        }
        setenv("CLASSMENT_DB", harness_conninfo(h), 1);
        setenv("CLASSMENT_KEY_FILE", harness_key_path(h), 1);
        unsetenv("CLASSMENT_DEFAULT_CC");
        execv(bin, (char *const *)argv);
        fprintf(stderr, "tauth: exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    close(fd);
    int r = tsys_wait_pid(pid, ADMIN_TIMEOUT_MS);
    if (r == -ETIMEDOUT) {
        kill(pid, SIGKILL);
        tsys_wait_pid(pid, 5000);
        fprintf(stderr, "tauth: classment-admin %s did not finish within %d ms\n",
                argv[1] ? argv[1] : "", ADMIN_TIMEOUT_MS);
    }
    char *text = tsys_read_file(out_path, NULL);
    unlink(out_path);
    if (out && cap) {
        snprintf(out, cap, "%s", text ? text : "");
    }
    free(text);
    return r;
}

/* The integer after "key": in a JSON text, or -1. */
static int64_t json_int(const char *json, const char *key)
{
    char pattern[64];
    snprintf(pattern, sizeof pattern, "\"%s\":", key);
    const char *p = strstr(json, pattern);
    return p ? strtoll(p + strlen(pattern), NULL, 10) : -1;
}

int64_t tauth_school_create(const struct harness *h, const char *name, const char *admin_name,
                            const char *phone, int64_t *admin_id)
{
    char out[512];
    int r = tauth_admin(h, out, sizeof out, "school", "create", "--name", name, "--admin-name",
                        admin_name, "--admin-phone", phone, (const char *)NULL);
    int64_t school = json_int(out, "school");
    int64_t admin = json_int(out, "admin");
    if (r != 0 || school <= 0 || admin <= 0) {
        fprintf(stderr, "tauth: school create exited %d and printed \"%s\"\n", r, out);
        return -1;
    }
    if (admin_id) {
        *admin_id = admin;
    }
    return school;
}

int tauth_school_suspend(const struct harness *h, int64_t school)
{
    char id[24], out[256];
    snprintf(id, sizeof id, "%lld", (long long)school);
    int r = tauth_admin(h, out, sizeof out, "school", "suspend", id, (const char *)NULL);
    if (r != 0 || !strstr(out, "\"suspended\"")) {
        fprintf(stderr, "tauth: school suspend %s exited %d and printed \"%s\"\n", id, r, out);
        return -1;
    }
    return 0;
}

/* ---- the SMS outbox ---- */

char *tauth_outbox_text(const struct harness *h)
{
    char *text = tsys_read_file(harness_outbox_path(h), NULL);
    return text ? text : strdup("");
}

/* Counts the lines to phone and copies the newest one's code (when code is not NULL). */
static int scan_outbox(const struct harness *h, const char *phone, char code[7])
{
    char *text = tauth_outbox_text(h);
    char to[64];
    snprintf(to, sizeof to, "\"to\":\"%s\"", phone);
    int n = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
        }
        if (strstr(line, to)) {
            n++;
            const char *c = strstr(line, "\"code\":\"");
            if (code && c && strspn(c + 8, "0123456789") == 6) {
                memcpy(code, c + 8, 6);
                code[6] = '\0';
            }
        }
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return n;
}

int tauth_outbox_count(const struct harness *h, const char *phone)
{
    return scan_outbox(h, phone, NULL);
}

bool tauth_outbox_wait_code(const struct harness *h, const char *phone, int seen, char code[7],
                            int timeout_ms)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        code[0] = '\0';
        if (scan_outbox(h, phone, code) > seen && code[0]) {
            return true;
        }
        if (tsys_left_ms(deadline) == 0) {
            fprintf(stderr, "tauth: no new outbox line for %s within %d ms\n", phone,
                    timeout_ms);
            return false;
        }
        tsys_sleep_ms(10);
    }
}

/* ---- logins ---- */

/* Calls a login-path op, waiting out short rate limits. */
static struct tmsg *login_call(struct wsclient *c, const char *op, const char *phone,
                               const char *code, const char *type, const char *os,
                               const char *app)
{
    for (int i = 0;; i++) {
        struct tmsg *m;
        if (!code) {
            m = tauth_call(c, op, "{phone: %s}", phone);
        } else if (type) {
            m = tauth_call(c, op, "{phone: %s, code: %s, device: {type: %s, os: %s, app: %s}}",
                           phone, code, type, os, app);
        } else {
            m = tauth_call(c, op, "{phone: %s, code: %s}", phone, code);
        }
        int64_t wait_s = 0;
        if (i + 1 < LOGIN_TRIES && tauth_is_err(m, "rate_limited", NULL) &&
            tauth_int(m, "error.retry_after_s", &wait_s) && wait_s <= LOGIN_MAX_WAIT_S) {
            fprintf(stderr, "tauth: %s rate limited, waiting %lld s\n", op, (long long)wait_s);
            tmsg_free(m);
            tsys_sleep_ms((int)wait_s * 1000);
            continue;
        }
        return m;
    }
}

int tauth_login(const struct harness *h, const char *phone, const char *device_type,
                const char *device_os, const char *app, struct tauth_login *out)
{
    memset(out, 0, sizeof *out);
    struct tmsg *m = NULL;
    out->c = tclient_open(harness_port(h));
    if (!out->c) {
        return -1;
    }
    int seen = tauth_outbox_count(h, phone);
    m = login_call(out->c, "auth.otp.request", phone, NULL, NULL, NULL, NULL);
    if (!tauth_is_ok(m)) {
        fprintf(stderr, "tauth: auth.otp.request for %s: %s\n", phone, tmsg_text(m));
        goto fail;
    }
    tmsg_free(m);
    m = NULL;
    if (!tauth_outbox_wait_code(h, phone, seen, out->code, OUTBOX_WAIT_MS)) {
        goto fail;
    }
    m = login_call(out->c, "auth.otp.verify", phone, out->code, device_type, device_os, app);
    if (!tauth_is_ok(m) || !tauth_str(m, "data.token", out->token, sizeof out->token) ||
        !tauth_int(m, "data.user.id", &out->user_id) ||
        !tauth_int(m, "data.user.school", &out->school_id) ||
        !tauth_int(m, "data.expires_at", &out->expires_at) ||
        !tauth_str(m, "data.user.role", out->role, sizeof out->role)) {
        fprintf(stderr, "tauth: auth.otp.verify for %s: %s\n", phone, tmsg_text(m));
        goto fail;
    }
    tmsg_free(m);
    m = tauth_call(out->c, "auth.sessions.list", NULL);
    const msgpack_object *list = m ? tmsg_get(tmsg_root(m), "data") : NULL;
    if (!tauth_is_ok(m) || list->type != MSGPACK_OBJECT_ARRAY) {
        fprintf(stderr, "tauth: auth.sessions.list: %s\n", tmsg_text(m));
        goto fail;
    }
    for (uint32_t i = 0; i < list->via.array.size; i++) {
        const msgpack_object *s = &list->via.array.ptr[i];
        const msgpack_object *cur = tmsg_get(s, "current");
        const msgpack_object *id = tmsg_get(s, "id");
        if (cur && cur->type == MSGPACK_OBJECT_BOOLEAN && cur->via.boolean && id &&
            id->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            out->session_id = (int64_t)id->via.u64;
        }
    }
    if (out->session_id <= 0) {
        fprintf(stderr, "tauth: no current session in %s\n", tmsg_text(m));
        goto fail;
    }
    tmsg_free(m);
    return 0;
fail:
    tmsg_free(m);
    wsclient_free(out->c);
    out->c = NULL;
    return -1;
}

void tauth_login_close(struct tauth_login *l)
{
    wsclient_free(l->c);
    l->c = NULL;
}

int64_t tauth_user_create(struct wsclient *admin, const char *role, const char *name,
                          const char *phone)
{
    struct tmsg *m = tauth_call(admin, "user.create", "{role: %s, name: %s, phone: %s}", role,
                                name, phone);
    int64_t id = -1;
    if (!tauth_is_ok(m) || !tauth_int(m, "data.id", &id) || id <= 0) {
        fprintf(stderr, "tauth: user.create %s %s: %s\n", role, phone, tmsg_text(m));
        id = -1;
    }
    tmsg_free(m);
    return id;
}

int tauth_wait_close(struct wsclient *c, int timeout_ms, int *code, char *reason, size_t cap)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)timeout_ms;
    if (reason && cap) {
        reason[0] = '\0';
    }
    for (;;) {
        struct wsclient_msg m;
        int r = wsclient_recv(c, &m, tsys_left_ms(deadline));
        if (r == -ETIMEDOUT) {
            return r;
        }
        if (r) {
            *code = 0;
            return 0;
        }
        if (m.opcode == WSCLIENT_OP_CLOSE) {
            *code = m.close_code;
            if (reason && cap) {
                snprintf(reason, cap, "%s", m.close_reason);
            }
            wsclient_msg_deinit(&m);
            return 0;
        }
        wsclient_msg_deinit(&m);
    }
}

/* ---- the database ---- */

static PGresult *run_sql(const struct harness *h, PGconn **pg, const char *sql, va_list ap)
{
    const char *params[8];
    int n = 0;
    for (const char *p = va_arg(ap, const char *); p && n < 8; p = va_arg(ap, const char *)) {
        params[n++] = p;
    }
    *pg = PQconnectdb(harness_conninfo(h));
    if (PQstatus(*pg) != CONNECTION_OK) {
        fprintf(stderr, "tauth: cannot connect to %s: %s", harness_conninfo(h),
                PQerrorMessage(*pg));
        return NULL;
    }
    PGresult *res = PQexecParams(*pg, sql, n, NULL, params, NULL, NULL, 0);
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        fprintf(stderr, "tauth: %s: %s", sql, PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    return res;
}

long tauth_sql(const struct harness *h, const char *sql, ...)
{
    va_list ap;
    va_start(ap, sql);
    PGconn *pg = NULL;
    PGresult *res = run_sql(h, &pg, sql, ap);
    va_end(ap);
    long n = -1;
    if (res) {
        n = PQresultStatus(res) == PGRES_TUPLES_OK ? PQntuples(res)
                                                   : strtol(PQcmdTuples(res), NULL, 10);
    }
    PQclear(res);
    PQfinish(pg);
    return n;
}

int64_t tauth_sql_int(const struct harness *h, const char *sql, ...)
{
    va_list ap;
    va_start(ap, sql);
    PGconn *pg = NULL;
    PGresult *res = run_sql(h, &pg, sql, ap);
    va_end(ap);
    int64_t v = -1;
    if (res && PQntuples(res) > 0 && PQnfields(res) > 0 && !PQgetisnull(res, 0, 0)) {
        v = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
    }
    PQclear(res);
    PQfinish(pg);
    return v;
}

/* ---- /metrics ---- */

long long tauth_metric(int port, const char *sample)
{
    int status = 0;
    char *body = NULL;
    if (harness_http_get(port, "/metrics", TCLIENT_TIMEOUT_MS, &status, &body) != 0 ||
        status != 200) {
        free(body);
        return -1;
    }
    long long v = -1;
    size_t n = strlen(sample);
    for (const char *line = body; line && *line;) {
        if (strncmp(line, sample, n) == 0 && line[n] == ' ') {
            v = strtoll(line + n + 1, NULL, 10);
            break;
        }
        const char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    free(body);
    return v;
}

const char *tauth_outcome(const struct tmsg *m)
{
    if (!m) {
        return "no reply";
    }
    if (tauth_is_ok(m)) {
        const msgpack_object *d = tmsg_get(tmsg_root(m), "data");
        return d && d->type == MSGPACK_OBJECT_ARRAY && d->via.array.size == 0 ? "e" : "o";
    }
    static const struct {
        const char *code;
        const char *letter;
    } codes[] = {
        { "bad_request", "b" }, { "unauthenticated", "u" }, { "forbidden", "f" },
        { "not_found", "n" },   { "conflict", "c" },
    };
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (tauth_is_err(m, codes[i].code, NULL)) {
            return codes[i].letter;
        }
    }
    return "?";
}

bool tauth_outcome_matches(char want, const char *got)
{
    return got[0] == want || (want == 'o' && got[0] == 'e');
}
