//! `sortie jobs` and `sortie instances` as an operator runs them, against a real `sortie serve`.

mod serve_common;

use serde_json::Value;
use serve_common::*;
use sortie_core::forge::Flavor;
use sortie_core::job::JobKey;
use sortie_core::route::Route;
use sortie_store::{InstanceState, NewInstance, NewJob};
use sortie_testkit::forge::payloads::github_workflow_job;
use sortie_testkit::forge::webhook::Webhook;
use std::process::Output;
use std::time::Duration;

const TOKEN: &str = "cli admin token";
const UNKNOWN: &str = "unknown label \"gpu-unobtainium\"";

/// A `sortie serve` on a fresh SQLite file with the admin token and the GitHub secret set.
struct Fixture {
    server: Server,
    db: String,
    _dir: tempfile::TempDir,
}

fn start() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("sortie.db").display());
    let mut cmd = sortie();
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", &db]);
    cmd.env("SORTIE_GITHUB_WEBHOOK_SECRET", SECRET)
        .env("SORTIE_ADMIN_TOKEN", TOKEN);
    Fixture {
        server: Server::spawn(cmd),
        db,
        _dir: dir,
    }
}

/// `sortie ARGS` pointed at the fixture's server with the right token.
fn cli(f: &Fixture, args: &[&str]) -> Output {
    sortie()
        .args(args)
        .env("SORTIE_URL", &f.server.url)
        .env("SORTIE_ADMIN_TOKEN", TOKEN)
        .output()
        .expect("sortie runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok(out: Output) -> String {
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    stdout(&out)
}

/// Delivers a `workflow_job` queued asking for a label nobody serves and waits (through the CLI)
/// until its job has failed; returns the job's id.
async fn deliver_unknown_label(f: &Fixture) -> i64 {
    let body = github_workflow_job("queued", "octo/app", 99, 5, &["gpu-unobtainium"], 1).unwrap();
    let hook = Webhook::github("workflow_job", "cli-1", SECRET, body);
    let url = format!("{}/webhooks/github", f.server.url);
    let (status, text) = hook.send(&url).await.unwrap();
    assert_eq!(status, 202, "{text}");
    sortie_testkit::eventually("the job failed", Duration::from_secs(10), || {
        let out = cli(f, &["jobs", "--state", "failed", "--format", "json"]);
        let page: Value = serde_json::from_str(&stdout(&out)).unwrap_or_default();
        let id = page["jobs"][0]["id"].as_i64();
        async move { id }
    })
    .await
}

#[tokio::test]
async fn jobs_shows_why_a_job_will_not_run() {
    let f = start();
    let id = deliver_unknown_label(&f).await;

    let table = ok(cli(&f, &["jobs"]));
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].ends_with("REASON"),
        "{table}"
    );
    assert_eq!(lines.len(), 2, "{table}");
    for fragment in [
        &id.to_string(),
        "failed",
        "octo/app",
        "gpu-unobtainium",
        UNKNOWN,
    ] {
        assert!(lines[1].contains(fragment), "{fragment:?} not in {table}");
    }

    let json: Value = serde_json::from_str(&ok(cli(&f, &["jobs", "--format", "json"]))).unwrap();
    assert_eq!(json["jobs"][0]["id"], id);
    assert!(json["jobs"][0]["reason"]
        .as_str()
        .unwrap()
        .contains(UNKNOWN));

    let none = ok(cli(&f, &["jobs", "--state", "queued", "--limit", "5"]));
    assert_eq!(none, "no jobs\n");

    let show = ok(cli(&f, &["jobs", "show", &id.to_string()]));
    assert!(
        show.starts_with(&format!("job {id}\n  state:   failed\n")),
        "{show}"
    );
    assert!(
        show.contains(&format!("  reason:  unroutable: {UNKNOWN}")),
        "{show}"
    );
    assert!(show.contains("\nhistory\nAT "), "{show}");
    assert!(show.ends_with("instances\n(none)\n"), "{show}");

    let detail: Value = serde_json::from_str(&ok(cli(
        &f,
        &["jobs", "show", &id.to_string(), "--format", "json"],
    )))
    .unwrap();
    let history = detail["history"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["to"], "failed");
    assert_eq!(detail["job"]["reason"], history.last().unwrap()["reason"]);
}

