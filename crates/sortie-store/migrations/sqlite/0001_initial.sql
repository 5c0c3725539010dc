-- sortie store, initial schema (SQLite). Times are milliseconds since the Unix epoch (UTC).
-- Keep in step with ../postgres/0001_initial.sql: the same tables, columns and constraints.

CREATE TABLE deliveries (
    forge           TEXT    NOT NULL,
    id              TEXT    NOT NULL,
    event           TEXT    NOT NULL,
    headers         TEXT    NOT NULL,            -- JSON object of the kept headers
    body            BLOB    NOT NULL,
    received_at_ms  INTEGER NOT NULL,
    processed_at_ms INTEGER,
    outcome         TEXT,
    PRIMARY KEY (forge, id)
);
CREATE INDEX deliveries_unprocessed ON deliveries (received_at_ms) WHERE processed_at_ms IS NULL;
CREATE INDEX deliveries_received ON deliveries (received_at_ms);

CREATE TABLE jobs (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT,
    job_key             TEXT    NOT NULL UNIQUE,  -- JobKey's canonical text
    key_json            TEXT    NOT NULL,
    forge               TEXT    NOT NULL,
    repo                TEXT    NOT NULL,
    labels              TEXT    NOT NULL,         -- JSON array
    route_kind          TEXT    NOT NULL,
    route_target        TEXT,
    route_reason        TEXT    NOT NULL,
    spec                TEXT,                     -- RunnerSpec JSON
    delivery_id         TEXT,
    state               TEXT    NOT NULL CHECK (state IN
                            ('queued','launching','running','completed','failed','cancelled','timed_out')),
    attempt             INTEGER NOT NULL DEFAULT 1,
    -- The claim: one column pair per job, so at most one claim can exist; it is taken with a
    -- conditional UPDATE that checks expiry.
    claim_worker        TEXT,
    claim_expires_at_ms INTEGER,
    created_at_ms       INTEGER NOT NULL,
    updated_at_ms       INTEGER NOT NULL
);
CREATE INDEX jobs_queued ON jobs (id) WHERE state = 'queued';
CREATE INDEX jobs_state ON jobs (state, id);

CREATE TABLE job_history (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id     INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    from_state TEXT,
    to_state   TEXT    NOT NULL,
    event      TEXT,
    reason     TEXT    NOT NULL,
    at_ms      INTEGER NOT NULL
);
CREATE INDEX job_history_job ON job_history (job_id, id);

CREATE TABLE instances (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id        INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    provider      TEXT    NOT NULL,
    provider_id   TEXT    NOT NULL,
    attempt       INTEGER NOT NULL,
    state         TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL,
    UNIQUE (provider, provider_id),
    UNIQUE (job_id, attempt)                      -- one machine per job attempt
);
CREATE INDEX instances_state ON instances (state);

CREATE TABLE runner_registrations (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id        INTEGER NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    runner_id     INTEGER,
    name          TEXT    NOT NULL UNIQUE,
    state         TEXT    NOT NULL,
    created_at_ms INTEGER NOT NULL
);
CREATE INDEX runner_registrations_job ON runner_registrations (job_id);

CREATE TABLE pools (
    name          TEXT    PRIMARY KEY,
    labels        TEXT    NOT NULL,               -- JSON array, sorted
    hot           INTEGER NOT NULL CHECK (hot >= 0),
    stopped       INTEGER NOT NULL CHECK (stopped >= 0),
    updated_at_ms INTEGER NOT NULL
);

CREATE TABLE leases (
    name          TEXT    PRIMARY KEY,
    owner         TEXT    NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
