//! Webhook payloads built from the forges' documented examples in the workspace's `fixtures/`
//! (see `fixtures/README.md`): the example is loaded and only the fields a test controls are
//! replaced, so every other field keeps the forge's real shape.

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

fn load(rel: &str) -> std::io::Result<Value> {
    let bytes = fixture(rel)?;
    serde_json::from_slice(&bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

fn set_repository(v: &mut Value, full_name: &str) {
    let (owner, name) = full_name.split_once('/').unwrap_or((full_name, full_name));
    v["repository"]["full_name"] = json!(full_name);
    v["repository"]["name"] = json!(name);
    v["repository"]["owner"]["login"] = json!(owner);
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
