//! The routes `sortie agent` calls from each machine (protocol: [`sortie_core::agent`]).
//!
//! - `POST /api/v1/agent/bootstrap` with the one-time bootstrap token: the attempt's agent
//!   session is created (one per job attempt, by the store's key), then the runner credential is
//!   minted on the forge for exactly this machine and answered with the runner name. The token is
//!   dead from then on (410 Gone); if the forge cannot mint the credential the redemption is
//!   undone and the agent is told to retry (503 + Retry-After).
//! - `POST /api/v1/agent/report` with the session token: phases and heartbeats. In push mode
//!   (no `workflow_job` webhooks) the agent's `job_started`/`finished` move the job; with
//!   `workflow_job` webhooks only the forge does (a runner may take another job than the one it
//!   was launched for). A machine that finished while its job still waits for a runner frees the
//!   job for a new attempt at once.
//!
//! The answer tells the agent to stop only when its runner is idle and its job is over or
//! superseded: a busy runner is never ended from here.

use crate::app::AppState;
use crate::dispatcher::{random_token, sha256_hex};
use crate::fleet::{Fleet, ForgeMode};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use sortie_core::agent::{
    AgentConfig, AgentPhase, AgentReport, GitAccess, ReportAnswer, RunnerLaunch,
    BOOTSTRAP_TOKEN_PREFIX, SESSION_TOKEN_PREFIX,
};
use sortie_core::job::{JobEvent, JobState};
use sortie_forge::{RepoRef, RunnerCredential, RunnerRequest};
use sortie_store::{
    AgentSession, InstanceFilter, InstanceState, Job, NewRegistration, Redeem, RegistrationState,
    StoreError,
};
use std::sync::Arc;

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, Json(json!({"error": message.into()}))).into_response()
}

fn bearer<'a>(headers: &'a HeaderMap, prefix: &str) -> Option<&'a str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| t.starts_with(prefix) && t.len() <= 256)
}

fn store_error(e: StoreError) -> Response {
    tracing::error!(error = %e, "agent route: store error");
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the orchestrator's database is unavailable; retry",
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

fn fleet(state: &AppState) -> Result<&Arc<Fleet>, Box<Response>> {
    state.fleet.as_ref().ok_or_else(|| {
        Box::new(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "this server does not dispatch machines",
        ))
    })
}

/// `POST /api/v1/agent/bootstrap`.
pub async fn bootstrap(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let fleet = match fleet(&state) {
        Ok(f) => f.clone(),
        Err(r) => return *r,
    };
    let Some(token) = bearer(&headers, BOOTSTRAP_TOKEN_PREFIX) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "send the machine's one-time bootstrap token as `Authorization: Bearer sbt_…`",
        );
    };
    let session_token = match random_token(SESSION_TOKEN_PREFIX) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "the OS random source failed");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "cannot mint a session; retry",
            );
        }
    };
    let session = match fleet
        .store
        .redeem_bootstrap(&sha256_hex(token), &sha256_hex(&session_token))
        .await
    {
        Ok(Redeem::Redeemed(s)) => s,
        Ok(Redeem::AlreadyUsed) => {
            tracing::warn!("a bootstrap token was presented again after its attempt was redeemed");
            return error(
                StatusCode::GONE,
                "this job attempt's bootstrap token was already used; power off",
            );
        }
        Ok(Redeem::Unknown) => {
            return error(
                StatusCode::UNAUTHORIZED,
                "unknown or expired bootstrap token; power off",
            )
        }
        Err(e) => return store_error(e),
    };
    match hand_out(&fleet, &session, session_token).await {
        Ok(config) => (StatusCode::OK, Json(config)).into_response(),
        Err(r) => r,
    }
}

