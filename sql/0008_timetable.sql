-- 0008: the timetable. A school's bell schedule (numbered periods with times, per weekday);
-- per section of a year, each period's subject, teacher and room. A teacher or a room is in
-- at most one place per period of a year: unique indexes, so that two admins racing cannot
-- double-book. Calendar tokens let a teacher or parent subscribe to their week (.ics); only
-- a hash of the token is stored, like sessions.

CREATE TABLE bell_periods (
    school_id     bigint NOT NULL REFERENCES schools(id),
    weekday       smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7), -- ISO: 1 = Monday
    period        smallint NOT NULL CHECK (period BETWEEN 1 AND 16),
    starts        time NOT NULL,
    ends          time NOT NULL,
    name          text CHECK (length(name) BETWEEN 1 AND 32),
    CHECK (ends > starts),
    PRIMARY KEY (school_id, weekday, period)
);

CREATE TABLE timetable_slots (
    id            bigserial PRIMARY KEY,
    school_id     bigint NOT NULL REFERENCES schools(id),
    year_id       bigint NOT NULL REFERENCES academic_years(id),
    section_id    bigint NOT NULL REFERENCES sections(id) ON DELETE CASCADE,
    weekday       smallint NOT NULL CHECK (weekday BETWEEN 1 AND 7),
    period        smallint NOT NULL CHECK (period BETWEEN 1 AND 16),
    subject_id    bigint NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    teacher_id    bigint NOT NULL REFERENCES users(id),
    room          text CHECK (length(room) BETWEEN 1 AND 32),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT timetable_section_slot UNIQUE (section_id, weekday, period)
);
CREATE UNIQUE INDEX timetable_teacher_slot
    ON timetable_slots (year_id, teacher_id, weekday, period);
CREATE UNIQUE INDEX timetable_room_slot ON timetable_slots (year_id, room, weekday, period)
    WHERE room IS NOT NULL;
CREATE INDEX timetable_school ON timetable_slots (school_id, year_id);

CREATE TABLE calendar_tokens (
    user_id       bigint PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    school_id     bigint NOT NULL REFERENCES schools(id),
    token_hash    bytea NOT NULL UNIQUE,
    created_at    timestamptz NOT NULL DEFAULT now()
);
