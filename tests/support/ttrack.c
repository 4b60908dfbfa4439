/* Live-tracking helpers for integration tests (see ttrack.h). */
#include "tests/support/ttrack.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/support/tclient.h"
#include "tests/support/tsys.h"

#define FIXTURE_TIMEOUT_MS 60000
#define TOKEN_RAW_BYTES 32
#define HASH_BYTES 32

/* ---- fixtures ---- */

/* Runs the fixture tool with the server's database and key file; its output goes to out_path. */
static int run_fixture(const char *conninfo, const char *key_path, int port, int trips,
                       int parents, const char *out_path)
{
    const char *bin = getenv("CLASSMENT_FIXTURE_BIN");
    if (!bin || !*bin) {
        fprintf(stderr, "ttrack: CLASSMENT_FIXTURE_BIN (classment-fixture) is not set; meson "
                        "test sets it\n");
        return -EINVAL;
    }
    char trips_s[16], parents_s[16], url[64];
    snprintf(trips_s, sizeof trips_s, "%d", trips);
    snprintf(parents_s, sizeof parents_s, "%d", parents);
    snprintf(url, sizeof url, "ws://127.0.0.1:%d/v1/ws", port);
    const char *argv[] = { bin, "load", "--trips", trips_s, "--parents", parents_s, "--url", url,
                           "--out", out_path, NULL };
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        return -errno;
    }
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        int in = open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0) {
            _exit(126);
        }
        setenv("CLASSMENT_DB", conninfo, 1);
        setenv("CLASSMENT_KEY_FILE", key_path, 1);
        execv(bin, (char *const *)argv);
        fprintf(stderr, "ttrack: exec %s: %s\n", bin, strerror(errno));
        _exit(127);
    }
    int r = tsys_wait_pid(pid, FIXTURE_TIMEOUT_MS);
    if (r == -ETIMEDOUT) {
        kill(pid, SIGKILL);
        tsys_wait_pid(pid, 5000);
        fprintf(stderr, "ttrack: classment-fixture did not finish within %d ms\n",
                FIXTURE_TIMEOUT_MS);
    }
    return r;
}

/* Parses the array after "key": [ of {"token": "…", "trip": N} objects. */
static int parse_members(const char *json, const char *key, struct ttrack_member **out,
                         size_t *n_out)
{
    char pattern[32];
    snprintf(pattern, sizeof pattern, "\"%s\": [", key);
    const char *start = strstr(json, pattern);
    const char *end = start ? strchr(start, ']') : NULL;
    if (!end) {
        fprintf(stderr, "ttrack: no %s array in the fixture output\n", key);
        return -1;
    }
    size_t n = 0;
    for (const char *p = start; (p = strstr(p, "\"token\": \"")) && p < end; p++) {
        n++;
    }
    struct ttrack_member *m = calloc(n ? n : 1, sizeof *m);
    const char *p = start;
    for (size_t i = 0; i < n; i++) {
        p = strstr(p, "\"token\": \"") + 10;
        size_t len = strcspn(p, "\"");
        const char *trip = strstr(p, "\"trip\": ");
        if (len == 0 || len > TAUTH_TOKEN_MAX || !trip || trip > end) {
            fprintf(stderr, "ttrack: malformed %s entry %zu in the fixture output\n", key, i);
            free(m);
            return -1;
        }
        memcpy(m[i].token, p, len);
        m[i].trip = strtoll(trip + 8, NULL, 10);
        p = trip;
    }
    *out = m;
    *n_out = n;
    return 0;
}

