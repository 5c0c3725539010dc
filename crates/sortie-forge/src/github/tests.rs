//! The GitHub client against the fake GitHub over real HTTP.

use super::*;
use crate::cleanup::{delete_spent_runners, RUNNER_PREFIX};
use crate::clock::ManualClock;
use sortie_core::job::JobKey;
use sortie_testkit::forge::keys::{
    OTHER_APP_PRIVATE_KEY, TEST_APP_PRIVATE_KEY, TEST_APP_PUBLIC_KEY,
};
use sortie_testkit::forge::{FakeGithub, ScriptedFailure};
use std::collections::HashSet;
use std::time::Duration;
use time::OffsetDateTime;

const T0: OffsetDateTime = time::macros::datetime!(2030-01-01 00:00:00 UTC);
const REPO: &str = "acme/app";

async fn fake() -> FakeGithub {
    let gh = FakeGithub::start().await.unwrap();
    gh.register_app("12345", TEST_APP_PUBLIC_KEY);
    gh.add_repo(REPO, 42);
    gh.add_org("acme", 42);
    gh.set_token_expiry(T0 + Duration::from_secs(3600));
    gh.set_commit(
        REPO,
        "c1",
        &[
            (".github/workflows/ci.yml", "on: push\njobs: {}\n"),
            (".github/workflows/sub/nested.yml", "on: push\n"),
            (".github/workflows/README.md", "docs"),
            ("src/main.rs", "fn main() {}"),
        ],
    );
    gh.set_commit(
        REPO,
        "c2",
        &[
            (".github/workflows/ci.yml", "on: push\njobs: {}\n"),
            ("src/lib.rs", ""),
        ],
    );
    gh
}

fn app_forge(gh: &FakeGithub, clock: Arc<ManualClock>, key: &str) -> GithubForge {
    let auth = GithubAuth::App {
        app_id: "12345".into(),
        private_key_pem: Secret::new(key),
        installation_id: None,
    };
    let config = GithubConfig {
        api_url: gh.url(),
        ..GithubConfig::new(auth)
    };
    GithubForge::new(config, clock).unwrap()
}

fn repo() -> RepoRef {
    RepoRef::parse(REPO).unwrap()
}

fn job() -> JobKey {
    JobKey::WorkflowJob {
        forge: Flavor::Github,
        repo: REPO.into(),
        run_id: 7,
        run_attempt: 1,
        job_id: 8,
    }
}

#[tokio::test]
async fn workflow_files_are_top_level_only_and_decoded() {
    let gh = fake().await;
    let forge = app_forge(&gh, Arc::new(ManualClock::new(T0)), TEST_APP_PRIVATE_KEY);
    let files = forge.workflow_files(&repo(), "c1").await.unwrap();
    assert_eq!(
        files,
        vec![(
            ".github/workflows/ci.yml".to_string(),
            "on: push\njobs: {}\n".to_string()
        )]
    );
    let changed = forge.changed_files(&repo(), "c1", "c2").await.unwrap();
    // Removed files count as changed (the fake diffs the two trees).
    assert_eq!(
        changed,
        vec![
            ".github/workflows/README.md",
            ".github/workflows/sub/nested.yml",
            "src/lib.rs",
            "src/main.rs"
        ]
    );
    assert_eq!(gh.calls_to("/compare/c1...c2").len(), 1);
}

