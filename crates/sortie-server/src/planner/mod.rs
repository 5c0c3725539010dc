//! Planning after the answer: a background task turns stored deliveries into jobs.
//!
//! Fresh deliveries arrive from the ingest writer over a channel, right after their commit. A
//! recovery sweep finds the rest in the store (`list_unprocessed_deliveries`): those left by a
//! crash or a restart, and those the channel had no room for. The sweep runs at start and then
//! every `sweep_interval`, under the named lease [`RECOVERY_LEASE`] so that only one replica
//! sweeps at a time; it skips deliveries younger than `recovery_min_age` (after the first
//! sweep), which the replica that stored them is still planning. Each planning step first yields
//! to webhook requests waiting for their commit (`ingest::Load`, 20 ms at most): answering a
//! forge matters more than planning a stored delivery sooner. Planning is idempotent (jobs are
//! created if absent, terminal states absorb events, a delivery keeps its first outcome), so a
//! delivery planned twice by a race does no harm.

mod decide;
mod push;

pub(crate) use decide::completion;
pub use decide::{decide, Decision, JobDecision};
pub use push::{decide_push, push_connection, push_outcome, JobTally};

use crate::ingest::Load;
use crate::shutdown::Shutdown;
use push::{Deferred, ForgeBackoff};
use sortie_core::catalog::Catalog;
use sortie_core::job::{JobKey, JobState, Transition};
use sortie_core::labels::RoutingConfig;
use sortie_store::{Delivery, Store, StoreError, Timestamp};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// The lease held by the replica running the recovery sweep.
pub const RECOVERY_LEASE: &str = "planner/recovery-sweep";

/// Deliveries read per sweep query.
const SWEEP_PAGE: u32 = 100;

/// Longest a planning step waits for waiting webhook requests to be stored first.
const YIELD_AT_MOST: Duration = Duration::from_millis(20);

/// Timing of the planner task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlannerOptions {
    /// Time between recovery sweeps.
    pub sweep_interval: Duration,
    /// A sweep after the first leaves deliveries younger than this to their own replica.
    pub recovery_min_age: Duration,
    /// Longest one push may spend on the forge API (workflow files, compare) before it is left
    /// for a later sweep. Bounds how long pushes delay the planning of other deliveries.
    pub forge_timeout: Duration,
}

impl Default for PlannerOptions {
    fn default() -> Self {
        PlannerOptions {
            sweep_interval: Duration::from_secs(5),
            recovery_min_age: Duration::from_secs(10),
            forge_timeout: Duration::from_secs(60),
        }
    }
}

/// The planner task's inputs.
#[derive(Debug, Clone)]
pub struct Planner {
    /// The store.
    pub store: Arc<dyn Store>,
    /// `[routing]`.
    pub routing: RoutingConfig,
    /// Instance types for routing.
    pub catalog: Catalog,
    /// This replica's name, the owner of [`RECOVERY_LEASE`].
    pub owner: String,
    /// Timing.
    pub options: PlannerOptions,
    /// The webhook requests waiting for a commit; planning yields to them.
    pub load: Load,
    /// Forges and providers; push-mode planning needs the forge API. `None`: pushes are stored
    /// but not planned.
    pub fleet: Option<Arc<crate::fleet::Fleet>>,
}

