//! The [`Provider`] trait and the plain data it takes and returns.

use crate::error::Result;
use crate::interruption::InterruptionEvent;
use serde::{Deserialize, Serialize};
use sortie_core::job::JobKey;
use sortie_core::spec::RunnerSpec;
use std::collections::BTreeMap;
use std::fmt;
use std::time::SystemTime;

/// Tag naming the job an instance was made for (value: [`job_tag_value`]).
pub const TAG_JOB: &str = "sortie:job";
/// Tag naming the sortie installation that owns an instance (the sweep only touches its own).
pub const TAG_OWNER: &str = "sortie:owner";
/// Tag holding the job's repository (`owner/name`).
pub const TAG_REPO: &str = "sortie:repo";
/// Tag holding the launch attempt (1, 2, … after interruptions).
pub const TAG_ATTEMPT: &str = "sortie:attempt";
/// The console's display name; set to the runner name.
pub const TAG_NAME: &str = "Name";

/// The value of the [`TAG_JOB`] tag for a job: 32 hex digits of its key's digest.
pub fn job_tag_value(job: &JobKey) -> String {
    job.digest(32)
}

/// A provider's id for one machine (`i-0abc…` on EC2, `local-…` for processes).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct InstanceId(pub String);

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for InstanceId {
    fn from(s: &str) -> Self {
        InstanceId(s.to_string())
    }
}

/// A one-time secret (bootstrap token or JIT runner config). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct OneTimeSecret(String);

impl OneTimeSecret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        OneTimeSecret(secret.into())
    }
    /// The secret itself; only code that hands it to the machine should call this.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for OneTimeSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OneTimeSecret(***)")
    }
}

/// What the machine needs to find its job: the orchestrator's URL and a one-time credential (or
/// the name of an SSM parameter holding it). Deliberately has no field for a forge token:
/// invariant 4 of the design, "no long-lived secret on an instance".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bootstrap {
    /// Base URL of the sortie orchestrator the agent calls, e.g. `https://ci.example.com`.
    pub orchestrator_url: String,
    /// The one-time credential: a bootstrap token the agent exchanges once (ec2), or the runner's
    /// JIT configuration (local).
    pub credential: OneTimeSecret,
    /// Optional SSM parameter name from which the agent reads its credential instead of user data.
    pub ssm_parameter: Option<String>,
}

/// Everything needed to make one machine for one job.
#[derive(Debug, Clone)]
pub struct LaunchRequest {
    /// The job; its idempotency token and runner name derive from it.
    pub job: JobKey,
    /// Launch attempt, from 1; a relaunch after an interruption uses the next one.
    pub attempt: u32,
    /// What the job needs.
    pub spec: RunnerSpec,
    /// How the machine reaches the orchestrator.
    pub bootstrap: Bootstrap,
    /// Extra tags; the provider adds the `sortie:*` and `Name` tags itself (they win on conflict).
    pub tags: BTreeMap<String, String>,
}

impl LaunchRequest {
    /// The runner name for this job and attempt.
    pub fn runner_name(&self) -> String {
        self.job.runner_name(self.attempt)
    }

    /// The full tag set for the machine: extra tags, then the sortie tags over them.
    pub fn all_tags(&self, owner: &str) -> BTreeMap<String, String> {
        let mut tags = self.tags.clone();
        tags.insert(TAG_JOB.into(), job_tag_value(&self.job));
        tags.insert(TAG_OWNER.into(), owner.into());
        tags.insert(TAG_REPO.into(), self.job.repo().into());
        tags.insert(TAG_ATTEMPT.into(), self.attempt.to_string());
        tags.insert(TAG_NAME.into(), self.runner_name());
        tags
    }
}

/// Spot or on-demand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Lifecycle {
    /// Interruptible, cheaper.
    Spot,
    /// Regular capacity (also used for local processes).
    OnDemand,
}

/// The lifecycle state of a machine (EC2's names; local processes use a subset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceState {
    /// Booting.
    Pending,
    /// Up.
    Running,
    /// Stopping.
    Stopping,
    /// Stopped.
    Stopped,
    /// Terminating.
    ShuttingDown,
    /// Gone.
    Terminated,
    /// A state name this version does not know.
    Unknown,
}

impl InstanceState {
    /// Parses EC2's state names (`pending`, `shutting-down`, …); unknown names give `Unknown`.
    pub fn from_ec2(name: &str) -> Self {
        match name {
            "pending" => InstanceState::Pending,
            "running" => InstanceState::Running,
            "stopping" => InstanceState::Stopping,
            "stopped" => InstanceState::Stopped,
            "shutting-down" => InstanceState::ShuttingDown,
            "terminated" => InstanceState::Terminated,
            _ => InstanceState::Unknown,
        }
    }

