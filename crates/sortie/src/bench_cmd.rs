//! `sortie bench ingest`: start the real server in this process on loopback, fire signed
//! `workflow_job` deliveries from many concurrent connections, print accepted/s and latency.
//! `sortie bench dispatch` (webhook accepted → launch call) is in `crate::bench_dispatch`,
//! `sortie bench reconcile` (lost webhooks and stolen runners) in `crate::bench_reconcile`.
//! Benchmarks print figures; nothing here asserts timing.

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use sortie_server::signature::sign_hex;
use sortie_server::{Options, Overrides, RunningServer, Settings};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// GitHub's documented `workflow_job` queued payload (fixtures/README.md); each request gets its
/// own job id so the planner creates a job per delivery, as in production.
pub(crate) const PAYLOAD: &[u8] =
    include_bytes!("../../../fixtures/github/workflow_job.queued.json");
pub(crate) const SECRET: &str = "sortie-bench-secret";

/// Arguments of `sortie bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(Debug, Subcommand)]
enum BenchCommand {
    /// Webhook ingest: signed deliveries → verified, stored (group commit) → 202.
    Ingest(IngestArgs),
    /// Dispatch end to end: webhook accepted → provider launch call issued (local provider).
    Dispatch(crate::bench_dispatch::DispatchArgs),
    /// Reconcile simulation: jobs with lost webhooks and stolen runners → time until each has a
    /// machine, machines per job.
    Reconcile(crate::bench_reconcile::ReconcileArgs),
}

#[derive(Debug, Args)]
struct IngestArgs {
    /// Database URL; default: a fresh SQLite file in a temporary directory.
    #[arg(long = "database", value_name = "URL")]
    database_url: Option<String>,
    /// Concurrent client connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Offered load in deliveries per second (open loop: each request is due at its slot and
    /// its latency counts from then, queueing included). 0: as fast as the server answers.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Deliveries to send.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Event to send: `workflow_job` (each creates a job: ingest and planning share the
    /// database) or `ping` (stored only: ingest alone).
    #[arg(long, value_enum, default_value_t = BenchEvent::WorkflowJob)]
    event: BenchEvent,
}

/// What `sortie bench ingest` sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BenchEvent {
    /// GitHub's documented `workflow_job` queued payload, one job id per delivery.
    WorkflowJob,
    /// A small `ping`, stored and marked not planned.
    Ping,
}

impl BenchEvent {
    fn name(self) -> &'static str {
        match self {
            BenchEvent::WorkflowJob => "workflow_job",
            BenchEvent::Ping => "ping",
        }
    }
}

/// Runs `sortie bench …`.
pub fn run(args: &BenchArgs) -> Result<()> {
    match &args.command {
        BenchCommand::Ingest(a) => {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(ingest(a))
        }
        BenchCommand::Dispatch(a) => crate::bench_dispatch::run(a),
        BenchCommand::Reconcile(a) => crate::bench_reconcile::run(a),
    }
}

async fn ingest(args: &IngestArgs) -> Result<()> {
    if args.connections == 0 || args.requests == 0 {
        bail!(crate::UsageError(
            "--connections and --requests must be at least 1".into()
        ));
    }
    let tmp = tempdir()?;
    let url = match &args.database_url {
        Some(url) => url.clone(),
        None => format!("sqlite://{}", tmp.join("bench.db").display()),
    };
    let settings = bench_settings(&url)?;
    let store = sortie_store::open(&url).await?;
    let server = RunningServer::start(&settings, store, Options::default())
        .await
        .context("cannot start the server")?;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    let bodies = Arc::new(prepare(args.requests, args.event, run, None)?);
    println!(
        "sortie bench ingest: {} {} deliveries, {} connections, {}, database {}",
        args.requests,
        args.event.name(),
        args.connections,
        if args.rate > 0.0 {
            format!("offered {}/s", args.rate)
        } else {
            "closed loop".to_string()
        },
        sortie_store::redact_url(&url)
    );
    let (sent, elapsed) = fire(&server.url(), bodies, args.connections, args.rate).await?;
    server.stop().await.context("stopping the server")?;
    Report::new(sent, elapsed).print();
    let _ = std::fs::remove_dir_all(&tmp);
    Ok(())
}

