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
//!   ("Webhooks for GitHub Apps"): reconciliation, see [`reconcile`];
//! - `GET /rate_limit` ("Rate limit": free, "does not count against your REST API rate limit")
//!   and `GET /app/installations`: [`Forge::probe_budget`].
//!
//! Several GitHub Apps may serve one organisation ([`GithubConfig::extra_apps`]): each call goes
//! to the App whose installation has the most budget left, and falls over to the next when one
//! is rate-limited (see [`crate::budget`]). Webhook deliveries are the first App's.

pub mod auth;
mod reconcile;
mod runners;

use crate::budget::{order_by_budget, BudgetPolicy, Priority};
use crate::clock::Clock;
use crate::contents;
use crate::error::ForgeError;
use crate::http::{Api, Auth, Call};
use crate::ratelimit::RetryPolicy;
use crate::types::{
    GitCredential, HookDelivery, JobStatus, QueuedJob, RateBudget, RepoRef, Runner,
    RunnerCredential, RunnerRequest, RunnerScope, Secret,
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
    /// More GitHub Apps installed on the same organisations (with [`GithubAuth::App`] only), to
    /// spread the calls over their budgets. Each App's installation is looked up per target.
    pub extra_apps: Vec<GithubApp>,
    /// The scheduler's bounds (calls in flight, reserve kept for runner credentials).
    pub budget: BudgetPolicy,
}

/// One more GitHub App (see [`GithubConfig::extra_apps`]).
#[derive(Debug, Clone)]
pub struct GithubApp {
    /// The App's id (or client id).
    pub app_id: String,
    /// The App's private key, PEM.
    pub private_key_pem: Secret,
}

impl GithubConfig {
    /// github.com with `auth` and default bounds.
    pub fn new(auth: GithubAuth) -> GithubConfig {
        GithubConfig {
            api_url: GITHUB_API_URL.into(),
            auth,
            default_runner_group_id: 1,
            retry: RetryPolicy::default(),
            extra_apps: Vec::new(),
            budget: BudgetPolicy::default(),
        }
    }
}

