//! The reconciler end to end: the real server over HTTP, the fake GitHub sending signed webhooks
//! to it (and losing the ones a test asks it to lose), a `Fleet` whose GitHub connection is the
//! real `GithubForge` client talking to the fake over HTTP. Passes are driven with
//! `reconcile_once()`; the background reconciler and sweeper are off, so nothing depends on
//! timing.

mod common;

use common::*;
use sortie_core::forge::Flavor;
use sortie_core::job::{JobKey, JobState};
use sortie_core::labels::RoutingConfig;
use sortie_forge::clock::SystemClock;
use sortie_forge::github::{GithubAuth, GithubConfig, GithubForge};
use sortie_forge::Secret;
use sortie_server::fleet::{Fleet, ForgeHandle, ForgeMode, Limits, ScopeRule};
use sortie_server::reconciler::{ReconcileOptions, Reconciler, RECONCILE_LEASE, RECOVERED_REASON};
use sortie_store::{Job, Store};
use sortie_testkit::eventually;
use sortie_testkit::forge::keys::{TEST_APP_PRIVATE_KEY, TEST_APP_PUBLIC_KEY};
use sortie_testkit::forge::FakeGithub;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const REPO: &str = "acme/app";
const PAT: &str = "ghp_reconcile";
const WAIT: Duration = Duration::from_secs(20);

/// A fleet with the fake GitHub as its only forge and no provider: jobs stay queued (the
/// dispatcher notes that their provider is not configured).
fn github_fleet(
    url: String,
    auth: GithubAuth,
    slot: Arc<Mutex<Option<Fleet>>>,
) -> impl FnOnce(Arc<dyn Store>) -> Fleet {
    move |store| {
        let config = GithubConfig {
            api_url: url.clone(),
            ..GithubConfig::new(auth)
        };
        let forge = GithubForge::new(config, Arc::new(SystemClock)).expect("client");
        let handle = ForgeHandle {
            forge: Arc::new(forge),
            scope: ScopeRule::Repo,
            mode: ForgeMode::WorkflowJob,
            web_url: url,
        };
        let fleet = Fleet {
            store,
            forges: BTreeMap::from([(Flavor::Github, handle)]),
            providers: BTreeMap::new(),
            public_url: "http://127.0.0.1:1".into(),
            owner: "reconcile-test".into(),
            replica: "test-replica".into(),
            limits: Limits::default(),
            metrics: Arc::default(),
            default_provider: "local".into(),
            wake: Arc::default(),
        };
        *slot.lock().unwrap() = Some(fleet.clone());
        fleet
    }
}

struct World {
    app: TestApp,
    gh: FakeGithub,
    /// The server's fleet (same store, metrics and dispatcher wake-up).
    fleet: Arc<Fleet>,
}

async fn world(db: Db, app_auth: bool) -> World {
    let gh = FakeGithub::start().await.unwrap();
    gh.add_repo(REPO, 42);
    let auth = if app_auth {
        gh.register_app("12345", TEST_APP_PUBLIC_KEY);
        gh.set_token_expiry(time::OffsetDateTime::now_utc() + Duration::from_secs(3600));
        GithubAuth::App {
            app_id: "12345".into(),
            private_key_pem: Secret::new(TEST_APP_PRIVATE_KEY),
            installation_id: None,
        }
    } else {
        gh.add_pat(PAT);
        GithubAuth::Token(Secret::new(PAT))
    };
    let slot = Arc::new(Mutex::new(None));
    let app = spawn_app_with_fleet(db, github_fleet(gh.url(), auth, slot.clone()), |_, o| {
        o.sweep = false;
        o.reconcile = false;
    })
    .await;
    gh.set_webhook(&format!("{}/webhooks/github", app.url), GITHUB_SECRET);
    let fleet = Arc::new(slot.lock().unwrap().take().expect("the fleet was built"));
    World { app, gh, fleet }
}

impl World {
    /// A reconciler that recovers a queued job at once (no grace for a webhook on its way).
    fn reconciler(&self) -> Reconciler {
        Reconciler::new(self.fleet.clone(), RoutingConfig::default()).with_options(
            ReconcileOptions {
                grace: Duration::ZERO,
                ..ReconcileOptions::default()
            },
        )
    }

