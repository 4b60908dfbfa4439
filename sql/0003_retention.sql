-- 0003: retention limits (DPDP Act 2023: keep personal data no longer than needed).
-- One function the server calls on a schedule; it returns how many rows each kind lost.
CREATE FUNCTION purge_expired(audit_days int, session_days int)
RETURNS TABLE (otp_codes bigint, sessions bigint, audit_entries bigint)
LANGUAGE plpgsql AS $$
DECLARE
    n_otp bigint;
    n_sessions bigint;
    n_audit bigint;
BEGIN
    -- Codes are useless a day after they expired; the rate limits look back one hour.
    DELETE FROM otp_codes WHERE expires_at < now() - interval '1 day';
    GET DIAGNOSTICS n_otp = ROW_COUNT;
    -- Ended sessions keep their device and usage data only for session_days.
    DELETE FROM sessions
     WHERE coalesce(revoked_at, expires_at) < now() - make_interval(days => session_days)
       AND (revoked_at IS NOT NULL OR expires_at < now());
    GET DIAGNOSTICS n_sessions = ROW_COUNT;
    -- The audit log is append-only except for this purge (see the trigger in 0002).
    PERFORM set_config('classment.audit_purge', 'on', true);
    DELETE FROM audit_log WHERE at < now() - make_interval(days => audit_days);
    GET DIAGNOSTICS n_audit = ROW_COUNT;
    PERFORM set_config('classment.audit_purge', 'off', true);
    RETURN QUERY SELECT n_otp, n_sessions, n_audit;
END $$;
