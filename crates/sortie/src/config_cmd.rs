//! `sortie config check`: print the effective configuration with secrets redacted, or say what
//! is wrong with it (exit code 2).

use crate::serve_cmd::load_settings;
use anyhow::Result;
use clap::{Args, Subcommand};
use sortie_server::Overrides;
use std::path::PathBuf;

/// Arguments of `sortie config`.
#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    command: ConfigCommand,
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Check the configuration (file → SORTIE_* environment) and print the effective settings,
    /// secrets redacted.
    Check {
        /// Configuration file (TOML).
        #[arg(long, env = "SORTIE_CONFIG", value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// Runs `sortie config …`.
pub fn run(args: &ConfigArgs) -> Result<()> {
    match &args.command {
        ConfigCommand::Check { config } => {
            let settings = load_settings(config.as_deref(), &Overrides::default())?;
            print!("{}", settings.to_redacted_toml());
            Ok(())
        }
    }
}
