/* Server configuration from CLASSMENT_* environment variables (see config.h). */
#include "core/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

#ifndef CLASSMENT_SRC_ROOT
#define CLASSMENT_SRC_ROOT "."
#endif

/* How a variable's text becomes its field. */
enum var_type {
    VAR_STR,    /* char *, a copy */
    VAR_INT,    /* int in [min, max] */
    VAR_SIZE,   /* size_t in [min, max] */
    VAR_LISTEN, /* host:port into listen_host and listen_port */
    VAR_LOG,    /* enum log_level */
    VAR_ENV,    /* production or development, into the development flag */
};

/* One variable: where it goes, its default, its rule and its --help text. */
struct var {
    const char *name;
    enum var_type type;
    size_t offset;        /* of its field in struct config */
    const char *fallback; /* used when unset or empty, read like a value; NULL: field is NULL */
    long min, max;        /* VAR_INT and VAR_SIZE; --help shows them after the meaning */
    /* A rule on the stored value and the fields read before it: false refuses it, naming
     * *name (the variable itself unless the rule says another one is missing). */
    bool (*check)(const struct config *c, const char **name);
    const char *why;      /* the refusal, for every type but VAR_INT and VAR_SIZE */
    const char *meaning;
    const char *shown;    /* --help's default when a NULL field selects another module's */
};

static bool check_tls_pair(const struct config *c, const char **name)
{
    if (!c->tls_cert == !c->tls_key) {
        return true;
    }
    *name = c->tls_cert ? "CLASSMENT_TLS_KEY" : "CLASSMENT_TLS_CERT";
    return false;
}

static bool check_key_file(const struct config *c, const char **name)
{
    (void)name;
    return c->key_file || c->development;
}

static bool check_calling_code(const struct config *c, const char **name)
{
    (void)name;
    size_t n = strlen(c->default_cc);
    return n <= 3 && strspn(c->default_cc, "0123456789") == n && c->default_cc[0] != '0';
}

static bool check_http_url(const struct config *c, const char **name)
{
    (void)name;
    return !c->sms_url || strncmp(c->sms_url, "http://", 7) == 0;
}

/* A tile URL ends up in the pages' map and, by its scheme and host, in the Content-Security-
 * Policy header: so no byte that could end a header, a CSP source or a JSON string, a host of
 * plain name characters (Leaflet's "{s}." subdomain prefix allowed), and {z}, {x} and {y}. */
static bool check_tile_url(const struct config *c, const char **name)
{
    (void)name;
    const char *u = c->map_tiles;
    if (!u) {
        return true;
    }
    const char *host = strncmp(u, "https://", 8) == 0 ? u + 8
                       : strncmp(u, "http://", 7) == 0 ? u + 7 : NULL;
    if (!host || strlen(u) > 500) {
        return false;
    }
    for (const char *p = u; *p; p++) {
        if (*p <= ' ' || *p >= 0x7f || strchr("\"'\\;,<>`", *p)) {
            return false;
        }
    }
    const char *h = strncmp(host, "{s}.", 4) == 0 ? host + 4 : host;
    size_t host_len = strcspn(h, "/");
    if (host_len == 0 || h[host_len] != '/' ||
        strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") <
            host_len) {
        return false;
    }
    return strstr(h, "{z}") && strstr(h, "{x}") && strstr(h, "{y}");
}

/* Every variable, in the order they are read: the first bad one is the one reported, and
 * a rule may use the fields above it. */
