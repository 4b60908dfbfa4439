/* auth.*: login by phone and one-time code, sessions (see docs/protocol.md, docs/security.md).
 * Codes and tokens are kept only as hashes; numbers only as blind indexes. Answers for an
 * unknown number look and take the same as for a registered one. */
#include "people/auth.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/dbval.h"
#include "core/log.h"
#include "core/op_db.h"
#include "core/op_pack.h"
#include "core/presence.h"
#include "core/ratelimit.h"
#include "core/sms.h"
#include "people/people.h"
#include "people/people_internal.h"

#define OTP_TTL_S 300
#define OTP_RESEND_S 30
#define OTP_PER_HOUR 5
#define OTP_MAX_TRIES 5

/* Shared by every refusal of a code, so nothing tells a wrong code from an unknown number. */
#define BAD_CODE_MESSAGE "wrong or expired code"

/* Login-path requests per connection, and per client address for the code requests and
 * verifications (they cost an SMS or guard a 6-digit secret). Resumes are not limited by
 * address: a token cannot be guessed, and thousands of parents behind one carrier NAT all
 * resume when a network comes back. False after answering rate_limited. */
static bool login_allowed(struct op_ctx *op, bool by_addr)
{
    const struct people *pp = op->domain;
    uint64_t now = op_now_ms();
    double wait_s = 0;
    char key[32];
    int n = snprintf(key, sizeof key, "c%llu", (unsigned long long)op->peer->id);
    if (pp->login_by_conn && !ratelimit_take(pp->login_by_conn, key, (size_t)n, now, &wait_s)) {
        op_fail_rate_limited(op, wait_s);
        return false;
    }
    const char *addr = op->peer->addr;
    if (by_addr && pp->login_by_addr &&
        !ratelimit_take(pp->login_by_addr, addr, strlen(addr), now, &wait_s)) {
        op_fail_rate_limited(op, wait_s);
        return false;
    }
    return true;
}

/* Adds a hash (a blind index, a code or token hash) as a bytea parameter. */
static void param_hash(struct op_ctx *op, const unsigned char hash[CRYPTO_HASH_BYTES])
{
    char hex[PII_INDEX_HEX];
    dbval_bytea(hash, CRYPTO_HASH_BYTES, hex);
    op_param_str(op, hex);
}

/* {id, name, role, school} from columns 0-3 of row 0 (id, school_id, role, name), which
 * auth.otp.verify and auth.resume both select first. */
static void pack_user(msgpack_packer *pk, const void *arg)
{
    const PGresult *res = arg;
    op_pack_fields(pk, (struct op_field[]){ op_f_i64("id", dbval_get_i64(res, 0, 0)),
                                            op_f_str("name", PQgetvalue(res, 0, 3)),
                                            op_f_str("role", PQgetvalue(res, 0, 2)),
                                            op_f_i64("school", dbval_get_i64(res, 0, 1)),
                                            { 0 } });
}

/* The connection stops acting as its user: it leaves presence, and the domains above drop
 * what it was given as that user (live-trip subscriptions). */
static void leave_user(const struct people *pp, struct peer *p)
{
    presence_remove(pp->presence, p->caller.user_id, p);
    roster_peer_left(&pp->roster, p);
}

/* Makes the connection act as the user (until logout or the session ends). */
static void become(struct op_ctx *op, int64_t user, int64_t school, int64_t session,
                   const char *role)
{
    const struct people *pp = op->domain;
    struct caller c = { .user_id = user, .school_id = school, .session_id = session,
                        .role = role_parse(role, strlen(role)) };
    op->caller = c;
    struct peer *p = op->peer;
    if (p->closed) {
        return;
    }
    if (p->caller.user_id) {
        /* A connection that logs in again as someone else leaves the old user behind. */
        leave_user(pp, p);
    }
    p->caller = c;
    presence_add(pp->presence, p);
}

/* --- auth.otp.request --- */

struct otp_request {
    char phone[PHONE_MAX];
    char code[7];
};

/* One statement: the per-number limits, the new code, and whether anyone would receive it,
 * so both kinds of number cost the same round trip. */
