//! `sortie bench dispatch`: webhook accepted → provider launch call issued, end to end through
//! the real server (ingest, planner, dispatcher) started in this process, as `sortie demo` does.
//!
//! The forge is sortie-testkit's fake GitHub (the dispatcher needs a configured forge; it mints
//! no runner credential at launch, see `sortie_server::dispatcher`). The provider is the local
//! one running `true`, wrapped in [`Timed`], which notes the instant each job's first
//! `Provider::launch` call is made and then delegates. Two modes:
//!
//! - `latency`: signed `workflow_job` queued deliveries at a steady rate; per job, 2xx received →
//!   launch call issued; p50/p90/p99/max.
//! - `burst`: the deliveries are stored and planned by a server with no dispatcher (N queued
//!   jobs), which then stops; a server with the dispatcher starts, and the bench times until all
//!   N launch calls are issued.
//!
//! Benchmarks print figures; nothing here asserts timing.

use crate::bench_cmd::{accepted_at, ms, percentile, prepare, BenchEvent, Prepared, SECRET};
use anyhow::{bail, Context, Result};
use clap::Args;
use sortie_core::job::{JobKey, JobState};
use sortie_provider::interruption::InterruptionEvent;
use sortie_provider::{InstanceId, InstanceInfo, LaunchRequest, Launched, Provider};
use sortie_server::config::{Overrides, Settings};
use sortie_server::fleet::{self, BuildOptions};
use sortie_store::{JobFilter, Store};
use sortie_testkit::forge::FakeGithub;
use std::collections::HashMap;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const PAT: &str = "sortie-bench-pat";
/// The payload's repository (fixtures/github/workflow_job.queued.json).
const REPO: &str = "Codertocat/Hello-World";
/// Labels that route to the default provider, `local` (the fixture's `ubuntu-latest` is a
/// GitHub-hosted label sortie leaves alone).
const LABELS: [&str; 2] = ["self-hosted", "linux"];
/// Client connections that send the deliveries.
const CONNECTIONS: usize = 16;

/// Arguments of `sortie bench dispatch`.
#[derive(Debug, Args)]
pub struct DispatchArgs {
    /// Database URL; default: a fresh SQLite file in a temporary directory. A PostgreSQL URL
    /// names the server: the bench creates a fresh database there and drops it at the end.
    #[arg(long = "database", value_name = "URL")]
    database_url: Option<String>,
    /// `latency`: accepted → launch call per job at a steady rate; `burst`: N jobs queued before
    /// the dispatcher starts, time until every launch call is issued.
    #[arg(long, value_enum, default_value_t = Mode::Latency)]
    mode: Mode,
    /// Jobs (one signed `workflow_job` queued delivery each).
    #[arg(long, default_value_t = 1000)]
    jobs: usize,
    /// Deliveries per second in `latency` mode (open loop).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// `[dispatch] concurrency`: jobs dispatched at once.
    #[arg(long, default_value_t = 16)]
    concurrency: usize,
    /// `[dispatch] poll_ms`: an idle dispatcher's poll (the planner also wakes it).
    #[arg(long, default_value_t = 50)]
    poll_ms: u64,
    /// Give up when the launches are not all issued within this many seconds.
    #[arg(long, default_value_t = 300)]
    timeout_secs: u64,
    /// Also print the server's logs (RUST_LOG applies).
    #[arg(long)]
    verbose: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Mode {
    Latency,
    Burst,
}

/// Runs `sortie bench dispatch`.
pub fn run(args: &DispatchArgs) -> Result<()> {
    if args.jobs == 0 || args.concurrency == 0 || !(args.rate > 0.0 && args.rate.is_finite()) {
        bail!(crate::UsageError(
            "--jobs and --concurrency must be at least 1, --rate above 0".into()
        ));
    }
    if args.verbose {
        crate::serve_cmd::init_logging();
    }
    let dir = tempfile::tempdir().context("cannot make a temporary directory")?;
    let (runtime, db) =
        crate::bench_cmd::runtime_and_fresh_database(args.database_url.as_deref(), dir.path())?;
    let url = db.url().to_string();
    let result = runtime.block_on(bench(args, dir.path(), &url));
    // The runtime (its pools, the server) goes first; then the database is dropped.
    drop(runtime);
    drop(db);
    result
}

async fn bench(args: &DispatchArgs, dir: &Path, url: &str) -> Result<()> {
    let fake = FakeGithub::start()
        .await
        .context("cannot start the fake GitHub")?;
    fake.add_pat(PAT);
    fake.add_repo(REPO, 1);
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_millis() as u64);
    let b = Bench {
        args,
        settings: settings(args, dir, url, &fake.url())?,
        store: sortie_store::open(url).await?,
        run_id,
        deadline: Instant::now() + Duration::from_secs(args.timeout_secs),
    };
    let bodies = prepare(args.jobs, BenchEvent::WorkflowJob, run_id, Some(&LABELS))?;
    let (mode, offered) = match args.mode {
        Mode::Latency => ("latency", format!(" offered at {}/s", args.rate)),
        Mode::Burst => ("burst", String::new()),
    };
    println!(
        "sortie bench dispatch: mode {mode}, {} jobs{offered}, dispatch concurrency {}, poll {} \
         ms, local provider running `true`, database {} ({})",
        args.jobs,
        args.concurrency,
        args.poll_ms,
        if url.starts_with("sqlite") {
            "SQLite"
        } else {
            "PostgreSQL"
        },
        sortie_store::redact_url(url),
    );
    match args.mode {
        Mode::Latency => latency(&b, Arc::new(bodies)).await,
        Mode::Burst => burst(&b, Arc::new(bodies)).await,
    }
}

