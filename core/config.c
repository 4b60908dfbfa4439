/* Server configuration from CLASSMENT_* environment variables (see config.h). */
#include "core/config.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

#ifndef CLASSMENT_SRC_ROOT
#define CLASSMENT_SRC_ROOT "."
#endif

struct var_doc {
    const char *name;
    const char *fallback;
    const char *meaning;
};

static const struct var_doc var_docs[] = {
    { "CLASSMENT_LISTEN", "127.0.0.1:8080", "host:port to serve WebSocket and HTTP on "
                                            "([::1]:8080 for IPv6)" },
    { "CLASSMENT_DB", "dbname=classment", "libpq connection string" },
    { "CLASSMENT_DB_POOL", "4", "database connections (1-64)" },
    { "CLASSMENT_SMS_OUTBOX", "(unset)", "append SMS as JSON lines to this file instead of "
                                         "sending them (development and tests)" },
    { "CLASSMENT_LOG", "info", "log level: debug, info, warn or error" },
    { "CLASSMENT_TLS_CERT", "(unset)", "PEM certificate; with CLASSMENT_TLS_KEY serves wss:// "
                                       "and https://" },
    { "CLASSMENT_TLS_KEY", "(unset)", "PEM private key for CLASSMENT_TLS_CERT" },
    { "CLASSMENT_SQL_DIR", CLASSMENT_SRC_ROOT "/sql", "folder of numbered migrations" },
    { "CLASSMENT_WEB_ROOT", CLASSMENT_SRC_ROOT "/web", "folder of static web pages" },
    { "CLASSMENT_HEARTBEAT_S", "30", "seconds of silence before a WebSocket ping; three "
                                     "silent periods close the connection (5-3600)" },
    { "CLASSMENT_MAX_MESSAGE", "65536", "largest accepted message in bytes (1024-16777216)" },
    { "CLASSMENT_SEND_QUEUE", "256", "messages queued per connection before it counts as "
                                     "too slow (8-65536)" },
    { "CLASSMENT_ENV", "production", "production or development (development creates a "
                                     "missing key file)" },
    { "CLASSMENT_KEY_FILE", "(unset)", "master key file (VERSION:HEX64 lines, mode 600); "
                                       "required in production" },
    { "CLASSMENT_DEFAULT_CC", "91", "country calling code for phone numbers given without one" },
    { "CLASSMENT_SESSION_DAYS", "60", "session lifetime for teachers, librarians, drivers and "
                                      "parents, in days (1-365)" },
    { "CLASSMENT_ADMIN_SESSION_HOURS", "12", "session lifetime for admins, in hours (1-720)" },
    { "CLASSMENT_SESSION_CHECK_S", "15", "seconds between re-checks of live connections' "
                                         "sessions (1-3600)" },
    { "CLASSMENT_SMS_URL", "(unset)", "http://host:port/path of the SMS gateway (POST)" },
    { "CLASSMENT_SMS_TEMPLATE", "{\"to\":\"{to}\",\"text\":\"{text}\"}",
      "JSON body posted to the SMS gateway" },
    { "CLASSMENT_SMS_AUTH", "(unset)", "Authorization header sent to the SMS gateway" },
    { "CLASSMENT_AUDIT_RETENTION_DAYS", "1095", "days audit entries are kept (30-3650)" },
    { "CLASSMENT_SESSION_RETENTION_DAYS", "90", "days ended sessions (device, usage data) are "
                                                "kept (1-3650)" },
    { "CLASSMENT_GPS_MIN_INTERVAL_MS", "500", "positions of one trip closer together than this "
                                              "are refused (0-60000)" },
    { "CLASSMENT_GPS_MAX_AGE_S", "120", "positions older than this are refused (5-3600)" },
    { "CLASSMENT_GPS_MAX_SPEED", "50", "m/s; a position implying more is refused (5-300)" },
    { "CLASSMENT_TRIP_IDLE_S", "900", "a trip without positions this long is ended (1-86400)" },
    { "CLASSMENT_STOP_RADIUS_M", "60", "a bus this close to a stop has arrived (5-1000)" },
    { "CLASSMENT_STOP_APPROACH_S", "300", "parents are told when the ETA to their stop drops "
                                          "to this (10-3600)" },
    { "CLASSMENT_POSITION_RETENTION_DAYS", "30", "days stored GPS positions are kept (1-3650)" },
};

