/* Unit tests for core/config: defaults, parsing and range checks of the CLASSMENT_* variables,
 * read through a fake getenv, with every refusal naming its variable. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"

/* --- A fake environment: a NULL-terminated list of name, value pairs --- */

static const char *const *fake_env;

/* Production needs a key file; every test gets one unless it sets the variable itself. */
static const char *const base_env[] = { "CLASSMENT_KEY_FILE", "/etc/classment/keys", NULL };

static const char *lookup(const char *const *env, const char *name, bool *found)
{
    for (const char *const *e = env; e && e[0]; e += 2) {
        if (strcmp(e[0], name) == 0) {
            *found = true;
            return e[1];
        }
    }
    *found = false;
    return NULL;
}

static const char *fake_getenv(const char *name)
{
    bool found;
    const char *v = lookup(fake_env, name, &found);
    return found ? v : lookup(base_env, name, &found);
}

static char err[256];

static int load(struct config *c, const char *const *env)
{
    fake_env = env;
    memset(err, 0, sizeof err);
    memset(c, 0xa5, sizeof *c); /* config_load must not rely on a zeroed struct */
    return config_load(c, fake_getenv, err, sizeof err);
}

static bool is_zeroed(const struct config *c)
{
    static const struct config zero;
    return memcmp(c, &zero, sizeof zero) == 0;
}

/* Loads env expecting a refusal that names var; the struct is left empty (nothing leaks). */
static void expect_refused(const char *const *env, const char *var)
{
    struct config c;
    assert_int_equal(load(&c, env), -EINVAL);
    if (!strstr(err, var)) {
        fail_msg("error \"%s\" does not name %s", err, var);
    }
    assert_true(is_zeroed(&c));
    config_deinit(&c);
}

static bool ends_with(const char *s, const char *tail)
{
    size_t n = strlen(s), m = strlen(tail);
    return n >= m && strcmp(s + n - m, tail) == 0;
}

/* --- Defaults --- */

static void test_load_applies_defaults_when_only_the_key_file_is_set(void **state)
{
    (void)state;
    static const char *const env[] = { NULL };
    struct config c;
    assert_int_equal(load(&c, env), 0);
    assert_false(c.development);
    assert_string_equal(c.key_file, "/etc/classment/keys");
    assert_string_equal(c.default_cc, "91");
    assert_int_equal(c.session_days, 60);
    assert_int_equal(c.admin_session_hours, 12);
    assert_int_equal(c.session_check_s, 15);
    assert_null(c.sms_url);
    assert_null(c.sms_template); /* NULL selects the SMS module's built-in template */
    assert_null(c.sms_auth);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_string_equal(c.db_conninfo, "dbname=classment");
    assert_int_equal(c.db_pool_size, 4);
    assert_null(c.sms_outbox);
    assert_int_equal(c.log_level, LOG_INFO);
    assert_null(c.tls_cert);
    assert_null(c.tls_key);
    assert_non_null(c.sql_dir);
    assert_true(ends_with(c.sql_dir, "/sql"));
    assert_non_null(c.web_root);
    assert_true(ends_with(c.web_root, "/web"));
    assert_int_equal(c.heartbeat_s, 30);
    assert_int_equal(c.max_message_bytes, 65536);
    assert_int_equal(c.send_queue_max, 256);
    assert_int_equal(c.conn_in_flight, 32);
    assert_int_equal(c.conn_in_flight_anon, 4);
    assert_int_equal(c.conn_waiting, 256);
    assert_int_equal(c.conn_rate, 1000);
    assert_int_equal(c.addr_public_rate, 50);
    assert_int_equal(c.addr_public_burst, 200);
    assert_int_equal(c.addr_in_flight_anon, 256);
    assert_int_equal(c.user_in_flight, 256);
    assert_int_equal(c.socket_sndbuf, 131072);
    config_deinit(&c);
    assert_true(is_zeroed(&c));
}

static void test_load_treats_empty_values_as_unset(void **state)
{
    (void)state;
    static const char *const env[] = {
        "CLASSMENT_LISTEN", "", "CLASSMENT_DB", "", "CLASSMENT_DB_POOL", "",
        "CLASSMENT_SMS_OUTBOX", "", "CLASSMENT_LOG", "", "CLASSMENT_TLS_CERT", "",
        "CLASSMENT_TLS_KEY", "", "CLASSMENT_HEARTBEAT_S", "", "CLASSMENT_MAX_MESSAGE", "",
        "CLASSMENT_SEND_QUEUE", "", NULL,
    };
    struct config c;
    assert_int_equal(load(&c, env), 0);
    assert_string_equal(c.listen_host, "127.0.0.1");
    assert_int_equal(c.listen_port, 8080);
    assert_string_equal(c.db_conninfo, "dbname=classment");
    assert_int_equal(c.db_pool_size, 4);
    assert_null(c.sms_outbox);
    assert_null(c.tls_cert);
    assert_int_equal(c.heartbeat_s, 30);
    config_deinit(&c);
}

