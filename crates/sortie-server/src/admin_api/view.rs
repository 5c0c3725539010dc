//! What the admin API answers, as plain data: the store's records with timestamps as RFC 3339
//! text, and never a delivery's body or headers. `sortie jobs` deserialises the same types, so
//! the server and the CLI cannot drift apart.

use serde::{Deserialize, Serialize};
use sortie_core::forge::Flavor;
use sortie_core::job::{JobEvent, JobState};
use sortie_core::route::Route;
use sortie_store::{HistoryEntry, Instance, InstanceState, Job, Pool, StoredDelivery};

/// One job, with the reason for its current state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    /// Store id (`sortie jobs show ID`).
    pub id: i64,
    /// The forge identity as text, e.g. `github:octo/app:run/42/1/job/7`.
    pub key: String,
    /// `owner/name`.
    pub repo: String,
    /// The forge the job belongs to.
    pub forge: Flavor,
    /// The `runs-on` labels as the workflow wrote them.
    pub labels: Vec<String>,
    /// Current state.
    pub state: JobState,
    /// 1 for the first machine; each requeue adds one.
    pub attempt: u32,
    /// Where the labels lead, and why.
    pub route: Route,
    /// Why the job is in its state: the reason of its latest history entry (the route's reason
    /// when no history was recorded).
    pub reason: String,
    /// When the job was stored (RFC 3339).
    pub created_at: String,
    /// When its state last changed (RFC 3339).
    pub updated_at: String,
}

impl JobView {
    /// The view of `job`; `history` is its history, oldest first, as `Store::job_history` returns.
    pub fn new(job: &Job, history: &[HistoryEntry]) -> JobView {
        let reason = history
            .last()
            .map(|h| h.reason.clone())
            .unwrap_or_else(|| job.route.reason.clone());
        JobView {
            id: job.id.0,
            key: job.key.to_string(),
            repo: job.key.repo().to_string(),
            forge: job.key.forge(),
            labels: job.labels.clone(),
            state: job.state,
            attempt: job.attempt,
            route: job.route.clone(),
            reason,
            created_at: job.created_at.to_string(),
            updated_at: job.updated_at.to_string(),
        }
    }
}

/// One recorded state change of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryView {
    /// State before; `null` for the entry that records the job's creation.
    pub from: Option<JobState>,
    /// State after.
    pub to: JobState,
    /// The event; `null` for creation.
    pub event: Option<JobEvent>,
    /// Why, in words.
    pub reason: String,
    /// When (RFC 3339).
    pub at: String,
}

impl From<&HistoryEntry> for HistoryView {
    fn from(h: &HistoryEntry) -> Self {
        HistoryView {
            from: h.from,
            to: h.to,
            event: h.event,
            reason: h.reason.clone(),
            at: h.at.to_string(),
        }
    }
}

/// One machine a provider made for a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceView {
    /// Store id.
    pub id: i64,
    /// The job it serves.
    pub job: i64,
    /// Provider name (`local`, `ec2`, `k8s`).
    pub provider: String,
    /// The provider's id (`i-0abc…`, a pod name, a pid).
    pub provider_id: String,
    /// The job attempt it was launched for.
    pub attempt: u32,
    /// Last known state.
    pub state: InstanceState,
    /// When recorded (RFC 3339).
    pub created_at: String,
    /// When its state last changed (RFC 3339).
    pub updated_at: String,
}

impl From<&Instance> for InstanceView {
    fn from(i: &Instance) -> Self {
        InstanceView {
            id: i.id.0,
            job: i.job.0,
            provider: i.provider.clone(),
            provider_id: i.provider_id.clone(),
            attempt: i.attempt,
            state: i.state,
            created_at: i.created_at.to_string(),
            updated_at: i.updated_at.to_string(),
        }
    }
}

/// One webhook delivery as received and processed: never its body or headers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryView {
    /// Which forge sent it.
    pub forge: Flavor,
    /// The forge's delivery id.
    pub id: String,
    /// The event name, e.g. `workflow_job`.
    pub event: String,
    /// When sortie received it (RFC 3339).
    pub received_at: String,
    /// When it was processed (RFC 3339); absent while it waits for the planner.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processed_at: Option<String>,
    /// What processing did (e.g. `created job 12`); `null` while it waits.
    pub outcome: Option<String>,
}

impl From<&StoredDelivery> for DeliveryView {
    fn from(d: &StoredDelivery) -> Self {
        DeliveryView {
            forge: d.delivery.forge,
            id: d.delivery.id.0.clone(),
            event: d.delivery.event.clone(),
            received_at: d.status.received_at.to_string(),
            processed_at: d.status.processed_at.map(|t| t.to_string()),
            outcome: d.status.outcome.clone(),
        }
    }
}

/// `GET /api/v1/jobs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobsPage {
    /// Newest first.
    pub jobs: Vec<JobView>,
}

/// `GET /api/v1/jobs/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobDetail {
    /// The job.
    pub job: JobView,
    /// Every state change, oldest first.
    pub history: Vec<HistoryView>,
    /// Its machines, oldest first.
    pub instances: Vec<InstanceView>,
}

/// `GET /api/v1/instances`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancesPage {
    /// Oldest first.
    pub instances: Vec<InstanceView>,
}

/// `GET /api/v1/deliveries`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveriesPage {
    /// Newest first.
    pub deliveries: Vec<DeliveryView>,
}

/// `GET /api/v1/pools`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PoolsPage {
    /// By name.
    pub pools: Vec<Pool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use sortie_core::job::JobKey;
    use sortie_store::{JobId, Timestamp};

    fn job() -> Job {
        Job {
            id: JobId(7),
            key: JobKey::WorkflowJob {
                forge: Flavor::Github,
                repo: "octo/app".into(),
                run_id: 42,
                run_attempt: 1,
                job_id: 9,
            },
            labels: vec!["gpu".into()],
            route: Route::unroutable("unknown label \"gpu\""),
            spec: None,
            delivery: None,
            state: JobState::Failed,
            attempt: 1,
            claim: None,
            created_at: Timestamp::from_millis(1_714_564_800_250),
            updated_at: Timestamp::from_millis(1_714_564_801_000),
        }
    }

    fn entry(from: Option<JobState>, to: JobState, reason: &str) -> HistoryEntry {
        HistoryEntry {
            from,
            to,
            event: None,
            reason: reason.into(),
            at: Timestamp::from_millis(0),
        }
    }

    #[test]
    fn the_reason_is_the_latest_history_entrys() {
        let history = [
            entry(None, JobState::Queued, "queued by delivery d1"),
            entry(
                Some(JobState::Queued),
                JobState::Failed,
                "unroutable: unknown label \"gpu\"",
            ),
        ];
        let v = JobView::new(&job(), &history);
        assert_eq!(v.reason, "unroutable: unknown label \"gpu\"");
        assert_eq!(v.key, "github:octo/app:run/42/1/job/9");
        assert_eq!(v.repo, "octo/app");
        assert_eq!(v.created_at, "2024-05-01T12:00:00.250Z");
        let json = serde_json::to_value(&v).unwrap();
        assert_eq!(json["state"], "failed");
        assert_eq!(json["forge"], "github");
        assert_eq!(json["route"]["kind"], "unroutable");
    }

    #[test]
    fn without_history_the_route_says_why() {
        assert_eq!(
            JobView::new(&job(), &[]).reason,
            "unknown label \"gpu\"",
            "never an empty reason"
        );
    }
}
