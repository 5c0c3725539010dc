//! GitHub self-hosted runners: JIT configuration, listing (paginated), deletion.
//!
//! Source: GitHub docs, REST "Self-hosted runners": `generate-jitconfig` takes `name`,
//! `runner_group_id`, `labels` (1–100 custom labels) and `work_folder` and answers 201 with
//! `runner` and `encoded_jit_config`; a runner name that is already registered answers 409.
//! Listing answers `{ total_count, runners: [{ id, name, status: online|offline, busy, labels }] }`
//! with `per_page` ≤ 100.

use crate::budget::Priority;
use crate::error::ForgeError;
use crate::http::{enc, Api, Auth, Call};
use crate::types::{Runner, RunnerCredential, RunnerRequest, RunnerScope, Secret};
use reqwest::Method;
use serde::Deserialize;

/// Largest page GitHub serves.
const PER_PAGE: usize = 100;
/// Guard against a forge that never stops paginating.
const MAX_PAGES: usize = 100;

#[derive(Deserialize)]
struct JitReply {
    runner: RawRunner,
    encoded_jit_config: String,
}

#[derive(Deserialize)]
pub(crate) struct RawRunner {
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
struct RawLabel {
    name: String,
}

#[derive(Deserialize)]
struct RunnerPage {
    #[serde(default)]
    total_count: usize,
    #[serde(default)]
    runners: Vec<RawRunner>,
}

impl From<RawRunner> for Runner {
    fn from(r: RawRunner) -> Runner {
        Runner {
            id: r.id,
            name: r.name,
            online: r.status != "offline",
            busy: r.busy,
            labels: r.labels.into_iter().map(|l| l.name).collect(),
        }
    }
}

fn runners_path(scope: &RunnerScope) -> Result<String, ForgeError> {
    match scope {
        RunnerScope::Repo(r) => Ok(format!(
            "/repos/{}/{}/actions/runners",
            enc(&r.owner),
            enc(&r.name)
        )),
        RunnerScope::Org { org, .. } => Ok(format!("/orgs/{}/actions/runners", enc(org))),
        RunnerScope::Instance => Err(super::instance_unsupported()),
    }
}

/// Mints a JIT config. A 409 means a runner of this name exists — an earlier attempt for the same
/// job got through but its answer was lost. If that runner is offline (never started) it is
/// deleted and the call repeated once, so retries stay idempotent on the job key.
pub(crate) async fn jit_config(
    api: &Api,
    auth: &Auth,
    req: &RunnerRequest,
    default_group: u64,
) -> Result<RunnerCredential, ForgeError> {
    let group = match &req.scope {
        RunnerScope::Org {
            runner_group_id: Some(g),
            ..
        } => *g,
        _ => default_group,
    };
    let labels = if req.labels.is_empty() {
        vec!["self-hosted".to_string()]
    } else {
        req.labels.clone()
    };
    let body = serde_json::json!({
        "name": req.name,
        "runner_group_id": group,
        "labels": labels,
        "work_folder": req.work_folder,
    });
    let call = Call::new(
        Method::POST,
        format!("{}/generate-jitconfig", runners_path(&req.scope)?),
    )
    .body(body)
    .auth(auth);
    let mut reply = api.send(&call).await?;
    if reply.status == 409 {
        // Part of minting this credential: listed at the credential's priority.
        let stale = list(api, auth, &req.scope, Priority::Credential)
            .await?
            .into_iter()
            .find(|r| r.name == req.name);
        match stale {
            Some(r) if !r.online && !r.busy => {
                delete(api, auth, &req.scope, r.id, Priority::Credential).await?;
                reply = api.send(&call).await?;
            }
            _ => {
                return Err(ForgeError::Api {
                    forge: api.forge,
                    status: 409,
                    what: call.what(),
                    message: format!(
                        "a runner named {} is already registered and in use; not replacing it",
                        req.name
                    ),
                })
            }
        }
    }
    let jit: JitReply = api.decode(&call, reply)?;
    Ok(RunnerCredential::JitConfig {
        runner_id: jit.runner.id,
        runner_name: jit.runner.name,
        encoded_jit_config: Secret::new(jit.encoded_jit_config),
    })
}

/// All runners at `scope`, every page, at `priority` (a listing, unless it serves a credential).
pub(crate) async fn list(
    api: &Api,
    auth: &Auth,
    scope: &RunnerScope,
    priority: Priority,
) -> Result<Vec<Runner>, ForgeError> {
    let base = runners_path(scope)?;
    let mut out: Vec<Runner> = Vec::new();
    for page in 1..=MAX_PAGES {
        let call = Call::new(
            Method::GET,
            format!("{base}?per_page={PER_PAGE}&page={page}"),
        )
        .priority(priority)
        .auth(auth);
        let p: RunnerPage = api.json(&call).await?;
        let n = p.runners.len();
        out.extend(p.runners.into_iter().map(Runner::from));
        if n < PER_PAGE || out.len() >= p.total_count {
            break;
        }
    }
    Ok(out)
}

/// Deletes a runner; one that is already gone (404) counts as deleted.
pub(crate) async fn delete(
    api: &Api,
    auth: &Auth,
    scope: &RunnerScope,
    id: u64,
    priority: Priority,
) -> Result<(), ForgeError> {
    let call = Call::new(Method::DELETE, format!("{}/{id}", runners_path(scope)?))
        .priority(priority)
        .auth(auth);
    let reply = api.send(&call).await?;
    match reply.status {
        200..=299 | 404 => Ok(()),
        _ => Err(api.error(&call, &reply)),
    }
}
