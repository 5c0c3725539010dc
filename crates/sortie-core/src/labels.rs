//! Labels → [`RunnerSpec`] → [`Route`].
//!
//! STUB: the implementation is being written; the public types below are the contract.

use crate::catalog::Catalog;
use crate::route::Route;
use crate::spec::RunnerSpec;
use serde::Deserialize;

/// How labels are routed: the plain-label map and defaults. Deserialised from the `[routing]`
/// table of the configuration file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// The provider used when a label does not name one (`local`, `ec2`, `k8s`).
    pub default_provider: String,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig { default_provider: "ec2".into() }
    }
}

/// The decision for one job's labels.
#[derive(Debug, Clone, PartialEq)]
pub struct RouteDecision {
    pub route: Route,
    /// The spec, when the labels could be understood (also for skip routes where known).
    pub spec: Option<RunnerSpec>,
}

/// Routes a job's concrete labels (expressions already evaluated). `group` is the `runs-on.group`.
pub fn route_job(labels: &[String], group: Option<&str>, config: &RoutingConfig, catalog: &Catalog) -> RouteDecision {
    let _ = (labels, group, config, catalog);
    RouteDecision { route: Route::unroutable("label routing not implemented yet"), spec: None }
}
