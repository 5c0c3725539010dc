//! The fake GitHub as a simulation, driven over real HTTP.

use crate::support::{is_guid, Receiver, Runner, Signer};
use serde_json::{json, Value};
use sortie_testkit::eventually;
use sortie_testkit::forge::keys::{TEST_APP_PRIVATE_KEY, TEST_APP_PUBLIC_KEY};
use sortie_testkit::forge::{decode_jit_config, Assignment, FakeGithub, JobStatus};
use std::time::Duration;

const REPO: &str = "acme/app";
const SECRET: &str = "It's a Secret to Everybody";
const PAT: &str = "ghp_simulation";
const WAIT: Duration = Duration::from_secs(10);

async fn fake() -> FakeGithub {
    let gh = FakeGithub::start().await.unwrap();
    gh.register_app("12345", TEST_APP_PUBLIC_KEY);
    gh.add_repo(REPO, 42);
    gh.add_org("acme", 42);
    gh.add_pat(PAT);
    gh
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    json: Value,
}

async fn call(
    gh: &FakeGithub,
    method: reqwest::Method,
    path: &str,
    auth: &str,
    body: Option<Value>,
    etag: Option<&str>,
) -> Reply {
    let mut req = reqwest::Client::new()
        .request(method, format!("{}{path}", gh.url()))
        .header("authorization", auth)
        .header("x-github-api-version", "2022-11-28");
    if let Some(b) = body {
        req = req
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&b).unwrap());
    }
    if let Some(t) = etag {
        req = req.header("if-none-match", t);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status,
        headers,
        json,
    }
}

async fn get(gh: &FakeGithub, path: &str) -> Reply {
    call(
        gh,
        reqwest::Method::GET,
        path,
        &format!("Bearer {PAT}"),
        None,
        None,
    )
    .await
}

/// An App JWT as GitHub wants it (RS256, `iss` = App id, at most 10 minutes).
fn app_jwt() -> String {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let claims = json!({ "iat": now - 60, "exp": now + 540, "iss": "12345" });
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(TEST_APP_PRIVATE_KEY.as_bytes()).unwrap();
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .unwrap()
}

async fn jit(gh: &FakeGithub, name: &str, labels: &[&str]) -> Reply {
    let body =
        json!({ "name": name, "runner_group_id": 1, "labels": labels, "work_folder": "_work" });
    let path = format!("/repos/{REPO}/actions/runners/generate-jitconfig");
    call(
        gh,
        reqwest::Method::POST,
        &path,
        &format!("Bearer {PAT}"),
        Some(body),
        None,
    )
    .await
}

/// A JIT config for a new runner, connected; its runner id.
async fn jit_runner(gh: &FakeGithub, runner: &Runner, name: &str, labels: &[&str]) -> u64 {
    let r = jit(gh, name, labels).await;
    assert_eq!(r.status, 201, "{}", r.json);
    let encoded = r.json["encoded_jit_config"].as_str().unwrap().to_string();
    runner.connected(json!({ "jit_config": encoded })).await
}

