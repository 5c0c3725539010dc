//! The reconciler: GitHub's webhooks are best effort ("Handling failed webhook deliveries",
//! GitHub docs: GitHub does not redeliver a failed delivery by itself), so a periodic pass compares
//! what sortie knows with what GitHub lists and repairs the difference (issue 9). This is its
//! first slice, for GitHub only.
//!
//! Every replica runs [`Reconciler::run`]; the named lease [`RECONCILE_LEASE`] lets one of them
//! reconcile at a time. A pass, every `limits.reconcile_interval`:
//!
//! 1. **Redeliveries** (GitHub App only; a personal access token cannot see the webhook's
//!    deliveries): the App webhook's deliveries since the last pass (the first pass: the last
//!    hour) that failed and whose GUID was not delivered since are redelivered, once per GUID —
//!    the forge sends the same delivery again, and the ingest path stores and plans it as usual.
//! 2. **Queued jobs**: for every repository sortie served in the last 24 hours (the repositories
//!    of the jobs in the store) and the extra [`Reconciler::repos`], GitHub's queued jobs are
//!    listed (conditional requests: an unchanged listing costs no rate limit). A job the store does
//!    not know, queued at least [`ReconcileOptions::grace`] ago (its webhook may be on its way),
//!    is created exactly as its `queued` webhook would have created it (the planner's
//!    [`JobDecision`]), with the note [`RECOVERED_REASON`], and the dispatcher is woken.
//!
//! Each step runs on its own: a failing call is counted in the [`ReconcileReport`] and the pass
//! goes on. Every action is idempotent (a job key is created once; a GUID redelivered twice is
//! stored once), so a pass repeated by another replica after a lease handover does no harm.

use crate::fleet::{Fleet, ForgeMode};
use crate::planner::{apply_job, completion, JobDecision};
use crate::shutdown::Shutdown;
use serde::Serialize;
use sortie_core::catalog::Catalog;
use sortie_core::forge::Flavor;
use sortie_core::job::{JobEvent, JobKey, JobState, Transition};
use sortie_core::labels::RoutingConfig;
use sortie_forge::{ForgeError, QueuedJob, RepoRef};
use sortie_store::{Clock, Job, JobFilter, JobId, SystemClock, Timestamp};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

/// The lease held by the replica that reconciles with GitHub.
pub const RECONCILE_LEASE: &str = "reconciler/github";

/// The history note of a job the reconciler created.
pub const RECOVERED_REASON: &str =
    "recovered by reconcile: the forge lists it queued and no webhook brought it";

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
    /// How many of the newest jobs are read to find those repositories.
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

/// A job created because the forge lists it queued and no webhook brought it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Recovered {
    /// The new job.
    pub job: JobId,
    /// Its key, for people (`github:acme/app:run/attempt/job`).
    pub key: String,
    /// Its labels.
    pub labels: Vec<String>,
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
    /// This replica held the lease and reconciled.
    pub held_lease: bool,
    /// Why the pass stopped early or did not run.
    pub stopped: Option<String>,
    /// Repositories whose queued jobs were listed.
    pub repos: Vec<String>,
    /// Jobs created.
    pub recovered: Vec<Recovered>,
    /// Deliveries redelivered.
    pub redelivered: Vec<Redelivered>,
    /// Jobs the store thought were waiting that the forge reports taken or finished.
    pub closed: Vec<Closed>,
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
    /// When the last pass that listed deliveries started.
    last_pass: Option<OffsetDateTime>,
    /// GUIDs redelivered, and when: each is redelivered once.
    redelivered: BTreeMap<String, OffsetDateTime>,
}

/// The reconciler of one replica.
pub struct Reconciler {
    /// Store, forges, limits, metrics, the dispatcher's wake-up.
    pub fleet: Arc<Fleet>,
    /// `[routing]`: recovered jobs are routed as the planner routes them.
    pub routing: RoutingConfig,
    /// Instance types for routing.
    pub catalog: Catalog,
    /// Repositories (`owner/name`) listed on every pass besides those of recent jobs.
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
    /// lease.
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

