//! The parts of a forge webhook payload that decide which workflows trigger.
//!
//! GitHub and Gitea/Forgejo send nearly the same JSON for `push`, `pull_request` and `release`
//! (Gitea's `modules/structs/hook.go` mirrors GitHub's shapes); the differences that matter here
//! are handled in [`Event::parse`] and [`changed_files`].

use crate::forge::Flavor;
use serde::Deserialize;

/// A forge event reduced to what trigger evaluation needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The webhook event name (`X-GitHub-Event` / `X-Gitea-Event`), e.g. `push`.
    pub name: String,
    /// The event-specific part.
    pub kind: EventKind,
}

/// Event-specific data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventKind {
    /// A push of a branch or tag.
    Push(Push),
    /// `pull_request` / `pull_request_target`.
    PullRequest(PullRequest),
    /// Any other event; `action` is the payload's `action` field when present.
    Other { action: Option<String> },
}

/// A push, as in GitHub's and Gitea's push payloads.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Push {
    /// Full ref, e.g. `refs/heads/main` or `refs/tags/v1.0`.
    pub git_ref: String,
    /// Commit before the push (all zeros for a new ref).
    pub before: String,
    /// Commit after the push (all zeros for a deleted ref).
    pub after: String,
    /// A new branch or tag.
    pub created: bool,
    /// A deleted branch or tag.
    pub deleted: bool,
    /// Files touched by each commit listed in the payload, in payload order.
    pub commits: Vec<CommitFiles>,
    /// Files touched by the head commit (GitHub's `head_commit`), when present.
    pub head_commit: Option<CommitFiles>,
    /// Number of commits in the push when the payload says (`total_commits` on Gitea); the
    /// `commits` list can be shorter because forges cap it.
    pub total_commits: Option<usize>,
}

/// The files one commit added, modified or removed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CommitFiles {
    pub id: String,
    pub files: Vec<String>,
}

/// A pull request event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PullRequest {
    /// The activity (`opened`, `synchronize`, … — Gitea says `synchronized`).
    pub action: String,
    /// Base branch name (no `refs/heads/`).
    pub base_ref: String,
    /// Head branch name.
    pub head_ref: String,
    /// Pull request number.
    pub number: u64,
}

/// Why a payload could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// The payload is not JSON, or lacks a field the event requires.
    #[error("the {event} payload is not usable: {message}")]
    Payload { event: String, message: String },
}

impl Push {
    /// The branch name when the ref is a branch (`refs/heads/…`).
    pub fn branch(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/heads/")
    }

    /// The tag name when the ref is a tag (`refs/tags/…`).
    pub fn tag(&self) -> Option<&str> {
        self.git_ref.strip_prefix("refs/tags/")
    }
}

impl Event {
    /// Parses a webhook payload for the event `name`. Unknown events are accepted as
    /// [`EventKind::Other`]; a malformed payload for a known event is an error.
    pub fn parse(flavor: Flavor, name: &str, payload: &[u8]) -> Result<Event, EventError> {
        let err = |message: String| EventError::Payload {
            event: name.to_string(),
            message,
        };
        let kind = match name {
            "push" => {
                let raw: RawPush =
                    serde_json::from_slice(payload).map_err(|e| err(e.to_string()))?;
                EventKind::Push(raw.into_push(flavor))
            }
            "pull_request" | "pull_request_target" => {
                let raw: RawPullRequest =
                    serde_json::from_slice(payload).map_err(|e| err(e.to_string()))?;
                EventKind::PullRequest(PullRequest {
                    action: raw.action,
                    base_ref: raw.pull_request.base.git_ref,
                    head_ref: raw.pull_request.head.git_ref,
                    number: raw.number.or(raw.pull_request.number).unwrap_or(0),
                })
            }
            _ => {
                let raw: RawOther =
                    serde_json::from_slice(payload).map_err(|e| err(e.to_string()))?;
                EventKind::Other { action: raw.action }
            }
        };
        Ok(Event {
            name: name.to_string(),
            kind,
        })
    }

    /// The ref the run is for, as the forge sets `GITHUB_REF`: the pushed ref, `refs/pull/N/merge`
    /// for a pull request, `None` when the payload does not say.
    pub fn git_ref(&self) -> Option<String> {
        match &self.kind {
            EventKind::Push(p) => Some(p.git_ref.clone()),
            EventKind::PullRequest(pr) => Some(format!("refs/pull/{}/merge", pr.number)),
            EventKind::Other { .. } => None,
        }
    }
}

/// True for an all-zero commit id (SHA-1 or SHA-256), which forges send for a missing side.
pub fn is_zero_sha(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}

