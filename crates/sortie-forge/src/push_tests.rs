//! Push mode against the fake Gitea over real HTTP.

use super::*;
use crate::clock::ManualClock;
use crate::gitea::{GiteaConfig, GiteaForge};
use crate::types::Secret;
use sortie_core::forge::Flavor;
use sortie_testkit::forge::payloads::{gitea_push, PushedCommit};
use sortie_testkit::forge::workflows::{BUILD_SRC as BUILD, C0, C1, C2, LINT, RELEASE, ZERO};
use sortie_testkit::forge::{FakeGitea, GiteaKind};
use std::sync::Arc;

async fn setup() -> (FakeGitea, GiteaForge) {
    let g = FakeGitea::start(GiteaKind::Gitea, "t").await.unwrap();
    let wf = [
        (".gitea/workflows/build.yml", BUILD),
        (".gitea/workflows/lint.yml", LINT),
        (".gitea/workflows/release.yml", RELEASE),
    ];
    let with = |extra: &[(&'static str, &'static str)]| -> Vec<(&'static str, &'static str)> {
        wf.iter().copied().chain(extra.iter().copied()).collect()
    };
    g.set_commit(
        "acme/app",
        C0,
        &with(&[("src/app.go", "v0"), ("docs/readme.md", "v0")]),
    );
    g.set_commit(
        "acme/app",
        C1,
        &with(&[("src/app.go", "v1"), ("docs/readme.md", "v0")]),
    );
    g.set_commit(
        "acme/app",
        C2,
        &with(&[
            ("src/app.go", "v0"),
            ("src/other.go", "new"),
            ("docs/readme.md", "v2"),
        ]),
    );
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2030-01-01 00:00 UTC),
    ));
    let forge = GiteaForge::new(
        GiteaConfig::new(g.url(), Secret::new("t"), Flavor::Gitea),
        clock,
    )
    .unwrap();
    (g, forge)
}

fn commit(id: &str, files: &[&str]) -> PushedCommit {
    PushedCommit {
        id: id.into(),
        modified: files.iter().map(|f| f.to_string()).collect(),
    }
}

async fn run(forge: &GiteaForge, payload: &[u8]) -> PushPlan {
    plan_push(
        forge,
        payload,
        &RoutingConfig::default(),
        &Catalog::builtin(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn two_matching_workflows_and_a_matrix_give_the_right_jobs_and_labels() {
    let (g, forge) = setup().await;
    let payload = gitea_push(
        "acme/app",
        "refs/heads/main",
        C0,
        C1,
        &[commit(C1, &["src/app.go"])],
        None,
    )
    .unwrap();
    let p = run(&forge, &payload).await;
    assert_eq!(p.changed_files, ChangedFilesSource::Payload);
    assert_eq!(p.commit, C1);
    let triggered: Vec<(&str, bool)> = p
        .plan
        .workflows
        .iter()
        .map(|w| (w.path.as_str(), w.triggered))
        .collect();
    assert_eq!(
        triggered,
        vec![
            (".gitea/workflows/build.yml", true),
            (".gitea/workflows/lint.yml", true),
            (".gitea/workflows/release.yml", false)
        ]
    );
    let jobs = p.jobs();
    let summary: Vec<(String, Vec<String>, u32)> = jobs
        .iter()
        .map(|(k, j)| {
            let JobKey::Push { matrix_index, .. } = k else {
                panic!("push key expected")
            };
            (j.id.clone(), j.runs_on.clone(), *matrix_index)
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            ("build".into(), vec!["go".into()], 0),
            ("test".into(), vec!["go".into()], 0),
            ("test".into(), vec!["docker".into()], 1),
            ("lint".into(), vec!["node".into()], 0),
        ]
    );
    for (key, job) in &jobs {
        assert!(
            job.route.is_served(),
            "{} not served: {}",
            job.id,
            job.route.reason
        );
        assert_eq!(key.repo(), "acme/app");
    }
    let names: std::collections::HashSet<String> =
        jobs.iter().map(|(k, _)| k.runner_name(1)).collect();
    assert_eq!(names.len(), 4, "every job gets its own runner name");
    assert!(
        g.calls_to("/compare/").is_empty(),
        "complete payload: no compare call"
    );
    assert_eq!(
        g.calls_to("GET /api/v1/repos/acme/app/contents/.gitea/workflows")
            .len(),
        4,
        "one listing, three files"
    );
}

#[tokio::test]
async fn a_push_that_matches_nothing_plans_no_jobs_and_says_why() {
    let (_g, forge) = setup().await;
    let payload = gitea_push(
        "acme/app",
        "refs/heads/feature",
        C0,
        C1,
        &[commit(C1, &["docs/readme.md"])],
        None,
    )
    .unwrap();
    let p = run(&forge, &payload).await;
    assert!(p.jobs().is_empty());
    assert_eq!(p.plan.workflows.len(), 3);
    for w in &p.plan.workflows {
        assert!(!w.triggered);
        assert!(!w.reason.is_empty(), "{} has no reason", w.path);
    }
}

#[tokio::test]
async fn a_capped_commit_list_is_completed_with_the_compare_api() {
    let (g, forge) = setup().await;
    // Only the last of 30 commits is listed, and it touched docs only; the full diff C0..C2 adds
    // src/other.go, so build.yml's `paths: src/**` matches.
    let payload = gitea_push(
        "acme/app",
        "refs/heads/main",
        C0,
        C2,
        &[commit(C2, &["docs/readme.md"])],
        Some(30),
    )
    .unwrap();
    let p = run(&forge, &payload).await;
    assert_eq!(p.changed_files, ChangedFilesSource::Compare);
    assert_eq!(g.calls_to(&format!("/compare/{C0}...{C2}")).len(), 1);
    assert!(
        p.plan.workflows[0].triggered,
        "{}",
        p.plan.workflows[0].reason
    );
}

#[tokio::test]
async fn a_new_branch_is_not_compared() {
    let (g, forge) = setup().await;
    let payload = gitea_push(
        "acme/app",
        "refs/heads/main",
        ZERO,
        C1,
        &[commit(C1, &["src/app.go"])],
        Some(5),
    )
    .unwrap();
    let p = run(&forge, &payload).await;
    assert!(g.calls_to("/compare/").is_empty());
    assert_eq!(p.changed_files, ChangedFilesSource::Payload);
    // Gitea's diff against the zero commit fails: build.yml (paths) does not run, lint.yml does.
    let triggered: Vec<bool> = p.plan.workflows.iter().map(|w| w.triggered).collect();
    assert_eq!(triggered, vec![false, true, false]);
}

#[tokio::test]
async fn a_deleted_branch_plans_nothing_and_a_bad_payload_is_an_error() {
    let (g, forge) = setup().await;
    let payload = gitea_push("acme/app", "refs/heads/main", C1, ZERO, &[], None).unwrap();
    let p = run(&forge, &payload).await;
    assert!(p.plan.workflows.is_empty());
    assert!(g.calls().is_empty());
    let err = plan_push(
        &forge,
        b"{not json",
        &RoutingConfig::default(),
        &Catalog::builtin(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ForgeError::Event(_)), "{err}");
}
