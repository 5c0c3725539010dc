//! # sortie-forge
//!
//! GitHub and Gitea/Forgejo behind one [`Forge`] trait: fetch workflow files at a commit, compare
//! two commits, mint one-time runner credentials, list and delete runners, and hand out a
//! short-lived git credential for one repository.
//!
//! Module map:
//! - [`github`]: github.com and Enterprise Server; GitHub App authentication (RS256 JWT →
//!   installation access token, cached) or a personal access token; JIT runner configs.
//! - [`gitea`]: Gitea and Forgejo (`/api/v1`); registration tokens, Forgejo's ephemeral runner
//!   registration API.
//! - [`push`]: push mode — fetch workflows at the pushed commit, work out the changed files, and
//!   call [`sortie_core::plan::plan`].
//! - [`cleanup`]: which runners are spent (pure), and deleting them.
//! - [`ratelimit`]: reading `Retry-After` / `X-RateLimit-*` (pure) and the bounded backoff policy.
//! - [`budget`]: the one scheduler every call to a forge goes through: calls in flight, the
//!   shared "blocked until" per credential, priority of runner credentials over listings.
//! - [`clock`]: the clock and sleeper every wait goes through, so tests control time.
//! - [`error`]: [`ForgeError`], written for the operator.
//!
//! Nothing here decides *what* to run; that is `sortie-core`. This crate only talks to forges.

pub mod budget;
pub mod cleanup;
pub mod clock;
mod contents;
pub mod error;
pub mod gitea;
pub mod github;
mod http;
pub mod push;
pub mod ratelimit;
mod types;

pub use error::{ForgeError, LimitReason};
pub use types::{
    ForgeRun, GitCredential, HookDelivery, JobStatus, QueuedJob, RateBudget, RepoRef, Runner,
    RunnerCredential, RunnerRequest, RunnerScope, Secret,
};

use async_trait::async_trait;
use sortie_core::forge::Flavor;
use time::OffsetDateTime;

/// One forge: the operations sortie needs from GitHub, Gitea or Forgejo. Object-safe, so the
/// server holds `Arc<dyn Forge>` per configured forge.
#[async_trait]
pub trait Forge: Send + Sync {
    /// Whose semantics this forge follows (workflow folders, trigger rules).
    fn flavor(&self) -> Flavor;

    /// The workflow files the forge itself would read at `commit`, as `(path, content)` sorted by
    /// path: GitHub `.github/workflows` (no sub-folders); Gitea `.gitea/workflows` recursively,
    /// falling back to `.github/workflows` only when the first is absent; Forgejo
    /// `.forgejo/workflows` first.
    async fn workflow_files(
        &self,
        repo: &RepoRef,
        commit: &str,
    ) -> Result<Vec<(String, String)>, ForgeError>;

    /// The files changed between `base` and `head` (compare API), deduplicated in first-seen order.
    async fn changed_files(
        &self,
        repo: &RepoRef,
        base: &str,
        head: &str,
    ) -> Result<Vec<String>, ForgeError>;

    /// A one-time credential for one runner that serves one job: a JIT config (GitHub), an
    /// ephemeral runner registration (Forgejo ≥ 15) or a registration token (Gitea).
    async fn runner_credential(
        &self,
        request: &RunnerRequest,
    ) -> Result<RunnerCredential, ForgeError>;

    /// Every self-hosted runner registered at `scope` (all pages).
    async fn list_runners(&self, scope: &RunnerScope) -> Result<Vec<Runner>, ForgeError>;

    /// Deletes one runner registration. Deleting one that is already gone is not an error.
    async fn delete_runner(&self, scope: &RunnerScope, runner_id: u64) -> Result<(), ForgeError>;

    /// A credential that lets a job's machine clone `repo` (read only), as short-lived as the forge
    /// allows; `None` when the forge's own per-job token must be relied on instead.
    async fn git_credential(&self, repo: &RepoRef) -> Result<Option<GitCredential>, ForgeError>;

    /// The jobs of `repo` the forge lists as waiting for a runner (queued or waiting), for
    /// reconciling with the store when a `workflow_job` webhook never arrived. Each job carries
    /// the run id and attempt its own `workflow_job` webhook would, so a recovered job and a late
    /// webhook share one key. GitHub and Gitea ≥ 1.25 implement it; older Gitea and Forgejo
    /// (whose only job search has no run id, attempt or commit) answer
    /// [`ForgeError::Unsupported`].
    async fn queued_jobs(&self, repo: &RepoRef) -> Result<Vec<QueuedJob>, ForgeError> {
        let _ = repo;
        Err(ForgeError::Unsupported {
            forge: display_name(self.flavor()),
            what: "listing queued jobs".into(),
        })
    }

    /// The rate-limit budget of each credential this client used, as the forge's last answer for
    /// it said (empty until a call was made, or when the forge sends no rate-limit headers).
    fn rate_budgets(&self) -> Vec<RateBudget> {
        Vec::new()
    }

    /// Asks the forge what budget each credential has left now (GitHub: `GET /rate_limit`, which
    /// does not count against the limit), for `sortie config check`. Only GitHub implements it.
    async fn probe_budget(&self) -> Result<Vec<RateBudget>, ForgeError> {
        Err(ForgeError::Unsupported {
            forge: display_name(self.flavor()),
            what: "reading the rate-limit budget".into(),
        })
    }

    /// Where job `job_id` of `repo` stands on the forge now, for closing a job the store still
    /// thinks waits when its `in_progress` / `completed` webhook never arrived. GitHub and
    /// Gitea ≥ 1.25 implement it; others answer [`ForgeError::Unsupported`].
    async fn job_status(&self, repo: &RepoRef, job_id: u64) -> Result<JobStatus, ForgeError> {
        let _ = (repo, job_id);
        Err(ForgeError::Unsupported {
            forge: display_name(self.flavor()),
            what: "reading one job's status".into(),
        })
    }

    /// The runs of `repo` triggered by `event` (`push`) that are queued or in progress, newest
    /// first: in push mode, a run whose commit sortie never planned means its `push` webhook was
    /// lost. Gitea ≥ 1.25 implements it; GitHub (never in push mode with a `workflow_job`
    /// webhook) and Forgejo answer [`ForgeError::Unsupported`].
    async fn active_runs(&self, repo: &RepoRef, event: &str) -> Result<Vec<ForgeRun>, ForgeError> {
        let _ = (repo, event);
        Err(ForgeError::Unsupported {
            forge: display_name(self.flavor()),
            what: "listing workflow runs".into(),
        })
    }

    /// Webhook deliveries since `since` that failed and were not delivered successfully since
    /// (one per delivery GUID, the latest attempt), newest first. Only a GitHub App can list
    /// them; a token answers [`ForgeError::Unsupported`].
    async fn failed_deliveries(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<HookDelivery>, ForgeError> {
        let _ = since;
        Err(ForgeError::Unsupported {
            forge: display_name(self.flavor()),
            what: "listing webhook deliveries".into(),
        })
    }

    /// Asks the forge to send delivery `delivery_id` again (same GUID).
    async fn redeliver(&self, delivery_id: u64) -> Result<(), ForgeError> {
        let _ = delivery_id;
        Err(ForgeError::Unsupported {
            forge: display_name(self.flavor()),
            what: "redelivering webhooks".into(),
        })
    }
}

/// `GitHub`, `Gitea`, `Forgejo`: the forge's name in messages.
fn display_name(flavor: Flavor) -> &'static str {
    match flavor {
        Flavor::Github => "GitHub",
        Flavor::Gitea => "Gitea",
        Flavor::Forgejo => "Forgejo",
    }
}
