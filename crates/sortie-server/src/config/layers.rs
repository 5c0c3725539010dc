//! Merging the layers: defaults → file → environment → flags, then checking every value.

use super::connections::{
    ConnectionFiles, DeadlinesFile, DispatchFile, Ec2File, ForgeApiFile, LocalFile,
};
use super::{
    ConfigError, ForgeSettings, Origin, Secret, Settings, DEFAULT_DATABASE_URL, DEFAULT_LISTEN,
    DEFAULT_MAX_BODY_BYTES, DEFAULT_PROVIDER,
};
use serde::Deserialize;
use sortie_core::labels::RoutingConfig;
use std::net::SocketAddr;
use std::path::Path;

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    /// `--listen ADDR`.
    pub listen: Option<String>,
    /// `--database URL`.
    pub database_url: Option<String>,
}

/// The configuration file as written. Unknown keys are refused: a typo must not silently leave a
/// route open or a secret unset.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileLayer {
    listen: Option<String>,
    database_url: Option<String>,
    github: Option<ForgeApiFile>,
    gitea: Option<ForgeApiFile>,
    admin_token: Option<String>,
    provider: Option<String>,
    max_body_bytes: Option<u64>,
    routing: Option<toml::Table>,
    public_url: Option<String>,
    owner: Option<String>,
    dispatch: Option<DispatchFile>,
    deadlines: Option<std::collections::BTreeMap<String, DeadlinesFile>>,
    local: Option<LocalFile>,
    ec2: Option<Ec2File>,
}

/// Reads the file (when given) and the process environment, then merges them with `overrides`.
pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Settings, ConfigError> {
    let file = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            Some((path.to_path_buf(), text))
        }
        None => None,
    };
    let file_ref = file.as_ref().map(|(p, t)| (p.as_path(), t.as_str()));
    Settings::from_layers(file_ref, |name| std::env::var(name).ok(), overrides)
}

/// One value and where it came from.
struct Layered {
    value: Option<String>,
    origin: Origin,
}

impl Layered {
    fn new(default: Option<&str>) -> Layered {
        Layered {
            value: default.map(str::to_string),
            origin: Origin::Default,
        }
    }

    fn set(&mut self, value: Option<String>, origin: Origin) {
        if let Some(v) = value {
            self.value = Some(v);
            self.origin = origin;
        }
    }
}

/// Every setting as text, with origins, before checking.
struct Raw {
    listen: Layered,
    database_url: Layered,
    github_secret: Layered,
    gitea_secret: Layered,
    admin_token: Layered,
    provider: Layered,
    max_body_bytes: Layered,
    routing: toml::Table,
    connections: ConnectionFiles,
    sources: Vec<Origin>,
}

impl Raw {
    fn defaults() -> Raw {
        Raw {
            listen: Layered::new(Some(DEFAULT_LISTEN)),
            database_url: Layered::new(Some(DEFAULT_DATABASE_URL)),
            github_secret: Layered::new(None),
            gitea_secret: Layered::new(None),
            admin_token: Layered::new(None),
            provider: Layered::new(Some(DEFAULT_PROVIDER)),
            max_body_bytes: Layered::new(None),
            routing: toml::Table::new(),
            connections: ConnectionFiles::default(),
            sources: vec![Origin::Default],
        }
    }

    fn apply_file(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let parse_err = |message: String| ConfigError::Parse {
            path: path.to_path_buf(),
            message,
        };
        let file: FileLayer = toml::from_str(text).map_err(|e| parse_err(e.to_string()))?;
        let o = Origin::File(path.to_path_buf());
        self.listen.set(file.listen, o.clone());
        self.database_url.set(file.database_url, o.clone());
        let mut github = file.github;
        let mut gitea = file.gitea;
        self.github_secret.set(
            github.as_mut().and_then(|g| g.webhook_secret.take()),
            o.clone(),
        );
        self.gitea_secret.set(
            gitea.as_mut().and_then(|g| g.webhook_secret.take()),
            o.clone(),
        );
        self.connections = ConnectionFiles {
            public_url: file.public_url,
            owner: file.owner,
            github,
            gitea,
            dispatch: file.dispatch,
            deadlines: file.deadlines,
            local: file.local,
            ec2: file.ec2,
            origin: Some(o.clone()),
        };
        self.admin_token.set(file.admin_token, o.clone());
        self.provider.set(file.provider, o.clone());
        self.max_body_bytes
            .set(file.max_body_bytes.map(|n| n.to_string()), o.clone());
        if let Some(routing) = file.routing {
            self.routing = routing;
        }
        self.sources.push(o);
        Ok(())
    }

