//! Shutdown signalling, after mini-redis `src/shutdown.rs`: one sender, many listeners; a
//! listener that has seen the signal remembers it, so asking again returns at once.
//!
//! Order of a graceful stop (see `crate::server`): stop accepting connections → finish the
//! requests in flight (each is answered after its delivery is stored) → the delivery writer
//! drains its queue and stops → the planner finishes the delivery in hand, leaves the rest
//! unprocessed in the store for the next start, and releases its lease.

use tokio::sync::watch;

/// Fires the shutdown signal. Dropping it fires it too.
#[derive(Debug)]
pub struct Trigger(watch::Sender<bool>);

/// Listens for the shutdown signal.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

/// A new trigger and its first listener.
pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown { rx })
}

impl Trigger {
    /// Tells every listener to stop.
    pub fn fire(&self) {
        let _ = self.0.send(true);
    }
}

impl Shutdown {
    /// True once the signal was fired (or the trigger dropped).
    pub fn is_triggered(&self) -> bool {
        *self.rx.borrow() || self.rx.has_changed().is_err()
    }

    /// Waits for the signal.
    pub async fn recv(&mut self) {
        // `wait_for` returns an error only when the trigger was dropped, which also means stop.
        let _ = self.rx.wait_for(|stop| *stop).await;
    }
}

/// Resolves on ctrl-c or SIGTERM (what `docker stop`, systemd and Kubernetes send).
pub async fn os_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("ctrl-c received: shutting down gracefully"),
        _ = term => tracing::info!("SIGTERM received: shutting down gracefully"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listeners_see_the_signal_and_remember_it() {
        let (trigger, mut a) = channel();
        let mut b = a.clone();
        assert!(!a.is_triggered());
        trigger.fire();
        a.recv().await;
        b.recv().await;
        assert!(a.is_triggered() && b.is_triggered());
        a.recv().await; // again: returns at once
    }

    #[tokio::test]
    async fn dropping_the_trigger_stops_listeners() {
        let (trigger, mut a) = channel();
        drop(trigger);
        a.recv().await;
        assert!(a.is_triggered());
    }
}
