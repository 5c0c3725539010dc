//! The reconciler's Gitea listings against the fake Gitea over real HTTP. The fake serves
//! go-gitea/gitea 1.25's `…/actions/jobs` and `…/actions/runs` (`routers/api/v1/shared/action.go`)
//! and Forgejo's `…/actions/runners/jobs` (`routers/api/v1/shared/runners.go`); see
//! `sortie-testkit/src/forge/gitea/actions.rs`.

use super::*;
use crate::clock::ManualClock;
use sortie_core::event::WorkflowJob;
use sortie_testkit::forge::payloads::gitea_workflow_job_event;
use sortie_testkit::forge::{FakeGitea, GiteaKind};

const TOKEN: &str = "gitea-api-token";
const REPO: &str = "acme/app";

async fn fake(kind: GiteaKind) -> FakeGitea {
    let g = FakeGitea::start(kind, TOKEN).await.unwrap();
    g.set_commit(REPO, "c0", &[("README.md", "r")]);
    g
}

fn forge(g: &FakeGitea, flavor: Flavor) -> GiteaForge {
    let clock = Arc::new(ManualClock::new(
        time::macros::datetime!(2030-01-01 00:00 UTC),
    ));
    GiteaForge::new(GiteaConfig::new(g.url(), Secret::new(TOKEN), flavor), clock).unwrap()
}

fn repo() -> RepoRef {
    RepoRef::parse(REPO).unwrap()
}

#[tokio::test]
async fn queued_jobs_carry_the_key_of_their_workflow_job_webhook() {
    let g = fake(GiteaKind::Gitea).await;
    let f = forge(&g, Flavor::Gitea);
    let first = g.queue_job(REPO, &["ubuntu-latest"]);
    let retried = g.queue_job_with(REPO, 77, 2, "test", &["docker", "x64"]);
    let cancelled = g.queue_job(REPO, &["ubuntu-latest"]);
    assert!(g.cancel_job(cancelled.id));
    g.queue_job("acme/other", &["ubuntu-latest"]);

    let listed = f.queued_jobs(&repo()).await.unwrap();
    let ids: Vec<u64> = listed.iter().map(|j| j.job_id).collect();
    assert_eq!(ids, vec![first.id, retried.id], "{listed:#?}");
    // The key a recovered job gets is the key Gitea's own `queued` webhook for it would give.
    for (job, fake_job) in listed.iter().zip([&first, &retried]) {
        let body = gitea_workflow_job_event("queued", fake_job, 1, &g.url()).unwrap();
        let hook = WorkflowJob::parse(&body).unwrap();
        assert_eq!(
            (job.run_id, job.run_attempt, job.job_id),
            (hook.run_id, hook.run_attempt, hook.job_id)
        );
        assert_eq!(job.labels, hook.labels);
        assert_eq!(job.name, hook.name);
        assert_eq!(job.status, "queued");
        assert!(job.created_at.is_some());
    }
    assert_eq!(listed[1].run_attempt, 2);
    // GitHub's status names, as Gitea's `convertToInternal` takes them.
    let call = g
        .calls_to("GET /api/v1/repos/acme/app/actions/jobs")
        .pop()
        .unwrap();
    assert!(call.query.unwrap_or_default().contains("status=queued"));
}

#[tokio::test]
async fn queued_jobs_read_every_page() {
    let g = fake(GiteaKind::Gitea).await;
    let f = forge(&g, Flavor::Gitea);
    for _ in 0..61 {
        g.queue_job(REPO, &["ubuntu-latest"]);
    }
    assert_eq!(f.queued_jobs(&repo()).await.unwrap().len(), 61);
    let pages = g.calls_to("GET /api/v1/repos/acme/app/actions/jobs");
    assert_eq!(pages.len(), 2, "50 a page: {pages:#?}");
}

