//! Reads: one item by key (strongly consistent), and queries of one partition of the table or of
//! an index, page after page up to a limit.

use super::item::{key, s, Item, SK};
use super::txn::built;
use super::{sdk, DynamoStore};
use crate::error::StoreError;
use aws_sdk_dynamodb::types::KeysAndAttributes;

/// The item with this key, read strongly consistent.
pub(super) async fn get(
    st: &DynamoStore,
    pk: String,
    sk: &str,
    action: &'static str,
) -> Result<Option<Item>, StoreError> {
    let out = st
        .client
        .get_item()
        .table_name(&st.table)
        .set_key(Some(key(pk, sk)))
        .consistent_read(true)
        .send()
        .await
        .map_err(sdk(action))?;
    Ok(out.item)
}

/// Which items a [`query`] returns.
#[derive(Debug, Clone)]
pub(super) struct Query<'a> {
    /// `None` for the table itself (strongly consistent), else a global secondary index.
    pub index: Option<&'a str>,
    /// The partition key attribute (`pk`, `gsi1pk`, …) and its value.
    pub partition: (&'a str, String),
    /// Only sort keys starting with this (on the table's `sk`).
    pub sk_prefix: Option<&'a str>,
    /// Ascending sort key order when true.
    pub ascending: bool,
    /// At most this many items; `None` for all.
    pub limit: Option<u32>,
}

/// Items of one partition in sort key order, following `LastEvaluatedKey` until `limit`.
pub(super) async fn query(
    st: &DynamoStore,
    q: Query<'_>,
    action: &'static str,
) -> Result<Vec<Item>, StoreError> {
    let want = q.limit.map_or(usize::MAX, |l| l as usize);
    let mut found = Vec::new();
    let mut start: Option<Item> = None;
    while found.len() < want {
        let mut request = st
            .client
            .query()
            .table_name(&st.table)
            .set_index_name(q.index.map(str::to_string))
            .consistent_read(q.index.is_none())
            .scan_index_forward(q.ascending)
            .expression_attribute_names("#p", q.partition.0)
            .expression_attribute_values(":p", s(q.partition.1.clone()))
            .set_exclusive_start_key(start.take());
        request = match q.sk_prefix {
            Some(prefix) => request
                .key_condition_expression("#p = :p AND begins_with(#s, :s)")
                .expression_attribute_names("#s", SK)
                .expression_attribute_values(":s", s(prefix)),
            None => request.key_condition_expression("#p = :p"),
        };
        if q.limit.is_some() {
            let left = want - found.len();
            request = request.limit(i32::try_from(left).unwrap_or(i32::MAX));
        }
        let out = request.send().await.map_err(sdk(action))?;
        found.extend(out.items.unwrap_or_default());
        match out.last_evaluated_key {
            Some(k) if !k.is_empty() => start = Some(k),
            _ => break,
        }
    }
    found.truncate(want);
    Ok(found)
}

/// The items with these partition keys (sort key `sk`), strongly consistent, in no order.
pub(super) async fn get_many(
    st: &DynamoStore,
    pks: Vec<String>,
    sk: &str,
    action: &'static str,
) -> Result<Vec<Item>, StoreError> {
    let mut found = Vec::with_capacity(pks.len());
    // BatchGetItem takes at most 100 keys per request.
    for chunk in pks.chunks(100) {
        let mut keys: Vec<Item> = chunk.iter().map(|pk| key(pk.clone(), sk)).collect();
        // Keys DynamoDB did not get to (throttling, 16 MB) come back as UnprocessedKeys.
        for attempt in 1..=super::RETRIES {
            if keys.is_empty() {
                break;
            }
            if attempt > 1 {
                super::backoff(attempt).await;
            }
            let wanted = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut keys)))
                .consistent_read(true)
                .build()
                .map_err(built)?;
            let out = st
                .client
                .batch_get_item()
                .request_items(st.table.clone(), wanted)
                .send()
                .await
                .map_err(sdk(action))?;
            let mut responses = out.responses.unwrap_or_default();
            found.extend(responses.remove(&st.table).unwrap_or_default());
            keys = out
                .unprocessed_keys
                .unwrap_or_default()
                .remove(&st.table)
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        if !keys.is_empty() {
            return Err(super::gave_up(
                action,
                "DynamoDB kept returning unprocessed keys",
            ));
        }
    }
    Ok(found)
}
