/* classmentd: one libuv loop hosting the socket API, HTTP and the database pool.
 * `classmentd` migrates and serves; `classmentd migrate` only migrates. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "core/audit.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/dbpool.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/migrate.h"
#include "core/presence.h"
#include "core/ratelimit.h"
#include "core/retention.h"
#include "core/sms.h"
#include "gateway/ops.h"
#include "gateway/router.h"
#include "gateway/server.h"
#include "gateway/session_check.h"
#include "academics/academics.h"
#include "academics/notices.h"
#include "academics/structure.h"
#include "people/people.h"
#include "tracking/positions.h"
#include "tracking/roster_sync.h"
#include "tracking/tracker.h"

/* How long a stop waits for database work in flight. */
#define DB_DRAIN_MS 3000

struct app {
    uv_loop_t loop;
    struct config cfg;
    struct metrics metrics;
    struct op_env env;
    struct people people; /* the context of the people layer's ops */
    struct academics academics; /* the context of the records' ops */
    struct router *router;
    struct server *server;
    struct dbpool *db;
    struct crypto_keys keys;
    struct sms *sms;
    struct audit *audit;
    struct ratelimit *login_by_addr, *login_by_conn;
    struct retention *retention;
    struct presence *presence;
    struct tracker *tracker;
    uv_timer_t sweep_timer;
    uv_signal_t sigint, sigterm;
    bool stopping;
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: classmentd [migrate | --help | --version]\n\n"
               "  (no argument)  apply pending migrations, then serve the socket API and HTTP\n"
               "  migrate        apply pending migrations and exit\n\n");
    config_print_help(f);
}

static void on_db_closed(void *arg)
{
    struct app *app = arg;
    app->db = NULL;
    app->env.db = NULL;
    log_event(LOG_INFO, "main", "stopped", NULL);
}

static void on_sms_closed(void *arg)
{
    struct app *app = arg;
    app->sms = NULL;
    dbpool_close(app->db, DB_DRAIN_MS, on_db_closed, app);
}

static void on_audit_closed(void *arg)
{
    struct app *app = arg;
    app->audit = NULL;
    sms_close(app->sms, on_sms_closed, app);
}

static void on_tracker_closed(void *arg)
{
    struct app *app = arg;
    app->tracker = NULL;
    audit_close(app->audit, on_audit_closed, app);
}

/* The sockets are closed: store the positions and audit entries still buffered, finish the
 * database work in flight, then let the loop end. */
static void on_server_stopped(void *arg)
{
    struct app *app = arg;
    tracker_close(app->tracker, on_tracker_closed, app);
}

static void on_sweep(uv_timer_t *t)
{
    struct app *app = t->data;
    uint64_t now = op_now_ms();
    ratelimit_sweep(app->login_by_addr, now);
    ratelimit_sweep(app->login_by_conn, now);
}

/* The tracker's figures in /metrics, while it runs. */
static void render_tracker_metrics(void *arg, struct strbuf *out)
{
    struct app *app = arg;
    if (app->tracker) {
        tracker_render_metrics(app->tracker, out);
    }
}

static void stop(struct app *app, const char *why)
{
    if (app->stopping) {
        return;
    }
    app->stopping = true;
    log_event(LOG_INFO, "main", "stopping", "reason=%s", why);
    uv_close((uv_handle_t *)&app->sigint, NULL);
    uv_close((uv_handle_t *)&app->sigterm, NULL);
    uv_close((uv_handle_t *)&app->sweep_timer, NULL);
    retention_close(app->retention);
    app->retention = NULL;
    server_shutdown(app->server, on_server_stopped, app);
}

static void on_signal(uv_signal_t *h, int signum)
{
    stop(h->data, signum == SIGINT ? "SIGINT" : "SIGTERM");
}

