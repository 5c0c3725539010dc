//! Push mode in the planner: the pure parts from real plans (real YAML, Gitea's documented push
//! payload), and `plan_push` against the fake Gitea over HTTP for the error paths.

use super::*;
use crate::fleet::{Limits, ScopeRule};
use crate::ingest::Load;
use crate::planner::PlannerOptions;
use sortie_core::catalog::Catalog;
use sortie_core::job::{JobEvent, JobKey};
use sortie_core::labels::RoutingConfig;
use sortie_core::plan::{plan, PlanRequest};
use sortie_forge::clock::SystemClock;
use sortie_forge::gitea::{GiteaConfig, GiteaForge};
use sortie_forge::push::ChangedFilesSource;
use sortie_forge::ratelimit::RetryPolicy;
use sortie_forge::{RepoRef, Secret};
use sortie_store::{DeliveryId, Store, Timestamp};
use sortie_testkit::forge::payloads::{gitea_push, PushedCommit};
use sortie_testkit::forge::workflows::{BROKEN, C0, C1, GPU, RELEASE};
use sortie_testkit::forge::{FakeGitea, GiteaKind, ScriptedFailure};
use std::collections::BTreeMap;
use std::sync::Arc;

const BUILD: &str = "on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: go
    steps:
      - run: make
  test:
    strategy:
      matrix:
        runner: [go, docker]
        version: ['1', '2']
    runs-on: ${{ matrix.runner }}
    steps:
      - run: make test
";

const TOKEN: &str = "t";

fn payload(git_ref: &str) -> Vec<u8> {
    let commit = PushedCommit {
        id: C1.into(),
        modified: vec!["src/main.go".into()],
    };
    gitea_push("acme/app", git_ref, C0, C1, &[commit], None).unwrap()
}

fn delivery(body: Vec<u8>) -> Delivery {
    Delivery {
        id: DeliveryId("push-1".into()),
        forge: Flavor::Gitea,
        event: "push".into(),
        headers: BTreeMap::new(),
        body,
        received_at: Timestamp::from_millis(1),
    }
}

/// A plan as `plan_push` would make it, without the network.
fn push_plan(git_ref: &str, files: &[(&str, &str)]) -> PushPlan {
    let body = payload(git_ref);
    let event = Event::parse(Flavor::Gitea, "push", &body).unwrap();
    let files: Vec<(String, String)> = files
        .iter()
        .map(|(p, c)| (p.to_string(), c.to_string()))
        .collect();
    let routing = RoutingConfig::default();
    let catalog = Catalog::builtin();
    PushPlan {
        repo: RepoRef::parse("acme/app").unwrap(),
        commit: C1.into(),
        plan: plan(&PlanRequest {
            flavor: Flavor::Gitea,
            event: &event,
            files: &files,
            changed_files: None,
            routing: &routing,
            catalog: &catalog,
        }),
        changed_files: ChangedFilesSource::Payload,
    }
}

