//! Workflow runs and jobs for reconciliation, as GitHub's REST API (2022-11-28) serves them:
//! - `GET /repos/{o}/{r}/actions/runs` (`status`, `head_sha`, `per_page`, `page`) →
//!   `{ total_count, workflow_runs }`, newest first ("List workflow runs for a repository");
//! - `GET /repos/{o}/{r}/actions/runs/{run_id}` ("Get a workflow run");
//! - `GET /repos/{o}/{r}/actions/runs/{run_id}/jobs` (`filter=latest|all`) and
//!   `…/runs/{run_id}/attempts/{n}/jobs` → `{ total_count, jobs }` ("Workflow jobs");
//! - `GET /repos/{o}/{r}/actions/jobs/{job_id}` ("Get a job for a workflow run").
//!
//! Every answer carries a weak `ETag`; a matching `If-None-Match` answers 304. Lists carry a
//! `Link` header when there are more pages.

use super::super::common::{
    link_header, message, page_of, page_params, query_param, reply_with_etag,
};
use super::super::sim::{rfc3339, FakeJob, FakeRun, Sim};
use super::{GhState, Req};
use axum::response::Response;
use serde_json::{json, Value};

pub(super) fn route(s: &mut GhState, req: &Req<'_>, repo: &str, rest: &[&str]) -> Response {
    let api = s.sim.base_url.clone();
    let repo_id = s.sim.repo_id(repo);
    let sim = &s.sim;
    let ctx = Ctx {
        api: &api,
        repo,
        repo_id,
    };
    let run_of = |id: &str| {
        id.parse::<u64>()
            .ok()
            .and_then(|id| sim.run(id))
            .filter(|r| r.repo.eq_ignore_ascii_case(repo))
    };
    match rest {
        ["actions", "runs"] => list_runs(sim, &ctx, req),
        ["actions", "runs", id] => match run_of(id) {
            Some(run) => reply_with_etag(req.if_none_match, &run_json(sim, &ctx, run), vec![]),
            None => message(404, "Not Found"),
        },
        ["actions", "runs", id, "jobs"] => match run_of(id) {
            Some(run) => {
                let all = query_param(req.query, "filter").as_deref() == Some("all");
                let jobs = sim.jobs_of_run(run.id, (!all).then_some(run.attempt));
                list_jobs(&ctx, req, &jobs, &format!("runs/{}/jobs", run.id))
            }
            None => message(404, "Not Found"),
        },
        ["actions", "runs", id, "attempts", n, "jobs"] => {
            let attempt = n.parse::<u32>().ok();
            match (run_of(id), attempt) {
                (Some(run), Some(a)) if a >= 1 && a <= run.attempt => {
                    let jobs = sim.jobs_of_run(run.id, Some(a));
                    list_jobs(
                        &ctx,
                        req,
                        &jobs,
                        &format!("runs/{}/attempts/{a}/jobs", run.id),
                    )
                }
                _ => message(404, "Not Found"),
            }
        }
        ["actions", "jobs", id] => {
            let job = id
                .parse::<u64>()
                .ok()
                .and_then(|id| sim.job(id))
                .filter(|j| j.repo.eq_ignore_ascii_case(repo));
            match job {
                Some(j) => reply_with_etag(req.if_none_match, &job_json(&ctx, j), vec![]),
                None => message(404, "Not Found"),
            }
        }
        _ => message(404, "Not Found"),
    }
}

struct Ctx<'a> {
    api: &'a str,
    repo: &'a str,
    repo_id: u64,
}

/// `status` takes a status or a conclusion ("List workflow runs for a repository").
fn status_matches(filter: &str, status: &str, conclusion: Option<&str>) -> bool {
    filter == status || conclusion == Some(filter)
}

fn list_runs(sim: &Sim, ctx: &Ctx<'_>, req: &Req<'_>) -> Response {
    let status = query_param(req.query, "status");
    let head_sha = query_param(req.query, "head_sha");
    let mut runs: Vec<Value> = sim
        .runs()
        .filter(|r| r.repo.eq_ignore_ascii_case(ctx.repo))
        .filter(|r| head_sha.as_deref().is_none_or(|h| h == r.head_sha))
        .filter(|r| {
            let (st, c) = sim.run_state(r);
            status
                .as_deref()
                .is_none_or(|f| status_matches(f, st.as_str(), c.as_deref()))
        })
        .map(|r| run_json(sim, ctx, r))
        .collect();
    runs.reverse();
    let (page, per_page) = page_params(req.query, "per_page", 30, 100);
    let items = page_of(&runs, page, per_page);
    let url = format!("{}/repos/{}/actions/runs", ctx.api, ctx.repo);
    let link = link_header(&url, page, per_page, runs.len());
    reply_with_etag(
        req.if_none_match,
        &json!({ "total_count": runs.len(), "workflow_runs": items }),
        link.map(|l| ("link".to_string(), l)).into_iter().collect(),
    )
}

