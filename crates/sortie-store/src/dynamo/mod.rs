//! The DynamoDB backend (`dynamodb://TABLE`, cargo feature `dynamodb`): sortie's state in ONE
//! table, for the Lambda mode. `docs/dynamodb.md` is the operator's copy of this design.
//!
//! # Table
//! Primary key `pk` (S) + `sk` (S); on-demand billing; two global secondary indexes, both with
//! projection `ALL`: `gsi1` (`gsi1pk`, `gsi1sk`: every item of one kind, in order) and `gsi2`
//! (`gsi2pk`, `gsi2sk`: items of one kind in one state). `<id20>` is an id zero-padded to 20
//! digits and `<t20>` a millisecond time shifted to unsigned and padded, so strings sort as the
//! numbers do.
//!
//! | item | `pk` | `sk` | `gsi1pk` / `gsi1sk` | `gsi2pk` / `gsi2sk` |
//! |---|---|---|---|---|
//! | delivery | `DELIVERY#<forge>#<id>` | `DELIVERY` | `DELIVERIES` / `<t20>#<forge>#<id>` | `DELIVERIES#UNPROCESSED` / same, removed when processed |
//! | job | `JOB#<id20>` | `JOB` | `JOBS` / `<id20>` | `JOBS#<state>` / `<id20>` |
//! | job history entry | `JOB#<id20>` | `HISTORY#<version10>` | | |
//! | job key (uniqueness) | `JOBKEY#<sha-256 of the key>` | `JOBKEY` | | |
//! | instance | `INSTANCE#<id20>` | `INSTANCE` | `INSTANCES` / `<id20>` | `INSTANCES#<state>` / `<id20>` |
//! | instance by job attempt (uniqueness) | `JOB#<job id20>` | `INSTANCE#<attempt10>` | | |
//! | instance by provider id (uniqueness) | `PROVIDER#<provider>` | `INSTANCE#<provider id>` | | |
//! | runner registration | `REGISTRATION#<id20>` | `REGISTRATION` | `REGISTRATIONS` / `<id20>` | `REGISTRATIONS#<state>` / `<id20>` |
//! | registration by name (uniqueness) | `RUNNER#<name>` | `RUNNER` | | |
//! | pool | `POOL#<name>` | `POOL` | `POOLS` / `POOL#<name>` | |
//! | named lease | `LEASE#<name>` | `LEASE` | | |
//! | bootstrap token | `BOOTSTRAP#<token hash>` | `BOOTSTRAP` | | |
//! | agent session | `JOB#<job id20>` | `SESSION#<attempt10>` | | `SESSIONS#OPEN` / `<redeemed t20>#<job id20>`, removed when finished |
//! | session token | `SESSION#<session hash>` | `SESSION` | | |
//! | id sequence | `COUNTER#<jobs, instances or registrations>` | `COUNTER` | | |
//!
//! Ids come from the counters (`UpdateItem ADD`), so they grow in creation order like the SQL
//! backends' sequences (and, like them, may skip a number when a create loses a race).
//!
//! Creates do not read first: a new item (the common case) costs one counter update and one
//! transaction; an existing key fails the transaction's condition and is then read.
//!
//! Queries: unprocessed deliveries oldest first = `gsi2` on `DELIVERIES#UNPROCESSED` ascending (a
//! sparse index: processing removes the key); recent deliveries = `gsi1` on `DELIVERIES`
//! descending; `claim_next` = `gsi2` on `JOBS#queued` ascending; `list_jobs` = `gsi1`/`gsi2`
//! descending; `claim_stale_launching` = `gsi2` on `JOBS#launching`; instances and
//! registrations likewise ascending; a job's instances, history and agent sessions = the
//! `INSTANCE#`, `HISTORY#` and `SESSION#` items in the job's own partition.
//!
//! # Atomic steps
//! Every [`Store`](crate::Store) method is one atomic DynamoDB write (or a read):
//! - conditional `PutItem`/`UpdateItem`/`DeleteItem`: a delivery (`attribute_not_exists(pk)`:
//!   the dedupe), claims (`state = queued AND (attribute_not_exists(claim_expires_ms) OR
//!   claim_expires_ms <= now)` — a job has one item, so at most one live claim even with many
//!   stores on the table), renew and release (condition on the worker), leases (absent, expired
//!   or ours), `mark_delivery_processed` (not yet processed), instance and registration state
//!   changes (the item exists), agent reports (the session's phase and last-seen time are
//!   still the ones read), bootstrap tokens, the id counters (`ADD`);
//! - `TransactWriteItems` where items must change together: job + key item + creation history
//!   entry, job state (conditional on the job's `version`, which every write to the job bumps) +
//!   history entry, a note (job `version` + history entry), instance + its two uniqueness items,
//!   registration + name item (and their deletion), agent session + session token item (and
//!   their deletion when a redemption is undone).
//!
//! `insert_deliveries` is the one method that is not a single atomic step here: each delivery is
//! its own conditional put (several in flight). A delivery needs no other item to change with it,
//! and a transaction would cap a batch at 100 items and cost twice the write capacity. If the
//! batch fails part-way, the deliveries already stored stay stored (unprocessed) and a retry
//! reports them as duplicates.
//!
//! A transaction cancelled by a conflicting concurrent transaction (`TransactionConflict`) is
//! retried with a short back-off; a cancelled condition is the answer (duplicate, conflict, lost
//! race) and is read from the cancellation reasons.
//!
//! # Retention
//! A processed delivery gets `expires_at` (epoch *seconds*, the table's TTL attribute) = processed
//! time + [`DELIVERY_RETENTION`] (7 days); DynamoDB deletes it some time after that. Unprocessed
//! deliveries never expire. After expiry a redelivery of the same id is stored as new.
//!
//! # Limits
//! `gsi1`/`gsi2` reads are eventually consistent on AWS: a job created a moment ago may be missing
//! from `list_jobs` or from the next `claim_next` (the dispatcher polls again); every conditional
//! write re-checks the base item, so a stale index never gives two claims. A DynamoDB item holds
//! at most 400 KB, so a delivery body near that size is refused by the service.