#[test]
fn every_expanded_job_becomes_a_push_keyed_job_routed_like_the_plan() {
    let p = push_plan(
        "refs/heads/main",
        &[
            (".gitea/workflows/build.yml", BUILD),
            (".gitea/workflows/gpu.yml", GPU),
        ],
    );
    let d = delivery(payload("refs/heads/main"));
    let decisions = decide_push(&d, &p);
    let got: Vec<(String, Vec<String>)> = decisions
        .iter()
        .map(|j| {
            let JobKey::Push {
                workflow,
                job,
                matrix_index,
                commit,
                ..
            } = &j.job.key
            else {
                panic!("push key expected: {}", j.job.key)
            };
            assert_eq!(commit, C1);
            (
                format!("{workflow}/{job}/{matrix_index}"),
                j.job.labels.clone(),
            )
        })
        .collect();
    let want = |k: &str, l: &str| (k.to_string(), vec![l.to_string()]);
    assert_eq!(
        got,
        vec![
            want(".gitea/workflows/build.yml/build/0", "go"),
            want(".gitea/workflows/build.yml/test/0", "go"),
            want(".gitea/workflows/build.yml/test/1", "go"),
            want(".gitea/workflows/build.yml/test/2", "docker"),
            want(".gitea/workflows/build.yml/test/3", "docker"),
            want(".gitea/workflows/gpu.yml/train/0", "no-such-label-anywhere"),
        ]
    );
    for j in &decisions {
        assert_eq!(j.job.delivery, Some(d.id.clone()));
        assert_eq!(j.event, None);
        // The same words as a workflow_job delivery: decide.rs's settle_event.
        assert_eq!(j.settle, settle_event(&j.job.route));
    }
    let gpu = decisions.last().unwrap();
    assert!(!gpu.job.route.is_served());
    let (event, reason) = gpu.settle.clone().expect("an unknown label is settled");
    assert_eq!(event, JobEvent::Fail);
    assert!(reason.starts_with("unroutable: "), "{reason}");
    assert!(decisions[..5].iter().all(|j| j.settle.is_none()));
}

#[test]
fn the_outcome_counts_the_jobs_and_names_each_workflows_verdict() {
    let p = push_plan(
        "refs/heads/main",
        &[
            (".gitea/workflows/build.yml", BUILD),
            (".gitea/workflows/broken.yml", BROKEN),
            (".gitea/workflows/release.yml", RELEASE),
        ],
    );
    let tally = JobTally {
        created: 5,
        known: 0,
        not_served: vec![],
    };
    let out = push_outcome(&p, &tally);
    assert!(
        out.starts_with("push refs/heads/main at c10000000000: created 5 jobs; .gitea/workflows: build.yml: 5 jobs; broken.yml: invalid workflow, not run: "),
        "{out}"
    );
    let release = p
        .plan
        .workflows
        .iter()
        .find(|w| w.path.ends_with("release.yml"))
        .unwrap();
    assert!(
        out.ends_with(&format!("; release.yml: {}", release.reason)),
        "{out}"
    );
    assert!(out.contains("(line "), "the YAML error's position: {out}");

    let again = JobTally {
        created: 0,
        known: 5,
        not_served: vec![],
    };
    assert!(push_outcome(&p, &again).contains(": no new jobs, 5 jobs already known;"));
    let some = JobTally {
        created: 2,
        known: 1,
        not_served: (0..5).map(|i| format!("j{i}: unroutable: x")).collect(),
    };
    let out = push_outcome(&p, &some);
    assert!(
        out.contains("created 2 jobs, 1 already known (5 will not run: j0: unroutable: x; j1: unroutable: x; j2: unroutable: x; 2 more);"),
        "{out}"
    );
}

#[test]
fn a_push_that_matches_nothing_says_why_per_workflow() {
    let p = push_plan(
        "refs/heads/feature/x",
        &[
            (".gitea/workflows/build.yml", BUILD),
            (".gitea/workflows/release.yml", RELEASE),
        ],
    );
    let out = push_outcome(&p, &JobTally::default());
    let reasons: Vec<&str> = p.plan.workflows.iter().map(|w| w.reason.as_str()).collect();
    assert_eq!(
        out,
        format!(
            "push refs/heads/feature/x at c10000000000: no jobs; .gitea/workflows: build.yml: {}; release.yml: {}",
            reasons[0], reasons[1]
        )
    );
    assert!(reasons[0].contains("feature/x"), "{}", reasons[0]);
    // Files from two folders (a `--workflows` plan, say) keep their paths.
    let mixed = push_plan(
        "refs/heads/feature/x",
        &[
            (".gitea/workflows/build.yml", BUILD),
            (".github/workflows/release.yml", RELEASE),
        ],
    );
    let out = push_outcome(&mixed, &JobTally::default());
    assert!(
        out.contains("no jobs; .gitea/workflows/build.yml: "),
        "{out}"
    );
    let none = push_plan("refs/heads/main", &[]);
    assert_eq!(
        push_outcome(&none, &JobTally::default()),
        "push refs/heads/main at c10000000000: no jobs; no workflow files at this commit (read .gitea/workflows or .github/workflows)"
    );
}

