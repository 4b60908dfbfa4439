/* The people layer's services, the context its op handlers find in op->domain: SMS for login
 * codes, login rate limits, who is connected, closing the connections of ended sessions, and
 * the roster listeners of the domains above. */
#pragma once
#include <stdint.h>

#include "people/roster.h"

struct presence;
struct ratelimit;
struct sms;

struct people {
    struct sms *sms;
    struct ratelimit *login_by_addr; /* auth requests per client address */
    struct ratelimit *login_by_conn; /* auth requests per connection */
    struct presence *presence;       /* user id -> live connections */
    /* Closes the live connections of one session (session_id > 0) or of every session of a
     * user (user_id > 0); the gateway provides it. */
    void (*close_sessions)(void *ctx, int64_t session_id, int64_t user_id);
    void *close_sessions_ctx;
    struct roster roster;
};
