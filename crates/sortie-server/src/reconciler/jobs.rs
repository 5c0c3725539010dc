//! Steps 2 and 3 (`workflow_job` mode): jobs the forge lists queued that the store lacks are
//! created as their `queued` webhook would have created them; jobs the store thinks wait that
//! the forge reports taken or finished are moved. GitHub and Gitea ≥ 1.25 answer the listings
//! (`Forge::queued_jobs`, `Forge::job_status`); each job carries the run id and attempt its own
//! webhook carries, so the key is the one the planner would give it ([`WorkflowJob::key`]).
//!
//! [`WorkflowJob::key`]: sortie_core::event::WorkflowJob::key

use super::{Closed, ReconcileReport, Reconciler, Recovered, RECOVERED_REASON};
use crate::planner::{apply_job, completion, JobDecision};
use sortie_core::job::{JobEvent, JobKey, Transition};
use sortie_forge::{Forge, ForgeError, QueuedJob, RepoRef};
use sortie_store::Job;
use std::collections::BTreeSet;
use std::time::Duration;
use time::OffsetDateTime;

impl Reconciler {
    /// Step 2 (and 3) for one repository. False when the forge cannot list jobs at all, so the
    /// other repositories need not be tried.
    pub(super) async fn recover_queued(
        &self,
        forge: &dyn Forge,
        repo: &str,
        waiting_here: &[Job],
        report: &mut ReconcileReport,
    ) -> bool {
        let flavor = forge.flavor();
        let repo_ref = match RepoRef::parse(repo) {
            Ok(r) => r,
            Err(e) => {
                report.errors.push(e.to_string());
                return true;
            }
        };
        let listed = match self.call(flavor, forge.queued_jobs(&repo_ref)).await {
            Ok(listed) => listed,
            Err(ForgeError::Unsupported { what, .. }) => {
                self.note_unsupported(flavor, &what, report);
                return false;
            }
            Err(e) => {
                report.repos.push(repo.to_string());
                report
                    .errors
                    .push(format!("cannot list the queued jobs of {repo}: {e}"));
                return true;
            }
        };
        report.repos.push(repo.to_string());
        let now = OffsetDateTime::now_utc();
        let waiting: BTreeSet<u64> = listed.iter().map(|j| j.job_id).collect();
        for job in listed {
            if !due(&job, self.options.grace, now) {
                continue;
            }
            if let Err(e) = self.recover(forge, repo, job, report).await {
                report.errors.push(e);
            }
        }
        if let Err(e) = self
            .close_moved(forge, repo, &repo_ref, &waiting, waiting_here, report)
            .await
        {
            report.errors.push(e);
        }
        true
    }

    /// Step 3 for one repository: jobs the store has queued or launching (for longer than the
    /// grace) that the forge no longer lists waiting — their `in_progress` / `completed` webhook
    /// was lost — are moved to where the forge says they are. A finished job's machine is then
    /// ended by the sweeper like any finished job's.
    async fn close_moved(
        &self,
        forge: &dyn Forge,
        repo: &str,
        repo_ref: &RepoRef,
        waiting: &BTreeSet<u64>,
        waiting_here: &[Job],
        report: &mut ReconcileReport,
    ) -> Result<(), String> {
        let flavor = forge.flavor();
        let store = self.fleet.store.as_ref();
        let grace = i64::try_from(self.options.grace.as_millis()).unwrap_or(i64::MAX);
        let before = self.clock.now().as_millis().saturating_sub(grace);
        for job in waiting_here {
            let JobKey::WorkflowJob {
                forge: key_forge,
                repo: r,
                job_id,
                ..
            } = &job.key
            else {
                continue;
            };
            if !self.serves(flavor, *key_forge)
                || r != repo
                || waiting.contains(job_id)
                || job.created_at.as_millis() > before
            {
                continue;
            }
            let status = match self.call(flavor, forge.job_status(repo_ref, *job_id)).await {
                Ok(s) => s,
                Err(ForgeError::Unsupported { what, .. }) => {
                    self.note_unsupported(flavor, &what, report);
                    return Ok(());
                }
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
            if let Some(runner) = status.runner_name.as_deref().filter(|r| !r.is_empty()) {
                // Its runner may be one sortie launched for another job, still waiting.
                if let Err(e) = crate::steal::runner_took(&self.fleet, job, runner).await {
                    report
                        .errors
                        .push(format!("cannot record the runner of job {}: {e}", job.id));
                }
            }
            report.closed.push(Closed {
                job: job.id,
                key: job.key.to_string(),
                status: status.status,
                reason,
            });
        }
        Ok(())
    }

    /// Creates one listed job the store lacks, keyed as its `workflow_job` webhook would be.
    async fn recover(
        &self,
        forge: &dyn Forge,
        repo: &str,
        job: QueuedJob,
        report: &mut ReconcileReport,
    ) -> Result<(), String> {
        let flavor = forge.flavor();
        let store = self.fleet.store.as_ref();
        let key = JobKey::WorkflowJob {
            forge: flavor,
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
        let stored = self.note_recovered(&key, RECOVERED_REASON).await?;
        tracing::info!(job = %stored.id, %key, outcome = %applied.outcome, "{RECOVERED_REASON}");
        report.recovered.push(Recovered {
            job: stored.id,
            key: key.to_string(),
            labels: job.labels,
        });
        Ok(())
    }

    /// Reads back a job the reconciler created, notes why in its history and counts it.
    pub(super) async fn note_recovered(&self, key: &JobKey, reason: &str) -> Result<Job, String> {
        let store = self.fleet.store.as_ref();
        let stored = store
            .get_job_by_key(key)
            .await
            .map_err(|e| format!("cannot read back job {key}: {e}"))?
            .ok_or_else(|| format!("job {key} vanished after it was created"))?;
        if let Err(e) = store.note_job(stored.id, reason).await {
            tracing::warn!(job = %stored.id, error = %e, "could not note why the job was recovered");
        }
        self.fleet.metrics.reconcile_action("recovered_job");
        self.fleet.metrics.reconcile_recovered(key.forge().as_str());
        Ok(stored)
    }
}

/// A listed job to recover: queued (not waiting for an approval — the planner ignores `waiting`
/// too) and held by the forge at least `grace`.
pub(super) fn due(job: &QueuedJob, grace: Duration, now: OffsetDateTime) -> bool {
    // `now - at` rather than `at + grace`: a far-future time from the forge cannot overflow.
    job.status == "queued" && job.created_at.is_none_or(|at| now - at >= grace)
}