static void test_load_copies_every_string_it_keeps(void **state)
{
    (void)state;
    char db[] = "host=/run/postgresql dbname=test";
    char outbox[] = "/tmp/sms.jsonl";
    char sql[] = "/srv/sql";
    char web[] = "/srv/web";
    char cert[] = "/etc/c.pem";
    char key[] = "/etc/k.pem";
    const char *const env[] = {
        "CLASSMENT_DB", db, "CLASSMENT_SMS_OUTBOX", outbox, "CLASSMENT_SQL_DIR", sql,
        "CLASSMENT_WEB_ROOT", web, "CLASSMENT_TLS_CERT", cert, "CLASSMENT_TLS_KEY", key,
        "CLASSMENT_LOG", "debug", "CLASSMENT_DB_POOL", "64", NULL,
    };
    struct config c;
    assert_int_equal(load(&c, env), 0);
    /* the environment may change afterwards */
    memset(db, 'x', sizeof db - 1);
    memset(outbox, 'x', sizeof outbox - 1);
    memset(sql, 'x', sizeof sql - 1);
    memset(web, 'x', sizeof web - 1);
    memset(cert, 'x', sizeof cert - 1);
    memset(key, 'x', sizeof key - 1);
    assert_string_equal(c.db_conninfo, "host=/run/postgresql dbname=test");
    assert_string_equal(c.sms_outbox, "/tmp/sms.jsonl");
    assert_string_equal(c.sql_dir, "/srv/sql");
    assert_string_equal(c.web_root, "/srv/web");
    assert_string_equal(c.tls_cert, "/etc/c.pem");
    assert_string_equal(c.tls_key, "/etc/k.pem");
    assert_int_equal(c.log_level, LOG_DEBUG);
    assert_int_equal(c.db_pool_size, 64);
    config_deinit(&c);
}

/* --- CLASSMENT_LISTEN --- */

static void check_listen(const char *value, const char *host, int port)
{
    const char *const env[] = { "CLASSMENT_LISTEN", value, NULL };
    struct config c;
    int rc = load(&c, env);
    if (rc != 0) {
        fail_msg("CLASSMENT_LISTEN=%s refused: %s", value, err);
    }
    assert_string_equal(c.listen_host, host);
    assert_int_equal(c.listen_port, port);
    config_deinit(&c);
}

static void check_listen_refused(const char *value)
{
    const char *const env[] = { "CLASSMENT_LISTEN", value, NULL };
    expect_refused(env, "CLASSMENT_LISTEN");
}

static void test_listen_accepts_host_and_port(void **state)
{
    (void)state;
    check_listen("0.0.0.0:9000", "0.0.0.0", 9000);
    check_listen("localhost:1", "localhost", 1);
    check_listen("school.example:65535", "school.example", 65535);
}

static void test_listen_accepts_bracketed_ipv6(void **state)
{
    (void)state;
    check_listen("[::1]:8080", "::1", 8080);
    check_listen("[::]:443", "::", 443);
    check_listen("[fe80::1%eth0]:8080", "fe80::1%eth0", 8080);
}

static void test_listen_accepts_port_alone_as_all_interfaces(void **state)
{
    (void)state;
    check_listen(":8080", "0.0.0.0", 8080);
}

static void test_listen_accepts_a_host_of_255_bytes(void **state)
{
    (void)state;
    char value[300];
    memset(value, 'h', 255);
    strcpy(value + 255, ":80");
    const char *const env[] = { "CLASSMENT_LISTEN", value, NULL };
    struct config c;
    assert_int_equal(load(&c, env), 0);
    assert_int_equal(strlen(c.listen_host), 255);
    config_deinit(&c);
}

static void test_listen_refuses_host_without_port(void **state)
{
    (void)state;
    check_listen_refused("host");
    check_listen_refused("host:");
    check_listen_refused("[::1]");
    check_listen_refused("[::1]:");
    check_listen_refused("[::1]8080");
    check_listen_refused(":");
}

static void test_listen_refuses_port_out_of_range(void **state)
{
    (void)state;
    check_listen_refused("host:0");
    check_listen_refused("host:70000");
    check_listen_refused("host:65536");
    check_listen_refused("host:-1");
    check_listen_refused("host:99999999999999999999999");
    check_listen_refused("[::1]:0");
}

