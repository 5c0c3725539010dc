//! Stolen runners: GitHub gives a fresh ephemeral runner *any* queued job whose labels match, so
//! the runner sortie launched for job B often runs job A ("Using jobs in a workflow" — runners
//! pick jobs by label, not by the job that caused them; actions/runner takes the first job the
//! broker offers). Runner names are deterministic per job and attempt
//! ([`JobKey::runner_name`](sortie_core::job::JobKey::runner_name)), so when the forge reports A
//! in progress on `sortie-<digest of B>-<attempt>` sortie knows whose machine serves A.
//!
//! What happens then ([`runner_took`]), decided by the pure [`decide`]:
//! - A is recorded as served by B's machine (a note on A), and B's agent session is marked busy
//!   (the forge's word that its runner took a job), so neither the sweeper nor the agent's own
//!   report ends a machine that runs A while B is requeued.
//! - If B still waits for that machine: when A's own machine is still coming up (launched, its
//!   runner has taken nothing yet), that machine serves B instead — GitHub hands it B, the only
//!   job left it could take — and B is noted so; otherwise B is requeued at once with
//!   [`TAKEN_REASON`] and the dispatcher launches its replacement (attempt + 1).
//! - Every steal counts in `sortie_job_steals_total`.
//!
//! The agent's `finished` report (`agent_api`) stays the fallback when the `in_progress` webhook
//! was lost: a machine that served another job and whose own job still waits gets a replacement
//! only if no runner took its job and none coming up will.

use crate::fleet::Fleet;
use crate::sweeper::decide::parse_runner_name;
use sortie_core::agent::AgentPhase;
use sortie_core::job::{JobEvent, JobState};
use sortie_store::{InstanceFilter, InstanceState, Job, StoreError};

/// The start of the reason a job is requeued with when its runner served another job.
pub const TAKEN_REASON: &str = "runner taken by another job";

/// What sortie knows about the job whose runner took another job (B).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VictimView {
    /// B's state.
    pub state: JobState,
    /// B's current attempt.
    pub attempt: u32,
    /// The attempt the runner was launched for (from its name).
    pub runner_attempt: u32,
}

/// What to do about a job reported in progress on a runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StealVerdict {
    /// Not a steal: the runner is the job's own, or not one of sortie's.
    NotASteal,
    /// A steal whose victim needs nothing: it is no longer waiting for that machine (already
    /// running elsewhere, finished, requeued, or unknown to sortie).
    Recorded,
    /// The victim waits and the thief's own machine is still coming up: that machine serves the
    /// victim; the text names it.
    Swap(String),
    /// The victim waits and no machine will serve it: requeue it now.
    Replace,
}

/// The pure rule. `own_runner`: the runner is the reported job's own (any of its attempts);
/// `ours`: the name has sortie's shape; `victim`: the job the runner was launched for, if the
/// store knows it; `thief_machine_coming_up`: the reported job's own current machine, when it
/// is launched and its runner has taken no job yet.
pub fn decide(
    ours: bool,
    own_runner: bool,
    victim: Option<VictimView>,
    thief_machine_coming_up: Option<&str>,
) -> StealVerdict {
    if !ours || own_runner {
        return StealVerdict::NotASteal;
    }
    let Some(v) = victim else {
        return StealVerdict::Recorded;
    };
    let waits = matches!(v.state, JobState::Queued | JobState::Launching);
    if !waits || v.attempt != v.runner_attempt {
        return StealVerdict::Recorded;
    }
    match thief_machine_coming_up {
        Some(machine) => StealVerdict::Swap(machine.to_string()),
        None => StealVerdict::Replace,
    }
}

/// Acts on the forge's report that `thief` is in progress on `runner_name`: records whose
/// machine serves it and, when that runner was launched for another job still waiting, gets that
/// job a machine (see the module docs). Returns the verdict acted on.
pub async fn runner_took(
    fleet: &Fleet,
    thief: &Job,
    runner_name: &str,
) -> Result<StealVerdict, StoreError> {
    let store = &fleet.store;
    let parsed = parse_runner_name(runner_name);
    let own = (1..=thief.attempt.max(1)).any(|a| thief.key.runner_name(a) == runner_name);
    if parsed.is_none() || own {
        return Ok(decide(parsed.is_some(), own, None, None));
    }
    let runner_attempt = parsed.map_or(0, |(_, a)| a);
    let victim_id = store
        .list_registrations(None)
        .await?
        .into_iter()
        .find(|r| r.name == runner_name)
        .map(|r| r.job);
    let victim = match victim_id {
        Some(id) => store.get_job(id).await?,
        // No registration recorded (its agent's hand-out was not stored, or was swept): the
        // name is still the job's, among the jobs not finished.
        None => job_named(fleet, runner_name, runner_attempt).await?,
    };
    if let Some(v) = &victim {
        if already_recorded(fleet, v, runner_name).await? {
            // A repeated delivery, or the agent's report came first: acted on and counted.
            return Ok(StealVerdict::Recorded);
        }
    }
    fleet.metrics.steal();
    let Some(victim) = victim else {
        store
            .note_job(
                thief.id,
                &format!("served by runner {runner_name}, launched by sortie for a job it no longer knows"),
            )
            .await?;
        return Ok(StealVerdict::Recorded);
    };
    store
        .note_job(
            thief.id,
            &format!(
                "served by the machine launched for job {} ({}): its runner {runner_name} took this job",
                victim.id, victim.key
            ),
        )
        .await?;
    // The forge says that runner is busy: its machine must not be ended as idle or superseded.
    match store
        .record_phase(victim.id, runner_attempt, AgentPhase::JobStarted, None)
        .await
    {
        // No session: the machine never booted its agent; nothing to mark.
        Ok(_) | Err(StoreError::JobNotFound(_)) => {}
        Err(e) => return Err(e),
    }
    let coming_up = thief_machine_coming_up(fleet, thief).await?;
    let verdict = decide(
        true,
        false,
        Some(VictimView {
            state: victim.state,
            attempt: victim.attempt,
            runner_attempt,
        }),
        coming_up.as_deref(),
    );
    match &verdict {
        StealVerdict::Swap(machine) => {
            store
                .note_job(
                    victim.id,
                    &format!(
                        "{}job {} ({}); that job's own machine {machine}, still coming up, \
                         serves this job instead",
                        taken_marker(runner_name),
                        thief.id,
                        thief.key
                    ),
                )
                .await?;
            tracing::info!(job = %victim.id, thief = %thief.id, %machine, "stolen runner: the thief's own machine serves the job instead");
        }
        StealVerdict::Replace => {
            let reason = format!(
                "{TAKEN_REASON}: {}job {} ({}); launching a replacement",
                taken_marker(runner_name),
                thief.id,
                thief.key
            );
            // Only for the attempt whose runner was taken: a second report racing this one
            // (the agent's, the reconciler's) finds the job moved on and requeues nothing.
            store
                .apply_event_at(victim.id, runner_attempt, JobEvent::Requeue, &reason)
                .await?;
            fleet.wake.notify_one();
            tracing::info!(job = %victim.id, thief = %thief.id, "stolen runner: replacement launched");
        }
        StealVerdict::Recorded => {
            store
                .note_job(
                    victim.id,
                    &format!(
                        "{}job {} ({}); this job no longer waits for that machine ({}, attempt {})",
                        taken_marker(runner_name),
                        thief.id,
                        thief.key,
                        victim.state,
                        victim.attempt
                    ),
                )
                .await?;
        }
        StealVerdict::NotASteal => {}
    }
    Ok(verdict)
}

