//! GitHub (github.com and Enterprise Server): App or personal-access-token authentication,
//! workflow files, compare, JIT runner configs, runner clean-up, repository-scoped git tokens.
//!
//! REST endpoints (GitHub docs, REST API reference, version 2022-11-28):
//! - `GET /repos/{o}/{r}/installation`, `GET /orgs/{org}/installation`,
//!   `POST /app/installations/{id}/access_tokens` ("Apps");
//! - `GET /repos/{o}/{r}/contents/{path}?ref=`, `GET /repos/{o}/{r}/compare/{base}...{head}`;
//! - `POST /repos/{o}/{r}/actions/runners/generate-jitconfig`,
//!   `POST /orgs/{org}/actions/runners/generate-jitconfig`, `GET …/actions/runners`,
//!   `DELETE …/actions/runners/{runner_id}` ("Self-hosted runners");
//! - `GET /repos/{o}/{r}/actions/runs`, `GET …/actions/runs/{run_id}/jobs` ("Workflow runs",
//!   "Workflow jobs"), `GET /app/hook/deliveries`, `POST /app/hook/deliveries/{id}/attempts`
//!   ("Webhooks for GitHub Apps"): reconciliation, see [`reconcile`].

pub mod auth;
mod reconcile;
mod runners;

use crate::clock::Clock;
use crate::contents;
use crate::error::ForgeError;
use crate::http::{Api, Auth};
use crate::ratelimit::RetryPolicy;
use crate::types::{
    GitCredential, HookDelivery, JobStatus, QueuedJob, RepoRef, Runner, RunnerCredential,
    RunnerRequest, RunnerScope, Secret,
};
use crate::Forge;
use async_trait::async_trait;
use auth::{AppAuth, Target};
use sortie_core::forge::Flavor;
use std::future::Future;
use std::sync::Arc;
use time::OffsetDateTime;

/// github.com's API.
pub const GITHUB_API_URL: &str = "https://api.github.com";

/// How sortie authenticates to GitHub.
#[derive(Debug, Clone)]
pub enum GithubAuth {
    /// A GitHub App (preferred): short-lived installation tokens, narrowed per use.
    App {
        /// The App's id (or client id), the JWT's `iss`.
        app_id: String,
        /// The App's private key, PEM.
        private_key_pem: Secret,
        /// A fixed installation; `None` looks it up per repository or organisation.
        installation_id: Option<u64>,
    },
    /// A personal access token (fallback). It never leaves sortie: no git credential is derived
    /// from it.
    Token(Secret),
}

/// Settings of one GitHub connection.
#[derive(Debug, Clone)]
pub struct GithubConfig {
    /// API base: [`GITHUB_API_URL`], or `https://HOST/api/v3` for Enterprise Server.
    pub api_url: String,
    /// Credentials.
    pub auth: GithubAuth,
    /// Runner group for organisation runners when the request names none (1 = Default).
    pub default_runner_group_id: u64,
    /// Rate-limit and retry bounds.
    pub retry: RetryPolicy,
}

impl GithubConfig {
    /// github.com with `auth` and default bounds.
    pub fn new(auth: GithubAuth) -> GithubConfig {
        GithubConfig {
            api_url: GITHUB_API_URL.into(),
            auth,
            default_runner_group_id: 1,
            retry: RetryPolicy::default(),
        }
    }
}

enum Credentials {
    App(AppAuth),
    Token(Secret),
}

/// A GitHub connection. Cheap to share: hold it in an `Arc<dyn Forge>`.
pub struct GithubForge {
    api: Api,
    creds: Credentials,
    default_runner_group_id: u64,
    /// Listings kept for conditional requests (reconciliation).
    etags: reconcile::Etags,
}

impl std::fmt::Debug for GithubForge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GithubForge")
            .field("api", &self.api)
            .finish_non_exhaustive()
    }
}

impl GithubForge {
    /// Connects (lazily: no call is made until needed). Fails on a bad URL or private key.
    pub fn new(config: GithubConfig, clock: Arc<dyn Clock>) -> Result<GithubForge, ForgeError> {
        let api = Api::new(&config.api_url, "GitHub", clock, config.retry)?
            .with_accept("application/vnd.github+json")
            .with_header("X-GitHub-Api-Version", "2022-11-28");
        let creds = match config.auth {
            GithubAuth::App {
                app_id,
                private_key_pem,
                installation_id,
            } => Credentials::App(AppAuth::new(
                &app_id,
                private_key_pem.expose(),
                installation_id,
            )?),
            GithubAuth::Token(t) => Credentials::Token(t),
        };
        Ok(GithubForge {
            api,
            creds,
            default_runner_group_id: config.default_runner_group_id,
            etags: reconcile::Etags::default(),
        })
    }

    async fn auth(&self, target: Target<'_>) -> Result<Auth, ForgeError> {
        match &self.creds {
            Credentials::App(app) => app.auth_for(&self.api, target).await,
            Credentials::Token(t) => Ok(Auth {
                header: format!("Bearer {}", t.expose()),
                scope: "personal access token".into(),
            }),
        }
    }

