//! Reconciliation calls against the fake GitHub over real HTTP: queued jobs (with conditional
//! requests) and the App webhook's failed deliveries.

use super::*;
use crate::clock::ManualClock;
use sortie_testkit::forge::keys::{TEST_APP_PRIVATE_KEY, TEST_APP_PUBLIC_KEY};
use sortie_testkit::forge::FakeGithub;
use std::time::Duration;

const T0: OffsetDateTime = time::macros::datetime!(2030-01-01 00:00:00 UTC);
const REPO: &str = "acme/app";
const PAT: &str = "ghp_reconcile";
/// Nothing listens here: every webhook the fake sends fails to connect.
const NOWHERE: &str = "http://127.0.0.1:1/webhooks/github";

async fn fake() -> FakeGithub {
    let gh = FakeGithub::start().await.unwrap();
    gh.register_app("12345", TEST_APP_PUBLIC_KEY);
    gh.add_pat(PAT);
    gh.add_repo(REPO, 42);
    gh.set_token_expiry(T0 + Duration::from_secs(3600));
    gh
}

fn forge(gh: &FakeGithub, auth: GithubAuth) -> GithubForge {
    let config = GithubConfig {
        api_url: gh.url(),
        ..GithubConfig::new(auth)
    };
    GithubForge::new(config, Arc::new(ManualClock::new(T0))).unwrap()
}

fn app(gh: &FakeGithub) -> GithubForge {
    forge(
        gh,
        GithubAuth::App {
            app_id: "12345".into(),
            private_key_pem: Secret::new(TEST_APP_PRIVATE_KEY),
            installation_id: None,
        },
    )
}

fn pat(gh: &FakeGithub) -> GithubForge {
    forge(gh, GithubAuth::Token(Secret::new(PAT)))
}

fn repo() -> RepoRef {
    RepoRef::parse(REPO).unwrap()
}

#[tokio::test]
async fn queued_jobs_are_listed_and_repeated_listings_are_conditional() {
    let gh = fake().await;
    let job = gh.queue_job(REPO, &["self-hosted", "linux"]);
    let forge = app(&gh);

    let listed = forge.queued_jobs(&repo()).await.unwrap();
    assert_eq!(
        listed,
        vec![QueuedJob {
            repo: repo(),
            job_id: job.id,
            run_id: job.run_id,
            run_attempt: 1,
            name: "build".into(),
            labels: vec!["self-hosted".into(), "linux".into()],
            status: "queued".into(),
            created_at: Some(job.created_at),
        }]
    );
    assert_eq!(forge.etags.not_modified(), 0);

    // Nothing changed: every listing is answered 304 from the copy held, with the same result.
    let calls_before = gh.calls_to("/actions/runs").len();
    let again = forge.queued_jobs(&repo()).await.unwrap();
    assert_eq!(again, listed);
    let sent = gh.calls_to("/actions/runs").len() - calls_before;
    assert!(sent >= 2, "the listings were sent again ({sent} calls)");
    assert_eq!(forge.etags.not_modified(), sent as u64);

    // A new job changes the runs listing: a fresh answer, not the held copy.
    let second = gh.queue_job(REPO, &["self-hosted"]);
    let ids: Vec<u64> = forge
        .queued_jobs(&repo())
        .await
        .unwrap()
        .iter()
        .map(|j| j.job_id)
        .collect();
    assert!(ids.contains(&job.id) && ids.contains(&second.id), "{ids:?}");
}

#[tokio::test]
async fn a_started_job_is_no_longer_listed_and_a_pat_can_list_too() {
    let gh = fake().await;
    let job = gh.queue_job(REPO, &["self-hosted"]);
    let forge = pat(&gh);
    assert_eq!(forge.queued_jobs(&repo()).await.unwrap().len(), 1);
    assert!(gh.cancel_job(job.id));
    assert!(forge.queued_jobs(&repo()).await.unwrap().is_empty());
}

#[tokio::test]
async fn failed_deliveries_are_listed_and_redelivered() {
    let gh = fake().await;
    gh.set_webhook(NOWHERE, "secret");
    let job = gh.queue_job(REPO, &["self-hosted"]);
    gh.flush_webhooks().await;
    let sent = gh.deliveries();
    assert_eq!(sent.len(), 1);
    assert!(!sent[0].succeeded());

    let forge = app(&gh);
    let since = OffsetDateTime::now_utc() - Duration::from_secs(3600);
    let failed = forge.failed_deliveries(since).await.unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0].id, sent[0].id);
    assert_eq!(failed[0].guid, sent[0].guid);
    assert_eq!(failed[0].event, "workflow_job");
    assert_eq!(failed[0].action.as_deref(), Some("queued"));

    forge.redeliver(failed[0].id).await.unwrap();
    gh.flush_webhooks().await;
    let after = gh.deliveries();
    assert_eq!(after.len(), 2);
    assert!(after[1].redelivery);
    assert_eq!(after[1].guid, sent[0].guid);
    let attempts = gh.calls_to(&format!("/app/hook/deliveries/{}/attempts", sent[0].id));
    assert_eq!(attempts.len(), 1);

    // The redelivery failed too: still one entry for the GUID, its latest attempt.
    let failed = forge.failed_deliveries(since).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, after[1].id);

    // Deliveries older than `since` are not listed.
    let later = OffsetDateTime::now_utc() + Duration::from_secs(60);
    assert!(forge.failed_deliveries(later).await.unwrap().is_empty());
    let _ = job;
}

#[tokio::test]
async fn deliveries_are_paged_by_cursor() {
    let gh = fake().await;
    gh.set_webhook(NOWHERE, "secret");
    // One more than a page.
    for _ in 0..101 {
        gh.queue_job(REPO, &["self-hosted"]);
    }
    gh.flush_webhooks().await;
    let forge = app(&gh);
    let since = OffsetDateTime::now_utc() - Duration::from_secs(3600);
    let failed = forge.failed_deliveries(since).await.unwrap();
    assert_eq!(failed.len(), 101);
    let pages = gh.calls_to("/app/hook/deliveries");
    assert_eq!(pages.len(), 2);
    assert!(pages[1]
        .query
        .as_deref()
        .unwrap_or_default()
        .contains("cursor="));
    // Newest first, as GitHub lists them.
    let ids: Vec<u64> = failed.iter().map(|d| d.id).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted);
}

#[tokio::test]
async fn a_personal_access_token_cannot_see_deliveries() {
    let gh = fake().await;
    let forge = pat(&gh);
    let err = forge
        .failed_deliveries(OffsetDateTime::now_utc())
        .await
        .unwrap_err();
    assert!(matches!(err, ForgeError::Unsupported { .. }), "{err}");
    assert!(matches!(
        forge.redeliver(1).await.unwrap_err(),
        ForgeError::Unsupported { .. }
    ));
    assert!(gh.calls_to("/app/hook").is_empty());
}
