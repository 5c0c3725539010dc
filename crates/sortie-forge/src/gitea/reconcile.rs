//! What the reconciler asks Gitea: the jobs waiting for a runner, one job's status, and the runs
//! of an event that still wait or run (push mode: commits whose push webhook never arrived).
//!
//! Sources: go-gitea/gitea#33964 ("Add workflow_run api + webhook", Gitea 1.25),
//! `routers/api/v1/shared/action.go` `ListJobs` / `ListRuns` and `services/convert`
//! `ToActionWorkflowJob` / `ToActionWorkflowRun` / `ToActionsStatus`:
//! - `GET /repos/{o}/{r}/actions/jobs?status=…&page=&limit=` → `{ jobs: [ActionWorkflowJob],
//!   total_count }`; `GET …/actions/jobs/{job_id}` → one `ActionWorkflowJob` `{ id, run_id,
//!   run_attempt, name, labels, status, conclusion, runner_name, head_sha, created_at, … }`;
//! - `GET /repos/{o}/{r}/actions/runs?event=…&status=…&page=&limit=` → `{ workflow_runs:
//!   [ActionWorkflowRun], total_count }`, newest first; a run has `id, event, status, head_sha,
//!   head_branch, path` (`"{workflow file}@{ref}"`) and no creation time;
//! - `status` takes GitHub's names (`convertToInternal`): `queued` is Gitea's `Waiting` (for a
//!   runner), `waiting`/`pending`/`requested` its `Blocked` (on `needs` or an approval),
//!   `in_progress` its `Running`; an unknown name is 400. Answers spell them the same way
//!   (`ToActionsStatus`), so the `workflow_job` webhook (built by the same conversion) and the
//!   listing agree on every field a job key is made of.
//!
//! Gitea before 1.25 has none of these routes and answers 404, as it does for a repository it
//! does not have. So a 404 is followed by `GET /repos/{o}/{r}`: when the repository is there, the
//! listing routes are not, and that is remembered for the life of the process
//! ([`ForgeError::Unsupported`] from then on, without a call).
//!
//! Forgejo has no such job listing: its only one, `GET …/actions/runners/jobs?labels=a,b`
//! (forgejo `routers/api/v1/shared/runners.go` `GetActionRunJobs`), lists waiting and running
//! jobs whose `runs-on` the given labels satisfy, as `{ id, repo_id, owner_id, name, needs,
//! runs_on, task_id, status }`: no run id, run attempt, commit or time. Those are what a
//! `workflow_job` key and a push plan are made of, so the reconciler cannot use it;
//! [`forgejo_waiting_jobs`] maps what it does tell.

use crate::error::ForgeError;
use crate::http::{enc, Api, Auth, Call, Reply};
use crate::types::{ForgeRun, JobStatus, QueuedJob, RepoRef};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::HashSet;
use std::sync::Mutex;
use time::OffsetDateTime;

/// Largest page Gitea serves by default (`MAX_RESPONSE_ITEMS`).
const LIMIT: usize = 50;
/// Guard against endless pagination.
const MAX_PAGES: usize = 40;
/// The job statuses that mean "waiting": for a runner (`queued`) or for `needs`/an approval
/// (`waiting`).
const WAITING_STATUSES: [&str; 2] = ["queued", "waiting"];
/// The run statuses of a run that may still need a runner.
const ACTIVE_RUN_STATUSES: [&str; 2] = ["queued", "in_progress"];

/// Whether this Gitea serves the Actions listing routes (1.25+), once known.
#[derive(Debug, Default)]
pub(crate) struct Listings {
    supported: Mutex<Option<bool>>,
}

