-- 0012: homework. A teacher posts homework to a section for a subject they teach there
-- (title, optional text, due date); each student's status is recorded (submitted, late,
-- missing; no row: not recorded yet). Parents are told live and get a notice (kind
-- 'homework', payload {homework, title, subject, due_on}, sql/0009). Homework goes with its
-- section or subject; statuses go with the homework or the student.

CREATE TABLE homework (
    id            bigserial PRIMARY KEY,
    school_id     bigint NOT NULL REFERENCES schools(id),
    section_id    bigint NOT NULL REFERENCES sections(id) ON DELETE CASCADE,
    subject_id    bigint NOT NULL REFERENCES subjects(id) ON DELETE CASCADE,
    teacher_id    bigint REFERENCES users(id) ON DELETE SET NULL,
    title         text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    text          text CHECK (length(text) BETWEEN 1 AND 4000),
    due_on        date NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);
-- A section's homework, newest first (homework.list {section}).
CREATE INDEX homework_section ON homework (section_id, id);

CREATE TABLE homework_status (
    homework_id   bigint NOT NULL REFERENCES homework(id) ON DELETE CASCADE,
    student_id    bigint NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    status        text NOT NULL CHECK (status IN ('submitted', 'late', 'missing')),
    set_by        bigint REFERENCES users(id) ON DELETE SET NULL,
    set_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (homework_id, student_id)
);
CREATE INDEX homework_status_student ON homework_status (student_id);
