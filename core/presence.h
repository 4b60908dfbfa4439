/* Who is online: the live connections of each logged-in user, so a module can reach a user
 * (a parent told their child's bus started) without scanning every connection. */
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "core/peer.h"

struct presence;

struct presence *presence_new(void);
void presence_free(struct presence *pr);
/* Records p under p->caller.user_id (takes a reference). Call after login. */
void presence_add(struct presence *pr, struct peer *p);
/* Forgets p under user_id (drops the reference); nothing if it is not there. Call on logout
 * and when the connection closes. */
void presence_remove(struct presence *pr, int64_t user_id, struct peer *p);
/* Calls fn for each open connection of the user. */
void presence_each(struct presence *pr, int64_t user_id, void (*fn)(struct peer *p, void *arg),
                   void *arg);
/* Connections recorded, for metrics. */
size_t presence_count(const struct presence *pr);
