/* auth.*: login by phone and one-time code, sessions (see PROTOCOL.md, docs/security.md).
 * Codes and tokens are kept only as hashes; numbers only as blind indexes. Answers for an
 * unknown number look and take the same as for a registered one. */
#include "gateway/auth_ops.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/audit.h"
#include "core/config.h"
#include "core/crypto.h"
#include "core/dbpool.h"
#include "core/dbval.h"
#include "core/log.h"
#include "core/phone.h"
#include "core/pii.h"
#include "core/presence.h"
#include "core/ratelimit.h"
#include "core/sms.h"
#include "core/xalloc.h"
#include "tracking/tracker.h"

#define OTP_TTL_S 300
#define OTP_RESEND_S 30
#define OTP_PER_HOUR 5
#define OTP_MAX_TRIES 5

/* Shared by every refusal of a code, so nothing tells a wrong code from an unknown number. */
#define BAD_CODE_MESSAGE "wrong or expired code"

/* Login-path requests per connection, and per client address for the code requests and
 * verifications (they cost an SMS or guard a 6-digit secret). Resumes are not limited by
 * address: a token cannot be guessed, and thousands of parents behind one carrier NAT all
 * resume when a network comes back. */
static bool login_allowed(struct op_ctx *op, bool by_addr)
{
    const struct op_env *env = op->env;
    uint64_t now = op_now_ms();
    double wait_s = 0;
    char key[32];
    int n = snprintf(key, sizeof key, "c%llu", (unsigned long long)op->peer->id);
    if (env->login_by_conn && !ratelimit_take(env->login_by_conn, key, (size_t)n, now, &wait_s)) {
        op_fail_rate_limited(op, wait_s);
        return false;
    }
    const char *addr = op->peer->addr;
    if (by_addr && env->login_by_addr &&
        !ratelimit_take(env->login_by_addr, addr, strlen(addr), now, &wait_s)) {
        op_fail_rate_limited(op, wait_s);
        return false;
    }
    return true;
}

static int read_phone(struct op_ctx *op, char phone[PHONE_MAX])
{
    const char *s;
    size_t len;
    int r = op_arg_str(op, "phone", 32, &s, &len);
    if (r) {
        return r;
    }
    if (phone_normalize(s, len, op->env->cfg->default_cc, phone) != 0) {
        op->fail_field = "phone";
        op->fail_message = "not a valid phone number";
        return OP_E_BAD_REQUEST;
    }
    return 0;
}

static void pack_user(msgpack_packer *pk, int64_t id, const char *name, const char *role,
                      int64_t school)
{
    msgpack_pack_map(pk, 4);
    envelope_pack_key(pk, "id");
    msgpack_pack_int64(pk, id);
    envelope_pack_key(pk, "name");
    envelope_pack_str(pk, name);
    envelope_pack_key(pk, "role");
    envelope_pack_str(pk, role);
    envelope_pack_key(pk, "school");
    msgpack_pack_int64(pk, school);
}

/* Makes the connection act as the user (until logout or the session ends). */
static void become(struct op_ctx *op, int64_t user, int64_t school, int64_t session,
                   const char *role)
{
    struct caller c = { .user_id = user, .school_id = school, .session_id = session,
                        .role = role_parse(role, strlen(role)) };
    op->caller = c;
    struct peer *p = op->peer;
    if (p->closed) {
        return;
    }
    if (p->caller.user_id) {
        /* A connection that logs in again as someone else leaves the old user behind. */
        presence_remove(op->env->presence, p->caller.user_id, p);
        tracker_peer_gone(op->env->tracker, p);
    }
    p->caller = c;
    presence_add(op->env->presence, p);
}

/* --- auth.otp.request --- */

struct otp_request {
    struct op_ctx *op;
    char phone[PHONE_MAX];
    char code[7];
};

static void otp_request_free(struct otp_request *q)
{
    sodium_memzero(q, sizeof *q);
    free(q);
}