    async fn job(&self, key: &JobKey) -> Option<Job> {
        self.app.store.get_job_by_key(key).await.unwrap()
    }

    async fn wait_for_job(&self, key: &JobKey) -> Job {
        eventually("the job is stored", WAIT, || async { self.job(key).await }).await
    }
}

fn key_of(job: &sortie_testkit::forge::FakeJob) -> JobKey {
    JobKey::WorkflowJob {
        forge: Flavor::Github,
        repo: REPO.into(),
        run_id: job.run_id,
        run_attempt: job.run_attempt,
        job_id: job.id,
    }
}

/// A job whose `queued` webhook was lost is created by the next pass, as if the webhook had
/// arrived, and is queued for dispatch.
async fn a_lost_queued_webhook_is_recovered(db: Db) {
    let w = world(db, false).await;
    // A first job arrives normally: sortie now serves this repository.
    let seen = w.gh.queue_job(REPO, &["self-hosted", "linux"]);
    w.gh.flush_webhooks().await;
    w.wait_for_job(&key_of(&seen)).await;

    w.gh.lose_next_webhooks(1);
    let lost = w.gh.queue_job(REPO, &["self-hosted", "linux", "x64"]);
    w.gh.flush_webhooks().await;
    let last = w.gh.deliveries().pop().unwrap();
    assert!(!last.succeeded(), "the webhook was lost: {last:?}");
    let key = key_of(&lost);
    assert!(w.job(&key).await.is_none());

    let reconciler = w.reconciler();
    let report = reconciler.reconcile_once().await;
    assert!(report.held_lease, "{report:?}");
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(report.repos, vec![REPO.to_string()]);
    assert_eq!(report.recovered.len(), 1, "{report:?}");
    assert_eq!(report.recovered[0].key, key.to_string());
    assert!(report.redelivered.is_empty(), "a token cannot redeliver");

    let job = w.job(&key).await.expect("the job was created");
    assert_eq!(report.recovered[0].job, job.id);
    assert_eq!(job.labels, vec!["self-hosted", "linux", "x64"]);
    assert_eq!(job.delivery, None, "no webhook brought it");
    let history = w.app.store.job_history(job.id).await.unwrap();
    assert!(
        history.iter().any(|h| h.reason == RECOVERED_REASON),
        "{history:?}"
    );
    // Queued for dispatch: the dispatcher takes it up (and, with no provider configured here,
    // notes why it waits).
    let store = w.app.store.clone();
    let id = job.id;
    let waiting = eventually("the dispatcher considers the job", WAIT, || {
        let store = store.clone();
        async move {
            let history = store.job_history(id).await.ok()?;
            history
                .into_iter()
                .find(|h| h.reason.starts_with("waiting:"))
        }
    })
    .await;
    assert_eq!(waiting.to, JobState::Queued, "{waiting:?}");
    assert_eq!(w.job(&key).await.unwrap().state, JobState::Queued);

    let metrics = w.fleet.metrics.render();
    assert!(
        metrics.contains("sortie_reconcile_actions_total{kind=\"recovered_job\"} 1"),
        "{metrics}"
    );

    // A second pass finds nothing to do: both jobs are known.
    let again = reconciler.reconcile_once().await;
    assert!(again.recovered.is_empty(), "{again:?}");
    assert!(again.errors.is_empty(), "{again:?}");
    assert!(reconciler.release().await);
    w.app.stop().await;
}

#[tokio::test]
async fn a_lost_queued_webhook_is_recovered_on_sqlite() {
    a_lost_queued_webhook_is_recovered(Db::Sqlite).await;
}

#[tokio::test]
async fn a_lost_queued_webhook_is_recovered_on_postgres() {
    a_lost_queued_webhook_is_recovered(Db::Postgres).await;
}

