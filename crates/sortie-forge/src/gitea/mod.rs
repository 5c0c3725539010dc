//! Gitea and Forgejo (`/api/v1`, `Authorization: token …`).
//!
//! Endpoints, from go-gitea/gitea `routers/api/v1/api.go` (`addActionsManagementRoutes`, the
//! `/admin/actions/runners` group) and `templates/swagger/v1_json.tmpl`:
//! - contents: `GET /repos/{owner}/{repo}/contents/{filepath}?ref=`;
//! - compare: `GET /repos/{owner}/{repo}/compare/{basehead}` (`routers/api/v1/repo/compare.go`);
//! - runners: `GET …/actions/runners`, `POST …/actions/runners/registration-token` (Gitea ≥ 1.24;
//!   1.21–1.23 and Forgejo answer `GET` on the same path), `DELETE …/actions/runners/{runner_id}`,
//!   under `/repos/{owner}/{repo}`, `/orgs/{org}` and `/admin` (instance).
//! - Forgejo ≥ 15 adds `POST …/actions/runners` with `RegisterRunnerOptions`
//!   `{ name, description, ephemeral }` answering `{ id, uuid, token }` (forgejo
//!   `modules/structs` `RegisterRunnerOptions` / `RegisterRunnerResponse`; Forgejo docs "Forgejo
//!   Runner Registration" → "Using Forgejo's HTTP API"). An ephemeral runner takes one job and
//!   Forgejo removes its registration and invalidates its token afterwards.
//!
//! Capability check for the ephemeral API: there is no feature flag to query, so sortie simply
//! tries it on Forgejo; 404 or 405 (route absent on older Forgejo) marks it unsupported for the
//! life of the process and sortie falls back to a registration token. Gitea has no such route
//! and is never asked.
//!
//! Reconciling (see [`reconcile`]): Gitea ≥ 1.25 lists jobs and runs (`…/actions/jobs`,
//! `…/actions/runs`), so the reconciler can recover jobs and pushes whose webhook was lost;
//! older Gitea answers [`ForgeError::Unsupported`] after one try, remembered. Forgejo's only job
//! search cannot key a job or name a commit, so Forgejo answers `Unsupported` at once.

mod reconcile;
mod runners;

use crate::clock::Clock;
use crate::contents;
use crate::error::ForgeError;
use crate::http::{Api, Auth};
use crate::ratelimit::RetryPolicy;
use crate::types::{
    ForgeRun, GitCredential, JobStatus, QueuedJob, RepoRef, Runner, RunnerCredential,
    RunnerRequest, RunnerScope, Secret,
};
use crate::Forge;
use async_trait::async_trait;
use sortie_core::forge::Flavor;
use std::sync::{Arc, Mutex};

/// Whether to use Forgejo's ephemeral runner registration API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EphemeralRegistration {
    /// Try it on Forgejo; fall back to a registration token when the server lacks it.
    #[default]
    Auto,
    /// Always use registration tokens.
    Off,
}

/// Settings of one Gitea or Forgejo connection.
#[derive(Debug, Clone)]
pub struct GiteaConfig {
    /// The instance's base URL, e.g. `https://git.example.com` (the API is under `/api/v1`).
    pub url: String,
    /// API token. Needs `read:repository` for workflows and compare, and write on the runner
    /// scope (repository admin, organisation owner, or site admin for instance runners).
    pub token: Secret,
    /// [`Flavor::Gitea`] or [`Flavor::Forgejo`] (which workflow folder wins, and whether the
    /// ephemeral API is tried).
    pub flavor: Flavor,
    /// Forgejo ephemeral registration.
    pub ephemeral: EphemeralRegistration,
    /// Optional read-only token handed to machines for git clones (see
    /// [`GiteaForge::git_credential`](crate::Forge::git_credential)). Leave unset unless jobs
    /// clone other private repositories.
    pub git_read_token: Option<Secret>,
    /// Rate-limit and retry bounds.
    pub retry: RetryPolicy,
}

