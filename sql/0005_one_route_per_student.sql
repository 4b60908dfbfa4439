-- 0005: a student rides at most one route, enforced by the database.
-- route.assign used to move a student with a DELETE of their other routes and an INSERT in
-- one statement; two such calls for the same student running together each worked from the
-- snapshot taken at their start, neither deleted what the other inserted, and the student
-- ended up on two routes. With one row per student, route.assign is a single upsert on
-- student_id, which concurrent calls serialise on (the last one wins).
--
-- The old primary key (route_id, student_id) goes too: it is implied by the new key, and a
-- unique index that is not the upsert's ON CONFLICT target would turn a rare race (two
-- assignments of the same new rider to the same route) into a unique-violation error instead
-- of an update. Per-route look-ups (riders of a route, trips' rider lists) keep an index.

-- No writer may add a second row between the clean-up and the new key.
LOCK TABLE route_assignments IN ACCESS EXCLUSIVE MODE;

-- Rows left by the race: keep each student's newest assignment (ties: the larger route id).
DELETE FROM route_assignments ra
 USING route_assignments newer
 WHERE newer.student_id = ra.student_id
   AND (newer.created_at, newer.route_id) > (ra.created_at, ra.route_id);

DROP INDEX route_assignments_student;
CREATE UNIQUE INDEX route_assignments_one_per_student ON route_assignments (student_id);
ALTER TABLE route_assignments
    DROP CONSTRAINT route_assignments_pkey,
    ADD CONSTRAINT route_assignments_one_per_student
        PRIMARY KEY USING INDEX route_assignments_one_per_student;
CREATE INDEX route_assignments_route ON route_assignments (route_id);