static void test_listen_refuses_junk_ports_and_extra_colons(void **state)
{
    (void)state;
    check_listen_refused("a:b:c");
    check_listen_refused("host:b");
    check_listen_refused("host:80x");
    check_listen_refused("host:80 ");
    check_listen_refused("host:0x50");
    check_listen_refused("::1:8080"); /* IPv6 needs brackets */
    check_listen_refused("[::1:8080");
    check_listen_refused("[::1]x:8080");
}

static void test_listen_refuses_a_host_of_256_bytes(void **state)
{
    (void)state;
    char value[300];
    memset(value, 'h', 256);
    strcpy(value + 256, ":80");
    check_listen_refused(value);
}

/* --- CLASSMENT_DB_POOL --- */

static void check_pool_refused(const char *value)
{
    const char *const env[] = { "CLASSMENT_DB_POOL", value, NULL };
    expect_refused(env, "CLASSMENT_DB_POOL");
}

static void test_db_pool_refuses_zero_65_and_words(void **state)
{
    (void)state;
    check_pool_refused("0");
    check_pool_refused("65");
    check_pool_refused("abc");
    check_pool_refused("4x");
    check_pool_refused("-1");
    check_pool_refused("1.5");
    check_pool_refused("99999999999999999999");
}

static void test_db_pool_accepts_1_to_64(void **state)
{
    (void)state;
    static const char *const values[] = { "1", "4", "64" };
    static const int expect[] = { 1, 4, 64 };
    for (int i = 0; i < 3; i++) {
        const char *const env[] = { "CLASSMENT_DB_POOL", values[i], NULL };
        struct config c;
        assert_int_equal(load(&c, env), 0);
        assert_int_equal(c.db_pool_size, expect[i]);
        config_deinit(&c);
    }
}

/* --- CLASSMENT_LOG --- */

static void test_log_accepts_the_four_levels(void **state)
{
    (void)state;
    static const char *const names[] = { "debug", "info", "warn", "error" };
    static const enum log_level levels[] = { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };
    for (int i = 0; i < 4; i++) {
        const char *const env[] = { "CLASSMENT_LOG", names[i], NULL };
        struct config c;
        assert_int_equal(load(&c, env), 0);
        assert_int_equal(c.log_level, levels[i]);
        config_deinit(&c);
    }
}

static void test_log_refuses_bogus_level(void **state)
{
    (void)state;
    static const char *const bogus[] = { "bogus", "verbose", "debug ", "inf", "infoo", "0" };
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++) {
        const char *const env[] = { "CLASSMENT_LOG", bogus[i], NULL };
        expect_refused(env, "CLASSMENT_LOG");
    }
}

/* --- TLS --- */

static void test_tls_cert_without_key_is_refused_naming_key(void **state)
{
    (void)state;
    static const char *const env[] = { "CLASSMENT_TLS_CERT", "/etc/c.pem", NULL };
    expect_refused(env, "CLASSMENT_TLS_KEY");
}

static void test_tls_key_without_cert_is_refused_naming_cert(void **state)
{
    (void)state;
    static const char *const env[] = { "CLASSMENT_TLS_KEY", "/etc/k.pem", NULL };
    expect_refused(env, "CLASSMENT_TLS_CERT");
}

static void test_tls_cert_with_empty_key_is_refused(void **state)
{
    (void)state;
    static const char *const env[] = { "CLASSMENT_TLS_CERT", "/etc/c.pem", "CLASSMENT_TLS_KEY",
                                       "", NULL };
    expect_refused(env, "CLASSMENT_TLS_KEY");
}

/* --- Numeric ranges --- */

static void check_int(const char *var, const char *value, size_t offset, long expect)
{
    const char *const env[] = { var, value, NULL };
    struct config c;
    int rc = load(&c, env);
    if (rc != 0) {
        fail_msg("%s=%s refused: %s", var, value, err);
    }
    if (offset == offsetof(struct config, max_message_bytes)) {
        assert_int_equal(c.max_message_bytes, (size_t)expect);
    } else {
        int got;
        memcpy(&got, (const char *)&c + offset, sizeof got);
        assert_int_equal(got, expect);
    }
    config_deinit(&c);
}

static void check_int_refused(const char *var, const char *value)
{
    const char *const env[] = { var, value, NULL };
    expect_refused(env, var);
}

