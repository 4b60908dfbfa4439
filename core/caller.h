/* Who is on a connection: the user, their role and school, and their session. A connection
 * starts anonymous (role 0) and becomes a user on login. */
#pragma once
#include <stddef.h>
#include <stdint.h>

/* Role bits; an op's table row ORs the roles that may call it. */
enum role {
    ROLE_ADMIN = 1u << 0,
    ROLE_TEACHER = 1u << 1,
    ROLE_LIBRARIAN = 1u << 2,
    ROLE_DRIVER = 1u << 3,
    ROLE_PARENT = 1u << 4,
    ROLE_ANY = (1u << 5) - 1,
};

struct caller {
    int64_t user_id;    /* 0 while anonymous */
    int64_t school_id;
    int64_t session_id;
    unsigned role;      /* one ROLE_* bit, 0 while anonymous */
};

/* "admin", "teacher", …; "" for 0 or an unknown bit. */
const char *role_name(unsigned role);
/* The role bit for a name of len bytes, or 0 when it is not a role. */
unsigned role_parse(const char *name, size_t len);