int ttrack_fixture_load_at(const char *conninfo, const char *key_path, int port, int trips,
                           int parents, struct ttrack_fixture *out)
{
    memset(out, 0, sizeof *out);
    char path[] = "/tmp/ttrack-fixture.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        return -1;
    }
    close(fd);
    int r = run_fixture(conninfo, key_path, port, trips, parents, path);
    char *json = tsys_read_file(path, NULL);
    unlink(path);
    if (r != 0 || !json) {
        fprintf(stderr, "ttrack: classment-fixture load exited %d\n", r);
        free(json);
        return -1;
    }
    const char *school = strstr(json, "\"school\": ");
    out->school = school ? strtoll(school + 10, NULL, 10) : -1;
    r = out->school > 0 ? 0 : -1;
    if (r == 0) {
        r = parse_members(json, "drivers", &out->drivers, &out->n_drivers);
    }
    if (r == 0) {
        r = parse_members(json, "parents", &out->parents, &out->n_parents);
    }
    if (r == 0 && (out->n_drivers != (size_t)trips ||
                   out->n_parents != (size_t)trips * (size_t)parents)) {
        fprintf(stderr, "ttrack: the fixture has %zu drivers and %zu parents, expected %d and "
                        "%d\n", out->n_drivers, out->n_parents, trips, trips * parents);
        r = -1;
    }
    if (r) {
        fprintf(stderr, "ttrack: cannot read the fixture output: %.500s\n", json);
        ttrack_fixture_deinit(out);
    }
    free(json);
    return r;
}

int ttrack_fixture_load(const struct harness *h, int trips, int parents,
                        struct ttrack_fixture *out)
{
    return ttrack_fixture_load_at(harness_conninfo(h), harness_key_path(h), harness_port(h),
                                  trips, parents, out);
}

void ttrack_fixture_deinit(struct ttrack_fixture *f)
{
    free(f->drivers);
    free(f->parents);
    memset(f, 0, sizeof *f);
}

/* "\x" and the hex of n bytes, for a bytea parameter. */
static void bytea_hex(const unsigned char *b, size_t n, char *out)
{
    out[0] = '\\';
    out[1] = 'x';
    sodium_bin2hex(out + 2, n * 2 + 1, b, n);
}

