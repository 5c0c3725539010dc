//! The runner endpoints the fakes serve to `sortie agent` in its fake-runner mode. The protocol
//! is fixed (the agent is written against it):
//!
//! - `POST /_fake/runner/connect` with one of `{"jit_config": "<encoded_jit_config>"}` (GitHub),
//!   `{"uuid": "…", "token": "…"}` (Forgejo's ephemeral registration) or
//!   `{"registration_token": "…", "name": "…", "labels": […], "ephemeral": true}` (act_runner
//!   register) → 200 `{"runner_id": N}`, the runner is online; 401/410 `{"message"}` for an
//!   unknown or spent credential.
//! - `POST /_fake/runner/{id}/next?wait_ms=N` long-polls up to N ms (at most 60 s) → 200
//!   `{"job_id", "run_id", "duration_ms", …}` or 204 when no job came; 410 for a runner that is
//!   gone. Asking again while the job runs answers the same job.
//! - `POST /_fake/runner/{id}/finish` with `{"job_id": N, "conclusion": "success"|"failure"}` →
//!   200; the job completes and an ephemeral runner is removed.

use super::super::common::{lock, message, query_param, reply};
use super::ops::{assign, finish};
use super::{FakeJob, SimHost};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest long-poll served.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// Whether `path` is one of the simulation's own routes.
pub(crate) fn is_sim_path(path: &str) -> bool {
    path.starts_with("/_fake/")
}

/// Serves a `/_fake/runner/…` request.
pub(crate) async fn route<H: SimHost>(
    state: &Arc<Mutex<H>>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    body: &[u8],
) -> Response {
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    if method != Method::POST {
        return message(405, "the fake runner endpoints take POST");
    }
    let json: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => return message(400, &format!("the body is not JSON: {e}")),
        }
    };
    match segs.as_slice() {
        ["_fake", "runner", "connect"] => {
            let mut s = lock(state);
            match s.connect(&json) {
                Ok(id) => reply(200, json!({ "runner_id": id })),
                Err(refusal) => refusal.response(),
            }
        }
        ["_fake", "runner", id, "next"] => {
            let Ok(id) = id.parse::<u64>() else {
                return message(404, "runner ids are numbers");
            };
            let wait = query_param(query, "wait_ms")
                .and_then(|v| v.parse::<u64>().ok())
                .map_or(Duration::ZERO, Duration::from_millis)
                .min(MAX_WAIT);
            next(state, id, wait).await
        }
        ["_fake", "runner", id, "finish"] => {
            let Ok(id) = id.parse::<u64>() else {
                return message(404, "runner ids are numbers");
            };
            let Some(job_id) = json.get("job_id").and_then(Value::as_u64) else {
                return message(
                    422,
                    "finish needs {\"job_id\": N, \"conclusion\": \"success\"}",
                );
            };
            let conclusion = json
                .get("conclusion")
                .and_then(Value::as_str)
                .unwrap_or("success");
            let mut s = lock(state);
            finish(&mut *s, id, job_id, conclusion)
        }
        _ => message(404, "Not Found"),
    }
}

/// Long-polls for a job: looks, and if nothing matched waits for a job to be queued (or the
/// deadline), never holding the lock while waiting.
async fn next<H: SimHost>(state: &Arc<Mutex<H>>, runner_id: u64, wait: Duration) -> Response {
    let deadline = tokio::time::Instant::now() + wait;
    let notify = lock(state).sim().notify.clone();
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        // Register before looking, so a job queued between the look and the wait is not missed.
        notified.as_mut().enable();
        let (found, duration) = {
            let mut s = lock(state);
            let found = assign(&mut *s, runner_id);
            (found, s.sim().job_duration)
        };
        match found {
            Err(refusal) => return refusal.response(),
            Ok(Some(job)) => return job_answer(&job, duration),
            Ok(None) => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return StatusCode::NO_CONTENT.into_response();
        }
        let _ = tokio::time::timeout_at(deadline, notified).await;
    }
}

fn job_answer(job: &FakeJob, duration: Duration) -> Response {
    reply(
        200,
        json!({
            "job_id": job.id,
            "run_id": job.run_id,
            "run_attempt": job.run_attempt,
            "name": job.name,
            "repo": job.repo,
            "labels": job.labels,
            "duration_ms": duration.as_millis() as u64,
        }),
    )
}
