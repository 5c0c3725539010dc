//! [`Handler`]: the state one Lambda container keeps between invocations (store, fleet, router,
//! planner, sweeper: built once at cold start) and what one invocation does.
//!
//! A Lambda is frozen as soon as it returns, so the work `sortie serve` leaves to background
//! tasks happens inside the invocation: after an accepted webhook or EC2 event, [`Handler::drain`]
//! plans every stored delivery and dispatches until nothing is claimable, bounded by the time the
//! invocation has left. Everything it does is safe to cut short (the same guarantees that make
//! `serve` crash-safe): a delivery not planned stays unprocessed, a launch not recorded is
//! adopted by its tags on the next pass.

use super::events::{self, HttpFormat, Invocation};
use axum::body::Body as AxumBody;
use lambda_http::aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayV2httpResponse};
use lambda_http::Body as LambdaBody;
use lambda_runtime::tower::ServiceExt;
use serde::Serialize;
use serde_json::{json, Value};
use sortie_core::catalog::Catalog;
use sortie_server::app::{router, AppState};
use sortie_server::config::Settings;
use sortie_server::dispatcher::Dispatcher;
use sortie_server::fleet::{self, Fleet};
use sortie_server::ingest::{Ingest, DEFAULT_MAX_BATCH};
use sortie_server::planner::{Planner, PlannerOptions};
use sortie_server::reconciler::Reconciler;
use sortie_server::sweeper::Sweeper;
use sortie_store::{Clock, Delivery};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// Kept back from the invocation's deadline: the answer still has to be serialised and sent.
const ANSWER_RESERVE: Duration = Duration::from_secs(1);
/// No new launch starts with less than this left (a RunInstances call and its bookkeeping).
const LAUNCH_RESERVE: Duration = Duration::from_secs(8);
/// Without a deadline (tests, `sortie lambda --event`), draining stops after this long.
const NO_DEADLINE_BUDGET: Duration = Duration::from_secs(120);
/// An HTTP request drains for at most this long: API Gateway gives up on an integration after
/// 30 s ("Amazon API Gateway quotas": integration timeout), whatever the function's timeout.
const HTTP_BUDGET: Duration = Duration::from_secs(25);

/// Why an invocation failed. Lambda reports it to the caller; EventBridge retries the event.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// An HTTP event that `lambda_http` could not read.
    #[error("the API Gateway event could not be read: {0}")]
    BadHttpEvent(String),
    /// An EC2 event could not be applied because the store failed; retrying may succeed.
    #[error("the EC2 event was not applied: {0}; the event can be sent again")]
    Store(String),
}

/// Why the handler could not be built at cold start.
#[derive(Debug, thiserror::Error)]
pub enum ColdStartError {
    /// The store did not open (table missing and not creatable, no region, no access).
    #[error("cannot open the database {url}: {message}")]
    Store {
        /// The database URL, password redacted.
        url: String,
        /// The store's error.
        message: String,
    },
    /// A forge or provider refused its settings.
    #[error(transparent)]
    Fleet(#[from] fleet::BuildError),
}

/// What one drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DrainReport {
    /// Deliveries planned.
    pub planned: usize,
    /// One line per dispatched job: `job 7: Launched { provider: "ec2", instance: "i-…" }`.
    pub dispatched: Vec<String>,
    /// Why it stopped before nothing was claimable (time, store errors); `None` when done.
    pub stopped: Option<String>,
}

/// One container's state: built once, used by every invocation.
pub struct Handler {
    fleet: Arc<Fleet>,
    router: axum::Router,
    planner: Planner,
    sweeper: Sweeper,
    /// Runs one pass with each clean-up: lost webhooks, failed deliveries, stolen runners.
    reconciler: Reconciler,
    /// The ingest writer's "fresh delivery" notices. The drain plans from the store instead, so
    /// these are only emptied (the writer never blocks on them: it drops notices when full).
    fresh: Mutex<mpsc::Receiver<Delivery>>,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("fleet", &self.fleet)
            .finish_non_exhaustive()
    }
}

