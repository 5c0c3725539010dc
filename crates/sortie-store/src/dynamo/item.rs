//! Items: key strings, attribute values, and items back into domain types. Pure; a stored value
//! that does not read back is [`StoreError::Corrupt`], never a panic.

use crate::clock::Timestamp;
use crate::codec;
use crate::error::StoreError;
use crate::types::{
    Claim, Delivery, DeliveryId, DeliveryStatus, HistoryEntry, Instance, InstanceId, Job, JobId,
    Pool, Registration, RegistrationId, StoredDelivery,
};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use sortie_core::forge::Flavor;
use sortie_core::job::JobState;
use sortie_core::route::Route;
use std::collections::HashMap;

/// One DynamoDB item.
pub(super) type Item = HashMap<String, AttributeValue>;

/// The table's key and index attributes.
pub(super) const PK: &str = "pk";
pub(super) const SK: &str = "sk";
pub(super) const GSI1: &str = "gsi1";
pub(super) const GSI1_PK: &str = "gsi1pk";
pub(super) const GSI1_SK: &str = "gsi1sk";
pub(super) const GSI2: &str = "gsi2";
pub(super) const GSI2_PK: &str = "gsi2pk";
pub(super) const GSI2_SK: &str = "gsi2sk";
pub(super) const GSI3: &str = "gsi3";
pub(super) const GSI3_PK: &str = "gsi3pk";
pub(super) const GSI3_SK: &str = "gsi3sk";
/// The TTL attribute (epoch seconds).
pub(super) const TTL: &str = "expires_at";

// ---- key strings ----

/// An id, zero-padded to 20 digits so that strings sort as the numbers do (ids are positive).
pub(super) fn id20(id: i64) -> String {
    format!("{id:020}")
}

/// A millisecond time as 20 digits that sort as the times do, negative times included.
pub(super) fn t20(t: Timestamp) -> String {
    // Flipping the sign bit maps i64 order onto u64 order.
    let shifted = (t.as_millis() as u64) ^ (1 << 63);
    format!("{shifted:020}")
}

pub(super) fn delivery_pk(forge: Flavor, id: &DeliveryId) -> String {
    format!("DELIVERY#{}#{}", forge.as_str(), id.0)
}
pub(super) const DELIVERY_SK: &str = "DELIVERY";
pub(super) const DELIVERIES: &str = "DELIVERIES";
pub(super) const DELIVERIES_UNPROCESSED: &str = "DELIVERIES#UNPROCESSED";

/// The order of deliveries: received time, then forge, then id (as the SQL backends order them).
pub(super) fn delivery_order(d: &Delivery) -> String {
    format!("{}#{}#{}", t20(d.received_at), d.forge.as_str(), d.id.0)
}

pub(super) fn job_pk(id: JobId) -> String {
    format!("JOB#{}", id20(id.0))
}
pub(super) const JOB_SK: &str = "JOB";
pub(super) const JOBS: &str = "JOBS";
pub(super) fn jobs_in_state(state: &str) -> String {
    format!("JOBS#{state}")
}
/// Jobs in these states can be claimed, and are in the claim index (`gsi3`).
pub(super) fn claimable(state: JobState) -> bool {
    matches!(state, JobState::Queued | JobState::Launching)
}
/// The claim index partition of the jobs in `state`.
pub(super) fn claimable_in_state(state: JobState) -> String {
    format!("CLAIMABLE#{}", state.as_str())
}
/// A job's claim index sort key: `U#<id20>` without a claim (oldest first), else
/// `C#<expiry t20>#<id20>` (lapsed claims are a range: expiry up to now).
pub(super) fn claim_order(id: JobId, claim: Option<&Claim>) -> String {
    match claim {
        None => format!("{UNCLAIMED_PREFIX}{}", id20(id.0)),
        Some(c) => format!("{CLAIMED_PREFIX}{}#{}", t20(c.expires_at), id20(id.0)),
    }
}
pub(super) const UNCLAIMED_PREFIX: &str = "U#";
pub(super) const CLAIMED_PREFIX: &str = "C#";
/// The greatest claim index sort key of a claim that expired at or before `t`.
pub(super) fn claims_lapsed_by(t: Timestamp) -> String {
    // `~` sorts after every digit.
    format!("{CLAIMED_PREFIX}{}#~", t20(t))
}