    fn apply_env(&mut self, env: &dyn Fn(&str) -> Option<String>) {
        let take = |slot: &mut Layered, name: &'static str, sources: &mut Vec<Origin>| {
            if let Some(v) = env(name) {
                slot.set(Some(v), Origin::Env(name));
                sources.push(Origin::Env(name));
            }
        };
        let s = &mut self.sources;
        take(&mut self.listen, "SORTIE_LISTEN", s);
        take(&mut self.database_url, "SORTIE_DATABASE_URL", s);
        take(&mut self.github_secret, "SORTIE_GITHUB_WEBHOOK_SECRET", s);
        take(&mut self.gitea_secret, "SORTIE_GITEA_WEBHOOK_SECRET", s);
        take(&mut self.admin_token, "SORTIE_ADMIN_TOKEN", s);
        take(&mut self.provider, "SORTIE_PROVIDER", s);
        take(&mut self.max_body_bytes, "SORTIE_MAX_BODY_BYTES", s);
    }

    fn apply_flags(&mut self, flags: &Overrides) {
        if flags.listen.is_some() {
            self.listen
                .set(flags.listen.clone(), Origin::Flag("--listen"));
            self.sources.push(Origin::Flag("--listen"));
        }
        if flags.database_url.is_some() {
            self.database_url
                .set(flags.database_url.clone(), Origin::Flag("--database"));
            self.sources.push(Origin::Flag("--database"));
        }
    }
}

impl Settings {
    /// Merges the layers and checks every value. Pure: `file` is `(path, contents)`, `env` looks
    /// a variable up. Empty environment variables count as set (and are then refused where a
    /// value is required), so `SORTIE_GITHUB_WEBHOOK_SECRET=` cannot silently mean "no secret".
    pub fn from_layers(
        file: Option<(&Path, &str)>,
        env: impl Fn(&str) -> Option<String>,
        flags: &Overrides,
    ) -> Result<Settings, ConfigError> {
        let mut raw = Raw::defaults();
        // The seed dispatcher's variables, merged beneath the file (the lowest layer).
        let seeded = super::seed::beneath_file(file, &env);
        if let Some((path, text)) = seeded
            .as_ref()
            .map(|(p, t)| (p.as_path(), t.as_str()))
            .or(file)
        {
            raw.apply_file(path, text)?;
        }
        raw.apply_env(&env);
        raw.apply_flags(flags);
        let files = std::mem::take(&mut raw.connections);
        let connections = files.check(&env, &mut raw.sources)?;
        let mut settings = raw.check()?;
        settings.connections = connections;
        Ok(settings)
    }
}

impl Raw {
    fn check(self) -> Result<Settings, ConfigError> {
        let provider = check_provider(&self.provider)?;
        let routing = check_routing(&self.routing, &provider, &self.sources)?;
        Ok(Settings {
            listen: check_listen(&self.listen)?,
            database_url: check_database_url(&self.database_url)?,
            github: ForgeSettings {
                webhook_secret: check_secret("github.webhook_secret", &self.github_secret)?,
            },
            gitea: ForgeSettings {
                webhook_secret: check_secret("gitea.webhook_secret", &self.gitea_secret)?,
            },
            admin_token: check_secret("admin_token", &self.admin_token)?,
            provider,
            max_body_bytes: check_max_body(&self.max_body_bytes)?,
            routing,
            routing_table: self.routing,
            connections: Default::default(),
            sources: dedup(self.sources),
        })
    }
}

