//! Machines and runners: instances, runner registrations, warm pools.

use super::{InstanceId, JobId, RegistrationId};
use crate::clock::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// The lifecycle of a machine as sortie last saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceState {
    /// Asked for; booting.
    Pending,
    /// Up.
    Running,
    /// Stopping (kept for a warm pool).
    Stopping,
    /// Stopped (a stopped warm machine).
    Stopped,
    /// Gone for good.
    Terminated,
}

impl InstanceState {
    /// All states.
    pub const ALL: [InstanceState; 5] = [
        InstanceState::Pending,
        InstanceState::Running,
        InstanceState::Stopping,
        InstanceState::Stopped,
        InstanceState::Terminated,
    ];

    /// The snake_case name used in the store and API.
    pub fn as_str(self) -> &'static str {
        match self {
            InstanceState::Pending => "pending",
            InstanceState::Running => "running",
            InstanceState::Stopping => "stopping",
            InstanceState::Stopped => "stopped",
            InstanceState::Terminated => "terminated",
        }
    }
}

/// An instance to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInstance {
    /// The job it serves.
    pub job: JobId,
    /// Provider name (`local`, `ec2`, `k8s`).
    pub provider: String,
    /// The provider's id for it (`i-0abc…`, a pod name, a pid).
    pub provider_id: String,
    /// The job attempt it was launched for; one instance per `(job, attempt)`.
    pub attempt: u32,
    /// Initial state.
    pub state: InstanceState,
}

/// A recorded instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Instance {
    /// Store id.
    pub id: InstanceId,
    /// The job it serves.
    pub job: JobId,
    /// Provider name.
    pub provider: String,
    /// The provider's id.
    pub provider_id: String,
    /// Job attempt.
    pub attempt: u32,
    /// Last known state.
    pub state: InstanceState,
    /// When recorded.
    pub created_at: Timestamp,
    /// When its state last changed.
    pub updated_at: Timestamp,
}

/// Which instances to list (all conditions must hold).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct InstanceFilter {
    /// Only in this state.
    pub state: Option<InstanceState>,
    /// Only for this job.
    pub job: Option<JobId>,
}

/// The lifecycle of a runner registration on the forge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistrationState {
    /// Credential issued (JIT config or registration token); the runner has not connected yet.
    Registered,
    /// The runner connected to the forge.
    Online,
    /// Its job finished; the forge should forget it (ephemeral) or sortie must delete it.
    Spent,
}

impl RegistrationState {
    /// All states.
    pub const ALL: [RegistrationState; 3] = [
        RegistrationState::Registered,
        RegistrationState::Online,
        RegistrationState::Spent,
    ];

    /// The snake_case name used in the store and API.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistrationState::Registered => "registered",
            RegistrationState::Online => "online",
            RegistrationState::Spent => "spent",
        }
    }
}

/// A runner registration to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRegistration {
    /// The job it was made for.
    pub job: JobId,
    /// The forge's runner id, when the forge returned one.
    pub runner_id: Option<i64>,
    /// The runner name (unique: [`JobKey::runner_name`](sortie_core::job::JobKey::runner_name)).
    pub name: String,
    /// Initial state.
    pub state: RegistrationState,
}

/// A recorded runner registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Registration {
    /// Store id.
    pub id: RegistrationId,
    /// The job it was made for.
    pub job: JobId,
    /// The forge's runner id.
    pub runner_id: Option<i64>,
    /// Runner name.
    pub name: String,
    /// Last known state.
    pub state: RegistrationState,
    /// When recorded.
    pub created_at: Timestamp,
}

/// Warm capacity for one label set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// Pool name (unique).
    pub name: String,
    /// The labels a job must ask for to be served from this pool.
    pub labels: BTreeSet<String>,
    /// Machines to keep running and idle.
    pub hot: u32,
    /// Machines to keep stopped, ready to start.
    pub stopped: u32,
}