pub(super) fn history_sk(version: i64) -> String {
    format!("HISTORY#{version:010}")
}
pub(super) const HISTORY_PREFIX: &str = "HISTORY#";
pub(super) fn job_key_pk(digest: &str) -> String {
    format!("JOBKEY#{digest}")
}
pub(super) const JOB_KEY_SK: &str = "JOBKEY";

pub(super) fn instance_pk(id: InstanceId) -> String {
    format!("INSTANCE#{}", id20(id.0))
}
pub(super) const INSTANCE_SK: &str = "INSTANCE";
pub(super) const INSTANCES: &str = "INSTANCES";
pub(super) fn instances_in_state(state: &str) -> String {
    format!("INSTANCES#{state}")
}
/// The sort key of a job's instance-per-attempt item (in the job's partition).
pub(super) fn attempt_sk(attempt: u32) -> String {
    format!("INSTANCE#{attempt:010}")
}
pub(super) const ATTEMPT_PREFIX: &str = "INSTANCE#";
pub(super) fn provider_pk(provider: &str) -> String {
    format!("PROVIDER#{provider}")
}
pub(super) fn provider_sk(provider_id: &str) -> String {
    format!("INSTANCE#{provider_id}")
}

pub(super) fn registration_pk(id: RegistrationId) -> String {
    format!("REGISTRATION#{}", id20(id.0))
}
pub(super) const REGISTRATION_SK: &str = "REGISTRATION";
pub(super) const REGISTRATIONS: &str = "REGISTRATIONS";
pub(super) fn registrations_in_state(state: &str) -> String {
    format!("REGISTRATIONS#{state}")
}
pub(super) fn runner_pk(name: &str) -> String {
    format!("RUNNER#{name}")
}
pub(super) const RUNNER_SK: &str = "RUNNER";

pub(super) fn pool_pk(name: &str) -> String {
    format!("POOL#{name}")
}
pub(super) const POOL_SK: &str = "POOL";
pub(super) const POOLS: &str = "POOLS";

pub(super) fn lease_pk(name: &str) -> String {
    format!("LEASE#{name}")
}
pub(super) const LEASE_SK: &str = "LEASE";

pub(super) fn counter_pk(sequence: &str) -> String {
    format!("COUNTER#{sequence}")
}
pub(super) const COUNTER_SK: &str = "COUNTER";

// ---- attribute values ----

pub(super) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(super) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(super) fn b(v: &[u8]) -> AttributeValue {
    AttributeValue::B(Blob::new(v))
}

/// A list of strings, order kept.
pub(super) fn list<'a>(v: impl IntoIterator<Item = &'a String>) -> AttributeValue {
    AttributeValue::L(v.into_iter().map(|x| s(x.as_str())).collect())
}

/// The primary key of an item.
pub(super) fn key(pk: impl Into<String>, sk: &str) -> Item {
    HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))])
}

/// JSON text of a value the store itself serialises.
pub(super) fn to_json<T: serde::Serialize>(
    what: &'static str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::corrupt(what, "", e))
}

// ---- reading attributes ----

fn missing(what: &'static str) -> StoreError {
    StoreError::corrupt(what, "", "attribute missing or of the wrong type")
}

pub(super) fn get_s<'a>(item: &'a Item, name: &'static str) -> Result<&'a str, StoreError> {
    opt_s(item, name)?.ok_or_else(|| missing(name))
}

pub(super) fn opt_s<'a>(item: &'a Item, name: &'static str) -> Result<Option<&'a str>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        Some(_) => Err(missing(name)),
    }
}

pub(super) fn get_i64(item: &Item, name: &'static str) -> Result<i64, StoreError> {
    opt_i64(item, name)?.ok_or_else(|| missing(name))
}

