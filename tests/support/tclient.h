/* The Classment protocol on top of the test WebSocket client: open a connection and take its
 * hello, send requests built with tmsg_build's format, wait for a given reply or a close. */
#pragma once
#include <stdbool.h>
#include <stdint.h>

#include "tests/support/tmsg.h"
#include "tests/support/wsclient.h"

/* How long the helpers below wait for an answer by default, in milliseconds. */
#define TCLIENT_TIMEOUT_MS 5000

/* Connects to /v1/ws with classment.v1 and checks that the first message is the hello
 * event. NULL (after printing why) on any failure. */
struct wsclient *tclient_open(int port);

/* Builds a message with tmsg_build's format and sends it as one binary frame.
 * Returns 0 or a negative errno. */
int tclient_send(struct wsclient *c, const char *fmt, ...);

/* The next binary message, decoded. NULL (after printing why) on timeout, a close frame, the
 * end of the connection, a text frame or bytes that are not msgpack. Free with tmsg_free. */
struct tmsg *tclient_recv(struct wsclient *c, int timeout_ms);

/* Waits for the reply to id, skipping (and printing) events and other replies meanwhile.
 * NULL on timeout or when the connection ends. */
struct tmsg *tclient_reply(struct wsclient *c, uint64_t id, int timeout_ms);

/* Sends sys.ping with id; true when a success reply for id arrives within TCLIENT_TIMEOUT_MS. */
bool tclient_ping(struct wsclient *c, uint64_t id);

/* True when nothing at all arrives within ms. */
bool tclient_quiet(struct wsclient *c, int ms);

/* Reads until a close frame arrives or the connection ends, for at most timeout_ms.
 * Returns 0 with *close_code set (0 when the connection ended without a close frame), or
 * -ETIMEDOUT. Counts the error events seen meanwhile in *n_error_events (may be NULL). */
int tclient_wait_close(struct wsclient *c, int timeout_ms, int *close_code, int *n_error_events);
