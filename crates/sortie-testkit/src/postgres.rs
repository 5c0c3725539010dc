//! A fresh PostgreSQL database for each test, dropped afterwards.
//!
//! The server is `postgres://postgres@127.0.0.1:5432/test` (trust authentication) unless the
//! environment variable `SORTIE_TEST_POSTGRES_URL` names another; the database in that URL is only
//! used to connect and run `CREATE DATABASE` / `DROP DATABASE`. Each [`TestDatabase`] gets a
//! unique name (`sortie_test_<pid>_<n>_<nanos>`), so tests run in parallel without seeing each
//! other's rows, and is dropped with `WITH (FORCE)` (PostgreSQL 13+) when the value is dropped,
//! even if the test's pools still hold connections.

use sqlx::{Connection, Executor, PgConnection};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where tests find PostgreSQL when `SORTIE_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// The environment variable naming the server to use.
pub const URL_VAR: &str = "SORTIE_TEST_POSTGRES_URL";

/// Why a test database could not be made.
#[derive(Debug, thiserror::Error)]
pub enum PostgresTestError {
    /// The server did not answer or refused the connection.
    #[error(
        "cannot reach PostgreSQL at {url}: {source} — start it (`pg_ctlcluster 15 main start`, or \
         .ci/run does it) or point {URL_VAR} at a server where this user may CREATE DATABASE"
    )]
    Connect {
        /// The admin URL tried.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
    /// `CREATE DATABASE` failed.
    #[error("cannot create test database {name} on {url}: {source} — the user needs CREATEDB")]
    Create {
        /// The database name.
        name: String,
        /// The admin URL.
        url: String,
        /// The driver's error.
        #[source]
        source: sqlx::Error,
    },
}

/// One freshly created, empty database. Dropping the value drops the database.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    url: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// The admin URL: `SORTIE_TEST_POSTGRES_URL`, or [`DEFAULT_URL`].
pub fn admin_url() -> String {
    std::env::var(URL_VAR)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_string())
}

/// `url` with its database (the path) replaced by `name`; the query string is kept.
pub fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    let authority = before_query
        .split_once('/')
        .map_or(before_query, |(a, _)| a);
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

impl TestDatabase {
    /// Creates a new empty database on the test server.
    pub async fn create() -> Result<TestDatabase, PostgresTestError> {
        let admin_url = admin_url();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let name = format!("sortie_test_{}_{n}_{nanos}", std::process::id());
        let mut conn = PgConnection::connect(&admin_url).await.map_err(|source| {
            PostgresTestError::Connect {
                url: admin_url.clone(),
                source,
            }
        })?;
        // The name is ours (digits and underscores): safe to splice.
        conn.execute(format!("CREATE DATABASE \"{name}\"").as_str())
            .await
            .map_err(|source| PostgresTestError::Create {
                name: name.clone(),
                url: admin_url.clone(),
                source,
            })?;
        let _ = conn.close().await;
        let url = with_database(&admin_url, &name);
        Ok(TestDatabase {
            admin_url,
            name,
            url,
        })
    }

    /// The URL of this database.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The database name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for TestDatabase {
    /// Drops the database from a separate thread with its own runtime: `Drop` cannot await, and
    /// the test's runtime may be shutting down.
    fn drop(&mut self) {
        let admin_url = self.admin_url.clone();
        let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name);
        let worker = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(mut conn) = PgConnection::connect(&admin_url).await {
                    if let Err(e) = conn.execute(sql.as_str()).await {
                        eprintln!("sortie-testkit: could not drop a test database: {e}");
                    }
                    let _ = conn.close().await;
                }
            });
        });
        let _ = worker.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_is_replaced_and_options_kept() {
        let rows = [
            (
                "postgres://postgres@127.0.0.1:5432/test",
                "postgres://postgres@127.0.0.1:5432/x",
            ),
            (
                "postgres://u:p@h/test?sslmode=disable",
                "postgres://u:p@h/x?sslmode=disable",
            ),
            ("postgres://u@h", "postgres://u@h/x"),
            (
                "postgres://u@h?application_name=t",
                "postgres://u@h/x?application_name=t",
            ),
        ];
        for (input, want) in rows {
            assert_eq!(with_database(input, "x"), want, "{input}");
        }
    }
}
