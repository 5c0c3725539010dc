//! `POST /api/v1/events/ec2` end to end on SQLite: real app, real store, real HTTP.

mod common;

use common::*;
use sortie_core::forge::Flavor;
use sortie_core::job::{JobEvent, JobKey, JobState};
use sortie_core::route::Route;
use sortie_server::config::Secret;
use sortie_store::{InstanceState, Job, NewInstance, NewJob};

const TOKEN: &str = "admin-token-for-tests";
const PATH: &str = "/api/v1/events/ec2";

// The example from https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html
// with its placeholders (`yyyy-mm-ddThh:mm:ssZ`, `action`) filled in, as in
// sortie-provider's interruption tests.
const SPOT_DOC_EXAMPLE: &str = include_str!("../../../fixtures/aws/spot-interruption-warning.json");

// The example from https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-instance-state-changes.html
const STATE_DOC_EXAMPLE: &str = include_str!("../../../fixtures/aws/instance-state-change.json");

const DOC_INSTANCE: &str = "i-1234567890abcdef0";

async fn spawn_with_token() -> TestApp {
    spawn_app_with(Db::Sqlite, |s, _| s.admin_token = Some(Secret::new(TOKEN))).await
}

fn bearer(token: &str) -> Vec<(&'static str, String)> {
    vec![
        ("authorization", format!("Bearer {token}")),
        ("content-type", "application/json".to_string()),
    ]
}

/// A running job (attempt 1) whose machine is EC2 instance `provider_id`.
async fn running_job_on(app: &TestApp, provider_id: &str) -> Job {
    job_on(app, provider_id, &[JobEvent::Launch, JobEvent::Started]).await
}

/// A job moved through `events`, with an instance recorded for attempt 1.
async fn job_on(app: &TestApp, provider_id: &str, events: &[JobEvent]) -> Job {
    let created = app
        .store
        .create_job(&NewJob {
            key: JobKey::WorkflowJob {
                forge: Flavor::Github,
                repo: "octo/app".into(),
                run_id: 42,
                run_attempt: 1,
                job_id: 7,
            },
            labels: vec!["sortie=spot=true".into()],
            route: Route::provider("ec2", "labels ask for sortie=spot=true"),
            spec: Some(Default::default()),
            delivery: None,
        })
        .await
        .unwrap();
    let id = created.job().id;
    for event in events.iter().copied() {
        app.store
            .apply_event(id, event, "test setup")
            .await
            .unwrap();
    }
    app.store
        .record_instance(&NewInstance {
            job: id,
            provider: "ec2".into(),
            provider_id: provider_id.into(),
            attempt: 1,
            state: InstanceState::Running,
        })
        .await
        .unwrap();
    let job = app.store.get_job(id).await.unwrap().unwrap();
    assert_eq!(job.attempt, 1);
    job
}

async fn instance_state(app: &TestApp, provider_id: &str) -> InstanceState {
    app.store
        .find_instance("ec2", provider_id)
        .await
        .unwrap()
        .unwrap()
        .state
}

