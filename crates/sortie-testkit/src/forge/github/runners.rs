//! Self-hosted runners: `generate-jitconfig`, list, delete; and the simulation's side of them
//! (connecting with a JIT config, the `workflow_job` webhooks).
//!
//! Source: GitHub docs, REST "Self-hosted runners": `generate-jitconfig` takes `name`,
//! `runner_group_id`, `labels` (1–100) and `work_folder` and answers 201 with `runner` and
//! `encoded_jit_config`; a name already registered answers 409. A JIT runner is ephemeral: it
//! takes one job and GitHub removes it afterwards.

use super::super::common::{message, page_of, page_params, reply};
use super::super::payloads;
use super::super::sim::{FakeJob, JobPayload, Refusal, RunnerRecord, Sim, SimHost};
use super::{GhState, JitRequest};
use axum::http::Method;
use axum::response::Response;
use base64::Engine;
use serde_json::{json, Value};

/// What the fake's `encoded_jit_config` carries: base64 of this JSON. The real one is base64 of
/// JSON too (`.runner`, `.credentials`, `.credentials_rsaparams`); this one names the fake so a
/// fake runner knows where to connect.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FakeJitConfig {
    /// The fake's base URL: `POST {fake_url}/_fake/runner/connect`.
    pub fake_url: String,
    /// The runner registered for it.
    pub runner_id: u64,
    /// Its name.
    pub runner_name: String,
    /// Its labels.
    #[serde(default)]
    pub labels: Vec<String>,
}

/// Reads a fake `encoded_jit_config`; `None` when it is not one.
pub fn decode_jit_config(encoded: &str) -> Option<FakeJitConfig> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn encode_jit_config(c: &FakeJitConfig) -> String {
    let json = serde_json::to_vec(c).unwrap_or_default();
    base64::engine::general_purpose::STANDARD.encode(json)
}

pub(super) fn route(
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
            let (page, per_page) = page_params(query, "per_page", 30, 100);
            let all: Vec<Value> = s
                .sim
                .runners
                .values()
                .filter(|r| r.scope == scope)
                .map(runner_json)
                .collect();
            let items = page_of(&all, page, per_page);
            reply(200, json!({ "total_count": all.len(), "runners": items }))
        }
        ("DELETE", ["actions", "runners", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match s.sim.runners.get(&id) {
                Some(r) if r.scope == scope => {
                    s.sim.runners.remove(&id);
                    reply(204, Value::Null)
                }
                _ => message(404, "Not Found"),
            }
        }
        _ => message(404, "Not Found"),
    }
}

fn runner_json(r: &RunnerRecord) -> Value {
    let labels: Vec<Value> = r
        .labels
        .iter()
        .enumerate()
        .map(|(i, l)| json!({ "id": i + 1, "name": l, "type": "custom" }))
        .collect();
    json!({ "id": r.id, "name": r.name, "os": "Linux", "status": if r.online { "online" } else { "offline" },
            "busy": r.busy, "ephemeral": r.ephemeral, "labels": labels })
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
    if s.sim
        .runners
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
    let record = RunnerRecord {
        scope: scope.into(),
        name: name.clone(),
        labels: labels.clone(),
        ephemeral: true,
        ..Default::default()
    };
    let id = s.sim.add_runner(record);
    let json_runner = s
        .sim
        .runners
        .get(&id)
        .map(runner_json)
        .unwrap_or(Value::Null);
    let encoded = encode_jit_config(&FakeJitConfig {
        fake_url: s.sim.base_url.clone(),
        runner_id: id,
        runner_name: name.clone(),
        labels: labels.clone(),
    });
    s.jit_configs.insert(encoded.clone(), (id, false));
    s.jit.push(JitRequest {
        scope: scope.into(),
        name,
        runner_group_id: group,
        labels,
        work_folder,
    });
    if std::mem::take(&mut s.lose_next_jit_response) {
        return message(502, "Server Error");
    }
    reply(
        201,
        json!({ "runner": json_runner, "encoded_jit_config": encoded }),
    )
}

impl SimHost for GhState {
    fn sim(&mut self) -> &mut Sim {
        &mut self.sim
    }

    /// A JIT config connects once, while its runner is registered.
    fn connect(&mut self, credential: &Value) -> Result<u64, Refusal> {
        let Some(encoded) = credential.get("jit_config").and_then(Value::as_str) else {
            return Err(Refusal::new(
                400,
                "GitHub runners connect with {\"jit_config\": \"<encoded_jit_config>\"}",
            ));
        };
        let Some((runner_id, spent)) = self.jit_configs.get(encoded).copied() else {
            return Err(Refusal::new(401, "unknown JIT configuration"));
        };
        if spent {
            return Err(Refusal::new(410, "this JIT configuration was used already"));
        }
        let Some(runner) = self.sim.runners.get_mut(&runner_id) else {
            return Err(Refusal::new(
                410,
                &format!("runner {runner_id} of this JIT configuration was deleted"),
            ));
        };
        runner.online = true;
        self.jit_configs
            .insert(encoded.to_string(), (runner_id, true));
        Ok(runner_id)
    }

    fn job_payload(&mut self, job: &FakeJob, action: &str) -> Option<JobPayload> {
        let owner = job.repo.split('/').next().unwrap_or_default();
        let installation = self
            .repo_installations
            .get(&job.repo)
            .or_else(|| self.org_installations.get(owner))
            .copied()
            .unwrap_or(0);
        let repository_id = self.sim.repo_id(&job.repo);
        let body = payloads::github_workflow_job_event(
            action,
            job,
            installation,
            repository_id,
            &self.sim.base_url,
        )
        .ok()?;
        Some(JobPayload {
            body,
            installation_id: Some(installation),
            repository_id: Some(repository_id),
        })
    }
}
