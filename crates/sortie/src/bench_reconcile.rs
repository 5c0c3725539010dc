//! `sortie bench reconcile`, the issue-9 simulation: N jobs (default 1,000) on the built-in fake
//! GitHub, with a share of its webhooks lost (default 10 %) and a share of runner hand-outs going
//! to another queued job than the runner's own (default 20 %), served by the real server in this
//! process on SQLite with the local provider running this binary's `sortie agent` (fake runner).
//!
//! It prints, over the jobs: time from queued on the forge until a runner of ours took it (the
//! job has a machine), p50/p90/p99/max; time until sortie first launched a machine for it;
//! machines launched per job; steals, lost webhooks and recovered jobs. Nothing is asserted.
//!
//! Time is compressed: the reconciler runs every `--reconcile-secs` (default 5; production
//! default 60) and recovers a job queued at least `--grace-secs` ago (default 2; production 30);
//! jobs last `--job-ms` and arrive at `--rate` per second. A lost `queued` webhook is therefore
//! found within grace + one interval.

use crate::serve_cmd::default_local_command;
use anyhow::{bail, Context, Result};
use clap::Args;
use sortie_core::forge::Flavor;
use sortie_core::job::JobKey;
use sortie_server::config::{Overrides, Settings};
use sortie_server::fleet::{self, BuildOptions};
use sortie_server::reconciler::{ReconcileOptions, Reconciler};
use sortie_store::{InstanceFilter, JobFilter};
use sortie_testkit::forge::{Chooser, FakeGithub, FakeJob, JobStatus};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const REPO: &str = "octo-org/sim";
const SECRET: &str = "sim-secret";
const PAT: &str = "sim-pat";
const LABELS: &[&str] = &["self-hosted", "linux"];

/// The agent command, started after `boot_ms` of "boot".
fn booting_after(boot_ms: u64) -> Vec<String> {
    if boot_ms == 0 {
        return default_local_command();
    }
    let agent: Vec<String> = default_local_command()
        .into_iter()
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect();
    vec![
        "sh".into(),
        "-c".into(),
        format!(
            "sleep {}; exec {}",
            boot_ms as f64 / 1000.0,
            agent.join(" ")
        ),
    ]
}