impl Planner {
    /// Runs until `shutdown` fires or the ingest writer closes the channel, then gives up the
    /// recovery lease. A delivery being planned when shutdown fires is finished first; the ones
    /// still queued stay unprocessed in the store for the next start.
    pub async fn run(self, mut fresh: mpsc::Receiver<Delivery>, mut shutdown: Shutdown) {
        let mut tick = tokio::time::interval(self.options.sweep_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut first_sweep = true;
        let started = std::time::Instant::now();
        let backoff = ForgeBackoff::default();
        loop {
            tokio::select! {
                biased;
                _ = shutdown.recv() => break,
                next = fresh.recv() => match next {
                    Some(delivery) => {
                        self.plan(&delivery, &backoff).await;
                    }
                    None => break,
                },
                _ = tick.tick() => {
                    // The first sweep plans what was left before this start (a crash); anything
                    // received since comes through `fresh`, and planning it here too would plan
                    // it twice (twice the forge calls for a push).
                    let min_age = if first_sweep { started.elapsed() } else { self.options.recovery_min_age };
                    first_sweep = false;
                    self.sweep(min_age, &shutdown, &backoff).await;
                }
            }
        }
        if let Err(e) = self.store.release_lease(RECOVERY_LEASE, &self.owner).await {
            tracing::warn!(error = %e, "could not release the planner's recovery lease; it expires by itself");
        }
        tracing::debug!("planner stopped");
    }

    /// Plans every unprocessed delivery now, oldest first, with no lease and no age filter, and
    /// returns how many were planned. For `sortie lambda`, where nothing runs after an
    /// invocation returns; one that fails stays unprocessed for the next call.
    pub async fn plan_pending(&self) -> usize {
        let backoff = ForgeBackoff::default();
        let (mut planned, mut failed) = (0, 0);
        loop {
            let page = match self.store.list_unprocessed_deliveries(SWEEP_PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list unprocessed deliveries; they wait for the next call");
                    return planned;
                }
            };
            let due: Vec<_> = page.into_iter().skip(failed).collect();
            if due.is_empty() {
                return planned;
            }
            for stored in due {
                if self.plan(&stored.delivery, &backoff).await {
                    planned += 1;
                } else {
                    failed += 1;
                }
            }
        }
    }

    /// Plans every unprocessed delivery older than `min_age`, page by page, while this replica
    /// holds the recovery lease.
    async fn sweep(&self, min_age: Duration, shutdown: &Shutdown, backoff: &ForgeBackoff) {
        let ttl = self
            .options
            .sweep_interval
            .saturating_mul(3)
            .max(Duration::from_secs(30));
        match self
            .store
            .try_acquire_lease(RECOVERY_LEASE, &self.owner, ttl)
            .await
        {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::warn!(error = %e, "recovery sweep skipped: cannot take its lease");
                return;
            }
        }
        let mut failed = 0;
        while !shutdown.is_triggered() {
            let cutoff = Timestamp::now().as_millis()
                - i64::try_from(min_age.as_millis()).unwrap_or(i64::MAX);
            let page = match self.store.list_unprocessed_deliveries(SWEEP_PAGE).await {
                Ok(page) => page,
                Err(e) => {
                    tracing::warn!(error = %e, "recovery sweep cannot list unprocessed deliveries; retrying at the next sweep");
                    return;
                }
            };
            // Oldest first: past the first young one, all are young. Skip the ones that keep
            // failing this sweep, so one bad delivery does not stall the others.
            let due: Vec<_> = page
                .into_iter()
                .filter(|s| s.status.received_at.as_millis() <= cutoff)
                .skip(failed)
                .collect();
            if due.is_empty() {
                return;
            }
            for stored in due {
                if shutdown.is_triggered() {
                    return;
                }
                if !self.plan(&stored.delivery, backoff).await {
                    failed += 1;
                }
            }
        }
    }

    /// Plans one delivery and marks it processed. False when the store or, for a push, the
    /// forge failed in a way that may pass (it stays unprocessed, for the next sweep).
    async fn plan(&self, delivery: &Delivery, backoff: &ForgeBackoff) -> bool {
        self.load.wait_idle(YIELD_AT_MOST).await;
        let mut took = None;
        let planned = if delivery.event == "push" {
            match self.plan_push(delivery, backoff).await {
                Ok(outcome) => Ok(outcome),
                Err(Deferred::Store(e)) => Err(e),
                Err(Deferred::Forge(reason)) => {
                    tracing::warn!(forge = %delivery.forge, delivery = %delivery.id, %reason, "push not planned yet: the forge API failed; it stays unprocessed and the recovery sweep retries it");
                    return false;
                }
            }
        } else {
            let decision = decide(delivery, &self.routing, &self.catalog);
            if let Decision::Job(d) = &decision {
                took = d.runner.clone().map(|runner| (d.job.key.clone(), runner));
            }
            apply(self.store.as_ref(), decision).await
        };
        if planned.is_ok() {
            // Part of planning the delivery, before it is marked processed: a crash in between
            // plans it again, and the repair is idempotent (`crate::steal`).
            if let (Some(fleet), Some((key, runner))) = (&self.fleet, &took) {
                runner_took(fleet, key, runner).await;
            }
        }
        let result = match planned {
            Ok(outcome) => self
                .store
                .mark_delivery_processed(delivery.forge, &delivery.id, &outcome)
                .await
                .map(|_| outcome),
            Err(e) => Err(e),
        };
        match result {
            Ok(outcome) => {
                tracing::info!(forge = %delivery.forge, delivery = %delivery.id, event = %delivery.event, %outcome, "delivery planned");
                // A job may be queued now: start the dispatcher instead of waiting for its poll.
                if let Some(fleet) = &self.fleet {
                    fleet.wake.notify_one();
                }
                true
            }
            Err(e) => {
                tracing::warn!(forge = %delivery.forge, delivery = %delivery.id, error = %e, "planning a delivery failed; it stays unprocessed and is retried by the recovery sweep");
                false
            }
        }
    }
}

