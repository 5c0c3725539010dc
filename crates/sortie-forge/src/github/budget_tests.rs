//! The budget scheduler against the fake GitHub over real HTTP: a secondary limit blocks the
//! whole credential, the reserve keeps the last calls for runner credentials, two Apps share one
//! organisation, and `GET /rate_limit` reads the budget for free. Refusals are shaped as GitHub
//! documents them ("Rate limits for the REST API"); time is a [`ManualClock`].

use super::*;
use crate::clock::ManualClock;
use crate::error::LimitReason;
use sortie_core::job::JobKey;
use sortie_testkit::forge::keys::{TEST_APP_PRIVATE_KEY, TEST_APP_PUBLIC_KEY};
use sortie_testkit::forge::{FakeGithub, ScriptedFailure};
use std::time::Duration;

const T0: OffsetDateTime = time::macros::datetime!(2030-01-01 00:00:00 UTC);
const REPO: &str = "acme/app";
/// A second App on the same organisation (signed with the same test key; GitHub tells Apps apart
/// by the JWT's `iss`).
const SECOND_APP: &str = "777";

async fn fake() -> FakeGithub {
    let gh = FakeGithub::start().await.unwrap();
    gh.register_app("12345", TEST_APP_PUBLIC_KEY);
    gh.add_repo(REPO, 42);
    gh.add_org("acme", 42);
    gh.set_token_expiry(T0 + Duration::from_secs(3600));
    // The window the test clock lives in.
    gh.set_rate_reset(T0 + Duration::from_secs(3600));
    gh
}

fn forge(gh: &FakeGithub, clock: Arc<ManualClock>, extra: &[&str]) -> GithubForge {
    let auth = GithubAuth::App {
        app_id: "12345".into(),
        private_key_pem: Secret::new(TEST_APP_PRIVATE_KEY),
        installation_id: None,
    };
    let config = GithubConfig {
        api_url: gh.url(),
        extra_apps: extra
            .iter()
            .map(|id| GithubApp {
                app_id: id.to_string(),
                private_key_pem: Secret::new(TEST_APP_PRIVATE_KEY),
            })
            .collect(),
        ..GithubConfig::new(auth)
    };
    GithubForge::new(config, clock).unwrap()
}

fn repo() -> RepoRef {
    RepoRef::parse(REPO).unwrap()
}

fn org() -> RunnerScope {
    RunnerScope::Org {
        org: "acme".into(),
        runner_group_id: None,
    }
}

fn request(job_id: u64, scope: RunnerScope) -> RunnerRequest {
    let job = JobKey::WorkflowJob {
        forge: Flavor::Github,
        repo: REPO.into(),
        run_id: 7,
        run_attempt: 1,
        job_id,
    };
    RunnerRequest::for_job(&job, 1, scope, vec!["linux".into()])
}

/// The installation whose token the last call matching `fragment` carried.
fn installation_of_last(gh: &FakeGithub, fragment: &str) -> u64 {
    let call = gh.calls_to(fragment).pop().expect("a call was made");
    let token = call
        .authorization
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_string();
    gh.tokens()
        .into_iter()
        .find(|t| t.token == token)
        .expect("an installation token")
        .installation
}

#[tokio::test]
async fn a_secondary_limit_blocks_every_call_of_the_credential_until_retry_after() {
    let gh = fake().await;
    let clock = Arc::new(ManualClock::new(T0));
    let forge = forge(&gh, clock.clone(), &[]);
    // Warm up: the installation token is minted and cached.
    forge
        .list_runners(&RunnerScope::Repo(repo()))
        .await
        .unwrap();
    gh.script(ScriptedFailure::secondary_rate_limit(30).on("/actions/runners"));

    // The listing meets the limit: refused at once, no waiting for a listing.
    let err = forge
        .list_runners(&RunnerScope::Repo(repo()))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ForgeError::RateLimited { until, reason: LimitReason::Exhausted, .. } if *until == T0 + Duration::from_secs(30)),
        "{err}"
    );
    let runner_calls = gh.calls_to("/actions/runners").len();

    // Another listing on the same credential does not even reach GitHub.
    let err = forge.queued_jobs(&repo()).await.unwrap_err();
    assert!(matches!(err, ForgeError::RateLimited { .. }), "{err}");
    assert!(gh.calls_to("/actions/runs").is_empty());

    // A runner credential waits until the instant GitHub named, then is made in one call.
    let cred = forge
        .runner_credential(&request(8, RunnerScope::Repo(repo())))
        .await
        .unwrap();
    assert_eq!(
        cred.runner_name(),
        request(8, RunnerScope::Repo(repo())).name
    );
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(30)]);
    assert_eq!(
        gh.calls_to("generate-jitconfig").len(),
        1,
        "never sent while blocked"
    );
    assert_eq!(gh.calls_to("/actions/runners").len(), runner_calls + 1);

    // After the wait, listings go again.
    forge.queued_jobs(&repo()).await.unwrap();
    assert!(!gh.calls_to("/actions/runs").is_empty());
}

