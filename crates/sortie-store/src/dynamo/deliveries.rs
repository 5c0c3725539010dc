//! Deliveries: stored before acknowledged, deduplicated by `(forge, id)` with a conditional put
//! (`attribute_not_exists(pk)`), processed once.

use super::item::{
    self, b, delivery_order, delivery_pk, n, s, Item, DELIVERIES, DELIVERIES_UNPROCESSED,
    DELIVERY_SK, GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, PK, SK, TTL,
};
use super::read::{self, Query};
use super::{gave_up, sdk, DynamoStore, DELIVERY_RETENTION, RETRIES};
use crate::error::StoreError;
use crate::types::{Delivery, DeliveryId, DeliveryInsert, DeliveryStatus, StoredDelivery};
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use sortie_core::forge::Flavor;
use std::collections::HashMap;
use tokio::task::JoinSet;

/// Conditional puts in flight at once for one batch.
const PUTS_IN_FLIGHT: usize = 16;

/// The item of a new, unprocessed delivery.
fn delivery_item(d: &Delivery) -> Item {
    let order = delivery_order(d);
    let headers = d
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), s(v.as_str())))
        .collect();
    HashMap::from([
        (PK.to_string(), s(delivery_pk(d.forge, &d.id))),
        (SK.to_string(), s(DELIVERY_SK)),
        ("kind".to_string(), s("delivery")),
        ("forge".to_string(), s(d.forge.as_str())),
        ("id".to_string(), s(d.id.0.as_str())),
        ("event".to_string(), s(d.event.as_str())),
        ("headers".to_string(), AttributeValue::M(headers)),
        ("body".to_string(), b(&d.body)),
        ("received_at_ms".to_string(), n(d.received_at.as_millis())),
        (GSI1_PK.to_string(), s(DELIVERIES)),
        (GSI1_SK.to_string(), s(order.clone())),
        (GSI2_PK.to_string(), s(DELIVERIES_UNPROCESSED)),
        (GSI2_SK.to_string(), s(order)),
    ])
}

/// Stores `ds`; one outcome per input, in order.
///
/// Each delivery is its own conditional `PutItem` (`attribute_not_exists(pk)`), several in flight
/// at once. A batch is not one transaction here: `TransactWriteItems` takes at most 100 items, and
/// a delivery needs no other item to change with it. When a put fails the batch fails; the
/// deliveries already stored are reported as duplicates (not yet processed) when the caller
/// retries, and the planner finds them among the unprocessed ones.
pub(super) async fn insert_batch(
    st: &DynamoStore,
    ds: &[Delivery],
) -> Result<Vec<DeliveryInsert>, StoreError> {
    // The first copy of each (forge, id) is the one written; later copies are duplicates of it.
    let mut first_of: HashMap<(Flavor, &str), usize> = HashMap::new();
    let mut unique = Vec::new();
    for (i, d) in ds.iter().enumerate() {
        first_of
            .entry((d.forge, d.id.0.as_str()))
            .or_insert_with(|| {
                unique.push(i);
                i
            });
    }
    let mut stored: HashMap<usize, DeliveryInsert> = HashMap::with_capacity(unique.len());
    let mut puts = JoinSet::new();
    let mut next = unique.into_iter();
    loop {
        while puts.len() < PUTS_IN_FLIGHT {
            let Some(i) = next.next() else { break };
            let (st, d) = (st.clone(), ds[i].clone());
            puts.spawn(async move { (i, insert_one(&st, &d).await) });
        }
        let Some(done) = puts.join_next().await else {
            break;
        };
        let (i, outcome) = done.map_err(|e| gave_up("storing deliveries", e.to_string()))?;
        stored.insert(i, outcome?);
    }
    let mut out = Vec::with_capacity(ds.len());
    for (i, d) in ds.iter().enumerate() {
        let first = first_of[&(d.forge, d.id.0.as_str())];
        let outcome = stored.get(&first).cloned().ok_or_else(|| {
            StoreError::corrupt("delivery", &d.id.0, "no outcome recorded for it")
        })?;
        out.push(match (first == i, outcome) {
            (true, outcome) => outcome,
            (false, DeliveryInsert::New) => DeliveryInsert::Duplicate {
                original: DeliveryStatus {
                    received_at: ds[first].received_at,
                    processed_at: None,
                    outcome: None,
                },
            },
            (false, duplicate) => duplicate,
        });
    }
    Ok(out)
}

