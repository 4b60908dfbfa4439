/* libFuzzer target: the envelope decoder (core/envelope.c) on arbitrary bytes, as the router
 * meets a frame: envelope_prescan with the server's depth limit, then envelope_decode, then
 * the answer the router would build from what was read (a failure reply or an error event
 * naming the op read from the frame), which must itself be a well-formed message. Frames
 * longer than the configured max_message_bytes never reach the decoder and are skipped. */
#include <string.h>

#include "core/envelope.h"
#include "core/msgbuf.h"
#include "tests/fuzz/fuzz.h"

/* An outgoing message must pass the server's own check for incoming ones. */
static void check_message(struct msgbuf *m)
{
    const char *why = NULL;
    FUZZ_ASSERT(envelope_prescan(msgbuf_data(m), m->len, ENVELOPE_MAX_DEPTH, &why) == 0);
    msgbuf_unref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > fuzz_config()->max_message_bytes) {
        return 0;
    }
    const char *why = NULL;
    int pre = envelope_prescan(data, size, ENVELOPE_MAX_DEPTH, &why);
    FUZZ_ASSERT(pre == 0 || (pre == OP_E_BAD_REQUEST && why));

    struct envelope_request req;
    struct envelope_error err = { 0 };
    int rc = envelope_decode(&req, data, size, &err);
    if (pre != 0) {
        FUZZ_ASSERT(rc == OP_E_BAD_REQUEST);
    }
    if (rc == 0) {
        FUZZ_ASSERT(req.op && req.op_len > 0 && req.op_len <= 64);
        FUZZ_ASSERT(!memchr(req.op, '\0', req.op_len));
        FUZZ_ASSERT(!req.args || req.args->type == MSGPACK_OBJECT_MAP);
        /* the op name lies inside the frame (it is read without a copy) */
        FUZZ_ASSERT((const uint8_t *)req.op >= data &&
                    (const uint8_t *)req.op + req.op_len <= data + size);
    } else {
        FUZZ_ASSERT(rc > OP_OK && rc < OP_E__COUNT && (int)err.code == rc && err.message);
        FUZZ_ASSERT(!req.op || (req.op_len > 0 && req.op_len <= 64));
        if (req.has_id) {
            check_message(envelope_failure(req.id, err.code, err.message, err.field));
        } else {
            check_message(envelope_error_event(req.op, req.op_len, err.code, err.message,
                                               err.field));
        }
    }
    envelope_request_deinit(&req);
    return 0;
}
