//! A fake Gitea/Forgejo API (`/api/v1`): contents, compare, runner registration tokens,
//! Forgejo's ephemeral runner registration, runner list/delete, scripted failures; every call is
//! recorded. Routes follow go-gitea/gitea `routers/api/v1/api.go`; response shapes follow
//! `modules/structs` (`ActionRunnersResponse`, `RegistrationToken`, `Compare`) and Forgejo's
//! `RegisterRunnerResponse`.
//!
//! It is also a small Gitea Actions simulation (see [`super::sim`]): [`FakeGitea::push`] sends a
//! signed `push` webhook, [`FakeGitea::push_with_jobs`] also creates the tasks Gitea would,
//! runners connect to `/_fake/runner/…` with a registration token or Forgejo's uuid and token and
//! take jobs by labels, `workflow_job` webhooks follow job changes on Gitea ≥ 1.24, and the
//! listing endpoints Gitea and Forgejo offer answer ([`actions`]).

mod actions;
mod runners;

use super::common::{
    self, lock, message, query_param, record, reply, ApiCall, RepoFiles, ScriptedFailure,
    ServerTask,
};
use super::payloads::{self, PushedCommit};
use super::sim::{self, Assignment, Delivery, FakeJob, HookKind, JobSpec, Sim};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Which server the fake imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiteaKind {
    /// Gitea ≥ 1.24: `POST …/registration-token`, runner list `{runners, total_count}`,
    /// `workflow_job` webhooks, and (upstream since 1.25) `…/actions/runs` and `…/actions/jobs`.
    Gitea,
    /// Gitea 1.21–1.23: `GET …/registration-token` only; no `workflow_job` webhooks.
    GiteaLegacy,
    /// Forgejo ≥ 15: ephemeral registration `POST …/actions/runners`, runner list as a bare array
    /// with `X-Total-Count`, `GET …/registration-token`, `GET …/actions/runners/jobs`.
    Forgejo,
    /// Forgejo before 15: no registration API.
    ForgejoLegacy,
}

/// A registered runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GiteaRunner {
    /// Id.
    pub id: u64,
    /// `repo:owner/name`, `org:login` or `instance`.
    pub scope: String,
    /// Name.
    pub name: String,
    /// Not offline.
    pub online: bool,
    /// Busy.
    pub busy: bool,
    /// Ephemeral: removed after its one job.
    pub ephemeral: bool,
    /// UUID (ephemeral registrations).
    pub uuid: String,
    /// Label names.
    pub labels: Vec<String>,
}

struct GtState {
    kind: GiteaKind,
    token: String,
    repos: HashMap<String, RepoFiles>,
    registration_tokens: Vec<(String, String)>,
    script: Vec<ScriptedFailure>,
    calls: Vec<ApiCall>,
    sim: Sim,
}

type Shared = Arc<Mutex<GtState>>;

/// The fake Gitea/Forgejo, serving on 127.0.0.1 until dropped.
pub struct FakeGitea {
    state: Shared,
    addr: std::net::SocketAddr,
    _task: ServerTask,
    _deliveries: ServerTask,
}

impl FakeGitea {
    /// Starts a fake of `kind` that accepts the API token `token`.
    pub async fn start(kind: GiteaKind, token: &str) -> std::io::Result<FakeGitea> {
        let hook_kind = match kind {
            GiteaKind::Gitea | GiteaKind::GiteaLegacy => HookKind::Gitea,
            GiteaKind::Forgejo | GiteaKind::ForgejoLegacy => HookKind::Forgejo,
        };
        // `workflow_job` webhooks exist since Gitea 1.24 (go-gitea/gitea#33694); Forgejo has none.
        let mut sim = Sim::new(hook_kind, kind == GiteaKind::Gitea, false);
        sim.workflow_path = if hook_kind == HookKind::Forgejo {
            ".forgejo/workflows/ci.yml".into()
        } else {
            ".gitea/workflows/ci.yml".into()
        };
        let state: Shared = Arc::new(Mutex::new(GtState {
            kind,
            token: token.to_string(),
            repos: HashMap::new(),
            registration_tokens: Vec::new(),
            script: Vec::new(),
            calls: Vec::new(),
            sim,
        }));
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (addr, task) = common::serve(router).await?;
        lock(&state).sim.base_url = format!("http://{addr}");
        let deliveries = sim::spawn_worker(state.clone());
        Ok(FakeGitea {
            state,
            addr,
            _task: task,
            _deliveries: deliveries,
        })
    }

    /// The instance base URL (the API is under `/api/v1`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Records the complete file tree of `repo` (`owner/name`) at `sha`.
    pub fn set_commit(&self, repo: &str, sha: &str, files: &[(&str, &str)]) {
        lock(&self.state)
            .repos
            .entry(repo.to_string())
            .or_default()
            .set_commit(sha, files);
    }

    /// Queues a failure answered instead of the next matching call.
    pub fn script(&self, failure: ScriptedFailure) {
        lock(&self.state).script.push(failure);
    }

