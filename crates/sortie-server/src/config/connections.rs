//! The settings of what sortie talks to and how hard it works: the forges' APIs (`[github]`,
//! `[gitea]` beyond their webhook secrets), the URL machines use to reach sortie, the dispatch
//! limits (`[dispatch]`), and the providers (`[local]`, `[ec2]`).
//!
//! File keys are checked (unknown keys refused); the environment overrides the commonly scripted
//! ones (`SORTIE_GITHUB_APP_ID`, `SORTIE_GITEA_URL`, …, see docs/configuration.md).

use super::{ConfigError, Origin, Secret};
use crate::dispatcher::deadlines::{DeadlineSettings, Phase};
use crate::fleet::{ForgeMode, Limits, ScopeRule};
use serde::Deserialize;
use sortie_core::forge::Flavor;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// `[github]` API settings (the webhook secret is in [`super::ForgeSettings`]).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GithubApi {
    /// `api_url` / `SORTIE_GITHUB_API_URL`: `https://api.github.com` or `https://HOST/api/v3`.
    pub api_url: Option<String>,
    /// `app_id` / `SORTIE_GITHUB_APP_ID`.
    pub app_id: Option<String>,
    /// `private_key` / `SORTIE_GITHUB_PRIVATE_KEY` (PEM text), or read from `private_key_file` /
    /// `SORTIE_GITHUB_PRIVATE_KEY_FILE`.
    pub private_key: Option<Secret>,
    /// `token` / `SORTIE_GITHUB_TOKEN`: a personal access token when there is no App.
    pub token: Option<Secret>,
    /// `runner_scope`: `repo` (default) or `org`.
    pub scope: ScopeRule,
    /// `web_url`: where git clones from (default `https://github.com`, or the API host).
    pub web_url: Option<String>,
    /// `[[github.extra_apps]]`: more GitHub Apps installed on the same organisations, whose
    /// budgets the calls are spread over (the first App, `app_id`, stays the webhook's).
    pub extra_apps: Vec<GithubExtraApp>,
    /// `max_concurrent_calls`: calls to GitHub in flight at once (default 8; GitHub's secondary
    /// limits forbid many concurrent requests).
    pub max_concurrent_calls: Option<usize>,
}

/// One `[[github.extra_apps]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubExtraApp {
    /// `app_id`.
    pub app_id: String,
    /// `private_key` (PEM text) or read from `private_key_file`.
    pub private_key: Secret,
}

impl GithubApi {
    /// True when sortie can call GitHub's API.
    pub fn is_configured(&self) -> bool {
        (self.app_id.is_some() && self.private_key.is_some()) || self.token.is_some()
    }
}

/// `[gitea]` API settings (Gitea or Forgejo).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiteaApi {
    /// `url` / `SORTIE_GITEA_URL`: the instance's base URL.
    pub url: Option<String>,
    /// `token` / `SORTIE_GITEA_TOKEN`.
    pub token: Option<Secret>,
    /// `kind` / `SORTIE_GITEA_KIND`: `gitea` (default) or `forgejo`.
    pub flavor: Flavor,
    /// `mode` / `SORTIE_GITEA_MODE`: `workflow_job` (default; Gitea 1.24+) or `push`.
    pub mode: ForgeMode,
    /// `runner_scope`: `repo` (default), `org` or `instance`.
    pub scope: ScopeRule,
}

impl Default for GiteaApi {
    fn default() -> Self {
        GiteaApi {
            url: None,
            token: None,
            flavor: Flavor::Gitea,
            mode: ForgeMode::WorkflowJob,
            scope: ScopeRule::Repo,
        }
    }
}

impl GiteaApi {
    /// True when sortie can call the instance's API.
    pub fn is_configured(&self) -> bool {
        self.url.is_some() && self.token.is_some()
    }
}

