//! Runner registrations (one item each plus a `RUNNER#<name>` item that keeps names unique,
//! written and deleted together) and pools (one item each).

use super::item::{
    self, id20, n, pool_pk, registration_pk, registrations_in_state, runner_pk, s, Item, GSI1,
    GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, POOLS, POOL_SK, REGISTRATIONS, REGISTRATION_SK,
    RUNNER_SK, SK,
};
use super::jobs::next_id;
use super::read::{self, Query};
use super::txn::{self, Outcome};
use super::{backoff, gave_up, sdk, DynamoStore, RETRIES};
use crate::error::StoreError;
use crate::types::{NewRegistration, Pool, Registration, RegistrationId, RegistrationState};
use aws_sdk_dynamodb::types::ReturnValue;
use std::collections::HashMap;

fn registration_item(r: &Registration) -> Item {
    let mut it = HashMap::from([
        (PK.to_string(), s(registration_pk(r.id))),
        (SK.to_string(), s(REGISTRATION_SK)),
        ("kind".to_string(), s("registration")),
        ("id".to_string(), n(r.id.0)),
        ("job_id".to_string(), n(r.job.0)),
        ("name".to_string(), s(r.name.as_str())),
        ("state".to_string(), s(r.state.as_str())),
        ("created_at_ms".to_string(), n(r.created_at.as_millis())),
        (GSI1_PK.to_string(), s(REGISTRATIONS)),
        (GSI1_SK.to_string(), s(id20(r.id.0))),
        (
            GSI2_PK.to_string(),
            s(registrations_in_state(r.state.as_str())),
        ),
        (GSI2_SK.to_string(), s(id20(r.id.0))),
    ]);
    if let Some(runner_id) = r.runner_id {
        it.insert("runner_id".into(), n(runner_id));
    }
    it
}

/// The registration named `name`, if any.
async fn by_name(st: &DynamoStore, name: &str) -> Result<Option<Registration>, StoreError> {
    let action = "reading a runner registration";
    let Some(pointer) = read::get(st, runner_pk(name), RUNNER_SK, action).await? else {
        return Ok(None);
    };
    let id = RegistrationId(item::get_i64(&pointer, "registration_id")?);
    read::get(st, registration_pk(id), REGISTRATION_SK, action)
        .await?
        .as_ref()
        .map(item::registration)
        .transpose()
}

/// Records a registration; idempotent on the runner name.
pub(super) async fn record_registration(
    st: &DynamoStore,
    new: &NewRegistration,
) -> Result<Registration, StoreError> {
    let id = RegistrationId(next_id(st, "registrations", "numbering a registration").await?);
    let reg = Registration {
        id,
        job: new.job,
        runner_id: new.runner_id,
        name: new.name.clone(),
        state: new.state,
        created_at: st.now(),
    };
    let name_item = HashMap::from([
        (PK.to_string(), s(runner_pk(&new.name))),
        (SK.to_string(), s(RUNNER_SK)),
        ("kind".to_string(), s("runner_name")),
        ("registration_id".to_string(), n(id.0)),
    ]);
    let writes = vec![
        txn::put_new(&st.table, name_item)?,
        txn::put_new(&st.table, registration_item(&reg))?,
    ];
    match txn::write(st, writes, "recording a runner registration").await? {
        Outcome::Committed => Ok(reg),
        // The same name was recorded meanwhile: that record is the answer.
        Outcome::ConditionFailed(_) => by_name(st, &new.name)
            .await?
            .ok_or_else(|| StoreError::corrupt("runner name", &new.name, "conflict but not found")),
    }
}

/// Sets a registration's state.
pub(super) async fn set_registration_state(
    st: &DynamoStore,
    id: RegistrationId,
    state: RegistrationState,
) -> Result<Registration, StoreError> {
    let sent = st
        .client
        .update_item()
        .table_name(&st.table)
        .set_key(Some(item::key(registration_pk(id), REGISTRATION_SK)))
        .update_expression("SET #state = :state, #g2p = :g2p")
        .condition_expression("attribute_exists(#pk)")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#state", "state")
        .expression_attribute_names("#g2p", GSI2_PK)
        .expression_attribute_values(":state", s(state.as_str()))
        .expression_attribute_values(":g2p", s(registrations_in_state(state.as_str())))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match sent {
        Ok(out) => item::registration(&out.attributes.unwrap_or_default()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Err(StoreError::RegistrationNotFound(id))
        }
        Err(e) => Err(sdk("updating a runner registration")(e)),
    }
}