enum Credentials {
    /// One App or more; the first is the configured `app_id` (its webhook is the one sortie
    /// receives).
    Apps(Vec<AppAuth>),
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
            .with_header("X-GitHub-Api-Version", "2022-11-28")
            .with_budget(config.budget);
        let creds = match config.auth {
            GithubAuth::App {
                app_id,
                private_key_pem,
                installation_id,
            } => {
                let mut apps = vec![AppAuth::new(
                    &app_id,
                    private_key_pem.expose(),
                    installation_id,
                )?];
                for extra in &config.extra_apps {
                    apps.push(AppAuth::new(
                        &extra.app_id,
                        extra.private_key_pem.expose(),
                        None,
                    )?);
                }
                Credentials::Apps(apps)
            }
            GithubAuth::Token(t) if config.extra_apps.is_empty() => Credentials::Token(t),
            GithubAuth::Token(_) => {
                return Err(ForgeError::Config {
                    message: "extra GitHub Apps need a GitHub App first (app_id and private_key), \
                              not a personal access token"
                        .into(),
                })
            }
        };
        Ok(GithubForge {
            api,
            creds,
            default_runner_group_id: config.default_runner_group_id,
            etags: reconcile::Etags::default(),
        })
    }

    fn token_auth(t: &Secret) -> Auth {
        Auth {
            header: format!("Bearer {}", t.expose()),
            scope: "personal access token".into(),
        }
    }

    /// The Apps to try for `target`, best first: the most budget left on their installation for
    /// `target`, as the last answers said ([`order_by_budget`]).
    fn apps_for<'a>(&self, apps: &'a [AppAuth], target: Target<'_>) -> Vec<&'a AppAuth> {
        if apps.len() == 1 {
            return apps.iter().collect();
        }
        let scheduler = self.api.scheduler();
        let budgets: Vec<_> = apps
            .iter()
            .map(|a| {
                a.known_installation(target)
                    .and_then(|i| scheduler.budget(&installation_scope(i)))
            })
            .collect();
        let refs: Vec<_> = budgets.iter().map(Option::as_ref).collect();
        order_by_budget(&refs, scheduler.now())
            .into_iter()
            .map(|i| &apps[i])
            .collect()
    }

    /// Runs `op` with the credentials for `target`. With Apps, the one with the most budget left
    /// goes first and the next is tried when one is rate-limited; a 401 means the cached
    /// installation token stopped working before its `expires_at` (revoked, App reinstalled):
    /// the cache for `target` is dropped and `op` runs once more with a fresh token.
    async fn authed<T, F, Fut>(&self, target: Target<'_>, op: F) -> Result<T, ForgeError>
    where
        F: Fn(Auth) -> Fut,
        Fut: Future<Output = Result<T, ForgeError>>,
    {
        let apps = match &self.creds {
            Credentials::Token(t) => return op(Self::token_auth(t)).await,
            Credentials::Apps(apps) => self.apps_for(apps, target),
        };
        // An App that cannot act for `target` at all (not installed there: its installation
        // lookup fails) is passed over like a rate-limited one, so an extra App installed on
        // fewer organisations never stands in the way of the others.
        let (mut limited, mut unusable) = (None, None);
        for app in apps {
            let auth = match app.auth_for(&self.api, target).await {
                Ok(auth) => auth,
                Err(e @ ForgeError::RateLimited { .. }) => {
                    limited.get_or_insert(e);
                    continue;
                }
                Err(e) => {
                    tracing::debug!(app = app.app_id(), error = %e, "GitHub App cannot act here; trying the next");
                    unusable.get_or_insert(e);
                    continue;
                }
            };
            let answer = match op(auth).await {
                Err(ForgeError::Unauthorized { .. }) => {
                    app.forget(target);
                    match app.auth_for(&self.api, target).await {
                        Ok(auth) => op(auth).await,
                        Err(e) => Err(e),
                    }
                }
                other => other,
            };
            match answer {
                Err(e @ ForgeError::RateLimited { .. }) => {
                    tracing::info!(app = app.app_id(), error = %e, "GitHub App rate-limited, trying the next");
                    limited.get_or_insert(e);
                }
                other => return other,
            }
        }
        Err(limited.or(unusable).unwrap_or_else(|| ForgeError::Config {
            message: "no GitHub App configured".into(),
        }))
    }

    /// Runs `op` on each App in turn until one is not rate-limited. When all are, the first
    /// App's refusal is returned; an App that fails otherwise after the first was rate-limited
    /// (not installed there, say) is logged and passed over.
    async fn on_apps<'a, T, F, Fut>(&self, apps: Vec<&'a AppAuth>, op: F) -> Result<T, ForgeError>
    where
        F: Fn(&'a AppAuth) -> Fut,
        Fut: Future<Output = Result<T, ForgeError>>,
    {
        let mut limited: Option<ForgeError> = None;
        for app in apps {
            match op(app).await {
                Err(e @ ForgeError::RateLimited { .. }) => {
                    tracing::info!(app = app.app_id(), error = %e, "GitHub App rate-limited, trying the next");
                    limited.get_or_insert(e);
                }
                Err(e) if limited.is_some() => {
                    tracing::warn!(app = app.app_id(), error = %e, "GitHub App could not stand in for a rate-limited one");
                }
                other => return other,
            }
        }
        Err(limited.unwrap_or_else(|| ForgeError::Config {
            message: "no GitHub App configured".into(),
        }))
    }

    /// The first App (whose webhook sortie receives), or why there is none.
    fn first_app(&self, what: &str) -> Result<&AppAuth, ForgeError> {
        match &self.creds {
            Credentials::Apps(apps) => apps.first().ok_or_else(|| app_only(what)),
            Credentials::Token(_) => Err(app_only(what)),
        }
    }

    /// `GET /rate_limit` with `auth`: the `core` budget, labelled `label`.
    async fn rate_limit(&self, auth: &Auth, label: String) -> Result<RateBudget, ForgeError> {
        #[derive(serde::Deserialize)]
        struct Core {
            limit: u64,
            remaining: u64,
            reset: i64,
        }
        #[derive(serde::Deserialize)]
        struct Resources {
            core: Core,
        }
        #[derive(serde::Deserialize)]
        struct Limits {
            resources: Resources,
        }
        let mut call = Call::new(reqwest::Method::GET, "/rate_limit")
            .priority(Priority::Action)
            .auth(auth);
        call.free = true;
        let l: Limits = self.api.json(&call).await?;
        Ok(RateBudget {
            scope: label,
            remaining: l.resources.core.remaining,
            limit: Some(l.resources.core.limit),
            reset_epoch: Some(l.resources.core.reset),
        })
    }

    fn scope_target(scope: &RunnerScope) -> Result<Target<'_>, ForgeError> {
        match scope {
            RunnerScope::Repo(r) => Ok(Target::Repo(r)),
            RunnerScope::Org { org, .. } => Ok(Target::Org(org)),
            RunnerScope::Instance => Err(instance_unsupported()),
        }
    }
}