#[tokio::test]
async fn a_queued_job_sends_a_signed_workflow_job_webhook() {
    let gh = fake().await;
    let rx = Receiver::start(Signer::Github, SECRET).await;
    gh.set_webhook(&rx.url, SECRET);
    let job = gh.queue_job(REPO, &["self-hosted", "linux", "go"]);
    assert_eq!(job.status, JobStatus::Queued);
    gh.flush_webhooks().await;

    let got = rx.received();
    assert_eq!(got.len(), 1, "refused: {}", rx.refused());
    let hook = &got[0];
    assert_eq!(hook.header("x-github-event"), Some("workflow_job"));
    assert!(is_guid(hook.header("x-github-delivery").unwrap()));
    assert!(hook.header("x-github-hook-id").is_some());
    assert!(hook
        .header("user-agent")
        .unwrap()
        .starts_with("GitHub-Hookshot/"));
    let v = hook.json();
    assert_eq!(v["action"], "queued");
    let w = &v["workflow_job"];
    assert_eq!(
        (w["id"].as_u64(), w["run_id"].as_u64()),
        (Some(job.id), Some(job.run_id))
    );
    assert_eq!(w["labels"], json!(["self-hosted", "linux", "go"]));
    assert_eq!(
        (w["status"].as_str(), w["run_attempt"].as_u64()),
        (Some("queued"), Some(1))
    );
    assert!(
        w["runner_id"].is_null() && w["runner_name"].is_null(),
        "{w}"
    );
    assert_eq!(v["repository"]["full_name"], REPO);
    assert_eq!(v["installation"]["id"], 42);

    let d = gh.deliveries();
    assert_eq!(d.len(), 1);
    assert_eq!((d[0].status_code, d[0].status.as_str()), (200, "OK"));
    assert_eq!(
        (d[0].event.as_str(), d[0].action.as_deref()),
        ("workflow_job", Some("queued"))
    );
    assert_eq!(d[0].guid, hook.header("x-github-delivery").unwrap());
    assert_eq!(d[0].body, hook.body);
}

#[tokio::test]
async fn a_jit_runner_connects_once_takes_a_job_and_is_removed() {
    let gh = fake().await;
    let rx = Receiver::start(Signer::Github, SECRET).await;
    gh.set_webhook(&rx.url, SECRET);
    gh.set_job_duration(Duration::from_millis(5));
    let job = gh.queue_job(REPO, &["self-hosted", "go"]);

    let r = jit(&gh, "sortie-1", &["self-hosted", "go"]).await;
    assert_eq!(r.status, 201);
    let encoded = r.json["encoded_jit_config"].as_str().unwrap();
    let config = decode_jit_config(encoded).unwrap();
    assert_eq!(config.fake_url, gh.url());
    assert_eq!(config.runner_name, "sortie-1");
    assert_eq!(r.json["runner"]["id"].as_u64(), Some(config.runner_id));
    assert!(!gh.runners()[0].online, "offline until the runner connects");

    let runner = Runner::new(&config.fake_url);
    let id = runner.connected(json!({ "jit_config": encoded })).await;
    assert_eq!(id, config.runner_id);
    assert!(gh.runners()[0].online);
    let (status, again) = runner.connect(json!({ "jit_config": encoded })).await;
    assert_eq!(status, 410, "a JIT config connects once: {again}");
    let (status, _) = runner.connect(json!({ "jit_config": "bm9wZQ==" })).await;
    assert_eq!(status, 401);

    let (status, got) = runner.next(id, 2000).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        (got["job_id"].as_u64(), got["run_id"].as_u64()),
        (Some(job.id), Some(job.run_id))
    );
    assert_eq!(got["duration_ms"], 5);
    let running = gh.job(job.id).unwrap();
    assert_eq!(running.status, JobStatus::InProgress);
    assert_eq!(running.runner_name.as_deref(), Some("sortie-1"));
    assert!(gh.runners()[0].busy);
    let (status, same) = runner.next(id, 0).await;
    assert_eq!(
        (status, same["job_id"].as_u64()),
        (200, Some(job.id)),
        "a repeated poll answers the same job"
    );

    let (status, done) = runner.finish(id, job.id, "success").await;
    assert_eq!(status, 200, "{done}");
    let finished = gh.job(job.id).unwrap();
    assert_eq!(
        (finished.status, finished.conclusion.as_deref()),
        (JobStatus::Completed, Some("success"))
    );
    assert!(finished.completed_at.is_some());
    assert!(
        gh.runners().is_empty(),
        "GitHub removes a JIT runner after its job"
    );
    let (status, _) = runner.next(id, 0).await;
    assert_eq!(status, 410);

    gh.flush_webhooks().await;
    let events = rx.job_events();
    let actions: Vec<&str> = events.iter().map(|(a, _)| a.as_str()).collect();
    assert_eq!(actions, ["queued", "in_progress", "completed"]);
    let in_progress = rx.received()[1].json();
    assert_eq!(in_progress["workflow_job"]["runner_id"].as_u64(), Some(id));
    assert_eq!(in_progress["workflow_job"]["runner_name"], "sortie-1");
    let completed = rx.received()[2].json();
    assert_eq!(completed["workflow_job"]["conclusion"], "success");
}

