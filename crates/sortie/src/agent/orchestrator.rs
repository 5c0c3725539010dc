//! The agent's side of the protocol in [`sortie_core::agent`]: the one-time bootstrap exchange
//! (retried with capped exponential backoff and jitter until the machine's lifetime runs out) and
//! phase reports.

use super::token::BootstrapToken;
use anyhow::{Context, Result};
use sortie_core::agent::{
    AgentConfig, AgentPhase, AgentReport, ReportAnswer, BOOTSTRAP_PATH, REPORT_PATH,
};
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;
use tokio::time::Instant;

/// Time limit of one HTTP exchange with the orchestrator.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// First retry delay; doubles per attempt up to [`BACKOFF_CAP`].
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Longest wait between two attempts.
const BACKOFF_CAP: Duration = Duration::from_secs(30);
/// How long a phase report (other than `finished`) is retried: the runner's job matters more.
const PHASE_RETRY_LIMIT: Duration = Duration::from_secs(60);

/// Why the bootstrap exchange ended without a configuration. Messages never carry the token.
#[derive(Debug)]
pub(crate) enum ExchangeError {
    /// 401: the orchestrator does not know the token.
    BadToken,
    /// 410: the token was exchanged already (by this machine earlier, or by someone else).
    TokenUsed,
    /// Another answer that retrying cannot fix (4xx, or a body that is not an `AgentConfig`).
    Refused(String),
    /// The orchestrator stayed unreachable (or kept failing) until the lifetime limit.
    GaveUp(String),
}

impl std::fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExchangeError::BadToken => f.write_str(
                "the orchestrator refused the bootstrap token (401): it is not a token it issued, or it expired; giving up",
            ),
            ExchangeError::TokenUsed => f.write_str(
                "the bootstrap token was already used (410 Gone); this machine will not run a job",
            ),
            ExchangeError::Refused(why) => write!(f, "the bootstrap exchange failed: {why}"),
            ExchangeError::GaveUp(last) => write!(
                f,
                "could not reach the orchestrator before the lifetime limit (last error: {last})"
            ),
        }
    }
}

/// How one report attempt went.
#[derive(Debug)]
enum ReportError {
    /// Worth retrying: connection error, timeout, 5xx, 408, 429.
    Transient(String),
    /// The orchestrator refused the session (401, 403, 410): the job is over for this machine.
    SessionGone(u16),
    /// Any other refusal; retrying will not help.
    Refused(String),
}

/// An HTTP client for one orchestrator.
pub(crate) struct Orchestrator {
    http: reqwest::Client,
    base: String,
}

