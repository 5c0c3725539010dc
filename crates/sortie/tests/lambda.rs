//! `sortie lambda` in-process: the handler (compiled here from `src/lambda_cmd`) is called with
//! the events Lambda would deliver — API Gateway REST (payload 1.0), HTTP API (2.0) and function
//! URL requests built from `fixtures/aws/apigw` around a Gitea push signed with a real HMAC, the
//! seed's `{"action":"cleanup"}`, and the EC2 User Guide's spot interruption warning — against
//! the DynamoDB store and the EC2 provider on moto (loopback) and the fake Gitea.
//!
//! The configuration is the seed dispatcher's own environment (`GITEA_URL`, `RUNNER_AMI`,
//! `DDB_TABLE`, …) plus what a test needs: where moto is (`SORTIE_DATABASE_URL` with the
//! endpoint), a per-test owner tag (`SORTIE_OWNER`, one moto serves every test), the webhook
//! secret the seed never had. Time is the store's `ManualClock`, moved past the seed's 30 minutes
//! instead of sleeping.

#[allow(dead_code)]
#[path = "../src/lambda_cmd/mod.rs"]
mod lambda_cmd;

use aws_sdk_ec2::types::{Filter, ResourceType, Tag, TagSpecification};
use lambda_cmd::Handler;
use serde_json::{json, Value};
use sortie_core::job::{JobEvent, JobState};
use sortie_provider::ec2::{Ec2Config, Ec2Provider, SubnetConfig};
use sortie_server::config::{Overrides, Settings};
use sortie_server::fleet::{self, BuildOptions};
use sortie_store::{InstanceFilter, Job, JobFilter, ManualClock, Store, Timestamp};
use sortie_testkit::forge::payloads::{fixture, gitea_push, PushedCommit};
use sortie_testkit::forge::webhook::Webhook;
use sortie_testkit::forge::workflows::{C0, C1, C2};
use sortie_testkit::forge::{FakeGitea, GiteaKind};
use sortie_testkit::moto::{Ec2Network, MotoServer};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "gitea-api-token";
const SECRET: &str = "the-webhook-secret";
const ADMIN: &str = "the-admin-token";
const REPO: &str = "tinqs/studio";

/// One workflow, one job, the seed's `go` label (a t3.small on ec2).
const CI: &str = "on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: go
    steps:
      - run: go build ./...
";

/// A deployment: moto's EC2 and DynamoDB, the fake Gitea, and the handler over them.
struct World {
    handler: Handler,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    ec2: aws_sdk_ec2::Client,
    gitea: FakeGitea,
    owner: String,
    subnet: String,
    ami: String,
    database_url: String,
}

/// A VPC with one subnet and a security group in moto, and one of moto's x86_64 AMIs.
async fn network(ec2: &aws_sdk_ec2::Client, name: &str) -> (String, String, String) {
    let n = Ec2Network::create(ec2, &format!("lambda-{name}")).await;
    (n.subnet, n.security_group, n.ami)
}

fn env_of(pairs: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<&str, String> = pairs.into_iter().collect();
    move |name| map.get(name).cloned()
}