impl Listings {
    fn known(&self) -> Option<bool> {
        *self.supported.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set(&self, yes: bool) {
        *self.supported.lock().unwrap_or_else(|p| p.into_inner()) = Some(yes);
    }

    fn unsupported(api: &Api) -> ForgeError {
        ForgeError::Unsupported {
            forge: api.forge,
            what: "listing Actions jobs and runs (Gitea 1.25 or later serves \
                   /repos/{owner}/{repo}/actions/jobs and /actions/runs)"
                .into(),
        }
    }

    /// GETs `path` (under `repo`) and decodes it; a 404 tells an older Gitea (repository there,
    /// route absent: remembered) from a missing repository or job.
    async fn get<T: DeserializeOwned>(
        &self,
        api: &Api,
        auth: &Auth,
        repo: &RepoRef,
        path: String,
    ) -> Result<T, ForgeError> {
        if self.known() == Some(false) {
            return Err(Self::unsupported(api));
        }
        let call = Call::new(Method::GET, path).auth(auth);
        let reply = api.send(&call).await?;
        if reply.status == 404 && self.known().is_none() {
            if repo_exists(api, auth, repo).await? {
                tracing::info!(forge = api.forge, "this server has no Actions job listing (Gitea < 1.25); jobs are not reconciled");
                self.set(false);
                return Err(Self::unsupported(api));
            }
            return Err(api.error(&call, &reply));
        }
        let decoded = api.decode(&call, reply)?;
        self.set(true);
        Ok(decoded)
    }
}

/// `GET /repos/{o}/{r}`: true on 2xx, false on 404.
async fn repo_exists(api: &Api, auth: &Auth, repo: &RepoRef) -> Result<bool, ForgeError> {
    let call = Call::new(Method::GET, repo_path(repo)).auth(auth);
    let reply: Reply = api.send(&call).await?;
    match reply.status {
        200..=299 => Ok(true),
        404 => Ok(false),
        _ => Err(api.error(&call, &reply)),
    }
}

fn repo_path(repo: &RepoRef) -> String {
    format!("/repos/{}/{}", enc(&repo.owner), enc(&repo.name))
}

/// Gitea writes an unset time as the zero time (`0001-01-01T00:00:00Z` or the Unix epoch).
fn time_of(text: Option<&str>) -> Option<OffsetDateTime> {
    let t = OffsetDateTime::parse(text?, &time::format_description::well_known::Rfc3339).ok()?;
    (t.unix_timestamp() > 0).then_some(t)
}

#[derive(Deserialize)]
struct JobPage {
    #[serde(default)]
    jobs: Vec<RawJob>,
    #[serde(default)]
    total_count: Option<usize>,
}

/// `ActionWorkflowJob`, the fields read here.
#[derive(Deserialize)]
struct RawJob {
    id: u64,
    run_id: u64,
    /// Read as `WorkflowJob::parse` reads the webhook's (absent = 1, a zero kept), so a
    /// recovered job and a late webhook have one key.
    #[serde(default)]
    run_attempt: Option<u32>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    labels: Option<Vec<String>>,
    status: String,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    runner_name: Option<String>,
    #[serde(default)]
    created_at: Option<String>,
}

/// The jobs of `repo` Gitea lists as `queued` or `waiting`, every page.
pub(crate) async fn queued_jobs(
    api: &Api,
    auth: &Auth,
    listings: &Listings,
    repo: &RepoRef,
) -> Result<Vec<QueuedJob>, ForgeError> {
    let filter: String = WAITING_STATUSES
        .iter()
        .map(|s| format!("status={s}&"))
        .collect();
    let base = format!("{}/actions/jobs?{filter}limit={LIMIT}", repo_path(repo));
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for page in 1..=MAX_PAGES {
        let got: JobPage = listings
            .get(api, auth, repo, format!("{base}&page={page}"))
            .await?;
        let n = got.jobs.len();
        for j in got.jobs {
            if !WAITING_STATUSES.contains(&j.status.as_str()) || !seen.insert(j.id) {
                continue;
            }
            out.push(QueuedJob {
                repo: repo.clone(),
                job_id: j.id,
                run_id: j.run_id,
                run_attempt: j.run_attempt.unwrap_or(1),
                name: j.name.unwrap_or_default(),
                labels: j.labels.unwrap_or_default(),
                status: j.status,
                created_at: time_of(j.created_at.as_deref()),
            });
        }
        let done = (page - 1) * LIMIT + n;
        if n == 0 || got.total_count.map_or(n < LIMIT, |t| done >= t) {
            break;
        }
    }
    Ok(out)
}

/// `GET /repos/{o}/{r}/actions/jobs/{job_id}`.
pub(crate) async fn job_status(
    api: &Api,
    auth: &Auth,
    listings: &Listings,
    repo: &RepoRef,
    job_id: u64,
) -> Result<JobStatus, ForgeError> {
    let path = format!("{}/actions/jobs/{job_id}", repo_path(repo));
    let raw: RawJob = listings.get(api, auth, repo, path).await?;
    Ok(JobStatus {
        status: raw.status,
        conclusion: raw.conclusion.filter(|c| !c.is_empty()),
        runner_name: raw.runner_name.filter(|n| !n.is_empty()),
    })
}

#[derive(Deserialize)]
struct RunPage {
    #[serde(default)]
    workflow_runs: Vec<RawRun>,
    #[serde(default)]
    total_count: Option<usize>,
}

/// `ActionWorkflowRun`, the fields read here.
#[derive(Deserialize)]
struct RawRun {
    id: u64,
    #[serde(default)]
    event: String,
    status: String,
    #[serde(default)]
    head_sha: String,
    #[serde(default)]
    head_branch: String,
    /// `"{workflow file}@{ref}"` (`ToActionWorkflowRun`: `run.WorkflowID + "@" + run.Ref`).
    #[serde(default)]
    path: String,
    #[serde(default)]
    run_attempt: Option<u32>,
}

impl RawRun {
    /// The full ref: from `path` (which keeps tags), else the branch.
    fn git_ref(&self) -> Option<String> {
        if let Some((_, r)) = self.path.rsplit_once('@') {
            if r.starts_with("refs/") {
                return Some(r.to_string());
            }
        }
        (!self.head_branch.is_empty()).then(|| format!("refs/heads/{}", self.head_branch))
    }
}

/// The runs of `repo` triggered by `event` that are queued or in progress, newest first.
pub(crate) async fn active_runs(
    api: &Api,
    auth: &Auth,
    listings: &Listings,
    repo: &RepoRef,
    event: &str,
) -> Result<Vec<ForgeRun>, ForgeError> {
    let filter: String = ACTIVE_RUN_STATUSES
        .iter()
        .map(|s| format!("status={s}&"))
        .collect();
    let base = format!(
        "{}/actions/runs?event={}&{filter}limit={LIMIT}",
        repo_path(repo),
        enc(event)
    );
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for page in 1..=MAX_PAGES {
        let got: RunPage = listings
            .get(api, auth, repo, format!("{base}&page={page}"))
            .await?;
        let n = got.workflow_runs.len();
        for r in got.workflow_runs {
            // Filters an older server might ignore are applied again here.
            let active = ACTIVE_RUN_STATUSES.contains(&r.status.as_str());
            if !active || r.event != event || r.head_sha.is_empty() || !seen.insert(r.id) {
                continue;
            }
            let Some(git_ref) = r.git_ref() else { continue };
            out.push(ForgeRun {
                repo: repo.clone(),
                id: r.id,
                run_attempt: r.run_attempt.unwrap_or(1),
                event: r.event,
                status: r.status,
                head_sha: r.head_sha,
                git_ref,
            });
        }
        let done = (page - 1) * LIMIT + n;
        if n == 0 || got.total_count.map_or(n < LIMIT, |t| done >= t) {
            break;
        }
    }
    Ok(out)
}

/// Forgejo's `ActionRunJob` (`modules/structs`).
#[derive(Deserialize)]
struct ForgejoJob {
    id: u64,
    #[serde(default)]
    name: String,
    #[serde(default)]
    runs_on: Option<Vec<String>>,
    #[serde(default)]
    status: String,
}

/// Forgejo: the waiting jobs of `repo` whose `runs-on` is satisfied by `labels`
/// (`GET /repos/{o}/{r}/actions/runners/jobs?labels=a,b`, `ItRunsOn`: every `runs-on` label among
/// `labels`). What it cannot tell is left at a sentinel: `run_id` 0, `run_attempt` 0 and no
/// `created_at` (Forgejo answers none of them), so these jobs cannot be keyed as a webhook would
/// key them. Running jobs are left out; Forgejo's `waiting` is reported as `queued`. A `null`
/// answer (Go's empty slice) is no job.
pub(crate) async fn forgejo_waiting_jobs(
    api: &Api,
    auth: &Auth,
    repo: &RepoRef,
    labels: &[String],
) -> Result<Vec<QueuedJob>, ForgeError> {
    let labels: Vec<String> = labels.iter().map(|l| enc(l)).collect();
    let path = format!(
        "{}/actions/runners/jobs?labels={}",
        repo_path(repo),
        labels.join(",")
    );
    let call = Call::new(Method::GET, path).auth(auth);
    let jobs: Option<Vec<ForgejoJob>> = api.json(&call).await?;
    Ok(jobs
        .unwrap_or_default()
        .into_iter()
        .filter(|j| j.status == "waiting")
        .map(|j| QueuedJob {
            repo: repo.clone(),
            job_id: j.id,
            run_id: 0,
            run_attempt: 0,
            name: j.name,
            labels: j.runs_on.unwrap_or_default(),
            status: "queued".into(),
            created_at: None,
        })
        .collect())
}

#[cfg(test)]
mod unit {
    use super::*;

