//! `sortie config check`: print the effective configuration with secrets redacted, then what
//! sortie will connect to (forges, providers, dispatch limits, public URL) and the GitHub API
//! budget left per credential, or say what is wrong with it (exit code 2). An unreachable forge
//! never fails the check: the budget line says why it could not tell.

use crate::serve_cmd::load_settings;
use anyhow::Result;
use clap::{Args, Subcommand};
use sortie_forge::budget::describe;
use sortie_forge::clock::SystemClock;
use sortie_forge::github::GithubForge;
use sortie_forge::Forge;
use sortie_server::config::{Ec2Settings, GiteaApi, GithubApi, LocalSettings};
use sortie_server::fleet::{ForgeMode, Limits, ScopeRule};
use sortie_server::{Overrides, Settings};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Arguments of `sortie config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check the configuration (file → SORTIE_* environment) and print the effective settings,
    /// secrets redacted, then the forges, providers and dispatch limits sortie will use.
    Check {
        /// Configuration file (TOML).
        #[arg(long, env = "SORTIE_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
        /// Do not call the forges (skips the API budget lines).
        #[arg(long)]
        offline: bool,
    },
}

/// How long `config check` waits for GitHub's budget answer before saying it could not tell.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `sortie config …`.
pub fn run(args: &ConfigArgs) -> Result<()> {
    match &args.command {
        ConfigCommand::Check { config, offline } => {
            let settings = load_settings(config.as_deref(), &Overrides::default())?;
            print!("{}", settings.to_redacted_toml());
            print!("{}", connections_report(&settings));
            if !offline {
                for line in github_budget_lines(&settings.connections.github) {
                    println!("# {line}");
                }
            }
            Ok(())
        }
    }
}

/// The connections in words, as `#` comment lines so the whole output still reads back as a
/// configuration file. A token or key is only ever "set" or "not set".
fn connections_report(settings: &Settings) -> String {
    let c = &settings.connections;
    let mut lines = vec![
        "connections (tokens and keys are shown only as set / not set)".to_string(),
        match &c.public_url {
            Some(url) => format!("public_url: {url}"),
            None => format!(
                "public_url: not set; machines are told http://{} (set public_url or \
                 SORTIE_PUBLIC_URL to an address they can reach)",
                settings.listen
            ),
        },
        format!(
            "owner: {} (the sortie:owner tag on this deployment's machines)",
            c.owner
        ),
    ];
    lines.extend(github_lines(&c.github));
    lines.extend(gitea_lines(&c.gitea));
    lines.extend(local_lines(&c.local));
    lines.extend(ec2_lines(&c.ec2));
    lines.extend(dispatch_lines(&c.limits));
    // `fleet::build` always builds `local`, and `ec2` when it has an AMI.
    let mut configured = vec!["local"];
    if c.ec2.ami_amd64.is_some() {
        configured.push("ec2");
    }
    lines.extend(deadline_lines(&c.limits, &configured));
    let default = settings.routing.default_provider.as_str();
    if !configured.contains(&default) {
        lines.push(format!(
            "warning: the default provider {default:?} is not configured on this server, so jobs \
             routed to it wait (configured: {})",
            configured.join(", ")
        ));
    }
    let mut out = String::from("\n");
    for line in lines {
        out.push_str(&format!("# {line}\n"));
    }
    out
}

fn set(present: bool) -> &'static str {
    if present {
        "set"
    } else {
        "not set"
    }
}

fn scope(rule: &ScopeRule) -> String {
    match rule {
        ScopeRule::Repo => "repo".into(),
        ScopeRule::Org {
            runner_group_id: None,
        } => "org".into(),
        ScopeRule::Org {
            runner_group_id: Some(id),
        } => format!("org (runner group {id})"),
        ScopeRule::Instance => "instance".into(),
    }
}

