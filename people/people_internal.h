/* Helpers shared by the people layer's op files (users.c, auth.c): reading a phone number
 * argument, passing its blind indexes to a query, closing the connections of ended
 * sessions. Not for use outside people/. */
#pragma once
#include <string.h>

#include "core/config.h"
#include "core/op_db.h"
#include "core/phone.h"
#include "core/pii.h"
#include "core/strbuf.h"
#include "people/people.h"

/* The "phone" argument (already checked as a string by the op's schema) in E.164. Returns
 * 0, or OP_E_BAD_REQUEST naming the field for what is not a phone number. */
static inline int people_phone_arg(struct op_ctx *op, char phone[PHONE_MAX])
{
    const char *s = op_get_str(op, "phone");
    if (!s || phone_normalize(s, strlen(s), op->env->cfg->default_cc, phone) != 0) {
        return op_refuse(op, OP_E_BAD_REQUEST, "phone", "not a valid phone number");
    }
    return 0;
}

/* Adds a bytea[] parameter: the phone's blind index under every key generation, so that a
 * lookup also finds numbers stored before a key rotation finished. */
static inline void people_param_phone_indexes(struct op_ctx *op, const char *phone)
{
    struct strbuf all;
    strbuf_init(&all);
    pii_phone_index_all(op->env->keys, phone, &all);
    op_param_str(op, all.data);
    strbuf_deinit(&all);
}

/* Closes the live connections of a session (session_id > 0) or of every session of a user
 * (user_id > 0). Call it after replying: a connection being closed still sends what was
 * queued before. */
static inline void people_close_sessions(const struct people *pp, int64_t session_id,
                                         int64_t user_id)
{
    if (pp->close_sessions) {
        pp->close_sessions(pp->close_sessions_ctx, session_id, user_id);
    }
}
