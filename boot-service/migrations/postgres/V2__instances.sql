-- Several instances on one database watch each other's heartbeat: one row per instance (its public
-- URL), whose count it raises every second. Liveness is the count changing as another instance watches
-- it (no clocks compared); `at` is the instance's own time of its last beat, for people to read.
CREATE TABLE instances (
    name TEXT PRIMARY KEY,
    beats BIGINT NOT NULL,
    at TEXT NOT NULL
);
