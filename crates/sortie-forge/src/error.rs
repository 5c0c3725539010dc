//! [`ForgeError`]: every way a forge call fails, in words an operator can act on.

use sortie_core::event::EventError;
use time::OffsetDateTime;

/// Why a forge call failed. Each message says what went wrong and what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum ForgeError {
    /// The forge's rate limit is exhausted beyond what we are willing to wait in one call, or
    /// (for a listing) the budget left is kept for runner credentials.
    #[error("{}", rate_limited(forge, scope, *until, reason))]
    RateLimited {
        /// `GitHub`, `Gitea` or `Forgejo`.
        forge: &'static str,
        /// Whose budget: `installation 42`, `personal access token`, `app`.
        scope: String,
        /// When the forge will accept calls again.
        until: OffsetDateTime,
        /// Spent, or kept back.
        reason: LimitReason,
    },
    /// 401: the credentials are wrong, expired or revoked.
    #[error("{forge} refused our credentials (HTTP 401) for {what}: {message}. Check the configured token, or the GitHub App id and private key")]
    Unauthorized {
        /// Forge name.
        forge: &'static str,
        /// The operation, e.g. `POST /repos/o/r/actions/runners/generate-jitconfig`.
        what: String,
        /// The forge's own message.
        message: String,
    },
    /// 403 that is not a rate limit: the credential lacks a permission.
    #[error("{forge} denied {what} (HTTP 403): {message}. Grant the App/token the permission this needs (runners: administration write; workflows: contents read)")]
    Forbidden {
        /// Forge name.
        forge: &'static str,
        /// The operation.
        what: String,
        /// The forge's own message.
        message: String,
    },
    /// 404: the repository, file, installation or runner does not exist, or is invisible to us.
    #[error("{forge} has no {what} (HTTP 404); check the name, and that the App is installed on / the token can see it")]
    NotFound {
        /// Forge name.
        forge: &'static str,
        /// What was looked up.
        what: String,
    },
    /// Any other non-success status.
    #[error("{forge} answered HTTP {status} to {what}: {message}")]
    Api {
        /// Forge name.
        forge: &'static str,
        /// HTTP status.
        status: u16,
        /// The operation.
        what: String,
        /// The forge's own message.
        message: String,
    },
    /// The forge could not be reached (DNS, TCP, TLS, timeout) after retries.
    #[error("cannot reach {forge} at {url}: {message}; check the configured URL and the network, jobs stay queued")]
    Unreachable {
        /// Forge name.
        forge: &'static str,
        /// The URL called.
        url: String,
        /// The transport error.
        message: String,
    },
    /// The forge answered 2xx with a body we could not read.
    #[error("{forge} sent an unexpected answer to {what}: {message}; is the API URL right (GitHub Enterprise: https://HOST/api/v3)?")]
    BadResponse {
        /// Forge name.
        forge: &'static str,
        /// The operation.
        what: String,
        /// What was wrong with it.
        message: String,
    },
    /// The forge cannot do what was asked (e.g. an organisation runner on a user account).
    #[error("{forge} does not support {what}")]
    Unsupported {
        /// Forge name.
        forge: &'static str,
        /// The missing capability, and what to configure instead.
        what: String,
    },
    /// Our own configuration is unusable (bad private key, bad URL, bad repository name).
    #[error("forge configuration error: {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The webhook payload could not be used.
    #[error(transparent)]
    Event(#[from] EventError),
}

impl ForgeError {
    /// True when calling again later may succeed (rate limit, outage, 5xx), so the job stays
    /// queued; false when a person has to change something first.
    pub fn is_transient(&self) -> bool {
        match self {
            ForgeError::RateLimited { .. } | ForgeError::Unreachable { .. } => true,
            ForgeError::Api { status, .. } => *status >= 500 || *status == 429,
            _ => false,
        }
    }
}

/// Why a call was not made: see [`ForgeError::RateLimited`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitReason {
    /// The forge refused calls on this credential until then (primary budget spent, or a
    /// secondary limit's wait).
    Exhausted,
    /// A listing skipped because the primary budget left is below the reserve kept for runner
    /// credentials (see [`crate::budget`]).
    Reserved {
        /// Calls left.
        remaining: u64,
        /// Calls per window, when the forge said.
        limit: Option<u64>,
    },
}

fn rate_limited(forge: &str, scope: &str, until: OffsetDateTime, reason: &LimitReason) -> String {
    let until = clock_time(until);
    match reason {
        LimitReason::Exhausted => format!(
            "{forge} rate limit exhausted until {until} ({scope}); jobs stay queued and are retried"
        ),
        LimitReason::Reserved { remaining, limit } => {
            let of = limit
                .map(|l| format!(" of {}", thousands(l)))
                .unwrap_or_default();
            format!(
                "{forge} listing skipped: {scope} has {}{of} calls left until {until}, kept for \
                 runner credentials; listings resume after the reset",
                thousands(*remaining)
            )
        }
    }
}

/// `4,990`: a count as people read it.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `12:03:10Z` for today, `2026-05-01 12:03:10Z` otherwise: short, unambiguous, UTC.
pub fn clock_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let fmt = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second]Z");
    let short = time::macros::format_description!("[hour]:[minute]:[second]Z");
    let today = OffsetDateTime::now_utc().date();
    let f = if t.date() == today { short } else { fmt };
    t.format(f).unwrap_or_else(|_| t.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_message_reads_well() {
        let until = OffsetDateTime::now_utc().replace_time(time::macros::time!(12:03:10));
        let e = ForgeError::RateLimited {
            forge: "GitHub",
            scope: "installation 42".into(),
            until,
            reason: LimitReason::Exhausted,
        };
        assert_eq!(
            e.to_string(),
            "GitHub rate limit exhausted until 12:03:10Z (installation 42); jobs stay queued and are retried"
        );
        assert!(e.is_transient());
    }

    #[test]
    fn a_skipped_listing_says_the_budget_is_kept_for_runners() {
        let e = ForgeError::RateLimited {
            forge: "GitHub",
            scope: "installation 42".into(),
            until: time::macros::datetime!(2030-01-02 03:04:05 UTC),
            reason: LimitReason::Reserved {
                remaining: 420,
                limit: Some(5000),
            },
        };
        assert_eq!(
            e.to_string(),
            "GitHub listing skipped: installation 42 has 420 of 5,000 calls left until \
             2030-01-02 03:04:05Z, kept for runner credentials; listings resume after the reset"
        );
        assert!(e.is_transient());
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    #[test]
    fn other_days_show_the_date() {
        let until = time::macros::datetime!(2030-01-02 03:04:05 UTC);
        assert_eq!(clock_time(until), "2030-01-02 03:04:05Z");
    }

    #[test]
    fn permission_errors_are_not_transient() {
        let e = ForgeError::Forbidden {
            forge: "GitHub",
            what: "x".into(),
            message: "y".into(),
        };
        assert!(!e.is_transient());
        assert!(ForgeError::Api {
            forge: "Gitea",
            status: 502,
            what: "x".into(),
            message: "".into()
        }
        .is_transient());
    }
}
