-- 0011: rendered report cards, kept so that a card fetched again is not drawn again.
--
-- One row per (student, term): the PDF sealed like other personal data (it prints the
-- student's name and date of birth; AEAD with the data key, bound to the student and the
-- term, key version in pdf_key) and a fingerprint of everything the card was drawn from.
-- Invalidation is by fingerprint, not by triggers: each fetch loads the card's inputs (the
-- school, the student and their section, the class teacher, the term's marks and grades,
-- the term's attendance, the remarks, the renderer's version) and hashes them
-- (academics/report_cards.c); the cached PDF is served only when the stored fingerprint is
-- that hash, otherwise the card is drawn again and the row replaced. So any change to a
-- mark, an exam, the grade scale, a remark, an attendance mark or a name shows at the next
-- fetch, without a trigger on another engineer's tables; an old row costs only its bytes.
-- renders counts how many times the row was drawn (tests and operators read it).
-- Rows go with their student or term (ON DELETE CASCADE: the leavers' purge takes them).

CREATE TABLE report_card_cache (
    student_id    bigint NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    term_id       bigint NOT NULL REFERENCES terms(id) ON DELETE CASCADE,
    school_id     bigint NOT NULL REFERENCES schools(id),
    fingerprint   bytea NOT NULL CHECK (length(fingerprint) = 32),
    pdf_enc       bytea NOT NULL CHECK (length(pdf_enc) <= 1048576),
    pdf_key       smallint NOT NULL,
    renders       int NOT NULL DEFAULT 1,
    rendered_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (student_id, term_id)
);
CREATE INDEX report_card_cache_term ON report_card_cache (term_id);
