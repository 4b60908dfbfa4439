/* WebSocket message reassembly (see ws_reassembly.h). */
#include "gateway/ws_reassembly.h"

#include <stdlib.h>
#include <string.h>

#include "core/xalloc.h"

void ws_rx_reset(struct ws_rx *rx)
{
    free(rx->buf);
    rx->buf = NULL;
    rx->len = 0;
    rx->discarded = 0;
    rx->text = false;
    rx->too_large = false;
}

struct ws_rx_result ws_rx_feed(struct ws_rx *rx, const struct ws_rx_piece *p, size_t max,
                               size_t discard_max)
{
    struct ws_rx_result r = { .action = WS_RX_MORE };
    if (p->first) {
        ws_rx_reset(rx);
        rx->text = !p->binary;
    }
    bool last = p->final && p->remaining == 0;
    /* Judged on what the frame declares, before its bytes have all arrived: is
     * rx->len + p->len + p->remaining > max, written so that no sum can wrap (rx->len never
     * exceeds max; remaining comes from the client's 64-bit frame length). */
    if (!rx->text && !rx->too_large &&
        (p->len > max - rx->len || p->remaining > max - rx->len - p->len)) {
        rx->too_large = true;
        free(rx->buf);
        rx->buf = NULL;
        rx->len = 0;
        r.too_large = true;
    }
    if (rx->text || rx->too_large) {
        rx->discarded += p->len;
        if (rx->discarded > discard_max) {
            r.action = WS_RX_CLOSE;
            return r;
        }
        if (last) {
            if (rx->text) {
                r.action = WS_RX_TEXT;
            }
            ws_rx_reset(rx);
        }
        return r;
    }
    if (last && rx->len == 0) {
        r.action = WS_RX_MESSAGE;
        r.msg = p->data;
        r.msg_len = p->len;
        return r;
    }
    rx->buf = xrealloc(rx->buf, rx->len + p->len);
    memcpy(rx->buf + rx->len, p->data, p->len);
    rx->len += p->len;
    if (last) {
        r.action = WS_RX_MESSAGE;
        r.msg = rx->buf;
        r.msg_len = rx->len;
    }
    return r;
}
