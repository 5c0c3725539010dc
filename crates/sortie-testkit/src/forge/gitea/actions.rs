//! Listing runs and jobs, as Gitea and Forgejo offer it.
//!
//! Gitea (go-gitea/gitea#33964 "Add workflow_run api + webhook", upstream since 1.25; served
//! here for [`GiteaKind::Gitea`]): `routers/api/v1/api.go` registers, through
//! `routers/api/v1/shared/action.go` `ListRuns`/`ListJobs`,
//! - `GET /repos/{o}/{r}/actions/runs`, `…/runs/{run}`, `…/runs/{run}/jobs`, `…/actions/jobs`,
//!   `…/actions/jobs/{job_id}`;
//! - `GET /orgs/{org}/actions/runs|jobs`, `GET /admin/actions/runs|jobs` (and
//!   `/user/actions/runs|jobs`, not simulated);
//!
//! with `status` (repeatable; GitHub's names mapped by `convertToInternal`, an unknown one is
//! 400), `event` on runs (`FindRunOptions.TriggerEvent`), `page` and `limit`; answers `{ workflow_runs | jobs, total_count }`, runs newest first,
//! jobs oldest first.
//!
//! Forgejo (`routers/api/v1/shared/runners.go` `GetActionRunJobs`): `GET {/admin, /orgs/{org},
//! /repos/{o}/{r}}/actions/runners/jobs?labels=a,b` → a bare array of `ActionRunJob`
//! `{ id, repo_id, owner_id, name, needs, runs_on, task_id, status }` for waiting and running
//! jobs whose `runs-on` the given labels satisfy (`ItRunsOn`); Go encodes "none" as `null`.

use super::super::common::{message, page_of, page_params, query_param, query_params, reply};
use super::super::payloads::{gitea_action_job, gitea_repository};
use super::super::sim::{rfc3339, FakeJob, FakeRun, JobStatus, Sim};
use super::{GiteaKind, GtState};
use axum::response::Response;
use serde_json::{json, Value};

/// Serves the listing routes for `scope`; `None` when `rest` is not one of them.
pub(super) fn route(
    s: &mut GtState,
    scope: &str,
    rest: &[&str],
    query: Option<&str>,
) -> Option<Response> {
    let forgejo = matches!(s.kind, GiteaKind::Forgejo | GiteaKind::ForgejoLegacy);
    if forgejo {
        return match rest {
            ["actions", "runners", "jobs"] => Some(search_jobs(&mut s.sim, scope, query)),
            _ => None,
        };
    }
    if s.kind != GiteaKind::Gitea {
        return None;
    }
    let repo = scope.strip_prefix("repo:");
    let sim = &mut s.sim;
    let statuses = query_params(query, "status");
    if let Some(bad) = statuses
        .iter()
        .find(|f| status_matches(f, "queued", None).is_none())
    {
        return Some(message(400, &format!("Invalid status {bad}")));
    }
    let base = sim.base_url.clone();
    let event = query_param(query, "event").filter(|e| !e.is_empty());
    Some(match (rest, repo) {
        (["actions", "runs"], _) => {
            let mut runs: Vec<FakeRun> = sim
                .runs()
                .filter(|r| in_scope(scope, &r.repo))
                .filter(|r| event.as_ref().is_none_or(|e| *e == r.event))
                .filter(|r| {
                    let (st, c) = sim.run_state(r);
                    wanted(&statuses, st, c.as_deref())
                })
                .cloned()
                .collect();
            runs.reverse();
            let items: Vec<Value> = runs.iter().map(|r| run_json(sim, r, &base)).collect();
            paged(query, "workflow_runs", &items)
        }
        (["actions", "jobs"], _) => {
            let jobs: Vec<Value> = sim
                .jobs()
                .iter()
                .filter(|j| in_scope(scope, &j.repo))
                .filter(|j| wanted(&statuses, j.status, j.conclusion.as_deref()))
                .map(|j| gitea_action_job(j, &base))
                .collect();
            paged(query, "jobs", &jobs)
        }
        (["actions", "runs", id], Some(repo)) => match run_in(sim, id, repo) {
            Some(run) => reply(200, run_json(sim, &run, &base)),
            None => message(404, "Not Found"),
        },
        (["actions", "runs", id, "jobs"], Some(repo)) => match run_in(sim, id, repo) {
            Some(run) => {
                let jobs: Vec<Value> = sim
                    .jobs_of_run(run.id, None)
                    .into_iter()
                    .filter(|j| wanted(&statuses, j.status, j.conclusion.as_deref()))
                    .map(|j| gitea_action_job(j, &base))
                    .collect();
                paged(query, "jobs", &jobs)
            }
            None => message(404, "Not Found"),
        },
        (["actions", "jobs", id], Some(repo)) => {
            let job = id
                .parse::<u64>()
                .ok()
                .and_then(|id| sim.job(id))
                .filter(|j| j.repo == repo);
            match job {
                Some(j) => reply(200, gitea_action_job(j, &base)),
                None => message(404, "Not Found"),
            }
        }
        _ => return None,
    })
}