/// What every mode shares.
struct Bench<'a> {
    args: &'a DispatchArgs,
    settings: Settings,
    store: Arc<dyn Store>,
    /// The `run_id` of this bench's jobs: [`Timed`] counts only these.
    run_id: u64,
    deadline: Instant,
}

/// Deliveries at `--rate`; per job, its 2xx → its launch call.
async fn latency(b: &Bench<'_>, bodies: Arc<Vec<Prepared>>) -> Result<()> {
    let server = Server::start(b, true).await?;
    let accepted = accepted_at(&server.url, bodies, CONNECTIONS, b.args.rate).await?;
    let n = accepted.iter().flatten().count();
    let calls = server.launches(b, n).await?;
    latency_report(&accepted, &calls);
    Ok(())
}

/// N jobs queued by a server with no dispatcher; then one with the dispatcher starts and the
/// clock runs from its start to the last launch call.
async fn burst(b: &Bench<'_>, bodies: Arc<Vec<Prepared>>) -> Result<()> {
    let queue = Server::start(b, false).await?;
    let accepted = accepted_at(&queue.url, bodies, CONNECTIONS, 0.0).await?;
    let n = accepted.iter().flatten().count();
    wait_queued(b.store.as_ref(), n, b.deadline).await?;
    queue.stop().await?;
    println!("queued:     {n} jobs, stored and planned with no dispatcher running");
    let server = Server::start(b, true).await?;
    let t0 = server.started;
    let calls = server.launches(b, n).await?;
    burst_report(t0, &calls);
    Ok(())
}

fn settings(args: &DispatchArgs, dir: &Path, url: &str, fake_url: &str) -> Result<Settings> {
    let toml = format!(
        r#"
listen = "127.0.0.1:0"
database_url = "{url}"
owner = "sortie-bench-{pid}"

[github]
webhook_secret = "{SECRET}"
token = "{PAT}"
api_url = "{fake_url}"

[dispatch]
concurrency = {concurrency}
poll_ms = {poll}

[local]
command = ["true"]
max_concurrent = {max}
time_limit_secs = 60
work_root = "{work}"
log_dir = "{logs}"
"#,
        pid = std::process::id(),
        concurrency = args.concurrency,
        poll = args.poll_ms,
        max = args.jobs.max(1),
        work = dir.join("work").display(),
        logs = dir.join("logs").display(),
    );
    Settings::from_layers(
        Some((&dir.join("bench.toml"), &toml)),
        |_| None,
        &Overrides::default(),
    )
    .map_err(|e| anyhow::anyhow!("the bench configuration is invalid: {e}"))
}

