//! The one typed configuration of `sortie serve`, layered like zero2prod's `configuration.rs`:
//! defaults → TOML file → environment (`SORTIE_*`) → command-line flags, each later layer winning.
//!
//! Loading is split in two so the rules stay testable: [`load`] reads the file and the process
//! environment; [`Settings::from_layers`] is pure and does all the merging and checking. Every
//! error names the setting, where its value came from, and what a valid value looks like.
//! The reference for operators is `docs/configuration.md`; keep the two in step.

mod connections;
mod layers;
mod render;
pub mod seed;

pub use connections::{
    Connections, Ec2Settings, GiteaApi, GithubApi, GithubExtraApp, LocalSettings,
};
pub use layers::{load, Overrides};

use sortie_core::labels::RoutingConfig;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

/// Default listen address: loopback only, so a fresh install is not reachable from outside.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default database: an SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://./sortie.db";
/// Default provider: processes on this host.
pub const DEFAULT_PROVIDER: &str = "local";
/// Default body limit: 25 MiB. GitHub caps webhook payloads at 25 MB ("Webhook events and
/// payloads", docs.github.com: "Payloads are capped at 25 MB").
pub const DEFAULT_MAX_BODY_BYTES: usize = 25 * 1024 * 1024;

pub use sortie_core::secret::Secret;

/// Settings of one forge family's webhook route.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ForgeSettings {
    /// The HMAC-SHA256 key the forge signs deliveries with. `None`: the route refuses everything.
    pub webhook_secret: Option<Secret>,
}

/// Where a setting's value came from, for messages ("listen (from SORTIE_LISTEN) …").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// The configuration file.
    File(PathBuf),
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("the default"),
            Origin::File(path) => write!(f, "the file {}", path.display()),
            Origin::Env(name) => write!(f, "the environment variable {name}"),
            Origin::Flag(name) => write!(f, "the flag {name}"),
        }
    }
}

/// The effective configuration of `sortie serve`. Its `Debug` redacts secrets and the database
/// password.
#[derive(Clone, PartialEq)]
pub struct Settings {
    /// Address and port the HTTP server listens on.
    pub listen: SocketAddr,
    /// The store: `sqlite://PATH` or `postgres://…`.
    pub database_url: String,
    /// GitHub's webhook route (`POST /webhooks/github`).
    pub github: ForgeSettings,
    /// Gitea's and Forgejo's webhook routes (`POST /webhooks/gitea`, `POST /webhook`).
    pub gitea: ForgeSettings,
    /// Bearer token of the admin API; `None` keeps it closed.
    pub admin_token: Option<Secret>,
    /// The provider machines come from (`local`, `ec2`, `kubernetes`).
    pub provider: String,
    /// Largest webhook body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Label routing (`[routing]`), shared with `sortie plan`.
    pub routing: RoutingConfig,
    /// The `[routing]` table as written, for printing (`RoutingConfig` is not `Serialize`).
    routing_table: toml::Table,
    /// Forge APIs, public URL, owner, dispatch limits, providers.
    pub connections: Connections,
    /// Where each layer came from, for the first log line and `sortie config check`.
    sources: Vec<Origin>,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("listen", &self.listen)
            .field(
                "database_url",
                &sortie_store::redact_url(&self.database_url),
            )
            .field("github", &self.github)
            .field("gitea", &self.gitea)
            .field("admin_token", &self.admin_token)
            .field("provider", &self.provider)
            .field("max_body_bytes", &self.max_body_bytes)
            .field("routing", &self.routing)
            .field("connections", &self.connections)
            .field("sources", &self.sources)
            .finish()
    }
}

impl Settings {
    /// Every layer that contributed at least one value, lowest first (`Default` always first).
    pub fn sources(&self) -> &[Origin] {
        &self.sources
    }

    /// True when nothing but defaults was used (no file, no `SORTIE_*` variable, no flag).
    pub fn is_all_defaults(&self) -> bool {
        self.sources.iter().all(|o| *o == Origin::Default)
    }

    /// One sentence for the first log line of `sortie serve`.
    pub fn summary(&self) -> String {
        let db = sortie_store::redact_url(&self.database_url);
        if self.is_all_defaults() {
            format!(
                "no configuration given (no --config, no SORTIE_* variables): using the defaults, \
                 listening on {} with the database {db}",
                self.listen
            )
        } else {
            let from: Vec<String> = self.sources.iter().map(Origin::to_string).collect();
            format!(
                "listening on {} with the database {db} (configuration from {})",
                self.listen,
                from.join(", ")
            )
        }
    }
}

/// A configuration that cannot be used. The message names the setting, where its value came
/// from, and what would be valid.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `--config` / `SORTIE_CONFIG` could not be read.
    #[error("cannot read the configuration file {path}: {source} — check the path given with --config or SORTIE_CONFIG")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML, or has a key sortie does not know.
    #[error("the configuration file {path} is not valid: {message} — see docs/configuration.md for every key")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The TOML parser's message (with line and column).
        message: String,
    },
    /// A value is out of range or malformed.
    #[error("invalid setting {key} (from {origin}): {message}")]
    Invalid {
        /// The TOML key, e.g. `listen` or `github.webhook_secret`.
        key: &'static str,
        /// Where the bad value came from.
        origin: Origin,
        /// What is wrong and what would be valid.
        message: String,
    },
}

#[cfg(test)]
mod tests;
