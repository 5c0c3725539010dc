//! The conformance suite: every case runs against SQLite (a temporary file), against a real
//! PostgreSQL (a fresh database per test from `sortie_testkit::postgres`) and, with the
//! `dynamodb` feature, against DynamoDB as moto serves it (a fresh table per test on the one moto
//! server of this test binary, `sortie_testkit::moto::MotoServer::shared`). A backend passes when
//! it behaves identically on every case. A new backend adds one line to `conformance!`'s
//! expansion.

mod cases;
#[cfg(feature = "dynamodb")]
use sortie_store::{ManualClock, Store, Timestamp};
use sortie_testkit::postgres::TestDatabase;
use std::sync::Arc;

/// A store under test, its clock, and what keeps its database alive.
pub struct Harness {
    /// The store.
    pub store: Arc<dyn Store>,
    /// Its clock; starts at 2023-11-14T22:13:20Z and moves only when told.
    pub clock: Arc<ManualClock>,
    /// The database URL (to reopen or migrate again).
    pub url: String,
    _pg: Option<TestDatabase>,
    _dir: Option<tempfile::TempDir>,
}

impl Harness {
    /// The clock's current time.
    pub fn clock_now(&self) -> Timestamp {
        use sortie_store::Clock;
        self.clock.now()
    }

    /// Opens another store on the same database and clock (a second replica).
    pub async fn reopen(&self) -> Arc<dyn Store> {
        sortie_store::open_with_clock(&self.url, self.clock.clone())
            .await
            .expect("reopen")
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(Timestamp::from_millis(1_700_000_000_000)))
}

async fn sqlite() -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}/sortie.db", dir.path().display());
    let clock = clock();
    let store = sortie_store::open_with_clock(&url, clock.clone())
        .await
        .expect("open sqlite");
    Harness {
        store,
        clock,
        url,
        _pg: None,
        _dir: Some(dir),
    }
}

async fn postgres() -> Harness {
    let db = TestDatabase::create()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let url = db.url().to_string();
    let clock = clock();
    let store = sortie_store::open_with_clock(&url, clock.clone())
        .await
        .expect("open postgres");
    Harness {
        store,
        clock,
        url,
        _pg: Some(db),
        _dir: None,
    }
}

/// A fresh table on the shared moto server. The store sends its requests one at a time
/// ([`serial`] says why); `url` names the same table for [`Harness::reopen`].
#[cfg(feature = "dynamodb")]
async fn dynamo(case: &str) -> Harness {
    use aws_smithy_runtime_api::client::http::SharedHttpClient;
    let moto = tokio::task::spawn_blocking(sortie_testkit::moto::MotoServer::shared)
        .await
        .expect("moto server");
    // Case names are unique in this binary and valid table names (snake_case).
    let table = format!("sortie-{case}");
    let url = format!(
        "dynamodb://testing:testing@{table}?endpoint={}&region=us-east-1",
        moto.endpoint()
    );
    // The testkit's fault injector with no faults is a plain pass-through HTTP client.
    let passthrough = SharedHttpClient::new(sortie_testkit::moto::FaultInjector::new());
    let http = sortie_testkit::moto::SerialClient::new(passthrough);
    let sdk = moto.sdk_config().await;
    // A request waiting its turn sends no bytes; the SDK's stalled-stream protection would call
    // that a stall after a few seconds on a busy machine.
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .http_client(http)
        .stalled_stream_protection(
            aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
        )
        .build();
    let clock = clock();
    let store = sortie_store::DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(config),
        table,
        clock.clone(),
    );
    store.migrate().await.expect("create the table");
    Harness {
        store: Arc::new(store),
        clock,
        url,
        _pg: None,
        _dir: None,
    }
}

/// Expands each `module::case` into one test per backend.
macro_rules! conformance {
    ($($module:ident :: $case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    crate::cases::$module::$case(crate::sqlite().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    crate::cases::$module::$case(crate::postgres().await).await;
                }
            )*
        }
        #[cfg(feature = "dynamodb")]
        mod dynamo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    crate::cases::$module::$case(crate::dynamo(stringify!($case)).await).await;
                }
            )*
        }
    };
}

conformance!(
    deliveries::duplicate_delivery_reports_original_outcome,
    deliveries::batch_reports_each_delivery_in_order,
    deliveries::large_batch_spans_statements,
    deliveries::unprocessed_and_recent_listings,
    jobs::create_if_absent_is_idempotent_under_concurrency,
    jobs::job_fields_round_trip,
    jobs::transitions_are_recorded_with_reasons,
    jobs::terminal_states_absorb_events,
    jobs::an_event_for_a_past_attempt_is_ignored,
    jobs::unknown_job_is_an_error,
    jobs::list_filters_by_state,
    jobs::create_then_applies_the_first_event,
    queue::eight_workers_claim_200_jobs_exactly_once,
    queue::expired_claim_is_reclaimed_by_another_worker,
    queue::live_claim_is_not_reclaimed,
    queue::oldest_queued_job_first,
    queue::requeue_bumps_attempt_and_frees_the_claim,
    queue::only_queued_jobs_are_claimed,
    fleet::instances_one_per_attempt,
    fleet::registrations,
    fleet::pools_crud,
    leases::named_lease_mutual_exclusion_and_expiry,
    leases::named_lease_has_one_winner_under_concurrency,
    schema::migrations_are_idempotent,
    agents::bootstrap_token_redeems_once_per_attempt,
    agents::bootstrap_redeem_has_one_winner_under_concurrency,
    agents::agent_phases_are_recorded,
    agents::stale_launching_jobs_are_reclaimed,
    agents::notes_keep_state_and_dedupe,
);
