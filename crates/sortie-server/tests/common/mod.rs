//! The test harness, in rust-lang/bors' shape: the real axum app and background tasks on a real
//! store (an SQLite file in a temp dir, or a fresh PostgreSQL database from sortie-testkit), a
//! real HTTP client, log capture, and polling with a deadline instead of sleeps.

#![allow(dead_code)]

use sortie_core::forge::Flavor;
use sortie_server::config::Settings;
use sortie_server::fleet::Fleet;
use sortie_server::signature::sign_hex;
use sortie_server::{Options, Overrides, RunningServer};
use sortie_store::{Delivery, DeliveryId, Store, StoredDelivery};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::subscriber::DefaultGuard;

pub const GITHUB_SECRET: &str = "It's a Secret to Everybody";
pub const GITEA_SECRET: &str = "gitea secret";

/// Log lines written while the test ran (the test runs on one thread, so the thread-local
/// subscriber sees the server's tasks too).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// The log lines containing every fragment.
    pub fn lines_with(&self, fragments: &[&str]) -> Vec<String> {
        self.text()
            .lines()
            .filter(|l| fragments.iter().all(|f| l.contains(f)))
            .map(str::to_string)
            .collect()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

pub struct TestApp {
    pub server: Option<RunningServer>,
    pub store: Arc<dyn Store>,
    pub logs: Logs,
    pub client: reqwest::Client,
    pub url: String,
    _guard: DefaultGuard,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<sortie_testkit::postgres::TestDatabase>,
}

pub enum Db {
    Sqlite,
    Postgres,
}

/// Settings with both secrets set, a free port, and `db`.
pub fn settings(database_url: &str) -> Settings {
    let env = |name: &str| match name {
        "SORTIE_GITHUB_WEBHOOK_SECRET" => Some(GITHUB_SECRET.to_string()),
        "SORTIE_GITEA_WEBHOOK_SECRET" => Some(GITEA_SECRET.to_string()),
        _ => None,
    };
    let flags = Overrides {
        listen: Some("127.0.0.1:0".into()),
        database_url: Some(database_url.into()),
    };
    Settings::from_layers(None, env, &flags).expect("test settings are valid")
}

/// Starts the real app on `db`; `tweak` may change the settings and options first.
pub async fn spawn_app_with(db: Db, tweak: impl FnOnce(&mut Settings, &mut Options)) -> TestApp {
    spawn_app_full(db, tweak, None).await
}

/// Builds the server's [`Fleet`] from the app's store.
pub type FleetBuilder = Box<dyn FnOnce(Arc<dyn Store>) -> Fleet>;

/// Starts the real app on `db` with the [`Fleet`] that `fleet` builds from the app's store
/// (given to the server as `Options::fleet`); `tweak` as in [`spawn_app_with`].
pub async fn spawn_app_with_fleet(
    db: Db,
    fleet: impl FnOnce(Arc<dyn Store>) -> Fleet + 'static,
    tweak: impl FnOnce(&mut Settings, &mut Options),
) -> TestApp {
    spawn_app_full(db, tweak, Some(Box::new(fleet))).await
}

async fn spawn_app_full(
    db: Db,
    tweak: impl FnOnce(&mut Settings, &mut Options),
    fleet: Option<FleetBuilder>,
) -> TestApp {
    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::DEBUG)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let (dir, pg, url) = match db {
        Db::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("sortie.db").display());
            (Some(dir), None, url)
        }
        Db::Postgres => {
            let pg = sortie_testkit::postgres::TestDatabase::create()
                .await
                .expect("PostgreSQL for tests");
            let url = pg.url().to_string();
            (None, Some(pg), url)
        }
    };
    let mut s = settings(&url);
    let mut options = Options {
        replica: "test-replica".into(),
        ..Options::default()
    };
    tweak(&mut s, &mut options);
    let store = sortie_store::open(&s.database_url)
        .await
        .expect("store opens");
    if let Some(build) = fleet {
        options.fleet = Some(Arc::new(build(store.clone())));
    }
    let server = RunningServer::start(&s, store.clone(), options)
        .await
        .expect("server starts");
    let url = server.url();
    TestApp {
        server: Some(server),
        store,
        logs,
        client: reqwest::Client::new(),
        url,
        _guard: guard,
        _dir: dir,
        _pg: pg,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(Db::Sqlite, |_, _| {}).await
}

/// Headers of a GitHub delivery signed with [`GITHUB_SECRET`].
pub fn github_headers(id: &str, event: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("x-github-delivery", id.to_string()),
        ("x-github-event", event.to_string()),
        (
            "x-hub-signature-256",
            format!("sha256={}", sign_hex(GITHUB_SECRET.as_bytes(), body)),
        ),
        ("content-type", "application/json".to_string()),
    ]
}

/// Headers of a Gitea delivery signed with [`GITEA_SECRET`] (`X-Gitea-Signature`: bare hex).
pub fn gitea_headers(id: &str, event: &str, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("x-gitea-delivery", id.to_string()),
        ("x-gitea-event", event.to_string()),
        ("x-gitea-signature", sign_hex(GITEA_SECRET.as_bytes(), body)),
        ("content-type", "application/json".to_string()),
    ]
}

impl TestApp {
    /// POSTs `body` to `path` with `headers`; returns the status and the JSON answer.
    pub async fn post(
        &self,
        path: &str,
        headers: &[(&'static str, String)],
        body: Vec<u8>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.client.post(format!("{}{path}", self.url)).body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        )
    }

    pub async fn get(&self, path: &str) -> u16 {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("request sent")
            .status()
            .as_u16()
    }

    pub async fn delivery(&self, forge: Flavor, id: &str) -> Option<StoredDelivery> {
        self.store
            .get_delivery(forge, &DeliveryId(id.into()))
            .await
            .unwrap()
    }

    pub async fn all_deliveries(&self) -> Vec<StoredDelivery> {
        self.store.list_recent_deliveries(10_000).await.unwrap()
    }

    /// Waits until the delivery is processed and returns its outcome.
    pub async fn processed_outcome(&self, forge: Flavor, id: &str) -> String {
        let store = self.store.clone();
        let id = id.to_string();
        sortie_testkit::eventually("delivery processed", Duration::from_secs(10), || {
            let (store, id) = (store.clone(), id.clone());
            async move {
                store
                    .get_delivery(forge, &DeliveryId(id))
                    .await
                    .unwrap()
                    .and_then(|d| d.status.outcome)
            }
        })
        .await
    }

    /// Stops gracefully, checking that the server did not die earlier.
    pub async fn stop(mut self) {
        let server = self.server.take().unwrap();
        assert!(
            !server.is_finished(),
            "the server task ended before the test stopped it"
        );
        server.stop().await.expect("graceful stop");
    }
}

/// A stored delivery for tests that write to the store directly.
pub fn raw_delivery(forge: Flavor, id: &str, event: &str, body: &[u8]) -> Delivery {
    Delivery {
        id: DeliveryId(id.into()),
        forge,
        event: event.into(),
        headers: Default::default(),
        body: body.to_vec(),
        received_at: sortie_store::Timestamp::from_millis(1),
    }
}
