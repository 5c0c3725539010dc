//! Step 4 (push mode): commits the forge ran for a `push` that sortie never heard of.
//!
//! Gitea ≥ 1.25 lists runs (`GET …/actions/runs?event=push&status=queued&status=in_progress`,
//! see `sortie_forge::gitea`); a run has no creation time, so "the runs since the last pass" are
//! the runs that still wait or run — a run that finished needs no machine — and each commit is
//! looked at once per process ([`super::Memory`]). For each such run:
//!
//! - its commit is *known* when the store has a [`JobKey::Push`] job for it or any stored `push`
//!   delivery (planned or waiting for the planner) whose `after` it is; a known commit is left
//!   alone;
//! - otherwise, when the forge lists at least one of the run's jobs waiting, queued for at least
//!   the grace (the push webhook may be on its way), the commit is planned as its push webhook
//!   would have been: a synthetic `push` delivery with the deterministic id
//!   `reconcile:owner/name@sha` is stored (a second pass or replica finds it stored and stops)
//!   and planned through the push planner's own path ([`plan_push`], [`decide_push`],
//!   [`apply_job`]); its outcome starts with [`RECOVERED_PUSH_REASON`].
//!
//! What `before` is: the run does not say which commit the push came from, and finding the
//! parent would need another call per commit, so the commit is planned **as a new-branch push**
//! (`before` the zero commit, no listed commits). Branch and tag filters are evaluated as for
//! the real push; path filters do not match, as Gitea treats them on a new branch — a workflow
//! that runs only for some paths is therefore not recovered (its outcome says it did not run).
//!
//! Job keys are made of the commit, the workflow and the job ([`JobKey::Push`]), not of the
//! delivery, so the late real webhook plans the same keys and creates nothing new.

use super::{lock, ReconcileReport, Reconciler, RecoveredPush, Snapshot};
use crate::planner::{apply_job, decide_push, push_outcome, JobTally};
use crate::shutdown::Shutdown;
use serde::Deserialize;
use sortie_core::forge::Flavor;
use sortie_core::job::JobKey;
use sortie_forge::push::plan_push;
use sortie_forge::{Forge, ForgeError, ForgeRun, QueuedJob, RepoRef};
use sortie_store::{Delivery, DeliveryId, DeliveryInsert};
use std::collections::{BTreeMap, HashSet};
use time::OffsetDateTime;

/// The history note of a job created by planning a lost push, and the start of its delivery's
/// outcome.
pub const RECOVERED_PUSH_REASON: &str =
    "recovered by reconcile: the forge ran this commit for a push and no push webhook brought it";

/// Most `(forge, repo, commit)` remembered as settled; past it the memory starts over (the
/// store check then answers again).
const SETTLED_MAX: usize = 20_000;

/// `(repo, commit)` pairs sortie already planned or will plan.
type Planned = HashSet<(String, String)>;

#[derive(Deserialize)]
struct PushHead {
    #[serde(default)]
    after: String,
    repository: RepoName,
}

#[derive(Deserialize)]
struct RepoName {
    full_name: String,
}

