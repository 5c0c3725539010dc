//! What the reconciler asks GitHub: the jobs waiting for a runner, and the App webhook's failed
//! deliveries (to send them again).
//!
//! Sources (GitHub docs, REST API reference, version 2022-11-28):
//! - "Workflow runs" → "List workflow runs for a repository": `GET /repos/{o}/{r}/actions/runs`
//!   with `status` (a status or a conclusion), `per_page` ≤ 100, `page`; answers
//!   `{ total_count, workflow_runs: [{ id, run_attempt, status, … }] }`.
//! - "Workflow jobs" → "List jobs for a workflow run": `GET …/actions/runs/{run_id}/jobs` with
//!   `filter=latest` (the latest attempt's jobs) → `{ total_count, jobs: [{ id, run_id,
//!   run_attempt, name, status, labels, … }] }`; a job's `status` is one of `queued`,
//!   `in_progress`, `completed`, `waiting`, `requested`, `pending`.
//! - "Best practices for using the REST API" → "Use conditional requests if appropriate" and
//!   "Rate limits for the REST API": a request with `If-None-Match` answered `304 Not Modified`
//!   does not count against the primary rate limit, so the listings, repeated every pass, are
//!   sent with the `ETag` of the copy held here.
//! - "Webhooks for GitHub Apps" → "List deliveries for an app webhook":
//!   `GET /app/hook/deliveries` (JWT only; `per_page` ≤ 100, `cursor` from the `Link` header's
//!   `rel="next"`), newest first, `[{ id, guid, delivered_at, redelivery, status, status_code,
//!   event, action, … }]`; "Redeliver a delivery for an app webhook":
//!   `POST /app/hook/deliveries/{delivery_id}/attempts` → 202.
//! - "Handling failed webhook deliveries" (GitHub docs, webhooks guide): GitHub does not
//!   redeliver failed deliveries by itself; list the failures, skip GUIDs that were delivered
//!   successfully since, and redeliver the rest.

use super::auth::AppAuth;
use crate::error::ForgeError;
use crate::http::{enc, Api, Auth, Call, Reply};
use crate::types::{HookDelivery, JobStatus, QueuedJob, RepoRef};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use time::OffsetDateTime;

/// Largest page GitHub serves.
const PER_PAGE: usize = 100;
/// Guard against a forge that never stops paginating.
const MAX_PAGES: usize = 50;
/// Most responses kept for conditional requests; past it the cache starts over (runs come and
/// go, so their job listings would otherwise pile up).
const MAX_CACHED: usize = 2048;
/// The run statuses whose jobs may wait for a runner: a run is `queued` until its first job
/// starts, then `in_progress` while later jobs (`needs`, matrix legs beyond `max-parallel`) still
/// queue.
const RUN_STATUSES: [&str; 2] = ["queued", "in_progress"];
/// The job statuses that mean "waiting for a runner" (or for an approval, then a runner).
const WAITING_STATUSES: [&str; 2] = ["queued", "waiting"];

/// Responses by request path, with their `ETag`, for conditional requests.
#[derive(Debug, Default)]
pub(crate) struct Etags {
    entries: Mutex<HashMap<String, Cached>>,
    /// How many requests were answered `304 Not Modified` (free of rate limit).
    not_modified: AtomicU64,
}

#[derive(Debug, Clone)]
struct Cached {
    etag: String,
    body: Vec<u8>,
    link: Option<String>,
}

impl Etags {
    /// Sends a GET for `path` with `If-None-Match` when a copy is held; a `304` answers with the
    /// held copy. A 2xx with an `ETag` replaces the copy.
    async fn get(&self, api: &Api, auth: &Auth, path: String) -> Result<Reply, ForgeError> {
        let held = lock(&self.entries).get(&path).cloned();
        let mut call = Call::new(Method::GET, path.clone()).auth(auth);
        call.if_none_match = held.as_ref().map(|c| c.etag.clone());
        let reply = api.send(&call).await?;
        if reply.status == 304 {
            if let Some(c) = held {
                self.not_modified.fetch_add(1, Ordering::Relaxed);
                return Ok(Reply {
                    status: 200,
                    body: c.body,
                    total_count: None,
                    etag: Some(c.etag),
                    link: c.link,
                });
            }
        }
        if (200..300).contains(&reply.status) {
            if let Some(etag) = &reply.etag {
                let mut entries = lock(&self.entries);
                if entries.len() >= MAX_CACHED && !entries.contains_key(&path) {
                    entries.clear();
                }
                entries.insert(
                    path,
                    Cached {
                        etag: etag.clone(),
                        body: reply.body.clone(),
                        link: reply.link.clone(),
                    },
                );
            }
        } else {
            lock(&self.entries).remove(&path);
        }
        Ok(reply)
    }

