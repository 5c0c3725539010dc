//! Crash safety of `sortie serve` (invariant 1: a delivery is stored before it is acknowledged):
//! SIGKILL the real binary while 1,000 signed deliveries arrive concurrently, restart it on the
//! same SQLite file, and check that every delivery that got a 2xx is stored exactly once.

mod serve_common;

use serve_common::*;
use sortie_core::forge::Flavor;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const DELIVERIES: usize = 1000;
const CLIENTS: usize = 32;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_acknowledged_delivery_survives_sigkill_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("sortie.db").display());
    let mut server = Server::start(&db);
    let base = server.url.clone();

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut senders = Vec::new();
    for _ in 0..CLIENTS {
        let (client, acked, next, base) =
            (client.clone(), acked.clone(), next.clone(), base.clone());
        senders.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= DELIVERIES {
                    break;
                }
                let id = format!("crash-{i}");
                let body = format!("{{\"n\":{i}}}");
                if let Ok(status) = send(&client, &base, &id, body.as_bytes()).await {
                    if (200..300).contains(&status) {
                        acked.lock().unwrap().push(id);
                    }
                }
            }
        }));
    }
    // Kill mid-stream: once a few hundred deliveries were acknowledged.
    sortie_testkit::eventually(
        "300 deliveries acknowledged",
        Duration::from_secs(15),
        || {
            let n = acked.lock().unwrap().len();
            async move { (n >= 300).then_some(()) }
        },
    )
    .await;
    server.sigkill();
    for s in senders {
        s.await.unwrap();
    }
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 300 && acked.len() < DELIVERIES,
        "killed mid-stream: {} acknowledged",
        acked.len()
    );

    // Restart on the same file: it comes up, and every acknowledged delivery is a duplicate now.
    let server = Server::start(&db);
    for id in acked.iter().take(50) {
        let n: usize = id.trim_start_matches("crash-").parse().unwrap();
        let status = send(
            &client,
            &server.url,
            id,
            format!("{{\"n\":{n}}}").as_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(
            status, 200,
            "{id} was acknowledged before the crash, so it is a duplicate after it"
        );
    }
    drop(server);

    let store = sortie_store::open(&db).await.unwrap();
    let stored = store.list_recent_deliveries(10_000).await.unwrap();
    let ids: Vec<&str> = stored
        .iter()
        .filter(|d| d.delivery.forge == Flavor::Github)
        .map(|d| d.delivery.id.0.as_str())
        .collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), ids.len(), "a delivery is stored at most once");
    for id in &acked {
        assert!(
            unique.contains(id.as_str()),
            "acknowledged delivery {id} was lost"
        );
    }
}
