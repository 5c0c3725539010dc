//! `sortie plan`: read the event and workflow files, ask `sortie-core` for the plan, print it.
//! With `--from-forge URL` the workflow files (and, when the payload's list is capped, the changed
//! files) come from the forge's API, exactly as push mode fetches them
//! ([`sortie_forge::push::plan_push`]).

use crate::UsageError;
use anyhow::{anyhow, Context, Result};
use clap::{Args, ValueEnum};
use sortie_core::catalog::Catalog;
use sortie_core::event::{Event, EventKind};
use sortie_core::forge::{select_workflow_files, Flavor};
use sortie_core::labels::RoutingConfig;
use sortie_core::plan::{plan, Plan, PlanRequest};
use sortie_forge::clock::SystemClock;
use sortie_forge::gitea::{GiteaConfig, GiteaForge};
use sortie_forge::github::{GithubAuth, GithubConfig, GithubForge};
use sortie_forge::{Forge, ForgeError, Secret};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Arguments of `sortie plan`.
#[derive(Debug, Args)]
#[command(group(
    clap::ArgGroup::new("source")
        .required(true)
        .args(["repo", "workflows", "from_forge"])
))]
pub struct PlanArgs {
    /// Whose semantics to mirror: github, gitea or forgejo.
    #[arg(long, value_parser = parse_flavor)]
    forge: Flavor,
    /// The webhook event name (X-GitHub-Event / X-Gitea-Event), e.g. push or pull_request.
    #[arg(long)]
    event: String,
    /// The webhook payload (JSON file).
    #[arg(long)]
    payload: PathBuf,
    /// A repository checkout: its forge workflow folders are read (.github/workflows; Gitea:
    /// .gitea/workflows, else .github/workflows; Forgejo: .forgejo/workflows, else .github/workflows).
    #[arg(long)]
    repo: Option<PathBuf>,
    /// A folder whose every *.yml / *.yaml file (recursively) is a workflow.
    #[arg(long)]
    workflows: Option<PathBuf>,
    /// Read the workflow files at the pushed commit through this forge's API (push events only).
    /// Gitea/Forgejo: the instance's base URL (`https://git.example.com`); GitHub: the API URL
    /// (`https://api.github.com`, Enterprise Server `https://HOST/api/v3`).
    #[arg(long = "from-forge", value_name = "URL")]
    from_forge: Option<String>,
    /// API token for --from-forge (Gitea/Forgejo: read:repository; GitHub: contents read).
    /// Never printed.
    #[arg(
        long = "forge-token",
        env = "SORTIE_FORGE_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN",
        value_parser = parse_secret
    )]
    forge_token: Option<Secret>,
    /// A changed file (repeatable); replaces the files listed in the payload's commits. Not with
    /// --from-forge, which takes them from the payload or the compare API as push mode does.
    #[arg(
        long = "changed-file",
        value_name = "PATH",
        conflicts_with = "from_forge"
    )]
    changed_files: Vec<String>,
    /// Configuration file (TOML); its [routing] table maps labels.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Json)]
    format: Format,
}

/// Output format of `sortie plan`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Exactly one JSON object.
    Json,
    /// Aligned text for people.
    Table,
}

fn parse_flavor(s: &str) -> Result<Flavor, String> {
    s.parse()
        .map_err(|e: sortie_core::forge::UnknownFlavor| e.to_string())
}

fn parse_secret(s: &str) -> Result<Secret, String> {
    Ok(Secret::new(s))
}

/// Runs `sortie plan`.
pub fn run(args: &PlanArgs) -> Result<()> {
    let payload = std::fs::read(&args.payload).map_err(|e| {
        UsageError(format!(
            "cannot read the payload {}: {e}",
            args.payload.display()
        ))
    })?;
    let event = Event::parse(args.forge, &args.event, &payload)
        .map_err(|e| UsageError(format!("{e} (file {})", args.payload.display())))?;
    let routing = load_routing(args.config.as_deref())?;
    let catalog = Catalog::builtin();
    let result = match &args.from_forge {
        Some(url) => plan_from_forge(args, url, &event, &payload, &routing, &catalog)?,
        None => plan_offline(args, &event, &routing, &catalog)?,
    };
    print_plan(&result, args.format)
}

/// The offline plan: workflow files from `--repo` or `--workflows`.
fn plan_offline(
    args: &PlanArgs,
    event: &Event,
    routing: &RoutingConfig,
    catalog: &Catalog,
) -> Result<Plan> {
    let files = match (&args.repo, &args.workflows) {
        (Some(repo), _) => repo_workflows(args.forge, repo)?,
        (None, Some(dir)) => folder_workflows(dir)?,
        (None, None) => {
            return Err(
                UsageError("give --repo DIR, --workflows DIR or --from-forge URL".into()).into(),
            )
        }
    };
    let changed = (!args.changed_files.is_empty()).then_some(args.changed_files.as_slice());
    let request = PlanRequest {
        flavor: args.forge,
        event,
        files: &files,
        changed_files: changed,
        routing,
        catalog,
    };
    Ok(plan(&request))
}

/// Prints the plan: one JSON object on one line, or the table.
fn print_plan(result: &Plan, format: Format) -> Result<()> {
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(result).context("serialising the plan")?
        ),
        Format::Table => print!("{}", result.to_table()),
    }
    Ok(())
}

