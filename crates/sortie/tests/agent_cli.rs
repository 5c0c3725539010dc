//! `sortie agent` as it runs on a machine: the real binary against an in-test orchestrator (the
//! bootstrap and report routes of `sortie_core::agent`) and an in-test fake forge speaking the
//! fake runner protocol, or a fake actions/runner `run.sh`.
//!
//! Every run gets a clean environment, its own HOME (git writes its global config there) and a
//! PATH whose first directory holds fake `systemctl` and `shutdown` programs that only record
//! their call: no test can power this machine off, and the power-off path is observable.

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine as _;
use serde_json::{json, Value};
use sortie_core::agent::{
    AgentConfig, AgentPhase, AgentReport, GitAccess, RunnerLaunch, BOOTSTRAP_PATH, REPORT_PATH,
};
use sortie_testkit::eventually;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const BOOTSTRAP_TOKEN: &str = "sbt_test_bootstrap_secret_0123456789";
const SESSION_TOKEN: &str = "sas_test_session_secret";
const GIT_PASSWORD: &str = "ghs_test_git_password_secret";
/// Safety net for a hung agent; not a performance assertion.
const HANG: Duration = Duration::from_secs(180);

// ---------------------------------------------------------------- the orchestrator

#[derive(Default)]
struct OrchestratorState {
    config: Option<AgentConfig>,
    used: bool,
    reports: Vec<AgentReport>,
    stop_on_heartbeat: bool,
}

#[derive(Clone)]
struct Orchestrator {
    url: String,
    state: Arc<Mutex<OrchestratorState>>,
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("authorization")?.to_str().ok()?;
    value.strip_prefix("Bearer ").map(str::to_owned)
}

async fn bootstrap(State(o): State<Orchestrator>, headers: HeaderMap) -> Response {
    let mut state = o.state.lock().unwrap();
    if bearer(&headers).as_deref() != Some(BOOTSTRAP_TOKEN) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if state.used {
        return StatusCode::GONE.into_response();
    }
    state.used = true;
    Json(state.config.clone().unwrap()).into_response()
}

async fn report(
    State(o): State<Orchestrator>,
    headers: HeaderMap,
    Json(report): Json<AgentReport>,
) -> Response {
    if bearer(&headers).as_deref() != Some(SESSION_TOKEN) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let mut state = o.state.lock().unwrap();
    let stop = state.stop_on_heartbeat && report.phase == AgentPhase::Heartbeat;
    state.reports.push(report);
    Json(json!({ "stop": stop })).into_response()
}

impl Orchestrator {
    async fn start(config: AgentConfig) -> Orchestrator {
        let state = Arc::new(Mutex::new(OrchestratorState {
            config: Some(config),
            ..Default::default()
        }));
        let mut o = Orchestrator {
            url: String::new(),
            state,
        };
        let app = Router::new()
            .route(BOOTSTRAP_PATH, post(bootstrap))
            .route(REPORT_PATH, post(report))
            .with_state(o.clone());
        o.url = serve(app).await;
        o
    }

    fn reports(&self) -> Vec<AgentReport> {
        self.state.lock().unwrap().reports.clone()
    }

    /// The reported phases, heartbeats left out (their number depends on timing).
    fn phases(&self) -> Vec<AgentPhase> {
        self.reports()
            .iter()
            .map(|r| r.phase)
            .filter(|p| *p != AgentPhase::Heartbeat)
            .collect()
    }

    fn finished(&self) -> AgentReport {
        let reports = self.reports();
        let finished: Vec<_> = reports
            .iter()
            .filter(|r| r.phase == AgentPhase::Finished)
            .collect();
        assert_eq!(finished.len(), 1, "{reports:?}");
        finished[0].clone()
    }
}

// ---------------------------------------------------------------- the fake forge's runner API

#[derive(Default)]
struct ForgeState {
    connects: Vec<Value>,
    next_calls: u32,
    finishes: Vec<Value>,
    job_duration_ms: u64,
}

#[derive(Clone)]
struct FakeForge {
    url: String,
    state: Arc<Mutex<ForgeState>>,
}

const RUNNER_ID: i64 = 7;
const JOB_ID: i64 = 11;

async fn connect(State(f): State<FakeForge>, Json(body): Json<Value>) -> Json<Value> {
    f.state.lock().unwrap().connects.push(body);
    Json(json!({ "runner_id": RUNNER_ID }))
}

