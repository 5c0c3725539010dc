use super::*;
use sortie_core::forge::Flavor;
use sortie_core::job::{JobEvent, JobKey};
use sortie_core::labels::route_job;
use sortie_core::route::{Route, RouteKind};
use sortie_store::{DeliveryId, NewJob};
use std::collections::BTreeMap;

// GitHub's documented `workflow_job` payloads (fixtures/README.md: @octokit/webhooks-examples).
const QUEUED: &[u8] = include_bytes!("../../../../fixtures/github/workflow_job.queued.json");
const IN_PROGRESS: &[u8] =
    include_bytes!("../../../../fixtures/github/workflow_job.in_progress.2.json");
const COMPLETED_FAILURE: &[u8] =
    include_bytes!("../../../../fixtures/github/workflow_job.completed.json");
const COMPLETED_SUCCESS: &[u8] =
    include_bytes!("../../../../fixtures/github/workflow_job.completed.2.json");
const WAITING: &[u8] = include_bytes!("../../../../fixtures/github/workflow_job.waiting.json");
const PUSH: &[u8] = include_bytes!("../../../../fixtures/github/push.branch-created.json");

fn delivery(event: &str, body: &[u8]) -> Delivery {
    Delivery {
        id: DeliveryId(format!("{event}-1")),
        forge: Flavor::Github,
        event: event.into(),
        headers: BTreeMap::new(),
        body: body.to_vec(),
        received_at: Timestamp::from_millis(1),
    }
}

fn decide_github(event: &str, body: &[u8]) -> Decision {
    decide(
        &delivery(event, body),
        &RoutingConfig::default(),
        &Catalog::builtin(),
    )
}

fn fixture_key() -> JobKey {
    // workflow_job.queued.json: Codertocat/Hello-World, run 2202229078 attempt 1, job 289782451.
    JobKey::WorkflowJob {
        forge: Flavor::Github,
        repo: "Codertocat/Hello-World".into(),
        run_id: 2202229078,
        run_attempt: 1,
        job_id: 289782451,
    }
}

#[test]
fn queued_creates_the_job_routed_by_its_labels() {
    let Decision::Job(d) = decide_github("workflow_job", QUEUED) else {
        panic!("not a job decision")
    };
    assert_eq!(d.job.key, fixture_key());
    assert_eq!(d.job.labels, vec!["ubuntu-latest".to_string()]);
    assert_eq!(d.job.delivery, Some(DeliveryId("workflow_job-1".into())));
    let expected = route_job(
        &d.job.labels,
        None,
        &RoutingConfig::default(),
        &Catalog::builtin(),
    );
    assert_eq!(d.job.route, expected.route);
    assert_eq!(d.settle.is_some(), !expected.route.is_served());
    assert_eq!(d.event, None);
}

#[test]
fn lifecycle_actions_become_job_events() {
    // (fixture, expected event)
    let rows: [(&[u8], JobEvent); 3] = [
        (IN_PROGRESS, JobEvent::Started),
        (COMPLETED_FAILURE, JobEvent::Fail),
        (COMPLETED_SUCCESS, JobEvent::Succeeded),
    ];
    for (body, want) in rows {
        let Decision::Job(d) = decide_github("workflow_job", body) else {
            panic!("not a job decision")
        };
        assert_eq!(d.job.key, fixture_key());
        assert_eq!(d.event.as_ref().map(|e| e.0), Some(want));
    }
}

#[test]
fn conclusions_map_to_events() {
    // GitHub "Webhook events and payloads", workflow_job.conclusion; Gitea uses the same words.
    let rows = [
        ("success", JobEvent::Succeeded),
        ("neutral", JobEvent::Succeeded),
        ("skipped", JobEvent::Succeeded),
        ("cancelled", JobEvent::Cancel),
        ("timed_out", JobEvent::TimeOut),
        ("failure", JobEvent::Fail),
        ("action_required", JobEvent::Fail),
    ];
    for (conclusion, want) in rows {
        let body = String::from_utf8_lossy(COMPLETED_SUCCESS).replace(
            "\"conclusion\": \"success\"",
            &format!("\"conclusion\": \"{conclusion}\""),
        );
        let Decision::Job(d) = decide_github("workflow_job", body.as_bytes()) else {
            panic!("not a job decision")
        };
        let (event, reason) = d.event.unwrap();
        assert_eq!(event, want, "{conclusion}");
        assert!(reason.contains(conclusion), "{reason}");
    }
}

