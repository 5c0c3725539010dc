//! The axum router: webhook routes, the admin API's EC2 event route and health. Handlers are thin: `webhook::inspect` decides,
//! the handler stores through the group-commit writer and answers.

use crate::config::Secret;
use crate::ingest::Ingest;
use crate::webhook::{self, Refusal, WebhookRoute};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;
use sortie_store::{Delivery, DeliveryInsert, Store, Timestamp};
use std::sync::Arc;
use std::time::Duration;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The group-commit writer.
    pub ingest: Ingest,
    /// The store (readiness).
    pub store: Arc<dyn Store>,
    /// `github.webhook_secret`.
    pub github_secret: Option<Secret>,
    /// `gitea.webhook_secret` (Gitea and Forgejo).
    pub gitea_secret: Option<Secret>,
    /// `admin_token`: the bearer token of the admin API under `/api/v1/`; `None` keeps it closed.
    pub admin_token: Option<Secret>,
    /// The dispatcher's world (forges, providers, limits): the agent routes need it. `None` when
    /// the server only ingests (some tests).
    pub fleet: Option<Arc<crate::fleet::Fleet>>,
    /// Counters for `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The HTTP routes (DESIGN.md, "Operator interface").
pub fn router(state: AppState, max_body_bytes: usize) -> Router {
    let webhooks = Router::new()
        .route("/webhooks/github", post(github))
        .route("/webhooks/gitea", post(gitea))
        // The seed dispatcher's URL shape: Gitea and Forgejo posted to `/webhook`.
        .route("/webhook", post(gitea))
        // Admin API: EC2 interruption events from an EventBridge API destination.
        .route("/api/v1/events/ec2", post(crate::interruption::ec2_event))
        // The agent on each machine: one-time bootstrap exchange, then reports.
        .route(
            sortie_core::agent::BOOTSTRAP_PATH,
            post(crate::agent_api::bootstrap),
        )
        .route(
            sortie_core::agent::REPORT_PATH,
            post(crate::agent_api::report),
        )
        .layer(DefaultBodyLimit::max(max_body_bytes));
    Router::new()
        .merge(webhooks)
        .merge(crate::admin_api::routes())
        .merge(crate::ui::routes())
        .route("/metrics", get(crate::metrics::metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn github(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let secret = state.github_secret.clone();
    receive(
        &state,
        WebhookRoute::Github,
        secret.as_ref(),
        &headers,
        body,
    )
    .await
}

async fn gitea(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let secret = state.gitea_secret.clone();
    receive(&state, WebhookRoute::Gitea, secret.as_ref(), &headers, body).await
}

/// Verify, store (durably, through the writer), answer. Every refusal logs one line saying why.
async fn receive(
    state: &AppState,
    route: WebhookRoute,
    secret: Option<&Secret>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let status = rejection.status();
            let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
                "the body is larger than max_body_bytes (SORTIE_MAX_BODY_BYTES); nothing stored"
                    .to_string()
            } else {
                format!("the body could not be read: {rejection}")
            };
            state.metrics.webhook(route_forge(route), "refused");
            return refuse(route, headers, Refusal { status, reason });
        }
    };
    let delivery = match webhook::inspect(route, secret, headers, &body, Timestamp::now()) {
        Ok(d) => d,
        Err(refusal) => {
            state.metrics.webhook(route_forge(route), "refused");
            return refuse(route, headers, refusal);
        }
    };
    store_and_answer(state, delivery).await
}

/// The forge label of a refused delivery (Forgejo posts to the Gitea route).
fn route_forge(route: WebhookRoute) -> &'static str {
    match route {
        WebhookRoute::Github => "github",
        WebhookRoute::Gitea => "gitea",
    }
}

async fn store_and_answer(state: &AppState, delivery: Delivery) -> Response {
    let (forge, id) = (delivery.forge, delivery.id.clone());
    match state.ingest.store(delivery).await {
        Ok(DeliveryInsert::New) => {
            state.metrics.webhook(forge.as_str(), "stored");
            (
                StatusCode::ACCEPTED,
                Json(json!({"delivery": id, "forge": forge, "status": "stored"})),
            )
                .into_response()
        }
        Ok(DeliveryInsert::Duplicate { original }) => {
            state.metrics.webhook(forge.as_str(), "duplicate");
            let outcome = original
                .outcome
                .unwrap_or_else(|| "stored; not processed yet".into());
            tracing::info!(%forge, delivery = %id, %outcome, "duplicate delivery: answered with the original's outcome");
            let body = json!({
                "delivery": id, "forge": forge, "status": "duplicate",
                "received_at": original.received_at.to_string(), "outcome": outcome,
            });
            (StatusCode::OK, Json(body)).into_response()
        }
        Err(e) => {
            tracing::error!(%forge, delivery = %id, error = %e, "delivery refused with 503: not stored");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": e.to_string()})),
            )
                .into_response()
        }
    }
}

/// Logs one line for the refusal (never the body or a secret) and answers with its status.
fn refuse(route: WebhookRoute, headers: &HeaderMap, refusal: Refusal) -> Response {
    let delivery = [
        "x-github-delivery",
        "x-forgejo-delivery",
        "x-gitea-delivery",
    ]
    .iter()
    .find_map(|h| headers.get(*h).and_then(|v| v.to_str().ok()))
    .map(|v| v.chars().take(64).collect::<String>())
    .unwrap_or_default();
    tracing::warn!(route = ?route, %delivery, status = refusal.status.as_u16(), reason = %refusal.reason, "webhook refused");
    (refusal.status, Json(json!({"error": refusal.reason}))).into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the database answers a query on the deliveries table, i.e. it is reachable and
/// migrated (`sortie_store::open` migrates before the server starts).
async fn readyz(State(state): State<AppState>) -> Response {
    let probe = tokio::time::timeout(
        Duration::from_secs(2),
        state.store.list_unprocessed_deliveries(1),
    )
    .await;
    match probe {
        Ok(Ok(_)) => (StatusCode::OK, Json(json!({"status": "ready"}))).into_response(),
        Ok(Err(e)) => not_ready(e.to_string()),
        Err(_) => not_ready("the database did not answer within 2 s".into()),
    }
}

fn not_ready(error: String) -> Response {
    tracing::warn!(%error, "readiness check failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"status": "not ready", "error": error})),
    )
        .into_response()
}
