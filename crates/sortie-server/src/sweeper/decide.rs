//! What the sweep does with one machine, one runner or one agent session: pure functions of
//! plain data, after triagebot's "decide, then act" split. The thin layer in the other modules
//! gathers the facts and performs the verdicts.

use crate::fleet::Limits;
use sortie_core::agent::AgentPhase;
use sortie_core::job::JobState;
use sortie_forge::cleanup::{spent_runners, RUNNER_PREFIX};
use sortie_forge::Runner;
use sortie_store::{AgentSession, HistoryEntry, Timestamp};
use std::collections::HashSet;
use std::time::Duration;

use super::SweepOptions;

/// What the store says about a machine's job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobView {
    /// The job's state.
    pub state: JobState,
    /// The job's current attempt.
    pub attempt: u32,
    /// How long ago the job reached its terminal state (`None` while it is not terminal, or
    /// when the history does not say).
    pub finished_for: Option<Duration>,
}

/// What the machine's agent last said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentView {
    /// No session, a finished one, or one that stopped reporting.
    Quiet,
    /// The runner took a job and the agent still heartbeats: the machine is doing work.
    Working,
}

/// One machine as the sweep sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MachineView {
    /// The attempt it was launched for (`sortie:attempt`, or the store record).
    pub attempt: Option<u32>,
    /// Time since launch; `None` when neither the provider nor the store says.
    pub age: Option<Duration>,
    /// Its job; `None` when the store knows no such job.
    pub job: Option<JobView>,
    /// Its agent.
    pub agent: AgentView,
}

/// What to do with a machine or a runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Nothing: it serves a live job.
    Keep,
    /// End it, for this reason.
    End(String),
    /// It would be ended, but must not be (it is running a job); the reason says why.
    Spare(String),
}

/// The verdict on a machine. `orphan` marks a machine the store has no record of (found only by
/// its tags): its reasons start with `orphan:` and an unknown job is given `orphan_grace`.
///
/// A machine whose agent reports a job in progress is never ended for a finished or superseded
/// job (on GitHub a runner may take another queued job than its own, and the agent is told to
/// stop by its next report anyway); only `max_runtime` ends it — the limit the machine enforces on
/// itself too — and the running-timeout step, which times its own job out first.
pub fn machine_verdict(
    m: &MachineView,
    limits: &Limits,
    opts: &SweepOptions,
    orphan: bool,
) -> Verdict {
    let tag = if orphan { "orphan: " } else { "" };
    if let Some(age) = m.age.filter(|a| *a > limits.max_runtime) {
        return Verdict::End(format!(
            "{tag}up for {}, longer than max_runtime ({}); the machine should have powered itself off",
            human(age),
            human(limits.max_runtime)
        ));
    }
    let Some(job) = m.job else {
        return match m.age {
            Some(age) if age > opts.orphan_grace => Verdict::End(format!(
                "orphan: up for {} for a job sortie does not know",
                human(age)
            )),
            _ => Verdict::Keep,
        };
    };
    let why = if job.state.is_terminal() {
        match job.finished_for {
            Some(d) if d >= opts.finished_grace => format!(
                "{tag}its job finished {} ago ({}; grace {}); the machine should have powered itself off",
                human(d),
                job.state,
                human(opts.finished_grace)
            ),
            Some(_) => return Verdict::Keep,
            // No time in the history: fall back on the machine's age.
            None => match m.age {
                Some(age) if age > opts.orphan_grace => {
                    format!("{tag}its job is {} and the machine is up for {}", job.state, human(age))
                }
                _ => return Verdict::Keep,
            },
        }
    } else {
        match m.attempt {
            Some(a) if a < job.attempt => format!(
                "{tag}it serves attempt {a}, but the job was requeued and is on attempt {}",
                job.attempt
            ),
            _ => return Verdict::Keep,
        }
    };
    match m.agent {
        AgentView::Working => Verdict::Spare(format!(
            "{why}, but its agent reports a job in progress; left to max_runtime"
        )),
        AgentView::Quiet => Verdict::End(why),
    }
}

/// Whether `session`'s agent is working: its runner took a job, it has not finished, and it
/// reported within `silence`.
pub fn agent_view(session: Option<&AgentSession>, now: Timestamp, silence: Duration) -> AgentView {
    match session {
        Some(s)
            if s.phase == AgentPhase::JobStarted
                && s.finished_at.is_none()
                && since(now, s.last_seen_at) <= silence =>
        {
            AgentView::Working
        }
        _ => AgentView::Quiet,
    }
}

/// How long an agent may stay silent and still count as working: four heartbeats, at least a
/// minute (one lost report or a slow network must not end a job).
pub fn agent_silence(limits: &Limits) -> Duration {
    limits
        .heartbeat_interval
        .saturating_mul(4)
        .max(Duration::from_secs(60))
}

/// How long `session` has been a zombie: its runner registered, took no job, and the
/// agent has not finished — for longer than `idle` (`None` otherwise).
pub fn zombie_for(session: &AgentSession, now: Timestamp, idle: Duration) -> Option<Duration> {
    if session.phase != AgentPhase::Registered
        || session.job_started_at.is_some()
        || session.finished_at.is_some()
    {
        return None;
    }
    let registered = session.registered_at?;
    let d = since(now, registered);
    (d >= idle).then_some(d)
}

