//! The API budget scheduler: every call to one forge goes through one [`Scheduler`], which keeps
//! the forge's rate limits for all of them at once instead of letting each call discover them.
//!
//! Rules (GitHub docs, "Rate limits for the REST API" and "Best practices for using the REST
//! API"):
//! - **Few at a time.** At most [`BudgetPolicy::max_in_flight`] calls are in flight per forge:
//!   GitHub's secondary limits forbid many concurrent requests ("no more than 100 concurrent
//!   requests", and "make requests serially instead of concurrently"). When calls wait for a
//!   slot, the higher [`Priority`] goes first, then the older call.
//! - **Stop means stop for everyone.** When the forge refuses a call for a rate limit (primary
//!   limit spent until `x-ratelimit-reset`, or a secondary limit with `retry-after`), the
//!   credential is *blocked until* then: every call on it waits for that instant, or is refused
//!   at once with [`ForgeError::RateLimited`] when it is a [`Priority::Listing`] or the wait is
//!   longer than the caller sits out. GitHub: "continuing to make requests while you are rate
//!   limited may result in the banning of your integration".
//! - **A reserve for runners.** When a credential's remaining primary budget drops below
//!   [`BudgetPolicy::reserve_percent`] of its limit, listings are refused until the window
//!   resets, so what is left mints runner credentials: a job without a runner waits, a listing
//!   skipped only delays reconciliation.
//!
//! The decisions ([`ScopeBudget::decide`], [`order_by_budget`]) are pure and take the time as an
//! argument; [`Scheduler`] is the thin async part (a mutex, a priority queue of waiters, sleeps on
//! the [`Clock`]).

use crate::clock::Clock;
use crate::error::{ForgeError, LimitReason};
use crate::ratelimit::LimitKind;
use crate::types::RateBudget;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::oneshot;

/// How much a call matters when budget or slots are short. Ordered: `Listing < Action <
/// Credential`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Listings and polling (runs, jobs, runners, deliveries): skipped first.
    Listing,
    /// Changes that serve jobs or tidy up (delete a runner, redeliver, read workflow files).
    Action,
    /// What a runner needs to start: JIT configs, registration tokens, installation tokens.
    Credential,
}

impl Priority {
    /// The priority of a call from its method and path, for calls that do not say: runner
    /// registrations and tokens (GitHub `generate-jitconfig`, `…/access_tokens`,
    /// `…/installation`; Gitea `…/registration-token`; Forgejo's `POST …/actions/runners`) are
    /// [`Credential`](Priority::Credential), other reads [`Listing`](Priority::Listing), other
    /// writes [`Action`](Priority::Action).
    pub fn infer(method: &str, path: &str) -> Priority {
        let path = path.split('?').next().unwrap_or_default();
        let credential = path.ends_with("/generate-jitconfig")
            || path.ends_with("/registration-token")
            || path.ends_with("/access_tokens")
            || path.ends_with("/installation")
            || (method == "POST" && path.ends_with("/actions/runners"));
        if credential {
            Priority::Credential
        } else if method == "GET" || method == "HEAD" {
            Priority::Listing
        } else {
            Priority::Action
        }
    }
}

/// The scheduler's bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetPolicy {
    /// Calls in flight at once per forge (`[github] max_concurrent_calls`).
    pub max_in_flight: usize,
    /// Below this share of a credential's primary limit, listings are refused until the reset.
    pub reserve_percent: u64,
}

/// Default of [`BudgetPolicy::max_in_flight`].
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;
/// The reserve when the forge did not say its limit.
pub const RESERVE_WITHOUT_LIMIT: u64 = 100;

impl Default for BudgetPolicy {
    fn default() -> BudgetPolicy {
        BudgetPolicy {
            max_in_flight: DEFAULT_MAX_IN_FLIGHT,
            reserve_percent: 10,
        }
    }
}

