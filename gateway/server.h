/* The network face of classmentd: libwebsockets on the shared libuv loop serving the socket
 * API at /v1/ws and HTTP (health, metrics, web pages) on the same port. */
#pragma once
#include <stdbool.h>
#include <uv.h>

#include "core/config.h"
#include "core/op.h"
#include "gateway/router.h"

struct people;
struct server;

/* Starts listening. Returns NULL when libwebsockets cannot start at all; see
 * server_is_listening for a busy address or unreadable TLS files. env, people and router are
 * borrowed and must outlive the server. */
struct server *server_new(uv_loop_t *loop, const struct config *cfg, struct op_env *env,
                          struct people *people, struct router *router);

/* False when the listening socket could not be opened (the reason is logged); the caller
 * then stops the server as usual and exits with an error. */
bool server_is_listening(const struct server *s);

/* Begins a graceful stop: refuses new connections, closes every WebSocket with 1001 "going
 * away", waits briefly for them to go, then stops libwebsockets. done runs on the loop once
 * no connection is left. */
void server_shutdown(struct server *s, void (*done)(void *arg), void *arg);

/* Frees the server once uv_run has returned after server_shutdown (lws needs a second
 * destroy after its handles have closed). */
void server_free(struct server *s);
