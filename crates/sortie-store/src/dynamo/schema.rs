//! `migrate` for DynamoDB: create the table with its indexes and TTL if absent, add an index a
//! newer sortie needs, wait until everything is `ACTIVE`. Idempotent; replicas starting together
//! may all run it (`ResourceInUseException` from a concurrent create is success).

use super::item::{
    GSI1, GSI1_PK, GSI1_SK, GSI2, GSI2_PK, GSI2_SK, GSI3, GSI3_PK, GSI3_SK, PK, SK, TTL,
};
use super::txn::built;
use super::{gave_up, sdk, DynamoStore};
use crate::error::StoreError;
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodb::operation::update_table::UpdateTableError;
use aws_sdk_dynamodb::operation::update_time_to_live::UpdateTimeToLiveError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, IndexStatus, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TableDescription, TableStatus, TimeToLiveSpecification, TimeToLiveStatus,
};
use std::time::{Duration, Instant};

/// The indexes this build queries: (name, partition key attribute, sort key attribute, what
/// they carry). The claim index needs only the keys: `claim_next` reads ids, then writes.
const INDEXES: [(&str, &str, &str, ProjectionType); 3] = [
    (GSI1, GSI1_PK, GSI1_SK, ProjectionType::All),
    (GSI2, GSI2_PK, GSI2_SK, ProjectionType::All),
    (GSI3, GSI3_PK, GSI3_SK, ProjectionType::KeysOnly),
];

/// How long to wait for a new table or index (an index on a big table backfills for a while).
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// Brings the table up to this build's design.
pub(super) async fn migrate(s: &DynamoStore) -> Result<(), StoreError> {
    if describe(s).await?.is_none() {
        create_table(s).await?;
    }
    let table = wait_active(s).await?;
    check_key_schema(s, &table)?;
    for (name, pk, sk, projection) in INDEXES {
        let present = table
            .global_secondary_indexes()
            .iter()
            .any(|i| i.index_name() == Some(name));
        if !present {
            add_index(s, name, pk, sk, projection).await?;
            wait_active(s).await?;
        }
    }
    enable_ttl(s).await
}

async fn describe(s: &DynamoStore) -> Result<Option<TableDescription>, StoreError> {
    match s.client.describe_table().table_name(&s.table).send().await {
        Ok(out) => Ok(out.table),
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(DescribeTableError::ResourceNotFoundException(_))
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(sdk("describing the table")(e)),
    }
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(built)
}

fn key_element(name: &str, key_type: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(built)
}

fn index(
    name: &str,
    pk: &str,
    sk: &str,
    projection: ProjectionType,
) -> Result<GlobalSecondaryIndex, StoreError> {
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key_element(pk, KeyType::Hash)?)
        .key_schema(key_element(sk, KeyType::Range)?)
        .projection(Projection::builder().projection_type(projection).build())
        .build()
        .map_err(built)
}

async fn create_table(s: &DynamoStore) -> Result<(), StoreError> {
    let mut request = s
        .client
        .create_table()
        .table_name(&s.table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_element(PK, KeyType::Hash)?)
        .key_schema(key_element(SK, KeyType::Range)?);
    for attribute in [PK, SK, GSI1_PK, GSI1_SK, GSI2_PK, GSI2_SK, GSI3_PK, GSI3_SK] {
        request = request.attribute_definitions(string_attribute(attribute)?);
    }
    for (name, pk, sk, projection) in INDEXES {
        request = request.global_secondary_indexes(index(name, pk, sk, projection)?);
    }
    match request.send().await {
        Ok(_) => Ok(()),
        // Another replica created it a moment ago.
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(CreateTableError::ResourceInUseException(_))
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(sdk("creating the table")(e)),
    }
}

