//! Plain data passed through the [`Forge`](crate::Forge) trait.

use crate::error::ForgeError;
use serde::Serialize;
use sortie_core::job::JobKey;
use std::fmt;
use time::OffsetDateTime;

pub use sortie_core::secret::Secret;

/// A repository, `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct RepoRef {
    /// User or organisation.
    pub owner: String,
    /// Repository name.
    pub name: String,
}

impl RepoRef {
    /// A repository from its two parts.
    pub fn new(owner: impl Into<String>, name: impl Into<String>) -> RepoRef {
        RepoRef {
            owner: owner.into(),
            name: name.into(),
        }
    }

    /// Parses `owner/name` (the payloads' `repository.full_name`).
    pub fn parse(full_name: &str) -> Result<RepoRef, ForgeError> {
        match full_name.split_once('/') {
            Some((o, n)) if !o.is_empty() && !n.is_empty() && !n.contains('/') => {
                Ok(RepoRef::new(o, n))
            }
            _ => Err(ForgeError::Config {
                message: format!("{full_name:?} is not a repository name of the form owner/name"),
            }),
        }
    }

    /// `owner/name`.
    pub fn full_name(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }
}

impl fmt::Display for RepoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// Where a runner is registered: which jobs it may take.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "scope", rename_all = "snake_case")]
pub enum RunnerScope {
    /// Jobs of one repository.
    Repo(RepoRef),
    /// Jobs of every repository of an organisation. On GitHub, `runner_group_id` picks the runner
    /// group (1 is the default group).
    Org {
        /// Organisation login.
        org: String,
        /// GitHub runner group; ignored by Gitea.
        runner_group_id: Option<u64>,
    },
    /// The whole instance (Gitea/Forgejo site administrator only).
    Instance,
}

impl fmt::Display for RunnerScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunnerScope::Repo(r) => write!(f, "repository {r}"),
            RunnerScope::Org { org, .. } => write!(f, "organisation {org}"),
            RunnerScope::Instance => f.write_str("the whole instance"),
        }
    }
}

/// What a runner credential is requested for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RunnerRequest {
    /// Where the runner registers.
    pub scope: RunnerScope,
    /// Runner name: [`JobKey::runner_name`], deterministic per job and attempt, so a retried call
    /// and the clean-up both recognise it.
    pub name: String,
    /// Labels the runner announces (the job's `runs-on`).
    pub labels: Vec<String>,
    /// GitHub's `work_folder` (relative to the runner directory).
    pub work_folder: String,
}

impl RunnerRequest {
    /// The request for `job` at `attempt`, named by [`JobKey::runner_name`].
    pub fn for_job(
        job: &JobKey,
        attempt: u32,
        scope: RunnerScope,
        labels: Vec<String>,
    ) -> RunnerRequest {
        RunnerRequest {
            scope,
            name: job.runner_name(attempt),
            labels,
            work_folder: "_work".into(),
        }
    }
}

/// A one-time runner credential, handed to exactly one machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunnerCredential {
    /// GitHub just-in-time configuration: `./run.sh --jitconfig <encoded_jit_config>`. Registers
    /// an ephemeral runner that takes one job and is removed.
    JitConfig {
        /// The registered runner's id (for clean-up).
        runner_id: u64,
        /// The registered runner's name.
        runner_name: String,
        /// The encoded configuration; contains the runner's credentials.
        encoded_jit_config: Secret,
    },
    /// Forgejo ≥ 15: a runner registered through the API with `ephemeral: true`; run it with
    /// `forgejo-runner one-job --uuid … --token-url file:…`. Forgejo removes it after one job.
    EphemeralRunner {
        /// Forgejo's base URL the runner connects to.
        instance_url: String,
        /// Runner id (for clean-up).
        runner_id: u64,
        /// Runner UUID.
        uuid: String,
        /// The runner's own secret token.
        token: Secret,
        /// Runner name.
        runner_name: String,
        /// Labels to pass with `--label`.
        labels: Vec<String>,
    },
    /// Gitea: a registration token for `act_runner register --ephemeral --token …`. It is
    /// scope-wide and reusable until rotated (Gitea has no one-time token), so the agent must use
    /// it once at boot and drop it.
    RegistrationToken {
        /// Gitea's base URL.
        instance_url: String,
        /// The registration token.
        token: Secret,
        /// Runner name to register with.
        runner_name: String,
        /// Labels to register with.
        labels: Vec<String>,
    },
}

impl RunnerCredential {
    /// The runner name this credential registers.
    pub fn runner_name(&self) -> &str {
        match self {
            RunnerCredential::JitConfig { runner_name, .. }
            | RunnerCredential::EphemeralRunner { runner_name, .. }
            | RunnerCredential::RegistrationToken { runner_name, .. } => runner_name,
        }
    }

