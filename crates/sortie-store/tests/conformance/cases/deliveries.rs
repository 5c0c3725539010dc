//! Deliveries: stored once per `(forge, id)`, processed once (DESIGN.md invariant 1).

use super::delivery;
use crate::Harness;
use sortie_core::forge::Flavor;
use sortie_store::{DeliveryId, DeliveryInsert, StoreError, Timestamp};
use std::time::Duration;

pub async fn duplicate_delivery_reports_original_outcome(h: Harness) {
    let s = &h.store;
    let d = delivery("aaa-1", 1_000);
    assert_eq!(s.insert_delivery(&d).await.unwrap(), DeliveryInsert::New);

    // A redelivery before processing: duplicate, not yet processed.
    let DeliveryInsert::Duplicate { original } = s.insert_delivery(&d).await.unwrap() else {
        panic!("second insert must be a duplicate");
    };
    assert_eq!(
        (
            original.received_at,
            original.processed_at,
            original.outcome
        ),
        (d.received_at, None, None)
    );

    h.clock.advance(Duration::from_secs(1));
    assert!(s
        .mark_delivery_processed(Flavor::Github, &d.id, "created job 1")
        .await
        .unwrap());
    // Processed once: a second mark keeps the first outcome.
    assert!(!s
        .mark_delivery_processed(Flavor::Github, &d.id, "created job 2")
        .await
        .unwrap());

    let DeliveryInsert::Duplicate { original } = s.insert_delivery(&d).await.unwrap() else {
        panic!("third insert must be a duplicate");
    };
    assert_eq!(original.outcome.as_deref(), Some("created job 1"));
    assert_eq!(original.processed_at, Some(h.clock_now()));

    // The same id from another forge is another delivery.
    let mut other = d.clone();
    other.forge = Flavor::Gitea;
    assert!(s.insert_delivery(&other).await.unwrap().is_new());

    let missing = s
        .mark_delivery_processed(Flavor::Github, &DeliveryId::from("nope"), "x")
        .await;
    assert!(
        matches!(missing, Err(StoreError::DeliveryNotFound { .. })),
        "{missing:?}"
    );
}

pub async fn batch_reports_each_delivery_in_order(h: Harness) {
    let s = &h.store;
    let old = delivery("old", 1);
    s.insert_delivery(&old).await.unwrap();
    s.mark_delivery_processed(Flavor::Github, &old.id, "ignored: action completed")
        .await
        .unwrap();
    let batch = [
        delivery("b1", 10),
        old.clone(),
        delivery("b2", 11),
        delivery("b1", 12),
    ];
    let out = s.insert_deliveries(&batch).await.unwrap();
    assert_eq!(out.len(), 4);
    assert_eq!(out[0], DeliveryInsert::New);
    assert!(
        matches!(&out[1], DeliveryInsert::Duplicate { original } if original.outcome.as_deref() == Some("ignored: action completed"))
    );
    assert_eq!(out[2], DeliveryInsert::New);
    // Repeated within the batch: the first copy (received at 10) is the original.
    assert!(
        matches!(&out[3], DeliveryInsert::Duplicate { original } if original.received_at == Timestamp::from_millis(10) && original.outcome.is_none())
    );

    let stored = s
        .get_delivery(Flavor::Github, &DeliveryId::from("b1"))
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(
        stored.delivery, batch[0],
        "headers and raw bytes round-trip"
    );
    assert!(s.insert_deliveries(&[]).await.unwrap().is_empty());
}

pub async fn large_batch_spans_statements(h: Harness) {
    let batch: Vec<_> = (0..2_500)
        .map(|i| delivery(&format!("bulk-{i}"), i))
        .collect();
    let out = h.store.insert_deliveries(&batch).await.unwrap();
    assert!(out.iter().all(DeliveryInsert::is_new));
    let again = h
        .store
        .insert_deliveries(&batch[1_990..2_010])
        .await
        .unwrap();
    assert!(again.iter().all(|o| !o.is_new()));
    assert_eq!(
        h.store.list_recent_deliveries(5_000).await.unwrap().len(),
        2_500
    );
}

pub async fn unprocessed_and_recent_listings(h: Harness) {
    let s = &h.store;
    for (id, at) in [("c", 30), ("a", 10), ("b", 20)] {
        s.insert_delivery(&delivery(id, at)).await.unwrap();
    }
    s.mark_delivery_processed(Flavor::Github, &DeliveryId::from("a"), "done")
        .await
        .unwrap();
    let ids = |v: Vec<sortie_store::StoredDelivery>| {
        v.into_iter().map(|d| d.delivery.id.0).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(s.list_unprocessed_deliveries(10).await.unwrap()),
        ["b", "c"]
    );
    assert_eq!(
        ids(s.list_recent_deliveries(10).await.unwrap()),
        ["c", "b", "a"]
    );
    assert_eq!(ids(s.list_recent_deliveries(1).await.unwrap()), ["c"]);
}
