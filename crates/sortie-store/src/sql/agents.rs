//! Bootstrap tokens and agent sessions.
//!
//! Redeeming is one conditional insert: `agent_sessions` has the primary key `(job_id, attempt)`,
//! so of all the tokens of one attempt exactly one can ever become a session, whichever replica
//! answers the request.

use super::SqlStore;
use crate::clock::Timestamp;
use crate::error::StoreError;
use crate::types::{AgentSession, JobId, Redeem};
use sortie_core::agent::AgentPhase;
use sqlx::any::AnyRow;
use sqlx::Row;
use std::time::Duration;

macro_rules! session_columns {
    () => {
        "job_id, attempt, phase, redeemed_at_ms, last_seen_at_ms, registered_at_ms, \
         job_started_at_ms, finished_at_ms, exit_code"
    };
}

fn session(row: &AnyRow) -> Result<AgentSession, StoreError> {
    let q = |e: sqlx::Error| StoreError::Query {
        action: "reading an agent session",
        source: e,
    };
    let phase_text: String = row.try_get("phase").map_err(q)?;
    let phase = [
        AgentPhase::Booted,
        AgentPhase::Registered,
        AgentPhase::JobStarted,
        AgentPhase::Heartbeat,
        AgentPhase::Finished,
    ]
    .into_iter()
    .find(|p| p.as_str() == phase_text)
    .ok_or_else(|| StoreError::corrupt("agent phase", &phase_text, "unknown phase"))?;
    let ts = |c: &'static str| -> Result<Option<Timestamp>, StoreError> {
        let v: Option<i64> = row
            .try_get(c)
            .map_err(StoreError::query("reading an agent session"))?;
        Ok(v.map(Timestamp::from_millis))
    };
    let attempt: i64 = row.try_get("attempt").map_err(q)?;
    let exit: Option<i64> = row.try_get("exit_code").map_err(q)?;
    Ok(AgentSession {
        job: JobId(row.try_get("job_id").map_err(q)?),
        attempt: u32::try_from(attempt)
            .map_err(|e| StoreError::corrupt("attempt", &attempt.to_string(), e))?,
        phase,
        redeemed_at: ts("redeemed_at_ms")?.unwrap_or(Timestamp::from_millis(0)),
        last_seen_at: ts("last_seen_at_ms")?.unwrap_or(Timestamp::from_millis(0)),
        registered_at: ts("registered_at_ms")?,
        job_started_at: ts("job_started_at_ms")?,
        finished_at: ts("finished_at_ms")?,
        exit_code: exit.and_then(|c| i32::try_from(c).ok()),
    })
}

pub(super) async fn create_bootstrap(
    s: &SqlStore,
    token_hash: &str,
    job: JobId,
    attempt: u32,
    ttl: Duration,
) -> Result<(), StoreError> {
    let now = s.now();
    sqlx::query(
        "INSERT INTO bootstrap_tokens (token_hash, job_id, attempt, expires_at_ms, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token_hash) DO NOTHING",
    )
    .bind(token_hash)
    .bind(job.0)
    .bind(i64::from(attempt))
    .bind(now.plus(ttl).as_millis())
    .bind(now.as_millis())
    .execute(&s.writer)
    .await
    .map_err(StoreError::query("storing a bootstrap token"))?;
    Ok(())
}

pub(super) async fn redeem(
    s: &SqlStore,
    token_hash: &str,
    session_hash: &str,
) -> Result<Redeem, StoreError> {
    let now = s.now().as_millis();
    let mut tx = s.write_tx("redeeming a bootstrap token").await?;
    let token = sqlx::query(
        "SELECT job_id, attempt, expires_at_ms FROM bootstrap_tokens WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::query("reading a bootstrap token"))?;
    let Some(token) = token else {
        return Ok(Redeem::Unknown);
    };
    let q = |e: sqlx::Error| StoreError::Query {
        action: "reading a bootstrap token",
        source: e,
    };
    let job: i64 = token.try_get("job_id").map_err(q)?;
    let attempt: i64 = token.try_get("attempt").map_err(q)?;
    let expires: i64 = token.try_get("expires_at_ms").map_err(q)?;
    let inserted = sqlx::query(concat!(
        "INSERT INTO agent_sessions (job_id, attempt, session_hash, phase, redeemed_at_ms, last_seen_at_ms) ",
        "VALUES ($1, $2, $3, 'booted', $4, $4) ON CONFLICT DO NOTHING RETURNING ",
        session_columns!()
    ))
    .bind(job)
    .bind(attempt)
    .bind(session_hash)
    .bind(now)
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::query("creating an agent session"))?;
    let outcome = match inserted {
        // Checked after the insert attempt so that a used token reads "already used" even once
        // it has expired.
        Some(_) if expires <= now => Redeem::Unknown,
        Some(row) => Redeem::Redeemed(session(&row)?),
        None => Redeem::AlreadyUsed,
    };
    // Token rows are not deleted: the session's primary key is what makes every token of the
    // attempt dead, and keeping the row lets `unredeem_bootstrap` make the same token good again.
    if matches!(outcome, Redeem::Redeemed(_)) {
        tx.commit()
            .await
            .map_err(StoreError::query("committing a redemption"))?;
    } else {
        tx.rollback()
            .await
            .map_err(StoreError::query("rolling back a redemption"))?;
    }
    Ok(outcome)
}