// GitHub docs: installation tokens last one hour; sortie renews five minutes before expiry.
#[tokio::test]
async fn installation_token_is_cached_until_five_minutes_before_expiry() {
    let gh = fake().await;
    let clock = Arc::new(ManualClock::new(T0));
    let forge = app_forge(&gh, clock.clone(), TEST_APP_PRIVATE_KEY);
    forge.workflow_files(&repo(), "c1").await.unwrap();
    forge.workflow_files(&repo(), "c1").await.unwrap();
    assert_eq!(
        gh.calls_to("access_tokens").len(),
        1,
        "second call uses the cached token"
    );
    assert_eq!(
        gh.calls_to("GET /repos/acme/app/installation").len(),
        1,
        "installation looked up once"
    );
    clock.advance(Duration::from_secs(54 * 60));
    forge.workflow_files(&repo(), "c1").await.unwrap();
    assert_eq!(
        gh.calls_to("access_tokens").len(),
        1,
        "6 minutes left: still cached"
    );
    clock.advance(Duration::from_secs(2 * 60));
    forge.workflow_files(&repo(), "c1").await.unwrap();
    assert_eq!(
        gh.calls_to("access_tokens").len(),
        2,
        "4 minutes left: renewed"
    );
    let auth = gh.calls_to("access_tokens")[0]
        .authorization
        .clone()
        .unwrap();
    assert!(auth.starts_with("Bearer ey"), "App JWT: {auth}");
}

// GitHub sends its primary rate limit on every answer ("Rate limits for the REST API"); the
// client keeps the last one per credential for the metric and `sortie config check`.
#[tokio::test]
async fn the_rate_limit_budget_follows_the_answers() {
    let gh = fake().await;
    let forge = app_forge(&gh, Arc::new(ManualClock::new(T0)), TEST_APP_PRIVATE_KEY);
    assert!(forge.rate_budgets().is_empty(), "no call yet");
    forge.workflow_files(&repo(), "c1").await.unwrap();
    let first = forge.rate_budgets();
    let inst = first
        .iter()
        .find(|b| b.scope.starts_with("installation"))
        .expect("the installation's budget");
    assert_eq!(inst.limit, Some(5000));
    assert!(
        inst.remaining < 5000 && inst.reset_epoch.is_some(),
        "{inst:?}"
    );
    forge.workflow_files(&repo(), "c1").await.unwrap();
    let later = forge.rate_budgets();
    let again = later.iter().find(|b| b.scope == inst.scope).unwrap();
    assert!(again.remaining < inst.remaining, "{again:?} after {inst:?}");
}

// A cached token GitHub stops accepting before its `expires_at` (revoked, App reinstalled) is
// dropped on the 401 and the call made again with a new one, instead of failing for an hour.
#[tokio::test]
async fn a_revoked_cached_token_is_replaced_after_one_401() {
    let gh = fake().await;
    let forge = app_forge(&gh, Arc::new(ManualClock::new(T0)), TEST_APP_PRIVATE_KEY);
    forge.workflow_files(&repo(), "c1").await.unwrap();
    gh.revoke_tokens();
    let files = forge.workflow_files(&repo(), "c1").await.unwrap();
    assert!(!files.is_empty());
    assert_eq!(gh.calls_to("access_tokens").len(), 2, "one new token");
    gh.revoke_tokens();
    gh.revoke_tokens();
    forge.workflow_files(&repo(), "c1").await.unwrap();
    assert_eq!(gh.calls_to("access_tokens").len(), 3);
}

#[tokio::test]
async fn a_jwt_from_the_wrong_key_is_refused() {
    let gh = fake().await;
    let forge = app_forge(&gh, Arc::new(ManualClock::new(T0)), OTHER_APP_PRIVATE_KEY);
    let err = forge.workflow_files(&repo(), "c1").await.unwrap_err();
    assert!(matches!(err, ForgeError::Unauthorized { .. }), "{err}");
    assert!(
        err.to_string().contains("GitHub App id and private key"),
        "{err}"
    );
}

