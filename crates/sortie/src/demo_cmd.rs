//! `sortie demo`: the whole loop on this machine, no account needed.
//!
//! Starts a fake GitHub (sortie-testkit's stateful fake: repositories, JIT runner configs, signed
//! webhooks), `sortie serve` in-process on SQLite in a temporary directory with the local
//! provider, then queues one job on the fake. The fake sends the signed `workflow_job` webhook;
//! sortie stores it, plans it, launches a local "machine" (a `sortie agent` process in fake
//! runner mode), the agent redeems its one-time token, gets a JIT config, takes the job on the
//! fake, which reports `in_progress` and `completed`; the process exits. A second job asks for a
//! label nobody serves and shows the reason it gets no machine.

use crate::serve_cmd::default_local_command;
use anyhow::{bail, Context, Result};
use clap::Args;
use sortie_core::job::JobState;
use sortie_server::config::{Overrides, Settings};
use sortie_server::fleet::{self, BuildOptions};
use sortie_store::{InstanceFilter, Job, Store};
use sortie_testkit::forge::FakeGithub;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `sortie demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// How long the demo job "runs" on its machine, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    pub job_ms: u64,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 30)]
    pub timeout_secs: u64,
    /// Also print the server's logs (RUST_LOG applies).
    #[arg(long)]
    pub verbose: bool,
}

const REPO: &str = "octo-org/hello-world";
const SECRET: &str = "demo-webhook-secret";
const PAT: &str = "demo-pat-for-the-fake-github";

/// Runs `sortie demo`.
pub fn run(args: &DemoArgs) -> Result<()> {
    if args.verbose {
        crate::serve_cmd::init_logging();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(demo(args))
}

fn settings(dir: &Path, fake_url: &str) -> Result<Settings> {
    let toml = format!(
        r#"
listen = "127.0.0.1:0"
database_url = "sqlite://{db}"
owner = "sortie-demo"

[github]
webhook_secret = "{SECRET}"
token = "{PAT}"
api_url = "{fake_url}"

[dispatch]
poll_ms = 100
heartbeat_interval_secs = 1
sweep_interval_secs = 1

[local]
max_concurrent = 4
time_limit_secs = 120
work_root = "{work}"
log_dir = "{logs}"
env = {{ SORTIE_AGENT_RUNNER = "fake" }}
"#,
        db = dir.join("sortie.db").display(),
        work = dir.join("work").display(),
        logs = dir.join("logs").display(),
    );
    let path = dir.join("sortie.toml");
    std::fs::write(&path, &toml).context("cannot write the demo configuration")?;
    Settings::from_layers(Some((&path, &toml)), |_| None, &Overrides::default())
        .map_err(|e| anyhow::anyhow!("the demo configuration is invalid: {e}"))
}

async fn demo(args: &DemoArgs) -> Result<()> {
    let started = Instant::now();
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    let fake = FakeGithub::start()
        .await
        .context("cannot start the fake GitHub")?;
    fake.add_pat(PAT);
    fake.add_repo(REPO, 1);
    fake.set_job_duration(Duration::from_millis(args.job_ms));

    let settings = settings(dir.path(), &fake.url())?;
    let store = sortie_store::open(&settings.database_url).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .context("cannot listen on 127.0.0.1")?;
    let addr = listener.local_addr()?;
    let mut options = sortie_server::Options {
        replica: "demo".into(),
        ..Default::default()
    };
    options.planner.sweep_interval = Duration::from_millis(500);
    let fleet = fleet::build(
        &settings,
        store.clone(),
        BuildOptions {
            replica: options.replica.clone(),
            default_local_command: default_local_command(),
            listen: addr,
        },
    )
    .await?;
    let fleet = Arc::new(fleet);
    options.fleet = Some(fleet.clone());
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let settings = settings.clone();
        let store = store.clone();
        tokio::spawn(async move {
            sortie_server::run(&settings, store, listener, options, async move {
                let _ = stop_rx.await;
            })
            .await
        })
    };
    fake.set_webhook(&format!("http://{addr}/webhooks/github"), SECRET);

    println!("sortie demo — one fresh machine per CI job, on this computer, no account needed");
    println!(
        "  fake GitHub at {}, sortie at http://{addr}, SQLite in {}",
        fake.url(),
        dir.path().display()
    );
    println!("  a machine here is a local process running `sortie agent` with a fake runner\n");

    let good = fake.queue_job(REPO, &["self-hosted", "linux", "sortie=cpu=2"]);
    println!(
        "→ GitHub queued job {} of {REPO} (runs-on: self-hosted, linux, sortie=cpu=2)",
        good.id
    );
    let bad = fake.queue_job(REPO, &["self-hosted", "gpu-a100"]);
    println!(
        "→ GitHub queued job {} (runs-on: self-hosted, gpu-a100)\n",
        bad.id
    );

    let outcome = watch(store.as_ref(), &fleet, args, started, good.id, bad.id).await;
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(5), server).await;
    let outcome = outcome?;
    let runners = fake.runners();
    let ours: Vec<_> = runners
        .iter()
        .filter(|r| r.name.starts_with("sortie-"))
        .collect();
    println!(
        "\n✓ job {} completed on its own machine in {:.1} s; machine gone; runner registrations left on GitHub: {}",
        good.id,
        outcome.as_secs_f64(),
        ours.len()
    );
    if !ours.is_empty() {
        bail!("the runner registration was not removed");
    }
    println!("  next: `sortie serve` with a GitHub App (README: \"Running against GitHub\")");
    Ok(())
}

/// Prints every state change of the two jobs until the good one is done and its machine gone.
async fn watch(
    store: &dyn Store,
    fleet: &fleet::Fleet,
    args: &DemoArgs,
    started: Instant,
    good_forge_id: u64,
    bad_forge_id: u64,
) -> Result<Duration> {
    let deadline = started + Duration::from_secs(args.timeout_secs);
    let mut seen: HashMap<i64, usize> = HashMap::new();
    let mut done_at = None;
    loop {
        if Instant::now() > deadline {
            bail!(
                "the demo did not finish within {} s — rerun with --verbose to see the server's logs",
                args.timeout_secs
            );
        }
        let jobs = store.list_jobs(Default::default()).await?;
        for job in &jobs {
            let history = store.job_history(job.id).await?;
            let from = seen.get(&job.id.0).copied().unwrap_or(0);
            for entry in history.iter().skip(from) {
                let label = if forge_job_id(job) == Some(bad_forge_id) {
                    "gpu job "
                } else {
                    "demo job"
                };
                let state = match entry.from {
                    Some(f) if f != entry.to => format!("{f} → {}", entry.to),
                    Some(_) => format!("{}", entry.to),
                    None => format!("{}", entry.to),
                };
                println!(
                    "  {:>5.2}s  {label}  {state:<22} {}",
                    started.elapsed().as_secs_f64(),
                    entry.reason
                );
                let _ = std::io::stdout().flush();
            }
            seen.insert(job.id.0, history.len());
        }
        let good = jobs.iter().find(|j| forge_job_id(j) == Some(good_forge_id));
        if let Some(job) = good {
            if job.state == JobState::Failed || job.state == JobState::Cancelled {
                bail!("the demo job ended {}: see the reasons above", job.state);
            }
            if job.state == JobState::Completed {
                let gone = machine_gone(store, fleet, job).await?;
                if gone && done_at.is_none() {
                    done_at = Some(started.elapsed());
                    println!(
                        "  {:>5.2}s  demo job  machine gone (process exited, work directory removed)",
                        started.elapsed().as_secs_f64()
                    );
                }
            }
        }
        let bad_done = jobs
            .iter()
            .find(|j| forge_job_id(j) == Some(bad_forge_id))
            .is_some_and(|j| j.state.is_terminal());
        if let (Some(at), true) = (done_at, bad_done) {
            return Ok(at);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn forge_job_id(job: &Job) -> Option<u64> {
    match &job.key {
        sortie_core::job::JobKey::WorkflowJob { job_id, .. } => Some(*job_id),
        _ => None,
    }
}

async fn machine_gone(store: &dyn Store, fleet: &fleet::Fleet, job: &Job) -> Result<bool> {
    let instances = store
        .list_instances(InstanceFilter {
            state: None,
            job: Some(job.id),
        })
        .await?;
    for i in instances {
        let Some(provider) = fleet.provider(&i.provider) else {
            continue;
        };
        let info = provider
            .describe(&sortie_provider::InstanceId(i.provider_id.clone()))
            .await?;
        if info.is_some_and(|info| info.state.is_live()) {
            return Ok(false);
        }
    }
    Ok(true)
}