pub(super) async fn unredeem(s: &SqlStore, job: JobId, attempt: u32) -> Result<bool, StoreError> {
    // Only a session whose runner never registered can be undone.
    let done = sqlx::query(
        "DELETE FROM agent_sessions WHERE job_id = $1 AND attempt = $2 AND registered_at_ms IS NULL",
    )
    .bind(job.0)
    .bind(i64::from(attempt))
    .execute(&s.writer)
    .await
    .map_err(StoreError::query("undoing a redemption"))?;
    Ok(done.rows_affected() == 1)
}

pub(super) async fn find_session(
    s: &SqlStore,
    session_hash: &str,
) -> Result<Option<AgentSession>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        session_columns!(),
        " FROM agent_sessions WHERE session_hash = $1"
    ))
    .bind(session_hash)
    .fetch_optional(&s.reader)
    .await
    .map_err(StoreError::query("reading an agent session"))?;
    row.as_ref().map(session).transpose()
}

pub(super) async fn record_phase(
    s: &SqlStore,
    job: JobId,
    attempt: u32,
    phase: AgentPhase,
    exit_code: Option<i32>,
) -> Result<AgentSession, StoreError> {
    let now = s.now().as_millis();
    // One statement per phase keeps the SQL literal and checked at a glance.
    let sql = match phase {
        AgentPhase::Heartbeat => concat!(
            "UPDATE agent_sessions SET last_seen_at_ms = $3 WHERE job_id = $1 AND attempt = $2 RETURNING ",
            session_columns!()
        ),
        AgentPhase::Booted => concat!(
            "UPDATE agent_sessions SET last_seen_at_ms = $3 WHERE job_id = $1 AND attempt = $2 RETURNING ",
            session_columns!()
        ),
        AgentPhase::Registered => concat!(
            "UPDATE agent_sessions SET last_seen_at_ms = $3, ",
            "phase = CASE WHEN phase IN ('booted') THEN 'registered' ELSE phase END, ",
            "registered_at_ms = COALESCE(registered_at_ms, $3) WHERE job_id = $1 AND attempt = $2 RETURNING ",
            session_columns!()
        ),
        AgentPhase::JobStarted => concat!(
            "UPDATE agent_sessions SET last_seen_at_ms = $3, ",
            "phase = CASE WHEN phase IN ('booted', 'registered') THEN 'job_started' ELSE phase END, ",
            "registered_at_ms = COALESCE(registered_at_ms, $3), ",
            "job_started_at_ms = COALESCE(job_started_at_ms, $3) WHERE job_id = $1 AND attempt = $2 RETURNING ",
            session_columns!()
        ),
        AgentPhase::Finished => concat!(
            "UPDATE agent_sessions SET last_seen_at_ms = $3, phase = 'finished', ",
            "finished_at_ms = COALESCE(finished_at_ms, $3), exit_code = COALESCE(exit_code, $4) ",
            "WHERE job_id = $1 AND attempt = $2 RETURNING ",
            session_columns!()
        ),
    };
    let row = sqlx::query(sql)
        .bind(job.0)
        .bind(i64::from(attempt))
        .bind(now)
        .bind(exit_code.map(i64::from))
        .fetch_optional(&s.writer)
        .await
        .map_err(StoreError::query("recording an agent report"))?;
    match row {
        Some(row) => session(&row),
        None => Err(StoreError::JobNotFound(job)),
    }
}

pub(super) async fn list_sessions(
    s: &SqlStore,
    job: Option<JobId>,
) -> Result<Vec<AgentSession>, StoreError> {
    let rows = match job {
        Some(job) => {
            sqlx::query(concat!(
                "SELECT ",
                session_columns!(),
                " FROM agent_sessions WHERE job_id = $1 ORDER BY attempt"
            ))
            .bind(job.0)
            .fetch_all(&s.reader)
            .await
        }
        None => {
            sqlx::query(concat!(
                "SELECT ",
                session_columns!(),
                " FROM agent_sessions WHERE finished_at_ms IS NULL ORDER BY redeemed_at_ms, job_id"
            ))
            .fetch_all(&s.reader)
            .await
        }
    }
    .map_err(StoreError::query("listing agent sessions"))?;
    rows.iter().map(session).collect()
}
