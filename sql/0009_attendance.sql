-- 0009: the daily register. One row per student per day (present, absent, late or leave, with
-- an optional note), in the section it was marked in; every correction of an existing row
-- kept with its before and after (attendance_changes); and parents' notices: what they were
-- told live (an absence, a late arrival), kept for when they were offline and until read.
-- Students' rows go with the student (ON DELETE CASCADE: the leavers' purge takes them).

CREATE TABLE attendance (
    school_id     bigint NOT NULL REFERENCES schools(id),
    section_id    bigint NOT NULL REFERENCES sections(id) ON DELETE CASCADE,
    student_id    bigint NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    day           date NOT NULL,
    status        text NOT NULL CHECK (status IN ('present', 'absent', 'late', 'leave')),
    note          text CHECK (length(note) BETWEEN 1 AND 200),
    marked_by     bigint REFERENCES users(id) ON DELETE SET NULL,
    marked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (student_id, day)
);
-- A section's day and month (attendance.get, attendance.register).
CREATE INDEX attendance_section_day ON attendance (section_id, day);
-- The school's absentees of a day (attendance.absentees).
CREATE INDEX attendance_school_absent ON attendance (school_id, day)
    WHERE status IN ('absent', 'late');

-- Corrections: an existing row whose status or note changed, before and after.
CREATE TABLE attendance_changes (
    id             bigserial PRIMARY KEY,
    school_id      bigint NOT NULL REFERENCES schools(id),
    student_id     bigint NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    day            date NOT NULL,
    before_status  text NOT NULL,
    before_note    text,
    after_status   text NOT NULL,
    after_note     text,
    changed_by     bigint REFERENCES users(id) ON DELETE SET NULL,
    changed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX attendance_changes_student ON attendance_changes (student_id, day);

-- A user's notices. kind 'attendance' uses student/day/status/note; later kinds may carry a
-- payload instead.
CREATE TABLE notices (
    id            bigserial PRIMARY KEY,
    school_id     bigint NOT NULL REFERENCES schools(id),
    user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (length(kind) BETWEEN 1 AND 32),
    student_id    bigint REFERENCES students(id) ON DELETE CASCADE,
    day           date,
    status        text,
    note          text,
    payload       jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    read_at       timestamptz
);
CREATE INDEX notices_user ON notices (user_id, id);
CREATE INDEX notices_created ON notices (created_at);

-- Retention: read notices older than `days` after reading, and any notice (read or not)
-- older than twice that, so that a parent who never opens the app does not grow the table
-- for ever. Returns how many went.
CREATE FUNCTION purge_notices(days int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM notices
    WHERE (read_at IS NOT NULL AND read_at < now() - make_interval(days => days))
       OR created_at < now() - make_interval(days => 2 * days);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
