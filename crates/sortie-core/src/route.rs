//! [`Route`]: where a job goes — a pool, a provider, nowhere on purpose, or nowhere with a reason.

use serde::{Deserialize, Serialize};

/// The kind of destination a job's labels lead to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteKind {
    /// A fresh machine from a provider (`target` names it: `local`, `ec2`, `k8s`).
    Provider,
    /// A warm machine from a pool (`target` names the pool).
    Pool,
    /// Deliberately not ours to serve (e.g. `runs-on: host`, served by a standing runner).
    Skip,
    /// Cannot be served; `reason` says why (unknown label, invalid value, unevaluable expression).
    Unroutable,
}

/// Where one job goes, with a reason a person can read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    /// Destination kind.
    pub kind: RouteKind,
    /// Provider or pool name; `None` for skip and unroutable.
    pub target: Option<String>,
    /// Why this route was chosen.
    pub reason: String,
}

impl Route {
    /// A route to a provider.
    pub fn provider(target: impl Into<String>, reason: impl Into<String>) -> Self {
        Route {
            kind: RouteKind::Provider,
            target: Some(target.into()),
            reason: reason.into(),
        }
    }

    /// A route to a warm pool.
    pub fn pool(name: impl Into<String>, reason: impl Into<String>) -> Self {
        Route {
            kind: RouteKind::Pool,
            target: Some(name.into()),
            reason: reason.into(),
        }
    }

    /// A job sortie deliberately leaves alone.
    pub fn skip(reason: impl Into<String>) -> Self {
        Route {
            kind: RouteKind::Skip,
            target: None,
            reason: reason.into(),
        }
    }

    /// A job that cannot be served.
    pub fn unroutable(reason: impl Into<String>) -> Self {
        Route {
            kind: RouteKind::Unroutable,
            target: None,
            reason: reason.into(),
        }
    }

    /// True when a machine will be provided (provider or pool).
    pub fn is_served(&self) -> bool {
        matches!(self.kind, RouteKind::Provider | RouteKind::Pool)
    }
}