    /// Requests answered `304 Not Modified` so far.
    #[cfg(test)]
    pub(crate) fn not_modified(&self) -> u64 {
        self.not_modified.load(Ordering::Relaxed)
    }

    async fn json<T: DeserializeOwned>(
        &self,
        api: &Api,
        auth: &Auth,
        path: String,
    ) -> Result<T, ForgeError> {
        let call = Call::new(Method::GET, path.clone());
        let reply = self.get(api, auth, path).await?;
        api.decode(&call, reply)
    }
}

#[derive(Deserialize)]
struct RunPage {
    #[serde(default)]
    workflow_runs: Vec<RawRun>,
}

#[derive(Deserialize)]
struct RawRun {
    id: u64,
}

#[derive(Deserialize)]
struct JobPage {
    #[serde(default)]
    jobs: Vec<RawJob>,
}

#[derive(Deserialize)]
struct RawJob {
    id: u64,
    run_id: u64,
    #[serde(default = "one")]
    run_attempt: u32,
    #[serde(default)]
    name: String,
    status: String,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    created_at: Option<String>,
}

fn one() -> u32 {
    1
}

/// The jobs of `repo` that wait for a runner, in the runs GitHub lists as queued or in progress.
#[derive(Deserialize)]
struct RawJobStatus {
    status: String,
    #[serde(default)]
    conclusion: Option<String>,
    #[serde(default)]
    runner_name: Option<String>,
}

/// `GET /repos/{o}/{r}/actions/jobs/{job_id}` (GitHub REST, "Workflow jobs" → "Get a job for a
/// workflow run"), conditional like the listings.
pub(crate) async fn job_status(
    api: &Api,
    auth: &Auth,
    etags: &Etags,
    repo: &RepoRef,
    job_id: u64,
) -> Result<JobStatus, ForgeError> {
    let path = format!(
        "/repos/{}/{}/actions/jobs/{job_id}",
        enc(&repo.owner),
        enc(&repo.name)
    );
    let raw: RawJobStatus = etags.json(api, auth, path).await?;
    Ok(JobStatus {
        status: raw.status,
        conclusion: raw.conclusion.filter(|c| !c.is_empty()),
        runner_name: raw.runner_name.filter(|n| !n.is_empty()),
    })
}