async fn next(State(f): State<FakeForge>, UrlPath(id): UrlPath<i64>) -> Response {
    assert_eq!(id, RUNNER_ID);
    let mut state = f.state.lock().unwrap();
    state.next_calls += 1;
    // The first poll finds nothing, as when the job is not assigned yet.
    if state.next_calls == 1 {
        return StatusCode::NO_CONTENT.into_response();
    }
    Json(json!({ "job_id": JOB_ID, "run_id": 5, "duration_ms": state.job_duration_ms }))
        .into_response()
}

async fn finish(
    State(f): State<FakeForge>,
    UrlPath(id): UrlPath<i64>,
    Json(body): Json<Value>,
) -> StatusCode {
    assert_eq!(id, RUNNER_ID);
    f.state.lock().unwrap().finishes.push(body);
    StatusCode::OK
}

impl FakeForge {
    async fn start(job_duration_ms: u64) -> FakeForge {
        let mut f = FakeForge {
            url: String::new(),
            state: Arc::new(Mutex::new(ForgeState {
                job_duration_ms,
                ..Default::default()
            })),
        };
        let app = Router::new()
            .route("/_fake/runner/connect", post(connect))
            .route("/_fake/runner/{id}/next", post(next))
            .route("/_fake/runner/{id}/finish", post(finish))
            .with_state(f.clone());
        f.url = serve(app).await;
        f
    }

    /// A GitHub JIT config pointing the fake runner at this forge.
    fn jit_config(&self) -> String {
        base64::engine::general_purpose::STANDARD
            .encode(json!({ "fake_url": self.url, "runner": "sortie-abc-1" }).to_string())
    }
}