    /// Registers a runner (as an earlier machine would have) with the label `ubuntu-latest`.
    pub fn add_runner(&self, scope: &str, name: &str, online: bool, busy: bool) -> u64 {
        lock(&self.state).sim.add_runner(sim::RunnerRecord {
            scope: scope.into(),
            name: name.into(),
            online,
            busy,
            labels: vec!["ubuntu-latest".into()],
            ..Default::default()
        })
    }

    /// Runners registered now.
    pub fn runners(&self) -> Vec<GiteaRunner> {
        lock(&self.state)
            .sim
            .runners
            .values()
            .map(|r| GiteaRunner {
                id: r.id,
                scope: r.scope.clone(),
                name: r.name.clone(),
                online: r.online,
                busy: r.busy,
                ephemeral: r.ephemeral,
                uuid: r.uuid.clone(),
                labels: r.labels.clone(),
            })
            .collect()
    }

    /// `(scope, token)` of registration tokens handed out.
    pub fn registration_tokens(&self) -> Vec<(String, String)> {
        lock(&self.state).registration_tokens.clone()
    }

    /// Every call received, in order.
    pub fn calls(&self) -> Vec<ApiCall> {
        lock(&self.state).calls.clone()
    }

    /// Calls whose `METHOD path` contains `fragment`.
    pub fn calls_to(&self, fragment: &str) -> Vec<ApiCall> {
        self.calls()
            .into_iter()
            .filter(|c| format!("{} {}", c.method, c.path).contains(fragment))
            .collect()
    }

    /// Sends webhooks to `url` from now on, signed with `secret` (`X-Gitea-Signature`, plus
    /// `X-Forgejo-Signature` on Forgejo). Without a target, no webhook is sent or recorded.
    pub fn set_webhook(&self, url: &str, secret: &str) {
        lock(&self.state).sim.hooks.set_target(url, secret);
    }

