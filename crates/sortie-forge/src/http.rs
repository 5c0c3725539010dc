//! The one HTTP path every forge call takes: authentication header, the budget scheduler
//! ([`crate::budget`]: slots, shared rate-limit blocks, priorities), bounded retries of transport
//! errors and 5xx, and mapping of failures to [`ForgeError`].

use crate::budget::{BudgetPolicy, Priority, Scheduler};
use crate::clock::Clock;
use crate::error::ForgeError;
use crate::ratelimit::{classify, RetryPolicy, Signals};
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde::de::DeserializeOwned;
use std::sync::Arc;

/// A REST API at one base URL.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    client: reqwest::Client,
    base: String,
    pub(crate) forge: &'static str,
    pub(crate) clock: Arc<dyn Clock>,
    policy: RetryPolicy,
    accept: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    /// Every call of this forge goes through it; it keeps the budget of each call scope.
    scheduler: Arc<Scheduler>,
}

/// One request.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: Method,
    /// Path below the base URL, starting with `/`, query included.
    pub path: String,
    pub body: Option<serde_json::Value>,
    /// The whole `Authorization` header value.
    pub auth: Option<String>,
    /// Whose rate-limit budget this spends, for messages (`installation 42`).
    pub scope: String,
    /// `If-None-Match`: the `ETag` of the copy we hold, for a conditional request (GitHub docs,
    /// "Best practices for using the REST API" → "Use conditional requests if appropriate": a
    /// `304 Not Modified` does not count against the primary rate limit).
    pub if_none_match: Option<String>,
    /// How much it matters when budget or slots are short (default: [`Priority::infer`]).
    pub priority: Priority,
    /// It does not spend the primary budget (GitHub's `GET /rate_limit`).
    pub free: bool,
}

impl Call {
    pub fn new(method: Method, path: impl Into<String>) -> Call {
        let path = path.into();
        Call {
            priority: Priority::infer(method.as_str(), &path),
            method,
            path,
            body: None,
            auth: None,
            scope: "token".into(),
            if_none_match: None,
            free: false,
        }
    }
    /// Sets the priority.
    pub fn priority(mut self, priority: Priority) -> Call {
        self.priority = priority;
        self
    }
    pub fn body(mut self, body: serde_json::Value) -> Call {
        self.body = Some(body);
        self
    }
    pub fn auth(mut self, auth: &Auth) -> Call {
        self.auth = Some(auth.header.clone());
        self.scope = auth.scope.clone();
        self
    }
    /// `GET /repos/o/r/contents/x` — method and path without the query, for messages.
    pub fn what(&self) -> String {
        let path = self.path.split('?').next().unwrap_or_default();
        format!("{} {path}", self.method)
    }
}

/// An `Authorization` header value and whose budget it spends.
#[derive(Clone)]
pub(crate) struct Auth {
    pub header: String,
    pub scope: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Auth({}, <redacted>)", self.scope)
    }
}

/// A response that was not a rate-limit refusal.
#[derive(Debug)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    /// `X-Total-Count` (Gitea/Forgejo list endpoints).
    pub total_count: Option<u64>,
    /// `ETag`, for a later conditional request.
    pub etag: Option<String>,
    /// `Link` (RFC 8288): GitHub's pagination (`rel="next"`).
    pub link: Option<String>,
}

