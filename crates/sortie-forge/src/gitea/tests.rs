//! The Gitea/Forgejo client against the fake Gitea over real HTTP.

use super::*;
use crate::cleanup::{delete_spent_runners, RUNNER_PREFIX};
use crate::clock::ManualClock;
use sortie_testkit::forge::{FakeGitea, GiteaKind, ScriptedFailure};
use std::collections::HashSet;
use std::time::Duration;

const TOKEN: &str = "gitea-api-token";
const REPO: &str = "acme/app";

async fn fake(kind: GiteaKind) -> FakeGitea {
    let g = FakeGitea::start(kind, TOKEN).await.unwrap();
    // Source: go-gitea/gitea modules/actions/workflows.go `ListWorkflows` — `.gitea/workflows`
    // recursively; `.github/workflows` only when the first is absent.
    g.set_commit(
        REPO,
        "both",
        &[
            (".gitea/workflows/a.yml", "A"),
            (".gitea/workflows/sub/b.yaml", "B"),
            (".gitea/workflows/notes.txt", "x"),
            (".github/workflows/c.yml", "C"),
        ],
    );
    g.set_commit(
        REPO,
        "github-only",
        &[(".github/workflows/c.yml", "C"), ("README.md", "r")],
    );
    g.set_commit(
        REPO,
        "forgejo",
        &[
            (".forgejo/workflows/f.yml", "F"),
            (".gitea/workflows/a.yml", "A"),
        ],
    );
    g
}

fn forge(g: &FakeGitea, flavor: Flavor, clock: Arc<ManualClock>) -> GiteaForge {
    GiteaForge::new(GiteaConfig::new(g.url(), Secret::new(TOKEN), flavor), clock).unwrap()
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(
        time::macros::datetime!(2030-01-01 00:00 UTC),
    ))
}

fn repo() -> RepoRef {
    RepoRef::parse(REPO).unwrap()
}

fn request(name: &str) -> RunnerRequest {
    RunnerRequest {
        scope: RunnerScope::Repo(repo()),
        name: name.into(),
        labels: vec!["go".into()],
        work_folder: "_work".into(),
    }
}

fn paths(files: &[(String, String)]) -> Vec<&str> {
    files.iter().map(|(p, _)| p.as_str()).collect()
}

#[tokio::test]
async fn workflow_folders_as_gitea_and_forgejo_read_them() {
    let g = fake(GiteaKind::Gitea).await;
    let gitea = forge(&g, Flavor::Gitea, clock());
    let files = gitea.workflow_files(&repo(), "both").await.unwrap();
    assert_eq!(
        paths(&files),
        vec![".gitea/workflows/a.yml", ".gitea/workflows/sub/b.yaml"]
    );
    assert_eq!(files[0].1, "A");
    let files = gitea.workflow_files(&repo(), "github-only").await.unwrap();
    assert_eq!(paths(&files), vec![".github/workflows/c.yml"]);
    let forgejo = forge(&g, Flavor::Forgejo, clock());
    assert_eq!(
        paths(&forgejo.workflow_files(&repo(), "forgejo").await.unwrap()),
        vec![".forgejo/workflows/f.yml"]
    );
    // Every call carried the API token the way Gitea expects it.
    assert!(g
        .calls()
        .iter()
        .all(|c| c.authorization.as_deref() == Some("token gitea-api-token")));
}

#[tokio::test]
async fn compare_lists_files_of_every_commit() {
    let g = fake(GiteaKind::Gitea).await;
    let changed = forge(&g, Flavor::Gitea, clock())
        .changed_files(&repo(), "github-only", "both")
        .await
        .unwrap();
    // Added, and removed (README.md) files count; the unchanged .github/workflows/c.yml does not.
    assert_eq!(
        changed,
        vec![
            ".gitea/workflows/a.yml",
            ".gitea/workflows/notes.txt",
            ".gitea/workflows/sub/b.yaml",
            "README.md"
        ]
    );
}

