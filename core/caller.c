/* Role names (see caller.h). */
#include "core/caller.h"

#include <string.h>

static const struct {
    unsigned role;
    const char *name;
} roles[] = {
    { ROLE_ADMIN, "admin" },   { ROLE_TEACHER, "teacher" }, { ROLE_LIBRARIAN, "librarian" },
    { ROLE_DRIVER, "driver" }, { ROLE_PARENT, "parent" },
};

const char *role_name(unsigned role)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (roles[i].role == role) {
            return roles[i].name;
        }
    }
    return "";
}

unsigned role_parse(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (strlen(roles[i].name) == len && memcmp(roles[i].name, name, len) == 0) {
            return roles[i].role;
        }
    }
    return 0;
}
