/* A small blocking WebSocket client (RFC 6455) over a plain TCP socket, for integration tests.
 * It can also send what a real client never would: raw bytes, lying frame headers, fragments.
 * Every call that waits takes or uses a timeout, so a test never hangs. */
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    WSCLIENT_OP_CONT = 0x0,
    WSCLIENT_OP_TEXT = 0x1,
    WSCLIENT_OP_BINARY = 0x2,
    WSCLIENT_OP_CLOSE = 0x8,
    WSCLIENT_OP_PING = 0x9,
    WSCLIENT_OP_PONG = 0xa,
};

/* Close code reported when a close frame carries no code (RFC 6455 7.4.1). */
#define WSCLIENT_CLOSE_NO_CODE 1005

/* Timeout for sends and for the handshake of wsclient_new, in milliseconds. */
#define WSCLIENT_IO_TIMEOUT_MS 5000

struct wsclient;

/* One received message: a whole (reassembled) text or binary message, or a close frame. */
struct wsclient_msg {
    int opcode;              /* WSCLIENT_OP_TEXT, _BINARY or _CLOSE */
    uint8_t *data;           /* payload, owned by the message; NUL-terminated for convenience */
    size_t len;
    int close_code;          /* CLOSE only: the code, or WSCLIENT_CLOSE_NO_CODE */
    char close_reason[124];  /* CLOSE only: the reason, NUL-terminated */
};

/* Connects to 127.0.0.1:port and upgrades at path, offering protocol (NULL offers none).
 * Returns 0 with *out set; the HTTP status (> 0) when the server answered with anything but
 * 101; or a negative errno: -ETIMEDOUT, -ECONNREFUSED, -ECONNRESET (closed without an
 * answer), -EPROTO (101 with a wrong Sec-WebSocket-Accept or subprotocol). */
int wsclient_connect(struct wsclient **out, int port, const char *path, const char *protocol,
                     int timeout_ms);

/* wsclient_connect to /v1/ws with classment.v1; NULL (after printing why) on any failure. */
struct wsclient *wsclient_new(int port);

/* Closes the socket without a close handshake and frees c. wsclient_free(NULL) does nothing. */
void wsclient_free(struct wsclient *c);

/* The socket, for poll(). Data may already be buffered: see wsclient_has_buffered. */
int wsclient_fd(const struct wsclient *c);
bool wsclient_has_buffered(const struct wsclient *c);

/* Sends one complete, masked frame. Returns 0 or a negative errno (-EPIPE, -ETIMEDOUT...). */
int wsclient_send(struct wsclient *c, int opcode, const void *data, size_t len);

/* Writes a client frame's header announcing len payload bytes (masked with mask) into out (14
 * bytes at most); returns its length. For tests that stream a payload themselves. */
size_t wsclient_put_header(uint8_t *out, bool fin, int opcode, const uint8_t mask[4],
                           uint64_t len);
/* Writes a whole client frame, payload masked with mask, into out (len + 14 bytes at most);
 * returns its length. For tests that send many frames in one write. */
size_t wsclient_put_frame(uint8_t *out, bool fin, int opcode, const uint8_t mask[4],
                          const void *data, size_t len);

/* Sends one masked frame with the FIN bit as given (opcode WSCLIENT_OP_CONT for the middle
 * and last fragments). Returns 0 or a negative errno. */
int wsclient_send_frame(struct wsclient *c, bool fin, int opcode, const void *data, size_t len);

/* Sends data as one message split into n_fragments frames (the first with opcode, the rest as
 * continuations). Returns 0 or a negative errno. */
int wsclient_send_fragmented(struct wsclient *c, int opcode, const void *data, size_t len,
                             int n_fragments);

/* Writes bytes to the socket as they are. Returns 0 or a negative errno. */
int wsclient_send_raw(struct wsclient *c, const void *data, size_t len);

/* Waits up to timeout_ms for the next message. Pings are answered with pongs and pongs are
 * skipped; fragments are reassembled; a close frame is returned (and answered once).
 * Returns 0 with m filled (release with wsclient_msg_deinit), or -ETIMEDOUT, -ECONNRESET (the
 * connection ended without a close frame), -EPROTO (a frame the client cannot accept). */
int wsclient_recv(struct wsclient *c, struct wsclient_msg *m, int timeout_ms);
void wsclient_msg_deinit(struct wsclient_msg *m);

/* Sends a close frame with code (and no reason) and waits up to timeout_ms for the server's
 * close frame or the end of the connection, discarding messages meanwhile. Returns 0 or
 * -ETIMEDOUT. Does not free c. */
int wsclient_close(struct wsclient *c, int code, int timeout_ms);