    /// One pass now, if this replica can take the lease; otherwise a report saying who has it.
    /// The lease is kept (it lapses after [`Reconciler::lease_ttl`]).
    pub async fn reconcile_once(&self) -> ReconcileReport {
        self.pass(None).await
    }

    /// Gives up the lease if this replica holds it. False when it did not.
    pub async fn release(&self) -> bool {
        let store = &self.fleet.store;
        match store
            .release_lease(RECONCILE_LEASE, &self.fleet.replica)
            .await
        {
            Ok(released) => released,
            Err(e) => {
                tracing::warn!(error = %e, "could not release the reconciler lease; it expires by itself");
                false
            }
        }
    }

    /// How long the lease lives without renewal: three intervals, at least a minute.
    pub fn lease_ttl(&self) -> Duration {
        self.fleet
            .limits
            .reconcile_interval
            .saturating_mul(3)
            .max(Duration::from_secs(60))
    }

    async fn pass(&self, stop: Option<&Shutdown>) -> ReconcileReport {
        let mut report = ReconcileReport::default();
        let Some(handle) = self.fleet.forge(Flavor::Github) else {
            report.stopped = Some("no GitHub connection is configured".into());
            return report;
        };
        if let Err(why) = self.hold_lease().await {
            report.stopped = Some(why);
            return report;
        }
        report.held_lease = true;
        let forge = handle.forge.clone();
        self.redeliver(forge.as_ref(), &mut report).await;
        if stop.is_some_and(Shutdown::is_triggered) {
            report.stopped = Some("shutting down".into());
            return report;
        }
        if handle.mode != ForgeMode::WorkflowJob {
            return report;
        }
        if let Err(why) = self.hold_lease().await {
            report.stopped = Some(why);
            return report;
        }
        let repos = match self.repos_served().await {
            Ok(repos) => repos,
            Err(e) => {
                report
                    .errors
                    .push(format!("cannot list the recent jobs: {e}"));
                return report;
            }
        };
        // The jobs the store thinks still wait, read once per pass (step 3 for every repository).
        let mut waiting_here = Vec::new();
        for state in [JobState::Queued, JobState::Launching] {
            let filter = JobFilter {
                state: Some(state),
                limit: self.options.recent_jobs,
            };
            match self.fleet.store.list_jobs(filter).await {
                Ok(jobs) => waiting_here.extend(jobs),
                Err(e) => report.errors.push(format!("cannot list {state} jobs: {e}")),
            }
        }
        for repo in repos {
            if stop.is_some_and(Shutdown::is_triggered) {
                report.stopped = Some("shutting down".into());
                break;
            }
            self.recover_queued(forge.as_ref(), &repo, &waiting_here, &mut report)
                .await;
        }
        if !report.recovered.is_empty() {
            // Jobs are queued now: start the dispatcher instead of waiting for its poll.
            self.fleet.wake.notify_one();
        }
        self.fleet.record_rate_budgets();
        report
    }

    /// Step 1: redeliver the App webhook's failed deliveries, once per GUID.
    async fn redeliver(&self, forge: &dyn sortie_forge::Forge, report: &mut ReconcileReport) {
        let started = OffsetDateTime::now_utc();
        let since = {
            let memory = lock(&self.memory);
            match memory.last_pass {
                Some(last) => last - self.options.overlap,
                None => started - self.options.first_lookback,
            }
        };
        let failed = match self.call(forge.failed_deliveries(since)).await {
            Ok(failed) => failed,
            Err(ForgeError::Unsupported { what, .. }) => {
                tracing::debug!(%what, "webhook deliveries not reconciled");
                return;
            }
            Err(e) => {
                report
                    .errors
                    .push(format!("cannot list failed webhook deliveries: {e}"));
                return;
            }
        };
        for d in failed {
            if lock(&self.memory).redelivered.contains_key(&d.guid) {
                continue;
            }
            let event = match &d.action {
                Some(action) => format!("{}.{action}", d.event),
                None => d.event.clone(),
            };
            match self.call(forge.redeliver(d.id)).await {
                Ok(()) => {
                    tracing::info!(delivery = d.id, guid = %d.guid, %event, status = %d.status, "redelivered a failed webhook delivery");
                    lock(&self.memory)
                        .redelivered
                        .insert(d.guid.clone(), started);
                    self.fleet.metrics.reconcile_action("redelivery");
                    report.redelivered.push(Redelivered {
                        delivery_id: d.id,
                        guid: d.guid,
                        event,
                    });
                }
                Err(e) => report.errors.push(format!(
                    "cannot redeliver delivery {} ({}): {e}",
                    d.id, d.guid
                )),
            }
        }
        let mut memory = lock(&self.memory);
        memory.last_pass = Some(started);
        // A GUID older than the window is never listed again.
        let horizon = since - self.options.first_lookback;
        memory.redelivered.retain(|_, at| *at >= horizon);
    }

