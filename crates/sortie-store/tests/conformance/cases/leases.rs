//! Named leases: one holder at a time; a lapsed lease can be taken over.

use crate::Harness;
use std::time::Duration;

const TTL: Duration = Duration::from_secs(60);

pub async fn named_lease_mutual_exclusion_and_expiry(h: Harness) {
    let s = &h.store;
    assert!(s
        .try_acquire_lease("sweeper", "replica-a", TTL)
        .await
        .unwrap());
    assert!(!s
        .try_acquire_lease("sweeper", "replica-b", TTL)
        .await
        .unwrap());
    assert!(
        s.try_acquire_lease("reconciler", "replica-b", TTL)
            .await
            .unwrap(),
        "names are independent"
    );
    h.clock.advance(Duration::from_secs(50));
    assert!(
        s.try_acquire_lease("sweeper", "replica-a", TTL)
            .await
            .unwrap(),
        "the holder renews"
    );
    h.clock.advance(Duration::from_secs(50)); // 100 s after taking, 50 s after renewing
    assert!(!s
        .try_acquire_lease("sweeper", "replica-b", TTL)
        .await
        .unwrap());
    h.clock.advance(Duration::from_secs(10));
    assert!(
        s.try_acquire_lease("sweeper", "replica-b", TTL)
            .await
            .unwrap(),
        "expired: taken over"
    );
    assert!(!s
        .try_acquire_lease("sweeper", "replica-a", TTL)
        .await
        .unwrap());
    assert!(
        !s.release_lease("sweeper", "replica-a").await.unwrap(),
        "not a's to release"
    );
    assert!(s.release_lease("sweeper", "replica-b").await.unwrap());
    assert!(
        s.try_acquire_lease("sweeper", "replica-a", TTL)
            .await
            .unwrap(),
        "released: free"
    );
}

pub async fn named_lease_has_one_winner_under_concurrency(h: Harness) {
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let s = h.store.clone();
            tokio::spawn(async move {
                s.try_acquire_lease("sweeper", &format!("replica-{i}"), TTL)
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut winners = 0;
    for t in tasks {
        winners += usize::from(t.await.unwrap());
    }
    assert_eq!(winners, 1);
}
