//! A circuit breaker per (instance type, availability zone): after `failure_threshold` capacity
//! or limit errors within `window`, the pair is skipped for `cooldown`; then it is half-open (the
//! next launch may try it) and the outcome of that try closes or re-opens it.
//!
//! Mirrors runs-fleet's `pkg/circuit` (seed 004: "Circuit breaker for instance type failures"),
//! keyed more finely: capacity shortages are per availability zone. Pure logic: every method takes
//! the current time, so tests drive it with a controlled clock.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a circuit is keyed on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct CircuitKey {
    /// e.g. `c7g.xlarge`.
    pub instance_type: String,
    /// e.g. `us-east-1a`.
    pub availability_zone: String,
}

impl CircuitKey {
    /// A key for a type in a zone.
    pub fn new(instance_type: impl Into<String>, availability_zone: impl Into<String>) -> Self {
        CircuitKey {
            instance_type: instance_type.into(),
            availability_zone: availability_zone.into(),
        }
    }
}

impl fmt::Display for CircuitKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} in {}", self.instance_type, self.availability_zone)
    }
}

/// Thresholds of the breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CircuitConfig {
    /// Failures within `window` that open a circuit.
    pub failure_threshold: u32,
    /// How far back failures count.
    pub window: Duration,
    /// How long an open circuit stays open before it is half-open.
    pub cooldown: Duration,
}

impl Default for CircuitConfig {
    /// 3 failures in 5 minutes open a circuit for 10 minutes.
    fn default() -> Self {
        CircuitConfig {
            failure_threshold: 3,
            window: Duration::from_secs(300),
            cooldown: Duration::from_secs(600),
        }
    }
}

/// The state of one circuit at a moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Launches go ahead.
    Closed,
    /// Launches skip this pair until `until`.
    Open {
        /// When the cool-down ends.
        until: Instant,
    },
    /// The cool-down ended: the next launch tries it; its outcome closes or re-opens it.
    HalfOpen,
}

#[derive(Debug, Clone, Default)]
struct Circuit {
    failures: Vec<Instant>,
    open_until: Option<Instant>,
}

/// Circuits for every pair that has failed recently.
#[derive(Debug, Clone, Default)]
pub struct CircuitBreaker {
    cfg: CircuitConfig,
    circuits: BTreeMap<CircuitKey, Circuit>,
}

impl CircuitBreaker {
    /// A breaker with all circuits closed.
    pub fn new(cfg: CircuitConfig) -> Self {
        CircuitBreaker {
            cfg,
            circuits: BTreeMap::new(),
        }
    }

    /// The state of `key` at `now`.
    pub fn state(&self, key: &CircuitKey, now: Instant) -> CircuitState {
        match self.circuits.get(key).and_then(|c| c.open_until) {
            Some(until) if now < until => CircuitState::Open { until },
            Some(_) => CircuitState::HalfOpen,
            None => CircuitState::Closed,
        }
    }

    /// Whether a launch may try `key` at `now` (closed or half-open).
    pub fn allows(&self, key: &CircuitKey, now: Instant) -> bool {
        !matches!(self.state(key, now), CircuitState::Open { .. })
    }

    /// Records a capacity or limit error for `key`.
    pub fn record_failure(&mut self, key: &CircuitKey, now: Instant) {
        let state = self.state(key, now);
        let cfg = self.cfg;
        let circuit = self.circuits.entry(key.clone()).or_default();
        match state {
            // The trial after the cool-down failed: open again for a full cool-down.
            CircuitState::HalfOpen => {
                circuit.failures.clear();
                circuit.open_until = Some(now + cfg.cooldown);
            }
            CircuitState::Open { .. } => {}
            CircuitState::Closed => {
                circuit
                    .failures
                    .retain(|t| now.saturating_duration_since(*t) < cfg.window);
                circuit.failures.push(now);
                if circuit.failures.len() >= cfg.failure_threshold as usize {
                    circuit.failures.clear();
                    circuit.open_until = Some(now + cfg.cooldown);
                }
            }
        }
    }