    /// The repositories of the GitHub jobs stored within the window, and the extra ones.
    async fn repos_served(&self) -> Result<Vec<String>, sortie_store::StoreError> {
        let window = i64::try_from(self.options.repos_window.as_millis()).unwrap_or(i64::MAX);
        let from = Timestamp::from_millis(self.clock.now().as_millis().saturating_sub(window));
        let jobs = self
            .fleet
            .store
            .list_jobs(JobFilter {
                state: None,
                limit: self.options.recent_jobs,
            })
            .await?;
        let mut repos: BTreeSet<String> = jobs
            .iter()
            .filter(|j| j.created_at >= from && j.key.forge() == Flavor::Github)
            .map(|j| j.key.repo().to_string())
            .collect();
        repos.extend(self.repos.iter().cloned());
        Ok(repos.into_iter().collect())
    }

    /// Step 2 for one repository: create the queued jobs the store does not know.
    async fn recover_queued(
        &self,
        forge: &dyn sortie_forge::Forge,
        repo: &str,
        waiting_here: &[Job],
        report: &mut ReconcileReport,
    ) {
        let repo_ref = match RepoRef::parse(repo) {
            Ok(r) => r,
            Err(e) => {
                report.errors.push(e.to_string());
                return;
            }
        };
        report.repos.push(repo.to_string());
        let listed = match self.call(forge.queued_jobs(&repo_ref)).await {
            Ok(listed) => listed,
            Err(e) => {
                report
                    .errors
                    .push(format!("cannot list the queued jobs of {repo}: {e}"));
                return;
            }
        };
        let now = OffsetDateTime::now_utc();
        let waiting: BTreeSet<u64> = listed.iter().map(|j| j.job_id).collect();
        for job in listed {
            if !due(&job, self.options.grace, now) {
                continue;
            }
            if let Err(e) = self.recover(repo, job, report).await {
                report.errors.push(e);
            }
        }
        if let Err(e) = self
            .close_moved(forge, repo, &repo_ref, &waiting, waiting_here, report)
            .await
        {
            report.errors.push(e);
        }
    }

    /// Step 3 for one repository: jobs the store has queued or launching (for longer than the
    /// grace) that the forge no longer lists waiting — their `in_progress` / `completed` webhook
    /// was lost — are moved to where the forge says they are. A finished job's machine is then
    /// ended by the sweeper like any finished job's.
    async fn close_moved(
        &self,
        forge: &dyn sortie_forge::Forge,
        repo: &str,
        repo_ref: &RepoRef,
        waiting: &BTreeSet<u64>,
        waiting_here: &[Job],
        report: &mut ReconcileReport,
    ) -> Result<(), String> {
        let store = self.fleet.store.as_ref();
        let grace = i64::try_from(self.options.grace.as_millis()).unwrap_or(i64::MAX);
        let before = self.clock.now().as_millis().saturating_sub(grace);
        for job in waiting_here {
            let JobKey::WorkflowJob {
                forge: Flavor::Github,
                repo: r,
                job_id,
                ..
            } = &job.key
            else {
                continue;
            };
            if r != repo || waiting.contains(job_id) || job.created_at.as_millis() > before {
                continue;
            }
            let status = match self.call(forge.job_status(repo_ref, *job_id)).await {
                Ok(s) => s,
                Err(e) => {
                    report
                        .errors
                        .push(format!("cannot read job {job_id} of {repo}: {e}"));
                    continue;
                }
            };
            let (event, reason) = match status.status.as_str() {
                "completed" => {
                    let (event, said) = completion(status.conclusion.as_deref());
                    (
                        event,
                        format!("{said}; its webhook never came (found by reconcile)"),
                    )
                }
                "in_progress" => (
                    JobEvent::Started,
                    format!(
                        "the forge reports the job in progress on {}; its webhook never came \
                             (found by reconcile)",
                        status.runner_name.as_deref().unwrap_or("a runner")
                    ),
                ),
                _ => continue,
            };
            let applied = store
                .apply_event(job.id, event, &reason)
                .await
                .map_err(|e| format!("cannot move job {}: {e}", job.id))?;
            if applied.transition == Transition::Unchanged {
                continue;
            }
            tracing::info!(job = %job.id, key = %job.key, %reason, "job moved by reconcile");
            self.fleet.metrics.reconcile_action("closed_job");
            report.closed.push(Closed {
                job: job.id,
                key: job.key.to_string(),
                status: status.status,
                reason,
            });
        }
        Ok(())
    }

