//! The scheduler's rules with a controlled clock; rows cite GitHub's "Rate limits for the REST
//! API" where they mirror it.

use super::*;
use crate::clock::ManualClock;

const T0: OffsetDateTime = time::macros::datetime!(2030-01-01 12:00:00 UTC);

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn budget(remaining: u64, limit: u64, reset_in: u64) -> ScopeBudget {
    let mut b = ScopeBudget::default();
    b.observe(remaining, Some(limit), Some(T0 + secs(reset_in)));
    b
}

#[test]
fn priorities_of_calls_that_do_not_say() {
    let rows = [
        // GitHub: JIT config, installation token, installation lookup.
        (
            "POST",
            "/orgs/acme/actions/runners/generate-jitconfig",
            Priority::Credential,
        ),
        (
            "POST",
            "/app/installations/42/access_tokens",
            Priority::Credential,
        ),
        ("GET", "/repos/acme/app/installation", Priority::Credential),
        // Gitea: registration token; Forgejo ≥ 15: ephemeral runner registration.
        (
            "GET",
            "/repos/acme/app/actions/runners/registration-token",
            Priority::Credential,
        ),
        (
            "POST",
            "/repos/acme/app/actions/runners",
            Priority::Credential,
        ),
        (
            "GET",
            "/repos/acme/app/actions/runners?per_page=100&page=1",
            Priority::Listing,
        ),
        (
            "GET",
            "/repos/acme/app/actions/runs?status=queued",
            Priority::Listing,
        ),
        (
            "DELETE",
            "/repos/acme/app/actions/runners/7",
            Priority::Action,
        ),
        ("POST", "/app/hook/deliveries/9/attempts", Priority::Action),
    ];
    for (method, path, want) in rows {
        assert_eq!(Priority::infer(method, path), want, "{method} {path}");
    }
    assert!(Priority::Credential > Priority::Action && Priority::Action > Priority::Listing);
}

#[test]
fn an_unknown_or_healthy_budget_lets_everything_go() {
    let p = BudgetPolicy::default();
    let b = ScopeBudget::default();
    for prio in [Priority::Listing, Priority::Action, Priority::Credential] {
        assert_eq!(b.decide(prio, false, T0, &p), Verdict::Go);
    }
    let b = budget(4990, 5000, 3600);
    assert_eq!(b.decide(Priority::Listing, false, T0, &p), Verdict::Go);
}

#[test]
fn a_block_makes_credentials_wait_and_refuses_listings() {
    // Secondary limit with retry-after: 30 s for every call on the credential.
    let p = BudgetPolicy::default();
    let mut b = budget(4000, 5000, 3600);
    b.block(T0 + secs(30), LimitKind::Secondary);
    let until = T0 + secs(30);
    assert_eq!(
        b.decide(Priority::Credential, false, T0, &p),
        Verdict::WaitUntil(until)
    );
    assert_eq!(
        b.decide(Priority::Action, false, T0, &p),
        Verdict::WaitUntil(until)
    );
    assert_eq!(
        b.decide(Priority::Listing, false, T0, &p),
        Verdict::Refuse {
            until,
            reason: LimitReason::Exhausted
        }
    );
    // Once the instant has passed, all go again.
    assert_eq!(b.decide(Priority::Listing, false, until, &p), Verdict::Go);
    // A shorter later block does not shorten the one in force.
    b.block(T0 + secs(10), LimitKind::Secondary);
    assert_eq!(b.blocked_at(T0), Some(until));
}

#[test]
fn a_spent_primary_budget_blocks_until_the_reset() {
    // Primary limit: `x-ratelimit-remaining: 0` — "do not retry before x-ratelimit-reset".
    let p = BudgetPolicy::default();
    let b = budget(0, 5000, 600);
    let reset = T0 + secs(600);
    assert_eq!(
        b.decide(Priority::Credential, false, T0, &p),
        Verdict::WaitUntil(reset)
    );
    assert!(matches!(
        b.decide(Priority::Listing, false, T0, &p),
        Verdict::Refuse { .. }
    ));
    // `GET /rate_limit` is answered all the same; a secondary limit's wait holds it.
    assert_eq!(b.decide(Priority::Listing, true, T0, &p), Verdict::Go);
    let mut slowed = b.clone();
    slowed.block(T0 + secs(60), LimitKind::Secondary);
    assert!(matches!(
        slowed.decide(Priority::Listing, true, T0, &p),
        Verdict::Refuse { .. }
    ));
    // After the reset the old count says nothing any more.
    assert_eq!(b.remaining_at(reset), None);
    assert_eq!(b.decide(Priority::Listing, false, reset, &p), Verdict::Go);
}

