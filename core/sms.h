/* SMS delivery behind one interface, on the loop: an outbox file of JSON lines for development
 * and tests, or an HTTP gateway (POST of a configured JSON template) with a timeout and
 * retries. Failures are logged (never with the number or the text) and counted; callers only
 * learn that a send was accepted. */
#pragma once
#include <stdint.h>
#include <uv.h>

struct sms_config {
    const char *outbox_path;   /* append JSON lines here instead of sending (wins if set) */
    const char *http_url;      /* http://host:port/path of the gateway */
    const char *http_template; /* JSON body with {to} and {text}; NULL for the default */
    const char *http_auth;     /* Authorization header value, or NULL */
    int timeout_ms;            /* per attempt; 0 means 5000 */
    int attempts;              /* 0 means 3 */
};

struct sms_stats {
    uint64_t accepted;  /* sends handed to a backend */
    uint64_t delivered; /* written to the outbox or answered 2xx by the gateway */
    uint64_t failed;    /* given up after the last attempt, or no backend */
    uint64_t retries;
};

struct sms;

enum {
    SMS_E_NO_BACKEND = 1, /* neither an outbox nor a gateway is configured */
};

/* Returns NULL with a reason in err when the URL or outbox cannot be used. */
struct sms *sms_new(uv_loop_t *loop, const struct sms_config *cfg, char *err, size_t err_len);
/* Queues one message. to and text are copied; code is written to the outbox only (so tests and
 * developers can read it) and may be NULL. Returns 0 or SMS_E_NO_BACKEND. */
int sms_send(struct sms *s, const char *to, const char *text, const char *code);
void sms_get_stats(const struct sms *s, struct sms_stats *out);
/* Abandons sends still in progress, closes handles, frees s, then runs done on the loop. */
void sms_close(struct sms *s, void (*done)(void *arg), void *arg);
