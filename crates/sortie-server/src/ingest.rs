//! Group commit: concurrent webhook requests hand their delivery to ONE writer task, which stores
//! whatever has queued up in a single transaction (`Store::insert_deliveries`) and answers each
//! request through a oneshot channel after the commit. A commit costs one fsync however many
//! deliveries it holds, so while a commit is in flight the next batch grows, and SQLite keeps up
//! with thousands of deliveries a second.
//!
//! Invariant 1 (DESIGN.md): a request is answered 2xx only after its batch committed. New
//! deliveries are then handed to the planner; if its queue is full the planner's recovery sweep
//! finds them in the store later.

use sortie_store::{Delivery, DeliveryInsert, Store};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

/// Largest batch one transaction holds.
pub const DEFAULT_MAX_BATCH: usize = 512;

/// Requests waiting for the writer; when full, handlers wait (back-pressure, no unbounded memory).
const QUEUE: usize = 4096;

/// Why a delivery could not be stored. The request is answered 503 and nothing was acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IngestError {
    /// The store refused the batch (database unreachable, disk full, …).
    #[error("the delivery could not be stored: {0}")]
    Store(String),
    /// The writer has stopped: the server is shutting down.
    #[error("the server is shutting down and stores no more deliveries; the forge can redeliver")]
    Stopped,
}

struct Pending {
    delivery: Delivery,
    reply: oneshot::Sender<Result<DeliveryInsert, IngestError>>,
}

/// The handle requests use to store a delivery. Cloning is cheap; the writer stops once every
/// clone is dropped and the queue is drained.
#[derive(Debug, Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Pending>,
    load: Load,
}

/// How many requests are waiting for their delivery to be stored. The planner yields to them:
/// on SQLite every write takes the one write lock, and a webhook's answer matters more than
/// planning a stored delivery a few milliseconds sooner.
#[derive(Debug, Clone, Default)]
pub struct Load(Arc<LoadInner>);

#[derive(Debug, Default)]
struct LoadInner {
    waiting: AtomicUsize,
    idle: Notify,
}

impl Load {
    /// Requests waiting for their commit now.
    pub fn waiting(&self) -> usize {
        self.0.waiting.load(Ordering::SeqCst)
    }

    /// Returns when no request is waiting, or after `at_most` (so that sustained load slows
    /// planning down instead of stopping it; the backlog is durable in the store).
    pub async fn wait_idle(&self, at_most: Duration) {
        let deadline = tokio::time::Instant::now() + at_most;
        loop {
            let idle = self.0.idle.notified();
            tokio::pin!(idle);
            idle.as_mut().enable();
            if self.waiting() == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, idle).await.is_err() {
                return;
            }
        }
    }

    fn enter(&self) -> LoadGuard {
        self.0.waiting.fetch_add(1, Ordering::SeqCst);
        LoadGuard(self.clone())
    }
}

/// Counts one waiting request until dropped (also when the client hangs up mid-request).
struct LoadGuard(Load);

impl Drop for LoadGuard {
    fn drop(&mut self) {
        if self.0 .0.waiting.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0 .0.idle.notify_waiters();
        }
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("delivery", &self.delivery.id)
            .finish()
    }
}

impl Ingest {
    /// Starts the writer. `planned` receives each delivery stored for the first time.
    pub fn spawn(
        store: Arc<dyn Store>,
        planned: mpsc::Sender<Delivery>,
        max_batch: usize,
    ) -> (Ingest, JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let task = tokio::spawn(write_batches(store, rx, planned, max_batch.max(1)));
        (
            Ingest {
                tx,
                load: Load::default(),
            },
            task,
        )
    }

    /// The request load, for the planner to yield to.
    pub fn load(&self) -> Load {
        self.load.clone()
    }

    /// Stores `delivery` (or finds it already stored) and returns once that is durable.
    pub async fn store(&self, delivery: Delivery) -> Result<DeliveryInsert, IngestError> {
        let _waiting = self.load.enter();
        let (reply, answer) = oneshot::channel();
        self.tx
            .send(Pending { delivery, reply })
            .await
            .map_err(|_| IngestError::Stopped)?;
        answer.await.map_err(|_| IngestError::Stopped)?
    }
}

/// The writer: take one waiting request, then every other one already queued (up to
/// `max_batch`), commit them together, answer each.
async fn write_batches(
    store: Arc<dyn Store>,
    mut rx: mpsc::Receiver<Pending>,
    planned: mpsc::Sender<Delivery>,
    max_batch: usize,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(max_batch);
    while rx.recv_many(&mut batch, max_batch).await > 0 {
        let (deliveries, replies): (Vec<Delivery>, Vec<_>) =
            batch.drain(..).map(|p| (p.delivery, p.reply)).unzip();
        let outcomes = match store.insert_deliveries(&deliveries).await {
            Ok(o) if o.len() == deliveries.len() => Ok(o),
            Ok(o) => Err(format!(
                "the store answered {} outcomes for {} deliveries",
                o.len(),
                deliveries.len()
            )),
            Err(e) => Err(e.to_string()),
        };
        match outcomes {
            Ok(outcomes) => answer(deliveries, replies, outcomes, &planned),
            Err(message) => {
                tracing::error!(batch = deliveries.len(), error = %message, "storing a batch of deliveries failed; answering 503");
                for reply in replies {
                    let _ = reply.send(Err(IngestError::Store(message.clone())));
                }
            }
        }
    }
    tracing::debug!("delivery writer stopped: no more requests");
}

fn answer(
    deliveries: Vec<Delivery>,
    replies: Vec<oneshot::Sender<Result<DeliveryInsert, IngestError>>>,
    outcomes: Vec<DeliveryInsert>,
    planned: &mpsc::Sender<Delivery>,
) {
    let mut fresh = Vec::new();
    for ((delivery, reply), outcome) in deliveries.into_iter().zip(replies).zip(outcomes) {
        if outcome.is_new() {
            fresh.push(delivery);
        }
        // The requester may have gone (client hung up); the delivery is stored all the same.
        let _ = reply.send(Ok(outcome));
    }
    for delivery in fresh {
        if planned.try_send(delivery).is_err() {
            tracing::debug!("planner queue full; the recovery sweep will plan this delivery");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_planner_waits_for_waiting_requests_but_not_forever() {
        let load = Load::default();
        // Idle: no wait at all.
        let t = tokio::time::Instant::now();
        load.wait_idle(Duration::from_millis(20)).await;
        assert_eq!(t.elapsed(), Duration::ZERO);
        // Busy for good: gives up after `at_most`.
        let guard = load.enter();
        assert_eq!(load.waiting(), 1);
        load.wait_idle(Duration::from_millis(20)).await;
        assert_eq!(t.elapsed(), Duration::from_millis(20));
        // Busy, then the request is answered: wakes at once.
        let waiter = tokio::spawn({
            let load = load.clone();
            async move { load.wait_idle(Duration::from_secs(60)).await }
        });
        tokio::task::yield_now().await;
        drop(guard);
        waiter.await.unwrap();
        assert_eq!(load.waiting(), 0);
        assert!(t.elapsed() < Duration::from_secs(1));
    }
}