static void test_heartbeat_accepts_5_to_3600(void **state)
{
    (void)state;
    const size_t off = offsetof(struct config, heartbeat_s);
    check_int("CLASSMENT_HEARTBEAT_S", "5", off, 5);
    check_int("CLASSMENT_HEARTBEAT_S", "3600", off, 3600);
    check_int_refused("CLASSMENT_HEARTBEAT_S", "4");
    check_int_refused("CLASSMENT_HEARTBEAT_S", "3601");
    check_int_refused("CLASSMENT_HEARTBEAT_S", "0");
    check_int_refused("CLASSMENT_HEARTBEAT_S", "-30");
    check_int_refused("CLASSMENT_HEARTBEAT_S", "30s");
}

static void test_max_message_accepts_1024_to_16_mib(void **state)
{
    (void)state;
    const size_t off = offsetof(struct config, max_message_bytes);
    check_int("CLASSMENT_MAX_MESSAGE", "1024", off, 1024);
    check_int("CLASSMENT_MAX_MESSAGE", "16777216", off, 16777216);
    check_int_refused("CLASSMENT_MAX_MESSAGE", "1023");
    check_int_refused("CLASSMENT_MAX_MESSAGE", "16777217");
    check_int_refused("CLASSMENT_MAX_MESSAGE", "64k");
    check_int_refused("CLASSMENT_MAX_MESSAGE", "-1");
    check_int_refused("CLASSMENT_MAX_MESSAGE", "18446744073709551616");
}

static void test_send_queue_accepts_8_to_65536(void **state)
{
    (void)state;
    const size_t off = offsetof(struct config, send_queue_max);
    check_int("CLASSMENT_SEND_QUEUE", "8", off, 8);
    check_int("CLASSMENT_SEND_QUEUE", "65536", off, 65536);
    check_int_refused("CLASSMENT_SEND_QUEUE", "7");
    check_int_refused("CLASSMENT_SEND_QUEUE", "65537");
    check_int_refused("CLASSMENT_SEND_QUEUE", "0");
    check_int_refused("CLASSMENT_SEND_QUEUE", "many");
}

static void test_socket_sndbuf_accepts_0_to_16_mib(void **state)
{
    (void)state;
    const size_t off = offsetof(struct config, socket_sndbuf);
    check_int("CLASSMENT_SOCKET_SNDBUF", "0", off, 0);
    check_int("CLASSMENT_SOCKET_SNDBUF", "16777216", off, 16 << 20);
    check_int_refused("CLASSMENT_SOCKET_SNDBUF", "-1");
    check_int_refused("CLASSMENT_SOCKET_SNDBUF", "16777217");
    check_int_refused("CLASSMENT_SOCKET_SNDBUF", "128k");
}

/* --- CLASSMENT_ENV and CLASSMENT_KEY_FILE --- */

static void test_production_without_key_file_is_refused_naming_key_file(void **state)
{
    (void)state;
    static const char *const unset[] = { "CLASSMENT_KEY_FILE", NULL, NULL };
    expect_refused(unset, "CLASSMENT_KEY_FILE");
    static const char *const empty[] = { "CLASSMENT_KEY_FILE", "", NULL };
    expect_refused(empty, "CLASSMENT_KEY_FILE");
    static const char *const prod[] = { "CLASSMENT_ENV", "production", "CLASSMENT_KEY_FILE",
                                        NULL, NULL };
    expect_refused(prod, "CLASSMENT_KEY_FILE");
}

static void test_development_needs_no_key_file(void **state)
{
    (void)state;
    static const char *const env[] = { "CLASSMENT_ENV", "development", "CLASSMENT_KEY_FILE",
                                       NULL, NULL };
    struct config c;
    assert_int_equal(load(&c, env), 0);
    assert_true(c.development);
    assert_null(c.key_file);
    config_deinit(&c);
}

static void test_env_refuses_other_words(void **state)
{
    (void)state;
    static const char *const bogus[] = { "dev", "prod", "Development", "test", "production " };
    for (size_t i = 0; i < sizeof bogus / sizeof bogus[0]; i++) {
        const char *const env[] = { "CLASSMENT_ENV", bogus[i], NULL };
        expect_refused(env, "CLASSMENT_ENV");
    }
}

/* --- Identity and SMS settings --- */

static void test_default_cc_accepts_1_to_3_digits(void **state)
{
    (void)state;
    static const char *const good[] = { "1", "44", "880" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        const char *const env[] = { "CLASSMENT_DEFAULT_CC", good[i], NULL };
        struct config c;
        assert_int_equal(load(&c, env), 0);
        assert_string_equal(c.default_cc, good[i]);
        config_deinit(&c);
    }
}

