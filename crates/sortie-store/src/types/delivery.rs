//! Deliveries: webhook requests exactly as received, stored before they are acknowledged.

use super::DeliveryId;
use crate::clock::Timestamp;
use serde::{Deserialize, Serialize};
use sortie_core::forge::Flavor;
use std::collections::BTreeMap;

/// One webhook request as received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    /// The forge's delivery id; `(forge, id)` is unique.
    pub id: DeliveryId,
    /// Which forge sent it.
    pub forge: Flavor,
    /// The event name (`X-GitHub-Event`, `X-Gitea-Event`), e.g. `workflow_job`.
    pub event: String,
    /// The headers worth keeping (event, delivery, signature, user agent, hook ids), lower-case names.
    pub headers: BTreeMap<String, String>,
    /// The raw body, byte for byte (the signature covers these bytes).
    pub body: Vec<u8>,
    /// When sortie received it.
    pub received_at: Timestamp,
}

/// What the store knows about a delivery it already had.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryStatus {
    /// When the first copy arrived.
    pub received_at: Timestamp,
    /// When it was processed; `None` while it waits for the planner.
    pub processed_at: Option<Timestamp>,
    /// What processing it did (e.g. `created job 12`, `ignored: action completed`).
    pub outcome: Option<String>,
}

/// The result of storing a delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryInsert {
    /// First time this `(forge, id)` was seen: stored, to be processed.
    New,
    /// Already stored (a forge redelivery or a retry): nothing was written.
    Duplicate {
        /// The stored copy's status, so the caller can answer as it did the first time.
        original: DeliveryStatus,
    },
}

impl DeliveryInsert {
    /// True for [`DeliveryInsert::New`].
    pub fn is_new(&self) -> bool {
        matches!(self, DeliveryInsert::New)
    }
}

/// A delivery with its processing status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDelivery {
    /// The delivery as received.
    pub delivery: Delivery,
    /// Processing status.
    pub status: DeliveryStatus,
}