    async fn recover(
        &self,
        repo: &str,
        job: QueuedJob,
        report: &mut ReconcileReport,
    ) -> Result<(), String> {
        let store = self.fleet.store.as_ref();
        let key = JobKey::WorkflowJob {
            forge: Flavor::Github,
            repo: repo.to_string(),
            run_id: job.run_id,
            run_attempt: job.run_attempt,
            job_id: job.job_id,
        };
        let known = store
            .get_job_by_key(&key)
            .await
            .map_err(|e| format!("cannot look up job {key}: {e}"))?;
        if known.is_some() {
            return Ok(());
        }
        let decision = JobDecision::queued(
            key.clone(),
            job.labels.clone(),
            &self.routing,
            &self.catalog,
        );
        let applied = apply_job(store, decision)
            .await
            .map_err(|e| format!("cannot create job {key}: {e}"))?;
        if !applied.created {
            // A webhook (or another replica) got there first.
            return Ok(());
        }
        let stored = store
            .get_job_by_key(&key)
            .await
            .map_err(|e| format!("cannot read back job {key}: {e}"))?
            .ok_or_else(|| format!("job {key} vanished after it was created"))?;
        if let Err(e) = store.note_job(stored.id, RECOVERED_REASON).await {
            tracing::warn!(job = %stored.id, error = %e, "could not note why the job was recovered");
        }
        tracing::info!(job = %stored.id, %key, outcome = %applied.outcome, "{RECOVERED_REASON}");
        self.fleet.metrics.reconcile_action("recovered_job");
        self.fleet
            .metrics
            .reconcile_recovered(Flavor::Github.as_str());
        report.recovered.push(Recovered {
            job: stored.id,
            key: key.to_string(),
            labels: job.labels,
        });
        Ok(())
    }

    /// Runs one forge call with the pass's per-call bound.
    async fn call<T>(
        &self,
        fut: impl std::future::Future<Output = Result<T, ForgeError>>,
    ) -> Result<T, ForgeError> {
        match tokio::time::timeout(self.options.call_timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ForgeError::Unreachable {
                forge: "GitHub",
                url: "the GitHub API".into(),
                message: format!(
                    "no answer within {}s; the next pass tries again",
                    self.options.call_timeout.as_secs()
                ),
            }),
        }
    }

    /// Takes or renews the lease; the error says why this replica may not reconcile now.
    async fn hold_lease(&self) -> Result<(), String> {
        let store = &self.fleet.store;
        match store
            .try_acquire_lease(RECONCILE_LEASE, &self.fleet.replica, self.lease_ttl())
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "another replica holds the {RECONCILE_LEASE:?} lease and reconciles"
            )),
            Err(e) => Err(format!("cannot take the {RECONCILE_LEASE:?} lease: {e}")),
        }
    }
}

/// A listed job to recover: queued (not waiting for an approval — the planner ignores `waiting`
/// too) and held by the forge at least `grace`.
fn due(job: &QueuedJob, grace: Duration, now: OffsetDateTime) -> bool {
    job.status == "queued" && job.created_at.is_none_or(|at| at + grace <= now)
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
        && report.errors.is_empty()
    {
        tracing::debug!(%summary, "reconcile done");
    } else {
        tracing::info!(%summary, "reconcile done");
    }
}

#[cfg(test)]
mod tests;
