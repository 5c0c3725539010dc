//! What both fake forges share: repository snapshots, the record of API calls, scripted
//! failures, the contents/compare JSON shapes, and serving on 127.0.0.1:0.

use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Mutex, MutexGuard};

/// One API call the fake received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiCall {
    /// `GET`, `POST`, …
    pub method: String,
    /// Path without the query.
    pub path: String,
    /// Query string, if any.
    pub query: Option<String>,
    /// `Authorization` header.
    pub authorization: Option<String>,
    /// JSON body, if any.
    pub body: Option<Value>,
}

/// A canned failure the fake answers instead of the real thing, once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScriptedFailure {
    /// Only calls whose path contains this are affected (`None`: the next call).
    pub path_contains: Option<String>,
    /// HTTP status.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl ScriptedFailure {
    /// GitHub's secondary rate limit: 403 with `Retry-After` and the documented message.
    pub fn secondary_rate_limit(retry_after_secs: u64) -> ScriptedFailure {
        ScriptedFailure {
            path_contains: None,
            status: 403,
            headers: vec![("retry-after".into(), retry_after_secs.to_string()), ("x-ratelimit-remaining".into(), "4000".into())],
            body: json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                         "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits"})
            .to_string(),
        }
    }

    /// GitHub's primary rate limit: 403, `x-ratelimit-remaining: 0`, reset at `reset_epoch`.
    pub fn primary_rate_limit(reset_epoch: i64) -> ScriptedFailure {
        ScriptedFailure {
            path_contains: None,
            status: 403,
            headers: vec![
                ("x-ratelimit-remaining".into(), "0".into()),
                ("x-ratelimit-reset".into(), reset_epoch.to_string()),
            ],
            body: json!({"message": "API rate limit exceeded for installation ID 42."}).to_string(),
        }
    }

    /// A proxy's 429 with `Retry-After`.
    pub fn too_many_requests(retry_after_secs: u64) -> ScriptedFailure {
        ScriptedFailure {
            path_contains: None,
            status: 429,
            headers: vec![("retry-after".into(), retry_after_secs.to_string())],
            body: String::new(),
        }
    }

    /// Any status with a `message` body.
    pub fn status(status: u16, message: &str) -> ScriptedFailure {
        ScriptedFailure {
            path_contains: None,
            status,
            headers: vec![],
            body: json!({ "message": message }).to_string(),
        }
    }

    /// Restricts the failure to calls whose path contains `fragment`.
    pub fn on(mut self, fragment: &str) -> ScriptedFailure {
        self.path_contains = Some(fragment.to_string());
        self
    }

    pub(crate) fn response(&self) -> Response {
        let mut r = (
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            self.body.clone(),
        )
            .into_response();
        for (k, v) in &self.headers {
            if let (Ok(k), Ok(v)) = (
                axum::http::HeaderName::try_from(k.as_str()),
                axum::http::HeaderValue::try_from(v.as_str()),
            ) {
                r.headers_mut().insert(k, v);
            }
        }
        r
    }
}

/// One repository: the file tree at each commit.
#[derive(Debug, Clone, Default)]
pub struct RepoFiles {
    commits: HashMap<String, BTreeMap<String, String>>,
}

impl RepoFiles {
    /// Records the complete file tree at `sha`.
    pub fn set_commit(&mut self, sha: &str, files: &[(&str, &str)]) {
        let tree = files
            .iter()
            .map(|(p, c)| (p.to_string(), c.to_string()))
            .collect();
        self.commits.insert(sha.to_string(), tree);
    }

