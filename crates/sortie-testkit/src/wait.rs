//! Waiting for a condition with a deadline: tests poll, they never sleep a fixed time.

use std::future::Future;
use std::time::Duration;

/// Polls `check` every 20 ms until it returns `Some`, and panics naming `what` once `timeout`
/// has passed. The timeout is a safety net for a hung test, not a performance assertion.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
