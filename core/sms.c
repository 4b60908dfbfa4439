/* SMS delivery: outbox file or HTTP gateway, asynchronous on the loop (see sms.h). */
#include "core/sms.h"

#include <fcntl.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/op.h"
#include "core/strbuf.h"
#include "core/xalloc.h"

#define DEFAULT_TEMPLATE "{\"to\":\"{to}\",\"text\":\"{text}\"}"
#define RESPONSE_MAX 512

struct sms_job;

struct sms {
    uv_loop_t *loop;
    uv_file outbox;        /* -1 when not used */
    char *host, *port, *path, *template_body, *auth;
    int timeout_ms, attempts;
    struct sms_stats stats;
    struct sms_job *jobs;  /* in flight, for close */
    int pending_writes;    /* outbox writes on the threadpool */
    bool closing;
    void (*done)(void *arg);
    void *done_arg;
};

/* One HTTP delivery: resolve, connect, write, read the status line; retried on failure. */
struct sms_job {
    struct sms *sms;
    struct sms_job *prev, *next;
    char *request;
    size_t request_len;
    int attempt;
    int refs;              /* timer, tcp and a pending getaddrinfo each hold one */
    bool tcp_open, finished, resolving;
    bool attempt_over;     /* the current attempt has ended (a late resolve is ignored) */
    uv_getaddrinfo_t resolve;
    uv_tcp_t tcp;
    uv_connect_t connect;
    uv_write_t write;
    uv_timer_t timer;
    char response[RESPONSE_MAX];
    size_t response_len;
};

struct outbox_write {
    uv_fs_t req;
    struct sms *sms;
    char *line;
};

/* Frees the service once it is closing and nothing is in flight. */
static void maybe_finish(struct sms *s)
{
    if (!s->closing || s->jobs || s->pending_writes) {
        return;
    }
    if (s->outbox >= 0) {
        close(s->outbox);
    }
    void (*done)(void *) = s->done;
    void *arg = s->done_arg;
    free(s->host);
    free(s->port);
    free(s->path);
    free(s->template_body);
    free(s->auth);
    free(s);
    if (done) {
        done(arg);
    }
}

static void json_escape(struct strbuf *sb, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            strbuf_printf(sb, "\\%c", c);
        } else if (c < 0x20) {
            strbuf_printf(sb, "\\u%04x", c);
        } else {
            strbuf_append(sb, (const char *)&c, 1);
        }
    }
}

static int parse_url(struct sms *s, const char *url)
{
    if (strncmp(url, "http://", 7) != 0) {
        return -1;
    }
    const char *host = url + 7;
    const char *slash = strchr(host, '/');
    const char *end = slash ? slash : host + strlen(host);
    const char *colon = memchr(host, ':', (size_t)(end - host));
    if (colon == host || end == host) {
        return -1;
    }
    s->host = xstrndup(host, (size_t)((colon ? colon : end) - host));
    s->port = colon ? xstrndup(colon + 1, (size_t)(end - colon - 1)) : xstrdup("80");
    s->path = xstrdup(slash ? slash : "/");
    return 0;
}

