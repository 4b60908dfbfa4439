/* Keep-alive for WebSocket connections: a connection that has sent nothing for a heartbeat
 * period (CLASSMENT_HEARTBEAT_S) gets a ping, and one silent for three periods is dropped, so a
 * phone that vanished without closing its socket does not hold a descriptor and its
 * subscriptions forever.
 *
 * lws 4.1 has this built in (the vhost's retry_and_idle_policy), but it keeps every
 * connection's timer in one sorted list and inserts by walking that list from its head, so each
 * ping and each pong costs time in proportion to the number of connections: about 5 % of the
 * server's CPU at 5,000 connections, and quadratic growth beyond. Here one timer visits each
 * connection once per period, in slices of one second: constant work per connection. */
#pragma once

struct server;
struct ws_session;

/* Starts the sweep on the server's loop. */
void heartbeat_start(struct server *srv);
/* Stops it (part of the graceful stop). */
void heartbeat_stop(struct server *srv);
/* A message or pong arrived: the client is alive. Not called for a closing connection: a
 * client judged too slow (or closed for any reason) cannot keep itself alive by talking. */
void heartbeat_seen(struct ws_session *s);
/* s is being closed: it is gone within HEARTBEAT_CLOSE_MS (plus one sweep tick) whatever the
 * client does. Until then ws.c writes the close frame when the socket takes it and reads and
 * drops the client's input, so that the client can read the close; at the deadline a socket
 * still open is dropped without a close handshake (the close frame could not be written, or
 * the client never answered it). Idempotent. */
void heartbeat_closing(struct server *srv, struct ws_session *s);
/* s is leaving the server's session list: the sweep must not hold on to it. */
void heartbeat_forget(struct server *srv, struct ws_session *s);

/* How long a closing connection may take to go (see heartbeat_closing). */
#define HEARTBEAT_CLOSE_MS 3000
