//! Counters, gauges and a histogram for `GET /metrics`, on the `prometheus-client` crate (the
//! Prometheus project's Rust client), exposed in the OpenMetrics text format, which Prometheus
//! scrapes natively (`application/openmetrics-text; version=1.0.0`).
//!
//! One [`Metrics`] per process, shared as `Arc<Metrics>`; every loop records into it through
//! cheap `&self` methods. `sortie_jobs{state}` is not recorded: [`metrics`] computes it from the
//! store at scrape time, so every replica reports the same shared truth.

use crate::app::AppState;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use sortie_core::job::JobState;
use sortie_store::{JobFilter, Store, StoreError};

/// The content type of the exposition ([`prometheus_client::encoding::text`] writes
/// OpenMetrics 1.0 text).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Per state, `sortie_jobs` counts at most this many jobs (it lists them; see [`Metrics::observe_jobs`]).
pub const JOB_COUNT_CAP: u32 = 10_000;

/// Upper bounds of `sortie_launch_seconds`: a local process starts in well under a second, an EC2
/// instance in tens of seconds, a slow spot fleet request in minutes.
const LAUNCH_BUCKETS: [f64; 12] = [
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0,
];

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ForgeLabel {
    forge: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct WebhookLabels {
    forge: String,
    outcome: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct ProviderLabel {
    provider: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct LaunchLabels {
    provider: String,
    outcome: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct KindLabel {
    kind: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

type LaunchHistograms = Family<ProviderLabel, Histogram, fn() -> Histogram>;

fn launch_histogram() -> Histogram {
    Histogram::new(LAUNCH_BUCKETS)
}

/// The process's metrics. Cloned handles of every series live in the registry, so recording is a
/// hash lookup and an atomic add.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    webhooks: Family<WebhookLabels, Counter>,
    jobs_created: Family<ForgeLabel, Counter>,
    launch_seconds: LaunchHistograms,
    launches: Family<LaunchLabels, Counter>,
    steals: Counter,
    sweep_actions: Family<KindLabel, Counter>,
    rate_limit_remaining: Family<ForgeLabel, Gauge>,
    reconcile_recovered: Family<ForgeLabel, Counter>,
    reconcile_actions: Family<KindLabel, Counter>,
    jobs: Family<StateLabel, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let webhooks = Family::default();
        registry.register(
            "sortie_webhook_deliveries",
            "Webhook deliveries by forge and outcome (stored, duplicate, refused)",
            webhooks.clone(),
        );
        let jobs_created = Family::default();
        registry.register(
            "sortie_jobs_created",
            "Jobs stored by the planner, by forge",
            jobs_created.clone(),
        );
        let launch_seconds =
            LaunchHistograms::new_with_constructor(launch_histogram as fn() -> Histogram);
        registry.register(
            "sortie_launch_seconds",
            "Time a provider took to launch a machine, by provider",
            launch_seconds.clone(),
        );
        let launches = Family::default();
        registry.register(
            "sortie_launches",
            "Launch attempts by provider and outcome",
            launches.clone(),
        );
        let steals = Counter::default();
        registry.register(
            "sortie_job_steals",
            "Runners that took a queued job other than the one they were launched for",
            steals.clone(),
        );
        let sweep_actions = Family::default();
        registry.register(
            "sortie_sweep_actions",
            "Actions taken by the sweep, by kind",
            sweep_actions.clone(),
        );
        let rate_limit_remaining = Family::default();
        registry.register(
            "sortie_forge_rate_limit_remaining",
            "API requests left in the forge's current rate-limit window",
            rate_limit_remaining.clone(),
        );
        let reconcile_recovered = Family::default();
        registry.register(
            "sortie_reconcile_recovered",
            "Jobs found by reconciling with the forge whose webhook never arrived, by forge",
            reconcile_recovered.clone(),
        );
        let reconcile_actions = Family::default();
        registry.register(
            "sortie_reconcile_actions",
            "Actions taken by the reconciler, by kind (recovered_job, redelivery)",
            reconcile_actions.clone(),
        );
        let jobs = Family::default();
        registry.register(
            "sortie_jobs",
            "Jobs in the store by state (computed at scrape time; capped at 10000 per state)",
            jobs.clone(),
        );
        Metrics {
            registry,
            webhooks,
            jobs_created,
            launch_seconds,
            launches,
            steals,
            sweep_actions,
            rate_limit_remaining,
            reconcile_recovered,
            reconcile_actions,
            jobs,
        }
    }
}

impl Metrics {
    /// A webhook delivery was answered; `outcome` is `stored`, `duplicate` or `refused`.
    pub fn webhook(&self, forge: &str, outcome: &str) {
        let labels = WebhookLabels {
            forge: forge.into(),
            outcome: outcome.into(),
        };
        self.webhooks.get_or_create(&labels).inc();
    }

    /// The planner stored a new job for `forge`.
    pub fn job_created(&self, forge: &str) {
        let labels = ForgeLabel {
            forge: forge.into(),
        };
        self.jobs_created.get_or_create(&labels).inc();
    }

    /// A launch on `provider` ended with `outcome` (e.g. `launched`, `failed`) after `seconds`.
    pub fn launch(&self, provider: &str, outcome: &str, seconds: f64) {
        let provider = provider.to_string();
        let labels = LaunchLabels {
            provider: provider.clone(),
            outcome: outcome.into(),
        };
        self.launches.get_or_create(&labels).inc();
        self.launch_seconds
            .get_or_create(&ProviderLabel { provider })
            .observe(seconds);
    }

    /// A runner took a job it was not launched for.
    pub fn steal(&self) {
        self.steals.inc();
    }

    /// The sweep did something of `kind` (e.g. `timeout`, `orphan`, `spent_registration`).
    pub fn sweep_action(&self, kind: &str) {
        let labels = KindLabel { kind: kind.into() };
        self.sweep_actions.get_or_create(&labels).inc();
    }

    /// The forge's API said `remaining` requests are left in the current window.
    pub fn set_forge_rate_limit_remaining(&self, forge: &str, remaining: i64) {
        let labels = ForgeLabel {
            forge: forge.into(),
        };
        self.rate_limit_remaining
            .get_or_create(&labels)
            .set(remaining);
    }

    /// The reconciler did something of `kind` (`recovered_job`, `redelivery`).
    pub fn reconcile_action(&self, kind: &str) {
        let labels = KindLabel { kind: kind.into() };
        self.reconcile_actions.get_or_create(&labels).inc();
    }

    /// Reconciling with `forge` found a job whose webhook was missed.
    pub fn reconcile_recovered(&self, forge: &str) {
        let labels = ForgeLabel {
            forge: forge.into(),
        };
        self.reconcile_recovered.get_or_create(&labels).inc();
    }

    /// Sets `sortie_jobs{state}` from the store.
    ///
    /// Follow-up: this lists up to [`JOB_COUNT_CAP`] jobs per state; a `count_jobs` store method
    /// (one `GROUP BY state` query) should replace it before stores grow large.
    pub async fn observe_jobs(&self, store: &dyn Store) -> Result<(), StoreError> {
        for state in JobState::ALL {
            let filter = JobFilter {
                state: Some(state),
                limit: JOB_COUNT_CAP,
            };
            let count = store.list_jobs(filter).await?.len();
            let labels = StateLabel {
                state: state.as_str().into(),
            };
            self.jobs
                .get_or_create(&labels)
                .set(i64::try_from(count).unwrap_or(i64::MAX));
        }
        Ok(())
    }

    /// The exposition text of every series (OpenMetrics, ending in `# EOF`).
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail; an encoding error would be a bug in a metric.
        if let Err(e) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::error!(error = %e, "metrics could not be encoded");
        }
        text
    }
}

/// `GET /metrics`: no authentication (counts only, no names or secrets). When the store does not
/// answer, the job gauges keep their last values and the scrape still succeeds.
pub async fn metrics(State(state): State<AppState>) -> Response {
    if let Err(e) = state.metrics.observe_jobs(state.store.as_ref()).await {
        tracing::warn!(error = %e, "sortie_jobs not refreshed: the store did not answer");
    }
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_recorder_shows_in_the_exposition() {
        let m = Metrics::default();
        m.webhook("github", "stored");
        m.webhook("github", "stored");
        m.webhook("gitea", "refused");
        m.job_created("github");
        m.launch("ec2", "launched", 12.0);
        m.steal();
        m.sweep_action("timeout");
        m.set_forge_rate_limit_remaining("github", 4999);
        m.reconcile_recovered("gitea");
        let text = m.render();
        for line in [
            "sortie_webhook_deliveries_total{forge=\"github\",outcome=\"stored\"} 2",
            "sortie_webhook_deliveries_total{forge=\"gitea\",outcome=\"refused\"} 1",
            "sortie_jobs_created_total{forge=\"github\"} 1",
            "sortie_launches_total{provider=\"ec2\",outcome=\"launched\"} 1",
            "sortie_launch_seconds_bucket{le=\"10.0\",provider=\"ec2\"} 0",
            "sortie_launch_seconds_bucket{le=\"20.0\",provider=\"ec2\"} 1",
            "sortie_launch_seconds_sum{provider=\"ec2\"} 12.0",
            "sortie_job_steals_total 1",
            "sortie_sweep_actions_total{kind=\"timeout\"} 1",
            "sortie_forge_rate_limit_remaining{forge=\"github\"} 4999",
            "sortie_reconcile_recovered_total{forge=\"gitea\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
