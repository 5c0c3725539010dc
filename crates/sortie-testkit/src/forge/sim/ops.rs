//! What happens to jobs: queued, given to a runner, finished, cancelled — each change followed
//! by its `workflow_job` webhook when the fake sends those.

use super::super::common::{message, reply};
use super::{now, FakeJob, JobSpec, JobStatus, Refusal, SimHost};
use axum::response::Response;

/// Sends the `workflow_job` webhook for a job's current state (when the fake sends them).
pub(crate) fn emit_job<H: SimHost>(h: &mut H, job_id: u64, action: &str) {
    if !h.sim().workflow_job_webhooks {
        return;
    }
    let Some(job) = h.sim().job(job_id).cloned() else {
        return;
    };
    if let Some(p) = h.job_payload(&job, action) {
        h.sim().hooks.enqueue(
            "workflow_job",
            Some(action),
            p.body,
            p.installation_id,
            p.repository_id,
        );
    }
}

/// Queues a job, sends `workflow_job` `queued`, and wakes polling runners.
pub(crate) fn queue<H: SimHost>(h: &mut H, spec: JobSpec) -> FakeJob {
    let job = h.sim().new_job(spec);
    emit_job(h, job.id, "queued");
    h.sim().notify.notify_waiters();
    job
}

/// Gives `runner_id` a job: the one it runs already (a repeated poll), else a matching queued
/// one, which moves to `in_progress` with a webhook. `Err` is the answer for an unknown runner.
pub(crate) fn assign<H: SimHost>(h: &mut H, runner_id: u64) -> Result<Option<FakeJob>, Refusal> {
    let sim = h.sim();
    let Some(runner) = sim.runners.get(&runner_id).cloned() else {
        return Err(Refusal(
            410,
            format!(
                "runner {runner_id} is not registered: it was removed after its job, or deleted"
            ),
        ));
    };
    if let Some(j) = runner.job.and_then(|j| sim.jobs.get(&j)) {
        if j.status == JobStatus::InProgress {
            return Ok(Some(j.clone()));
        }
    }
    // Offline runners get nothing; nor does one busy with work the simulation does not track
    // (registered busy with `add_runner`).
    if !runner.online || runner.busy {
        return Ok(None);
    }
    let Some(job_id) = sim.pick(&runner) else {
        return Ok(None);
    };
    if let Some(j) = sim.jobs.get_mut(&job_id) {
        j.status = JobStatus::InProgress;
        j.runner_id = Some(runner_id);
        j.runner_name = Some(runner.name.clone());
        j.started_at = Some(now());
    }
    if let Some(r) = sim.runners.get_mut(&runner_id) {
        r.busy = true;
        r.job = Some(job_id);
    }
    emit_job(h, job_id, "in_progress");
    Ok(h.sim().job(job_id).cloned())
}

/// The runner reports its job's end. Idempotent for a job already completed.
pub(crate) fn finish<H: SimHost>(
    h: &mut H,
    runner_id: u64,
    job_id: u64,
    conclusion: &str,
) -> Response {
    if !matches!(conclusion, "success" | "failure" | "cancelled") {
        return message(
            422,
            &format!("conclusion must be success, failure or cancelled, not {conclusion:?}"),
        );
    }
    let Some(job) = h.sim().job(job_id).cloned() else {
        return message(404, &format!("job {job_id} does not exist"));
    };
    match job.status {
        JobStatus::Completed => {}
        JobStatus::Queued => {
            return message(
                409,
                &format!("job {job_id} was never given to runner {runner_id}"),
            )
        }
        JobStatus::InProgress if job.runner_id != Some(runner_id) => {
            return message(
                409,
                &format!(
                    "job {job_id} runs on runner {:?}, not {runner_id}",
                    job.runner_id
                ),
            )
        }
        JobStatus::InProgress => {
            h.sim().complete(job_id, conclusion);
            emit_job(h, job_id, "completed");
        }
    }
    let done = h.sim().job(job_id).cloned().unwrap_or(job);
    reply(
        200,
        serde_json::json!({ "job_id": job_id, "status": done.status.as_str(), "conclusion": done.conclusion }),
    )
}

/// Cancels a queued or running job: `completed`/`cancelled` with a webhook. False when the job
/// is unknown or already completed.
pub(crate) fn cancel<H: SimHost>(h: &mut H, job_id: u64) -> bool {
    if !h.sim().complete(job_id, "cancelled") {
        return false;
    }
    emit_job(h, job_id, "completed");
    true
}
