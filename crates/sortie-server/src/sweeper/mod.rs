//! The sweeper: a periodic pass that makes the seed systems' failure modes impossible — zombie
//! runners (the seed's 25 May incident: 18 registered-but-idle runners flooding Gitea), orphan
//! machines, jobs stuck running, spent registrations, lost spot machines.
//!
//! Every replica runs [`Sweeper::run`]; the named lease [`SWEEP_LEASE`] lets one of them sweep at a
//! time. `sortie lambda` calls [`Sweeper::sweep_once`] for the scheduled `{"action":"cleanup"}`
//! event (the seed's five-minute EventBridge cron). A pass runs these steps in order, each on its
//! own: a failing step (the forge is down) is counted in the [`SweepReport`] and the next runs.
//!
//! 1. [`Step::InstanceState`] — recorded instances follow what the provider says; one the
//!    provider no longer knows is terminated.
//! 2. [`Step::Interruptions`] — `Provider::drain_interruptions` requeues the job once per attempt
//!    (the decision of [`crate::interruption::decide`]).
//! 3. [`Step::RunningTimeout`] — a job running longer than `running_timeout` is timed out and
//!    its machines ended.
//! 4. [`Step::ZombieRunners`] — a runner registered that took no job within
//!    `idle_runner_timeout`: machine ended, registration deleted, job requeued (or failed at
//!    `max_attempts`). Never when the forge lists the runner busy.
//! 5. [`Step::FinishedMachines`] — machines of finished jobs (after a grace for the agent's own
//!    power-off) and of superseded attempts.
//! 6. [`Step::Orphans`] — machines found by the `sortie:owner` tag that serve no live job
//!    attempt; and the seed's backstop: anything of ours up longer than `max_runtime`.
//! 7. [`Step::Registrations`] — sortie's runners on the forges that belong to finished or
//!    superseded attempts, or to nobody and offline; and their store records.
//!
//! What is never ended: a runner the forge lists busy, and a machine whose agent reports a job in
//! progress (issue 9: a sweep during a long job never ends that job's machine) — except by the
//! job's own `running_timeout` and the machine's `max_runtime`. The dispatcher, not the sweeper,
//! retries jobs stuck `launching`.

mod act;
pub mod decide;
mod interrupt;
mod machines;
mod report;
mod runners;

pub use report::{ActionKind, Step, SweepAction, SweepError, SweepReport};

use crate::fleet::Fleet;
use crate::shutdown::Shutdown;
use act::Pass;
use sortie_store::{Clock, SystemClock};
use std::sync::Arc;
use std::time::Duration;

/// The lease held by the replica that sweeps.
pub const SWEEP_LEASE: &str = "sweeper";

/// Tunables of the sweep that are not operator limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SweepOptions {
    /// A machine whose job finished is left this long to power itself off.
    pub finished_grace: Duration,
    /// A machine found only by its tags, for a job sortie does not know, is left this long: the
    /// dispatcher records an instance right after its launch returns.
    pub orphan_grace: Duration,
    /// A recorded instance its provider does not know is taken as gone only once recorded this
    /// long: EC2's API is eventually consistent, and `DescribeInstances` may not find an instance
    /// launched seconds ago ("Eventual consistency of the Amazon EC2 API", EC2 API reference).
    pub unseen_grace: Duration,
    /// How many of the newest jobs the orphan and registration steps match names and tags
    /// against (besides every job not finished).
    pub recent_jobs: u32,
    /// The longest one forge or provider call may take before the pass moves on.
    pub call_timeout: Duration,
}

impl Default for SweepOptions {
    fn default() -> Self {
        SweepOptions {
            finished_grace: Duration::from_secs(120),
            orphan_grace: Duration::from_secs(300),
            unseen_grace: Duration::from_secs(120),
            recent_jobs: 500,
            call_timeout: Duration::from_secs(60),
        }
    }
}