    /// Every webhook delivery, oldest first.
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.state).sim.hooks.deliveries().to_vec()
    }

    /// Waits until every webhook made so far has been sent (or failed).
    pub async fn flush_webhooks(&self) {
        sim::flush(&self.state).await;
    }

    /// The next `n` webhooks are recorded as failed and not sent.
    pub fn lose_next_webhooks(&self, n: usize) {
        lock(&self.state).sim.hooks.lose_next(n);
    }

    /// Whether job changes send `workflow_job` webhooks (default: on for [`GiteaKind::Gitea`],
    /// off for the others, which have none).
    pub fn set_workflow_job_webhooks(&self, on: bool) {
        lock(&self.state).sim.workflow_job_webhooks = on;
    }

    /// Queues one job (new run, named `build`), with a `workflow_job` webhook when those are on.
    pub fn queue_job(&self, repo: &str, labels: &[&str]) -> FakeJob {
        let mut s = lock(&self.state);
        sim::queue(&mut *s, JobSpec::new(repo, "build", labels))
    }

    /// Queues a job in run `run_id` (created when new) with `name`.
    pub fn queue_job_with(
        &self,
        repo: &str,
        run_id: u64,
        run_attempt: u32,
        name: &str,
        labels: &[&str],
    ) -> FakeJob {
        let spec = JobSpec {
            run_id: Some(run_id),
            run_attempt: run_attempt.max(1),
            ..JobSpec::new(repo, name, labels)
        };
        let mut s = lock(&self.state);
        sim::queue(&mut *s, spec)
    }

    /// Records the commit `after` (complete tree `files`) and sends a signed `push` webhook for
    /// `refs/heads/main` from `before`, listing one commit that modified `changed`.
    pub fn push(
        &self,
        repo: &str,
        before: &str,
        after: &str,
        files: &[(&str, &str)],
        changed: &[&str],
    ) {
        self.push_with_jobs(repo, before, after, files, changed, &[]);
    }

    /// [`push`](Self::push), then creates what Gitea would run for it: one run at `after` with
    /// one queued job per label set in `jobs` (named `job1`, `job2`, …). Runners take them by
    /// labels; `workflow_job` webhooks follow only when they are on (not on older Gitea).
    pub fn push_with_jobs(
        &self,
        repo: &str,
        before: &str,
        after: &str,
        files: &[(&str, &str)],
        changed: &[&str],
        jobs: &[&[&str]],
    ) -> Vec<FakeJob> {
        let mut s = lock(&self.state);
        s.repos
            .entry(repo.to_string())
            .or_default()
            .set_commit(after, files);
        let commits = [PushedCommit {
            id: after.to_string(),
            modified: changed.iter().map(|c| c.to_string()).collect(),
        }];
        let repo_id = s.sim.repo_id(repo);
        if let Ok(body) =
            payloads::gitea_push(repo, "refs/heads/main", before, after, &commits, None)
        {
            s.sim.hooks.enqueue("push", None, body, None, Some(repo_id));
        }
        let mut run_id = None;
        let mut out = Vec::new();
        for (i, labels) in jobs.iter().enumerate() {
            let spec = JobSpec {
                run_id,
                head_sha: Some(after.to_string()),
                ..JobSpec::new(repo, &format!("job{}", i + 1), labels)
            };
            let job = sim::queue(&mut *s, spec);
            run_id = Some(job.run_id);
            out.push(job);
        }
        out
    }

    /// Every job, oldest first.
    pub fn jobs(&self) -> Vec<FakeJob> {
        lock(&self.state).sim.jobs()
    }

    /// One job.
    pub fn job(&self, id: u64) -> Option<FakeJob> {
        lock(&self.state).sim.job(id).cloned()
    }

    /// How long a job "runs" (the `duration_ms` runners are told); default 200 ms.
    pub fn set_job_duration(&self, d: Duration) {
        lock(&self.state).sim.job_duration = d;
    }

    /// Which matching job a polling runner takes.
    pub fn set_assignment(&self, a: Assignment) {
        lock(&self.state).sim.set_assignment(a);
    }

    /// Cancels a queued or running job. False when unknown or already completed.
    pub fn cancel_job(&self, id: u64) -> bool {
        let mut s = lock(&self.state);
        sim::cancel(&mut *s, id)
    }

    /// Marks a runner offline (it gets no jobs and lists as `offline`). False when unknown.
    pub fn set_runner_offline(&self, id: u64) -> bool {
        let mut s = lock(&self.state);
        match s.sim.runners.get_mut(&id) {
            Some(r) => {
                r.online = false;
                true
            }
            None => false,
        }
    }
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let call = record(method.as_str(), &uri, &headers, &body);
    if sim::is_sim_path(uri.path()) {
        lock(&state).calls.push(call);
        return sim::runner_api::route(&state, &method, uri.path(), uri.query(), &body).await;
    }
    let mut s = lock(&state);
    s.calls.push(call);
    if let Some(f) = common::take_failure(&mut s.script, uri.path()) {
        return f.response();
    }
    // Gitea accepts `Authorization: token X` (and `Bearer X`), api.go `AuthorizationHeaderToken`.
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let given = auth
        .strip_prefix("token ")
        .or_else(|| auth.strip_prefix("Bearer "))
        .unwrap_or_default();
    if given != s.token {
        return message(401, "token is required");
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let path = uri
        .path()
        .strip_prefix("/api/v1")
        .unwrap_or_default()
        .to_string();
    let segs: Vec<String> = path
        .trim_matches('/')
        .split('/')
        .map(common::percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let query = uri.query();
    let (scope, rest) = match segs.as_slice() {
        ["repos", o, r, "contents", file @ ..] if method == Method::GET => {
            let sha = query_param(query, "ref").unwrap_or_default();
            return match s
                .repos
                .get(&format!("{o}/{r}"))
                .and_then(|repo| repo.contents(&sha, &file.join("/")))
            {
                Some(v) => reply(200, v),
                None => message(404, "GetContentsOrList"),
            };
        }
        ["repos", o, r, "compare", basehead] if method == Method::GET => {
            return compare(&s, &format!("{o}/{r}"), basehead);
        }
        ["repos", o, r, rest @ ..] => (format!("repo:{o}/{r}"), rest),
        ["orgs", org, rest @ ..] => (format!("org:{org}"), rest),
        ["admin", rest @ ..] => ("instance".to_string(), rest),
        _ => return message(404, "Not Found"),
    };
    if method == Method::GET {
        if let (Some(repo), []) = (scope.strip_prefix("repo:"), rest) {
            return repository(&mut s, repo);
        }
        if let Some(r) = actions::route(&mut s, &scope, rest, query) {
            return r;
        }
    }
    runners::route(&mut s, &method, &scope, rest, query, &body)
}

/// `GET /repos/{owner}/{repo}` (`routers/api/v1/repo/repo.go` `Get`): the repository, when the
/// fake knows it (files recorded, or a workflow run in it).
fn repository(s: &mut GtState, repo: &str) -> Response {
    let known = s.repos.contains_key(repo) || s.sim.runs().any(|r| r.repo == repo);
    if !known {
        return message(404, "The target couldn't be found.");
    }
    let id = s.sim.repo_id(repo);
    let base = s.sim.base_url.clone();
    reply(200, payloads::gitea_repository(repo, id, &base))
}

/// Gitea's `Compare`: files listed per commit (one synthetic commit here).
fn compare(s: &GtState, repo: &str, basehead: &str) -> Response {
    let Some((base, head)) = basehead.split_once("...") else {
        return message(404, "Not Found");
    };
    match s.repos.get(repo).and_then(|r| r.diff(base, head)) {
        Some(files) => {
            let files: Vec<Value> = files
                .iter()
                .map(|(f, st)| json!({ "filename": f, "status": st }))
                .collect();
            reply(
                200,
                json!({ "total_commits": 1, "commits": [{ "sha": head, "files": files }] }),
            )
        }
        None => message(404, "Not Found"),
    }
}
