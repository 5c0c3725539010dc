//! The SQL backends: SQLite (embedded default) and PostgreSQL (several replicas, one database),
//! one implementation through `sqlx::any`. The SQL is shared; where the two databases differ
//! (row locks, how a write transaction starts, column types in the migrations) [`Dialect`] says so.
//!
//! Module map: [`connect`] opens pools and runs migrations; [`deliveries`], [`jobs`], [`queue`],
//! [`fleet`] (instances, runner registrations, pools) and [`leases`] hold the statements;
//! [`rows`] turns rows back into domain types.

mod agents;
mod connect;
mod deliveries;
mod fleet;
mod jobs;
mod leases;
mod queue;
mod rows;

pub(crate) use connect::open;
pub use connect::{backend_of, Backend, OpenOptions};

use crate::clock::Clock;
use crate::error::StoreError;
use sqlx::AnyPool;
use sqlx::{Any, Transaction};
use std::sync::Arc;

/// Which SQL database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// A store on SQLite or PostgreSQL.
#[derive(Debug)]
pub struct SqlStore {
    dialect: Dialect,
    /// Writes. On SQLite a single connection: SQLite has one writer at a time anyway, and queueing
    /// in the pool is fairer and faster than connections spinning on `SQLITE_BUSY`.
    writer: AnyPool,
    /// Reads. On SQLite a few connections reading the WAL concurrently; on PostgreSQL the writer.
    reader: AnyPool,
    clock: Arc<dyn Clock>,
    /// For messages, password removed.
    url: String,
}

impl SqlStore {
    /// Starts a write transaction. On SQLite `BEGIN IMMEDIATE` takes the write lock up front, so a
    /// transaction that reads then writes cannot fail half-way with `SQLITE_BUSY` when another
    /// process (e.g. `sortie migrate`) writes in between.
    async fn write_tx(
        &self,
        action: &'static str,
    ) -> Result<Transaction<'static, Any>, StoreError> {
        let tx = match self.dialect {
            Dialect::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await,
            Dialect::Postgres => self.writer.begin().await,
        };
        tx.map_err(StoreError::query(action))
    }

    fn now(&self) -> crate::clock::Timestamp {
        self.clock.now()
    }

    /// Closes the pools, waiting for connections in use to come back.
    pub async fn close(&self) {
        self.writer.close().await;
        self.reader.close().await;
    }
}

mod store_impl;
