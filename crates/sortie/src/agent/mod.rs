//! `sortie agent`: the small program the user data starts on every machine sortie launches.
//!
//! ```text
//! token (env, file, SSM) ─► POST bootstrap ─► AgentConfig ─► report booted
//!   ─► git credentials (when git is installed) ─► start the runner ─► report registered
//!   ─► supervise: job_started (from the runner's output), heartbeat every N s (stop=true on two in a row ends an idle runner),
//!      max runtime (kills it) ─► report finished ─► power off ─► exit with the runner's code
//! ```
//!
//! The wire protocol lives in [`sortie_core::agent`]. Secrets (the bootstrap token, the session
//! token, runner credentials, the git password) are never logged; the runner's own output is
//! scrubbed of them before it is echoed.

mod git;
mod orchestrator;
mod poweroff;
mod runner;
mod supervise;
mod token;

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use orchestrator::{Orchestrator, Reporter};
use runner::{RunnerOptions, RunnerProcess};
use sortie_core::agent::{AgentConfig, AgentPhase};
use std::path::PathBuf;
use std::time::Duration;
use supervise::Ending;
use tokio::time::Instant;

/// Exit code when the job ran out of time (the convention of `timeout(1)`).
const EXIT_TIMED_OUT: i32 = 124;
/// Exit code when the agent was stopped by SIGTERM or SIGINT (128 + SIGTERM, as a shell does).
const EXIT_INTERRUPTED: i32 = 143;

/// Which runner the agent starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunnerMode {
    /// The forge's real runner: actions/runner, act_runner or forgejo-runner.
    Real,
    /// A stand-in that speaks sortie-testkit's fake forge protocol (`/_fake/runner/…`); for the
    /// demo and tests.
    Fake,
}

/// Arguments of `sortie agent`.
///
/// The bootstrap token comes from the environment (`SORTIE_BOOTSTRAP_TOKEN`) or `--token-file`,
/// never from an argument: arguments are visible to every user of the machine.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The orchestrator's base URL, e.g. https://ci.example.com.
    #[arg(long, env = "SORTIE_URL", value_name = "URL")]
    pub url: String,
    /// Read the bootstrap token from this file, then delete the file. Without it the token comes
    /// from SORTIE_BOOTSTRAP_TOKEN.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Name of an SSM parameter holding the bootstrap token. Not supported by this build (it
    /// would need the AWS SDK in the agent); pass the token through the environment or a file.
    #[arg(long, env = "SORTIE_BOOTSTRAP_SSM_PARAMETER", value_name = "NAME")]
    pub ssm_parameter: Option<String>,
    /// Where the runner lives. GitHub: the actions/runner directory holding run.sh (default
    /// /opt/actions-runner). Gitea/Forgejo: the runner's working directory, where its `.runner`
    /// file is written (default /var/lib/sortie/runner).
    #[arg(long, env = "SORTIE_RUNNER_DIR", value_name = "DIR")]
    pub runner_dir: Option<PathBuf>,
    /// The act_runner or forgejo-runner program. Default: `act_runner`, then `forgejo-runner`,
    /// on PATH (forgejo-runner first for Forgejo's ephemeral runners).
    #[arg(long, env = "SORTIE_ACT_RUNNER_BIN", value_name = "PATH")]
    pub act_runner_bin: Option<PathBuf>,
    /// Power the machine off when the agent ends (the default).
    #[arg(long, overrides_with = "no_poweroff")]
    pub poweroff: bool,
    /// Do not power off when the agent ends (local provider, development).
    #[arg(long, overrides_with = "poweroff")]
    pub no_poweroff: bool,
    /// Program run (without arguments) instead of `systemctl poweroff` / `shutdown -h now`.
    #[arg(
        long,
        env = "SORTIE_AGENT_POWEROFF_COMMAND",
        value_name = "PATH",
        hide = true
    )]
    pub poweroff_command: Option<PathBuf>,
    /// Lifetime limit used when the orchestrator cannot be reached (or sends no limit), so the
    /// machine still powers off.
    #[arg(
        long,
        env = "SORTIE_AGENT_MAX_LIFETIME_SECS",
        default_value_t = 6 * 3600,
        value_name = "SECS"
    )]
    pub max_lifetime_secs: u64,
    /// `real` starts the forge's runner; `fake` speaks the fake forge's runner protocol.
    #[arg(long, env = "SORTIE_AGENT_RUNNER", value_enum, default_value_t = RunnerMode::Real)]
    pub runner: RunnerMode,
}

