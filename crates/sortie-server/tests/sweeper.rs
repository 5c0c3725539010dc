//! The sweeper against real parts: the store (an SQLite file, or a fresh PostgreSQL database),
//! the local provider (real `sleep` processes, tagged as every sortie machine is) and the fake
//! GitHub's runner API. Time is the store's `ManualClock`: a test moves it past a limit instead
//! of sleeping, and asserts what the pass did, never how long it took.

use sortie_core::agent::AgentPhase;
use sortie_core::forge::Flavor;
use sortie_core::job::{JobEvent, JobKey, JobState};
use sortie_core::route::Route;
use sortie_forge::github::{GithubAuth, GithubConfig, GithubForge};
use sortie_forge::ratelimit::RetryPolicy;
use sortie_forge::Secret;
use sortie_provider::local::{LocalConfig, LocalExit, LocalProvider};
use sortie_provider::{Bootstrap, InstanceId, LaunchRequest, OneTimeSecret, Provider};
use sortie_server::fleet::{Fleet, ForgeHandle, ForgeMode, Limits, ScopeRule};
use sortie_server::metrics::Metrics;
use sortie_server::sweeper::{ActionKind, Step, SweepReport, Sweeper};
use sortie_store::{
    InstanceState, Job, ManualClock, NewInstance, NewJob, NewRegistration, RegistrationState,
    Store, Timestamp,
};
use sortie_testkit::forge::{FakeGithub, ScriptedFailure};
use sortie_testkit::postgres::TestDatabase;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

const OWNER: &str = "sweeper-test";
const REPO: &str = "octo/app";
const SCOPE: &str = "repo:octo/app";
const PAT: &str = "ghp_sweeper";
const MIN: Duration = Duration::from_secs(60);
const WAIT: Duration = Duration::from_secs(20);

enum Db {
    Sqlite,
    Postgres,
}

/// Small limits, so a test moves the clock by minutes, not hours.
fn limits() -> Limits {
    Limits {
        running_timeout: 60 * MIN,
        idle_runner_timeout: 10 * MIN,
        launching_timeout: 15 * MIN,
        max_runtime: 90 * MIN,
        heartbeat_interval: Duration::from_secs(15),
        max_attempts: 3,
        sweep_interval: Duration::from_millis(50),
        ..Limits::default()
    }
}

struct Harness {
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    local: LocalProvider,
    gh: FakeGithub,
    fleet: Arc<Fleet>,
    sweeper: Sweeper,
    _dir: tempfile::TempDir,
    _pg: Option<TestDatabase>,
}

impl Harness {
    async fn new(db: Db) -> Harness {
        Harness::with_time_limit(db, Duration::from_secs(600)).await
    }