fn tempdir() -> Result<std::path::PathBuf> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("sortie-bench-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

fn bench_settings(url: &str) -> Result<Settings> {
    let env = |name: &str| (name == "SORTIE_GITHUB_WEBHOOK_SECRET").then(|| SECRET.to_string());
    let flags = Overrides {
        listen: Some("127.0.0.1:0".into()),
        database_url: Some(url.to_string()),
    };
    Ok(Settings::from_layers(None, env, &flags)?)
}

/// One request, ready to send: delivery id, body, signature header.
pub(crate) struct Prepared {
    id: String,
    event: &'static str,
    body: Vec<u8>,
    signature: String,
}

/// Bodies and signatures are made before the clock starts: signing is the forge's cost.
/// `workflow_job` delivery `i` is job id `i + 1` of workflow run `run`, with `labels` instead of
/// the fixture's when given.
pub(crate) fn prepare(
    n: usize,
    event: BenchEvent,
    run: u64,
    labels: Option<&[&str]>,
) -> Result<Vec<Prepared>> {
    let template: serde_json::Value =
        serde_json::from_slice(PAYLOAD).context("the bundled payload is JSON")?;
    (0..n)
        .map(|i| {
            let v = match event {
                BenchEvent::WorkflowJob => {
                    let mut v = template.clone();
                    v["workflow_job"]["id"] = serde_json::json!(i as u64 + 1);
                    v["workflow_job"]["run_id"] = serde_json::json!(run);
                    if let Some(labels) = labels {
                        v["workflow_job"]["labels"] = serde_json::json!(labels);
                    }
                    v
                }
                BenchEvent::Ping => {
                    serde_json::json!({"zen": "Keep it logically awesome.", "hook_id": i})
                }
            };
            let body = serde_json::to_vec(&v)?;
            let signature = format!("sha256={}", sign_hex(SECRET.as_bytes(), &body));
            Ok(Prepared {
                id: format!("bench-{run}-{i}"),
                event: event.name(),
                body,
                signature,
            })
        })
        .collect()
}

struct Report {
    accepted: usize,
    other: Vec<(u16, usize)>,
    errors: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// One request's outcome.
pub(crate) struct Sent {
    /// Index into the prepared requests.
    pub(crate) index: usize,
    /// HTTP status; `None` for a transport error.
    pub(crate) status: Option<u16>,
    /// From its slot (open loop) or its send (closed loop) to the answer.
    pub(crate) latency: Duration,
    /// When the answer arrived.
    pub(crate) answered: Instant,
}

/// Sends every request from `connections` connections, at `rate` per second (0: as fast as
/// the server answers); returns each outcome and the time it all took.
pub(crate) async fn fire(
    base: &str,
    bodies: Arc<Vec<Prepared>>,
    connections: usize,
    rate: f64,
) -> Result<(Vec<Sent>, Duration)> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .build()
        .context("cannot build the HTTP client")?;
    warm_up(&client, base, connections).await?;
    let next = Arc::new(AtomicUsize::new(0));
    let url = format!("{base}/webhooks/github");
    let start = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..connections {
        let (client, next, bodies, url) =
            (client.clone(), next.clone(), bodies.clone(), url.clone());
        workers.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = bodies.get(i) else { break };
                let t = match due(start, i, rate) {
                    Some(slot) => {
                        tokio::time::sleep_until(slot.into()).await;
                        slot
                    }
                    None => Instant::now(),
                };
                let status = client
                    .post(&url)
                    .header("x-github-delivery", &p.id)
                    .header("x-github-event", p.event)
                    .header("x-hub-signature-256", &p.signature)
                    .header("content-type", "application/json")
                    .body(p.body.clone())
                    .send()
                    .await
                    .map(|r| r.status().as_u16());
                let answered = Instant::now();
                seen.push(Sent {
                    index: i,
                    status: status.ok(),
                    latency: answered.saturating_duration_since(t),
                    answered,
                });
            }
            seen
        }));
    }
    let mut sent = Vec::with_capacity(bodies.len());
    for w in workers {
        sent.extend(w.await.context("a client task failed")?);
    }
    Ok((sent, start.elapsed()))
}

/// [`fire`], then when each request's 2xx arrived (by index; `None`: not accepted). Prints how
/// many were refused; fails when none was accepted.
pub(crate) async fn accepted_at(
    base: &str,
    bodies: Arc<Vec<Prepared>>,
    connections: usize,
    rate: f64,
) -> Result<Vec<Option<Instant>>> {
    let n = bodies.len();
    let (sent, _) = fire(base, bodies, connections, rate).await?;
    let mut accepted = vec![None; n];
    let (mut refused, mut first) = (0, None);
    for s in sent {
        match s.status {
            Some(code) if (200..300).contains(&code) => accepted[s.index] = Some(s.answered),
            other => {
                refused += 1;
                first.get_or_insert(other);
            }
        }
    }
    if let Some(first) = first {
        let first = first.map_or("a transport error".into(), |c| format!("HTTP {c}"));
        println!("not accepted: {refused} deliveries (first: {first}); they are left out");
    }
    if refused == n {
        bail!("the server accepted no delivery");
    }
    Ok(accepted)
}