mod agents;
mod deliveries;
mod fleet;
mod instances;
mod item;
mod jobs;
mod leases;
mod queue;
mod read;
mod schema;
mod store_impl;
mod txn;
mod url;

use crate::clock::{Clock, Timestamp};
use crate::error::{redact_url, StoreError};
use crate::sql::OpenOptions;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::Client;
use std::sync::Arc;
use std::time::Duration;

/// How long a processed delivery is kept before DynamoDB's TTL may delete it.
pub const DELIVERY_RETENTION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// A store on one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    clock: Arc<dyn Clock>,
}

impl DynamoStore {
    /// A store on `table` through `client`. Does not touch the table: call
    /// [`Store::migrate`](crate::Store::migrate) to create it.
    pub fn new(client: Client, table: String, clock: Arc<dyn Clock>) -> Self {
        DynamoStore {
            client,
            table,
            clock,
        }
    }

    /// Opens `dynamodb://[KEY_ID:SECRET@]TABLE[?endpoint=URL&region=REGION]` and creates the table
    /// if absent. AWS settings come from the standard environment chain (`AWS_REGION`,
    /// `AWS_ENDPOINT_URL_DYNAMODB`, the Lambda role, …); the URL's parts override them. Static
    /// keys in the URL are for local endpoints (DynamoDB Local, moto).
    pub async fn open(url: &str, options: &OpenOptions) -> Result<Self, StoreError> {
        let parsed = url::parse(url)?;
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .timeout_config(
                aws_config::timeout::TimeoutConfig::builder()
                    .connect_timeout(options.connect_timeout)
                    .build(),
            );
        if let Some(region) = &parsed.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(endpoint) = &parsed.endpoint {
            loader = loader.endpoint_url(endpoint.clone());
        }
        if let Some((key_id, secret)) = &parsed.credentials {
            loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                key_id.clone(),
                secret.clone(),
                None,
                None,
                "database URL",
            ));
        }
        let config = loader.load().await;
        if config.region().is_none() {
            return Err(StoreError::InvalidUrl {
                url: redact_url(url),
                reason: "no AWS region: set AWS_REGION or add ?region=… to the URL".into(),
            });
        }
        let store = DynamoStore::new(Client::new(&config), parsed.table, options.clock.clone());
        schema::migrate(&store).await?;
        Ok(store)
    }

    /// The table's name.
    pub fn table(&self) -> &str {
        &self.table
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

/// Wraps an SDK error with what the store was doing.
fn sdk<E, R>(action: &'static str) -> impl FnOnce(SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    move |e| StoreError::Dynamo {
        action,
        detail: DisplayErrorContext(&e).to_string(),
        source: Box::new(e),
    }
}

/// True when a conditional write happened, false when its condition was false.
fn conditional<E, R>(
    sent: Result<(), aws_sdk_dynamodb::error::SdkError<E, R>>,
    action: &'static str,
) -> Result<bool, StoreError>
where
    E: std::error::Error + Send + Sync + 'static + ConditionFailed,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match sent {
        Ok(()) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(ConditionFailed::is_condition_failed) =>
        {
            Ok(false)
        }
        Err(e) => Err(sdk(action)(e)),
    }
}

/// The operation errors that can say "the condition was false".
trait ConditionFailed {
    fn is_condition_failed(&self) -> bool;
}

macro_rules! condition_failed {
    ($($t:ty),*) => {$(
        impl ConditionFailed for $t {
            fn is_condition_failed(&self) -> bool {
                self.is_conditional_check_failed_exception()
            }
        }
    )*};
}
condition_failed!(
    aws_sdk_dynamodb::operation::update_item::UpdateItemError,
    aws_sdk_dynamodb::operation::put_item::PutItemError,
    aws_sdk_dynamodb::operation::delete_item::DeleteItemError
);

/// An error of the store's own making while talking to DynamoDB (e.g. giving up on contention).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Gave(String);

fn gave_up(action: &'static str, detail: impl Into<String>) -> StoreError {
    let detail = detail.into();
    StoreError::Dynamo {
        action,
        detail: detail.clone(),
        source: Box::new(Gave(detail)),
    }
}

/// How often a write that lost a race to a concurrent one is tried again before giving up.
const RETRIES: u32 = 20;

/// A short pause before retry `attempt` (1-based): 5 ms, 10 ms, … capped at 100 ms, plus a few
/// milliseconds that differ between callers so racing retries spread out.
async fn backoff(attempt: u32) {
    use std::hash::{BuildHasher, RandomState};
    let jitter = RandomState::new().hash_one(attempt) % 5;
    let ms = (5 * u64::from(attempt)).min(100) + jitter;
    tokio::time::sleep(Duration::from_millis(ms)).await;
}