async fn world(name: &str) -> World {
    let moto = MotoServer::shared();
    let sdk = moto.sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let (subnet, sg, ami) = network(&ec2, name).await;
    let gitea = FakeGitea::start(GiteaKind::Gitea, TOKEN).await.unwrap();
    gitea.set_commit(
        REPO,
        C0,
        &[(".gitea/workflows/ci.yml", CI), ("main.go", "v0")],
    );
    gitea.set_commit(
        REPO,
        C1,
        &[(".gitea/workflows/ci.yml", CI), ("main.go", "v1")],
    );
    let table = format!("tinqs-ci-runs-{name}");
    let owner = format!("lambda-{name}");
    let database_url = format!(
        "dynamodb://testing:testing@{table}?endpoint={}&region=us-east-1",
        moto.endpoint()
    );
    let env = env_of(vec![
        // The seed's environment, unchanged.
        ("GITEA_URL", gitea.url()),
        ("GITEA_TOKEN", TOKEN.into()),
        ("RUNNER_TOKEN", "the-shared-registration-token".into()),
        ("RUNNER_AMI", ami.clone()),
        ("SUBNET", subnet.clone()),
        ("SECURITY_GROUP", sg.clone()),
        ("DDB_TABLE", table.clone()),
        // What the test adds: moto's endpoint, an owner per test, the secret, the admin API,
        // an explicit region (no AWS region lookup leaves loopback).
        ("SORTIE_DATABASE_URL", database_url.clone()),
        ("SORTIE_OWNER", owner.clone()),
        ("SORTIE_GITEA_WEBHOOK_SECRET", SECRET.into()),
        ("SORTIE_ADMIN_TOKEN", ADMIN.into()),
        (
            "SORTIE_PUBLIC_URL",
            "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com".into(),
        ),
        ("SORTIE_EC2_REGION", "us-east-1".into()),
    ]);
    let settings = Settings::from_layers(None, env, &Overrides::default()).unwrap();
    assert_eq!(
        settings.provider, "ec2",
        "RUNNER_AMI makes ec2 the provider"
    );
    let clock = Arc::new(ManualClock::new(Timestamp::now()));
    let store = sortie_store::open_with_clock(&settings.database_url, clock.clone())
        .await
        .expect("the DynamoDB store opens on moto (creating its table)");
    let mut fleet = fleet::build(
        &settings,
        store.clone(),
        BuildOptions {
            replica: format!("lambda-test/{name}"),
            default_local_command: vec!["true".into()],
            listen: settings.listen,
        },
    )
    .await
    .unwrap();
    // The ec2 provider `fleet::build` made from the seed variables, on moto's SDK config.
    let mut cfg = Ec2Config::new(owner.clone(), ami.clone());
    cfg.subnets = vec![SubnetConfig {
        id: subnet.clone(),
        availability_zone: "us-east-1a".into(),
        public: false,
    }];
    cfg.security_group_ids = vec![sg];
    assert!(fleet.providers.contains_key("ec2"));
    fleet
        .providers
        .insert("ec2".into(), Arc::new(Ec2Provider::new(&sdk, cfg)));
    let handler = Handler::new(&settings, Arc::new(fleet)).with_clock(clock.clone());
    World {
        handler,
        store,
        clock,
        ec2,
        gitea,
        owner,
        subnet,
        ami,
        database_url,
    }
}

/// A Gitea push of C1 onto C0 on main, signed with the deployment's secret.
fn push(delivery: &str) -> Webhook {
    push_signed_with(delivery, SECRET)
}

fn push_signed_with(delivery: &str, secret: &str) -> Webhook {
    let commits = [PushedCommit {
        id: C1.into(),
        modified: vec!["main.go".into()],
    }];
    let body = gitea_push(REPO, "refs/heads/main", C0, C1, &commits, None).unwrap();
    Webhook::gitea("push", "push", delivery, secret, body)
}

/// The recorded event `file` (fixtures/aws/apigw) carrying `hook` to `path`, as API Gateway or
/// the function URL delivers it.
fn http_event(file: &str, path: &str, hook: &Webhook) -> Value {
    let mut v: Value =
        serde_json::from_slice(&fixture(&format!("aws/apigw/{file}")).unwrap()).unwrap();
    let v2 = v["version"] == "2.0";
    let mut headers = serde_json::Map::new();
    let mut multi = serde_json::Map::new();
    for (name, value) in &hook.headers {
        // HTTP APIs and function URLs lower-case header names; REST APIs keep them.
        let name = if v2 {
            name.to_ascii_lowercase()
        } else {
            name.clone()
        };
        headers.insert(name.clone(), json!(value));
        multi.insert(name, json!([value]));
    }
    v["headers"] = Value::Object(headers);
    v["body"] = json!(String::from_utf8(hook.body.clone()).unwrap());
    v["isBase64Encoded"] = json!(false);
    if v2 {
        v["rawPath"] = json!(path);
        v["requestContext"]["http"]["path"] = json!(path);
    } else {
        v["multiValueHeaders"] = Value::Object(multi);
        v["path"] = json!(path);
        v["resource"] = json!(path);
        v["requestContext"]["resourcePath"] = json!(path);
        v["requestContext"]["path"] = json!(format!("/prod{path}"));
    }
    v
}