    fn run(path: &str, branch: &str) -> RawRun {
        RawRun {
            id: 1,
            event: "push".into(),
            status: "queued".into(),
            head_sha: "a".repeat(40),
            head_branch: branch.into(),
            path: path.into(),
            run_attempt: None,
        }
    }

    // Gitea `ToActionWorkflowRun`: `Path: WorkflowID + "@" + Ref`, `HeadBranch` empty for a tag.
    #[test]
    fn the_ref_of_a_run() {
        assert_eq!(
            run("ci.yml@refs/tags/v1", "").git_ref().as_deref(),
            Some("refs/tags/v1")
        );
        assert_eq!(
            run("ci.yml@refs/heads/main", "main").git_ref().as_deref(),
            Some("refs/heads/main")
        );
        assert_eq!(
            run("ci.yml", "dev").git_ref().as_deref(),
            Some("refs/heads/dev")
        );
        assert_eq!(run("ci.yml", "").git_ref(), None);
    }

    #[test]
    fn unset_times_are_none() {
        assert_eq!(time_of(Some("1970-01-01T00:00:00Z")), None);
        assert_eq!(time_of(Some("0001-01-01T00:00:00Z")), None);
        assert!(time_of(Some("2030-01-01T00:00:00Z")).is_some());
        assert_eq!(time_of(None), None);
    }
}