#[tokio::test]
async fn instances_lists_machines_by_state_and_job() {
    let f = start();
    assert_eq!(ok(cli(&f, &["instances"])), "no instances\n");
    // A machine recorded the way the dispatcher records it, through the same database file.
    let store = sortie_store::open(&f.db).await.unwrap();
    let job = store
        .create_job(&NewJob {
            key: JobKey::WorkflowJob {
                forge: Flavor::Github,
                repo: "octo/app".into(),
                run_id: 1,
                run_attempt: 1,
                job_id: 2,
            },
            labels: vec!["self-hosted".into()],
            route: Route::provider("local", "default provider"),
            spec: None,
            delivery: None,
        })
        .await
        .unwrap()
        .into_job();
    store
        .record_instance(&NewInstance {
            job: job.id,
            provider: "local".into(),
            provider_id: "pid-4242".into(),
            attempt: 1,
            state: InstanceState::Running,
        })
        .await
        .unwrap();

    let table = ok(cli(&f, &["instances", "--state", "running"]));
    assert!(
        table.starts_with("ID  JOB  PROVIDER  PROVIDER_ID"),
        "{table}"
    );
    assert!(
        table.lines().nth(1).unwrap().contains("pid-4242"),
        "{table}"
    );
    let job_arg = job.id.0.to_string();
    let json: Value = serde_json::from_str(&ok(cli(
        &f,
        &["instances", "--job", &job_arg, "--format", "json"],
    )))
    .unwrap();
    assert_eq!(json["instances"][0]["state"], "running");
    assert_eq!(
        ok(cli(&f, &["instances", "--state", "stopped"])),
        "no instances\n"
    );
    let show = ok(cli(&f, &["jobs", "show", &job_arg]));
    assert!(show.contains("pid-4242"), "{show}");
}

#[test]
fn errors_say_what_to_do() {
    let f = start();
    // (arguments, environment, exit code, fragments of stderr)
    type Row<'a> = (&'a [&'a str], Option<&'a str>, i32, &'a [&'a str]);
    let rows: [Row; 6] = [
        (
            &["jobs"],
            None,
            1,
            &["401", "No token was given", "SORTIE_ADMIN_TOKEN"],
        ),
        (
            &["jobs"],
            Some("wrong"),
            1,
            &["does not match", "Set SORTIE_ADMIN_TOKEN", "admin_token"],
        ),
        (&["jobs", "show", "999"], Some(TOKEN), 1, &["no job 999"]),
        (
            &["jobs", "--state", "done"],
            Some(TOKEN),
            2,
            &["--state", "queued", "timed_out"],
        ),
        (&["jobs", "show", "abc"], Some(TOKEN), 2, &["abc"]),
        (
            &["instances", "--state", "up"],
            Some(TOKEN),
            2,
            &["pending, running"],
        ),
    ];
    for (args, token, code, fragments) in rows {
        let mut cmd = sortie();
        cmd.args(args).env("SORTIE_URL", &f.server.url);
        if let Some(t) = token {
            cmd.env("SORTIE_ADMIN_TOKEN", t);
        }
        let out = cmd.output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        for fragment in fragments {
            assert!(
                err.contains(fragment),
                "{args:?}: {fragment:?} not in {err}"
            );
        }
        assert!(!err.contains(TOKEN), "the token is never printed: {err}");
    }
}

#[test]
fn an_unreachable_server_is_named_with_the_fix() {
    // A port nothing listens on: bind one, note it, release it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let out = sortie()
        .args(["jobs", "--url", &url, "--token", "x"])
        .env_remove("SORTIE_URL")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("cannot reach sortie at {url}")),
        "{err}"
    );
    assert!(err.contains("SORTIE_URL"), "{err}");
}

#[test]
fn help_never_shows_the_token() {
    let out = sortie()
        .args(["jobs", "--help"])
        .env("SORTIE_ADMIN_TOKEN", "help-secret-value")
        .output()
        .unwrap();
    let help = stdout(&out);
    assert!(
        help.contains("--token") && help.contains("SORTIE_ADMIN_TOKEN"),
        "{help}"
    );
    assert!(!help.contains("help-secret-value"), "{help}");
}
