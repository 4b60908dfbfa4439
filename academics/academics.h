/* The academics layer's services, the context its op handlers find in op->domain: who is
 * online, so that a parent hears of an absence or new homework at once, and the people
 * layer's roster, told when records change a student's enrolment (a leaver at promotion). */
#pragma once

struct presence;
struct roster;

struct academics {
    struct presence *presence;   /* user id -> live connections */
    const struct roster *roster; /* the domains listening to enrolment changes */
};
