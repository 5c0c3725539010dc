//! Rows back into domain types. A value that does not parse is [`StoreError::Corrupt`].
//!
//! The column lists are macros so every statement is one `concat!` literal, checked at a glance
//! for the absence of spliced values.

use crate::clock::Timestamp;
use crate::codec;
use crate::error::StoreError;
use crate::types::{
    Claim, Delivery, DeliveryId, DeliveryStatus, HistoryEntry, Instance, InstanceId, Job, JobId,
    Pool, Registration, RegistrationId, StoredDelivery,
};
use serde::de::DeserializeOwned;
use sortie_core::forge::Flavor;
use sortie_core::route::Route;
use sqlx::any::AnyRow;
use sqlx::{Any, Decode, Row, Type};

macro_rules! job_columns {
    () => {
        "id, key_json, labels, route_kind, route_target, route_reason, spec, delivery_id, state, \
         attempt, claim_worker, claim_expires_at_ms, created_at_ms, updated_at_ms"
    };
}
macro_rules! delivery_columns {
    () => {
        "forge, id, event, headers, body, received_at_ms, processed_at_ms, outcome"
    };
}
macro_rules! instance_columns {
    () => {
        "id, job_id, provider, provider_id, attempt, state, created_at_ms, updated_at_ms"
    };
}
macro_rules! registration_columns {
    () => {
        "id, job_id, runner_id, name, state, created_at_ms"
    };
}
pub(crate) use {delivery_columns, instance_columns, job_columns, registration_columns};

/// One column, decoded.
fn get<'r, T>(row: &'r AnyRow, column: &'static str) -> Result<T, StoreError>
where
    T: Decode<'r, Any> + Type<Any>,
{
    row.try_get(column)
        .map_err(StoreError::query("reading a stored row"))
}

fn json<T: DeserializeOwned>(what: &'static str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(what, text, e))
}

fn to_u32(what: &'static str, n: i64) -> Result<u32, StoreError> {
    u32::try_from(n).map_err(|e| StoreError::corrupt(what, &n.to_string(), e))
}

fn ts(row: &AnyRow, column: &'static str) -> Result<Timestamp, StoreError> {
    Ok(Timestamp::from_millis(get::<i64>(row, column)?))
}

fn opt_ts(row: &AnyRow, column: &'static str) -> Result<Option<Timestamp>, StoreError> {
    Ok(get::<Option<i64>>(row, column)?.map(Timestamp::from_millis))
}

/// A row selected with `job_columns!()`.
pub(crate) fn job(row: &AnyRow) -> Result<Job, StoreError> {
    let spec: Option<String> = get(row, "spec")?;
    let claim = match (
        get::<Option<String>>(row, "claim_worker")?,
        opt_ts(row, "claim_expires_at_ms")?,
    ) {
        (Some(worker), Some(expires_at)) => Some(Claim { worker, expires_at }),
        _ => None,
    };
    Ok(Job {
        id: JobId(get(row, "id")?),
        key: json("job key", &get::<String>(row, "key_json")?)?,
        labels: json("labels", &get::<String>(row, "labels")?)?,
        route: Route {
            kind: codec::parse_route_kind(&get::<String>(row, "route_kind")?)?,
            target: get(row, "route_target")?,
            reason: get(row, "route_reason")?,
        },
        spec: spec
            .as_deref()
            .map(|s| json("runner spec", s))
            .transpose()?,
        delivery: get::<Option<String>>(row, "delivery_id")?.map(DeliveryId),
        state: codec::parse_job_state(&get::<String>(row, "state")?)?,
        attempt: to_u32("attempt", get(row, "attempt")?)?,
        claim,
        created_at: ts(row, "created_at_ms")?,
        updated_at: ts(row, "updated_at_ms")?,
    })
}

/// A row of `job_history`.
pub(crate) fn history(row: &AnyRow) -> Result<HistoryEntry, StoreError> {
    let from: Option<String> = get(row, "from_state")?;
    let event: Option<String> = get(row, "event")?;
    Ok(HistoryEntry {
        from: from.as_deref().map(codec::parse_job_state).transpose()?,
        to: codec::parse_job_state(&get::<String>(row, "to_state")?)?,
        event: event.as_deref().map(codec::parse_event).transpose()?,
        reason: get(row, "reason")?,
        at: ts(row, "at_ms")?,
    })
}

/// The status columns of a delivery row.
pub(crate) fn delivery_status(row: &AnyRow) -> Result<DeliveryStatus, StoreError> {
    Ok(DeliveryStatus {
        received_at: ts(row, "received_at_ms")?,
        processed_at: opt_ts(row, "processed_at_ms")?,
        outcome: get(row, "outcome")?,
    })
}

/// A row selected with `delivery_columns!()`.
pub(crate) fn delivery(row: &AnyRow) -> Result<StoredDelivery, StoreError> {
    let forge: String = get(row, "forge")?;
    Ok(StoredDelivery {
        delivery: Delivery {
            id: DeliveryId(get(row, "id")?),
            forge: forge
                .parse::<Flavor>()
                .map_err(|e| StoreError::corrupt("forge", &forge, e))?,
            event: get(row, "event")?,
            headers: json("headers", &get::<String>(row, "headers")?)?,
            body: get(row, "body")?,
            received_at: ts(row, "received_at_ms")?,
        },
        status: delivery_status(row)?,
    })
}

/// A row selected with `instance_columns!()`.
pub(crate) fn instance(row: &AnyRow) -> Result<Instance, StoreError> {
    Ok(Instance {
        id: InstanceId(get(row, "id")?),
        job: JobId(get(row, "job_id")?),
        provider: get(row, "provider")?,
        provider_id: get(row, "provider_id")?,
        attempt: to_u32("attempt", get(row, "attempt")?)?,
        state: codec::parse_instance_state(&get::<String>(row, "state")?)?,
        created_at: ts(row, "created_at_ms")?,
        updated_at: ts(row, "updated_at_ms")?,
    })
}

/// A row selected with `registration_columns!()`.
pub(crate) fn registration(row: &AnyRow) -> Result<Registration, StoreError> {
    Ok(Registration {
        id: RegistrationId(get(row, "id")?),
        job: JobId(get(row, "job_id")?),
        runner_id: get(row, "runner_id")?,
        name: get(row, "name")?,
        state: codec::parse_registration_state(&get::<String>(row, "state")?)?,
        created_at: ts(row, "created_at_ms")?,
    })
}

/// A row of `pools`.
pub(crate) fn pool(row: &AnyRow) -> Result<Pool, StoreError> {
    Ok(Pool {
        name: get(row, "name")?,
        labels: json("pool labels", &get::<String>(row, "labels")?)?,
        hot: to_u32("pool hot size", get(row, "hot")?)?,
        stopped: to_u32("pool stopped size", get(row, "stopped")?)?,
    })
}

/// JSON text of a value the store itself serialises (plain data: cannot fail in practice, but a
/// failure is reported rather than panicking).
pub(crate) fn to_json<T: serde::Serialize>(
    what: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::corrupt(what, "", e))
}

/// A `LIMIT` value: sqlx binds integers as i64.
pub(crate) fn limit(n: u32) -> i64 {
    i64::from(n)
}
