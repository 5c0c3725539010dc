//! The webhook routes end to end on SQLite: real app, real store, real HTTP.

mod common;

use common::*;
use sortie_core::forge::Flavor;
use sortie_core::job::{JobKey, JobState};
use sortie_core::route::RouteKind;
use sortie_server::signature::sign_hex;

// GitHub's documented payloads (fixtures/README.md: @octokit/webhooks-examples 7.6.1).
const QUEUED: &[u8] = include_bytes!("../../../fixtures/github/workflow_job.queued.json");
const IN_PROGRESS: &[u8] =
    include_bytes!("../../../fixtures/github/workflow_job.in_progress.2.json");
const COMPLETED: &[u8] = include_bytes!("../../../fixtures/github/workflow_job.completed.json");
const PUSH: &[u8] = include_bytes!("../../../fixtures/github/push.branch-created.json");
const PULL_REQUEST: &[u8] = include_bytes!("../../../fixtures/github/pull_request.opened.json");
// Gitea's documented push example (fixtures/README.md).
const GITEA_PUSH: &[u8] = include_bytes!("../../../fixtures/gitea/push.json");

#[tokio::test]
async fn githubs_documented_signature_example_passes_the_signature_check() {
    // docs.github.com, "Validating webhook deliveries": secret "It's a Secret to Everybody",
    // payload "Hello, World!". The signature is accepted; the body is then refused because it is
    // not JSON (400, not 401), and nothing is stored.
    let app = spawn_app().await;
    let headers = vec![
        ("x-github-delivery", "doc-example".to_string()),
        ("x-github-event", "ping".to_string()),
        (
            "x-hub-signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17".to_string(),
        ),
    ];
    let (status, body) = app
        .post("/webhooks/github", &headers, b"Hello, World!".to_vec())
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("not valid JSON"),
        "{body}"
    );
    assert!(app.all_deliveries().await.is_empty());
    assert_eq!(
        app.logs
            .lines_with(&["webhook refused", "doc-example", "not valid JSON"])
            .len(),
        1,
        "{}",
        app.logs.text()
    );
    app.stop().await;
}

#[tokio::test]
async fn workflow_job_deliveries_become_a_job_that_follows_the_forge() {
    let app = spawn_app().await;
    for (id, body) in [("q", QUEUED), ("p", IN_PROGRESS), ("c", COMPLETED)] {
        let (status, answer) = app
            .post(
                "/webhooks/github",
                &github_headers(id, "workflow_job", body),
                body.to_vec(),
            )
            .await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["status"], "stored");
        // Wait for each to be planned so they apply in the forge's order.
        let outcome = app.processed_outcome(Flavor::Github, id).await;
        assert!(outcome.contains("job"), "{outcome}");
    }
    let key = JobKey::WorkflowJob {
        forge: Flavor::Github,
        repo: "Codertocat/Hello-World".into(),
        run_id: 2202229078,
        run_attempt: 1,
        job_id: 289782451,
    };
    let job = app
        .store
        .get_job_by_key(&key)
        .await
        .unwrap()
        .expect("job stored");
    // completed.json concludes with failure. A job whose labels route nowhere fails at once, and a
    // skipped one is cancelled at once, with the route's reason; later events are absorbed.
    let history = app.store.job_history(job.id).await.unwrap();
    let (state, reason) = match job.route.kind {
        RouteKind::Provider | RouteKind::Pool => {
            (JobState::Failed, "completed: failure".to_string())
        }
        RouteKind::Skip => (
            JobState::Cancelled,
            format!("skipped: {}", job.route.reason),
        ),
        RouteKind::Unroutable => (
            JobState::Failed,
            format!("unroutable: {}", job.route.reason),
        ),
    };
    assert_eq!(job.state, state, "{history:?}");
    assert!(
        history.iter().any(|h| h.reason.contains(&reason)),
        "{reason:?} not in {history:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn other_events_are_stored_and_marked_not_planned() {
    let app = spawn_app().await;
    for (id, event, body) in [
        ("push-1", "push", PUSH),
        ("pr-1", "pull_request", PULL_REQUEST),
    ] {
        let (status, _) = app
            .post(
                "/webhooks/github",
                &github_headers(id, event, body),
                body.to_vec(),
            )
            .await;
        assert_eq!(status, 202);
        // A push adds what would plan it (push mode); see tests/push_mode.rs.
        let outcome = app.processed_outcome(Flavor::Github, id).await;
        assert!(
            outcome.starts_with(&format!("stored; not planned (event {event})")),
            "{outcome}"
        );
        let stored = app.delivery(Flavor::Github, id).await.unwrap();
        assert_eq!(
            stored.delivery.body, body,
            "the raw body is kept byte for byte"
        );
        assert_eq!(stored.delivery.event, event);
    }
    app.stop().await;
}

