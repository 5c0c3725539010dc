-- One-time bootstrap tokens and agent sessions (sortie agent on each machine).
-- Keep in step with ../sqlite/0003_agent_sessions.sql.

-- Tokens are stored as SHA-256 hex only. Several may exist for one job attempt (a dispatcher
-- that resumed after a crash makes a new one); agent_sessions' primary key lets one be redeemed.
CREATE TABLE bootstrap_tokens (
    token_hash    TEXT    PRIMARY KEY,
    job_id        BIGINT  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt       BIGINT  NOT NULL,
    expires_at_ms BIGINT  NOT NULL,
    created_at_ms BIGINT  NOT NULL
);
CREATE INDEX bootstrap_tokens_job ON bootstrap_tokens (job_id, attempt);

CREATE TABLE agent_sessions (
    job_id            BIGINT  NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt           BIGINT  NOT NULL,
    session_hash      TEXT    NOT NULL UNIQUE,
    phase             TEXT    NOT NULL,
    redeemed_at_ms    BIGINT  NOT NULL,
    last_seen_at_ms   BIGINT  NOT NULL,
    registered_at_ms  BIGINT,
    job_started_at_ms BIGINT,
    finished_at_ms    BIGINT,
    exit_code         BIGINT,
    PRIMARY KEY (job_id, attempt)
);
CREATE INDEX agent_sessions_open ON agent_sessions (job_id) WHERE finished_at_ms IS NULL;
CREATE INDEX jobs_launching ON jobs (id) WHERE state = 'launching';
