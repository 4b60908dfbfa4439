/* A report card over HTTP (see report_card_http.h). */
#include "gateway/report_card_http.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "academics/report_cards.h"
#include "core/xalloc.h"
#include "gateway/server_internal.h"

struct report_card_req {
    struct lws *wsi; /* NULL once the client went away */
    struct report_card_fetch *fetch;
    bool done;
    unsigned status;
    const unsigned char *body; /* owned by fetch */
    size_t len;
    const char *filename;
};

static void on_fetched(void *arg, struct report_card_fetch *f, unsigned status,
                       const unsigned char *body, size_t len, const char *filename)
{
    struct report_card_req *r = arg;
    r->fetch = f;
    if (!r->wsi) {
        report_card_fetch_free(f);
        free(r);
        return;
    }
    r->done = true;
    r->status = status;
    r->body = body;
    r->len = len;
    r->filename = filename;
    lws_callback_on_writable(r->wsi);
}

struct report_card_req *report_card_http_start(struct server *srv, struct lws *wsi,
                                               const char *rest, unsigned *status)
{
    *status = HTTP_STATUS_NOT_FOUND;
    size_t n = strlen(rest);
    if (n != REPORT_CARD_TOKEN_CHARS + 4 || strcmp(rest + REPORT_CARD_TOKEN_CHARS, ".pdf") != 0) {
        return NULL;
    }
    struct report_card_link link;
    int c = report_card_link_check(srv->env->keys, rest, REPORT_CARD_TOKEN_CHARS,
                                   (int64_t)time(NULL), &link);
    if (c != RC_LINK_OK) {
        *status = c == RC_LINK_EXPIRED ? HTTP_STATUS_GONE : HTTP_STATUS_NOT_FOUND;
        return NULL;
    }
    struct report_card_req *r = xcalloc(1, sizeof *r);
    r->wsi = wsi;
    r->fetch = report_card_fetch_start(srv->env, &link, on_fetched, r);
    if (!r->fetch) {
        free(r);
        *status = HTTP_STATUS_SERVICE_UNAVAILABLE;
        return NULL;
    }
    return r;
}

bool report_card_http_ready(struct report_card_req *req, unsigned *status,
                            const unsigned char **body, size_t *len, const char **filename)
{
    if (!req->done) {
        return false;
    }
    *status = req->status;
    *body = req->body;
    *len = req->len;
    *filename = req->filename;
    return true;
}

void report_card_http_free(struct report_card_req *req)
{
    if (req) {
        report_card_fetch_free(req->fetch);
        free(req);
    }
}

void report_card_http_detach(struct report_card_req *req)
{
    if (req->done) {
        report_card_http_free(req);
    } else {
        req->wsi = NULL;
    }
}