static int fail(char *err, size_t err_len, const char *name, const char *why)
{
    snprintf(err, err_len, "%s: %s", name, why);
    return -EINVAL;
}

static int parse_int(const char *s, long min, long max, long *out)
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

static int int_var(config_getenv_fn *get, const char *name, long fallback, long min, long max,
                   long *out, char *err, size_t err_len)
{
    const char *s = get(name);
    if (!s || !*s) {
        *out = fallback;
        return 0;
    }
    if (parse_int(s, min, max, out) != 0) {
        char why[96];
        snprintf(why, sizeof why, "must be a whole number from %ld to %ld", min, max);
        return fail(err, err_len, name, why);
    }
    return 0;
}

static char *str_var(config_getenv_fn *get, const char *name, const char *fallback)
{
    const char *s = get(name);
    if (!s || !*s) {
        return fallback ? xstrdup(fallback) : NULL;
    }
    return xstrdup(s);
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
    if (parse_int(colon + 1, 1, 65535, &port) != 0) {
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

int config_load(struct config *c, config_getenv_fn *get, char *err, size_t err_len)
{
    memset(c, 0, sizeof *c);
    int r = 0;
    long v;

    const char *listen = get("CLASSMENT_LISTEN");
    if (parse_listen(listen && *listen ? listen : "127.0.0.1:8080", c) != 0) {
        r = fail(err, err_len, "CLASSMENT_LISTEN", "must be host:port, e.g. 127.0.0.1:8080");
        goto out;
    }
    c->db_conninfo = str_var(get, "CLASSMENT_DB", "dbname=classment");
    if ((r = int_var(get, "CLASSMENT_DB_POOL", 4, 1, 64, &v, err, err_len)) != 0) {
        goto out;
    }
    c->db_pool_size = (int)v;
    c->sms_outbox = str_var(get, "CLASSMENT_SMS_OUTBOX", NULL);
    const char *level = get("CLASSMENT_LOG");
    c->log_level = LOG_INFO;
    if (level && *level && log_parse_level(level, &c->log_level) != 0) {
        r = fail(err, err_len, "CLASSMENT_LOG", "must be debug, info, warn or error");
        goto out;
    }
    c->tls_cert = str_var(get, "CLASSMENT_TLS_CERT", NULL);
    c->tls_key = str_var(get, "CLASSMENT_TLS_KEY", NULL);
    if (!c->tls_cert != !c->tls_key) {
        r = fail(err, err_len, c->tls_cert ? "CLASSMENT_TLS_KEY" : "CLASSMENT_TLS_CERT",
                 "CLASSMENT_TLS_CERT and CLASSMENT_TLS_KEY must be set together");
        goto out;
    }
    c->sql_dir = str_var(get, "CLASSMENT_SQL_DIR", CLASSMENT_SRC_ROOT "/sql");
    c->web_root = str_var(get, "CLASSMENT_WEB_ROOT", CLASSMENT_SRC_ROOT "/web");
    if ((r = int_var(get, "CLASSMENT_HEARTBEAT_S", 30, 5, 3600, &v, err, err_len)) != 0) {
        goto out;
    }
    c->heartbeat_s = (int)v;
    if ((r = int_var(get, "CLASSMENT_MAX_MESSAGE", 65536, 1024, 16 << 20, &v, err, err_len)) !=
        0) {
        goto out;
    }
    c->max_message_bytes = (size_t)v;
    if ((r = int_var(get, "CLASSMENT_SEND_QUEUE", 256, 8, 65536, &v, err, err_len)) != 0) {
        goto out;
    }
    c->send_queue_max = (int)v;
    const char *env = get("CLASSMENT_ENV");
    if (env && *env && strcmp(env, "production") != 0 && strcmp(env, "development") != 0) {
        r = fail(err, err_len, "CLASSMENT_ENV", "must be production or development");
        goto out;
    }
    c->development = env && strcmp(env, "development") == 0;
    c->key_file = str_var(get, "CLASSMENT_KEY_FILE", NULL);
    if (!c->key_file && !c->development) {
        r = fail(err, err_len, "CLASSMENT_KEY_FILE",
                 "required in production (create one with classment-admin keys init)");
        goto out;
    }
    c->default_cc = str_var(get, "CLASSMENT_DEFAULT_CC", "91");
    if (strlen(c->default_cc) > 3 || strspn(c->default_cc, "0123456789") !=
            strlen(c->default_cc) || c->default_cc[0] == '0') {
        r = fail(err, err_len, "CLASSMENT_DEFAULT_CC", "must be 1-3 digits, e.g. 91");
        goto out;
    }
    if ((r = int_var(get, "CLASSMENT_SESSION_DAYS", 60, 1, 365, &v, err, err_len)) != 0) {
        goto out;
    }
    c->session_days = (int)v;
    if ((r = int_var(get, "CLASSMENT_ADMIN_SESSION_HOURS", 12, 1, 720, &v, err, err_len)) !=
        0) {
        goto out;
    }
    c->admin_session_hours = (int)v;
    if ((r = int_var(get, "CLASSMENT_SESSION_CHECK_S", 15, 1, 3600, &v, err, err_len)) != 0) {
        goto out;
    }
    c->session_check_s = (int)v;
    c->sms_url = str_var(get, "CLASSMENT_SMS_URL", NULL);
    if (c->sms_url && strncmp(c->sms_url, "http://", 7) != 0) {
        r = fail(err, err_len, "CLASSMENT_SMS_URL", "must start with http://");
        goto out;
    }
    c->sms_template = str_var(get, "CLASSMENT_SMS_TEMPLATE", NULL);
    c->sms_auth = str_var(get, "CLASSMENT_SMS_AUTH", NULL);
    if ((r = int_var(get, "CLASSMENT_AUDIT_RETENTION_DAYS", 1095, 30, 3650, &v, err,
                     err_len)) != 0) {
        goto out;
    }
    c->audit_retention_days = (int)v;
    if ((r = int_var(get, "CLASSMENT_SESSION_RETENTION_DAYS", 90, 1, 3650, &v, err, err_len)) !=
        0) {
        goto out;
    }
    c->session_retention_days = (int)v;
    struct {
        const char *name;
        long fallback, min, max;
        int *field;
    } ints[] = {
        { "CLASSMENT_GPS_MIN_INTERVAL_MS", 500, 0, 60000, &c->gps_min_interval_ms },
        { "CLASSMENT_GPS_MAX_AGE_S", 120, 5, 3600, &c->gps_max_age_s },
        { "CLASSMENT_GPS_MAX_SPEED", 50, 5, 300, &c->gps_max_speed_mps },
        { "CLASSMENT_TRIP_IDLE_S", 900, 1, 86400, &c->trip_idle_s },
        { "CLASSMENT_STOP_RADIUS_M", 60, 5, 1000, &c->stop_radius_m },
        { "CLASSMENT_STOP_APPROACH_S", 300, 10, 3600, &c->stop_approach_s },
        { "CLASSMENT_POSITION_RETENTION_DAYS", 30, 1, 3650, &c->position_retention_days },
    };
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        if ((r = int_var(get, ints[i].name, ints[i].fallback, ints[i].min, ints[i].max, &v, err,
                         err_len)) != 0) {
            goto out;
        }
        *ints[i].field = (int)v;
    }
out:
    if (r != 0) {
        config_deinit(c);
    }
    return r;
}

void config_deinit(struct config *c)
{
    free(c->listen_host);
    free(c->db_conninfo);
    free(c->sms_outbox);
    free(c->tls_cert);
    free(c->tls_key);
    free(c->sql_dir);
    free(c->web_root);
    free(c->key_file);
    free(c->default_cc);
    free(c->sms_url);
    free(c->sms_template);
    free(c->sms_auth);
    memset(c, 0, sizeof *c);
}

void config_print_help(void *file)
{
    FILE *f = file;
    fprintf(f, "Environment:\n");
    for (size_t i = 0; i < sizeof var_docs / sizeof var_docs[0]; i++) {
        fprintf(f, "  %s\n      %s (default: %s)\n", var_docs[i].name, var_docs[i].meaning,
                var_docs[i].fallback);
    }
}
