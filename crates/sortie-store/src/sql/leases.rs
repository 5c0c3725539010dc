//! Named leases: which replica runs the sweeper or the reconciler right now.
//!
//! One row per name; the upsert takes the row only when it is free, expired, or already ours
//! (renewal). The row is the mutual exclusion: the database applies the upsert atomically.

use super::SqlStore;
use crate::error::StoreError;
use std::time::Duration;

/// Takes or renews the lease.
pub(super) async fn try_acquire(
    s: &SqlStore,
    name: &str,
    owner: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let now = s.now();
    let done = sqlx::query(
        "INSERT INTO leases (name, owner, expires_at_ms) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET owner = excluded.owner, expires_at_ms = excluded.expires_at_ms \
         WHERE leases.expires_at_ms <= $4 OR leases.owner = excluded.owner",
    )
    .bind(name)
    .bind(owner)
    .bind(now.plus(ttl).as_millis())
    .bind(now.as_millis())
    .execute(&s.writer)
    .await
    .map_err(StoreError::query("acquiring a lease"))?;
    Ok(done.rows_affected() == 1)
}

/// Gives the lease up if `owner` holds it.
pub(super) async fn release(s: &SqlStore, name: &str, owner: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM leases WHERE name = $1 AND owner = $2")
        .bind(name)
        .bind(owner)
        .execute(&s.writer)
        .await
        .map_err(StoreError::query("releasing a lease"))?;
    Ok(done.rows_affected() == 1)
}
