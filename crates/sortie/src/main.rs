//! `sortie`: one fresh, short-lived machine per CI job. The one binary; each subcommand lives in
//! its own module and keeps I/O at this edge so the decisions stay in `sortie-core`.

mod plan_cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// One fresh, short-lived machine per CI job, for GitHub Actions and Gitea/Forgejo Actions.
#[derive(Debug, Parser)]
#[command(name = "sortie", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Explain offline which workflows an event triggers, their jobs, specs and routes.
    Plan(plan_cmd::PlanArgs),
}

/// An error whose message is for the operator; exit code 2 means "unusable input".
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Plan(args) => plan_cmd::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            if err.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