#define OTP_REQUEST_SQL                                                                   \
    "WITH recent AS ("                                                                    \
    "  SELECT count(*) FILTER (WHERE created_at > now() - interval '30 seconds') AS last30," \
    "         count(*) AS last_hour, max(created_at) AS newest"                              \
    "  FROM otp_codes"                                                                    \
    "  WHERE phone_bi = $1 AND created_at > now() - interval '1 hour'),"                  \
    " ins AS ("                                                                           \
    "  INSERT INTO otp_codes (phone_bi, code_hash, key_version, expires_at)"              \
    "  SELECT $1, $2, $3, now() + interval '5 minutes' FROM recent"                       \
    "  WHERE last30 = 0 AND last_hour < $4 RETURNING id)"                                 \
    " SELECT EXISTS (SELECT 1 FROM ins),"                                                 \
    "  (SELECT CASE WHEN last30 > 0"                                                      \
    "     THEN extract(epoch FROM newest + interval '30 seconds' - now())"                \
    "     ELSE extract(epoch FROM (SELECT min(created_at) FROM otp_codes"                 \
    "       WHERE phone_bi = $1 AND created_at > now() - interval '1 hour')"              \
    "       + interval '1 hour' - now()) END FROM recent),"                               \
    "  EXISTS (SELECT 1 FROM users u JOIN schools s ON s.id = u.school_id"                \
    "          WHERE u.phone_bi = ANY($5::bytea[]) AND u.active"                          \
    "            AND s.status = 'active')"

static int otp_created(struct op_ctx *op, const PGresult *res)
{
    const struct people *pp = op->domain;
    struct otp_request *q = op->state;
    if (!dbval_get_bool(res, 0, 0)) {
        /* The same for unknown numbers: their requests are stored and limited too. */
        double wait_s = PQgetisnull(res, 0, 1) ? 0 : strtod(PQgetvalue(res, 0, 1), NULL);
        op_fail_rate_limited(op, wait_s > 0 ? wait_s : OTP_RESEND_S);
        return 0;
    }
    if (dbval_get_bool(res, 0, 2)) {
        char text[160];
        snprintf(text, sizeof text,
                 "%s is your Classment login code. It expires in %d minutes. Never share it.",
                 q->code, OTP_TTL_S / 60);
        sms_send(pp->sms, q->phone, text, q->code);
        sodium_memzero(text, sizeof text);
    }
    op_reply_fields(op, (struct op_field[]){ op_f_i64("ttl_s", OTP_TTL_S),
                                             op_f_i64("resend_after_s", OTP_RESEND_S), { 0 } });
    return 0;
}

static int op_otp_request(struct op_ctx *op)
{
    struct otp_request *q = op->state = op_alloc(op, sizeof *q);
    int r = people_phone_arg(op, q->phone);
    if (r) {
        return r;
    }
    if (!login_allowed(op, true)) {
        return 0;
    }
    crypto_otp_new(q->code);
    const struct crypto_keys *keys = op->env->keys;
    unsigned char index[CRYPTO_HASH_BYTES], code_hash[CRYPTO_HASH_BYTES];
    pii_phone_index_raw(keys, q->phone, index);
    crypto_otp_hash(crypto_keys_current(keys), index, q->code, code_hash);
    param_hash(op, index);
    param_hash(op, code_hash);
    op_param_i64(op, crypto_keys_current(keys)->version);
    op_param_i64(op, OTP_PER_HOUR);
    people_param_phone_indexes(op, q->phone);
    sodium_memzero(code_hash, sizeof code_hash);
    return op_sql(op, &(struct op_sql){ .sql = OTP_REQUEST_SQL, .on_rows = otp_created });
}

static const struct op_arg otp_request_args[] = {
    { .name = "phone", .type = OP_T_STR, .required = OP_REQ, .max = 32, .format = "phone" },
    { .name = NULL },
};

/* --- auth.otp.verify --- */

/* What the round trips need besides the arguments (which op_sql keeps readable). */
struct otp_verify {
    char phone[PHONE_MAX]; /* normalised */
    unsigned char index[CRYPTO_HASH_BYTES];
    char token[CRYPTO_TOKEN_CHARS + 1];
};

/* Marking the code used and opening the session are one statement: a code can open at most
 * one session even when two verifications race. */