#[derive(Deserialize)]
struct RawPush {
    #[serde(rename = "ref")]
    git_ref: String,
    #[serde(default)]
    before: String,
    #[serde(default)]
    after: String,
    created: Option<bool>,
    deleted: Option<bool>,
    #[serde(default)]
    commits: Option<Vec<RawCommit>>,
    head_commit: Option<RawCommit>,
    total_commits: Option<usize>,
}

#[derive(Deserialize)]
struct RawCommit {
    #[serde(default)]
    id: String,
    #[serde(default)]
    added: Option<Vec<String>>,
    #[serde(default)]
    removed: Option<Vec<String>>,
    #[serde(default)]
    modified: Option<Vec<String>>,
}

impl RawCommit {
    fn into_files(self) -> CommitFiles {
        let files = [self.added, self.modified, self.removed]
            .into_iter()
            .flatten()
            .flatten()
            .collect();
        CommitFiles { id: self.id, files }
    }
}

impl RawPush {
    fn into_push(self, _flavor: Flavor) -> Push {
        // Gitea's PushPayload has no `created`/`deleted` fields: derive them from the zero SHA
        // on either side, as Gitea's own notifier does (`IsNewRef`/`IsDelRef` in
        // `modules/repository/push.go`).
        let created = self.created.unwrap_or_else(|| is_zero_sha(&self.before));
        let deleted = self.deleted.unwrap_or_else(|| is_zero_sha(&self.after));
        Push {
            git_ref: self.git_ref,
            before: self.before,
            after: self.after,
            created,
            deleted,
            commits: self
                .commits
                .unwrap_or_default()
                .into_iter()
                .map(RawCommit::into_files)
                .collect(),
            head_commit: self.head_commit.map(RawCommit::into_files),
            total_commits: self.total_commits,
        }
    }
}

#[derive(Deserialize)]
struct RawPullRequest {
    #[serde(default)]
    action: String,
    number: Option<u64>,
    pull_request: RawPr,
}

#[derive(Deserialize)]
struct RawPr {
    number: Option<u64>,
    base: RawBranch,
    head: RawBranch,
}

#[derive(Deserialize)]
struct RawBranch {
    #[serde(rename = "ref")]
    git_ref: String,
}

#[derive(Deserialize)]
struct RawOther {
    action: Option<String>,
}

/// GitHub's limits on path filtering (workflow syntax docs, "Git diff comparisons"): with more
/// than 1,000 commits pushed the workflow always runs, and only the first 300 changed files are
/// compared.
pub const GITHUB_MAX_DIFF_COMMITS: usize = 1000;
/// See [`GITHUB_MAX_DIFF_COMMITS`].
pub const GITHUB_MAX_DIFF_FILES: usize = 300;

/// The changed files a path filter is evaluated against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangedFiles {
    /// The list of changed files (deduplicated, in first-seen order), possibly cut to the forge's
    /// limit.
    Known {
        files: Vec<String>,
        note: Option<String>,
    },
    /// The forge would not compare files at all and runs the workflow regardless (GitHub, more
    /// than 1,000 commits); the string says why.
    AlwaysRun(String),
    /// The forge could not compute the diff, so path filters do not match (Gitea on a new
    /// branch, where `GetFilesChangedSinceCommit(before)` fails on the zero SHA).
    Unavailable(String),
}

impl ChangedFiles {
    /// Changed files given explicitly (`--changed-file`, or from the compare API).
    pub fn explicit(files: Vec<String>) -> ChangedFiles {
        ChangedFiles::Known {
            files: dedup(files),
            note: None,
        }
    }
}

fn dedup(files: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    files
        .into_iter()
        .filter(|f| seen.insert(f.clone()))
        .collect()
}