fn github_lines(gh: &GithubApi) -> Vec<String> {
    // The same choice as `fleet::build`: the App when both its halves are set, else the token.
    let auth = match (&gh.app_id, &gh.private_key, &gh.token) {
        (Some(id), Some(_), token) => format!(
            "GitHub App {id} (private key set{})",
            if token.is_some() {
                "; a token is set too and not used"
            } else {
                ""
            }
        ),
        (_, _, Some(_)) => "personal access token (set)".into(),
        _ => {
            return vec![
                "forge github: not configured (set [github] app_id and private_key, or token)"
                    .into(),
            ]
        }
    };
    let mut detail = format!(
        "  api {}",
        gh.api_url
            .as_deref()
            .unwrap_or("https://api.github.com (default)")
    );
    if let Some(web) = &gh.web_url {
        detail.push_str(&format!(", web {web}"));
    }
    detail.push_str(&format!(", runner scope {}", scope(&gh.scope)));
    let calls = match gh.max_concurrent_calls {
        Some(n) => n.to_string(),
        None => format!("{} (default)", sortie_forge::budget::DEFAULT_MAX_IN_FLIGHT),
    };
    let extra = if gh.extra_apps.is_empty() {
        "none".to_string()
    } else {
        let ids: Vec<&str> = gh.extra_apps.iter().map(|a| a.app_id.as_str()).collect();
        format!("{} (private keys set)", ids.join(", "))
    };
    vec![
        format!("forge github: {auth}"),
        detail,
        format!("  API calls in flight at most {calls}, extra Apps {extra}"),
    ]
}

/// `github budget: installation 42 (acme): core: 4,990/5,000 left, resets at 12:34:56Z` per
/// credential, from GitHub's free `GET /rate_limit`; or one line saying why it could not tell.
fn github_budget_lines(gh: &GithubApi) -> Vec<String> {
    let Some(mut cfg) = sortie_server::fleet::github_config(gh) else {
        return Vec::new();
    };
    // Short: one retry, no rate-limit wait sat out.
    cfg.retry.max_attempts = 2;
    cfg.retry.max_wait = Duration::from_secs(1);
    let probe = async {
        let forge = GithubForge::new(cfg, Arc::new(SystemClock))?;
        forge.probe_budget().await
    };
    let answer = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
        .and_then(|rt| {
            rt.block_on(async { tokio::time::timeout(PROBE_TIMEOUT, probe).await })
                .map_err(|_| format!("no answer within {}s", PROBE_TIMEOUT.as_secs()))
        });
    match answer {
        Ok(Ok(budgets)) if budgets.is_empty() => {
            vec!["github budget: GitHub answered with no credential to report".into()]
        }
        Ok(Ok(budgets)) => budgets
            .iter()
            .map(|b| format!("github budget: {}: {}", b.scope, describe(b)))
            .collect(),
        Ok(Err(e)) => vec![format!("github budget: could not tell ({e})")],
        Err(why) => vec![format!("github budget: could not tell ({why})")],
    }
}

fn gitea_lines(gt: &GiteaApi) -> Vec<String> {
    let Some(url) = &gt.url else {
        return vec![format!(
            "forge gitea: not configured (url not set, token {}; set [gitea] url and token)",
            set(gt.token.is_some())
        )];
    };
    let mode = match gt.mode {
        ForgeMode::WorkflowJob => "workflow_job",
        ForgeMode::Push => "push",
    };
    let mut first = format!("forge gitea: {url}, token {}", set(gt.token.is_some()));
    if !gt.is_configured() {
        first.push_str(" — not configured without a token");
    }
    vec![
        first,
        format!(
            "  kind {}, mode {mode}, runner scope {}",
            gt.flavor,
            scope(&gt.scope)
        ),
    ]
}