    async fn with_time_limit(db: Db, time_limit: Duration) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let (url, pg) = match db {
            Db::Sqlite => (
                format!("sqlite://{}", dir.path().join("sortie.db").display()),
                None,
            ),
            Db::Postgres => {
                let pg = TestDatabase::create().await.expect("PostgreSQL for tests");
                (pg.url().to_string(), Some(pg))
            }
        };
        let clock = Arc::new(ManualClock::new(Timestamp::now()));
        let store = sortie_store::open_with_clock(&url, clock.clone())
            .await
            .expect("store opens");
        let local = LocalProvider::new(LocalConfig {
            command: vec!["sleep".into(), "300".into()],
            work_root: dir.path().join("work"),
            log_dir: dir.path().join("logs"),
            max_concurrent: 16,
            time_limit,
            env: BTreeMap::new(),
            owner: OWNER.into(),
        })
        .unwrap();
        let gh = FakeGithub::start().await.unwrap();
        gh.add_pat(PAT);
        gh.add_repo(REPO, 1);
        let forge = GithubForge::new(
            GithubConfig {
                api_url: gh.url(),
                // One call per request: a failing forge fails the step at once.
                retry: RetryPolicy {
                    max_attempts: 1,
                    ..RetryPolicy::default()
                },
                ..GithubConfig::new(GithubAuth::Token(Secret::new(PAT)))
            },
            Arc::new(sortie_forge::clock::SystemClock),
        )
        .unwrap();
        let handle = ForgeHandle {
            forge: Arc::new(forge),
            scope: ScopeRule::Repo,
            mode: ForgeMode::WorkflowJob,
            web_url: gh.url(),
        };
        let providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::from([(
            "local".to_string(),
            Arc::new(local.clone()) as Arc<dyn Provider>,
        )]);
        let fleet = Arc::new(Fleet {
            store: store.clone(),
            forges: BTreeMap::from([(Flavor::Github, handle)]),
            providers,
            public_url: "http://127.0.0.1:1".into(),
            owner: OWNER.into(),
            replica: "replica-1".into(),
            limits: limits(),
            metrics: Arc::new(Metrics::default()),
            default_provider: "local".into(),
            wake: Arc::new(tokio::sync::Notify::new()),
        });
        let sweeper = Sweeper::new(fleet.clone()).with_clock(clock.clone());
        Harness {
            store,
            clock,
            local,
            gh,
            fleet,
            sweeper,
            _dir: dir,
            _pg: pg,
        }
    }

    /// A sweeper of another replica on the same store, providers and forge.
    fn replica(&self, name: &str) -> Sweeper {
        let fleet = Fleet {
            replica: name.into(),
            ..(*self.fleet).clone()
        };
        Sweeper::new(Arc::new(fleet)).with_clock(self.clock.clone())
    }

    /// A queued job of the test repository.
    async fn job(&self) -> Job {
        let new = NewJob {
            key: key(),
            labels: vec!["self-hosted".into()],
            route: Route::provider("local", "test route"),
            spec: Some(Default::default()),
            delivery: None,
        };
        self.store.create_job(&new).await.unwrap().into_job()
    }

    async fn event(&self, job: &Job, event: JobEvent) -> Job {
        self.store
            .apply_event(job.id, event, "test")
            .await
            .unwrap()
            .job
    }

    /// What the dispatcher does: launching, a machine for the attempt, its record.
    async fn launch(&self, job: &Job) -> InstanceId {
        let job = self.event(job, JobEvent::Launch).await;
        let id = self.start_process(&job.key, job.attempt).await;
        let record = NewInstance {
            job: job.id,
            provider: "local".into(),
            provider_id: id.0.clone(),
            attempt: job.attempt,
            state: InstanceState::Running,
        };
        self.store.record_instance(&record).await.unwrap();
        id
    }

    /// A tagged process for `key` at `attempt`, with no record in the store.
    async fn start_process(&self, key: &JobKey, attempt: u32) -> InstanceId {
        let req = LaunchRequest {
            job: key.clone(),
            attempt,
            spec: Default::default(),
            bootstrap: Bootstrap {
                orchestrator_url: "http://127.0.0.1:1".into(),
                credential: OneTimeSecret::new("sbt_test"),
                ssm_parameter: None,
            },
            tags: BTreeMap::new(),
        };
        self.local.launch(&req).await.unwrap().instance_id
    }

    /// An agent session for the job's current attempt, reporting `phases` in order.
    async fn agent(&self, job: &Job, phases: &[AgentPhase]) {
        let token = format!("bootstrap-{}-{}", job.id, job.attempt);
        self.store
            .create_bootstrap(&token, job.id, job.attempt, 10 * MIN)
            .await
            .unwrap();
        let session = format!("session-{}-{}", job.id, job.attempt);
        self.store.redeem_bootstrap(&token, &session).await.unwrap();
        for p in phases {
            self.report(job, *p).await;
        }
    }

    async fn report(&self, job: &Job, phase: AgentPhase) {
        self.store
            .record_phase(job.id, job.attempt, phase, None)
            .await
            .unwrap();
    }

    /// What the agent routes do when they mint the runner credential: a runner on the forge
    /// and its store record.
    async fn register(&self, job: &Job, online: bool, busy: bool) -> u64 {
        let name = job.key.runner_name(job.attempt);
        let id = self.gh.add_runner(SCOPE, &name, online, busy);
        let reg = NewRegistration {
            job: job.id,
            runner_id: Some(i64::try_from(id).unwrap()),
            name,
            state: RegistrationState::Registered,
        };
        self.store.record_registration(&reg).await.unwrap();
        id
    }

    fn advance(&self, d: Duration) {
        self.clock.advance(d);
    }

    /// One pass, which must hold the lease and fail nowhere.
    async fn sweep(&self) -> SweepReport {
        let report = self.sweeper.sweep_once().await;
        assert!(report.held_lease, "{report:#?}");
        assert!(report.errors.is_empty(), "{report:#?}");
        report
    }

    async fn get(&self, job: &Job) -> Job {
        self.store.get_job(job.id).await.unwrap().unwrap()
    }

    async fn reasons(&self, job: &Job) -> Vec<String> {
        let history = self.store.job_history(job.id).await.unwrap();
        history.into_iter().map(|h| h.reason).collect()
    }

    async fn recorded_state(&self, id: &InstanceId) -> InstanceState {
        let found = self.store.find_instance("local", &id.0).await.unwrap();
        found.expect("instance recorded").state
    }

    fn has_runner(&self, id: u64) -> bool {
        self.gh.runners().iter().any(|r| r.id == id)
    }

    /// Ends every process still running (a failed test must not leave `sleep 300` behind).
    async fn stop_all(&self) {
        for info in self.local.list_managed(OWNER).await.unwrap() {
            let _ = self.local.terminate(&info.id).await;
        }
    }
}