/// `[local]`: the local provider (processes on this host).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSettings {
    /// `command`: the runner command; default `[<this sortie binary>, "agent", "--no-poweroff",
    /// "--url", "{url}"]` (`sortie serve`'s `default_local_command`; the agent also gets
    /// `SORTIE_URL` and `SORTIE_BOOTSTRAP_TOKEN`).
    pub command: Option<Vec<String>>,
    /// `max_concurrent`: most runner processes at once (default 4).
    pub max_concurrent: usize,
    /// `time_limit_secs`: wall-clock limit per runner (default 3600).
    pub time_limit: Duration,
    /// `work_root`: parent of the per-job work directories (default `sortie-work` in the system
    /// temp dir).
    pub work_root: Option<PathBuf>,
    /// `log_dir`: where runner logs are kept (default `./sortie-logs`).
    pub log_dir: Option<PathBuf>,
    /// `env`: extra environment for every runner.
    pub env: BTreeMap<String, String>,
}

impl Default for LocalSettings {
    fn default() -> Self {
        LocalSettings {
            command: None,
            max_concurrent: 4,
            time_limit: Duration::from_secs(3600),
            work_root: None,
            log_dir: None,
            env: BTreeMap::new(),
        }
    }
}

/// `[ec2]`: the EC2 provider.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ec2Settings {
    /// `region` / `SORTIE_EC2_REGION` (default: the AWS SDK's region chain).
    pub region: Option<String>,
    /// `endpoint_url` (tests and local clouds; default AWS).
    pub endpoint_url: Option<String>,
    /// `ami_amd64` / `SORTIE_EC2_AMI`.
    pub ami_amd64: Option<String>,
    /// `ami_arm64`.
    pub ami_arm64: Option<String>,
    /// `subnets` / `SORTIE_EC2_SUBNETS` (comma-separated): subnet ids, each `subnet-…` or
    /// `subnet-…@us-east-1a` to name its zone.
    pub subnets: Vec<String>,
    /// `security_group_ids` / `SORTIE_EC2_SECURITY_GROUPS` (comma-separated).
    pub security_group_ids: Vec<String>,
    /// `instance_profile` / `SORTIE_EC2_INSTANCE_PROFILE`.
    pub instance_profile: Option<String>,
    /// `on_demand_fallback` (default true).
    pub on_demand_fallback: bool,
}

/// Everything this module adds to [`super::Settings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connections {
    /// `public_url` / `SORTIE_PUBLIC_URL`: the URL machines reach sortie at (default
    /// `http://<listen>`).
    pub public_url: Option<String>,
    /// `owner` / `SORTIE_OWNER`: the `sortie:owner` tag value, one per deployment (default
    /// `sortie`). Sweeps only touch machines with their own owner tag.
    pub owner: String,
    /// GitHub API.
    pub github: GithubApi,
    /// Gitea/Forgejo API.
    pub gitea: GiteaApi,
    /// `[dispatch]`.
    pub limits: Limits,
    /// `[local]`.
    pub local: LocalSettings,
    /// `[ec2]`.
    pub ec2: Ec2Settings,
}

impl Default for Connections {
    fn default() -> Self {
        Connections {
            public_url: None,
            owner: "sortie".into(),
            github: GithubApi::default(),
            gitea: GiteaApi::default(),
            limits: Limits::default(),
            local: LocalSettings::default(),
            ec2: Ec2Settings {
                on_demand_fallback: true,
                ..Ec2Settings::default()
            },
        }
    }
}

/// The file's `[github]`/`[gitea]` keys beyond `webhook_secret`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ForgeApiFile {
    pub webhook_secret: Option<String>,
    pub api_url: Option<String>,
    pub web_url: Option<String>,
    pub app_id: Option<toml::Value>,
    pub private_key: Option<String>,
    pub private_key_file: Option<PathBuf>,
    pub token: Option<String>,
    pub runner_scope: Option<String>,
    pub runner_group_id: Option<u64>,
    pub url: Option<String>,
    pub kind: Option<String>,
    pub mode: Option<String>,
    pub extra_apps: Option<Vec<ExtraAppFile>>,
    pub max_concurrent_calls: Option<usize>,
}

/// One `[[github.extra_apps]]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExtraAppFile {
    pub app_id: Option<toml::Value>,
    pub private_key: Option<String>,
    pub private_key_file: Option<PathBuf>,
}

