-- One-time bootstrap tokens and agent sessions (sortie agent on each machine).
-- Keep in step with ../postgres/0003_agent_sessions.sql.

-- Tokens are stored as SHA-256 hex only. Several may exist for one job attempt (a dispatcher
-- that resumed after a crash makes a new one); agent_sessions' primary key lets one be redeemed.
CREATE TABLE bootstrap_tokens (
    token_hash    TEXT    PRIMARY KEY,
    job_id        INTEGER  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt       INTEGER  NOT NULL,
    expires_at_ms INTEGER  NOT NULL,
    created_at_ms INTEGER  NOT NULL
);
CREATE INDEX bootstrap_tokens_job ON bootstrap_tokens (job_id, attempt);

CREATE TABLE agent_sessions (
    job_id            INTEGER  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt           INTEGER  NOT NULL,
    session_hash      TEXT    NOT NULL UNIQUE,
    phase             TEXT    NOT NULL,
    redeemed_at_ms    INTEGER  NOT NULL,
    last_seen_at_ms   INTEGER  NOT NULL,
    registered_at_ms  INTEGER,
    job_started_at_ms INTEGER,
    finished_at_ms    INTEGER,
    exit_code         INTEGER,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX agent_sessions_open ON agent_sessions (job_id) WHERE finished_at_ms IS NULL;
CREATE INDEX jobs_launching ON jobs (id) WHERE state = 'launching';