#[tokio::test]
async fn under_newest_first_a_runner_steals_the_job_queued_after_its_own() {
    let gh = fake().await;
    gh.set_assignment(Assignment::NewestFirst);
    let first = gh.queue_job(REPO, &["self-hosted", "go"]);
    let second = gh.queue_job(REPO, &["self-hosted", "go"]);
    let runner = Runner::new(&gh.url());
    // Launched for `first`, but GitHub gives a fresh runner any matching job.
    let for_first = jit_runner(&gh, &runner, "for-first", &["self-hosted", "go"]).await;
    let (_, got) = runner.next(for_first, 1000).await;
    assert_eq!(got["job_id"].as_u64(), Some(second.id), "stolen");
    let for_second = jit_runner(&gh, &runner, "for-second", &["self-hosted", "go"]).await;
    let (_, got) = runner.next(for_second, 1000).await;
    assert_eq!(got["job_id"].as_u64(), Some(first.id));
}

#[tokio::test]
async fn random_assignment_is_reproducible_from_its_seed() {
    async fn order(seed: u64) -> Vec<usize> {
        let gh = fake().await;
        gh.set_assignment(Assignment::Random(seed));
        let jobs: Vec<u64> = (0..6)
            .map(|_| gh.queue_job(REPO, &["self-hosted"]).id)
            .collect();
        let runner = Runner::new(&gh.url());
        let mut taken = Vec::new();
        for i in 0..6 {
            let id = jit_runner(&gh, &runner, &format!("r{i}"), &["self-hosted"]).await;
            let (_, got) = runner.next(id, 1000).await;
            let job = got["job_id"].as_u64().unwrap();
            taken.push(jobs.iter().position(|j| *j == job).unwrap());
        }
        taken
    }
    let a = order(7).await;
    assert_eq!(a, order(7).await);
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, [0, 1, 2, 3, 4, 5], "each job taken once");
}

#[tokio::test]
async fn every_job_label_must_be_among_the_runners_in_any_case() {
    let gh = fake().await;
    let too_big = gh.queue_job(REPO, &["self-hosted", "gpu", "large"]);
    let fits = gh.queue_job(REPO, &["self-hosted", "gpu"]);
    let other_repo = gh.queue_job("acme/other", &["self-hosted", "gpu"]);
    let runner = Runner::new(&gh.url());
    let id = jit_runner(&gh, &runner, "gpu-box", &["Self-Hosted", "GPU"]).await;
    let (status, got) = runner.next(id, 0).await;
    assert_eq!((status, got["job_id"].as_u64()), (200, Some(fits.id)));
    assert_eq!(gh.job(too_big.id).unwrap().status, JobStatus::Queued);
    assert_eq!(
        gh.job(other_repo.id).unwrap().status,
        JobStatus::Queued,
        "a repository runner takes only that repository's jobs"
    );
}

#[tokio::test]
async fn a_long_poll_answers_204_when_no_job_comes_and_wakes_when_one_does() {
    let gh = fake().await;
    let runner = Runner::new(&gh.url());
    let id = jit_runner(&gh, &runner, "idle", &["self-hosted", "go"]).await;
    let (status, body) = runner.next(id, 50).await;
    assert_eq!((status, body), (204, Value::Null));

    let url = gh.url();
    let waiting = tokio::spawn(async move { Runner::new(&url).next(id, 30_000).await });
    // Queue once the poll has arrived: the fake must wake it rather than let it time out.
    eventually("the second poll arrived", WAIT, || async {
        (gh.calls_to("/next").len() == 2).then_some(())
    })
    .await;
    let job = gh.queue_job(REPO, &["self-hosted", "go"]);
    let (status, got) = waiting.await.unwrap();
    assert_eq!((status, got["job_id"].as_u64()), (200, Some(job.id)));
}

