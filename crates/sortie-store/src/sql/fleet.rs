//! Instances, runner registrations and pools: plain records, each write one statement or one
//! short transaction.

use super::rows::{self, instance_columns, registration_columns};
use super::SqlStore;
use crate::error::StoreError;
use crate::types::{
    Instance, InstanceFilter, InstanceId, InstanceState, NewInstance, NewRegistration, Pool,
    Registration, RegistrationId, RegistrationState,
};
use sqlx::AnyConnection;

/// Records an instance: idempotent on `(provider, provider_id)`, one per `(job, attempt)`.
pub(super) async fn record_instance(
    s: &SqlStore,
    new: &NewInstance,
) -> Result<Instance, StoreError> {
    let now = s.now().as_millis();
    let mut tx = s.write_tx("recording an instance").await?;
    let row = sqlx::query(concat!(
        "INSERT INTO instances (job_id, provider, provider_id, attempt, state, created_at_ms, updated_at_ms) ",
        "VALUES ($1, $2, $3, $4, $5, $6, $6) ON CONFLICT DO NOTHING RETURNING ",
        instance_columns!()
    ))
    .bind(new.job.0)
    .bind(new.provider.as_str())
    .bind(new.provider_id.as_str())
    .bind(i64::from(new.attempt))
    .bind(new.state.as_str())
    .bind(now)
    .fetch_optional(&mut *tx)
    .await
    .map_err(StoreError::query("recording an instance"))?;
    let recorded = match row {
        Some(row) => rows::instance(&row)?,
        None => already_recorded(&mut tx, new).await?,
    };
    tx.commit()
        .await
        .map_err(StoreError::query("committing an instance"))?;
    Ok(recorded)
}

/// The insert was skipped: either this very instance is recorded (return it; provider ids are
/// never reused) or another instance holds the job attempt (refuse: one machine per attempt).
async fn already_recorded(
    conn: &mut AnyConnection,
    new: &NewInstance,
) -> Result<Instance, StoreError> {
    let same = sqlx::query(concat!(
        "SELECT ",
        instance_columns!(),
        " FROM instances WHERE provider = $1 AND provider_id = $2"
    ))
    .bind(new.provider.as_str())
    .bind(new.provider_id.as_str())
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::query("reading an instance"))?;
    if let Some(row) = same {
        return rows::instance(&row);
    }
    let holder = sqlx::query(concat!(
        "SELECT ",
        instance_columns!(),
        " FROM instances WHERE job_id = $1 AND attempt = $2"
    ))
    .bind(new.job.0)
    .bind(i64::from(new.attempt))
    .fetch_optional(&mut *conn)
    .await
    .map_err(StoreError::query("reading an instance"))?;
    let existing = holder.as_ref().map(rows::instance).transpose()?;
    Err(StoreError::InstanceConflict {
        job: new.job,
        attempt: new.attempt,
        existing: existing.map_or_else(
            || "(unknown)".to_string(),
            |i| format!("{}/{}", i.provider, i.provider_id),
        ),
        new: format!("{}/{}", new.provider, new.provider_id),
    })
}

/// Sets an instance's state.
pub(super) async fn set_instance_state(
    s: &SqlStore,
    id: InstanceId,
    state: InstanceState,
) -> Result<Instance, StoreError> {
    let row = sqlx::query(concat!(
        "UPDATE instances SET state = $1, updated_at_ms = $2 WHERE id = $3 RETURNING ",
        instance_columns!()
    ))
    .bind(state.as_str())
    .bind(s.now().as_millis())
    .bind(id.0)
    .fetch_optional(&s.writer)
    .await
    .map_err(StoreError::query("updating an instance"))?;
    rows::instance(&row.ok_or(StoreError::InstanceNotFound(id))?)
}

/// Instances matching every condition of `filter`, oldest first.
pub(super) async fn list_instances(
    s: &SqlStore,
    filter: InstanceFilter,
) -> Result<Vec<Instance>, StoreError> {
    let found = sqlx::query(concat!(
        "SELECT ",
        instance_columns!(),
        " FROM instances ",
        "WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR job_id = $2) ORDER BY id"
    ))
    .bind(filter.state.map(InstanceState::as_str))
    .bind(filter.job.map(|j| j.0))
    .fetch_all(&s.reader)
    .await
    .map_err(StoreError::query("listing instances"))?;
    found.iter().map(rows::instance).collect()
}

/// The instance a provider knows as `provider_id`.
pub(super) async fn find_instance(
    s: &SqlStore,
    provider: &str,
    provider_id: &str,
) -> Result<Option<Instance>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        instance_columns!(),
        " FROM instances WHERE provider = $1 AND provider_id = $2"
    ))
    .bind(provider)
    .bind(provider_id)
    .fetch_optional(&s.reader)
    .await
    .map_err(StoreError::query("reading an instance"))?;
    row.as_ref().map(rows::instance).transpose()
}

