/* HTTP on the API's port: GET /healthz, GET /metrics and the static pages in web/. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/audit.h"
#include "core/dbpool.h"
#include "core/sms.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/xalloc.h"
#include "gateway/server_internal.h"

/* Descriptors kept free for the database, logs and files when connections near the limit. */
#define FD_RESERVE 64

/* A response body waiting for the writable callback. */
struct http_session {
    unsigned char *body; /* LWS_PRE + len bytes */
    size_t len;
};

size_t http_session_size(void)
{
    return sizeof(struct http_session);
}

/* Sends the headers now and the body from the writable callback. Returns what the lws callback
 * should return. */
static int respond(struct lws *wsi, struct http_session *h, unsigned status,
                   const char *content_type, const char *body, size_t len)
{
    unsigned char hdr[LWS_PRE + 512];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    if (lws_add_http_common_headers(wsi, status, content_type, (lws_filepos_t)len, &p, end) ||
        lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                     (const unsigned char *)"no-store", 8, &p, end) ||
        lws_finalize_write_http_header(wsi, start, &p, end)) {
        return -1;
    }
    free(h->body);
    h->body = xmalloc(LWS_PRE + len + 1);
    memcpy(h->body + LWS_PRE, body, len);
    h->len = len;
    lws_callback_on_writable(wsi);
    return 0;
}

static int respond_text(struct lws *wsi, struct http_session *h, unsigned status,
                        const char *text)
{
    return respond(wsi, h, status, "text/plain; charset=utf-8", text, strlen(text));
}

static int serve_metrics(struct lws *wsi, struct http_session *h, struct server *srv)
{
    struct strbuf sb;
    strbuf_init(&sb);
    int n_ops;
    const struct op_metrics *ops = router_metrics(srv->router, &n_ops);
    metrics_render(srv->env->metrics, ops, n_ops, &sb);
    struct dbpool_stats st;
    dbpool_get_stats(srv->env->db, &st);
    strbuf_printf(&sb,
                  "# HELP classment_db_pool_connections Database connections by state.\n"
                  "# TYPE classment_db_pool_connections gauge\n"
                  "classment_db_pool_connections{state=\"configured\"} %d\n"
                  "classment_db_pool_connections{state=\"connected\"} %d\n"
                  "classment_db_pool_connections{state=\"busy\"} %d\n"
                  "# HELP classment_db_pool_queued Queries waiting for a connection.\n"
                  "# TYPE classment_db_pool_queued gauge\n"
                  "classment_db_pool_queued %d\n"
                  "# HELP classment_db_queries_total Queries sent to the database.\n"
                  "# TYPE classment_db_queries_total counter\n"
                  "classment_db_queries_total %llu\n"
                  "# HELP classment_db_errors_total Queries the database answered with an error.\n"
                  "# TYPE classment_db_errors_total counter\n"
                  "classment_db_errors_total %llu\n"
                  "# HELP classment_db_unavailable_total Queries refused or lost while the "
                  "database was unreachable.\n"
                  "# TYPE classment_db_unavailable_total counter\n"
                  "classment_db_unavailable_total %llu\n"
                  "# HELP classment_db_reconnects_total Reconnections to the database.\n"
                  "# TYPE classment_db_reconnects_total counter\n"
                  "classment_db_reconnects_total %llu\n",
                  st.size, st.connected, st.busy, st.queued, st.queries_total, st.errors_total,
                  st.unavailable_total, st.reconnects_total);
    if (srv->people->sms) {
        struct sms_stats ss;
        sms_get_stats(srv->people->sms, &ss);
        strbuf_printf(&sb,
                      "# HELP classment_sms_total SMS by outcome.\n"
                      "# TYPE classment_sms_total counter\n"
                      "classment_sms_total{outcome=\"accepted\"} %llu\n"
                      "classment_sms_total{outcome=\"delivered\"} %llu\n"
                      "classment_sms_total{outcome=\"failed\"} %llu\n"
                      "classment_sms_total{outcome=\"retried\"} %llu\n",
                      (unsigned long long)ss.accepted, (unsigned long long)ss.delivered,
                      (unsigned long long)ss.failed, (unsigned long long)ss.retries);
    }
    if (srv->env->audit) {
        struct audit_stats as;
        audit_get_stats(srv->env->audit, &as);
        strbuf_printf(&sb,
                      "# HELP classment_audit_entries_total Audit log entries by outcome.\n"
                      "# TYPE classment_audit_entries_total counter\n"
                      "classment_audit_entries_total{state=\"recorded\"} %llu\n"
                      "classment_audit_entries_total{state=\"written\"} %llu\n"
                      "classment_audit_entries_total{state=\"dropped\"} %llu\n"
                      "# HELP classment_audit_buffered Audit entries waiting to be written.\n"
                      "# TYPE classment_audit_buffered gauge\n"
                      "classment_audit_buffered %llu\n",
                      (unsigned long long)as.recorded, (unsigned long long)as.written,
                      (unsigned long long)as.dropped, (unsigned long long)as.buffered);
    }
    metrics_render_sources(srv->env->metrics, &sb);
    int r = respond(wsi, h, HTTP_STATUS_OK, "text/plain; version=0.0.4; charset=utf-8",
                    sb.data, sb.len);
    strbuf_deinit(&sb);
    return r;
}

