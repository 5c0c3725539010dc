//! A fake GitHub REST API: App JWT verification, installation tokens (optionally narrowed),
//! contents, compare, self-hosted runners with JIT configs, scripted rate limits; every call is
//! recorded. Shapes follow GitHub's REST reference (version 2022-11-28).
//!
//! It is also a small GitHub Actions simulation (see [`super::sim`]): jobs queued with
//! [`FakeGithub::queue_job`] send signed `workflow_job` webhooks to [`FakeGithub::set_webhook`]'s
//! URL, runners started from its JIT configs connect to `/_fake/runner/…` and take any matching
//! job, `GET …/actions/runs` and `…/jobs` list the state, and the App's webhook deliveries can be
//! listed and redelivered (`/app/hook/deliveries`).

mod actions;
mod auth;
mod hooks;
mod runners;

use super::common::{
    self, lock, message, query_param, record, reply, ApiCall, RepoFiles, ScriptedFailure,
    ServerTask,
};
use super::sim::{self, Assignment, Delivery, FakeJob, HookKind, JobSpec, Sim};
use auth::{authorize, issue_token, with_jwt};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use time::OffsetDateTime;

pub use runners::{decode_jit_config, FakeJitConfig};

/// A token the fake issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The token.
    pub token: String,
    /// Installation it belongs to.
    pub installation: u64,
    /// `repositories` it was narrowed to, if any.
    pub repositories: Option<Vec<String>>,
    /// `permissions` requested, if any.
    pub permissions: Option<Value>,
    /// `expires_at` as sent.
    pub expires_at: String,
}

/// A registered self-hosted runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeRunner {
    /// Runner id.
    pub id: u64,
    /// `repo:owner/name` or `org:login`.
    pub scope: String,
    /// Name.
    pub name: String,
    /// `status: online`.
    pub online: bool,
    /// `busy`.
    pub busy: bool,
    /// Label names.
    pub labels: Vec<String>,
    /// Registered from a JIT config (removed after its one job).
    pub ephemeral: bool,
}

/// A `generate-jitconfig` request the fake served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JitRequest {
    /// Scope key.
    pub scope: String,
    /// Runner name.
    pub name: String,
    /// `runner_group_id`.
    pub runner_group_id: u64,
    /// `labels`.
    pub labels: Vec<String>,
    /// `work_folder`.
    pub work_folder: String,
}

struct GhState {
    app: Option<(String, String)>,
    pats: HashSet<String>,
    repos: HashMap<String, RepoFiles>,
    repo_installations: HashMap<String, u64>,
    org_installations: HashMap<String, u64>,
    tokens: HashMap<String, IssuedToken>,
    /// Installation tokens revoked before their expiry (answered 401).
    revoked: std::collections::HashSet<String>,
    /// Primary rate limit spent per `Authorization` (GitHub: 5,000 an hour per token).
    rate_used: HashMap<String, u64>,
    token_expiry: Option<OffsetDateTime>,
    jit: Vec<JitRequest>,
    /// Encoded JIT configs handed out: the runner id, and whether a runner connected with it.
    jit_configs: HashMap<String, (u64, bool)>,
    lose_next_jit_response: bool,
    script: Vec<ScriptedFailure>,
    calls: Vec<ApiCall>,
    sim: Sim,
}

type Shared = Arc<Mutex<GhState>>;

/// What the router needs of one request.
struct Req<'a> {
    method: &'a Method,
    segs: &'a [&'a str],
    query: Option<&'a str>,
    auth: &'a str,
    body: &'a Value,
    if_none_match: Option<&'a str>,
}

/// The fake GitHub, serving on 127.0.0.1 until dropped.
pub struct FakeGithub {
    state: Shared,
    addr: std::net::SocketAddr,
    _task: ServerTask,
    _deliveries: ServerTask,
}

impl FakeGithub {
    /// Starts an empty fake.
    pub async fn start() -> std::io::Result<FakeGithub> {
        let state: Shared = Arc::new(Mutex::new(GhState {
            app: None,
            pats: HashSet::new(),
            repos: HashMap::new(),
            repo_installations: HashMap::new(),
            org_installations: HashMap::new(),
            tokens: HashMap::new(),
            revoked: Default::default(),
            rate_used: HashMap::new(),
            token_expiry: None,
            jit: Vec::new(),
            jit_configs: HashMap::new(),
            lose_next_jit_response: false,
            script: Vec::new(),
            calls: Vec::new(),
            sim: Sim::new(HookKind::Github, true, true),
        }));
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (addr, task) = common::serve(router).await?;
        lock(&state).sim.base_url = format!("http://{addr}");
        let deliveries = sim::spawn_worker(state.clone());
        Ok(FakeGithub {
            state,
            addr,
            _task: task,
            _deliveries: deliveries,
        })
    }