/// `[dispatch]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DispatchFile {
    concurrency: Option<usize>,
    max_per_repo: Option<u32>,
    max_per_provider: Option<BTreeMap<String, u32>>,
    claim_ttl_secs: Option<u64>,
    launch_call_timeout_secs: Option<u64>,
    max_attempts: Option<u32>,
    launching_timeout_secs: Option<u64>,
    running_timeout_secs: Option<u64>,
    idle_runner_timeout_secs: Option<u64>,
    heartbeat_interval_secs: Option<u64>,
    max_runtime_secs: Option<u64>,
    sweep_interval_secs: Option<u64>,
    reconcile_interval_secs: Option<u64>,
    poll_ms: Option<u64>,
}

/// `[deadlines.<provider>]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct DeadlinesFile {
    boot_secs: Option<u64>,
    register_secs: Option<u64>,
    job_start_secs: Option<u64>,
}

/// `[local]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LocalFile {
    command: Option<Vec<String>>,
    max_concurrent: Option<usize>,
    time_limit_secs: Option<u64>,
    work_root: Option<PathBuf>,
    log_dir: Option<PathBuf>,
    env: Option<BTreeMap<String, String>>,
}

/// `[ec2]` in the file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Ec2File {
    region: Option<String>,
    endpoint_url: Option<String>,
    ami_amd64: Option<String>,
    ami_arm64: Option<String>,
    subnets: Option<Vec<String>>,
    security_group_ids: Option<Vec<String>>,
    instance_profile: Option<String>,
    on_demand_fallback: Option<bool>,
}

/// The raw file sections this module reads.
#[derive(Debug, Default)]
pub(super) struct ConnectionFiles {
    pub public_url: Option<String>,
    pub owner: Option<String>,
    pub github: Option<ForgeApiFile>,
    pub gitea: Option<ForgeApiFile>,
    pub dispatch: Option<DispatchFile>,
    pub deadlines: Option<BTreeMap<String, DeadlinesFile>>,
    pub local: Option<LocalFile>,
    pub ec2: Option<Ec2File>,
    pub origin: Option<Origin>,
}

fn invalid(key: &'static str, origin: &Origin, message: String) -> ConfigError {
    ConfigError::Invalid {
        key,
        origin: origin.clone(),
        message,
    }
}

fn secs(v: Option<u64>, default: Duration) -> Duration {
    v.map(Duration::from_secs).unwrap_or(default)
}

fn list(text: &str) -> Vec<String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn nonempty_secret(
    key: &'static str,
    origin: &Origin,
    v: Option<String>,
) -> Result<Option<Secret>, ConfigError> {
    match v {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Err(invalid(
            key,
            origin,
            "the value is empty; set it or remove the setting".into(),
        )),
        Some(v) => Ok(Some(Secret::new(v))),
    }
}

fn check_url(
    key: &'static str,
    origin: &Origin,
    v: Option<String>,
) -> Result<Option<String>, ConfigError> {
    match v {
        None => Ok(None),
        Some(u) if u.starts_with("http://") || u.starts_with("https://") => {
            Ok(Some(u.trim_end_matches('/').to_string()))
        }
        Some(u) => Err(invalid(
            key,
            origin,
            format!("{u:?} is not an http:// or https:// URL"),
        )),
    }
}

fn scope(
    key: &'static str,
    origin: &Origin,
    text: Option<&str>,
    group: Option<u64>,
    allow_instance: bool,
) -> Result<ScopeRule, ConfigError> {
    match text.unwrap_or("repo") {
        "repo" | "repository" => Ok(ScopeRule::Repo),
        "org" | "organization" | "organisation" => Ok(ScopeRule::Org {
            runner_group_id: group,
        }),
        "instance" if allow_instance => Ok(ScopeRule::Instance),
        other => Err(invalid(
            key,
            origin,
            format!(
                "{other:?} is not a runner scope; use repo, org{}",
                if allow_instance { " or instance" } else { "" }
            ),
        )),
    }
}

/// A variable's value and its origin, when it is set.
type FromEnv = Option<(String, Origin)>;