static void on_otp_created(void *arg, int status, const PGresult *res)
{
    struct otp_request *q = arg;
    struct op_ctx *op = q->op;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        goto out;
    }
    bool created = dbval_get_bool(res, 0, 0);
    double wait_s = PQgetisnull(res, 0, 1) ? 0 : atof(PQgetvalue(res, 0, 1));
    bool registered = dbval_get_bool(res, 0, 2);
    if (!created) {
        /* The same for unknown numbers: their requests are stored and limited too. */
        op_fail_rate_limited(op, wait_s > 0 ? wait_s : OTP_RESEND_S);
        goto out;
    }
    if (registered) {
        char text[160];
        snprintf(text, sizeof text,
                 "%s is your Classment login code. It expires in %d minutes. Never share it.",
                 q->code, OTP_TTL_S / 60);
        sms_send(op->env->sms, q->phone, text, q->code);
        sodium_memzero(text, sizeof text);
    }
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 2);
    envelope_pack_key(pk, "ttl_s");
    msgpack_pack_int(pk, OTP_TTL_S);
    envelope_pack_key(pk, "resend_after_s");
    msgpack_pack_int(pk, OTP_RESEND_S);
    op_reply_end(op);
out:
    otp_request_free(q);
}

static int op_otp_request(struct op_ctx *op)
{
    char phone[PHONE_MAX];
    int r = read_phone(op, phone);
    if (r) {
        return r;
    }
    if (!login_allowed(op, true)) {
        return 0;
    }
    const struct crypto_keys *keys = op->env->keys;
    struct otp_request *q = xcalloc(1, sizeof *q);
    q->op = op;
    memcpy(q->phone, phone, sizeof phone);
    crypto_otp_new(q->code);

    unsigned char bi[CRYPTO_HASH_BYTES], code_hash[CRYPTO_HASH_BYTES];
    pii_phone_index_raw(keys, phone, bi);
    crypto_otp_hash(crypto_keys_current(keys), bi, q->code, code_hash);
    char bi_hex[PII_INDEX_HEX], hash_hex[PII_INDEX_HEX], version[24], per_hour[24];
    dbval_bytea(bi, sizeof bi, bi_hex);
    dbval_bytea(code_hash, sizeof code_hash, hash_hex);
    struct strbuf all_bi;
    strbuf_init(&all_bi);
    pii_phone_index_all(keys, phone, &all_bi);
    const char *params[] = { bi_hex, hash_hex,
                             dbval_i64(crypto_keys_current(keys)->version, version),
                             dbval_i64(OTP_PER_HOUR, per_hour), all_bi.data };
    /* One statement: the per-number limits, the new code, and whether anyone would receive
     * it, so both kinds of number cost the same round trip. */
    r = dbpool_query(op->env->db,
                     "WITH recent AS ("
                     "  SELECT count(*) FILTER (WHERE created_at > now() - interval '30 seconds')"
                     "           AS last30,"
                     "         count(*) AS last_hour, max(created_at) AS newest"
                     "  FROM otp_codes"
                     "  WHERE phone_bi = $1 AND created_at > now() - interval '1 hour'),"
                     " ins AS ("
                     "  INSERT INTO otp_codes (phone_bi, code_hash, key_version, expires_at)"
                     "  SELECT $1, $2, $3, now() + interval '5 minutes' FROM recent"
                     "  WHERE last30 = 0 AND last_hour < $4 RETURNING id)"
                     " SELECT EXISTS (SELECT 1 FROM ins),"
                     "  (SELECT CASE WHEN last30 > 0"
                     "     THEN extract(epoch FROM newest + interval '30 seconds' - now())"
                     "     ELSE extract(epoch FROM (SELECT min(created_at) FROM otp_codes"
                     "       WHERE phone_bi = $1 AND created_at > now() - interval '1 hour')"
                     "       + interval '1 hour' - now()) END FROM recent),"
                     "  EXISTS (SELECT 1 FROM users u JOIN schools s ON s.id = u.school_id"
                     "          WHERE u.phone_bi = ANY($5::bytea[]) AND u.active"
                     "            AND s.status = 'active')",
                     5, params, on_otp_created, q);
    strbuf_deinit(&all_bi);
    sodium_memzero(code_hash, sizeof code_hash);
    if (r != 0) {
        otp_request_free(q);
        op->fail_message = "the database is unavailable, try again shortly";
        return OP_E_UNAVAILABLE;
    }
    return 0;
}

/* --- auth.otp.verify --- */

