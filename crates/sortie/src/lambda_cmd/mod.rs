//! `sortie lambda`: the same binary as an AWS Lambda function (`provided.al2023`, the executable
//! named `bootstrap`). Lambda starts it with no arguments and `AWS_LAMBDA_RUNTIME_API` set, so
//! `main` runs this command then too ([`auto_detected`]).
//!
//! Cold start (once per container): the layered configuration — including the seed dispatcher's
//! environment (`sortie_server::config::seed`) — the store, the forges and providers, the router.
//! Then every invocation goes to [`Handler::invoke`], which tells the events apart by shape
//! ([`events::classify`]): API Gateway / function URL requests through `sortie serve`'s router,
//! the seed's `{"action":"cleanup"}` and EventBridge schedules to one sweep, EventBridge EC2
//! events to the interruption handling. `deploy/aws/template.yaml` wires all of them.
//!
//! This module uses no `crate::` item, so the integration tests compile it as their own module
//! and call [`Handler`] in-process.

pub mod events;
pub mod handler;

pub use handler::Handler;

use anyhow::{Context, Result};
use clap::Args;
use serde_json::Value;
use sortie_server::config::{self, Overrides};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The variable Lambda sets for a custom runtime: the runtime API's `host:port`.
pub const RUNTIME_API: &str = "AWS_LAMBDA_RUNTIME_API";

/// What the Lambda runtime client needs besides [`RUNTIME_API`] (it panics without them).
const RUNTIME_VARIABLES: [&str; 3] = [
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
];

/// Arguments of `sortie lambda`.
#[derive(Debug, Clone, Default, Args)]
pub struct LambdaArgs {
    /// Configuration file (TOML), as for `sortie serve`. In Lambda, environment variables
    /// (`SORTIE_*`, or the seed dispatcher's) are the usual way.
    #[arg(long, env = "SORTIE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Handle the one event in FILE (JSON, as Lambda would deliver it), print the answer and
    /// exit, instead of serving the Lambda runtime API. For trying events locally.
    #[arg(long, value_name = "FILE")]
    pub event: Option<PathBuf>,
}

/// `Some` when Lambda started this binary: no arguments and [`RUNTIME_API`] set.
pub fn auto_detected() -> Option<LambdaArgs> {
    let bare = std::env::args_os().len() <= 1;
    (bare && std::env::var_os(RUNTIME_API).is_some()).then(|| LambdaArgs {
        config: std::env::var_os("SORTIE_CONFIG").map(PathBuf::from),
        event: None,
    })
}

/// Logs for CloudWatch: no colours, no timestamps (CloudWatch stamps every line), `info` unless
/// RUST_LOG says otherwise.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(false)
        .without_time()
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs `sortie lambda`.
pub fn run(args: &LambdaArgs) -> Result<()> {
    let started = Instant::now();
    init_logging();
    let settings = config::load(args.config.as_deref(), &Overrides::default())
        .context("the configuration is not usable")?;
    let env = |name: &str| std::env::var(name).ok();
    for notice in config::seed::notices(&env) {
        tracing::warn!("{notice}");
    }
    if settings.connections.public_url.is_none() {
        tracing::warn!("SORTIE_PUBLIC_URL is not set: machines cannot reach this function's agent routes; set it to the API's URL (the deployment template does)");
    }
    if args.event.is_none() {
        check_runtime_environment()?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let handler = Handler::cold_start(&settings)
            .await
            .context("cold start failed")?;
        tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            database = %sortie_store::redact_url(&settings.database_url),
            providers = %handler.fleet().providers.keys().cloned().collect::<Vec<_>>().join(", "),
            "sortie lambda ready"
        );
        match &args.event {
            Some(path) => run_once(&handler, path).await,
            None => serve_runtime(Arc::new(handler)).await,
        }
    })
}

/// The runtime client panics on a missing variable; say what is missing instead.
fn check_runtime_environment() -> Result<()> {
    let missing: Vec<&str> = std::iter::once(RUNTIME_API)
        .chain(RUNTIME_VARIABLES)
        .filter(|v| std::env::var_os(v).is_none())
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    anyhow::bail!(
        "sortie lambda serves the AWS Lambda runtime API, but {} {} not set: it runs inside \
         Lambda (provided.al2023, the binary named bootstrap). To try an event here, use \
         `sortie lambda --event FILE`",
        missing.join(", "),
        if missing.len() == 1 { "is" } else { "are" }
    )
}

async fn run_once(handler: &Handler, path: &std::path::Path) -> Result<()> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the event file {}", path.display()))?;
    let payload: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
    let answer = handler.invoke(payload, None).await?;
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

async fn serve_runtime(handler: Arc<Handler>) -> Result<()> {
    let service = lambda_runtime::service_fn(move |event: lambda_runtime::LambdaEvent<Value>| {
        let handler = handler.clone();
        async move {
            let deadline = instant_of(event.context.deadline);
            handler
                .invoke(event.payload, Some(deadline))
                .await
                .map_err(lambda_runtime::Error::from)
        }
    });
    lambda_runtime::run(service)
        .await
        .map_err(|e| anyhow::anyhow!("the Lambda runtime client stopped: {e}"))
}

/// The invocation's deadline (milliseconds since the epoch, from the runtime API) as an
/// `Instant`; a deadline already past is now.
fn instant_of(deadline_ms: u64) -> Instant {
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_ms.saturating_sub(now_ms))
}