    /// The runner id when the forge assigned one at issue time.
    pub fn runner_id(&self) -> Option<u64> {
        match self {
            RunnerCredential::JitConfig { runner_id, .. }
            | RunnerCredential::EphemeralRunner { runner_id, .. } => Some(*runner_id),
            RunnerCredential::RegistrationToken { .. } => None,
        }
    }
}

/// A self-hosted runner as the forge lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Runner {
    /// Forge-assigned id.
    pub id: u64,
    /// Runner name.
    pub name: String,
    /// False when the forge reports the runner offline.
    pub online: bool,
    /// Running a job right now.
    pub busy: bool,
    /// Label names.
    pub labels: Vec<String>,
}

/// A credential for cloning one repository over HTTPS.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitCredential {
    /// HTTP user name (`x-access-token` for GitHub installation tokens).
    pub username: String,
    /// The password / token.
    pub password: Secret,
    /// When the forge stops accepting it; `None` when it does not expire by itself.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// What the credential can reach, for the operator.
    pub scope: String,
}

/// What is left of one credential's primary rate limit, from the forge's last answer
/// (`x-ratelimit-remaining`, `-limit`, `-reset`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateBudget {
    /// Whose budget: `installation 42`, `personal access token`, `app 123`.
    pub scope: String,
    /// Calls left in the window.
    pub remaining: u64,
    /// Calls per window, when the forge said.
    pub limit: Option<u64>,
    /// When the window resets, Unix seconds, when the forge said.
    pub reset_epoch: Option<i64>,
}

/// One job as the forge reports it now (GitHub: "Get a job for a workflow run",
/// `GET /repos/{owner}/{repo}/actions/jobs/{job_id}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobStatus {
    /// `queued`, `in_progress`, `completed`, `waiting`, …
    pub status: String,
    /// Set once completed: `success`, `failure`, `cancelled`, `skipped`, `timed_out`, …
    pub conclusion: Option<String>,
    /// The runner that took it, once one did.
    pub runner_name: Option<String>,
}

/// A job the forge lists as waiting for a runner (GitHub: status `queued` or `waiting`), for
/// reconciling the store with the forge when a webhook never arrived.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueuedJob {
    /// The repository the job runs in.
    pub repo: RepoRef,
    /// The job's id.
    pub job_id: u64,
    /// Its workflow run.
    pub run_id: u64,
    /// The run attempt the job belongs to (1 for the first).
    pub run_attempt: u32,
    /// The job's name.
    pub name: String,
    /// `runs-on` labels.
    pub labels: Vec<String>,
    /// The forge's status: `queued`, or `waiting` (GitHub: for an environment's approval).
    pub status: String,
    /// When the forge queued it, if it said.
    #[serde(with = "time::serde::rfc3339::option")]
    pub created_at: Option<OffsetDateTime>,
}

/// A workflow run as the forge lists it, for finding the commits whose `push` webhook never
/// arrived (push mode). Gitea: `ActionWorkflowRun` of `GET /repos/{o}/{r}/actions/runs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ForgeRun {
    /// The repository the run belongs to.
    pub repo: RepoRef,
    /// The run's id.
    pub id: u64,
    /// Its latest attempt (1 for the first).
    pub run_attempt: u32,
    /// What triggered it: `push`, `pull_request`, `schedule`, …
    pub event: String,
    /// `queued`, `in_progress`, `completed`, `waiting`.
    pub status: String,
    /// The commit the run is for.
    pub head_sha: String,
    /// The full ref the run is for (`refs/heads/main`, `refs/tags/v1`).
    pub git_ref: String,
}

/// One attempt at delivering a webhook, as the forge records it (GitHub App: "Webhooks for
/// GitHub Apps" → "List deliveries for an app webhook").
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HookDelivery {
    /// The attempt's id (what redelivery takes).
    pub id: u64,
    /// The delivery GUID (`X-GitHub-Delivery`); a redelivery keeps it.
    pub guid: String,
    /// When the attempt was made.
    #[serde(with = "time::serde::rfc3339")]
    pub delivered_at: OffsetDateTime,
    /// This attempt was a redelivery.
    pub redelivery: bool,
    /// `OK`, or what went wrong (`failed to connect to host`, `Invalid HTTP Response: 500`).
    pub status: String,
    /// The receiver's HTTP status; 0 when it never answered.
    pub status_code: u16,
    /// `X-GitHub-Event`.
    pub event: String,
    /// The payload's `action`, if any.
    pub action: Option<String>,
}

impl HookDelivery {
    /// The receiver answered 2xx.
    pub fn succeeded(&self) -> bool {
        (200..300).contains(&self.status_code)
    }
}
