/* The school's records: parents' notices: what they were told live, kept for when they were
 * offline. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/op.h"

#include <msgpack.h>

struct msgbuf;
struct presence;

extern const struct op_def notice_ops[];

/* Read notices are kept this many days after reading; any notice at most twice that. */
#define NOTICE_RETENTION_DAYS 180

struct retention;
/* Registers the purge of old notices (purge_notices, sql/0009). Returns like retention_add. */
int notices_register_purge(struct retention *r, int days);

/* Events for users' live connections, gathered while an op reads its rows and sent after its
 * reply (which frees the op): the notice's live half. Each message is shared by every
 * connection of every user it was added for. */
struct notices_outbox {
    struct presence *presence; /* NULL: nothing is sent (the messages are dropped) */
    struct notices_send *items;
    size_t n, cap;
};

void notices_outbox_init(struct notices_outbox *o, struct presence *presence);
/* Queues m (msgbuf_ref is taken) for user's connections. */
void notices_outbox_add(struct notices_outbox *o, int64_t user, struct msgbuf *m);
/* Sends everything queued to the users' connections online now, then frees the outbox. */
void notices_outbox_send(struct notices_outbox *o);

/* Packs a notice's payload, jsonb text (len bytes), as one msgpack value (objects as maps,
 * integers as integers); malformed or empty text packs nil. Event data built in SQL as jsonb
 * (homework.assigned) goes out the same way as notice.list's `data`. */
void notices_pack_json(msgpack_packer *pk, const char *json, size_t len);
