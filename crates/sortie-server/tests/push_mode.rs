//! Push mode end to end: the real server over HTTP, signed webhooks as the forges sign them
//! (sortie-testkit's `Webhook`, its own HMAC), a `Fleet` whose Gitea/Forgejo connection is the
//! real `GiteaForge` client talking to the fake Gitea over HTTP, and the jobs read back from the
//! store. The workflow folders and filters follow go-gitea/gitea `modules/actions/workflows.go`
//! (see sortie-forge's push tests for the per-rule sources).

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use common::*;
use sortie_core::forge::Flavor;
use sortie_core::job::{JobKey, JobState};
use sortie_forge::clock::SystemClock;
use sortie_forge::gitea::{GiteaConfig, GiteaForge};
use sortie_forge::ratelimit::RetryPolicy;
use sortie_forge::Secret;
use sortie_server::fleet::{Fleet, ForgeHandle, ForgeMode, Limits, ScopeRule};
use sortie_server::planner::PlannerOptions;
use sortie_store::{Job, JobFilter, Store};
use sortie_testkit::eventually;
use sortie_testkit::forge::payloads::{gitea_push, PushedCommit};
use sortie_testkit::forge::webhook::Webhook;
use sortie_testkit::forge::workflows::{BROKEN, C0, C1, C2, GPU, LINT, RELEASE};
use sortie_testkit::forge::{FakeGitea, FakeGithub, GiteaKind};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const TOKEN: &str = "gitea-api-token";
const REPO: &str = "acme/app";

/// A build job and a 2×2 matrix: runner × version; `runs-on` follows the runner.
const BUILD: &str = "on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: go
    steps:
      - run: make
  test:
    strategy:
      matrix:
        runner: [go, docker]
        version: ['1.22', '1.23']
    runs-on: ${{ matrix.runner }}
    steps:
      - run: make test
";

/// Runs only when something under `src/` changed.
const SRC_ONLY: &str = "on:
  push:
    branches: [main]
    paths: ['src/**']
jobs:
  build:
    runs-on: go
    steps:
      - run: make
";

fn commit(id: &str, files: &[&str]) -> PushedCommit {
    PushedCommit {
        id: id.into(),
        modified: files.iter().map(|f| f.to_string()).collect(),
    }
}

/// A push of C1 onto C0 that touched `src/app.go`.
fn push_to(git_ref: &str) -> Vec<u8> {
    gitea_push(REPO, git_ref, C0, C1, &[commit(C1, &["src/app.go"])], None).unwrap()
}

async fn fake_gitea(kind: GiteaKind, workflows: &[(&'static str, &'static str)]) -> FakeGitea {
    let g = FakeGitea::start(kind, TOKEN).await.unwrap();
    let tree = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        workflows.iter().chain(extra).copied().collect()
    };
    g.set_commit(
        REPO,
        C0,
        &tree(&[("src/app.go", "v0"), ("docs/a.md", "v0")]),
    );
    g.set_commit(
        REPO,
        C1,
        &tree(&[("src/app.go", "v1"), ("docs/a.md", "v0")]),
    );
    g.set_commit(
        REPO,
        C2,
        &tree(&[("src/app.go", "v2"), ("docs/a.md", "v2")]),
    );
    g
}

/// A Gitea/Forgejo connection in push mode to `url`, and the fleet around it.
fn push_fleet(url: String, flavor: Flavor) -> impl FnOnce(Arc<dyn Store>) -> Fleet {
    move |store| {
        let mut config = GiteaConfig::new(url.clone(), Secret::new(TOKEN), flavor);
        // One attempt per call: the planner decides when to try again.
        config.retry = RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        };
        let forge = GiteaForge::new(config, Arc::new(SystemClock)).expect("client");
        let handle = ForgeHandle {
            forge: Arc::new(forge),
            scope: ScopeRule::Repo,
            mode: ForgeMode::Push,
            web_url: url,
        };
        Fleet {
            store,
            forges: BTreeMap::from([(flavor, handle)]),
            providers: BTreeMap::new(),
            public_url: "http://127.0.0.1:1".into(),
            owner: "push-mode-test".into(),
            replica: "test-replica".into(),
            limits: Limits::default(),
            metrics: Arc::default(),
            default_provider: "local".into(),
            wake: Arc::default(),
        }
    }
}

