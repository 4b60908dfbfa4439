/* Keeps live connections honest about their sessions: closes the connections of a revoked
 * session or a deactivated user at once, and re-checks every logged-in connection's session
 * periodically, so expiry, a suspended school or a revocation by the operator command ends
 * them within CLASSMENT_SESSION_CHECK_S seconds. */
#pragma once
#include <stdint.h>

struct server;

/* WebSocket close code for a connection whose session has ended. */
#define SESSION_CLOSE_ENDED 4001

/* struct people's close_sessions for the gateway: ctx is the struct server. */
void session_check_close(void *ctx, int64_t session_id, int64_t user_id);
/* Starts the periodic check on the server's loop. */
void session_check_start(struct server *srv);
/* Stops it (part of the graceful stop). */
void session_check_stop(struct server *srv);