static const struct var vars[] = {
    { .name = "CLASSMENT_LISTEN", .type = VAR_LISTEN,
      .offset = offsetof(struct config, listen_host), .fallback = "127.0.0.1:8080",
      .why = "must be host:port, e.g. 127.0.0.1:8080",
      .meaning = "host:port to serve WebSocket and HTTP on ([::1]:8080 for IPv6)" },
    { .name = "CLASSMENT_DB", .type = VAR_STR, .offset = offsetof(struct config, db_conninfo),
      .fallback = "dbname=classment", .meaning = "libpq connection string" },
    { .name = "CLASSMENT_DB_POOL", .type = VAR_INT,
      .offset = offsetof(struct config, db_pool_size), .fallback = "4", .min = 1, .max = 64,
      .meaning = "database connections" },
    { .name = "CLASSMENT_SMS_OUTBOX", .type = VAR_STR,
      .offset = offsetof(struct config, sms_outbox),
      .meaning = "append SMS as JSON lines to this file instead of sending them (development "
                 "and tests)" },
    { .name = "CLASSMENT_LOG", .type = VAR_LOG, .offset = offsetof(struct config, log_level),
      .fallback = "info", .why = "must be debug, info, warn or error",
      .meaning = "log level: debug, info, warn or error" },
    { .name = "CLASSMENT_TLS_CERT", .type = VAR_STR, .offset = offsetof(struct config, tls_cert),
      .meaning = "PEM certificate; with CLASSMENT_TLS_KEY serves wss:// and https://" },
    { .name = "CLASSMENT_TLS_KEY", .type = VAR_STR, .offset = offsetof(struct config, tls_key),
      .check = check_tls_pair,
      .why = "CLASSMENT_TLS_CERT and CLASSMENT_TLS_KEY must be set together",
      .meaning = "PEM private key for CLASSMENT_TLS_CERT" },
    { .name = "CLASSMENT_SQL_DIR", .type = VAR_STR, .offset = offsetof(struct config, sql_dir),
      .fallback = CLASSMENT_SRC_ROOT "/sql", .meaning = "folder of numbered migrations" },
    { .name = "CLASSMENT_WEB_ROOT", .type = VAR_STR, .offset = offsetof(struct config, web_root),
      .fallback = CLASSMENT_SRC_ROOT "/web", .meaning = "folder of static web pages" },
    { .name = "CLASSMENT_HEARTBEAT_S", .type = VAR_INT,
      .offset = offsetof(struct config, heartbeat_s), .fallback = "30", .min = 5, .max = 3600,
      .meaning = "seconds of silence before a WebSocket ping; three silent periods close the "
                 "connection" },
    { .name = "CLASSMENT_MAX_MESSAGE", .type = VAR_SIZE,
      .offset = offsetof(struct config, max_message_bytes), .fallback = "65536", .min = 1024,
      .max = 16 << 20, .meaning = "largest accepted message in bytes" },
    { .name = "CLASSMENT_SEND_QUEUE", .type = VAR_INT,
      .offset = offsetof(struct config, send_queue_max), .fallback = "256", .min = 8,
      .max = 65536, .meaning = "messages queued per connection before it counts as too slow" },
    { .name = "CLASSMENT_SOCKET_SNDBUF", .type = VAR_INT,
      .offset = offsetof(struct config, socket_sndbuf), .fallback = "131072", .min = 0,
      .max = 16 << 20,
      .meaning = "kernel send buffer of each client socket in bytes (SO_SNDBUF; 0: the "
                 "kernel's autotuning, up to net.ipv4.tcp_wmem's 4 MiB)" },
    { .name = "CLASSMENT_CONN_IN_FLIGHT", .type = VAR_INT,
      .offset = offsetof(struct config, conn_in_flight), .fallback = "32", .min = 1,
      .max = 100000,
      .meaning = "requests of one logged-in connection handled at once; later ones wait their "
                 "turn" },
    { .name = "CLASSMENT_CONN_IN_FLIGHT_ANON", .type = VAR_INT,
      .offset = offsetof(struct config, conn_in_flight_anon), .fallback = "4", .min = 1,
      .max = 100000, .meaning = "the same for a connection not logged in" },
    { .name = "CLASSMENT_CONN_WAITING", .type = VAR_INT,
      .offset = offsetof(struct config, conn_waiting), .fallback = "256", .min = 0,
      .max = 65536,
      .meaning = "requests of one connection that may wait their turn; more are refused "
                 "rate_limited" },
    { .name = "CLASSMENT_CONN_RATE", .type = VAR_INT,
      .offset = offsetof(struct config, conn_rate), .fallback = "1000", .min = 1,
      .max = 1000000,
      .meaning = "requests per second of one connection (a burst of as many); more are refused "
                 "rate_limited (a logged-in connection's requests without an id are not counted)" },
    { .name = "CLASSMENT_ADDR_PUBLIC_RATE", .type = VAR_INT,
      .offset = offsetof(struct config, addr_public_rate), .fallback = "50", .min = 1,
      .max = 1000000,
      .meaning = "database requests per second before login (sys.status, auth.*) from one "
                 "address; more are refused rate_limited" },
    { .name = "CLASSMENT_ADDR_PUBLIC_BURST", .type = VAR_INT,
      .offset = offsetof(struct config, addr_public_burst), .fallback = "200", .min = 1,
      .max = 1000000, .meaning = "the burst one address may take of those at once" },
    { .name = "CLASSMENT_ADDR_IN_FLIGHT_ANON", .type = VAR_INT,
      .offset = offsetof(struct config, addr_in_flight_anon), .fallback = "256", .min = 1,
      .max = 100000,
      .meaning = "requests of all the connections not logged in from one address handled at "
                 "once; later ones wait their turn" },
    { .name = "CLASSMENT_USER_IN_FLIGHT", .type = VAR_INT,
      .offset = offsetof(struct config, user_in_flight), .fallback = "256", .min = 1,
      .max = 100000,
      .meaning = "requests with an id of all the connections of one logged-in user handled at "
                 "once; later ones wait their turn" },
    { .name = "CLASSMENT_ENV", .type = VAR_ENV, .offset = offsetof(struct config, development),
      .fallback = "production", .why = "must be production or development",
      .meaning = "production or development (development creates a missing key file)" },
    { .name = "CLASSMENT_KEY_FILE", .type = VAR_STR, .offset = offsetof(struct config, key_file),
      .check = check_key_file,
      .why = "required in production (create one with classment-admin keys init)",
      .meaning = "master key file (VERSION:HEX64 lines, mode 600); required in production" },
    { .name = "CLASSMENT_DEFAULT_CC", .type = VAR_STR,
      .offset = offsetof(struct config, default_cc), .fallback = "91",
      .check = check_calling_code, .why = "must be 1-3 digits, e.g. 91",
      .meaning = "country calling code for phone numbers given without one" },
    { .name = "CLASSMENT_SESSION_DAYS", .type = VAR_INT,
      .offset = offsetof(struct config, session_days), .fallback = "60", .min = 1, .max = 365,
      .meaning = "session lifetime for teachers, librarians, drivers and parents, in days" },
    { .name = "CLASSMENT_ADMIN_SESSION_HOURS", .type = VAR_INT,
      .offset = offsetof(struct config, admin_session_hours), .fallback = "12", .min = 1,
      .max = 720, .meaning = "session lifetime for admins, in hours" },
    { .name = "CLASSMENT_SESSION_CHECK_S", .type = VAR_INT,
      .offset = offsetof(struct config, session_check_s), .fallback = "15", .min = 1,
      .max = 3600, .meaning = "seconds between re-checks of live connections' sessions" },
    { .name = "CLASSMENT_SMS_URL", .type = VAR_STR, .offset = offsetof(struct config, sms_url),
      .check = check_http_url, .why = "must start with http://",
      .meaning = "http://host:port/path of the SMS gateway (POST)" },
    /* NULL lets core/sms.c use its built-in body, which is the one shown here. */
    { .name = "CLASSMENT_SMS_TEMPLATE", .type = VAR_STR,
      .offset = offsetof(struct config, sms_template),
      .meaning = "JSON body posted to the SMS gateway",
      .shown = "{\"to\":\"{to}\",\"text\":\"{text}\"}" },
    { .name = "CLASSMENT_SMS_AUTH", .type = VAR_STR, .offset = offsetof(struct config, sms_auth),
      .meaning = "Authorization header sent to the SMS gateway" },
    { .name = "CLASSMENT_AUDIT_RETENTION_DAYS", .type = VAR_INT,
      .offset = offsetof(struct config, audit_retention_days), .fallback = "1095", .min = 30,
      .max = 3650, .meaning = "days audit entries are kept" },
    { .name = "CLASSMENT_SESSION_RETENTION_DAYS", .type = VAR_INT,
      .offset = offsetof(struct config, session_retention_days), .fallback = "90", .min = 1,
      .max = 3650, .meaning = "days ended sessions (device, usage data) are kept" },
    { .name = "CLASSMENT_GPS_MIN_INTERVAL_MS", .type = VAR_INT,
      .offset = offsetof(struct config, tracking.gps_min_interval_ms), .fallback = "500",
      .min = 0, .max = 60000,
      .meaning = "positions of one trip closer together than this are refused" },
    { .name = "CLASSMENT_GPS_MAX_AGE_S", .type = VAR_INT,
      .offset = offsetof(struct config, tracking.gps_max_age_s), .fallback = "120", .min = 5,
      .max = 3600, .meaning = "positions older than this are refused" },
    { .name = "CLASSMENT_GPS_MAX_SPEED", .type = VAR_INT,
      .offset = offsetof(struct config, tracking.gps_max_speed_mps), .fallback = "50",
      .min = 5, .max = 300, .meaning = "m/s; a position implying more is refused" },
    { .name = "CLASSMENT_TRIP_IDLE_S", .type = VAR_INT,
      .offset = offsetof(struct config, tracking.trip_idle_s), .fallback = "900", .min = 1,
      .max = 86400, .meaning = "a trip without positions this long is ended" },
    { .name = "CLASSMENT_STOP_RADIUS_M", .type = VAR_INT,
      .offset = offsetof(struct config, tracking.stop_radius_m), .fallback = "60", .min = 5,
      .max = 1000, .meaning = "a bus this close to a stop has arrived" },
    { .name = "CLASSMENT_STOP_APPROACH_S", .type = VAR_INT,
      .offset = offsetof(struct config, tracking.stop_approach_s), .fallback = "300",
      .min = 10, .max = 3600,
      .meaning = "parents are told when the ETA to their stop drops to this" },
    { .name = "CLASSMENT_POSITION_RETENTION_DAYS", .type = VAR_INT,
      .offset = offsetof(struct config, position_retention_days), .fallback = "30", .min = 1,
      .max = 3650, .meaning = "days stored GPS positions are kept" },
    { .name = "CLASSMENT_LEAVER_RETENTION_YEARS", .type = VAR_INT,
      .offset = offsetof(struct config, leaver_retention_years), .fallback = "3", .min = 1,
      .max = 50, .meaning = "years a student's records are kept after they left the school" },
    { .name = "CLASSMENT_ATTENDANCE_EDIT_DAYS", .type = VAR_INT,
      .offset = offsetof(struct config, attendance_edit_days), .fallback = "7", .min = 0,
      .max = 366,
      .meaning = "days back a teacher may mark or correct attendance; older days only admins" },
    { .name = "CLASSMENT_MAP_TILES", .type = VAR_STR, .offset = offsetof(struct config, map_tiles),
      .check = check_tile_url,
      .why = "must be an https:// or http:// URL template with {z}, {x} and {y}, e.g. "
             "https://tile.example.org/{z}/{x}/{y}.png",
      .meaning = "map tile URL template for the web pages ({s}, {z}, {x}, {y}); its host is "
                 "allowed in the pages' Content-Security-Policy (unset: no map tiles)" },
    { .name = "CLASSMENT_MAP_ATTRIBUTION", .type = VAR_STR,
      .offset = offsetof(struct config, map_attribution),
      .meaning = "attribution shown under the map, as the tile provider requires" },
};