    /// Runs `op` with the credentials for `target`. With an App, a 401 means the cached
    /// installation token stopped working before its `expires_at` (revoked, App reinstalled):
    /// the cache for `target` is dropped and `op` runs once more with a fresh token.
    async fn authed<T, F, Fut>(&self, target: Target<'_>, op: F) -> Result<T, ForgeError>
    where
        F: Fn(Auth) -> Fut,
        Fut: Future<Output = Result<T, ForgeError>>,
    {
        let first = op(self.auth(target).await?).await;
        match (&self.creds, &first) {
            (Credentials::App(app), Err(ForgeError::Unauthorized { .. })) => {
                app.forget(target);
                op(self.auth(target).await?).await
            }
            _ => first,
        }
    }

    fn scope_target(scope: &RunnerScope) -> Result<Target<'_>, ForgeError> {
        match scope {
            RunnerScope::Repo(r) => Ok(Target::Repo(r)),
            RunnerScope::Org { org, .. } => Ok(Target::Org(org)),
            RunnerScope::Instance => Err(instance_unsupported()),
        }
    }
}

fn app_only(what: &str) -> ForgeError {
    ForgeError::Unsupported {
        forge: "GitHub",
        what: format!("{what} with a personal access token; only a GitHub App can (its webhook's deliveries are the App's)"),
    }
}

fn instance_unsupported() -> ForgeError {
    ForgeError::Unsupported {
        forge: "GitHub",
        what: "instance-wide runners; register runners for a repository or an organisation".into(),
    }
}

#[async_trait]
impl Forge for GithubForge {
    fn flavor(&self) -> Flavor {
        Flavor::Github
    }

    async fn workflow_files(
        &self,
        repo: &RepoRef,
        commit: &str,
    ) -> Result<Vec<(String, String)>, ForgeError> {
        self.authed(Target::Repo(repo), |auth| async move {
            contents::workflow_files(&self.api, &auth, Flavor::Github, repo, commit).await
        })
        .await
    }

    async fn changed_files(
        &self,
        repo: &RepoRef,
        base: &str,
        head: &str,
    ) -> Result<Vec<String>, ForgeError> {
        self.authed(Target::Repo(repo), |auth| async move {
            contents::changed_files(&self.api, &auth, repo, base, head).await
        })
        .await
    }

    async fn runner_credential(
        &self,
        request: &RunnerRequest,
    ) -> Result<RunnerCredential, ForgeError> {
        let group = self.default_runner_group_id;
        self.authed(Self::scope_target(&request.scope)?, |auth| async move {
            runners::jit_config(&self.api, &auth, request, group).await
        })
        .await
    }

    async fn list_runners(&self, scope: &RunnerScope) -> Result<Vec<Runner>, ForgeError> {
        self.authed(Self::scope_target(scope)?, |auth| async move {
            runners::list(&self.api, &auth, scope).await
        })
        .await
    }

    async fn delete_runner(&self, scope: &RunnerScope, runner_id: u64) -> Result<(), ForgeError> {
        self.authed(Self::scope_target(scope)?, |auth| async move {
            runners::delete(&self.api, &auth, scope, runner_id).await
        })
        .await
    }

    /// An installation token narrowed to `repo` and `contents: read`, expiring within the hour.
    /// With a personal access token there is none: a PAT is long-lived and never goes to a
    /// machine; jobs clone with their own `GITHUB_TOKEN`.
    async fn git_credential(&self, repo: &RepoRef) -> Result<Option<GitCredential>, ForgeError> {
        let Credentials::App(app) = &self.creds else {
            return Ok(None);
        };
        let installation = app.installation(&self.api, Target::Repo(repo)).await?;
        let t = app.token(&self.api, installation, Some(repo)).await?;
        Ok(Some(GitCredential {
            username: "x-access-token".into(),
            password: t.token,
            expires_at: Some(t.expires_at),
            scope: format!("contents:read on {repo} only"),
        }))
    }

    async fn queued_jobs(&self, repo: &RepoRef) -> Result<Vec<QueuedJob>, ForgeError> {
        self.authed(Target::Repo(repo), |auth| async move {
            reconcile::queued_jobs(&self.api, &auth, &self.etags, repo).await
        })
        .await
    }

    fn rate_budgets(&self) -> Vec<crate::types::RateBudget> {
        self.api.budgets()
    }

    async fn job_status(&self, repo: &RepoRef, job_id: u64) -> Result<JobStatus, ForgeError> {
        self.authed(Target::Repo(repo), |auth| async move {
            reconcile::job_status(&self.api, &auth, &self.etags, repo, job_id).await
        })
        .await
    }

    async fn failed_deliveries(
        &self,
        since: OffsetDateTime,
    ) -> Result<Vec<HookDelivery>, ForgeError> {
        let Credentials::App(app) = &self.creds else {
            return Err(app_only("listing webhook deliveries"));
        };
        reconcile::failed_deliveries(&self.api, app, since).await
    }

    async fn redeliver(&self, delivery_id: u64) -> Result<(), ForgeError> {
        let Credentials::App(app) = &self.creds else {
            return Err(app_only("redelivering webhooks"));
        };
        reconcile::redeliver(&self.api, app, delivery_id).await
    }
}

#[cfg(test)]
mod reconcile_tests;
#[cfg(test)]
mod tests;