#[tokio::test]
async fn jit_config_for_a_job() {
    let gh = fake().await;
    let forge = app_forge(&gh, Arc::new(ManualClock::new(T0)), TEST_APP_PRIVATE_KEY);
    let req = RunnerRequest::for_job(
        &job(),
        1,
        RunnerScope::Repo(repo()),
        vec!["self-hosted".into(), "go".into()],
    );
    let cred = forge.runner_credential(&req).await.unwrap();
    let RunnerCredential::JitConfig {
        runner_id,
        runner_name,
        encoded_jit_config,
    } = &cred
    else {
        panic!("expected a JIT config, got {cred:?}");
    };
    assert_eq!(runner_name, &job().runner_name(1));
    let decoded = sortie_testkit::forge::decode_jit_config(encoded_jit_config.expose()).unwrap();
    assert_eq!(decoded.runner_id, *runner_id);
    assert!(
        !format!("{cred:?}").contains(encoded_jit_config.expose()),
        "secret must not show in Debug"
    );
    let served = gh.jit_requests();
    assert_eq!(served.len(), 1);
    assert_eq!(served[0].labels, vec!["self-hosted", "go"]);
    assert_eq!(
        (served[0].runner_group_id, served[0].work_folder.as_str()),
        (1, "_work")
    );

    let org = RunnerScope::Org {
        org: "acme".into(),
        runner_group_id: Some(7),
    };
    forge
        .runner_credential(&RunnerRequest::for_job(&job(), 2, org, vec!["go".into()]))
        .await
        .unwrap();
    assert_eq!(gh.jit_requests()[1].scope, "org:acme");
    assert_eq!(gh.jit_requests()[1].runner_group_id, 7);
}

#[tokio::test]
async fn a_retried_jit_call_replaces_the_offline_runner_of_the_lost_answer() {
    let gh = fake().await;
    let forge = app_forge(&gh, Arc::new(ManualClock::new(T0)), TEST_APP_PRIVATE_KEY);
    let name = job().runner_name(1);
    let stale = gh.add_runner(&format!("repo:{REPO}"), &name, false, false);
    let req = RunnerRequest::for_job(&job(), 1, RunnerScope::Repo(repo()), vec!["go".into()]);
    let cred = forge.runner_credential(&req).await.unwrap();
    assert_ne!(cred.runner_id(), Some(stale));
    assert_eq!(gh.runners().iter().filter(|r| r.name == name).count(), 1);

    // A runner of that name that is online belongs to a live machine: refuse, do not replace.
    let name2 = job().runner_name(2);
    gh.add_runner(&format!("repo:{REPO}"), &name2, true, true);
    let req2 = RunnerRequest::for_job(&job(), 2, RunnerScope::Repo(repo()), vec!["go".into()]);
    let err = forge.runner_credential(&req2).await.unwrap_err();
    assert!(err.to_string().contains("already registered"), "{err}");
}

// GitHub docs, "Exceeding the rate limit": secondary limit with retry-after → wait that long.
#[tokio::test]
async fn a_secondary_rate_limit_delays_but_loses_nothing() {
    let gh = fake().await;
    let clock = Arc::new(ManualClock::new(T0));
    let forge = app_forge(&gh, clock.clone(), TEST_APP_PRIVATE_KEY);
    gh.script(ScriptedFailure::secondary_rate_limit(30).on("generate-jitconfig"));
    let req = RunnerRequest::for_job(&job(), 1, RunnerScope::Repo(repo()), vec!["go".into()]);
    let cred = forge.runner_credential(&req).await.unwrap();
    assert_eq!(cred.runner_name(), job().runner_name(1));
    assert_eq!(clock.sleeps(), vec![Duration::from_secs(30)]);
    assert_eq!(
        gh.calls_to("generate-jitconfig").len(),
        2,
        "refused once, then served"
    );
    assert_eq!(gh.jit_requests().len(), 1, "exactly one runner registered");
}

#[tokio::test]
async fn an_exhausted_budget_is_an_operator_readable_error() {
    let gh = fake().await;
    let clock = Arc::new(ManualClock::new(T0));
    let forge = app_forge(&gh, clock.clone(), TEST_APP_PRIVATE_KEY);
    let reset = T0 + Duration::from_secs(3600 + 190);
    gh.script(ScriptedFailure::primary_rate_limit(reset.unix_timestamp()).on("/contents/"));
    let err = forge.workflow_files(&repo(), "c1").await.unwrap_err();
    match &err {
        ForgeError::RateLimited { until, scope, .. } => {
            assert_eq!(*until, reset);
            assert_eq!(scope, "installation 42");
        }
        other => panic!("expected RateLimited, got {other}"),
    }
    assert_eq!(err.to_string(), "GitHub rate limit exhausted until 2030-01-01 01:03:10Z (installation 42); jobs stay queued and are retried");
    assert!(
        clock.sleeps().is_empty(),
        "a wait beyond the bound is not slept"
    );
}