/// The tokio runtime and the database of a bench that needs an empty one: `url` as given
/// (SQLite), a fresh SQLite file in `dir` (none given), or for a PostgreSQL URL a new database
/// on that server (`sortie_testkit::postgres::TestDatabase`, dropped with the value).
pub(crate) fn runtime_and_fresh_database(
    url: Option<&str>,
    dir: &std::path::Path,
) -> Result<(tokio::runtime::Runtime, BenchDatabase)> {
    let postgres = url.filter(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"));
    if let Some(server) = postgres {
        // TestDatabase reads the server from this variable: set before the runtime's threads.
        std::env::set_var(sortie_testkit::postgres::URL_VAR, server);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let db = match (postgres, url) {
        (Some(_), _) => BenchDatabase::Postgres(
            runtime
                .block_on(sortie_testkit::postgres::TestDatabase::create())
                .context("cannot create a fresh PostgreSQL database for the bench")?,
        ),
        (None, Some(url)) => BenchDatabase::Url(url.to_string()),
        (None, None) => BenchDatabase::Url(format!("sqlite://{}", dir.join("bench.db").display())),
    };
    Ok((runtime, db))
}

/// See [`runtime_and_fresh_database`].
pub(crate) enum BenchDatabase {
    /// Used as is.
    Url(String),
    /// Made for this run; dropped (`DROP DATABASE`) with the value.
    Postgres(sortie_testkit::postgres::TestDatabase),
}

impl BenchDatabase {
    pub(crate) fn url(&self) -> &str {
        match self {
            BenchDatabase::Url(u) => u,
            BenchDatabase::Postgres(db) => db.url(),
        }
    }
}

/// When request `i` is due at `rate` per second; `None` for "now" (closed loop).
fn due(start: Instant, i: usize, rate: f64) -> Option<Instant> {
    (rate > 0.0 && rate.is_finite()).then(|| start + Duration::from_secs_f64(i as f64 / rate))
}

/// Opens the connections before the clock starts (concurrent `GET /healthz`), so the figures
/// are the steady state, not TCP set-up.
async fn warm_up(client: &reqwest::Client, base: &str, connections: usize) -> Result<()> {
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let (client, url) = (client.clone(), format!("{base}/healthz"));
            tokio::spawn(async move { client.get(url).send().await.map(|r| r.status()) })
        })
        .collect();
    for t in tasks {
        let status = t
            .await
            .context("a warm-up task failed")?
            .context("warm-up request failed")?;
        if !status.is_success() {
            bail!("the server answered {status} to GET /healthz");
        }
    }
    Ok(())
}

/// The nearest-rank `p` percentile of `sorted` (zero when empty).
pub(crate) fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let n = sorted.len();
    if n == 0 {
        return Duration::ZERO;
    }
    sorted[((n as f64 * p).ceil() as usize).clamp(1, n) - 1]
}

impl Report {
    fn new(sent: Vec<Sent>, elapsed: Duration) -> Report {
        let mut report = Report {
            accepted: 0,
            other: Vec::new(),
            errors: 0,
            elapsed,
            latencies: Vec::with_capacity(sent.len()),
        };
        for s in sent {
            report.latencies.push(s.latency);
            match s.status {
                Some(202) => report.accepted += 1,
                Some(code) => match report.other.iter_mut().find(|(c, _)| *c == code) {
                    Some((_, n)) => *n += 1,
                    None => report.other.push((code, 1)),
                },
                None => report.errors += 1,
            }
        }
        report
    }

    fn print(mut self) {
        self.latencies.sort_unstable();
        let pct = |p: f64| percentile(&self.latencies, p);
        let secs = self.elapsed.as_secs_f64().max(f64::EPSILON);
        println!("accepted:   {} (202) in {:.2} s", self.accepted, secs);
        println!("accepted/s: {:.0}", self.accepted as f64 / secs);
        println!(
            "latency:    p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            ms(pct(0.50)),
            ms(pct(0.99)),
            ms(self.latencies.last().copied().unwrap_or_default())
        );
        for (code, n) in &self.other {
            println!("status {code}: {n}");
        }
        if self.errors > 0 {
            println!("transport errors: {}", self.errors);
        }
    }
}

pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