    /// The contents API answer for `path` at `sha`: a folder listing (direct children), a file
    /// object with base64 content, or `None` (404).
    pub fn contents(&self, sha: &str, path: &str) -> Option<Value> {
        let tree = self.commits.get(sha)?;
        let path = path.trim_matches('/');
        if let Some(text) = tree.get(path) {
            return Some(file_entry(path, Some(text)));
        }
        let prefix = format!("{path}/");
        let mut children: BTreeMap<String, bool> = BTreeMap::new();
        for p in tree.keys().filter(|p| p.starts_with(&prefix)) {
            let rest = &p[prefix.len()..];
            match rest.split_once('/') {
                Some((dir, _)) => children.insert(format!("{prefix}{dir}"), true),
                None => children.insert(p.clone(), false),
            };
        }
        if children.is_empty() {
            return None;
        }
        let entries: Vec<Value> = children
            .into_iter()
            .map(|(p, is_dir)| {
                if is_dir {
                    dir_entry(&p)
                } else {
                    file_entry(&p, None)
                }
            })
            .collect();
        Some(Value::Array(entries))
    }

    /// Paths that differ between two commits (added, modified, removed), sorted.
    pub fn diff(&self, base: &str, head: &str) -> Option<Vec<(String, &'static str)>> {
        let (a, b) = (self.commits.get(base)?, self.commits.get(head)?);
        let mut out = Vec::new();
        for (p, c) in b {
            match a.get(p) {
                None => out.push((p.clone(), "added")),
                Some(old) if old != c => out.push((p.clone(), "modified")),
                _ => {}
            }
        }
        out.extend(
            a.keys()
                .filter(|p| !b.contains_key(*p))
                .map(|p| (p.clone(), "removed")),
        );
        out.sort();
        Some(out)
    }
}

fn name_of(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn file_entry(path: &str, content: Option<&str>) -> Value {
    let mut v =
        json!({ "name": name_of(path), "path": path, "type": "file", "sha": "0".repeat(40) });
    if let Some(text) = content {
        // GitHub wraps base64 at 60 characters; do the same so clients must cope.
        let b64 = base64::engine::general_purpose::STANDARD.encode(text);
        let wrapped: Vec<String> = b64
            .as_bytes()
            .chunks(60)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        v["content"] = json!(wrapped.join("\n") + "\n");
        v["encoding"] = json!("base64");
        v["size"] = json!(text.len());
    }
    v
}

fn dir_entry(path: &str) -> Value {
    json!({ "name": name_of(path), "path": path, "type": "dir", "sha": "0".repeat(40) })
}

/// A JSON response.
pub(crate) fn reply(status: u16, body: Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(body),
    )
        .into_response()
}

/// `{"message": …}` with a status.
pub(crate) fn message(status: u16, msg: &str) -> Response {
    reply(status, json!({ "message": msg }))
}

/// A JSON answer with a weak `ETag` over its bytes, or `304 Not Modified` (no body) when
/// `if_none_match` names that tag (or `*`): conditional requests as GitHub serves them (docs
/// "Best practices for using the REST API" → "Use conditional requests if appropriate").
pub(crate) fn reply_with_etag(
    if_none_match: Option<&str>,
    body: &Value,
    extra: Vec<(String, String)>,
) -> Response {
    use sha2::Digest;
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let digest = hex::encode(sha2::Sha256::digest(&bytes));
    let etag = format!("W/\"{}\"", &digest[..40]);
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let matched = if_none_match.is_some_and(|h| {
        h.split(',')
            .any(|t| t.trim() == "*" || strip(t) == strip(&etag))
    });
    let mut r = if matched {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            StatusCode::OK,
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            bytes,
        )
            .into_response()
    };
    let mut headers = extra;
    headers.push(("etag".into(), etag));
    for (k, v) in headers {
        if let (Ok(k), Ok(v)) = (
            axum::http::HeaderName::try_from(k.as_str()),
            axum::http::HeaderValue::try_from(v.as_str()),
        ) {
            r.headers_mut().insert(k, v);
        }
    }
    r
}

