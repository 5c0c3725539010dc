//! The fake runner (`--runner fake`): instead of starting a forge runner, it speaks the fake
//! forge's runner protocol (sortie-testkit) over HTTP, so the demo and tests exercise the whole
//! machine lifecycle without a real forge.
//!
//! ```text
//! POST {forge}/_fake/runner/connect   {"jit_config": cfg} | {"uuid": u, "token": t}
//!                                     | {"registration_token": t, "name": n, "labels": [..], "ephemeral": true}
//!      → 200 {"runner_id": N}
//! POST {forge}/_fake/runner/{id}/next?wait_ms=2000
//!      → 200 {"job_id": N, "run_id": N, "duration_ms": N}  (the job "runs" for duration_ms)
//!      → 204 (nothing yet: poll again)
//! POST {forge}/_fake/runner/{id}/finish  {"job_id": N, "conclusion": "success"}
//! ```
//! The forge's base URL: for GitHub, the standard-base64 JIT config decodes to JSON with
//! `fake_url`; for the Gitea kinds it is `instance_url`.

use super::{RunnerEvent, RunnerLink, RunnerOptions};
use base64::Engine as _;
use serde::Deserialize;
use sortie_core::agent::RunnerLaunch;
use std::time::Duration;

/// How long the fake forge may hold a `next` request open.
const WAIT_MS: u64 = 2000;
/// Pause after a failed request before the next one.
const RETRY_PAUSE: Duration = Duration::from_millis(500);

#[derive(Deserialize)]
struct JitConfig {
    fake_url: String,
}

#[derive(Deserialize)]
struct Connected {
    runner_id: i64,
}

#[derive(Deserialize)]
struct Job {
    job_id: i64,
    duration_ms: u64,
}

/// Connects to the fake forge (the "registration"), then polls for one job in a task.
pub(super) async fn start(
    launch: &RunnerLaunch,
    options: &RunnerOptions,
    link: RunnerLink,
) -> Result<(), String> {
    let (forge, connect) = connect_request(launch, &options.runner_name)?;
    let http = reqwest::Client::builder()
        .timeout(Duration::from_millis(WAIT_MS) + Duration::from_secs(15))
        .build()
        .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
    let response = http
        .post(format!("{forge}/_fake/runner/connect"))
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(connect.to_string())
        .send()
        .await
        .map_err(|e| format!("cannot reach the fake forge at {forge}: {e}"))?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("the fake forge refused the runner (HTTP {status})"));
    }
    let body = response.bytes().await.map_err(|e| e.to_string())?;
    let connected: Connected = serde_json::from_slice(&body)
        .map_err(|e| format!("unreadable answer from the fake forge's connect: {e}"))?;
    tracing::info!(runner_id = connected.runner_id, "fake runner connected");
    let runner = FakeRunner {
        http,
        base: format!("{forge}/_fake/runner/{}", connected.runner_id),
    };
    tokio::spawn(runner.run(link));
    Ok(())
}

/// The forge's base URL and the body of the connect request for `launch`.
fn connect_request(
    launch: &RunnerLaunch,
    runner_name: &str,
) -> Result<(String, serde_json::Value), String> {
    let (forge, body) = match launch {
        RunnerLaunch::GithubJit { encoded_jit_config } => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(encoded_jit_config.trim())
                .map_err(|e| format!("the JIT config is not base64: {e}"))?;
            let jit: JitConfig = serde_json::from_slice(&bytes)
                .map_err(|e| format!("the JIT config has no fake_url: {e}"))?;
            (
                jit.fake_url,
                serde_json::json!({ "jit_config": encoded_jit_config }),
            )
        }
        RunnerLaunch::EphemeralRunner {
            instance_url,
            uuid,
            token,
            ..
        } => (
            instance_url.clone(),
            serde_json::json!({ "uuid": uuid, "token": token }),
        ),
        RunnerLaunch::ActRunnerRegister {
            instance_url,
            token,
            labels,
        } => (
            instance_url.clone(),
            serde_json::json!({
                "registration_token": token,
                "name": runner_name,
                "labels": labels,
                "ephemeral": true,
            }),
        ),
    };
    Ok((forge.trim_end_matches('/').to_owned(), body))
}