/// `[[github.extra_apps]]`: each needs an `app_id` other than the first App's and one key, and
/// they only add to a first App (`app_id`).
fn extra_apps(
    files: Vec<ExtraAppFile>,
    first: Option<&str>,
    origin: &Origin,
) -> Result<Vec<GithubExtraApp>, ConfigError> {
    const KEY: &str = "github.extra_apps";
    if !files.is_empty() && first.is_none() {
        return Err(invalid(
            KEY,
            origin,
            "extra Apps add to a first GitHub App: set [github] app_id and private_key \
             (or private_key_file) too"
                .into(),
        ));
    }
    let mut seen: Vec<String> = first.into_iter().map(str::to_string).collect();
    let mut out = Vec::new();
    for (i, f) in files.into_iter().enumerate() {
        let n = i + 1;
        let app_id = match f.app_id {
            Some(toml::Value::String(s)) => s,
            Some(other) => other.to_string(),
            None => String::new(),
        };
        if app_id.trim().is_empty() {
            return Err(invalid(KEY, origin, format!("extra App {n} has no app_id")));
        }
        if seen.contains(&app_id) {
            return Err(invalid(
                KEY,
                origin,
                format!("App {app_id} is given twice; each App once"),
            ));
        }
        seen.push(app_id.clone());
        let private_key = match (f.private_key, f.private_key_file) {
            (Some(k), None) if !k.trim().is_empty() => Secret::new(k),
            (None, Some(path)) => {
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    invalid(
                        KEY,
                        origin,
                        format!("App {app_id}: cannot read {}: {e}", path.display()),
                    )
                })?;
                if text.trim().is_empty() {
                    return Err(invalid(
                        KEY,
                        origin,
                        format!(
                            "App {app_id}: {} is empty; it should hold the App's PEM private key",
                            path.display()
                        ),
                    ));
                }
                Secret::new(text)
            }
            _ => {
                return Err(invalid(
                    KEY,
                    origin,
                    format!("App {app_id} needs one of private_key or private_key_file"),
                ))
            }
        };
        out.push(GithubExtraApp {
            app_id,
            private_key,
        });
    }
    Ok(out)
}

/// The deadline settings of the providers sortie builds, with their variables:
/// `SORTIE_DEADLINES_<PROVIDER>_<KEY>`. Another provider's deadlines are set in the file only.
const DEADLINE_VARS: [(&str, Phase, &str, &str); 6] = [
    (
        "local",
        Phase::Boot,
        "deadlines.local.boot_secs",
        "SORTIE_DEADLINES_LOCAL_BOOT_SECS",
    ),
    (
        "local",
        Phase::Register,
        "deadlines.local.register_secs",
        "SORTIE_DEADLINES_LOCAL_REGISTER_SECS",
    ),
    (
        "local",
        Phase::JobStart,
        "deadlines.local.job_start_secs",
        "SORTIE_DEADLINES_LOCAL_JOB_START_SECS",
    ),
    (
        "ec2",
        Phase::Boot,
        "deadlines.ec2.boot_secs",
        "SORTIE_DEADLINES_EC2_BOOT_SECS",
    ),
    (
        "ec2",
        Phase::Register,
        "deadlines.ec2.register_secs",
        "SORTIE_DEADLINES_EC2_REGISTER_SECS",
    ),
    (
        "ec2",
        Phase::JobStart,
        "deadlines.ec2.job_start_secs",
        "SORTIE_DEADLINES_EC2_JOB_START_SECS",
    ),
];

