//! The reconciler: webhooks are best effort ("Handling failed webhook deliveries", GitHub docs:
//! GitHub does not redeliver a failed delivery by itself; Gitea and Forgejo keep a failed one in
//! the hook's history and do not send it again either), so a periodic pass compares what sortie
//! knows with what each configured forge lists and repairs the difference (issue 9).
//!
//! Every replica runs [`Reconciler::run`]; one named lease per forge ([`lease_name`]:
//! [`RECONCILE_LEASE`] `reconciler/github`, `reconciler/gitea`, `reconciler/forgejo`) lets one
//! replica reconcile each forge at a time. A pass, every `limits.reconcile_interval`, for every
//! configured forge:
//!
//! 1. **Redeliveries** ([`redeliver`]; GitHub App only — a token, Gitea and Forgejo cannot list
//!    the webhook's deliveries): the deliveries since the last pass (the first pass: the last
//!    hour) that failed and whose GUID was not delivered since are redelivered, once per GUID.
//! 2. **Queued jobs** ([`jobs`]; `workflow_job` mode, GitHub and Gitea ≥ 1.25): for every
//!    repository of the forge's jobs stored in the last 24 hours and the extra
//!    [`Reconciler::repos`], the forge's queued jobs are listed. A job the store does not know,
//!    queued at least [`ReconcileOptions::grace`] ago, is created exactly as its `queued` webhook
//!    would have created it — the same key (forge, repository, run id, attempt, job id), so a late
//!    webhook finds it known — with the note [`RECOVERED_REASON`], and the dispatcher is woken.
//! 3. **Lost progress** ([`jobs`]; same forges): jobs the store has queued or launching that the
//!    forge no longer lists waiting are moved to where the forge's job status says they are.
//! 4. **Lost pushes** ([`push`]; push mode, Gitea ≥ 1.25): the forge's `push` runs that still
//!    wait, whose commit the store has neither a job nor a push delivery for, are planned as their
//!    push webhook would have been ([`RECOVERED_PUSH_REASON`]).
//!
//! A forge that cannot answer a listing (Gitea before 1.25; Forgejo, whose only job search names
//! no run, attempt or commit) is noted in [`ReconcileReport::unsupported`] and skipped, not
//! counted as an error. Each step runs on its own: a failing call is counted in the
//! [`ReconcileReport`] and the pass goes on. Every action is idempotent (a job key is created
//! once; a GUID redelivered twice is stored once; a recovered push is a delivery with a
//! deterministic id), so a pass repeated by another replica after a lease handover does no harm.

mod jobs;
mod push;
mod redeliver;

use crate::fleet::{Fleet, ForgeHandle, ForgeMode};
use crate::shutdown::Shutdown;
use serde::Serialize;
use sortie_core::catalog::Catalog;
use sortie_core::forge::Flavor;
use sortie_core::job::JobState;
use sortie_core::labels::RoutingConfig;
use sortie_forge::ForgeError;
use sortie_store::{Clock, Job, JobFilter, JobId, SystemClock, Timestamp};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

pub use push::RECOVERED_PUSH_REASON;

/// The lease held by the replica that reconciles with GitHub ([`lease_name`] of GitHub).
pub const RECONCILE_LEASE: &str = "reconciler/github";

/// The history note of a job the reconciler created.
pub const RECOVERED_REASON: &str =
    "recovered by reconcile: the forge lists it queued and no webhook brought it";

/// The lease one replica holds while it reconciles with the forge of `flavor`:
/// `reconciler/github`, `reconciler/gitea`, `reconciler/forgejo`.
pub fn lease_name(flavor: Flavor) -> String {
    format!("reconciler/{}", flavor.as_str())
}

/// Tunables of a pass that are not operator settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileOptions {
    /// How far back the first pass looks for failed deliveries.
    pub first_lookback: Duration,
    /// Later passes look back to the previous pass's start minus this, so a delivery recorded
    /// late is not missed (GUIDs already redelivered are remembered).
    pub overlap: Duration,
    /// Jobs stored this recently name the repositories whose queued jobs are listed.
    pub repos_window: Duration,
    /// How many of the newest jobs (and push deliveries) are read to find those repositories
    /// and the commits already planned.
    pub recent_jobs: u32,
    /// A queued job is recovered only once the forge has held it this long: its webhook may
    /// still be on the way, or stored and not yet planned.
    pub grace: Duration,
    /// The longest one forge call may take before the pass moves on.
    pub call_timeout: Duration,
}

impl Default for ReconcileOptions {
    fn default() -> Self {
        ReconcileOptions {
            first_lookback: Duration::from_secs(3600),
            overlap: Duration::from_secs(300),
            repos_window: Duration::from_secs(24 * 3600),
            recent_jobs: 2000,
            grace: Duration::from_secs(30),
            call_timeout: Duration::from_secs(60),
        }
    }
}

