//! What a Lambda invocation's payload is, decided from its shape alone (pure).
//!
//! One function serves every trigger the deployment template wires to it:
//! - API Gateway REST APIs (proxy integration, payload 1.0), HTTP APIs (payload 1.0 or 2.0) and
//!   Lambda function URLs (payload 2.0): they carry `requestContext` and `httpMethod` (1.0) or
//!   `version: "2.0"` with `rawPath` (2.0). Shapes: "Input format of a Lambda function for proxy
//!   integration" (REST, <https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html>),
//!   "Create AWS Lambda proxy integrations for HTTP APIs" (<https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html>),
//!   "Invoking Lambda function URLs" (<https://docs.aws.amazon.com/lambda/latest/dg/urls-invocation.html>).
//! - The seed's clean-up contract: `{"action":"cleanup"}` or an empty payload (tinqs/ci DevOps
//!   reference, "Cleanup cron"), and an EventBridge schedule's own event
//!   (`"detail-type": "Scheduled Event"`, "Creating an Amazon EventBridge rule that runs on a
//!   schedule", <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-rule-schedule.html>).
//! - EventBridge EC2 events: `source: "aws.ec2"` with `detail-type` "EC2 Spot Instance
//!   Interruption Warning" or "EC2 Instance State-change Notification" (the shapes
//!   `sortie_provider::interruption::parse_event` reads).

use serde_json::Value;

/// `detail-type` of a spot interruption warning.
pub const SPOT_WARNING: &str = "EC2 Spot Instance Interruption Warning";
/// `detail-type` of an instance state change.
pub const STATE_CHANGE: &str = "EC2 Instance State-change Notification";
/// `detail-type` of an EventBridge scheduled rule's event.
pub const SCHEDULED: &str = "Scheduled Event";

/// The payload format of an HTTP event, which decides the shape of the answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFormat {
    /// REST API proxy integration, or an HTTP API with payload format 1.0: the answer carries
    /// `multiValueHeaders`.
    V1,
    /// HTTP API with payload format 2.0, or a function URL: the answer carries `headers` and
    /// `cookies`.
    V2,
}

/// What one invocation asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invocation {
    /// An HTTP request, routed through the same router as `sortie serve`.
    Http(HttpFormat),
    /// One sweep: the seed's `{"action":"cleanup"}`, an empty payload, or an EventBridge
    /// schedule.
    Cleanup,
    /// An EventBridge EC2 spot interruption warning or instance state change.
    Ec2,
    /// Anything else; the text says what it looked like.
    Unknown(String),
}

/// Decides what `payload` is.
pub fn classify(payload: &Value) -> Invocation {
    let object = match payload {
        Value::Null => return Invocation::Cleanup,
        Value::String(s) if s.trim().is_empty() => return Invocation::Cleanup,
        Value::Object(o) => o,
        other => {
            return Invocation::Unknown(format!("a JSON {} payload, not an object", kind_of(other)))
        }
    };
    if object.is_empty() {
        return Invocation::Cleanup;
    }
    if let Some(action) = object.get("action") {
        return match action.as_str() {
            Some("cleanup") => Invocation::Cleanup,
            _ => Invocation::Unknown(format!("action {action} (the only action is \"cleanup\")")),
        };
    }
    if object.contains_key("requestContext") {
        let v2 = object.get("version").and_then(Value::as_str) == Some("2.0");
        if v2 && object.contains_key("rawPath") {
            return Invocation::Http(HttpFormat::V2);
        }
        if object.contains_key("httpMethod") {
            return Invocation::Http(HttpFormat::V1);
        }
    }
    let text = |key: &str| object.get(key).and_then(Value::as_str);
    match (text("source"), text("detail-type")) {
        (_, Some(SCHEDULED)) => Invocation::Cleanup,
        (Some("aws.ec2"), Some(SPOT_WARNING | STATE_CHANGE)) => Invocation::Ec2,
        (source, detail) => {
            let mut keys: Vec<&str> = object.keys().map(String::as_str).take(8).collect();
            keys.sort_unstable();
            Invocation::Unknown(format!(
                "an event with source {:?} and detail-type {:?} (keys: {})",
                source.unwrap_or("-"),
                detail.unwrap_or("-"),
                keys.join(", ")
            ))
        }
    }
}