/// Mints the runner credential for a redeemed session and builds the agent's config. On a
/// forge failure the redemption is undone so the agent can retry with its token.
async fn hand_out(
    fleet: &Fleet,
    session: &AgentSession,
    session_token: String,
) -> Result<AgentConfig, Response> {
    let store = &fleet.store;
    let job = match store.get_job(session.job).await {
        Ok(Some(job)) => job,
        Ok(None) => {
            return Err(error(
                StatusCode::GONE,
                "the job no longer exists; power off",
            ))
        }
        Err(e) => return Err(store_error(e)),
    };
    if job.state.is_terminal() || job.attempt != session.attempt {
        let why = if job.state.is_terminal() {
            format!("the job is already {}", job.state)
        } else {
            format!(
                "attempt {} was superseded by attempt {}",
                session.attempt, job.attempt
            )
        };
        return Err(error(StatusCode::GONE, format!("{why}; power off")));
    }
    let Some(handle) = fleet.forge(job.key.forge()) else {
        return Err(undo(
            fleet,
            &job,
            session,
            "no forge connection is configured for this job",
        )
        .await);
    };
    let scope = match handle.scope.scope_for(job.key.repo()) {
        Ok(s) => s,
        Err(e) => return Err(undo(fleet, &job, session, &e.to_string()).await),
    };
    let request = RunnerRequest::for_job(&job.key, session.attempt, scope, runner_labels(&job));
    let credential = match handle.forge.runner_credential(&request).await {
        Ok(c) => c,
        Err(e) => return Err(undo(fleet, &job, session, &format!("runner credential: {e}")).await),
    };
    let runner_name = credential.runner_name().to_string();
    let registration = NewRegistration {
        job: job.id,
        runner_id: credential.runner_id().and_then(|id| i64::try_from(id).ok()),
        name: runner_name.clone(),
        state: RegistrationState::Registered,
    };
    if let Err(e) = store.record_registration(&registration).await {
        tracing::warn!(job = %job.id, error = %e, "cannot record the runner registration; the registration sweep finds it by name");
    }
    let git = match RepoRef::parse(job.key.repo()) {
        Ok(repo) => match handle.forge.git_credential(&repo).await {
            Ok(Some(c)) => Some(GitAccess {
                host: web_host(&fleet.forge_web_url(job.key.forge())),
                repo: job.key.repo().to_string(),
                username: c.username,
                password: c.password.expose().to_string(),
                expires_at: c.expires_at.and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                }),
            }),
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e, "no short-lived git credential for this job; the runner uses the job token the forge gives it");
                None
            }
        },
        Err(_) => None,
    };
    let runner = match credential {
        RunnerCredential::JitConfig {
            encoded_jit_config, ..
        } => RunnerLaunch::GithubJit {
            encoded_jit_config: encoded_jit_config.expose().to_string(),
        },
        RunnerCredential::EphemeralRunner {
            instance_url,
            uuid,
            token,
            labels,
            ..
        } => RunnerLaunch::EphemeralRunner {
            instance_url,
            uuid,
            token: token.expose().to_string(),
            labels,
        },
        RunnerCredential::RegistrationToken {
            instance_url,
            token,
            labels,
            ..
        } => RunnerLaunch::ActRunnerRegister {
            instance_url,
            token: token.expose().to_string(),
            labels,
        },
    };
    if let Ok(instances) = store
        .list_instances(InstanceFilter {
            state: None,
            job: Some(job.id),
        })
        .await
    {
        for i in instances.iter().filter(|i| i.attempt == session.attempt) {
            if i.state == InstanceState::Pending {
                let _ = store.set_instance_state(i.id, InstanceState::Running).await;
            }
        }
    }
    let note = format!(
        "machine booted; runner {runner_name} gets its one-time {} credential",
        runner.kind()
    );
    if let Err(e) = store.note_job(job.id, &note).await {
        tracing::warn!(job = %job.id, error = %e, "cannot note the job");
    }
    tracing::info!(job = %job.id, key = %job.key, runner = %runner_name, kind = runner.kind(), "agent bootstrapped");
    Ok(AgentConfig {
        job: job.key.to_string(),
        job_id: job.id.0,
        attempt: session.attempt,
        runner_name,
        runner,
        session_token,
        heartbeat_interval_secs: fleet.limits.heartbeat_interval.as_secs().max(1),
        max_runtime_secs: fleet.limits.max_runtime.as_secs().max(60),
        git,
    })
}

/// The runner's labels: the job's `runs-on` labels (so the forge matches it to the job), with
/// `self-hosted` as every self-hosted runner has.
fn runner_labels(job: &Job) -> Vec<String> {
    let mut labels = job.labels.clone();
    if !labels.iter().any(|l| l.eq_ignore_ascii_case("self-hosted")) {
        labels.insert(0, "self-hosted".into());
    }
    labels
}

fn web_host(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or(url);
    rest.split('/').next().unwrap_or(rest).to_string()
}

