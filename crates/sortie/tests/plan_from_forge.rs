//! Drives the real `sortie plan --from-forge` binary against the fake Gitea: the workflow files
//! and the changed files come through the API, and the output is the offline plan's JSON.

use serde_json::Value;
use sortie_testkit::forge::payloads::{gitea_push, PushedCommit};
use sortie_testkit::forge::workflows::{BUILD_SRC as BUILD, C0, C1, LINT};
use sortie_testkit::forge::{FakeGitea, GiteaKind};
use std::path::Path;
use std::process::Output;

const TOKEN: &str = "s3cret-forge-token";

// Gitea semantics (go-gitea/gitea `modules/actions/workflows.go`): `paths` is matched against the
// files changed since `before`, so build.yml runs only when the compare API reports src/app.go.

/// A fake Gitea holding `acme/app` at C0 and C1 (C1 changes src/app.go and docs/readme.md).
async fn fake_gitea() -> FakeGitea {
    let g = FakeGitea::start(GiteaKind::Gitea, TOKEN)
        .await
        .expect("start the fake Gitea");
    for (sha, app) in [(C0, "v0"), (C1, "v1")] {
        g.set_commit(
            "acme/app",
            sha,
            &[
                (".gitea/workflows/build.yml", BUILD),
                (".gitea/workflows/lint.yml", LINT),
                ("src/app.go", app),
                ("docs/readme.md", sha),
            ],
        );
    }
    g
}

/// A push C0..C1 to main whose commit list is capped: one of three commits listed, touching
/// docs only, so only the compare API reveals src/app.go.
fn write_capped_push(dir: &Path) -> std::path::PathBuf {
    let commit = PushedCommit {
        id: C1.into(),
        modified: vec!["docs/readme.md".into()],
    };
    let payload = gitea_push("acme/app", "refs/heads/main", C0, C1, &[commit], Some(3))
        .expect("build the push payload");
    let path = dir.join("push.json");
    std::fs::write(&path, payload).expect("write the payload");
    path
}

async fn sortie(args: &[&str], token_env: Option<&str>) -> Output {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sortie"));
    cmd.args(args).env_remove("SORTIE_FORGE_TOKEN");
    if let Some(t) = token_env {
        cmd.env("SORTIE_FORGE_TOKEN", t);
    }
    cmd.output().await.expect("run sortie")
}

fn plan_args<'a>(payload: &'a str, url: &'a str) -> Vec<&'a str> {
    vec![
        "plan",
        "--forge",
        "gitea",
        "--event",
        "push",
        "--payload",
        payload,
        "--from-forge",
        url,
    ]
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn plans_a_capped_push_through_the_api_with_the_offline_json() {
    let g = fake_gitea().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let payload = write_capped_push(dir.path());
    let (payload, url) = (payload.to_string_lossy().into_owned(), g.url());
    let out = sortie(&plan_args(&payload, &url), Some(TOKEN)).await;
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status,
        stderr(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(stdout.trim_end().lines().count(), 1, "one JSON line");
    let plan: Value = serde_json::from_str(&stdout).expect("stdout is JSON");
    assert_eq!(plan["forge"], "gitea");
    assert_eq!(plan["ref"], "refs/heads/main");
    let workflows: Vec<(&str, bool)> = plan["workflows"]
        .as_array()
        .expect("workflows")
        .iter()
        .map(|w| (w["path"].as_str().unwrap_or(""), w["triggered"] == true))
        .collect();
    assert_eq!(
        workflows,
        [
            (".gitea/workflows/build.yml", true),
            (".gitea/workflows/lint.yml", true)
        ],
        "build.yml runs only because the compare API reported src/app.go: {plan}"
    );
    let jobs: Vec<(&str, &str)> = plan["workflows"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|w| w["jobs"].as_array().into_iter().flatten())
        .map(|j| {
            (
                j["name"].as_str().unwrap_or(""),
                j["runs_on"][0].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        jobs,
        [
            ("build", "go"),
            ("test (go)", "go"),
            ("test (docker)", "docker"),
            ("lint", "node")
        ]
    );
    assert_eq!(plan["errors"].as_array().map(Vec::len), Some(0));
    assert_eq!(g.calls_to(&format!("/compare/{C0}...{C1}")).len(), 1);
    let contents = g.calls_to("GET /api/v1/repos/acme/app/contents/.gitea/workflows");
    assert_eq!(contents.len(), 3, "one listing, two files: {contents:?}");
    assert!(contents
        .iter()
        .all(|c| c.query.as_deref() == Some(&format!("ref={C1}"))));
    assert!(!stderr(&out).contains(TOKEN));
}

#[tokio::test]
async fn a_refused_token_exits_1_naming_the_url_and_never_prints_the_token() {
    let g = fake_gitea().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let payload = write_capped_push(dir.path());
    let (payload, url) = (payload.to_string_lossy().into_owned(), g.url());
    let mut args = plan_args(&payload, &url);
    args.extend(["--forge-token", "wrong-token"]);
    let out = sortie(&args, None).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&url), "{err}");
    assert!(
        err.contains("401") && err.contains("SORTIE_FORGE_TOKEN"),
        "{err}"
    );
    assert!(!err.contains("wrong-token"), "the token leaked: {err}");
    assert!(out.stdout.is_empty());
}

#[tokio::test]
async fn an_unreachable_forge_exits_1_naming_the_url() {
    // A port that was free a moment ago: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let dir = tempfile::tempdir().expect("temp dir");
    let payload = write_capped_push(dir.path());
    let payload = payload.to_string_lossy().into_owned();
    let out = sortie(&plan_args(&payload, &url), Some(TOKEN)).await;
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&url) && err.contains("cannot reach"), "{err}");
}

#[tokio::test]
async fn unusable_input_exits_2_before_calling_the_forge() {
    let g = fake_gitea().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let payload = write_capped_push(dir.path());
    let (payload, url) = (payload.to_string_lossy().into_owned(), g.url());
    let no_token = sortie(&plan_args(&payload, &url), None).await;
    assert_eq!(no_token.status.code(), Some(2), "{}", stderr(&no_token));
    assert!(stderr(&no_token).contains("SORTIE_FORGE_TOKEN"));
    let mut not_push = plan_args(&payload, &url);
    not_push[4] = "pull_request";
    let bad_event = sortie(&not_push, Some(TOKEN)).await;
    assert_eq!(bad_event.status.code(), Some(2), "{}", stderr(&bad_event));
    let mut both = plan_args(&payload, &url);
    both.extend(["--workflows", "."]);
    let two_sources = sortie(&both, Some(TOKEN)).await;
    assert_eq!(
        two_sources.status.code(),
        Some(2),
        "clap rejects two sources"
    );
    assert!(g.calls().is_empty(), "{:?}", g.calls());
}