fn run_in(sim: &Sim, id: &str, repo: &str) -> Option<FakeRun> {
    id.parse::<u64>()
        .ok()
        .and_then(|id| sim.run(id))
        .filter(|r| r.repo == repo)
        .cloned()
}

fn in_scope(scope: &str, repo: &str) -> bool {
    match scope.split_once(':') {
        Some(("repo", r)) => r == repo,
        Some(("org", o)) => repo.split('/').next() == Some(o),
        _ => scope == "instance",
    }
}

/// Whether a job or run in `status`/`conclusion` passes the filter `f`, after Gitea's
/// `convertToInternal`; `None` for a filter Gitea refuses.
fn status_matches(f: &str, status: &str, conclusion: Option<&str>) -> Option<bool> {
    Some(match f {
        // Gitea's `Blocked`: the simulation has no jobs waiting on others or on approval.
        "pending" | "waiting" | "requested" | "action_required" => false,
        "queued" | "in_progress" | "completed" => status == f,
        "success" | "failure" => conclusion == Some(f),
        "cancelled" | "timed_out" => conclusion == Some("cancelled"),
        "skipped" | "neutral" => conclusion == Some("skipped"),
        _ => return None,
    })
}

fn wanted(filters: &[String], status: JobStatus, conclusion: Option<&str>) -> bool {
    filters.is_empty()
        || filters
            .iter()
            .any(|f| status_matches(f, status.as_str(), conclusion) == Some(true))
}

/// `{ key: page, total_count }` with `page` and `limit` (Gitea's defaults: 30, at most 50).
fn paged(query: Option<&str>, key: &str, items: &[Value]) -> Response {
    let (page, limit) = page_params(query, "limit", 30, 50);
    reply(
        200,
        json!({ key: page_of(items, page, limit), "total_count": items.len() }),
    )
}

/// Gitea's `ActionWorkflowRun` (`modules/structs/repo_actions.go`).
fn run_json(sim: &mut Sim, run: &FakeRun, base: &str) -> Value {
    let (status, conclusion) = sim.run_state(run);
    let jobs = sim.jobs_of_run(run.id, Some(run.attempt));
    let started = jobs.iter().filter_map(|j| j.started_at).min();
    let completed = (status == JobStatus::Completed)
        .then(|| jobs.iter().filter_map(|j| j.completed_at).max())
        .flatten();
    let repo = run.repo.clone();
    let repository = gitea_repository(&repo, sim.repo_id(&repo), base);
    let actor = json!({ "id": 1, "login": "gitea", "username": "gitea", "full_name": "Gitea" });
    let unset = "1970-01-01T00:00:00Z".to_string();
    let mut v = json!({
        "id": run.id,
        "url": format!("{base}/api/v1/repos/{repo}/actions/runs/{}", run.id),
        "html_url": format!("{base}/{repo}/actions/runs/{}", run.run_number),
        "display_title": run.workflow_name,
        "path": format!("{}@refs/heads/{}", run.path.rsplit('/').next().unwrap_or_default(), run.head_branch),
        "event": run.event,
        "run_attempt": run.attempt,
        "run_number": run.run_number,
        "repository_id": repository["id"],
        "head_sha": run.head_sha,
        "head_branch": run.head_branch,
        "status": status.as_str(),
        "actor": actor,
        "trigger_actor": actor,
        "repository": repository,
        "head_repository": repository,
        "started_at": started.map_or(unset.clone(), rfc3339),
        "completed_at": completed.map_or(unset, rfc3339),
    });
    if let Some(c) = conclusion {
        v["conclusion"] = json!(c);
    }
    v
}

/// Forgejo's `GET …/actions/runners/jobs?labels=…`.
fn search_jobs(sim: &mut Sim, scope: &str, query: Option<&str>) -> Response {
    let labels: Vec<String> = query_param(query, "labels")
        .unwrap_or_default()
        .split(',')
        .map(|l| l.trim().to_string())
        .collect();
    let jobs: Vec<FakeJob> = sim
        .jobs()
        .into_iter()
        .filter(|j| in_scope(scope, &j.repo))
        .filter(|j| j.status != JobStatus::Completed)
        // `ItRunsOn`: a job with `runs-on` all among the given labels.
        .filter(|j| !j.labels.is_empty() && j.labels.iter().all(|l| labels.contains(l)))
        .collect();
    if jobs.is_empty() {
        return reply(200, Value::Null);
    }
    let items: Vec<Value> = jobs
        .iter()
        .map(|j| {
            let owner = j.repo.split('/').next().unwrap_or_default();
            let running = j.status == JobStatus::InProgress;
            json!({
                "id": j.id,
                "repo_id": sim.repo_id(&j.repo),
                "owner_id": sim.repo_id(&format!("owner:{owner}")),
                "name": j.name,
                "needs": null,
                "runs_on": j.labels,
                "task_id": if running { j.id } else { 0 },
                "status": if running { "running" } else { "waiting" },
            })
        })
        .collect();
    reply(200, Value::Array(items))
}
