//! The wire protocol between the orchestrator and `sortie agent`, the small program that runs on
//! every machine sortie launches. Plain serde types, no I/O; both ends use them.
//!
//! ```text
//! machine boots, user data starts `sortie agent` with a one-time bootstrap token (sbt_…)
//!   POST {url}/api/v1/agent/bootstrap      Authorization: Bearer sbt_…
//!        → 200 AgentConfig (the token is now dead; a second use answers 410 Gone)
//!   POST {url}/api/v1/agent/report         Authorization: Bearer sas_… (the session token)
//!        AgentReport { phase: booted | registered | job_started | heartbeat | finished, … }
//!        → 200 ReportAnswer { stop: bool }   (stop = the job is over or was cancelled: end now)
//! the agent powers the machine off when the runner exits, when told to stop, or at max_runtime
//! ```
//!
//! Secrets in these types (runner credentials, session token, git password) are plain `String`s
//! because they must cross the wire; every type here redacts them in `Debug`.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Route of the bootstrap exchange.
pub const BOOTSTRAP_PATH: &str = "/api/v1/agent/bootstrap";
/// Route of phase reports and heartbeats.
pub const REPORT_PATH: &str = "/api/v1/agent/report";
/// Prefix of one-time bootstrap tokens. Never 40 hex characters (the shape of a forge token,
/// which the user-data renderer refuses).
pub const BOOTSTRAP_TOKEN_PREFIX: &str = "sbt_";
/// Prefix of agent session tokens.
pub const SESSION_TOKEN_PREFIX: &str = "sas_";

/// What the orchestrator hands the agent in exchange for its bootstrap token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentConfig {
    /// The job's key in text form (`github:octo/app:run/42/1/job/7`).
    pub job: String,
    /// The job's store id.
    pub job_id: i64,
    /// The launch attempt this machine serves.
    pub attempt: u32,
    /// The deterministic runner name (`sortie-<digest>-<attempt>`).
    pub runner_name: String,
    /// How to start the runner.
    pub runner: RunnerLaunch,
    /// Bearer token for [`REPORT_PATH`], valid for this job attempt only.
    pub session_token: String,
    /// Seconds between heartbeats.
    pub heartbeat_interval_secs: u64,
    /// The machine powers itself off after this many seconds, whatever happens.
    pub max_runtime_secs: u64,
    /// Short-lived git access for the job's repository, when the forge can mint one.
    pub git: Option<GitAccess>,
}

impl fmt::Debug for AgentConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentConfig")
            .field("job", &self.job)
            .field("job_id", &self.job_id)
            .field("attempt", &self.attempt)
            .field("runner_name", &self.runner_name)
            .field("runner", &self.runner)
            .field("session_token", &"<redacted>")
            .field("heartbeat_interval_secs", &self.heartbeat_interval_secs)
            .field("max_runtime_secs", &self.max_runtime_secs)
            .field("git", &self.git)
            .finish()
    }
}

/// How the agent starts the forge's runner for exactly one job.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RunnerLaunch {
    /// GitHub: `./run.sh --jitconfig <encoded_jit_config>` in the actions/runner directory. The
    /// JIT runner is ephemeral and registered already; it takes one job and exits.
    GithubJit {
        /// `encoded_jit_config` from `generate-jitconfig`.
        encoded_jit_config: String,
    },
    /// Forgejo's ephemeral runner (already registered through the API): write the runner file
    /// with this uuid and token, then run the daemon for one job.
    EphemeralRunner {
        /// The forge's base URL.
        instance_url: String,
        /// Runner uuid from the registration.
        uuid: String,
        /// Runner token from the registration.
        token: String,
        /// Labels to declare.
        labels: Vec<String>,
    },
    /// Gitea/Forgejo with a registration token obtained at launch time: `act_runner register
    /// --no-interactive --ephemeral --instance URL --token T --name N --labels L`, then
    /// `act_runner daemon` (an ephemeral runner exits after its one job).
    ActRunnerRegister {
        /// The forge's base URL.
        instance_url: String,
        /// The registration token.
        token: String,
        /// Labels to declare.
        labels: Vec<String>,
    },
}

