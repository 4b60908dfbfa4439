/* A reference-counted outgoing message: one encoded msgpack payload with headroom in front for
 * the WebSocket frame header, shared by every recipient (one ref per queue it sits in). */
#pragma once
#include <msgpack.h>
#include <stddef.h>

/* Bytes reserved before the payload. libwebsockets needs LWS_PRE (16 on x86_64); the gateway
 * checks at compile time that this is enough. */
#define MSGBUF_HEADROOM 16

struct msgbuf {
    int refs;
    size_t len;  /* payload bytes */
    size_t cap;  /* payload capacity */
    unsigned char *mem; /* MSGBUF_HEADROOM + cap bytes, writable */
};

/* A new message with one reference, held by the caller. */
struct msgbuf *msgbuf_new(size_t size_hint);
struct msgbuf *msgbuf_ref(struct msgbuf *m);
/* Drops one reference; frees at zero. NULL is ignored. */
void msgbuf_unref(struct msgbuf *m);
/* The payload; the frame header may be written into the MSGBUF_HEADROOM bytes before it. */
unsigned char *msgbuf_data(struct msgbuf *m);
/* Appends bytes (grows as needed). */
void msgbuf_append(struct msgbuf *m, const void *data, size_t len);
/* Initialises pk to append to m. */
void msgbuf_packer_init(struct msgbuf *m, msgpack_packer *pk);