/// This container's replica id: the log stream names one execution environment.
pub fn replica_id() -> String {
    let stream = std::env::var("AWS_LAMBDA_LOG_STREAM_NAME").unwrap_or_default();
    if stream.is_empty() {
        format!("lambda/{}", std::process::id())
    } else {
        format!("lambda/{stream}")
    }
}

impl Handler {
    /// Cold start: opens the store (creating the DynamoDB table if absent) and builds the forges
    /// and providers. Must run inside a Tokio runtime (the ingest writer is a task).
    pub async fn cold_start(settings: &Settings) -> Result<Handler, ColdStartError> {
        let store = sortie_store::open(&settings.database_url)
            .await
            .map_err(|e| ColdStartError::Store {
                url: sortie_store::redact_url(&settings.database_url),
                message: e.to_string(),
            })?;
        let fleet = fleet::build(
            settings,
            store,
            fleet::BuildOptions {
                replica: replica_id(),
                // No processes on a Lambda host: the local provider exists but is never routed to
                // by the seed's map; if a route names it, its runner is this binary as agent.
                default_local_command: vec!["sortie".into(), "agent".into()],
                listen: settings.listen,
            },
        )
        .await?;
        Ok(Handler::new(settings, Arc::new(fleet)))
    }

    /// A handler over a fleet built elsewhere (tests put moto behind the `ec2` provider).
    pub fn new(settings: &Settings, fleet: Arc<Fleet>) -> Handler {
        let store = fleet.store.clone();
        // Fresh-delivery notices are not used (see `fresh`); a small queue is enough.
        let (fresh_tx, fresh) = mpsc::channel(64);
        let (ingest, _writer) = Ingest::spawn(store.clone(), fresh_tx, DEFAULT_MAX_BATCH);
        let planner = Planner {
            store: store.clone(),
            routing: settings.routing.clone(),
            catalog: Catalog::builtin(),
            owner: fleet.replica.clone(),
            options: PlannerOptions::default(),
            load: ingest.load(),
            fleet: Some(fleet.clone()),
        };
        let state = AppState {
            ingest,
            store,
            github_secret: settings.github.webhook_secret.clone(),
            gitea_secret: settings.gitea.webhook_secret.clone(),
            admin_token: settings.admin_token.clone(),
            fleet: Some(fleet.clone()),
            metrics: fleet.metrics.clone(),
        };
        Handler {
            router: router(state, settings.max_body_bytes),
            sweeper: Sweeper::new(fleet.clone()),
            reconciler: Reconciler::new(fleet.clone(), settings.routing.clone()),
            planner,
            fleet,
            fresh: Mutex::new(fresh),
        }
    }

