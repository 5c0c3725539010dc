use super::jobs::due;
use super::*;
use sortie_forge::{QueuedJob, RepoRef};

const NOW: OffsetDateTime = time::macros::datetime!(2030-01-01 12:00:00 UTC);

fn listed(status: &str, queued_secs_ago: Option<u64>) -> QueuedJob {
    QueuedJob {
        repo: RepoRef::new("acme", "app"),
        job_id: 8,
        run_id: 7,
        run_attempt: 1,
        name: "build".into(),
        labels: vec!["self-hosted".into()],
        status: status.into(),
        created_at: queued_secs_ago.map(|s| NOW - Duration::from_secs(s)),
    }
}

#[test]
fn only_queued_jobs_past_the_grace_are_recovered() {
    let grace = Duration::from_secs(30);
    assert!(due(&listed("queued", Some(31)), grace, NOW));
    assert!(due(&listed("queued", Some(30)), grace, NOW));
    assert!(
        !due(&listed("queued", Some(5)), grace, NOW),
        "its webhook may be on its way"
    );
    assert!(
        due(&listed("queued", None), grace, NOW),
        "no time given: recovered"
    );
    assert!(
        !due(&listed("waiting", Some(600)), grace, NOW),
        "waiting for an approval"
    );
}

#[test]
fn the_summary_reads_well() {
    let mut r = ReconcileReport {
        held_lease: true,
        repos: vec!["acme/app".into()],
        ..ReconcileReport::default()
    };
    r.redelivered.push(Redelivered {
        delivery_id: 1,
        guid: "g".into(),
        event: "workflow_job.queued".into(),
    });
    assert_eq!(
        r.summary(),
        "1 repositories listed, 0 jobs recovered, 0 closed, 1 deliveries redelivered, 0 errors"
    );
    r.stopped = Some("shutting down".into());
    assert!(r.to_string().ends_with("; stopped: shutting down"));
}
