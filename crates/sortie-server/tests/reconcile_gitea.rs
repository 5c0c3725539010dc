//! The reconciler with Gitea and Forgejo, end to end: the real server over HTTP, the fake Gitea
//! (sortie-testkit: go-gitea/gitea 1.25's `…/actions/jobs` and `…/actions/runs` listings,
//! `routers/api/v1/shared/action.go`) sending signed webhooks to it and losing the ones a test
//! asks it to lose, a `Fleet` whose Gitea connection is the real `GiteaForge` client. Passes are
//! driven with `reconcile_once()`; the background reconciler and sweeper are off, so nothing
//! depends on timing. Every scenario runs on SQLite and on PostgreSQL.

mod common;

use common::*;
use sortie_core::forge::Flavor;
use sortie_core::job::{JobKey, JobState};
use sortie_core::labels::RoutingConfig;
use sortie_forge::clock::SystemClock;
use sortie_forge::gitea::{GiteaConfig, GiteaForge};
use sortie_forge::Secret;
use sortie_server::fleet::{Fleet, ForgeHandle, ForgeMode, Limits, ScopeRule};
use sortie_server::reconciler::{
    lease_name, ReconcileOptions, ReconcileReport, Reconciler, RECOVERED_PUSH_REASON,
    RECOVERED_REASON,
};
use sortie_store::{Job, JobFilter, Store};
use sortie_testkit::eventually;
use sortie_testkit::forge::workflows::{C0, C1, C2};
use sortie_testkit::forge::{Delivery, FakeGitea, FakeJob, GiteaKind};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const REPO: &str = "acme/app";
const TOKEN: &str = "gitea-api-token";
const WAIT: Duration = Duration::from_secs(20);

/// The tree of every commit pushed here.
const TREE: &[(&str, &str)] = &[(".gitea/workflows/ci.yml", CI), ("src/app.go", "v")];

/// Runs on every push to main, no path filter: one build job on `go`.
const CI: &str = "on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: go
    steps:
      - run: make
";