/// What to do with the job of a zombie runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobAction {
    /// Apply `JobEvent::Requeue` with this reason.
    Requeue(String),
    /// Apply `JobEvent::Fail` with this reason: no attempts left.
    Fail(String),
    /// Leave the job; add this note.
    Note(String),
}

/// The job action for a zombie of `session_attempt` whose job is `state` at `job_attempt`.
/// `why` is the zombie's description.
pub fn zombie_job(
    why: &str,
    state: JobState,
    job_attempt: u32,
    session_attempt: u32,
    max_attempts: u32,
) -> JobAction {
    if job_attempt != session_attempt {
        return JobAction::Note(format!(
            "{why}; removed it (the job is already on attempt {job_attempt})"
        ));
    }
    match state {
        JobState::Launching => requeue_or_fail(why, job_attempt, max_attempts),
        // GitHub gives a job to any runner with matching labels: another one took it.
        JobState::Running => JobAction::Note(format!(
            "{why}; removed it (the job was taken by another runner)"
        )),
        s => JobAction::Note(format!("{why}; removed it (the job is {s})")),
    }
}

/// Requeue, or fail when attempt `attempt` was the last of `max_attempts`.
pub fn requeue_or_fail(why: &str, attempt: u32, max_attempts: u32) -> JobAction {
    if attempt >= max_attempts {
        JobAction::Fail(format!(
            "{why}; attempt {attempt} was the last (max_attempts {max_attempts})"
        ))
    } else {
        JobAction::Requeue(format!("{why}; requeued"))
    }
}

/// Who a runner belongs to, as far as the store says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunnerOwner {
    /// No job sortie knows (or not a sortie runner name).
    Unknown,
    /// The runner was made for `runner_attempt` of a job now in `state` at `job_attempt`.
    Job {
        /// The job's state.
        state: JobState,
        /// The job's current attempt.
        job_attempt: u32,
        /// The attempt in the runner's name.
        runner_attempt: u32,
    },
}

/// The verdict on each runner listed at one scope. `live` holds the names of runners of live
/// attempts (never deleted unless the forge lists them offline and the job is over).
///
/// A busy runner is never deleted: it is running a job, and ending it from outside fails that
/// job. Runners of unknown owners follow `sortie_forge::cleanup::spent_runners` (offline, idle,
/// our prefix, not live).
pub fn runner_verdicts<'a>(
    runners: &'a [Runner],
    owner: impl Fn(&Runner) -> RunnerOwner,
    live: &HashSet<String>,
) -> Vec<(&'a Runner, Verdict)> {
    let spent: HashSet<u64> = spent_runners(runners, RUNNER_PREFIX, live)
        .iter()
        .map(|r| r.id)
        .collect();
    runners
        .iter()
        .filter(|r| r.name.starts_with(RUNNER_PREFIX))
        .filter_map(|r| {
            let why = match owner(r) {
                RunnerOwner::Job { state, .. } if state.is_terminal() => {
                    format!("its job is {state}")
                }
                RunnerOwner::Job {
                    job_attempt,
                    runner_attempt,
                    ..
                } if runner_attempt < job_attempt => format!(
                    "it was made for attempt {runner_attempt}, the job is on attempt {job_attempt}"
                ),
                RunnerOwner::Job { .. } => return None,
                RunnerOwner::Unknown if spent.contains(&r.id) => {
                    "it is offline and no job sortie knows registered it".to_string()
                }
                RunnerOwner::Unknown => return None,
            };
            let v = if r.busy {
                Verdict::Spare(format!(
                    "runner {} is busy: {why}, but a busy runner is running a job and is never removed from outside",
                    r.name
                ))
            } else {
                Verdict::End(why)
            };
            Some((r, v))
        })
        .collect()
}

/// Splits a runner name `sortie-<16 hex>-<attempt>` into its digest and attempt.
pub fn parse_runner_name(name: &str) -> Option<(&str, u32)> {
    let rest = name.strip_prefix(RUNNER_PREFIX)?;
    let (digest, attempt) = rest.rsplit_once('-')?;
    let hex = digest.len() == 16 && digest.chars().all(|c| c.is_ascii_hexdigit());
    hex.then_some(())?;
    Some((digest, attempt.parse().ok()?))
}

/// When the job last entered `state` (a real change, not a note).
pub fn entered(history: &[HistoryEntry], state: JobState) -> Option<Timestamp> {
    history
        .iter()
        .rev()
        .find(|h| h.to == state && h.from != Some(state))
        .map(|h| h.at)
}

/// When the job reached its terminal state.
pub fn finished_at(history: &[HistoryEntry]) -> Option<Timestamp> {
    history
        .iter()
        .rev()
        .find(|h| h.to.is_terminal() && h.from.is_none_or(|f| !f.is_terminal()))
        .map(|h| h.at)
}

/// `now - then`, zero when `then` is later.
pub fn since(now: Timestamp, then: Timestamp) -> Duration {
    let ms = now.as_millis().saturating_sub(then.as_millis());
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

/// A duration for a reason: `1h 5m`, `10m`, `45s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, s % 3600 / 60, s % 60);
    let parts: Vec<String> = [(h, "h"), (m, "m"), (s, "s")]
        .into_iter()
        .filter(|(v, _)| *v > 0)
        .map(|(v, u)| format!("{v}{u}"))
        .collect();
    if parts.is_empty() {
        format!("{}ms", d.as_millis())
    } else {
        parts.join(" ")
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