impl Orchestrator {
    /// A client for `base_url` (`https://ci.example.com`).
    pub(crate) fn new(base_url: &str) -> Result<Self> {
        let base = base_url.trim_end_matches('/').to_owned();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            return Err(crate::UsageError(format!(
                "--url / SORTIE_URL {base_url:?} must be an http(s) URL"
            ))
            .into());
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("sortie-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Orchestrator { http, base })
    }

    /// Exchanges the bootstrap token for the job's configuration. Retries connection errors and
    /// 5xx with capped exponential backoff and jitter until `deadline`; 401 and 410 end at once.
    pub(crate) async fn bootstrap(
        &self,
        token: &BootstrapToken,
        deadline: Instant,
    ) -> Result<AgentConfig, ExchangeError> {
        let url = format!("{}{BOOTSTRAP_PATH}", self.base);
        let mut attempt = 0u32;
        loop {
            let last = match self.bootstrap_once(&url, token).await {
                Ok(config) => return Ok(config),
                Err(Attempt::Final(err)) => return Err(err),
                Err(Attempt::Retry(why)) => why,
            };
            let delay = backoff_delay(attempt, random_u64());
            attempt = attempt.saturating_add(1);
            if Instant::now() + delay >= deadline {
                tokio::time::sleep_until(deadline).await;
                return Err(ExchangeError::GaveUp(last));
            }
            tracing::warn!(
                "bootstrap attempt {attempt} failed ({last}); retrying in {} ms",
                delay.as_millis()
            );
            tokio::time::sleep(delay).await;
        }
    }

    async fn bootstrap_once(
        &self,
        url: &str,
        token: &BootstrapToken,
    ) -> Result<AgentConfig, Attempt> {
        let response = self
            .http
            .post(url)
            .bearer_auth(token.expose())
            .send()
            .await
            .map_err(|e| Attempt::Retry(describe(&e)))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => {
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| Attempt::Retry(describe(&e)))?;
                // The token is spent now: a body we cannot read is final.
                serde_json::from_slice(&body).map_err(|e| {
                    Attempt::Final(ExchangeError::Refused(format!(
                        "the answer is not an agent configuration ({e}); is this sortie build older than the orchestrator?"
                    )))
                })
            }
            401 => Err(Attempt::Final(ExchangeError::BadToken)),
            410 => Err(Attempt::Final(ExchangeError::TokenUsed)),
            s if is_transient(s) => Err(Attempt::Retry(format!("HTTP {s}"))),
            s => Err(Attempt::Final(ExchangeError::Refused(format!(
                "HTTP {s} from {url}: is --url the orchestrator's base URL?"
            )))),
        }
    }

    async fn report_once(
        &self,
        session_token: &str,
        report: &AgentReport,
    ) -> Result<ReportAnswer, ReportError> {
        let url = format!("{}{REPORT_PATH}", self.base);
        let body = serde_json::to_vec(report).map_err(|e| ReportError::Refused(e.to_string()))?;
        let response = self
            .http
            .post(&url)
            .bearer_auth(session_token)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| ReportError::Transient(describe(&e)))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => {
                let body = response
                    .bytes()
                    .await
                    .map_err(|e| ReportError::Transient(describe(&e)))?;
                // An empty body means "carry on".
                if body.iter().all(u8::is_ascii_whitespace) {
                    return Ok(ReportAnswer::default());
                }
                serde_json::from_slice(&body)
                    .map_err(|e| ReportError::Refused(format!("unreadable answer: {e}")))
            }
            401 | 403 | 410 => Err(ReportError::SessionGone(status)),
            s if is_transient(s) => Err(ReportError::Transient(format!("HTTP {s}"))),
            s => Err(ReportError::Refused(format!("HTTP {s}"))),
        }
    }
}

enum Attempt {
    Retry(String),
    Final(ExchangeError),
}

fn is_transient(status: u16) -> bool {
    status >= 500 || status == 408 || status == 429
}

/// A reqwest error without its URL's query (there is none) and without headers (never printed).
fn describe(err: &reqwest::Error) -> String {
    let kind = if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    match std::error::Error::source(err) {
        Some(source) => format!("{kind}: {source}"),
        None => kind.to_owned(),
    }
}

/// The delay before retry number `attempt + 1`: "equal jitter" — half of the capped exponential
/// delay, plus a random part of the other half, so a fleet of machines booting together does not
/// retry in lockstep.
pub(crate) fn backoff_delay(attempt: u32, random: u64) -> Duration {
    let exp = BACKOFF_BASE
        .saturating_mul(1u32.checked_shl(attempt.min(20)).unwrap_or(u32::MAX))
        .min(BACKOFF_CAP);
    let half = exp / 2;
    let half_ms = u64::try_from(half.as_millis()).unwrap_or(u64::MAX);
    half + Duration::from_millis(random % half_ms.saturating_add(1))
}

/// A random number from the standard library's per-process random hash keys (no extra crate).
fn random_u64() -> u64 {
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(u64::from(std::process::id()));
    hasher.finish()
}

/// What the supervisor learns from a report.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Answer {
    /// End now: the orchestrator says the job is over (or refused our session).
    pub(crate) stop: bool,
}

/// Sends phase reports for one session. Reports never fail the agent: a report that cannot be
/// delivered is logged and skipped, since the runner's job matters more than our bookkeeping.
pub(crate) struct Reporter {
    orchestrator: Orchestrator,
    session_token: String,
    started: Instant,
}

