//! Opening a store from a URL: choosing the backend, building the pools, running migrations.

use super::{Dialect, SqlStore};
use crate::clock::{Clock, SystemClock};
use crate::error::{redact_url, StoreError};
use sqlx::any::AnyPoolOptions;
use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};
use sqlx::{AnyPool, Executor};
use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The storage backends a database URL can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// `sqlite://PATH` (or `sqlite::memory:`): one file next to sortie, the embedded default.
    Sqlite,
    /// `postgres://…` or `postgresql://…`: shared by several sortie replicas.
    Postgres,
    /// `dynamodb://TABLE`: one DynamoDB table (the Lambda mode). Only with the `dynamodb` feature.
    DynamoDb,
}

/// Which backend `url` names. Pure: looks only at the scheme. Any other scheme (and
/// `dynamodb://` in a build without the `dynamodb` feature) is [`StoreError::UnsupportedScheme`].
pub fn backend_of(url: &str) -> Result<Backend, StoreError> {
    let Some((scheme, _)) = url.split_once(':') else {
        return Err(StoreError::InvalidUrl {
            url: redact_url(url),
            reason: "no scheme (such as sqlite:// or postgres://)".into(),
        });
    };
    match scheme.to_ascii_lowercase().as_str() {
        "sqlite" => Ok(Backend::Sqlite),
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        #[cfg(feature = "dynamodb")]
        "dynamodb" => Ok(Backend::DynamoDb),
        "" => Err(StoreError::InvalidUrl {
            url: redact_url(url),
            reason: "empty scheme".into(),
        }),
        other => Err(StoreError::UnsupportedScheme {
            url: redact_url(url),
            scheme: other.to_string(),
        }),
    }
}

/// The SQLite URL with `mode=rwc` added (create the file if absent) unless a mode is given.
fn sqlite_url_creating(url: &str) -> String {
    let has_mode = url
        .split_once('?')
        .is_some_and(|(_, q)| q.split('&').any(|kv| kv.starts_with("mode=")));
    let in_memory = url.contains(":memory:");
    match (has_mode || in_memory, url.contains('?')) {
        (true, _) => url.to_string(),
        (false, true) => format!("{url}&mode=rwc"),
        (false, false) => format!("{url}?mode=rwc"),
    }
}

fn is_sqlite_memory(url: &str) -> bool {
    url.contains(":memory:") || url.contains("mode=memory")
}

/// How to open a store. `OpenOptions::default()` is what [`crate::open`] uses.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Where times come from.
    pub clock: Arc<dyn Clock>,
    /// How long to keep trying to reach the database (at open, and for a connection later)
    /// before giving up with an error. A database that is still starting gets this long.
    pub connect_timeout: Duration,
    /// PostgreSQL connections per replica (SQLite always uses one writer and a few readers).
    pub max_connections: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            clock: Arc::new(SystemClock),
            connect_timeout: Duration::from_secs(30),
            max_connections: 10,
        }
    }
}

/// Opens the store at `url` and brings its schema up to date.
pub(crate) async fn open(url: &str, options: &OpenOptions) -> Result<SqlStore, StoreError> {
    sqlx::any::install_default_drivers();
    let redacted = redact_url(url);
    let store = match backend_of(url)? {
        Backend::Sqlite => open_sqlite(url, redacted, options).await?,
        Backend::Postgres => open_postgres(url, redacted, options).await?,
        // Not an SQL database: `crate::open_with` sends these URLs to the DynamoDB backend.
        Backend::DynamoDb => {
            return Err(StoreError::UnsupportedScheme {
                url: redacted,
                scheme: "dynamodb".into(),
            })
        }
    };
    migrate(&store).await?;
    Ok(store)
}

const SQLITE_HINT: &str = "check that the directory exists and this user can write to it";
const POSTGRES_HINT: &str =
    "check the server is running and reachable, and the user, password, database and sslmode in the URL";

/// Per-connection settings. `synchronous=FULL`: in WAL mode NORMAL may lose the last commits on
/// power loss, and a delivery we acknowledged (202) must survive that (invariant 1). Group commit
/// of concurrent webhooks keeps FULL fast.
fn sqlite_pool_options(max: u32, timeout: Duration) -> AnyPoolOptions {
    AnyPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(timeout)
        .after_connect(|conn, _meta| {
            Box::pin(async move {
                conn.execute("PRAGMA busy_timeout = 10000").await?;
                conn.execute("PRAGMA journal_mode = WAL").await?;
                conn.execute("PRAGMA synchronous = FULL").await?;
                conn.execute("PRAGMA foreign_keys = ON").await?;
                Ok(())
            })
        })
}

async fn open_sqlite(
    url: &str,
    redacted: String,
    options: &OpenOptions,
) -> Result<SqlStore, StoreError> {
    let full = sqlite_url_creating(url);
    let open_err = |source| StoreError::Open {
        url: redacted.clone(),
        hint: SQLITE_HINT,
        source,
    };
    let timeout = options.connect_timeout;
    let (writer, reader) = if is_sqlite_memory(url) {
        // Every connection to `:memory:` is its own database: keep exactly one, forever.
        let pool = sqlite_pool_options(1, timeout)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect(&full)
            .await
            .map_err(open_err)?;
        (pool.clone(), pool)
    } else {
        let writer = sqlite_pool_options(1, timeout)
            .connect(&full)
            .await
            .map_err(open_err)?;
        let reader = sqlite_pool_options(4, timeout)
            .connect_lazy(&full)
            .map_err(open_err)?;
        (writer, reader)
    };
    Ok(SqlStore {
        dialect: Dialect::Sqlite,
        writer,
        reader,
        clock: options.clock.clone(),
        url: redacted,
    })
}