int64_t ttrack_user_create(const struct harness *h, int64_t school, const char *role,
                           const char *name, char token[TAUTH_TOKEN_MAX + 1])
{
    if (sodium_init() < 0) {
        fprintf(stderr, "ttrack: libsodium failed to initialise\n");
        return -1;
    }
    unsigned char enc[48], bi[HASH_BYTES], raw[TOKEN_RAW_BYTES], hash[HASH_BYTES];
    randombytes_buf(enc, sizeof enc);
    randombytes_buf(bi, sizeof bi);
    randombytes_buf(raw, sizeof raw);
    sodium_bin2base64(token, TAUTH_TOKEN_MAX + 1, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    /* The server keeps BLAKE2b-256 of the token, unkeyed (core/crypto.c). */
    crypto_generichash(hash, sizeof hash, (const unsigned char *)token, strlen(token), NULL, 0);
    char school_s[24], enc_hex[2 * sizeof enc + 3], bi_hex[2 * HASH_BYTES + 3],
        hash_hex[2 * HASH_BYTES + 3];
    snprintf(school_s, sizeof school_s, "%lld", (long long)school);
    bytea_hex(enc, sizeof enc, enc_hex);
    bytea_hex(bi, sizeof bi, bi_hex);
    bytea_hex(hash, sizeof hash, hash_hex);
    int64_t id = tauth_sql_int(h,
                               "WITH u AS (INSERT INTO users (school_id, role, name, phone_enc,"
                               "  phone_key, phone_bi) VALUES ($1, $2, $3, $4::bytea, 1,"
                               "  $5::bytea) RETURNING id, school_id),"
                               " s AS (INSERT INTO sessions (user_id, school_id, token_hash,"
                               "  device_type, device_os, app_version, expires_at)"
                               "  SELECT id, school_id, $6::bytea, 'test', 'linux', '1',"
                               "  now() + interval '1 day' FROM u)"
                               " SELECT id FROM u",
                               school_s, role, name, enc_hex, bi_hex, hash_hex,
                               (const char *)NULL);
    if (id <= 0) {
        fprintf(stderr, "ttrack: could not create the %s %s\n", role, name);
    }
    return id;
}

/* ---- a client that keeps its events ---- */

struct ttrack_client {
    struct wsclient *ws;
    char name[32];
    struct tmsg **kept;
    size_t n_kept, cap_kept;
};

struct ttrack_client *ttrack_connect(int port, const char *name)
{
    struct wsclient *ws = tclient_open(port);
    if (!ws) {
        fprintf(stderr, "ttrack: %s could not connect\n", name);
        return NULL;
    }
    struct ttrack_client *c = calloc(1, sizeof *c);
    c->ws = ws;
    snprintf(c->name, sizeof c->name, "%s", name);
    return c;
}

struct ttrack_client *ttrack_login(int port, const char *token, const char *name)
{
    struct ttrack_client *c = ttrack_connect(port, name);
    if (!c) {
        return NULL;
    }
    struct tmsg *m = ttrack_call(c, "auth.resume", "{token: %s}", token);
    bool ok = tauth_is_ok(m);
    if (!ok) {
        fprintf(stderr, "ttrack: auth.resume for %s: %s\n", name, tmsg_text(m));
    }
    tmsg_free(m);
    if (!ok) {
        ttrack_client_free(c);
        return NULL;
    }
    return c;
}

void ttrack_clear(struct ttrack_client *c)
{
    for (size_t i = 0; i < c->n_kept; i++) {
        tmsg_free(c->kept[i]);
    }
    c->n_kept = 0;
}

void ttrack_client_free(struct ttrack_client *c)
{
    if (!c) {
        return;
    }
    ttrack_clear(c);
    free(c->kept);
    wsclient_free(c->ws);
    free(c);
}

struct wsclient *ttrack_ws(struct ttrack_client *c)
{
    return c->ws;
}

const char *ttrack_name(const struct ttrack_client *c)
{
    return c->name;
}

static void keep(struct ttrack_client *c, struct tmsg *m)
{
    if (c->n_kept == c->cap_kept) {
        c->cap_kept = c->cap_kept ? c->cap_kept * 2 : 16;
        c->kept = realloc(c->kept, c->cap_kept * sizeof *c->kept);
    }
    c->kept[c->n_kept++] = m;
}

/* The next message, decoded. 0 with *out set; -ETIMEDOUT; or -ECONNRESET when a close frame or
 * the end of the connection came (printed). Frames that are not msgpack are printed and
 * skipped. */
static int next_msg(struct ttrack_client *c, uint64_t deadline, struct tmsg **out)
{
    for (;;) {
        struct wsclient_msg wm;
        int r = wsclient_recv(c->ws, &wm, tsys_left_ms(deadline));
        if (r == -ETIMEDOUT) {
            return r;
        }
        if (r) {
            fprintf(stderr, "ttrack: %s: the connection ended (%s)\n", c->name, strerror(-r));
            return -ECONNRESET;
        }
        if (wm.opcode == WSCLIENT_OP_CLOSE) {
            fprintf(stderr, "ttrack: %s: close frame %d \"%s\"\n", c->name, wm.close_code,
                    wm.close_reason);
            wsclient_msg_deinit(&wm);
            return -ECONNRESET;
        }
        struct tmsg *m = wm.opcode == WSCLIENT_OP_BINARY ? tmsg_decode(wm.data, wm.len) : NULL;
        wsclient_msg_deinit(&wm);
        if (m) {
            *out = m;
            return 0;
        }
        fprintf(stderr, "ttrack: %s: skipped a frame that is not a msgpack message\n", c->name);
    }
}

static struct tmsg *vcall(struct ttrack_client *c, const char *op, const char *args_fmt,
                          va_list ap)
{
    uint64_t id = tauth_next_id();
    int r;
    if (args_fmt) {
        size_t len;
        uint8_t *args = tmsg_vbuild(&len, args_fmt, ap);
        r = tclient_send(c->ws, "{id: %U, op: %s, args: %m}", id, op, args, len);
        free(args);
    } else {
        r = tclient_send(c->ws, "{id: %U, op: %s}", id, op);
    }
    if (r) {
        fprintf(stderr, "ttrack: %s: sending %s: %s\n", c->name, op, strerror(-r));
        return NULL;
    }
    uint64_t deadline = tsys_mono_ms() + TCLIENT_TIMEOUT_MS;
    for (;;) {
        struct tmsg *m = NULL;
        if (next_msg(c, deadline, &m) != 0) {
            fprintf(stderr, "ttrack: %s: no reply to %s\n", c->name, op);
            return NULL;
        }
        if (tmsg_uint_is(m, "id", id)) {
            return m;
        }
        if (tmsg_has(m, "ev")) {
            keep(c, m);
        } else {
            fprintf(stderr, "ttrack: %s: waiting for reply %llu, skipped %s\n", c->name,
                    (unsigned long long)id, tmsg_text(m));
            tmsg_free(m);
        }
    }
}

struct tmsg *ttrack_call(struct ttrack_client *c, const char *op, const char *args_fmt, ...)
{
    va_list ap;
    va_start(ap, args_fmt);
    struct tmsg *m = vcall(c, op, args_fmt, ap);
    va_end(ap);
    return m;
}

int ttrack_pos(struct ttrack_client *c, int64_t trip, double lat, double lon, int64_t ts)
{
    return tclient_send(c->ws, "{op: trip.pos, args: {trip: %D, lat: %f, lon: %f, ts: %D}}",
                        trip, lat, lon, ts);
}

struct tmsg *ttrack_pos_call(struct ttrack_client *c, int64_t trip, double lat, double lon,
                             int64_t ts)
{
    return ttrack_call(c, "trip.pos", "{trip: %D, lat: %f, lon: %f, ts: %D}", trip, lat, lon,
                       ts);
}

struct tmsg *ttrack_event(struct ttrack_client *c, const char *ev, int timeout_ms)
{
    for (size_t i = 0; i < c->n_kept; i++) {
        if (tmsg_str_is(c->kept[i], "ev", ev)) {
            struct tmsg *m = c->kept[i];
            memmove(c->kept + i, c->kept + i + 1, (c->n_kept - i - 1) * sizeof *c->kept);
            c->n_kept--;
            return m;
        }
    }
    uint64_t deadline = tsys_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        struct tmsg *m = NULL;
        int r = next_msg(c, deadline, &m);
        if (r) {
            fprintf(stderr, "ttrack: %s: no %s event within %d ms\n", c->name, ev, timeout_ms);
            return NULL;
        }
        if (tmsg_str_is(m, "ev", ev)) {
            return m;
        }
        if (tmsg_has(m, "ev")) {
            keep(c, m);
        } else {
            fprintf(stderr, "ttrack: %s: waiting for %s, skipped %s\n", c->name, ev,
                    tmsg_text(m));
            tmsg_free(m);
        }
    }
}

