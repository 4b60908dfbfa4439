/* Server configuration, read from CLASSMENT_* environment variables. A bad value is reported
 * naming the variable, and start-up stops. */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "core/log.h"

struct config {
    char *listen_host;       /* CLASSMENT_LISTEN host part; default 127.0.0.1 */
    int listen_port;         /* CLASSMENT_LISTEN port part; default 8080 */
    char *db_conninfo;       /* CLASSMENT_DB; default "dbname=classment" */
    int db_pool_size;        /* CLASSMENT_DB_POOL; default 4, 1..64 */
    char *sms_outbox;        /* CLASSMENT_SMS_OUTBOX; NULL when unset */
    enum log_level log_level;/* CLASSMENT_LOG; default info */
    char *tls_cert;          /* CLASSMENT_TLS_CERT; both or neither with tls_key */
    char *tls_key;           /* CLASSMENT_TLS_KEY */
    char *sql_dir;           /* CLASSMENT_SQL_DIR; default <source>/sql */
    char *web_root;          /* CLASSMENT_WEB_ROOT; default <source>/web */
    int heartbeat_s;         /* CLASSMENT_HEARTBEAT_S; default 30, 5..3600 */
    size_t max_message_bytes;/* CLASSMENT_MAX_MESSAGE; default 65536 */
    int send_queue_max;      /* CLASSMENT_SEND_QUEUE; messages per connection, default 256 */
    bool development;        /* CLASSMENT_ENV=development (default production) */
    char *key_file;          /* CLASSMENT_KEY_FILE; required outside development */
    char *default_cc;        /* CLASSMENT_DEFAULT_CC; calling code for national numbers, "91" */
    int session_days;        /* CLASSMENT_SESSION_DAYS; non-admin sessions, default 60 */
    int admin_session_hours; /* CLASSMENT_ADMIN_SESSION_HOURS; default 12 */
    int session_check_s;     /* CLASSMENT_SESSION_CHECK_S; how often live connections'
                              * sessions are re-checked, default 15 */
    char *sms_url;           /* CLASSMENT_SMS_URL; http:// gateway */
    char *sms_template;      /* CLASSMENT_SMS_TEMPLATE; JSON body with {to} and {text} */
    char *sms_auth;          /* CLASSMENT_SMS_AUTH; Authorization header value */
    int audit_retention_days;   /* CLASSMENT_AUDIT_RETENTION_DAYS; default 1095 (3 years) */
    int session_retention_days; /* CLASSMENT_SESSION_RETENTION_DAYS; ended sessions, 90 */
    /* live tracking (tracking/tracker.h has the meaning of each) */
    int gps_min_interval_ms;    /* CLASSMENT_GPS_MIN_INTERVAL_MS; 500 */
    int gps_max_age_s;          /* CLASSMENT_GPS_MAX_AGE_S; 120 */
    int gps_max_speed_mps;      /* CLASSMENT_GPS_MAX_SPEED; 50 */
    int trip_idle_s;            /* CLASSMENT_TRIP_IDLE_S; 900 */
    int stop_radius_m;          /* CLASSMENT_STOP_RADIUS_M; 60 */
    int stop_approach_s;        /* CLASSMENT_STOP_APPROACH_S; 300 */
    int position_retention_days;/* CLASSMENT_POSITION_RETENTION_DAYS; 30 */
};

/* Looks a variable up; getenv in the server, a table in tests. */
typedef const char *config_getenv_fn(const char *name);

/* Fills c from the environment. Returns 0, or -EINVAL with a message naming the variable
 * in err. On success the strings in c are owned by c: release with config_deinit. */
int config_load(struct config *c, config_getenv_fn *get, char *err, size_t err_len);
void config_deinit(struct config *c);
/* Writes the variables, their defaults and meaning (for --help). */
void config_print_help(void *file);
