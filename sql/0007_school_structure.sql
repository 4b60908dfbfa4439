-- 0007: the school's structure. Academic years (one current per school) and their terms;
-- classes of a year, their sections (each with a class teacher) and subjects; teachers'
-- assignments (teacher x section x subject), which are what a teacher's scope is made of.
-- Students are placed in a section of a year and carry a status: enrolled, or left with a
-- date and a reason; leaving starts the retention clock (purge_leavers).

CREATE TABLE academic_years (
    id            bigserial PRIMARY KEY,
    school_id     bigint NOT NULL REFERENCES schools(id),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 32),
    starts_on     date NOT NULL,
    ends_on       date NOT NULL,
    current       boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT academic_years_dates CHECK (ends_on > starts_on),
    UNIQUE (school_id, name),
    -- checked at the commit, so that one statement can move "current" from a year to another
    CONSTRAINT academic_years_one_current EXCLUDE USING btree (school_id WITH =) WHERE (current)
        DEFERRABLE INITIALLY DEFERRED
);

CREATE TABLE terms (
    id            bigserial PRIMARY KEY,
    school_id     bigint NOT NULL REFERENCES schools(id),
    year_id       bigint NOT NULL REFERENCES academic_years(id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 32),
    starts_on     date NOT NULL,
    ends_on       date NOT NULL,
    CONSTRAINT terms_dates CHECK (ends_on >= starts_on),
    UNIQUE (year_id, name)
);

CREATE TABLE classes (
    id            bigserial PRIMARY KEY,
    school_id     bigint NOT NULL REFERENCES schools(id),
    year_id       bigint NOT NULL REFERENCES academic_years(id),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 32),
    seq           int NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (year_id, name)
);
CREATE INDEX classes_school ON classes (school_id, year_id);

CREATE TABLE sections (
    id                bigserial PRIMARY KEY,
    school_id         bigint NOT NULL REFERENCES schools(id),
    year_id           bigint NOT NULL REFERENCES academic_years(id),
    class_id          bigint NOT NULL REFERENCES classes(id),
    name              text NOT NULL CHECK (length(name) BETWEEN 1 AND 16),
    class_teacher_id  bigint REFERENCES users(id),
    room              text CHECK (length(room) BETWEEN 1 AND 32),
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (class_id, name)
);
CREATE INDEX sections_school ON sections (school_id, year_id);
CREATE INDEX sections_class_teacher ON sections (class_teacher_id) WHERE class_teacher_id IS NOT NULL;

CREATE TABLE subjects (
    id            bigserial PRIMARY KEY,
    school_id     bigint NOT NULL REFERENCES schools(id),
    class_id      bigint NOT NULL REFERENCES classes(id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    code          text CHECK (length(code) BETWEEN 1 AND 16),
    UNIQUE (class_id, name)
);

CREATE TABLE teacher_assignments (
    school_id     bigint NOT NULL REFERENCES schools(id),
    teacher_id    bigint NOT NULL REFERENCES users(id),
    section_id    bigint NOT NULL REFERENCES sections(id) ON DELETE CASCADE,
    subject_id    bigint NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (teacher_id, section_id, subject_id)
);
CREATE INDEX teacher_assignments_section ON teacher_assignments (section_id);

-- Students: the free-text class and section give way to a section of a year. A student who
-- left keeps active = false (what tracking reads) and status 'left' with its date.
ALTER TABLE students
    ADD COLUMN section_id    bigint REFERENCES sections(id),
    ADD COLUMN year_id       bigint REFERENCES academic_years(id),
    ADD COLUMN nationality   text CHECK (length(nationality) BETWEEN 1 AND 64),
    ADD COLUMN enrolled_on   date,
    ADD COLUMN status        text NOT NULL DEFAULT 'enrolled'
                             CHECK (status IN ('enrolled', 'left')),
    ADD COLUMN left_on       date,
    ADD COLUMN leave_reason  text CHECK (length(leave_reason) BETWEEN 1 AND 200);
UPDATE students SET status = 'left', left_on = updated_at::date WHERE NOT active;
ALTER TABLE students
    DROP COLUMN class_name,
    DROP COLUMN section,
    ADD CONSTRAINT students_status_active CHECK (active = (status = 'enrolled')),
    ADD CONSTRAINT students_left_dated CHECK ((status = 'left') = (left_on IS NOT NULL));
CREATE INDEX students_section ON students (section_id, roll_no) WHERE section_id IS NOT NULL;
CREATE INDEX students_left ON students (left_on) WHERE status = 'left';

-- Retention: a student who left more than `days` ago is deleted, and with them what refers
-- to them (guardians' links, route assignments, attendance: all ON DELETE CASCADE). Returns
-- how many students went. Registered by academics/structure.c (leaver_retention_years).
CREATE FUNCTION purge_leavers(days int) RETURNS bigint LANGUAGE sql AS $$
    WITH gone AS (DELETE FROM students WHERE status = 'left' AND left_on < current_date - days
                  RETURNING id)
    SELECT count(*) FROM gone
$$;
