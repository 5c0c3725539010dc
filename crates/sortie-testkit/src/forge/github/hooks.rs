//! The App webhook's deliveries (GitHub docs, REST "Webhooks for GitHub Apps", JWT only):
//! - `GET /app/hook/deliveries` (`per_page` ≤ 100, `cursor`, `redelivery`, `status=success|
//!   failure`) → newest first, `{ id, guid, delivered_at, redelivery, duration, status,
//!   status_code, event, action, installation_id, repository_id, throttled_at }`, with a `Link`
//!   header carrying the next `cursor`;
//! - `GET /app/hook/deliveries/{delivery_id}` → the same plus `url`, `request`, `response`;
//! - `POST /app/hook/deliveries/{delivery_id}/attempts` → 202; the delivery is sent again with
//!   the same `X-GitHub-Delivery` GUID and lists as a new delivery with `redelivery: true`.

use super::super::common::{message, query_param, reply};
use super::super::sim::{rfc3339, Delivery};
use super::GhState;
use axum::http::{HeaderValue, Method};
use axum::response::Response;
use serde_json::{json, Map, Value};

pub(super) fn route(
    s: &mut GhState,
    method: &Method,
    rest: &[&str],
    query: Option<&str>,
) -> Response {
    match (method.as_str(), rest) {
        ("GET", []) => list(s, query),
        ("GET", [id]) => match id.parse().ok().and_then(|id| s.sim.hooks.delivery(id)) {
            Some(d) => reply(200, detail(d)),
            None => message(404, "Not Found"),
        },
        ("POST", [id, "attempts"]) => match id.parse().ok() {
            Some(id) if s.sim.hooks.delivery(id).is_some() => {
                s.sim.hooks.redeliver(id);
                reply(202, json!({}))
            }
            _ => message(404, "Not Found"),
        },
        _ => message(404, "Not Found"),
    }
}

fn list(s: &GhState, query: Option<&str>) -> Response {
    let per_page = query_param(query, "per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(30usize)
        .clamp(1, 100);
    // The cursor is opaque to clients; here it is the id to continue from (inclusive).
    let cursor: Option<u64> = query_param(query, "cursor").and_then(|c| c.parse().ok());
    let redelivery: Option<bool> = query_param(query, "redelivery").and_then(|v| v.parse().ok());
    let status = query_param(query, "status");
    let matching: Vec<&Delivery> = s
        .sim
        .hooks
        .deliveries()
        .iter()
        .rev()
        .filter(|d| cursor.is_none_or(|c| d.id <= c))
        .filter(|d| redelivery.is_none_or(|r| d.redelivery == r))
        .filter(|d| match status.as_deref() {
            Some("success") => d.succeeded(),
            Some("failure") => !d.pending && !d.succeeded(),
            _ => true,
        })
        .collect();
    let page: Vec<Value> = matching.iter().take(per_page).map(|d| summary(d)).collect();
    let mut r = reply(200, Value::Array(page));
    if let Some(next) = matching.get(per_page) {
        let link = format!(
            "<{}/app/hook/deliveries?per_page={per_page}&cursor={}>; rel=\"next\"",
            s.sim.base_url, next.id
        );
        if let Ok(v) = HeaderValue::try_from(link) {
            r.headers_mut().insert("link", v);
        }
    }
    r
}

fn summary(d: &Delivery) -> Value {
    json!({
        "id": d.id,
        "guid": d.guid,
        "delivered_at": rfc3339(d.delivered_at),
        "redelivery": d.redelivery,
        "duration": d.duration.as_secs_f64(),
        "status": d.status,
        "status_code": d.status_code,
        "event": d.event,
        "action": d.action,
        "installation_id": d.installation_id,
        "repository_id": d.repository_id,
        "throttled_at": null,
    })
}

fn detail(d: &Delivery) -> Value {
    let mut v = summary(d);
    let headers: Map<String, Value> = d
        .headers
        .iter()
        .map(|(k, val)| (k.clone(), json!(val)))
        .collect();
    let payload: Value = serde_json::from_slice(&d.body).unwrap_or(Value::Null);
    v["url"] = json!(d.url);
    v["request"] = json!({ "headers": headers, "payload": payload });
    v["response"] = json!({ "headers": {}, "payload": d.response_body });
    v
}