#[tokio::test]
async fn below_the_reserve_a_listing_is_skipped_but_a_runner_credential_is_made() {
    let gh = fake().await;
    let clock = Arc::new(ManualClock::new(T0));
    let forge = forge(&gh, clock.clone(), &[]);
    // 300 of 5,000 left: below the 10% kept for runner credentials.
    gh.set_rate_remaining(42, 300);
    forge
        .runner_credential(&request(8, RunnerScope::Repo(repo())))
        .await
        .unwrap();
    let err = forge.queued_jobs(&repo()).await.unwrap_err();
    match &err {
        ForgeError::RateLimited {
            reason: LimitReason::Reserved { remaining, limit },
            until,
            scope,
            ..
        } => {
            assert_eq!((*remaining, *limit), (299, Some(5000)));
            assert_eq!(*until, T0 + Duration::from_secs(3600));
            assert_eq!(scope, "installation 42");
        }
        other => panic!("expected a reserve refusal, got {other}"),
    }
    assert!(
        err.to_string().contains("kept for runner credentials"),
        "{err}"
    );
    assert!(gh.calls_to("/actions/runs").is_empty(), "never sent");
    // Credentials go on.
    forge
        .runner_credential(&request(9, RunnerScope::Repo(repo())))
        .await
        .unwrap();
    assert_eq!(gh.jit_requests().len(), 2);
    assert!(clock.sleeps().is_empty());
}

#[tokio::test]
async fn two_apps_share_an_organisation_by_budget_left() {
    let gh = fake().await;
    gh.register_app(SECOND_APP, TEST_APP_PUBLIC_KEY);
    gh.install_app(SECOND_APP, "acme", 43);
    gh.set_rate_remaining(42, 1000);
    gh.set_rate_remaining(43, 4000);
    let clock = Arc::new(ManualClock::new(T0));
    let forge = forge(&gh, clock.clone(), &[SECOND_APP]);

    // The first calls learn each App's budget (an App never used counts as full).
    forge.list_runners(&org()).await.unwrap();
    assert_eq!(installation_of_last(&gh, "/orgs/acme/actions/runners"), 42);
    forge.list_runners(&org()).await.unwrap();
    assert_eq!(installation_of_last(&gh, "/orgs/acme/actions/runners"), 43);
    // Then calls go to the App with more left.
    for _ in 0..3 {
        forge.list_runners(&org()).await.unwrap();
        assert_eq!(installation_of_last(&gh, "/orgs/acme/actions/runners"), 43);
    }
    let scopes: Vec<String> = forge.rate_budgets().into_iter().map(|b| b.scope).collect();
    assert!(
        scopes.contains(&"installation 42".to_string()),
        "{scopes:?}"
    );
    assert!(
        scopes.contains(&"installation 43".to_string()),
        "{scopes:?}"
    );

    // The second App's budget runs out: GitHub refuses it, the call goes to the first App.
    gh.set_rate_remaining(43, 0);
    let cred = forge.runner_credential(&request(8, org())).await.unwrap();
    assert_eq!(cred.runner_name(), request(8, org()).name);
    assert_eq!(installation_of_last(&gh, "generate-jitconfig"), 42);
    let refused = gh.calls_to("generate-jitconfig").len();
    assert_eq!(refused, 2, "one refused for the spent budget, one served");
    // Known to be spent until the reset: later calls go to the first App directly.
    forge.list_runners(&org()).await.unwrap();
    assert_eq!(installation_of_last(&gh, "/orgs/acme/actions/runners"), 42);
    forge.runner_credential(&request(9, org())).await.unwrap();
    assert_eq!(gh.calls_to("generate-jitconfig").len(), 3);
    assert_eq!(installation_of_last(&gh, "generate-jitconfig"), 42);
    assert!(
        clock.sleeps().is_empty(),
        "no waiting while another App has budget"
    );
}