    /// The API base URL (use as `api_url`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Registers the GitHub App whose JWTs are accepted.
    pub fn register_app(&self, app_id: &str, public_key_pem: &str) {
        lock(&self.state).app = Some((app_id.to_string(), public_key_pem.to_string()));
    }

    /// Accepts a personal access token.
    pub fn add_pat(&self, token: &str) {
        lock(&self.state).pats.insert(token.to_string());
    }

    /// Adds a repository (`owner/name`) on which the App is installed as `installation`.
    pub fn add_repo(&self, full_name: &str, installation: u64) {
        let mut s = lock(&self.state);
        s.repos.entry(full_name.to_string()).or_default();
        s.repo_installations
            .insert(full_name.to_string(), installation);
    }

    /// Installs the App on an organisation.
    pub fn add_org(&self, org: &str, installation: u64) {
        lock(&self.state)
            .org_installations
            .insert(org.to_string(), installation);
    }

    /// Records the complete file tree of `repo` at `sha`.
    pub fn set_commit(&self, repo: &str, sha: &str, files: &[(&str, &str)]) {
        lock(&self.state)
            .repos
            .entry(repo.to_string())
            .or_default()
            .set_commit(sha, files);
    }

    /// Sets the `expires_at` of tokens issued from now on (default: one hour from real now).
    pub fn set_token_expiry(&self, at: OffsetDateTime) {
        lock(&self.state).token_expiry = Some(at);
    }

    /// Revokes every installation token issued so far (`DELETE /installation/token`, or an App
    /// reinstalled): using one afterwards is answered `401 Bad credentials`.
    pub fn revoke_tokens(&self) {
        let mut s = lock(&self.state);
        let all: Vec<String> = s.tokens.keys().cloned().collect();
        s.revoked.extend(all);
    }

    /// Queues a failure answered instead of the next matching call.
    pub fn script(&self, failure: ScriptedFailure) {
        lock(&self.state).script.push(failure);
    }