struct otp_verify {
    struct op_ctx *op;
    char phone[PHONE_MAX];
    char code[7];
    unsigned char bi[CRYPTO_HASH_BYTES];
    char *device_type, *device_os, *app_version;
    char token[CRYPTO_TOKEN_CHARS + 1];
};

static void otp_verify_free(struct otp_verify *v)
{
    free(v->device_type);
    free(v->device_os);
    free(v->app_version);
    sodium_memzero(v, sizeof *v);
    free(v);
}

static void on_session_created(void *arg, int status, const PGresult *res)
{
    struct otp_verify *v = arg;
    struct op_ctx *op = v->op;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        goto out;
    }
    if (PQntuples(res) == 0) {
        op_fail(op, OP_E_UNAUTHENTICATED, BAD_CODE_MESSAGE, "code");
        goto out;
    }
    int64_t user = dbval_get_i64(res, 0, 0);
    int64_t school = dbval_get_i64(res, 0, 1);
    const char *role = PQgetvalue(res, 0, 2);
    const char *name = PQgetvalue(res, 0, 3);
    const char *school_status = PQgetvalue(res, 0, 4);
    int64_t session = dbval_get_i64(res, 0, 5);
    int64_t expires_at = dbval_get_i64(res, 0, 6);
    struct caller who = { .user_id = user, .school_id = school,
                          .role = role_parse(role, strlen(role)) };
    if (strcmp(school_status, "active") != 0) {
        audit_record(op->env->audit, &who, op->peer->addr, op->op_name, "user", user,
                     "school_inactive");
        op_fail(op, OP_E_FORBIDDEN, "your school's account is not active", NULL);
        goto out;
    }
    become(op, user, school, session, role);
    audit_op(op, "user", user, "ok");
    log_event(LOG_INFO, "auth", "login", "user=%lld school=%lld session=%lld conn=%llu",
              (long long)user, (long long)school, (long long)session,
              (unsigned long long)op->peer->id);
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 3);
    envelope_pack_key(pk, "token");
    envelope_pack_str(pk, v->token);
    envelope_pack_key(pk, "expires_at");
    msgpack_pack_int64(pk, expires_at);
    envelope_pack_key(pk, "user");
    pack_user(pk, user, name, role, school);
    op_reply_end(op);
out:
    otp_verify_free(v);
}

