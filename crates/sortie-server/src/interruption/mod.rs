//! `POST /api/v1/events/ec2`: EC2 interruption events (an EventBridge rule with an API
//! destination posts each event's JSON here). A spot interruption warning, or a state change that
//! stops or terminates the machine under a launching or running job, requeues the job once.
//!
//! [`decide`] says what an event means (pure); [`ec2_event`] reads the store, records the
//! instance's state and applies `JobEvent::Requeue`.

mod decide;

pub use decide::{decide, Decision, Seen};

use crate::admin;
use crate::app::AppState;
use crate::webhook::Refusal;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use sortie_core::job::{JobEvent, JobState, Transition};
use sortie_provider::interruption::{parse_event, InterruptionEvent};
use sortie_store::{Store, StoreError};

/// The provider name EC2 instances are recorded under (`Ec2Provider::name`).
pub const EC2_PROVIDER: &str = "ec2";

/// The handler: admin token → body → event → store. 401/413/400 refuse; 202 carries the outcome.
pub async fn ec2_event(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    if let Err(refusal) = admin::authorize(state.admin_token.as_ref(), &headers) {
        return refuse(refusal);
    }
    let event = match read_event(body) {
        Ok(event) => event,
        Err(refusal) => return refuse(refusal),
    };
    match apply(state.store.as_ref(), &event).await {
        Ok(outcome) => {
            tracing::info!(instance = %event.instance_id, %outcome, "EC2 event applied");
            (StatusCode::ACCEPTED, Json(json!({"outcome": outcome}))).into_response()
        }
        Err(e) => {
            tracing::error!(instance = %event.instance_id, error = %e, "EC2 event not applied: 503");
            let error = format!("{e}; nothing was changed by this request, post the event again");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({"error": error})),
            )
                .into_response()
        }
    }
}

/// The body as one EC2 interruption or state-change event, or the refusal.
fn read_event(body: Result<Bytes, BytesRejection>) -> Result<InterruptionEvent, Refusal> {
    let body = body.map_err(|rejection| {
        let status = rejection.status();
        let reason = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "the body is larger than max_body_bytes (SORTIE_MAX_BODY_BYTES)".to_string()
        } else {
            format!("the body could not be read: {rejection}")
        };
        Refusal { status, reason }
    })?;
    let bad = |reason: String| Refusal {
        status: StatusCode::BAD_REQUEST,
        reason,
    };
    let text = std::str::from_utf8(&body)
        .map_err(|_| bad("the body is not UTF-8 text; post the EventBridge event's JSON".into()))?;
    match parse_event(text) {
        Ok(Some(event)) => Ok(event),
        Ok(None) => Err(bad(
            "not an EC2 event sortie handles: expected source \"aws.ec2\" with detail-type \
             \"EC2 Spot Instance Interruption Warning\" or \"EC2 Instance State-change \
             Notification\"; narrow the EventBridge rule's pattern to these"
                .into(),
        )),
        Err(e) => Err(bad(format!(
            "not an EventBridge EC2 event: {e}; post the event JSON unchanged (no input transformer)"
        ))),
    }
}

/// Looks the instance up, records its state and requeues its job when [`decide`] says so.
/// Returns the outcome line.
pub async fn apply(store: &dyn Store, event: &InterruptionEvent) -> Result<String, StoreError> {
    let id = &event.instance_id.0;
    let Some(instance) = store.find_instance(EC2_PROVIDER, id).await? else {
        return Ok(format!("ignored: instance {id} is not one of ours"));
    };
    let Some(job) = store.get_job(instance.job).await? else {
        return Ok(format!(
            "ignored: instance {id} belongs to job {} which is no longer stored",
            instance.job
        ));
    };
    let seen = Seen {
        instance_state: instance.state,
        instance_attempt: instance.attempt,
        job_state: job.state,
        job_attempt: job.attempt,
    };
    let decision = decide(event.kind, id, &seen);
    if let Some(next) = decision.instance_state {
        store.set_instance_state(instance.id, next).await?;
    }
    // Two copies of one event racing past `decide` are harmless: the job state machine answers
    // `Requeue` on a queued job with `Unchanged`, so the attempt moves on once.
    if let Some(reason) = &decision.requeue {
        let applied = store.apply_event(job.id, JobEvent::Requeue, reason).await?;
        if applied.transition != Transition::To(JobState::Queued) {
            return Ok(format!(
                "recorded: instance {id}; the job is {} on attempt {}, nothing to requeue",
                applied.job.state, applied.job.attempt
            ));
        }
    }
    Ok(decision.outcome)
}

fn refuse(refusal: Refusal) -> Response {
    tracing::warn!(status = refusal.status.as_u16(), reason = %refusal.reason, "EC2 event refused");
    (refusal.status, Json(json!({"error": refusal.reason}))).into_response()
}
