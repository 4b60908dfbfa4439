-- 0002: schools, users, one-time codes, sessions and the audit log.
-- Personal data is never stored in clear: phone numbers are sealed with libsodium (phone_enc,
-- bound to the row) and found through a keyed blind index (phone_bi). OTP codes and session
-- tokens are stored only as hashes.

CREATE TABLE schools (
    id            bigserial PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    status        text NOT NULL DEFAULT 'active'
                  CHECK (status IN ('active', 'suspended', 'terminated')),
    terminated_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    school_id     bigint NOT NULL REFERENCES schools(id),
    role          text NOT NULL CHECK (role IN ('admin', 'teacher', 'librarian', 'driver', 'parent')),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    phone_enc     bytea NOT NULL,
    phone_key     smallint NOT NULL,
    phone_bi      bytea NOT NULL UNIQUE,
    employee_id   text CHECK (length(employee_id) <= 64),
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_school_role ON users (school_id, role, id);

-- One row per code sent (or, for unknown numbers, per code that would have been sent: the
-- same work keeps answers alike). phone_bi is the blind index of the normalised number.
CREATE TABLE otp_codes (
    id            bigserial PRIMARY KEY,
    phone_bi      bytea NOT NULL,
    code_hash     bytea NOT NULL,
    key_version   smallint NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    attempts      int NOT NULL DEFAULT 0,
    used_at       timestamptz
);
CREATE INDEX otp_codes_phone ON otp_codes (phone_bi, created_at DESC);

CREATE TABLE sessions (
    id            bigserial PRIMARY KEY,
    user_id       bigint NOT NULL REFERENCES users(id),
    school_id     bigint NOT NULL REFERENCES schools(id),
    token_hash    bytea NOT NULL UNIQUE,
    device_type   text CHECK (length(device_type) <= 32),
    device_os     text CHECK (length(device_os) <= 64),
    app_version   text CHECK (length(app_version) <= 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    login_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX sessions_user ON sessions (user_id) WHERE revoked_at IS NULL;

-- Append-only: rows are never changed, and deleted only by the retention purge, which sets
-- classment.audit_purge for its own transaction.
CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    school_id     bigint,
    user_id       bigint,
    role          text,
    session_id    bigint,
    op            text NOT NULL,
    record_type   text,
    record_id     bigint,
    at            timestamptz NOT NULL DEFAULT now(),
    addr          text,
    outcome       text NOT NULL
);
CREATE INDEX audit_log_school_at ON audit_log (school_id, at DESC);
CREATE INDEX audit_log_school_record ON audit_log (school_id, record_type, record_id);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('classment.audit_purge', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