static void on_code_checked(void *arg, int status, const PGresult *res)
{
    struct otp_verify *v = arg;
    struct op_ctx *op = v->op;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        otp_verify_free(v);
        return;
    }
    if (PQntuples(res) == 0) {
        op_fail(op, OP_E_UNAUTHENTICATED, BAD_CODE_MESSAGE, "code");
        otp_verify_free(v);
        return;
    }
    int64_t otp_id = dbval_get_i64(res, 0, 0);
    unsigned char stored[CRYPTO_HASH_BYTES], given[CRYPTO_HASH_BYTES];
    long n = dbval_get_bytea(res, 0, 1, stored, sizeof stored);
    const struct crypto_keyset *ks = crypto_keys_find(op->env->keys, (int)dbval_get_i64(res, 0, 2));
    bool match = false;
    if (n == CRYPTO_HASH_BYTES && ks) {
        crypto_otp_hash(ks, v->bi, v->code, given);
        match = crypto_hash_equal(stored, given);
    }
    sodium_memzero(given, sizeof given);
    if (!match) {
        op_fail(op, OP_E_UNAUTHENTICATED, BAD_CODE_MESSAGE, "code");
        otp_verify_free(v);
        return;
    }
    unsigned char token_hash[CRYPTO_HASH_BYTES];
    crypto_token_new(v->token);
    crypto_token_hash(v->token, strlen(v->token), token_hash);
    char otp_s[24], hash_hex[PII_INDEX_HEX], admin_h[24], other_d[24];
    dbval_bytea(token_hash, sizeof token_hash, hash_hex);
    struct strbuf all_bi;
    strbuf_init(&all_bi);
    pii_phone_index_all(op->env->keys, v->phone, &all_bi);
    const struct config *cfg = op->env->cfg;
    snprintf(admin_h, sizeof admin_h, "%d hours", cfg->admin_session_hours);
    snprintf(other_d, sizeof other_d, "%d days", cfg->session_days);
    const char *params[] = { dbval_i64(otp_id, otp_s), all_bi.data, hash_hex, v->device_type,
                             v->device_os, v->app_version, admin_h, other_d };
    /* Marking the code used and opening the session are one statement: a code can open at
     * most one session even when two verifications race. */
    int r = dbpool_query(op->env->db,
                         "WITH used AS ("
                         "  UPDATE otp_codes SET used_at = now()"
                         "  WHERE id = $1 AND used_at IS NULL RETURNING id),"
                         " u AS ("
                         "  SELECT u.id, u.school_id, u.role, u.name, s.status"
                         "  FROM users u JOIN schools s ON s.id = u.school_id"
                         "  WHERE u.phone_bi = ANY($2::bytea[]) AND u.active"
                         "    AND EXISTS (SELECT 1 FROM used)),"
                         " ins AS ("
                         "  INSERT INTO sessions (user_id, school_id, token_hash, device_type,"
                         "                        device_os, app_version, expires_at)"
                         "  SELECT id, school_id, $3, $4, $5, $6, now() + CASE WHEN role = 'admin'"
                         "    THEN $7::interval ELSE $8::interval END"
                         "  FROM u WHERE status = 'active' RETURNING id, expires_at)"
                         " SELECT u.id, u.school_id, u.role, u.name, u.status, ins.id,"
                         "  (extract(epoch FROM ins.expires_at) * 1000)::bigint"
                         " FROM u LEFT JOIN ins ON true",
                         8, params, on_session_created, v);
    strbuf_deinit(&all_bi);
    sodium_memzero(token_hash, sizeof token_hash);
    if (r != 0) {
        op_fail(op, OP_E_UNAVAILABLE, "the database is unavailable, try again shortly", NULL);
        otp_verify_free(v);
    }
}

static int read_device(struct op_ctx *op, struct otp_verify *v)
{
    const msgpack_object *d = op_map_get(op->args, "device");
    if (!d || d->type == MSGPACK_OBJECT_NIL) {
        return 0;
    }
    if (d->type != MSGPACK_OBJECT_MAP) {
        op->fail_field = "device";
        op->fail_message = "must be a map {type, os, app?}";
        return OP_E_BAD_REQUEST;
    }
    /* Read the nested map with the same readers by pointing args at it for a moment. */
    const msgpack_object *args = op->args;
    op->args = d;
    const char *s;
    size_t len;
    bool present;
    int r = op_arg_str_opt(op, "type", 32, &s, &len, &present);
    if (r == 0 && present) {
        v->device_type = xstrndup(s, len);
    }
    if (r == 0) {
        r = op_arg_str_opt(op, "os", 64, &s, &len, &present);
        if (r == 0 && present) {
            v->device_os = xstrndup(s, len);
        }
    }
    if (r == 0) {
        r = op_arg_str_opt(op, "app", 32, &s, &len, &present);
        if (r == 0 && present) {
            v->app_version = xstrndup(s, len);
        }
    }
    if (r) {
        static const char *const fields[] = { "device.type", "device.os", "device.app" };
        const char *f = op->fail_field;
        op->fail_field = strcmp(f, "type") == 0 ? fields[0] : strcmp(f, "os") == 0 ? fields[1]
                                                                                   : fields[2];
    }
    op->args = args;
    return r;
}

