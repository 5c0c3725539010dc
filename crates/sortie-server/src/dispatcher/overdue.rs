//! Acting on the phase deadlines of a launching job's machine: hold the claim while it is on
//! time, end it and relaunch (or fail the job at `max_attempts`) once it missed one. The
//! decision is [`super::deadlines::check`]'s; this is the thin layer that reads and writes.

use super::deadlines::{self, Miss, Phase, Progress, Verdict};
use super::{Dispatcher, Outcome};
use sortie_core::job::{JobEvent, Transition};
use sortie_provider::InstanceId as ProviderInstanceId;
use sortie_store::{Instance, InstanceState, Job, StoreError};
use std::time::Duration;

impl Dispatcher {
    /// How long to hold the claim right after a launch on `provider`: until its boot deadline
    /// (or the overall `launching_timeout`, if shorter) can be checked, at most `claim_ttl`.
    pub(super) fn first_check_in(&self, provider: &str) -> Duration {
        let l = &self.fleet.limits;
        l.deadlines_for(provider)
            .boot
            .min(l.launching_timeout)
            .min(l.claim_ttl)
    }

    /// A launching job whose machine is recorded: checks the deadline of the phase the machine
    /// is in (the agent's reports in the store) and holds the claim until the next one can be
    /// checked, or ends the machine and requeues the job when it missed it.
    pub(super) async fn enforce_deadlines(
        &self,
        job: Job,
        instance: &Instance,
    ) -> Result<Outcome, StoreError> {
        let f = &self.fleet;
        let sessions = f.store.list_sessions(Some(job.id)).await?;
        let session = sessions.iter().find(|s| s.attempt == job.attempt);
        let progress = Progress {
            launched: instance.created_at,
            booted: session.map(|s| s.redeemed_at),
            registered: session.and_then(|s| s.registered_at),
            job_started: session.and_then(|s| s.job_started_at),
            finished: session.and_then(|s| s.finished_at),
        };
        let now = self.clock.now();
        let limits = &f.limits;
        let verdict = deadlines::check(
            &progress,
            now,
            &limits.deadlines_for(&instance.provider),
            limits.launching_timeout,
        );
        match verdict {
            Verdict::Busy => {
                // The agent says its runner took a job; the forge has not said so about this
                // one (or the runner serves another job). The sweeper and the reconciler decide.
                f.store
                    .renew_claim(job.id, &f.replica, limits.launching_timeout)
                    .await?;
                Ok(Outcome::Nothing(
                    "machine's runner is busy; waiting for the forge".into(),
                ))
            }
            Verdict::OnTime {
                phase, check_at, ..
            } => {
                let hold = deadlines::recheck_in(now, check_at, limits.claim_ttl);
                f.store.renew_claim(job.id, &f.replica, hold).await?;
                let phase = phase.map_or("runner exited", |p| match p {
                    Phase::Boot => "boot",
                    Phase::Register => "register",
                    Phase::JobStart => "job start",
                });
                Ok(Outcome::Nothing(format!(
                    "machine {} on time ({phase}; next deadline at {check_at})",
                    instance.provider_id
                )))
            }
            Verdict::Missed(miss) => {
                if progress.booted.is_some() {
                    // The agent's reports may be late or lost: a runner the forge lists busy
                    // took a job, and a busy runner is never ended from outside.
                    match self.runner_busy_on_forge(&job).await {
                        Some(false) => {}
                        Some(true) => {
                            f.store
                                .renew_claim(job.id, &f.replica, limits.launching_timeout)
                                .await?;
                            return Ok(Outcome::Nothing(format!(
                                "machine {} missed a deadline by its agent's reports, but the \
                                 forge lists its runner busy; left alone",
                                instance.provider_id
                            )));
                        }
                        None => {
                            let hold = limits.claim_ttl;
                            f.store.renew_claim(job.id, &f.replica, hold).await?;
                            return Ok(Outcome::Nothing(format!(
                                "machine {} missed a deadline; the forge cannot say whether its \
                                 runner is busy, asking again in {}s",
                                instance.provider_id,
                                hold.as_secs()
                            )));
                        }
                    }
                }
                self.replace(job, instance, miss).await
            }
        }
    }

    /// Whether the forge lists the runner of `job`'s current attempt busy: `Some(false)` when it
    /// is idle, offline or not listed (or no forge is configured to ask), `None` when the forge
    /// cannot say within 10 s.
    async fn runner_busy_on_forge(&self, job: &Job) -> Option<bool> {
        let Some(handle) = self.fleet.forge(job.key.forge()) else {
            return Some(false);
        };
        let Ok(scope) = handle.scope.scope_for(job.key.repo()) else {
            return Some(false);
        };
        let name = job.key.runner_name(job.attempt);
        let listed =
            tokio::time::timeout(Duration::from_secs(10), handle.forge.list_runners(&scope)).await;
        match listed {
            Ok(Ok(runners)) => Some(runners.iter().any(|r| r.name == name && r.busy)),
            Ok(Err(e)) => {
                tracing::warn!(job = %job.id, error = %e, "cannot list runners to check a machine that missed its deadline");
                None
            }
            Err(_) => None,
        }
    }

    /// Ends a machine that missed a deadline and requeues its job for the next attempt, or
    /// fails the job after `max_attempts`.
    async fn replace(
        &self,
        job: Job,
        instance: &Instance,
        miss: Miss,
    ) -> Result<Outcome, StoreError> {
        let f = &self.fleet;
        if let Some(provider) = f.provider(&instance.provider) {
            if let Err(e) = provider
                .terminate(&ProviderInstanceId(instance.provider_id.clone()))
                .await
            {
                tracing::warn!(job = %job.id, instance = %instance.provider_id, error = %e, "cannot terminate a machine that missed its deadline; the sweeper retries");
            } else {
                let _ = f
                    .store
                    .set_instance_state(instance.id, InstanceState::Terminated)
                    .await;
            }
        }
        let why = miss.describe(&instance.provider_id, &instance.provider);
        if job.attempt >= f.limits.max_attempts {
            let plural = if job.attempt == 1 { "" } else { "s" };
            self.fail(
                &job,
                format!("{why}; gave up after {} attempt{plural}", job.attempt),
            )
            .await
        } else {
            let reason = format!("{why}; relaunching (attempt {})", job.attempt + 1);
            let applied = f
                .store
                .apply_event_at(job.id, job.attempt, JobEvent::Requeue, &reason)
                .await?;
            if !matches!(applied.transition, Transition::To(_)) {
                // A stolen-runner repair or the agent's report requeued it first.
                return Ok(Outcome::Nothing(format!(
                    "not requeued: {}",
                    describe_unapplied(&applied.transition)
                )));
            }
            tracing::warn!(job = %job.id, key = %job.key, %reason, "machine missed its deadline");
            f.wake.notify_one();
            Ok(Outcome::Requeued(reason))
        }
    }
}

fn describe_unapplied(t: &Transition) -> String {
    match t {
        Transition::Ignored(why) => (*why).to_string(),
        Transition::Unchanged => "already queued".into(),
        Transition::To(state) => format!("now {state}"),
    }
}