impl Reporter {
    /// A reporter with the session token from the bootstrap; `started` is when the agent began.
    pub(crate) fn new(orchestrator: Orchestrator, session_token: &str, started: Instant) -> Self {
        Reporter {
            orchestrator,
            session_token: session_token.to_owned(),
            started,
        }
    }

    /// Reports `phase`, retrying transient failures for up to a minute (never past `deadline`).
    pub(crate) async fn phase(&self, phase: AgentPhase, deadline: Instant) -> Answer {
        let deadline = deadline.min(Instant::now() + PHASE_RETRY_LIMIT);
        self.send(self.report(phase, None, None), deadline).await
    }

    /// One heartbeat attempt, no retry: the next heartbeat is the retry.
    pub(crate) async fn heartbeat(&self) -> Answer {
        let report = self.report(AgentPhase::Heartbeat, None, None);
        self.send(report, Instant::now()).await
    }

    /// Reports `finished` with the runner's exit code and a note.
    pub(crate) async fn finished(
        &self,
        exit_code: Option<i32>,
        message: Option<&str>,
        deadline: Instant,
    ) -> Answer {
        let report = self.report(AgentPhase::Finished, exit_code, message);
        self.send(report, deadline).await
    }

    fn report(
        &self,
        phase: AgentPhase,
        exit_code: Option<i32>,
        message: Option<&str>,
    ) -> AgentReport {
        AgentReport {
            phase,
            exit_code,
            elapsed_ms: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            message: message.map(str::to_owned),
        }
    }

    async fn send(&self, report: AgentReport, deadline: Instant) -> Answer {
        let phase = report.phase.as_str();
        let mut attempt = 0u32;
        loop {
            let err = match self
                .orchestrator
                .report_once(&self.session_token, &report)
                .await
            {
                Ok(answer) => {
                    tracing::debug!(phase, stop = answer.stop, "reported");
                    return Answer { stop: answer.stop };
                }
                Err(ReportError::SessionGone(status)) => {
                    tracing::warn!(
                        phase,
                        "the orchestrator refused this machine's session (HTTP {status}); ending the job"
                    );
                    return Answer { stop: true };
                }
                Err(ReportError::Refused(why)) => {
                    tracing::warn!(phase, "report refused: {why}");
                    return Answer::default();
                }
                Err(ReportError::Transient(why)) => why,
            };
            let delay = backoff_delay(attempt, random_u64());
            attempt = attempt.saturating_add(1);
            if Instant::now() + delay >= deadline {
                tracing::warn!(phase, "report not delivered: {err}");
                return Answer::default();
            }
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jitters_within_bounds() {
        // Without randomness the delay is half the exponential step.
        assert_eq!(backoff_delay(0, 0), Duration::from_millis(250));
        assert_eq!(backoff_delay(1, 0), Duration::from_millis(500));
        assert_eq!(backoff_delay(3, 0), Duration::from_secs(2));
        for attempt in [0, 1, 5, 10, 31, 1000] {
            for random in [0, 1, 12345, u64::MAX] {
                let d = backoff_delay(attempt, random);
                assert!(d <= BACKOFF_CAP, "{attempt} {random} {d:?}");
                assert!(d >= backoff_delay(attempt, 0), "{attempt} {random} {d:?}");
            }
        }
        assert_eq!(backoff_delay(1000, 0), BACKOFF_CAP / 2);
        assert_ne!(backoff_delay(10, 1), backoff_delay(10, 2));
    }

    #[test]
    fn exchange_errors_say_what_happened() {
        assert!(ExchangeError::TokenUsed.to_string().contains("410"));
        assert!(ExchangeError::BadToken.to_string().contains("401"));
        assert!(ExchangeError::GaveUp("cannot connect".into())
            .to_string()
            .contains("lifetime"));
    }

    #[test]
    fn url_must_be_http() {
        assert!(Orchestrator::new("ci.example.com").is_err());
        assert!(Orchestrator::new("https://ci.example.com/").is_ok());
    }
}