/// `[deadlines.<provider>]` from the file, then the variables over it. A deadline of 0 would end
/// every machine at once and is refused.
fn deadlines(
    file: BTreeMap<String, DeadlinesFile>,
    file_origin: &Origin,
    take: &mut dyn FnMut(&'static str) -> FromEnv,
    launching_timeout: Duration,
) -> Result<BTreeMap<String, DeadlineSettings>, ConfigError> {
    let positive = |provider: &str, phase: Phase, origin: &Origin, secs: u64| {
        if secs > 0 {
            return Ok(Duration::from_secs(secs));
        }
        let key = DEADLINE_VARS
            .iter()
            .find(|(p, ph, _, _)| *p == provider && *ph == phase)
            .map_or("deadlines", |(_, _, key, _)| *key);
        let default = DeadlineSettings::default()
            .resolve(provider, launching_timeout)
            .of(phase);
        Err(invalid(
            key,
            origin,
            format!(
                "deadlines.{provider}.{} is 0, which would end every machine at once; give at \
                 least 1 second, or remove it for the default ({}s)",
                phase.key(),
                default.as_secs()
            ),
        ))
    };
    let mut out = BTreeMap::new();
    for (provider, table) in file {
        let mut settings = DeadlineSettings::default();
        for (phase, v) in [
            (Phase::Boot, table.boot_secs),
            (Phase::Register, table.register_secs),
            (Phase::JobStart, table.job_start_secs),
        ] {
            if let Some(secs) = v {
                settings.set(phase, positive(&provider, phase, file_origin, secs)?);
            }
        }
        out.insert(provider, settings);
    }
    for (provider, phase, key, var) in DEADLINE_VARS {
        if let Some((text, origin)) = take(var) {
            let secs = text.trim().parse::<u64>().map_err(|_| {
                invalid(
                    key,
                    &origin,
                    format!("{text:?} is not a whole number of seconds"),
                )
            })?;
            let d = positive(provider, phase, &origin, secs)?;
            out.entry(provider.to_string())
                .or_insert_with(DeadlineSettings::default)
                .set(phase, d);
        }
    }
    Ok(out)
}

/// The GitHub App's key: PEM text (`private_key`) or the file holding it (`private_key_file`).
/// The environment's pair (`SORTIE_GITHUB_PRIVATE_KEY`, `SORTIE_GITHUB_PRIVATE_KEY_FILE`)
/// replaces the file's pair as a whole, so either variable overrides either key in the file;
/// within one layer, giving both is ambiguous and refused.
fn private_key(
    file: (Option<String>, Option<PathBuf>),
    file_origin: &Origin,
    env_text: FromEnv,
    env_path: FromEnv,
) -> Result<Option<Secret>, ConfigError> {
    let (text, path) = match (env_text, env_path) {
        (None, None) => (
            file.0.map(|t| (t, file_origin.clone())),
            file.1.map(|p| (p, file_origin.clone())),
        ),
        (text, path) => (text, path.map(|(p, o)| (PathBuf::from(p), o))),
    };
    match (text, path) {
        (Some((_, o)), Some(_)) => Err(invalid(
            "github.private_key",
            &o,
            "both the key (private_key / SORTIE_GITHUB_PRIVATE_KEY) and a key file \
             (private_key_file / SORTIE_GITHUB_PRIVATE_KEY_FILE) are given; keep one of them"
                .into(),
        )),
        (Some((k, o)), None) => nonempty_secret("github.private_key", &o, Some(k)),
        (None, Some((path, o))) => {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                invalid(
                    "github.private_key_file",
                    &o,
                    format!("cannot read {}: {e}", path.display()),
                )
            })?;
            if text.trim().is_empty() {
                return Err(invalid(
                    "github.private_key_file",
                    &o,
                    format!(
                        "{} is empty; it should hold the App's PEM private key",
                        path.display()
                    ),
                ));
            }
            Ok(Some(Secret::new(text)))
        }
        (None, None) => Ok(None),
    }
}

impl ConnectionFiles {
    /// Merges the file sections with the environment and checks every value.
    pub(super) fn check(
        self,
        env: &dyn Fn(&str) -> Option<String>,
        sources: &mut Vec<Origin>,
    ) -> Result<Connections, ConfigError> {
        let file_origin = self.origin.clone().unwrap_or(Origin::Default);
        let mut take = |name: &'static str| -> Option<(String, Origin)> {
            env(name).map(|v| {
                sources.push(Origin::Env(name));
                (v, Origin::Env(name))
            })
        };
        let pick =
            |file: Option<String>, env: Option<(String, Origin)>| -> (Option<String>, Origin) {
                match env {
                    Some((v, o)) => (Some(v), o),
                    None => (file, file_origin.clone()),
                }
            };
        let mut out = Connections::default();

        let (v, o) = pick(self.public_url, take("SORTIE_PUBLIC_URL"));
        out.public_url = check_url("public_url", &o, v)?;
        let (v, o) = pick(self.owner, take("SORTIE_OWNER"));
        if let Some(owner) = v {
            let ok = !owner.is_empty()
                && owner.len() <= 64
                && owner
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
            if !ok {
                return Err(invalid(
                    "owner",
                    &o,
                    format!("{owner:?} is not a valid owner tag: use 1-64 letters, digits, - _ ."),
                ));
            }
            out.owner = owner;
        }