    /// The same handler with the sweeper reading time from `clock` (the store's clock in tests).
    // Only `tests/lambda.rs` (which compiles this module itself) sets a clock.
    #[allow(dead_code)]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Handler {
        self.sweeper = self.sweeper.with_clock(clock);
        self
    }

    /// The fleet (store, forges, providers, limits).
    pub fn fleet(&self) -> &Arc<Fleet> {
        &self.fleet
    }

    /// One invocation: `payload` as Lambda delivered it; `deadline` when the invocation times
    /// out (`None`: no bound but [`NO_DEADLINE_BUDGET`] per drain).
    pub async fn invoke(
        &self,
        payload: Value,
        deadline: Option<Instant>,
    ) -> Result<Value, InvokeError> {
        let deadline = deadline.unwrap_or_else(|| Instant::now() + NO_DEADLINE_BUDGET);
        match events::classify(&payload) {
            Invocation::Http(format) => {
                let deadline = deadline.min(Instant::now() + HTTP_BUDGET);
                self.http(payload, format, deadline).await
            }
            Invocation::Cleanup => Ok(self.cleanup(deadline).await),
            Invocation::Ec2 => self.ec2(&payload, deadline).await,
            Invocation::Unknown(what) => {
                tracing::warn!(%what, "invocation ignored: not an HTTP, clean-up or EC2 event");
                Ok(json!({"ignored": what}))
            }
        }
    }

    /// An API Gateway or function URL request through `sortie serve`'s router; accepted work is
    /// drained before the answer goes back.
    async fn http(
        &self,
        payload: Value,
        format: HttpFormat,
        deadline: Instant,
    ) -> Result<Value, InvokeError> {
        let path = events::request_path(&payload).map(str::to_string);
        let request = lambda_http::request::from_str(&payload.to_string())
            .map_err(|e| InvokeError::BadHttpEvent(e.to_string()))?;
        let (mut parts, body) = request.into_parts();
        if let Some(path) = &path {
            parts.uri = with_path(&parts.uri, path);
        }
        let method = parts.method.to_string();
        let route = parts.uri.path().to_string();
        let request = axum::http::Request::from_parts(parts, AxumBody::from(body.to_vec()));
        let response = match self.router.clone().oneshot(request).await {
            Ok(r) => r,
            Err(never) => match never {},
        };
        let (parts, body) = response.into_parts();
        let bytes = axum::body::to_bytes(body, usize::MAX)
            .await
            .unwrap_or_default();
        if events::drains_after(&method, &route, parts.status.as_u16()) {
            let report = self.drain(deadline).await;
            tracing::info!(planned = report.planned, dispatched = report.dispatched.len(), stopped = ?report.stopped, "drained after {method} {route}");
        }
        Ok(answer(format, parts, bytes.to_vec()))
    }

    /// One sweep (the seed's five-minute clean-up) and one reconcile pass (jobs whose webhook
    /// was lost, failed App deliveries), then a drain: requeued and recovered jobs launch.
    async fn cleanup(&self, deadline: Instant) -> Value {
        let report = self.sweeper.sweep_once().await;
        // Another container may run the next clean-up: do not make it wait for the lease.
        self.sweeper.release().await;
        let summary = report.summary();
        tracing::info!(%summary, "clean-up done");
        // At most half the time left: the drain (launching what was requeued or recovered)
        // must still fit in this invocation.
        let budget = deadline.saturating_duration_since(Instant::now()) / 2;
        let reconciled = match tokio::time::timeout(budget, self.reconciler.reconcile_once()).await
        {
            Ok(report) => {
                tracing::info!(summary = %report.summary(), "reconcile done");
                json!(report)
            }
            Err(_) => {
                tracing::warn!("reconcile pass cut short by the invocation's deadline; the next clean-up goes on");
                json!({"stopped": "out of time in this invocation"})
            }
        };
        self.reconciler.release().await;
        let drain = self.drain(deadline).await;
        json!({
            "action": "cleanup",
            "summary": summary,
            "sweep": report,
            "reconcile": reconciled,
            "drain": drain
        })
    }

    /// An EventBridge EC2 event: the same handling as `POST /api/v1/events/ec2`, then a drain.
    async fn ec2(&self, payload: &Value, deadline: Instant) -> Result<Value, InvokeError> {
        let event = match sortie_provider::interruption::parse_event(&payload.to_string()) {
            Ok(Some(event)) => event,
            Ok(None) => return Ok(json!({"ignored": "not an EC2 event sortie handles"})),
            Err(e) => {
                tracing::warn!(error = %e, "EC2 event ignored: malformed");
                return Ok(json!({"ignored": format!("malformed EC2 event: {e}")}));
            }
        };
        let outcome = sortie_server::interruption::apply(self.fleet.store.as_ref(), &event)
            .await
            .map_err(|e| InvokeError::Store(e.to_string()))?;
        tracing::info!(instance = %event.instance_id, %outcome, "EC2 event applied");
        let drain = self.drain(deadline).await;
        Ok(json!({"outcome": outcome, "drain": drain}))
    }

    /// Plans every unprocessed delivery, then claims and dispatches jobs until none is
    /// claimable, `limits.concurrency` at a time, within `deadline`.
    pub async fn drain(&self, deadline: Instant) -> DrainReport {
        if let Ok(mut fresh) = self.fresh.lock() {
            while fresh.try_recv().is_ok() {}
        }
        let mut report = DrainReport::default();
        let end = deadline.checked_sub(ANSWER_RESERVE).unwrap_or(deadline);
        let end = tokio::time::Instant::from_std(end);
        match tokio::time::timeout_at(end, self.planner.plan_pending()).await {
            Ok(n) => report.planned = n,
            Err(_) => {
                report.stopped = Some(
                    "out of time while planning; the rest is planned by the next invocation".into(),
                );
                return report;
            }
        }
        let dispatcher = Dispatcher::new(self.fleet.clone());
        let mut running = JoinSet::new();
        let concurrency = self.fleet.limits.concurrency.max(1);
        loop {
            if end.saturating_duration_since(tokio::time::Instant::now()) < LAUNCH_RESERVE {
                report.stopped =
                    Some("out of time: no new launch started; the next invocation goes on".into());
                break;
            }
            if running.len() >= concurrency {
                if let Some(line) = next_done(&mut running, end).await {
                    report.dispatched.push(line);
                }
                continue;
            }
            match dispatcher.claim().await {
                Ok(Some(claimed)) => {
                    let d = dispatcher.clone();
                    let id = claimed.job.id;
                    running
                        .spawn(async move { format!("job {id}: {:?}", d.dispatch(claimed).await) });
                }
                Ok(None) => break,
                Err(e) => {
                    report.stopped = Some(format!("cannot claim jobs: {e}"));
                    break;
                }
            }
        }
        while !running.is_empty() {
            match next_done(&mut running, end).await {
                Some(line) => report.dispatched.push(line),
                None if tokio::time::Instant::now() >= end => {
                    // Dropping the set aborts the rest; each is resumed later (see module docs).
                    report.stopped = Some(format!(
                        "out of time with {} launches in flight",
                        running.len()
                    ));
                    break;
                }
                None => {}
            }
        }
        report
    }
}

