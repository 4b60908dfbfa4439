/* Reassembly of one WebSocket connection's incoming messages (ws.c's on_receive), kept apart
 * from lws so that it can be tested and fuzzed alone (tests/fuzz/fuzz_ws_reassembly.c): lws
 * hands a message over in pieces (4 KiB reads, and the client's own fragments); a message
 * that comes whole is passed on from lws's buffer without a copy, the others are copied
 * together up to the size limit. A text message, or a binary one over the limit, is read and
 * thrown away (up to a bound, past which the connection should be closed). */
#pragma once
#include <stdbool.h>
#include <stddef.h>

/* Embedded in the session; a zeroed struct is an empty one. */
struct ws_rx {
    unsigned char *buf;  /* the pieces of the current message so far */
    size_t len;
    size_t discarded;    /* bytes of a refused (text or too large) message thrown away */
    bool text;
    bool too_large;
};

/* One piece, as lws describes it. */
struct ws_rx_piece {
    const unsigned char *data;
    size_t len;
    bool first;       /* lws_is_first_fragment: a new message starts with this piece */
    bool binary;      /* lws_frame_is_binary (read when first) */
    bool final;       /* lws_is_final_fragment */
    size_t remaining; /* lws_remaining_packet_payload: bytes of this frame still to come */
};

enum ws_rx_action {
    WS_RX_MORE,      /* nothing to do: wait for more pieces */
    WS_RX_MESSAGE,   /* a whole binary message: msg, msg_len; call ws_rx_reset after use */
    WS_RX_TEXT,      /* a text message ended (it was thrown away): refuse it */
    WS_RX_CLOSE,     /* more than discard_max bytes of a refused message: close (1009) */
};

struct ws_rx_result {
    /* The message just went over the limit: refuse it (once), before acting on action. */
    bool too_large;
    enum ws_rx_action action;
    const unsigned char *msg; /* WS_RX_MESSAGE: lws's buffer or rx's own */
    size_t msg_len;
};

/* Takes one piece of a connection's input; max is the largest message accepted
 * (max_message_bytes), discard_max the bytes of a refused message read before closing. */
struct ws_rx_result ws_rx_feed(struct ws_rx *rx, const struct ws_rx_piece *p, size_t max,
                               size_t discard_max);

/* Frees the message held, if any; rx is empty again. */
void ws_rx_reset(struct ws_rx *rx);