#[tokio::test]
async fn registration_token_post_on_new_gitea_get_on_older() {
    let g = fake(GiteaKind::Gitea).await;
    let cred = forge(&g, Flavor::Gitea, clock())
        .runner_credential(&request("sortie-a-1"))
        .await
        .unwrap();
    let RunnerCredential::RegistrationToken {
        instance_url,
        token,
        runner_name,
        labels,
    } = cred
    else {
        panic!("expected a registration token");
    };
    assert_eq!(
        (instance_url, token.expose(), runner_name.as_str(), labels),
        (
            g.url(),
            "regtoken0001",
            "sortie-a-1",
            vec!["go".to_string()]
        )
    );
    assert_eq!(g.calls_to("runners/registration-token").len(), 1);
    assert!(
        g.calls_to("POST /api/v1/repos/acme/app/actions/runners")
            .iter()
            .all(|c| c.path.ends_with("registration-token")),
        "Gitea is never asked for the ephemeral API"
    );

    let old = fake(GiteaKind::GiteaLegacy).await;
    forge(&old, Flavor::Gitea, clock())
        .runner_credential(&request("sortie-a-1"))
        .await
        .unwrap();
    let methods: Vec<String> = old
        .calls_to("registration-token")
        .into_iter()
        .map(|c| c.method)
        .collect();
    assert_eq!(methods, vec!["POST", "GET"]);
}

// Forgejo ≥ 15 "Using Forgejo's HTTP API": POST …/actions/runners {name, ephemeral: true}.
#[tokio::test]
async fn forgejo_registers_an_ephemeral_runner() {
    let g = fake(GiteaKind::Forgejo).await;
    let cred = forge(&g, Flavor::Forgejo, clock())
        .runner_credential(&request("sortie-b-1"))
        .await
        .unwrap();
    let RunnerCredential::EphemeralRunner {
        runner_id,
        uuid,
        token,
        runner_name,
        ..
    } = &cred
    else {
        panic!("expected an ephemeral runner, got {cred:?}");
    };
    assert_eq!(runner_name, "sortie-b-1");
    assert!(!token.expose().is_empty() && !uuid.is_empty());
    let registered = g.runners();
    assert_eq!(registered.len(), 1);
    assert!(registered[0].ephemeral);
    assert_eq!(registered[0].id, *runner_id);
    assert!(
        g.registration_tokens().is_empty(),
        "no reusable registration token was minted"
    );
}

#[tokio::test]
async fn older_forgejo_falls_back_once_and_remembers() {
    let g = fake(GiteaKind::ForgejoLegacy).await;
    let f = forge(&g, Flavor::Forgejo, clock());
    for name in ["sortie-c-1", "sortie-c-2"] {
        let cred = f.runner_credential(&request(name)).await.unwrap();
        assert!(
            matches!(cred, RunnerCredential::RegistrationToken { .. }),
            "{cred:?}"
        );
    }
    let posts = g
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST" && c.path.ends_with("/actions/runners"))
        .count();
    assert_eq!(posts, 1, "the capability is probed once");
}

#[tokio::test]
async fn runners_listed_in_both_shapes_and_spent_ones_deleted() {
    for kind in [GiteaKind::Gitea, GiteaKind::Forgejo] {
        let g = fake(kind).await;
        let f = forge(&g, Flavor::Gitea, clock());
        for i in 0..60 {
            g.add_runner("repo:acme/app", &format!("sortie-{i:04}-1"), false, false);
        }
        g.add_runner("repo:acme/app", "sortie-running-1", true, true);
        g.add_runner("repo:acme/app", "host", false, false);
        assert_eq!(
            f.list_runners(&RunnerScope::Repo(repo()))
                .await
                .unwrap()
                .len(),
            62,
            "{kind:?}"
        );
        let report = delete_spent_runners(
            &f,
            &RunnerScope::Repo(repo()),
            RUNNER_PREFIX,
            &HashSet::new(),
        )
        .await
        .unwrap();
        assert_eq!(report.deleted.len(), 60, "{kind:?}");
        let left: Vec<String> = g.runners().into_iter().map(|r| r.name).collect();
        assert_eq!(left, vec!["sortie-running-1", "host"]);
    }
}

