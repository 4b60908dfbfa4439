/* libwebsockets on the shared libuv loop: context and vhost set-up, and the graceful stop
 * (see server.h). The WebSocket and HTTP halves live in ws.c and http.c. */
#include "gateway/server.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <string.h>

#include "core/log.h"
#include "core/xalloc.h"
#include "gateway/server_internal.h"
#include "gateway/heartbeat.h"
#include "gateway/session_check.h"

/* How long a graceful stop waits for clients to take their close frames. */
#define DRAIN_MS 2000

static void lws_log(int level, const char *line)
{
    char text[512];
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) {
        n--;
    }
    if (n >= sizeof text) {
        n = sizeof text - 1;
    }
    /* lws lines are free text: keep them out of the msg field's quotes. */
    for (size_t i = 0; i < n; i++) {
        text[i] = line[i] == '"' ? '\'' : line[i];
    }
    text[n] = '\0';
    log_event(level == LLL_ERR ? LOG_ERROR : LOG_WARN, "lws", "libwebsockets", "detail=\"%s\"",
              text);
}

static struct lws_protocols protocols[3];

static void flush_after_io(uv_check_t *h)
{
    ws_flush(h->data);
}

static void flush_before_wait(uv_prepare_t *h)
{
    ws_flush(h->data);
}

struct server *server_new(uv_loop_t *loop, const struct config *cfg, struct op_env *env,
                          struct people *people, struct router *router)
{
    struct server *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->cfg = cfg;
    s->env = env;
    s->people = people;
    s->router = router;
    /* Connections are bounded by descriptors, not by anything of ours: take all the process
     * may have. */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        if (rl.rlim_cur < rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
            getrlimit(RLIMIT_NOFILE, &rl);
        }
        s->fd_limit = rl.rlim_cur > (rlim_t)INT32_MAX ? INT32_MAX : (int)rl.rlim_cur;
    }
    /* Keep-alive is heartbeat.c's: a policy with no hang-up time turns lws's own validity
     * timers off (their cost grows with the number of connections). */
    memset(&s->idle_policy, 0, sizeof s->idle_policy);

    protocols[0] = (struct lws_protocols){
        .name = "http",
        .callback = http_callback,
        .per_session_data_size = http_session_size(),
    };
    protocols[1] = (struct lws_protocols){
        .name = "classment.v1",
        .callback = ws_callback,
        .per_session_data_size = ws_session_size(),
        .rx_buffer_size = 0,
        /* Let lws write a whole message per call instead of buffering the tail of large ones
         * once per recipient. */
        .tx_packet_size = 1 << 20,
    };
    protocols[2] = (struct lws_protocols){ 0 };

    lws_set_log_level(LLL_ERR | LLL_WARN, lws_log);
    void *foreign_loops[1] = { loop };
    struct lws_context_creation_info info;
    memset(&info, 0, sizeof info);
    info.options = LWS_SERVER_OPTION_LIBUV | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                   LWS_SERVER_OPTION_VALIDATE_UTF8;
    if (cfg->tls_cert) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
    }
    info.foreign_loops = foreign_loops;
    info.port = CONTEXT_PORT_NO_LISTEN;
    info.user = s;
    info.pcontext = &s->lws;
    s->lws = lws_create_context(&info);
    if (!s->lws) {
        log_event(LOG_ERROR, "server", "cannot create libwebsockets context",
                  "hint=\"is libwebsockets-evlib-uv installed?\"");
        free(s);
        return NULL;
    }

    struct lws_context_creation_info vinfo;
    memset(&vinfo, 0, sizeof vinfo);
    vinfo.port = cfg->listen_port;
    vinfo.iface = cfg->listen_host;
    vinfo.protocols = protocols;
    vinfo.vhost_name = "classment";
    vinfo.retry_and_idle_policy = &s->idle_policy;
    vinfo.options = LWS_SERVER_OPTION_LIBUV;
    if (strchr(cfg->listen_host, ':') == NULL) {
        vinfo.options |= LWS_SERVER_OPTION_DISABLE_IPV6;
    }
    if (cfg->tls_cert) {
        vinfo.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        vinfo.ssl_cert_filepath = cfg->tls_cert;
        vinfo.ssl_private_key_filepath = cfg->tls_key;
    }
    s->vhost = lws_create_vhost(s->lws, &vinfo);
    if (!s->vhost) {
        log_event(LOG_ERROR, "server", "cannot listen", "host=%s port=%d", cfg->listen_host,
                  cfg->listen_port);
        /* First destroy; the context finishes closing on the loop and server_free makes the
         * second call. */
        lws_context_destroy(s->lws);
        s->draining = true;
        return s;
    }
    uv_check_init(loop, &s->flush_after_io);
    s->flush_after_io.data = s;
    uv_check_start(&s->flush_after_io, flush_after_io);
    uv_prepare_init(loop, &s->flush_before_wait);
    s->flush_before_wait.data = s;
    uv_prepare_start(&s->flush_before_wait, flush_before_wait);
    session_check_start(s);
    heartbeat_start(s);
    log_event(LOG_INFO, "server", "listening", "url=%s://%s:%d/v1/ws max_fds=%d",
              cfg->tls_cert ? "wss" : "ws", cfg->listen_host, cfg->listen_port, s->fd_limit);
    return s;
}

static void drain_closed(uv_handle_t *h)
{
    struct server *s = h->data;
    if (s->drain_done) {
        s->drain_done(s->drain_arg);
    }
}

static void drain_tick(uv_timer_t *t)
{
    struct server *s = t->data;
    if (s->sessions && op_now_ms() < s->drain_deadline_ms) {
        return;
    }
    if (s->sessions) {
        log_event(LOG_WARN, "server", "clients did not close in time", NULL);
    }
    uv_timer_stop(t);
    /* First destroy: closes the listener and every remaining connection; lws's uv handles
     * close asynchronously, after which server_free makes the second call. */
    lws_context_destroy(s->lws);
    /* Writes went on while clients took their close frames; nothing is left to write now. */
    uv_close((uv_handle_t *)&s->flush_after_io, NULL);
    uv_close((uv_handle_t *)&s->flush_before_wait, NULL);
    uv_close((uv_handle_t *)t, drain_closed);
}

void server_shutdown(struct server *s, void (*done)(void *arg), void *arg)
{
    if (s->drain_done) {
        return;
    }
    s->drain_done = done;
    s->drain_arg = arg;
    if (!s->vhost) {
        /* Never listened: the context is already going away. */
        done(arg);
        return;
    }
    s->draining = true;
    session_check_stop(s);
    heartbeat_stop(s);
    ws_close_all(s);
    s->drain_deadline_ms = op_now_ms() + DRAIN_MS;
    uv_timer_init(s->loop, &s->drain_timer);
    s->drain_timer.data = s;
    uv_timer_start(&s->drain_timer, drain_tick, 10, 10);
}

bool server_is_listening(const struct server *s)
{
    return s->vhost != NULL;
}

void server_free(struct server *s)
{
    if (!s) {
        return;
    }
    if (s->lws) {
        lws_context_destroy(s->lws);
    }
    free(s->session_check_ids); /* a check round cut short by the stop */
    free(s);
}