#[tokio::test]
async fn cleanup_deletes_spent_runners_across_pages() {
    let gh = fake().await;
    let forge = app_forge(&gh, Arc::new(ManualClock::new(T0)), TEST_APP_PRIVATE_KEY);
    let scope_key = format!("repo:{REPO}");
    for i in 0..105 {
        gh.add_runner(&scope_key, &format!("sortie-{i:016x}-1"), false, false);
    }
    gh.add_runner(&scope_key, "sortie-live-1", false, false);
    gh.add_runner(&scope_key, "sortie-busy-1", true, true);
    gh.add_runner(&scope_key, "build-box", false, false);
    let live: HashSet<String> = ["sortie-live-1".to_string()].into();
    let report = delete_spent_runners(&forge, &RunnerScope::Repo(repo()), RUNNER_PREFIX, &live)
        .await
        .unwrap();
    assert_eq!(report.listed, 108);
    assert_eq!(report.deleted.len(), 105);
    assert!(report.failed.is_empty());
    let left: Vec<String> = gh.runners().into_iter().map(|r| r.name).collect();
    assert_eq!(left, vec!["sortie-live-1", "sortie-busy-1", "build-box"]);
    assert_eq!(
        gh.calls_to("GET /repos/acme/app/actions/runners").len(),
        2,
        "two pages of 100"
    );
}

#[tokio::test]
async fn git_credential_is_narrowed_to_the_repository() {
    let gh = fake().await;
    let forge = app_forge(&gh, Arc::new(ManualClock::new(T0)), TEST_APP_PRIVATE_KEY);
    let cred = forge.git_credential(&repo()).await.unwrap().unwrap();
    assert_eq!(cred.username, "x-access-token");
    assert_eq!(cred.expires_at, Some(T0 + Duration::from_secs(3600)));
    let issued = gh.tokens();
    let narrowed = issued
        .iter()
        .find(|t| t.token == cred.password.expose())
        .unwrap();
    assert_eq!(
        narrowed.repositories.as_deref(),
        Some(&["app".to_string()][..])
    );
    assert_eq!(
        narrowed.permissions,
        Some(serde_json::json!({"contents": "read"}))
    );
    // The narrowed token cannot manage runners.
    let call = crate::http::Call::new(reqwest::Method::GET, "/repos/acme/app/actions/runners")
        .auth(&Auth {
            header: format!("Bearer {}", cred.password.expose()),
            scope: "t".into(),
        });
    let reply = forge.api.send(&call).await.unwrap();
    assert_eq!(reply.status, 403);
}

#[tokio::test]
async fn personal_access_token_fallback() {
    let gh = fake().await;
    gh.add_pat("ghp_test");
    let config = GithubConfig {
        api_url: gh.url(),
        ..GithubConfig::new(GithubAuth::Token(Secret::new("ghp_test")))
    };
    let forge = GithubForge::new(config, Arc::new(ManualClock::new(T0))).unwrap();
    assert_eq!(forge.workflow_files(&repo(), "c2").await.unwrap().len(), 1);
    assert!(
        forge.git_credential(&repo()).await.unwrap().is_none(),
        "a PAT never goes to a machine"
    );
    assert!(gh.calls_to("access_tokens").is_empty());
    assert!(forge.list_runners(&RunnerScope::Instance).await.is_err());
}

#[tokio::test]
async fn unknown_repository_is_not_found() {
    let gh = fake().await;
    let forge = app_forge(&gh, Arc::new(ManualClock::new(T0)), TEST_APP_PRIVATE_KEY);
    let err = forge
        .workflow_files(&RepoRef::new("acme", "nope"), "c1")
        .await
        .unwrap_err();
    assert!(matches!(err, ForgeError::NotFound { .. }), "{err}");
}