#[tokio::test]
async fn job_status_follows_the_job() {
    let g = fake(GiteaKind::Gitea).await;
    let f = forge(&g, Flavor::Gitea);
    let job = g.queue_job(REPO, &["ubuntu-latest"]);
    let now = f.job_status(&repo(), job.id).await.unwrap();
    assert_eq!((now.status.as_str(), now.conclusion), ("queued", None));
    assert!(g.cancel_job(job.id));
    let now = f.job_status(&repo(), job.id).await.unwrap();
    assert_eq!(now.status, "completed");
    assert_eq!(now.conclusion.as_deref(), Some("cancelled"));
    let err = f.job_status(&repo(), 999_999).await.unwrap_err();
    assert!(matches!(err, ForgeError::NotFound { .. }), "{err}");
}

#[tokio::test]
async fn active_push_runs_name_their_commit_and_ref() {
    let g = fake(GiteaKind::Gitea).await;
    let f = forge(&g, Flavor::Gitea);
    let sha = "d".repeat(40);
    let jobs = g.push_with_jobs(
        REPO,
        &"0".repeat(40),
        &sha,
        &[],
        &[],
        &[&["go"], &["docker"]],
    );
    let done = g.queue_job(REPO, &["go"]);
    assert!(g.cancel_job(done.id));

    let runs = f.active_runs(&repo(), "push").await.unwrap();
    assert_eq!(runs.len(), 1, "{runs:#?}");
    let run = &runs[0];
    assert_eq!(run.id, jobs[0].run_id);
    assert_eq!(run.head_sha, sha);
    assert_eq!(run.git_ref, "refs/heads/main");
    assert_eq!(
        (run.event.as_str(), run.status.as_str()),
        ("push", "queued")
    );
    let call = g
        .calls_to("GET /api/v1/repos/acme/app/actions/runs")
        .pop()
        .unwrap();
    assert!(call.query.unwrap_or_default().contains("event=push"));
}

#[tokio::test]
async fn older_gitea_is_unsupported_once_and_remembered() {
    let g = fake(GiteaKind::GiteaLegacy).await;
    let f = forge(&g, Flavor::Gitea);
    // A repository the server does not have is that, not a missing feature.
    let ghost = RepoRef::new("ghost", "none");
    let err = f.queued_jobs(&ghost).await.unwrap_err();
    assert!(matches!(err, ForgeError::NotFound { .. }), "{err}");

    let err = f.queued_jobs(&repo()).await.unwrap_err();
    assert!(matches!(err, ForgeError::Unsupported { .. }), "{err}");
    let before = g.calls().len();
    for _ in 0..2 {
        let err = f.active_runs(&repo(), "push").await.unwrap_err();
        assert!(matches!(err, ForgeError::Unsupported { .. }), "{err}");
        let err = f.job_status(&repo(), 1).await.unwrap_err();
        assert!(matches!(err, ForgeError::Unsupported { .. }), "{err}");
    }
    assert_eq!(g.calls().len(), before, "remembered: no further calls");
}

#[tokio::test]
async fn forgejo_says_what_it_cannot_list_and_maps_its_job_search() {
    let g = fake(GiteaKind::Forgejo).await;
    let f = forge(&g, Flavor::Forgejo);
    let job = g.queue_job(REPO, &["docker"]);
    g.queue_job(REPO, &["gpu"]);
    for err in [
        f.queued_jobs(&repo()).await.unwrap_err(),
        f.job_status(&repo(), job.id).await.unwrap_err(),
        f.active_runs(&repo(), "push")
            .await
            .map(|_| ())
            .unwrap_err(),
    ] {
        assert!(
            matches!(
                err,
                ForgeError::Unsupported {
                    forge: "Forgejo",
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("without run id"), "{err}");
    }
    assert!(g.calls().is_empty(), "nothing asked");

    let labels = vec!["docker".to_string(), "x64".to_string()];
    let found = f.forgejo_waiting_jobs(&repo(), &labels).await.unwrap();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].job_id, job.id);
    assert_eq!(found[0].labels, vec!["docker"]);
    assert_eq!(
        (found[0].run_id, found[0].run_attempt),
        (0, 0),
        "Forgejo does not say"
    );
    let none = f
        .forgejo_waiting_jobs(&repo(), &["arm64".to_string()])
        .await
        .unwrap();
    assert!(none.is_empty(), "a null answer is no job");
}
