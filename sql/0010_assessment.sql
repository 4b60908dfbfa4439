-- 0010: assessment. A school's grade scale (bands of percentage to grade and grade point;
-- none: the default 9-point scale in academics/grades.c) and its settings (ranks, off by
-- default); exams of a subject in a section for a term (maximum marks, date, weight in the
-- term); marks per student per exam (present with marks, absent or exempt), every correction
-- of an existing mark kept with its before and after (marks_changes); report cards' publication
-- per term and section (which locks the marks for everyone but admins) and the class teacher's
-- remarks per student per term (written by the report-card ops).

CREATE TABLE grade_bands (
    school_id     bigint NOT NULL REFERENCES schools(id) ON DELETE CASCADE,
    min_pct       numeric(5,2) NOT NULL CHECK (min_pct BETWEEN 0 AND 100),
    grade         text NOT NULL CHECK (length(grade) BETWEEN 1 AND 8),
    point         numeric(5,2) NOT NULL CHECK (point BETWEEN 0 AND 100)
);
-- grade.scale.set replaces a school's bands in one statement (its insert waits for its
-- delete); two at once collide here and the later one runs again.
CREATE UNIQUE INDEX grade_bands_school ON grade_bands (school_id, min_pct);

CREATE TABLE grade_settings (
    school_id     bigint PRIMARY KEY REFERENCES schools(id) ON DELETE CASCADE,
    ranks         boolean NOT NULL DEFAULT false
);

CREATE TABLE exams (
    id            bigserial PRIMARY KEY,
    school_id     bigint NOT NULL REFERENCES schools(id),
    section_id    bigint NOT NULL REFERENCES sections(id) ON DELETE CASCADE,
    subject_id    bigint NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    term_id       bigint NOT NULL REFERENCES terms(id) ON DELETE CASCADE,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    max_marks     numeric(7,2) NOT NULL CHECK (max_marks > 0 AND max_marks <= 1000),
    held_on       date,
    weight        numeric(6,2) NOT NULL DEFAULT 1 CHECK (weight > 0 AND weight <= 100),
    created_by    bigint REFERENCES users(id) ON DELETE SET NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX exams_section_term ON exams (section_id, term_id);
CREATE INDEX exams_term ON exams (term_id);

CREATE TABLE marks (
    exam_id       bigint NOT NULL REFERENCES exams(id) ON DELETE CASCADE,
    student_id    bigint NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    school_id     bigint NOT NULL REFERENCES schools(id),
    marks         numeric(7,2) CHECK (marks >= 0),
    status        text NOT NULL CHECK (status IN ('present', 'absent', 'exempt')),
    entered_by    bigint REFERENCES users(id) ON DELETE SET NULL,
    entered_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT marks_present_marked CHECK ((status = 'present') = (marks IS NOT NULL)),
    PRIMARY KEY (exam_id, student_id)
);
CREATE INDEX marks_student ON marks (student_id);

-- Corrections: an existing mark whose marks or status changed, before and after.
CREATE TABLE marks_changes (
    id             bigserial PRIMARY KEY,
    school_id      bigint NOT NULL REFERENCES schools(id),
    exam_id        bigint NOT NULL REFERENCES exams(id) ON DELETE CASCADE,
    student_id     bigint NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    before_marks   numeric(7,2),
    before_status  text NOT NULL,
    after_marks    numeric(7,2),
    after_status   text NOT NULL,
    changed_by     bigint REFERENCES users(id) ON DELETE SET NULL,
    changed_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX marks_changes_exam ON marks_changes (exam_id, student_id);

-- A term's report cards published for a section (report_card.publish): parents may then read
-- the marks and grades, and the marks are locked for teachers.
CREATE TABLE report_card_publications (
    term_id       bigint NOT NULL REFERENCES terms(id) ON DELETE CASCADE,
    section_id    bigint NOT NULL REFERENCES sections(id) ON DELETE CASCADE,
    published_at  timestamptz NOT NULL DEFAULT now(),
    published_by  bigint REFERENCES users(id) ON DELETE SET NULL,
    PRIMARY KEY (term_id, section_id)
);

-- The class teacher's remarks on a student's term (report_card.remark).
CREATE TABLE report_card_remarks (
    student_id    bigint NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    term_id       bigint NOT NULL REFERENCES terms(id) ON DELETE CASCADE,
    remarks       text NOT NULL CHECK (length(remarks) <= 2000),
    updated_by    bigint REFERENCES users(id) ON DELETE SET NULL,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (student_id, term_id)
);
