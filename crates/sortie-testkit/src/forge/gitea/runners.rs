//! Runner registration tokens, Forgejo's ephemeral registration, runner list/delete, and the
//! simulation's side of runners (connecting, `workflow_job` webhooks).

use super::super::common::{message, page_of, page_params, reply};
use super::super::payloads;
use super::super::sim::{label_names, FakeJob, JobPayload, Refusal, RunnerRecord, Sim, SimHost};
use super::{GiteaKind, GtState};
use axum::http::{HeaderValue, Method};
use axum::response::Response;
use serde_json::{json, Value};

pub(super) fn route(
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
            match s.sim.runners.get(&id) {
                Some(r) if r.scope == scope => {
                    s.sim.runners.remove(&id);
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
    let ephemeral = body
        .get("ephemeral")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let id = s.sim.add_runner(RunnerRecord {
        scope: scope.into(),
        name: name.into(),
        ephemeral,
        ..Default::default()
    });
    let uuid = format!("00000000-0000-4000-8000-{id:012}");
    let token = format!("runnertoken{id}");
    if let Some(r) = s.sim.runners.get_mut(&id) {
        r.uuid = uuid.clone();
        r.token = token.clone();
    }
    reply(201, json!({ "id": id, "uuid": uuid, "token": token }))
}

fn list(s: &GtState, scope: &str, query: Option<&str>) -> Response {
    let (page, limit) = page_params(query, "limit", 30, 50);
    let all: Vec<Value> = s
        .sim
        .runners
        .values()
        .filter(|r| r.scope == scope)
        .map(|r| {
            let status = if !r.online {
                "offline"
            } else if r.busy {
                "active"
            } else {
                "idle"
            };
            let labels: Vec<Value> = r
                .labels
                .iter()
                .enumerate()
                .map(|(i, l)| json!({ "id": i + 1, "name": l, "type": "custom" }))
                .collect();
            json!({ "id": r.id, "name": r.name, "status": status, "busy": r.busy,
                    "ephemeral": r.ephemeral, "labels": labels })
        })
        .collect();
    let items = page_of(&all, page, limit);
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

fn strings(v: Option<&Value>) -> Option<Vec<String>> {
    v.and_then(Value::as_array).map(|a| {
        a.iter()
            .filter_map(|l| l.as_str().map(String::from))
            .collect()
    })
}

impl SimHost for GtState {
    fn sim(&mut self) -> &mut Sim {
        &mut self.sim
    }

    /// `{"uuid", "token"}`: a runner from Forgejo's registration API (its labels, as the
    /// runner's `Declare` sends them, may come along in `labels`; without any, the runner takes
    /// jobs of any labels). `{"registration_token", "name", "labels", "ephemeral"}`: act_runner
    /// `register` — a new runner in the token's scope. Gitea keeps a registration token valid
    /// until a newer one replaces it (routers/api/v1/shared/runners.go `GetRegistrationToken`);
    /// the fake accepts every token it handed out.
    fn connect(&mut self, credential: &Value) -> Result<u64, Refusal> {
        let labels = strings(credential.get("labels")).map(|l| label_names(&l));
        if let (Some(uuid), Some(token)) = (
            credential.get("uuid").and_then(Value::as_str),
            credential.get("token").and_then(Value::as_str),
        ) {
            let Some(r) = self
                .sim
                .runners
                .values_mut()
                .find(|r| !r.uuid.is_empty() && r.uuid == uuid && r.token == token)
            else {
                return Err(Refusal::new(
                    401,
                    "unknown runner uuid or token (an ephemeral runner's token dies with its job)",
                ));
            };
            r.online = true;
            if let Some(l) = labels {
                r.labels = l;
            }
            r.any_labels = r.labels.is_empty();
            return Ok(r.id);
        }
        let Some(token) = credential.get("registration_token").and_then(Value::as_str) else {
            return Err(Refusal::new(
                400,
                "Gitea runners connect with {\"uuid\", \"token\"} or {\"registration_token\", \"name\", \"labels\"}",
            ));
        };
        let Some((scope, _)) = self.registration_tokens.iter().find(|(_, t)| t == token) else {
            return Err(Refusal::new(401, "runner registration token not found"));
        };
        let name = credential
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("act-runner")
            .to_string();
        let record = RunnerRecord {
            scope: scope.clone(),
            name,
            labels: labels.unwrap_or_default(),
            online: true,
            ephemeral: credential
                .get("ephemeral")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            ..Default::default()
        };
        Ok(self.sim.add_runner(record))
    }

    fn job_payload(&mut self, job: &FakeJob, action: &str) -> Option<JobPayload> {
        let repository_id = self.sim.repo_id(&job.repo);
        let body =
            payloads::gitea_workflow_job_event(action, job, repository_id, &self.sim.base_url)
                .ok()?;
        Some(JobPayload {
            body,
            installation_id: None,
            repository_id: Some(repository_id),
        })
    }
}
