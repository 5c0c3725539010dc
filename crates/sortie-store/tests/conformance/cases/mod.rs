//! The cases, by aggregate. Each takes a fresh [`Harness`](crate::Harness).

pub mod agents;
pub mod deliveries;
pub mod fleet;
pub mod jobs;
pub mod leases;
pub mod queue;
pub mod schema;

use sortie_core::forge::Flavor;
use sortie_core::job::JobKey;
use sortie_core::route::Route;
use sortie_store::{Delivery, DeliveryId, NewJob, Timestamp};
use std::collections::BTreeMap;

/// A GitHub `workflow_job` delivery with a body that is not valid UTF-8 (bytes must survive).
pub fn delivery(id: &str, at_ms: i64) -> Delivery {
    let mut headers = BTreeMap::new();
    headers.insert("x-github-event".to_string(), "workflow_job".to_string());
    headers.insert("x-github-delivery".to_string(), id.to_string());
    Delivery {
        id: DeliveryId(id.to_string()),
        forge: Flavor::Github,
        event: "workflow_job".into(),
        headers,
        body: [
            b"{\"action\":\"queued\",\"id\":\"".as_slice(),
            id.as_bytes(),
            b"\"}\xff\x00",
        ]
        .concat(),
        received_at: Timestamp::from_millis(at_ms),
    }
}

/// A job for `octo/app` run 42, job `n`, routed to the ec2 provider.
pub fn new_job(n: u64) -> NewJob {
    NewJob {
        key: JobKey::WorkflowJob {
            forge: Flavor::Github,
            repo: "octo/app".into(),
            run_id: 42,
            run_attempt: 1,
            job_id: n,
        },
        labels: vec!["sortie=cpu=2".into(), "linux".into()],
        route: Route::provider("ec2", "labels ask for sortie=cpu=2"),
        spec: Some(Default::default()),
        delivery: Some(DeliveryId(format!("d-{n}"))),
    }
}
