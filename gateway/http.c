/* HTTP on the API's port: GET /healthz, GET /metrics, GET /config.json (what the pages need
 * from the server's configuration), GET /v1/calendar/<token>.ics (gateway/calendar_http.c),
 * GET /v1/report-cards/<token>.pdf (gateway/report_card_http.c) and the static pages in web/,
 * with the security and caching headers the pages rely on. */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "academics/report_cards.h"
#include "core/audit.h"
#include "core/dbpool.h"
#include "core/sms.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/xalloc.h"
#include "gateway/calendar_http.h"
#include "gateway/report_card_http.h"
#include "gateway/server_internal.h"

/* Descriptors kept free for the database, logs and files when connections near the limit. */
#define FD_RESERVE 64

/* A response body waiting for the writable callback. */
struct http_session {
    unsigned char *body; /* LWS_PRE + len bytes */
    size_t len;
    struct calendar_req *cal; /* a calendar waiting for the database (calendar_http.h) */
    struct report_card_req *card; /* a report card being loaded or drawn */
};

size_t http_session_size(void)
{
    return sizeof(struct http_session);
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

/* On every response: no MIME sniffing (a .txt must never run as a script), and no URL of ours
 * (which may carry a trip or a school) in Referer headers sent to the tile server. */
static int add_common_headers(struct lws *wsi, unsigned char **p, unsigned char *end)
{
    return add_header(wsi, "x-content-type-options:", "nosniff", p, end) ||
           add_header(wsi, "referrer-policy:", "no-referrer", p, end);
}

/* Sends the headers now and the body from the writable callback. Returns what the lws callback
 * should return. */
static int respond_as(struct lws *wsi, struct http_session *h, unsigned status,
                      const char *content_type, const char *disposition, const char *body,
                      size_t len)
{
    unsigned char hdr[LWS_PRE + 1024];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    if (lws_add_http_common_headers(wsi, status, content_type, (lws_filepos_t)len, &p, end) ||
        add_header(wsi, "cache-control:", "no-store", &p, end) ||
        add_common_headers(wsi, &p, end) ||
        (disposition && add_header(wsi, "content-disposition:", disposition, &p, end)) ||
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

static int respond(struct lws *wsi, struct http_session *h, unsigned status,
                   const char *content_type, const char *body, size_t len)
{
    return respond_as(wsi, h, status, content_type, NULL, body, len);
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
    report_cards_render_metrics(&sb);
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
        { ".mjs", "text/javascript; charset=utf-8" }, { ".svg", "image/svg+xml" },
        { ".png", "image/png" }, { ".ico", "image/x-icon" }, { ".woff2", "font/woff2" },
        { ".txt", "text/plain; charset=utf-8" }, { ".webmanifest", "application/manifest+json" },
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

/* Appends s to sb as a JSON string, or null. */
static void json_string(struct strbuf *sb, const char *s)
{
    if (!s) {
        strbuf_append(sb, "null", 4);
        return;
    }
    strbuf_append(sb, "\"", 1);
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if (*c == '"' || *c == '\\') {
            strbuf_printf(sb, "\\%c", *c);
        } else if (*c < 0x20) {
            strbuf_printf(sb, "\\u%04x", *c);
        } else {
            strbuf_append(sb, (const char *)c, 1);
        }
    }
    strbuf_append(sb, "\"", 1);
}

/* GET /config.json: the settings the pages read before they draw a map. */
static int serve_config(struct lws *wsi, struct http_session *h, struct server *srv)
{
    struct strbuf sb;
    strbuf_init(&sb);
    strbuf_append(&sb, "{\"tiles\":", 9);
    json_string(&sb, srv->cfg->map_tiles);
    strbuf_append(&sb, ",\"attribution\":", 15);
    json_string(&sb, srv->cfg->map_attribution);
    strbuf_append(&sb, "}\n", 2);
    int r = respond(wsi, h, HTTP_STATUS_OK, "application/json", sb.data, sb.len);
    strbuf_deinit(&sb);
    return r;
}

/* The Host header when it is a plain host[:port], for the WebSocket sources of the CSP; NULL
 * otherwise (the client chose it, so it must not be able to add a source or a directive). */
static const char *plain_host(struct lws *wsi, char *buf, size_t len)
{
    int n = lws_hdr_copy(wsi, buf, (int)len, WSI_TOKEN_HOST);
    if (n <= 0 ||
        strspn(buf, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:[]") !=
            (size_t)n) {
        return NULL;
    }
    return buf;
}

/* The Content-Security-Policy of a page: everything from this origin only, no inline script or
 * style, plus map tiles from the configured tile server and the API's WebSocket. CSP3 lets
 * 'self' cover ws: and wss: on the same host, and Chromium and Firefox do; Safari did not for
 * years, hence the explicit ws:// and wss:// sources. The tile URL was checked at start-up
 * (core/config.c) to hold no byte that could end a source; Leaflet's {s} subdomain becomes *. */
static void build_csp(struct lws *wsi, const struct config *cfg, struct strbuf *sb)
{
    strbuf_printf(sb, "default-src 'self'; script-src 'self'; style-src 'self'; "
                      "img-src 'self' data:");
    if (cfg->map_tiles) {
        const char *host = strstr(cfg->map_tiles, "://") + 3;
        bool any_sub = strncmp(host, "{s}.", 4) == 0;
        const char *name = any_sub ? host + 4 : host;
        strbuf_printf(sb, " %.*s%s%.*s", (int)(host - cfg->map_tiles), cfg->map_tiles,
                      any_sub ? "*." : "", (int)strcspn(name, "/"), name);
    }
    strbuf_printf(sb, "; connect-src 'self'");
    char buf[256];
    const char *ws_host = plain_host(wsi, buf, sizeof buf);
    if (ws_host) {
        strbuf_printf(sb, " ws://%s wss://%s", ws_host, ws_host);
    }
    strbuf_printf(sb, "; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
                      "form-action 'self'");
}

/* A validator that changes whenever the file is replaced or rewritten. */
static void make_etag(const struct stat *st, char *out, size_t len)
{
    snprintf(out, len, "\"%llx-%llx\"", (unsigned long long)st->st_size,
             (unsigned long long)st->st_mtim.tv_sec * 1000000000ull +
                 (unsigned long long)st->st_mtim.tv_nsec);
}

static bool etag_matches(struct lws *wsi, const char *etag)
{
    char inm[512];
    if (lws_hdr_copy(wsi, inm, sizeof inm, WSI_TOKEN_HTTP_IF_NONE_MATCH) <= 0) {
        return false;
    }
    return strcmp(inm, "*") == 0 || strstr(inm, etag) != NULL;
}

/* 304: the headers the full answer would have had (RFC 9110 15.4.5), and no body. */
static int respond_not_modified(struct lws *wsi, const unsigned char *extra, size_t extra_len)
{
    unsigned char hdr[LWS_PRE + 4096];
    unsigned char *start = hdr + LWS_PRE, *p = start, *end = hdr + sizeof hdr - 1;
    if (lws_add_http_common_headers(wsi, HTTP_STATUS_NOT_MODIFIED, NULL, 0, &p, end) ||
        extra_len > (size_t)(end - p)) {
        return -1;
    }
    memcpy(p, extra, extra_len);
    p += extra_len;
    if (lws_finalize_write_http_header(wsi, start, &p, end)) {
        return -1;
    }
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* Files under /vendor/ sit in directories named by version (tools/web-vendor), so a changed
 * file has a new URL and browsers may keep them for a year; everything else is revalidated
 * with its ETag on each use, so a new release shows at once. */
static int serve_file(struct lws *wsi, struct http_session *h, struct server *srv,
                      const char *uri)
{
    if (!safe_path(uri)) {
        return respond_text(wsi, h, HTTP_STATUS_NOT_FOUND, "not found\n");
    }
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s%s", srv->cfg->web_root, uri);
    struct stat st;
    if (n < 0 || (size_t)n >= sizeof path || stat(path, &st) != 0) {
        return respond_text(wsi, h, HTTP_STATUS_NOT_FOUND, "not found\n");
    }
    if (S_ISDIR(st.st_mode)) {
        /* /parent and /parent/ both serve web/parent/index.html. */
        const char *index = uri[strlen(uri) - 1] == '/' ? "index.html" : "/index.html";
        int m = snprintf(path + n, sizeof path - (size_t)n, "%s", index);
        if (m < 0 || (size_t)m >= sizeof path - (size_t)n || stat(path, &st) != 0) {
            return respond_text(wsi, h, HTTP_STATUS_NOT_FOUND, "not found\n");
        }
    }
    if (!S_ISREG(st.st_mode)) {
        return respond_text(wsi, h, HTTP_STATUS_NOT_FOUND, "not found\n");
    }
    const char *type = mime_type(path);
    unsigned char extra[4096];
    unsigned char *p = extra, *end = extra + sizeof extra;
    if (add_common_headers(wsi, &p, end)) {
        return -1;
    }
    if (strncmp(type, "text/html", 9) == 0) {
        struct strbuf csp;
        strbuf_init(&csp);
        build_csp(wsi, srv->cfg, &csp);
        int r = add_header(wsi, "content-security-policy:", csp.data, &p, end);
        strbuf_deinit(&csp);
        if (r) {
            return -1;
        }
    }
    if (strncmp(uri, "/vendor/", 8) == 0) {
        if (add_header(wsi, "cache-control:", "public, max-age=31536000, immutable", &p, end)) {
            return -1;
        }
    } else {
        char etag[64];
        make_etag(&st, etag, sizeof etag);
        if (add_header(wsi, "cache-control:", "no-cache", &p, end) ||
            add_header(wsi, "etag:", etag, &p, end)) {
            return -1;
        }
        if (etag_matches(wsi, etag)) {
            return respond_not_modified(wsi, extra, (size_t)(p - extra));
        }
    }
    int r = lws_serve_http_file(wsi, path, type, (const char *)extra, (int)(p - extra));
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
    if (strcmp(uri, "/config.json") == 0) {
        return serve_config(wsi, h, srv);
    }
    if (strncmp(uri, CALENDAR_HTTP_PREFIX, strlen(CALENDAR_HTTP_PREFIX)) == 0) {
        /* Answered from the writable callback once the database has (calendar_http.h). */
        bool unavailable;
        h->cal = calendar_http_start(srv, wsi, uri + strlen(CALENDAR_HTTP_PREFIX), &unavailable);
        if (h->cal) {
            return 0;
        }
        return unavailable ? respond_text(wsi, h, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable\n")
                           : respond_text(wsi, h, HTTP_STATUS_NOT_FOUND, "not found\n");
    }
    if (strncmp(uri, REPORT_CARD_HTTP_PREFIX, strlen(REPORT_CARD_HTTP_PREFIX)) == 0) {
        /* Answered from the writable callback once loaded and drawn (report_card_http.h). */
        unsigned status;
        h->card = report_card_http_start(srv, wsi, uri + strlen(REPORT_CARD_HTTP_PREFIX), &status);
        if (h->card) {
            return 0;
        }
        return respond_text(wsi, h, status,
                            status == HTTP_STATUS_GONE                  ? "link expired\n"
                            : status == HTTP_STATUS_SERVICE_UNAVAILABLE ? "unavailable\n"
                                                                        : "not found\n");
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
        /* A fixed send buffer instead of the kernel's autotuning (up to 4 MiB a socket): a
         * client that stops reading then holds a few hundred KB of the server's memory, not
         * megabytes, and fills its send queue, to be judged too slow, that much sooner. The
         * fan-out's messages are small; large replies go out over several writable turns. */
        int sndbuf = srv->cfg->socket_sndbuf;
        if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) != 0) {
            log_event(LOG_WARN, "http", "cannot set the socket's send buffer", "errno=%d",
                      errno);
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
        unsigned cal_status;
        const char *cal_body;
        size_t cal_len;
        if (h && h->cal && calendar_http_ready(h->cal, &cal_status, &cal_body, &cal_len)) {
            int r = respond(wsi, h, cal_status,
                            cal_status == HTTP_STATUS_OK ? "text/calendar; charset=utf-8"
                                                         : "text/plain; charset=utf-8",
                            cal_body, cal_len);
            calendar_http_free(h->cal);
            h->cal = NULL;
            return r;
        }
        unsigned card_status;
        const unsigned char *card_body;
        size_t card_len;
        const char *card_name;
        if (h && h->card &&
            report_card_http_ready(h->card, &card_status, &card_body, &card_len, &card_name)) {
            char disposition[256];
            if (card_name) {
                snprintf(disposition, sizeof disposition, "inline; filename=\"%s\"", card_name);
            }
            int r = respond_as(wsi, h, card_status,
                               card_name ? "application/pdf" : "text/plain; charset=utf-8",
                               card_name ? disposition : NULL, (const char *)card_body,
                               card_len);
            report_card_http_free(h->card);
            h->card = NULL;
            return r;
        }
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
            if (h->cal) {
                calendar_http_detach(h->cal);
                h->cal = NULL;
            }
            if (h->card) {
                report_card_http_detach(h->card);
                h->card = NULL;
            }
        }
        return 0;
    default:
        return lws_callback_http_dummy(wsi, reason, user, in, len);
    }
}