static void test_default_cc_refuses_long_signed_zero_led_or_non_digits(void **state)
{
    (void)state;
    static const char *const bad[] = { "1234", "+91", "0", "091", "9a", " 91", "91 ", "-1" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *const env[] = { "CLASSMENT_DEFAULT_CC", bad[i], NULL };
        expect_refused(env, "CLASSMENT_DEFAULT_CC");
    }
}

static void test_session_lifetimes_and_check_interval_ranges(void **state)
{
    (void)state;
    check_int("CLASSMENT_SESSION_DAYS", "1", offsetof(struct config, session_days), 1);
    check_int("CLASSMENT_SESSION_DAYS", "365", offsetof(struct config, session_days), 365);
    check_int_refused("CLASSMENT_SESSION_DAYS", "0");
    check_int_refused("CLASSMENT_SESSION_DAYS", "366");
    check_int("CLASSMENT_ADMIN_SESSION_HOURS", "1", offsetof(struct config, admin_session_hours),
              1);
    check_int("CLASSMENT_ADMIN_SESSION_HOURS", "720",
              offsetof(struct config, admin_session_hours), 720);
    check_int_refused("CLASSMENT_ADMIN_SESSION_HOURS", "0");
    check_int_refused("CLASSMENT_ADMIN_SESSION_HOURS", "721");
    check_int("CLASSMENT_SESSION_CHECK_S", "1", offsetof(struct config, session_check_s), 1);
    check_int("CLASSMENT_SESSION_CHECK_S", "3600", offsetof(struct config, session_check_s),
              3600);
    check_int_refused("CLASSMENT_SESSION_CHECK_S", "0");
    check_int_refused("CLASSMENT_SESSION_CHECK_S", "3601");
    check_int_refused("CLASSMENT_SESSION_CHECK_S", "fast");
}

static void test_sms_url_must_be_http(void **state)
{
    (void)state;
    static const char *const env[] = { "CLASSMENT_SMS_URL", "http://127.0.0.1:9099/send",
                                       "CLASSMENT_SMS_TEMPLATE", "{\"n\":\"{to}\"}",
                                       "CLASSMENT_SMS_AUTH", "Bearer x", NULL };
    struct config c;
    assert_int_equal(load(&c, env), 0);
    assert_string_equal(c.sms_url, "http://127.0.0.1:9099/send");
    assert_string_equal(c.sms_template, "{\"n\":\"{to}\"}");
    assert_string_equal(c.sms_auth, "Bearer x");
    config_deinit(&c);
    static const char *const bad[] = { "https://sms.example/send", "ftp://x", "sms.example",
                                       "HTTP://x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *const e[] = { "CLASSMENT_SMS_URL", bad[i], NULL };
        expect_refused(e, "CLASSMENT_SMS_URL");
    }
}

/* --- The web pages' map: CLASSMENT_MAP_TILES and CLASSMENT_MAP_ATTRIBUTION --- */

static void test_map_tiles_and_attribution_are_unset_by_default(void **state)
{
    (void)state;
    static const char *const env[] = { NULL };
    struct config c;
    assert_int_equal(load(&c, env), 0);
    assert_null(c.map_tiles);
    assert_null(c.map_attribution);
    config_deinit(&c);
}

static void test_map_tiles_accepts_http_and_https_templates(void **state)
{
    (void)state;
    static const char *const good[] = {
        "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
        "https://{s}.tile.example.org/{z}/{x}/{y}.png",
        "http://127.0.0.1:8081/tiles/{z}/{x}/{y}.png?key=abc&style=1",
        "https://tiles.example.org/{z}/{y}/{x}@2x.png",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        const char *const env[] = { "CLASSMENT_MAP_TILES", good[i], "CLASSMENT_MAP_ATTRIBUTION",
                                    "© OpenStreetMap contributors", NULL };
        struct config c;
        if (load(&c, env) != 0) {
            fail_msg("CLASSMENT_MAP_TILES=%s refused: %s", good[i], err);
        }
        assert_string_equal(c.map_tiles, good[i]);
        assert_string_equal(c.map_attribution, "© OpenStreetMap contributors");
        config_deinit(&c);
    }
}

/* Each of these could either break the pages' map or smuggle a source, a directive or a header
 * into the Content-Security-Policy built from the tile host. */
