//! # sortie-provider
//!
//! Machines for jobs. A [`Provider`] makes one machine per job (idempotently, keyed on the job and
//! its launch attempt), tags it so the sweep can find it, and reports on and removes it.
//!
//! - [`local`]: child processes on this host (the embedded default).
//! - [`ec2`]: EC2, spot first via `CreateFleet` (type `instant`) or `RunInstances`, falling back
//!   to on-demand, with a circuit breaker per (instance type, availability zone).
//! - [`userdata`]: the bootstrap script a machine boots with (URL + one-time token only).
//! - [`interruption`]: EventBridge spot warnings and state changes as typed events.

pub mod ec2;
pub mod error;
pub mod interruption;
pub mod local;
pub mod provider;
pub mod userdata;

pub use error::{ApiFailure, ProviderError, Result};
pub use provider::{
    Bootstrap, InstanceId, InstanceInfo, InstanceState, LaunchRequest, Launched, Lifecycle,
    OneTimeSecret, Provider, Skipped,
};