fn gitea_fleet(
    url: String,
    flavor: Flavor,
    mode: ForgeMode,
    slot: Arc<Mutex<Option<Fleet>>>,
) -> impl FnOnce(Arc<dyn Store>) -> Fleet {
    move |store| {
        let config = GiteaConfig::new(url.clone(), Secret::new(TOKEN), flavor);
        let forge = GiteaForge::new(config, Arc::new(SystemClock)).expect("client");
        let handle = ForgeHandle {
            forge: Arc::new(forge),
            scope: ScopeRule::Repo,
            mode,
            web_url: url,
        };
        let fleet = Fleet {
            store,
            forges: BTreeMap::from([(flavor, handle)]),
            providers: BTreeMap::new(),
            public_url: "http://127.0.0.1:1".into(),
            owner: "reconcile-gitea-test".into(),
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
    gitea: FakeGitea,
    fleet: Arc<Fleet>,
}

async fn world(db: Db, kind: GiteaKind, flavor: Flavor, mode: ForgeMode) -> World {
    let gitea = FakeGitea::start(kind, TOKEN).await.unwrap();
    for sha in [C0, C1, C2] {
        gitea.set_commit(REPO, sha, TREE);
    }
    if mode == ForgeMode::Push {
        // A forge in push mode sends no `workflow_job` webhooks (older Gitea).
        gitea.set_workflow_job_webhooks(false);
    }
    let slot = Arc::new(Mutex::new(None));
    let fleet = gitea_fleet(gitea.url(), flavor, mode, slot.clone());
    let app = spawn_app_with_fleet(db, fleet, |_, o| {
        o.sweep = false;
        o.reconcile = false;
    })
    .await;
    gitea.set_webhook(&format!("{}/webhooks/gitea", app.url), GITEA_SECRET);
    let fleet = Arc::new(slot.lock().unwrap().take().expect("the fleet was built"));
    World { app, gitea, fleet }
}

impl World {
    /// A reconciler that recovers at once (no grace for a webhook on its way).
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

    async fn jobs_of_repo(&self) -> Vec<Job> {
        let all = self
            .app
            .store
            .list_jobs(JobFilter {
                state: None,
                limit: 1000,
            })
            .await
            .unwrap();
        all.into_iter().filter(|j| j.key.repo() == REPO).collect()
    }

    /// The last webhook the fake made, after checking that it was lost.
    async fn lost_delivery(&self) -> Delivery {
        self.gitea.flush_webhooks().await;
        let last = self.gitea.deliveries().pop().expect("a webhook was made");
        assert!(!last.succeeded(), "the webhook was lost: {last:?}");
        last
    }

    /// Sends a delivery the fake lost, late, byte for byte with its signed headers.
    async fn deliver_late(&self, lost: &Delivery) {
        let mut req = self
            .app
            .client
            .post(format!("{}/webhooks/gitea", self.app.url))
            .body(lost.body.clone());
        for (k, v) in &lost.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        assert!(status == 200 || status == 202, "{status}");
    }
}

/// The key Gitea's own `workflow_job` webhook gives the job (`WorkflowJob::key`).
fn key_of(job: &FakeJob) -> JobKey {
    JobKey::WorkflowJob {
        forge: Flavor::Gitea,
        repo: REPO.into(),
        run_id: job.run_id,
        run_attempt: job.run_attempt,
        job_id: job.id,
    }
}

fn clean(report: &ReconcileReport) {
    assert!(report.held_lease, "{report:#?}");
    assert!(report.errors.is_empty(), "{report:#?}");
    assert!(report.unsupported.is_empty(), "{report:#?}");
}

/// A Gitea job whose `queued` webhook was lost is created by the next pass with the key its
/// webhook would have given it, and the dispatcher takes it up; the webhook arriving late after
/// that makes no second job.
async fn a_lost_workflow_job_webhook_is_recovered(db: Db) {
    let w = world(db, GiteaKind::Gitea, Flavor::Gitea, ForgeMode::WorkflowJob).await;
    // A first job arrives normally: sortie now serves this repository.
    let seen = w.gitea.queue_job(REPO, &["go"]);
    w.gitea.flush_webhooks().await;
    w.wait_for_job(&key_of(&seen)).await;

    w.gitea.lose_next_webhooks(1);
    let lost = w.gitea.queue_job(REPO, &["go", "x64"]);
    let lost_delivery = w.lost_delivery().await;
    let key = key_of(&lost);
    assert!(w.job(&key).await.is_none());

    let reconciler = w.reconciler();
    let report = reconciler.reconcile_once().await;
    clean(&report);
    assert_eq!(report.repos, vec![REPO.to_string()]);
    assert_eq!(report.recovered.len(), 1, "{report:#?}");
    assert_eq!(report.recovered[0].key, key.to_string());

    let job = w.job(&key).await.expect("the job was created");
    assert_eq!(job.labels, vec!["go", "x64"]);
    assert_eq!(job.delivery, None, "no webhook brought it");
    let history = w.app.store.job_history(job.id).await.unwrap();
    assert!(
        history.iter().any(|h| h.reason == RECOVERED_REASON),
        "{history:?}"
    );
    // Queued for dispatch at once (the pass wakes the dispatcher): it considers the job and,
    // with no provider configured here, notes why it waits.
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
    let metrics = w.fleet.metrics.render();
    assert!(
        metrics.contains("sortie_reconcile_recovered_total{forge=\"gitea\"} 1"),
        "{metrics}"
    );

    // The lost webhook arrives late: it is planned, and finds the job known.
    w.deliver_late(&lost_delivery).await;
    let outcome = w
        .app
        .processed_outcome(Flavor::Gitea, &lost_delivery.guid)
        .await;
    assert!(!outcome.starts_with("created job"), "{outcome}");
    assert_eq!(w.jobs_of_repo().await.len(), 2, "no second job");
    assert_eq!(w.job(&key).await.unwrap().id, job.id);

    // A second pass has nothing to do.
    let again = reconciler.reconcile_once().await;
    clean(&again);
    assert!(again.recovered.is_empty(), "{again:#?}");
    assert!(reconciler.release().await);
    w.app.stop().await;
}

#[tokio::test]
async fn a_lost_workflow_job_webhook_is_recovered_on_sqlite() {
    a_lost_workflow_job_webhook_is_recovered(Db::Sqlite).await;
}

#[tokio::test]
async fn a_lost_workflow_job_webhook_is_recovered_on_postgres() {
    a_lost_workflow_job_webhook_is_recovered(Db::Postgres).await;
}

/// A job cancelled on Gitea whose `completed` webhook was lost is closed with Gitea's conclusion;
/// a second pass does nothing. The lease is Gitea's own.
async fn a_job_cancelled_without_its_webhook_is_closed(db: Db) {
    let w = world(db, GiteaKind::Gitea, Flavor::Gitea, ForgeMode::WorkflowJob).await;
    let fake_job = w.gitea.queue_job(REPO, &["go"]);
    w.gitea.flush_webhooks().await;
    let key = key_of(&fake_job);
    assert_eq!(w.wait_for_job(&key).await.state, JobState::Queued);

    w.gitea.lose_next_webhooks(1);
    assert!(w.gitea.cancel_job(fake_job.id));
    w.lost_delivery().await;
    assert_eq!(w.job(&key).await.unwrap().state, JobState::Queued);

    let reconciler = w.reconciler();
    let report = reconciler.reconcile_once().await;
    clean(&report);
    assert_eq!(report.closed.len(), 1, "{report:#?}");
    assert_eq!(report.closed[0].status, "completed");
    let closed = w.job(&key).await.unwrap();
    assert_eq!(closed.state, JobState::Cancelled);
    let history = w.app.store.job_history(closed.id).await.unwrap();
    assert!(
        history
            .last()
            .unwrap()
            .reason
            .contains("found by reconcile"),
        "{history:?}"
    );
    let again = reconciler.reconcile_once().await;
    assert!(again.closed.is_empty(), "{again:#?}");

    // Another replica holding Gitea's lease keeps this one out.
    assert!(reconciler.release().await);
    assert!(w
        .app
        .store
        .try_acquire_lease(
            &lease_name(Flavor::Gitea),
            "other-replica",
            Duration::from_secs(60)
        )
        .await
        .unwrap());
    let blocked = reconciler.reconcile_once().await;
    assert!(!blocked.held_lease, "{blocked:#?}");
    assert!(
        blocked.stopped.unwrap().contains("reconciler/gitea"),
        "the lease is named for the forge"
    );
    w.app.stop().await;
}

#[tokio::test]
async fn a_job_cancelled_without_its_webhook_is_closed_on_sqlite() {
    a_job_cancelled_without_its_webhook_is_closed(Db::Sqlite).await;
}

#[tokio::test]
async fn a_job_cancelled_without_its_webhook_is_closed_on_postgres() {
    a_job_cancelled_without_its_webhook_is_closed(Db::Postgres).await;
}

fn push_key(commit: &str) -> JobKey {
    JobKey::Push {
        forge: Flavor::Gitea,
        repo: REPO.into(),
        commit: commit.into(),
        workflow: ".gitea/workflows/ci.yml".into(),
        job: "build".into(),
        matrix_index: 0,
    }
}

/// Push mode: a push whose webhook was lost is found through the forge's run for it, and its
/// commit is planned as the webhook would have been; the webhook arriving late after that, and
/// a second pass, make no second job.
async fn a_lost_push_is_planned_from_its_run(db: Db) {
    let w = world(db, GiteaKind::Gitea, Flavor::Gitea, ForgeMode::Push).await;
    // A first push arrives normally: sortie now serves this repository.
    w.gitea
        .push_with_jobs(REPO, C0, C1, TREE, &["src/app.go"], &[&["go"]]);
    w.gitea.flush_webhooks().await;
    w.wait_for_job(&push_key(C1)).await;

    w.gitea.lose_next_webhooks(1);
    let jobs = w
        .gitea
        .push_with_jobs(REPO, C1, C2, TREE, &["src/app.go"], &[&["go"]]);
    let lost = w.lost_delivery().await;
    assert_eq!(lost.event, "push");
    assert!(w.job(&push_key(C2)).await.is_none());

    let reconciler = w.reconciler();
    let report = reconciler.reconcile_once().await;
    clean(&report);
    assert_eq!(report.pushes.len(), 1, "{report:#?}");
    let push = &report.pushes[0];
    assert_eq!(
        (push.commit.as_str(), push.git_ref.as_str(), push.run_id),
        (C2, "refs/heads/main", jobs[0].run_id)
    );
    assert!(push.outcome.starts_with(RECOVERED_PUSH_REASON), "{push:#?}");
    assert!(push.outcome.contains("created 1 job"), "{push:#?}");
    assert_eq!(report.recovered.len(), 1, "{report:#?}");

    let job = w.job(&push_key(C2)).await.expect("the commit was planned");
    assert_eq!(job.labels, vec!["go"]);
    assert_eq!(job.state, JobState::Queued);
    let history = w.app.store.job_history(job.id).await.unwrap();
    assert!(
        history.iter().any(|h| h.reason == RECOVERED_PUSH_REASON),
        "{history:?}"
    );
    // The recovered push is a stored, processed delivery that says what it is.
    let stored = w
        .app
        .delivery(Flavor::Gitea, &push.delivery)
        .await
        .expect("stored");
    assert_eq!(stored.delivery.event, "push");
    assert_eq!(
        stored.status.outcome.as_deref(),
        Some(push.outcome.as_str())
    );
    assert_eq!(job.delivery.map(|d| d.0), Some(push.delivery.clone()));

    // The second pass: the commit is known.
    let again = reconciler.reconcile_once().await;
    clean(&again);
    assert!(
        again.pushes.is_empty() && again.recovered.is_empty(),
        "{again:#?}"
    );
    // A fresh replica (no memory) finds it known from the store.
    let fresh = w.reconciler().reconcile_once().await;
    assert!(fresh.pushes.is_empty(), "{fresh:#?}");

    // The lost push arrives late: planned, and every job is already known.
    w.deliver_late(&lost).await;
    let outcome = w.app.processed_outcome(Flavor::Gitea, &lost.guid).await;
    assert!(outcome.contains("already known"), "{outcome}");
    let jobs_now = w.jobs_of_repo().await;
    assert_eq!(jobs_now.len(), 2, "one job per commit: {jobs_now:#?}");
    w.app.stop().await;
}

#[tokio::test]
async fn a_lost_push_is_planned_from_its_run_on_sqlite() {
    a_lost_push_is_planned_from_its_run(Db::Sqlite).await;
}

#[tokio::test]
async fn a_lost_push_is_planned_from_its_run_on_postgres() {
    a_lost_push_is_planned_from_its_run(Db::Postgres).await;
}

/// A push whose webhook arrived is never planned again by the reconciler, though its run still
/// waits; nor is a lost push whose run finished (nothing waits for a machine); nor one whose
/// jobs were queued less than the grace ago (its webhook may be on its way) — until the grace
/// has passed.
#[tokio::test]
async fn delivered_finished_and_fresh_pushes_are_left_alone() {
    const C3: &str = "c300000000000000000000000000000000000000";
    let w = world(Db::Sqlite, GiteaKind::Gitea, Flavor::Gitea, ForgeMode::Push).await;
    w.gitea
        .push_with_jobs(REPO, C0, C1, TREE, &["src/app.go"], &[&["go"]]);
    w.gitea.flush_webhooks().await;
    w.wait_for_job(&push_key(C1)).await;
    // Lost, and its run cancelled before any pass.
    w.gitea.lose_next_webhooks(1);
    let jobs = w
        .gitea
        .push_with_jobs(REPO, C1, C2, TREE, &["src/app.go"], &[&["go"]]);
    w.lost_delivery().await;
    assert!(w.gitea.cancel_job(jobs[0].id));
    // Lost a moment ago, its job still queued.
    w.gitea.lose_next_webhooks(1);
    w.gitea
        .push_with_jobs(REPO, C2, C3, TREE, &["src/app.go"], &[&["go"]]);
    w.lost_delivery().await;

    // The default grace (30 s): the fresh run is not yet due.
    let patient = Reconciler::new(w.fleet.clone(), RoutingConfig::default());
    let report = patient.reconcile_once().await;
    clean(&report);
    assert_eq!(report.repos, vec![REPO.to_string()]);
    assert!(
        report.pushes.is_empty() && report.recovered.is_empty(),
        "{report:#?}"
    );
    assert!(patient.release().await);

    // Past the grace only the fresh run is planned: C1 is known, C2's run finished.
    let report = w.reconciler().reconcile_once().await;
    clean(&report);
    let commits: Vec<&str> = report.pushes.iter().map(|p| p.commit.as_str()).collect();
    assert_eq!(commits, vec![C3], "{report:#?}");
    assert!(w.job(&push_key(C2)).await.is_none());
    w.app.stop().await;
}

/// Gitea before 1.25 has no listing, Forgejo none that names a run or commit: the pass says so
/// (not an error) and creates nothing.
#[tokio::test]
async fn forges_without_listings_are_noted_not_failed() {
    for (kind, flavor, mode) in [
        (
            GiteaKind::GiteaLegacy,
            Flavor::Gitea,
            ForgeMode::WorkflowJob,
        ),
        (GiteaKind::GiteaLegacy, Flavor::Gitea, ForgeMode::Push),
        (GiteaKind::Forgejo, Flavor::Forgejo, ForgeMode::Push),
    ] {
        let w = world(Db::Sqlite, kind, flavor, mode).await;
        let reconciler = w.reconciler().with_repos(vec![REPO.into()]);
        let report = reconciler.reconcile_once().await;
        assert!(report.held_lease, "{kind:?}: {report:#?}");
        assert!(report.errors.is_empty(), "{kind:?}: {report:#?}");
        assert_eq!(report.unsupported.len(), 1, "{kind:?}: {report:#?}");
        assert!(report.recovered.is_empty());
        let again = reconciler.reconcile_once().await;
        assert!(again.errors.is_empty(), "{kind:?}: {again:#?}");
        w.app.stop().await;
    }
}
