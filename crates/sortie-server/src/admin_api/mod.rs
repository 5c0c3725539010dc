//! The admin API's read side under `/api/v1/` (DESIGN.md, "Operator interface"): jobs with the
//! reason for their state, instances, deliveries (never their bodies), and pools.
//!
//! Every route takes the [`Admin`] extractor first, so no handler runs without
//! `Authorization: Bearer <admin_token>` ([`crate::admin::authorize`]). [`query`] decides what a
//! request asks for (pure); the handlers read the store and answer with the [`view`] types.
//!
//! | route | answer |
//! |---|---|
//! | `GET /api/v1/jobs?state=&limit=` | [`JobsPage`], newest first |
//! | `GET /api/v1/jobs/{id}` | [`JobDetail`]: the job, its history, its instances |
//! | `GET /api/v1/instances?state=&job=` | [`InstancesPage`] |
//! | `GET /api/v1/deliveries?limit=` | [`DeliveriesPage`], newest first |
//! | `GET /api/v1/pools`, `PUT`/`DELETE /api/v1/pools/{name}` | [`PoolsPage`], `{"pool":…}`, `{"deleted":…}` |

pub mod query;
pub mod view;

pub use view::{
    DeliveriesPage, DeliveryView, HistoryView, InstanceView, InstancesPage, JobDetail, JobView,
    JobsPage, PoolsPage,
};

use crate::admin;
use crate::app::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use query::Params;
use serde_json::json;
use sortie_store::{InstanceFilter, Job, Store, StoreError};

/// The admin API routes, to merge into [`crate::app::router`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/jobs", get(jobs))
        .route("/api/v1/jobs/{id}", get(job))
        .route("/api/v1/instances", get(instances))
        .route("/api/v1/deliveries", get(deliveries))
        .route("/api/v1/pools", get(pools))
        .route(
            "/api/v1/pools/{name}",
            axum::routing::put(put_pool).delete(delete_pool),
        )
}

/// Proof that the request carried the admin token; a handler that takes it cannot run without.
#[derive(Debug, Clone, Copy)]
pub struct Admin;

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        admin::authorize(state.admin_token.as_ref(), &parts.headers)
            .map(|()| Admin)
            .map_err(|r| ApiError::Unauthorized(r.reason))
    }
}

/// Why an admin request was not answered; the response is `{"error": "…"}`.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401: no or wrong token, or no token configured.
    #[error("{0}")]
    Unauthorized(String),
    /// 400: a bad parameter or body; the message names it and the valid values.
    #[error("{0}")]
    BadRequest(String),
    /// 404: the job or pool does not exist.
    #[error("{0}")]
    NotFound(String),
    /// 503: the store did not answer.
    #[error("the store did not answer: {0}; nothing was changed, try again")]
    Store(#[from] StoreError),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Store(e) => {
                tracing::error!(error = %e, "admin API request failed: 503");
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        let body = Json(json!({"error": self.to_string()}));
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750 §3: a 401 names the scheme the client should use.
            return (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response();
        }
        (status, body).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

async fn jobs(
    _: Admin,
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult<JobsPage> {
    let filter = query::jobs_filter(&params).map_err(ApiError::BadRequest)?;
    let store = state.store.as_ref();
    let found = store.list_jobs(filter).await?;
    // Follow-up: one history query per job; a store method returning each job's latest reason
    // with `list_jobs` would make this one query.
    let mut jobs = Vec::with_capacity(found.len());
    for job in &found {
        jobs.push(job_view(store, job).await?);
    }
    Ok(Json(JobsPage { jobs }))
}

async fn job_view(store: &dyn Store, job: &Job) -> Result<JobView, StoreError> {
    let history = store.job_history(job.id).await?;
    Ok(JobView::new(job, &history))
}

async fn job(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<JobDetail> {
    let id = query::job_id(&id).map_err(ApiError::BadRequest)?;
    let store = state.store.as_ref();
    let Some(job) = store.get_job(id).await? else {
        return Err(ApiError::NotFound(format!(
            "no job {id}: `sortie jobs` (GET /api/v1/jobs) lists the jobs there are"
        )));
    };
    let history = store.job_history(id).await?;
    let filter = InstanceFilter {
        job: Some(id),
        state: None,
    };
    let instances = store.list_instances(filter).await?;
    Ok(Json(JobDetail {
        job: JobView::new(&job, &history),
        history: history.iter().map(HistoryView::from).collect(),
        instances: instances.iter().map(InstanceView::from).collect(),
    }))
}

async fn instances(
    _: Admin,
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult<InstancesPage> {
    let filter = query::instances_filter(&params).map_err(ApiError::BadRequest)?;
    let found = state.store.list_instances(filter).await?;
    Ok(Json(InstancesPage {
        instances: found.iter().map(InstanceView::from).collect(),
    }))
}

async fn deliveries(
    _: Admin,
    State(state): State<AppState>,
    Query(params): Query<Params>,
) -> ApiResult<DeliveriesPage> {
    let limit = query::deliveries_limit(&params).map_err(ApiError::BadRequest)?;
    let found = state.store.list_recent_deliveries(limit).await?;
    Ok(Json(DeliveriesPage {
        deliveries: found.iter().map(DeliveryView::from).collect(),
    }))
}

async fn pools(_: Admin, State(state): State<AppState>) -> ApiResult<PoolsPage> {
    Ok(Json(PoolsPage {
        pools: state.store.list_pools().await?,
    }))
}

async fn put_pool(
    _: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<serde_json::Value> {
    let body =
        body.map_err(|e| ApiError::BadRequest(format!("the body could not be read: {e}")))?;
    let pool = query::pool(&name, &body).map_err(ApiError::BadRequest)?;
    state.store.put_pool(&pool).await?;
    tracing::info!(pool = %pool.name, hot = pool.hot, stopped = pool.stopped, "pool written through the admin API");
    Ok(Json(json!({"pool": pool})))
}

async fn delete_pool(
    _: Admin,
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<serde_json::Value> {
    if !state.store.delete_pool(&name).await? {
        return Err(ApiError::NotFound(format!(
            "no pool named {name:?}: GET /api/v1/pools lists the pools there are"
        )));
    }
    tracing::info!(pool = %name, "pool deleted through the admin API");
    Ok(Json(json!({"deleted": name})))
}
