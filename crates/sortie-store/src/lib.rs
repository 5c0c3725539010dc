//! # sortie-store
//!
//! sortie's durable state behind one object-safe trait, [`Store`]: webhook deliveries (stored
//! before they are acknowledged, deduplicated by delivery id), jobs with their state history, the
//! dispatch queue (claims with leases), instances, runner registrations, warm pools and named
//! leases for coordinating replicas.
//!
//! Backends, chosen by the URL's scheme in [`open`]:
//! - `sqlite://PATH` — the embedded default; the file is created if absent; WAL journal with
//!   `synchronous=FULL`, so an acknowledged delivery survives power loss.
//! - `postgres://…` — several sortie replicas on one database; claims use
//!   `FOR UPDATE SKIP LOCKED`.
//! - `dynamodb://TABLE` (cargo feature `dynamodb`, on by default) — one DynamoDB table for the
//!   Lambda mode; see [`DynamoStore`] and `docs/dynamodb.md`.
//!
//! Migrations (`migrations/sqlite`, `migrations/postgres`) are compiled in and run on open;
//! [`migrate`] is the entry point for `sortie migrate`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sortie_store::StoreError> {
//! let store = sortie_store::open("sqlite://./sortie.db").await?;
//! let next = store.claim_next("replica-1/dispatcher", std::time::Duration::from_secs(60)).await?;
//! # let _ = next; Ok(()) }
//! ```

#![warn(missing_docs)]

mod clock;
mod codec;
#[cfg(feature = "dynamodb")]
mod dynamo;
mod error;
mod sql;
mod store;
mod types;

pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
#[cfg(feature = "dynamodb")]
pub use dynamo::{DynamoStore, DELIVERY_RETENTION};
pub use error::{redact_url, StoreError};
pub use sql::{backend_of, Backend, OpenOptions, SqlStore};
pub use store::Store;
pub use types::*;

use std::sync::Arc;

/// Opens the store named by `url` with default [`OpenOptions`], creating (SQLite) and migrating it.
///
/// `sqlite://PATH`, `sqlite::memory:`, `postgres://USER[:PASSWORD]@HOST[:PORT]/DB[?sslmode=…]`.
/// For RDS use `sslmode=verify-full&sslrootcert=/path/to/global-bundle.pem`. With the `dynamodb`
/// feature, `dynamodb://TABLE[?endpoint=URL&region=REGION]` (see [`DynamoStore::open`]). Any
/// other scheme is [`StoreError::UnsupportedScheme`].
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_with(url, &OpenOptions::default()).await
}

/// [`open`] with a given clock (tests use [`ManualClock`]).
pub async fn open_with_clock(
    url: &str,
    clock: Arc<dyn Clock>,
) -> Result<Arc<dyn Store>, StoreError> {
    open_with(
        url,
        &OpenOptions {
            clock,
            ..OpenOptions::default()
        },
    )
    .await
}

/// [`open`] with explicit options.
pub async fn open_with(url: &str, options: &OpenOptions) -> Result<Arc<dyn Store>, StoreError> {
    #[cfg(feature = "dynamodb")]
    if backend_of(url)? == Backend::DynamoDb {
        return Ok(Arc::new(DynamoStore::open(url, options).await?));
    }
    Ok(Arc::new(sql::open(url, options).await?))
}

/// Brings the database at `url` up to the schema of this build (`sortie migrate`). Idempotent.
pub async fn migrate(url: &str) -> Result<(), StoreError> {
    #[cfg(feature = "dynamodb")]
    if backend_of(url)? == Backend::DynamoDb {
        // Opening creates the table and its indexes.
        DynamoStore::open(url, &OpenOptions::default()).await?;
        return Ok(());
    }
    let store = sql::open(url, &OpenOptions::default()).await?;
    store.close().await;
    Ok(())
}
