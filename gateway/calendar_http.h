/* GET /v1/calendar/<token>.ics, answered after an asynchronous database query: the request
 * is parked on the HTTP session while the query runs on the loop, and answered from the
 * writable callback once the rows are in. Not for use outside gateway/. */
#pragma once
#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

struct server;
struct calendar_req;

/* The path prefix this module serves. */
#define CALENDAR_HTTP_PREFIX "/v1/calendar/"

/* Starts answering for the rest of the path after the prefix ("<token>.ics"). Returns the
 * parked request, or NULL when the path cannot be a calendar (the caller answers 404 at once)
 * or the database is down (*unavailable set: the caller answers 503). */
struct calendar_req *calendar_http_start(struct server *srv, struct lws *wsi, const char *rest,
                                         bool *unavailable);
/* True once the answer is ready; then *status, *body (owned by req) and *len are set. */
bool calendar_http_ready(struct calendar_req *req, unsigned *status, const char **body,
                         size_t *len);
/* Frees a request whose answer was taken. */
void calendar_http_free(struct calendar_req *req);
/* The client went away before the answer: the request is freed when the query ends (or now,
 * if it already has). */
void calendar_http_detach(struct calendar_req *req);
