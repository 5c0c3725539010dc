//! The dispatch queue: claims on queued jobs.
//!
//! A claim is the pair `jobs.claim_worker` / `jobs.claim_expires_at_ms`: one per job row, so two
//! live claims on one job cannot exist. It is taken only by a conditional `UPDATE` whose `WHERE`
//! re-checks "queued and no live claim" on the row it writes. On PostgreSQL the candidate is
//! picked with `FOR UPDATE SKIP LOCKED`, so concurrent dispatchers on several replicas each take a
//! different job without waiting on one another; if a row changed after it was picked, PostgreSQL
//! re-evaluates the `WHERE` on the new row version (READ COMMITTED "EvalPlanQual"), and the update
//! writes nothing. On SQLite the statement runs under the database write lock.

use super::rows::{self, job_columns};
use super::{Dialect, SqlStore};
use crate::error::StoreError;
use crate::types::{ClaimedJob, JobId};
use std::time::Duration;

const CLAIM_SQLITE: &str = concat!(
    "UPDATE jobs SET claim_worker = $1, claim_expires_at_ms = $3 ",
    "WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ",
    "AND (claim_expires_at_ms IS NULL OR claim_expires_at_ms <= $2) ORDER BY id LIMIT 1) ",
    "AND state = 'queued' AND (claim_expires_at_ms IS NULL OR claim_expires_at_ms <= $2) ",
    "RETURNING ",
    job_columns!()
);

const CLAIM_POSTGRES: &str = concat!(
    "UPDATE jobs SET claim_worker = $1, claim_expires_at_ms = $3 ",
    "WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ",
    "AND (claim_expires_at_ms IS NULL OR claim_expires_at_ms <= $2) ORDER BY id LIMIT 1 ",
    "FOR UPDATE SKIP LOCKED) ",
    "AND state = 'queued' AND (claim_expires_at_ms IS NULL OR claim_expires_at_ms <= $2) ",
    "RETURNING ",
    job_columns!()
);

/// How many times to look again when the picked job was claimed by someone else between the
/// pick and the write (PostgreSQL only; each retry picks afresh).
const CLAIM_ATTEMPTS: usize = 8;

/// Claims the oldest claimable queued job.
pub(super) async fn claim_next(
    s: &SqlStore,
    worker: &str,
    ttl: Duration,
) -> Result<Option<ClaimedJob>, StoreError> {
    let sql = match s.dialect {
        Dialect::Sqlite => CLAIM_SQLITE,
        Dialect::Postgres => CLAIM_POSTGRES,
    };
    for _ in 0..CLAIM_ATTEMPTS {
        let now = s.now();
        let row = sqlx::query(sql)
            .bind(worker)
            .bind(now.as_millis())
            .bind(now.plus(ttl).as_millis())
            .fetch_optional(&s.writer)
            .await
            .map_err(StoreError::query("claiming a job"))?;
        if let Some(row) = row {
            let job = rows::job(&row)?;
            let claim = job
                .claim
                .clone()
                .ok_or_else(|| StoreError::corrupt("claim", worker, "claimed row has no claim"))?;
            return Ok(Some(ClaimedJob { job, claim }));
        }
        if s.dialect == Dialect::Sqlite || !claimable_exists(s).await? {
            return Ok(None);
        }
    }
    Ok(None)
}

/// Is some queued job without a live claim left? (Tells "queue empty" from "lost a race".)
async fn claimable_exists(s: &SqlStore) -> Result<bool, StoreError> {
    let row = sqlx::query(
        "SELECT id FROM jobs WHERE state = 'queued' \
         AND (claim_expires_at_ms IS NULL OR claim_expires_at_ms <= $1) LIMIT 1",
    )
    .bind(s.now().as_millis())
    .fetch_optional(&s.reader)
    .await
    .map_err(StoreError::query("looking for claimable jobs"))?;
    Ok(row.is_some())
}

/// Extends a live claim held by `worker`.
pub(super) async fn renew(
    s: &SqlStore,
    job: JobId,
    worker: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let now = s.now();
    let done = sqlx::query(
        "UPDATE jobs SET claim_expires_at_ms = $1 \
         WHERE id = $2 AND claim_worker = $3 AND claim_expires_at_ms > $4",
    )
    .bind(now.plus(ttl).as_millis())
    .bind(job.0)
    .bind(worker)
    .bind(now.as_millis())
    .execute(&s.writer)
    .await
    .map_err(StoreError::query("renewing a claim"))?;
    Ok(done.rows_affected() == 1)
}

/// Drops the claim if `worker` holds it.
pub(super) async fn release(s: &SqlStore, job: JobId, worker: &str) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE jobs SET claim_worker = NULL, claim_expires_at_ms = NULL WHERE id = $1 AND claim_worker = $2",
    )
    .bind(job.0)
    .bind(worker)
    .execute(&s.writer)
    .await
    .map_err(StoreError::query("releasing a claim"))?;
    Ok(done.rows_affected() == 1)
}

const CLAIM_LAUNCHING_SQLITE: &str = concat!(
    "UPDATE jobs SET claim_worker = $1, claim_expires_at_ms = $3 ",
    "WHERE id = (SELECT id FROM jobs WHERE state = 'launching' ",
    "AND (claim_expires_at_ms IS NULL OR claim_expires_at_ms <= $2) ORDER BY id LIMIT 1) ",
    "AND state = 'launching' AND (claim_expires_at_ms IS NULL OR claim_expires_at_ms <= $2) ",
    "RETURNING ",
    job_columns!()
);

const CLAIM_LAUNCHING_POSTGRES: &str = concat!(
    "UPDATE jobs SET claim_worker = $1, claim_expires_at_ms = $3 ",
    "WHERE id = (SELECT id FROM jobs WHERE state = 'launching' ",
    "AND (claim_expires_at_ms IS NULL OR claim_expires_at_ms <= $2) ORDER BY id LIMIT 1 ",
    "FOR UPDATE SKIP LOCKED) ",
    "AND state = 'launching' AND (claim_expires_at_ms IS NULL OR claim_expires_at_ms <= $2) ",
    "RETURNING ",
    job_columns!()
);

/// Claims the oldest `launching` job whose claim lapsed. One try: a lost race simply leaves the
/// job to the replica that won it.
pub(super) async fn claim_stale_launching(
    s: &SqlStore,
    worker: &str,
    ttl: Duration,
) -> Result<Option<ClaimedJob>, StoreError> {
    let sql = match s.dialect {
        Dialect::Sqlite => CLAIM_LAUNCHING_SQLITE,
        Dialect::Postgres => CLAIM_LAUNCHING_POSTGRES,
    };
    let now = s.now();
    let row = sqlx::query(sql)
        .bind(worker)
        .bind(now.as_millis())
        .bind(now.plus(ttl).as_millis())
        .fetch_optional(&s.writer)
        .await
        .map_err(StoreError::query("claiming a launching job"))?;
    match row {
        Some(row) => {
            let job = rows::job(&row)?;
            let claim = job
                .claim
                .clone()
                .ok_or_else(|| StoreError::corrupt("claim", worker, "claimed row has no claim"))?;
            Ok(Some(ClaimedJob { job, claim }))
        }
        None => Ok(None),
    }
}