#define OPEN_SESSION_SQL                                                                  \
    "WITH used AS ("                                                                      \
    "  UPDATE otp_codes SET used_at = now()"                                              \
    "  WHERE id = $1 AND used_at IS NULL RETURNING id),"                                  \
    " u AS ("                                                                             \
    "  SELECT u.id, u.school_id, u.role, u.name, s.status"                                \
    "  FROM users u JOIN schools s ON s.id = u.school_id"                                 \
    "  WHERE u.phone_bi = ANY($2::bytea[]) AND u.active"                                  \
    "    AND EXISTS (SELECT 1 FROM used)),"                                               \
    " ins AS ("                                                                           \
    "  INSERT INTO sessions (user_id, school_id, token_hash, device_type,"                \
    "                        device_os, app_version, expires_at)"                         \
    "  SELECT id, school_id, $3, $4, $5, $6, now() + CASE WHEN role = 'admin'"            \
    "    THEN make_interval(hours => $7::int) ELSE make_interval(days => $8::int) END"    \
    "  FROM u WHERE status = 'active' RETURNING id, expires_at)"                          \
    " SELECT u.id, u.school_id, u.role, u.name, u.status, ins.id,"                        \
    "  (extract(epoch FROM ins.expires_at) * 1000)::bigint"                               \
    " FROM u LEFT JOIN ins ON true"

static int session_opened(struct op_ctx *op, const PGresult *res)
{
    struct otp_verify *v = op->state;
    if (PQntuples(res) == 0) {
        return op_refuse(op, OP_E_UNAUTHENTICATED, "code", BAD_CODE_MESSAGE);
    }
    int64_t user = dbval_get_i64(res, 0, 0);
    int64_t school = dbval_get_i64(res, 0, 1);
    const char *role = PQgetvalue(res, 0, 2);
    if (strcmp(PQgetvalue(res, 0, 4), "active") != 0) {
        struct caller who = { .user_id = user, .school_id = school,
                              .role = role_parse(role, strlen(role)) };
        audit_record(op->env->audit, &who, op->peer->addr, op->op_name, "user", user,
                     "school_inactive");
        return op_refuse(op, OP_E_FORBIDDEN, NULL, "your school's account is not active");
    }
    int64_t session = dbval_get_i64(res, 0, 5);
    become(op, user, school, session, role);
    audit_op(op, "user", user, "ok");
    log_event(LOG_INFO, "auth", "login", "user=%lld school=%lld session=%lld conn=%llu",
              (long long)user, (long long)school, (long long)session,
              (unsigned long long)op->peer->id);
    op_reply_fields(op, (struct op_field[]){ op_f_str("token", v->token),
                                             op_f_i64("expires_at", dbval_get_i64(res, 0, 6)),
                                             op_f_fn("user", pack_user, res), { 0 } });
    return 0;
}

/* Whether the code given hashes, under the key the stored one was made with, to the same. */
static bool code_matches(struct op_ctx *op, const PGresult *res, const struct otp_verify *v)
{
    unsigned char stored[CRYPTO_HASH_BYTES], given[CRYPTO_HASH_BYTES];
    long n = dbval_get_bytea(res, 0, 1, stored, sizeof stored);
    const struct crypto_keyset *ks = crypto_keys_find(op->env->keys,
                                                      (int)dbval_get_i64(res, 0, 2));
    bool match = false;
    if (n == CRYPTO_HASH_BYTES && ks) {
        crypto_otp_hash(ks, v->index, op_get_str(op, "code"), given);
        match = crypto_hash_equal(stored, given);
    }
    sodium_memzero(given, sizeof given);
    return match;
}

/* A string of the device map (checked by the schema), copied; NULL when absent. */
static const char *device_str(struct op_ctx *op, const char *key)
{
    const msgpack_object *s = op_map_get(op_map_get(op->args, "device"), key);
    if (!s || s->type != MSGPACK_OBJECT_STR) {
        return NULL;
    }
    return arena_strndup(&op->arena, s->via.str.ptr, s->via.str.size);
}

static int code_checked(struct op_ctx *op, const PGresult *res)
{
    struct otp_verify *v = op->state;
    if (PQntuples(res) == 0 || !code_matches(op, res, v)) {
        return op_refuse(op, OP_E_UNAUTHENTICATED, "code", BAD_CODE_MESSAGE);
    }
    unsigned char token_hash[CRYPTO_HASH_BYTES];
    crypto_token_new(v->token);
    crypto_token_hash(v->token, strlen(v->token), token_hash);
    op_param_id(op, dbval_get_i64(res, 0, 0));
    people_param_phone_indexes(op, v->phone);
    param_hash(op, token_hash);
    op_param_str(op, device_str(op, "type"));
    op_param_str(op, device_str(op, "os"));
    op_param_str(op, device_str(op, "app"));
    op_param_i64(op, op->env->cfg->admin_session_hours);
    op_param_i64(op, op->env->cfg->session_days);
    sodium_memzero(token_hash, sizeof token_hash);
    return op_sql(op, &(struct op_sql){ .sql = OPEN_SESSION_SQL, .on_rows = session_opened });
}

