//! `sortie jobs`, `sortie jobs show ID` and `sortie instances`: the admin API of a running
//! `sortie serve` (`/api/v1/jobs`, `/api/v1/jobs/{id}`, `/api/v1/instances`), as a table with the
//! reason for each job's state, or as the server's JSON.

mod client;
mod table;

use anyhow::{Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use client::Connection;
use serde::de::DeserializeOwned;
use serde_json::Value;
use sortie_core::job::JobState;
use sortie_server::admin_api::{InstancesPage, JobDetail, JobsPage};
use sortie_store::InstanceState;

/// Arguments of `sortie jobs`.
#[derive(Debug, Args)]
pub struct JobsArgs {
    #[command(subcommand)]
    command: Option<JobsCommand>,
    /// Only jobs in this state (queued, launching, running, completed, failed, cancelled,
    /// timed_out).
    #[arg(long, value_parser = parse_job_state)]
    state: Option<JobState>,
    /// At most this many jobs, newest first.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: u32,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table, global = true)]
    format: Format,
    #[command(flatten)]
    connection: Connection,
}

#[derive(Debug, Subcommand)]
enum JobsCommand {
    /// One job: the reason for its state, its history and its instances.
    Show {
        /// The job's id (the ID column of `sortie jobs`).
        id: u64,
    },
}

/// Arguments of `sortie instances`.
#[derive(Debug, Args)]
pub struct InstancesArgs {
    /// Only instances in this state (pending, running, stopping, stopped, terminated).
    #[arg(long, value_parser = parse_instance_state)]
    state: Option<InstanceState>,
    /// Only the instances of this job id.
    #[arg(long, value_name = "ID")]
    job: Option<u64>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    #[command(flatten)]
    connection: Connection,
}

/// Output format of `sortie jobs` and `sortie instances`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Aligned text for people; the reason is the last column.
    Table,
    /// The server's JSON answer.
    Json,
}

fn parse_job_state(s: &str) -> Result<JobState, String> {
    s.parse::<JobState>().map_err(|_| {
        let valid: Vec<&str> = JobState::ALL.iter().map(|s| s.as_str()).collect();
        format!("not a job state; use one of {}", valid.join(", "))
    })
}

fn parse_instance_state(s: &str) -> Result<InstanceState, String> {
    InstanceState::ALL
        .into_iter()
        .find(|st| st.as_str() == s)
        .ok_or_else(|| {
            let valid: Vec<&str> = InstanceState::ALL.iter().map(|s| s.as_str()).collect();
            format!("not an instance state; use one of {}", valid.join(", "))
        })
}

/// Runs `sortie jobs …`.
pub fn run_jobs(args: &JobsArgs) -> Result<()> {
    match &args.command {
        Some(JobsCommand::Show { id }) => {
            let answer = args.connection.get(&format!("/api/v1/jobs/{id}"))?;
            print(answer, args.format, |d: JobDetail| table::detail(&d))
        }
        None => {
            let mut path = format!("/api/v1/jobs?limit={}", args.limit);
            if let Some(state) = args.state {
                path.push_str(&format!("&state={state}"));
            }
            let answer = args.connection.get(&path)?;
            print(answer, args.format, |p: JobsPage| {
                if p.jobs.is_empty() {
                    "no jobs\n".to_string()
                } else {
                    table::jobs(&p.jobs)
                }
            })
        }
    }
}

/// Runs `sortie instances`.
pub fn run_instances(args: &InstancesArgs) -> Result<()> {
    let mut params = Vec::new();
    if let Some(state) = args.state {
        params.push(format!("state={}", state.as_str()));
    }
    if let Some(job) = args.job {
        params.push(format!("job={job}"));
    }
    let path = if params.is_empty() {
        "/api/v1/instances".to_string()
    } else {
        format!("/api/v1/instances?{}", params.join("&"))
    };
    let answer = args.connection.get(&path)?;
    print(answer, args.format, |p: InstancesPage| {
        if p.instances.is_empty() {
            "no instances\n".to_string()
        } else {
            table::instances(&p.instances)
        }
    })
}

/// Prints the server's JSON as is, or reads it as `T` and prints `render(T)`.
fn print<T: DeserializeOwned>(
    answer: Value,
    format: Format,
    render: impl Fn(T) -> String,
) -> Result<()> {
    match format {
        Format::Json => {
            println!("{}", serde_json::to_string_pretty(&answer)?);
        }
        Format::Table => {
            let page: T = serde_json::from_value(answer).context(
                "the server's answer has an unexpected shape: is it a different sortie version? \
                 --format json prints it as it is",
            )?;
            print!("{}", render(page));
        }
    }
    Ok(())
}
