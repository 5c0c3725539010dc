//! Reading a forge's "slow down" signals (pure) and the bounded backoff policy.
//!
//! Rules mirror GitHub's documentation, "Rate limits for the REST API", section "Exceeding the
//! rate limit" (docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api):
//! - primary limit: 403 or 429 with `x-ratelimit-remaining: 0` — do not retry before
//!   `x-ratelimit-reset` (UTC epoch seconds);
//! - secondary limit: 403 or 429 with a message saying so — if `retry-after` is present wait that
//!   many seconds; else if `x-ratelimit-remaining` is 0 wait for the reset; otherwise wait at least
//!   one minute, growing exponentially on repeats, and give up after a bounded number of retries.
//!
//! Gitea has no API rate limiter of its own, but proxies in front of it answer 429 with
//! `Retry-After`; the same reading applies.

use std::time::Duration;
use time::OffsetDateTime;

/// The headers and body parts that matter, lifted out of a response so the rules stay pure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signals<'a> {
    /// HTTP status.
    pub status: u16,
    /// `Retry-After` header value.
    pub retry_after: Option<&'a str>,
    /// `X-RateLimit-Remaining` header value.
    pub remaining: Option<&'a str>,
    /// `X-RateLimit-Reset` header value.
    pub reset: Option<&'a str>,
    /// Response body (the forge's message).
    pub body: &'a str,
}

/// Which limit was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    /// The hourly budget is spent.
    Primary,
    /// Too fast (GitHub's secondary limits, or a proxy's 429).
    Secondary,
}

/// How long the forge asks us to wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Wait {
    /// Which limit.
    pub kind: LimitKind,
    /// How long from now.
    pub wait: Duration,
}

/// The longest wait a forge's answer is taken at its word for: GitHub's primary window is one
/// hour, so a `Retry-After` or reset further out is a broken header (or a proxy's) — capped, so
/// a hostile value cannot overflow a deadline.
pub const LONGEST_WAIT: Duration = Duration::from_secs(2 * 3600);

/// The wait GitHub asks for when a secondary limit gives no hint: "at least one minute".
pub const SECONDARY_DEFAULT_WAIT: Duration = Duration::from_secs(60);

/// Reads a response: `Some(wait)` when it is a rate-limit refusal, `None` otherwise (a 403 for a
/// missing permission is not a rate limit). `repeat` counts earlier rate-limit refusals of the
/// same call, for the exponential growth of the unhinted secondary wait.
pub fn classify(s: &Signals<'_>, now: OffsetDateTime, repeat: u32) -> Option<Wait> {
    if s.status != 403 && s.status != 429 {
        return None;
    }
    let retry_after = s.retry_after.and_then(|v| v.trim().parse::<u64>().ok());
    let exhausted = s.remaining.map(str::trim) == Some("0");
    let says_so = s.body.to_ascii_lowercase().contains("rate limit");
    if retry_after.is_none() && !exhausted && !says_so && s.status == 403 {
        return None;
    }
    let kind = if exhausted && !s.body.to_ascii_lowercase().contains("secondary") {
        LimitKind::Primary
    } else {
        LimitKind::Secondary
    };
    if let Some(secs) = retry_after {
        return Some(Wait {
            kind,
            wait: Duration::from_secs(secs).min(LONGEST_WAIT),
        });
    }
    if exhausted {
        if let Some(reset) = s.reset.and_then(|v| v.trim().parse::<i64>().ok()) {
            let secs = reset.saturating_sub(now.unix_timestamp()).max(1);
            return Some(Wait {
                kind,
                wait: Duration::from_secs(secs.unsigned_abs()).min(LONGEST_WAIT),
            });
        }
    }
    let factor = 1u64 << repeat.min(6);
    Some(Wait {
        kind,
        wait: SECONDARY_DEFAULT_WAIT.saturating_mul(factor as u32),
    })
}

