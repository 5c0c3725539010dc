//! The clock and sleeper every time-dependent decision goes through: token expiry, rate-limit
//! waits, backoff. Production uses [`SystemClock`]; tests use [`ManualClock`], whose `sleep`
//! returns at once and moves its time forward, so a test of a one-minute backoff takes no time
//! and can assert exactly how long the client would have waited.

use async_trait::async_trait;
use std::sync::Mutex;
use std::time::Duration;
use time::OffsetDateTime;

/// Time as the forge clients see it.
#[async_trait]
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time (UTC).
    fn now(&self) -> OffsetDateTime;
    /// Waits for `d`.
    async fn sleep(&self, d: Duration);
}

/// The real clock: `OffsetDateTime::now_utc` and `tokio::time::sleep`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// A clock under a test's control: starts at a given instant, moves only when told to or when
/// something sleeps on it, and records every sleep.
#[derive(Debug)]
pub struct ManualClock {
    state: Mutex<ManualState>,
}

#[derive(Debug)]
struct ManualState {
    now: OffsetDateTime,
    sleeps: Vec<Duration>,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: OffsetDateTime) -> ManualClock {
        ManualClock {
            state: Mutex::new(ManualState {
                now: start,
                sleeps: Vec::new(),
            }),
        }
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut s = self.lock();
        s.now += d;
    }

    /// Every sleep so far, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.lock().sleeps.clone()
    }

    /// Total time slept.
    pub fn slept(&self) -> Duration {
        self.lock().sleeps.iter().sum()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ManualState> {
        // A panic while holding this lock can only come from a test assertion; keep going.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        self.lock().now
    }
    async fn sleep(&self, d: Duration) {
        let mut s = self.lock();
        s.now += d;
        s.sleeps.push(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn manual_clock_moves_when_slept_on() {
        let start = time::macros::datetime!(2030-01-01 00:00 UTC);
        let c = ManualClock::new(start);
        c.sleep(Duration::from_secs(60)).await;
        c.advance(Duration::from_secs(5));
        assert_eq!(c.now(), start + Duration::from_secs(65));
        assert_eq!(c.sleeps(), vec![Duration::from_secs(60)]);
        assert_eq!(c.slept(), Duration::from_secs(60));
    }
}
