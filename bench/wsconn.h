/* A lean non-blocking WebSocket client connection on libuv, for load generation: connect,
 * upgrade with a subprotocol (checking Sec-WebSocket-Accept), read the server's frames,
 * answer its pings, and send small masked frames without a copy unless the socket is full.
 * Many of these share one loop; none of them blocks. */
#pragma once
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Largest payload wsconn_send frames without allocating (a 16-bit length); larger ones are
 * sent too, from a buffer allocated for the call. */
#define WSCONN_MAX_SEND 65535

enum {
    WSCONN_OP_BINARY = 0x2,
    WSCONN_OP_PONG = 0xa,
};

/* Where to connect; shared by every connection and borrowed for their whole life. */
struct wsconn_target {
    struct sockaddr_in addr;
    const char *host;       /* for the Host header */
    const char *path;
    const char *protocol;   /* the one subprotocol offered, and required in the answer */
    const struct sockaddr_in *source; /* the local address to connect from, or NULL: any */
};

struct wsconn;

/* Fills t for the server at url, ws://HOST:PORT/v1/ws (HOST an IPv4 address or localhost),
 * offering Classment's subprotocol; host keeps the Host header's text and must outlive t.
 * Returns 0, or -1 when url is not of that form. */
int wsconn_target_from_url(struct wsconn_target *t, const char *url, char host[64]);

/* What a load generator does first: raises its open-files limit to the hard limit (a
 * descriptor per connection) and ignores SIGPIPE (a write to a closed socket is an error). */
void wsconn_process_init(void);

/* Callbacks run on the loop, from inside wsconn's own callbacks. Any of them may call
 * wsconn_close on any connection, this one included. */
struct wsconn_handler {
    /* The upgrade succeeded. */
    void (*opened)(struct wsconn *c);
    /* One whole binary message; data is valid only during the call. now_ns (uv_hrtime) is
     * when the read that brought it completed. */
    void (*message)(struct wsconn *c, const uint8_t *data, size_t len, uint64_t now_ns);
    /* The connection failed or the server closed it (why says how); it is closed now. Not
     * called after wsconn_close. */
    void (*closed)(struct wsconn *c, const char *why);
};

enum wsconn_state {
    WSCONN_IDLE,            /* not started */
    WSCONN_CONNECTING,
    WSCONN_HANDSHAKE,       /* upgrade request sent */
    WSCONN_OPEN,
    WSCONN_CLOSED,
};

/* Embedded by the caller (an array of them is one allocation); fields with _ are private. */
struct wsconn {
    enum wsconn_state state;
    void *data;             /* the caller's */
    uv_tcp_t _tcp;
    uv_connect_t _connect_req;
    bool _handle_open;
    uint32_t _rng;
    const struct wsconn_target *_target;
    const struct wsconn_handler *_handler;
    char _key[32];          /* Sec-WebSocket-Key: base64 of 16 bytes */
    uint8_t *_pend;         /* bytes read but not yet parsed: a partial head or frame */
    size_t _pend_len, _pend_cap;
};

/* Starts connecting c (zeroed or closed) to t. Returns 0, after which exactly one of
 * opened/closed runs later (unless wsconn_close comes first); or a negative libuv error, and
 * no callback runs. t and h are borrowed until c is closed. */
int wsconn_start(struct wsconn *c, uv_loop_t *loop, const struct wsconn_target *t,
                 const struct wsconn_handler *h, void *data);

/* Sends one masked frame with FIN set. Does nothing unless c is open. On a write error the connection is closed and
 * h->closed runs before this returns. */
void wsconn_send(struct wsconn *c, int opcode, const uint8_t *payload, size_t len);

/* Stops reading c's socket for good (a client that never reads, as a stalled phone): the
 * server's frames pile up in the kernel. Sends still go out; a write error still closes c. */
void wsconn_stop_reading(struct wsconn *c);

/* Bytes of c's sends that the socket did not take yet (queued in c). */
size_t wsconn_queued(const struct wsconn *c);

/* Closes c without a close handshake; no callback runs for it afterwards. The memory of c
 * may go once the loop has run (uv_close). Idempotent. */
void wsconn_close(struct wsconn *c);

/* Frees what c holds after the loop has finished with it (wsconn_close and uv_run). */
void wsconn_deinit(struct wsconn *c);
