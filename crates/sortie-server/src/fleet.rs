//! [`Fleet`]: everything the dispatcher, the sweeper, the agent routes and the reconciler share —
//! the store, the forges sortie serves, the providers it launches on, and the limits.
//!
//! Built once by `sortie serve` (or `sortie lambda`, or a test) from the settings; cheap to share
//! as `Arc<Fleet>`.

use crate::dispatcher::deadlines::{DeadlineSettings, PhaseDeadlines};
use crate::metrics::Metrics;
use sortie_core::forge::Flavor;
use sortie_forge::{Forge, RepoRef, RunnerScope};
use sortie_provider::Provider;
use sortie_store::Store;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// How sortie learns about a forge's jobs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ForgeMode {
    /// The forge sends `workflow_job` webhooks (GitHub; Gitea 1.24+; Forgejo with the event).
    WorkflowJob,
    /// The forge sends only `push`: sortie reads the workflows at the commit and evaluates the
    /// triggers itself (older Gitea/Forgejo; the seed dispatcher's design).
    Push,
}

/// Where runners of a forge are registered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ScopeRule {
    /// One registration per repository (the default; works for a PAT and an App alike).
    #[default]
    Repo,
    /// Organisation runners, optionally in a runner group (GitHub).
    Org {
        /// Runner group id (GitHub); `None` = the default group.
        runner_group_id: Option<u64>,
    },
    /// Instance-wide runners (Gitea/Forgejo admin token).
    Instance,
}

impl ScopeRule {
    /// The runner scope for a job of `repo` (`owner/name`).
    pub fn scope_for(&self, repo: &str) -> Result<RunnerScope, sortie_forge::ForgeError> {
        let r = RepoRef::parse(repo)?;
        Ok(match self {
            ScopeRule::Repo => RunnerScope::Repo(r),
            ScopeRule::Org { runner_group_id } => RunnerScope::Org {
                org: r.owner,
                runner_group_id: *runner_group_id,
            },
            ScopeRule::Instance => RunnerScope::Instance,
        })
    }
}

/// One forge connection.
#[derive(Clone)]
pub struct ForgeHandle {
    /// The API client.
    pub forge: Arc<dyn Forge>,
    /// Where runners are registered.
    pub scope: ScopeRule,
    /// How jobs are learnt.
    pub mode: ForgeMode,
    /// The forge's web URL (`https://github.com`, `https://gitea.example`): the host git uses.
    pub web_url: String,
}

impl fmt::Debug for ForgeHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ForgeHandle")
            .field("flavor", &self.forge.flavor())
            .field("scope", &self.scope)
            .field("mode", &self.mode)
            .field("web_url", &self.web_url)
            .finish()
    }
}

/// Limits of the dispatcher and the sweeper.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Jobs dispatched at once by one replica.
    pub concurrency: usize,
    /// Most live machines per repository across the fleet (0 = no limit).
    pub max_per_repo: u32,
    /// Most live machines per provider (provider name → limit; absent = no limit).
    pub max_per_provider: BTreeMap<String, u32>,
    /// How often an idle dispatcher looks for work queued by another replica.
    pub dispatch_poll: Duration,
    /// How long a dispatcher's claim on a job lives before another replica may take it over.
    pub claim_ttl: Duration,
    /// The longest one provider launch call may take; the claim is held this long plus
    /// `claim_ttl` through the call, so no other replica resumes a launch still in flight.
    pub launch_call_timeout: Duration,
    /// Launch attempts per job before it fails for good.
    pub max_attempts: u32,
    /// The overall bound from a machine's launch to its job started: past it the dispatcher
    /// ends the machine and relaunches (or fails the job at `max_attempts`), whatever the phase
    /// deadlines say; also the default of every provider's `job_start` deadline.
    pub launching_timeout: Duration,
    /// `[deadlines.<provider>]` as given (provider name → settings); see
    /// [`Limits::deadlines_for`] for the deadlines that apply.
    pub deadlines: BTreeMap<String, DeadlineSettings>,
    /// A job may stay `running` this long before the sweeper times it out.
    pub running_timeout: Duration,
    /// A registered runner that has not taken a job after this long is a zombie.
    pub idle_runner_timeout: Duration,
    /// Seconds between an agent's heartbeats.
    pub heartbeat_interval: Duration,
    /// A machine powers itself off after this long, whatever happens.
    pub max_runtime: Duration,
    /// How often the sweeper runs.
    pub sweep_interval: Duration,
    /// How often the reconciler compares the store with each forge (queued jobs, jobs finished
    /// without their webhook, failed GitHub App deliveries, push-mode runs).
    pub reconcile_interval: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            concurrency: 16,
            max_per_repo: 0,
            max_per_provider: BTreeMap::new(),
            dispatch_poll: Duration::from_millis(500),
            claim_ttl: Duration::from_secs(60),
            launch_call_timeout: Duration::from_secs(120),
            max_attempts: 3,
            launching_timeout: Duration::from_secs(15 * 60),
            deadlines: BTreeMap::new(),
            running_timeout: Duration::from_secs(6 * 3600),
            idle_runner_timeout: Duration::from_secs(10 * 60),
            heartbeat_interval: Duration::from_secs(15),
            max_runtime: Duration::from_secs(6 * 3600 + 15 * 60),
            sweep_interval: Duration::from_secs(30),
            reconcile_interval: Duration::from_secs(60),
        }
    }
}