/// At most this many installations per App are probed by [`Forge::probe_budget`].
pub const PROBED_INSTALLATIONS: usize = 10;

/// The budget scope of an installation's tokens (GitHub counts the limit per installation).
fn installation_scope(installation: u64) -> String {
    format!("installation {installation}")
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
            runners::list(&self.api, &auth, scope, Priority::Listing).await
        })
        .await
    }

    async fn delete_runner(&self, scope: &RunnerScope, runner_id: u64) -> Result<(), ForgeError> {
        self.authed(Self::scope_target(scope)?, |auth| async move {
            runners::delete(&self.api, &auth, scope, runner_id, Priority::Action).await
        })
        .await
    }

    /// An installation token narrowed to `repo` and `contents: read`, expiring within the hour.
    /// With a personal access token there is none: a PAT is long-lived and never goes to a
    /// machine; jobs clone with their own `GITHUB_TOKEN`.
    async fn git_credential(&self, repo: &RepoRef) -> Result<Option<GitCredential>, ForgeError> {
        let Credentials::Apps(apps) = &self.creds else {
            return Ok(None);
        };
        let target = Target::Repo(repo);
        let t = self
            .on_apps(self.apps_for(apps, target), |app| async move {
                let installation = app.installation(&self.api, target).await?;
                app.token(&self.api, installation, Some(repo)).await
            })
            .await?;
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

    fn rate_budgets(&self) -> Vec<RateBudget> {
        self.api.budgets()
    }

    /// Per credential, `GET /rate_limit` (free): the token's budget, or for each App each of its
    /// installations (at most [`PROBED_INSTALLATIONS`]; a token is minted for each).
    async fn probe_budget(&self) -> Result<Vec<RateBudget>, ForgeError> {
        let apps = match &self.creds {
            Credentials::Token(t) => {
                let b = self
                    .rate_limit(&Self::token_auth(t), "personal access token".into())
                    .await?;
                return Ok(vec![b]);
            }
            Credentials::Apps(apps) => apps,
        };
        let mut out = Vec::new();
        for app in apps {
            let installations = match app.fixed_installation() {
                Some(id) => vec![(id, String::new())],
                None => app.installations(&self.api).await?,
            };
            if installations.is_empty() {
                return Err(ForgeError::Config {
                    message: format!(
                        "GitHub App {} is not installed anywhere; install it on the organisations or repositories sortie serves",
                        app.app_id()
                    ),
                });
            }
            for (id, account) in installations.into_iter().take(PROBED_INSTALLATIONS) {
                let token = app.token(&self.api, id, None).await?;
                let auth = Auth {
                    header: format!("Bearer {}", token.token.expose()),
                    scope: installation_scope(id),
                };
                let on = if account.is_empty() {
                    String::new()
                } else {
                    format!(" ({account})")
                };
                let label = format!("app {} installation {id}{on}", app.app_id());
                out.push(self.rate_limit(&auth, label).await?);
            }
        }
        Ok(out)
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
        let app = self.first_app("listing webhook deliveries")?;
        reconcile::failed_deliveries(&self.api, app, since).await
    }

    async fn redeliver(&self, delivery_id: u64) -> Result<(), ForgeError> {
        let app = self.first_app("redelivering webhooks")?;
        reconcile::redeliver(&self.api, app, delivery_id).await
    }
}

#[cfg(test)]
mod budget_tests;
#[cfg(test)]
mod reconcile_tests;
#[cfg(test)]
mod tests;