fn list_jobs(ctx: &Ctx<'_>, req: &Req<'_>, jobs: &[&FakeJob], path: &str) -> Response {
    let all: Vec<Value> = jobs.iter().map(|j| job_json(ctx, j)).collect();
    let (page, per_page) = page_params(req.query, "per_page", 30, 100);
    let items = page_of(&all, page, per_page);
    let url = format!("{}/repos/{}/actions/{path}", ctx.api, ctx.repo);
    let link = link_header(&url, page, per_page, all.len());
    reply_with_etag(
        req.if_none_match,
        &json!({ "total_count": all.len(), "jobs": items }),
        link.map(|l| ("link".to_string(), l)).into_iter().collect(),
    )
}

fn run_json(sim: &Sim, ctx: &Ctx<'_>, run: &FakeRun) -> Value {
    let (status, conclusion) = sim.run_state(run);
    let jobs = sim.jobs_of_run(run.id, Some(run.attempt));
    let updated = jobs
        .iter()
        .flat_map(|j| [Some(j.created_at), j.started_at, j.completed_at])
        .flatten()
        .max()
        .unwrap_or(run.created_at);
    let started = jobs
        .iter()
        .map(|j| j.created_at)
        .min()
        .unwrap_or(run.created_at);
    let (api, repo, id) = (ctx.api, ctx.repo, run.id);
    let (owner, name) = repo.split_once('/').unwrap_or((repo, repo));
    json!({
        "id": id,
        "name": run.workflow_name,
        "node_id": format!("WFR_fake{id}"),
        "check_suite_id": id + 1,
        "head_branch": run.head_branch,
        "head_sha": run.head_sha,
        "path": run.path,
        "display_title": run.workflow_name,
        "run_number": run.run_number,
        "run_attempt": run.attempt,
        "event": run.event,
        "status": status.as_str(),
        "conclusion": conclusion,
        "workflow_id": 161335,
        "url": format!("{api}/repos/{repo}/actions/runs/{id}"),
        "html_url": format!("https://github.com/{repo}/actions/runs/{id}"),
        "jobs_url": format!("{api}/repos/{repo}/actions/runs/{id}/jobs"),
        "cancel_url": format!("{api}/repos/{repo}/actions/runs/{id}/cancel"),
        "rerun_url": format!("{api}/repos/{repo}/actions/runs/{id}/rerun"),
        "pull_requests": [],
        "created_at": rfc3339(run.created_at),
        "updated_at": rfc3339(updated),
        "run_started_at": rfc3339(started),
        "repository": { "id": ctx.repo_id, "name": name, "full_name": repo, "owner": { "login": owner } },
    })
}

fn job_json(ctx: &Ctx<'_>, j: &FakeJob) -> Value {
    let (api, repo, id) = (ctx.api, ctx.repo, j.id);
    let group = j.runner_id.map(|_| (1, "Default"));
    json!({
        "id": id,
        "run_id": j.run_id,
        "run_url": format!("{api}/repos/{repo}/actions/runs/{}", j.run_id),
        "run_attempt": j.run_attempt,
        "node_id": format!("CR_fake{id}"),
        "head_sha": j.head_sha,
        "head_branch": j.head_branch,
        "url": format!("{api}/repos/{repo}/actions/jobs/{id}"),
        "html_url": format!("https://github.com/{repo}/actions/runs/{}/job/{id}", j.run_id),
        "status": j.status.as_str(),
        "conclusion": j.conclusion,
        "created_at": rfc3339(j.created_at),
        "started_at": rfc3339(j.started_at.unwrap_or(j.created_at)),
        "completed_at": j.completed_at.map(rfc3339),
        "name": j.name,
        "steps": [],
        "check_run_url": format!("{api}/repos/{repo}/check-runs/{id}"),
        "labels": j.labels,
        "runner_id": j.runner_id,
        "runner_name": j.runner_name,
        "runner_group_id": group.map(|g| g.0),
        "runner_group_name": group.map(|g| g.1),
        "workflow_name": j.workflow_name,
    })
}
