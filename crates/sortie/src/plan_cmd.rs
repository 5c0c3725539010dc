//! `sortie plan`: read the event and workflow files, ask `sortie-core` for the plan, print it.

use crate::UsageError;
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use sortie_core::catalog::Catalog;
use sortie_core::event::Event;
use sortie_core::forge::{select_workflow_files, Flavor};
use sortie_core::labels::RoutingConfig;
use sortie_core::plan::{plan, PlanRequest};
use std::path::{Path, PathBuf};

/// Arguments of `sortie plan`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["repo", "workflows"])))]
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
    /// A changed file (repeatable); replaces the files listed in the payload's commits.
    #[arg(long = "changed-file", value_name = "PATH")]
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
    let files = match (&args.repo, &args.workflows) {
        (Some(repo), _) => repo_workflows(args.forge, repo)?,
        (None, Some(dir)) => folder_workflows(dir)?,
        (None, None) => return Err(UsageError("give --repo DIR or --workflows DIR".into()).into()),
    };
    let routing = load_routing(args.config.as_deref())?;
    let catalog = Catalog::builtin();
    let changed = (!args.changed_files.is_empty()).then_some(args.changed_files.as_slice());
    let request = PlanRequest {
        flavor: args.forge,
        event: &event,
        files: &files,
        changed_files: changed,
        routing: &routing,
        catalog: &catalog,
    };
    let result = plan(&request);
    match args.format {
        Format::Json => println!(
            "{}",
            serde_json::to_string(&result).context("serialising the plan")?
        ),
        Format::Table => print!("{}", result.to_table()),
    }
    Ok(())
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
