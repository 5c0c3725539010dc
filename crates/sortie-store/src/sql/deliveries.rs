//! Deliveries: stored before acknowledged, deduplicated by `(forge, id)`, processed once.

use super::rows::{self, delivery_columns};
use super::SqlStore;
use crate::error::StoreError;
use crate::types::{Delivery, DeliveryId, DeliveryInsert, DeliveryStatus, StoredDelivery};
use sortie_core::forge::Flavor;
use sqlx::AnyConnection;
use sqlx::Row;
use std::collections::HashSet;
use std::fmt::Write as _;

/// Rows per INSERT statement: 6 parameters each stays far below SQLite's 32766 and PostgreSQL's
/// 65535 bind-parameter limits.
const ROWS_PER_STATEMENT: usize = 1000;

/// The multi-row insert for `n` deliveries. Rows that already exist are skipped; the inserted
/// ones are returned, which tells new from duplicate without a second query in the common case.
fn insert_sql(n: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO deliveries (forge, id, event, headers, body, received_at_ms) VALUES ",
    );
    for i in 0..n {
        let b = i * 6;
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(
            sql,
            "{sep}(${}, ${}, ${}, ${}, ${}, ${})",
            b + 1,
            b + 2,
            b + 3,
            b + 4,
            b + 5,
            b + 6
        );
    }
    sql.push_str(" ON CONFLICT (forge, id) DO NOTHING RETURNING forge, id");
    sql
}

/// Stores `ds` in one transaction; one outcome per input, in order.
pub(super) async fn insert_batch(
    s: &SqlStore,
    ds: &[Delivery],
) -> Result<Vec<DeliveryInsert>, StoreError> {
    if ds.is_empty() {
        return Ok(Vec::new());
    }
    // Insert in key order: two concurrent batches sharing ids then lock those rows in the same
    // order and cannot deadlock (PostgreSQL). The sort is stable, so of two copies of one id in
    // the batch the first is the one stored.
    let mut sorted: Vec<&Delivery> = ds.iter().collect();
    sorted.sort_by(|a, b| (a.forge.as_str(), &a.id).cmp(&(b.forge.as_str(), &b.id)));
    let mut tx = s.write_tx("storing deliveries").await?;
    let mut inserted: HashSet<(String, String)> = HashSet::new();
    for chunk in sorted.chunks(ROWS_PER_STATEMENT) {
        let headers = chunk
            .iter()
            .map(|d| rows::to_json("headers", &d.headers))
            .collect::<Result<Vec<_>, _>>()?;
        let sql = insert_sql(chunk.len());
        let mut q = sqlx::query(&sql);
        for (d, h) in chunk.iter().zip(&headers) {
            q = q
                .bind(d.forge.as_str())
                .bind(d.id.0.as_str())
                .bind(d.event.as_str())
                .bind(h.as_str())
                .bind(d.body.as_slice())
                .bind(d.received_at.as_millis());
        }
        for row in q
            .fetch_all(&mut *tx)
            .await
            .map_err(StoreError::query("storing deliveries"))?
        {
            let forge: String = row
                .try_get("forge")
                .map_err(StoreError::query("storing deliveries"))?;
            let id: String = row
                .try_get("id")
                .map_err(StoreError::query("storing deliveries"))?;
            inserted.insert((forge, id));
        }
    }
    let mut out = Vec::with_capacity(ds.len());
    let mut reported_new = HashSet::new();
    for d in ds {
        let key = (d.forge.as_str().to_string(), d.id.0.clone());
        if inserted.contains(&key) && reported_new.insert(key) {
            out.push(DeliveryInsert::New);
        } else {
            let original = status_in(&mut tx, d.forge, &d.id).await?.ok_or_else(|| {
                StoreError::corrupt("delivery", &d.id.0, "skipped as a duplicate but not found")
            })?;
            out.push(DeliveryInsert::Duplicate { original });
        }
    }
    tx.commit()
        .await
        .map_err(StoreError::query("committing deliveries"))?;
    Ok(out)
}

async fn status_in(
    conn: &mut AnyConnection,
    forge: Flavor,
    id: &DeliveryId,
) -> Result<Option<DeliveryStatus>, StoreError> {
    let row = sqlx::query("SELECT received_at_ms, processed_at_ms, outcome FROM deliveries WHERE forge = $1 AND id = $2")
        .bind(forge.as_str())
        .bind(id.0.as_str())
        .fetch_optional(conn)
        .await
        .map_err(StoreError::query("reading a delivery"))?;
    row.as_ref().map(rows::delivery_status).transpose()
}

/// Marks processed unless already processed.
pub(super) async fn mark_processed(
    s: &SqlStore,
    forge: Flavor,
    id: &DeliveryId,
    outcome: &str,
) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE deliveries SET processed_at_ms = $1, outcome = $2 \
         WHERE forge = $3 AND id = $4 AND processed_at_ms IS NULL",
    )
    .bind(s.now().as_millis())
    .bind(outcome)
    .bind(forge.as_str())
    .bind(id.0.as_str())
    .execute(&s.writer)
    .await
    .map_err(StoreError::query("marking a delivery processed"))?;
    if done.rows_affected() == 1 {
        return Ok(true);
    }
    match get(s, forge, id).await? {
        Some(_) => Ok(false),
        None => Err(StoreError::DeliveryNotFound {
            forge: forge.to_string(),
            id: id.0.clone(),
        }),
    }
}

/// One delivery with its status.
pub(super) async fn get(
    s: &SqlStore,
    forge: Flavor,
    id: &DeliveryId,
) -> Result<Option<StoredDelivery>, StoreError> {
    let row = sqlx::query(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM deliveries WHERE forge = $1 AND id = $2"
    ))
    .bind(forge.as_str())
    .bind(id.0.as_str())
    .fetch_optional(&s.reader)
    .await
    .map_err(StoreError::query("reading a delivery"))?;
    row.as_ref().map(rows::delivery).transpose()
}

/// Which deliveries to list.
#[derive(Debug, Clone, Copy)]
pub(super) enum Listing {
    /// Not yet processed, oldest first.
    Unprocessed,
    /// All, newest first.
    Recent,
}

pub(super) async fn list(
    s: &SqlStore,
    which: Listing,
    limit: u32,
) -> Result<Vec<StoredDelivery>, StoreError> {
    let sql = match which {
        Listing::Unprocessed => concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM deliveries WHERE processed_at_ms IS NULL ",
            "ORDER BY received_at_ms, forge, id LIMIT $1"
        ),
        Listing::Recent => concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM deliveries ",
            "ORDER BY received_at_ms DESC, forge DESC, id DESC LIMIT $1"
        ),
    };
    let found = sqlx::query(sql)
        .bind(rows::limit(limit))
        .fetch_all(&s.reader)
        .await
        .map_err(StoreError::query("listing deliveries"))?;
    found.iter().map(rows::delivery).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_statement_numbers_parameters_per_row() {
        assert_eq!(
            insert_sql(2),
            "INSERT INTO deliveries (forge, id, event, headers, body, received_at_ms) VALUES \
             ($1, $2, $3, $4, $5, $6), ($7, $8, $9, $10, $11, $12) \
             ON CONFLICT (forge, id) DO NOTHING RETURNING forge, id"
        );
        assert!(insert_sql(ROWS_PER_STATEMENT).contains("$6000)"));
    }
}