static const char *mime_type(const char *path)
{
    static const struct {
        const char *ext, *type;
    } types[] = {
        { ".html", "text/html; charset=utf-8" }, { ".css", "text/css; charset=utf-8" },
        { ".js", "text/javascript; charset=utf-8" }, { ".json", "application/json" },
        { ".svg", "image/svg+xml" }, { ".png", "image/png" }, { ".ico", "image/x-icon" },
        { ".txt", "text/plain; charset=utf-8" },
    };
    const char *dot = strrchr(path, '.');
    for (size_t i = 0; dot && i < sizeof types / sizeof types[0]; i++) {
        if (strcmp(dot, types[i].ext) == 0) {
            return types[i].type;
        }
    }
    return "application/octet-stream";
}

/* Only plain names under web/: no "..", no hidden files, no odd bytes. */
static bool safe_path(const char *uri)
{
    if (uri[0] != '/' || strlen(uri) > 200) {
        return false;
    }
    for (const char *c = uri; *c; c++) {
        bool ok = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                  (*c >= '0' && *c <= '9') || *c == '/' || *c == '.' || *c == '-' || *c == '_';
        if (!ok || (*c == '.' && c[-1] == '/')) {
            return false;
        }
    }
    return true;
}

static int serve_file(struct lws *wsi, struct http_session *h, struct server *srv,
                      const char *uri)
{
    if (!safe_path(uri)) {
        return respond_text(wsi, h, HTTP_STATUS_NOT_FOUND, "not found\n");
    }
    char path[PATH_MAX];
    const char *name = strcmp(uri, "/") == 0 ? "/index.html" : uri;
    int n = snprintf(path, sizeof path, "%s%s", srv->cfg->web_root, name);
    struct stat st;
    if (n < 0 || (size_t)n >= sizeof path || stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
        return respond_text(wsi, h, HTTP_STATUS_NOT_FOUND, "not found\n");
    }
    int r = lws_serve_http_file(wsi, path, mime_type(path), NULL, 0);
    if (r < 0) {
        return -1;
    }
    if (r > 0 && lws_http_transaction_completed(wsi)) {
        return -1;
    }
    return 0;
}

static int on_request(struct lws *wsi, struct http_session *h, struct server *srv,
                      const char *uri)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
        return respond_text(wsi, h, HTTP_STATUS_METHOD_NOT_ALLOWED, "only GET is served\n");
    }
    if (strcmp(uri, "/healthz") == 0) {
        bool up = dbpool_available(srv->env->db);
        return respond_text(wsi, h, up ? HTTP_STATUS_OK : HTTP_STATUS_SERVICE_UNAVAILABLE,
                            up ? "ok\n" : "unavailable\n");
    }
    if (strcmp(uri, "/metrics") == 0) {
        return serve_metrics(wsi, h, srv);
    }
    if (strncmp(uri, "/v1/", 4) == 0) {
        return respond_text(wsi, h, HTTP_STATUS_BAD_REQUEST,
                            "use a WebSocket with subprotocol classment.v1\n");
    }
    return serve_file(wsi, h, srv, uri);
}

int http_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
                  size_t len)
{
    struct http_session *h = user;
    struct server *srv = lws_context_user(lws_get_context(wsi));
    switch (reason) {
    case LWS_CALLBACK_FILTER_NETWORK_CONNECTION: {
        /* Keep descriptors in reserve: once accept() itself fails with EMFILE the listening
         * socket stays readable and lws retries at once, spinning. Closing newcomers near the
         * limit keeps accept() working and the server responsive. */
        int fd = (int)(lws_intptr_t)in;
        if (srv->fd_limit > 0 && fd >= srv->fd_limit - FD_RESERVE) {
            srv->env->metrics->refused_connections++;
            return 1;
        }
        return 0;
    }
    case LWS_CALLBACK_FILTER_PROTOCOL_CONNECTION:
        /* A WebSocket upgrade without our subprotocol lands here: refuse it. */
        return -1;
    case LWS_CALLBACK_HTTP:
        if (!h) {
            return -1;
        }
        return on_request(wsi, h, srv, in ? (const char *)in : "/");
    case LWS_CALLBACK_HTTP_WRITEABLE: {
        if (!h || !h->body) {
            return 0;
        }
        int n = lws_write(wsi, h->body + LWS_PRE, h->len, LWS_WRITE_HTTP_FINAL);
        free(h->body);
        h->body = NULL;
        if (n < 0 || lws_http_transaction_completed(wsi)) {
            return -1;
        }
        return 0;
    }
    case LWS_CALLBACK_CLOSED_HTTP:
        /* lws may close a connection whose per-session data was never allocated (seen when
         * a TLS connection moves from HTTP to a WebSocket upgrade). */
        if (h) {
            free(h->body);
            h->body = NULL;
        }
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}