#[test]
fn below_the_reserve_only_listings_are_refused() {
    let p = BudgetPolicy::default();
    assert_eq!(p.reserve(Some(5000)), 500);
    assert_eq!(p.reserve(None), RESERVE_WITHOUT_LIMIT);
    let b = budget(499, 5000, 600);
    assert_eq!(
        b.decide(Priority::Listing, false, T0, &p),
        Verdict::Refuse {
            until: T0 + secs(600),
            reason: LimitReason::Reserved {
                remaining: 499,
                limit: Some(5000)
            }
        }
    );
    assert_eq!(b.decide(Priority::Credential, false, T0, &p), Verdict::Go);
    assert_eq!(b.decide(Priority::Action, false, T0, &p), Verdict::Go);
    // `GET /rate_limit` costs nothing: the reserve does not hold it back.
    assert_eq!(b.decide(Priority::Listing, true, T0, &p), Verdict::Go);
    // At the reserve exactly, listings still go.
    assert_eq!(
        budget(500, 5000, 600).decide(Priority::Listing, false, T0, &p),
        Verdict::Go
    );
    // A new window lifts the reserve.
    assert_eq!(
        b.decide(Priority::Listing, false, T0 + secs(600), &p),
        Verdict::Go
    );
}

#[test]
fn answers_arriving_out_of_order_keep_the_lower_count_of_a_window() {
    let mut b = budget(4000, 5000, 600);
    b.observe(4001, Some(5000), Some(T0 + secs(600)));
    assert_eq!(b.remaining, Some(4000));
    // A new window replaces it.
    b.observe(4999, Some(5000), Some(T0 + secs(4200)));
    assert_eq!(b.remaining, Some(4999));
}

#[test]
fn credentials_are_ordered_by_budget_left() {
    let low = budget(1000, 5000, 600);
    let high = budget(4000, 5000, 600);
    let mut blocked = budget(4900, 5000, 600);
    blocked.block(T0 + secs(30), LimitKind::Secondary);
    let spent = budget(0, 5000, 600);
    let stale = budget(10, 5000, 0);
    let low_too = low.clone();
    let rows: Vec<(Vec<Option<&ScopeBudget>>, Vec<usize>)> = vec![
        (vec![Some(&low), Some(&high)], vec![1, 0]),
        // Never used: tried first, so its budget gets known.
        (vec![Some(&high), None], vec![1, 0]),
        (vec![Some(&blocked), Some(&low)], vec![1, 0]),
        (vec![Some(&spent), Some(&low)], vec![1, 0]),
        // A window that has reset counts as full.
        (vec![Some(&high), Some(&stale)], vec![1, 0]),
        // Ties keep the configured order.
        (vec![Some(&low), Some(&low_too)], vec![0, 1]),
    ];
    for (candidates, want) in rows {
        assert_eq!(order_by_budget(&candidates, T0), want, "{candidates:?}");
    }
}