#[tokio::test]
async fn a_duplicate_gets_200_with_the_original_outcome() {
    let app = spawn_app().await;
    let headers = github_headers("dup-1", "push", PUSH);
    assert_eq!(
        app.post("/webhooks/github", &headers, PUSH.to_vec())
            .await
            .0,
        202
    );
    let outcome = app.processed_outcome(Flavor::Github, "dup-1").await;
    let (status, answer) = app.post("/webhooks/github", &headers, PUSH.to_vec()).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "duplicate");
    assert_eq!(answer["outcome"], outcome.as_str());
    assert_eq!(app.all_deliveries().await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn gitea_and_forgejo_signed_deliveries_are_stored_on_both_routes() {
    let app = spawn_app().await;
    let (status, answer) = app
        .post(
            "/webhooks/gitea",
            &gitea_headers("g-1", "push", GITEA_PUSH),
            GITEA_PUSH.to_vec(),
        )
        .await;
    assert_eq!(
        (status, answer["forge"].as_str()),
        (202, Some("gitea")),
        "{answer}"
    );
    // The seed's URL shape.
    let (status, _) = app
        .post(
            "/webhook",
            &gitea_headers("g-2", "push", GITEA_PUSH),
            GITEA_PUSH.to_vec(),
        )
        .await;
    assert_eq!(status, 202);
    let forgejo = vec![
        ("x-forgejo-delivery", "f-1".to_string()),
        ("x-forgejo-event", "push".to_string()),
        (
            "x-forgejo-signature",
            sign_hex(GITEA_SECRET.as_bytes(), GITEA_PUSH),
        ),
    ];
    let (status, answer) = app
        .post("/webhooks/gitea", &forgejo, GITEA_PUSH.to_vec())
        .await;
    assert_eq!(
        (status, answer["forge"].as_str()),
        (202, Some("forgejo")),
        "{answer}"
    );
    assert!(app.delivery(Flavor::Gitea, "g-1").await.is_some());
    assert!(app.delivery(Flavor::Gitea, "g-2").await.is_some());
    assert!(app.delivery(Flavor::Forgejo, "f-1").await.is_some());
    app.stop().await;
}

#[tokio::test]
async fn refusals_store_nothing_and_log_why() {
    let app = spawn_app_with(Db::Sqlite, |s, _| s.max_body_bytes = 64 * 1024).await;
    let signed = |id: &str, event: &str, body: &[u8]| github_headers(id, event, body);
    let mut bad_sig = signed("r-badsig", "push", PUSH);
    bad_sig[2].1 = format!("sha256={}", sign_hex(b"wrong secret", PUSH));
    let no_sig: Vec<_> = signed("r-nosig", "push", PUSH)
        .into_iter()
        .filter(|(k, _)| *k != "x-hub-signature-256")
        .collect();
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(128 * 1024)).into_bytes();
    let small_push = br#"{"ref":"refs/heads/main"}"#.to_vec();
    // (path, headers, body, status, fragment of the reason)
    type Row = (
        &'static str,
        Vec<(&'static str, String)>,
        Vec<u8>,
        u16,
        &'static str,
    );
    let rows: Vec<Row> = vec![
        (
            "/webhooks/github",
            bad_sig,
            PUSH.to_vec(),
            401,
            "does not match",
        ),
        (
            "/webhooks/github",
            no_sig,
            PUSH.to_vec(),
            401,
            "X-Hub-Signature-256 header is missing",
        ),
        (
            "/webhooks/github",
            signed("r-json", "push", b"{\"ref\":"),
            b"{\"ref\":".to_vec(),
            400,
            "not valid JSON",
        ),
        (
            "/webhooks/github",
            signed("r-event", "no_such_event", &small_push),
            small_push.clone(),
            400,
            "unknown event",
        ),
        (
            "/webhooks/github",
            signed("r-big", "push", &big),
            big.clone(),
            413,
            "larger than max_body_bytes",
        ),
        (
            "/webhooks/gitea",
            gitea_headers("r-gitea-sig", "push", b"{}"),
            small_push.clone(),
            401,
            "does not match",
        ),
    ];
    for (path, headers, body, status, fragment) in rows {
        let id = headers
            .iter()
            .find(|(k, _)| k.ends_with("-delivery"))
            .map(|(_, v)| v.clone())
            .unwrap();
        let (got, answer) = app.post(path, &headers, body).await;
        assert_eq!(got, status, "{id}: {answer}");
        assert!(
            answer["error"]
                .as_str()
                .unwrap_or_default()
                .contains(fragment),
            "{id}: {answer}"
        );
        let lines = app.logs.lines_with(&["webhook refused", &id, fragment]);
        assert_eq!(
            lines.len(),
            1,
            "{id}: one log line saying why; logs:\n{}",
            app.logs.text()
        );
        assert!(
            !lines[0].contains(GITHUB_SECRET) && !lines[0].contains("refs/heads"),
            "no secrets or bodies in logs"
        );
    }
    assert!(app.all_deliveries().await.is_empty(), "nothing stored");
    app.stop().await;
}

#[tokio::test]
async fn a_route_without_a_secret_refuses_everything_and_names_the_setting() {
    let app = spawn_app_with(Db::Sqlite, |s, _| s.github.webhook_secret = None).await;
    let (status, answer) = app
        .post(
            "/webhooks/github",
            &github_headers("ns-1", "push", PUSH),
            PUSH.to_vec(),
        )
        .await;
    assert_eq!(status, 401);
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("SORTIE_GITHUB_WEBHOOK_SECRET"),
        "{answer}"
    );
    assert_eq!(
        app.logs
            .lines_with(&["webhook refused", "ns-1", "github.webhook_secret"])
            .len(),
        1
    );
    assert!(app.all_deliveries().await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await, 200);
    assert_eq!(app.get("/readyz").await, 200);
    assert_eq!(app.get("/no/such/route").await, 404);
    app.stop().await;
}