static const size_t n_vars = sizeof vars / sizeof vars[0];

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end != '\0' || v < min || v > max) {
        return -EINVAL;
    }
    *out = v;
    return 0;
}

/* Accepts "host:port", "[v6]:port" and ":port" (all interfaces is spelled 0.0.0.0 or [::]). */
static int parse_listen(const char *s, struct config *c)
{
    const char *colon;
    const char *host = s;
    size_t host_len;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':') {
            return -EINVAL;
        }
        host = s + 1;
        host_len = (size_t)(close - host);
        colon = close + 1;
    } else {
        colon = strrchr(s, ':');
        if (!colon || strchr(s, ':') != colon) {
            return -EINVAL;
        }
        host_len = (size_t)(colon - s);
    }
    long port;
    if (parse_long(colon + 1, 1, 65535, &port) != 0) {
        return -EINVAL;
    }
    if (host_len == 0) {
        host = "0.0.0.0";
        host_len = strlen(host);
    }
    if (host_len > 255) {
        return -EINVAL;
    }
    c->listen_host = xstrndup(host, host_len);
    c->listen_port = (int)port;
    return 0;
}

/* Reads s into v's field; s is NULL only for a VAR_STR without a default. Returns 0, or
 * -EINVAL when s breaks v's syntax or range. */
