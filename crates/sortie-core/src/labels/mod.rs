//! Labels → [`RunnerSpec`] → [`Route`].
//!
//! - [`Label::parse`] reads one `runs-on` label: a plain label (with Gitea's `name:scheme`
//!   suffix) or a `sortie=` / `runs-fleet=` settings label ([`grammar`](self) has the rules).
//! - [`RoutingConfig`] is the `[routing]` configuration table: the plain-label map (by default
//!   the seed dispatcher's), the default provider, and what to do with unknown labels.
//! - [`route_job`] combines all of a job's labels (an array `runs-on` needs a runner with every
//!   label) into a [`RouteDecision`]: a provider or pool with a [`RunnerSpec`], or skip/unroutable
//!   with a reason an operator can act on.

mod config;
mod decide;
mod error;
mod grammar;
mod resolve;
mod setting;
#[cfg(test)]
mod tests;

use crate::route::Route;
use crate::spec::RunnerSpec;

pub use config::{seed_label_map, LabelRule, RoutingConfig, RoutingConfigError, UnknownLabels};
pub use decide::route_job;
pub use error::LabelError;
pub use grammar::{
    parse_settings, Key, Label, PlainLabel, Prefix, Scheme, SettingsLabel, RUNS_FLEET_PREFIX,
    SORTIE_PREFIX,
};
pub use resolve::{default_ram, DEFAULT_CPU};
pub use setting::{Setting, MAX_DISK_GIB};

/// The decision for one job's labels.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteDecision {
    /// Where the job goes, with the reason.
    pub route: Route,
    /// The spec, when the labels could be understood and sortie serves the job.
    pub spec: Option<RunnerSpec>,
}