static int op_otp_verify(struct op_ctx *op)
{
    char phone[PHONE_MAX];
    int r = read_phone(op, phone);
    if (r) {
        return r;
    }
    const char *code;
    size_t code_len;
    if ((r = op_arg_str(op, "code", 6, &code, &code_len)) != 0) {
        return r;
    }
    /* The code points into the frame and is not NUL-terminated: check its six bytes only. */
    bool digits = code_len == 6;
    for (size_t i = 0; digits && i < 6; i++) {
        digits = code[i] >= '0' && code[i] <= '9';
    }
    if (!digits) {
        op->fail_field = "code";
        op->fail_message = "must be 6 digits";
        return OP_E_BAD_REQUEST;
    }
    struct otp_verify *v = xcalloc(1, sizeof *v);
    if ((r = read_device(op, v)) != 0) {
        otp_verify_free(v);
        return r;
    }
    if (!login_allowed(op, true)) {
        otp_verify_free(v);
        return 0;
    }
    v->op = op;
    memcpy(v->phone, phone, sizeof phone);
    memcpy(v->code, code, 6);
    pii_phone_index_raw(op->env->keys, phone, v->bi);
    char bi_hex[PII_INDEX_HEX], max_tries[24];
    dbval_bytea(v->bi, sizeof v->bi, bi_hex);
    const char *params[] = { bi_hex, dbval_i64(OTP_MAX_TRIES, max_tries) };
    /* Count the try before comparing, so a lost reply never gives a free attempt. Only the
     * newest code of a number counts: requesting a new one retires the old. */
    r = dbpool_query(op->env->db,
                     "UPDATE otp_codes SET attempts = attempts + 1"
                     " WHERE id = (SELECT id FROM otp_codes WHERE phone_bi = $1"
                     "             ORDER BY created_at DESC, id DESC LIMIT 1)"
                     "   AND used_at IS NULL AND expires_at > now() AND attempts < $2"
                     " RETURNING id, code_hash, key_version",
                     2, params, on_code_checked, v);
    if (r != 0) {
        otp_verify_free(v);
        op->fail_message = "the database is unavailable, try again shortly";
        return OP_E_UNAVAILABLE;
    }
    return 0;
}

/* --- auth.resume --- */

static void on_resumed(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    if (PQntuples(res) == 0) {
        op_fail(op, OP_E_UNAUTHENTICATED, "session expired or ended: log in again", "token");
        return;
    }
    int64_t session = dbval_get_i64(res, 0, 0);
    int64_t user = dbval_get_i64(res, 0, 1);
    int64_t school = dbval_get_i64(res, 0, 2);
    const char *role = PQgetvalue(res, 0, 3);
    become(op, user, school, session, role);
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_map(pk, 2);
    envelope_pack_key(pk, "expires_at");
    msgpack_pack_int64(pk, dbval_get_i64(res, 0, 5));
    envelope_pack_key(pk, "user");
    pack_user(pk, user, PQgetvalue(res, 0, 4), role, school);
    op_reply_end(op);
}

static int op_resume(struct op_ctx *op)
{
    const char *token;
    size_t len;
    int r = op_arg_str(op, "token", 64, &token, &len);
    if (r) {
        return r;
    }
    if (!login_allowed(op, false)) {
        return 0;
    }
    unsigned char hash[CRYPTO_HASH_BYTES];
    char hash_hex[PII_INDEX_HEX];
    crypto_token_hash(token, len, hash);
    dbval_bytea(hash, sizeof hash, hash_hex);
    const char *params[] = { hash_hex };
    /* A read only: thousands of phones resume at once when a network comes back, and
     * last_seen_at is refreshed for every live connection by the periodic session check. */
    r = dbpool_query(op->env->db,
                     "SELECT se.id, u.id, u.school_id, u.role, u.name,"
                     "   (extract(epoch FROM se.expires_at) * 1000)::bigint"
                     " FROM sessions se JOIN users u ON u.id = se.user_id"
                     " JOIN schools s ON s.id = se.school_id"
                     " WHERE se.token_hash = $1 AND se.revoked_at IS NULL"
                     "   AND se.expires_at > now() AND u.active AND s.status = 'active'",
                     1, params, on_resumed, op);
    if (r != 0) {
        op->fail_message = "the database is unavailable, try again shortly";
        return OP_E_UNAVAILABLE;
    }
    return 0;
}

/* --- auth.logout, auth.sessions.* --- */

static void on_logged_out(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    int64_t session = op->caller.session_id;
    audit_op(op, "session", session, "ok");
    /* This connection stays open, anonymous; others on the same session are closed. */
    struct peer *p = op->peer;
    if (!p->closed && p->caller.session_id == session) {
        presence_remove(op->env->presence, p->caller.user_id, p);
        tracker_peer_gone(op->env->tracker, p);
        memset(&p->caller, 0, sizeof p->caller);
    }
    if (op->env->close_sessions) {
        op->env->close_sessions(op->env->close_sessions_ctx, session, 0);
    }
    op_reply_empty(op);
}