static void test_map_tiles_refuses_other_schemes_missing_placeholders_and_odd_bytes(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "ftp://tile.example.org/{z}/{x}/{y}.png",
        "tile.example.org/{z}/{x}/{y}.png",
        "//tile.example.org/{z}/{x}/{y}.png",
        "HTTPS://tile.example.org/{z}/{x}/{y}.png",
        "javascript:alert(1)//{z}/{x}/{y}",
        "https://tile.example.org/{z}/{x}.png",
        "https://tile.example.org/{x}/{y}.png",
        "https://tile.example.org",
        "https:///{z}/{x}/{y}.png",
        "https://tile.example.org {z}/{x}/{y}.png",
        "https://tile.example.org/{z}/{x}/{y}.png; script-src *",
        "https://tile.example.org/{z}/{x}/{y}.png,x",
        "https://tile.example.org/{z}/{x}/{y}.png\r\nSet-Cookie: a=b",
        "https://tile.example.org/{z}/{x}/{y}\".png",
        "https://tile.example.org/{z}/{x}/{y}'.png",
        "https://*.example.org/{z}/{x}/{y}.png",
        "https://tilé.example.org/{z}/{x}/{y}.png",
        "https://a@tile.example.org/{z}/{x}/{y}.png",
        "https://tile.{s}.example.org/{z}/{x}/{y}.png",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *const env[] = { "CLASSMENT_MAP_TILES", bad[i], NULL };
        expect_refused(env, "CLASSMENT_MAP_TILES");
    }
    char long_url[600];
    snprintf(long_url, sizeof long_url, "https://t.example.org/{z}/{x}/{y}/%0500d.png", 0);
    const char *const env[] = { "CLASSMENT_MAP_TILES", long_url, NULL };
    expect_refused(env, "CLASSMENT_MAP_TILES");
}

/* --- Retention and live tracking (the tracking section tracking/ reads) --- */

static void test_tracking_section_and_retention_get_their_defaults(void **state)
{
    (void)state;
    static const char *const env[] = { NULL };
    struct config c;
    assert_int_equal(load(&c, env), 0);
    assert_int_equal(c.tracking.gps_min_interval_ms, 500);
    assert_int_equal(c.tracking.gps_max_age_s, 120);
    assert_int_equal(c.tracking.gps_max_speed_mps, 50);
    assert_int_equal(c.tracking.trip_idle_s, 900);
    assert_int_equal(c.tracking.stop_radius_m, 60);
    assert_int_equal(c.tracking.stop_approach_s, 300);
    assert_int_equal(c.audit_retention_days, 1095);
    assert_int_equal(c.session_retention_days, 90);
    assert_int_equal(c.position_retention_days, 30);
    config_deinit(&c);
}

static void test_tracking_and_retention_ranges(void **state)
{
    (void)state;
    static const struct {
        const char *var;
        size_t offset;
        const char *min, *below, *max, *above;
        long min_v, max_v;
    } ranges[] = {
        { "CLASSMENT_GPS_MIN_INTERVAL_MS", offsetof(struct config, tracking.gps_min_interval_ms),
          "0", "-1", "60000", "60001", 0, 60000 },
        { "CLASSMENT_GPS_MAX_AGE_S", offsetof(struct config, tracking.gps_max_age_s), "5", "4",
          "3600", "3601", 5, 3600 },
        { "CLASSMENT_GPS_MAX_SPEED", offsetof(struct config, tracking.gps_max_speed_mps), "5",
          "4", "300", "301", 5, 300 },
        { "CLASSMENT_TRIP_IDLE_S", offsetof(struct config, tracking.trip_idle_s), "1", "0",
          "86400", "86401", 1, 86400 },
        { "CLASSMENT_STOP_RADIUS_M", offsetof(struct config, tracking.stop_radius_m), "5", "4",
          "1000", "1001", 5, 1000 },
        { "CLASSMENT_STOP_APPROACH_S", offsetof(struct config, tracking.stop_approach_s), "10",
          "9", "3600", "3601", 10, 3600 },
        { "CLASSMENT_AUDIT_RETENTION_DAYS", offsetof(struct config, audit_retention_days), "30",
          "29", "3650", "3651", 30, 3650 },
        { "CLASSMENT_SESSION_RETENTION_DAYS", offsetof(struct config, session_retention_days),
          "1", "0", "3650", "3651", 1, 3650 },
        { "CLASSMENT_POSITION_RETENTION_DAYS", offsetof(struct config, position_retention_days),
          "1", "0", "3650", "3651", 1, 3650 },
        { "CLASSMENT_CONN_IN_FLIGHT", offsetof(struct config, conn_in_flight), "1", "0",
          "100000", "100001", 1, 100000 },
        { "CLASSMENT_CONN_IN_FLIGHT_ANON", offsetof(struct config, conn_in_flight_anon), "1",
          "0", "100000", "100001", 1, 100000 },
        { "CLASSMENT_CONN_WAITING", offsetof(struct config, conn_waiting), "0", "-1", "65536",
          "65537", 0, 65536 },
        { "CLASSMENT_CONN_RATE", offsetof(struct config, conn_rate), "1", "0", "1000000",
          "1000001", 1, 1000000 },
        { "CLASSMENT_ADDR_PUBLIC_RATE", offsetof(struct config, addr_public_rate), "1", "0",
          "1000000", "1000001", 1, 1000000 },
        { "CLASSMENT_ADDR_PUBLIC_BURST", offsetof(struct config, addr_public_burst), "1", "0",
          "1000000", "1000001", 1, 1000000 },
        { "CLASSMENT_ADDR_IN_FLIGHT_ANON", offsetof(struct config, addr_in_flight_anon), "1",
          "0", "100000", "100001", 1, 100000 },
        { "CLASSMENT_USER_IN_FLIGHT", offsetof(struct config, user_in_flight), "1", "0",
          "100000", "100001", 1, 100000 },
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++) {
        check_int(ranges[i].var, ranges[i].min, ranges[i].offset, ranges[i].min_v);
        check_int(ranges[i].var, ranges[i].max, ranges[i].offset, ranges[i].max_v);
        check_int_refused(ranges[i].var, ranges[i].below);
        check_int_refused(ranges[i].var, ranges[i].above);
        check_int_refused(ranges[i].var, "fast");
    }
}