bool ttrack_collect(struct ttrack_client *c, int ms)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)ms;
    for (;;) {
        struct tmsg *m = NULL;
        int r = next_msg(c, deadline, &m);
        if (r == -ETIMEDOUT) {
            return true;
        }
        if (r) {
            return false;
        }
        if (tmsg_has(m, "ev")) {
            keep(c, m);
        } else {
            fprintf(stderr, "ttrack: %s: unexpected reply %s\n", c->name, tmsg_text(m));
            tmsg_free(m);
        }
    }
}

bool ttrack_settle(struct ttrack_client *c, int quiet_ms, int max_ms)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)max_ms;
    for (;;) {
        size_t before = c->n_kept;
        int wait = tsys_left_ms(deadline);
        if (!ttrack_collect(c, wait < quiet_ms ? wait : quiet_ms)) {
            return false;
        }
        if (c->n_kept == before || tsys_left_ms(deadline) == 0) {
            return true;
        }
    }
}

size_t ttrack_count(const struct ttrack_client *c, const char *ev)
{
    size_t n = 0;
    for (size_t i = 0; i < c->n_kept; i++) {
        n += !ev || tmsg_str_is(c->kept[i], "ev", ev);
    }
    return n;
}

size_t ttrack_take_all(struct ttrack_client *c, const char *ev, struct tmsg ***out)
{
    struct tmsg **taken = malloc((c->n_kept ? c->n_kept : 1) * sizeof *taken);
    size_t n = 0, left = 0;
    for (size_t i = 0; i < c->n_kept; i++) {
        if (tmsg_str_is(c->kept[i], "ev", ev)) {
            taken[n++] = c->kept[i];
        } else {
            c->kept[left++] = c->kept[i];
        }
    }
    c->n_kept = left;
    *out = taken;
    return n;
}