#[test]
fn long_outcomes_are_cut_readably() {
    let long_branch = format!("refs/heads/{}", "é".repeat(400));
    let files: Vec<(String, String)> = (0..60)
        .map(|i| (format!(".gitea/workflows/w{i:02}.yml"), BUILD.to_string()))
        .collect();
    let refs: Vec<(&str, &str)> = files
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_str()))
        .collect();
    let p = push_plan(&long_branch, &refs);
    let out = push_outcome(&p, &JobTally::default());
    assert!(
        out.len() < OUTCOME_SOFT_MAX + 2 * REASON_MAX + 100,
        "{}",
        out.len()
    );
    assert!(out.contains("…; w0"), "each reason is clipped: {out}");
    assert!(out.ends_with("more workflows"), "{out}");
    assert_eq!(clip("abcdef", 3), "abc…");
    assert_eq!(clip("ééé", 3), "é…", "cut on a character boundary");
    assert_eq!(clip("abc", 3), "abc");
}

async fn sqlite() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (dir, sortie_store::open(&url).await.unwrap())
}

fn gitea_client(url: &str, flavor: Flavor) -> Arc<dyn sortie_forge::Forge> {
    let mut config = GiteaConfig::new(url, Secret::new(TOKEN), flavor);
    // One attempt per call: the planner, not the client, decides when to try again.
    config.retry = RetryPolicy {
        max_attempts: 1,
        ..RetryPolicy::default()
    };
    Arc::new(GiteaForge::new(config, Arc::new(SystemClock)).unwrap())
}

fn fleet(store: Arc<dyn Store>, forges: &[(Flavor, &str, ForgeMode)]) -> Fleet {
    Fleet {
        store,
        forges: forges
            .iter()
            .map(|(flavor, url, mode)| {
                let handle = ForgeHandle {
                    forge: gitea_client(url, *flavor),
                    scope: ScopeRule::Repo,
                    mode: *mode,
                    web_url: url.to_string(),
                };
                (*flavor, handle)
            })
            .collect(),
        providers: BTreeMap::new(),
        public_url: "http://127.0.0.1:1".into(),
        owner: "test".into(),
        replica: "test".into(),
        limits: Limits::default(),
        metrics: Arc::default(),
        default_provider: "local".into(),
        wake: Arc::default(),
    }
}

#[tokio::test]
async fn which_pushes_are_planned_and_what_the_others_say_to_configure() {
    let (_dir, store) = sqlite().await;
    let url = "http://127.0.0.1:1";
    let push = fleet(store.clone(), &[(Flavor::Gitea, url, ForgeMode::Push)]);
    let wj = fleet(
        store.clone(),
        &[(Flavor::Gitea, url, ForgeMode::WorkflowJob)],
    );
    // (fleet, delivered by, planned, fragment of the outcome when not)
    let rows: [(Option<&Fleet>, Flavor, bool, &str); 5] = [
        (Some(&push), Flavor::Gitea, true, ""),
        (Some(&push), Flavor::Forgejo, true, ""),
        (Some(&wj), Flavor::Gitea, false, "workflow_job mode"),
        (
            None,
            Flavor::Gitea,
            false,
            "no gitea API connection is configured",
        ),
        (Some(&push), Flavor::Github, false, "\"Workflow jobs\""),
    ];
    for (fleet, by, planned, fragment) in rows {
        match push_connection(fleet, by) {
            Ok(h) => assert!(planned, "{by}: {h:?}"),
            Err(outcome) => {
                assert!(!planned, "{by}: {outcome}");
                assert!(
                    outcome.starts_with("stored; not planned (event push): "),
                    "{outcome}"
                );
                assert!(outcome.contains(fragment), "{outcome}");
                assert!(
                    outcome.contains("mode = \"push\""),
                    "names the setting: {outcome}"
                );
            }
        }
    }
}