async fn send(app: &TestApp, hook: &Webhook) -> u16 {
    let (status, body) = hook
        .send(&format!("{}/webhooks/gitea", app.url))
        .await
        .expect("webhook sent");
    assert!(status == 202 || status == 200, "{status}: {body}");
    status
}

fn gitea_hook(id: &str, body: Vec<u8>) -> Webhook {
    Webhook::gitea("push", "push", id, GITEA_SECRET, body)
}

async fn jobs(store: &Arc<dyn Store>) -> Vec<Job> {
    let mut jobs = store
        .list_jobs(JobFilter {
            state: None,
            limit: 1000,
        })
        .await
        .unwrap();
    jobs.sort_by_key(|j| j.key.to_string());
    jobs
}

fn push_key(forge: Flavor, workflow: &str, job: &str, matrix_index: u32) -> JobKey {
    JobKey::Push {
        forge,
        repo: REPO.into(),
        commit: C1.into(),
        workflow: workflow.into(),
        job: job.into(),
        matrix_index,
    }
}

/// The two-workflow push on `db`: exactly the expected jobs, and a redelivery adds none.
async fn two_matching_workflows(db: Db) {
    let g = fake_gitea(
        GiteaKind::Gitea,
        &[
            (".gitea/workflows/build.yml", BUILD),
            (".gitea/workflows/lint.yml", LINT),
            (".gitea/workflows/release.yml", RELEASE),
        ],
    )
    .await;
    let app = spawn_app_with_fleet(db, push_fleet(g.url(), Flavor::Gitea), |_, _| {}).await;
    let body = push_to("refs/heads/main");
    assert_eq!(send(&app, &gitea_hook("push-1", body.clone())).await, 202);
    let outcome = app.processed_outcome(Flavor::Gitea, "push-1").await;
    assert!(
        outcome.starts_with("push refs/heads/main at c10000000000: created 6 jobs; .gitea/workflows: build.yml: 5 jobs; lint.yml: 1 job; release.yml: "),
        "{outcome}"
    );

    let build = ".gitea/workflows/build.yml";
    // Matrix combinations in definition order, the first key outermost (GitHub docs "Running
    // variations of jobs in a workflow"; act expands the same way).
    let want: Vec<(JobKey, Vec<String>)> = vec![
        (
            push_key(Flavor::Gitea, build, "build", 0),
            vec!["go".into()],
        ),
        (push_key(Flavor::Gitea, build, "test", 0), vec!["go".into()]),
        (push_key(Flavor::Gitea, build, "test", 1), vec!["go".into()]),
        (
            push_key(Flavor::Gitea, build, "test", 2),
            vec!["docker".into()],
        ),
        (
            push_key(Flavor::Gitea, build, "test", 3),
            vec!["docker".into()],
        ),
        (
            push_key(Flavor::Gitea, ".gitea/workflows/lint.yml", "lint", 0),
            vec!["node".into()],
        ),
    ];
    let stored = jobs(&app.store).await;
    let got: Vec<(JobKey, Vec<String>)> = stored
        .iter()
        .map(|j| (j.key.clone(), j.labels.clone()))
        .collect();
    let mut want_sorted = want.clone();
    want_sorted.sort_by_key(|(k, _)| k.to_string());
    assert_eq!(got, want_sorted);
    for j in &stored {
        assert_eq!(j.state, JobState::Queued, "{}: {}", j.key, j.route.reason);
        assert!(j.route.is_served(), "{}: {}", j.key, j.route.reason);
        assert_eq!(j.delivery.as_ref().map(|d| d.0.as_str()), Some("push-1"));
    }
    assert!(
        g.calls_to("/compare/").is_empty(),
        "complete payload: no compare"
    );

    // The forge sends the same delivery again: a duplicate, not planned again.
    assert_eq!(send(&app, &gitea_hook("push-1", body.clone())).await, 200);
    // Redelivered under a new id (or the same commit pushed again): nothing new.
    assert_eq!(send(&app, &gitea_hook("push-1-again", body)).await, 202);
    let again = app.processed_outcome(Flavor::Gitea, "push-1-again").await;
    assert!(
        again.starts_with(
            "push refs/heads/main at c10000000000: no new jobs, 6 jobs already known;"
        ),
        "{again}"
    );
    let after: Vec<_> = jobs(&app.store).await.iter().map(|j| j.id).collect();
    assert_eq!(after, stored.iter().map(|j| j.id).collect::<Vec<_>>());
    app.stop().await;
}