/// `--from-forge`: plans the push through the forge's API with
/// [`sortie_forge::push::plan_push`], on a one-thread runtime that lives only for this call.
fn plan_from_forge(
    args: &PlanArgs,
    url: &str,
    event: &Event,
    payload: &[u8],
    routing: &RoutingConfig,
    catalog: &Catalog,
) -> Result<Plan> {
    if !matches!(event.kind, EventKind::Push(_)) {
        return Err(UsageError(format!(
            "--from-forge plans push events only, not {:?}; use --repo or --workflows for other events",
            args.event
        ))
        .into());
    }
    let token = args.forge_token.clone().ok_or_else(|| {
        UsageError(format!(
            "--from-forge {url} needs an API token: set SORTIE_FORGE_TOKEN (or pass --forge-token); \
             Gitea/Forgejo: read:repository, GitHub: contents read"
        ))
    })?;
    let forge = connect(args.forge, url, token).map_err(|e| forge_failure(url, e))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime for --from-forge")?;
    let pushed = runtime
        .block_on(sortie_forge::push::plan_push(
            forge.as_ref(),
            payload,
            routing,
            catalog,
        ))
        .map_err(|e| forge_failure(url, e))?;
    Ok(pushed.plan)
}

/// The forge client for `flavor` at `url`, authenticated with `token`.
fn connect(flavor: Flavor, url: &str, token: Secret) -> Result<Box<dyn Forge>, ForgeError> {
    let clock = Arc::new(SystemClock);
    Ok(match flavor {
        Flavor::Github => {
            let config = GithubConfig {
                api_url: url.trim_end_matches('/').to_string(),
                ..GithubConfig::new(GithubAuth::Token(token))
            };
            Box::new(GithubForge::new(config, clock)?)
        }
        Flavor::Gitea | Flavor::Forgejo => Box::new(GiteaForge::new(
            GiteaConfig::new(url, token, flavor),
            clock,
        )?),
    })
}

/// A forge failure in the operator's words. The payload, the URL or the repository name being
/// unusable is input (exit 2); the forge refusing or being unreachable exits 1 and says which URL
/// and what to check. The token never appears: [`ForgeError`] messages do not carry it.
fn forge_failure(url: &str, err: ForgeError) -> anyhow::Error {
    let hint = match &err {
        ForgeError::Event(_) => return UsageError(err.to_string()).into(),
        ForgeError::Config { .. } => {
            return UsageError(format!("--from-forge {url}: {err}")).into();
        }
        ForgeError::Unauthorized { .. } => {
            "check that SORTIE_FORGE_TOKEN / --forge-token holds a valid, unexpired token for this forge"
        }
        ForgeError::Forbidden { .. } | ForgeError::NotFound { .. } => {
            "check that the payload's repository lives on this forge and the token can read it"
        }
        ForgeError::Unreachable { .. } | ForgeError::BadResponse { .. } => {
            "check the URL (Gitea/Forgejo: the instance's base URL; GitHub: its API URL) and the network"
        }
        ForgeError::RateLimited { .. } => "try again after the time above",
        ForgeError::Api { status, .. } if *status >= 500 => "the forge is failing; try again later",
        _ => "the forge's answer above says what it refused",
    };
    anyhow!("planning the push through the forge at {url} failed: {err}\n{hint}")
}

/// Reads the workflow folders of a repository checkout, as the forge would.
fn repo_workflows(flavor: Flavor, repo: &Path) -> Result<Vec<(String, String)>> {
    if !repo.is_dir() {
        return Err(UsageError(format!("--repo {} is not a directory", repo.display())).into());
    }
    let mut all = Vec::new();
    for dir in flavor.workflow_dirs() {
        let root = repo.join(dir);
        if root.is_dir() {
            walk(&root, &mut all)?;
        }
    }
    let rel: Vec<String> = all.iter().filter_map(|p| relative(repo, p)).collect();
    select_workflow_files(flavor, &rel)
        .into_iter()
        .map(|p| read_text(&repo.join(&p)).map(|t| (p, t)))
        .collect()
}

/// Reads every `*.yml` / `*.yaml` under `dir`; paths in the plan are relative to `dir`.
fn folder_workflows(dir: &Path) -> Result<Vec<(String, String)>> {
    if !dir.is_dir() {
        return Err(UsageError(format!("--workflows {} is not a directory", dir.display())).into());
    }
    let mut all = Vec::new();
    walk(dir, &mut all)?;
    let mut rel: Vec<String> = all
        .iter()
        .filter_map(|p| relative(dir, p))
        .filter(|p| p.ends_with(".yml") || p.ends_with(".yaml"))
        .collect();
    rel.sort();
    rel.into_iter()
        .map(|p| read_text(&dir.join(&p)).map(|t| (p, t)))
        .collect()
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| UsageError(format!("cannot list {}: {e}", dir.display())))?;
    for entry in entries {
        let path = entry
            .with_context(|| format!("listing {}", dir.display()))?
            .path();
        if path.is_dir() {
            walk(&path, out)?;
        } else {
            out.push(path);
        }
    }
    Ok(())
}

fn relative(base: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(base).ok()?;
    Some(
        rel.components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/"),
    )
}

fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read {}: {e}", path.display())).into())
}

/// The `[routing]` table of the configuration file, or the defaults (the seed's label map).
fn load_routing(path: Option<&Path>) -> Result<RoutingConfig> {
    let Some(path) = path else {
        return Ok(RoutingConfig::default());
    };
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read the config {}: {e}", path.display())))?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| {
        UsageError(format!(
            "the config {} is not valid TOML: {e}",
            path.display()
        ))
    })?;
    match table.remove("routing") {
        None => Ok(RoutingConfig::default()),
        Some(value) => value.try_into().map_err(|e| {
            UsageError(format!("[routing] in {} is invalid: {e}", path.display())).into()
        }),
    }
}
