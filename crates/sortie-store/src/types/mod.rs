//! The records the store keeps, as plain data. Identifiers are newtypes so a job id cannot be
//! passed where an instance id is expected.

mod agent;
mod delivery;
mod fleet;
mod job;

pub use agent::{AgentSession, Redeem};
pub use delivery::{Delivery, DeliveryInsert, DeliveryStatus, StoredDelivery};
pub use fleet::{
    Instance, InstanceFilter, InstanceState, NewInstance, NewRegistration, Pool, Registration,
    RegistrationState,
};
pub use job::{
    Applied, Claim, ClaimedJob, HistoryEntry, Job, JobCreate, JobFilter, NewJob, MOVED_ON,
};

use serde::{Deserialize, Serialize};
use std::fmt;

/// The store's identifier of a job (a database sequence; the forge's identity is the
/// [`JobKey`](sortie_core::job::JobKey)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

/// The forge's delivery identifier (`X-GitHub-Delivery`, `X-Gitea-Delivery`), unique per forge.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeliveryId(pub String);

/// The store's identifier of an instance record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(pub i64);

/// The store's identifier of a runner registration record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RegistrationId(pub i64);

macro_rules! display_inner {
    ($($t:ty),*) => {$(
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    )*};
}
display_inner!(JobId, DeliveryId, InstanceId, RegistrationId);

impl From<&str> for DeliveryId {
    fn from(s: &str) -> Self {
        DeliveryId(s.to_string())
    }
}