impl Api {
    pub fn new(
        base: &str,
        forge: &'static str,
        clock: Arc<dyn Clock>,
        policy: RetryPolicy,
    ) -> Result<Api, ForgeError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("sortie/", env!("CARGO_PKG_VERSION")))
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| ForgeError::Config {
                message: format!("cannot build an HTTP client: {e}"),
            })?;
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(ForgeError::Config {
                message: format!("{forge} API URL {base:?} must start with https:// (or http://)"),
            });
        }
        let base = base.trim_end_matches('/').to_string();
        Ok(Api {
            client,
            base,
            forge,
            scheduler: Scheduler::new(forge, BudgetPolicy::default(), clock.clone()),
            clock,
            policy,
            accept: "application/json",
            headers: Vec::new(),
        })
    }

    /// Sets the scheduler's bounds (a fresh scheduler: call while building the client).
    pub fn with_budget(mut self, policy: BudgetPolicy) -> Api {
        self.scheduler = Scheduler::new(self.forge, policy, self.clock.clone());
        self
    }

    /// The scheduler every call of this API goes through.
    pub fn scheduler(&self) -> &Scheduler {
        &self.scheduler
    }

    /// Sets the `Accept` header sent with every call.
    pub fn with_accept(mut self, accept: &'static str) -> Api {
        self.accept = accept;
        self
    }

    /// Adds a header sent with every call.
    pub fn with_header(mut self, name: &'static str, value: &'static str) -> Api {
        self.headers.push((name, value));
        self
    }

    /// Sends `call` through the scheduler (which sits out the credential's rate-limit block up to
    /// the policy's bound, or refuses a listing at once), retrying transport errors and
    /// 502/503/504. Any other answer, success or not, is returned.
    pub async fn send(&self, call: &Call) -> Result<Reply, ForgeError> {
        let url = format!("{}{}", self.base, call.path);
        let mut limited = 0u32;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let last = attempt >= self.policy.max_attempts;
            let slot = self
                .scheduler
                .admit(&call.scope, call.priority, call.free, self.policy.max_wait)
                .await?;
            let sent = self.request(&url, call).send().await;
            let resp = match sent {
                Ok(r) => r,
                Err(e) if !last => {
                    drop(slot);
                    tracing::warn!(forge = self.forge, url = %url, error = %e, "forge unreachable, retrying");
                    self.clock.sleep(self.policy.backoff(attempt - 1)).await;
                    continue;
                }
                Err(e) => {
                    return Err(ForgeError::Unreachable {
                        forge: self.forge,
                        url,
                        message: e.to_string(),
                    })
                }
            };
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            self.note_budget(&call.scope, &headers);
            let body = resp.bytes().await.map(|b| b.to_vec()).unwrap_or_default();
            drop(slot);
            if let Some(wait) = self.rate_limited(status, &headers, &body, limited) {
                // Every call on this credential now waits for (or is refused until) `until`;
                // this one asks the scheduler again on its next attempt.
                let until = self.clock.now() + wait.wait;
                self.scheduler.block(&call.scope, until, wait.kind);
                tracing::warn!(forge = self.forge, scope = %call.scope, wait_s = wait.wait.as_secs(), kind = ?wait.kind, "rate limited");
                if last || wait.wait > self.policy.max_wait {
                    return Err(ForgeError::RateLimited {
                        forge: self.forge,
                        scope: call.scope.clone(),
                        until,
                        reason: crate::error::LimitReason::Exhausted,
                    });
                }
                limited += 1;
                continue;
            }
            if matches!(status, 502..=504) && !last {
                self.clock.sleep(self.policy.backoff(attempt - 1)).await;
                continue;
            }
            let total_count = header(&headers, "x-total-count").and_then(|v| v.parse().ok());
            return Ok(Reply {
                status,
                body,
                total_count,
                etag: header(&headers, "etag").map(String::from),
                link: header(&headers, "link").map(String::from),
            });
        }
    }

    /// Hands the primary (`core`) rate-limit headers of an answer for `scope` to the scheduler.
    /// Other resources (`search`, `graphql`) have budgets of their own that sortie does not use.
    fn note_budget(&self, scope: &str, headers: &HeaderMap) {
        let Some(remaining) =
            header(headers, "x-ratelimit-remaining").and_then(|v| v.trim().parse::<u64>().ok())
        else {
            return;
        };
        if header(headers, "x-ratelimit-resource").is_some_and(|r| r.trim() != "core") {
            return;
        }
        let limit = header(headers, "x-ratelimit-limit").and_then(|v| v.trim().parse().ok());
        let reset = header(headers, "x-ratelimit-reset")
            .and_then(|v| v.trim().parse::<i64>().ok())
            .and_then(|e| time::OffsetDateTime::from_unix_timestamp(e).ok());
        self.scheduler.observe(scope, remaining, limit, reset);
    }

    /// The last rate-limit budget seen per scope.
    pub fn budgets(&self) -> Vec<crate::types::RateBudget> {
        self.scheduler.budgets()
    }

    fn request(&self, url: &str, call: &Call) -> reqwest::RequestBuilder {
        let mut req = self
            .client
            .request(call.method.clone(), url)
            .header("Accept", self.accept);
        for (k, v) in &self.headers {
            req = req.header(*k, *v);
        }
        if let Some(auth) = &call.auth {
            req = req.header("Authorization", auth);
        }
        if let Some(etag) = &call.if_none_match {
            req = req.header("If-None-Match", etag);
        }
        if let Some(body) = &call.body {
            req = req
                .header("Content-Type", "application/json")
                .body(body.to_string());
        }
        req
    }

    fn rate_limited(
        &self,
        status: u16,
        headers: &HeaderMap,
        body: &[u8],
        repeat: u32,
    ) -> Option<crate::ratelimit::Wait> {
        let body = String::from_utf8_lossy(body);
        let signals = Signals {
            status,
            retry_after: header(headers, "retry-after"),
            remaining: header(headers, "x-ratelimit-remaining"),
            reset: header(headers, "x-ratelimit-reset"),
            body: &body,
        };
        classify(&signals, self.clock.now(), repeat)
    }

    /// Sends `call` and decodes a 2xx JSON answer; maps every other status to a [`ForgeError`].
    pub async fn json<T: DeserializeOwned>(&self, call: &Call) -> Result<T, ForgeError> {
        let reply = self.send(call).await?;
        self.decode(call, reply)
    }

    /// Decodes a 2xx answer, or maps the status to an error.
    pub fn decode<T: DeserializeOwned>(&self, call: &Call, reply: Reply) -> Result<T, ForgeError> {
        if !(200..300).contains(&reply.status) {
            return Err(self.error(call, &reply));
        }
        serde_json::from_slice(&reply.body).map_err(|e| ForgeError::BadResponse {
            forge: self.forge,
            what: call.what(),
            message: e.to_string(),
        })
    }

    /// The error for a non-success reply.
    pub fn error(&self, call: &Call, reply: &Reply) -> ForgeError {
        let forge = self.forge;
        let what = call.what();
        let message = forge_message(&reply.body);
        match reply.status {
            401 => ForgeError::Unauthorized {
                forge,
                what,
                message,
            },
            403 => ForgeError::Forbidden {
                forge,
                what,
                message,
            },
            404 => ForgeError::NotFound { forge, what },
            status => ForgeError::Api {
                forge,
                status,
                what,
                message,
            },
        }
    }
}

fn header<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The forge's `message` field, or the start of the body.
fn forge_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Msg {
        message: String,
    }
    if let Ok(m) = serde_json::from_slice::<Msg>(body) {
        return m.message;
    }
    let text = String::from_utf8_lossy(body);
    let mut s: String = text.chars().take(200).collect();
    if s.is_empty() {
        s = "(empty body)".into();
    }
    s
}

/// Percent-encodes one path segment or query value (RFC 3986 unreserved characters pass).
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a repository path, keeping its `/` separators.
pub(crate) fn enc_path(path: &str) -> String {
    path.split('/').map(enc).collect::<Vec<_>>().join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        assert_eq!(enc("a b/c"), "a%20b%2Fc");
        assert_eq!(
            enc_path(".gitea/workflows/a b.yml"),
            ".gitea/workflows/a%20b.yml"
        );
        assert_eq!(enc("feature/x"), "feature%2Fx");
    }

    #[test]
    fn messages() {
        assert_eq!(
            forge_message(br#"{"message":"Bad credentials"}"#),
            "Bad credentials"
        );
        assert_eq!(forge_message(b""), "(empty body)");
        assert_eq!(forge_message(b"oops"), "oops");
    }
}