static JOB_IDS: AtomicU64 = AtomicU64::new(1);

/// A fresh job key of the test repository.
fn key() -> JobKey {
    JobKey::WorkflowJob {
        forge: Flavor::Github,
        repo: REPO.into(),
        run_id: 4242,
        run_attempt: 1,
        job_id: JOB_IDS.fetch_add(1, Ordering::SeqCst),
    }
}

fn terminated(report: &SweepReport) -> Vec<String> {
    report
        .of(ActionKind::Terminate)
        .map(|a| a.target.clone())
        .collect()
}

#[tokio::test]
async fn the_machine_of_a_finished_job_is_ended_after_the_grace() {
    let h = Harness::new(Db::Sqlite).await;
    let job = h.job().await;
    let id = h.launch(&job).await;
    h.agent(&job, &[AgentPhase::Registered, AgentPhase::JobStarted])
        .await;
    let job = h.event(&job, JobEvent::Started).await;
    h.advance(MIN);
    let job = h.event(&job, JobEvent::Succeeded).await;

    // Within the grace the agent may still power the machine off itself.
    let report = h.sweep().await;
    assert!(terminated(&report).is_empty(), "{report:#?}");
    assert_eq!(h.local.exit(&id), None);

    h.advance(3 * MIN);
    let report = h.sweep().await;
    assert_eq!(
        terminated(&report),
        vec![format!("local/{id}")],
        "{report:#?}"
    );
    let action = report.of(ActionKind::Terminate).next().unwrap();
    assert_eq!(action.step, Step::FinishedMachines);
    assert!(
        action.reason.contains("its job finished 3m ago (completed"),
        "{}",
        action.reason
    );
    assert_eq!(h.local.exit(&id), Some(LocalExit::Terminated));
    assert_eq!(h.recorded_state(&id).await, InstanceState::Terminated);
    let reasons = h.reasons(&job).await;
    assert!(
        reasons
            .iter()
            .any(|r| r.starts_with(&format!("sweep ended machine local/{id}"))),
        "{reasons:?}"
    );
    let metrics = h.fleet.metrics.render();
    assert!(
        metrics.contains("sortie_sweep_actions_total{kind=\"finished_machines:terminate\"} 1"),
        "{metrics}"
    );
    // Nothing left to do.
    let again = h.sweep().await;
    assert_eq!(again.for_job(job.id).count(), 0, "{again:#?}");
}

#[tokio::test]
async fn an_orphan_tagged_by_us_is_ended_and_an_unrecorded_live_launch_is_not() {
    let h = Harness::new(Db::Sqlite).await;
    let orphan = h.start_process(&key(), 1).await;
    // A launch whose instance the dispatcher has not recorded yet.
    let job = h.job().await;
    let job = h.event(&job, JobEvent::Launch).await;
    let in_flight = h.start_process(&job.key, job.attempt).await;

    let report = h.sweep().await;
    assert!(
        terminated(&report).is_empty(),
        "young machines are spared: {report:#?}"
    );

    h.advance(6 * MIN + Duration::from_secs(30));
    let report = h.sweep().await;
    assert_eq!(
        terminated(&report),
        vec![format!("local/{orphan}")],
        "{report:#?}"
    );
    let action = report.of(ActionKind::Terminate).next().unwrap();
    assert_eq!(action.step, Step::Orphans);
    assert!(
        action.reason.starts_with("orphan: up for 6m"),
        "{}",
        action.reason
    );
    assert_eq!(h.local.exit(&orphan), Some(LocalExit::Terminated));
    assert_eq!(h.local.exit(&in_flight), None);
    h.stop_all().await;
}