#[tokio::test]
async fn a_runner_that_never_gets_a_job_stays_listed_online_and_idle() {
    let gh = fake().await;
    let runner = Runner::new(&gh.url());
    let id = jit_runner(&gh, &runner, "zombie", &["self-hosted", "arm64"]).await;
    gh.queue_job(REPO, &["self-hosted", "x64"]);
    assert_eq!(runner.next(id, 20).await.0, 204);
    let list = get(&gh, &format!("/repos/{REPO}/actions/runners")).await;
    let r = &list.json["runners"][0];
    assert_eq!(
        (
            r["name"].as_str(),
            r["status"].as_str(),
            r["busy"].as_bool()
        ),
        (Some("zombie"), Some("online"), Some(false))
    );
    assert_eq!(r["ephemeral"], true);

    assert!(gh.set_runner_offline(id));
    let job = gh.queue_job(REPO, &["self-hosted", "arm64"]);
    assert_eq!(
        runner.next(id, 20).await.0,
        204,
        "an offline runner gets no job"
    );
    assert_eq!(gh.job(job.id).unwrap().status, JobStatus::Queued);
    let list = get(&gh, &format!("/repos/{REPO}/actions/runners")).await;
    assert_eq!(list.json["runners"][0]["status"], "offline");
}

#[tokio::test]
async fn runs_and_jobs_list_with_pages_and_etags() {
    let gh = fake().await;
    let a = gh.queue_job_with(REPO, 555, 1, "lint", &["self-hosted"]);
    let b = gh.queue_job_with(REPO, 555, 1, "test", &["self-hosted"]);
    let c = gh.queue_job(REPO, &["self-hosted"]);
    gh.queue_job("acme/other", &["self-hosted"]);

    let runs = get(&gh, &format!("/repos/{REPO}/actions/runs?status=queued")).await;
    assert_eq!(runs.status, 200);
    assert_eq!(runs.json["total_count"], 2);
    let ids: Vec<u64> = runs.json["workflow_runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [c.run_id, 555], "newest first");
    let etag = runs.headers["etag"].to_str().unwrap().to_string();
    assert!(etag.starts_with("W/\""), "{etag}");
    let path = format!("/repos/{REPO}/actions/runs?status=queued");
    let same = call(
        &gh,
        reqwest::Method::GET,
        &path,
        &format!("Bearer {PAT}"),
        None,
        Some(&etag),
    )
    .await;
    assert_eq!(same.status, 304);
    assert_eq!(same.headers["etag"].to_str().unwrap(), etag);

    let jobs = get(
        &gh,
        "/repos/acme/app/actions/runs/555/jobs?per_page=1&page=2",
    )
    .await;
    assert_eq!(jobs.json["total_count"], 2);
    assert_eq!(jobs.json["jobs"][0]["id"].as_u64(), Some(b.id));
    assert_eq!(jobs.json["jobs"][0]["labels"], json!(["self-hosted"]));
    assert!(jobs.headers["link"]
        .to_str()
        .unwrap()
        .contains("rel=\"prev\""));

    // A runner takes `a`: the run is in progress, the old ETag no longer matches.
    let runner = Runner::new(&gh.url());
    let id = jit_runner(&gh, &runner, "r1", &["self-hosted"]).await;
    assert_eq!(runner.next(id, 0).await.1["job_id"].as_u64(), Some(a.id));
    let changed = call(
        &gh,
        reqwest::Method::GET,
        &path,
        &format!("Bearer {PAT}"),
        None,
        Some(&etag),
    )
    .await;
    assert_eq!(
        (changed.status, changed.json["total_count"].as_u64()),
        (200, Some(1))
    );
    let busy = get(
        &gh,
        &format!("/repos/{REPO}/actions/runs?status=in_progress"),
    )
    .await;
    assert_eq!(busy.json["workflow_runs"][0]["id"], 555);

    let one = get(&gh, &format!("/repos/{REPO}/actions/jobs/{}", a.id)).await;
    assert_eq!(
        (
            one.json["status"].as_str(),
            one.json["runner_name"].as_str()
        ),
        (Some("in_progress"), Some("r1"))
    );
    assert_eq!(one.json["run_id"], 555);
    assert_eq!(get(&gh, "/repos/acme/app/actions/jobs/1").await.status, 404);
    assert_eq!(
        get(&gh, "/repos/acme/other/actions/runs/555").await.status,
        404
    );
}

#[tokio::test]
async fn a_lost_webhook_is_redelivered_with_the_same_guid() {
    let gh = fake().await;
    let rx = Receiver::start(Signer::Github, SECRET).await;
    gh.set_webhook(&rx.url, SECRET);
    gh.lose_next_webhooks(1);
    let lost = gh.queue_job(REPO, &["self-hosted"]);
    let kept = gh.queue_job(REPO, &["self-hosted"]);
    gh.flush_webhooks().await;
    assert_eq!(rx.job_events(), [("queued".to_string(), kept.id)]);

    let auth = format!("Bearer {}", app_jwt());
    let list = call(
        &gh,
        reqwest::Method::GET,
        "/app/hook/deliveries",
        &auth,
        None,
        None,
    )
    .await;
    assert_eq!(list.status, 200, "{}", list.json);
    let items = list.json.as_array().unwrap();
    assert_eq!(items.len(), 2);
    let failed = &items[1];
    assert_eq!(
        (
            failed["status_code"].as_u64(),
            failed["redelivery"].as_bool()
        ),
        (Some(0), Some(false))
    );
    assert_eq!(failed["status"], "failed to connect to host");
    assert_eq!(
        (failed["event"].as_str(), failed["action"].as_str()),
        (Some("workflow_job"), Some("queued"))
    );
    assert_eq!(failed["installation_id"], 42);
    assert_eq!(items[0]["status_code"], 200);
    let failed_id = failed["id"].as_u64().unwrap();
    let guid = failed["guid"].as_str().unwrap().to_string();

    let detail = call(
        &gh,
        reqwest::Method::GET,
        &format!("/app/hook/deliveries/{failed_id}"),
        &auth,
        None,
        None,
    )
    .await;
    assert_eq!(
        detail.json["request"]["payload"]["workflow_job"]["id"].as_u64(),
        Some(lost.id)
    );

    let path = format!("/app/hook/deliveries/{failed_id}/attempts");
    let retried = call(&gh, reqwest::Method::POST, &path, &auth, None, None).await;
    assert_eq!(retried.status, 202);
    gh.flush_webhooks().await;
    let got = rx.received();
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[1].header("x-github-delivery"),
        Some(guid.as_str()),
        "GitHub keeps the GUID"
    );
    assert_eq!(got[1].json()["workflow_job"]["id"].as_u64(), Some(lost.id));

    let list = call(
        &gh,
        reqwest::Method::GET,
        "/app/hook/deliveries?per_page=1",
        &auth,
        None,
        None,
    )
    .await;
    assert_eq!(list.json[0]["redelivery"], true);
    assert_eq!(list.json[0]["guid"], guid.as_str());
    assert_eq!(list.json[0]["status_code"], 200);
    assert!(list.headers["link"].to_str().unwrap().contains("cursor="));

    let no_jwt = call(
        &gh,
        reqwest::Method::GET,
        "/app/hook/deliveries",
        &format!("Bearer {PAT}"),
        None,
        None,
    )
    .await;
    assert_eq!(
        no_jwt.status, 401,
        "the deliveries API takes an App JWT only"
    );
    let missing = call(
        &gh,
        reqwest::Method::POST,
        "/app/hook/deliveries/999/attempts",
        &auth,
        None,
        None,
    )
    .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn a_refused_delivery_records_the_receivers_status() {
    let gh = fake().await;
    let rx = Receiver::start(Signer::Github, SECRET).await;
    gh.set_webhook(&rx.url, "the wrong secret");
    gh.queue_job(REPO, &["self-hosted"]);
    gh.flush_webhooks().await;
    assert_eq!(rx.refused(), 1);
    let d = &gh.deliveries()[0];
    assert_eq!(
        (d.status_code, d.status.as_str()),
        (401, "Invalid HTTP Response: 401")
    );
    assert!(!d.succeeded());
}

#[tokio::test]
async fn a_lost_jit_answer_registers_the_runner_and_the_retry_meets_409() {
    let gh = fake().await;
    gh.fail_next_jit_with_lost_response();
    let first = jit(&gh, "sortie-lost", &["self-hosted"]).await;
    assert_eq!(first.status, 502);
    let runners = gh.runners();
    assert_eq!(runners.len(), 1);
    assert_eq!(
        (runners[0].name.as_str(), runners[0].online),
        ("sortie-lost", false)
    );
    let retry = jit(&gh, "sortie-lost", &["self-hosted"]).await;
    assert_eq!(retry.status, 409, "{}", retry.json);
    assert_eq!(gh.runners().len(), 1);
    assert_eq!(
        jit(&gh, "sortie-other", &["self-hosted"]).await.status,
        201,
        "only once"
    );
}

#[tokio::test]
async fn cancelling_sends_completed_cancelled_and_frees_the_runner() {
    let gh = fake().await;
    let rx = Receiver::start(Signer::Github, SECRET).await;
    gh.set_webhook(&rx.url, SECRET);
    let queued = gh.queue_job(REPO, &["self-hosted"]);
    let running = gh.queue_job(REPO, &["self-hosted"]);
    assert!(gh.cancel_job(queued.id));
    assert!(!gh.cancel_job(queued.id), "already completed");
    let runner = Runner::new(&gh.url());
    let id = jit_runner(&gh, &runner, "r", &["self-hosted"]).await;
    assert_eq!(
        runner.next(id, 0).await.1["job_id"].as_u64(),
        Some(running.id)
    );
    assert!(gh.cancel_job(running.id));
    assert!(
        gh.runners().is_empty(),
        "the JIT runner went with its cancelled job"
    );
    let (status, v) = runner.finish(id, running.id, "success").await;
    assert_eq!(
        (status, v["conclusion"].as_str()),
        (200, Some("cancelled")),
        "a late finish changes nothing"
    );

    gh.flush_webhooks().await;
    let completed: Vec<Value> = rx
        .received()
        .iter()
        .map(|r| r.json())
        .filter(|v| v["action"] == "completed")
        .collect();
    assert_eq!(completed.len(), 2);
    assert!(completed
        .iter()
        .all(|v| v["workflow_job"]["conclusion"] == "cancelled"));
    assert!(completed[0]["workflow_job"]["runner_id"].is_null());
}

#[tokio::test]
async fn runner_protocol_errors_are_json_messages() {
    let gh = fake().await;
    let runner = Runner::new(&gh.url());
    let (status, v) = runner.connect(json!({ "registration_token": "x" })).await;
    assert_eq!(status, 400);
    assert!(v["message"].as_str().unwrap().contains("jit_config"));
    assert_eq!(runner.next(999, 0).await.0, 410);
    let id = jit_runner(&gh, &runner, "r", &["self-hosted"]).await;
    let job = gh.queue_job(REPO, &["self-hosted"]);
    assert_eq!(
        runner.finish(id, job.id, "success").await.0,
        409,
        "never given to it"
    );
    assert_eq!(runner.finish(id, 1, "success").await.0, 404);
    assert_eq!(runner.finish(id, job.id, "maybe").await.0, 422);
    assert_eq!(gh.job(job.id).unwrap().status, JobStatus::Queued);
}
