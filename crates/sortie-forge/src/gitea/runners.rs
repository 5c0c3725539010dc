//! Gitea/Forgejo runner endpoints: registration tokens, Forgejo's ephemeral registration,
//! listing, deletion. Paths: go-gitea/gitea `routers/api/v1/api.go`.

use crate::error::ForgeError;
use crate::http::{enc, Api, Auth, Call};
use crate::types::{Runner, RunnerCredential, RunnerRequest, RunnerScope, Secret};
use reqwest::Method;
use serde::Deserialize;

/// Page size asked for (Gitea's `MAX_RESPONSE_ITEMS` defaults to 50).
const LIMIT: usize = 50;
/// Guard against endless pagination.
const MAX_PAGES: usize = 100;

/// `/repos/{o}/{r}`, `/orgs/{org}` or `/admin`, followed by `/actions/runners`.
fn runners_path(scope: &RunnerScope) -> String {
    match scope {
        RunnerScope::Repo(r) => {
            format!("/repos/{}/{}/actions/runners", enc(&r.owner), enc(&r.name))
        }
        RunnerScope::Org { org, .. } => format!("/orgs/{}/actions/runners", enc(org)),
        RunnerScope::Instance => "/admin/actions/runners".into(),
    }
}

#[derive(Deserialize)]
struct TokenReply {
    token: String,
}

#[derive(Deserialize)]
struct Registered {
    id: u64,
    uuid: String,
    token: String,
}

/// Forgejo ≥ 15: registers an ephemeral runner. `Ok(None)` when the server lacks the route
/// (404/405), so the caller falls back to a registration token.
pub(crate) async fn register_ephemeral(
    api: &Api,
    auth: &Auth,
    instance_url: &str,
    req: &RunnerRequest,
) -> Result<Option<RunnerCredential>, ForgeError> {
    let body = serde_json::json!({
        "name": req.name,
        "description": "sortie: one job, then removed",
        "ephemeral": true,
    });
    let call = Call::new(Method::POST, runners_path(&req.scope))
        .body(body)
        .auth(auth);
    let reply = api.send(&call).await?;
    if matches!(reply.status, 404 | 405) {
        return Ok(None);
    }
    let r: Registered = api.decode(&call, reply)?;
    Ok(Some(RunnerCredential::EphemeralRunner {
        instance_url: instance_url.to_string(),
        runner_id: r.id,
        uuid: r.uuid,
        token: Secret::new(r.token),
        runner_name: req.name.clone(),
        labels: req.labels.clone(),
    }))
}

/// A registration token for `scope`: `POST …/registration-token` (Gitea ≥ 1.24), else `GET` on
/// the same path (Gitea 1.21–1.23, Forgejo), else, for the instance, Gitea 1.21's
/// `GET /admin/runners/registration-token`.
pub(crate) async fn registration_token(
    api: &Api,
    auth: &Auth,
    scope: &RunnerScope,
) -> Result<Secret, ForgeError> {
    let path = format!("{}/registration-token", runners_path(scope));
    let mut calls = vec![
        Call::new(Method::POST, path.clone()).auth(auth),
        Call::new(Method::GET, path).auth(auth),
    ];
    if *scope == RunnerScope::Instance {
        calls.push(Call::new(Method::GET, "/admin/runners/registration-token").auth(auth));
    }
    let mut last = None;
    for call in calls {
        let reply = api.send(&call).await?;
        if matches!(reply.status, 404 | 405) {
            last = Some(api.error(&call, &reply));
            continue;
        }
        let t: TokenReply = api.decode(&call, reply)?;
        return Ok(Secret::new(t.token));
    }
    Err(last.unwrap_or(ForgeError::Unsupported {
        forge: api.forge,
        what: "runner registration tokens".into(),
    }))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RunnerList {
    /// Gitea: `{ runners, total_count }` (`ActionRunnersResponse`).
    Wrapped {
        runners: Vec<RawRunner>,
        #[serde(default)]
        total_count: Option<usize>,
    },
    /// Forgejo: a bare array, the total in `X-Total-Count`.
    Bare(Vec<RawRunner>),
}

#[derive(Deserialize)]
struct RawRunner {
    id: u64,
    name: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    busy: bool,
    #[serde(default)]
    labels: Vec<RawLabel>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawLabel {
    Named { name: String },
    Plain(String),
}

impl From<RawRunner> for Runner {
    fn from(r: RawRunner) -> Runner {
        Runner {
            id: r.id,
            name: r.name,
            // Gitea reports offline/idle/active (or online); only "offline" is down.
            online: !r.status.eq_ignore_ascii_case("offline"),
            busy: r.busy,
            labels: r
                .labels
                .into_iter()
                .map(|l| match l {
                    RawLabel::Named { name } | RawLabel::Plain(name) => name,
                })
                .collect(),
        }
    }
}

/// All runners at `scope`, every page.
pub(crate) async fn list(
    api: &Api,
    auth: &Auth,
    scope: &RunnerScope,
) -> Result<Vec<Runner>, ForgeError> {
    let base = runners_path(scope);
    let mut out: Vec<Runner> = Vec::new();
    for page in 1..=MAX_PAGES {
        let call = Call::new(Method::GET, format!("{base}?page={page}&limit={LIMIT}")).auth(auth);
        let reply = api.send(&call).await?;
        let header_total = reply.total_count;
        let (runners, total) = match api.decode::<RunnerList>(&call, reply)? {
            RunnerList::Wrapped {
                runners,
                total_count,
            } => (runners, total_count.or(header_total.map(|n| n as usize))),
            RunnerList::Bare(runners) => (runners, header_total.map(|n| n as usize)),
        };
        let n = runners.len();
        out.extend(runners.into_iter().map(Runner::from));
        if n == 0 || total.map_or(n < LIMIT, |t| out.len() >= t) {
            break;
        }
    }
    Ok(out)
}

/// Deletes a runner; 404 counts as already deleted.
pub(crate) async fn delete(
    api: &Api,
    auth: &Auth,
    scope: &RunnerScope,
    id: u64,
) -> Result<(), ForgeError> {
    let call = Call::new(Method::DELETE, format!("{}/{id}", runners_path(scope))).auth(auth);
    let reply = api.send(&call).await?;
    match reply.status {
        200..=299 | 404 => Ok(()),
        _ => Err(api.error(&call, &reply)),
    }
}