/// `page` (1-based) and the page size from `size_key`, defaulted and clamped to `1..=max`.
pub(crate) fn page_params(
    query: Option<&str>,
    size_key: &str,
    default: usize,
    max: usize,
) -> (usize, usize) {
    let size = query_param(query, size_key)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .clamp(1, max);
    let page = query_param(query, "page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    (page, size)
}

/// One page of `items`.
pub(crate) fn page_of<T: Clone>(items: &[T], page: usize, size: usize) -> Vec<T> {
    items
        .iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .cloned()
        .collect()
}

/// GitHub's `Link` header for page `page` of `total` items: `next`/`last` (and `prev`/`first`).
pub(crate) fn link_header(url: &str, page: usize, size: usize, total: usize) -> Option<String> {
    let last = total.div_ceil(size).max(1);
    let at = |p: usize, rel: &str| format!("<{url}?per_page={size}&page={p}>; rel=\"{rel}\"");
    let mut parts = Vec::new();
    if page < last {
        parts.push(at(page + 1, "next"));
        parts.push(at(last, "last"));
    }
    if page > 1 {
        parts.push(at(page - 1, "prev"));
        parts.push(at(1, "first"));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// Records a call.
pub(crate) fn record(
    method: &str,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> ApiCall {
    ApiCall {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(String::from),
        authorization: headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(String::from),
        body: serde_json::from_slice(body).ok(),
    }
}

/// One query parameter.
pub(crate) fn query_param(query: Option<&str>, key: &str) -> Option<String> {
    query?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| percent_decode(v))
    })
}

/// Every value of a repeated query parameter (`status=a&status=b`).
pub(crate) fn query_params(query: Option<&str>, key: &str) -> Vec<String> {
    query
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k == key).then(|| percent_decode(v))
        })
        .collect()
}

/// Decodes `%XX` escapes (enough for paths and refs).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
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

/// Takes the first scripted failure that applies to `path`.
pub(crate) fn take_failure(
    script: &mut Vec<ScriptedFailure>,
    path: &str,
) -> Option<ScriptedFailure> {
    let i = script.iter().position(|f| {
        f.path_contains
            .as_deref()
            .is_none_or(|frag| path.contains(frag))
    })?;
    Some(script.remove(i))
}

/// Locks a mutex, ignoring poisoning (a test that panicked already failed).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Serves `router` on 127.0.0.1:0; the task stops when the handle is dropped.
pub(crate) async fn serve(router: axum::Router) -> std::io::Result<(SocketAddr, ServerTask)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok((addr, ServerTask(task)))
}

/// Aborts the server task on drop.
#[derive(Debug)]
pub(crate) struct ServerTask(tokio::task::JoinHandle<()>);

impl ServerTask {
    /// Runs `fut` as a task that is aborted when the handle is dropped.
    pub(crate) fn spawn(fut: impl std::future::Future<Output = ()> + Send + 'static) -> ServerTask {
        ServerTask(tokio::spawn(fut))
    }
}

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contents_and_diff() {
        let mut r = RepoFiles::default();
        r.set_commit(
            "a",
            &[(".gitea/workflows/ci.yml", "x"), ("src/main.rs", "1")],
        );
        r.set_commit(
            "b",
            &[
                (".gitea/workflows/ci.yml", "x"),
                (".gitea/workflows/sub/d.yml", "y"),
                ("src/lib.rs", "2"),
            ],
        );
        let dir = r.contents("b", ".gitea/workflows").unwrap();
        let kinds: Vec<(&str, &str)> = dir
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["path"].as_str().unwrap(), e["type"].as_str().unwrap()))
            .collect();
        assert_eq!(
            kinds,
            vec![
                (".gitea/workflows/ci.yml", "file"),
                (".gitea/workflows/sub", "dir")
            ]
        );
        assert_eq!(
            r.contents("b", ".gitea/workflows/ci.yml").unwrap()["encoding"],
            "base64"
        );
        assert!(r.contents("b", ".github/workflows").is_none());
        assert!(r.contents("zzz", ".gitea").is_none());
        let d = r.diff("a", "b").unwrap();
        assert_eq!(
            d,
            vec![
                (".gitea/workflows/sub/d.yml".into(), "added"),
                ("src/lib.rs".into(), "added"),
                ("src/main.rs".into(), "removed")
            ]
        );
    }

    #[test]
    fn decoding() {
        assert_eq!(percent_decode("a%2Fb%20c"), "a/b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(
            query_param(Some("ref=abc&page=2"), "page").as_deref(),
            Some("2")
        );
    }
}
