//! `sortie migrate`: bring the database up to this build's schema (idempotent).

use crate::serve_cmd::load_settings;
use anyhow::{Context, Result};
use clap::Args;
use sortie_server::Overrides;
use std::path::PathBuf;

/// Arguments of `sortie migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Database URL (overrides `database_url` and SORTIE_DATABASE_URL).
    #[arg(long = "database", value_name = "URL")]
    database_url: Option<String>,
    /// Configuration file whose `database_url` to use.
    #[arg(long, env = "SORTIE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

/// Runs `sortie migrate`.
pub fn run(args: &MigrateArgs) -> Result<()> {
    let overrides = Overrides {
        listen: None,
        database_url: args.database_url.clone(),
    };
    let settings = load_settings(args.config.as_deref(), &overrides)?;
    let url = settings.database_url.clone();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(sortie_store::migrate(&url))?;
    println!("database {} is up to date", sortie_store::redact_url(&url));
    Ok(())
}