/// The forge reports the job of `key` in progress on `runner`: when that runner was launched for
/// another job, [`crate::steal::runner_took`] records it and gets that job a machine. A failure
/// is logged: the agent's `finished` report is the fallback.
async fn runner_took(fleet: &crate::fleet::Fleet, key: &JobKey, runner: &str) {
    let job = match fleet.store.get_job_by_key(key).await {
        Ok(Some(job)) => job,
        Ok(None) => return,
        Err(e) => {
            tracing::warn!(%key, error = %e, "cannot read the job to check its runner");
            return;
        }
    };
    if let Err(e) = crate::steal::runner_took(fleet, &job, runner).await {
        tracing::warn!(job = %job.id, %runner, error = %e, "cannot record whose machine serves the job; the machine's finished report decides instead");
    }
}

/// Performs a decision against the store and returns the delivery's outcome text.
pub async fn apply(store: &dyn Store, decision: Decision) -> Result<String, StoreError> {
    match decision {
        Decision::Nothing(outcome) => Ok(outcome),
        Decision::Job(d) => Ok(apply_job(store, *d).await?.outcome),
    }
}

/// One job decision as performed.
#[derive(Debug, Clone)]
pub(crate) struct AppliedJob {
    /// True when this call created it.
    pub created: bool,
    /// The terminal reason it was settled with now, if it was.
    pub settled: Option<String>,
    /// What happened, for the delivery's outcome.
    pub outcome: String,
}

/// Creates the job if absent, settles it when its route serves no machine, applies the event.
pub(crate) async fn apply_job(store: &dyn Store, d: JobDecision) -> Result<AppliedJob, StoreError> {
    // A job first heard of by a later event (in_progress / completed before queued) takes it in
    // the same transaction: no dispatcher ever sees it queued.
    let first = d
        .event
        .as_ref()
        .filter(|_| d.settle.is_none())
        .map(|(event, reason)| (*event, reason.as_str()));
    let created = store.create_job_then(&d.job, first).await?;
    let is_new = created.is_created();
    let first_applied = is_new && first.is_some();
    let job = created.into_job();
    let mut outcome = if is_new {
        format!(
            "created job {} ({}), route {}: {}",
            job.id,
            job.key,
            route_kind(&job.route),
            job.route.reason
        )
    } else {
        format!("job {} ({}) already known, {}", job.id, job.key, job.state)
    };
    let mut settled = None;
    // Settle whenever the stored job is still queued on a route that serves nothing, not only
    // when just created: a crash between create and settle is repaired by the next plan.
    if let Some((event, reason)) = d
        .settle
        .as_ref()
        .filter(|_| job.state == JobState::Queued && !job.route.is_served())
    {
        let applied = store.apply_event(job.id, *event, reason).await?;
        outcome.push_str(&describe(&applied.transition, reason));
        settled = Some(reason.clone());
    }
    if let Some((event, reason)) = &d.event {
        if first_applied {
            outcome.push_str(&describe(&Transition::To(job.state), reason));
        } else {
            let applied = store.apply_event(job.id, *event, reason).await?;
            outcome.push_str(&describe(&applied.transition, reason));
        }
    }
    Ok(AppliedJob {
        created: is_new,
        settled,
        outcome,
    })
}

fn route_kind(route: &sortie_core::route::Route) -> String {
    match &route.target {
        Some(target) => format!("{:?} {target}", route.kind).to_lowercase(),
        None => format!("{:?}", route.kind).to_lowercase(),
    }
}

fn describe(t: &Transition, reason: &str) -> String {
    match t {
        Transition::To(state) => format!("; now {state}: {reason}"),
        Transition::Unchanged => "; unchanged (repeated event)".to_string(),
        Transition::Ignored(why) => format!("; event ignored: {why}"),
    }
}

#[cfg(test)]
mod tests;
