-- 0004: what bus tracking needs: students and their guardians (completed by a later issue),
-- routes with ordered stops, buses, who rides which route from which stop, trips and the
-- stored GPS track.

CREATE TABLE students (
    id            bigserial PRIMARY KEY,
    school_id     bigint NOT NULL REFERENCES schools(id),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    admission_no  text NOT NULL CHECK (length(admission_no) BETWEEN 1 AND 64),
    dob_enc       bytea,           -- sealed like phone numbers (core/pii.h), bound to the row
    dob_key       smallint,
    gender        text CHECK (gender IN ('female', 'male', 'other')),
    class_name    text CHECK (length(class_name) <= 32),
    section       text CHECK (length(section) <= 16),
    roll_no       int CHECK (roll_no > 0),
    active        boolean NOT NULL DEFAULT true,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (school_id, admission_no)
);

CREATE TABLE guardians (
    student_id    bigint NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    user_id       bigint NOT NULL REFERENCES users(id),
    school_id     bigint NOT NULL REFERENCES schools(id),
    relationship  text NOT NULL CHECK (length(relationship) BETWEEN 1 AND 32),
    emergency     boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (student_id, user_id)
);
CREATE INDEX guardians_user ON guardians (user_id);

CREATE TABLE routes (
    id            bigserial PRIMARY KEY,
    school_id     bigint NOT NULL REFERENCES schools(id),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    path          geography(LineString, 4326),  -- optional drawn path; stops are used without it
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX routes_school ON routes (school_id);

CREATE TABLE route_stops (
    id            bigserial PRIMARY KEY,
    route_id      bigint NOT NULL REFERENCES routes(id) ON DELETE CASCADE,
    seq           int NOT NULL CHECK (seq > 0),
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    location      geography(Point, 4326) NOT NULL,
    UNIQUE (route_id, seq)
);

CREATE TABLE buses (
    id              bigserial PRIMARY KEY,
    school_id       bigint NOT NULL REFERENCES schools(id),
    registration_no text NOT NULL CHECK (length(registration_no) BETWEEN 1 AND 20),
    capacity        int NOT NULL CHECK (capacity BETWEEN 1 AND 200),
    driver_id       bigint REFERENCES users(id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (school_id, registration_no)
);

CREATE TABLE route_assignments (
    route_id      bigint NOT NULL REFERENCES routes(id) ON DELETE CASCADE,
    student_id    bigint NOT NULL REFERENCES students(id) ON DELETE CASCADE,
    stop_id       bigint REFERENCES route_stops(id) ON DELETE SET NULL,
    school_id     bigint NOT NULL REFERENCES schools(id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (route_id, student_id)
);
CREATE INDEX route_assignments_student ON route_assignments (student_id);

CREATE TABLE trips (
    id            bigserial PRIMARY KEY,
    school_id     bigint NOT NULL REFERENCES schools(id),
    route_id      bigint NOT NULL REFERENCES routes(id),
    driver_id     bigint NOT NULL REFERENCES users(id),
    bus_id        bigint REFERENCES buses(id),
    status        text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'ended')),
    started_at    timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    end_reason    text CHECK (end_reason IN ('driver', 'admin', 'idle', 'restart'))
);
-- A driver has at most one active trip.
CREATE UNIQUE INDEX trips_one_active_per_driver ON trips (driver_id) WHERE status = 'active';
CREATE INDEX trips_school_status ON trips (school_id, status);
CREATE INDEX trips_route ON trips (route_id, started_at DESC);

CREATE TABLE trip_positions (
    trip_id       bigint NOT NULL REFERENCES trips(id) ON DELETE CASCADE,
    ts            timestamptz NOT NULL,
    location      geography(Point, 4326) NOT NULL,
    spd           real,
    hdg           real,
    acc           real,
    received_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX trip_positions_trip_ts ON trip_positions (trip_id, ts);
CREATE INDEX trip_positions_received ON trip_positions (received_at);

-- Retention of the GPS track joins the purge of 0003.
CREATE FUNCTION purge_positions(days int) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    DELETE FROM trip_positions WHERE received_at < now() - make_interval(days => days);
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
