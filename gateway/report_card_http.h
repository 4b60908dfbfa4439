/* GET /v1/report-cards/<token>.pdf: a report card from a signed link (academics/report_cards.h).
 * The link is checked at once (forged: 404, expired: 410); then the request is parked on the
 * HTTP session while the card's data is loaded and the PDF drawn on the thread pool (or taken
 * from the cache), and answered from the writable callback. Not for use outside gateway/. */
#pragma once
#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>

struct server;
struct report_card_req;

/* Starts answering for the rest of the path after REPORT_CARD_HTTP_PREFIX ("<token>.pdf").
 * Returns the parked request, or NULL with *status set for the caller to answer at once with
 * a short text: 404 (not a link, or forged), 410 (expired) or 503 (the database is down). */
struct report_card_req *report_card_http_start(struct server *srv, struct lws *wsi,
                                               const char *rest, unsigned *status);
/* True once the answer is ready; then *status, *body, *len and *filename (NULL unless 200)
 * are set, owned by req. */
bool report_card_http_ready(struct report_card_req *req, unsigned *status,
                            const unsigned char **body, size_t *len, const char **filename);
/* Frees a request whose answer was taken. */
void report_card_http_free(struct report_card_req *req);
/* The client went away before the answer: the request is freed when the fetch ends (or now,
 * if it already has). */
void report_card_http_detach(struct report_card_req *req);