impl RunnerLaunch {
    /// Short name for logs: `github_jit`, `ephemeral_runner`, `act_runner_register`.
    pub fn kind(&self) -> &'static str {
        match self {
            RunnerLaunch::GithubJit { .. } => "github_jit",
            RunnerLaunch::EphemeralRunner { .. } => "ephemeral_runner",
            RunnerLaunch::ActRunnerRegister { .. } => "act_runner_register",
        }
    }
}

impl fmt::Debug for RunnerLaunch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunnerLaunch::GithubJit { .. } => f
                .debug_struct("GithubJit")
                .field("encoded_jit_config", &"<redacted>")
                .finish(),
            RunnerLaunch::EphemeralRunner {
                instance_url,
                uuid,
                labels,
                ..
            } => f
                .debug_struct("EphemeralRunner")
                .field("instance_url", instance_url)
                .field("uuid", uuid)
                .field("token", &"<redacted>")
                .field("labels", labels)
                .finish(),
            RunnerLaunch::ActRunnerRegister {
                instance_url,
                labels,
                ..
            } => f
                .debug_struct("ActRunnerRegister")
                .field("instance_url", instance_url)
                .field("token", &"<redacted>")
                .field("labels", labels)
                .finish(),
        }
    }
}

/// Git access for one repository (a GitHub installation token restricted to the repository with
/// `contents: read`, expiring within the hour).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GitAccess {
    /// The forge's web host, e.g. `github.com`.
    pub host: String,
    /// `owner/name`.
    pub repo: String,
    /// User name for HTTPS basic auth (`x-access-token` on GitHub).
    pub username: String,
    /// The short-lived password.
    pub password: String,
    /// RFC 3339 expiry, when known.
    pub expires_at: Option<String>,
}

impl fmt::Debug for GitAccess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitAccess")
            .field("host", &self.host)
            .field("repo", &self.repo)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A phase of a machine's life, as the agent reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentPhase {
    /// The agent is up and holds its config.
    Booted,
    /// The runner registered with the forge (or was started with its JIT config).
    Registered,
    /// The runner took a job.
    JobStarted,
    /// Still alive.
    Heartbeat,
    /// The runner exited; see `exit_code`.
    Finished,
}

impl AgentPhase {
    /// The snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentPhase::Booted => "booted",
            AgentPhase::Registered => "registered",
            AgentPhase::JobStarted => "job_started",
            AgentPhase::Heartbeat => "heartbeat",
            AgentPhase::Finished => "finished",
        }
    }
}

/// One report from the agent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentReport {
    /// What happened.
    pub phase: AgentPhase,
    /// The runner's exit code (with `finished`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i32>,
    /// Milliseconds since the agent started.
    #[serde(default)]
    pub elapsed_ms: u64,
    /// A short human-readable note (e.g. why the runner could not start). Never a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The orchestrator's answer to a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReportAnswer {
    /// True when the machine should end now (its job is over or was cancelled elsewhere).
    pub stop: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_in_debug() {
        let cfg = AgentConfig {
            job: "github:o/r:run/1/1/job/2".into(),
            job_id: 1,
            attempt: 1,
            runner_name: "sortie-x-1".into(),
            runner: RunnerLaunch::GithubJit {
                encoded_jit_config: "jitSECRET".into(),
            },
            session_token: "sas_SECRET".into(),
            heartbeat_interval_secs: 15,
            max_runtime_secs: 3600,
            git: Some(GitAccess {
                host: "github.com".into(),
                repo: "o/r".into(),
                username: "x-access-token".into(),
                password: "ghs_SECRET".into(),
                expires_at: None,
            }),
        };
        let text = format!("{cfg:?}");
        assert!(!text.contains("SECRET"), "{text}");
        let json = serde_json::to_string(&cfg).unwrap();
        assert!(json.contains("jitSECRET") && json.contains(r#""kind":"github_jit""#));
        let back: AgentConfig = serde_json::from_str(&json).unwrap();
        assert_eq!(back, cfg);
    }

    #[test]
    fn report_wire_shape() {
        let r: AgentReport =
            serde_json::from_str(r#"{"phase":"finished","exit_code":0,"elapsed_ms":5}"#).unwrap();
        assert_eq!(r.phase, AgentPhase::Finished);
        assert_eq!(r.exit_code, Some(0));
        assert!(!BOOTSTRAP_TOKEN_PREFIX
            .chars()
            .all(|c| c.is_ascii_hexdigit()));
    }
}