struct FakeRunner {
    http: reqwest::Client,
    base: String,
}

impl FakeRunner {
    /// Polls for a job until one comes or the supervisor says stop; runs it; finishes it.
    async fn run(self, link: RunnerLink) {
        let code = tokio::select! {
            code = self.one_job(&link) => code,
            _ = link.stopped() => None,
        };
        link.send(RunnerEvent::Exited(code)).await;
    }

    async fn one_job(&self, link: &RunnerLink) -> Option<i32> {
        let job = self.next_job().await;
        tracing::info!(job_id = job.job_id, "fake runner took a job");
        link.send(RunnerEvent::JobStarted).await;
        tokio::time::sleep(Duration::from_millis(job.duration_ms)).await;
        let body = serde_json::json!({ "job_id": job.job_id, "conclusion": "success" });
        loop {
            match self.post(&format!("{}/finish", self.base), &body).await {
                Ok(r) if r.status().is_success() => return Some(0),
                Ok(r) => tracing::warn!("fake forge refused finish (HTTP {})", r.status()),
                Err(err) => tracing::warn!("fake forge finish failed: {err}"),
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    /// Long-polls `next` until the fake forge hands out a job.
    async fn next_job(&self) -> Job {
        let url = format!("{}/next?wait_ms={WAIT_MS}", self.base);
        loop {
            match self.post(&url, &serde_json::json!({})).await {
                Ok(r) if r.status() == reqwest::StatusCode::NO_CONTENT => continue,
                Ok(r) if r.status().is_success() => match r.bytes().await {
                    Ok(body) => match serde_json::from_slice::<Job>(&body) {
                        Ok(job) => return job,
                        Err(err) => tracing::warn!("unreadable job from the fake forge: {err}"),
                    },
                    Err(err) => tracing::warn!("fake forge next failed: {err}"),
                },
                Ok(r) => tracing::warn!("fake forge refused next (HTTP {})", r.status()),
                Err(err) => tracing::warn!("fake forge next failed: {err}"),
            }
            tokio::time::sleep(RETRY_PAUSE).await;
        }
    }

    async fn post(
        &self,
        url: &str,
        body: &serde_json::Value,
    ) -> Result<reqwest::Response, reqwest::Error> {
        self.http
            .post(url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forge_url_and_connect_body_per_launch_kind() {
        let cfg = base64::engine::general_purpose::STANDARD
            .encode(r#"{"fake_url":"http://127.0.0.1:9/","other":1}"#);
        let (forge, body) = connect_request(
            &RunnerLaunch::GithubJit {
                encoded_jit_config: cfg.clone(),
            },
            "r",
        )
        .unwrap();
        assert_eq!(forge, "http://127.0.0.1:9");
        assert_eq!(body, serde_json::json!({ "jit_config": cfg }));

        let (forge, body) = connect_request(
            &RunnerLaunch::ActRunnerRegister {
                instance_url: "http://gitea:3000".into(),
                token: "reg".into(),
                labels: vec!["a".into(), "b".into()],
            },
            "sortie-x-1",
        )
        .unwrap();
        assert_eq!(forge, "http://gitea:3000");
        assert_eq!(
            body,
            serde_json::json!({"registration_token":"reg","name":"sortie-x-1","labels":["a","b"],"ephemeral":true})
        );

        let (_, body) = connect_request(
            &RunnerLaunch::EphemeralRunner {
                instance_url: "http://forgejo".into(),
                uuid: "u-1".into(),
                token: "t".into(),
                labels: vec![],
            },
            "n",
        )
        .unwrap();
        assert_eq!(body, serde_json::json!({"uuid":"u-1","token":"t"}));

        let bad = RunnerLaunch::GithubJit {
            encoded_jit_config: "not base64!".into(),
        };
        assert!(connect_request(&bad, "r").is_err());
    }
}