/// A job created because the forge lists it (or its push's run) waiting and no webhook brought
/// it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovered {
    /// The new job.
    pub job: JobId,
    /// Its key, for people (`github:acme/app:run/attempt/job`).
    pub key: String,
    /// Its labels.
    pub labels: Vec<String>,
}

/// A commit planned because the forge ran it for a push sortie never heard of (push mode).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecoveredPush {
    /// `owner/name`.
    pub repo: String,
    /// The commit.
    pub commit: String,
    /// The ref the forge's run names.
    pub git_ref: String,
    /// The forge's run that showed it.
    pub run_id: u64,
    /// The delivery recorded for it (`reconcile:owner/name@sha`).
    pub delivery: String,
    /// The delivery's outcome: what was planned.
    pub outcome: String,
}

/// A failed webhook delivery sent again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Redelivered {
    /// The attempt that was redelivered.
    pub delivery_id: u64,
    /// The delivery GUID (`X-GitHub-Delivery`).
    pub guid: String,
    /// `workflow_job.queued`, `push`, …
    pub event: String,
}

/// A job moved because the forge reports it taken or finished and no webhook said so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Closed {
    /// The job.
    pub job: JobId,
    /// Its key.
    pub key: String,
    /// The forge's status (`in_progress`, `completed`).
    pub status: String,
    /// The reason recorded.
    pub reason: String,
}

/// What one pass did, and why it did not do more.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// This replica held the lease of at least one forge and reconciled it.
    pub held_lease: bool,
    /// Why the pass stopped early, did not run, or left a forge to another replica.
    pub stopped: Option<String>,
    /// Repositories whose queued jobs (or push runs) were listed.
    pub repos: Vec<String>,
    /// Jobs created.
    pub recovered: Vec<Recovered>,
    /// Commits planned because their push webhook never came (push mode).
    pub pushes: Vec<RecoveredPush>,
    /// Deliveries redelivered.
    pub redelivered: Vec<Redelivered>,
    /// Jobs the store thought were waiting that the forge reports taken or finished.
    pub closed: Vec<Closed>,
    /// What a forge cannot be asked (older Gitea, Forgejo): skipped, not an error.
    pub unsupported: Vec<String>,
    /// Calls that failed; the next pass tries again.
    pub errors: Vec<String>,
}

impl ReconcileReport {
    /// One line for the logs.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} repositories listed, {} jobs recovered, {} closed, {} deliveries redelivered, {} errors",
            self.repos.len(),
            self.recovered.len(),
            self.closed.len(),
            self.redelivered.len(),
            self.errors.len()
        );
        if !self.pushes.is_empty() {
            s.push_str(&format!(", {} lost pushes planned", self.pushes.len()));
        }
        if !self.unsupported.is_empty() {
            s.push_str(&format!("; not supported: {}", self.unsupported.join("; ")));
        }
        if let Some(why) = &self.stopped {
            s.push_str(&format!("; stopped: {why}"));
        }
        s
    }
}

impl fmt::Display for ReconcileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary())
    }
}

/// What a replica remembers between passes.
#[derive(Debug, Default)]
struct Memory {
    /// When the last pass that listed each forge's deliveries started.
    last_pass: BTreeMap<Flavor, OffsetDateTime>,
    /// GUIDs redelivered, and when: each is redelivered once.
    redelivered: BTreeMap<String, OffsetDateTime>,
    /// Forges whose missing listing was already logged at info level.
    unsupported_logged: BTreeSet<Flavor>,
    /// `(forge, repo, commit)` of push runs already found planned or recovered.
    pushes_settled: HashSet<(Flavor, String, String)>,
}

/// The store's view, read once per pass.
struct Snapshot {
    /// The newest jobs (any state).
    recent: Vec<Job>,
    /// The jobs the store thinks still wait (queued or launching).
    waiting: Vec<Job>,
}

/// The reconciler of one replica.
pub struct Reconciler {
    /// Store, forges, limits, metrics, the dispatcher's wake-up.
    pub fleet: Arc<Fleet>,
    /// `[routing]`: recovered jobs are routed as the planner routes them.
    pub routing: RoutingConfig,
    /// Instance types for routing.
    pub catalog: Catalog,
    /// Repositories (`owner/name`) listed on every pass, on every forge, besides those of recent
    /// jobs.
    pub repos: Vec<String>,
    /// What time it is for the store (the 24-hour window of jobs).
    pub clock: Arc<dyn Clock>,
    /// Windows, graces and bounds.
    pub options: ReconcileOptions,
    memory: Mutex<Memory>,
}