impl AgentArgs {
    fn powers_off(&self) -> bool {
        !self.no_poweroff
    }
}

/// Runs `sortie agent`: returns normally when the runner exited 0; exits the process with the
/// runner's code otherwise. Powers the machine off on every path unless `--no-poweroff`.
pub fn run(args: &AgentArgs) -> Result<()> {
    crate::serve_cmd::init_logging();
    // Take the token out of this process's environment before any thread exists, so no child
    // can inherit it (children also get an explicit `env_remove`).
    let env_token = token::take_env_token();
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|rt| {
            let outcome = rt.block_on(agent_main(args, env_token));
            rt.shutdown_timeout(Duration::from_secs(2));
            outcome
        });
    if args.powers_off() {
        poweroff::power_off(args.poweroff_command.as_deref());
    }
    match outcome? {
        0 => Ok(()),
        code => std::process::exit(code),
    }
}

async fn agent_main(args: &AgentArgs, env_token: Option<String>) -> Result<i32> {
    let started = Instant::now();
    let lifetime_deadline = started + Duration::from_secs(args.max_lifetime_secs);
    let token = token::bootstrap_token(
        args.token_file.as_deref(),
        env_token,
        args.ssm_parameter.as_deref(),
    )?;
    let orchestrator = Orchestrator::new(&args.url)?;
    // A spent or wrong token (401/410) ends the agent at once: nothing to report to, nothing to
    // run. The caller powers the machine off.
    let config = orchestrator
        .bootstrap(&token, lifetime_deadline)
        .await
        .map_err(anyhow::Error::msg)?;
    drop(token);
    tracing::info!(
        job = %config.job,
        attempt = config.attempt,
        runner = %config.runner_name,
        kind = config.runner.kind(),
        "bootstrap exchanged; this machine serves one job"
    );
    let deadline = match config.max_runtime_secs {
        0 => lifetime_deadline,
        secs => started + Duration::from_secs(secs),
    };
    let reporter = Reporter::new(orchestrator, &config.session_token, started);
    serve_job(args, &config, &reporter, deadline).await
}

/// Everything after the bootstrap: the session token is valid, so every ending is reported.
async fn serve_job(
    args: &AgentArgs,
    config: &AgentConfig,
    reporter: &Reporter,
    deadline: Instant,
) -> Result<i32> {
    if reporter.phase(AgentPhase::Booted, deadline).await.stop {
        reporter
            .finished(None, Some("stopped before the runner started"), deadline)
            .await;
        return Ok(0);
    }
    if let Some(access) = &config.git {
        git::configure(access).await;
    }
    let options = RunnerOptions {
        mode: args.runner,
        runner_dir: args.runner_dir.clone(),
        act_runner_bin: args.act_runner_bin.clone(),
        runner_name: config.runner_name.clone(),
    };
    let mut process = match RunnerProcess::start(&config.runner, &options).await {
        Ok(process) => process,
        Err(err) => {
            let message = format!("the runner did not start: {err}");
            tracing::error!("{message}");
            reporter.finished(None, Some(&message), deadline).await;
            return Ok(1);
        }
    };
    tracing::info!(kind = process.kind(), "runner started");
    // A "stop" here is not acted on at once: the runner is live on the forge and may be taking
    // a job right now; the next heartbeat decides (see `supervise`).
    let stop_asked = reporter.phase(AgentPhase::Registered, deadline).await.stop;
    let heartbeat = Duration::from_secs(config.heartbeat_interval_secs.max(1));
    let ending =
        supervise::supervise(&mut process, reporter, heartbeat, deadline, stop_asked).await;
    let (code, message) = match ending {
        Ending::Exited(code) => (code, None),
        Ending::Stopped(code) => (code, Some("stopped: the orchestrator said the job is over")),
        Ending::TimedOut(code) => (code, Some("killed: the job reached its maximum runtime")),
        Ending::Interrupted(code) => (code, Some("stopped: the agent received SIGTERM or SIGINT")),
    };
    tracing::info!(exit_code = ?code, note = message.unwrap_or(""), "runner ended");
    // The finished report may outlive the job's deadline a little: it is the one report the
    // orchestrator needs most.
    let report_deadline = Instant::now() + Duration::from_secs(60);
    reporter.finished(code, message, report_deadline).await;
    Ok(match ending {
        Ending::TimedOut(_) => EXIT_TIMED_OUT,
        Ending::Interrupted(_) => EXIT_INTERRUPTED,
        Ending::Exited(_) | Ending::Stopped(_) => code.unwrap_or(0),
    })
}