impl BudgetPolicy {
    /// Calls kept for credentials out of `limit`.
    pub fn reserve(&self, limit: Option<u64>) -> u64 {
        match limit {
            Some(l) => l.saturating_mul(self.reserve_percent) / 100,
            None => RESERVE_WITHOUT_LIMIT,
        }
    }
}

/// What is known of one credential's budget: its last rate-limit headers and any block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScopeBudget {
    /// `x-ratelimit-remaining` of the last answer.
    pub remaining: Option<u64>,
    /// `x-ratelimit-limit`.
    pub limit: Option<u64>,
    /// `x-ratelimit-reset`.
    pub reset: Option<OffsetDateTime>,
    /// No call before this instant (a rate-limit refusal said so).
    pub blocked_until: Option<OffsetDateTime>,
    /// Which limit set `blocked_until`.
    pub blocked_by: Option<LimitKind>,
}

/// What to do with a call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Send it (once a slot is free).
    Go,
    /// Wait until this instant, then ask again.
    WaitUntil(OffsetDateTime),
    /// Do not send it; the forge would refuse it, or the budget left is kept for credentials.
    Refuse {
        /// When asking again makes sense.
        until: OffsetDateTime,
        /// Why.
        reason: LimitReason,
    },
}

impl ScopeBudget {
    /// Takes in an answer's rate-limit headers. Answers to calls made at the same time may
    /// arrive out of order: within one window (same reset) the lower `remaining` is kept.
    pub fn observe(&mut self, remaining: u64, limit: Option<u64>, reset: Option<OffsetDateTime>) {
        let same_window = reset.is_some() && reset == self.reset;
        if same_window && self.remaining.is_some_and(|r| r < remaining) {
            return;
        }
        self.remaining = Some(remaining);
        self.limit = limit.or(self.limit);
        self.reset = reset.or(self.reset);
    }

    /// The forge refused a call: nothing on this credential before `until`.
    pub fn block(&mut self, until: OffsetDateTime, kind: LimitKind) {
        if self.blocked_until.is_none_or(|t| t < until) {
            self.blocked_until = Some(until);
            self.blocked_by = Some(kind);
        }
    }

    /// Until when this credential is blocked at `now`, if it is: a refusal's wait, or a primary
    /// budget of 0 in a window that has not reset yet.
    pub fn blocked_at(&self, now: OffsetDateTime) -> Option<OffsetDateTime> {
        let refused = self.blocked_until.filter(|t| *t > now);
        let spent = match (self.remaining, self.reset) {
            (Some(0), Some(reset)) if reset > now => Some(reset),
            _ => None,
        };
        refused.max(spent)
    }

    /// Calls left at `now`, as far as is known: `None` when unknown or when the window the last
    /// answer spoke of has reset since.
    pub fn remaining_at(&self, now: OffsetDateTime) -> Option<u64> {
        match self.reset {
            Some(reset) if reset <= now => None,
            _ => self.remaining,
        }
    }

    /// The rule for one call of `priority` at `now`. `free` calls (GitHub's `GET /rate_limit`)
    /// do not spend the primary budget, so neither a spent primary budget nor the reserve holds
    /// them back.
    pub fn decide(
        &self,
        priority: Priority,
        free: bool,
        now: OffsetDateTime,
        policy: &BudgetPolicy,
    ) -> Verdict {
        // A free call is answered while the primary budget is spent ("`GET /rate_limit` does not
        // count against your primary rate limit"); a secondary limit's wait holds it too.
        let blocked = if free {
            self.blocked_until
                .filter(|t| *t > now && self.blocked_by == Some(LimitKind::Secondary))
        } else {
            self.blocked_at(now)
        };
        if let Some(until) = blocked {
            return match priority {
                Priority::Listing => Verdict::Refuse {
                    until,
                    reason: LimitReason::Exhausted,
                },
                _ => Verdict::WaitUntil(until),
            };
        }
        if priority == Priority::Listing && !free {
            if let (Some(remaining), Some(reset)) = (self.remaining_at(now), self.reset) {
                if remaining < policy.reserve(self.limit) {
                    return Verdict::Refuse {
                        until: reset,
                        reason: LimitReason::Reserved {
                            remaining,
                            limit: self.limit,
                        },
                    };
                }
            }
        }
        Verdict::Go
    }

