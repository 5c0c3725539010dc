//! Jobs: create-if-absent by key, events through the core state machine with history.

use super::rows::{self, job_columns};
use super::{Dialect, SqlStore};
use crate::codec;
use crate::error::StoreError;
use crate::types::{Applied, HistoryEntry, Job, JobCreate, JobFilter, JobId, NewJob};
use sortie_core::job::{JobEvent, JobKey, JobState, Transition};
use sqlx::AnyConnection;

/// The history reason written when a job is stored.
fn creation_reason(job: &NewJob) -> String {
    let kind = codec::route_kind_name(job.route.kind);
    match &job.route.target {
        Some(target) => format!("job created; route {kind} {target}: {}", job.route.reason),
        None => format!("job created; route {kind}: {}", job.route.reason),
    }
}

/// Stores `job` queued unless its key exists; a new job then takes `first` in the same
/// transaction.
pub(super) async fn create(
    s: &SqlStore,
    job: &NewJob,
    first: Option<(JobEvent, &str)>,
) -> Result<JobCreate, StoreError> {
    let now = s.now().as_millis();
    let spec = job
        .spec
        .as_ref()
        .map(|sp| rows::to_json("runner spec", sp))
        .transpose()?;
    let mut tx = s.write_tx("storing a job").await?;
    let row = sqlx::query(concat!(
        "INSERT INTO jobs (job_key, key_json, forge, repo, labels, route_kind, route_target, route_reason, ",
        "spec, delivery_id, state, attempt, created_at_ms, updated_at_ms) ",
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'queued', 1, $11, $11) ",
        "ON CONFLICT (job_key) DO NOTHING RETURNING ", job_columns!()
    ))
    .bind(job.key.to_string())
    .bind(rows::to_json("job key", &job.key)?)
    .bind(job.key.forge().as_str())
    .bind(job.key.repo())
    .bind(rows::to_json("labels", &job.labels)?)
    .bind(codec::route_kind_name(job.route.kind))
    .bind(job.route.target.as_deref())
    .bind(job.route.reason.as_str())
    .bind(spec)
    .bind(job.delivery.as_ref().map(|d| d.0.as_str()))
    .bind(now)
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::query("storing a job"))?;
    let outcome = match row {
        Some(row) => {
            let created = rows::job(&row)?;
            record(
                &mut tx,
                created.id,
                None,
                JobState::Queued,
                None,
                &creation_reason(job),
                now,
            )
            .await?;
            match first.and_then(|(event, reason)| match JobState::Queued.apply(event) {
                Transition::To(next) => Some((event, reason, next)),
                _ => None,
            }) {
                Some((event, reason, next)) => {
                    let row = sqlx::query(concat!(
                        "UPDATE jobs SET state = $1, updated_at_ms = $2 WHERE id = $3 RETURNING ",
                        job_columns!()
                    ))
                    .bind(next.as_str())
                    .bind(now)
                    .bind(created.id.0)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(StoreError::query("updating a job's state"))?;
                    let moved = rows::job(&row)?;
                    record(
                        &mut tx,
                        created.id,
                        Some(JobState::Queued),
                        next,
                        Some(event),
                        reason,
                        now,
                    )
                    .await?;
                    JobCreate::Created(moved)
                }
                None => JobCreate::Created(created),
            }
        }
        None => {
            let existing = by_key_in(&mut tx, &job.key).await?;
            JobCreate::Existing(existing.ok_or_else(|| {
                StoreError::corrupt("job key", &job.key.to_string(), "conflict but not found")
            })?)
        }
    };
    tx.commit()
        .await
        .map_err(StoreError::query("committing a job"))?;
    Ok(outcome)
}

/// Appends one history row.
async fn record(
    conn: &mut AnyConnection,
    job: JobId,
    from: Option<JobState>,
    to: JobState,
    event: Option<JobEvent>,
    reason: &str,
    at_ms: i64,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO job_history (job_id, from_state, to_state, event, reason, at_ms) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(job.0)
        .bind(from.map(JobState::as_str))
        .bind(to.as_str())
        .bind(event.map(codec::event_name))
        .bind(reason)
        .bind(at_ms)
        .execute(conn)
        .await
        .map_err(StoreError::query("recording job history"))?;
    Ok(())
}

async fn by_key_in(conn: &mut AnyConnection, key: &JobKey) -> Result<Option<Job>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        job_columns!(),
        " FROM jobs WHERE job_key = $1"
    ))
    .bind(key.to_string())
    .fetch_optional(conn)
    .await
    .map_err(StoreError::query("reading a job"))?;
    row.as_ref().map(rows::job).transpose()
}