/// Polls until the table and all its indexes are `ACTIVE`.
async fn wait_active(s: &DynamoStore) -> Result<TableDescription, StoreError> {
    let deadline = Instant::now() + ACTIVE_TIMEOUT;
    let mut pause = Duration::from_millis(50);
    loop {
        if let Some(table) = describe(s).await? {
            let table_ready = table.table_status() == Some(&TableStatus::Active);
            let indexes_ready = table
                .global_secondary_indexes()
                .iter()
                .all(|i| i.index_status() == Some(&IndexStatus::Active));
            if table_ready && indexes_ready {
                return Ok(table);
            }
        }
        if Instant::now() >= deadline {
            return Err(gave_up(
                "waiting for the table to become ACTIVE",
                format!(
                    "table {} or one of its indexes is not ACTIVE after {} s; look at it in the \
                     AWS console",
                    s.table,
                    ACTIVE_TIMEOUT.as_secs()
                ),
            ));
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

/// A table of the same name made for something else is not silently used.
fn check_key_schema(s: &DynamoStore, table: &TableDescription) -> Result<(), StoreError> {
    let keys: Vec<(&str, &KeyType)> = table
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type()))
        .collect();
    if keys == [(PK, &KeyType::Hash), (SK, &KeyType::Range)] {
        return Ok(());
    }
    Err(gave_up(
        "checking the table",
        format!(
            "table {} has the key schema {keys:?}, but sortie needs partition key `pk` and sort \
             key `sk` (both strings) — name another table in the database URL",
            s.table
        ),
    ))
}

async fn add_index(
    s: &DynamoStore,
    name: &str,
    pk: &str,
    sk: &str,
    projection: ProjectionType,
) -> Result<(), StoreError> {
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(name)
        .key_schema(key_element(pk, KeyType::Hash)?)
        .key_schema(key_element(sk, KeyType::Range)?)
        .projection(Projection::builder().projection_type(projection).build())
        .build()
        .map_err(built)?;
    let sent = s
        .client
        .update_table()
        .table_name(&s.table)
        .attribute_definitions(string_attribute(pk)?)
        .attribute_definitions(string_attribute(sk)?)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(create).build(),
        )
        .send()
        .await;
    match sent {
        Ok(_) => Ok(()),
        // Another replica is adding it (the table is UPDATING) or has added it.
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(UpdateTableError::ResourceInUseException(_))
            ) =>
        {
            Ok(())
        }
        Err(e) => Err(sdk("adding an index to the table")(e)),
    }
}

/// Turns on TTL on `expires_at` unless it is on (or being turned on or off: DynamoDB refuses a
/// change while one is in progress, and the operator may have turned it off on purpose).
async fn enable_ttl(s: &DynamoStore) -> Result<(), StoreError> {
    let described = s
        .client
        .describe_time_to_live()
        .table_name(&s.table)
        .send()
        .await
        .map_err(sdk("reading the table's TTL setting"))?;
    let ttl = described.time_to_live_description();
    match ttl.and_then(|t| t.time_to_live_status()) {
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling) => {
            let attribute = ttl.and_then(|t| t.attribute_name()).unwrap_or_default();
            if attribute == TTL {
                return Ok(());
            }
            return Err(gave_up(
                "checking the table's TTL setting",
                format!(
                    "TTL on table {} uses attribute {attribute:?}; sortie expires old deliveries \
                     through {TTL:?} — change the table's TTL attribute to {TTL:?}",
                    s.table
                ),
            ));
        }
        Some(TimeToLiveStatus::Disabling) => return Ok(()),
        _ => {}
    }
    let spec = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(TTL)
        .build()
        .map_err(built)?;
    let sent = s
        .client
        .update_time_to_live()
        .table_name(&s.table)
        .time_to_live_specification(spec)
        .send()
        .await;
    match sent {
        Ok(_) => Ok(()),
        // "TimeToLive is already enabled": another replica was quicker.
        Err(e)
            if matches!(
                e.as_service_error(),
                Some(UpdateTimeToLiveError::ResourceInUseException(_))
            ) || e
                .as_service_error()
                .and_then(|se| aws_sdk_dynamodb::error::ProvideErrorMetadata::message(se))
                .is_some_and(|m| m.contains("already enabled")) =>
        {
            Ok(())
        }
        Err(e) => Err(sdk("turning on the table's TTL")(e)),
    }
}