struct sms *sms_new(uv_loop_t *loop, const struct sms_config *cfg, char *err, size_t err_len)
{
    struct sms *s = xcalloc(1, sizeof *s);
    s->loop = loop;
    s->outbox = -1;
    s->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : 5000;
    s->attempts = cfg->attempts > 0 ? cfg->attempts : 3;
    if (cfg->outbox_path) {
        /* Opened once at start-up (before the loop serves); appends go through uv_fs_write. */
        s->outbox = open(cfg->outbox_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
        if (s->outbox < 0) {
            snprintf(err, err_len, "CLASSMENT_SMS_OUTBOX: cannot open %s", cfg->outbox_path);
            free(s);
            return NULL;
        }
    } else if (cfg->http_url) {
        if (parse_url(s, cfg->http_url) != 0) {
            snprintf(err, err_len, "CLASSMENT_SMS_URL: must be http://host[:port]/path");
            s->closing = true;
            maybe_finish(s);
            return NULL;
        }
        s->template_body = xstrdup(cfg->http_template ? cfg->http_template : DEFAULT_TEMPLATE);
        s->auth = cfg->http_auth ? xstrdup(cfg->http_auth) : NULL;
    }
    return s;
}

static void outbox_written(uv_fs_t *req)
{
    struct outbox_write *w = req->data;
    if (req->result < 0) {
        w->sms->stats.failed++;
        log_event(LOG_ERROR, "sms", "outbox write failed", "err=%s",
                  uv_strerror((int)req->result));
    } else {
        w->sms->stats.delivered++;
    }
    uv_fs_req_cleanup(req);
    struct sms *s = w->sms;
    free(w->line);
    free(w);
    s->pending_writes--;
    maybe_finish(s);
}

static void send_outbox(struct sms *s, const char *to, const char *text, const char *code)
{
    struct strbuf sb;
    strbuf_init(&sb);
    strbuf_append(&sb, "{\"to\":\"", 7);
    json_escape(&sb, to);
    strbuf_append(&sb, "\",\"text\":\"", 10);
    json_escape(&sb, text);
    strbuf_append(&sb, "\",\"code\":", 9);
    if (code) {
        strbuf_append(&sb, "\"", 1);
        json_escape(&sb, code);
        strbuf_append(&sb, "\"", 1);
    } else {
        strbuf_append(&sb, "null", 4);
    }
    strbuf_printf(&sb, ",\"at\":%llu}\n", (unsigned long long)op_now_ms());
    struct outbox_write *w = xcalloc(1, sizeof *w);
    w->sms = s;
    w->req.data = w;
    size_t len = sb.len;
    w->line = strbuf_release(&sb);
    uv_buf_t buf = uv_buf_init(w->line, (unsigned)len);
    int r = uv_fs_write(s->loop, &w->req, s->outbox, &buf, 1, -1, outbox_written);
    if (r < 0) {
        s->stats.failed++;
        free(w->line);
        free(w);
        return;
    }
    s->pending_writes++;
}

/* --- HTTP gateway --- */

static void attempt_start(struct sms_job *j);

static void job_unref(struct sms_job *j)
{
    if (--j->refs > 0) {
        return;
    }
    struct sms *s = j->sms;
    if (j->prev) {
        j->prev->next = j->next;
    } else {
        s->jobs = j->next;
    }
    if (j->next) {
        j->next->prev = j->prev;
    }
    free(j->request);
    free(j);
    maybe_finish(s);
}

static void job_handle_closed(uv_handle_t *h)
{
    job_unref(h->data);
}

static void job_free(struct sms_job *j)
{
    j->finished = true;
    uv_timer_stop(&j->timer);
    if (j->tcp_open) {
        j->tcp_open = false;
        uv_close((uv_handle_t *)&j->tcp, job_handle_closed);
    }
    uv_close((uv_handle_t *)&j->timer, job_handle_closed);
}

static void retry_timer(uv_timer_t *t)
{
    attempt_start(t->data);
}

static void tcp_closed_for_retry(uv_handle_t *h)
{
    struct sms_job *j = h->data;
    bool finished = j->finished;
    job_unref(j);
    if (finished) {
        return;
    }
    /* Back off 500 ms, 1 s, 2 s, … between attempts. */
    uv_timer_start(&j->timer, retry_timer, 500u << (j->attempt - 1), 0);
}

/* One attempt is over: deliver, retry or give up. */
static void attempt_done(struct sms_job *j, bool ok, const char *why)
{
    struct sms *s = j->sms;
    uv_timer_stop(&j->timer);
    j->attempt_over = true;
    if (j->resolving) {
        uv_cancel((uv_req_t *)&j->resolve);
    }
    if (ok) {
        s->stats.delivered++;
        job_free(j);
        return;
    }
    if (j->attempt >= s->attempts || s->closing) {
        s->stats.failed++;
        log_event(LOG_ERROR, "sms", "gateway delivery failed", "attempts=%d why=\"%s\"",
                  j->attempt, why);
        job_free(j);
        return;
    }
    s->stats.retries++;
    log_event(LOG_WARN, "sms", "gateway attempt failed, retrying", "attempt=%d why=\"%s\"",
              j->attempt, why);
    if (j->tcp_open) {
        j->tcp_open = false;
        uv_close((uv_handle_t *)&j->tcp, tcp_closed_for_retry);
    } else {
        uv_timer_start(&j->timer, retry_timer, 500u << (j->attempt - 1), 0);
    }
}

static void on_timeout(uv_timer_t *t)
{
    attempt_done(t->data, false, "timeout");
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    struct sms_job *j = h->data;
    (void)suggested;
    size_t room = RESPONSE_MAX - 1 - j->response_len;
    *buf = uv_buf_init(j->response + j->response_len, (unsigned)room);
}

static void on_read(uv_stream_t *stream, ssize_t n, const uv_buf_t *buf)
{
    struct sms_job *j = stream->data;
    (void)buf;
    if (n > 0) {
        j->response_len += (size_t)n;
        j->response[j->response_len] = '\0';
    }
    char *eol = strstr(j->response, "\r\n");
    if (eol || n < 0 || j->response_len >= RESPONSE_MAX - 1) {
        uv_read_stop(stream);
        int status = 0;
        bool ok = sscanf(j->response, "HTTP/1.%*d %d", &status) == 1 && status >= 200 &&
                  status < 300;
        char why[48];
        snprintf(why, sizeof why, "http status %d", status);
        attempt_done(j, ok, ok ? "" : why);
    }
}

static void on_written(uv_write_t *req, int status)
{
    struct sms_job *j = req->data;
    if (j->finished || !j->tcp_open) {
        return;
    }
    if (status < 0) {
        attempt_done(j, false, uv_strerror(status));
        return;
    }
    uv_read_start((uv_stream_t *)&j->tcp, on_alloc, on_read);
}

static void on_connected(uv_connect_t *req, int status)
{
    struct sms_job *j = req->data;
    if (j->finished || !j->tcp_open) {
        return;
    }
    if (status < 0) {
        attempt_done(j, false, uv_strerror(status));
        return;
    }
    uv_buf_t buf = uv_buf_init(j->request, (unsigned)j->request_len);
    j->write.data = j;
    uv_write(&j->write, (uv_stream_t *)&j->tcp, &buf, 1, on_written);
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct sms_job *j = req->data;
    j->resolving = false;
    if (status == UV_ECANCELED || j->finished || j->attempt_over) {
        uv_freeaddrinfo(res);
        job_unref(j);
        return;
    }
    job_unref(j);
    if (status < 0 || !res) {
        uv_freeaddrinfo(res);
        attempt_done(j, false, "cannot resolve gateway host");
        return;
    }
    uv_tcp_init(j->sms->loop, &j->tcp);
    j->tcp.data = j;
    j->tcp_open = true;
    j->refs++;
    j->connect.data = j;
    int r = uv_tcp_connect(&j->connect, &j->tcp, res->ai_addr, on_connected);
    uv_freeaddrinfo(res);
    if (r < 0) {
        attempt_done(j, false, uv_strerror(r));
    }
}

static void attempt_start(struct sms_job *j)
{
    j->attempt++;
    j->attempt_over = false;
    j->response_len = 0;
    j->response[0] = '\0';
    uv_timer_start(&j->timer, on_timeout, (uint64_t)j->sms->timeout_ms, 0);
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    j->resolve.data = j;
    int r = uv_getaddrinfo(j->sms->loop, &j->resolve, on_resolved, j->sms->host, j->sms->port,
                           &hints);
    if (r < 0) {
        attempt_done(j, false, uv_strerror(r));
        return;
    }
    j->resolving = true;
    j->refs++;
}

static void send_http(struct sms *s, const char *to, const char *text)
{
    struct strbuf body, req;
    strbuf_init(&body);
    for (const char *t = s->template_body; *t;) {
        if (strncmp(t, "{to}", 4) == 0) {
            json_escape(&body, to);
            t += 4;
        } else if (strncmp(t, "{text}", 6) == 0) {
            json_escape(&body, text);
            t += 6;
        } else {
            strbuf_append(&body, t++, 1);
        }
    }
    strbuf_init(&req);
    strbuf_printf(&req,
                  "POST %s HTTP/1.1\r\nHost: %s:%s\r\nContent-Type: application/json\r\n"
                  "Content-Length: %zu\r\nConnection: close\r\n",
                  s->path, s->host, s->port, body.len);
    if (s->auth) {
        strbuf_printf(&req, "Authorization: %s\r\n", s->auth);
    }
    strbuf_append(&req, "\r\n", 2);
    strbuf_append(&req, body.data, body.len);
    strbuf_deinit(&body);

    struct sms_job *j = xcalloc(1, sizeof *j);
    j->sms = s;
    j->request_len = req.len;
    j->request = strbuf_release(&req);
    j->refs = 1; /* the timer */
    uv_timer_init(s->loop, &j->timer);
    j->timer.data = j;
    j->next = s->jobs;
    if (s->jobs) {
        s->jobs->prev = j;
    }
    s->jobs = j;
    attempt_start(j);
}

int sms_send(struct sms *s, const char *to, const char *text, const char *code)
{
    if (s->outbox >= 0) {
        s->stats.accepted++;
        send_outbox(s, to, text, code);
        return 0;
    }
    if (s->host && !s->closing) {
        s->stats.accepted++;
        send_http(s, to, text);
        return 0;
    }
    s->stats.failed++;
    log_event(LOG_ERROR, "sms", "no SMS backend configured",
              "hint=\"set CLASSMENT_SMS_OUTBOX or CLASSMENT_SMS_URL\"");
    return SMS_E_NO_BACKEND;
}

void sms_get_stats(const struct sms *s, struct sms_stats *out)
{
    *out = s->stats;
}

void sms_close(struct sms *s, void (*done)(void *arg), void *arg)
{
    s->closing = true;
    s->done = done;
    s->done_arg = arg;
    for (struct sms_job *j = s->jobs; j; j = j->next) {
        if (!j->finished) {
            if (j->resolving) {
                uv_cancel((uv_req_t *)&j->resolve);
            }
            s->stats.failed++;
            job_free(j);
        }
    }
    maybe_finish(s);
}