#[tokio::test]
async fn a_blocked_credential_waits_on_the_clock_then_goes() {
    let clock = Arc::new(ManualClock::new(T0));
    let s = Scheduler::new("GitHub", BudgetPolicy::default(), clock.clone());
    s.block("installation 42", T0 + secs(30), LimitKind::Secondary);
    let err = s
        .admit("installation 42", Priority::Listing, false, secs(120))
        .await
        .unwrap_err();
    assert!(
        matches!(err, ForgeError::RateLimited { until, .. } if until == T0 + secs(30)),
        "{err}"
    );
    assert!(clock.sleeps().is_empty(), "a listing does not wait");
    // Another credential is not affected.
    drop(
        s.admit("installation 43", Priority::Listing, false, secs(120))
            .await
            .unwrap(),
    );
    drop(
        s.admit("installation 42", Priority::Credential, false, secs(120))
            .await
            .unwrap(),
    );
    assert_eq!(clock.sleeps(), vec![secs(30)]);
    // A wait longer than the caller sits out is refused, not slept.
    s.block(
        "installation 42",
        clock.now() + secs(600),
        LimitKind::Primary,
    );
    let err = s
        .admit("installation 42", Priority::Credential, false, secs(120))
        .await
        .unwrap_err();
    assert!(matches!(err, ForgeError::RateLimited { .. }), "{err}");
    assert_eq!(clock.sleeps(), vec![secs(30)]);
}

#[tokio::test]
async fn freed_slots_go_to_credentials_before_listings() {
    let clock = Arc::new(ManualClock::new(T0));
    let policy = BudgetPolicy {
        max_in_flight: 1,
        ..BudgetPolicy::default()
    };
    let s = Scheduler::new("GitHub", policy, clock);
    let held = s
        .admit("a", Priority::Listing, false, secs(1))
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut tasks = Vec::new();
    // Queued in this order: two listings, an action, a credential.
    for (name, prio) in [
        ("listing 1", Priority::Listing),
        ("listing 2", Priority::Listing),
        ("action", Priority::Action),
        ("credential", Priority::Credential),
    ] {
        let (task_s, tx) = (s.clone(), tx.clone());
        tasks.push(tokio::spawn(async move {
            let slot = task_s.admit("a", prio, false, secs(1)).await.unwrap();
            tx.send(name).unwrap();
            drop(slot);
        }));
        // Wait until this one is queued, so the queue order is the one written above.
        while s.lock().waiters.len() < tasks.len() {
            tokio::task::yield_now().await;
        }
    }
    drop(held);
    for t in tasks {
        t.await.unwrap();
    }
    drop(tx);
    let mut order = Vec::new();
    while let Some(name) = rx.recv().await {
        order.push(name);
    }
    assert_eq!(
        order,
        vec!["credential", "action", "listing 1", "listing 2"]
    );
    assert_eq!(s.lock().in_flight, 0, "every slot was given back");
}

#[tokio::test]
async fn a_slot_given_to_a_caller_that_left_goes_to_the_next() {
    let clock = Arc::new(ManualClock::new(T0));
    let policy = BudgetPolicy {
        max_in_flight: 1,
        ..BudgetPolicy::default()
    };
    let s = Scheduler::new("GitHub", policy, clock);
    let held = s
        .admit("a", Priority::Listing, false, secs(1))
        .await
        .unwrap();
    let gone = tokio::spawn({
        let s = s.clone();
        async move { s.admit("a", Priority::Credential, false, secs(1)).await }
    });
    while s.lock().waiters.is_empty() {
        tokio::task::yield_now().await;
    }
    gone.abort();
    let _ = gone.await;
    let next = tokio::spawn({
        let s = s.clone();
        async move {
            drop(
                s.admit("a", Priority::Listing, false, secs(1))
                    .await
                    .unwrap(),
            );
        }
    });
    while s.lock().waiters.len() < 2 {
        tokio::task::yield_now().await;
    }
    drop(held);
    next.await.unwrap();
    assert_eq!(s.lock().in_flight, 0);
    assert!(s.lock().waiters.is_empty());
}

#[test]
fn budgets_read_as_an_operator_would() {
    let b = RateBudget {
        scope: "installation 42".into(),
        remaining: 4990,
        limit: Some(5000),
        reset_epoch: Some(time::macros::datetime!(2030-01-02 03:04:05 UTC).unix_timestamp()),
    };
    assert_eq!(
        describe(&b),
        "core: 4,990/5,000 left, resets at 2030-01-02 03:04:05Z"
    );
    let bare = RateBudget {
        limit: None,
        reset_epoch: None,
        ..b
    };
    assert_eq!(describe(&bare), "core: 4,990 left");
}
