//! A fake GitHub REST API: App JWT verification, installation tokens (optionally narrowed),
//! contents, compare, self-hosted runners with JIT configs, scripted rate limits; every call is
//! recorded. Shapes follow GitHub's REST reference (version 2022-11-28).

mod auth;

use super::common::{
    self, lock, message, query_param, record, reply, ApiCall, RepoFiles, ScriptedFailure,
    ServerTask,
};
use auth::{authorize, issue_token, with_jwt};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use time::OffsetDateTime;

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

#[derive(Default)]
struct GhState {
    app: Option<(String, String)>,
    pats: HashSet<String>,
    repos: HashMap<String, RepoFiles>,
    repo_installations: HashMap<String, u64>,
    org_installations: HashMap<String, u64>,
    tokens: HashMap<String, IssuedToken>,
    token_expiry: Option<OffsetDateTime>,
    runners: BTreeMap<u64, FakeRunner>,
    next_runner_id: u64,
    jit: Vec<JitRequest>,
    script: Vec<ScriptedFailure>,
    calls: Vec<ApiCall>,
}

type Shared = Arc<Mutex<GhState>>;

/// The fake GitHub, serving on 127.0.0.1 until dropped.
pub struct FakeGithub {
    state: Shared,
    addr: std::net::SocketAddr,
    _task: ServerTask,
}

impl FakeGithub {
    /// Starts an empty fake.
    pub async fn start() -> std::io::Result<FakeGithub> {
        let state: Shared = Arc::new(Mutex::new(GhState {
            next_runner_id: 1,
            ..GhState::default()
        }));
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (addr, task) = common::serve(router).await?;
        Ok(FakeGithub {
            state,
            addr,
            _task: task,
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

    /// Queues a failure answered instead of the next matching call.
    pub fn script(&self, failure: ScriptedFailure) {
        lock(&self.state).script.push(failure);
    }

    /// Registers a runner (as if a machine had registered earlier).
    pub fn add_runner(&self, scope: &str, name: &str, online: bool, busy: bool) -> u64 {
        let mut s = lock(&self.state);
        let id = s.next_runner_id;
        s.next_runner_id += 1;
        let r = FakeRunner {
            id,
            scope: scope.into(),
            name: name.into(),
            online,
            busy,
            labels: vec!["self-hosted".into()],
        };
        s.runners.insert(id, r);
        id
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
        lock(&self.state).runners.values().cloned().collect()
    }

    /// JIT requests served.
    pub fn jit_requests(&self) -> Vec<JitRequest> {
        lock(&self.state).jit.clone()
    }
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut s = lock(&state);
    s.calls.push(record(method.as_str(), &uri, &headers, &body));
    if let Some(f) = common::take_failure(&mut s.script, uri.path()) {
        return f.response();
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let segs: Vec<String> = uri
        .path()
        .trim_matches('/')
        .split('/')
        .map(common::percent_decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    route(&mut s, &method, &segs, uri.query(), &auth, &body)
}

fn route(
    s: &mut GhState,
    method: &Method,
    segs: &[&str],
    query: Option<&str>,
    auth: &str,
    body: &Value,
) -> Response {
    match (method.as_str(), segs) {
        ("POST", ["app", "installations", id, "access_tokens"]) => {
            with_jwt(s, auth, |s| issue_token(s, id, body))
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
            repo_route(s, method, &repo, rest, query, body)
        }
        (_, ["orgs", org, rest @ ..]) => {
            if let Some(resp) = authorize(s, auth, None, Some(org), rest) {
                return resp;
            }
            runners_route(s, method, &format!("org:{org}"), rest, query, body)
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

fn repo_route(
    s: &mut GhState,
    method: &Method,
    repo: &str,
    rest: &[&str],
    query: Option<&str>,
    body: &Value,
) -> Response {
    match (method.as_str(), rest) {
        ("GET", ["contents", path @ ..]) => {
            let sha = query_param(query, "ref").unwrap_or_default();
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
        _ => runners_route(s, method, &format!("repo:{repo}"), rest, query, body),
    }
}

fn runners_route(
    s: &mut GhState,
    method: &Method,
    scope: &str,
    rest: &[&str],
    query: Option<&str>,
    body: &Value,
) -> Response {
    match (method.as_str(), rest) {
        ("POST", ["actions", "runners", "generate-jitconfig"]) => generate_jit(s, scope, body),
        ("GET", ["actions", "runners"]) => {
            let per_page = query_param(query, "per_page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(30usize)
                .clamp(1, 100);
            let page = query_param(query, "page")
                .and_then(|v| v.parse().ok())
                .unwrap_or(1usize)
                .max(1);
            let all: Vec<&FakeRunner> = s.runners.values().filter(|r| r.scope == scope).collect();
            let items: Vec<Value> = all
                .iter()
                .skip((page - 1) * per_page)
                .take(per_page)
                .map(|r| runner_json(r))
                .collect();
            reply(200, json!({ "total_count": all.len(), "runners": items }))
        }
        ("DELETE", ["actions", "runners", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match s.runners.get(&id) {
                Some(r) if r.scope == scope => {
                    s.runners.remove(&id);
                    reply(204, Value::Null)
                }
                _ => message(404, "Not Found"),
            }
        }
        _ => message(404, "Not Found"),
    }
}

fn runner_json(r: &FakeRunner) -> Value {
    let labels: Vec<Value> = r
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| json!({ "id": i + 1, "name": l, "type": "custom" }))
        .collect();
    json!({ "id": r.id, "name": r.name, "os": "Linux", "status": if r.online { "online" } else { "offline" }, "busy": r.busy, "labels": labels })
}

fn generate_jit(s: &mut GhState, scope: &str, body: &Value) -> Response {
    let name = body
        .get("name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let labels: Vec<String> = body
        .get("labels")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let Some(group) = body.get("runner_group_id").and_then(Value::as_u64) else {
        return message(422, "Invalid request. \"runner_group_id\" wasn't supplied.");
    };
    if name.is_empty() || labels.is_empty() || labels.len() > 100 {
        return message(422, "Invalid request: name and 1-100 labels are required.");
    }
    if s.runners
        .values()
        .any(|r| r.scope == scope && r.name == name)
    {
        return message(
            409,
            "Already exists - A runner with the name already exists.",
        );
    }
    let work_folder = body
        .get("work_folder")
        .and_then(Value::as_str)
        .unwrap_or("_work")
        .to_string();
    let id = s.next_runner_id;
    s.next_runner_id += 1;
    let runner = FakeRunner {
        id,
        scope: scope.into(),
        name: name.clone(),
        online: false,
        busy: false,
        labels: labels.clone(),
    };
    let json_runner = runner_json(&runner);
    s.runners.insert(id, runner);
    s.jit.push(JitRequest {
        scope: scope.into(),
        name,
        runner_group_id: group,
        labels,
        work_folder,
    });
    reply(
        201,
        json!({ "runner": json_runner, "encoded_jit_config": format!("fake-jit-config-{id}") }),
    )
}
