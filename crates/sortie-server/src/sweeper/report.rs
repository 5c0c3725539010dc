//! [`SweepReport`]: what one pass did and why, serialisable for `sortie lambda`'s answer and the
//! logs.

use serde::Serialize;
use sortie_store::{JobId, Timestamp};
use std::fmt;

/// The steps of a pass, in the order they run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    /// Recorded instance states brought in line with the providers.
    InstanceState,
    /// Interruptions the providers observed themselves (the local time limit).
    Interruptions,
    /// Jobs running longer than `running_timeout`.
    RunningTimeout,
    /// Runners registered that never took a job.
    ZombieRunners,
    /// Machines of finished jobs and of superseded attempts.
    FinishedMachines,
    /// Machines found by their tags that serve no live job attempt.
    Orphans,
    /// Runner registrations on the forges and in the store.
    Registrations,
}

impl Step {
    /// Every step, in order.
    pub const ALL: [Step; 7] = [
        Step::InstanceState,
        Step::Interruptions,
        Step::RunningTimeout,
        Step::ZombieRunners,
        Step::FinishedMachines,
        Step::Orphans,
        Step::Registrations,
    ];

    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Step::InstanceState => "instance_state",
            Step::Interruptions => "interruptions",
            Step::RunningTimeout => "running_timeout",
            Step::ZombieRunners => "zombie_runners",
            Step::FinishedMachines => "finished_machines",
            Step::Orphans => "orphans",
            Step::Registrations => "registrations",
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an action did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    /// An instance's recorded state was changed to what its provider reports.
    InstanceState,
    /// A machine was terminated.
    Terminate,
    /// A job was timed out.
    TimeOut,
    /// A job was requeued (its attempt moves on).
    Requeue,
    /// A job was failed: no attempts left.
    Fail,
    /// A runner registration was deleted on the forge.
    DeleteRunner,
    /// A registration record was removed from the store.
    ForgetRegistration,
    /// An agent session was closed (recorded `finished`), so later passes skip it.
    CloseSession,
    /// Something that would have been ended was left alone because it is running a job.
    Spare,
}

impl ActionKind {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::InstanceState => "instance_state",
            ActionKind::Terminate => "terminate",
            ActionKind::TimeOut => "time_out",
            ActionKind::Requeue => "requeue",
            ActionKind::Fail => "fail",
            ActionKind::DeleteRunner => "delete_runner",
            ActionKind::ForgetRegistration => "forget_registration",
            ActionKind::CloseSession => "close_session",
            ActionKind::Spare => "spare",
        }
    }
}

/// One thing a pass did, or deliberately did not do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepAction {
    /// The step that acted.
    pub step: Step,
    /// What it did.
    pub kind: ActionKind,
    /// The job concerned, when there is one.
    pub job: Option<JobId>,
    /// What it acted on: `local/local-ab12-1`, `runner 7 sortie-ab12…-1 (repository o/r)`, `job 42`.
    pub target: String,
    /// Why, in words (also written to the job's history).
    pub reason: String,
}

/// One failure of a pass; the pass goes on with the next item and step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepError {
    /// The step that failed.
    pub step: Step,
    /// What failed, for the operator.
    pub message: String,
}

/// What one pass did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// The replica that swept (the lease owner).
    pub replica: String,
    /// When the pass started (the sweeper's clock).
    pub started_at: Timestamp,
    /// True when this replica held the sweeper lease and ran the steps.
    pub held_lease: bool,
    /// Why the pass did not run (another replica holds the lease) or stopped early (shutdown,
    /// the lease was lost).
    pub stopped: Option<String>,
    /// Every action, in order.
    pub actions: Vec<SweepAction>,
    /// Every failure, in order.
    pub errors: Vec<SweepError>,
}

impl SweepReport {
    /// An empty report.
    pub fn new(replica: &str, started_at: Timestamp) -> SweepReport {
        SweepReport {
            replica: replica.to_string(),
            started_at,
            held_lease: false,
            stopped: None,
            actions: Vec::new(),
            errors: Vec::new(),
        }
    }

    /// The actions of `kind`.
    pub fn of(&self, kind: ActionKind) -> impl Iterator<Item = &SweepAction> {
        self.actions.iter().filter(move |a| a.kind == kind)
    }

    /// The actions concerning `job`.
    pub fn for_job(&self, job: JobId) -> impl Iterator<Item = &SweepAction> {
        self.actions.iter().filter(move |a| a.job == Some(job))
    }

    /// One line for the log: counts by kind, and the error count.
    pub fn summary(&self) -> String {
        if !self.held_lease {
            return format!("skipped: {}", self.stopped.as_deref().unwrap_or("no lease"));
        }
        let mut counts: Vec<(ActionKind, usize)> = Vec::new();
        for a in &self.actions {
            match counts.iter_mut().find(|(k, _)| *k == a.kind) {
                Some((_, n)) => *n += 1,
                None => counts.push((a.kind, 1)),
            }
        }
        let mut parts: Vec<String> = counts
            .iter()
            .map(|(k, n)| format!("{} {n}", k.as_str()))
            .collect();
        if !self.errors.is_empty() {
            parts.push(format!("errors {}", self.errors.len()));
        }
        if let Some(why) = &self.stopped {
            parts.push(format!("stopped early: {why}"));
        }
        if parts.is_empty() {
            "nothing to do".to_string()
        } else {
            parts.join(", ")
        }
    }
}