        // [github]
        let gh = self.github.unwrap_or_default();
        for (present, key) in [
            (gh.url.is_some(), "github.url (use api_url)"),
            (gh.kind.is_some(), "github.kind"),
            (gh.mode.is_some(), "github.mode"),
        ] {
            if present {
                return Err(invalid(
                    "github",
                    &file_origin,
                    format!("{key} is not a [github] setting; see docs/configuration.md"),
                ));
            }
        }
        let (v, o) = pick(gh.api_url, take("SORTIE_GITHUB_API_URL"));
        out.github.api_url = check_url("github.api_url", &o, v)?;
        out.github.web_url = check_url("github.web_url", &file_origin, gh.web_url)?;
        let app_id = gh.app_id.map(|v| match v {
            toml::Value::String(s) => s,
            other => other.to_string(),
        });
        let (v, app_id_origin) = pick(app_id, take("SORTIE_GITHUB_APP_ID"));
        out.github.app_id = v.filter(|s| !s.trim().is_empty());
        let env_text = take("SORTIE_GITHUB_PRIVATE_KEY");
        let env_path = take("SORTIE_GITHUB_PRIVATE_KEY_FILE");
        out.github.private_key = private_key(
            (gh.private_key, gh.private_key_file),
            &file_origin,
            env_text,
            env_path,
        )?;
        let (v, o) = pick(gh.token, take("SORTIE_GITHUB_TOKEN"));
        out.github.token = nonempty_secret("github.token", &o, v)?;
        if out.github.app_id.is_some() != out.github.private_key.is_some() {
            return Err(invalid(
                "github.app_id",
                &app_id_origin,
                "a GitHub App needs both app_id and private_key (or private_key_file)".into(),
            ));
        }
        out.github.scope = scope(
            "github.runner_scope",
            &file_origin,
            gh.runner_scope.as_deref(),
            gh.runner_group_id,
            false,
        )?;
        out.github.extra_apps = extra_apps(
            gh.extra_apps.unwrap_or_default(),
            out.github.app_id.as_deref(),
            &file_origin,
        )?;
        out.github.max_concurrent_calls = gh.max_concurrent_calls.map(|n| n.max(1));

        // [gitea]
        let gt = self.gitea.unwrap_or_default();
        for (present, key) in [
            (gt.app_id.is_some(), "gitea.app_id"),
            (
                gt.private_key.is_some() || gt.private_key_file.is_some(),
                "gitea.private_key",
            ),
            (gt.api_url.is_some(), "gitea.api_url (use url)"),
            (gt.web_url.is_some(), "gitea.web_url (use url)"),
            (gt.runner_group_id.is_some(), "gitea.runner_group_id"),
            (gt.extra_apps.is_some(), "gitea.extra_apps"),
            (
                gt.max_concurrent_calls.is_some(),
                "gitea.max_concurrent_calls",
            ),
        ] {
            if present {
                return Err(invalid(
                    "gitea",
                    &file_origin,
                    format!("{key} is not a [gitea] setting; see docs/configuration.md"),
                ));
            }
        }
        let (v, o) = pick(gt.url, take("SORTIE_GITEA_URL"));
        out.gitea.url = check_url("gitea.url", &o, v)?;
        let (v, o) = pick(gt.token, take("SORTIE_GITEA_TOKEN"));
        out.gitea.token = nonempty_secret("gitea.token", &o, v)?;
        let (v, o) = pick(gt.kind, take("SORTIE_GITEA_KIND"));
        out.gitea.flavor = match v.as_deref().unwrap_or("gitea") {
            "gitea" => Flavor::Gitea,
            "forgejo" => Flavor::Forgejo,
            other => {
                return Err(invalid(
                    "gitea.kind",
                    &o,
                    format!("{other:?} is not gitea or forgejo"),
                ))
            }
        };
        let (v, o) = pick(gt.mode, take("SORTIE_GITEA_MODE"));
        out.gitea.mode = match v.as_deref().unwrap_or("workflow_job") {
            "workflow_job" => ForgeMode::WorkflowJob,
            "push" => ForgeMode::Push,
            other => {
                return Err(invalid(
                    "gitea.mode",
                    &o,
                    format!(
                        "{other:?} is not a mode; use workflow_job (Gitea 1.24+ sends workflow_job \
                         webhooks) or push (older servers: sortie evaluates the workflows)"
                    ),
                ))
            }
        };
        out.gitea.scope = scope(
            "gitea.runner_scope",
            &file_origin,
            gt.runner_scope.as_deref(),
            None,
            true,
        )?;

