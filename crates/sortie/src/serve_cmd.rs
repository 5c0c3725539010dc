//! `sortie serve`: load the configuration, open (and migrate) the store, serve webhooks until
//! SIGTERM or ctrl-c, then stop gracefully.

use crate::UsageError;
use anyhow::{Context, Result};
use clap::Args;
use sortie_server::config::{self, Settings};
use sortie_server::{Options, Overrides};
use std::path::PathBuf;

/// Arguments of `sortie serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file (TOML); see docs/configuration.md. Without one, the defaults and the
    /// SORTIE_* environment variables apply.
    #[arg(long, env = "SORTIE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Address and port to listen on (overrides `listen` and SORTIE_LISTEN).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Database URL (overrides `database_url` and SORTIE_DATABASE_URL).
    #[arg(long = "database", value_name = "URL")]
    pub database_url: Option<String>,
}

/// Loads the layered configuration; an invalid one is a usage error (exit code 2).
pub fn load_settings(config: Option<&std::path::Path>, overrides: &Overrides) -> Result<Settings> {
    config::load(config, overrides).map_err(|e| UsageError(e.to_string()).into())
}

/// Logs to stderr, `info` unless RUST_LOG says otherwise. Never logs bodies or secrets.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs `sortie serve`.
pub fn run(args: &ServeArgs) -> Result<()> {
    let overrides = Overrides {
        listen: args.listen.clone(),
        database_url: args.database_url.clone(),
    };
    let settings = load_settings(args.config.as_deref(), &overrides)?;
    init_logging();
    // The first log line says where the server listens and which database it uses, and whether
    // that is just the defaults.
    tracing::info!("{}", settings.summary());
    for (route, configured, variable) in [
        (
            "POST /webhooks/github",
            settings.github.webhook_secret.is_some(),
            "SORTIE_GITHUB_WEBHOOK_SECRET",
        ),
        (
            "POST /webhooks/gitea and POST /webhook",
            settings.gitea.webhook_secret.is_some(),
            "SORTIE_GITEA_WEBHOOK_SECRET",
        ),
    ] {
        if !configured {
            tracing::warn!(
                "{route} refuses every delivery until a webhook secret is set ({variable})"
            );
        }
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(settings))
}

async fn serve(settings: Settings) -> Result<()> {
    let store = sortie_store::open(&settings.database_url).await?;
    let listener = tokio::net::TcpListener::bind(settings.listen).await.with_context(|| {
        format!("cannot listen on {}: is another process using that port? Choose another with --listen or SORTIE_LISTEN", settings.listen)
    })?;
    let addr = listener
        .local_addr()
        .context("cannot read the listening address")?;
    tracing::info!("listening on http://{addr}");
    let mut options = Options::default();
    let fleet = sortie_server::fleet::build(
        &settings,
        store.clone(),
        sortie_server::fleet::BuildOptions {
            replica: options.replica.clone(),
            default_local_command: default_local_command(),
            listen: addr,
        },
    )
    .await
    .map_err(|e| UsageError(e.to_string()))?;
    log_fleet(&fleet);
    options.fleet = Some(std::sync::Arc::new(fleet));
    sortie_server::run(
        &settings,
        store,
        listener,
        options,
        sortie_server::shutdown::os_signal(),
    )
    .await
    .context("the HTTP server failed")
}

/// The local provider's runner when `[local] command` is unset: this very binary as the agent,
/// which powers nothing off (it is a process on this host, not a machine).
pub fn default_local_command() -> Vec<String> {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "sortie".into());
    vec![
        exe,
        "agent".into(),
        "--no-poweroff".into(),
        "--url".into(),
        "{url}".into(),
    ]
}

/// One line per forge and provider the dispatcher will use, and a warning when none can mint
/// runner credentials.
pub fn log_fleet(fleet: &sortie_server::fleet::Fleet) {
    for (flavor, handle) in &fleet.forges {
        tracing::info!(forge = %flavor, mode = ?handle.mode, scope = ?handle.scope, "forge connection ready");
    }
    if fleet.forges.is_empty() {
        tracing::warn!("no forge API is configured ([github] app_id/private_key or token, [gitea] url/token): jobs are planned but wait for a runner credential");
    }
    let providers: Vec<&str> = fleet.providers.keys().map(String::as_str).collect();
    tracing::info!(providers = %providers.join(", "), public_url = %fleet.public_url, owner = %fleet.owner, "dispatcher ready");
}