/// The path the client asked for: `rawPath` (2.0) or `path` (1.0). API Gateway's REST payload
/// gives the resource path without the stage; `lambda_http` puts the stage in front, which
/// `sortie serve`'s routes do not expect.
pub fn request_path(payload: &Value) -> Option<&str> {
    payload
        .get("rawPath")
        .or_else(|| payload.get("path"))
        .and_then(Value::as_str)
        .filter(|p| p.starts_with('/'))
}

/// Whether a request's answer is followed by planning and dispatching in the same invocation:
/// an accepted webhook or EC2 event. Everything else (the admin API, the agent's reports, the
/// UI, refusals) answers at once.
pub fn drains_after(method: &str, path: &str, status: u16) -> bool {
    let accepted = (200..300).contains(&status);
    let posts_work =
        path == "/webhook" || path.starts_with("/webhooks/") || path == "/api/v1/events/ec2";
    method.eq_ignore_ascii_case("POST") && accepted && posts_work
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn payload_shapes() {
        // (payload, expected, why)
        let rows: Vec<(Value, Invocation, &str)> = vec![
            (
                json!({"action": "cleanup"}),
                Invocation::Cleanup,
                "the seed's contract",
            ),
            (
                json!({}),
                Invocation::Cleanup,
                "the seed: an empty payload cleans up",
            ),
            (Value::Null, Invocation::Cleanup, "no payload at all"),
            (json!(""), Invocation::Cleanup, "an empty string"),
            (
                json!({"version": "0", "detail-type": "Scheduled Event", "source": "aws.events",
                       "detail": {}}),
                Invocation::Cleanup,
                "an EventBridge schedule without a constant input",
            ),
            (
                json!({"source": "aws.ec2", "detail-type": SPOT_WARNING, "detail": {}}),
                Invocation::Ec2,
                "spot warning",
            ),
            (
                json!({"source": "aws.ec2", "detail-type": STATE_CHANGE, "detail": {}}),
                Invocation::Ec2,
                "state change",
            ),
            (
                json!({"resource": "/webhook", "path": "/webhook", "httpMethod": "POST",
                       "requestContext": {}, "headers": {}}),
                Invocation::Http(HttpFormat::V1),
                "REST API proxy event",
            ),
            (
                json!({"version": "1.0", "path": "/webhook", "httpMethod": "POST",
                       "requestContext": {}}),
                Invocation::Http(HttpFormat::V1),
                "HTTP API, payload format 1.0",
            ),
            (
                json!({"version": "2.0", "routeKey": "$default", "rawPath": "/webhook",
                       "requestContext": {"http": {"method": "POST"}}}),
                Invocation::Http(HttpFormat::V2),
                "HTTP API 2.0 or function URL",
            ),
        ];
        for (payload, want, why) in rows {
            assert_eq!(classify(&payload), want, "{why}: {payload}");
        }
    }

    #[test]
    fn unknown_payloads_say_what_they_looked_like() {
        let cases = [
            (json!({"action": "deploy"}), "action \"deploy\""),
            (json!([1, 2]), "array"),
            (
                json!({"source": "aws.s3", "detail-type": "Object Created"}),
                "aws.s3",
            ),
            (
                json!({"source": "aws.ec2", "detail-type": "EBS Snapshot Notification"}),
                "EBS Snapshot Notification",
            ),
        ];
        for (payload, needle) in cases {
            match classify(&payload) {
                Invocation::Unknown(why) => assert!(why.contains(needle), "{why}"),
                other => panic!("{payload} classified as {other:?}"),
            }
        }
    }

    #[test]
    fn paths_and_draining() {
        assert_eq!(
            request_path(&json!({"rawPath": "/webhooks/gitea", "path": "/x"})),
            Some("/webhooks/gitea")
        );
        assert_eq!(request_path(&json!({"path": "/webhook"})), Some("/webhook"));
        assert_eq!(request_path(&json!({"path": "webhook"})), None);
        assert!(drains_after("POST", "/webhook", 202));
        assert!(drains_after("post", "/webhooks/github", 200));
        assert!(drains_after("POST", "/api/v1/events/ec2", 202));
        assert!(
            !drains_after("POST", "/webhook", 401),
            "a refusal did nothing"
        );
        assert!(!drains_after("GET", "/api/v1/jobs", 200));
        assert!(!drains_after("POST", "/api/v1/agent/report", 200));
    }
}