async fn serve(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

// ---------------------------------------------------------------- the machine

fn config(runner: RunnerLaunch, git: Option<GitAccess>) -> AgentConfig {
    AgentConfig {
        job: "github:octo/app:run/42/1/job/7".into(),
        job_id: 1,
        attempt: 1,
        runner_name: "sortie-abc-1".into(),
        runner,
        session_token: SESSION_TOKEN.into(),
        heartbeat_interval_secs: 1,
        max_runtime_secs: 120,
        git,
    }
}

/// A machine: HOME, fake power-off programs, and the agent's command line.
struct Machine {
    dir: tempfile::TempDir,
}

impl Machine {
    fn new() -> Machine {
        let machine = Machine {
            dir: tempfile::tempdir().unwrap(),
        };
        std::fs::create_dir_all(machine.home()).unwrap();
        std::fs::create_dir_all(machine.bin()).unwrap();
        let log = machine.poweroff_log();
        // systemctl "fails" so the fallback to shutdown is exercised too.
        script(
            &machine.bin().join("systemctl"),
            &format!("echo \"systemctl $*\" >> '{}'\nexit 1\n", log.display()),
        );
        script(
            &machine.bin().join("shutdown"),
            &format!("echo \"shutdown $*\" >> '{}'\n", log.display()),
        );
        machine
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn bin(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    fn poweroff_log(&self) -> PathBuf {
        self.dir.path().join("poweroff.log")
    }

    fn powered_off(&self) -> Option<String> {
        std::fs::read_to_string(self.poweroff_log()).ok()
    }

    fn agent(&self, url: &str) -> tokio::process::Command {
        let path = format!(
            "{}:{}",
            self.bin().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_sortie"));
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", self.home())
            .env("RUST_LOG", "debug")
            .env("SORTIE_URL", url)
            .arg("agent")
            .kill_on_drop(true);
        cmd
    }
}

fn script(path: &Path, body: &str) {
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

async fn run(mut cmd: tokio::process::Command) -> Output {
    let out = tokio::time::timeout(HANG, cmd.output())
        .await
        .expect("the agent hung")
        .unwrap();
    let text = output_text(&out);
    for secret in [BOOTSTRAP_TOKEN, SESSION_TOKEN, GIT_PASSWORD] {
        assert!(
            !text.contains(secret),
            "a secret leaked into the output:\n{text}"
        );
    }
    out
}

fn output_text(out: &Output) -> String {
    format!(
        "status: {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// True once process `pid` is gone (or a zombie nobody reaped).
fn is_dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

// ---------------------------------------------------------------- tests

#[tokio::test(flavor = "multi_thread")]
async fn fake_runner_job_reports_every_phase_in_order_and_exits_zero() {
    let forge = FakeForge::start(1500).await;
    let jit = forge.jit_config();
    let orchestrator = Orchestrator::start(config(
        RunnerLaunch::GithubJit {
            encoded_jit_config: jit.clone(),
        },
        None,
    ))
    .await;
    let machine = Machine::new();
    let mut cmd = machine.agent(&orchestrator.url);
    cmd.args(["--runner", "fake", "--no-poweroff"])
        .env("SORTIE_BOOTSTRAP_TOKEN", BOOTSTRAP_TOKEN);
    let out = run(cmd).await;
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(
        orchestrator.phases(),
        [
            AgentPhase::Booted,
            AgentPhase::Registered,
            AgentPhase::JobStarted,
            AgentPhase::Finished
        ],
        "{text}"
    );
    let finished = orchestrator.finished();
    assert_eq!(finished.exit_code, Some(0), "{text}");
    assert!(finished.elapsed_ms > 0);
    let forge = forge.state.lock().unwrap();
    assert_eq!(forge.connects, [json!({ "jit_config": jit })]);
    assert!(forge.next_calls >= 2, "polled past the empty answer");
    assert_eq!(
        forge.finishes,
        [json!({ "job_id": JOB_ID, "conclusion": "success" })]
    );
    assert_eq!(machine.powered_off(), None, "--no-poweroff");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_used_token_gives_up_without_running_anything_and_powers_off() {
    let forge = FakeForge::start(0).await;
    let orchestrator = Orchestrator::start(config(
        RunnerLaunch::GithubJit {
            encoded_jit_config: forge.jit_config(),
        },
        None,
    ))
    .await;
    orchestrator.state.lock().unwrap().used = true;
    let machine = Machine::new();
    // A long lifetime: a retrying agent would hang the test instead of passing it.
    let mut cmd = machine.agent(&orchestrator.url);
    cmd.args(["--runner", "fake", "--max-lifetime-secs", "3600"])
        .env("SORTIE_BOOTSTRAP_TOKEN", BOOTSTRAP_TOKEN);
    let out = run(cmd).await;
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("410"), "says why: {text}");
    assert!(orchestrator.reports().is_empty(), "{text}");
    assert!(forge.state.lock().unwrap().connects.is_empty());
    // systemctl poweroff first; it fails here, so shutdown -h now.
    assert_eq!(
        machine.powered_off().as_deref(),
        Some("systemctl poweroff\nshutdown -h now\n"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_on_a_heartbeat_ends_the_fake_runner() {
    let forge = FakeForge::start(600_000).await;
    let orchestrator = Orchestrator::start(config(
        RunnerLaunch::GithubJit {
            encoded_jit_config: forge.jit_config(),
        },
        None,
    ))
    .await;
    orchestrator.state.lock().unwrap().stop_on_heartbeat = true;
    let machine = Machine::new();
    let mut cmd = machine.agent(&orchestrator.url);
    cmd.args(["--runner", "fake", "--no-poweroff"])
        .env("SORTIE_BOOTSTRAP_TOKEN", BOOTSTRAP_TOKEN);
    let out = run(cmd).await;
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let finished = orchestrator.finished();
    assert!(
        finished
            .message
            .as_deref()
            .unwrap_or("")
            .contains("stopped"),
        "{finished:?}"
    );
    assert!(orchestrator
        .reports()
        .iter()
        .any(|r| r.phase == AgentPhase::Heartbeat));
    assert!(
        forge.state.lock().unwrap().finishes.is_empty(),
        "the job was cut short, not completed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_max_runtime_kills_the_runner_and_reports_why() {
    let forge = FakeForge::start(600_000).await;
    let mut cfg = config(
        RunnerLaunch::ActRunnerRegister {
            instance_url: forge.url.clone(),
            token: "gitea-registration-token".into(),
            labels: vec!["ubuntu-latest".into(), "sortie=cpu=2".into()],
        },
        None,
    );
    cfg.max_runtime_secs = 2;
    let orchestrator = Orchestrator::start(cfg).await;
    let machine = Machine::new();
    let mut cmd = machine.agent(&orchestrator.url);
    cmd.args(["--no-poweroff"])
        .env("SORTIE_AGENT_RUNNER", "fake")
        .env("SORTIE_BOOTSTRAP_TOKEN", BOOTSTRAP_TOKEN);
    let out = run(cmd).await;
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(124), "{text}");
    let finished = orchestrator.finished();
    assert!(
        finished
            .message
            .as_deref()
            .unwrap_or("")
            .contains("maximum runtime"),
        "{finished:?}"
    );
    let forge = forge.state.lock().unwrap();
    assert_eq!(
        forge.connects,
        [json!({
            "registration_token": "gitea-registration-token",
            "name": "sortie-abc-1",
            "labels": ["ubuntu-latest", "sortie=cpu=2"],
            "ephemeral": true
        })]
    );
    assert!(forge.finishes.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_orchestrator_ends_at_the_max_lifetime() {
    // A port that was free a moment ago: connections are refused.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let machine = Machine::new();
    let marker = machine.dir.path().join("custom-poweroff.log");
    let custom = machine.dir.path().join("my-poweroff");
    script(&custom, &format!("echo custom >> '{}'\n", marker.display()));
    let mut cmd = machine.agent(&format!("http://127.0.0.1:{port}"));
    cmd.args(["--max-lifetime-secs", "2", "--poweroff-command"])
        .arg(&custom)
        .env("SORTIE_BOOTSTRAP_TOKEN", BOOTSTRAP_TOKEN);
    let out = run(cmd).await;
    let text = output_text(&out);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("lifetime"), "{text}");
    assert_eq!(
        std::fs::read_to_string(&marker).ok().as_deref(),
        Some("custom\n")
    );
    assert_eq!(
        machine.powered_off(),
        None,
        "the custom command replaces systemctl"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_real_runner_gets_its_jit_config_and_its_exit_code_is_reported() {
    let jit = "eyJydW5uZXIiOiJqaXQtc2VjcmV0LWNvbmZpZyJ9";
    let orchestrator = Orchestrator::start(config(
        RunnerLaunch::GithubJit {
            encoded_jit_config: jit.into(),
        },
        Some(GitAccess {
            host: "git.example.com".into(),
            repo: "octo/app".into(),
            username: "x-access-token".into(),
            password: GIT_PASSWORD.into(),
            expires_at: None,
        }),
    ))
    .await;
    let machine = Machine::new();
    let runner_dir = machine.dir.path().join("actions-runner");
    std::fs::create_dir_all(&runner_dir).unwrap();
    // Records its arguments and environment, prints actions/runner's job line (and, carelessly,
    // its own credential), exits 3.
    script(
        &runner_dir.join("run.sh"),
        "echo \"$@\" > args.txt\nenv > env.txt\necho \"2025-01-02 03:04:05Z: Running job: build\"\necho \"config is $2\"\nexit 3\n",
    );
    let token_file = machine.dir.path().join("token");
    std::fs::write(&token_file, format!("{BOOTSTRAP_TOKEN}\n")).unwrap();
    let mut cmd = machine.agent(&orchestrator.url);
    cmd.args(["--no-poweroff", "--token-file"])
        .arg(&token_file)
        .arg("--runner-dir")
        .arg(&runner_dir)
        // Set in the environment too: the runner must not inherit it.
        .env("SORTIE_BOOTSTRAP_TOKEN", BOOTSTRAP_TOKEN);
    let out = run(cmd).await;
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert_eq!(
        orchestrator.phases(),
        [
            AgentPhase::Booted,
            AgentPhase::Registered,
            AgentPhase::JobStarted,
            AgentPhase::Finished
        ],
        "{text}"
    );
    assert_eq!(orchestrator.finished().exit_code, Some(3));
    assert!(!token_file.exists(), "the token file is deleted once read");
    let args = std::fs::read_to_string(runner_dir.join("args.txt")).unwrap();
    assert_eq!(args, format!("--jitconfig {jit}\n"));
    let env = std::fs::read_to_string(runner_dir.join("env.txt")).unwrap();
    assert!(!env.contains(BOOTSTRAP_TOKEN), "{env}");
    assert!(!env.contains("SORTIE_BOOTSTRAP_TOKEN"), "{env}");
    assert!(
        text.contains("runner: config is ***"),
        "scrubbed echo: {text}"
    );
    assert!(!text.contains(jit), "{text}");
    check_git_credentials(&machine.home());
}

/// The password is stored for this one repository only, in a 0600 file, and git finds it.
fn check_git_credentials(home: &Path) {
    let Some(_) = find_git() else {
        eprintln!("git is not installed; the git credential check is skipped");
        return;
    };
    let store = home.join(".config/sortie/git-credentials");
    let mode = std::fs::metadata(&store).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let gitconfig = std::fs::read_to_string(home.join(".gitconfig")).unwrap();
    assert!(!gitconfig.contains(GIT_PASSWORD), "{gitconfig}");
    let fill = |url: &str| {
        let mut child = std::process::Command::new("git")
            .args(["credential", "fill"])
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", home)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("url={url}\n\n").as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    for url in [
        "https://git.example.com/octo/app",
        "https://git.example.com/octo/app.git",
    ] {
        let out = fill(url);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(&format!("password={GIT_PASSWORD}")),
            "{url}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for url in [
        "https://git.example.com/octo/other",
        "https://other.example.com/octo/app",
    ] {
        let out = fill(url);
        assert!(
            !String::from_utf8_lossy(&out.stdout).contains(GIT_PASSWORD),
            "{url} must not get the password"
        );
    }
}

fn find_git() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("git"))
        .find(|p| p.is_file())
}

#[tokio::test(flavor = "multi_thread")]
async fn stop_terminates_the_real_runners_whole_process_group() {
    let orchestrator = Orchestrator::start(config(
        RunnerLaunch::GithubJit {
            encoded_jit_config: "jit".into(),
        },
        None,
    ))
    .await;
    orchestrator.state.lock().unwrap().stop_on_heartbeat = true;
    let machine = Machine::new();
    let runner_dir = machine.dir.path().join("actions-runner");
    std::fs::create_dir_all(&runner_dir).unwrap();
    // The runner and a background child of it, both long-lived.
    script(
        &runner_dir.join("run.sh"),
        "echo $$ > runner.pid\nsleep 600 &\necho $! > child.pid\nwait\n",
    );
    let mut cmd = machine.agent(&orchestrator.url);
    cmd.args(["--no-poweroff", "--runner-dir"])
        .arg(&runner_dir)
        .env("SORTIE_BOOTSTRAP_TOKEN", BOOTSTRAP_TOKEN);
    let out = run(cmd).await;
    let text = output_text(&out);
    let finished = orchestrator.finished();
    assert!(
        finished
            .message
            .as_deref()
            .unwrap_or("")
            .contains("stopped"),
        "{finished:?}\n{text}"
    );
    assert_eq!(finished.exit_code, None, "killed by a signal: {text}");
    for file in ["runner.pid", "child.pid"] {
        let pid = std::fs::read_to_string(runner_dir.join(file)).unwrap();
        let pid = pid.trim().to_owned();
        eventually(&format!("{file} ({pid}) is gone"), HANG, || {
            let dead = is_dead(&pid);
            async move { dead.then_some(()) }
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_to_the_agent_ends_the_runner_and_is_reported() {
    let orchestrator = Orchestrator::start(config(
        RunnerLaunch::GithubJit {
            encoded_jit_config: "jit".into(),
        },
        None,
    ))
    .await;
    let machine = Machine::new();
    let runner_dir = machine.dir.path().join("actions-runner");
    std::fs::create_dir_all(&runner_dir).unwrap();
    script(
        &runner_dir.join("run.sh"),
        "sleep 600 &\necho $! > child.pid\nwait\n",
    );
    let mut cmd = machine.agent(&orchestrator.url);
    cmd.args(["--no-poweroff", "--runner-dir"])
        .arg(&runner_dir)
        .env("SORTIE_BOOTSTRAP_TOKEN", BOOTSTRAP_TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pid = child.id().unwrap();
    let child_pid = runner_dir.join("child.pid");
    eventually("the runner is registered and running", HANG, || {
        let ready = orchestrator.phases().contains(&AgentPhase::Registered)
            && std::fs::read_to_string(&child_pid).is_ok_and(|p| p.ends_with('\n'));
        async move { ready.then_some(()) }
    })
    .await;
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = tokio::time::timeout(HANG, child.wait_with_output())
        .await
        .expect("the agent hung")
        .unwrap();
    let text = output_text(&out);
    assert_eq!(out.status.code(), Some(143), "{text}");
    let finished = orchestrator.finished();
    assert!(
        finished
            .message
            .as_deref()
            .unwrap_or("")
            .contains("SIGTERM"),
        "{finished:?}\n{text}"
    );
    let pid = std::fs::read_to_string(&child_pid)
        .unwrap()
        .trim()
        .to_owned();
    eventually(&format!("the runner's child {pid} is gone"), HANG, || {
        let dead = is_dead(&pid);
        async move { dead.then_some(()) }
    })
    .await;
}