static int op_otp_verify(struct op_ctx *op)
{
    struct otp_verify *v = op->state = op_alloc(op, sizeof *v);
    int r = people_phone_arg(op, v->phone);
    if (r) {
        return r;
    }
    const char *code = op_get_str(op, "code");
    if (strlen(code) != 6 || strspn(code, "0123456789") != 6) {
        return op_refuse(op, OP_E_BAD_REQUEST, "code", "must be 6 digits");
    }
    if (!login_allowed(op, true)) {
        return 0;
    }
    pii_phone_index_raw(op->env->keys, v->phone, v->index);
    param_hash(op, v->index);
    op_param_i64(op, OTP_MAX_TRIES);
    /* Count the try before comparing, so a lost reply never gives a free attempt. Only the
     * newest code of a number counts: requesting a new one retires the old. */
    return op_sql(op, &(struct op_sql){
                          .sql = "UPDATE otp_codes SET attempts = attempts + 1"
                                 " WHERE id = (SELECT id FROM otp_codes WHERE phone_bi = $1"
                                 "             ORDER BY created_at DESC, id DESC LIMIT 1)"
                                 "   AND used_at IS NULL AND expires_at > now()"
                                 "   AND attempts < $2"
                                 " RETURNING id, code_hash, key_version",
                          .on_rows = code_checked });
}

static const struct op_arg device_fields[] = {
    { .name = "type", .type = OP_T_STR, .max = 32 },
    { .name = "os", .type = OP_T_STR, .max = 64 },
    { .name = "app", .type = OP_T_STR, .max = 32 },
    { .name = NULL },
};

static const struct op_arg otp_verify_args[] = {
    { .name = "phone", .type = OP_T_STR, .required = OP_REQ, .max = 32, .format = "phone" },
    { .name = "code", .type = OP_T_STR, .required = OP_REQ, .max = 6, .format = "6 digits" },
    { .name = "device", .type = OP_T_MAP, .fields = device_fields },
    { .name = NULL },
};

/* --- auth.resume --- */

static int resumed(struct op_ctx *op, const PGresult *res)
{
    if (PQntuples(res) == 0) {
        return op_refuse(op, OP_E_UNAUTHENTICATED, "token",
                         "session expired or ended: log in again");
    }
    become(op, dbval_get_i64(res, 0, 0), dbval_get_i64(res, 0, 1), dbval_get_i64(res, 0, 4),
           PQgetvalue(res, 0, 2));
    op_reply_fields(op, (struct op_field[]){ op_f_i64("expires_at", dbval_get_i64(res, 0, 5)),
                                             op_f_fn("user", pack_user, res), { 0 } });
    return 0;
}

static int op_resume(struct op_ctx *op)
{
    if (!login_allowed(op, false)) {
        return 0;
    }
    const char *token = op_get_str(op, "token");
    unsigned char hash[CRYPTO_HASH_BYTES];
    crypto_token_hash(token, strlen(token), hash);
    param_hash(op, hash);
    /* A read only: thousands of phones resume at once when a network comes back, and
     * last_seen_at is refreshed for every live connection by the periodic session check. */
    return op_sql(op, &(struct op_sql){
                          .sql = "SELECT u.id, u.school_id, u.role, u.name, se.id,"
                                 "   (extract(epoch FROM se.expires_at) * 1000)::bigint"
                                 " FROM sessions se JOIN users u ON u.id = se.user_id"
                                 " JOIN schools s ON s.id = se.school_id"
                                 " WHERE se.token_hash = $1 AND se.revoked_at IS NULL"
                                 "   AND se.expires_at > now() AND u.active"
                                 "   AND s.status = 'active'",
                          .on_rows = resumed });
}

static const struct op_arg resume_args[] = {
    { .name = "token", .type = OP_T_STR, .required = OP_REQ, .max = 64 },
    { .name = NULL },
};

