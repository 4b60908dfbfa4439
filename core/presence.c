/* user id -> live connections, a chained hash table (see presence.h). */
#include "core/presence.h"

#include <stdlib.h>

#include "core/xalloc.h"

struct entry {
    struct entry *next;
    int64_t user_id;
    struct peer *peer;
};

struct presence {
    struct entry **slots;
    size_t n_slots, n;
};

struct presence *presence_new(void)
{
    struct presence *pr = xcalloc(1, sizeof *pr);
    pr->n_slots = 4096;
    pr->slots = xcalloc(pr->n_slots, sizeof *pr->slots);
    return pr;
}

void presence_free(struct presence *pr)
{
    if (!pr) {
        return;
    }
    for (size_t i = 0; i < pr->n_slots; i++) {
        for (struct entry *e = pr->slots[i], *next; e; e = next) {
            next = e->next;
            peer_unref(e->peer);
            free(e);
        }
    }
    free(pr->slots);
    free(pr);
}

static struct entry **slot(struct presence *pr, int64_t user_id)
{
    return &pr->slots[((uint64_t)user_id * 11400714819323198485ull >> 32) & (pr->n_slots - 1)];
}

static void grow(struct presence *pr)
{
    size_t old_n = pr->n_slots;
    struct entry **old = pr->slots;
    pr->n_slots *= 2;
    pr->slots = xcalloc(pr->n_slots, sizeof *pr->slots);
    for (size_t i = 0; i < old_n; i++) {
        for (struct entry *e = old[i], *next; e; e = next) {
            next = e->next;
            struct entry **s = slot(pr, e->user_id);
            e->next = *s;
            *s = e;
        }
    }
    free(old);
}

void presence_add(struct presence *pr, struct peer *p)
{
    if (pr->n > pr->n_slots) {
        grow(pr);
    }
    struct entry *e = xmalloc(sizeof *e);
    e->user_id = p->caller.user_id;
    e->peer = peer_ref(p);
    struct entry **s = slot(pr, e->user_id);
    e->next = *s;
    *s = e;
    pr->n++;
}

void presence_remove(struct presence *pr, int64_t user_id, struct peer *p)
{
    for (struct entry **e = slot(pr, user_id); *e; e = &(*e)->next) {
        if ((*e)->user_id == user_id && (*e)->peer == p) {
            struct entry *gone = *e;
            *e = gone->next;
            peer_unref(gone->peer);
            free(gone);
            pr->n--;
            return;
        }
    }
}

void presence_each(struct presence *pr, int64_t user_id, void (*fn)(struct peer *p, void *arg),
                   void *arg)
{
    for (struct entry *e = *slot(pr, user_id); e; e = e->next) {
        if (e->user_id == user_id && !e->peer->closed) {
            fn(e->peer, arg);
        }
    }
}

size_t presence_count(const struct presence *pr)
{
    return pr->n;
}