/// The next finished dispatch's line, or `None` at `end` (or when a task panicked).
async fn next_done(running: &mut JoinSet<String>, end: tokio::time::Instant) -> Option<String> {
    match tokio::time::timeout_at(end, running.join_next()).await {
        Ok(Some(Ok(line))) => Some(line),
        Ok(Some(Err(e))) => {
            tracing::error!(error = %e, "a dispatch task failed");
            None
        }
        Ok(None) | Err(_) => None,
    }
}

/// `uri` with its path replaced by `path` (the query kept).
fn with_path(uri: &axum::http::Uri, path: &str) -> axum::http::Uri {
    let target = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut parts = uri.clone().into_parts();
    match target.parse() {
        Ok(pq) => {
            parts.path_and_query = Some(pq);
            axum::http::Uri::from_parts(parts).unwrap_or_else(|_| uri.clone())
        }
        Err(_) => uri.clone(),
    }
}

/// The router's response in the shape the caller expects: text bodies as text, anything else
/// base64 (API Gateway decodes it).
fn answer(format: HttpFormat, parts: axum::http::response::Parts, body: Vec<u8>) -> Value {
    let (body, is_base64_encoded) = match String::from_utf8(body) {
        Ok(text) if text.is_empty() => (None, false),
        Ok(text) => (Some(LambdaBody::Text(text)), false),
        Err(e) => (Some(LambdaBody::Binary(e.into_bytes())), true),
    };
    let status = i64::from(parts.status.as_u16());
    let serialised = match format {
        HttpFormat::V1 => {
            let mut r = ApiGatewayProxyResponse::default();
            r.status_code = status;
            // API Gateway merges `headers` into `multiValueHeaders`; one of them is enough.
            r.multi_value_headers = parts.headers;
            r.body = body;
            r.is_base64_encoded = is_base64_encoded;
            serde_json::to_value(r)
        }
        HttpFormat::V2 => {
            let mut r = ApiGatewayV2httpResponse::default();
            r.status_code = status;
            r.headers = parts.headers;
            r.body = body;
            r.is_base64_encoded = is_base64_encoded;
            serde_json::to_value(r)
        }
    };
    serialised.unwrap_or_else(|e| {
        tracing::error!(error = %e, "cannot serialise the answer");
        json!({"statusCode": 500})
    })
}