    /// Registers a runner (as if a machine had registered earlier) with the label `self-hosted`.
    pub fn add_runner(&self, scope: &str, name: &str, online: bool, busy: bool) -> u64 {
        lock(&self.state).sim.add_runner(sim::RunnerRecord {
            scope: scope.into(),
            name: name.into(),
            online,
            busy,
            labels: vec!["self-hosted".into()],
            ..Default::default()
        })
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

    /// Tokens issued, in order.
    pub fn tokens(&self) -> Vec<IssuedToken> {
        let s = lock(&self.state);
        let mut t: Vec<IssuedToken> = s.tokens.values().cloned().collect();
        t.sort_by(|a, b| a.token.cmp(&b.token));
        t
    }

    /// Runners registered now.
    pub fn runners(&self) -> Vec<FakeRunner> {
        lock(&self.state)
            .sim
            .runners
            .values()
            .map(|r| FakeRunner {
                id: r.id,
                scope: r.scope.clone(),
                name: r.name.clone(),
                online: r.online,
                busy: r.busy,
                labels: r.labels.clone(),
                ephemeral: r.ephemeral,
            })
            .collect()
    }

    /// JIT requests served.
    pub fn jit_requests(&self) -> Vec<JitRequest> {
        lock(&self.state).jit.clone()
    }

    /// Sends webhooks to `url` from now on, signed with `secret` (`X-Hub-Signature-256`).
    /// Without a target, no webhook is sent or recorded.
    pub fn set_webhook(&self, url: &str, secret: &str) {
        lock(&self.state).sim.hooks.set_target(url, secret);
    }

    /// Every webhook delivery, oldest first (redeliveries included).
    pub fn deliveries(&self) -> Vec<Delivery> {
        lock(&self.state).sim.hooks.deliveries().to_vec()
    }

    /// Waits until every webhook made so far has been sent (or failed).
    pub async fn flush_webhooks(&self) {
        sim::flush(&self.state).await;
    }

    /// The next `n` webhooks are not delivered: recorded as failed (`status_code` 0, "failed to
    /// connect to host"), ready to be redelivered through `/app/hook/deliveries/{id}/attempts`.
    pub fn lose_next_webhooks(&self, n: usize) {
        lock(&self.state).sim.hooks.lose_next(n);
    }

    /// Queues one job (in a new run, attempt 1, named `build`) and sends `workflow_job`
    /// `queued`.
    pub fn queue_job(&self, repo: &str, labels: &[&str]) -> FakeJob {
        let mut s = lock(&self.state);
        sim::queue(&mut *s, JobSpec::new(repo, "build", labels))
    }

    /// Queues a job in run `run_id` (created when new; a higher `run_attempt` makes it the run's
    /// latest attempt) with `name`, and sends `workflow_job` `queued`.
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

    /// Which matching job an idle runner takes.
    pub fn set_assignment(&self, a: Assignment) {
        lock(&self.state).sim.set_assignment(a);
    }

    /// Cancels a queued or running job (`completed`/`cancelled` webhook). False when unknown or
    /// already completed.
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

    /// The next `generate-jitconfig` registers its runner but answers 502, as when GitHub's
    /// answer is lost on the way back; a retry with the same name then meets 409.
    pub fn fail_next_jit_with_lost_response(&self) {
        lock(&self.state).lose_next_jit_response = true;
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
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    let auth = header("authorization").unwrap_or_default();
    let if_none_match = header("if-none-match");
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let segs: Vec<String> = uri
        .path()
        .trim_matches('/')
        .split('/')
        .map(common::percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    let req = Req {
        method: &method,
        segs: &segs,
        query: uri.query(),
        auth: &auth,
        body: &body,
        if_none_match: if_none_match.as_deref(),
    };
    let mut resp = route(&mut s, &req);
    if !auth.is_empty() {
        rate_limit_headers(&mut s, &auth, &mut resp);
    }
    resp
}

/// GitHub's primary rate-limit headers on every authenticated answer ("Rate limits for the REST
/// API": `x-ratelimit-limit`, `-remaining`, `-used`, `-reset` in epoch seconds, `-resource`); a
/// `304` to a conditional request costs nothing ("Best practices for using the REST API").
fn rate_limit_headers(s: &mut GhState, auth: &str, resp: &mut Response) {
    const LIMIT: u64 = 5000;
    let used = s.rate_used.entry(auth.to_string()).or_insert(0);
    if resp.status().as_u16() != 304 {
        *used += 1;
    }
    let used = (*used).min(LIMIT);
    let reset = OffsetDateTime::now_utc().unix_timestamp() + 3600;
    let h = resp.headers_mut();
    for (name, value) in [
        ("x-ratelimit-limit", LIMIT.to_string()),
        ("x-ratelimit-remaining", (LIMIT - used).to_string()),
        ("x-ratelimit-used", used.to_string()),
        ("x-ratelimit-reset", reset.to_string()),
        ("x-ratelimit-resource", "core".to_string()),
    ] {
        if !h.contains_key(name) {
            if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
                h.insert(name, v);
            }
        }
    }
}

fn route(s: &mut GhState, req: &Req<'_>) -> Response {
    let (auth, body) = (req.auth, req.body);
    match (req.method.as_str(), req.segs) {
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            with_jwt(s, auth, |s| issue_token(s, id, body))
        }
        (_, ["app", "hook", "deliveries", rest @ ..]) => {
            with_jwt(s, auth, |s| hooks::route(s, req.method, rest, req.query))
        }
        ("GET", ["repos", o, r, "installation"]) => {
            let inst = s.repo_installations.get(&format!("{o}/{r}")).copied();
            with_jwt(s, auth, |_| installation_reply(inst))
        }
        ("GET", ["orgs", org, "installation"]) => {
            let inst = s.org_installations.get(*org).copied();
            with_jwt(s, auth, |_| installation_reply(inst))
        }
        (_, ["repos", o, r, rest @ ..]) => {
            let repo = format!("{o}/{r}");
            if let Some(resp) = authorize(s, auth, Some(&repo), None, rest) {
                return resp;
            }
            repo_route(s, req, &repo, rest)
        }
        (_, ["orgs", org, rest @ ..]) => {
            if let Some(resp) = authorize(s, auth, None, Some(org), rest) {
                return resp;
            }
            runners::route(s, req.method, &format!("org:{org}"), rest, req.query, body)
        }
        _ => message(404, "Not Found"),
    }
}

fn installation_reply(inst: Option<u64>) -> Response {
    match inst {
        Some(id) => reply(
            200,
            json!({ "id": id, "app_id": 1, "target_type": "Organization" }),
        ),
        None => message(404, "Not Found"),
    }
}

fn repo_route(s: &mut GhState, req: &Req<'_>, repo: &str, rest: &[&str]) -> Response {
    match (req.method.as_str(), rest) {
        ("GET", ["contents", path @ ..]) => {
            let sha = query_param(req.query, "ref").unwrap_or_default();
            match s
                .repos
                .get(repo)
                .and_then(|r| r.contents(&sha, &path.join("/")))
            {
                Some(v) => reply(200, v),
                None => message(404, "Not Found"),
            }
        }
        ("GET", ["compare", basehead]) => {
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
                        json!({ "status": "ahead", "total_commits": 1, "commits": [], "files": files }),
                    )
                }
                None => message(404, "Not Found"),
            }
        }
        ("GET", ["actions", "runs" | "jobs", ..]) => actions::route(s, req, repo, rest),
        _ => runners::route(
            s,
            req.method,
            &format!("repo:{repo}"),
            rest,
            req.query,
            req.body,
        ),
    }
}