const struct tmsg *ttrack_kept(const struct ttrack_client *c, const char *ev, size_t i)
{
    for (size_t k = 0; k < c->n_kept; k++) {
        if (tmsg_str_is(c->kept[k], "ev", ev) && i-- == 0) {
            return c->kept[k];
        }
    }
    return NULL;
}

bool ttrack_only(const struct ttrack_client *c, const char *const *allowed)
{
    bool ok = true;
    for (size_t i = 0; i < c->n_kept; i++) {
        bool found = false;
        for (const char *const *a = allowed; *a && !found; a++) {
            found = tmsg_str_is(c->kept[i], "ev", *a);
        }
        if (!found) {
            fprintf(stderr, "ttrack: %s got an unexpected event: %s\n", c->name,
                    tmsg_text(c->kept[i]));
            ok = false;
        }
    }
    return ok;
}

/* ---- a subscriber that stops reading ---- */

struct ttrack_raw {
    int fd;
    uint8_t *in;          /* bytes read and not yet parsed */
    size_t in_len, in_cap;
    int close_code;
};

static int raw_wait(int fd, short events, uint64_t deadline)
{
    struct pollfd p = { .fd = fd, .events = events };
    for (;;) {
        int r = poll(&p, 1, tsys_left_ms(deadline));
        if (r > 0) {
            return 0;
        }
        if (r == 0) {
            return -ETIMEDOUT;
        }
        if (errno != EINTR) {
            return -errno;
        }
    }
}

static int raw_write(struct ttrack_raw *r, const void *data, size_t len)
{
    uint64_t deadline = tsys_mono_ms() + WSCLIENT_IO_TIMEOUT_MS;
    const uint8_t *p = data;
    while (len) {
        ssize_t n = send(r->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            p += n;
            len -= (size_t)n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return -errno;
        }
        int w = raw_wait(r->fd, POLLOUT, deadline);
        if (w) {
            return w;
        }
    }
    return 0;
}

/* Reads what is there (waiting until deadline for something). 0, -ETIMEDOUT or -ECONNRESET. */
static int raw_fill(struct ttrack_raw *r, uint64_t deadline)
{
    int w = raw_wait(r->fd, POLLIN, deadline);
    if (w) {
        return w;
    }
    if (r->in_cap - r->in_len < 65536) {
        r->in_cap = r->in_cap * 2 + 65536;
        r->in = realloc(r->in, r->in_cap);
    }
    ssize_t n = recv(r->fd, r->in + r->in_len, r->in_cap - r->in_len, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        return -ECONNRESET;
    }
    r->in_len += n > 0 ? (size_t)n : 0;
    return 0;
}

static void raw_consume(struct ttrack_raw *r, size_t n)
{
    memmove(r->in, r->in + n, r->in_len - n);
    r->in_len -= n;
}

struct ttrack_raw *ttrack_raw_connect(int port, int rcvbuf_bytes)
{
    struct ttrack_raw *r = calloc(1, sizeof *r);
    r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (r->fd < 0 ||
        setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf_bytes, sizeof rcvbuf_bytes) != 0 ||
        connect(r->fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        fprintf(stderr, "ttrack: raw connect to port %d: %s\n", port, strerror(errno));
        ttrack_raw_free(r);
        return NULL;
    }
    char req[256];
    int n = snprintf(req, sizeof req,
                     "GET /v1/ws HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                     "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: classment.v1\r\n\r\n",
                     port);
    uint64_t deadline = tsys_mono_ms() + WSCLIENT_IO_TIMEOUT_MS;
    if (raw_write(r, req, (size_t)n) != 0) {
        goto fail;
    }
    for (;;) {
        uint8_t *end = r->in ? memmem(r->in, r->in_len, "\r\n\r\n", 4) : NULL;
        if (end) {
            bool upgraded = r->in_len > 12 && memcmp(r->in, "HTTP/1.1 101", 12) == 0;
            raw_consume(r, (size_t)(end + 4 - r->in));
            if (!upgraded) {
                fprintf(stderr, "ttrack: raw connect: no 101 from the server\n");
                goto fail;
            }
            break;
        }
        if (raw_fill(r, deadline) != 0) {
            fprintf(stderr, "ttrack: raw connect: no handshake answer\n");
            goto fail;
        }
    }
    struct tmsg *hello = ttrack_raw_recv(r, WSCLIENT_IO_TIMEOUT_MS);
    bool ok = tmsg_is_event(hello, "hello");
    tmsg_free(hello);
    if (ok) {
        return r;
    }
    fprintf(stderr, "ttrack: raw connect: no hello\n");
fail:
    ttrack_raw_free(r);
    return NULL;
}