static void test_range_refusal_states_the_range(void **state)
{
    (void)state;
    static const char *const env[] = { "CLASSMENT_GPS_MAX_SPEED", "301", NULL };
    expect_refused(env, "CLASSMENT_GPS_MAX_SPEED");
    assert_string_equal(err, "CLASSMENT_GPS_MAX_SPEED: must be a whole number from 5 to 300");
}

/* --- --help --- */

static void test_help_shows_meaning_range_and_default_of_each_variable(void **state)
{
    (void)state;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    config_print_help(f);
    fclose(f);
    static const char *const lines[] = {
        "Environment:\n  CLASSMENT_LISTEN\n      host:port to serve WebSocket and HTTP on "
        "([::1]:8080 for IPv6) (default: 127.0.0.1:8080)\n",
        "  CLASSMENT_DB_POOL\n      database connections (1-64) (default: 4)\n",
        "  CLASSMENT_MAX_MESSAGE\n      largest accepted message in bytes (1024-16777216) "
        "(default: 65536)\n",
        "  CLASSMENT_KEY_FILE\n      master key file (VERSION:HEX64 lines, mode 600); required "
        "in production (default: (unset))\n",
        "  CLASSMENT_SMS_TEMPLATE\n      JSON body posted to the SMS gateway "
        "(default: {\"to\":\"{to}\",\"text\":\"{text}\"})\n",
        "  CLASSMENT_GPS_MIN_INTERVAL_MS\n      positions of one trip closer together than this "
        "are refused (0-60000) (default: 500)\n",
        "  CLASSMENT_POSITION_RETENTION_DAYS\n      days stored GPS positions are kept "
        "(1-3650) (default: 30)\n",
        "  CLASSMENT_MAP_TILES\n      map tile URL template for the web pages ({s}, {z}, {x}, "
        "{y}); its host is allowed in the pages' Content-Security-Policy (unset: no map tiles) "
        "(default: (unset))\n",
        "  CLASSMENT_MAP_ATTRIBUTION\n      attribution shown under the map, as the tile "
        "provider requires (default: (unset))\n",
        "  CLASSMENT_CONN_IN_FLIGHT_ANON\n      the same for a connection not logged in "
        "(1-100000) (default: 4)\n",
        "  CLASSMENT_CONN_WAITING\n      requests of one connection that may wait their turn; "
        "more are refused rate_limited (0-65536) (default: 256)\n",
    };
    for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++) {
        if (!strstr(text, lines[i])) {
            fail_msg("--help lacks \"%s\"", lines[i]);
        }
    }
    size_t vars = 0;
    for (const char *p = text; (p = strstr(p, "\n  CLASSMENT_")); p++) {
        vars++;
    }
    assert_int_equal(vars, 43);
    free(text);
}

/* --- Errors and cleanup --- */