impl Limits {
    /// The phase deadlines of machines on `provider`: its `[deadlines.<provider>]` settings over
    /// the built-in defaults ([`DeadlineSettings::resolve`]).
    pub fn deadlines_for(&self, provider: &str) -> PhaseDeadlines {
        self.deadlines
            .get(provider)
            .copied()
            .unwrap_or_default()
            .resolve(provider, self.launching_timeout)
    }
}

/// Everything the background loops share.
#[derive(Clone)]
pub struct Fleet {
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// Forge connections by flavour (Gitea and Forgejo share the `gitea` settings).
    pub forges: BTreeMap<Flavor, ForgeHandle>,
    /// Providers by name (`local`, `ec2`, …), as routes name them.
    pub providers: BTreeMap<String, Arc<dyn Provider>>,
    /// The URL machines reach this orchestrator at (the agent's `--url`).
    pub public_url: String,
    /// The `sortie:owner` tag value: which sortie deployment owns a machine.
    pub owner: String,
    /// This replica's id (claims and leases).
    pub replica: String,
    /// Limits and timeouts.
    pub limits: Limits,
    /// Counters for `/metrics`.
    pub metrics: Arc<Metrics>,
    /// The provider of pool routes without warm capacity (the routing's default provider).
    pub default_provider: String,
    /// Woken when a job is queued, so the dispatcher starts at once instead of at its next poll.
    pub wake: Arc<tokio::sync::Notify>,
}

impl fmt::Debug for Fleet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fleet")
            .field("forges", &self.forges)
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .field("public_url", &self.public_url)
            .field("owner", &self.owner)
            .field("replica", &self.replica)
            .field("limits", &self.limits)
            .field("default_provider", &self.default_provider)
            .finish()
    }
}

impl Fleet {
    /// The forge connection for `flavor`; Forgejo falls back to the Gitea connection.
    pub fn forge(&self, flavor: Flavor) -> Option<&ForgeHandle> {
        self.forges.get(&flavor).or_else(|| match flavor {
            Flavor::Forgejo => self.forges.get(&Flavor::Gitea),
            Flavor::Gitea => self.forges.get(&Flavor::Forgejo),
            Flavor::Github => None,
        })
    }

    /// The web URL of the forge of `flavor` (empty when not configured).
    pub fn forge_web_url(&self, flavor: Flavor) -> String {
        self.forge(flavor)
            .map(|h| h.web_url.clone())
            .unwrap_or_default()
    }

    /// Sets `sortie_forge_rate_limit_remaining{forge}` to the smallest budget any of the forge's
    /// credentials has left, as its last answers said (every replica, after each sweep and
    /// reconcile pass: each replica's clients spend their own calls).
    pub fn record_rate_budgets(&self) {
        for (flavor, handle) in &self.forges {
            if let Some(min) = handle
                .forge
                .rate_budgets()
                .iter()
                .map(|b| b.remaining)
                .min()
            {
                let min = i64::try_from(min).unwrap_or(i64::MAX);
                self.metrics
                    .set_forge_rate_limit_remaining(flavor.as_str(), min);
            }
        }
    }

    /// The provider called `name`.
    pub fn provider(&self, name: &str) -> Option<&Arc<dyn Provider>> {
        self.providers.get(name)
    }
}

/// Why a [`Fleet`] could not be built from the settings.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A forge client refused its settings.
    #[error("cannot set up the {forge} connection: {source}")]
    Forge {
        /// Which forge.
        forge: &'static str,
        /// The client's error.
        #[source]
        source: sortie_forge::ForgeError,
    },
    /// A provider refused its settings.
    #[error("cannot set up the {provider} provider: {message}")]
    Provider {
        /// Which provider.
        provider: &'static str,
        /// What is wrong and what to do.
        message: String,
    },
}

/// What the binary adds to the settings when building a [`Fleet`].
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// This replica's id.
    pub replica: String,
    /// The local provider's command when `[local] command` is unset: normally this binary with
    /// `agent --no-poweroff`.
    pub default_local_command: Vec<String>,
    /// The address the server actually listens on (for the default public URL).
    pub listen: std::net::SocketAddr,
}