fn local_lines(l: &LocalSettings) -> Vec<String> {
    let command = match &l.command {
        Some(argv) => argv.join(" "),
        None => "sortie agent (default)".into(),
    };
    // Only the names: an extra variable may well hold a credential.
    let env: Vec<&str> = l.env.keys().map(String::as_str).collect();
    let path = |p: &Option<PathBuf>, default: &str| {
        p.as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| format!("{default} (default)"))
    };
    vec![
        format!(
            "provider local: command {command}, max_concurrent {}, time limit {}",
            l.max_concurrent,
            secs(l.time_limit)
        ),
        format!(
            "  work_root {}, log_dir {}, env {}",
            path(&l.work_root, "<temp dir>/sortie-work"),
            path(&l.log_dir, "sortie-logs"),
            if env.is_empty() {
                "none".into()
            } else {
                format!("{} (values not shown)", env.join(", "))
            }
        ),
    ]
}

fn ec2_lines(e: &Ec2Settings) -> Vec<String> {
    let Some(amd64) = &e.ami_amd64 else {
        return vec!["provider ec2: not configured (set [ec2] ami_amd64 or SORTIE_EC2_AMI)".into()];
    };
    let list = |v: &[String]| {
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let mut first = format!(
        "provider ec2: region {}",
        e.region
            .as_deref()
            .unwrap_or("from the AWS environment (default)")
    );
    if let Some(endpoint) = &e.endpoint_url {
        first.push_str(&format!(", endpoint {endpoint}"));
    }
    vec![
        first,
        format!(
            "  ami amd64 {amd64}, ami arm64 {}",
            e.ami_arm64.as_deref().unwrap_or("not set")
        ),
        format!(
            "  subnets {}, security groups {}",
            if e.subnets.is_empty() {
                // `sortie_provider::ec2::plan::subnets` refuses every launch without one.
                "none (every launch fails until one is set)".to_string()
            } else {
                list(&e.subnets)
            },
            list(&e.security_group_ids)
        ),
        format!(
            "  instance profile {}, on-demand fallback {}",
            e.instance_profile.as_deref().unwrap_or("none"),
            if e.on_demand_fallback { "on" } else { "off" }
        ),
    ]
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

fn dispatch_lines(l: &Limits) -> Vec<String> {
    let per_provider = if l.max_per_provider.is_empty() {
        "none".to_string()
    } else {
        l.max_per_provider
            .iter()
            .map(|(p, n)| format!("{p}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let per_repo = match l.max_per_repo {
        0 => "0 (no limit)".to_string(),
        n => n.to_string(),
    };
    vec![
        format!(
            "dispatch: concurrency {}, max_per_repo {per_repo}, max_per_provider {per_provider}, \
             max_attempts {}",
            l.concurrency, l.max_attempts
        ),
        format!(
            "  claim_ttl {}, launching_timeout {}, running_timeout {}, idle_runner_timeout {}",
            secs(l.claim_ttl),
            secs(l.launching_timeout),
            secs(l.running_timeout),
            secs(l.idle_runner_timeout)
        ),
        format!(
            "  heartbeat_interval {}, max_runtime {}, sweep_interval {}, poll {}ms",
            secs(l.heartbeat_interval),
            secs(l.max_runtime),
            secs(l.sweep_interval),
            l.dispatch_poll.as_millis()
        ),
    ]
}

/// The phase deadlines of each configured provider, and of any other `[deadlines.<provider>]`.
fn deadline_lines(l: &Limits, configured: &[&str]) -> Vec<String> {
    let mut providers: Vec<&str> = configured.to_vec();
    providers.extend(
        l.deadlines
            .keys()
            .map(String::as_str)
            .filter(|p| !configured.contains(p)),
    );
    let mut lines = vec![format!(
        "deadlines (each from the phase before; launching_timeout {} bounds launch to job \
         started):",
        secs(l.launching_timeout)
    )];
    for p in providers {
        let d = l.deadlines_for(p);
        lines.push(format!(
            "  {p}: boot {}, register {}, job_start {}",
            secs(d.boot),
            secs(d.register),
            secs(d.job_start)
        ));
    }
    lines
}
