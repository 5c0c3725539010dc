//! Instances: one item per machine plus two uniqueness items written in the same transaction —
//! `PROVIDER#<provider>` / `INSTANCE#<provider id>` (recording a machine twice returns the first
//! record) and `JOB#<job>` / `INSTANCE#<attempt>` (one machine per job attempt, DESIGN.md
//! invariant 2). The attempt items also list a job's instances.

use super::item::{
    self, attempt_sk, id20, instance_pk, instances_in_state, job_pk, n, provider_pk, provider_sk,
    s, Item, ATTEMPT_PREFIX, GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, INSTANCES,
    INSTANCE_SK, PK, SK,
};
use super::jobs::next_id;
use super::read::{self, Query};
use super::txn::{self, Outcome};
use super::{sdk, DynamoStore};
use crate::error::StoreError;
use crate::types::{Instance, InstanceFilter, InstanceId, InstanceState, NewInstance};
use aws_sdk_dynamodb::types::ReturnValue;
use std::collections::HashMap;

fn instance_item(i: &Instance) -> Item {
    HashMap::from([
        (PK.to_string(), s(instance_pk(i.id))),
        (SK.to_string(), s(INSTANCE_SK)),
        ("kind".to_string(), s("instance")),
        ("id".to_string(), n(i.id.0)),
        ("job_id".to_string(), n(i.job.0)),
        ("provider".to_string(), s(i.provider.as_str())),
        ("provider_id".to_string(), s(i.provider_id.as_str())),
        ("attempt".to_string(), n(i64::from(i.attempt))),
        ("state".to_string(), s(i.state.as_str())),
        ("created_at_ms".to_string(), n(i.created_at.as_millis())),
        ("updated_at_ms".to_string(), n(i.updated_at.as_millis())),
        (GSI1_PK.to_string(), s(INSTANCES)),
        (GSI1_SK.to_string(), s(id20(i.id.0))),
        (GSI2_PK.to_string(), s(instances_in_state(i.state.as_str()))),
        (GSI2_SK.to_string(), s(id20(i.id.0))),
    ])
}

/// Records an instance: idempotent on `(provider, provider_id)`, one per `(job, attempt)`.
pub(super) async fn record(st: &DynamoStore, new: &NewInstance) -> Result<Instance, StoreError> {
    let id = InstanceId(next_id(st, "instances", "numbering an instance").await?);
    let now = st.now();
    let recorded = Instance {
        id,
        job: new.job,
        provider: new.provider.clone(),
        provider_id: new.provider_id.clone(),
        attempt: new.attempt,
        state: new.state,
        created_at: now,
        updated_at: now,
    };
    let by_provider_id = HashMap::from([
        (PK.to_string(), s(provider_pk(&new.provider))),
        (SK.to_string(), s(provider_sk(&new.provider_id))),
        ("kind".to_string(), s("instance_provider_id")),
        ("instance_id".to_string(), n(id.0)),
    ]);
    let by_attempt = HashMap::from([
        (PK.to_string(), s(job_pk(new.job))),
        (SK.to_string(), s(attempt_sk(new.attempt))),
        ("kind".to_string(), s("instance_attempt")),
        ("instance_id".to_string(), n(id.0)),
        ("provider".to_string(), s(new.provider.as_str())),
        ("provider_id".to_string(), s(new.provider_id.as_str())),
    ]);
    let writes = vec![
        txn::put_new(&st.table, instance_item(&recorded))?,
        txn::put_new(&st.table, by_provider_id)?,
        txn::put_new(&st.table, by_attempt)?,
    ];
    let reasons = match txn::write(st, writes, "recording an instance").await? {
        Outcome::Committed => return Ok(recorded),
        Outcome::ConditionFailed(reasons) => reasons,
    };
    // This very machine was recorded meanwhile (provider ids are never reused): return it.
    if reasons.get(1).is_some_and(txn::Reason::condition_failed) {
        if let Some(same) = find(st, &new.provider, &new.provider_id).await? {
            return Ok(same);
        }
    }
    // Another machine holds the job attempt: refuse.
    let holder = match reasons.get(2).and_then(|r| r.item.clone()) {
        Some(holder) => Some(holder),
        None => {
            let sk = attempt_sk(new.attempt);
            read::get(st, job_pk(new.job), &sk, "reading an instance").await?
        }
    };
    let existing = match &holder {
        Some(h) => format!(
            "{}/{}",
            item::get_s(h, "provider")?,
            item::get_s(h, "provider_id")?
        ),
        None => "(unknown)".to_string(),
    };
    Err(StoreError::InstanceConflict {
        job: new.job,
        attempt: new.attempt,
        existing,
        new: format!("{}/{}", new.provider, new.provider_id),
    })
}

