//! Named leases: which replica runs the sweeper or the reconciler right now.
//!
//! One item per name. A conditional `PutItem` takes it only when it is absent, expired, or
//! already ours (renewal); DynamoDB applies the condition and the write atomically.

use super::item::{lease_pk, n, s, LEASE_SK, PK, SK};
use super::{conditional, DynamoStore};
use crate::error::StoreError;
use std::collections::HashMap;
use std::time::Duration;

/// Takes or renews the lease.
pub(super) async fn try_acquire(
    st: &DynamoStore,
    name: &str,
    owner: &str,
    ttl: Duration,
) -> Result<bool, StoreError> {
    let now = st.now();
    let item = HashMap::from([
        (PK.to_string(), s(lease_pk(name))),
        (SK.to_string(), s(LEASE_SK)),
        ("kind".to_string(), s("lease")),
        ("name".to_string(), s(name)),
        ("owner".to_string(), s(owner)),
        ("lease_expires_ms".to_string(), n(now.plus(ttl).as_millis())),
    ]);
    let sent = st
        .client
        .put_item()
        .table_name(&st.table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(#pk) OR #expires <= :now OR #owner = :owner")
        .expression_attribute_names("#pk", PK)
        .expression_attribute_names("#expires", "lease_expires_ms")
        .expression_attribute_names("#owner", "owner")
        .expression_attribute_values(":now", n(now.as_millis()))
        .expression_attribute_values(":owner", s(owner))
        .send()
        .await;
    conditional(sent.map(|_| ()), "acquiring a lease")
}

/// Gives the lease up if `owner` holds it.
pub(super) async fn release(st: &DynamoStore, name: &str, owner: &str) -> Result<bool, StoreError> {
    let sent = st
        .client
        .delete_item()
        .table_name(&st.table)
        .set_key(Some(super::item::key(lease_pk(name), LEASE_SK)))
        .condition_expression("#owner = :owner")
        .expression_attribute_names("#owner", "owner")
        .expression_attribute_values(":owner", s(owner))
        .send()
        .await;
    conditional(sent.map(|_| ()), "releasing a lease")
}
