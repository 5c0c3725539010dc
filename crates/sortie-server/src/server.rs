//! Running the server: the listener, the delivery writer, the planner, and the graceful stop
//! that ties them together (the order is in `crate::shutdown`).

use crate::app::{router, AppState};
use crate::config::Settings;
use crate::ingest::{Ingest, DEFAULT_MAX_BATCH};
use crate::planner::{Planner, PlannerOptions};
use crate::shutdown;
use sortie_core::catalog::Catalog;
use sortie_store::Store;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// Planned-delivery queue between the writer and the planner. When full, deliveries wait in the
/// store for the recovery sweep instead of in memory.
const PLANNER_QUEUE: usize = 1024;

/// Tuning that is not user configuration (tests and the bench set it).
#[derive(Debug, Clone)]
pub struct Options {
    /// Planner timing.
    pub planner: PlannerOptions,
    /// Largest group-commit batch.
    pub max_batch: usize,
    /// This replica's name (lease owner); defaults to `HOSTNAME/pid`.
    pub replica: String,
    /// Forges and providers; the planner needs a forge in push mode to plan pushes. `None`:
    /// pushes are stored but not planned.
    pub fleet: Option<Arc<crate::fleet::Fleet>>,
    /// Run the sweeper with the fleet (every `dispatch.sweep_interval_secs`, one replica at a
    /// time by lease). Tests that drive a sweeper themselves turn it off.
    pub sweep: bool,
    /// Run the reconciler with the fleet (every `dispatch.reconcile_interval_secs`, one replica
    /// at a time by lease; GitHub only). Tests that drive passes themselves turn it off.
    pub reconcile: bool,
}

impl Default for Options {
    fn default() -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "sortie".into());
        Options {
            planner: PlannerOptions::default(),
            max_batch: DEFAULT_MAX_BATCH,
            replica: format!("{host}/{}", std::process::id()),
            fleet: None,
            sweep: true,
            reconcile: true,
        }
    }
}

/// Serves until `stop` resolves, then stops gracefully: no new connections, in-flight requests
/// finished, queued deliveries stored, planner stopped and its lease released.
pub async fn run(
    settings: &Settings,
    store: Arc<dyn Store>,
    listener: TcpListener,
    options: Options,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (trigger, shutdown) = shutdown::channel();
    let (planned_tx, planned_rx) = mpsc::channel(PLANNER_QUEUE);
    let (ingest, writer) = Ingest::spawn(store.clone(), planned_tx, options.max_batch);
    let planner = Planner {
        store: store.clone(),
        routing: settings.routing.clone(),
        catalog: Catalog::builtin(),
        owner: options.replica.clone(),
        options: options.planner,
        load: ingest.load(),
        fleet: options.fleet.clone(),
    };
    let dispatcher = options
        .fleet
        .clone()
        .map(|fleet| tokio::spawn(crate::dispatcher::Dispatcher::new(fleet).run(shutdown.clone())));
    let sweeper = options
        .fleet
        .clone()
        .filter(|_| options.sweep)
        .map(|fleet| tokio::spawn(crate::sweeper::Sweeper::new(fleet).run(shutdown.clone())));
    let reconciler = options
        .fleet
        .clone()
        .filter(|_| options.reconcile)
        .map(|fleet| {
            let reconciler = crate::reconciler::Reconciler::new(fleet, settings.routing.clone());
            tokio::spawn(reconciler.run(shutdown.clone()))
        });
    let planner = tokio::spawn(planner.run(planned_rx, shutdown));
    let metrics = options
        .fleet
        .as_ref()
        .map(|f| f.metrics.clone())
        .unwrap_or_default();
    let state = AppState {
        ingest,
        store,
        github_secret: settings.github.webhook_secret.clone(),
        gitea_secret: settings.gitea.webhook_secret.clone(),
        admin_token: settings.admin_token.clone(),
        fleet: options.fleet.clone(),
        metrics,
    };
    let app = router(state, settings.max_body_bytes);
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            stop.await;
            tracing::info!("shutting down: no new connections; finishing the requests in flight");
        })
        .await;
    // Every `Ingest` clone lived in the router, which is gone now: the writer drains and stops.
    if let Err(e) = writer.await {
        tracing::error!(error = %e, "the delivery writer task failed");
    }
    trigger.fire();
    if let Err(e) = planner.await {
        tracing::error!(error = %e, "the planner task failed");
    }
    if let Some(dispatcher) = dispatcher {
        if let Err(e) = dispatcher.await {
            tracing::error!(error = %e, "the dispatcher task failed");
        }
    }
    if let Some(sweeper) = sweeper {
        if let Err(e) = sweeper.await {
            tracing::error!(error = %e, "the sweeper task failed");
        }
    }
    if let Some(reconciler) = reconciler {
        if let Err(e) = reconciler.await {
            tracing::error!(error = %e, "the reconciler task failed");
        }
    }
    tracing::info!("stopped");
    served
}

/// A server running in this process (tests, `sortie bench`).
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Binds `listen` (port 0 picks a free port) and serves in the background.
    pub async fn start(
        settings: &Settings,
        store: Arc<dyn Store>,
        options: Options,
    ) -> std::io::Result<RunningServer> {
        let listener = TcpListener::bind(settings.listen).await?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let settings = settings.clone();
        let task = tokio::spawn(async move {
            let stop = async move {
                let _ = stop_rx.await;
            };
            run(&settings, store, listener, options, stop).await
        });
        Ok(RunningServer {
            addr,
            stop: Some(stop_tx),
            task,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// True when the server task ended (it should not, before `stop`).
    pub fn is_finished(&self) -> bool {
        self.task.is_finished()
    }

    /// Stops gracefully and waits for it.
    pub async fn stop(mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(std::io::Error::other(e)),
        }
    }
}
