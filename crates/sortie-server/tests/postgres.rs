//! The same ingest path on PostgreSQL (a fresh database per test from sortie-testkit).

mod common;

use common::*;
use sortie_core::forge::Flavor;

const QUEUED: &[u8] = include_bytes!("../../../fixtures/github/workflow_job.queued.json");
const PUSH: &[u8] = include_bytes!("../../../fixtures/github/push.branch-created.json");

#[tokio::test]
async fn concurrent_deliveries_are_stored_once_and_planned_on_postgres() {
    let app = spawn_app_with(Db::Postgres, |_, _| {}).await;
    assert_eq!(app.get("/readyz").await, 200);
    // 200 concurrent requests, each id sent twice: group commit stores each once.
    let mut requests = Vec::new();
    for i in 0..200 {
        let id = format!("pg-{}", i % 100);
        let (client, url) = (app.client.clone(), app.url.clone());
        let headers = github_headers(&id, "push", PUSH);
        requests.push(tokio::spawn(async move {
            let mut req = client
                .post(format!("{url}/webhooks/github"))
                .body(PUSH.to_vec());
            for (k, v) in headers {
                req = req.header(k, v);
            }
            req.send().await.map(|r| r.status().as_u16())
        }));
    }
    let mut statuses = Vec::new();
    for r in requests {
        statuses.push(r.await.unwrap().unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        100,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        100,
        "{statuses:?}"
    );
    assert_eq!(app.all_deliveries().await.len(), 100);

    let (status, _) = app
        .post(
            "/webhooks/github",
            &github_headers("pg-job", "workflow_job", QUEUED),
            QUEUED.to_vec(),
        )
        .await;
    assert_eq!(status, 202);
    let outcome = app.processed_outcome(Flavor::Github, "pg-job").await;
    assert!(outcome.starts_with("created job"), "{outcome}");
    app.stop().await;
}