/// Registrations, optionally in one state, oldest first.
pub(super) async fn list_registrations(
    st: &DynamoStore,
    state: Option<RegistrationState>,
) -> Result<Vec<Registration>, StoreError> {
    let q = match state {
        Some(state) => Query {
            index: Some(GSI2),
            partition: (GSI2_PK, registrations_in_state(state.as_str())),
            sk_prefix: None,
            ascending: true,
            limit: None,
        },
        None => Query {
            index: Some(GSI1),
            partition: (GSI1_PK, REGISTRATIONS.to_string()),
            sk_prefix: None,
            ascending: true,
            limit: None,
        },
    };
    let items = read::query(st, q, "listing runner registrations").await?;
    items.iter().map(item::registration).collect()
}

/// Deletes a registration and its name item together.
pub(super) async fn delete_registration(
    st: &DynamoStore,
    id: RegistrationId,
) -> Result<bool, StoreError> {
    let action = "deleting a runner registration";
    for attempt in 1..=RETRIES {
        let Some(it) = read::get(st, registration_pk(id), REGISTRATION_SK, action).await? else {
            return Ok(false);
        };
        let name = item::get_s(&it, "name")?;
        let writes = vec![
            txn::delete(
                &st.table,
                item::key(registration_pk(id), REGISTRATION_SK),
                "attribute_exists(#pk)",
                &[("#pk", PK)],
                None,
            )?,
            // The name item names this registration (a name is freed only with its record).
            txn::delete(
                &st.table,
                item::key(runner_pk(name), RUNNER_SK),
                "attribute_not_exists(#pk) OR #rid = :id",
                &[("#pk", PK), ("#rid", "registration_id")],
                Some(HashMap::from([(":id".to_string(), n(id.0))])),
            )?,
        ];
        match txn::write(st, writes, action).await? {
            Outcome::Committed => return Ok(true),
            // Deleted by someone else in between: look again.
            Outcome::ConditionFailed(_) => backoff(attempt).await,
        }
    }
    Err(gave_up(
        action,
        format!("registration {id} kept changing during {RETRIES} attempts"),
    ))
}

/// Creates or replaces a pool.
pub(super) async fn put_pool(st: &DynamoStore, pool: &Pool) -> Result<(), StoreError> {
    let it = HashMap::from([
        (PK.to_string(), s(pool_pk(&pool.name))),
        (SK.to_string(), s(POOL_SK)),
        ("kind".to_string(), s("pool")),
        ("name".to_string(), s(pool.name.as_str())),
        ("labels".to_string(), item::list(&pool.labels)),
        ("hot".to_string(), n(i64::from(pool.hot))),
        ("stopped".to_string(), n(i64::from(pool.stopped))),
        ("updated_at_ms".to_string(), n(st.now().as_millis())),
        (GSI1_PK.to_string(), s(POOLS)),
        (GSI1_SK.to_string(), s(pool_pk(&pool.name))),
    ]);
    st.client
        .put_item()
        .table_name(&st.table)
        .set_item(Some(it))
        .send()
        .await
        .map_err(sdk("saving a pool"))?;
    Ok(())
}

/// A pool by name.
pub(super) async fn get_pool(st: &DynamoStore, name: &str) -> Result<Option<Pool>, StoreError> {
    read::get(st, pool_pk(name), POOL_SK, "reading a pool")
        .await?
        .as_ref()
        .map(item::pool)
        .transpose()
}

/// All pools by name.
pub(super) async fn list_pools(st: &DynamoStore) -> Result<Vec<Pool>, StoreError> {
    let q = Query {
        index: Some(GSI1),
        partition: (GSI1_PK, POOLS.to_string()),
        sk_prefix: None,
        ascending: true,
        limit: None,
    };
    let items = read::query(st, q, "listing pools").await?;
    items.iter().map(item::pool).collect()
}

/// Deletes a pool.
pub(super) async fn delete_pool(st: &DynamoStore, name: &str) -> Result<bool, StoreError> {
    let out = st
        .client
        .delete_item()
        .table_name(&st.table)
        .set_key(Some(item::key(pool_pk(name), POOL_SK)))
        .return_values(ReturnValue::AllOld)
        .send()
        .await
        .map_err(sdk("deleting a pool"))?;
    Ok(out.attributes.is_some_and(|a| !a.is_empty()))
}
