//! `sortie bench ingest`: start the real server in this process on loopback, fire signed
//! `workflow_job` deliveries from many concurrent connections, print accepted/s and latency.
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
const PAYLOAD: &[u8] = include_bytes!("../../../fixtures/github/workflow_job.queued.json");
const SECRET: &str = "sortie-bench-secret";

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
enum BenchEvent {
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
    let bodies = Arc::new(prepare(args.requests, args.event)?);
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
    let report = fire(&server.url(), bodies, args.connections, args.rate).await?;
    server.stop().await.context("stopping the server")?;
    report.print();
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
struct Prepared {
    id: String,
    event: &'static str,
    body: Vec<u8>,
    signature: String,
}

/// Bodies and signatures are made before the clock starts: signing is the forge's cost.
fn prepare(n: usize, event: BenchEvent) -> Result<Vec<Prepared>> {
    let template: serde_json::Value =
        serde_json::from_slice(PAYLOAD).context("the bundled payload is JSON")?;
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    (0..n)
        .map(|i| {
            let v = match event {
                BenchEvent::WorkflowJob => {
                    let mut v = template.clone();
                    v["workflow_job"]["id"] = serde_json::json!(i as u64 + 1);
                    v["workflow_job"]["run_id"] = serde_json::json!(run as u64);
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

async fn fire(
    base: &str,
    bodies: Arc<Vec<Prepared>>,
    connections: usize,
    rate: f64,
) -> Result<Report> {
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
                seen.push((status.ok(), t.elapsed()));
            }
            seen
        }));
    }
    let mut report = Report {
        accepted: 0,
        other: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
        latencies: Vec::new(),
    };
    for w in workers {
        for (status, latency) in w.await.context("a client task failed")? {
            report.latencies.push(latency);
            match status {
                Some(202) => report.accepted += 1,
                Some(code) => match report.other.iter_mut().find(|(c, _)| *c == code) {
                    Some((_, n)) => *n += 1,
                    None => report.other.push((code, 1)),
                },
                None => report.errors += 1,
            }
        }
    }
    report.elapsed = start.elapsed();
    Ok(report)
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

impl Report {
    fn print(mut self) {
        self.latencies.sort_unstable();
        let pct = |p: f64| {
            let n = self.latencies.len();
            if n == 0 {
                return Duration::ZERO;
            }
            let i = ((n as f64 * p).ceil() as usize).clamp(1, n) - 1;
            self.latencies[i]
        };
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

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