async fn zombie_runner(db: Db) {
    let h = Harness::new(db).await;
    let job = h.job().await;
    let id = h.launch(&job).await;
    let job = h.get(&job).await;
    h.agent(&job, &[AgentPhase::Registered]).await;
    let runner = h.register(&job, true, false).await;

    h.advance(5 * MIN);
    h.report(&job, AgentPhase::Heartbeat).await;
    let report = h.sweep().await;
    assert_eq!(report.for_job(job.id).count(), 0, "{report:#?}");

    // Still heartbeating, but the runner never took a job.
    h.advance(6 * MIN);
    h.report(&job, AgentPhase::Heartbeat).await;
    let report = h.sweep().await;
    let zombie: Vec<_> = report
        .actions
        .iter()
        .filter(|a| a.step == Step::ZombieRunners)
        .map(|a| a.kind)
        .collect();
    assert_eq!(
        zombie,
        vec![
            ActionKind::Terminate,
            ActionKind::DeleteRunner,
            ActionKind::ForgetRegistration,
            ActionKind::Requeue,
            ActionKind::CloseSession
        ],
        "{report:#?}"
    );
    assert_eq!(h.local.exit(&id), Some(LocalExit::Terminated));
    assert!(!h.has_runner(runner), "{:?}", h.gh.runners());
    let after = h.get(&job).await;
    assert_eq!((after.state, after.attempt), (JobState::Queued, 2));
    let history = h.store.job_history(job.id).await.unwrap();
    let requeue = history.last().unwrap();
    assert_eq!(requeue.event, Some(JobEvent::Requeue));
    assert!(
        requeue.reason.starts_with(&format!(
            "runner {} registered but received no job within 10m",
            job.key.runner_name(1)
        )),
        "{}",
        requeue.reason
    );
    assert!(h.store.list_registrations(None).await.unwrap().is_empty());
    assert!(h.store.list_sessions(None).await.unwrap().is_empty());

    // Done once: the next pass has nothing to do for it.
    h.advance(MIN);
    let again = h.sweep().await;
    assert_eq!(again.for_job(job.id).count(), 0, "{again:#?}");
}

#[tokio::test]
async fn a_zombie_runner_is_ended_and_its_job_requeued_on_sqlite() {
    zombie_runner(Db::Sqlite).await;
}

#[tokio::test]
async fn a_zombie_runner_is_ended_and_its_job_requeued_on_postgres() {
    zombie_runner(Db::Postgres).await;
}

#[tokio::test]
async fn a_zombie_on_its_last_attempt_fails_the_job() {
    let h = Harness::new(Db::Sqlite).await;
    let mut job = h.job().await;
    for _ in 1..limits().max_attempts {
        job = h.event(&job, JobEvent::Launch).await;
        job = h.event(&job, JobEvent::Requeue).await;
    }
    h.launch(&job).await;
    let job = h.get(&job).await;
    assert_eq!(job.attempt, 3);
    h.agent(&job, &[AgentPhase::Registered]).await;
    h.advance(11 * MIN);
    let report = h.sweep().await;
    assert_eq!(report.of(ActionKind::Fail).count(), 1, "{report:#?}");
    let after = h.get(&job).await;
    assert_eq!(after.state, JobState::Failed);
    let reasons = h.reasons(&job).await;
    let last = reasons.last().unwrap();
    assert!(
        last.contains("received no job within 10m") && last.contains("max_attempts 3"),
        "{last}"
    );
}