#[tokio::test]
async fn every_app_rate_limited_is_one_rate_limited_error() {
    let gh = fake().await;
    gh.register_app(SECOND_APP, TEST_APP_PUBLIC_KEY);
    gh.install_app(SECOND_APP, "acme", 43);
    gh.set_rate_remaining(42, 0);
    gh.set_rate_remaining(43, 0);
    let forge = forge(&gh, Arc::new(ManualClock::new(T0)), &[SECOND_APP]);
    let err = forge.list_runners(&org()).await.unwrap_err();
    assert!(
        matches!(&err, ForgeError::RateLimited { until, .. } if *until == T0 + Duration::from_secs(3600)),
        "{err}"
    );
    assert_eq!(
        gh.calls_to("/orgs/acme/actions/runners").len(),
        2,
        "each App tried once"
    );
}

#[tokio::test]
async fn probe_reads_each_installation_budget_without_spending_it() {
    let gh = fake().await;
    gh.register_app(SECOND_APP, TEST_APP_PUBLIC_KEY);
    gh.install_app(SECOND_APP, "acme", 43);
    gh.set_rate_remaining(42, 4990);
    gh.set_rate_remaining(43, 0);
    let forge = forge(&gh, Arc::new(ManualClock::new(T0)), &[SECOND_APP]);
    let budgets = forge.probe_budget().await.unwrap();
    let seen: Vec<(String, u64, Option<u64>, Option<i64>)> = budgets
        .into_iter()
        .map(|b| (b.scope, b.remaining, b.limit, b.reset_epoch))
        .collect();
    let reset = Some((T0 + Duration::from_secs(3600)).unix_timestamp());
    assert_eq!(
        seen,
        vec![
            // `add_repo` and `add_org` both use installation 42: listed once.
            (
                "app 12345 installation 42 (acme)".to_string(),
                4990,
                Some(5000),
                reset
            ),
            (
                "app 777 installation 43 (acme)".to_string(),
                0,
                Some(5000),
                reset
            ),
        ]
    );
    // Reading it again finds the same numbers: `GET /rate_limit` is free.
    let again = forge.probe_budget().await.unwrap();
    assert_eq!(again[0].remaining, 4990);
    assert_eq!(gh.calls_to("GET /rate_limit").len(), 4);
}

#[tokio::test]
async fn probe_with_a_personal_access_token() {
    let gh = fake().await;
    gh.add_pat("ghp_probe");
    let config = GithubConfig {
        api_url: gh.url(),
        ..GithubConfig::new(GithubAuth::Token(Secret::new("ghp_probe")))
    };
    let forge = GithubForge::new(config, Arc::new(ManualClock::new(T0))).unwrap();
    let budgets = forge.probe_budget().await.unwrap();
    assert_eq!(budgets.len(), 1);
    assert_eq!(budgets[0].scope, "personal access token");
    assert_eq!(budgets[0].remaining, 5000);
}

#[tokio::test]
async fn an_extra_app_not_installed_on_the_organisation_is_passed_over() {
    let gh = fake().await;
    // Registered with GitHub, but installed nowhere sortie serves.
    gh.register_app(SECOND_APP, TEST_APP_PUBLIC_KEY);
    let clock = Arc::new(ManualClock::new(T0));
    let forge = forge(&gh, clock.clone(), &[SECOND_APP]);
    for _ in 0..3 {
        forge.list_runners(&org()).await.unwrap();
        assert_eq!(installation_of_last(&gh, "/orgs/acme/actions/runners"), 42);
    }
    let cred = forge.runner_credential(&request(5, org())).await.unwrap();
    assert_eq!(cred.runner_name(), request(5, org()).name);
    assert_eq!(installation_of_last(&gh, "generate-jitconfig"), 42);
}
