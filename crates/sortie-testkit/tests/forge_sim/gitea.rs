//! The fake Gitea/Forgejo as a simulation, driven over real HTTP.

use crate::support::{is_guid, Receiver, Runner, Signer};
use serde_json::{json, Value};
use sortie_testkit::forge::{FakeGitea, GiteaKind, JobStatus};
use std::time::Duration;

const TOKEN: &str = "gitea-api-token";
const REPO: &str = "acme/app";
const SECRET: &str = "gitea-secret";

async fn fake(kind: GiteaKind) -> FakeGitea {
    let g = FakeGitea::start(kind, TOKEN).await.unwrap();
    g.set_job_duration(Duration::from_millis(1));
    g
}

async fn api(g: &FakeGitea, method: reqwest::Method, path: &str) -> (u16, Value) {
    let resp = reqwest::Client::new()
        .request(method, format!("{}/api/v1{path}", g.url()))
        .header("authorization", format!("token {TOKEN}"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn registration_token(g: &FakeGitea, method: reqwest::Method) -> String {
    let (status, v) = api(
        g,
        method,
        &format!("/repos/{REPO}/actions/runners/registration-token"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    v["token"].as_str().unwrap().to_string()
}

const WORKFLOW: (&str, &str) = (
    ".gitea/workflows/ci.yml",
    "on: push\njobs:\n  a:\n    runs-on: go\n",
);

#[tokio::test]
async fn older_gitea_push_mode_sends_push_only_and_runners_take_the_tasks() {
    let g = fake(GiteaKind::GiteaLegacy).await;
    let rx = Receiver::start(Signer::Gitea, SECRET).await;
    g.set_webhook(&rx.url, SECRET);
    let jobs = g.push_with_jobs(
        REPO,
        "c0",
        "c1",
        &[WORKFLOW, ("main.go", "package main")],
        &["main.go"],
        &[&["go"], &["docker"]],
    );
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].run_id, jobs[1].run_id, "one run for the push");
    assert_eq!(jobs[0].head_sha, "c1");
    g.flush_webhooks().await;

    let got = rx.received();
    assert_eq!(
        got.len(),
        1,
        "a push, and no workflow_job on Gitea before 1.24"
    );
    let push = &got[0];
    assert_eq!(push.header("x-gitea-event"), Some("push"));
    assert_eq!(push.header("x-gogs-event"), Some("push"));
    assert!(is_guid(push.header("x-gitea-delivery").unwrap()));
    let v = push.json();
    assert_eq!(
        (v["before"].as_str(), v["after"].as_str()),
        (Some("c0"), Some("c1"))
    );
    assert_eq!(v["commits"][0]["modified"], json!(["main.go"]));
    assert_eq!(v["repository"]["full_name"], REPO);
    let (status, file) = api(
        &g,
        reqwest::Method::GET,
        &format!("/repos/{REPO}/contents/main.go?ref=c1"),
    )
    .await;
    assert_eq!(
        (status, file["type"].as_str()),
        (200, Some("file")),
        "the pushed commit is stored"
    );

    let token = registration_token(&g, reqwest::Method::GET).await;
    let runner = Runner::new(&g.url());
    let (status, _) = runner
        .connect(json!({ "registration_token": "nope", "name": "x", "labels": ["go"] }))
        .await;
    assert_eq!(status, 401);
    let id = runner
        .connected(json!({ "registration_token": token, "name": "sortie-d-1", "labels": ["docker:docker://node:20"], "ephemeral": true }))
        .await;
    let listed = g.runners();
    assert_eq!(
        (listed[0].name.as_str(), listed[0].labels.clone()),
        ("sortie-d-1", vec!["docker".to_string()])
    );
    assert_eq!(listed[0].scope, format!("repo:{REPO}"));
    let (status, got) = runner.next(id, 1000).await;
    assert_eq!(
        (status, got["job_id"].as_u64()),
        (200, Some(jobs[1].id)),
        "taken by label"
    );
    assert_eq!(runner.finish(id, jobs[1].id, "failure").await.0, 200);
    assert_eq!(
        g.job(jobs[1].id).unwrap().conclusion.as_deref(),
        Some("failure")
    );
    assert!(
        g.runners().is_empty(),
        "an ephemeral runner is removed after its job"
    );
    assert_eq!(g.job(jobs[0].id).unwrap().status, JobStatus::Queued);
    g.flush_webhooks().await;
    assert_eq!(rx.received().len(), 1);
}

#[tokio::test]
async fn gitea_1_24_sends_workflow_job_webhooks_in_its_own_shape() {
    let g = fake(GiteaKind::Gitea).await;
    let rx = Receiver::start(Signer::Gitea, SECRET).await;
    g.set_webhook(&rx.url, SECRET);
    let job = g.queue_job(REPO, &["ubuntu-latest"]);
    let token = registration_token(&g, reqwest::Method::POST).await;
    let runner = Runner::new(&g.url());
    let id = runner
        .connected(
            json!({ "registration_token": token, "name": "keeper", "labels": ["ubuntu-latest"] }),
        )
        .await;
    assert_eq!(
        runner.next(id, 1000).await.1["job_id"].as_u64(),
        Some(job.id)
    );
    assert_eq!(runner.finish(id, job.id, "success").await.0, 200);
    let kept = g.runners();
    assert_eq!(
        (kept.len(), kept[0].busy),
        (1, false),
        "a non-ephemeral runner stays, idle"
    );
    g.flush_webhooks().await;

    let got = rx.received();
    let actions: Vec<String> = got
        .iter()
        .map(|r| r.json()["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(actions, ["queued", "in_progress", "completed"]);
    assert!(got
        .iter()
        .all(|r| r.header("x-gitea-event") == Some("workflow_job")));
    let queued = got[0].json();
    let w = &queued["workflow_job"];
    assert_eq!(
        (w["id"].as_u64(), w["status"].as_str()),
        (Some(job.id), Some("queued"))
    );
    assert!(
        w.get("runner_id").is_none() && w.get("conclusion").is_none(),
        "omitted while empty: {w}"
    );
    assert_eq!(w["started_at"], "1970-01-01T00:00:00Z");
    assert_eq!(queued["repository"]["full_name"], REPO);
    assert_eq!(queued["repository"]["owner"]["username"], "acme");
    let running = got[1].json();
    assert_eq!(running["workflow_job"]["runner_name"], "keeper");
    assert_eq!(got[2].json()["workflow_job"]["conclusion"], "success");

    g.set_workflow_job_webhooks(false);
    g.queue_job(REPO, &["ubuntu-latest"]);
    g.flush_webhooks().await;
    assert_eq!(rx.received().len(), 3, "switched off");
}

#[tokio::test]
async fn gitea_matches_labels_exactly() {
    let g = fake(GiteaKind::Gitea).await;
    let upper = g.queue_job(REPO, &["Linux"]);
    let lower = g.queue_job(REPO, &["linux"]);
    let token = registration_token(&g, reqwest::Method::POST).await;
    let runner = Runner::new(&g.url());
    let id = runner
        .connected(json!({ "registration_token": token, "name": "r", "labels": ["linux"] }))
        .await;
    assert_eq!(
        runner.next(id, 0).await.1["job_id"].as_u64(),
        Some(lower.id)
    );
    assert_eq!(g.job(upper.id).unwrap().status, JobStatus::Queued);
}

#[tokio::test]
async fn a_forgejo_ephemeral_runner_connects_with_uuid_and_token_once() {
    let g = fake(GiteaKind::Forgejo).await;
    let rx = Receiver::start(Signer::Forgejo, SECRET).await;
    g.set_webhook(&rx.url, SECRET);
    let jobs = g.push_with_jobs(
        REPO,
        "c0",
        "c1",
        &[WORKFLOW],
        &[".gitea/workflows/ci.yml"],
        &[&["go"]],
    );
    let resp = reqwest::Client::new()
        .post(format!("{}/api/v1/repos/{REPO}/actions/runners", g.url()))
        .header("authorization", format!("token {TOKEN}"))
        .header("content-type", "application/json")
        .body(serde_json::to_vec(&json!({ "name": "sortie-f-1", "ephemeral": true })).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let reg: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    let cred = json!({ "uuid": reg["uuid"], "token": reg["token"], "labels": ["go"] });
    let runner = Runner::new(&g.url());
    let (status, _) = runner
        .connect(json!({ "uuid": reg["uuid"], "token": "wrong" }))
        .await;
    assert_eq!(status, 401);
    let id = runner.connected(cred.clone()).await;
    assert_eq!(Some(id), reg["id"].as_u64());
    assert_eq!(
        runner.next(id, 1000).await.1["job_id"].as_u64(),
        Some(jobs[0].id)
    );
    assert_eq!(runner.finish(id, jobs[0].id, "success").await.0, 200);
    assert!(g.runners().is_empty());
    assert_eq!(
        runner.connect(cred).await.0,
        401,
        "the token died with the job"
    );

    g.flush_webhooks().await;
    let got = rx.received();
    assert_eq!(got.len(), 1, "a push; Forgejo sends no workflow_job");
    assert_eq!(got[0].header("x-forgejo-event"), Some("push"));
}

#[tokio::test]
async fn gitea_lists_runs_and_jobs_by_status() {
    let g = fake(GiteaKind::Gitea).await;
    let a = g.queue_job_with(REPO, 900, 1, "lint", &["go"]);
    let b = g.queue_job_with(REPO, 900, 1, "test", &["go"]);
    let other = g.queue_job("bob/tool", &["go"]);
    let token = registration_token(&g, reqwest::Method::POST).await;
    let runner = Runner::new(&g.url());
    let id = runner
        .connected(json!({ "registration_token": token, "name": "r", "labels": ["go"] }))
        .await;
    assert_eq!(runner.next(id, 0).await.1["job_id"].as_u64(), Some(a.id));

    let (status, v) = api(
        &g,
        reqwest::Method::GET,
        &format!("/repos/{REPO}/actions/jobs?status=queued"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(v["total_count"], 1);
    assert_eq!(v["jobs"][0]["id"].as_u64(), Some(b.id));
    let (_, v) = api(
        &g,
        reqwest::Method::GET,
        &format!("/repos/{REPO}/actions/jobs?status=queued&status=in_progress"),
    )
    .await;
    assert_eq!(v["total_count"], 2);
    let (_, v) = api(
        &g,
        reqwest::Method::GET,
        &format!("/repos/{REPO}/actions/runs/900/jobs?limit=1&page=2"),
    )
    .await;
    assert_eq!(
        (v["total_count"].as_u64(), v["jobs"][0]["id"].as_u64()),
        (Some(2), Some(b.id))
    );
    let (_, v) = api(
        &g,
        reqwest::Method::GET,
        &format!("/repos/{REPO}/actions/jobs/{}", a.id),
    )
    .await;
    assert_eq!(
        (v["status"].as_str(), v["runner_name"].as_str()),
        (Some("in_progress"), Some("r"))
    );
    let (_, v) = api(
        &g,
        reqwest::Method::GET,
        &format!("/repos/{REPO}/actions/runs?status=in_progress"),
    )
    .await;
    assert_eq!(v["workflow_runs"][0]["id"], 900);
    assert_eq!(v["workflow_runs"][0]["repository"]["full_name"], REPO);
    let (_, v) = api(
        &g,
        reqwest::Method::GET,
        "/admin/actions/jobs?status=queued",
    )
    .await;
    let ids: Vec<u64> = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [b.id, other.id], "the instance sees every repository");
    let (_, v) = api(&g, reqwest::Method::GET, "/orgs/bob/actions/runs").await;
    assert_eq!(v["total_count"], 1);
    let (status, v) = api(
        &g,
        reqwest::Method::GET,
        "/admin/actions/jobs?status=sleeping",
    )
    .await;
    assert_eq!(status, 400, "{v}");

    let old = fake(GiteaKind::GiteaLegacy).await;
    assert_eq!(
        api(
            &old,
            reqwest::Method::GET,
            &format!("/repos/{REPO}/actions/jobs")
        )
        .await
        .0,
        404
    );
}

#[tokio::test]
async fn forgejo_searches_waiting_jobs_by_labels() {
    let g = fake(GiteaKind::Forgejo).await;
    let (status, v) = api(
        &g,
        reqwest::Method::GET,
        "/admin/actions/runners/jobs?labels=go",
    )
    .await;
    assert_eq!(
        (status, v),
        (200, Value::Null),
        "Go encodes no jobs as null"
    );
    let go = g.queue_job(REPO, &["go"]);
    g.queue_job(REPO, &["go", "gpu"]);
    let (_, v) = api(
        &g,
        reqwest::Method::GET,
        &format!("/repos/{REPO}/actions/runners/jobs?labels=go,docker"),
    )
    .await;
    let found = v.as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(
        (found[0]["id"].as_u64(), found[0]["status"].as_str()),
        (Some(go.id), Some("waiting"))
    );
    assert_eq!(found[0]["runs_on"], json!(["go"]));
}
