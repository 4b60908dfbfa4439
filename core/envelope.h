/* The socket API's envelope (PROTOCOL.md): decoding one request frame safely, and encoding
 * replies, failures and events into shared outgoing messages. Wire error codes live here. */
#pragma once
#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/msgbuf.h"

/* One value per protocol error code; op_err_code() gives the wire string. */
enum op_err {
    OP_OK = 0,
    OP_E_BAD_REQUEST,
    OP_E_UNKNOWN_OP,
    OP_E_UNAUTHENTICATED,
    OP_E_FORBIDDEN,
    OP_E_NOT_FOUND,
    OP_E_CONFLICT,
    OP_E_RATE_LIMITED,
    OP_E_TOO_LARGE,
    OP_E_UNAVAILABLE,
    OP_E_INTERNAL,
    OP_E__COUNT
};

/* "bad_request", …; "ok" for OP_OK; "internal" for anything out of range. */
const char *op_err_code(int err);

/* Deepest nesting a request may have; deeper frames are refused before unpacking. */
#define ENVELOPE_MAX_DEPTH 16

/* A decoded request. Pointers point into the frame and the unpacked zone: they stay valid
 * until envelope_request_deinit, and the frame must outlive them. */
struct envelope_request {
    bool has_id;
    uint64_t id;
    const char *op;   /* not NUL-terminated */
    size_t op_len;
    const msgpack_object *args; /* a map; NULL when absent */
    msgpack_unpacked unpacked;
};

/* Why a frame could not become a request. When has_id is set the failure can be answered
 * as a reply to id; otherwise it becomes an error event. op is set when it could be read. */
struct envelope_error {
    enum op_err code;
    const char *message; /* static string */
    const char *field;   /* static string or NULL */
};

/* Checks that data holds exactly one msgpack value, nested at most max_depth deep, whose
 * containers declare no more elements than bytes remain. Runs before msgpack-c ever allocates,
 * because msgpack-c sizes containers from their declared counts (a 5-byte frame can ask for
 * gigabytes). Returns 0, or OP_E_BAD_REQUEST with *why set. */
int envelope_prescan(const unsigned char *data, size_t len, int max_depth, const char **why);

/* Decodes a frame into req (initialised by this call; always call envelope_request_deinit).
 * Returns 0, or an OP_E_* with err filled; req->has_id/id/op are set as far as they could
 * be read, so the caller can choose between a reply and an error event. */
int envelope_decode(struct envelope_request *req, const unsigned char *data, size_t len,
                    struct envelope_error *err);
void envelope_request_deinit(struct envelope_request *req);

/* Writers. A begin call packs the envelope up to the point where the caller packs exactly one
 * value (the data) with pk; envelope_finish returns the message with one reference for the
 * caller. */
struct envelope_writer {
    struct msgbuf *msg;
    msgpack_packer pk;
};

void envelope_begin_reply(struct envelope_writer *w, uint64_t id);
void envelope_begin_event(struct envelope_writer *w, const char *ev);
struct msgbuf *envelope_finish(struct envelope_writer *w);

/* {id, ok:false, error:{code, message, field?}} */
struct msgbuf *envelope_failure(uint64_t id, enum op_err code, const char *message,
                                const char *field);
/* The same with error.retry_after_s (seconds, rounded up) for rate_limited. */
struct msgbuf *envelope_failure_retry(uint64_t id, const char *message, double retry_after_s);
/* {ev:"error", data:{op?, code, message, field?}}; op and field may be NULL. */
struct msgbuf *envelope_error_event(const char *op, size_t op_len, enum op_err code,
                                    const char *message, const char *field);

/* Packs a NUL-terminated string. */
void envelope_pack_str(msgpack_packer *pk, const char *s);
/* Packs true or false. */
void envelope_pack_bool(msgpack_packer *pk, bool v);
/* Packs "key" followed by nothing: the caller packs the value next. */
void envelope_pack_key(msgpack_packer *pk, const char *key);