static int store(const struct var *v, const char *s, struct config *c)
{
    void *field = (char *)c + v->offset;
    long n;
    switch (v->type) {
    case VAR_STR:
        *(char **)field = s ? xstrdup(s) : NULL;
        return 0;
    case VAR_INT:
        if (parse_long(s, v->min, v->max, &n) != 0) {
            return -EINVAL;
        }
        *(int *)field = (int)n;
        return 0;
    case VAR_SIZE:
        if (parse_long(s, v->min, v->max, &n) != 0) {
            return -EINVAL;
        }
        *(size_t *)field = (size_t)n;
        return 0;
    case VAR_LISTEN:
        return parse_listen(s, c);
    case VAR_LOG:
        return log_parse_level(s, field);
    case VAR_ENV:
        *(bool *)field = strcmp(s, "development") == 0;
        return *(bool *)field || strcmp(s, "production") == 0 ? 0 : -EINVAL;
    }
    return -EINVAL;
}

static bool is_number(const struct var *v)
{
    return v->type == VAR_INT || v->type == VAR_SIZE;
}

/* Writes v's refusal, naming name, into err. */
static void refuse(const struct var *v, const char *name, char *err, size_t err_len)
{
    if (is_number(v)) {
        snprintf(err, err_len, "%s: must be a whole number from %ld to %ld", name, v->min,
                 v->max);
    } else {
        snprintf(err, err_len, "%s: %s", name, v->why);
    }
}