pub(super) fn opt_i64(item: &Item, name: &'static str) -> Result<Option<i64>, StoreError> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v
            .parse()
            .map(Some)
            .map_err(|e| StoreError::corrupt(name, v, e)),
        Some(_) => Err(missing(name)),
    }
}

fn get_u32(item: &Item, name: &'static str) -> Result<u32, StoreError> {
    let v = get_i64(item, name)?;
    u32::try_from(v).map_err(|e| StoreError::corrupt(name, &v.to_string(), e))
}

fn ts(item: &Item, name: &'static str) -> Result<Timestamp, StoreError> {
    Ok(Timestamp::from_millis(get_i64(item, name)?))
}

fn opt_ts(item: &Item, name: &'static str) -> Result<Option<Timestamp>, StoreError> {
    Ok(opt_i64(item, name)?.map(Timestamp::from_millis))
}

fn get_list(item: &Item, name: &'static str) -> Result<Vec<String>, StoreError> {
    match item.get(name) {
        Some(AttributeValue::L(values)) => values
            .iter()
            .map(|v| v.as_s().cloned().map_err(|_| missing(name)))
            .collect(),
        _ => Err(missing(name)),
    }
}

fn json<T: DeserializeOwned>(what: &'static str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| StoreError::corrupt(what, text, e))
}

// ---- items back into domain types ----

/// The status of a delivery item.
pub(super) fn delivery_status(item: &Item) -> Result<DeliveryStatus, StoreError> {
    Ok(DeliveryStatus {
        received_at: ts(item, "received_at_ms")?,
        processed_at: opt_ts(item, "processed_at_ms")?,
        outcome: opt_s(item, "outcome")?.map(str::to_string),
    })
}

/// A delivery item.
pub(super) fn delivery(item: &Item) -> Result<StoredDelivery, StoreError> {
    let forge = get_s(item, "forge")?;
    let headers = match item.get("headers") {
        Some(AttributeValue::M(m)) => m
            .iter()
            .map(|(k, v)| Ok((k.clone(), v.as_s().map_err(|_| missing("headers"))?.clone())))
            .collect::<Result<_, StoreError>>()?,
        _ => return Err(missing("headers")),
    };
    let body = match item.get("body") {
        Some(AttributeValue::B(blob)) => blob.as_ref().to_vec(),
        _ => return Err(missing("body")),
    };
    Ok(StoredDelivery {
        delivery: Delivery {
            id: DeliveryId(get_s(item, "id")?.to_string()),
            forge: forge
                .parse::<Flavor>()
                .map_err(|e| StoreError::corrupt("forge", forge, e))?,
            event: get_s(item, "event")?.to_string(),
            headers,
            body,
            received_at: ts(item, "received_at_ms")?,
        },
        status: delivery_status(item)?,
    })
}

/// A job item.
pub(super) fn job(item: &Item) -> Result<Job, StoreError> {
    let claim = match (
        opt_s(item, "claim_worker")?,
        opt_ts(item, "claim_expires_ms")?,
    ) {
        (Some(worker), Some(expires_at)) => Some(Claim {
            worker: worker.to_string(),
            expires_at,
        }),
        _ => None,
    };
    Ok(Job {
        id: JobId(get_i64(item, "id")?),
        key: json("job key", get_s(item, "key_json")?)?,
        labels: get_list(item, "labels")?,
        route: Route {
            kind: codec::parse_route_kind(get_s(item, "route_kind")?)?,
            target: opt_s(item, "route_target")?.map(str::to_string),
            reason: get_s(item, "route_reason")?.to_string(),
        },
        spec: opt_s(item, "spec")?
            .map(|text| json("runner spec", text))
            .transpose()?,
        delivery: opt_s(item, "delivery_id")?.map(|d| DeliveryId(d.to_string())),
        state: codec::parse_job_state(get_s(item, "state")?)?,
        attempt: get_u32(item, "attempt")?,
        claim,
        created_at: ts(item, "created_at_ms")?,
        updated_at: ts(item, "updated_at_ms")?,
    })
}