#[tokio::test]
async fn without_an_admin_token_the_route_is_closed() {
    let app = spawn_app().await;
    let (status, body) = app
        .post(PATH, &bearer(TOKEN), SPOT_DOC_EXAMPLE.into())
        .await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("SORTIE_ADMIN_TOKEN"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_or_missing_token_is_refused_and_changes_nothing() {
    let app = spawn_with_token().await;
    let job = running_job_on(&app, DOC_INSTANCE).await;
    let missing = vec![("content-type", "application/json".to_string())];
    for headers in [bearer("not-the-token"), bearer(""), missing] {
        let (status, body) = app.post(PATH, &headers, SPOT_DOC_EXAMPLE.into()).await;
        assert_eq!(status, 401, "{body}");
        assert!(!body.to_string().contains(TOKEN), "{body}");
    }
    let after = app.store.get_job(job.id).await.unwrap().unwrap();
    assert_eq!((after.state, after.attempt), (JobState::Running, 1));
    assert_eq!(
        instance_state(&app, DOC_INSTANCE).await,
        InstanceState::Running
    );
    app.stop().await;
}

#[tokio::test]
async fn a_spot_warning_requeues_the_running_job_once() {
    let app = spawn_with_token().await;
    let job = running_job_on(&app, DOC_INSTANCE).await;
    let reason = "spot interruption warning for i-1234567890abcdef0 (attempt 1); requeued";

    let (status, body) = app
        .post(PATH, &bearer(TOKEN), SPOT_DOC_EXAMPLE.into())
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["outcome"], reason);
    let after = app.store.get_job(job.id).await.unwrap().unwrap();
    assert_eq!((after.state, after.attempt), (JobState::Queued, 2));
    let history = app.store.job_history(job.id).await.unwrap();
    let last = history.last().unwrap();
    assert_eq!(
        (last.from, last.to, last.event),
        (
            Some(JobState::Running),
            JobState::Queued,
            Some(JobEvent::Requeue)
        )
    );
    assert_eq!(last.reason, reason);
    assert_eq!(
        instance_state(&app, DOC_INSTANCE).await,
        InstanceState::Terminated
    );

    // EventBridge delivers at least once, and EC2 follows the warning with state changes: neither
    // requeues the job again.
    let shutting_down = STATE_DOC_EXAMPLE.replace("\"pending\"", "\"shutting-down\"");
    for again in [SPOT_DOC_EXAMPLE.to_string(), shutting_down] {
        let (status, body) = app.post(PATH, &bearer(TOKEN), again.into()).await;
        assert_eq!(status, 202, "{body}");
        let outcome = body["outcome"].as_str().unwrap();
        assert!(outcome.contains("nothing to requeue"), "{outcome}");
    }
    let again = app.store.get_job(job.id).await.unwrap().unwrap();
    assert_eq!((again.state, again.attempt), (JobState::Queued, 2));
    assert_eq!(
        app.store.job_history(job.id).await.unwrap().len(),
        history.len()
    );

    // The job runs again on a new machine (attempt 2); a late copy of the first machine's
    // warning or termination must not take the new attempt down.
    for event in [JobEvent::Launch, JobEvent::Started] {
        app.store
            .apply_event(job.id, event, "relaunch")
            .await
            .unwrap();
    }
    let terminated = STATE_DOC_EXAMPLE.replace("\"pending\"", "\"terminated\"");
    for late in [SPOT_DOC_EXAMPLE.to_string(), terminated] {
        let (status, body) = app.post(PATH, &bearer(TOKEN), late.into()).await;
        assert_eq!(status, 202, "{body}");
        let outcome = body["outcome"].as_str().unwrap();
        assert!(outcome.contains("already on attempt 2"), "{outcome}");
    }
    let relaunched = app.store.get_job(job.id).await.unwrap().unwrap();
    assert_eq!(
        (relaunched.state, relaunched.attempt),
        (JobState::Running, 2)
    );
    app.stop().await;
}

#[tokio::test]
async fn a_state_change_to_shutting_down_requeues_a_launching_job() {
    let app = spawn_with_token().await;
    let job = job_on(&app, DOC_INSTANCE, &[JobEvent::Launch]).await;
    let shutting_down = STATE_DOC_EXAMPLE.replace("\"pending\"", "\"shutting-down\"");
    let (status, body) = app.post(PATH, &bearer(TOKEN), shutting_down.into()).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        body["outcome"],
        "instance i-1234567890abcdef0 changed state to shutting-down (attempt 1); requeued"
    );
    let after = app.store.get_job(job.id).await.unwrap().unwrap();
    assert_eq!((after.state, after.attempt), (JobState::Queued, 2));
    app.stop().await;
}

/// The agent powers the machine off after its job; the forge's `completed` may come later. A
/// bare state change of a running job's machine must not launch a second machine.
#[tokio::test]
async fn a_running_jobs_machine_shutting_down_is_not_a_requeue() {
    let app = spawn_with_token().await;
    let job = running_job_on(&app, DOC_INSTANCE).await;
    let shutting_down = STATE_DOC_EXAMPLE.replace("\"pending\"", "\"shutting-down\"");
    let (status, body) = app.post(PATH, &bearer(TOKEN), shutting_down.into()).await;
    assert_eq!(status, 202, "{body}");
    let outcome = body["outcome"].as_str().unwrap();
    assert!(outcome.contains("nothing to requeue"), "{outcome}");
    let after = app.store.get_job(job.id).await.unwrap().unwrap();
    assert_eq!((after.state, after.attempt), (JobState::Running, 1));
    assert_eq!(
        instance_state(&app, DOC_INSTANCE).await,
        InstanceState::Terminated
    );
    app.stop().await;
}

#[tokio::test]
async fn an_instance_that_is_not_ours_is_ignored() {
    let app = spawn_with_token().await;
    let job = running_job_on(&app, "i-0aaaaaaaaaaaaaaaa").await;
    let (status, body) = app
        .post(PATH, &bearer(TOKEN), SPOT_DOC_EXAMPLE.into())
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(
        body["outcome"],
        "ignored: instance i-1234567890abcdef0 is not one of ours"
    );
    let after = app.store.get_job(job.id).await.unwrap().unwrap();
    assert_eq!((after.state, after.attempt), (JobState::Running, 1));
    app.stop().await;
}

#[tokio::test]
async fn bodies_that_are_not_ec2_events_are_refused() {
    let app = spawn_with_token().await;
    let other_source = SPOT_DOC_EXAMPLE.replace("\"aws.ec2\"", "\"aws.s3\"");
    let no_detail = r#"{"detail-type":"EC2 Spot Instance Interruption Warning","source":"aws.ec2","time":"2021-11-11T21:29:54Z"}"#;
    for (body, fragment) in [
        ("not json".to_string(), "not an EventBridge EC2 event"),
        (no_detail.to_string(), "not an EventBridge EC2 event"),
        (other_source, "not an EC2 event sortie handles"),
    ] {
        let (status, answer) = app.post(PATH, &bearer(TOKEN), body.into()).await;
        assert_eq!(status, 400, "{answer}");
        let error = answer["error"].as_str().unwrap();
        assert!(error.contains(fragment), "{error}");
    }
    app.stop().await;
}
