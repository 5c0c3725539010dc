//! Error classification and bounded exponential backoff for EC2 API calls.

use crate::error::{ApiFailure, ProviderError, Result};
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use std::future::Future;
use std::time::Duration;

/// What an error code means for the launch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// No capacity at the asked price or market: try elsewhere, or fall back to on-demand.
    Capacity,
    /// An account limit.
    Limit,
    /// Slow down and retry the same call.
    Throttle,
    /// The request never got an answer (timeout, connection failure): retry the same call.
    Transient,
    /// Anything else: give up with the error.
    Other,
}

// Codes from https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html
// (InsufficientInstanceCapacity, SpotMaxPriceTooLow, MaxSpotInstanceCountExceeded,
// InstanceLimitExceeded, VcpuLimitExceeded, RequestLimitExceeded) and the fleet error codes of
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ec2-fleet-troubleshooting.html
// (UnfulfillableCapacity, InsufficientCapacity).
/// Classifies an AWS error code.
pub fn classify(code: &str) -> ErrorClass {
    match code {
        "InsufficientInstanceCapacity"
        | "InsufficientCapacity"
        | "InsufficientHostCapacity"
        | "UnfulfillableCapacity"
        | "SpotMaxPriceTooLow"
        | "MaxSpotInstanceCountExceeded"
        | "InsufficientFreeAddressesInSubnet" => ErrorClass::Capacity,
        "InstanceLimitExceeded" | "VcpuLimitExceeded" | "MaxFleetCountExceeded" => {
            ErrorClass::Limit
        }
        "RequestLimitExceeded" | "Throttling" | "ThrottlingException" => ErrorClass::Throttle,
        _ => ErrorClass::Other,
    }
}

/// Classifies an [`ApiFailure`]; one without a code is transient (no answer was received).
pub fn classify_failure(f: &ApiFailure) -> ErrorClass {
    f.code
        .as_deref()
        .map(classify)
        .unwrap_or(ErrorClass::Transient)
}

/// Reduces an SDK error to its code and message.
pub fn api_failure<E, R>(operation: &'static str, err: &SdkError<E, R>) -> ApiFailure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let code = err.code().map(str::to_string);
    let message = match (err.message(), &code) {
        (Some(m), _) => m.to_string(),
        (None, _) => DisplayErrorContext(err).to_string(),
    };
    let code = match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => None,
        _ => code.or_else(|| Some("Unknown".into())),
    };
    ApiFailure {
        operation,
        code,
        message,
    }
}

/// Bounded exponential backoff: attempt `n` (from 1) waits `base * 2^(n-1)`, at most `max_delay`,
/// for at most `max_attempts` calls in all.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// First delay.
    pub base: Duration,
    /// Largest delay.
    pub max_delay: Duration,
    /// Most calls, the first included.
    pub max_attempts: u32,
}

impl Default for Backoff {
    /// 250 ms, doubling to at most 8 s, 6 calls: about 16 s of patience in all.
    fn default() -> Self {
        Backoff {
            base: Duration::from_millis(250),
            max_delay: Duration::from_secs(8),
            max_attempts: 6,
        }
    }
}

impl Backoff {
    /// The delay after failed call number `attempt` (from 1).
    pub fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u32
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.base.saturating_mul(factor).min(self.max_delay)
    }
}

/// Calls `call` until it succeeds, fails with a non-retryable error, or `backoff` is exhausted.
/// Throttling and transport failures are retried; everything else is returned at once.
pub async fn with_backoff<T, E, R, F, Fut>(
    backoff: &Backoff,
    operation: &'static str,
    mut call: F,
) -> Result<T, ApiFailureOr>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = std::result::Result<T, SdkError<E, R>>>,
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(v) => return Ok(v),
            Err(e) => {
                let failure = api_failure(operation, &e);
                let class = classify_failure(&failure);
                let retryable = matches!(class, ErrorClass::Throttle | ErrorClass::Transient);
                if !retryable {
                    return Err(ApiFailureOr::Failure(failure));
                }
                if attempt >= backoff.max_attempts {
                    return Err(ApiFailureOr::Exhausted {
                        operation,
                        attempts: attempt,
                        last: failure,
                    });
                }
                tokio::time::sleep(backoff.delay(attempt)).await;
                attempt += 1;
            }
        }
    }
}

/// Why [`with_backoff`] gave up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiFailureOr {
    /// A non-retryable failure (the launch logic inspects its class).
    Failure(ApiFailure),
    /// Retries ran out.
    Exhausted {
        /// The operation.
        operation: &'static str,
        /// Calls made.
        attempts: u32,
        /// The last failure.
        last: ApiFailure,
    },
}

impl From<ApiFailureOr> for ProviderError {
    fn from(e: ApiFailureOr) -> Self {
        match e {
            ApiFailureOr::Failure(f) => match classify_failure(&f) {
                ErrorClass::Limit => ProviderError::LimitExceeded(f.to_string()),
                _ => ProviderError::Api(f),
            },
            ApiFailureOr::Exhausted {
                operation,
                attempts,
                last,
            } => match classify_failure(&last) {
                ErrorClass::Throttle => ProviderError::Throttled {
                    operation,
                    attempts,
                },
                _ => ProviderError::Api(last),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Rows: the EC2 error codes named in the module comment's sources.
    #[test]
    fn codes_classify() {
        for (code, class) in [
            ("InsufficientInstanceCapacity", ErrorClass::Capacity),
            ("SpotMaxPriceTooLow", ErrorClass::Capacity),
            ("MaxSpotInstanceCountExceeded", ErrorClass::Capacity),
            ("UnfulfillableCapacity", ErrorClass::Capacity),
            ("InstanceLimitExceeded", ErrorClass::Limit),
            ("VcpuLimitExceeded", ErrorClass::Limit),
            ("RequestLimitExceeded", ErrorClass::Throttle),
            ("Throttling", ErrorClass::Throttle),
            ("InvalidAMIID.NotFound", ErrorClass::Other),
        ] {
            assert_eq!(classify(code), class, "{code}");
        }
    }

    #[test]
    fn delays_double_and_cap() {
        let b = Backoff {
            base: Duration::from_millis(100),
            max_delay: Duration::from_millis(500),
            max_attempts: 9,
        };
        let got: Vec<u128> = (1..=5).map(|n| b.delay(n).as_millis()).collect();
        assert_eq!(got, vec![100, 200, 400, 500, 500]);
        assert_eq!(
            b.delay(200),
            Duration::from_millis(500),
            "no overflow on huge attempt numbers"
        );
    }

    #[test]
    fn exhausted_throttling_reads_as_a_reason() {
        let last = ApiFailure {
            operation: "CreateFleet",
            code: Some("RequestLimitExceeded".into()),
            message: "x".into(),
        };
        let e: ProviderError = ApiFailureOr::Exhausted {
            operation: "CreateFleet",
            attempts: 6,
            last,
        }
        .into();
        assert_eq!(
            e.to_string(),
            "AWS kept throttling CreateFleet after 6 attempts; sortie will retry the job later"
        );
    }
}