/// The words every record of a steal on the victim contains — this module's notes and requeue
/// reasons, and the agent's `finished` fallback — so that one steal is acted on and counted
/// once, whichever report comes first and however often the forge repeats it.
pub fn taken_marker(runner_name: &str) -> String {
    format!("its runner {runner_name} took ")
}

/// Whether a steal by `runner_name` was already recorded on `victim` ([`taken_marker`]).
pub async fn already_recorded(
    fleet: &Fleet,
    victim: &Job,
    runner_name: &str,
) -> Result<bool, StoreError> {
    let marker = taken_marker(runner_name);
    Ok(fleet
        .store
        .job_history(victim.id)
        .await?
        .iter()
        .any(|h| h.reason.contains(&marker)))
}

/// The unfinished job whose runner for `attempt` is named `runner_name`.
async fn job_named(
    fleet: &Fleet,
    runner_name: &str,
    attempt: u32,
) -> Result<Option<Job>, StoreError> {
    for state in [JobState::Queued, JobState::Launching, JobState::Running] {
        let jobs = fleet
            .store
            .list_jobs(sortie_store::JobFilter {
                state: Some(state),
                limit: 100_000,
            })
            .await?;
        if let Some(j) = jobs
            .into_iter()
            .find(|j| j.key.runner_name(attempt) == runner_name)
        {
            return Ok(Some(j));
        }
    }
    Ok(None)
}

/// The thief's own machine for its current attempt, when it is live and its runner has taken
/// nothing yet (no agent session, or one without a job started).
async fn thief_machine_coming_up(fleet: &Fleet, thief: &Job) -> Result<Option<String>, StoreError> {
    let store = &fleet.store;
    let instances = store
        .list_instances(InstanceFilter {
            state: None,
            job: Some(thief.id),
        })
        .await?;
    let Some(machine) = instances.into_iter().find(|i| {
        i.attempt == thief.attempt
            && matches!(i.state, InstanceState::Pending | InstanceState::Running)
    }) else {
        return Ok(None);
    };
    let sessions = store.list_sessions(Some(thief.id)).await?;
    let busy = sessions.iter().any(|s| {
        s.attempt == thief.attempt && (s.job_started_at.is_some() || s.finished_at.is_some())
    });
    Ok((!busy).then_some(machine.provider_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn victim(state: JobState, attempt: u32, runner_attempt: u32) -> Option<VictimView> {
        Some(VictimView {
            state,
            attempt,
            runner_attempt,
        })
    }

    #[test]
    fn a_job_on_its_own_runner_or_a_foreign_one_is_no_steal() {
        let v = victim(JobState::Queued, 1, 1);
        assert_eq!(decide(true, true, v, None), StealVerdict::NotASteal);
        assert_eq!(decide(false, false, v, None), StealVerdict::NotASteal);
    }

    #[test]
    fn a_waiting_victim_is_replaced_unless_the_thiefs_machine_is_coming_up() {
        for state in [JobState::Queued, JobState::Launching] {
            assert_eq!(
                decide(true, false, victim(state, 2, 2), None),
                StealVerdict::Replace
            );
            assert_eq!(
                decide(true, false, victim(state, 1, 1), Some("i-0abc")),
                StealVerdict::Swap("i-0abc".into())
            );
        }
    }

    #[test]
    fn a_victim_no_longer_waiting_for_that_machine_only_gets_recorded() {
        for v in [
            victim(JobState::Running, 1, 1),
            victim(JobState::Completed, 1, 1),
            victim(JobState::Cancelled, 1, 1),
            // Already requeued (attempt 2) when attempt 1's runner was reported.
            victim(JobState::Launching, 2, 1),
            None,
        ] {
            assert_eq!(
                decide(true, false, v, None),
                StealVerdict::Recorded,
                "{v:?}"
            );
        }
    }
}
