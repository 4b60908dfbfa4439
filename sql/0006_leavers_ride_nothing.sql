-- 0006: a student who has left rides nothing, kept so by the database. student.delete (the
-- people layer) marks the student inactive without naming tracking's tables; this trigger
-- takes the student off their route in the same transaction, so that once the delete has
-- committed no statement sees the student on a route.
--
-- It fires on every write of an inactive student's record by the server, which always stamps
-- updated_at: a repeated delete included, as the delete's own statement used to. It keys on
-- that stamp rather than on `active` so that a hand edit of `active` alone can still build
-- the state the rider queries must tolerate (tests/integration/55_policy.c).
--
-- Its DELETE runs with a snapshot of its own (a PL/pgSQL statement in READ COMMITTED), taken
-- after the UPDATE holds the student's row: a route.assign that locked the row FOR SHARE and
-- committed while the delete waited for it is seen, and its assignment removed. One that
-- starts later waits for the delete and then finds the student inactive. The roster listener
-- (tracking/roster_sync.c) sweeps once more after the commit all the same.

CREATE FUNCTION route_assignments_drop_leaver() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM route_assignments WHERE student_id = NEW.id;
    RETURN NULL;
END $$;

CREATE TRIGGER students_leaver_rides_nothing AFTER UPDATE OF updated_at ON students
    FOR EACH ROW WHEN (NOT NEW.active)
    EXECUTE FUNCTION route_assignments_drop_leaver();