async fn undo(fleet: &Fleet, job: &Job, session: &AgentSession, why: &str) -> Response {
    tracing::warn!(job = %job.id, reason = %why, "cannot hand out a runner credential; the agent retries");
    let _ = fleet
        .store
        .note_job(job.id, &format!("waiting: {why}; the machine retries"))
        .await;
    if let Err(e) = fleet
        .store
        .unredeem_bootstrap(job.id, session.attempt)
        .await
    {
        tracing::error!(job = %job.id, error = %e, "cannot undo a redemption; the launch deadline ends this machine");
    }
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!("cannot make the runner credential now ({why}); retry"),
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    r
}

/// `POST /api/v1/agent/report`.
pub async fn report(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let fleet = match fleet(&state) {
        Ok(f) => f.clone(),
        Err(r) => return *r,
    };
    let Some(token) = bearer(&headers, SESSION_TOKEN_PREFIX) else {
        return error(
            StatusCode::UNAUTHORIZED,
            "send the session token from the bootstrap answer as `Authorization: Bearer sas_…`",
        );
    };
    let report: AgentReport = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("not an agent report: {e}")),
    };
    let store = &fleet.store;
    let session = match store.find_session(&sha256_hex(token)).await {
        Ok(Some(s)) => s,
        Ok(None) => return error(StatusCode::UNAUTHORIZED, "unknown session token; power off"),
        Err(e) => return store_error(e),
    };
    let session = match store
        .record_phase(session.job, session.attempt, report.phase, report.exit_code)
        .await
    {
        Ok(s) => s,
        Err(e) => return store_error(e),
    };
    let job = match store.get_job(session.job).await {
        Ok(Some(j)) => j,
        Ok(None) => return Json(ReportAnswer { stop: true }).into_response(),
        Err(e) => return store_error(e),
    };
    if let Err(e) = follow(&fleet, &job, &session, &report).await {
        return store_error(e);
    }
    let idle = session.job_started_at.is_none() || session.finished_at.is_some();
    let over = job.state.is_terminal() || job.attempt != session.attempt;
    Json(ReportAnswer { stop: idle && over }).into_response()
}

/// Whether a replacement machine for `job` is needed after its machine's runner served another
/// job: `Some(false)` when the forge no longer lists `job` queued (another runner took it, its
/// webhook is on the way), or when the machines still coming up for jobs with the same labels
/// are at least as many as the jobs with those labels the forge lists queued (GitHub gives each
/// of them one of those jobs). `None` when the forge cannot say (no listing — Gitea, push mode —
/// an error, or no answer within 10 s): the caller relaunches, as before.
async fn replacement_needed(fleet: &Fleet, job: &Job) -> Result<Option<bool>, StoreError> {
    let sortie_core::job::JobKey::WorkflowJob { repo, job_id, .. } = &job.key else {
        return Ok(None);
    };
    let Some(handle) = fleet.forge(job.key.forge()) else {
        return Ok(None);
    };
    let Ok(repo) = RepoRef::parse(repo) else {
        return Ok(None);
    };
    let listed = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        handle.forge.queued_jobs(&repo),
    )
    .await;
    let Ok(Ok(listed)) = listed else {
        return Ok(None);
    };
    if !listed.iter().any(|q| q.job_id == *job_id) {
        return Ok(Some(false));
    }
    let same = |labels: &[String]| {
        let mut a = labels.to_vec();
        let mut b = job.labels.clone();
        a.sort();
        b.sort();
        a == b
    };
    let queued = listed.iter().filter(|q| same(&q.labels)).count();
    // Machines coming up: live, of a job not finished, and their runner has not taken a job
    // yet (whatever their own job's state says: the forge may have given that job to another
    // runner meanwhile). Labels come from one listing per state, not one read per machine.
    let store = &fleet.store;
    let mut labels_of = std::collections::HashMap::new();
    for state in [JobState::Queued, JobState::Launching, JobState::Running] {
        let jobs = store
            .list_jobs(sortie_store::JobFilter {
                state: Some(state),
                limit: 100_000,
            })
            .await?;
        labels_of.extend(jobs.into_iter().map(|j| (j.id, j.labels)));
    }
    let open = store.list_sessions(None).await?;
    let mut coming_up = 0;
    for state in [InstanceState::Pending, InstanceState::Running] {
        let live = store
            .list_instances(InstanceFilter {
                state: Some(state),
                job: None,
            })
            .await?;
        for i in live {
            if (i.job == job.id && i.attempt == job.attempt)
                || !labels_of.get(&i.job).is_some_and(|l| same(l))
            {
                continue;
            }
            let session = open
                .iter()
                .find(|s| s.job == i.job && s.attempt == i.attempt);
            let idle = match session {
                Some(s) => s.job_started_at.is_none(),
                // Not booted yet, or its session finished (the machine is powering off and the
                // store has not heard it end): only the job's own sessions tell.
                None => !store
                    .list_sessions(Some(i.job))
                    .await?
                    .iter()
                    .any(|s| s.attempt == i.attempt),
            };
            if idle {
                coming_up += 1;
            }
        }
    }
    Ok(Some(coming_up < queued))
}

