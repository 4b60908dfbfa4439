/* classmentd: one libuv loop hosting the socket API, HTTP and the database pool.
 * `classmentd` migrates and serves; `classmentd migrate` only migrates. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "core/config.h"
#include "core/dbpool.h"
#include "core/log.h"
#include "core/metrics.h"
#include "core/migrate.h"
#include "gateway/ops.h"
#include "gateway/router.h"
#include "gateway/server.h"

/* How long a stop waits for database work in flight. */
#define DB_DRAIN_MS 3000

struct app {
    uv_loop_t loop;
    struct config cfg;
    struct metrics metrics;
    struct op_env env;
    struct router *router;
    struct server *server;
    struct dbpool *db;
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

/* The sockets are closed: finish the database work they started, then let the loop end. */
static void on_server_stopped(void *arg)
{
    struct app *app = arg;
    dbpool_close(app->db, DB_DRAIN_MS, on_db_closed, app);
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

static int serve(struct app *app)
{
    int rc = 0;
    uv_loop_init(&app->loop);
    struct dbpool_config dbc = { .conninfo = app->cfg.db_conninfo, .size = app->cfg.db_pool_size };
    app->db = dbpool_new(&app->loop, &dbc);
    app->env = (struct op_env){
        .loop = &app->loop, .db = app->db, .cfg = &app->cfg, .metrics = &app->metrics,
    };
    app->router = router_new(all_op_tables, n_op_tables);
    if (!app->router) {
        rc = 1;
        dbpool_close(app->db, 0, on_db_closed, app);
        uv_run(&app->loop, UV_RUN_DEFAULT);
        goto out;
    }
    app->server = server_new(&app->loop, &app->cfg, &app->env, app->router);
    if (!app->server) {
        rc = 1;
        dbpool_close(app->db, 0, on_db_closed, app);
        uv_run(&app->loop, UV_RUN_DEFAULT);
        goto out;
    }
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
    if (uv_loop_close(&app->loop) != 0) {
        log_event(LOG_WARN, "main", "loop still had handles at exit", NULL);
    }
    return rc;
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
    if (config_load(&app.cfg, (config_getenv_fn *)getenv, err, sizeof err) != 0) {
        fprintf(stderr, "classmentd: configuration error: %s\n", err);
        return 2;
    }
    log_set_level(app.cfg.log_level);
    int rc = run_migrations(&app.cfg);
    if (rc == 0 && !migrate_only) {
        rc = serve(&app);
    }
    config_deinit(&app.cfg);
    return rc;
}