#[tokio::test]
async fn a_signed_push_creates_one_job_per_expanded_job_and_a_redelivery_none() {
    two_matching_workflows(Db::Sqlite).await;
}

#[tokio::test]
async fn a_signed_push_creates_the_same_jobs_on_postgres() {
    two_matching_workflows(Db::Postgres).await;
}

#[tokio::test]
async fn a_push_that_matches_nothing_creates_no_jobs_and_says_why_per_workflow() {
    let g = fake_gitea(
        GiteaKind::Gitea,
        &[
            (".gitea/workflows/build.yml", BUILD),
            (".gitea/workflows/release.yml", RELEASE),
        ],
    )
    .await;
    let app = spawn_app_with_fleet(Db::Sqlite, push_fleet(g.url(), Flavor::Gitea), |_, _| {}).await;
    send(
        &app,
        &gitea_hook("feature-1", push_to("refs/heads/feature/x")),
    )
    .await;
    app.processed_outcome(Flavor::Gitea, "feature-1").await;
    let stored = app.delivery(Flavor::Gitea, "feature-1").await.unwrap();
    let outcome = stored.status.outcome.unwrap();
    assert!(
        outcome.starts_with(
            "push refs/heads/feature/x at c10000000000: no jobs; .gitea/workflows: build.yml: "
        ),
        "{outcome}"
    );
    let (build, release) = outcome
        .split_once("; release.yml: ")
        .expect("each workflow is named");
    assert!(
        build.contains("feature/x") && build.contains("main"),
        "{outcome}"
    );
    assert!(release.contains("tag"), "{outcome}");
    assert!(jobs(&app.store).await.is_empty());

    // A deleted branch plans nothing and asks the forge nothing.
    let calls = g.calls().len();
    let deleted = gitea_push(REPO, "refs/heads/feature/x", C1, &"0".repeat(40), &[], None).unwrap();
    send(&app, &gitea_hook("deleted-1", deleted)).await;
    assert_eq!(
        app.processed_outcome(Flavor::Gitea, "deleted-1").await,
        "push refs/heads/feature/x: branch deleted; nothing to plan"
    );
    assert_eq!(g.calls().len(), calls);
    app.stop().await;
}

#[tokio::test]
async fn a_broken_workflow_and_an_unknown_label_say_why() {
    let g = fake_gitea(
        GiteaKind::Gitea,
        &[
            (".gitea/workflows/broken.yml", BROKEN),
            (".gitea/workflows/gpu.yml", GPU),
            (".gitea/workflows/lint.yml", LINT),
        ],
    )
    .await;
    let app = spawn_app_with_fleet(Db::Sqlite, push_fleet(g.url(), Flavor::Gitea), |_, _| {}).await;
    send(&app, &gitea_hook("broken-1", push_to("refs/heads/main"))).await;
    let outcome = app.processed_outcome(Flavor::Gitea, "broken-1").await;
    // The broken file creates no job; the outcome names it, the error and where it is.
    assert!(
        outcome.contains("; .gitea/workflows: broken.yml: invalid workflow, not run: "),
        "{outcome}"
    );
    assert!(outcome.contains("(line "), "{outcome}");
    assert!(
        outcome.starts_with("push refs/heads/main at c10000000000: created 2 jobs (1 will not run: train: unroutable: "),
        "{outcome}"
    );
    let stored = jobs(&app.store).await;
    let keys: Vec<String> = stored.iter().map(|j| j.key.to_string()).collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().all(|k| !k.contains("broken.yml")), "{keys:?}");
    let train = stored
        .iter()
        .find(|j| j.key == push_key(Flavor::Gitea, ".gitea/workflows/gpu.yml", "train", 0))
        .expect("the unknown-label job is recorded");
    assert_eq!(train.state, JobState::Failed);
    let history = app.store.job_history(train.id).await.unwrap();
    let reason = format!("unroutable: {}", train.route.reason);
    assert!(
        history.iter().any(|h| h.reason == reason),
        "{reason:?} not in {history:?}"
    );
    assert!(
        train.route.reason.contains("no-such-label-anywhere"),
        "{}",
        train.route.reason
    );
    app.stop().await;
}