impl Reconciler {
    /// Step 4 for every repository of a push-mode forge.
    pub(super) async fn recover_pushes(
        &self,
        forge: &dyn Forge,
        repos: &[String],
        snap: &Snapshot,
        stop: Option<&Shutdown>,
        report: &mut ReconcileReport,
    ) {
        let flavor = forge.flavor();
        let mut planned: Option<Planned> = None;
        for repo in repos {
            if super::stopping(stop) {
                report.stopped = Some("shutting down".into());
                return;
            }
            let repo_ref = match RepoRef::parse(repo) {
                Ok(r) => r,
                Err(e) => {
                    report.errors.push(e.to_string());
                    continue;
                }
            };
            let runs = match self
                .call(flavor, forge.active_runs(&repo_ref, "push"))
                .await
            {
                Ok(runs) => runs,
                Err(ForgeError::Unsupported { what, .. }) => {
                    self.note_unsupported(flavor, &what, report);
                    return;
                }
                Err(e) => {
                    report.repos.push(repo.clone());
                    report
                        .errors
                        .push(format!("cannot list the push runs of {repo}: {e}"));
                    continue;
                }
            };
            report.repos.push(repo.clone());
            let mut candidates = self.unsettled(flavor, repo, runs);
            if candidates.is_empty() {
                continue;
            }
            if planned.is_none() {
                planned = self.planned_commits(flavor, snap, report).await;
            }
            let Some(planned) = planned.as_ref() else {
                return; // the store cannot say what was planned: try again next pass
            };
            candidates.retain(|run| {
                let known = planned.contains(&(repo.clone(), run.head_sha.clone()));
                if known {
                    self.settle(flavor, repo, &run.head_sha);
                }
                !known
            });
            if candidates.is_empty() {
                continue;
            }
            let waiting = match self.call(flavor, forge.queued_jobs(&repo_ref)).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    report
                        .errors
                        .push(format!("cannot list the waiting jobs of {repo}: {e}"));
                    continue;
                }
            };
            let now = OffsetDateTime::now_utc();
            for run in candidates {
                if !self.run_due(&run, &waiting, now) {
                    continue;
                }
                match self.recover_push(forge, &repo_ref, &run, report).await {
                    Ok(()) => self.settle(flavor, repo, &run.head_sha),
                    Err(e) => report.errors.push(e),
                }
            }
        }
    }

    /// One run per commit, newest first, leaving out the commits already settled.
    fn unsettled(&self, flavor: Flavor, repo: &str, runs: Vec<ForgeRun>) -> Vec<ForgeRun> {
        let memory = lock(&self.memory);
        let mut by_commit: BTreeMap<String, ForgeRun> = BTreeMap::new();
        for run in runs {
            let settled =
                memory
                    .pushes_settled
                    .contains(&(flavor, repo.to_string(), run.head_sha.clone()));
            if !settled {
                by_commit.entry(run.head_sha.clone()).or_insert(run);
            }
        }
        by_commit.into_values().collect()
    }

    fn settle(&self, flavor: Flavor, repo: &str, commit: &str) {
        let mut memory = lock(&self.memory);
        if memory.pushes_settled.len() >= SETTLED_MAX {
            memory.pushes_settled.clear();
        }
        memory
            .pushes_settled
            .insert((flavor, repo.to_string(), commit.to_string()));
    }

    /// A run to recover: the forge lists one of its jobs waiting, the oldest queued at least the
    /// grace ago (a job with no time given counts as old enough).
    fn run_due(&self, run: &ForgeRun, waiting: &[QueuedJob], now: OffsetDateTime) -> bool {
        let jobs: Vec<&QueuedJob> = waiting.iter().filter(|j| j.run_id == run.id).collect();
        !jobs.is_empty()
            && jobs
                .iter()
                .any(|j| j.created_at.is_none_or(|at| now - at >= self.options.grace))
    }

    /// The commits of the forge's `push` jobs and stored `push` deliveries; `None` (with the
    /// error reported) when the store cannot list its deliveries.
    async fn planned_commits(
        &self,
        flavor: Flavor,
        snap: &Snapshot,
        report: &mut ReconcileReport,
    ) -> Option<Planned> {
        let mut planned: Planned = snap
            .recent
            .iter()
            .filter_map(|j| match &j.key {
                JobKey::Push {
                    forge,
                    repo,
                    commit,
                    ..
                } if self.serves(flavor, *forge) => Some((repo.clone(), commit.clone())),
                _ => None,
            })
            .collect();
        let deliveries = self
            .fleet
            .store
            .list_recent_deliveries(self.options.recent_jobs)
            .await;
        let deliveries = match deliveries {
            Ok(d) => d,
            Err(e) => {
                report
                    .errors
                    .push(format!("cannot list the recent deliveries: {e}"));
                return None;
            }
        };
        for d in deliveries {
            let d = d.delivery;
            if d.event != "push" || !self.serves(flavor, d.forge) {
                continue;
            }
            if let Ok(head) = serde_json::from_slice::<PushHead>(&d.body) {
                planned.insert((head.repository.full_name, head.after));
            }
        }
        Some(planned)
    }

    /// Stores and plans the push `run` stands for. A transient forge failure leaves the stored
    /// delivery unprocessed: the planner's recovery sweep plans it like any stored push.
    async fn recover_push(
        &self,
        forge: &dyn Forge,
        repo: &RepoRef,
        run: &ForgeRun,
        report: &mut ReconcileReport,
    ) -> Result<(), String> {
        let flavor = forge.flavor();
        let store = self.fleet.store.as_ref();
        let delivery = Delivery {
            id: DeliveryId(format!("reconcile:{}@{}", repo.full_name(), run.head_sha)),
            forge: flavor,
            event: "push".into(),
            headers: BTreeMap::from([(
                "x-sortie-recovered-from-run".to_string(),
                run.id.to_string(),
            )]),
            body: push_payload(repo, run),
            received_at: self.clock.now(),
        };
        let inserted = store
            .insert_delivery(&delivery)
            .await
            .map_err(|e| format!("cannot store the recovered push {}: {e}", delivery.id.0))?;
        if let DeliveryInsert::Duplicate { .. } = inserted {
            return Ok(()); // another replica, or an earlier pass, recovered it
        }
        let planned = self
            .call(
                flavor,
                plan_push(forge, &delivery.body, &self.routing, &self.catalog),
            )
            .await;
        let plan = match planned {
            Ok(plan) => plan,
            Err(e) if e.is_transient() => {
                return Err(format!(
                    "cannot plan the lost push of {} at {}: {e}; stored as delivery {}, the \
                     planner plans it on a later sweep",
                    repo, run.head_sha, delivery.id.0
                ));
            }
            Err(e) => {
                let outcome = format!(
                    "{RECOVERED_PUSH_REASON}; not planned: reading the workflows failed: {e}"
                );
                let _ = store
                    .mark_delivery_processed(flavor, &delivery.id, &outcome)
                    .await;
                return Err(format!(
                    "cannot plan the lost push of {repo} at {}: {e}",
                    run.head_sha
                ));
            }
        };
        let names: Vec<String> = plan.jobs().iter().map(|(_, j)| j.name.clone()).collect();
        let mut tally = JobTally::default();
        for (decision, name) in decide_push(&delivery, &plan).into_iter().zip(&names) {
            let key = decision.job.key.clone();
            let labels = decision.job.labels.clone();
            let applied = apply_job(store, decision)
                .await
                .map_err(|e| format!("cannot create job {key}: {e}"))?;
            tally.count(&applied, name);
            if applied.created {
                let stored = self.note_recovered(&key, RECOVERED_PUSH_REASON).await?;
                report.recovered.push(super::Recovered {
                    job: stored.id,
                    key: key.to_string(),
                    labels,
                });
            }
        }
        let outcome = format!("{RECOVERED_PUSH_REASON}; {}", push_outcome(&plan, &tally));
        store
            .mark_delivery_processed(flavor, &delivery.id, &outcome)
            .await
            .map_err(|e| format!("cannot record the outcome of {}: {e}", delivery.id.0))?;
        tracing::info!(forge = %flavor, %repo, commit = %run.head_sha, run = run.id, %outcome, "lost push planned");
        self.fleet.metrics.reconcile_action("recovered_push");
        report.pushes.push(RecoveredPush {
            repo: repo.full_name(),
            commit: run.head_sha.clone(),
            git_ref: run.git_ref.clone(),
            run_id: run.id,
            delivery: delivery.id.0,
            outcome,
        });
        Ok(())
    }
}

/// A Gitea `push` payload for the commit of `run`, as a new-branch push (see the module docs):
/// `before` the zero commit, no commits listed.
fn push_payload(repo: &RepoRef, run: &ForgeRun) -> Vec<u8> {
    let body = serde_json::json!({
        "ref": run.git_ref,
        "before": "0".repeat(40),
        "after": run.head_sha,
        "commits": [],
        "total_commits": 0,
        "head_commit": null,
        "repository": {
            "full_name": repo.full_name(),
            "name": repo.name,
            "owner": { "login": repo.owner, "username": repo.owner },
        },
        "sortie_recovered": {
            "run_id": run.id,
            "note": RECOVERED_PUSH_REASON,
        },
    });
    serde_json::to_vec(&body).unwrap_or_default()
}