pub(crate) async fn queued_jobs(
    api: &Api,
    auth: &Auth,
    etags: &Etags,
    repo: &RepoRef,
) -> Result<Vec<QueuedJob>, ForgeError> {
    let base = format!(
        "/repos/{}/{}/actions/runs",
        enc(&repo.owner),
        enc(&repo.name)
    );
    let mut runs = BTreeSet::new();
    for status in RUN_STATUSES {
        for page in 1..=MAX_PAGES {
            let path = format!("{base}?status={status}&per_page={PER_PAGE}&page={page}");
            let got: RunPage = etags.json(api, auth, path).await?;
            let n = got.workflow_runs.len();
            runs.extend(got.workflow_runs.into_iter().map(|r| r.id));
            if n < PER_PAGE {
                break;
            }
        }
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for run in runs {
        for page in 1..=MAX_PAGES {
            let path = format!("{base}/{run}/jobs?filter=latest&per_page={PER_PAGE}&page={page}");
            let got: JobPage = match etags.json(api, auth, path).await {
                Ok(got) => got,
                // The run was deleted between the two listings.
                Err(ForgeError::NotFound { .. }) => break,
                Err(e) => return Err(e),
            };
            let n = got.jobs.len();
            for j in got.jobs {
                if WAITING_STATUSES.contains(&j.status.as_str()) && seen.insert(j.id) {
                    out.push(QueuedJob {
                        repo: repo.clone(),
                        job_id: j.id,
                        run_id: j.run_id,
                        run_attempt: j.run_attempt.max(1),
                        name: j.name,
                        labels: j.labels,
                        status: j.status,
                        created_at: j.created_at.as_deref().and_then(|t| {
                            OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                                .ok()
                        }),
                    });
                }
            }
            if n < PER_PAGE {
                break;
            }
        }
    }
    Ok(out)
}

#[derive(Deserialize)]
struct RawDelivery {
    id: u64,
    guid: String,
    delivered_at: String,
    #[serde(default)]
    redelivery: bool,
    #[serde(default)]
    status: String,
    #[serde(default)]
    status_code: u16,
    #[serde(default)]
    event: String,
    #[serde(default)]
    action: Option<String>,
}

/// The App webhook's deliveries since `since` that failed and whose GUID was not delivered
/// successfully since: the latest failed attempt per GUID, newest first.
pub(crate) async fn failed_deliveries(
    api: &Api,
    app: &AppAuth,
    since: OffsetDateTime,
) -> Result<Vec<HookDelivery>, ForgeError> {
    let mut all: Vec<HookDelivery> = Vec::new();
    let mut path = format!("/app/hook/deliveries?per_page={PER_PAGE}");
    for _ in 0..MAX_PAGES {
        let call = Call::new(Method::GET, path.clone()).auth(&app.jwt(api)?);
        let reply = api.send(&call).await?;
        let link = reply.link.clone();
        let page: Vec<RawDelivery> = api.decode(&call, reply)?;
        let mut older = false;
        for d in page {
            let delivered_at = OffsetDateTime::parse(
                &d.delivered_at,
                &time::format_description::well_known::Rfc3339,
            )
            .map_err(|e| ForgeError::BadResponse {
                forge: api.forge,
                what: call.what(),
                message: format!("delivered_at {:?} is not RFC 3339: {e}", d.delivered_at),
            })?;
            if delivered_at < since {
                older = true;
                continue;
            }
            all.push(HookDelivery {
                id: d.id,
                guid: d.guid,
                delivered_at,
                redelivery: d.redelivery,
                status: d.status,
                status_code: d.status_code,
                event: d.event,
                action: d.action,
            });
        }
        // Newest first: once a page reaches past `since`, the next pages are older still.
        let next = link.as_deref().and_then(next_cursor);
        match next {
            Some(cursor) if !older => {
                path = format!(
                    "/app/hook/deliveries?per_page={PER_PAGE}&cursor={}",
                    enc(&cursor)
                );
            }
            _ => break,
        }
    }
    Ok(keep_failed(all))
}

/// The latest failed attempt of each GUID none of whose attempts succeeded, in the given
/// (newest first) order. A `pending` attempt has not been sent yet: not a failure.
pub(crate) fn keep_failed(deliveries: Vec<HookDelivery>) -> Vec<HookDelivery> {
    let delivered: HashSet<String> = deliveries
        .iter()
        .filter(|d| d.succeeded())
        .map(|d| d.guid.clone())
        .collect();
    let mut taken = HashSet::new();
    deliveries
        .into_iter()
        .filter(|d| !d.succeeded() && !d.status.eq_ignore_ascii_case("pending"))
        .filter(|d| !delivered.contains(&d.guid))
        .filter(|d| taken.insert(d.guid.clone()))
        .collect()
}

/// `POST /app/hook/deliveries/{id}/attempts`.
pub(crate) async fn redeliver(api: &Api, app: &AppAuth, id: u64) -> Result<(), ForgeError> {
    let call =
        Call::new(Method::POST, format!("/app/hook/deliveries/{id}/attempts")).auth(&app.jwt(api)?);
    let reply = api.send(&call).await?;
    if (200..300).contains(&reply.status) {
        Ok(())
    } else {
        Err(api.error(&call, &reply))
    }
}

/// The `cursor` query value of the `rel="next"` link in a `Link` header (RFC 8288:
/// `<url>; rel="next", <url>; rel="last"`).
pub(crate) fn next_cursor(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        if !is_next {
            return None;
        }
        let url = url.trim().trim_start_matches('<').trim_end_matches('>');
        let query = url.split_once('?')?.1;
        query.split('&').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == "cursor").then(|| percent_decode(v))
        })
    })
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod unit {
    use super::*;

    fn d(id: u64, guid: &str, code: u16, status: &str) -> HookDelivery {
        HookDelivery {
            id,
            guid: guid.into(),
            delivered_at: time::macros::datetime!(2030-01-01 00:00:00 UTC),
            redelivery: false,
            status: status.into(),
            status_code: code,
            event: "workflow_job".into(),
            action: Some("queued".into()),
        }
    }

    #[test]
    fn cursor_of_the_next_link() {
        let link = r#"<https://api.github.com/app/hook/deliveries?per_page=2&cursor=v1_123%3D>; rel="next", <https://api.github.com/app/hook/deliveries?per_page=2>; rel="first""#;
        assert_eq!(next_cursor(link).as_deref(), Some("v1_123="));
        assert_eq!(
            next_cursor(r#"<https://x/app/hook/deliveries?per_page=2>; rel="first""#),
            None
        );
    }

    #[test]
    fn failures_without_a_later_success_once_per_guid() {
        // Newest first.
        let all = vec![
            d(6, "c", 0, "pending"),
            d(5, "a", 200, "OK"),
            d(4, "b", 502, "Invalid HTTP Response: 502"),
            d(3, "a", 0, "failed to connect to host"),
            d(2, "b", 0, "failed to connect to host"),
            d(1, "d", 204, "OK"),
        ];
        let kept: Vec<u64> = keep_failed(all).iter().map(|d| d.id).collect();
        assert_eq!(kept, vec![4]);
    }
}
