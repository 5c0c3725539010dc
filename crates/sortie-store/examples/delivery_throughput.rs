//! Measures how many webhook deliveries per second the store can take, by batch size: a batch is
//! what the server's group commit writes in one transaction.
//!
//! ```text
//! cargo run --release -p sortie-store --example delivery_throughput            # SQLite + PostgreSQL
//! cargo run --release -p sortie-store --example delivery_throughput -- sqlite   # one backend
//! ```
//! PostgreSQL is the test server (`SORTIE_TEST_POSTGRES_URL`, default
//! `postgres://postgres@127.0.0.1:5432/test`); a scratch database is created and dropped.

use sortie_core::forge::Flavor;
use sortie_store::{Delivery, DeliveryId, Store, Timestamp};
use sortie_testkit::postgres::TestDatabase;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// A body the size of a typical GitHub `workflow_job` payload (~7 KB).
fn body(i: usize) -> Vec<u8> {
    let mut b =
        format!("{{\"action\":\"queued\",\"workflow_job\":{{\"id\":{i}}},\"pad\":\"").into_bytes();
    b.resize(7_000, b'x');
    b.extend_from_slice(b"\"}");
    b
}

fn deliveries(prefix: &str, n: usize) -> Vec<Delivery> {
    (0..n)
        .map(|i| {
            let id = format!("{prefix}-{i:08}");
            let headers = BTreeMap::from([
                ("x-github-event".to_string(), "workflow_job".to_string()),
                ("x-github-delivery".to_string(), id.clone()),
                (
                    "x-hub-signature-256".to_string(),
                    format!("sha256={:064x}", i),
                ),
            ]);
            Delivery {
                id: DeliveryId(id),
                forge: Flavor::Github,
                event: "workflow_job".into(),
                headers,
                body: body(i),
                received_at: Timestamp::now(),
            }
        })
        .collect()
}

/// Inserts `total` deliveries in batches of `batch`; returns deliveries per second.
async fn measure(store: &Arc<dyn Store>, batch: usize, total: usize) -> f64 {
    let all = deliveries(&format!("b{batch}"), total);
    let start = Instant::now();
    for chunk in all.chunks(batch) {
        let out = store.insert_deliveries(chunk).await.expect("insert");
        assert!(out.iter().all(|o| o.is_new()));
    }
    total as f64 / start.elapsed().as_secs_f64()
}

async fn run(name: &str, store: Arc<dyn Store>) {
    println!("{name}");
    for (batch, total) in [(1, 500), (10, 3_000), (100, 20_000), (1_000, 40_000)] {
        let rate = measure(&store, batch, total).await;
        println!("  batch {batch:>5}: {rate:>9.0} deliveries/s  ({total} deliveries, ~7 KB each)");
    }
}

#[tokio::main]
async fn main() {
    let which: Vec<String> = std::env::args().skip(1).collect();
    let wants = |b: &str| which.is_empty() || which.iter().any(|w| w == b);
    if wants("sqlite") {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/bench.db", dir.path().display());
        let store = sortie_store::open(&url).await.expect("open sqlite");
        run("SQLite (WAL, synchronous=FULL)", store).await;
    }
    if wants("postgres") {
        let db = TestDatabase::create()
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let store = sortie_store::open(db.url()).await.expect("open postgres");
        run("PostgreSQL", store).await;
    }
}