#[tokio::test]
async fn a_busy_runner_is_never_deleted() {
    let h = Harness::new(Db::Sqlite).await;
    // A finished job whose runner the forge still lists busy.
    let done = h.job().await;
    let done = h.event(&done, JobEvent::Launch).await;
    let busy = h.register(&done, true, true).await;
    let done = h.event(&done, JobEvent::Succeeded).await;
    // A zombie by its agent's reports whose runner the forge lists busy (the report is late).
    let late = h.job().await;
    let late_machine = h.launch(&late).await;
    let late = h.get(&late).await;
    h.agent(&late, &[AgentPhase::Registered]).await;
    let late_runner = h.register(&late, true, true).await;
    // Spent: offline, idle, ours, no job sortie knows; and somebody else's.
    let spent =
        h.gh.add_runner(SCOPE, "sortie-00000000deadbeef-1", false, false);
    let foreign = h.gh.add_runner(SCOPE, "build-host", false, false);

    h.advance(11 * MIN);
    let report = h.sweep().await;
    assert!(h.has_runner(busy) && h.has_runner(late_runner) && h.has_runner(foreign));
    assert!(!h.has_runner(spent), "{:?}", h.gh.runners());
    let deleted: Vec<_> = report
        .of(ActionKind::DeleteRunner)
        .map(|a| a.target.clone())
        .collect();
    assert_eq!(
        deleted,
        vec![format!(
            "runner {spent} sortie-00000000deadbeef-1 (repository {REPO})"
        )]
    );
    let spared: Vec<_> = report.of(ActionKind::Spare).collect();
    assert_eq!(spared.len(), 2, "{report:#?}");
    assert!(spared
        .iter()
        .any(|a| a.job == Some(done.id) && a.reason.contains("busy")));
    assert!(spared
        .iter()
        .any(|a| a.job == Some(late.id) && a.reason.contains("busy")));
    // The late reporter keeps its machine and its job.
    assert_eq!(h.local.exit(&late_machine), None);
    let late = h.get(&late).await;
    assert_eq!((late.state, late.attempt), (JobState::Launching, 1));
    h.stop_all().await;
}

async fn running_timeout(db: Db) {
    let h = Harness::new(db).await;
    let job = h.job().await;
    let id = h.launch(&job).await;
    let job = h.get(&job).await;
    h.agent(&job, &[AgentPhase::Registered, AgentPhase::JobStarted])
        .await;
    let job = h.event(&job, JobEvent::Started).await;

    h.advance(59 * MIN);
    h.report(&job, AgentPhase::Heartbeat).await;
    let report = h.sweep().await;
    assert_eq!(report.for_job(job.id).count(), 0, "{report:#?}");

    h.advance(2 * MIN);
    h.report(&job, AgentPhase::Heartbeat).await;
    let report = h.sweep().await;
    let kinds: Vec<_> = report.for_job(job.id).map(|a| a.kind).collect();
    assert_eq!(
        kinds,
        vec![ActionKind::TimeOut, ActionKind::Terminate],
        "{report:#?}"
    );
    let after = h.get(&job).await;
    assert_eq!(after.state, JobState::TimedOut);
    let history = h.store.job_history(job.id).await.unwrap();
    let timed_out = history
        .iter()
        .find(|e| e.to == JobState::TimedOut)
        .expect("a timed_out entry");
    assert_eq!(
        timed_out.reason,
        "running for 1h 1m, longer than running_timeout (1h); timed out by the sweep"
    );
    assert_eq!(h.local.exit(&id), Some(LocalExit::Terminated));
    assert_eq!(h.recorded_state(&id).await, InstanceState::Terminated);
}

#[tokio::test]
async fn a_job_running_too_long_is_timed_out_and_its_machine_ended_on_sqlite() {
    running_timeout(Db::Sqlite).await;
}

#[tokio::test]
async fn a_job_running_too_long_is_timed_out_and_its_machine_ended_on_postgres() {
    running_timeout(Db::Postgres).await;
}

/// Issue 9: a sweep running during a long job never ends that job's machine.
#[tokio::test]
async fn a_sweep_during_a_long_job_never_ends_its_machine() {
    let h = Harness::new(Db::Sqlite).await;
    let job = h.job().await;
    let id = h.launch(&job).await;
    let job = h.get(&job).await;
    h.agent(&job, &[AgentPhase::Registered, AgentPhase::JobStarted])
        .await;
    let runner = h.register(&job, true, true).await;
    let job = h.event(&job, JobEvent::Started).await;
    // Past every grace and timeout but running_timeout (60m): idle runner 10m, orphan 5m,
    // finished 2m, launching 15m.
    for _ in 0..11 {
        h.advance(5 * MIN);
        h.report(&job, AgentPhase::Heartbeat).await;
        let report = h.sweep().await;
        assert!(report.actions.is_empty(), "{report:#?}");
    }
    assert_eq!(h.local.exit(&id), None, "the machine still runs");
    assert!(h.has_runner(runner));
    assert_eq!(h.get(&job).await.state, JobState::Running);
    assert_eq!(h.recorded_state(&id).await, InstanceState::Running);
    h.stop_all().await;
}