int config_load(struct config *c, config_getenv_fn *get, char *err, size_t err_len)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < n_vars; i++) {
        const struct var *v = &vars[i];
        const char *s = get(v->name);
        const char *name = v->name;
        if (store(v, s && *s ? s : v->fallback, c) != 0 || (v->check && !v->check(c, &name))) {
            refuse(v, name, err, err_len);
            config_deinit(c);
            return -EINVAL;
        }
    }
    return 0;
}

void config_deinit(struct config *c)
{
    for (size_t i = 0; i < n_vars; i++) {
        if (vars[i].type == VAR_STR || vars[i].type == VAR_LISTEN) {
            free(*(char **)((char *)c + vars[i].offset));
        }
    }
    memset(c, 0, sizeof *c);
}

void config_print_help(void *file)
{
    FILE *f = file;
    fprintf(f, "Environment:\n");
    for (size_t i = 0; i < n_vars; i++) {
        const struct var *v = &vars[i];
        const char *dflt = v->shown ? v->shown : v->fallback ? v->fallback : "(unset)";
        fprintf(f, "  %s\n      %s", v->name, v->meaning);
        if (is_number(v)) {
            fprintf(f, " (%ld-%ld)", v->min, v->max);
        }
        fprintf(f, " (default: %s)\n", dflt);
    }
}