static int run_migrations(const struct config *cfg)
{
    char err[1024];
    int applied = 0;
    int r = migrate_run(cfg->db_conninfo, cfg->sql_dir, &applied, err, sizeof err);
    if (r != 0) {
        log_event(LOG_ERROR, "migrate", "migration failed", "dir=%s error=\"%s\"", cfg->sql_dir,
                  err);
        return 1;
    }
    log_event(LOG_INFO, "migrate", "schema up to date", "applied=%d", applied);
    return 0;
}

/* Loads the master keys; in development a missing key file is created first. */
static int load_keys(struct app *app)
{
    char err[512];
    const char *path = app->cfg.key_file;
    if (!path) {
        path = ".classment-dev.key";
    }
    if (app->cfg.development && access(path, F_OK) != 0) {
        if (crypto_keys_create_file(path, err, sizeof err) != 0) {
            fprintf(stderr, "classmentd: CLASSMENT_KEY_FILE: %s\n", err);
            return 1;
        }
        log_event(LOG_WARN, "main", "created a development key file", "path=%s", path);
    }
    if (crypto_keys_load(&app->keys, path, err, sizeof err) != 0) {
        fprintf(stderr, "classmentd: CLASSMENT_KEY_FILE: %s\n", err);
        return 1;
    }
    return 0;
}

/* Start-up failed after the loop had handles: close what exists and drain the loop. */
static int abandon(struct app *app)
{
    retention_close(app->retention);
    if (app->tracker) {
        tracker_close(app->tracker, NULL, NULL);
    }
    if (app->audit) {
        audit_close(app->audit, NULL, NULL);
    }
    if (app->sms) {
        sms_close(app->sms, NULL, NULL);
    }
    dbpool_close(app->db, 0, on_db_closed, app);
    uv_run(&app->loop, UV_RUN_DEFAULT);
    return 1;
}

