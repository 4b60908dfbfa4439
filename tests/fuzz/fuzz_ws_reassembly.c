/* libFuzzer target: WebSocket message reassembly (gateway/ws_reassembly.c, the part of ws.c's
 * on_receive that lws does not do), driven by any sequence of pieces, consistent or not with
 * what lws would hand over, and compared with a plain model of the rules: a binary message is
 * the concatenation of its pieces and reaches the router only when it fits the limit (judged
 * on the bytes announced as well as those received); a text message or a message over the
 * limit is refused once and its bytes thrown away, up to discard_max, past which the
 * connection closes. The held buffer never exceeds the limit.
 *
 * Input: one byte choosing the limit (1 KiB to 128 KiB) and discard_max, then pieces of
 *   [flags: 1 first, 2 binary, 4 final, 8 huge remaining][u16 len][u32 remaining][bytes]
 * (little-endian; len is cut to the bytes left). */
#include <stdint.h>
#include <string.h>

#include "gateway/ws_reassembly.h"
#include "tests/fuzz/fuzz.h"

/* The model: the same rules, with sums that cannot wrap. */
struct model {
    unsigned char *buf;
    size_t len;
    unsigned __int128 discarded;
    bool text, too_large;
};

static void model_reset(struct model *m)
{
    free(m->buf);
    *m = (struct model){ 0 };
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) {
        return 0;
    }
    size_t max = (size_t)1024 << (data[0] & 7);
    size_t discard_max = max * (size_t)(1 + (data[0] >> 3 & 3));
    size_t off = 1;
    struct ws_rx rx = { 0 };
    struct model m = { 0 };
    while (size - off >= 7) {
        uint8_t flags = data[off];
        size_t len = (size_t)data[off + 1] | (size_t)data[off + 2] << 8;
        uint64_t remaining = (uint64_t)data[off + 3] | (uint64_t)data[off + 4] << 8 |
                             (uint64_t)data[off + 5] << 16 | (uint64_t)data[off + 6] << 24;
        if (flags & 8) {
            remaining = UINT64_MAX - remaining; /* frame lengths near 2^64 */
        }
        off += 7;
        if (len > size - off) {
            len = size - off;
        }
        struct ws_rx_piece p = { .data = data + off, .len = len, .first = flags & 1,
                                 .binary = flags & 2, .final = flags & 4,
                                 .remaining = (size_t)remaining };
        off += len;

        /* what the model expects */
        if (p.first) {
            model_reset(&m);
            m.text = !p.binary;
        }
        bool last = p.final && p.remaining == 0;
        bool want_too_large = false;
        enum ws_rx_action want = WS_RX_MORE;
        if (!m.text && !m.too_large &&
            (unsigned __int128)m.len + p.len + p.remaining > (unsigned __int128)max) {
            m.too_large = want_too_large = true;
            free(m.buf);
            m.buf = NULL;
            m.len = 0;
        }
        if (m.text || m.too_large) {
            m.discarded += p.len;
            if (m.discarded > discard_max) {
                want = WS_RX_CLOSE;
            } else if (last) {
                want = m.text ? WS_RX_TEXT : WS_RX_MORE;
                model_reset(&m);
            }
        } else {
            m.buf = realloc(m.buf, m.len + p.len + 1);
            FUZZ_ASSERT(m.buf);
            memcpy(m.buf + m.len, p.data, p.len);
            m.len += p.len;
            if (last) {
                want = WS_RX_MESSAGE;
            }
        }

        struct ws_rx_result r = ws_rx_feed(&rx, &p, max, discard_max);
        FUZZ_ASSERT(r.too_large == want_too_large);
        FUZZ_ASSERT(r.action == want);
        FUZZ_ASSERT(rx.len <= max);
        if (r.action == WS_RX_MESSAGE) {
            FUZZ_ASSERT(r.msg_len == m.len && r.msg_len <= max);
            FUZZ_ASSERT(r.msg_len == 0 || memcmp(r.msg, m.buf, m.len) == 0);
            /* the router reads it here (ws.c's dispatch), then it is let go */
            if (r.msg_len) {
                volatile unsigned char sink = r.msg[0] ^ r.msg[r.msg_len - 1];
                (void)sink;
            }
            ws_rx_reset(&rx);
            model_reset(&m);
        } else if (r.action == WS_RX_CLOSE) {
            /* the connection ends; the next piece belongs to a new one */
            ws_rx_reset(&rx);
            model_reset(&m);
        } else {
            FUZZ_ASSERT(rx.len == m.len && rx.text == m.text && rx.too_large == m.too_large);
        }
    }
    ws_rx_reset(&rx); /* LWS_CALLBACK_CLOSED */
    model_reset(&m);
    return 0;
}