/// splitmix64: reproducible choices from one seed.
fn next(state: &AtomicU64) -> u64 {
    let mut z = state
        .fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn key_of(j: &FakeJob) -> JobKey {
    JobKey::WorkflowJob {
        forge: Flavor::Github,
        repo: j.repo.clone(),
        run_id: j.run_id,
        run_attempt: j.run_attempt,
        job_id: j.id,
    }
}

/// A runner takes its own job when it can, except `steal_pct` % of the time, when it takes
/// another queued job (as GitHub may: it hands a runner any job whose labels match); a runner
/// whose own job is gone takes the oldest.
fn chooser(steal_pct: u64, seed: u64) -> Chooser {
    let rng = Arc::new(AtomicU64::new(seed));
    Arc::new(move |runner: &str, jobs: &[FakeJob]| {
        if jobs.is_empty() {
            return None;
        }
        let own = jobs
            .iter()
            .position(|j| (1..=4).any(|a| key_of(j).runner_name(a) == runner));
        let steal = next(&rng) % 100 < steal_pct;
        match own {
            Some(i) if !steal || jobs.len() == 1 => Some(jobs[i].id),
            Some(i) => {
                let k = (next(&rng) % (jobs.len() as u64 - 1)) as usize;
                let k = if k >= i { k + 1 } else { k };
                Some(jobs[k].id)
            }
            // Its own job already went to another runner: the oldest waiting one, as GitHub's
            // queue mostly hands them out.
            None => Some(jobs[0].id),
        }
    })
}

/// One figure line: seconds, nearest-rank percentiles as `sortie bench dispatch` prints them.
fn line(name: &str, seconds: Vec<f64>) {
    let mut v: Vec<Duration> = seconds.into_iter().map(Duration::from_secs_f64).collect();
    v.sort();
    let at = |p: f64| crate::bench_cmd::percentile(&v, p).as_secs_f64();
    println!(
        "{name:<44} n={:<5} p50 {:>7.2} s  p90 {:>7.2} s  p99 {:>7.2} s  max {:>7.2} s",
        v.len(),
        at(0.50),
        at(0.90),
        at(0.99),
        v.last().map_or(0.0, Duration::as_secs_f64)
    );
}

/// Arguments of `sortie bench reconcile`.
#[derive(Debug, Args)]
pub struct ReconcileArgs {
    /// Jobs queued on the fake GitHub.
    #[arg(long, default_value_t = 1000)]
    jobs: usize,
    /// Jobs queued per second.
    #[arg(long, default_value_t = 25.0)]
    rate: f64,
    /// Percent of webhooks lost (any kind: queued, in_progress, completed).
    #[arg(long = "lost-pct", default_value_t = 10)]
    lost_pct: u64,
    /// Percent of runner hand-outs that go to another queued job than the runner's own.
    #[arg(long = "steal-pct", default_value_t = 20)]
    steal_pct: u64,
    /// Seconds between reconcile passes.
    #[arg(long = "reconcile-secs", default_value_t = 5)]
    reconcile_secs: u64,
    /// A job the forge lists queued is recovered once it is this old.
    #[arg(long = "grace-secs", default_value_t = 2)]
    grace_secs: u64,
    /// How long each job runs on its runner.
    #[arg(long = "job-ms", default_value_t = 1000)]
    job_ms: u64,
    /// How long a machine takes to boot before its agent starts (a compressed EC2 boot: the
    /// longer, the more queued jobs a fresh runner can take instead of its own).
    #[arg(long = "boot-ms", default_value_t = 2000)]
    boot_ms: u64,
    /// Seed of the losses and steals.
    #[arg(long, default_value_t = 9)]
    seed: u64,
    /// Give up waiting for the jobs to complete after this many seconds.
    #[arg(long = "timeout-secs", default_value_t = 900)]
    timeout_secs: u64,
    /// Also print the server's logs (RUST_LOG applies).
    #[arg(long)]
    verbose: bool,
}

/// Runs `sortie bench reconcile`.
pub fn run(args: &ReconcileArgs) -> Result<()> {
    if args.jobs == 0 || !(args.rate > 0.0 && args.rate.is_finite()) || args.reconcile_secs == 0 {
        bail!(crate::UsageError(
            "--jobs and --reconcile-secs must be at least 1, --rate above 0".into()
        ));
    }
    if args.lost_pct > 100 || args.steal_pct > 100 {
        bail!(crate::UsageError(
            "--lost-pct and --steal-pct are percentages (0-100)".into()
        ));
    }
    if args.verbose {
        crate::serve_cmd::init_logging();
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(simulate(args))
}

async fn simulate(args: &ReconcileArgs) -> Result<()> {
    let (jobs_n, rate, lost_pct, steal_pct) = (args.jobs, args.rate, args.lost_pct, args.steal_pct);
    let (reconcile_secs, grace_secs, job_ms, seed) =
        (args.reconcile_secs, args.grace_secs, args.job_ms, args.seed);
    let fake = Arc::new(
        FakeGithub::start()
            .await
            .context("cannot start the fake GitHub")?,
    );
    fake.add_pat(PAT);
    fake.add_repo(REPO, 1);
    fake.set_job_duration(Duration::from_millis(job_ms));
    fake.set_chooser(Some(chooser(steal_pct, seed)));
    fake.set_delivery_concurrency(8);
    fake.lose_share_of_webhooks(lost_pct, seed ^ 0x1055);
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    let d = dir.path().display().to_string();
    let toml = format!(
        r#"
listen = "127.0.0.1:0"
admin_token = "sim-admin-token"
database_url = "sqlite://{d}/sortie.db"
owner = "sim"
provider = "local"

[github]
webhook_secret = "{SECRET}"
token = "{PAT}"
api_url = "{api}"

[dispatch]
concurrency = 16
poll_ms = 50
heartbeat_interval_secs = 1
sweep_interval_secs = 5
reconcile_interval_secs = {reconcile_secs}

[local]
max_concurrent = 1000
time_limit_secs = 600
work_root = "{d}/work"
log_dir = "{d}/logs"
env = {{ SORTIE_AGENT_RUNNER = "fake" }}
"#,
        api = fake.url()
    );
    let path = dir.path().join("sortie.toml");
    let settings = Settings::from_layers(Some((&path, &toml)), |_| None, &Overrides::default())
        .context("simulation settings")?;
    let store = sortie_store::open(&settings.database_url)
        .await
        .context("cannot open the simulation's store")?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .context("cannot listen on loopback")?;
    let addr = listener.local_addr()?;
    let fleet = Arc::new(
        fleet::build(
            &settings,
            store.clone(),
            BuildOptions {
                replica: "sim/a".into(),
                default_local_command: booting_after(args.boot_ms),
                listen: addr,
            },
        )
        .await
        .context("cannot build the fleet")?,
    );
    let options = sortie_server::Options {
        replica: "sim/a".into(),
        fleet: Some(fleet.clone()),
        // The simulation's own reconciler below, with a compressed grace.
        reconcile: false,
        ..Default::default()
    };
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = {
        let (settings, store) = (settings.clone(), store.clone());
        tokio::spawn(async move {
            sortie_server::run(&settings, store, listener, options, async move {
                let _ = stop_rx.await;
            })
            .await
        })
    };
    fake.set_webhook(&format!("http://{addr}/webhooks/github"), SECRET);
    let reconciler =
        Reconciler::new(fleet.clone(), settings.routing.clone()).with_options(ReconcileOptions {
            grace: Duration::from_secs(grace_secs),
            ..ReconcileOptions::default()
        });
    let (rstop_tx, mut rstop_rx) = tokio::sync::oneshot::channel::<()>();
    let reconcile_task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(reconcile_secs));
        let mut recovered = 0usize;
        loop {
            tokio::select! {
                _ = &mut rstop_rx => break,
                _ = tick.tick() => {}
            }
            let report = reconciler.reconcile_once().await;
            recovered += report.recovered.len();
        }
        reconciler.release().await;
        recovered
    });

    println!(
        "simulating {jobs_n} jobs at {rate}/s, {lost_pct}% webhooks lost, {steal_pct}% of runner \
         hand-outs stolen, machines boot in {} ms, jobs {job_ms} ms, reconcile every \
         {reconcile_secs}s (grace {grace_secs}s)",
        args.boot_ms
    );
    let started = Instant::now();
    // Jobs are queued on their own task while this one watches the forge every 50 ms: the fake
    // stamps times in whole seconds, as GitHub does, too coarse for these figures.
    let queuing = {
        let fake = fake.clone();
        tokio::spawn(async move {
            let mut queued_at = HashMap::new();
            for i in 0..jobs_n {
                let due = started + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                queued_at.insert(fake.queue_job(REPO, LABELS).id, Instant::now());
            }
            queued_at
        })
    };
    let mut seen_started: HashMap<u64, Instant> = HashMap::new();
    let deadline =
        started + Duration::from_secs_f64(jobs_n as f64 / rate + args.timeout_secs as f64);
    loop {
        let jobs = fake.jobs();
        let now = Instant::now();
        for j in &jobs {
            if j.status != JobStatus::Queued {
                seen_started.entry(j.id).or_insert(now);
            }
        }
        let done = jobs
            .iter()
            .filter(|j| j.status == JobStatus::Completed)
            .count();
        if (queuing.is_finished() && done == jobs_n) || now > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let queued_at: HashMap<u64, Instant> = queuing.await.unwrap_or_default();
    let wall = started.elapsed();
    let _ = rstop_tx.send(());
    let recovered = reconcile_task.await.unwrap_or(0);

    let forge_jobs = fake.jobs();
    let to_runner: Vec<f64> = queued_at
        .iter()
        .filter_map(|(id, at)| Some(seen_started.get(id)?.duration_since(*at).as_secs_f64()))
        .collect();
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
        - Instant::now().duration_since(started).as_secs_f64();
    let unserved = forge_jobs.iter().filter(|j| j.started_at.is_none()).count();
    // Queue times on the wall clock, to compare with the store's launch times.
    let created: HashMap<JobKey, f64> = forge_jobs
        .iter()
        .filter_map(|j| {
            let at = queued_at.get(&j.id)?.duration_since(started).as_secs_f64();
            Some((key_of(j), epoch + at))
        })
        .collect();
    let stored = store
        .list_jobs(JobFilter {
            state: None,
            limit: 100_000,
        })
        .await?;
    let instances = store
        .list_instances(InstanceFilter {
            state: None,
            job: None,
        })
        .await?;
    let mut first_launch: HashMap<_, i64> = HashMap::new();
    for i in &instances {
        let at = first_launch
            .entry(i.job)
            .or_insert(i.created_at.as_millis());
        *at = (*at).min(i.created_at.as_millis());
    }
    let to_launch: Vec<f64> = stored
        .iter()
        .filter_map(|j| {
            let queued_at = created.get(&j.key)?;
            Some((*first_launch.get(&j.id)? as f64 / 1e3 - queued_at).max(0.0))
        })
        .collect();
    let metrics = fleet.metrics.render();
    let metric = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let lost = fake.deliveries().iter().filter(|d| !d.succeeded()).count();
    let all_hooks = fake.deliveries().len();

    println!(
        "done in {:.1} s: {} of {jobs_n} jobs completed, {unserved} never taken by a runner",
        wall.as_secs_f64(),
        forge_jobs
            .iter()
            .filter(|j| j.status == JobStatus::Completed)
            .count()
    );
    line("queued on forge → a runner of ours took it", to_runner);
    line("queued on forge → sortie launched its machine", to_launch);
    println!(
        "machines launched: {} for {} jobs = {:.3} per job; steals {} ({:.1} % of jobs)",
        instances.len(),
        stored.len(),
        instances.len() as f64 / stored.len().max(1) as f64,
        metric("sortie_job_steals"),
        100.0 * metric("sortie_job_steals") / jobs_n as f64
    );
    println!(
        "webhooks lost: {lost} of {all_hooks}; jobs recovered by reconcile: {recovered}; jobs \
         known to sortie: {}",
        stored.len()
    );
    // Jobs no runner took: what sortie knows of them.
    for j in forge_jobs.iter().filter(|j| j.started_at.is_none()) {
        println!("never taken: forge job {}", j.id);
        if let Some(o) = stored.iter().find(|s| s.key == key_of(j)) {
            for h in store.job_history(o.id).await.unwrap_or_default() {
                println!("  job {} {:?} → {}: {}", o.id, h.from, h.to, h.reason);
            }
            for i in instances.iter().filter(|i| i.job == o.id) {
                println!(
                    "  machine {} attempt {} {:?}",
                    i.provider_id, i.attempt, i.state
                );
            }
        } else {
            println!("  unknown to sortie");
        }
    }
    // Jobs a runner took that never completed: what sortie knows of the runner's own job.
    for j in forge_jobs
        .iter()
        .filter(|j| j.status != JobStatus::Completed && j.started_at.is_some())
    {
        let runner = j.runner_name.clone().unwrap_or_default();
        println!("not completed: forge job {} on runner {runner}", j.id);
        let owner = stored
            .iter()
            .find(|s| (1..=4).any(|a| s.key.runner_name(a) == runner));
        if let Some(o) = owner {
            for h in store.job_history(o.id).await.unwrap_or_default() {
                println!(
                    "  runner's job {} {:?} → {}: {}",
                    o.id, h.from, h.to, h.reason
                );
            }
            for i in instances.iter().filter(|i| i.job == o.id) {
                println!(
                    "  machine {} attempt {} {:?}",
                    i.provider_id, i.attempt, i.state
                );
            }
        }
    }
    let _ = stop_tx.send(());
    let _ = tokio::time::timeout(Duration::from_secs(30), server).await;
    Ok(())
}