#[tokio::test]
async fn a_forgejo_push_reads_the_forgejo_workflow_folder_first() {
    let g = fake_gitea(
        GiteaKind::Forgejo,
        &[
            (".forgejo/workflows/ci.yml", LINT),
            (".gitea/workflows/build.yml", BUILD),
            (".github/workflows/other.yml", BUILD),
        ],
    )
    .await;
    let app =
        spawn_app_with_fleet(Db::Sqlite, push_fleet(g.url(), Flavor::Forgejo), |_, _| {}).await;
    let hook = Webhook::forgejo(
        "push",
        "push",
        "fj-1",
        GITEA_SECRET,
        push_to("refs/heads/main"),
    );
    send(&app, &hook).await;
    let outcome = app.processed_outcome(Flavor::Forgejo, "fj-1").await;
    assert!(
        outcome.ends_with("created 1 job; .forgejo/workflows: ci.yml: 1 job"),
        "{outcome}"
    );
    let stored = jobs(&app.store).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].key,
        push_key(Flavor::Forgejo, ".forgejo/workflows/ci.yml", "lint", 0)
    );
    assert!(g.calls_to("/contents/.gitea/workflows").is_empty());
    assert!(g.calls_to("/contents/.github/workflows").is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_capped_commit_list_is_completed_with_the_compare_api() {
    let g = fake_gitea(GiteaKind::Gitea, &[(".gitea/workflows/src.yml", SRC_ONLY)]).await;
    let app = spawn_app_with_fleet(Db::Sqlite, push_fleet(g.url(), Flavor::Gitea), |_, _| {}).await;
    // 30 commits pushed, only the last listed, and it touched docs only: the payload alone
    // says `paths: src/**` does not match; the full diff C0...C2 says it does.
    let body = gitea_push(
        REPO,
        "refs/heads/main",
        C0,
        C2,
        &[commit(C2, &["docs/a.md"])],
        Some(30),
    )
    .unwrap();
    send(&app, &gitea_hook("capped-1", body)).await;
    let outcome = app.processed_outcome(Flavor::Gitea, "capped-1").await;
    assert_eq!(
        g.calls_to(&format!("/compare/{C0}...{C2}")).len(),
        1,
        "{:#?}",
        g.calls()
    );
    assert!(
        outcome.contains("created 1 job; .gitea/workflows: src.yml: 1 job"),
        "{outcome}"
    );
    app.stop().await;
}

/// A proxy in front of the fake forge that answers 503 while `down`, as a load balancer does
/// while the forge behind it is away.
struct Outage {
    down: AtomicBool,
    refused: AtomicUsize,
    upstream: String,
    client: reqwest::Client,
}

async fn outage_proxy(
    State(o): State<Arc<Outage>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if o.down.load(Ordering::SeqCst) {
        o.refused.fetch_add(1, Ordering::SeqCst);
        let body = r#"{"message":"503 Service Unavailable: maintenance"}"#;
        return (StatusCode::SERVICE_UNAVAILABLE, body).into_response();
    }
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut req = o
        .client
        .request(method, format!("{}{path}", o.upstream))
        .body(body);
    for (name, value) in &headers {
        if name != "host" {
            req = req.header(name, value);
        }
    }
    match req.send().await {
        Ok(resp) => {
            let status = resp.status();
            let bytes = resp.bytes().await.unwrap_or_default();
            (status, [("content-type", "application/json")], bytes).into_response()
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

async fn start_outage_proxy(upstream: String) -> (Arc<Outage>, String) {
    let outage = Arc::new(Outage {
        down: AtomicBool::new(true),
        refused: AtomicUsize::new(0),
        upstream,
        client: reqwest::Client::new(),
    });
    let router = axum::Router::new()
        .fallback(outage_proxy)
        .with_state(outage.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    (outage, url)
}

#[tokio::test]
async fn a_forge_outage_leaves_the_push_unprocessed_until_the_sweep_plans_it() {
    let g = fake_gitea(GiteaKind::Gitea, &[(".gitea/workflows/lint.yml", LINT)]).await;
    let (outage, url) = start_outage_proxy(g.url()).await;
    let app = spawn_app_with_fleet(Db::Sqlite, push_fleet(url, Flavor::Gitea), |_, o| {
        o.planner = PlannerOptions {
            sweep_interval: Duration::from_millis(100),
            recovery_min_age: Duration::ZERO,
            forge_timeout: Duration::from_secs(20),
        };
    })
    .await;
    send(&app, &gitea_hook("outage-1", push_to("refs/heads/main"))).await;
    // Refused more than once: planned fresh, then tried again by the recovery sweep.
    let refused = || outage.refused.load(Ordering::SeqCst);
    eventually(
        "the sweep retries the push",
        Duration::from_secs(20),
        || async { (refused() >= 3).then_some(()) },
    )
    .await;
    let stored = app.delivery(Flavor::Gitea, "outage-1").await.unwrap();
    assert_eq!(stored.status.processed_at, None, "{:?}", stored.status);
    assert_eq!(stored.status.outcome, None);
    assert!(jobs(&app.store).await.is_empty());
    let logged = app
        .logs
        .lines_with(&["push not planned yet", "outage-1", "503"]);
    assert!(!logged.is_empty(), "{}", app.logs.text());

    outage.down.store(false, Ordering::SeqCst);
    let outcome = app.processed_outcome(Flavor::Gitea, "outage-1").await;
    assert!(outcome.contains("created 1 job"), "{outcome}");
    assert_eq!(jobs(&app.store).await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_push_without_a_push_mode_forge_is_stored_and_says_what_to_configure() {
    let app = spawn_app().await;
    send(&app, &gitea_hook("no-fleet-1", push_to("refs/heads/main"))).await;
    let outcome = app.processed_outcome(Flavor::Gitea, "no-fleet-1").await;
    assert!(
        outcome.starts_with("stored; not planned (event push): no gitea API connection"),
        "{outcome}"
    );
    assert!(outcome.contains("mode = \"push\""), "{outcome}");
    assert!(jobs(&app.store).await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn a_github_workflow_job_queued_delivery_creates_exactly_one_job() {
    let app = spawn_app().await;
    let gh = FakeGithub::start().await.unwrap();
    gh.add_repo(REPO, 42);
    gh.set_webhook(&format!("{}/webhooks/github", app.url), GITHUB_SECRET);
    let job = gh.queue_job(REPO, &["go"]);
    gh.flush_webhooks().await;
    let sent = gh.deliveries();
    assert_eq!(sent.len(), 1);
    let outcome = app.processed_outcome(Flavor::Github, &sent[0].guid).await;
    assert!(outcome.starts_with("created job"), "{outcome}");
    let stored = jobs(&app.store).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(
        stored[0].key,
        JobKey::WorkflowJob {
            forge: Flavor::Github,
            repo: REPO.into(),
            run_id: job.run_id,
            run_attempt: 1,
            job_id: job.id,
        }
    );
    assert_eq!(stored[0].labels, vec!["go".to_string()]);
    app.stop().await;
}