fn planner(store: Arc<dyn Store>, fleet: Fleet, forge_timeout: Duration) -> Planner {
    Planner {
        store,
        routing: RoutingConfig::default(),
        catalog: Catalog::builtin(),
        owner: "test".into(),
        options: PlannerOptions {
            forge_timeout,
            // Holds after a failure last half of this: longer than any test.
            sweep_interval: Duration::from_secs(3600),
            ..PlannerOptions::default()
        },
        load: Load::default(),
        fleet: Some(Arc::new(fleet)),
    }
}

#[tokio::test]
async fn forge_errors_defer_when_transient_and_name_the_fix_when_permanent() {
    let (_dir, store) = sqlite().await;
    let g = FakeGitea::start(GiteaKind::Gitea, TOKEN).await.unwrap();
    g.set_commit("acme/app", C1, &[(".gitea/workflows/build.yml", BUILD)]);
    let f = fleet(store.clone(), &[(Flavor::Gitea, &g.url(), ForgeMode::Push)]);
    let p = planner(store.clone(), f, Duration::from_secs(30));
    let backoff = ForgeBackoff::default();
    let d = delivery(payload("refs/heads/main"));

    g.script(ScriptedFailure::status(503, "maintenance").on("/contents/"));
    let Err(Deferred::Forge(reason)) = p.plan_push(&d, &backoff).await else {
        panic!("a 503 defers the push")
    };
    assert!(reason.contains("503"), "{reason}");
    // Held back: the next push of this forge does not call it again until the hold passes.
    let calls = g.calls().len();
    let Err(Deferred::Forge(reason)) = p.plan_push(&d, &backoff).await else {
        panic!("held back")
    };
    assert!(reason.contains("failed a moment ago"), "{reason}");
    assert_eq!(g.calls().len(), calls);
    assert!(store
        .list_jobs(Default::default())
        .await
        .unwrap()
        .is_empty());

    // A token without the permission is permanent: the outcome says so, and what to do.
    let backoff = ForgeBackoff::default();
    g.script(ScriptedFailure::status(403, "token does not have read:repository").on("/contents/"));
    let out = p.plan_push(&d, &backoff).await.unwrap();
    assert!(
        out.starts_with("not planned: reading the workflows from gitea failed: "),
        "{out}"
    );
    assert!(
        out.contains("HTTP 403") && out.contains("push again"),
        "{out}"
    );

    // Recovered: the push is planned.
    let out = p.plan_push(&d, &backoff).await.unwrap();
    assert!(out.contains("created 5 jobs"), "{out}");
    // A deleted branch plans nothing and calls nothing.
    let calls = g.calls().len();
    let deleted = gitea_push(
        "acme/app",
        "refs/heads/main",
        C1,
        &"0".repeat(40),
        &[],
        None,
    )
    .unwrap();
    let out = p.plan_push(&delivery(deleted), &backoff).await.unwrap();
    assert_eq!(out, "push refs/heads/main: branch deleted; nothing to plan");
    assert_eq!(g.calls().len(), calls);
}

#[tokio::test]
async fn a_forge_that_does_not_answer_is_cut_off_by_the_timeout() {
    let (_dir, store) = sqlite().await;
    // Accepts connections (the kernel's backlog) and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let f = fleet(store.clone(), &[(Flavor::Gitea, &url, ForgeMode::Push)]);
    let p = planner(store, f, Duration::from_millis(200));
    let outcome = p
        .plan_push(
            &delivery(payload("refs/heads/main")),
            &ForgeBackoff::default(),
        )
        .await;
    let Err(Deferred::Forge(reason)) = outcome else {
        panic!("a silent forge defers the push: {outcome:?}")
    };
    assert!(reason.contains("did not answer within"), "{reason}");
    drop(silent);
}
