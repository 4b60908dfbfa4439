/* What the load generators read of a message from the server: the envelope's id, ok and ev,
 * a refusal's error.code, and the few fields of data they need. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bench_reply {
    bool has_id, ok;    /* a reply to a request, and whether it succeeded */
    char ev[32];        /* an event's name ("trip.pos", "error", …); "" for a reply */
    char code[32];      /* error.code of a refusal or an error event */
    double ts;          /* data.ts (a trip.pos event's send time, ms), 0 when absent */
    long long created;  /* data.created (student.import), -1 when absent */
    char url[160];      /* data.url (report_card.get) */
};

/* Reads data (one whole message) into r; a message that is not a msgpack map leaves r empty
 * (no id, not ok, no event). Longer strings are cut to the fields' sizes. */
void bench_reply_read(const uint8_t *data, size_t len, struct bench_reply *r);