/// How hard a client tries before it gives a job back to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// The longest single rate-limit wait we sit out inside one call; a longer one is returned as
    /// [`ForgeError::RateLimited`](crate::ForgeError::RateLimited) so the dispatcher can move on.
    pub max_wait: Duration,
    /// First backoff after a transport error or 5xx; doubles each time.
    pub base_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            max_wait: Duration::from_secs(120),
            base_backoff: Duration::from_millis(500),
        }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `attempt + 1` after a transport error or 5xx.
    pub fn backoff(&self, attempt: u32) -> Duration {
        self.base_backoff
            .saturating_mul(1u32 << attempt.min(10))
            .min(self.max_wait)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn absurd_waits_are_capped_not_overflowed() {
        let now = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        for (retry_after, reset) in [
            (Some("99999999999999999"), None),
            (None, Some("9223372036854775807")),
            (None, Some("-9223372036854775808")),
        ] {
            let s = super::Signals {
                status: 403,
                retry_after,
                remaining: Some("0"),
                reset,
                body: "API rate limit exceeded",
            };
            let w = super::classify(&s, now, 0).expect("a rate limit");
            assert!(w.wait <= super::LONGEST_WAIT, "{w:?}");
            assert!(w.wait >= std::time::Duration::from_secs(1), "{w:?}");
        }
    }

    use super::*;

    fn now() -> OffsetDateTime {
        time::macros::datetime!(2030-01-01 12:00:00 UTC)
    }

    fn sig(
        status: u16,
        retry_after: Option<&'static str>,
        remaining: Option<&'static str>,
        reset: Option<&'static str>,
        body: &'static str,
    ) -> Signals<'static> {
        Signals {
            status,
            retry_after,
            remaining,
            reset,
            body,
        }
    }

    // Rows from GitHub's "Rate limits for the REST API" → "Exceeding the rate limit".
    #[test]
    fn github_rules() {
        let reset = (now().unix_timestamp() + 190).to_string();
        let reset: &'static str = Box::leak(reset.into_boxed_str());
        let rows: Vec<(Signals<'static>, u32, Option<Wait>)> = vec![
            // Primary: remaining 0 → wait until reset.
            (
                sig(403, None, Some("0"), Some(reset), "API rate limit exceeded"),
                0,
                Some(Wait {
                    kind: LimitKind::Primary,
                    wait: Duration::from_secs(190),
                }),
            ),
            (
                sig(429, None, Some("0"), Some(reset), ""),
                0,
                Some(Wait {
                    kind: LimitKind::Primary,
                    wait: Duration::from_secs(190),
                }),
            ),
            // Secondary with retry-after: that many seconds.
            (
                sig(
                    403,
                    Some("30"),
                    Some("4000"),
                    None,
                    "You have exceeded a secondary rate limit",
                ),
                0,
                Some(Wait {
                    kind: LimitKind::Secondary,
                    wait: Duration::from_secs(30),
                }),
            ),
            // Secondary without hints: one minute, then exponential.
            (
                sig(
                    403,
                    None,
                    Some("4000"),
                    None,
                    "You have exceeded a secondary rate limit",
                ),
                0,
                Some(Wait {
                    kind: LimitKind::Secondary,
                    wait: Duration::from_secs(60),
                }),
            ),
            (
                sig(403, None, None, None, "secondary rate limit"),
                2,
                Some(Wait {
                    kind: LimitKind::Secondary,
                    wait: Duration::from_secs(240),
                }),
            ),
            // A plain 403 is a permission problem, not a limit.
            (
                sig(
                    403,
                    None,
                    Some("4999"),
                    None,
                    "Resource not accessible by integration",
                ),
                0,
                None,
            ),
            // 429 from a proxy with Retry-After (Gitea behind nginx).
            (
                sig(429, Some("5"), None, None, ""),
                0,
                Some(Wait {
                    kind: LimitKind::Secondary,
                    wait: Duration::from_secs(5),
                }),
            ),
            (sig(500, Some("5"), None, None, ""), 0, None),
            (sig(200, None, Some("0"), None, ""), 0, None),
        ];
        for (s, repeat, want) in rows {
            assert_eq!(classify(&s, now(), repeat), want, "{s:?}");
        }
    }

    #[test]
    fn reset_in_the_past_still_waits_a_second() {
        let s = sig(403, None, Some("0"), Some("1"), "");
        assert_eq!(
            classify(&s, now(), 0).map(|w| w.wait),
            Some(Duration::from_secs(1))
        );
    }

    #[test]
    fn garbage_headers_do_not_panic() {
        let s = sig(429, Some("soon"), Some("x"), Some("y"), "");
        assert_eq!(
            classify(&s, now(), 99).map(|w| w.wait),
            Some(Duration::from_secs(60 * 64))
        );
    }

    #[test]
    fn backoff_is_bounded() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff(0), Duration::from_millis(500));
        assert_eq!(p.backoff(1), Duration::from_secs(1));
        assert_eq!(p.backoff(30), p.max_wait);
    }
}
