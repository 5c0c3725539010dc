//! Migrations: run on open, idempotent, data kept.

use super::delivery;
use crate::Harness;
use sortie_core::forge::Flavor;
use sortie_store::DeliveryId;

pub async fn migrations_are_idempotent(h: Harness) {
    h.store.insert_delivery(&delivery("kept", 1)).await.unwrap();
    h.store.migrate().await.unwrap();
    h.store.migrate().await.unwrap();
    sortie_store::migrate(&h.url).await.unwrap();
    // Two replicas starting together both migrate.
    let (a, b) = tokio::join!(h.reopen(), h.reopen());
    for s in [&h.store, &a, &b] {
        assert!(s
            .get_delivery(Flavor::Github, &DeliveryId::from("kept"))
            .await
            .unwrap()
            .is_some());
    }
}