#[tokio::test]
async fn deliveries_left_unprocessed_by_a_crash_are_planned_on_start() {
    // Store a delivery as a crashed server would have left it, then start the app on that file.
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("crashed.db").display());
    {
        let store = sortie_store::open(&url).await.unwrap();
        let d = raw_delivery(Flavor::Github, "left-behind", "workflow_job", QUEUED);
        assert!(store.insert_deliveries(&[d]).await.unwrap()[0].is_new());
    }
    let app = spawn_app_with(Db::Sqlite, |s, _| s.database_url = url.clone()).await;
    let outcome = app.processed_outcome(Flavor::Github, "left-behind").await;
    assert!(outcome.contains("created job"), "{outcome}");
    app.stop().await;
}

#[tokio::test]
async fn graceful_stop_keeps_every_acknowledged_delivery_and_releases_the_lease() {
    let app = spawn_app().await;
    for i in 0..20 {
        let id = format!("s-{i}");
        assert_eq!(
            app.post(
                "/webhooks/github",
                &github_headers(&id, "push", PUSH),
                PUSH.to_vec()
            )
            .await
            .0,
            202
        );
    }
    let store = app.store.clone();
    app.stop().await;
    assert_eq!(store.list_recent_deliveries(100).await.unwrap().len(), 20);
    // The planner released its recovery lease: another owner can take it at once.
    let lease = sortie_server::planner::RECOVERY_LEASE;
    assert!(store
        .try_acquire_lease(lease, "someone-else", std::time::Duration::from_secs(5))
        .await
        .unwrap());
}
