//! A fake Gitea/Forgejo API (`/api/v1`): contents, compare, runner registration tokens,
//! Forgejo's ephemeral runner registration, runner list/delete, scripted failures; every call is
//! recorded. Routes follow go-gitea/gitea `routers/api/v1/api.go`; response shapes follow
//! `modules/structs` (`ActionRunnersResponse`, `RegistrationToken`, `Compare`) and Forgejo's
//! `RegisterRunnerResponse`.

use super::common::{
    self, lock, message, query_param, record, reply, ApiCall, RepoFiles, ScriptedFailure,
    ServerTask,
};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, Uri};
use axum::response::Response;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// Which server the fake imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiteaKind {
    /// Gitea ≥ 1.24: `POST …/registration-token`, runner list `{runners, total_count}`.
    Gitea,
    /// Gitea 1.21–1.23: `GET …/registration-token` only.
    GiteaLegacy,
    /// Forgejo ≥ 15: ephemeral registration `POST …/actions/runners`, runner list as a bare array
    /// with `X-Total-Count`, `GET …/registration-token`.
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
    /// Registered through the ephemeral API.
    pub ephemeral: bool,
    /// UUID (ephemeral registrations).
    pub uuid: String,
}

struct GtState {
    kind: GiteaKind,
    token: String,
    repos: HashMap<String, RepoFiles>,
    runners: BTreeMap<u64, GiteaRunner>,
    next_id: u64,
    registration_tokens: Vec<(String, String)>,
    script: Vec<ScriptedFailure>,
    calls: Vec<ApiCall>,
}

type Shared = Arc<Mutex<GtState>>;

/// The fake Gitea/Forgejo, serving on 127.0.0.1 until dropped.
pub struct FakeGitea {
    state: Shared,
    addr: std::net::SocketAddr,
    _task: ServerTask,
}

impl FakeGitea {
    /// Starts a fake of `kind` that accepts the API token `token`.
    pub async fn start(kind: GiteaKind, token: &str) -> std::io::Result<FakeGitea> {
        let state: Shared = Arc::new(Mutex::new(GtState {
            kind,
            token: token.to_string(),
            repos: HashMap::new(),
            runners: BTreeMap::new(),
            next_id: 1,
            registration_tokens: Vec::new(),
            script: Vec::new(),
            calls: Vec::new(),
        }));
        let router = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let (addr, task) = common::serve(router).await?;
        Ok(FakeGitea {
            state,
            addr,
            _task: task,
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

    /// Registers a runner (as an earlier machine would have).
    pub fn add_runner(&self, scope: &str, name: &str, online: bool, busy: bool) -> u64 {
        let mut s = lock(&self.state);
        let id = s.next_id;
        s.next_id += 1;
        s.runners.insert(
            id,
            GiteaRunner {
                id,
                scope: scope.into(),
                name: name.into(),
                online,
                busy,
                ephemeral: false,
                uuid: String::new(),
            },
        );
        id
    }

    /// Runners registered now.
    pub fn runners(&self) -> Vec<GiteaRunner> {
        lock(&self.state).runners.values().cloned().collect()
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
    match segs.as_slice() {
        ["repos", o, r, "contents", file @ ..] if method == Method::GET => {
            let sha = query_param(uri.query(), "ref").unwrap_or_default();
            match s
                .repos
                .get(&format!("{o}/{r}"))
                .and_then(|repo| repo.contents(&sha, &file.join("/")))
            {
                Some(v) => reply(200, v),
                None => message(404, "GetContentsOrList"),
            }
        }
        ["repos", o, r, "compare", basehead] if method == Method::GET => {
            compare(&s, &format!("{o}/{r}"), basehead)
        }
        ["repos", o, r, rest @ ..] => runners(
            &mut s,
            &method,
            &format!("repo:{o}/{r}"),
            rest,
            uri.query(),
            &body,
        ),
        ["orgs", org, rest @ ..] => runners(
            &mut s,
            &method,
            &format!("org:{org}"),
            rest,
            uri.query(),
            &body,
        ),
        ["admin", rest @ ..] => runners(&mut s, &method, "instance", rest, uri.query(), &body),
        _ => message(404, "Not Found"),
    }
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

fn runners(
    s: &mut GtState,
    method: &Method,
    scope: &str,
    rest: &[&str],
    query: Option<&str>,
    body: &Value,
) -> Response {
    let kind = s.kind;
    match (method.as_str(), rest) {
        ("POST", ["actions", "runners", "registration-token"]) if kind == GiteaKind::Gitea => {
            registration_token(s, scope)
        }
        ("GET", ["actions", "runners", "registration-token"]) if kind != GiteaKind::Gitea => {
            registration_token(s, scope)
        }
        (_, ["actions", "runners", "registration-token"]) => message(405, "Method Not Allowed"),
        ("POST", ["actions", "runners"]) if kind == GiteaKind::Forgejo => register(s, scope, body),
        ("POST", ["actions", "runners"]) => message(405, "Method Not Allowed"),
        ("GET", ["actions", "runners"]) => list(s, scope, query),
        ("DELETE", ["actions", "runners", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match s.runners.get(&id) {
                Some(r) if r.scope == scope => {
                    s.runners.remove(&id);
                    reply(204, Value::Null)
                }
                _ => message(404, "runner not found"),
            }
        }
        _ => message(404, "Not Found"),
    }
}

fn registration_token(s: &mut GtState, scope: &str) -> Response {
    let token = format!("regtoken{:04}", s.registration_tokens.len() + 1);
    s.registration_tokens
        .push((scope.to_string(), token.clone()));
    reply(200, json!({ "token": token }))
}

fn register(s: &mut GtState, scope: &str, body: &Value) -> Response {
    let Some(name) = body
        .get("name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
    else {
        return message(422, "name is required");
    };
    let id = s.next_id;
    s.next_id += 1;
    let uuid = format!("00000000-0000-4000-8000-{id:012}");
    let ephemeral = body
        .get("ephemeral")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    s.runners.insert(
        id,
        GiteaRunner {
            id,
            scope: scope.into(),
            name: name.into(),
            online: false,
            busy: false,
            ephemeral,
            uuid: uuid.clone(),
        },
    );
    reply(
        201,
        json!({ "id": id, "uuid": uuid, "token": format!("runnertoken{id}") }),
    )
}

fn list(s: &GtState, scope: &str, query: Option<&str>) -> Response {
    let limit = query_param(query, "limit")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30usize)
        .clamp(1, 50);
    let page = query_param(query, "page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    let all: Vec<&GiteaRunner> = s.runners.values().filter(|r| r.scope == scope).collect();
    let items: Vec<Value> = all
        .iter()
        .skip((page - 1) * limit)
        .take(limit)
        .map(|r| {
            let status = if !r.online { "offline" } else if r.busy { "active" } else { "idle" };
            json!({ "id": r.id, "name": r.name, "status": status, "busy": r.busy, "ephemeral": r.ephemeral,
                    "labels": [{ "id": 1, "name": "ubuntu-latest", "type": "custom" }] })
        })
        .collect();
    match s.kind {
        GiteaKind::Forgejo | GiteaKind::ForgejoLegacy => {
            let mut r = reply(200, Value::Array(items));
            r.headers_mut()
                .insert("x-total-count", HeaderValue::from(all.len()));
            r
        }
        _ => reply(200, json!({ "runners": items, "total_count": all.len() })),
    }
}