/// Builds the forges and providers the settings describe. The local provider always exists (it
/// needs no account); `ec2` exists when `[ec2]` names an AMI.
pub async fn build(
    settings: &crate::config::Settings,
    store: Arc<dyn Store>,
    opts: BuildOptions,
) -> Result<Fleet, BuildError> {
    use sortie_forge::clock::SystemClock;
    let c = &settings.connections;
    let mut forges = BTreeMap::new();
    if let Some(cfg) = github_config(&c.github) {
        let web_url = c.github.web_url.clone().unwrap_or_else(|| {
            if cfg.api_url == sortie_forge::github::GITHUB_API_URL {
                "https://github.com".into()
            } else {
                cfg.api_url.trim_end_matches("/api/v3").to_string()
            }
        });
        let forge = sortie_forge::github::GithubForge::new(cfg, Arc::new(SystemClock)).map_err(
            |source| BuildError::Forge {
                forge: "github",
                source,
            },
        )?;
        forges.insert(
            Flavor::Github,
            ForgeHandle {
                forge: Arc::new(forge),
                scope: c.github.scope.clone(),
                mode: ForgeMode::WorkflowJob,
                web_url,
            },
        );
    }
    if let (Some(url), Some(token)) = (&c.gitea.url, &c.gitea.token) {
        let cfg = sortie_forge::gitea::GiteaConfig::new(url.clone(), token.clone(), c.gitea.flavor);
        let forge =
            sortie_forge::gitea::GiteaForge::new(cfg, Arc::new(SystemClock)).map_err(|source| {
                BuildError::Forge {
                    forge: "gitea",
                    source,
                }
            })?;
        forges.insert(
            c.gitea.flavor,
            ForgeHandle {
                forge: Arc::new(forge),
                scope: c.gitea.scope.clone(),
                mode: c.gitea.mode,
                web_url: url.clone(),
            },
        );
    }

    let mut providers: BTreeMap<String, Arc<dyn Provider>> = BTreeMap::new();
    let local = sortie_provider::local::LocalConfig {
        command: c
            .local
            .command
            .clone()
            .unwrap_or_else(|| opts.default_local_command.clone()),
        work_root: c
            .local
            .work_root
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join("sortie-work")),
        log_dir: c
            .local
            .log_dir
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("sortie-logs")),
        max_concurrent: c.local.max_concurrent,
        time_limit: c.local.time_limit,
        env: c.local.env.clone(),
        owner: c.owner.clone(),
    };
    let local =
        sortie_provider::local::LocalProvider::new(local).map_err(|e| BuildError::Provider {
            provider: "local",
            message: e.to_string(),
        })?;
    providers.insert("local".into(), Arc::new(local));
    if let Some(ami) = &c.ec2.ami_amd64 {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &c.ec2.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(endpoint) = &c.ec2.endpoint_url {
            loader = loader.endpoint_url(endpoint.clone());
        }
        let sdk = loader.load().await;
        let mut cfg = sortie_provider::ec2::config::Ec2Config::new(c.owner.clone(), ami.clone());
        cfg.ami_arm64 = c.ec2.ami_arm64.clone();
        cfg.security_group_ids = c.ec2.security_group_ids.clone();
        cfg.instance_profile = c.ec2.instance_profile.clone();
        cfg.on_demand_fallback = c.ec2.on_demand_fallback;
        cfg.subnets = c
            .ec2
            .subnets
            .iter()
            .map(|s| {
                let (id, zone) = s.split_once('@').unwrap_or((s.as_str(), ""));
                sortie_provider::ec2::config::SubnetConfig {
                    id: id.to_string(),
                    availability_zone: zone.to_string(),
                    public: false,
                }
            })
            .collect();
        providers.insert(
            "ec2".into(),
            Arc::new(sortie_provider::ec2::Ec2Provider::new(&sdk, cfg)),
        );
    }
    let public_url = c
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", opts.listen));
    Ok(Fleet {
        store,
        forges,
        providers,
        public_url,
        owner: c.owner.clone(),
        replica: opts.replica,
        limits: c.limits.clone(),
        metrics: Arc::new(Metrics::default()),
        default_provider: settings.routing.default_provider.clone(),
        wake: Arc::new(tokio::sync::Notify::new()),
    })
}

/// The GitHub client's settings from `[github]`, `None` when GitHub is not configured: the App
/// (plus `[[github.extra_apps]]`) when both its halves are set, else the token.
pub fn github_config(gh: &crate::config::GithubApi) -> Option<sortie_forge::github::GithubConfig> {
    use sortie_forge::github::{GithubApp, GithubAuth, GithubConfig};
    if !gh.is_configured() {
        return None;
    }
    let auth = match (&gh.app_id, &gh.private_key, &gh.token) {
        (Some(app_id), Some(key), _) => GithubAuth::App {
            app_id: app_id.clone(),
            private_key_pem: key.clone(),
            installation_id: None,
        },
        (_, _, Some(token)) => GithubAuth::Token(token.clone()),
        _ => unreachable_auth(),
    };
    let mut cfg = GithubConfig::new(auth);
    if let Some(api) = &gh.api_url {
        cfg.api_url = api.clone();
    }
    cfg.extra_apps = gh
        .extra_apps
        .iter()
        .map(|a| GithubApp {
            app_id: a.app_id.clone(),
            private_key_pem: a.private_key.clone(),
        })
        .collect();
    if let Some(n) = gh.max_concurrent_calls {
        cfg.budget.max_in_flight = n;
    }
    Some(cfg)
}

fn unreachable_auth() -> sortie_forge::github::GithubAuth {
    // `is_configured` guarantees an App or a token; keep a harmless value rather than panic.
    sortie_forge::github::GithubAuth::Token(sortie_forge::Secret::new(String::new()))
}