async fn open_postgres(
    url: &str,
    redacted: String,
    options: &OpenOptions,
) -> Result<SqlStore, StoreError> {
    let pool: AnyPool = AnyPoolOptions::new()
        .max_connections(options.max_connections.max(1))
        .acquire_timeout(options.connect_timeout)
        .connect(url)
        .await
        .map_err(|source| StoreError::Open {
            url: redacted.clone(),
            hint: POSTGRES_HINT,
            source,
        })?;
    Ok(SqlStore {
        dialect: Dialect::Postgres,
        reader: pool.clone(),
        writer: pool,
        clock: options.clock.clone(),
        url: redacted,
    })
}

/// `(version, description, SQL)` of every migration, oldest first, compiled into the binary.
const SQLITE_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/sqlite/0001_initial.sql"),
    ),
    (
        2,
        "unprocessed_order",
        include_str!("../../migrations/sqlite/0002_unprocessed_order.sql"),
    ),
    (
        3,
        "agent_sessions",
        include_str!("../../migrations/sqlite/0003_agent_sessions.sql"),
    ),
];
const POSTGRES_MIGRATIONS: &[(i64, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "unprocessed_order",
        include_str!("../../migrations/postgres/0002_unprocessed_order.sql"),
    ),
    (
        3,
        "agent_sessions",
        include_str!("../../migrations/postgres/0003_agent_sessions.sql"),
    ),
];

fn migrations(dialect: Dialect) -> &'static [(i64, &'static str, &'static str)] {
    match dialect {
        Dialect::Sqlite => SQLITE_MIGRATIONS,
        Dialect::Postgres => POSTGRES_MIGRATIONS,
    }
}

/// The migrations compiled into this build for one dialect, as an sqlx migration source.
#[derive(Debug)]
struct Embedded(Dialect);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send>> {
        let list = migrations(self.0)
            .iter()
            .map(|(version, desc, sql)| {
                Migration::new(
                    *version,
                    Cow::Borrowed(*desc),
                    MigrationType::Simple,
                    Cow::Borrowed(*sql),
                    false,
                )
            })
            .collect();
        Box::pin(std::future::ready(Ok(list)))
    }
}

/// Applies pending migrations. sqlx records applied versions (with checksums) in
/// `_sqlx_migrations` and, on PostgreSQL, holds an advisory lock meanwhile, so replicas starting
/// together migrate once.
pub(crate) async fn migrate(store: &SqlStore) -> Result<(), StoreError> {
    let fail = |source| StoreError::Migrate {
        url: store.url.clone(),
        source,
    };
    let migrator = Migrator::new(Embedded(store.dialect)).await.map_err(fail)?;
    migrator.run(&store.writer).await.map_err(fail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backends_by_scheme() {
        assert_eq!(backend_of("sqlite://./sortie.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("sqlite::memory:").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("postgres://u@h/db").unwrap(), Backend::Postgres);
        assert_eq!(
            backend_of("PostgreSQL://u@h/db").unwrap(),
            Backend::Postgres
        );
        #[cfg(feature = "dynamodb")]
        assert_eq!(backend_of("dynamodb://table").unwrap(), Backend::DynamoDb);
        #[cfg(not(feature = "dynamodb"))]
        {
            let err = backend_of("dynamodb://table").unwrap_err();
            assert!(
                matches!(&err, StoreError::UnsupportedScheme { scheme, .. } if scheme == "dynamodb"),
                "{err}"
            );
        }
        let err = backend_of("mysql://root@h/x").unwrap_err();
        assert!(
            matches!(&err, StoreError::UnsupportedScheme { scheme, .. } if scheme == "mysql"),
            "{err}"
        );
        assert!(matches!(
            backend_of("./sortie.db"),
            Err(StoreError::InvalidUrl { .. })
        ));
        assert!(matches!(
            backend_of(":x"),
            Err(StoreError::InvalidUrl { .. })
        ));
    }

    #[test]
    fn sqlite_files_are_created_unless_a_mode_is_given() {
        let rows = [
            ("sqlite://./sortie.db", "sqlite://./sortie.db?mode=rwc"),
            (
                "sqlite:///var/lib/s.db?cache=private",
                "sqlite:///var/lib/s.db?cache=private&mode=rwc",
            ),
            ("sqlite://./s.db?mode=ro", "sqlite://./s.db?mode=ro"),
            ("sqlite::memory:", "sqlite::memory:"),
        ];
        for (input, want) in rows {
            assert_eq!(sqlite_url_creating(input), want, "{input}");
        }
    }

    /// Every file in `migrations/<backend>/` is compiled in, in order, and both backends have
    /// the same versions (a forgotten `include_str!` would leave a database behind).
    #[test]
    fn every_migration_file_is_compiled_in() {
        for (dir, list) in [
            ("sqlite", SQLITE_MIGRATIONS),
            ("postgres", POSTGRES_MIGRATIONS),
        ] {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(dir);
            let mut files: Vec<String> = std::fs::read_dir(&path)
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".sql"))
                .collect();
            files.sort();
            let named: Vec<String> = list
                .iter()
                .map(|(v, d, _)| format!("{v:04}_{d}.sql"))
                .collect();
            assert_eq!(files, named, "{dir}");
        }
        let versions = |l: &[(i64, &str, &str)]| l.iter().map(|m| m.0).collect::<Vec<_>>();
        assert_eq!(versions(SQLITE_MIGRATIONS), versions(POSTGRES_MIGRATIONS));
    }
}