/// The sweeper of one replica.
#[derive(Clone)]
pub struct Sweeper {
    /// Store, forges, providers, limits, metrics.
    pub fleet: Arc<Fleet>,
    /// What time it is; must be the store's clock (tests share one `ManualClock`).
    pub clock: Arc<dyn Clock>,
    /// Graces and bounds.
    pub options: SweepOptions,
}

impl std::fmt::Debug for Sweeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sweeper")
            .field("replica", &self.fleet.replica)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Sweeper {
    /// A sweeper on the system clock with default options.
    pub fn new(fleet: Arc<Fleet>) -> Sweeper {
        Sweeper {
            fleet,
            clock: Arc::new(SystemClock),
            options: SweepOptions::default(),
        }
    }

    /// The same sweeper reading time from `clock`.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Sweeper {
        Sweeper { clock, ..self }
    }

    /// Sweeps every `limits.sweep_interval` until `shutdown` fires, then gives up the lease. A
    /// pass in progress when shutdown fires stops after its current step (every action is
    /// idempotent; the next pass, here or on another replica, finishes the work).
    pub async fn run(self, mut shutdown: Shutdown) {
        let mut tick = tokio::time::interval(self.fleet.limits.sweep_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = shutdown.recv() => break,
                _ = tick.tick() => {}
            }
            let report = self.sweep(Some(&shutdown)).await;
            self.fleet.record_rate_budgets();
            log(&report);
        }
        self.release().await;
        tracing::debug!("sweeper stopped");
    }

    /// One pass now, if this replica can take the lease; otherwise a report saying who has it.
    /// The lease is kept (the loop sweeps again next interval; it lapses after
    /// [`Sweeper::lease_ttl`]); call [`Sweeper::release`] when done for good.
    pub async fn sweep_once(&self) -> SweepReport {
        self.sweep(None).await
    }

    /// Gives up the lease if this replica holds it. False when it did not.
    pub async fn release(&self) -> bool {
        let store = &self.fleet.store;
        match store.release_lease(SWEEP_LEASE, &self.fleet.replica).await {
            Ok(released) => released,
            Err(e) => {
                tracing::warn!(error = %e, "could not release the sweeper lease; it expires by itself");
                false
            }
        }
    }

    /// How long the lease lives without renewal: three intervals, at least a minute. Renewed
    /// between steps, so a slow pass keeps it.
    pub fn lease_ttl(&self) -> Duration {
        self.fleet
            .limits
            .sweep_interval
            .saturating_mul(3)
            .max(Duration::from_secs(60))
    }

    async fn sweep(&self, stop: Option<&Shutdown>) -> SweepReport {
        let mut pass = Pass::new(&self.fleet, self.options, self.clock.now());
        if let Err(why) = self.hold_lease().await {
            pass.report.stopped = Some(why);
            return pass.report;
        }
        pass.report.held_lease = true;
        for (i, step) in Step::ALL.into_iter().enumerate() {
            if stop.is_some_and(Shutdown::is_triggered) {
                pass.report.stopped = Some("shutting down".into());
                break;
            }
            if i > 0 {
                if let Err(why) = self.hold_lease().await {
                    pass.report.stopped = Some(why);
                    break;
                }
            }
            pass.step = step;
            pass.run_step(step).await;
        }
        pass.report
    }

    /// Takes or renews the lease; the error says why this replica may not sweep now.
    async fn hold_lease(&self) -> Result<(), String> {
        let store = &self.fleet.store;
        let ttl = self.lease_ttl();
        match store
            .try_acquire_lease(SWEEP_LEASE, &self.fleet.replica, ttl)
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(format!(
                "another replica holds the {SWEEP_LEASE:?} lease and sweeps"
            )),
            Err(e) => Err(format!("cannot take the {SWEEP_LEASE:?} lease: {e}")),
        }
    }
}

fn log(report: &SweepReport) {
    let summary = report.summary();
    if !report.held_lease {
        tracing::debug!(%summary, "sweep skipped");
    } else if report.actions.is_empty() && report.errors.is_empty() {
        tracing::debug!(%summary, "sweep done");
    } else {
        tracing::info!(%summary, "sweep done");
    }
}
