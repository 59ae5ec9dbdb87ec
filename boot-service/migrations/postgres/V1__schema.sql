-- Rackhand's store on PostgreSQL: the tables of the SQLite store as its migrations leave them, column
-- for column (times, JSON documents and addresses as text), so one decoder reads both
-- (boot-service/src/store/row.rs). Later changes are new files V2__..., never edits of this one.

CREATE TABLE nodes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    state TEXT NOT NULL,
    hostname TEXT,
    profile TEXT,
    ipv4 TEXT,
    inventory TEXT,
    failure TEXT,
    results TEXT,
    token_hash TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    os TEXT,
    deadline_at TEXT,
    deadline_reason TEXT,
    deploy_hash TEXT,
    agent_hash TEXT,
    location TEXT,
    -- The node enrolled itself by its own network boot (not registered by an admin), and in which
    -- auto-enrolment subnet (NULL when registered): the per-subnet cap counts these.
    self_enrolled BOOLEAN NOT NULL DEFAULT FALSE,
    enrolled_in TEXT
);
CREATE INDEX nodes_waiting_by_subnet ON nodes (enrolled_in, state);
CREATE INDEX nodes_with_deadline ON nodes (id) WHERE deadline_at IS NOT NULL;

CREATE TABLE node_macs (
    mac TEXT PRIMARY KEY,
    node_id BIGINT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE
);
CREATE INDEX node_macs_by_node ON node_macs (node_id);

-- A node's events in the order they were written: every write to a node holds its row lock, so ids
-- follow commit order per node.
CREATE TABLE events (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    node_id BIGINT NOT NULL REFERENCES nodes (id) ON DELETE CASCADE,
    at TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX events_by_node ON events (node_id, id);

-- One row per address: the database, not an instance's memory, says who holds it.
CREATE TABLE leases (
    ip TEXT PRIMARY KEY,
    mac TEXT NOT NULL,
    expires_at BIGINT NOT NULL,
    hostname TEXT
);

CREATE TABLE quarantine (
    ip TEXT PRIMARY KEY,
    mac TEXT NOT NULL,
    until BIGINT NOT NULL
);