impl fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reconciler")
            .field("replica", &self.fleet.replica)
            .field("repos", &self.repos)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Reconciler {
    /// A reconciler on the system clock with default options and the built-in catalogue.
    pub fn new(fleet: Arc<Fleet>, routing: RoutingConfig) -> Reconciler {
        Reconciler {
            fleet,
            routing,
            catalog: Catalog::builtin(),
            repos: Vec::new(),
            clock: Arc::new(SystemClock),
            options: ReconcileOptions::default(),
            memory: Mutex::new(Memory::default()),
        }
    }

    /// The same reconciler with `options`.
    pub fn with_options(self, options: ReconcileOptions) -> Reconciler {
        Reconciler { options, ..self }
    }

    /// The same reconciler also listing `repos` (`owner/name`) on every pass.
    pub fn with_repos(self, repos: Vec<String>) -> Reconciler {
        Reconciler { repos, ..self }
    }

    /// Reconciles every `limits.reconcile_interval` until `shutdown` fires, then gives up the
    /// leases.
    pub async fn run(self, mut shutdown: Shutdown) {
        let mut tick = tokio::time::interval(self.fleet.limits.reconcile_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.recv() => break,
                _ = tick.tick() => {}
            }
            let report = self.pass(Some(&shutdown)).await;
            log(&report);
        }
        self.release().await;
        tracing::debug!("reconciler stopped");
    }

    /// One pass now over every forge whose lease this replica can take; a forge whose lease
    /// another replica holds is left to it (the report says so). The leases are kept (they lapse
    /// after [`Reconciler::lease_ttl`]).
    pub async fn reconcile_once(&self) -> ReconcileReport {
        self.pass(None).await
    }

    /// Gives up every forge's lease this replica holds. False when it held none.
    pub async fn release(&self) -> bool {
        let mut released = false;
        for flavor in self.flavors() {
            let name = lease_name(flavor);
            match self
                .fleet
                .store
                .release_lease(&name, &self.fleet.replica)
                .await
            {
                Ok(yes) => released |= yes,
                Err(e) => {
                    tracing::warn!(lease = %name, error = %e, "could not release a reconciler lease; it expires by itself");
                }
            }
        }
        released
    }

    /// How long a lease lives without renewal: three intervals, at least a minute.
    pub fn lease_ttl(&self) -> Duration {
        self.fleet
            .limits
            .reconcile_interval
            .saturating_mul(3)
            .max(Duration::from_secs(60))
    }

    /// The flavours of the configured connections.
    fn flavors(&self) -> Vec<Flavor> {
        let set: BTreeSet<Flavor> = self
            .fleet
            .forges
            .values()
            .map(|h| h.forge.flavor())
            .collect();
        set.into_iter().collect()
    }

    async fn pass(&self, stop: Option<&Shutdown>) -> ReconcileReport {
        let mut report = ReconcileReport::default();
        if self.fleet.forges.is_empty() {
            report.stopped = Some("no forge connection is configured".into());
            return report;
        }
        let mut snapshot = None;
        let mut left = Vec::new();
        for handle in self.fleet.forges.values() {
            if stopping(stop) {
                report.stopped = Some("shutting down".into());
                break;
            }
            if let Err(why) = self.hold_lease(handle.forge.flavor()).await {
                left.push(why);
                continue;
            }
            report.held_lease = true;
            self.reconcile_forge(handle, &mut snapshot, stop, &mut report)
                .await;
        }
        if report.stopped.is_none() && !left.is_empty() {
            report.stopped = Some(left.join("; "));
        }
        if !report.recovered.is_empty() {
            // Jobs are queued now: start the dispatcher instead of waiting for its poll.
            self.fleet.wake.notify_one();
        }
        self.fleet.record_rate_budgets();
        report
    }

    /// Every step for one forge.
    async fn reconcile_forge(
        &self,
        handle: &ForgeHandle,
        snapshot: &mut Option<Snapshot>,
        stop: Option<&Shutdown>,
        report: &mut ReconcileReport,
    ) {
        let forge = handle.forge.as_ref();
        let flavor = forge.flavor();
        self.redeliver(forge, report).await;
        if stopping(stop) {
            report.stopped = Some("shutting down".into());
            return;
        }
        if let Err(why) = self.hold_lease(flavor).await {
            report.stopped = Some(why);
            return;
        }
        if snapshot.is_none() {
            *snapshot = self.snapshot(report).await;
        }
        let Some(snap) = snapshot.as_ref() else {
            return;
        };
        let repos = self.repos_served(flavor, &snap.recent);
        match handle.mode {
            ForgeMode::WorkflowJob => {
                for repo in repos {
                    if stopping(stop) {
                        report.stopped = Some("shutting down".into());
                        break;
                    }
                    // A long pass must not outlive its lease: renew it per repository, and
                    // stop when another replica has taken over.
                    if let Err(why) = self.hold_lease(flavor).await {
                        report.stopped = Some(why);
                        break;
                    }
                    if !self
                        .recover_queued(forge, &repo, &snap.waiting, report)
                        .await
                    {
                        break;
                    }
                }
            }
            ForgeMode::Push => self.recover_pushes(forge, &repos, snap, stop, report).await,
        }
    }

    /// The newest jobs, and those the store thinks still wait; `None` (with the error reported)
    /// when the store cannot say.
    async fn snapshot(&self, report: &mut ReconcileReport) -> Option<Snapshot> {
        let store = &self.fleet.store;
        let recent = store
            .list_jobs(JobFilter {
                state: None,
                limit: self.options.recent_jobs,
            })
            .await;
        let recent = match recent {
            Ok(jobs) => jobs,
            Err(e) => {
                report
                    .errors
                    .push(format!("cannot list the recent jobs: {e}"));
                return None;
            }
        };
        let mut waiting = Vec::new();
        for state in [JobState::Queued, JobState::Launching] {
            let filter = JobFilter {
                state: Some(state),
                limit: self.options.recent_jobs,
            };
            match store.list_jobs(filter).await {
                Ok(jobs) => waiting.extend(jobs),
                Err(e) => report.errors.push(format!("cannot list {state} jobs: {e}")),
            }
        }
        Some(Snapshot { recent, waiting })
    }

    /// Whether jobs and deliveries of `key_flavor` belong to the connection of `flavor` (Gitea
    /// and Forgejo share one when only one is configured, as [`Fleet::forge`] does).
    fn serves(&self, flavor: Flavor, key_flavor: Flavor) -> bool {
        self.fleet.forge(key_flavor).map(|h| h.forge.flavor()) == Some(flavor)
    }

    /// The repositories of the forge's jobs stored within the window, and the extra ones.
    fn repos_served(&self, flavor: Flavor, recent: &[Job]) -> Vec<String> {
        let window = i64::try_from(self.options.repos_window.as_millis()).unwrap_or(i64::MAX);
        let from = Timestamp::from_millis(self.clock.now().as_millis().saturating_sub(window));
        let mut repos: BTreeSet<String> = recent
            .iter()
            .filter(|j| j.created_at >= from && self.serves(flavor, j.key.forge()))
            .map(|j| j.key.repo().to_string())
            .collect();
        repos.extend(self.repos.iter().cloned());
        repos.into_iter().collect()
    }

    /// Records that the forge cannot be asked `what`: in the report each pass, in the log at
    /// info level once.
    fn note_unsupported(&self, flavor: Flavor, what: &str, report: &mut ReconcileReport) {
        let first = lock(&self.memory).unsupported_logged.insert(flavor);
        if first {
            tracing::info!(forge = %flavor, %what, "this forge cannot be reconciled with; jobs and pushes whose webhook is lost stay unknown");
        }
        report.unsupported.push(format!("{flavor}: {what}"));
    }

    /// Runs one forge call with the pass's per-call bound.
    async fn call<T>(
        &self,
        flavor: Flavor,
        fut: impl std::future::Future<Output = Result<T, ForgeError>>,
    ) -> Result<T, ForgeError> {
        match tokio::time::timeout(self.options.call_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ForgeError::Unreachable {
                forge: forge_name(flavor),
                url: format!("the {} API", forge_name(flavor)),
                message: format!(
                    "no answer within {}s; the next pass tries again",
                    self.options.call_timeout.as_secs()
                ),
            }),
        }
    }

    /// Takes or renews the forge's lease; the error says why this replica may not reconcile it.
    async fn hold_lease(&self, flavor: Flavor) -> Result<(), String> {
        let name = lease_name(flavor);
        match self
            .fleet
            .store
            .try_acquire_lease(&name, &self.fleet.replica, self.lease_ttl())
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "another replica holds the {name:?} lease and reconciles"
            )),
            Err(e) => Err(format!("cannot take the {name:?} lease: {e}")),
        }
    }
}

/// `GitHub`, `Gitea`, `Forgejo`.
fn forge_name(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Github => "GitHub",
        Flavor::Gitea => "Gitea",
        Flavor::Forgejo => "Forgejo",
    }
}

fn stopping(stop: Option<&Shutdown>) -> bool {
    stop.is_some_and(Shutdown::is_triggered)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn log(report: &ReconcileReport) {
    let summary = report.summary();
    if !report.held_lease {
        tracing::debug!(%summary, "reconcile skipped");
    } else if report.recovered.is_empty()
        && report.redelivered.is_empty()
        && report.closed.is_empty()
        && report.errors.is_empty()
    {
        tracing::debug!(%summary, "reconcile done");
    } else {
        tracing::info!(%summary, "reconcile done");
    }
}

#[cfg(test)]
mod tests;