/// Applies `event` to job `id` under a row lock (PostgreSQL) or the write lock (SQLite).
pub(super) async fn apply_event(
    s: &SqlStore,
    id: JobId,
    at_attempt: Option<u32>,
    event: JobEvent,
    reason: &str,
) -> Result<Applied, StoreError> {
    let mut tx = s.write_tx("applying a job event").await?;
    let select = match s.dialect {
        Dialect::Sqlite => concat!("SELECT ", job_columns!(), " FROM jobs WHERE id = $1"),
        Dialect::Postgres => concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE id = $1 FOR UPDATE"
        ),
    };
    let row = sqlx::query(select)
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::query("reading a job"))?;
    let job = rows::job(&row.ok_or(StoreError::JobNotFound(id))?)?;
    if at_attempt.is_some_and(|a| a != job.attempt) {
        return Ok(Applied {
            job,
            transition: Transition::Ignored(crate::types::MOVED_ON),
        });
    }
    let transition = job.state.apply(event);
    let Transition::To(next) = transition else {
        // Nothing changes: no write, nothing to record.
        return Ok(Applied { job, transition });
    };
    let now = s.now().as_millis();
    let requeued = i64::from(next == JobState::Queued);
    let drop_claim = i64::from(next == JobState::Queued || next.is_terminal());
    let row = sqlx::query(concat!(
        "UPDATE jobs SET state = $1, attempt = attempt + $2, updated_at_ms = $3, ",
        "claim_worker = CASE WHEN $4 = 1 THEN NULL ELSE claim_worker END, ",
        "claim_expires_at_ms = CASE WHEN $4 = 1 THEN NULL ELSE claim_expires_at_ms END ",
        "WHERE id = $5 RETURNING ",
        job_columns!()
    ))
    .bind(next.as_str())
    .bind(requeued)
    .bind(now)
    .bind(drop_claim)
    .bind(id.0)
    .fetch_one(&mut *tx)
    .await
    .map_err(StoreError::query("updating a job's state"))?;
    let updated = rows::job(&row)?;
    record(&mut tx, id, Some(job.state), next, Some(event), reason, now).await?;
    tx.commit()
        .await
        .map_err(StoreError::query("committing a job event"))?;
    Ok(Applied {
        job: updated,
        transition,
    })
}

/// A job by id.
pub(super) async fn get(s: &SqlStore, id: JobId) -> Result<Option<Job>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        job_columns!(),
        " FROM jobs WHERE id = $1"
    ))
    .bind(id.0)
    .fetch_optional(&s.reader)
    .await
    .map_err(StoreError::query("reading a job"))?;
    row.as_ref().map(rows::job).transpose()
}

/// A job by key.
pub(super) async fn get_by_key(s: &SqlStore, key: &JobKey) -> Result<Option<Job>, StoreError> {
    let mut conn = s
        .reader
        .acquire()
        .await
        .map_err(StoreError::query("reading a job"))?;
    by_key_in(&mut conn, key).await
}

/// Jobs, newest first.
pub(super) async fn list(s: &SqlStore, filter: JobFilter) -> Result<Vec<Job>, StoreError> {
    let q = match filter.state {
        Some(state) => sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs WHERE state = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind(state.as_str())
        .bind(rows::limit(filter.limit)),
        None => sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM jobs ORDER BY id DESC LIMIT $1"
        ))
        .bind(rows::limit(filter.limit)),
    };
    let found = q
        .fetch_all(&s.reader)
        .await
        .map_err(StoreError::query("listing jobs"))?;
    found.iter().map(rows::job).collect()
}

/// A job's history, oldest first.
pub(super) async fn history(s: &SqlStore, id: JobId) -> Result<Vec<HistoryEntry>, StoreError> {
    let found = sqlx::query(
        "SELECT from_state, to_state, event, reason, at_ms FROM job_history WHERE job_id = $1 ORDER BY id",
    )
    .bind(id.0)
    .fetch_all(&s.reader)
    .await
    .map_err(StoreError::query("reading job history"))?;
    found.iter().map(rows::history).collect()
}

/// Appends a note (a history row without a state change), unless the latest row says the same.
pub(super) async fn note(s: &SqlStore, id: JobId, reason: &str) -> Result<(), StoreError> {
    let now = s.now().as_millis();
    let mut tx = s.write_tx("noting a job").await?;
    let row = sqlx::query("SELECT state FROM jobs WHERE id = $1")
        .bind(id.0)
        .fetch_optional(&mut *tx)
        .await
        .map_err(StoreError::query("reading a job"))?;
    let Some(row) = row else {
        return Err(StoreError::JobNotFound(id));
    };
    let state_text: String =
        sqlx::Row::try_get(&row, "state").map_err(StoreError::query("reading a job"))?;
    let state: JobState = state_text
        .parse()
        .map_err(|e: String| StoreError::corrupt("job state", &state_text, e))?;
    let last =
        sqlx::query("SELECT reason FROM job_history WHERE job_id = $1 ORDER BY id DESC LIMIT 1")
            .bind(id.0)
            .fetch_optional(&mut *tx)
            .await
            .map_err(StoreError::query("reading job history"))?;
    let same = match last {
        Some(r) => {
            let text: String = sqlx::Row::try_get(&r, "reason")
                .map_err(StoreError::query("reading job history"))?;
            text == reason
        }
        None => false,
    };
    if !same {
        record(&mut tx, id, Some(state), state, None, reason, now).await?;
        sqlx::query("UPDATE jobs SET updated_at_ms = $2 WHERE id = $1")
            .bind(id.0)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::query("noting a job"))?;
    }
    tx.commit()
        .await
        .map_err(StoreError::query("committing a note"))?;
    Ok(())
}
