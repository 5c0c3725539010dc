//! Bootstrap tokens, agent sessions, stale launching claims and job notes.

use super::new_job;
use crate::Harness;
use sortie_core::agent::AgentPhase;
use sortie_core::job::{JobEvent, JobState};
use sortie_store::Redeem;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(600);

/// A token redeems once; every other token of the same attempt is dead from then on; an unknown
/// or expired token is unknown; an undone redemption makes the token good again.
pub async fn bootstrap_token_redeems_once_per_attempt(h: Harness) {
    let s = &h.store;
    let job = s.create_job(&new_job(1)).await.unwrap().into_job();
    s.create_bootstrap("hash-a", job.id, 1, TTL).await.unwrap();
    s.create_bootstrap("hash-b", job.id, 1, TTL).await.unwrap();
    s.create_bootstrap("hash-c", job.id, 2, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(
        s.redeem_bootstrap("nope", "s0").await.unwrap(),
        Redeem::Unknown
    );
    let Redeem::Redeemed(session) = s.redeem_bootstrap("hash-a", "s1").await.unwrap() else {
        panic!("first redemption must succeed");
    };
    assert_eq!((session.job, session.attempt), (job.id, 1));
    assert_eq!(session.phase, AgentPhase::Booted);
    assert_eq!(
        s.redeem_bootstrap("hash-a", "s2").await.unwrap(),
        Redeem::AlreadyUsed
    );
    assert_eq!(
        s.redeem_bootstrap("hash-b", "s3").await.unwrap(),
        Redeem::AlreadyUsed,
        "another token of the same attempt"
    );
    assert!(s.find_session("s2").await.unwrap().is_none());
    assert_eq!(s.find_session("s1").await.unwrap().unwrap().job, job.id);

    h.clock.advance(Duration::from_secs(6));
    assert_eq!(
        s.redeem_bootstrap("hash-c", "s4").await.unwrap(),
        Redeem::Unknown,
        "expired"
    );

    assert!(s.unredeem_bootstrap(job.id, 1).await.unwrap());
    assert!(s.find_session("s1").await.unwrap().is_none());
    assert!(matches!(
        s.redeem_bootstrap("hash-a", "s5").await.unwrap(),
        Redeem::Redeemed(_)
    ));
}

/// Two replicas redeeming the tokens of one attempt at once: exactly one wins.
pub async fn bootstrap_redeem_has_one_winner_under_concurrency(h: Harness) {
    let job = h.store.create_job(&new_job(2)).await.unwrap().into_job();
    let other = h.reopen().await;
    for i in 0..8 {
        h.store
            .create_bootstrap(&format!("t{i}"), job.id, 1, TTL)
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = if i % 2 == 0 {
            h.store.clone()
        } else {
            other.clone()
        };
        tasks.push(tokio::spawn(async move {
            s.redeem_bootstrap(&format!("t{i}"), &format!("sess{i}"))
                .await
                .unwrap()
        }));
    }
    let mut won = 0;
    for t in tasks {
        if matches!(t.await.unwrap(), Redeem::Redeemed(_)) {
            won += 1;
        }
    }
    assert_eq!(won, 1);
}

/// Phases move forward only, keep their first time, and heartbeats only touch last_seen.
pub async fn agent_phases_are_recorded(h: Harness) {
    let s = &h.store;
    let job = s.create_job(&new_job(3)).await.unwrap().into_job();
    s.create_bootstrap("h", job.id, 1, TTL).await.unwrap();
    assert!(matches!(
        s.redeem_bootstrap("h", "sess").await.unwrap(),
        Redeem::Redeemed(_)
    ));
    h.clock.advance(Duration::from_secs(1));
    let r = s
        .record_phase(job.id, 1, AgentPhase::Registered, None)
        .await
        .unwrap();
    assert_eq!(r.phase, AgentPhase::Registered);
    let registered_at = r.registered_at.unwrap();
    h.clock.advance(Duration::from_secs(1));
    let r = s
        .record_phase(job.id, 1, AgentPhase::Heartbeat, None)
        .await
        .unwrap();
    assert_eq!(r.phase, AgentPhase::Registered);
    assert!(r.last_seen_at > registered_at);
    let r = s
        .record_phase(job.id, 1, AgentPhase::JobStarted, None)
        .await
        .unwrap();
    assert_eq!(r.phase, AgentPhase::JobStarted);
    let r = s
        .record_phase(job.id, 1, AgentPhase::Registered, None)
        .await
        .unwrap();
    assert_eq!(r.phase, AgentPhase::JobStarted, "never backwards");
    assert_eq!(r.registered_at, Some(registered_at), "first time kept");
    assert_eq!(s.list_sessions(None).await.unwrap().len(), 1);
    let r = s
        .record_phase(job.id, 1, AgentPhase::Finished, Some(3))
        .await
        .unwrap();
    assert_eq!((r.phase, r.exit_code), (AgentPhase::Finished, Some(3)));
    assert!(
        s.list_sessions(None).await.unwrap().is_empty(),
        "finished sessions are not open"
    );
    assert_eq!(s.list_sessions(Some(job.id)).await.unwrap().len(), 1);
    assert!(
        s.record_phase(job.id, 9, AgentPhase::Heartbeat, None)
            .await
            .is_err(),
        "no session for that attempt"
    );
}

/// A launching job whose claim lapsed can be claimed again; a live claim or a queued job cannot.
pub async fn stale_launching_jobs_are_reclaimed(h: Harness) {
    let s = &h.store;
    let job = s.create_job(&new_job(4)).await.unwrap().into_job();
    let claimed = s
        .claim_next("w1", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claimed.job.id, job.id);
    assert!(
        s.claim_stale_launching("w2", Duration::from_secs(30))
            .await
            .unwrap()
            .is_none(),
        "queued jobs are not stale launching jobs"
    );
    s.apply_event(job.id, JobEvent::Launch, "launching")
        .await
        .unwrap();
    assert!(s
        .claim_stale_launching("w2", Duration::from_secs(30))
        .await
        .unwrap()
        .is_none());
    h.clock.advance(Duration::from_secs(31));
    let again = s
        .claim_stale_launching("w2", Duration::from_secs(30))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.job.id, job.id);
    assert_eq!(again.job.state, JobState::Launching);
    assert_eq!(again.claim.worker, "w2");
}

/// Notes add history without changing the state; a repeated note is kept once.
pub async fn notes_keep_state_and_dedupe(h: Harness) {
    let s = &h.store;
    let job = s.create_job(&new_job(5)).await.unwrap().into_job();
    let before = s.job_history(job.id).await.unwrap().len();
    s.note_job(job.id, "waiting: provider limit reached")
        .await
        .unwrap();
    s.note_job(job.id, "waiting: provider limit reached")
        .await
        .unwrap();
    let history = s.job_history(job.id).await.unwrap();
    assert_eq!(history.len(), before + 1);
    let last = history.last().unwrap();
    assert_eq!(last.reason, "waiting: provider limit reached");
    assert_eq!(
        (last.from, last.to),
        (Some(JobState::Queued), JobState::Queued)
    );
    assert_eq!(
        s.get_job(job.id).await.unwrap().unwrap().state,
        JobState::Queued
    );
    assert!(s.note_job(sortie_store::JobId(999_999), "x").await.is_err());
}
