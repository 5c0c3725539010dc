//! Webhook payloads built from the forges' documented examples in the workspace's `fixtures/`
//! (see `fixtures/README.md`): the example is loaded and only the fields a test controls are
//! replaced, so every other field keeps the forge's real shape.

use super::sim::{rfc3339, FakeJob};
use serde_json::{json, Value};
use std::path::PathBuf;

/// The workspace's `fixtures/` folder.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// A fixture's bytes, e.g. `fixture("gitea/push.json")`.
pub fn fixture(rel: &str) -> std::io::Result<Vec<u8>> {
    std::fs::read(fixtures_dir().join(rel))
}

/// The fixtures the simulation builds webhooks from, compiled in so the fakes work from any
/// directory (`sortie demo` runs them outside the source tree).
fn embedded(rel: &str) -> Option<&'static str> {
    match rel {
        "gitea/push.json" => Some(include_str!("../../../../fixtures/gitea/push.json")),
        "github/workflow_job.queued.json" => Some(include_str!(
            "../../../../fixtures/github/workflow_job.queued.json"
        )),
        _ => None,
    }
}

fn load(rel: &str) -> std::io::Result<Value> {
    let bytes = match embedded(rel) {
        Some(text) => text.as_bytes().to_vec(),
        None => fixture(rel)?,
    };
    serde_json::from_slice(&bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

fn set_repository(v: &mut Value, full_name: &str) {
    let (owner, name) = full_name.split_once('/').unwrap_or((full_name, full_name));
    v["repository"]["full_name"] = json!(full_name);
    v["repository"]["name"] = json!(name);
    v["repository"]["owner"]["login"] = json!(owner);
    // Gitea's `User` also carries `username` (modules/structs/user.go).
    if v["repository"]["owner"].get("username").is_some() {
        v["repository"]["owner"]["username"] = json!(owner);
    }
}

/// A commit listed in a push payload: id and the files it modified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushedCommit {
    /// Commit id.
    pub id: String,
    /// Files the commit modified.
    pub modified: Vec<String>,
}

/// A Gitea push payload from `fixtures/gitea/push.json` (Gitea's documented example): `ref`,
/// `before`, `after`, `commits` (each a copy of the example's commit with `id` and `modified`
/// replaced, `added`/`removed` emptied), `total_commits` (when `None`, the number listed) and
/// the repository name replaced.
pub fn gitea_push(
    repo: &str,
    git_ref: &str,
    before: &str,
    after: &str,
    commits: &[PushedCommit],
    total_commits: Option<usize>,
) -> std::io::Result<Vec<u8>> {
    let mut v = load("gitea/push.json")?;
    let template = v["commits"][0].clone();
    let list: Vec<Value> = commits
        .iter()
        .map(|c| {
            let mut t = template.clone();
            t["id"] = json!(c.id);
            t["added"] = json!([]);
            t["removed"] = json!([]);
            t["modified"] = json!(c.modified);
            t
        })
        .collect();
    v["ref"] = json!(git_ref);
    v["before"] = json!(before);
    v["after"] = json!(after);
    v["commits"] = Value::Array(list);
    v["total_commits"] = json!(total_commits.unwrap_or(commits.len()));
    v["compare_url"] = json!(format!(
        "http://localhost:3000/{repo}/compare/{before}...{after}"
    ));
    set_repository(&mut v, repo);
    Ok(serde_json::to_vec(&v)?)
}

/// A GitHub `workflow_job` payload from `fixtures/github/workflow_job.queued.json`
/// (`@octokit/webhooks-examples`) with `action`, job and run ids, labels, repository and
/// installation replaced.
pub fn github_workflow_job(
    action: &str,
    repo: &str,
    run_id: u64,
    job_id: u64,
    labels: &[&str],
    installation_id: u64,
) -> std::io::Result<Vec<u8>> {
    let mut v = load("github/workflow_job.queued.json")?;
    v["action"] = json!(action);
    v["workflow_job"]["id"] = json!(job_id);
    v["workflow_job"]["run_id"] = json!(run_id);
    v["workflow_job"]["labels"] = json!(labels);
    v["workflow_job"]["status"] = json!(action);
    v["installation"]["id"] = json!(installation_id);
    set_repository(&mut v, repo);
    Ok(serde_json::to_vec(&v)?)
}

/// A GitHub `workflow_job` payload for a simulated job, from
/// `fixtures/github/workflow_job.queued.json` with every job field the simulation knows
/// replaced: ids, run attempt, name, labels, status and conclusion, runner (null while queued,
/// as GitHub sends it), timestamps, commit, URLs under `api_url`, repository and installation.
pub fn github_workflow_job_event(
    action: &str,
    job: &FakeJob,
    installation_id: u64,
    repository_id: u64,
    api_url: &str,
) -> std::io::Result<Vec<u8>> {
    let mut v = load("github/workflow_job.queued.json")?;
    let repo = &job.repo;
    let runner_group = job.runner_id.map(|_| (1, "Default"));
    v["action"] = json!(action);
    let w = &mut v["workflow_job"];
    w["id"] = json!(job.id);
    w["run_id"] = json!(job.run_id);
    w["run_attempt"] = json!(job.run_attempt);
    w["run_url"] = json!(format!(
        "{api_url}/repos/{repo}/actions/runs/{}",
        job.run_id
    ));
    w["url"] = json!(format!("{api_url}/repos/{repo}/actions/jobs/{}", job.id));
    w["html_url"] = json!(format!(
        "https://github.com/{repo}/actions/runs/{}/job/{}",
        job.run_id, job.id
    ));
    w["check_run_url"] = json!(format!("{api_url}/repos/{repo}/check-runs/{}", job.id));
    w["node_id"] = json!(format!("CR_fake{}", job.id));
    w["head_sha"] = json!(job.head_sha);
    w["head_branch"] = json!(job.head_branch);
    w["status"] = json!(job.status.as_str());
    w["conclusion"] = json!(job.conclusion);
    w["name"] = json!(job.name);
    w["labels"] = json!(job.labels);
    w["workflow_name"] = json!(job.workflow_name);
    w["created_at"] = json!(rfc3339(job.created_at));
    // GitHub fills `started_at` from creation while a job is queued.
    w["started_at"] = json!(rfc3339(job.started_at.unwrap_or(job.created_at)));
    w["completed_at"] = json!(job.completed_at.map(rfc3339));
    w["runner_id"] = json!(job.runner_id);
    w["runner_name"] = json!(job.runner_name);
    w["runner_group_id"] = json!(runner_group.map(|g| g.0));
    w["runner_group_name"] = json!(runner_group.map(|g| g.1));
    v["installation"]["id"] = json!(installation_id);
    set_repository(&mut v, repo);
    v["repository"]["id"] = json!(repository_id);
    Ok(serde_json::to_vec(&v)?)
}

/// Gitea's time for "not set": its zero `TimeStamp` converted with `AsTime().UTC()`.
const GITEA_UNSET_TIME: &str = "1970-01-01T00:00:00Z";

/// Gitea's `ActionWorkflowJob` (go-gitea/gitea `modules/structs/repo_actions.go`) for a
/// simulated job: the `workflow_job` of webhooks and the items of `…/actions/jobs`.
pub(crate) fn gitea_action_job(job: &FakeJob, base_url: &str) -> Value {
    let repo = &job.repo;
    let api = format!("{base_url}/api/v1/repos/{repo}");
    let mut w = json!({
        "id": job.id,
        "url": format!("{api}/actions/jobs/{}", job.id),
        "html_url": format!("{base_url}/{repo}/actions/runs/{}/jobs/0", job.run_id),
        "run_id": job.run_id,
        "run_url": format!("{api}/actions/runs/{}", job.run_id),
        "name": job.name,
        "labels": job.labels,
        "run_attempt": job.run_attempt,
        "head_sha": job.head_sha,
        "head_branch": job.head_branch,
        "status": job.status.as_str(),
        "steps": [],
        "created_at": rfc3339(job.created_at),
        "started_at": job.started_at.map_or(GITEA_UNSET_TIME.to_string(), rfc3339),
        "completed_at": job.completed_at.map_or(GITEA_UNSET_TIME.to_string(), rfc3339),
    });
    if let Some(c) = &job.conclusion {
        w["conclusion"] = json!(c);
    }
    if let (Some(id), Some(name)) = (job.runner_id, &job.runner_name) {
        w["runner_id"] = json!(id);
        w["runner_name"] = json!(name);
    }
    w
}

/// The `repository` of Gitea payloads (a copy of the documented push example's, renamed).
pub(crate) fn gitea_repository(repo: &str, repository_id: u64, base_url: &str) -> Value {
    let template = load("gitea/push.json").unwrap_or(Value::Null);
    let mut v = json!({ "repository": template["repository"].clone() });
    set_repository(&mut v, repo);
    v["repository"]["id"] = json!(repository_id);
    v["repository"]["html_url"] = json!(format!("{base_url}/{repo}"));
    v["repository"].take()
}

/// A Gitea `workflow_job` payload (Gitea ≥ 1.24) for a simulated job. Shape:
/// go-gitea/gitea `modules/structs/hook.go` `WorkflowJobPayload` (`action`, `workflow_job`,
/// `repository`, `sender`) and `modules/structs/repo_actions.go` `ActionWorkflowJob`, filled as
/// `services/webhook/notifier.go` `WorkflowJobStatusUpdate` does (Gitea's `Waiting` is sent as
/// `queued`, `conclusion`/`runner_*` omitted while empty, unset times as the zero timestamp).
/// `repository` and `sender` are copies of those in Gitea's documented push example.
pub fn gitea_workflow_job_event(
    action: &str,
    job: &FakeJob,
    repository_id: u64,
    base_url: &str,
) -> std::io::Result<Vec<u8>> {
    let template = load("gitea/push.json")?;
    let repo = &job.repo;
    let w = gitea_action_job(job, base_url);
    let mut v = json!({
        "action": action,
        "workflow_job": w,
        "repository": template["repository"].clone(),
        "sender": template["sender"].clone(),
    });
    set_repository(&mut v, repo);
    v["repository"]["id"] = json!(repository_id);
    v["repository"]["html_url"] = json!(format!("{base_url}/{repo}"));
    Ok(serde_json::to_vec(&v)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitea_push_keeps_the_documented_shape() {
        let commits = [PushedCommit {
            id: "c1".into(),
            modified: vec!["src/a.go".into()],
        }];
        let body = gitea_push(
            "acme/app",
            "refs/heads/main",
            "b0",
            "c1",
            &commits,
            Some(40),
        )
        .unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["repository"]["full_name"], "acme/app");
        assert_eq!(v["commits"][0]["modified"][0], "src/a.go");
        assert_eq!(
            v["commits"][0]["author"]["username"], "gitea",
            "template fields kept"
        );
        assert_eq!(v["total_commits"], 40);
    }

    #[test]
    fn workflow_job_fields() {
        let body =
            github_workflow_job("queued", "acme/app", 7, 8, &["self-hosted", "go"], 42).unwrap();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["workflow_job"]["labels"][1], "go");
        assert_eq!(v["installation"]["id"], 42);
        assert_eq!(v["repository"]["owner"]["login"], "acme");
    }
}
