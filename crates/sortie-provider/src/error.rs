//! [`ProviderError`]: every way making, finding or stopping a machine can fail, worded as the
//! reason a job record shows an operator.

use crate::ec2::circuit::CircuitKey;
use std::fmt;

/// One failure of a cloud API call, reduced to what decides the next step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    /// The operation, e.g. `RunInstances`.
    pub operation: &'static str,
    /// The AWS error code (`InsufficientInstanceCapacity`), when the service sent one.
    pub code: Option<String>,
    /// The service's message, or the transport error.
    pub message: String,
}

impl fmt::Display for ApiFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} failed with {code}: {}", self.operation, self.message),
            None => write!(f, "{} failed: {}", self.operation, self.message),
        }
    }
}

/// Why a provider call failed. Messages are job reasons: they say what happened and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// Neither spot nor (when allowed) on-demand capacity was available for any candidate.
    #[error("no capacity for {wanted}: {detail}; try more instance types or availability zones")]
    NoCapacity {
        /// The instance types asked for, comma-separated.
        wanted: String,
        /// What each attempt said.
        detail: String,
    },
    /// An account limit (instance count, vCPU quota) refused the launch.
    #[error("instance limit exceeded: {0}; raise the EC2 quota or lower concurrency")]
    LimitExceeded(String),
    /// Every (instance type, availability zone) candidate has an open circuit.
    #[error("every candidate is paused by the circuit breaker after repeated capacity errors ({}); it retries after the cool-down", fmt_keys(.0))]
    AllCircuitsOpen(Vec<CircuitKey>),
    /// The spec and configuration leave nothing to launch.
    #[error("nothing to launch: {0}")]
    NoCandidates(String),
    /// The local provider is full.
    #[error(
        "local provider at its limit of {0} concurrent runners; the job waits for one to finish"
    )]
    AtLimit(usize),
    /// The API kept throttling after bounded retries.
    #[error("AWS kept throttling {operation} after {attempts} attempts; sortie will retry the job later")]
    Throttled {
        /// The operation.
        operation: &'static str,
        /// How many calls were made.
        attempts: u32,
    },
    /// Any other API failure.
    #[error("{0}")]
    Api(ApiFailure),
    /// The provider configuration is wrong.
    #[error("provider configuration: {0}")]
    Config(String),
    /// A local process or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The instance id is not one this provider knows.
    #[error("unknown instance {0}")]
    UnknownInstance(String),
    /// An EventBridge event could not be understood.
    #[error("unreadable EC2 event: {0}; check the EventBridge rule forwards EC2 events unchanged")]
    BadEvent(String),
    /// The bootstrap material would put a long-lived secret on the machine.
    #[error("refusing bootstrap: {0}")]
    UnsafeBootstrap(String),
}

fn fmt_keys(keys: &[CircuitKey]) -> String {
    keys.iter()
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

impl ProviderError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ProviderError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Result alias for provider calls.
pub type Result<T, E = ProviderError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_read_as_job_reasons() {
        assert_eq!(
            ProviderError::AtLimit(4).to_string(),
            "local provider at its limit of 4 concurrent runners; the job waits for one to finish"
        );
        let e = ProviderError::AllCircuitsOpen(vec![CircuitKey::new("c7g.xlarge", "us-east-1a")]);
        assert!(e.to_string().contains("c7g.xlarge in us-east-1a"), "{e}");
        let f = ApiFailure {
            operation: "RunInstances",
            code: Some("VcpuLimitExceeded".into()),
            message: "m".into(),
        };
        assert_eq!(
            f.to_string(),
            "RunInstances failed with VcpuLimitExceeded: m"
        );
    }
}