/* --- auth.logout --- */

static int logged_out(struct op_ctx *op, const PGresult *res)
{
    (void)res;
    const struct people *pp = op->domain;
    int64_t session = op->caller.session_id;
    /* Recorded even when the session had already ended elsewhere: the caller asked. */
    audit_op(op, "session", session, "ok");
    /* This connection stays open, anonymous; others on the same session are closed. */
    struct peer *p = op->peer;
    if (!p->closed && p->caller.session_id == session) {
        leave_user(pp, p);
        memset(&p->caller, 0, sizeof p->caller);
    }
    people_close_sessions(pp, session, 0);
    op_reply_empty(op);
    return 0;
}

static int op_logout(struct op_ctx *op)
{
    op_param_id(op, op->caller.session_id);
    return op_sql(op, &(struct op_sql){ .sql = "UPDATE sessions SET revoked_at = now()"
                                               " WHERE id = $1 AND revoked_at IS NULL",
                                        .on_rows = logged_out });
}

/* --- auth.sessions.list, auth.sessions.revoke --- */

static const struct op_col device_cols[] = {
    { .key = "type", .type = OP_COL_TEXT, .col = 1 },
    { .key = "os", .type = OP_COL_TEXT, .col = 2 },
    { .key = "app", .type = OP_COL_TEXT, .col = 3 },
    { .key = NULL },
};

/* device is nested from the same row; its col (the id) is never NULL, so it is always a map. */
static const struct op_col session_cols[] = {
    { .key = "id", .type = OP_COL_I64, .col = 0 },
    { .key = "device", .type = OP_COL_OBJECT, .col = 0, .fields = device_cols },
    { .key = "created_at", .type = OP_COL_I64, .col = 4 },
    { .key = "last_seen_at", .type = OP_COL_I64, .col = 5 },
    { .key = "current", .type = OP_COL_BOOL, .col = 6 },
    { .key = NULL },
};

static int op_sessions_list(struct op_ctx *op)
{
    op_param_id(op, op->caller.user_id);
    op_param_id(op, op->caller.session_id);
    return op_sql(op, &(struct op_sql){
                          .sql = "SELECT id, device_type, device_os, app_version,"
                                 "  (extract(epoch FROM created_at) * 1000)::bigint,"
                                 "  (extract(epoch FROM last_seen_at) * 1000)::bigint, id = $2"
                                 " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL"
                                 "   AND expires_at > now()"
                                 " ORDER BY last_seen_at DESC, id DESC LIMIT 100",
                          .reply_rows = session_cols });
}

static int session_revoked(struct op_ctx *op, const PGresult *res)
{
    const struct people *pp = op->domain;
    int64_t session = dbval_get_i64(res, 0, 0);
    op_reply_empty(op);
    people_close_sessions(pp, session, 0);
    return 0;
}

static int op_sessions_revoke(struct op_ctx *op)
{
    op_param_id(op, op_get_id(op, "id"));
    op_param_id(op, op->caller.user_id);
    return op_sql(op, &(struct op_sql){
                          .sql = "UPDATE sessions SET revoked_at = now()"
                                 " WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL"
                                 " RETURNING id",
                          .not_found = "no such session", .not_found_field = "id",
                          .on_rows = session_revoked, .audit = "session" });
}

static const struct op_arg sessions_revoke_args[] = {
    { .name = "id", .type = OP_T_ID, .required = OP_REQ },
    { .name = NULL },
};

const struct op_def auth_ops[] = {
    { .name = "auth.otp.request", .fn = op_otp_request, .roles = ROLE_ANY, .flags = OP_PUBLIC,
      .args = otp_request_args },
    { .name = "auth.otp.verify", .fn = op_otp_verify, .roles = ROLE_ANY, .flags = OP_PUBLIC,
      .args = otp_verify_args },
    { .name = "auth.resume", .fn = op_resume, .roles = ROLE_ANY, .flags = OP_PUBLIC,
      .args = resume_args },
    { .name = "auth.logout", .fn = op_logout, .roles = ROLE_ANY },
    { .name = "auth.sessions.list", .fn = op_sessions_list, .roles = ROLE_ANY },
    { .name = "auth.sessions.revoke", .fn = op_sessions_revoke, .roles = ROLE_ANY,
      .args = sessions_revoke_args },
    { .name = NULL },
};