/// Polls until `n` jobs are queued (burst mode's first server plans them after its 202s).
async fn wait_queued(store: &dyn Store, n: usize, deadline: Instant) -> Result<()> {
    let filter = || JobFilter {
        state: Some(JobState::Queued),
        limit: u32::try_from(n).unwrap_or(u32::MAX).saturating_add(1),
    };
    loop {
        let queued = store.list_jobs(filter()).await?.len();
        if queued >= n {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("only {queued} of {n} jobs were queued before the deadline");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Why the launches did not all come: how many did, and a few jobs that got none, with their
/// state and latest reason.
async fn not_launched(store: &dyn Store, timed: &Timed, n: usize) -> anyhow::Error {
    let calls = timed.calls();
    let mut lines = vec![format!(
        "only {} of {n} launch calls were issued before the deadline (--timeout-secs)",
        calls.len()
    )];
    let all = JobFilter {
        state: None,
        limit: u32::try_from(n).unwrap_or(u32::MAX).saturating_add(100),
    };
    if let Ok(jobs) = store.list_jobs(all).await {
        lines.push(format!("  jobs planned (in the store): {}", jobs.len()));
        let missing = jobs.iter().filter(|j| match &j.key {
            JobKey::WorkflowJob { job_id, .. } => !calls.contains_key(job_id),
            JobKey::Push { .. } => false,
        });
        for job in missing.take(5) {
            let history = store.job_history(job.id).await.unwrap_or_default();
            let reason = history.last().map(|h| h.reason.clone()).unwrap_or_default();
            lines.push(format!("  job {} is {}: {reason}", job.key, job.state));
        }
    }
    anyhow::anyhow!(lines.join("\n"))
}

fn latency_report(accepted: &[Option<Instant>], calls: &HashMap<u64, Instant>) {
    let mut early = 0;
    let mut lat: Vec<Duration> = accepted
        .iter()
        .enumerate()
        .filter_map(|(i, at)| {
            let (at, call) = (at.as_ref()?, calls.get(&(i as u64 + 1))?);
            // The planner may run before the client reads its 202: that counts as zero.
            let d = call.checked_duration_since(*at);
            early += usize::from(d.is_none());
            Some(d.unwrap_or_default())
        })
        .collect();
    lat.sort_unstable();
    let (pct, n) = (|p| percentile(&lat, p), accepted.iter().flatten().count());
    println!("launched:   {} of {n} accepted", lat.len());
    println!(
        "accepted → launch call: p50 {:.2} ms, p90 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        ms(pct(0.50)),
        ms(pct(0.90)),
        ms(pct(0.99)),
        ms(lat.last().copied().unwrap_or_default())
    );
    if early > 0 {
        println!("launch call before the 202 reached the client: {early} (counted as 0 ms)");
    }
}

fn burst_report(t0: Instant, calls: &HashMap<u64, Instant>) {
    let since = |c: Option<&Instant>| c.map_or(Duration::ZERO, |c| c.duration_since(t0));
    let (first, last) = (since(calls.values().min()), since(calls.values().max()));
    let (n, secs, first) = (calls.len(), last.as_secs_f64().max(f64::EPSILON), ms(first));
    println!(
        "launched:   {n} launch calls in {secs:.3} s from the dispatcher's start \
         ({:.0} launches/s); the first after {first:.2} ms",
        n as f64 / secs
    );
}

/// The server in this process; with `dispatch`, a fleet whose `local` provider is [`Timed`].
struct Server {
    url: String,
    /// Just before the server (and its dispatcher) was spawned.
    started: Instant,
    timed: Option<Arc<Timed>>,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Server {
    async fn start(b: &Bench<'_>, dispatch: bool) -> Result<Server> {
        let listener = tokio::net::TcpListener::bind(b.settings.listen)
            .await
            .context("cannot listen on 127.0.0.1")?;
        let addr = listener.local_addr()?;
        let mut options = sortie_server::Options {
            replica: "bench".into(),
            ..Default::default()
        };
        let mut timed = None;
        if dispatch {
            let opts = BuildOptions {
                replica: options.replica.clone(),
                default_local_command: vec!["true".into()],
                listen: addr,
            };
            let mut fleet = fleet::build(&b.settings, b.store.clone(), opts).await?;
            let local = fleet
                .providers
                .get("local")
                .cloned()
                .context("the fleet has no local provider")?;
            let t = Arc::new(Timed::new(local, b.run_id));
            fleet.providers.insert("local".into(), t.clone());
            timed = Some(t);
            options.fleet = Some(Arc::new(fleet));
        }
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (settings, store) = (b.settings.clone(), b.store.clone());
        let started = Instant::now();
        let task = tokio::spawn(async move {
            sortie_server::run(&settings, store, listener, options, async move {
                let _ = stop_rx.await;
            })
            .await
        });
        Ok(Server {
            url: format!("http://{addr}"),
            started,
            timed,
            stop,
            task,
        })
    }

    /// Waits for `n` launch calls (or the deadline), stops, and returns job id → call instant.
    async fn launches(self, b: &Bench<'_>, n: usize) -> Result<HashMap<u64, Instant>> {
        let timed = self
            .timed
            .clone()
            .context("this server has no dispatcher")?;
        let all = timed.wait_for(n, b.deadline).await;
        self.stop().await?;
        if !all {
            return Err(not_launched(b.store.as_ref(), &timed, n).await);
        }
        Ok(timed.calls())
    }

    async fn stop(self) -> Result<()> {
        let _ = self.stop.send(());
        match tokio::time::timeout(Duration::from_secs(30), self.task).await {
            Ok(joined) => joined.context("the server task failed")??,
            Err(_) => bail!("the server did not stop within 30 s"),
        }
        Ok(())
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A [`Provider`] that notes when each of this run's jobs first reaches `launch`, then
/// delegates every call to the real provider.
struct Timed {
    inner: Arc<dyn Provider>,
    run_id: u64,
    calls: Mutex<HashMap<u64, Instant>>,
    count: tokio::sync::watch::Sender<usize>,
}

impl Timed {
    fn new(inner: Arc<dyn Provider>, run_id: u64) -> Timed {
        Timed {
            inner,
            run_id,
            calls: Mutex::default(),
            count: tokio::sync::watch::Sender::new(0),
        }
    }

    fn record(&self, job: &JobKey) {
        let now = Instant::now();
        let JobKey::WorkflowJob { run_id, job_id, .. } = job else {
            return;
        };
        if *run_id != self.run_id {
            return;
        }
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        calls.entry(*job_id).or_insert(now);
        let n = calls.len();
        drop(calls);
        self.count.send_replace(n);
    }

    /// Job id → when its first launch call was made.
    fn calls(&self) -> HashMap<u64, Instant> {
        self.calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Waits until `n` jobs had a launch call; false at the deadline.
    async fn wait_for(&self, n: usize, deadline: Instant) -> bool {
        let mut rx = self.count.subscribe();
        tokio::time::timeout_at(deadline.into(), rx.wait_for(|c| *c >= n))
            .await
            .is_ok_and(|r| r.is_ok())
    }
}

// `Provider` is an `async_trait` trait; this crate does not depend on that macro, so the methods
// are written in the form it expands to (boxed futures). `list_managed` keeps the trait's default
// (over `list_by_tag`), as the local provider does.
impl Provider for Timed {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn launch<'life0, 'life1, 'async_trait>(
        &'life0 self,
        req: &'life1 LaunchRequest,
    ) -> BoxFuture<'async_trait, sortie_provider::Result<Launched>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.record(&req.job);
        self.inner.launch(req)
    }

    fn describe<'life0, 'life1, 'async_trait>(
        &'life0 self,
        id: &'life1 InstanceId,
    ) -> BoxFuture<'async_trait, sortie_provider::Result<Option<InstanceInfo>>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.describe(id)
    }

    fn terminate<'life0, 'life1, 'async_trait>(
        &'life0 self,
        id: &'life1 InstanceId,
    ) -> BoxFuture<'async_trait, sortie_provider::Result<()>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.terminate(id)
    }

    fn list_by_tag<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        key: &'life1 str,
        value: &'life2 str,
    ) -> BoxFuture<'async_trait, sortie_provider::Result<Vec<InstanceInfo>>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.list_by_tag(key, value)
    }

    fn drain_interruptions<'life0, 'async_trait>(
        &'life0 self,
    ) -> BoxFuture<'async_trait, Vec<InterruptionEvent>>
    where
        'life0: 'async_trait,
        Self: 'async_trait,
    {
        self.inner.drain_interruptions()
    }
}
