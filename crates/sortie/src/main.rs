//! `sortie`: one fresh, short-lived machine per CI job. The one binary; each subcommand lives in
//! its own module and keeps I/O at this edge so the decisions stay in `sortie-core`.

mod agent;
mod bench_cmd;
mod bench_dispatch;
mod bench_reconcile;
mod config_cmd;
mod demo_cmd;
mod jobs_cmd;
mod lambda_cmd;
mod migrate_cmd;
mod plan_cmd;
mod serve_cmd;

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
    /// Serve the webhook routes (and health) until SIGTERM or ctrl-c.
    Serve(serve_cmd::ServeArgs),
    /// Configuration: `sortie config check` prints the effective settings, secrets redacted.
    Config(config_cmd::ConfigArgs),
    /// Bring the database up to this build's schema.
    Migrate(migrate_cmd::MigrateArgs),
    /// Benchmarks that print figures: `sortie bench ingest`, `sortie bench dispatch`.
    Bench(bench_cmd::BenchArgs),
    /// On a runner machine: exchange the bootstrap token, run the forge's runner for one job,
    /// report, power off.
    Agent(agent::AgentArgs),
    /// Self-contained showcase: a fake GitHub, sortie on SQLite and the local provider, one job
    /// from queued to completed with its machine gone.
    Demo(demo_cmd::DemoArgs),
    /// Jobs on a running server, with the reason for each one's state; `sortie jobs show ID`.
    Jobs(jobs_cmd::JobsArgs),
    /// Machines on a running server.
    Instances(jobs_cmd::InstancesArgs),
    /// AWS Lambda handler: API Gateway/function URL webhooks, the scheduled clean-up, EC2
    /// events. Also runs when Lambda starts the binary with no arguments.
    Lambda(lambda_cmd::LambdaArgs),
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
    // Lambda starts `bootstrap` with no arguments and AWS_LAMBDA_RUNTIME_API set.
    let cli = lambda_cmd::auto_detected().map_or_else(Cli::parse, |args| Cli {
        command: Command::Lambda(args),
    });
    let result = match cli.command {
        Command::Plan(args) => plan_cmd::run(&args),
        Command::Serve(args) => serve_cmd::run(&args),
        Command::Config(args) => config_cmd::run(&args),
        Command::Migrate(args) => migrate_cmd::run(&args),
        Command::Bench(args) => bench_cmd::run(&args),
        Command::Agent(args) => agent::run(&args),
        Command::Demo(args) => demo_cmd::run(&args),
        Command::Jobs(args) => jobs_cmd::run_jobs(&args),
        Command::Instances(args) => jobs_cmd::run_instances(&args),
        Command::Lambda(args) => lambda_cmd::run(&args),
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