#[test]
fn other_deliveries_are_kept_but_not_planned() {
    let rows: [(&str, &[u8], &str); 4] = [
        ("push", PUSH, "stored; not planned (event push)"),
        ("ping", b"{}", "stored; not planned (event ping)"),
        ("workflow_job", WAITING, "ignored: workflow_job waiting"),
        (
            "workflow_job",
            br#"{"action":"queued"}"#,
            "ignored: the workflow_job payload is not usable",
        ),
    ];
    for (event, body, want) in rows {
        match decide_github(event, body) {
            Decision::Nothing(outcome) => assert!(outcome.starts_with(want), "{outcome:?}"),
            other => panic!("{event}: {other:?}"),
        }
    }
}

async fn sqlite() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    let store = sortie_store::open(&url).await.unwrap();
    (dir, store)
}

fn job_decision(
    route: Route,
    settle: Option<(JobEvent, String)>,
    event: Option<(JobEvent, String)>,
) -> Decision {
    Decision::Job(Box::new(JobDecision {
        job: NewJob {
            key: fixture_key(),
            labels: vec!["x".into()],
            route,
            spec: None,
            delivery: None,
        },
        settle,
        event,
        runner: None,
    }))
}

#[tokio::test]
async fn apply_creates_then_follows_the_forge() {
    let (_dir, store) = sqlite().await;
    let served = || Route::provider("local", "test route");
    let out = apply(store.as_ref(), job_decision(served(), None, None))
        .await
        .unwrap();
    assert!(out.starts_with("created job"), "{out}");
    let again = apply(store.as_ref(), job_decision(served(), None, None))
        .await
        .unwrap();
    assert!(again.contains("already known, queued"), "{again}");
    let started = Some((JobEvent::Started, "runner took it".to_string()));
    let out = apply(
        store.as_ref(),
        job_decision(served(), None, started.clone()),
    )
    .await
    .unwrap();
    assert!(out.ends_with("now running: runner took it"), "{out}");
    let out = apply(store.as_ref(), job_decision(served(), None, started))
        .await
        .unwrap();
    assert!(out.ends_with("unchanged (repeated event)"), "{out}");
    let job = store.get_job_by_key(&fixture_key()).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::Running);
}

#[tokio::test]
async fn jobs_sortie_will_not_serve_leave_the_queue_with_their_reason() {
    // (route, settle event, final state, reason prefix)
    let rows = [
        (
            Route::unroutable("unknown label x"),
            JobEvent::Fail,
            JobState::Failed,
            "unroutable: unknown label x",
        ),
        (
            Route::skip("served by a standing runner"),
            JobEvent::Cancel,
            JobState::Cancelled,
            "skipped: served by a standing runner",
        ),
    ];
    for (route, event, state, reason) in rows {
        let (_dir, store) = sqlite().await;
        assert!(matches!(
            route.kind,
            RouteKind::Unroutable | RouteKind::Skip
        ));
        let settle = Some((event, reason.to_string()));
        let out = apply(
            store.as_ref(),
            job_decision(route.clone(), settle.clone(), None),
        )
        .await
        .unwrap();
        assert!(out.contains(reason), "{out}");
        let job = store.get_job_by_key(&fixture_key()).await.unwrap().unwrap();
        assert_eq!(job.state, state);
        let history = store.job_history(job.id).await.unwrap();
        assert!(history.iter().any(|h| h.reason == reason), "{history:?}");
        // A redelivery does not settle twice, and later forge events are absorbed.
        let out = apply(
            store.as_ref(),
            job_decision(route, settle, Some((JobEvent::Started, "late".into()))),
        )
        .await
        .unwrap();
        assert!(out.contains("event ignored"), "{out}");
    }
}
