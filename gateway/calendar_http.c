/* The calendar export over HTTP (see calendar_http.h). The token is hashed like a session
 * token and looked up with one query (academics/calendar.h); an unknown, revoked or malformed
 * token is 404. */
#include "gateway/calendar_http.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "academics/calendar.h"
#include "core/crypto.h"
#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/log.h"
#include "core/strbuf.h"
#include "core/xalloc.h"
#include "gateway/server_internal.h"

struct calendar_req {
    struct lws *wsi; /* NULL once the client went away */
    bool done;
    unsigned status;
    char *body;
    size_t len;
};

static void set_answer(struct calendar_req *r, unsigned status, const char *text)
{
    r->status = status;
    r->body = xstrdup(text);
    r->len = strlen(text);
}

static void on_rows(void *arg, int status, const PGresult *res)
{
    struct calendar_req *r = arg;
    if (!r->wsi) {
        free(r);
        return;
    }
    r->done = true;
    struct strbuf sb;
    strbuf_init(&sb);
    if (status == DBPOOL_OK && calendar_render(res, &sb)) {
        r->status = HTTP_STATUS_OK;
        r->len = sb.len;
        r->body = strbuf_release(&sb);
    } else if (status == DBPOOL_OK) {
        set_answer(r, HTTP_STATUS_NOT_FOUND, "not found\n");
    } else if (status == DBPOOL_E_QUERY) {
        log_event(LOG_ERROR, "calendar", "query failed", "sqlstate=%s",
                  dbpool_sqlstate(status, res));
        set_answer(r, HTTP_STATUS_INTERNAL_SERVER_ERROR, "internal error\n");
    } else {
        set_answer(r, HTTP_STATUS_SERVICE_UNAVAILABLE, "unavailable\n");
    }
    strbuf_deinit(&sb);
    lws_callback_on_writable(r->wsi);
}

/* A token is CRYPTO_TOKEN_CHARS base64url characters. */
static bool token_of(const char *rest, char token[CRYPTO_TOKEN_CHARS + 1])
{
    size_t n = strlen(rest);
    if (n != CRYPTO_TOKEN_CHARS + 4 || strcmp(rest + CRYPTO_TOKEN_CHARS, ".ics") != 0) {
        return false;
    }
    for (size_t i = 0; i < CRYPTO_TOKEN_CHARS; i++) {
        char c = rest[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_')) {
            return false;
        }
    }
    memcpy(token, rest, CRYPTO_TOKEN_CHARS);
    token[CRYPTO_TOKEN_CHARS] = '\0';
    return true;
}

struct calendar_req *calendar_http_start(struct server *srv, struct lws *wsi, const char *rest,
                                         bool *unavailable)
{
    *unavailable = false;
    char token[CRYPTO_TOKEN_CHARS + 1];
    if (!token_of(rest, token)) {
        return NULL;
    }
    unsigned char hash[CRYPTO_HASH_BYTES];
    char hex[2 * CRYPTO_HASH_BYTES + 3];
    crypto_token_hash(token, strlen(token), hash);
    dbval_bytea(hash, sizeof hash, hex);
    sodium_memzero(token, sizeof token);
    sodium_memzero(hash, sizeof hash);
    struct calendar_req *r = xcalloc(1, sizeof *r);
    r->wsi = wsi;
    const char *params[] = { hex };
    if (dbpool_query(srv->env->db, calendar_ics_sql, 1, params, on_rows, r) != DBPOOL_OK) {
        free(r);
        *unavailable = true;
        return NULL;
    }
    return r;
}

bool calendar_http_ready(struct calendar_req *req, unsigned *status, const char **body,
                         size_t *len)
{
    if (!req->done) {
        return false;
    }
    *status = req->status;
    *body = req->body;
    *len = req->len;
    return true;
}

void calendar_http_free(struct calendar_req *req)
{
    if (req) {
        free(req->body);
        free(req);
    }
}

void calendar_http_detach(struct calendar_req *req)
{
    if (req->done) {
        calendar_http_free(req);
    } else {
        req->wsi = NULL;
    }
}
