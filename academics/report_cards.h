/* The school's records: report cards. The class teacher's remarks (report_card.remark), an
 * admin's publication of a term's cards (report_card.publish: parents told live and in
 * their notices), short-lived signed links to a card (report_card.get), and what serves the
 * link over HTTP: the card's data loaded from the database, the PDF drawn on the libuv thread
 * pool (at most REPORT_CARDS_MAX_RENDERS at once, the others waiting in order) or taken from
 * the cache (sql/0011: a sealed copy and a fingerprint of its inputs). */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/op.h"
#include "core/strbuf.h"

struct crypto_keys;
struct report_card;

extern const struct op_def report_card_ops[];

/* Renders in flight on the thread pool at once (2 cores); the others wait in order. */
#define REPORT_CARDS_MAX_RENDERS 2
/* How long a link from report_card.get works. */
#define REPORT_CARD_LINK_TTL_S 600
/* Longest remark, in bytes. */
#define REPORT_CARD_REMARKS_MAX 2000
/* The path prefix of a link. */
#define REPORT_CARD_HTTP_PREFIX "/v1/report-cards/"

/* --- Signed links ---
 * A token is base64url (no padding) of: student, term, expiry (unix seconds), school (each 8
 * bytes, big-endian), the key version (2 bytes), then crypto_auth (HMAC-SHA-512-256) of
 * those 34 bytes under a key derived (crypto_kdf) from that version's keys, never the master
 * key itself. */
#define REPORT_CARD_TOKEN_CHARS 88

struct report_card_link {
    int64_t student, term, school, expires; /* expires: unix seconds */
};

enum { RC_LINK_OK = 0, RC_LINK_FORGED = 1, RC_LINK_EXPIRED = 2 };

/* Signs link with the current key into out (NUL-terminated). */
void report_card_link_sign(const struct crypto_keys *keys, const struct report_card_link *link,
                           char out[REPORT_CARD_TOKEN_CHARS + 1]);
/* Checks a token of len characters at now (unix seconds): RC_LINK_OK with *link set,
 * RC_LINK_FORGED (malformed, unknown key, bad MAC) or RC_LINK_EXPIRED (authentic but old). */
int report_card_link_check(const struct crypto_keys *keys, const char *token, size_t len,
                           int64_t now, struct report_card_link *link);

/* --- The render queue --- */

/* Told on the loop when a render ends: r is 0 with pdf (the callee's to free) and len, or a
 * negative errno. */
typedef void report_cards_rendered_fn(void *arg, int r, unsigned char *pdf, size_t len);

/* Queues rc (borrowed: it must stay valid until cb runs) for rendering on loop's thread pool.
 * cb runs exactly once, on the loop. Returns 0, or a negative errno (cb will not run). */
int report_cards_render(uv_loop_t *loop, const struct report_card *rc,
                        report_cards_rendered_fn *cb, void *arg);

/* --- A card over HTTP --- */

struct op_env;
struct report_card_fetch;

/* Told once, on the loop, when a fetch ends: status 200 (body is the PDF, filename its
 * ASCII-safe name), 404 (no such card), 500 or 503 (body a short text). body and filename are
 * owned by the fetch and valid until report_card_fetch_free. */
typedef void report_card_fetch_fn(void *arg, struct report_card_fetch *f, unsigned status,
                                  const unsigned char *body, size_t len, const char *filename);

/* Starts fetching the card of link (checked already): loads its data, serves the cached PDF
 * when its fingerprint matches, else renders and caches it. Returns the fetch, or NULL when
 * the database is down (cb will not run). */
struct report_card_fetch *report_card_fetch_start(const struct op_env *env,
                                                  const struct report_card_link *link,
                                                  report_card_fetch_fn *cb, void *arg);
void report_card_fetch_free(struct report_card_fetch *f);

/* /metrics: renders, cache hits, renders in flight and waiting. */
void report_cards_render_metrics(struct strbuf *out);