    /// Records a successful launch of `key`: the circuit closes and its failures are forgotten.
    pub fn record_success(&mut self, key: &CircuitKey, now: Instant) {
        if self.allows(key, now) {
            self.circuits.remove(key);
        }
    }

    /// Every circuit that is not closed at `now`, for the admin API and metrics.
    pub fn not_closed(&self, now: Instant) -> Vec<(CircuitKey, CircuitState)> {
        self.circuits
            .keys()
            .map(|k| (k.clone(), self.state(k, now)))
            .filter(|(_, s)| *s != CircuitState::Closed)
            .collect()
    }
}

/// Where the provider reads the time (a trait so tests control it).
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> Instant;
}

/// The real monotonic clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
}

/// A clock that moves only when told to. Clones share the time.
#[derive(Debug, Clone)]
pub struct ManualClock(Arc<Mutex<Instant>>);

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock(Arc::new(Mutex::new(Instant::now())))
    }
}

impl ManualClock {
    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *t += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn breaker() -> (CircuitBreaker, CircuitKey, ManualClock) {
        let cfg = CircuitConfig {
            failure_threshold: 3,
            window: 60 * S,
            cooldown: 300 * S,
        };
        (
            CircuitBreaker::new(cfg),
            CircuitKey::new("c7g.xlarge", "us-east-1a"),
            ManualClock::default(),
        )
    }

    #[test]
    fn opens_after_threshold_within_window() {
        let (mut b, k, clock) = breaker();
        b.record_failure(&k, clock.now());
        clock.advance(10 * S);
        b.record_failure(&k, clock.now());
        assert_eq!(b.state(&k, clock.now()), CircuitState::Closed);
        clock.advance(10 * S);
        b.record_failure(&k, clock.now());
        assert!(matches!(
            b.state(&k, clock.now()),
            CircuitState::Open { .. }
        ));
        assert!(!b.allows(&k, clock.now()));
        // Other pairs are unaffected.
        assert!(b.allows(&CircuitKey::new("c7g.xlarge", "us-east-1b"), clock.now()));
        assert!(b.allows(&CircuitKey::new("m7g.xlarge", "us-east-1a"), clock.now()));
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let (mut b, k, clock) = breaker();
        b.record_failure(&k, clock.now());
        clock.advance(50 * S);
        b.record_failure(&k, clock.now());
        clock.advance(20 * S); // the first failure is now 70 s old
        b.record_failure(&k, clock.now());
        assert_eq!(b.state(&k, clock.now()), CircuitState::Closed);
    }

    #[test]
    fn half_open_after_cooldown_then_closes_on_success() {
        let (mut b, k, clock) = breaker();
        for _ in 0..3 {
            b.record_failure(&k, clock.now());
        }
        clock.advance(299 * S);
        assert!(!b.allows(&k, clock.now()));
        clock.advance(S);
        assert_eq!(b.state(&k, clock.now()), CircuitState::HalfOpen);
        b.record_success(&k, clock.now());
        assert_eq!(b.state(&k, clock.now()), CircuitState::Closed);
        // Closed again means a fresh count: one failure does not re-open it.
        b.record_failure(&k, clock.now());
        assert_eq!(b.state(&k, clock.now()), CircuitState::Closed);
    }

    #[test]
    fn half_open_failure_reopens_for_a_full_cooldown() {
        let (mut b, k, clock) = breaker();
        for _ in 0..3 {
            b.record_failure(&k, clock.now());
        }
        clock.advance(300 * S);
        b.record_failure(&k, clock.now());
        assert_eq!(
            b.state(&k, clock.now()),
            CircuitState::Open {
                until: clock.now() + 300 * S
            }
        );
        assert_eq!(b.not_closed(clock.now()).len(), 1);
    }

    #[test]
    fn success_while_open_does_not_close() {
        let (mut b, k, clock) = breaker();
        for _ in 0..3 {
            b.record_failure(&k, clock.now());
        }
        b.record_success(&k, clock.now());
        assert!(!b.allows(&k, clock.now()));
    }
}