        // [dispatch]
        let d = self.dispatch.unwrap_or_default();
        let def = Limits::default();
        out.limits = Limits {
            concurrency: d.concurrency.unwrap_or(def.concurrency).max(1),
            max_per_repo: d.max_per_repo.unwrap_or(def.max_per_repo),
            max_per_provider: d.max_per_provider.unwrap_or_default(),
            dispatch_poll: d
                .poll_ms
                .map(Duration::from_millis)
                .unwrap_or(def.dispatch_poll),
            claim_ttl: secs(d.claim_ttl_secs, def.claim_ttl),
            launch_call_timeout: secs(d.launch_call_timeout_secs, def.launch_call_timeout),
            max_attempts: d.max_attempts.unwrap_or(def.max_attempts).max(1),
            launching_timeout: secs(d.launching_timeout_secs, def.launching_timeout),
            deadlines: BTreeMap::new(),
            running_timeout: secs(d.running_timeout_secs, def.running_timeout),
            idle_runner_timeout: secs(d.idle_runner_timeout_secs, def.idle_runner_timeout),
            heartbeat_interval: secs(d.heartbeat_interval_secs, def.heartbeat_interval),
            max_runtime: secs(d.max_runtime_secs, def.max_runtime),
            sweep_interval: secs(d.sweep_interval_secs, def.sweep_interval),
            reconcile_interval: secs(d.reconcile_interval_secs, def.reconcile_interval),
        };
        if out.limits.claim_ttl.is_zero()
            || out.limits.sweep_interval.is_zero()
            || out.limits.reconcile_interval.is_zero()
        {
            return Err(invalid(
                "dispatch",
                &file_origin,
                "claim_ttl_secs, sweep_interval_secs and reconcile_interval_secs must be positive"
                    .into(),
            ));
        }
        out.limits.deadlines = deadlines(
            self.deadlines.unwrap_or_default(),
            &file_origin,
            &mut take,
            out.limits.launching_timeout,
        )?;

        // [local]
        let l = self.local.unwrap_or_default();
        let ldef = LocalSettings::default();
        if l.command.as_ref().is_some_and(|c| c.is_empty()) {
            return Err(invalid(
                "local.command",
                &file_origin,
                "the command is empty; remove it to run `sortie agent`, or name the runner program"
                    .into(),
            ));
        }
        out.local = LocalSettings {
            command: l.command,
            max_concurrent: l.max_concurrent.unwrap_or(ldef.max_concurrent).max(1),
            time_limit: secs(l.time_limit_secs, ldef.time_limit),
            work_root: l.work_root,
            log_dir: l.log_dir,
            env: l.env.unwrap_or_default(),
        };

        // [ec2]
        let e = self.ec2.unwrap_or_default();
        let (v, _) = pick(e.region, take("SORTIE_EC2_REGION"));
        out.ec2.region = v;
        out.ec2.endpoint_url = check_url("ec2.endpoint_url", &file_origin, e.endpoint_url)?;
        let (v, _) = pick(e.ami_amd64, take("SORTIE_EC2_AMI"));
        out.ec2.ami_amd64 = v;
        out.ec2.ami_arm64 = e.ami_arm64;
        out.ec2.subnets = match take("SORTIE_EC2_SUBNETS") {
            Some((v, _)) => list(&v),
            None => e.subnets.unwrap_or_default(),
        };
        out.ec2.security_group_ids = match take("SORTIE_EC2_SECURITY_GROUPS") {
            Some((v, _)) => list(&v),
            None => e.security_group_ids.unwrap_or_default(),
        };
        let (v, _) = pick(e.instance_profile, take("SORTIE_EC2_INSTANCE_PROFILE"));
        out.ec2.instance_profile = v;
        out.ec2.on_demand_fallback = e.on_demand_fallback.unwrap_or(true);
        Ok(out)
    }
}

#[cfg(test)]
#[path = "connections_tests.rs"]
mod tests;