    fn to_rate_budget(&self, scope: &str) -> Option<RateBudget> {
        Some(RateBudget {
            scope: scope.to_string(),
            remaining: self.remaining?,
            limit: self.limit,
            reset_epoch: self.reset.map(OffsetDateTime::unix_timestamp),
        })
    }
}

/// Orders candidate credentials (several GitHub Apps for one organisation) best first: those not
/// blocked before those blocked, then the most calls left; a credential never used yet counts as
/// full (so each gets learnt), ties keep the given order. `None` is a credential with no
/// known budget.
pub fn order_by_budget(candidates: &[Option<&ScopeBudget>], now: OffsetDateTime) -> Vec<usize> {
    let key = |b: Option<&ScopeBudget>| -> (bool, std::cmp::Reverse<u64>) {
        match b {
            None => (false, std::cmp::Reverse(u64::MAX)),
            Some(b) => (
                b.blocked_at(now).is_some(),
                std::cmp::Reverse(b.remaining_at(now).unwrap_or(u64::MAX)),
            ),
        }
    };
    let mut order: Vec<usize> = (0..candidates.len()).collect();
    order.sort_by_key(|i| key(candidates[*i]));
    order
}

/// `core: 4,990/5,000 left, resets at 12:34:56Z`: a budget as an operator reads it.
pub fn describe(b: &RateBudget) -> String {
    let of = b
        .limit
        .map(|l| format!("/{}", crate::error::thousands(l)))
        .unwrap_or_default();
    let reset = b
        .reset_epoch
        .and_then(|e| OffsetDateTime::from_unix_timestamp(e).ok())
        .map(|t| format!(", resets at {}", crate::error::clock_time(t)))
        .unwrap_or_default();
    format!(
        "core: {}{of} left{reset}",
        crate::error::thousands(b.remaining)
    )
}

/// One forge's scheduler: budgets per credential and the slots for calls in flight.
#[derive(Debug)]
pub(crate) struct Scheduler {
    forge: &'static str,
    policy: BudgetPolicy,
    clock: Arc<dyn Clock>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    scopes: BTreeMap<String, ScopeBudget>,
    in_flight: usize,
    waiters: Vec<Waiter>,
    next_seq: u64,
}

#[derive(Debug)]
struct Waiter {
    priority: Priority,
    seq: u64,
    tx: oneshot::Sender<Slot>,
}

/// A place among the calls in flight; given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot {
    owner: Option<Arc<Scheduler>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(s) = self.owner.take() {
            s.release();
        }
    }
}