static void test_refusal_after_strings_were_read_frees_them(void **state)
{
    (void)state;
    /* the last check fails after every string has been copied: valgrind checks the frees */
    static const char *const env[] = {
        "CLASSMENT_DB", "dbname=x", "CLASSMENT_SMS_OUTBOX", "/tmp/o", "CLASSMENT_TLS_CERT", "c",
        "CLASSMENT_TLS_KEY", "k", "CLASSMENT_SQL_DIR", "/s", "CLASSMENT_WEB_ROOT", "/w",
        "CLASSMENT_DEFAULT_CC", "44", "CLASSMENT_SMS_URL", "ftp://x", NULL,
    };
    expect_refused(env, "CLASSMENT_SMS_URL");
    static const char *const early[] = {
        "CLASSMENT_DB", "dbname=x", "CLASSMENT_SMS_OUTBOX", "/tmp/o", "CLASSMENT_TLS_CERT", "c",
        "CLASSMENT_TLS_KEY", "k", "CLASSMENT_SEND_QUEUE", "1", NULL,
    };
    expect_refused(early, "CLASSMENT_SEND_QUEUE");
}

static void test_error_message_is_truncated_to_err_len(void **state)
{
    (void)state;
    static const char *const env[] = { "CLASSMENT_LISTEN", "nope", NULL };
    fake_env = env;
    char small[12];
    memset(small, '#', sizeof small);
    struct config c;
    assert_int_equal(config_load(&c, fake_getenv, small, 8), -EINVAL);
    assert_int_equal(small[7], '\0');
    assert_memory_equal(small, "CLASSME", 7);
    assert_int_equal(small[8], '#'); /* nothing written past err_len */
    config_deinit(&c);
}

static void test_deinit_is_safe_on_zeroed_and_twice(void **state)
{
    (void)state;
    struct config c;
    memset(&c, 0, sizeof c);
    config_deinit(&c);
    static const char *const env[] = { NULL };
    assert_int_equal(load(&c, env), 0);
    config_deinit(&c);
    config_deinit(&c);
    assert_true(is_zeroed(&c));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_applies_defaults_when_only_the_key_file_is_set),
        cmocka_unit_test(test_load_treats_empty_values_as_unset),
        cmocka_unit_test(test_load_copies_every_string_it_keeps),
        cmocka_unit_test(test_listen_accepts_host_and_port),
        cmocka_unit_test(test_listen_accepts_bracketed_ipv6),
        cmocka_unit_test(test_listen_accepts_port_alone_as_all_interfaces),
        cmocka_unit_test(test_listen_accepts_a_host_of_255_bytes),
        cmocka_unit_test(test_listen_refuses_host_without_port),
        cmocka_unit_test(test_listen_refuses_port_out_of_range),
        cmocka_unit_test(test_listen_refuses_junk_ports_and_extra_colons),
        cmocka_unit_test(test_listen_refuses_a_host_of_256_bytes),
        cmocka_unit_test(test_db_pool_refuses_zero_65_and_words),
        cmocka_unit_test(test_db_pool_accepts_1_to_64),
        cmocka_unit_test(test_log_accepts_the_four_levels),
        cmocka_unit_test(test_log_refuses_bogus_level),
        cmocka_unit_test(test_tls_cert_without_key_is_refused_naming_key),
        cmocka_unit_test(test_tls_key_without_cert_is_refused_naming_cert),
        cmocka_unit_test(test_tls_cert_with_empty_key_is_refused),
        cmocka_unit_test(test_heartbeat_accepts_5_to_3600),
        cmocka_unit_test(test_max_message_accepts_1024_to_16_mib),
        cmocka_unit_test(test_send_queue_accepts_8_to_65536),
        cmocka_unit_test(test_socket_sndbuf_accepts_0_to_16_mib),
        cmocka_unit_test(test_production_without_key_file_is_refused_naming_key_file),
        cmocka_unit_test(test_development_needs_no_key_file),
        cmocka_unit_test(test_env_refuses_other_words),
        cmocka_unit_test(test_default_cc_accepts_1_to_3_digits),
        cmocka_unit_test(test_default_cc_refuses_long_signed_zero_led_or_non_digits),
        cmocka_unit_test(test_session_lifetimes_and_check_interval_ranges),
        cmocka_unit_test(test_sms_url_must_be_http),
        cmocka_unit_test(test_map_tiles_and_attribution_are_unset_by_default),
        cmocka_unit_test(test_map_tiles_accepts_http_and_https_templates),
        cmocka_unit_test(test_map_tiles_refuses_other_schemes_missing_placeholders_and_odd_bytes),
        cmocka_unit_test(test_tracking_section_and_retention_get_their_defaults),
        cmocka_unit_test(test_tracking_and_retention_ranges),
        cmocka_unit_test(test_range_refusal_states_the_range),
        cmocka_unit_test(test_help_shows_meaning_range_and_default_of_each_variable),
        cmocka_unit_test(test_refusal_after_strings_were_read_frees_them),
        cmocka_unit_test(test_error_message_is_truncated_to_err_len),
        cmocka_unit_test(test_deinit_is_safe_on_zeroed_and_twice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