/// Stores one delivery unless its key exists; a duplicate reports the stored copy's status.
async fn insert_one(st: &DynamoStore, d: &Delivery) -> Result<DeliveryInsert, StoreError> {
    for _ in 0..RETRIES {
        let sent = st
            .client
            .put_item()
            .table_name(&st.table)
            .set_item(Some(delivery_item(d)))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let err = match sent {
            Ok(_) => return Ok(DeliveryInsert::New),
            Err(err) => err,
        };
        let original = match err.as_service_error() {
            Some(PutItemError::ConditionalCheckFailedException(c)) => match c.item() {
                Some(item) => Some(item::delivery_status(item)?),
                None => status(st, d.forge, &d.id).await?,
            },
            _ => return Err(sdk("storing a delivery")(err)),
        };
        match original {
            Some(original) => return Ok(DeliveryInsert::Duplicate { original }),
            // Expired and deleted in between: store it again.
            None => continue,
        }
    }
    Err(gave_up(
        "storing a delivery",
        format!("delivery {} kept appearing and disappearing", d.id),
    ))
}

async fn status(
    st: &DynamoStore,
    forge: Flavor,
    id: &DeliveryId,
) -> Result<Option<DeliveryStatus>, StoreError> {
    read::get(
        st,
        delivery_pk(forge, id),
        DELIVERY_SK,
        "reading a delivery",
    )
    .await?
    .as_ref()
    .map(item::delivery_status)
    .transpose()
}

/// Marks processed unless already processed; from then on the item leaves the unprocessed index
/// and carries its expiry time.
pub(super) async fn mark_processed(
    st: &DynamoStore,
    forge: Flavor,
    id: &DeliveryId,
    outcome: &str,
) -> Result<bool, StoreError> {
    let now = st.now();
    let expires = now.plus(DELIVERY_RETENTION).as_millis().div_euclid(1000);
    let sent = st
        .client
        .update_item()
        .table_name(&st.table)
        .set_key(Some(item::key(delivery_pk(forge, id), DELIVERY_SK)))
        .update_expression(
            "SET processed_at_ms = :now, outcome = :outcome, #ttl = :expires REMOVE #g2p, #g2s",
        )
        .condition_expression("attribute_exists(#pk) AND attribute_not_exists(processed_at_ms)")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#ttl", TTL)
        .expression_attribute_names("#g2p", GSI2_PK)
        .expression_attribute_names("#g2s", GSI2_SK)
        .expression_attribute_values(":now", n(now.as_millis()))
        .expression_attribute_values(":outcome", s(outcome))
        .expression_attribute_values(":expires", n(expires))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .send()
        .await;
    let err = match sent {
        Ok(_) => return Ok(true),
        Err(err) => err,
    };
    let Some(failed) = err
        .as_service_error()
        .filter(|e| e.is_conditional_check_failed_exception())
    else {
        return Err(sdk("marking a delivery processed")(err));
    };
    let exists = match failed {
        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
            c,
        ) if c.item().is_some() => true,
        _ => status(st, forge, id).await?.is_some(),
    };
    if exists {
        Ok(false)
    } else {
        Err(StoreError::DeliveryNotFound {
            forge: forge.to_string(),
            id: id.0.clone(),
        })
    }
}

/// One delivery with its status.
pub(super) async fn get(
    st: &DynamoStore,
    forge: Flavor,
    id: &DeliveryId,
) -> Result<Option<StoredDelivery>, StoreError> {
    read::get(
        st,
        delivery_pk(forge, id),
        DELIVERY_SK,
        "reading a delivery",
    )
    .await?
    .as_ref()
    .map(item::delivery)
    .transpose()
}

/// Unprocessed deliveries oldest first (`unprocessed`), or all newest first.
pub(super) async fn list(
    st: &DynamoStore,
    unprocessed: bool,
    limit: u32,
) -> Result<Vec<StoredDelivery>, StoreError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let q = if unprocessed {
        Query {
            index: Some(GSI2),
            partition: (GSI2_PK, DELIVERIES_UNPROCESSED.to_string()),
            sk_prefix: None,
            ascending: true,
            limit: Some(limit),
        }
    } else {
        Query {
            index: Some(GSI1),
            partition: (GSI1_PK, DELIVERIES.to_string()),
            sk_prefix: None,
            ascending: false,
            limit: Some(limit),
        }
    };
    let items = read::query(st, q, "listing deliveries").await?;
    items.iter().map(item::delivery).collect()
}