static int op_logout(struct op_ctx *op)
{
    char session[24];
    const char *params[] = { dbval_i64(op->caller.session_id, session) };
    return op_query(op, "UPDATE sessions SET revoked_at = now()"
                                 " WHERE id = $1 AND revoked_at IS NULL",
                    1, params, on_logged_out, op);
}

static void on_sessions_listed(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    int rows = PQntuples(res);
    msgpack_packer *pk = op_reply_begin(op);
    msgpack_pack_array(pk, (size_t)rows);
    for (int i = 0; i < rows; i++) {
        int64_t id = dbval_get_i64(res, i, 0);
        msgpack_pack_map(pk, 5);
        envelope_pack_key(pk, "id");
        msgpack_pack_int64(pk, id);
        envelope_pack_key(pk, "device");
        msgpack_pack_map(pk, 3);
        static const char *const keys[] = { "type", "os", "app" };
        for (int k = 0; k < 3; k++) {
            envelope_pack_key(pk, keys[k]);
            const char *v = dbval_get_text(res, i, 1 + k);
            if (v) {
                envelope_pack_str(pk, v);
            } else {
                msgpack_pack_nil(pk);
            }
        }
        envelope_pack_key(pk, "created_at");
        msgpack_pack_int64(pk, dbval_get_i64(res, i, 4));
        envelope_pack_key(pk, "last_seen_at");
        msgpack_pack_int64(pk, dbval_get_i64(res, i, 5));
        envelope_pack_key(pk, "current");
        envelope_pack_bool(pk, id == op->caller.session_id);
    }
    op_reply_end(op);
}

static int op_sessions_list(struct op_ctx *op)
{
    char user[24];
    const char *params[] = { dbval_i64(op->caller.user_id, user) };
    return op_query(op,
                    "SELECT id, device_type, device_os, app_version,"
                    "  (extract(epoch FROM created_at) * 1000)::bigint,"
                    "  (extract(epoch FROM last_seen_at) * 1000)::bigint"
                    " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL"
                    "   AND expires_at > now() ORDER BY last_seen_at DESC, id DESC LIMIT 100",
                    1, params, on_sessions_listed, op);
}

static void on_session_revoked(void *arg, int status, const PGresult *res)
{
    struct op_ctx *op = arg;
    if (status != DBPOOL_OK) {
        op_fail_db(op, status, res);
        return;
    }
    if (PQntuples(res) == 0) {
        op_fail(op, OP_E_NOT_FOUND, "no such session", "id");
        return;
    }
    int64_t session = dbval_get_i64(res, 0, 0);
    const struct op_env *env = op->env;
    audit_op(op, "session", session, "ok");
    /* Answer first: a connection being closed still sends what was queued before. */
    op_reply_empty(op);
    if (env->close_sessions) {
        env->close_sessions(env->close_sessions_ctx, session, 0);
    }
}

static int op_sessions_revoke(struct op_ctx *op)
{
    int64_t id;
    int r = op_arg_id(op, "id", &id);
    if (r) {
        return r;
    }
    char id_s[24], user[24];
    const char *params[] = { dbval_i64(id, id_s), dbval_i64(op->caller.user_id, user) };
    return op_query(op,
                    "UPDATE sessions SET revoked_at = now()"
                    " WHERE id = $1 AND user_id = $2 AND revoked_at IS NULL RETURNING id",
                    2, params, on_session_revoked, op);
}

const struct op_def auth_ops[] = {
    { .name = "auth.otp.request", .fn = op_otp_request, .roles = ROLE_ANY, .flags = OP_PUBLIC },
    { .name = "auth.otp.verify", .fn = op_otp_verify, .roles = ROLE_ANY, .flags = OP_PUBLIC },
    { .name = "auth.resume", .fn = op_resume, .roles = ROLE_ANY, .flags = OP_PUBLIC },
    { .name = "auth.logout", .fn = op_logout, .roles = ROLE_ANY },
    { .name = "auth.sessions.list", .fn = op_sessions_list, .roles = ROLE_ANY },
    { .name = "auth.sessions.revoke", .fn = op_sessions_revoke, .roles = ROLE_ANY },
    { .name = NULL },
};