/// The files a push changed, as the forge would compute them for path filters, from the payload.
///
/// - GitHub: the union of the listed commits' files; for a new branch whose payload lists no
///   commits, the head commit's files (GitHub diffs a new branch against the parent of the deepest
///   pushed commit). More than 1,000 commits → always run; more than 300 files → only the first
///   300 count.
/// - Gitea/Forgejo: Gitea diffs `before..after` (`GetFilesChangedSinceCommit(before)`); the payload
///   lists the same files unless the forge capped the commit list, which the forge layer fixes with
///   the compare API. On a new branch the diff against the zero SHA fails and path filters never
///   match.
pub fn changed_files(flavor: Flavor, push: &Push) -> ChangedFiles {
    let listed = push.commits.len();
    let total = push.total_commits.unwrap_or(listed).max(listed);
    match flavor {
        Flavor::Github => {
            if total > GITHUB_MAX_DIFF_COMMITS {
                return ChangedFiles::AlwaysRun(format!(
                    "{total} commits pushed: GitHub does not compare paths for more than {GITHUB_MAX_DIFF_COMMITS} commits and always runs"
                ));
            }
            let mut files: Vec<String> = push
                .commits
                .iter()
                .flat_map(|c| c.files.iter().cloned())
                .collect();
            if push.commits.is_empty() {
                if let Some(head) = &push.head_commit {
                    files = head.files.clone();
                }
            }
            let mut files = dedup(files);
            let note = (files.len() > GITHUB_MAX_DIFF_FILES).then(|| {
                format!(
                    "{} files changed: GitHub compares only the first {GITHUB_MAX_DIFF_FILES}",
                    files.len()
                )
            });
            files.truncate(GITHUB_MAX_DIFF_FILES);
            ChangedFiles::Known { files, note }
        }
        Flavor::Gitea | Flavor::Forgejo => {
            if push.created && is_zero_sha(&push.before) {
                return ChangedFiles::Unavailable(
                    "new branch: Gitea diffs against the zero commit, fails, and treats path filters as not matching".into(),
                );
            }
            let files = push
                .commits
                .iter()
                .flat_map(|c| c.files.iter().cloned())
                .collect();
            let note = (total > listed).then(|| {
                format!("payload lists {listed} of {total} commits: files of the others are unknown (use the compare API)")
            });
            ChangedFiles::Known {
                files: dedup(files),
                note,
            }
        }
    }
}

/// A `workflow_job` delivery (GitHub; Gitea ≥ 1.24 and Forgejo send the same shape): the forge
/// tells us about one job and its labels, so no workflow evaluation is needed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkflowJob {
    /// `queued`, `waiting`, `in_progress` or `completed`.
    pub action: String,
    /// `owner/name`.
    pub repo: String,
    /// Organisation or user that owns the repository.
    pub owner: String,
    pub job_id: u64,
    pub run_id: u64,
    pub run_attempt: u32,
    /// Job display name.
    pub name: String,
    /// `runs-on` labels, already evaluated by the forge.
    pub labels: Vec<String>,
    /// `success`, `failure`, `cancelled`, `skipped`, … once completed.
    pub conclusion: Option<String>,
    /// The runner that took the job (may be one launched for another job).
    pub runner_name: Option<String>,
    pub runner_id: Option<u64>,
    /// GitHub App installation that sent it, if any.
    pub installation_id: Option<u64>,
    pub head_sha: Option<String>,
    pub workflow_name: Option<String>,
}

impl WorkflowJob {
    /// Parses a `workflow_job` payload.
    pub fn parse(payload: &[u8]) -> Result<WorkflowJob, EventError> {
        let raw: RawWorkflowJobEvent =
            serde_json::from_slice(payload).map_err(|e| EventError::Payload {
                event: "workflow_job".into(),
                message: e.to_string(),
            })?;
        let j = raw.workflow_job;
        Ok(WorkflowJob {
            action: raw.action,
            owner: raw.repository.owner.map(|o| o.login).unwrap_or_else(|| {
                raw.repository
                    .full_name
                    .split('/')
                    .next()
                    .unwrap_or_default()
                    .to_string()
            }),
            repo: raw.repository.full_name,
            job_id: j.id,
            run_id: j.run_id,
            run_attempt: j.run_attempt.unwrap_or(1),
            name: j.name.unwrap_or_default(),
            labels: j.labels.unwrap_or_default(),
            conclusion: j.conclusion,
            runner_name: j.runner_name.filter(|n| !n.is_empty()),
            runner_id: j.runner_id.filter(|id| *id != 0),
            installation_id: raw.installation.map(|i| i.id),
            head_sha: j.head_sha,
            workflow_name: j.workflow_name,
        })
    }

    /// The job key (`forge` + repo + run id + attempt + job id).
    pub fn key(&self, forge: Flavor) -> crate::job::JobKey {
        crate::job::JobKey::WorkflowJob {
            forge,
            repo: self.repo.clone(),
            run_id: self.run_id,
            run_attempt: self.run_attempt,
            job_id: self.job_id,
        }
    }
}

#[derive(Deserialize)]
struct RawWorkflowJobEvent {
    action: String,
    workflow_job: RawWorkflowJob,
    repository: RawRepository,
    installation: Option<RawInstallation>,
}

#[derive(Deserialize)]
struct RawWorkflowJob {
    id: u64,
    run_id: u64,
    run_attempt: Option<u32>,
    name: Option<String>,
    labels: Option<Vec<String>>,
    conclusion: Option<String>,
    runner_name: Option<String>,
    runner_id: Option<u64>,
    head_sha: Option<String>,
    workflow_name: Option<String>,
}

#[derive(Deserialize)]
struct RawRepository {
    full_name: String,
    owner: Option<RawOwner>,
}

#[derive(Deserialize)]
struct RawOwner {
    login: String,
}

#[derive(Deserialize)]
struct RawInstallation {
    id: u64,
}

#[cfg(test)]
mod tests;