/// Sets an instance's state.
pub(super) async fn set_state(
    st: &DynamoStore,
    id: InstanceId,
    state: InstanceState,
) -> Result<Instance, StoreError> {
    let sent = st
        .client
        .update_item()
        .table_name(&st.table)
        .set_key(Some(item::key(instance_pk(id), INSTANCE_SK)))
        .update_expression("SET #state = :state, #updated = :now, #g2p = :g2p")
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#state", "state")
        .expression_attribute_names("#updated", "updated_at_ms")
        .expression_attribute_names("#g2p", GSI2_PK)
        .expression_attribute_values(":state", s(state.as_str()))
        .expression_attribute_values(":now", n(st.now().as_millis()))
        .expression_attribute_values(":g2p", s(instances_in_state(state.as_str())))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match sent {
        Ok(out) => item::instance(&out.attributes.unwrap_or_default()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Err(StoreError::InstanceNotFound(id))
        }
        Err(e) => Err(sdk("updating an instance")(e)),
    }
}

/// Instances matching every condition of `filter`, oldest first.
pub(super) async fn list(
    st: &DynamoStore,
    filter: InstanceFilter,
) -> Result<Vec<Instance>, StoreError> {
    let mut found: Vec<Instance> = match (filter.job, filter.state) {
        (Some(job), _) => {
            // The job's attempt items name its instances.
            let q = Query {
                index: None,
                partition: (PK, job_pk(job)),
                sk_prefix: Some(ATTEMPT_PREFIX),
                ascending: true,
                limit: None,
            };
            let attempts = read::query(st, q, "listing a job's instances").await?;
            let pks = attempts
                .iter()
                .map(|a| Ok(instance_pk(InstanceId(item::get_i64(a, "instance_id")?))))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let items = read::get_many(st, pks, INSTANCE_SK, "listing instances").await?;
            items.iter().map(item::instance).collect::<Result<_, _>>()?
        }
        (None, Some(state)) => {
            let q = Query {
                index: Some(GSI2),
                partition: (GSI2_PK, instances_in_state(state.as_str())),
                sk_prefix: None,
                ascending: true,
                limit: None,
            };
            let items = read::query(st, q, "listing instances").await?;
            items.iter().map(item::instance).collect::<Result<_, _>>()?
        }
        (None, None) => {
            let q = Query {
                index: Some(GSI1),
                partition: (GSI1_PK, INSTANCES.to_string()),
                sk_prefix: None,
                ascending: true,
                limit: None,
            };
            let items = read::query(st, q, "listing instances").await?;
            items.iter().map(item::instance).collect::<Result<_, _>>()?
        }
    };
    if let Some(state) = filter.state {
        found.retain(|i| i.state == state);
    }
    found.sort_by_key(|i| i.id);
    Ok(found)
}

/// The instance a provider knows as `provider_id`.
pub(super) async fn find(
    st: &DynamoStore,
    provider: &str,
    provider_id: &str,
) -> Result<Option<Instance>, StoreError> {
    let sk = provider_sk(provider_id);
    let Some(pointer) = read::get(st, provider_pk(provider), &sk, "reading an instance").await?
    else {
        return Ok(None);
    };
    let id = InstanceId(item::get_i64(&pointer, "instance_id")?);
    read::get(st, instance_pk(id), INSTANCE_SK, "reading an instance")
        .await?
        .as_ref()
        .map(item::instance)
        .transpose()
}
