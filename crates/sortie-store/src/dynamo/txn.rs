//! `TransactWriteItems`: several items change together or not at all.
//!
//! A transaction is cancelled as a whole; `CancellationReasons` has one entry per item, in order,
//! with `Code` `None` for the items that were fine
//! (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html>).
//! A failed condition is an answer for the caller (duplicate, conflict, lost race). A conflict
//! with another transaction in flight on the same item (`TransactionConflict`) or throttling is
//! not: the transaction is sent again after a short pause.

use super::item::{Item, PK};
use super::{backoff, gave_up, sdk, DynamoStore, RETRIES};
use crate::error::StoreError;
use aws_sdk_dynamodb::error::BuildError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};

/// Why one item of a cancelled transaction failed.
#[derive(Debug, Clone)]
pub(super) struct Reason {
    /// `None`, `ConditionalCheckFailed`, `TransactionConflict`, …
    pub code: String,
    /// The item as it was, when its condition failed and the request asked for `ALL_OLD`.
    pub item: Option<Item>,
}

impl Reason {
    /// The item's condition was false.
    pub fn condition_failed(&self) -> bool {
        self.code == "ConditionalCheckFailed"
    }
}

/// What became of a transaction.
#[derive(Debug)]
pub(super) enum Outcome {
    /// Every item was written.
    Committed,
    /// Nothing was written: at least one condition was false. One reason per item, in order.
    ConditionFailed(Vec<Reason>),
}

/// Codes after which the same transaction may succeed when sent again.
fn transient(code: &str) -> bool {
    matches!(
        code,
        "None" | "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
    )
}

/// Writes `items` in one transaction.
pub(super) async fn write(
    s: &DynamoStore,
    items: Vec<TransactWriteItem>,
    action: &'static str,
) -> Result<Outcome, StoreError> {
    for attempt in 1..=RETRIES {
        let sent = s
            .client
            .transact_write_items()
            .set_transact_items(Some(items.clone()))
            .send()
            .await;
        let err = match sent {
            Ok(_) => return Ok(Outcome::Committed),
            Err(err) => err,
        };
        let reasons: Vec<Reason> = match err.as_service_error() {
            Some(TransactWriteItemsError::TransactionCanceledException(c)) => c
                .cancellation_reasons()
                .iter()
                .map(|r| Reason {
                    code: r.code().unwrap_or("None").to_string(),
                    item: r.item().cloned(),
                })
                .collect(),
            _ => return Err(sdk(action)(err)),
        };
        if reasons.iter().any(Reason::condition_failed) {
            return Ok(Outcome::ConditionFailed(reasons));
        }
        if reasons.is_empty() || !reasons.iter().all(|r| transient(&r.code)) {
            return Err(sdk(action)(err));
        }
        backoff(attempt).await;
    }
    Err(gave_up(
        action,
        format!("the transaction was cancelled by conflicting writes {RETRIES} times in a row"),
    ))
}

/// A put that succeeds only when no item with this key exists; when one does, the cancellation
/// reason carries it.
pub(super) fn put_new(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk)")
        .expression_attribute_names("#pk", PK)
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(built)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A delete that happens only when `condition` holds; `names` and `values` are its placeholders.
pub(super) fn delete(
    table: &str,
    key: Item,
    condition: &str,
    names: &[(&str, &str)],
    values: Option<Item>,
) -> Result<TransactWriteItem, StoreError> {
    let names = names
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(key))
        .condition_expression(condition)
        .set_expression_attribute_names(Some(names))
        .set_expression_attribute_values(values)
        .build()
        .map_err(built)?;
    Ok(TransactWriteItem::builder().delete(delete).build())
}

/// A request that could not be assembled (a required field left out: a bug in this module).
pub(super) fn built(e: BuildError) -> StoreError {
    gave_up("assembling a request", e.to_string())
}