/// Moves the job on an agent's report, where the agent is the authority.
async fn follow(
    fleet: &Fleet,
    job: &Job,
    session: &AgentSession,
    report: &AgentReport,
) -> Result<(), StoreError> {
    let store = &fleet.store;
    let push_mode = fleet
        .forge(job.key.forge())
        .is_some_and(|h| h.mode == ForgeMode::Push)
        || matches!(job.key, sortie_core::job::JobKey::Push { .. });
    let current = job.attempt == session.attempt;
    match report.phase {
        AgentPhase::Registered if current => {
            store
                .note_job(
                    job.id,
                    "runner registered; waiting for the forge to give it the job",
                )
                .await?;
        }
        AgentPhase::JobStarted if current && push_mode => {
            store
                .apply_event(
                    job.id,
                    JobEvent::Started,
                    "the machine's runner took the job",
                )
                .await?;
        }
        AgentPhase::Finished => {
            let code = report.exit_code.unwrap_or(-1);
            let mut detail = format!("runner exited with code {code}");
            if let Some(m) = &report.message {
                detail.push_str(&format!(" ({})", m.chars().take(200).collect::<String>()));
            }
            if current && push_mode && session.job_started_at.is_some() {
                let (event, reason) = if code == 0 {
                    (JobEvent::Succeeded, format!("job finished: {detail}"))
                } else {
                    (JobEvent::Fail, format!("job failed: {detail}"))
                };
                store.apply_event(job.id, event, &reason).await?;
            } else if current && matches!(job.state, JobState::Queued | JobState::Launching) {
                // The machine is gone and the job still waits for a runner: the runner never
                // got a job, or (GitHub) it served another job with the same labels.
                let marker = crate::steal::taken_marker(&job.key.runner_name(session.attempt));
                let reason = if session.job_started_at.is_some() {
                    format!("{}another job ({detail}); launching a replacement", marker)
                } else {
                    format!("the machine's runner ended without taking the job ({detail}); launching a replacement")
                };
                // A steal the forge's `in_progress` webhook already reported was counted
                // then (`crate::steal`); this report is the fallback when that webhook was lost.
                let counted = session.job_started_at.is_some()
                    && crate::steal::already_recorded(
                        fleet,
                        job,
                        &job.key.runner_name(session.attempt),
                    )
                    .await?;
                if session.job_started_at.is_some()
                    && replacement_needed(fleet, job).await? == Some(false)
                {
                    // Another runner took this job, or one coming up will (GitHub hands every
                    // fresh runner one queued job with matching labels). A replacement would
                    // only take some other job, and the next steal would cascade.
                    if !counted {
                        fleet.metrics.steal();
                    }
                    store
                        .note_job(
                            job.id,
                            &format!(
                                "{marker}another job ({detail}); no \
                                 replacement: another runner took this job or one coming up will \
                                 — waiting for the forge to report its runner"
                            ),
                        )
                        .await?;
                } else if job.attempt >= fleet.limits.max_attempts
                    && session.job_started_at.is_none()
                {
                    store
                        .apply_event_at(
                            job.id,
                            session.attempt,
                            JobEvent::Fail,
                            &format!("{reason} — gave up after {} attempts", job.attempt),
                        )
                        .await?;
                } else {
                    if session.job_started_at.is_some() && !counted {
                        fleet.metrics.steal();
                    }
                    store
                        .apply_event_at(job.id, session.attempt, JobEvent::Requeue, &reason)
                        .await?;
                    fleet.wake.notify_one();
                }
            } else {
                store
                    .note_job(
                        job.id,
                        &format!("machine of attempt {}: {detail}", session.attempt),
                    )
                    .await?;
            }
            if let Ok(regs) = store.list_registrations(None).await {
                let name = job.key.runner_name(session.attempt);
                for r in regs.iter().filter(|r| r.name == name) {
                    let _ = store
                        .set_registration_state(r.id, RegistrationState::Spent)
                        .await;
                }
            }
        }
        _ => {}
    }
    Ok(())
}
