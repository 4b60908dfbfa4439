/* The academics layer's services, the context its op handlers find in op->domain: who is
 * online, so that a parent hears of an absence or new homework at once. */
#pragma once

struct presence;

struct academics {
    struct presence *presence; /* user id -> live connections */
};