impl GiteaConfig {
    /// A connection to `url` with `token`, default bounds, ephemeral registration on auto.
    pub fn new(url: impl Into<String>, token: Secret, flavor: Flavor) -> GiteaConfig {
        GiteaConfig {
            url: url.into(),
            token,
            flavor,
            ephemeral: EphemeralRegistration::Auto,
            git_read_token: None,
            retry: RetryPolicy::default(),
        }
    }
}

/// A Gitea or Forgejo connection.
pub struct GiteaForge {
    api: Api,
    auth: Auth,
    url: String,
    flavor: Flavor,
    ephemeral: EphemeralRegistration,
    /// `Some(false)` once the server answered that it lacks the ephemeral API.
    ephemeral_supported: Mutex<Option<bool>>,
    git_read_token: Option<Secret>,
    /// Whether the Actions listing routes exist (Gitea ≥ 1.25), once known.
    listings: reconcile::Listings,
}

impl std::fmt::Debug for GiteaForge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GiteaForge")
            .field("url", &self.url)
            .field("flavor", &self.flavor)
            .finish_non_exhaustive()
    }
}

impl GiteaForge {
    /// Connects (lazily). Fails on a bad URL or a GitHub flavour.
    pub fn new(config: GiteaConfig, clock: Arc<dyn Clock>) -> Result<GiteaForge, ForgeError> {
        let name = match config.flavor {
            Flavor::Gitea => "Gitea",
            Flavor::Forgejo => "Forgejo",
            Flavor::Github => {
                return Err(ForgeError::Config {
                    message: "a Gitea connection needs flavour gitea or forgejo, not github".into(),
                })
            }
        };
        let url = config.url.trim_end_matches('/').to_string();
        let api = Api::new(&format!("{url}/api/v1"), name, clock, config.retry)?;
        let auth = Auth {
            header: format!("token {}", config.token.expose()),
            scope: "API token".into(),
        };
        Ok(GiteaForge {
            api,
            auth,
            url,
            flavor: config.flavor,
            ephemeral: config.ephemeral,
            ephemeral_supported: Mutex::new(None),
            git_read_token: config.git_read_token,
            listings: reconcile::Listings::default(),
        })
    }

    /// Forgejo's search of waiting jobs whose `runs-on` `labels` satisfy
    /// (`GET …/actions/runners/jobs?labels=…`). It tells a job's id, name and labels only: the
    /// returned jobs have `run_id` 0, `run_attempt` 0 and no `created_at`, so they cannot be
    /// keyed as a webhook would key them (which is why [`Forge::queued_jobs`] does not use it).
    pub async fn forgejo_waiting_jobs(
        &self,
        repo: &RepoRef,
        labels: &[String],
    ) -> Result<Vec<QueuedJob>, ForgeError> {
        if self.flavor != Flavor::Forgejo {
            return Err(self.forgejo_has_no_listing("the runner job search (Forgejo only)"));
        }
        reconcile::forgejo_waiting_jobs(&self.api, &self.auth, repo, labels).await
    }

    fn forgejo_has_no_listing(&self, what: &str) -> ForgeError {
        ForgeError::Unsupported {
            forge: self.api.forge,
            what: what.into(),
        }
    }

    /// Forgejo answers `Unsupported` for the listings the reconciler needs.
    fn gitea_only(&self, what: &str) -> Result<(), ForgeError> {
        if self.flavor == Flavor::Forgejo {
            return Err(self.forgejo_has_no_listing(&format!(
                "{what} (Forgejo lists waiting jobs only by runner labels, without run id, \
                 attempt or commit; the reconciler cannot key them)"
            )));
        }
        Ok(())
    }

    fn try_ephemeral(&self) -> bool {
        self.flavor == Flavor::Forgejo
            && self.ephemeral == EphemeralRegistration::Auto
            && *self
                .ephemeral_supported
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                != Some(false)
    }

    fn set_ephemeral_supported(&self, yes: bool) {
        *self
            .ephemeral_supported
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = Some(yes);
    }
}

#[async_trait]
impl Forge for GiteaForge {
    fn flavor(&self) -> Flavor {
        self.flavor
    }