void ttrack_raw_free(struct ttrack_raw *r)
{
    if (!r) {
        return;
    }
    if (r->fd >= 0) {
        close(r->fd);
    }
    free(r->in);
    free(r);
}

int ttrack_raw_send(struct ttrack_raw *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t len;
    uint8_t *data = tmsg_vbuild(&len, fmt, ap);
    va_end(ap);
    uint8_t *frame = malloc(len + 14);
    size_t h = 0;
    frame[h++] = 0x80 | WSCLIENT_OP_BINARY;
    if (len < 126) {
        frame[h++] = 0x80 | (uint8_t)len;
    } else {
        frame[h++] = 0x80 | 126;
        frame[h++] = (uint8_t)(len >> 8);
        frame[h++] = (uint8_t)len;
    }
    uint8_t mask[4];
    randombytes_buf(mask, sizeof mask);
    memcpy(frame + h, mask, 4);
    h += 4;
    for (size_t i = 0; i < len; i++) {
        frame[h + i] = data[i] ^ mask[i % 4];
    }
    int rc = len < 65536 ? raw_write(r, frame, h + len) : -EMSGSIZE;
    free(frame);
    free(data);
    return rc;
}

struct tmsg *ttrack_raw_recv(struct ttrack_raw *r, int timeout_ms)
{
    uint64_t deadline = tsys_mono_ms() + (uint64_t)timeout_ms;
    for (;;) {
        /* A server frame: unmasked, not fragmented (the server sends whole messages). */
        if (r->in_len >= 2) {
            size_t hdr = 2, len = r->in[1] & 0x7f;
            int opcode = r->in[0] & 0x0f;
            if (len == 126) {
                hdr = 4;
                len = r->in_len >= 4 ? (size_t)r->in[2] << 8 | r->in[3] : SIZE_MAX;
            } else if (len == 127) {
                hdr = 10;
                len = SIZE_MAX;
                if (r->in_len >= 10) {
                    len = 0;
                    for (int i = 2; i < 10; i++) {
                        len = len << 8 | r->in[i];
                    }
                }
            }
            if (len != SIZE_MAX && r->in_len >= hdr + len) {
                struct tmsg *m = NULL;
                if (opcode == WSCLIENT_OP_CLOSE) {
                    r->close_code = len >= 2 ? r->in[hdr] << 8 | r->in[hdr + 1] : 1005;
                    raw_consume(r, hdr + len);
                    return NULL;
                }
                if (opcode == WSCLIENT_OP_BINARY) {
                    m = tmsg_decode(r->in + hdr, len);
                }
                raw_consume(r, hdr + len);
                if (m) {
                    return m;
                }
                continue;
            }
        }
        int f = raw_fill(r, deadline);
        if (f == -ECONNRESET && !r->close_code) {
            r->close_code = -1;
        }
        if (f) {
            return NULL;
        }
    }
}

int ttrack_raw_close_code(const struct ttrack_raw *r)
{
    return r->close_code;
}

/* ---- reading messages ---- */

bool ttrack_obj_num(const msgpack_object *o, double *out)
{
    if (!o) {
        return false;
    }
    switch (o->type) {
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        *out = (double)o->via.u64;
        return true;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        *out = (double)o->via.i64;
        return true;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        *out = o->via.f64;
        return true;
    default:
        return false;
    }
}

bool ttrack_num(const struct tmsg *m, const char *path, double *out)
{
    return m && ttrack_obj_num(tmsg_get(tmsg_root(m), path), out);
}

int64_t ttrack_id(const struct tmsg *m, const char *path)
{
    int64_t v = -1;
    return tauth_int(m, path, &v) ? v : -1;
}
