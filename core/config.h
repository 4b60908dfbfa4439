/* Server configuration, read from CLASSMENT_* environment variables. A bad value is reported
 * naming the variable, and start-up stops. Each variable's default, range and meaning are
 * written once, in the table in config.c (`classmentd --help` prints them). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "core/log.h"

/* Live tracking: what tracking/ reads (tracker.h and gps.h give each one's effect). */
struct tracking_config {
    int gps_min_interval_ms; /* CLASSMENT_GPS_MIN_INTERVAL_MS */
    int gps_max_age_s;       /* CLASSMENT_GPS_MAX_AGE_S */
    int gps_max_speed_mps;   /* CLASSMENT_GPS_MAX_SPEED */
    int trip_idle_s;         /* CLASSMENT_TRIP_IDLE_S */
    int stop_radius_m;       /* CLASSMENT_STOP_RADIUS_M */
    int stop_approach_s;     /* CLASSMENT_STOP_APPROACH_S */
};

struct config {
    char *listen_host;       /* CLASSMENT_LISTEN, host part */
    int listen_port;         /* CLASSMENT_LISTEN, port part */
    char *db_conninfo;       /* CLASSMENT_DB */
    int db_pool_size;        /* CLASSMENT_DB_POOL */
    char *sms_outbox;        /* CLASSMENT_SMS_OUTBOX; NULL when unset */
    enum log_level log_level;/* CLASSMENT_LOG */
    char *tls_cert;          /* CLASSMENT_TLS_CERT; both or neither with tls_key */
    char *tls_key;           /* CLASSMENT_TLS_KEY */
    char *sql_dir;           /* CLASSMENT_SQL_DIR */
    char *web_root;          /* CLASSMENT_WEB_ROOT */
    int heartbeat_s;         /* CLASSMENT_HEARTBEAT_S */
    size_t max_message_bytes;/* CLASSMENT_MAX_MESSAGE */
    int send_queue_max;      /* CLASSMENT_SEND_QUEUE; messages per connection */
    int socket_sndbuf;       /* CLASSMENT_SOCKET_SNDBUF; bytes, 0: the kernel's autotuning */
    /* Fair shares (gateway/router.c, docs/operations.md): requests of one connection handled
     * at once (fewer before login), how many more may wait their turn, its requests per
     * second, the public database requests per second (and burst) of one address, and the
     * requests of one address's connections not logged in handled at once, and the requests
     * with an id of all the connections of one logged-in user handled at once. */
    int conn_in_flight;      /* CLASSMENT_CONN_IN_FLIGHT */
    int conn_in_flight_anon; /* CLASSMENT_CONN_IN_FLIGHT_ANON */
    int conn_waiting;        /* CLASSMENT_CONN_WAITING */
    int conn_rate;           /* CLASSMENT_CONN_RATE */
    int addr_public_rate;    /* CLASSMENT_ADDR_PUBLIC_RATE */
    int addr_public_burst;   /* CLASSMENT_ADDR_PUBLIC_BURST */
    int addr_in_flight_anon; /* CLASSMENT_ADDR_IN_FLIGHT_ANON */
    int user_in_flight;      /* CLASSMENT_USER_IN_FLIGHT */
    bool development;        /* CLASSMENT_ENV=development (else production) */
    char *key_file;          /* CLASSMENT_KEY_FILE; required outside development */
    char *default_cc;        /* CLASSMENT_DEFAULT_CC; calling code for national numbers */
    int session_days;        /* CLASSMENT_SESSION_DAYS; non-admin sessions */
    int admin_session_hours; /* CLASSMENT_ADMIN_SESSION_HOURS */
    int session_check_s;     /* CLASSMENT_SESSION_CHECK_S; how often live connections'
                              * sessions are re-checked */
    char *sms_url;           /* CLASSMENT_SMS_URL; http:// gateway */
    char *sms_template;      /* CLASSMENT_SMS_TEMPLATE; NULL selects the SMS module's own */
    char *sms_auth;          /* CLASSMENT_SMS_AUTH; Authorization header value */
    int audit_retention_days;    /* CLASSMENT_AUDIT_RETENTION_DAYS */
    int session_retention_days;  /* CLASSMENT_SESSION_RETENTION_DAYS; ended sessions */
    int position_retention_days; /* CLASSMENT_POSITION_RETENTION_DAYS; stored GPS track */
    int leaver_retention_years;  /* CLASSMENT_LEAVER_RETENTION_YEARS; records of students who left */
    int attendance_edit_days;    /* CLASSMENT_ATTENDANCE_EDIT_DAYS; older days: admins only */
    char *map_tiles;         /* CLASSMENT_MAP_TILES; http(s) URL template with {z}/{x}/{y}, or
                              * NULL (the pages then draw no map tiles) */
    char *map_attribution;   /* CLASSMENT_MAP_ATTRIBUTION; NULL when unset */
    struct tracking_config tracking;
};

/* Looks a variable up; getenv in the server, a table in tests. */
typedef const char *config_getenv_fn(const char *name);

/* Fills c from the environment. Returns 0, or -EINVAL with a message naming the variable
 * in err. On success the strings in c are owned by c: release with config_deinit. */
int config_load(struct config *c, config_getenv_fn *get, char *err, size_t err_len);
void config_deinit(struct config *c);
/* Writes the variables, their defaults and meaning (for --help). */
void config_print_help(void *file);