/// The answer's status and its body as JSON.
fn status_and_body(answer: &Value) -> (i64, Value) {
    let status = answer["statusCode"].as_i64().unwrap();
    let body = answer["body"].as_str().unwrap_or("null");
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

fn deadline() -> Option<Instant> {
    Some(Instant::now() + Duration::from_secs(60))
}

impl World {
    async fn jobs(&self) -> Vec<Job> {
        self.store
            .list_jobs(JobFilter {
                state: None,
                limit: 100,
            })
            .await
            .unwrap()
    }

    /// This test's machines in moto that are not terminated: (id, `sortie:job` tag).
    async fn live_machines(&self) -> Vec<(String, String)> {
        let out = self
            .ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("tag:sortie:owner")
                    .values(&self.owner)
                    .build(),
            )
            .filters(
                Filter::builder()
                    .name("instance-state-name")
                    .values("pending")
                    .values("running")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        out.reservations()
            .iter()
            .flat_map(|r| r.instances())
            .map(|i| {
                let job = i
                    .tags()
                    .iter()
                    .find(|t| t.key() == Some("sortie:job"))
                    .and_then(|t| t.value())
                    .unwrap_or_default()
                    .to_string();
                (i.instance_id().unwrap().to_string(), job)
            })
            .collect()
    }

    /// Sends `hook` through `file`'s event shape and returns (status, body).
    async fn deliver(&self, file: &str, path: &str, hook: &Webhook) -> (i64, Value) {
        let answer = self
            .handler
            .invoke(http_event(file, path, hook), deadline())
            .await
            .unwrap();
        status_and_body(&answer)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_push_launches_one_tagged_machine_and_tracks_the_run_in_dynamodb() {
    let w = world("push").await;
    let (status, body) = w
        .deliver("http-api-v2.json", "/webhook", &push("d-push-1"))
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["status"], "stored");

    // Planned and dispatched inside the invocation: the job is launching on ec2 …
    let jobs = w.jobs().await;
    assert_eq!(jobs.len(), 1, "{jobs:?}");
    let job = &jobs[0];
    assert_eq!(job.state, JobState::Launching, "{job:?}");
    assert!(
        job.route.reason.contains("t3.small"),
        "the seed's go label: {:?}",
        job.route
    );
    let instances = w
        .store
        .list_instances(InstanceFilter {
            state: None,
            job: Some(job.id),
        })
        .await
        .unwrap();
    assert_eq!(instances.len(), 1);
    assert_eq!(instances[0].provider, "ec2");
    // … its machine runs in moto, tagged with the job …
    let machines = w.live_machines().await;
    assert_eq!(machines.len(), 1, "{machines:?}");
    assert_eq!(machines[0].0, instances[0].provider_id);
    assert_eq!(
        machines[0].1,
        sortie_provider::provider::job_tag_value(&job.key)
    );
    // … and the run is in the DynamoDB table: a store opened afresh (another container) sees it.
    assert!(w.database_url.starts_with("dynamodb://"));
    let other = sortie_store::open(&w.database_url).await.unwrap();
    let seen = other
        .get_job(job.id)
        .await
        .unwrap()
        .expect("job in DynamoDB");
    assert_eq!(seen.state, JobState::Launching);
    assert_eq!(seen.key, job.key);

    // The admin API answers through the same router (HTTP API event, bearer token).
    let mut get = http_event("http-api-v2.json", "/api/v1/jobs", &push("unused"));
    get["requestContext"]["http"]["method"] = json!("GET");
    get["routeKey"] = json!("ANY /api/{proxy+}");
    get["body"] = Value::Null;
    get["headers"] = json!({"authorization": format!("Bearer {ADMIN}"), "host": "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com"});
    let (status, body) = status_and_body(&w.handler.invoke(get, deadline()).await.unwrap());
    assert_eq!(status, 200, "{body}");
    assert!(body.to_string().contains(&job.key.to_string()), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_duplicate_delivery_launches_no_second_machine() {
    let w = world("dup").await;
    let hook = push("d-dup-1");
    let (status, _) = w.deliver("http-api-v2.json", "/webhook", &hook).await;
    assert_eq!(status, 202);
    assert_eq!(w.live_machines().await.len(), 1);

    // The same delivery again (Gitea retried it), this time through a REST API with a stage.
    let (status, body) = w.deliver("rest-api-v1.json", "/webhook", &hook).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "duplicate");
    // The same push under a new delivery id (redelivered from Gitea's UI), to another route
    // through a function URL: stored, but the job is already known.
    let (status, body) = w
        .deliver("function-url-v2.json", "/webhooks/gitea", &push("d-dup-2"))
        .await;
    assert_eq!(status, 202, "{body}");

    assert_eq!(w.live_machines().await.len(), 1, "one machine for one job");
    let jobs = w.jobs().await;
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].attempt, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_signature_is_refused_and_launches_nothing() {
    let w = world("badsig").await;
    let hook = push_signed_with("d-bad-1", "not-the-secret");
    let (status, body) = w.deliver("rest-api-v1.json", "/webhook", &hook).await;
    assert_eq!(status, 401, "{body}");
    assert!(w.jobs().await.is_empty());
    assert!(w.live_machines().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cleanup_event_times_out_a_stale_run_and_sweeps_an_untracked_orphan() {
    let w = world("cleanup").await;
    let (status, _) = w
        .deliver("http-api-v2.json", "/webhook", &push("d-clean-1"))
        .await;
    assert_eq!(status, 202);
    let job = w.jobs().await.remove(0);
    let (machine, _) = w.live_machines().await.remove(0);
    // The runner took the job.
    w.store
        .apply_event(job.id, JobEvent::Started, "runner took the job")
        .await
        .unwrap();
    // A machine with our owner tag that no job knows (a launch whose record was lost).
    let tag = |k: &str, v: &str| Tag::builder().key(k).value(v).build();
    let orphan = w
        .ec2
        .run_instances()
        .image_id(&w.ami)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .subnet_id(&w.subnet)
        .min_count(1)
        .max_count(1)
        .tag_specifications(
            TagSpecification::builder()
                .resource_type(ResourceType::Instance)
                .tags(tag("sortie:owner", &w.owner))
                .tags(tag(
                    "sortie:job",
                    "gitea/tinqs/ghost/0000000000000000000000000000000000000000/ci.yml/build/0",
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let orphan = orphan.instances()[0].instance_id().unwrap().to_string();
    assert_eq!(w.live_machines().await.len(), 2);

    // Nothing is stale yet: the clean-up ends nothing.
    let answer = w
        .handler
        .invoke(json!({"action": "cleanup"}), deadline())
        .await
        .unwrap();
    assert_eq!(answer["sweep"]["held_lease"], true, "{answer}");
    // The clean-up also reconciles: the push was delivered, so nothing is recovered.
    assert_eq!(answer["reconcile"]["held_lease"], true, "{answer}");
    assert_eq!(answer["reconcile"]["pushes"], json!([]), "{answer}");
    assert_eq!(w.live_machines().await.len(), 2, "{answer}");

    // 31 minutes later (the seed's 30-minute rule), the five-minute schedule fires.
    w.clock.advance(Duration::from_secs(31 * 60));
    let answer = w
        .handler
        .invoke(json!({"action": "cleanup"}), deadline())
        .await
        .unwrap();
    let actions = answer["sweep"]["actions"].as_array().unwrap();
    let did = |kind: &str, target: &str| {
        actions
            .iter()
            .any(|a| a["kind"] == kind && a["target"].as_str().unwrap_or("").contains(target))
    };
    assert!(did("time_out", ""), "{answer}");
    assert!(did("terminate", &machine), "{answer}");
    assert!(did("terminate", &orphan), "{answer}");
    assert!(w.live_machines().await.is_empty(), "{answer}");
    let job = w.store.get_job(job.id).await.unwrap().unwrap();
    assert_eq!(job.state, JobState::TimedOut);

    // An EventBridge schedule's own event is a clean-up too, and finds nothing left. The event is
    // the EventBridge User Guide's example ("Tutorial: Create an EventBridge scheduled rule for
    // AWS Lambda functions", <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-run-lambda-schedule.html>).
    let scheduled = json!({"version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event", "source": "aws.events", "account": "123456789012",
        "time": "2015-10-08T16:53:06Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/my-scheduled-rule"],
        "detail": {}});
    let answer = w.handler.invoke(scheduled, deadline()).await.unwrap();
    assert_eq!(answer["action"], "cleanup", "{answer}");
    assert_eq!(answer["sweep"]["errors"], json!([]), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spot_interruption_warning_requeues_the_job_and_relaunches_it() {
    let w = world("spot").await;
    let (status, _) = w
        .deliver("http-api-v2.json", "/webhook", &push("d-spot-1"))
        .await;
    assert_eq!(status, 202);
    let (first, _) = w.live_machines().await.remove(0);
    // The EC2 User Guide's example warning, for our machine.
    let mut event: Value =
        serde_json::from_slice(&fixture("aws/spot-interruption-warning.json").unwrap()).unwrap();
    event["detail"]["instance-id"] = json!(first);
    let answer = w.handler.invoke(event.clone(), deadline()).await.unwrap();
    assert!(
        answer["outcome"].as_str().unwrap().ends_with("requeued"),
        "{answer}"
    );
    // The drain relaunched the job on attempt 2: a second machine, for the same job.
    let jobs = w.jobs().await;
    assert_eq!(jobs[0].attempt, 2, "{answer}");
    assert_eq!(jobs[0].state, JobState::Launching, "{answer}");
    let machines = w.live_machines().await;
    assert!(machines.iter().any(|(id, _)| id != &first), "{machines:?}");
    // EventBridge delivers at least once: the same warning again requeues nothing.
    let answer = w.handler.invoke(event, deadline()).await.unwrap();
    assert!(
        !answer["outcome"].as_str().unwrap().contains("requeued"),
        "{answer}"
    );
    assert_eq!(w.jobs().await[0].attempt, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_that_are_not_for_sortie_are_answered_not_failed() {
    let w = world("unknown").await;
    let answer = w
        .handler
        .invoke(
            json!({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}),
            deadline(),
        )
        .await
        .unwrap();
    assert!(
        answer["ignored"].as_str().unwrap().contains("aws.s3"),
        "{answer}"
    );
    assert!(w.gitea.calls().is_empty(), "nothing was asked of the forge");
}

/// The Lambda runtime API (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>) for
/// a few invocations of one process: `next` hands out the queued events one by one (and then
/// waits, as Lambda does between invocations), `response`/`error` record when and what the
/// function answered.
mod runtime_api {
    use axum::extract::{Path, State};
    use axum::http::{HeaderMap, HeaderValue, StatusCode};
    use axum::routing::{get, post};
    use axum::Router;
    use serde_json::Value;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

    #[derive(Clone)]
    pub struct Emulator {
        events: Arc<Mutex<VecDeque<Value>>>,
        /// When each event was handed out (the first: when init was done and the function polled).
        pub handed: Arc<Mutex<Vec<Instant>>>,
        /// When and what the function answered, in order.
        pub answered: Arc<Mutex<Vec<(Instant, String)>>>,
    }

    impl Emulator {
        pub fn new(events: Vec<Value>) -> Emulator {
            Emulator {
                events: Arc::new(Mutex::new(events.into())),
                handed: Arc::default(),
                answered: Arc::default(),
            }
        }

        /// The first `n` answers, once there are that many.
        pub fn answers(&self, n: usize) -> Option<Vec<(Instant, String)>> {
            let answered = self.answered.lock().unwrap();
            (answered.len() >= n).then(|| answered[..n].to_vec())
        }

        pub fn router(&self) -> Router {
            Router::new()
                .route("/2018-06-01/runtime/invocation/next", get(next))
                .route(
                    "/2018-06-01/runtime/invocation/{id}/response",
                    post(respond),
                )
                .route("/2018-06-01/runtime/invocation/{id}/error", post(respond))
                .route("/2018-06-01/runtime/init/error", post(init_error))
                .with_state(self.clone())
        }
    }

    async fn next(State(e): State<Emulator>) -> (HeaderMap, String) {
        let event = e.events.lock().unwrap().pop_front();
        let Some(event) = event else {
            // Lambda freezes the function here; the test ends it.
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return (HeaderMap::new(), String::new());
        };
        let deadline =
            SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(60);
        let n = {
            let mut handed = e.handed.lock().unwrap();
            handed.push(Instant::now());
            handed.len()
        };
        let mut h = HeaderMap::new();
        h.insert(
            "lambda-runtime-aws-request-id",
            HeaderValue::from_str(&format!("8476a536-e9f4-11e8-9739-2dfe598c{n:04}")).unwrap(),
        );
        h.insert(
            "lambda-runtime-deadline-ms",
            HeaderValue::from_str(&deadline.as_millis().to_string()).unwrap(),
        );
        h.insert(
            "lambda-runtime-invoked-function-arn",
            HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:sortie"),
        );
        h.insert(
            "lambda-runtime-trace-id",
            HeaderValue::from_static(
                "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
            ),
        );
        (h, event.to_string())
    }

    async fn respond(
        State(e): State<Emulator>,
        Path(_id): Path<String>,
        body: String,
    ) -> StatusCode {
        e.answered.lock().unwrap().push((Instant::now(), body));
        StatusCode::ACCEPTED
    }

    async fn init_error(State(e): State<Emulator>, body: String) -> StatusCode {
        e.answered
            .lock()
            .unwrap()
            .push((Instant::now(), format!("init error: {body}")));
        StatusCode::ACCEPTED
    }
}

/// Cold start of the release binary: process start → first answer, for a signed push through an
/// HTTP API event (open the DynamoDB store, plan the push through the Gitea API, launch on EC2,
/// answer), with the Lambda runtime API emulated on loopback and moto behind the AWS SDK. Then
/// two warm invocations of the same process: event handed out → answer, for a second push (a new
/// commit: one more job planned and launched) and for the seed's `{"action":"cleanup"}`.
/// Prints figures; asserts only that the answers came and were what each event asks for.
/// `cargo test --release -p sortie --test lambda -- --ignored --nocapture cold_start`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement; run with --release --ignored --nocapture"]
async fn cold_start() {
    let moto = MotoServer::shared();
    let sdk = moto.sdk_config().await;
    let ec2 = aws_sdk_ec2::Client::new(&sdk);
    let (subnet, sg, ami) = network(&ec2, "coldstart").await;
    let gitea = FakeGitea::start(GiteaKind::Gitea, TOKEN).await.unwrap();
    gitea.set_commit(
        REPO,
        C0,
        &[(".gitea/workflows/ci.yml", CI), ("main.go", "v0")],
    );
    gitea.set_commit(
        REPO,
        C1,
        &[(".gitea/workflows/ci.yml", CI), ("main.go", "v1")],
    );
    gitea.set_commit(
        REPO,
        C2,
        &[(".gitea/workflows/ci.yml", CI), ("main.go", "v2")],
    );
    // The warm push: C2 onto C1, a new job.
    let commits = [PushedCommit {
        id: C2.into(),
        modified: vec!["main.go".into()],
    }];
    let body = gitea_push(REPO, "refs/heads/main", C1, C2, &commits, None).unwrap();
    let second = Webhook::gitea("push", "push", "d-warm-1", SECRET, body);
    let emulator = runtime_api::Emulator::new(vec![
        http_event("http-api-v2.json", "/webhook", &push("d-cold-1")),
        http_event("http-api-v2.json", "/webhook", &second),
        json!({"action": "cleanup"}),
    ]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = listener.local_addr().unwrap();
    tokio::spawn(std::future::IntoFuture::into_future(axum::serve(
        listener,
        emulator.router(),
    )));

    let binary = env!("CARGO_BIN_EXE_sortie");
    let size = std::fs::metadata(binary).unwrap().len();
    let table = "sortie-coldstart";
    // The stack creates the table; the function only finds it.
    let url = format!(
        "dynamodb://testing:testing@{table}?endpoint={}&region=us-east-1",
        moto.endpoint()
    );
    sortie_store::open(&url).await.unwrap();
    let started = Instant::now();
    let mut child = tokio::process::Command::new(binary)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "sortie")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2024/01/01/[$LATEST]cold")
        // The credentials and endpoint a Lambda would get from its role; moto here.
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        // The seed's environment.
        .env("GITEA_URL", gitea.url())
        .env("GITEA_TOKEN", TOKEN)
        .env("RUNNER_AMI", &ami)
        .env("SUBNET", &subnet)
        .env("SECURITY_GROUP", &sg)
        .env("DDB_TABLE", table)
        .env("SORTIE_GITEA_WEBHOOK_SECRET", SECRET)
        .env("SORTIE_OWNER", "lambda-coldstart")
        .env(
            "SORTIE_PUBLIC_URL",
            "https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com",
        )
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let answers = sortie_testkit::eventually(
        "the function's three answers",
        Duration::from_secs(120),
        || {
            let e = emulator.clone();
            async move { e.answers(3) }
        },
    )
    .await;
    let handed = emulator.handed.lock().unwrap().clone();
    let _ = child.kill().await;
    let json_of =
        |i: usize| -> Value { serde_json::from_str(&answers[i].1).unwrap_or(Value::Null) };
    for (i, want) in [(0, 202), (1, 202)] {
        assert_eq!(json_of(i)["statusCode"], want, "{}", answers[i].1);
    }
    assert_eq!(json_of(2)["action"], "cleanup", "{}", answers[2].1);
    // Each push's job got its machine inside its invocation (what the figures include).
    let live = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:sortie:owner")
                .values("lambda-coldstart")
                .build(),
        )
        .filters(
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let machines: usize = live
        .reservations()
        .iter()
        .map(|r| r.instances().len())
        .sum();
    assert_eq!(machines, 2, "one machine per pushed job");
    let ms = |from: Instant, to: Instant| (to - from).as_secs_f64() * 1000.0;
    println!(
        "binary {:.1} MiB; cold: process start → runtime API polled (init: config, DynamoDB store, fleet) {:.0} ms; → first answer (signed push: store, plan via Gitea API, launch on EC2) {:.0} ms",
        size as f64 / (1024.0 * 1024.0),
        ms(started, handed[0]),
        ms(started, answers[0].0)
    );
    println!(
        "warm (same process, event handed out → answer): second push (new job: store, plan, launch) {:.1} ms; {{\"action\":\"cleanup\"}} (one sweep) {:.1} ms",
        ms(handed[1], answers[1].0),
        ms(handed[2], answers[2].0)
    );
}
