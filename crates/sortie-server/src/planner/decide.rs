//! What a stored delivery means for the job store: a pure function of the delivery, the routing
//! configuration and the catalogue. `super::apply` performs the decision.

use sortie_core::catalog::Catalog;
use sortie_core::event::WorkflowJob;
use sortie_core::job::{JobEvent, JobKey};
use sortie_core::labels::{route_job, RoutingConfig};
use sortie_core::route::{Route, RouteKind};
use sortie_store::{Delivery, NewJob};

/// The work one delivery asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Nothing to do for jobs; the text is the delivery's outcome.
    Nothing(String),
    /// A `workflow_job` delivery.
    Job(Box<JobDecision>),
}

/// Create the job if absent, settle it when its route serves no machine, then apply the event
/// the forge reported.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDecision {
    /// The job, as stored when it is new.
    pub job: NewJob,
    /// For a job sortie will not serve (skip or unroutable route): the terminal event and reason
    /// that take it out of the queue, applied while it is still queued.
    pub settle: Option<(JobEvent, String)>,
    /// The lifecycle event the forge reported (`in_progress`, `completed`), with its reason.
    pub event: Option<(JobEvent, String)>,
    /// The runner the forge reports the job in progress on (`in_progress`), for telling a
    /// stolen runner ([`crate::steal`]).
    pub runner: Option<String>,
}

impl JobDecision {
    /// The decision a `workflow_job` `queued` delivery for this job would make, built from the
    /// fields the forge lists instead of a payload, with no announcing delivery (the reconciler:
    /// the forge lists the job queued and its webhook never arrived).
    pub(crate) fn queued(
        key: JobKey,
        labels: Vec<String>,
        routing: &RoutingConfig,
        catalog: &Catalog,
    ) -> JobDecision {
        let decision = route_job(&labels, None, routing, catalog);
        let settle = settle_event(&decision.route);
        JobDecision {
            job: NewJob {
                key,
                labels,
                route: decision.route,
                spec: decision.spec,
                delivery: None,
            },
            settle,
            event: None,
            runner: None,
        }
    }
}

/// Decides what `delivery` asks for.
pub fn decide(delivery: &Delivery, routing: &RoutingConfig, catalog: &Catalog) -> Decision {
    if delivery.event != "workflow_job" {
        // `Planner::plan` sends pushes to push mode (`super::push`) before asking here; every
        // other event is kept only.
        return Decision::Nothing(format!("stored; not planned (event {})", delivery.event));
    }
    let wj = match WorkflowJob::parse(&delivery.body) {
        Ok(wj) => wj,
        Err(e) => return Decision::Nothing(format!("ignored: {e}")),
    };
    let event = match lifecycle_event(&wj) {
        Ok(event) => event,
        Err(outcome) => return Decision::Nothing(outcome),
    };
    let decision = route_job(&wj.labels, None, routing, catalog);
    let settle = settle_event(&decision.route);
    let runner = wj
        .runner_name
        .clone()
        .filter(|_| matches!(event, Some((JobEvent::Started, _))));
    Decision::Job(Box::new(JobDecision {
        job: NewJob {
            key: wj.key(delivery.forge),
            labels: wj.labels.clone(),
            route: decision.route,
            spec: decision.spec,
            delivery: Some(delivery.id.clone()),
        },
        settle,
        event,
        runner,
    }))
}

/// The job event for a `workflow_job` action. `queued` creates the job and applies nothing;
/// `waiting` (GitHub: waiting for an environment's approval) is not yet a job to serve.
/// Actions: GitHub "Webhook events and payloads", `workflow_job` (queued, waiting, in_progress,
/// completed); Gitea 1.24+ sends the same names (`services/actions/notifier.go`).
fn lifecycle_event(wj: &WorkflowJob) -> Result<Option<(JobEvent, String)>, String> {
    match wj.action.as_str() {
        "queued" => Ok(None),
        "in_progress" => {
            let runner = wj.runner_name.as_deref().unwrap_or("an unnamed runner");
            Ok(Some((
                JobEvent::Started,
                format!("the forge reports the job in progress on {runner}"),
            )))
        }
        "completed" => Ok(Some(completion(wj.conclusion.as_deref()))),
        "waiting" => Err(
            "ignored: workflow_job waiting (for approval); planned when the forge queues it".into(),
        ),
        other => Err(format!(
            "ignored: workflow_job action {other:?} is not one sortie acts on"
        )),
    }
}

/// The event for a `completed` job's conclusion. GitHub's conclusions ("Webhook events and
/// payloads", `workflow_job.conclusion`): success, failure, neutral, cancelled, skipped,
/// timed_out, action_required; Gitea uses success, failure, cancelled, skipped.
pub(crate) fn completion(conclusion: Option<&str>) -> (JobEvent, String) {
    let c = conclusion.unwrap_or("unknown");
    let event = match c {
        "success" | "neutral" | "skipped" => JobEvent::Succeeded,
        "cancelled" => JobEvent::Cancel,
        "timed_out" => JobEvent::TimeOut,
        _ => JobEvent::Fail,
    };
    (event, format!("the forge reports the job completed: {c}"))
}

/// A job no machine will be made for leaves the queue at once, with the route's reason.
/// sortie-core has no `skipped` state: a skipped job is recorded as cancelled, its reason saying
/// "skipped"; an unroutable one as failed. Push mode settles its jobs with the same words.
pub(super) fn settle_event(route: &Route) -> Option<(JobEvent, String)> {
    match route.kind {
        RouteKind::Provider | RouteKind::Pool => None,
        RouteKind::Skip => Some((JobEvent::Cancel, format!("skipped: {}", route.reason))),
        RouteKind::Unroutable => Some((JobEvent::Fail, format!("unroutable: {}", route.reason))),
    }
}
