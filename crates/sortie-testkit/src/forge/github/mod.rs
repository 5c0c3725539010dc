//! A fake GitHub REST API: App JWT verification, installation tokens (optionally narrowed),
//! contents, compare, self-hosted runners with JIT configs, scripted rate limits; every call is
//! recorded. Shapes follow GitHub's REST reference (version 2022-11-28).
//!
//! It is also a small GitHub Actions simulation (see [`super::sim`]): jobs queued with
//! [`FakeGithub::queue_job`] send signed `workflow_job` webhooks to [`FakeGithub::set_webhook`]'s
//! URL, runners started from its JIT configs connect to `/_fake/runner/…` and take any matching
//! job, `GET …/actions/runs` and `…/jobs` list the state, and the App's webhook deliveries can be
//! listed and redelivered (`/app/hook/deliveries`).
//!
//! Rate limits as GitHub documents them ("Rate limits for the REST API"): every authenticated
//! answer carries `x-ratelimit-*`; the primary budget (5,000 an hour) is counted per
//! installation (its tokens share it), per App JWT and per personal access token; a spent budget
//! answers `403` with `x-ratelimit-remaining: 0` and the reset; `GET /rate_limit` does not count.
//! [`FakeGithub::set_rate_remaining`] and [`FakeGithub::set_rate_reset`] set the numbers;
//! [`ScriptedFailure::secondary_rate_limit`] answers a secondary limit once. Several Apps may be
//! registered, each with installations of its own ([`FakeGithub::install_app`]).

mod actions;
mod auth;
mod hooks;
mod runners;