#[tokio::test]
async fn a_time_limit_kill_requeues_the_job_once() {
    let h = Harness::with_time_limit(Db::Sqlite, Duration::from_millis(100)).await;
    let job = h.job().await;
    let id = h.launch(&job).await;
    sortie_testkit::eventually("the time limit ends the process", WAIT, || async {
        (h.local.exit(&id) == Some(LocalExit::TimeLimit)).then_some(())
    })
    .await;
    let report = h.sweep().await;
    let requeue: Vec<_> = report.of(ActionKind::Requeue).collect();
    assert_eq!(requeue.len(), 1, "{report:#?}");
    assert_eq!(requeue[0].step, Step::Interruptions);
    assert_eq!(
        requeue[0].reason,
        format!("instance {id} hit its time limit (attempt 1); requeued")
    );
    let after = h.get(&job).await;
    assert_eq!((after.state, after.attempt), (JobState::Queued, 2));
    assert_eq!(h.recorded_state(&id).await, InstanceState::Terminated);
    let again = h.sweep().await;
    assert_eq!(again.of(ActionKind::Requeue).count(), 0, "{again:#?}");
}

#[tokio::test]
async fn a_failing_forge_does_not_stop_the_other_steps() {
    let h = Harness::new(Db::Sqlite).await;
    let job = h.job().await;
    h.event(&job, JobEvent::Cancel).await;
    let orphan = h.start_process(&key(), 1).await;
    h.gh.script(ScriptedFailure::status(500, "boom").on("actions/runners"));
    h.advance(6 * MIN);
    let report = h.sweeper.sweep_once().await;
    assert_eq!(
        terminated(&report),
        vec![format!("local/{orphan}")],
        "{report:#?}"
    );
    assert_eq!(report.errors.len(), 1, "{report:#?}");
    assert_eq!(report.errors[0].step, Step::Registrations);
    assert!(report.errors[0].message.contains("500"), "{report:#?}");
    assert!(
        report.summary().contains("errors 1"),
        "{}",
        report.summary()
    );
}

#[tokio::test]
async fn one_replica_sweeps_at_a_time_on_postgres() {
    let h = Harness::new(Db::Postgres).await;
    let (a, b) = (h.replica("replica-a"), h.replica("replica-b"));
    let (ra, rb) = tokio::join!(a.sweep_once(), b.sweep_once());
    assert!(ra.held_lease != rb.held_lease, "{ra:#?}\n{rb:#?}");
    let (holder, other) = if ra.held_lease { (a, b) } else { (b, a) };
    let waiting = if ra.held_lease { rb } else { ra };
    assert!(
        waiting
            .stopped
            .as_deref()
            .unwrap_or("")
            .contains("another replica holds"),
        "{waiting:#?}"
    );

    // The holder's loop keeps the lease; on shutdown it gives it up.
    let (trigger, shutdown) = sortie_server::shutdown::channel();
    let task = tokio::spawn(holder.clone().run(shutdown));
    assert!(!other.sweep_once().await.held_lease);
    trigger.fire();
    task.await.unwrap();
    assert!(other.sweep_once().await.held_lease);

    // A replica that dies keeps the lease only until it lapses.
    assert!(!holder.sweep_once().await.held_lease);
    h.advance(other.lease_ttl() + Duration::from_secs(1));
    assert!(holder.sweep_once().await.held_lease);
}

/// Issue 9: offline registrations with sortie's name prefix that belong to no job sortie knows
/// (left by crashed machines, an older install, a lost delete) are removed in one pass — all 50 —
/// while the live job's own runner and a foreign runner stay.
#[tokio::test]
async fn fifty_ghost_registrations_are_removed_in_one_pass() {
    let h = Harness::new(Db::Sqlite).await;
    let live = h.job().await;
    let live = h.event(&live, JobEvent::Launch).await;
    let own = h.register(&live, true, false).await;
    let foreign = h.gh.add_runner(SCOPE, "build-host", false, false);
    let ghosts: Vec<u64> = (0..50u64)
        .map(|i| {
            let name = format!("sortie-{:016x}-1", 0xdead_0000_u64 + i);
            h.gh.add_runner(SCOPE, &name, false, false)
        })
        .collect();

    let report = h.sweep().await;
    let left: Vec<u64> = ghosts
        .iter()
        .copied()
        .filter(|g| h.has_runner(*g))
        .collect();
    assert!(left.is_empty(), "{} ghosts left: {report:#?}", left.len());
    assert_eq!(report.of(ActionKind::DeleteRunner).count(), 50);
    assert!(h.has_runner(own), "the live job's runner stays");
    assert!(h.has_runner(foreign), "not ours");
    h.stop_all().await;
}