static int serve(struct app *app)
{
    int rc = 0;
    char err[256];
    uv_loop_init(&app->loop);
    struct dbpool_config dbc = { .conninfo = app->cfg.db_conninfo, .size = app->cfg.db_pool_size };
    app->db = dbpool_new(&app->loop, &dbc);
    if (!app->db) {
        fprintf(stderr, "classmentd: CLASSMENT_DB: not a usable connection string\n");
        uv_loop_close(&app->loop);
        return 2;
    }
    struct sms_config smsc = {
        .outbox_path = app->cfg.sms_outbox, .http_url = app->cfg.sms_url,
        .http_template = app->cfg.sms_template, .http_auth = app->cfg.sms_auth,
    };
    app->sms = sms_new(&app->loop, &smsc, err, sizeof err);
    if (!app->sms) {
        fprintf(stderr, "classmentd: %s\n", err);
        rc = abandon(app);
        goto out;
    }
    app->audit = audit_new(&app->loop, app->db);
    app->retention = retention_new(&app->loop, app->db, app->cfg.audit_retention_days,
                                   app->cfg.session_retention_days, 3600);
    positions_register_purge(app->retention, app->cfg.position_retention_days);
    structure_register_purge(app->retention, app->cfg.leaver_retention_years);
    notices_register_purge(app->retention, NOTICE_RETENTION_DAYS);
    app->presence = presence_new();
    app->tracker = tracker_new(&app->loop, app->db, app->presence, &app->cfg.tracking);
    /* Login requests: a burst of 10 then one every 6 s per connection; a school's Wi-Fi puts
     * many phones behind one address, so the address allows 60 then 5 per second. */
    app->login_by_conn = ratelimit_new(10, 1.0 / 6.0, 200000);
    app->login_by_addr = ratelimit_new(60, 5, 200000);
    uv_timer_init(&app->loop, &app->sweep_timer);
    app->sweep_timer.data = app;
    uv_timer_start(&app->sweep_timer, on_sweep, 60000, 60000);
    app->env = (struct op_env){
        .loop = &app->loop, .db = app->db, .cfg = &app->cfg, .metrics = &app->metrics,
        .keys = &app->keys, .audit = app->audit,
    };
    app->people = (struct people){
        .sms = app->sms, .login_by_addr = app->login_by_addr, .login_by_conn = app->login_by_conn,
        .presence = app->presence, .close_sessions = session_check_close,
    };
    app->academics = (struct academics){ .presence = app->presence,
                                         .roster = &app->people.roster };
    metrics_add_source(&app->metrics, render_tracker_metrics, app);
    /* Tracking's listener, and the tracking ops' context, read app->tracker each time:
     * on_tracker_closed clears it. */
    roster_sync_register(&app->people.roster, &app->tracker);
    struct op_table tables[OPS_MAX_TABLES];
    struct ops_domains domains = { .router = &app->router, .people = &app->people,
                                   .tracking = &app->tracker, .academics = &app->academics };
    app->router = router_new(tables, ops_tables(&domains, tables));
    if (!app->router) {
        uv_close((uv_handle_t *)&app->sweep_timer, NULL);
        rc = abandon(app);
        goto out;
    }
    app->server = server_new(&app->loop, &app->cfg, &app->env, &app->people, app->router);
    if (!app->server) {
        uv_close((uv_handle_t *)&app->sweep_timer, NULL);
        rc = abandon(app);
        goto out;
    }
    app->people.close_sessions_ctx = app->server;
    uv_signal_init(&app->loop, &app->sigint);
    uv_signal_init(&app->loop, &app->sigterm);
    app->sigint.data = app->sigterm.data = app;
    uv_signal_start(&app->sigint, on_signal, SIGINT);
    uv_signal_start(&app->sigterm, on_signal, SIGTERM);
    if (!server_is_listening(app->server)) {
        rc = 1;
        stop(app, "cannot listen");
    }
    uv_run(&app->loop, UV_RUN_DEFAULT);
    /* lws's handles have closed: the second destroy frees the context (STACK-NOTES §1). */
    server_free(app->server);
    uv_run(&app->loop, UV_RUN_DEFAULT);
out:
    router_free(app->router);
    presence_free(app->presence);
    ratelimit_free(app->login_by_addr);
    ratelimit_free(app->login_by_conn);
    if (uv_loop_close(&app->loop) != 0) {
        log_event(LOG_WARN, "main", "loop still had handles at exit", NULL);
    }
    return rc;
}

/* `classmentd migrate` touches no personal data, so it needs no key file even in production. */
static const char *getenv_for_migrate(const char *name)
{
    const char *v = getenv(name);
    if (strcmp(name, "CLASSMENT_KEY_FILE") == 0 && (!v || !*v)) {
        return "(not needed to migrate)";
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc > 1 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("classmentd %s\n", CLASSMENT_VERSION);
        return 0;
    }
    bool migrate_only = argc > 1 && strcmp(argv[1], "migrate") == 0;
    if (argc > 2 || (argc == 2 && !migrate_only)) {
        usage(stderr);
        return 2;
    }
    /* A client vanishing mid-write must not kill the server. */
    signal(SIGPIPE, SIG_IGN);

    static struct app app;
    char err[256];
    config_getenv_fn *get = migrate_only ? getenv_for_migrate : (config_getenv_fn *)getenv;
    if (config_load(&app.cfg, get, err, sizeof err) != 0) {
        fprintf(stderr, "classmentd: configuration error: %s\n", err);
        return 2;
    }
    log_set_level(app.cfg.log_level);
    if (crypto_init() != 0) {
        fprintf(stderr, "classmentd: libsodium failed to initialise\n");
        return 1;
    }
    int rc = run_migrations(&app.cfg);
    if (rc == 0 && !migrate_only) {
        rc = load_keys(&app);
        if (rc == 0) {
            rc = serve(&app);
        }
    }
    crypto_keys_wipe(&app.keys);
    config_deinit(&app.cfg);
    return rc;
}