impl Scheduler {
    pub(crate) fn new(
        forge: &'static str,
        policy: BudgetPolicy,
        clock: Arc<dyn Clock>,
    ) -> Arc<Scheduler> {
        Arc::new(Scheduler {
            forge,
            policy: BudgetPolicy {
                max_in_flight: policy.max_in_flight.max(1),
                ..policy
            },
            clock,
            inner: Mutex::new(Inner::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits until a call of `priority` on `scope` may be sent and holds a slot for it; refuses it
    /// when the forge would, or when it would wait longer than `max_wait`.
    pub(crate) async fn admit(
        self: &Arc<Self>,
        scope: &str,
        priority: Priority,
        free: bool,
        max_wait: Duration,
    ) -> Result<Slot, ForgeError> {
        loop {
            self.wait_turn(scope, priority, free, max_wait).await?;
            let slot = self.slot(priority).await;
            // The credential may have been blocked while this call queued for its slot.
            let now = self.clock.now();
            if self.verdict(scope, priority, free, now) == Verdict::Go {
                return Ok(slot);
            }
        }
    }

    async fn wait_turn(
        &self,
        scope: &str,
        priority: Priority,
        free: bool,
        max_wait: Duration,
    ) -> Result<(), ForgeError> {
        loop {
            let now = self.clock.now();
            let (until, reason) = match self.verdict(scope, priority, free, now) {
                Verdict::Go => return Ok(()),
                Verdict::Refuse { until, reason } => (until, reason),
                Verdict::WaitUntil(until) if until - now <= max_wait => {
                    let wait = Duration::try_from(until - now).unwrap_or_default();
                    tracing::info!(
                        forge = self.forge,
                        scope,
                        wait_s = wait.as_secs(),
                        ?priority,
                        "rate limited, waiting"
                    );
                    self.clock.sleep(wait).await;
                    continue;
                }
                Verdict::WaitUntil(until) => (until, LimitReason::Exhausted),
            };
            return Err(ForgeError::RateLimited {
                forge: self.forge,
                scope: scope.to_string(),
                until,
                reason,
            });
        }
    }

    fn verdict(&self, scope: &str, priority: Priority, free: bool, now: OffsetDateTime) -> Verdict {
        let inner = self.lock();
        match inner.scopes.get(scope) {
            Some(b) => b.decide(priority, free, now, &self.policy),
            None => Verdict::Go,
        }
    }

    async fn slot(self: &Arc<Self>, priority: Priority) -> Slot {
        let rx = {
            let mut inner = self.lock();
            if inner.in_flight < self.policy.max_in_flight {
                inner.in_flight += 1;
                return Slot {
                    owner: Some(self.clone()),
                };
            }
            let (tx, rx) = oneshot::channel();
            let seq = inner.next_seq;
            inner.next_seq += 1;
            inner.waiters.push(Waiter { priority, seq, tx });
            rx
        };
        match rx.await {
            Ok(slot) => slot,
            // Unreachable: a waiter's sender is only dropped after sending. Take a fresh place
            // rather than panic.
            Err(_) => {
                self.lock().in_flight += 1;
                Slot {
                    owner: Some(self.clone()),
                }
            }
        }
    }

    /// Hands a freed slot to the waiter of highest priority (the oldest among equals), or frees it.
    fn release(self: Arc<Self>) {
        loop {
            let next = {
                let mut inner = self.lock();
                let best = inner
                    .waiters
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, w)| (w.priority, std::cmp::Reverse(w.seq)))
                    .map(|(i, _)| i);
                match best {
                    Some(i) => inner.waiters.swap_remove(i),
                    None => {
                        inner.in_flight = inner.in_flight.saturating_sub(1);
                        return;
                    }
                }
            };
            let slot = Slot {
                owner: Some(self.clone()),
            };
            match next.tx.send(slot) {
                Ok(()) => return,
                // That waiter gave up (its call was dropped): the slot goes to the next one.
                Err(mut slot) => {
                    slot.owner = None;
                }
            }
        }
    }

    /// Takes in the rate-limit headers of an answer on `scope`.
    pub(crate) fn observe(
        &self,
        scope: &str,
        remaining: u64,
        limit: Option<u64>,
        reset: Option<OffsetDateTime>,
    ) {
        let mut inner = self.lock();
        inner
            .scopes
            .entry(scope.to_string())
            .or_default()
            .observe(remaining, limit, reset);
    }

    /// The forge refused a call on `scope` until `until`.
    pub(crate) fn block(&self, scope: &str, until: OffsetDateTime, kind: LimitKind) {
        let mut inner = self.lock();
        inner
            .scopes
            .entry(scope.to_string())
            .or_default()
            .block(until, kind);
    }

    /// What is known of `scope`.
    pub(crate) fn budget(&self, scope: &str) -> Option<ScopeBudget> {
        self.lock().scopes.get(scope).cloned()
    }

    /// The last budget seen per scope (scopes whose answers carried rate-limit headers).
    pub(crate) fn budgets(&self) -> Vec<RateBudget> {
        let inner = self.lock();
        inner
            .scopes
            .iter()
            .filter_map(|(scope, b)| b.to_rate_budget(scope))
            .collect()
    }

    pub(crate) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }
}

#[cfg(test)]
#[path = "budget_tests.rs"]
mod tests;