    /// Gitea and Forgejo send no rate-limit headers by default; a proxy in front may.
    fn rate_budgets(&self) -> Vec<crate::types::RateBudget> {
        self.api.budgets()
    }

    async fn workflow_files(
        &self,
        repo: &RepoRef,
        commit: &str,
    ) -> Result<Vec<(String, String)>, ForgeError> {
        contents::workflow_files(&self.api, &self.auth, self.flavor, repo, commit).await
    }

    async fn changed_files(
        &self,
        repo: &RepoRef,
        base: &str,
        head: &str,
    ) -> Result<Vec<String>, ForgeError> {
        contents::changed_files(&self.api, &self.auth, repo, base, head).await
    }

    async fn runner_credential(
        &self,
        request: &RunnerRequest,
    ) -> Result<RunnerCredential, ForgeError> {
        if self.try_ephemeral() {
            match runners::register_ephemeral(&self.api, &self.auth, &self.url, request).await? {
                Some(cred) => {
                    self.set_ephemeral_supported(true);
                    return Ok(cred);
                }
                None => {
                    tracing::info!(forge = %self.flavor, "no ephemeral runner API on this server; using registration tokens");
                    self.set_ephemeral_supported(false);
                }
            }
        }
        let token = runners::registration_token(&self.api, &self.auth, &request.scope).await?;
        Ok(RunnerCredential::RegistrationToken {
            instance_url: self.url.clone(),
            token,
            runner_name: request.name.clone(),
            labels: request.labels.clone(),
        })
    }

    async fn list_runners(&self, scope: &RunnerScope) -> Result<Vec<Runner>, ForgeError> {
        runners::list(&self.api, &self.auth, scope).await
    }

    async fn delete_runner(&self, scope: &RunnerScope, runner_id: u64) -> Result<(), ForgeError> {
        runners::delete(&self.api, &self.auth, scope, runner_id).await
    }

    /// Gitea ≥ 1.25: `GET …/actions/jobs?status=queued&status=waiting`, every page.
    async fn queued_jobs(&self, repo: &RepoRef) -> Result<Vec<QueuedJob>, ForgeError> {
        self.gitea_only("listing queued jobs")?;
        reconcile::queued_jobs(&self.api, &self.auth, &self.listings, repo).await
    }

    /// Gitea ≥ 1.25: `GET …/actions/jobs/{job_id}`.
    async fn job_status(&self, repo: &RepoRef, job_id: u64) -> Result<JobStatus, ForgeError> {
        self.gitea_only("reading one job's status")?;
        reconcile::job_status(&self.api, &self.auth, &self.listings, repo, job_id).await
    }

    /// Gitea ≥ 1.25: `GET …/actions/runs?event=…&status=queued&status=in_progress`.
    async fn active_runs(&self, repo: &RepoRef, event: &str) -> Result<Vec<ForgeRun>, ForgeError> {
        self.gitea_only("listing workflow runs")?;
        reconcile::active_runs(&self.api, &self.auth, &self.listings, repo, event).await
    }

    /// Gitea and Forgejo cannot mint a short-lived token narrowed to one repository through the
    /// API (access tokens have category scopes such as `read:repository`, cover every repository
    /// the user can see, never expire, and need the user's password to create). The best
    /// available credential is the one the forge already gives every job: the per-task
    /// `GITEA_TOKEN`/`GITHUB_TOKEN`, scoped to the job's repository and valid while the task
    /// runs, which `actions/checkout` uses. So this returns `None` unless an operator configured
    /// `git_read_token` (a `read:repository` token of a bot user that can see only the needed
    /// repositories), which is then handed out as is, marked as not expiring.
    async fn git_credential(&self, _repo: &RepoRef) -> Result<Option<GitCredential>, ForgeError> {
        Ok(self.git_read_token.as_ref().map(|t| GitCredential {
            username: "sortie".into(),
            password: t.clone(),
            expires_at: None,
            scope:
                "configured read-only token: every repository its user can read; does not expire"
                    .into(),
        }))
    }
}

#[cfg(test)]
mod reconcile_tests;
#[cfg(test)]
mod tests;
