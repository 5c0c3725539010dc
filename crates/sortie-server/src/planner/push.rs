//! Push mode in the planner: a `push` delivery from a forge configured with
//! [`ForgeMode::Push`] is planned with [`sortie_forge::push::plan_push`] (workflows read at the
//! pushed commit through the forge API, triggers evaluated as Gitea/Forgejo do) and becomes one
//! job per expanded job, created idempotently on its [`JobKey::Push`](sortie_core::job::JobKey).
//!
//! Deciding is pure ([`push_connection`], [`decide_push`], [`push_outcome`]); [`Planner`]'s
//! `plan_push` does the I/O. A transient forge error (5xx, rate limit, network, timeout) leaves
//! the delivery unprocessed for the recovery sweep and holds that forge's pushes back for a
//! moment ([`ForgeBackoff`]), so an outage costs one failed call per sweep rather than one per
//! stored push; a permanent one is the delivery's outcome, with what to do.

use super::decide::{settle_event, JobDecision};
use super::{apply_job, AppliedJob, Planner};
use crate::fleet::{Fleet, ForgeHandle, ForgeMode};
use sortie_core::event::{Event, EventKind};
use sortie_core::forge::Flavor;
use sortie_forge::push::{plan_push, PushPlan};
use sortie_forge::ForgeError;
use sortie_store::{Delivery, NewJob, StoreError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

/// Longest text kept of one workflow's reason in a delivery's outcome.
const REASON_MAX: usize = 240;
/// Past this length the outcome stops listing workflows and counts the rest.
const OUTCOME_SOFT_MAX: usize = 1500;
/// Jobs that will not run, named one by one in the outcome; the rest are counted.
const NOT_SERVED_LISTED: usize = 3;
/// Longest a rate-limited forge is left alone, whatever its reset time says.
const RATE_LIMIT_HOLD_MAX: Duration = Duration::from_secs(15 * 60);

/// Why a push was not planned this time; the delivery stays unprocessed.
#[derive(Debug)]
pub(super) enum Deferred {
    /// The forge failed in a way that may pass (or was held back after such a failure).
    Forge(String),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for Deferred {
    fn from(e: StoreError) -> Self {
        Deferred::Store(e)
    }
}

/// Forges whose API failed transiently a moment ago: their pushes wait for a later sweep
/// instead of each paying for the same failure.
#[derive(Debug, Default)]
pub(super) struct ForgeBackoff {
    until: Mutex<HashMap<Flavor, Instant>>,
}

impl ForgeBackoff {
    /// How much longer `flavor` is held back, if it is.
    fn remaining(&self, flavor: Flavor) -> Option<Duration> {
        let until = *self.lock().get(&flavor)?;
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    fn hold(&self, flavor: Flavor, d: Duration) {
        self.lock().insert(flavor, Instant::now() + d);
    }

    fn clear(&self, flavor: Flavor) {
        self.lock().remove(&flavor);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Flavor, Instant>> {
        // Only plain inserts happen under this lock; a poisoned map is still a valid map.
        self.until.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The forge connection that plans pushes of `delivered_by`, or the delivery's outcome saying
/// why pushes from it are not planned and what to configure.
pub fn push_connection(
    fleet: Option<&Fleet>,
    delivered_by: Flavor,
) -> Result<&ForgeHandle, String> {
    let not_planned = |why: String| format!("stored; not planned (event push): {why}");
    if delivered_by == Flavor::Github {
        if let Some(handle) = fleet
            .and_then(|f| f.forge(Flavor::Github))
            .filter(|h| h.mode == ForgeMode::Push)
        {
            return Ok(handle);
        }
        return Err(not_planned(
            "GitHub announces each job with a workflow_job webhook; subscribe the webhook to \
             \"Workflow jobs\" (pushes are only planned for a forge set to mode = \"push\")"
                .into(),
        ));
    }
    match fleet.and_then(|f| f.forge(delivered_by)) {
        Some(handle) if handle.mode == ForgeMode::Push => Ok(handle),
        Some(_) => Err(not_planned(format!(
            "the {delivered_by} connection is in workflow_job mode, so jobs come from \
             workflow_job webhooks (Gitea 1.24+); if this forge sends only pushes, set its \
             mode = \"push\""
        ))),
        None => Err(not_planned(format!(
            "no {delivered_by} API connection is configured; to run jobs from pushes (older \
             Gitea/Forgejo), configure [gitea] with the instance URL, an API token that can read \
             the repositories, and mode = \"push\"; on Gitea 1.24+ subscribe the webhook to \
             workflow_job instead"
        ))),
    }
}

/// One job per expanded job of the plan, routed as the plan routed it; a job no machine will
/// be made for is settled with the same words as a `workflow_job` one (`decide::settle_event`).
pub fn decide_push(delivery: &Delivery, plan: &PushPlan) -> Vec<JobDecision> {
    plan.jobs()
        .into_iter()
        .map(|(key, job)| JobDecision {
            job: NewJob {
                key,
                labels: job.runs_on.clone(),
                route: job.route.clone(),
                spec: job.spec.clone(),
                delivery: Some(delivery.id.clone()),
            },
            settle: settle_event(&job.route),
            event: None,
            runner: None,
        })
        .collect()
}

/// What creating a push's jobs did, for its outcome.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobTally {
    /// Jobs created by this delivery.
    pub created: usize,
    /// Jobs that already existed (a redelivery, or the same commit pushed to another ref).
    pub known: usize,
    /// Jobs created now that will not run, with why (`build (go): unroutable: …`).
    pub not_served: Vec<String>,
}

impl JobTally {
    pub(crate) fn count(&mut self, applied: &AppliedJob, name: &str) {
        if !applied.created {
            self.known += 1;
            return;
        }
        self.created += 1;
        if let Some(reason) = &applied.settled {
            self.not_served
                .push(format!("{name}: {}", clip(reason, REASON_MAX)));
        }
    }
}

/// The delivery's outcome: how many jobs, and each workflow's verdict (its reason when it did
/// not run: a filter that did not match, or the YAML error with its position).
pub fn push_outcome(plan: &PushPlan, tally: &JobTally) -> String {
    let git_ref = clip(
        plan.plan.git_ref.as_deref().unwrap_or("(no ref)"),
        REASON_MAX,
    );
    let mut out = format!("push {git_ref} at {}: ", short_sha(&plan.commit));
    let total = tally.created + tally.known;
    if total == 0 {
        out.push_str("no jobs");
    } else {
        match (tally.created, tally.known) {
            (c, 0) => out.push_str(&format!("created {}", jobs(c))),
            (0, k) => out.push_str(&format!("no new jobs, {} already known", jobs(k))),
            (c, k) => out.push_str(&format!("created {}, {k} already known", jobs(c))),
        }
        if !tally.not_served.is_empty() {
            let n = tally.not_served.len();
            let mut listed: Vec<&str> = tally
                .not_served
                .iter()
                .take(NOT_SERVED_LISTED)
                .map(String::as_str)
                .collect();
            let more = format!("{} more", n.saturating_sub(NOT_SERVED_LISTED));
            if n > NOT_SERVED_LISTED {
                listed.push(&more);
            }
            out.push_str(&format!(" ({n} will not run: {})", listed.join("; ")));
        }
    }
    let workflows = &plan.plan.workflows;
    if workflows.is_empty() {
        let dirs = plan.plan.forge.workflow_dirs().join(" or ");
        out.push_str(&format!("; no workflow files at this commit (read {dirs})"));
        return out;
    }
    let folder = common_folder(plan);
    match folder {
        Some(f) => out.push_str(&format!("; {f}: ")),
        None => out.push_str("; "),
    }
    for (i, w) in workflows.iter().enumerate() {
        if out.len() > OUTCOME_SOFT_MAX {
            out.push_str(&format!("… and {} more workflows", workflows.len() - i));
            break;
        }
        if i > 0 {
            out.push_str("; ");
        }
        let name = folder
            .and_then(|f| w.path.strip_prefix(f))
            .map(|p| p.trim_start_matches('/'))
            .unwrap_or(&w.path);
        let verdict = match (w.triggered, w.jobs.len()) {
            (true, 0) => "runs, but has no jobs".to_string(),
            (true, n) => jobs(n),
            (false, _) => clip(&w.reason, REASON_MAX),
        };
        out.push_str(&format!("{name}: {verdict}"));
    }
    out
}

/// The workflow folder every planned file is in (Gitea and Forgejo read one folder only).
fn common_folder(plan: &PushPlan) -> Option<&'static str> {
    plan.plan.forge.workflow_dirs().iter().copied().find(|d| {
        plan.plan
            .workflows
            .iter()
            .all(|w| w.path.starts_with(&format!("{d}/")))
    })
}

fn jobs(n: usize) -> String {
    if n == 1 {
        "1 job".into()
    } else {
        format!("{n} jobs")
    }
}

fn short_sha(sha: &str) -> &str {
    sha.get(..12).unwrap_or(sha)
}

/// `text` cut to at most `max` bytes on a character boundary, with `…` when cut.
pub(super) fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// The outcome of a push the forge refused for good, with what to do.
fn refused(flavor: Flavor, e: &ForgeError) -> String {
    format!(
        "not planned: reading the workflows from {flavor} failed: {e}. Fix that, then push \
         again (or redeliver the webhook) to plan this commit"
    )
}

impl Planner {
    /// Plans a `push` delivery: its outcome, or why it must wait for a later sweep.
    pub(super) async fn plan_push(
        &self,
        delivery: &Delivery,
        backoff: &ForgeBackoff,
    ) -> Result<String, Deferred> {
        let handle = match push_connection(self.fleet.as_deref(), delivery.forge) {
            Ok(handle) => handle,
            Err(outcome) => return Ok(outcome),
        };
        let push = match Event::parse(delivery.forge, "push", &delivery.body) {
            Ok(Event {
                kind: EventKind::Push(push),
                ..
            }) => push,
            Ok(_) => return Ok("ignored: not a push payload".into()),
            Err(e) => return Ok(format!("ignored: {e}")),
        };
        if push.deleted {
            let what = if push.git_ref.starts_with("refs/tags/") {
                "tag"
            } else {
                "branch"
            };
            return Ok(format!(
                "push {}: {what} deleted; nothing to plan",
                push.git_ref
            ));
        }
        let forge = handle.forge.as_ref();
        let flavor = forge.flavor();
        if flavor != delivery.forge {
            tracing::warn!(delivery = %delivery.id, delivered_by = %delivery.forge, connection = %flavor,
                "a push is planned with another flavour's connection; workflow folders follow {flavor}");
        }
        // The recovery sweep may have planned this delivery while it waited in the channel:
        // spend the forge's API budget once per push.
        if let Some(done) = self
            .store
            .get_delivery(delivery.forge, &delivery.id)
            .await
            .map_err(Deferred::Store)?
            .and_then(|d| d.status.outcome.filter(|_| d.status.processed_at.is_some()))
        {
            return Ok(done);
        }
        if let Some(left) = backoff.remaining(flavor) {
            return Err(Deferred::Forge(format!(
                "{flavor}'s API failed a moment ago; trying again in {}s at the latest",
                left.as_secs().max(1)
            )));
        }
        let limit = self.options.forge_timeout;
        let planned = tokio::time::timeout(
            limit,
            plan_push(forge, &delivery.body, &self.routing, &self.catalog),
        )
        .await;
        let plan = match planned {
            Ok(Ok(plan)) => {
                backoff.clear(flavor);
                plan
            }
            Ok(Err(e)) if e.is_transient() => {
                backoff.hold(flavor, self.hold_after(&e));
                return Err(Deferred::Forge(e.to_string()));
            }
            Ok(Err(e)) => return Ok(refused(flavor, &e)),
            Err(_) => {
                backoff.hold(flavor, self.hold_after_timeout());
                return Err(Deferred::Forge(format!(
                    "{flavor} did not answer within {limit:?} (the planner's forge_timeout)"
                )));
            }
        };
        let names: Vec<String> = plan.jobs().iter().map(|(_, j)| j.name.clone()).collect();
        let mut tally = JobTally::default();
        for (decision, name) in decide_push(delivery, &plan).into_iter().zip(&names) {
            let applied = apply_job(self.store.as_ref(), decision).await?;
            tally.count(&applied, name);
        }
        Ok(push_outcome(&plan, &tally))
    }

    /// How long a forge's pushes wait after a transient failure: until a rate limit resets
    /// (bounded), else half a sweep interval, so the next sweep tries again.
    fn hold_after(&self, e: &ForgeError) -> Duration {
        let base = self.hold_after_timeout();
        if let ForgeError::RateLimited { until, .. } = e {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let reset = u64::try_from(until.unix_timestamp()).unwrap_or(0);
            return Duration::from_secs(reset.saturating_sub(now))
                .clamp(base, RATE_LIMIT_HOLD_MAX.max(base));
        }
        base
    }

    fn hold_after_timeout(&self) -> Duration {
        self.options.sweep_interval / 2
    }
}

#[cfg(test)]
#[path = "push_tests.rs"]
mod tests;