    /// Pending or running: the machine can still serve its job.
    pub fn is_live(self) -> bool {
        matches!(self, InstanceState::Pending | InstanceState::Running)
    }
}

/// A candidate the launch did not try, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// Instance type.
    pub instance_type: String,
    /// Availability zone.
    pub availability_zone: String,
    /// Why (e.g. "circuit open until cool-down ends").
    pub reason: String,
}

/// The result of a launch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Launched {
    /// The machine.
    pub instance_id: InstanceId,
    /// Its type (`t3.small`; `local` for processes).
    pub instance_type: String,
    /// Its availability zone, when known.
    pub availability_zone: Option<String>,
    /// Spot or on-demand.
    pub lifecycle: Lifecycle,
    /// True when an existing machine for the same job and attempt was found and returned instead
    /// of making a new one.
    pub adopted: bool,
    /// Candidates skipped because their circuit was open.
    pub skipped: Vec<Skipped>,
    /// What happened on the way, for the job's reasons (e.g. the on-demand fallback).
    pub notes: Vec<String>,
}

/// What a provider knows about one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceInfo {
    /// The machine.
    pub id: InstanceId,
    /// Its state.
    pub state: InstanceState,
    /// Its type.
    pub instance_type: String,
    /// Spot or on-demand.
    pub lifecycle: Lifecycle,
    /// Its availability zone, when known.
    pub availability_zone: Option<String>,
    /// When it was launched.
    pub launched_at: Option<SystemTime>,
    /// Its tags.
    pub tags: BTreeMap<String, String>,
}

/// A place that makes machines for jobs. Object-safe: the server holds `Arc<dyn Provider>`.
#[async_trait::async_trait]
pub trait Provider: Send + Sync {
    /// The provider's name (`local`, `ec2`).
    fn name(&self) -> &str;

    /// Makes (or adopts) the machine for `req.job` at `req.attempt`. Idempotent: a repeated call
    /// for the same job and attempt returns the same machine.
    async fn launch(&self, req: &LaunchRequest) -> Result<Launched>;

    /// The machine's current state; `None` when the provider no longer knows it.
    async fn describe(&self, id: &InstanceId) -> Result<Option<InstanceInfo>>;

    /// Stops and removes the machine. Terminating a machine that is already gone succeeds.
    async fn terminate(&self, id: &InstanceId) -> Result<()>;

    /// Live and recent machines carrying tag `key` = `value`.
    async fn list_by_tag(&self, key: &str, value: &str) -> Result<Vec<InstanceInfo>>;

    /// Every machine tagged as owned by `owner` (what the sweep inspects).
    async fn list_managed(&self, owner: &str) -> Result<Vec<InstanceInfo>> {
        self.list_by_tag(TAG_OWNER, owner).await
    }

    /// Interruption signals the provider observed itself since the last call (the local
    /// provider's time-limit kills). EC2 interruptions arrive as EventBridge events instead; see
    /// [`crate::interruption`].
    async fn drain_interruptions(&self) -> Vec<InterruptionEvent> {
        Vec::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sortie_core::forge::Flavor;

    fn request() -> LaunchRequest {
        LaunchRequest {
            job: JobKey::WorkflowJob {
                forge: Flavor::Github,
                repo: "octo/app".into(),
                run_id: 1,
                run_attempt: 1,
                job_id: 2,
            },
            attempt: 3,
            spec: RunnerSpec::default(),
            bootstrap: Bootstrap {
                orchestrator_url: "https://ci.example".into(),
                credential: OneTimeSecret::new("s3cret"),
                ssm_parameter: None,
            },
            tags: BTreeMap::from([
                ("team".into(), "web".into()),
                (TAG_OWNER.into(), "spoofed".into()),
            ]),
        }
    }

    #[test]
    fn sortie_tags_win_over_extra_tags() {
        let r = request();
        let tags = r.all_tags("prod");
        assert_eq!(tags[TAG_OWNER], "prod");
        assert_eq!(tags[TAG_ATTEMPT], "3");
        assert_eq!(tags[TAG_REPO], "octo/app");
        assert_eq!(tags[TAG_NAME], r.job.runner_name(3));
        assert_eq!(tags[TAG_JOB].len(), 32);
        assert_eq!(tags["team"], "web");
    }

    #[test]
    fn secrets_never_debug_print() {
        let r = request();
        assert!(!format!("{r:?}").contains("s3cret"));
    }

    #[test]
    fn ec2_state_names() {
        assert_eq!(
            InstanceState::from_ec2("shutting-down"),
            InstanceState::ShuttingDown
        );
        assert_eq!(InstanceState::from_ec2("bogus"), InstanceState::Unknown);
        assert!(InstanceState::Pending.is_live() && !InstanceState::Stopped.is_live());
    }
}
