//! The dispatch queue: claims are exclusive, complete, and expire.

use super::new_job;
use crate::Harness;
use sortie_core::job::{JobEvent, JobState};
use std::collections::HashSet;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(30);

pub async fn eight_workers_claim_200_jobs_exactly_once(h: Harness) {
    let mut all = HashSet::new();
    for n in 0..200 {
        all.insert(h.store.create_job(&new_job(n)).await.unwrap().into_job().id);
    }
    let workers: Vec<_> = (0..8)
        .map(|w| {
            let s = h.store.clone();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while let Some(c) = s.claim_next(&format!("worker-{w}"), TTL).await.unwrap() {
                    assert_eq!(c.claim.worker, format!("worker-{w}"));
                    got.push(c.job.id);
                }
                got
            })
        })
        .collect();
    let mut claimed = Vec::new();
    let mut busy_workers = 0;
    for w in workers {
        let got = w.await.unwrap();
        busy_workers += usize::from(!got.is_empty());
        claimed.extend(got);
    }
    let unique: HashSet<_> = claimed.iter().copied().collect();
    assert_eq!(claimed.len(), unique.len(), "a job was claimed twice");
    assert_eq!(unique, all, "every job claimed");
    assert!(
        busy_workers > 1,
        "work was shared, not serialised into one worker"
    );
}

pub async fn expired_claim_is_reclaimed_by_another_worker(h: Harness) {
    let job = h.store.create_job(&new_job(1)).await.unwrap().into_job();
    let a = h
        .store
        .claim_next("a", TTL)
        .await
        .unwrap()
        .expect("a claims");
    assert_eq!(
        (a.job.id, a.claim.expires_at),
        (job.id, h.clock_now().plus(TTL))
    );
    h.clock.advance(TTL);
    // Expiry is inclusive: at expires_at the claim is no longer live.
    let b = h
        .store
        .claim_next("b", TTL)
        .await
        .unwrap()
        .expect("b re-claims the expired job");
    assert_eq!((b.job.id, b.claim.worker.as_str()), (job.id, "b"));
    assert!(
        !h.store.renew_claim(job.id, "a", TTL).await.unwrap(),
        "a lost its claim"
    );
    assert!(
        !h.store.release_claim(job.id, "a").await.unwrap(),
        "a cannot release b's claim"
    );
    assert!(h.store.claim_next("c", TTL).await.unwrap().is_none());
}

pub async fn live_claim_is_not_reclaimed(h: Harness) {
    let job = h.store.create_job(&new_job(1)).await.unwrap().into_job();
    h.store
        .claim_next("a", TTL)
        .await
        .unwrap()
        .expect("a claims");
    h.clock.advance(Duration::from_secs(20));
    assert!(h.store.claim_next("b", TTL).await.unwrap().is_none());
    assert!(h.store.renew_claim(job.id, "a", TTL).await.unwrap());
    h.clock.advance(Duration::from_secs(20)); // 40 s after the claim, 20 s after the renewal
    assert!(
        h.store.claim_next("b", TTL).await.unwrap().is_none(),
        "the renewal extended the claim"
    );
    assert!(h.store.release_claim(job.id, "a").await.unwrap());
    let b = h
        .store
        .claim_next("b", TTL)
        .await
        .unwrap()
        .expect("released job is claimable");
    assert_eq!(b.job.id, job.id);
}

pub async fn oldest_queued_job_first(h: Harness) {
    let mut ids = Vec::new();
    for n in [5, 3, 9] {
        ids.push(h.store.create_job(&new_job(n)).await.unwrap().into_job().id);
    }
    for want in ids {
        assert_eq!(
            h.store
                .claim_next("w", TTL)
                .await
                .unwrap()
                .map(|c| c.job.id),
            Some(want)
        );
    }
}

pub async fn requeue_bumps_attempt_and_frees_the_claim(h: Harness) {
    let s = &h.store;
    let job = s.create_job(&new_job(1)).await.unwrap().into_job();
    s.claim_next("a", TTL).await.unwrap().expect("claimed");
    s.apply_event(job.id, JobEvent::Launch, "launching")
        .await
        .unwrap();
    let requeued = s
        .apply_event(job.id, JobEvent::Requeue, "spot interruption")
        .await
        .unwrap()
        .job;
    assert_eq!(
        (requeued.state, requeued.attempt, requeued.claim),
        (JobState::Queued, 2, None)
    );
    let again = s
        .claim_next("b", TTL)
        .await
        .unwrap()
        .expect("requeued job is claimable at once");
    assert_eq!((again.job.id, again.job.attempt), (job.id, 2));
}

pub async fn only_queued_jobs_are_claimed(h: Harness) {
    let s = &h.store;
    let job = s.create_job(&new_job(1)).await.unwrap().into_job();
    s.claim_next("a", TTL).await.unwrap().expect("claimed");
    s.apply_event(job.id, JobEvent::Launch, "launching")
        .await
        .unwrap();
    h.clock.advance(TTL * 2);
    assert!(
        s.claim_next("b", TTL).await.unwrap().is_none(),
        "a launching job is not in the queue"
    );
    let done = s
        .apply_event(job.id, JobEvent::Succeeded, "completed")
        .await
        .unwrap()
        .job;
    assert_eq!(done.claim, None, "a finished job holds no claim");
}