/// A job history item.
pub(super) fn history(item: &Item) -> Result<HistoryEntry, StoreError> {
    Ok(HistoryEntry {
        from: opt_s(item, "from_state")?
            .map(codec::parse_job_state)
            .transpose()?,
        to: codec::parse_job_state(get_s(item, "to_state")?)?,
        event: opt_s(item, "event")?.map(codec::parse_event).transpose()?,
        reason: get_s(item, "reason")?.to_string(),
        at: ts(item, "at_ms")?,
    })
}

/// An instance item.
pub(super) fn instance(item: &Item) -> Result<Instance, StoreError> {
    Ok(Instance {
        id: InstanceId(get_i64(item, "id")?),
        job: JobId(get_i64(item, "job_id")?),
        provider: get_s(item, "provider")?.to_string(),
        provider_id: get_s(item, "provider_id")?.to_string(),
        attempt: get_u32(item, "attempt")?,
        state: codec::parse_instance_state(get_s(item, "state")?)?,
        created_at: ts(item, "created_at_ms")?,
        updated_at: ts(item, "updated_at_ms")?,
    })
}

/// A runner registration item.
pub(super) fn registration(item: &Item) -> Result<Registration, StoreError> {
    Ok(Registration {
        id: RegistrationId(get_i64(item, "id")?),
        job: JobId(get_i64(item, "job_id")?),
        runner_id: opt_i64(item, "runner_id")?,
        name: get_s(item, "name")?.to_string(),
        state: codec::parse_registration_state(get_s(item, "state")?)?,
        created_at: ts(item, "created_at_ms")?,
    })
}

/// A pool item.
pub(super) fn pool(item: &Item) -> Result<Pool, StoreError> {
    Ok(Pool {
        name: get_s(item, "name")?.to_string(),
        labels: get_list(item, "labels")?.into_iter().collect(),
        hot: get_u32(item, "hot")?,
        stopped: get_u32(item, "stopped")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_numbers_sort_as_numbers() {
        let times = [i64::MIN, -1_000, -1, 0, 1, 999, 1_700_000_000_000, i64::MAX];
        let encoded: Vec<String> = times
            .iter()
            .map(|&t| t20(Timestamp::from_millis(t)))
            .collect();
        assert!(encoded.windows(2).all(|w| w[0] < w[1]), "{encoded:?}");
        assert!(encoded.iter().all(|e| e.len() == 20));
        let ids = [1, 9, 10, 123_456_789, i64::MAX];
        let encoded: Vec<String> = ids.iter().map(|&i| id20(i)).collect();
        assert!(encoded.windows(2).all(|w| w[0] < w[1]), "{encoded:?}");
        assert!(history_sk(9) < history_sk(10));
        // Lapsed claims are the range up to `claims_lapsed_by(now)`, expiry inclusive.
        let now = Timestamp::from_millis(1_700_000_000_000);
        let claim = |ms| Claim {
            worker: "w".into(),
            expires_at: Timestamp::from_millis(ms),
        };
        let bound = claims_lapsed_by(now);
        assert!(claim_order(JobId(i64::MAX), Some(&claim(now.as_millis()))) <= bound);
        assert!(claim_order(JobId(1), Some(&claim(now.as_millis() + 1))) > bound);
        assert!(claim_order(JobId(1), Some(&claim(0))).as_str() > CLAIMED_PREFIX);
        assert!(claim_order(JobId(9), None).starts_with(UNCLAIMED_PREFIX));
        assert!(attempt_sk(9) < attempt_sk(10));
    }

    #[test]
    fn wrong_or_missing_attributes_are_corrupt_not_panics() {
        let mut item = key("JOB#1", JOB_SK);
        item.insert("id".into(), s("not a number"));
        item.insert("attempt".into(), n(-1));
        assert!(matches!(
            get_i64(&item, "id"),
            Err(StoreError::Corrupt { what: "id", .. })
        ));
        assert!(matches!(
            get_u32(&item, "attempt"),
            Err(StoreError::Corrupt { .. })
        ));
        assert!(matches!(job(&item), Err(StoreError::Corrupt { .. })));
        assert_eq!(opt_s(&item, "absent").unwrap(), None);
        assert!(get_s(&item, "absent").is_err());
    }
}
