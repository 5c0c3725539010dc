//! Jobs, their history, and claims on them.

use super::{DeliveryId, JobId};
use crate::clock::Timestamp;
use serde::{Deserialize, Serialize};
use sortie_core::job::{JobEvent, JobKey, JobState, Transition};
use sortie_core::route::Route;
use sortie_core::spec::RunnerSpec;

/// What the planner knows about a job it wants stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewJob {
    /// The job's identity; unique in the store.
    pub key: JobKey,
    /// The `runs-on` labels as the workflow wrote them.
    pub labels: Vec<String>,
    /// Where the labels lead.
    pub route: Route,
    /// What the job needs; `None` when the labels could not be turned into a spec.
    pub spec: Option<RunnerSpec>,
    /// The delivery that announced the job, if any.
    pub delivery: Option<DeliveryId>,
}

/// A live claim: one dispatcher is working on the job until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    /// The worker holding it.
    pub worker: String,
    /// When it lapses unless renewed.
    pub expires_at: Timestamp,
}

/// A stored job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Job {
    /// Store id.
    pub id: JobId,
    /// Forge identity.
    pub key: JobKey,
    /// `runs-on` labels.
    pub labels: Vec<String>,
    /// Where it goes.
    pub route: Route,
    /// What it needs.
    pub spec: Option<RunnerSpec>,
    /// The announcing delivery.
    pub delivery: Option<DeliveryId>,
    /// Current state.
    pub state: JobState,
    /// 1 for the first machine; each `requeue` transition adds one, so the relaunch gets a new
    /// idempotency token ([`JobKey::idempotency_token`]).
    pub attempt: u32,
    /// The claim last written, if any; it may have expired (compare with the clock).
    pub claim: Option<Claim>,
    /// When the job was stored.
    pub created_at: Timestamp,
    /// When its state last changed.
    pub updated_at: Timestamp,
}

/// The result of create-if-absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobCreate {
    /// The job was new and is now stored, queued.
    Created(Job),
    /// A job with this key already existed; it is returned unchanged.
    Existing(Job),
}

impl JobCreate {
    /// The job, whether new or existing.
    pub fn job(&self) -> &Job {
        match self {
            JobCreate::Created(j) | JobCreate::Existing(j) => j,
        }
    }

    /// Consumes the outcome, returning the job.
    pub fn into_job(self) -> Job {
        match self {
            JobCreate::Created(j) | JobCreate::Existing(j) => j,
        }
    }

    /// True when this call stored the job.
    pub fn is_created(&self) -> bool {
        matches!(self, JobCreate::Created(_))
    }
}

/// The result of applying an event to a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The job after the event.
    pub job: Job,
    /// What the state machine decided; only [`Transition::To`] is written to the history.
    pub transition: Transition,
}

/// One recorded change of a job's state: the answer to "why is this job in this state".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HistoryEntry {
    /// State before; `None` for the entry that records the job's creation.
    pub from: Option<JobState>,
    /// State after.
    pub to: JobState,
    /// The event; `None` for creation.
    pub event: Option<JobEvent>,
    /// Why, in words.
    pub reason: String,
    /// When.
    pub at: Timestamp,
}

/// Which jobs to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs in this state; `None` for all.
    pub state: Option<JobState>,
    /// At most this many, newest first.
    pub limit: u32,
}

impl Default for JobFilter {
    fn default() -> Self {
        JobFilter {
            state: None,
            limit: 100,
        }
    }
}

/// A job this worker now holds a claim on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimedJob {
    /// The job (its `claim` is this worker's).
    pub job: Job,
    /// The claim: renew it before `expires_at`, release it when done.
    pub claim: Claim,
}

/// Why [`Store::apply_event_at`](crate::Store::apply_event_at) did nothing: the job is no longer
/// on the attempt the caller decided about.
pub const MOVED_ON: &str = "the job moved on to another attempt";