use super::common::{
    self, lock, message, query_param, record, reply, ApiCall, RepoFiles, ScriptedFailure,
    ServerTask,
};
use super::sim::{self, Assignment, Chooser, Delivery, FakeJob, HookKind, JobSpec, Sim};
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
    /// Registered Apps `(app id, public key PEM)`; the first is the one [`FakeGithub::add_repo`]
    /// and [`FakeGithub::add_org`] install.
    apps: Vec<(String, String)>,
    /// Installations of the other Apps: `(app id, "repo:o/r" | "org:o")` → installation id.
    app_installations: HashMap<(String, String), u64>,
    pats: HashSet<String>,
    repos: HashMap<String, RepoFiles>,
    repo_installations: HashMap<String, u64>,
    org_installations: HashMap<String, u64>,
    tokens: HashMap<String, IssuedToken>,
    /// Installation tokens revoked before their expiry (answered 401).
    revoked: std::collections::HashSet<String>,
    /// Primary rate limit spent per budget: `installation:42`, `app:12345`, or a PAT.
    rate_used: HashMap<String, u64>,
    /// `x-ratelimit-reset` sent (default: an hour from real now).
    rate_reset: Option<OffsetDateTime>,
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
            apps: Vec::new(),
            app_installations: HashMap::new(),
            pats: HashSet::new(),
            repos: HashMap::new(),
            repo_installations: HashMap::new(),
            org_installations: HashMap::new(),
            tokens: HashMap::new(),
            revoked: Default::default(),
            rate_used: HashMap::new(),
            rate_reset: None,
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

    /// Registers a GitHub App whose JWTs are accepted (again: replaces its key). The first one
    /// registered is the App [`add_repo`](Self::add_repo) and [`add_org`](Self::add_org)
    /// install; other Apps are installed with [`install_app`](Self::install_app).
    pub fn register_app(&self, app_id: &str, public_key_pem: &str) {
        let mut s = lock(&self.state);
        let entry = (app_id.to_string(), public_key_pem.to_string());
        match s.apps.iter_mut().find(|(id, _)| id == app_id) {
            Some(app) => *app = entry,
            None => s.apps.push(entry),
        }
    }

    /// Installs App `app_id` (registered, not the first) on `target` — an organisation login,
    /// or `owner/name` for one repository — as `installation`.
    pub fn install_app(&self, app_id: &str, target: &str, installation: u64) {
        let key = if target.contains('/') {
            format!("repo:{target}")
        } else {
            format!("org:{target}")
        };
        lock(&self.state)
            .app_installations
            .insert((app_id.to_string(), key), installation);
    }

    /// Sets how many calls `installation`'s budget has left in this window (of 5,000). At 0
    /// every call with its tokens is refused with GitHub's primary-limit `403`.
    pub fn set_rate_remaining(&self, installation: u64, remaining: u64) {
        let used = RATE_LIMIT.saturating_sub(remaining);
        lock(&self.state)
            .rate_used
            .insert(format!("installation:{installation}"), used);
    }

    /// Sets the `x-ratelimit-reset` sent from now on (default: an hour from real now), for tests
    /// on a clock of their own.
    pub fn set_rate_reset(&self, at: OffsetDateTime) {
        lock(&self.state).rate_reset = Some(at);
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

    /// Loses each webhook from now on with probability `percent` / 100 (recorded as failed,
    /// ready to be redelivered), reproducibly from `seed`; 0 turns it off.
    pub fn lose_share_of_webhooks(&self, percent: u64, seed: u64) {
        lock(&self.state).sim.hooks.lose_share(percent, seed);
    }

    /// Sends up to `n` webhooks at once, as GitHub does (no order guaranteed); 1, the default,
    /// sends them one by one in the order they were made.
    pub fn set_delivery_concurrency(&self, n: usize) {
        lock(&self.state).sim.hooks.concurrency = n.max(1);
    }

    /// Lets the test choose which queued job each idle runner takes (see [`Chooser`]); `None`
    /// goes back to the [`Assignment`] order.
    pub fn set_chooser(&self, chooser: Option<Chooser>) {
        lock(&self.state).sim.chooser = chooser;
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
    if auth.is_empty() {
        return route(&mut s, &req);
    }
    let key = budget_key(&s, &auth);
    // "Rate limits for the REST API": `GET /rate_limit` does not count against the primary limit
    // and answers while it is spent.
    let free = req.segs == ["rate_limit"];
    let spent = s.rate_used.get(&key).copied().unwrap_or(0) >= RATE_LIMIT;
    let mut resp = if spent && !free {
        // GitHub's primary-limit refusal ("Exceeding the rate limit").
        let whose = match key.split_once(':') {
            Some(("installation", id)) => format!("installation ID {id}"),
            Some(("app", id)) => format!("app ID {id}"),
            _ => "user ID 1".to_string(),
        };
        message(403, &format!("API rate limit exceeded for {whose}."))
    } else if free {
        rate_limit_reply(&s, &key)
    } else {
        route(&mut s, &req)
    };
    rate_limit_headers(&mut s, &key, free || spent, &mut resp);
    resp
}

/// GitHub's primary limit per hour in the fake (a PAT's, an installation's at its minimum).
const RATE_LIMIT: u64 = 5000;

/// Whose budget a call spends: an installation's tokens share one (`installation:42`), an App's
/// JWTs another (`app:12345`); any other credential counts for itself.
fn budget_key(s: &GhState, auth: &str) -> String {
    let token = auth
        .strip_prefix("Bearer ")
        .or_else(|| auth.strip_prefix("token "))
        .unwrap_or(auth);
    if let Some(t) = s.tokens.get(token) {
        return format!("installation:{}", t.installation);
    }
    if let Some(app) = auth::jwt_app(s, auth) {
        return format!("app:{app}");
    }
    auth.to_string()
}

fn rate_reset(s: &GhState) -> i64 {
    s.rate_reset
        .unwrap_or_else(|| OffsetDateTime::now_utc() + Duration::from_secs(3600))
        .unix_timestamp()
}

/// `GET /rate_limit` ("Rate limit" → "Get rate limit status for the authenticated user"):
/// `resources.core` (and the deprecated `rate`, the same numbers).
fn rate_limit_reply(s: &GhState, key: &str) -> Response {
    let used = s.rate_used.get(key).copied().unwrap_or(0).min(RATE_LIMIT);
    let core = json!({
        "limit": RATE_LIMIT,
        "remaining": RATE_LIMIT - used,
        "reset": rate_reset(s),
        "used": used,
        "resource": "core",
    });
    reply(
        200,
        json!({ "resources": { "core": core.clone() }, "rate": core }),
    )
}

/// GitHub's primary rate-limit headers on every authenticated answer ("Rate limits for the REST
/// API": `x-ratelimit-limit`, `-remaining`, `-used`, `-reset` in epoch seconds, `-resource`); a
/// `304` to a conditional request costs nothing ("Best practices for using the REST API"), nor
/// does a `free` call or one refused for the spent budget.
fn rate_limit_headers(s: &mut GhState, key: &str, free: bool, resp: &mut Response) {
    const LIMIT: u64 = RATE_LIMIT;
    let reset = rate_reset(s);
    let used = s.rate_used.entry(key.to_string()).or_insert(0);
    if resp.status().as_u16() != 304 && !free {
        *used += 1;
    }
    let used = (*used).min(LIMIT);
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
            with_jwt(s, auth, |s, app| issue_token(s, app, id, body))
        }
        ("GET", ["app", "installations"]) => with_jwt(s, auth, |s, app| {
            let all: Vec<Value> = auth::installations_of(s, app)
                .into_iter()
                .map(|(key, id)| {
                    let (kind, login) = match key.split_once(':') {
                        Some(("org", o)) => ("Organization", o.to_string()),
                        Some((_, r)) => ("User", r.split('/').next().unwrap_or_default().into()),
                        None => ("User", key.clone()),
                    };
                    json!({ "id": id, "app_id": app, "target_type": kind,
                            "account": { "login": login, "type": kind } })
                })
                .collect();
            reply(200, Value::Array(all))
        }),
        (_, ["app", "hook", "deliveries", rest @ ..]) => {
            with_jwt(s, auth, |s, _| hooks::route(s, req.method, rest, req.query))
        }
        ("GET", ["repos", o, r, "installation"]) => with_jwt(s, auth, |s, app| {
            installation_reply(auth::installation_of(s, app, &format!("repo:{o}/{r}")))
        }),
        ("GET", ["orgs", org, "installation"]) => with_jwt(s, auth, |s, app| {
            installation_reply(auth::installation_of(s, app, &format!("org:{org}")))
        }),
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