/// With a GitHub App, the lost delivery itself is redelivered through the deliveries API; it
/// arrives, is stored and planned like any other.
#[tokio::test]
async fn an_app_redelivers_a_lost_delivery() {
    let w = world(Db::Sqlite, true).await;
    w.gh.lose_next_webhooks(1);
    let lost = w.gh.queue_job(REPO, &["self-hosted"]);
    w.gh.flush_webhooks().await;
    let first = w.gh.deliveries().pop().unwrap();
    assert!(!first.succeeded());
    assert!(w.app.delivery(Flavor::Github, &first.guid).await.is_none());

    // The default grace: a pass does not race a webhook on its way.
    let reconciler = Reconciler::new(w.fleet.clone(), RoutingConfig::default());
    let report = reconciler.reconcile_once().await;
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(report.redelivered.len(), 1, "{report:?}");
    assert_eq!(report.redelivered[0].delivery_id, first.id);
    assert_eq!(report.redelivered[0].guid, first.guid);
    assert_eq!(report.redelivered[0].event, "workflow_job.queued");
    assert!(report.recovered.is_empty(), "{report:?}");

    w.gh.flush_webhooks().await;
    let again = w.gh.deliveries().pop().unwrap();
    assert!(again.redelivery && again.succeeded(), "{again:?}");
    assert_eq!(again.guid, first.guid);
    let outcome = w.app.processed_outcome(Flavor::Github, &first.guid).await;
    assert!(outcome.starts_with("created job"), "{outcome}");
    let job = w.wait_for_job(&key_of(&lost)).await;
    assert_eq!(
        job.delivery.map(|d| d.0),
        Some(first.guid.clone()),
        "the redelivered webhook created the job"
    );
    let metrics = w.fleet.metrics.render();
    assert!(
        metrics.contains("sortie_reconcile_actions_total{kind=\"redelivery\"} 1"),
        "{metrics}"
    );

    // Delivered now: the next pass redelivers nothing.
    let next = reconciler.reconcile_once().await;
    assert!(next.redelivered.is_empty(), "{next:?}");
    assert!(next.errors.is_empty(), "{next:?}");

    // Another replica holding the lease keeps this one out.
    assert!(reconciler.release().await);
    assert!(w
        .app
        .store
        .try_acquire_lease(RECONCILE_LEASE, "other-replica", Duration::from_secs(60))
        .await
        .unwrap());
    let blocked = reconciler.reconcile_once().await;
    assert!(!blocked.held_lease);
    assert!(blocked.stopped.unwrap().contains("another replica"));
    w.app.stop().await;
}

/// A job the store still has queued whose `completed` webhook was lost (here: cancelled on the
/// forge) is closed by the next pass with the forge's conclusion; a second pass does nothing.
#[tokio::test]
async fn a_job_finished_on_the_forge_without_its_webhook_is_closed() {
    let w = world(Db::Sqlite, false).await;
    let fake_job = w.gh.queue_job(REPO, &["self-hosted", "linux"]);
    w.gh.flush_webhooks().await;
    let key = key_of(&fake_job);
    let stored = w.wait_for_job(&key).await;
    assert_eq!(stored.state, JobState::Queued);

    w.gh.lose_next_webhooks(1);
    assert!(w.gh.cancel_job(fake_job.id));
    w.gh.flush_webhooks().await;
    assert_eq!(
        w.job(&key).await.unwrap().state,
        JobState::Queued,
        "the webhook was lost"
    );

    let report = w.reconciler().reconcile_once().await;
    assert_eq!(report.closed.len(), 1, "{report:#?}");
    assert_eq!(report.closed[0].status, "completed");
    let closed = w.job(&key).await.unwrap();
    assert_eq!(closed.state, JobState::Cancelled);
    let history = w.app.store.job_history(closed.id).await.unwrap();
    let last = history.last().unwrap();
    assert!(
        last.reason.contains("found by reconcile"),
        "{}",
        last.reason
    );

    let again = w.reconciler().reconcile_once().await;
    assert!(again.closed.is_empty(), "{again:#?}");
    // The pass recorded what GitHub's rate-limit headers said is left.
    let metrics = w.fleet.metrics.render();
    let remaining = metrics
        .lines()
        .find(|l| l.starts_with("sortie_forge_rate_limit_remaining{forge=\"github\"}"))
        .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no budget in:\n{metrics}"));
    assert!(remaining > 0.0 && remaining < 5000.0, "{remaining}");
    w.app.stop().await;
}
