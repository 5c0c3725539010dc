//! The read side of the operator interface end to end on SQLite: the admin API under `/api/v1/`,
//! `/metrics` and the web UI, driven over real HTTP against the real app.

mod common;

use common::*;
use serde_json::Value;
use sortie_core::forge::Flavor;
use sortie_core::job::{JobKey, JobState};
use sortie_core::route::Route;
use sortie_server::config::Secret;
use sortie_store::{InstanceState, NewInstance, NewJob};
use sortie_testkit::forge::payloads::github_workflow_job;
use sortie_testkit::forge::webhook::Webhook;

const TOKEN: &str = "admin-token-for-tests";

async fn spawn_admin_app() -> TestApp {
    spawn_app_with(Db::Sqlite, |s, _| s.admin_token = Some(Secret::new(TOKEN))).await
}

/// GETs `path` with `token` (if any); the status and the JSON answer.
async fn get_json(app: &TestApp, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut req = app.client.get(format!("{}{path}", app.url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, json)
}

async fn admin_get(app: &TestApp, path: &str) -> Value {
    let (status, body) = get_json(app, path, Some(TOKEN)).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// Sends a signed GitHub `workflow_job` queued delivery asking for `labels`, waits until it is
/// planned, and returns the job's store id.
async fn deliver_job(app: &TestApp, delivery: &str, job_id: u64, labels: &[&str]) -> i64 {
    let body = github_workflow_job("queued", "octo/app", 4242, job_id, labels, 1).unwrap();
    let hook = Webhook::github("workflow_job", delivery, GITHUB_SECRET, body);
    let (status, text) = hook
        .send(&format!("{}/webhooks/github", app.url))
        .await
        .unwrap();
    assert_eq!(status, 202, "{text}");
    app.processed_outcome(Flavor::Github, delivery).await;
    let key = JobKey::WorkflowJob {
        forge: Flavor::Github,
        repo: "octo/app".into(),
        run_id: 4242,
        run_attempt: 1,
        job_id,
    };
    let job = app.store.get_job_by_key(&key).await.unwrap();
    job.expect("the delivery created a job").id.0
}

fn is_rfc3339(v: &Value) -> bool {
    let s = v.as_str().unwrap_or_default();
    s.len() == 24 && s.as_bytes()[10] == b'T' && s.ends_with('Z')
}

#[tokio::test]
async fn an_unknown_labels_reason_shows_in_the_list_and_the_detail() {
    let app = spawn_admin_app().await;
    let id = deliver_job(&app, "unknown-1", 77, &["gpu-unobtainium"]).await;
    let history = app
        .store
        .job_history(sortie_store::JobId(id))
        .await
        .unwrap();
    let latest = history.last().unwrap().reason.clone();
    assert!(
        latest.contains("unknown label \"gpu-unobtainium\""),
        "{latest}"
    );

    let list = admin_get(&app, "/api/v1/jobs").await;
    let jobs = list["jobs"].as_array().unwrap();
    assert_eq!(jobs.len(), 1, "{list}");
    let job = &jobs[0];
    assert_eq!(job["id"], id);
    assert_eq!(job["state"], "failed");
    assert_eq!(job["reason"], latest.as_str(), "{job}");
    assert_eq!(job["repo"], "octo/app");
    assert_eq!(job["forge"], "github");
    assert_eq!(job["key"], "github:octo/app:run/4242/1/job/77");
    assert_eq!(job["labels"][0], "gpu-unobtainium");
    assert_eq!(job["route"]["kind"], "unroutable");
    assert!(is_rfc3339(&job["created_at"]), "{job}");
    assert!(is_rfc3339(&job["updated_at"]), "{job}");

    let detail = admin_get(&app, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(detail["job"]["reason"], latest.as_str(), "{detail}");
    let steps = detail["history"].as_array().unwrap();
    assert_eq!(steps.len(), history.len(), "{detail}");
    assert_eq!(steps[0]["from"], Value::Null, "creation has no from");
    assert_eq!(steps.last().unwrap()["to"], "failed");
    assert_eq!(steps.last().unwrap()["event"], "fail");
    assert_eq!(steps.last().unwrap()["reason"], latest.as_str());
    assert!(is_rfc3339(&steps[0]["at"]), "{detail}");
    assert_eq!(detail["instances"], serde_json::json!([]));

    // The state filter.
    let failed = admin_get(&app, "/api/v1/jobs?state=failed&limit=10").await;
    assert_eq!(failed["jobs"].as_array().unwrap().len(), 1);
    let queued = admin_get(&app, "/api/v1/jobs?state=queued").await;
    assert_eq!(queued["jobs"], serde_json::json!([]));
    app.stop().await;
}

#[tokio::test]
async fn jobs_are_listed_newest_first_and_limited() {
    let app = spawn_admin_app().await;
    let first = deliver_job(&app, "order-1", 1, &["windows"]).await;
    let second = deliver_job(&app, "order-2", 2, &["gpu"]).await;
    let list = admin_get(&app, "/api/v1/jobs").await;
    let ids: Vec<i64> = list["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, [second, first]);
    let one = admin_get(&app, "/api/v1/jobs?limit=1").await;
    assert_eq!(one["jobs"].as_array().unwrap().len(), 1);
    assert_eq!(one["jobs"][0]["id"], second);
    app.stop().await;
}

#[tokio::test]
async fn the_admin_api_is_closed_without_a_configured_token() {
    let app = spawn_app().await;
    for path in [
        "/api/v1/jobs",
        "/api/v1/jobs/1",
        "/api/v1/instances",
        "/api/v1/deliveries",
        "/api/v1/pools",
    ] {
        let (status, body) = get_json(&app, path, Some("anything")).await;
        assert_eq!(status, 401, "{path}: {body}");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("SORTIE_ADMIN_TOKEN"), "{path}: {error}");
    }
    let resp = app
        .client
        .delete(format!("{}/api/v1/pools/x", app.url))
        .bearer_auth("anything")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    app.stop().await;
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_refused_and_nothing_leaks() {
    let app = spawn_admin_app().await;
    deliver_job(&app, "leak-1", 5, &["gpu"]).await;
    for (authorization, fragment) in [
        (None, "missing"),
        (Some("Bearer wrong"), "does not match"),
        // HTTP strips trailing whitespace from a field value: this arrives as `Bearer`.
        (Some("Bearer "), "not `Bearer"),
        (Some(TOKEN), "not `Bearer"),
    ] {
        let mut req = app.client.get(format!("{}/api/v1/jobs", app.url));
        if let Some(value) = authorization {
            req = req.header("authorization", value);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{authorization:?}");
        assert_eq!(resp.headers()["www-authenticate"], "Bearer", "RFC 6750 §3");
        let body: Value = resp.json_text().await;
        let error = body["error"].as_str().unwrap();
        assert!(error.contains(fragment), "{authorization:?}: {error}");
        assert!(!body.to_string().contains("octo/app"), "{body}");
    }
    app.stop().await;
}

#[tokio::test]
async fn bad_requests_say_what_is_wrong() {
    let app = spawn_admin_app().await;
    // (path, status, fragments of the error)
    let rows: [(&str, u16, &[&str]); 6] = [
        (
            "/api/v1/jobs?state=done",
            400,
            &["`state`", "queued", "timed_out"],
        ),
        ("/api/v1/jobs?limit=0", 400, &["`limit`", "1 to 1000"]),
        (
            "/api/v1/jobs?stat=queued",
            400,
            &["unknown parameter `stat`"],
        ),
        ("/api/v1/jobs/abc", 400, &["\"abc\"", "sortie jobs"]),
        ("/api/v1/jobs/999", 404, &["no job 999"]),
        (
            "/api/v1/instances?state=up",
            400,
            &["`state`", "pending, running"],
        ),
    ];
    for (path, status, fragments) in rows {
        let (got, body) = get_json(&app, path, Some(TOKEN)).await;
        assert_eq!(got, status, "{path}: {body}");
        let error = body["error"].as_str().unwrap_or_default();
        for f in fragments {
            assert!(error.contains(f), "{path}: {f:?} not in {error:?}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn instances_are_listed_by_state_and_job_and_shown_with_their_job() {
    let app = spawn_admin_app().await;
    let key = |job_id| JobKey::WorkflowJob {
        forge: Flavor::Github,
        repo: "octo/app".into(),
        run_id: 1,
        run_attempt: 1,
        job_id,
    };
    let mut jobs = Vec::new();
    for (n, state) in [(1, InstanceState::Running), (2, InstanceState::Terminated)] {
        let job = app
            .store
            .create_job(&NewJob {
                key: key(n),
                labels: vec!["self-hosted".into()],
                route: Route::provider("local", "default provider"),
                spec: None,
                delivery: None,
            })
            .await
            .unwrap()
            .into_job();
        app.store
            .record_instance(&NewInstance {
                job: job.id,
                provider: "local".into(),
                provider_id: format!("pid-{n}"),
                attempt: 1,
                state,
            })
            .await
            .unwrap();
        jobs.push(job.id.0);
    }
    let all = admin_get(&app, "/api/v1/instances").await;
    assert_eq!(all["instances"].as_array().unwrap().len(), 2, "{all}");
    let running = admin_get(&app, "/api/v1/instances?state=running").await;
    let running = running["instances"].as_array().unwrap();
    assert_eq!(running.len(), 1);
    assert_eq!(running[0]["provider_id"], "pid-1");
    assert_eq!(running[0]["job"], jobs[0]);
    assert!(is_rfc3339(&running[0]["created_at"]));
    let of_second = admin_get(&app, &format!("/api/v1/instances?job={}", jobs[1])).await;
    assert_eq!(of_second["instances"][0]["state"], "terminated");
    let detail = admin_get(&app, &format!("/api/v1/jobs/{}", jobs[0])).await;
    assert_eq!(detail["instances"][0]["provider_id"], "pid-1", "{detail}");
    assert_eq!(detail["job"]["state"], JobState::Queued.as_str());
    app.stop().await;
}

#[tokio::test]
async fn deliveries_are_listed_without_body_or_headers() {
    let app = spawn_admin_app().await;
    deliver_job(&app, "dlv-1", 9, &["gpu"]).await;
    let page = admin_get(&app, "/api/v1/deliveries?limit=5").await;
    let d = &page["deliveries"][0];
    assert_eq!(d["id"], "dlv-1");
    assert_eq!(d["forge"], "github");
    assert_eq!(d["event"], "workflow_job");
    assert!(is_rfc3339(&d["received_at"]), "{d}");
    assert!(is_rfc3339(&d["processed_at"]), "{d}");
    assert!(d["outcome"].as_str().unwrap().contains("job"), "{d}");
    let keys: Vec<&str> = d.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "forge",
            "id",
            "event",
            "received_at",
            "processed_at",
            "outcome"
        ]
    );
    assert!(!page.to_string().contains("sha256="), "no signature header");
    app.stop().await;
}

#[tokio::test]
async fn pools_can_be_written_listed_and_deleted() {
    let app = spawn_admin_app().await;
    let url = |name: &str| format!("{}/api/v1/pools/{name}", app.url);
    let resp = app
        .client
        .put(url("go-warm"))
        .bearer_auth(TOKEN)
        .body(r#"{"labels":["self-hosted","go"],"hot":1,"stopped":2}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let pools = admin_get(&app, "/api/v1/pools").await;
    assert_eq!(
        pools["pools"],
        serde_json::json!([{"name":"go-warm","labels":["go","self-hosted"],"hot":1,"stopped":2}])
    );
    let bad = app
        .client
        .put(url("go-warm"))
        .bearer_auth(TOKEN)
        .body(r#"{"labels":[]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let body: Value = bad.json_text().await;
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("`labels` is empty"));
    for expected in [200, 404] {
        let resp = app
            .client
            .delete(url("go-warm"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), expected);
    }
    assert_eq!(
        admin_get(&app, "/api/v1/pools").await["pools"],
        serde_json::json!([])
    );
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_deliveries_and_jobs_without_a_token() {
    let app = spawn_admin_app().await;
    deliver_job(&app, "metrics-1", 3, &["gpu"]).await;
    let (status, _) = app
        .post(
            "/webhooks/github",
            &[
                ("x-github-delivery", "bad-sig".into()),
                ("x-github-event", "ping".into()),
            ],
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(status, 401);
    let resp = app
        .client
        .get(format!("{}/metrics", app.url))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let content_type = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let text = resp.text().await.unwrap();
    for line in [
        "sortie_webhook_deliveries_total{forge=\"github\",outcome=\"stored\"} 1",
        "sortie_webhook_deliveries_total{forge=\"github\",outcome=\"refused\"} 1",
        "sortie_jobs{state=\"failed\"} 1",
        "sortie_jobs{state=\"queued\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
    }
    app.stop().await;
}

#[tokio::test]
async fn the_ui_is_one_page_that_loads_nothing_from_elsewhere() {
    let app = spawn_app().await;
    let mut served = String::new();
    for (path, content_type) in [
        ("/", "text/html"),
        ("/ui", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ] {
        let resp = app
            .client
            .get(format!("{}{path}", app.url))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let headers = resp.headers().clone();
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with(content_type),
            "{path}"
        );
        let csp = headers["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'none'") && csp.contains("connect-src 'self'"));
        served.push_str(&resp.text().await.unwrap());
    }
    assert!(served.contains("/ui/app.js") && served.contains("/api/v1/jobs"));
    for external in [
        "http://",
        "https://",
        "src=\"//",
        "href=\"//",
        "url(",
        "@import",
    ] {
        assert!(!served.contains(external), "the UI refers to {external}");
    }
    app.stop().await;
}

/// `Response::json` needs reqwest's `json` feature; the text is enough.
trait JsonText {
    async fn json_text(self) -> Value;
}

impl JsonText for reqwest::Response {
    async fn json_text(self) -> Value {
        let text = self.text().await.unwrap_or_default();
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }
}