/// Records a registration; idempotent on the runner name.
pub(super) async fn record_registration(
    s: &SqlStore,
    new: &NewRegistration,
) -> Result<Registration, StoreError> {
    let mut tx = s.write_tx("recording a runner registration").await?;
    sqlx::query(
        "INSERT INTO runner_registrations (job_id, runner_id, name, state, created_at_ms) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING",
    )
    .bind(new.job.0)
    .bind(new.runner_id)
    .bind(new.name.as_str())
    .bind(new.state.as_str())
    .bind(s.now().as_millis())
    .execute(&mut *tx)
    .await
    .map_err(StoreError::query("recording a runner registration"))?;
    let row = sqlx::query(concat!(
        "SELECT ",
        registration_columns!(),
        " FROM runner_registrations WHERE name = $1"
    ))
    .bind(new.name.as_str())
    .fetch_one(&mut *tx)
    .await
    .map_err(StoreError::query("reading a runner registration"))?;
    let reg = rows::registration(&row)?;
    tx.commit()
        .await
        .map_err(StoreError::query("committing a runner registration"))?;
    Ok(reg)
}

/// Sets a registration's state.
pub(super) async fn set_registration_state(
    s: &SqlStore,
    id: RegistrationId,
    state: RegistrationState,
) -> Result<Registration, StoreError> {
    let row = sqlx::query(concat!(
        "UPDATE runner_registrations SET state = $1 WHERE id = $2 RETURNING ",
        registration_columns!()
    ))
    .bind(state.as_str())
    .bind(id.0)
    .fetch_optional(&s.writer)
    .await
    .map_err(StoreError::query("updating a runner registration"))?;
    rows::registration(&row.ok_or(StoreError::RegistrationNotFound(id))?)
}

/// Registrations, optionally in one state, oldest first.
pub(super) async fn list_registrations(
    s: &SqlStore,
    state: Option<RegistrationState>,
) -> Result<Vec<Registration>, StoreError> {
    let found = sqlx::query(concat!(
        "SELECT ",
        registration_columns!(),
        " FROM runner_registrations WHERE ($1 IS NULL OR state = $1) ORDER BY id"
    ))
    .bind(state.map(RegistrationState::as_str))
    .fetch_all(&s.reader)
    .await
    .map_err(StoreError::query("listing runner registrations"))?;
    found.iter().map(rows::registration).collect()
}

/// Deletes a registration record.
pub(super) async fn delete_registration(
    s: &SqlStore,
    id: RegistrationId,
) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM runner_registrations WHERE id = $1")
        .bind(id.0)
        .execute(&s.writer)
        .await
        .map_err(StoreError::query("deleting a runner registration"))?;
    Ok(done.rows_affected() == 1)
}

/// Creates or replaces a pool.
pub(super) async fn put_pool(s: &SqlStore, pool: &Pool) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO pools (name, labels, hot, stopped, updated_at_ms) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (name) DO UPDATE SET labels = excluded.labels, hot = excluded.hot, \
         stopped = excluded.stopped, updated_at_ms = excluded.updated_at_ms",
    )
    .bind(pool.name.as_str())
    .bind(rows::to_json("pool labels", &pool.labels)?)
    .bind(i64::from(pool.hot))
    .bind(i64::from(pool.stopped))
    .bind(s.now().as_millis())
    .execute(&s.writer)
    .await
    .map_err(StoreError::query("saving a pool"))?;
    Ok(())
}

/// A pool by name.
pub(super) async fn get_pool(s: &SqlStore, name: &str) -> Result<Option<Pool>, StoreError> {
    let row = sqlx::query("SELECT name, labels, hot, stopped FROM pools WHERE name = $1")
        .bind(name)
        .fetch_optional(&s.reader)
        .await
        .map_err(StoreError::query("reading a pool"))?;
    row.as_ref().map(rows::pool).transpose()
}

/// All pools by name.
pub(super) async fn list_pools(s: &SqlStore) -> Result<Vec<Pool>, StoreError> {
    let found = sqlx::query("SELECT name, labels, hot, stopped FROM pools ORDER BY name")
        .fetch_all(&s.reader)
        .await
        .map_err(StoreError::query("listing pools"))?;
    found.iter().map(rows::pool).collect()
}

/// Deletes a pool.
pub(super) async fn delete_pool(s: &SqlStore, name: &str) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM pools WHERE name = $1")
        .bind(name)
        .execute(&s.writer)
        .await
        .map_err(StoreError::query("deleting a pool"))?;
    Ok(done.rows_affected() == 1)
}