fn dedup(sources: Vec<Origin>) -> Vec<Origin> {
    let mut out: Vec<Origin> = Vec::new();
    for s in sources {
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

fn invalid(key: &'static str, l: &Layered, message: String) -> ConfigError {
    ConfigError::Invalid {
        key,
        origin: l.origin.clone(),
        message,
    }
}

fn check_listen(l: &Layered) -> Result<SocketAddr, ConfigError> {
    let text = l.value.as_deref().unwrap_or(DEFAULT_LISTEN);
    text.trim().parse().map_err(|_| {
        invalid(
            "listen",
            l,
            format!("{text:?} is not an IP address and port; write e.g. 127.0.0.1:8080 (this host only) or 0.0.0.0:8080 (all interfaces)"),
        )
    })
}

/// The schemes the store understands. `dynamodb://` belongs to the Lambda mode.
const DATABASE_SCHEMES: [&str; 4] = ["sqlite", "postgres", "postgresql", "dynamodb"];

fn check_database_url(l: &Layered) -> Result<String, ConfigError> {
    let text = l
        .value
        .clone()
        .unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
    let scheme = text.split_once("://").map(|(s, _)| s);
    match scheme {
        Some(s) if DATABASE_SCHEMES.contains(&s) => Ok(text),
        _ => Err(invalid(
            "database_url",
            l,
            format!(
                "{:?} is not a database URL sortie knows; write sqlite://./sortie.db (embedded) or postgres://USER@HOST/DB",
                sortie_store::redact_url(&text)
            ),
        )),
    }
}

fn check_secret(key: &'static str, l: &Layered) -> Result<Option<Secret>, ConfigError> {
    match &l.value {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Err(invalid(
            key,
            l,
            "the value is empty, which anyone could sign with; set the same secret as in the forge's webhook settings, or remove the setting".into(),
        )),
        Some(v) => Ok(Some(Secret::new(v.clone()))),
    }
}

/// Providers sortie has or plans (DESIGN.md: `local`, `ec2`, `kubernetes`; `k8s` as in labels).
const PROVIDERS: [&str; 4] = ["local", "ec2", "kubernetes", "k8s"];

fn check_provider(l: &Layered) -> Result<String, ConfigError> {
    let text = l.value.clone().unwrap_or_else(|| DEFAULT_PROVIDER.into());
    if PROVIDERS.contains(&text.as_str()) {
        Ok(text)
    } else {
        Err(invalid(
            "provider",
            l,
            format!(
                "{text:?} is not a provider; use one of {}",
                PROVIDERS.join(", ")
            ),
        ))
    }
}

fn check_max_body(l: &Layered) -> Result<usize, ConfigError> {
    let Some(text) = &l.value else {
        return Ok(DEFAULT_MAX_BODY_BYTES);
    };
    match text.trim().parse::<usize>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(invalid(
            "max_body_bytes",
            l,
            format!("{text:?} is not a positive number of bytes; the default is {DEFAULT_MAX_BODY_BYTES} (25 MiB, GitHub's payload cap)"),
        )),
    }
}

/// `[routing]` is `sortie_core::labels::RoutingConfig`. When it does not name a default
/// provider, the top-level `provider` setting is the default.
fn check_routing(
    table: &toml::Table,
    provider: &str,
    sources: &[Origin],
) -> Result<RoutingConfig, ConfigError> {
    let origin = sources
        .iter()
        .find(|o| matches!(o, Origin::File(_)))
        .cloned()
        .unwrap_or(Origin::Default);
    let mut routing: RoutingConfig =
        toml::Value::Table(table.clone())
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Invalid {
                key: "routing",
                origin,
                message: e.message().to_string(),
            })?;
    if !table.contains_key("default_provider") {
        routing.default_provider = provider.to_string();
    }
    Ok(routing)
}