#[tokio::test]
async fn instance_scope_uses_the_admin_routes() {
    let g = fake(GiteaKind::Gitea).await;
    let f = forge(&g, Flavor::Gitea, clock());
    let req = RunnerRequest {
        scope: RunnerScope::Instance,
        ..request("sortie-d-1")
    };
    f.runner_credential(&req).await.unwrap();
    assert_eq!(
        g.calls_to("POST /api/v1/admin/actions/runners/registration-token")
            .len(),
        1
    );
    let id = g.add_runner("instance", "sortie-old-1", false, false);
    f.delete_runner(&RunnerScope::Instance, id).await.unwrap();
    f.delete_runner(&RunnerScope::Instance, id).await.unwrap();
    assert!(
        g.runners().is_empty(),
        "second delete of a gone runner is fine"
    );
}

#[tokio::test]
async fn proxy_429_with_retry_after_delays_but_loses_nothing() {
    let g = fake(GiteaKind::Gitea).await;
    let c = clock();
    let f = forge(&g, Flavor::Gitea, c.clone());
    g.script(ScriptedFailure::too_many_requests(7).on("registration-token"));
    f.runner_credential(&request("sortie-e-1")).await.unwrap();
    assert_eq!(c.sleeps(), vec![Duration::from_secs(7)]);
    assert_eq!(g.registration_tokens().len(), 1);
}

#[tokio::test]
async fn server_errors_are_retried_with_bounded_backoff() {
    let g = fake(GiteaKind::Gitea).await;
    let c = clock();
    let f = forge(&g, Flavor::Gitea, c.clone());
    g.script(ScriptedFailure::status(502, "bad gateway"));
    g.script(ScriptedFailure::status(503, "unavailable"));
    assert_eq!(f.workflow_files(&repo(), "both").await.unwrap().len(), 2);
    assert_eq!(
        c.sleeps(),
        vec![Duration::from_millis(500), Duration::from_secs(1)]
    );
}

#[tokio::test]
async fn a_wrong_token_says_what_to_check() {
    let g = fake(GiteaKind::Gitea).await;
    let f = GiteaForge::new(
        GiteaConfig::new(g.url(), Secret::new("wrong"), Flavor::Gitea),
        clock(),
    )
    .unwrap();
    let err = f.workflow_files(&repo(), "both").await.unwrap_err();
    assert!(
        matches!(err, ForgeError::Unauthorized { forge: "Gitea", .. }),
        "{err}"
    );
    assert!(!err.is_transient());
}

#[tokio::test]
async fn unreachable_forge_is_transient() {
    let cfg = GiteaConfig {
        retry: RetryPolicy {
            max_attempts: 2,
            ..RetryPolicy::default()
        },
        ..GiteaConfig::new("http://127.0.0.1:9", Secret::new(TOKEN), Flavor::Gitea)
    };
    let c = clock();
    let err = GiteaForge::new(cfg, c.clone())
        .unwrap()
        .workflow_files(&repo(), "x")
        .await
        .unwrap_err();
    assert!(matches!(err, ForgeError::Unreachable { .. }), "{err}");
    assert!(err.is_transient());
    assert_eq!(c.sleeps().len(), 1);
}

#[tokio::test]
async fn git_credential_only_when_configured() {
    let g = fake(GiteaKind::Gitea).await;
    assert!(forge(&g, Flavor::Gitea, clock())
        .git_credential(&repo())
        .await
        .unwrap()
        .is_none());
    let cfg = GiteaConfig {
        git_read_token: Some(Secret::new("ro")),
        ..GiteaConfig::new(g.url(), Secret::new(TOKEN), Flavor::Gitea)
    };
    let cred = GiteaForge::new(cfg, clock())
        .unwrap()
        .git_credential(&repo())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(cred.password.expose(), "ro");
    assert_eq!(cred.expires_at, None);
    assert!(GiteaForge::new(
        GiteaConfig::new(g.url(), Secret::new(TOKEN), Flavor::Github),
        clock()
    )
    .is_err());
}
