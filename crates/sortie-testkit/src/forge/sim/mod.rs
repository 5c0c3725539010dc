//! The forge simulation both fakes share: workflow runs and jobs, self-hosted runners that take
//! jobs by their labels the way the forges hand them out, the runner endpoints `sortie agent`
//! calls in its fake-runner mode ([`runner_api`]), and webhook deliveries ([`deliver`]).
//!
//! Semantics mirrored:
//! - GitHub gives an idle online runner *any* queued job whose labels are all among the runner's
//!   labels (case-insensitive); a JIT config does not pin a job (GitHub docs, "Using labels with
//!   self-hosted runners" and "Autoscaling with self-hosted runners" → "Using ephemeral runners
//!   for autoscaling"). Ephemeral (JIT) runners are removed after their one job.
//! - Gitea picks, for a polling runner, the first waiting job it `CanMatchLabels` (runner labels
//!   a superset of `runs-on`, compared case-sensitively): go-gitea/gitea `services/actions/task.go`
//!   `PickTask`, `models/actions/runner.go` `CanMatchLabels`. An ephemeral runner whose task is
//!   done is deleted (`PickTask` on its next fetch, and `services/actions/cleanup.go`
//!   `CleanupEphemeralRunners`); the fake removes it as soon as the job completes.

mod deliver;
mod ops;
pub(crate) mod runner_api;

pub use deliver::Delivery;
pub(crate) use deliver::{flush, spawn_worker, HookKind, Hooks};
pub(crate) use ops::{cancel, queue};
pub(crate) use runner_api::is_sim_path;

use axum::response::Response;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use time::OffsetDateTime;
use tokio::sync::Notify;

use super::common::message;

/// Which queued job an idle runner is given when several match its labels. Real forges promise
/// no order; tests pick one to make runners take jobs other than the ones they were launched for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Assignment {
    /// The job queued first (the default).
    #[default]
    OldestFirst,
    /// The job queued last.
    NewestFirst,
    /// A pseudo-random matching job, reproducible from the seed.
    Random(u64),
}

/// A test's own choice of job for a runner: given the runner's name and the queued jobs it may
/// take (oldest first), the id of the one it gets, or `None` for none now. Overrides
/// [`Assignment`] while set (`FakeGithub::set_chooser`).
pub type Chooser = Arc<dyn Fn(&str, &[FakeJob]) -> Option<u64> + Send + Sync>;

/// A job's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for a runner.
    Queued,
    /// A runner took it.
    InProgress,
    /// Finished, cancelled or failed; see [`FakeJob::conclusion`].
    Completed,
}

impl JobStatus {
    /// `queued`, `in_progress` or `completed`, as the forges spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::InProgress => "in_progress",
            JobStatus::Completed => "completed",
        }
    }
}

/// One workflow job in the simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeJob {
    /// Job id.
    pub id: u64,
    /// Workflow run id.
    pub run_id: u64,
    /// Run attempt (1 for the first).
    pub run_attempt: u32,
    /// Repository, `owner/name`.
    pub repo: String,
    /// Job name.
    pub name: String,
    /// `runs-on` labels.
    pub labels: Vec<String>,
    /// Status.
    pub status: JobStatus,
    /// `success`, `failure`, `cancelled` once completed.
    pub conclusion: Option<String>,
    /// The runner that took it.
    pub runner_id: Option<u64>,
    /// That runner's name.
    pub runner_name: Option<String>,
    /// When it was queued.
    pub created_at: OffsetDateTime,
    /// When a runner took it.
    pub started_at: Option<OffsetDateTime>,
    /// When it completed.
    pub completed_at: Option<OffsetDateTime>,
    /// Commit the run is for.
    pub head_sha: String,
    /// Branch the run is for.
    pub head_branch: String,
    /// The workflow's name.
    pub workflow_name: String,
}

/// A workflow run: the jobs of one workflow at one commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FakeRun {
    pub id: u64,
    pub attempt: u32,
    pub repo: String,
    pub workflow_name: String,
    pub path: String,
    pub event: String,
    pub head_sha: String,
    pub head_branch: String,
    pub run_number: u64,
    pub created_at: OffsetDateTime,
}

/// A registered runner, as both fakes keep them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct RunnerRecord {
    pub id: u64,
    /// `repo:owner/name`, `org:login` or `instance`.
    pub scope: String,
    pub name: String,
    pub labels: Vec<String>,
    pub online: bool,
    pub busy: bool,
    pub ephemeral: bool,
    /// Forgejo's registration answer (uuid and token), empty otherwise.
    pub uuid: String,
    pub token: String,
    /// The job it runs now.
    pub job: Option<u64>,
    /// Takes jobs whatever their labels (a Forgejo runner that declared none to the fake).
    pub any_labels: bool,
}

/// What a queued job is made of.
#[derive(Debug, Clone)]
pub(crate) struct JobSpec {
    pub repo: String,
    pub run_id: Option<u64>,
    pub run_attempt: u32,
    pub name: String,
    pub labels: Vec<String>,
    pub head_sha: Option<String>,
    pub head_branch: String,
    pub event: String,
}

impl JobSpec {
    pub(crate) fn new(repo: &str, name: &str, labels: &[&str]) -> JobSpec {
        JobSpec {
            repo: repo.to_string(),
            run_id: None,
            run_attempt: 1,
            name: name.to_string(),
            labels: labels.iter().map(|l| l.to_string()).collect(),
            head_sha: None,
            head_branch: "main".into(),
            event: "push".into(),
        }
    }
}

/// The body of a `workflow_job` webhook and what the delivery record names.
pub(crate) struct JobPayload {
    pub body: Vec<u8>,
    pub installation_id: Option<u64>,
    pub repository_id: Option<u64>,
}

/// A refusal to serve a runner request: HTTP status and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal(pub u16, pub String);

impl Refusal {
    pub(crate) fn new(status: u16, msg: &str) -> Refusal {
        Refusal(status, msg.to_string())
    }

    pub(crate) fn response(&self) -> Response {
        message(self.0, &self.1)
    }
}

/// A fake forge's state seen by the simulation.
pub(crate) trait SimHost: Send + 'static {
    /// The simulation inside the fake's state.
    fn sim(&mut self) -> &mut Sim;
    /// Checks a runner's connect credential (`POST /_fake/runner/connect`), registering the
    /// runner where the credential does that; the runner id, or the refusal to answer.
    fn connect(&mut self, credential: &Value) -> Result<u64, Refusal>;
    /// The `workflow_job` webhook body for `job` after `action`.
    fn job_payload(&mut self, job: &FakeJob, action: &str) -> Option<JobPayload>;
}

/// The simulation's state.
pub(crate) struct Sim {
    /// The fake's base URL (`http://127.0.0.1:PORT`).
    pub base_url: String,
    pub runners: BTreeMap<u64, RunnerRecord>,
    next_runner_id: u64,
    jobs: BTreeMap<u64, FakeJob>,
    runs: BTreeMap<u64, FakeRun>,
    next_job_id: u64,
    next_run_id: u64,
    run_numbers: HashMap<String, u64>,
    repo_ids: HashMap<String, u64>,
    assignment: Assignment,
    /// Overrides `assignment` when set.
    pub chooser: Option<Chooser>,
    rng: u64,
    pub job_duration: Duration,
    /// The workflow file runs are made from (`path` of a run).
    pub workflow_path: String,
    /// Whether job changes send `workflow_job` webhooks.
    pub workflow_job_webhooks: bool,
    /// GitHub compares labels case-insensitively, Gitea exactly.
    labels_ignore_case: bool,
    /// Woken when a job is queued, so long-polling runners look again.
    pub notify: Arc<Notify>,
    pub hooks: Hooks,
}

impl Sim {
    pub(crate) fn new(
        kind: HookKind,
        workflow_job_webhooks: bool,
        labels_ignore_case: bool,
    ) -> Sim {
        Sim {
            base_url: String::new(),
            runners: BTreeMap::new(),
            next_runner_id: 1,
            jobs: BTreeMap::new(),
            runs: BTreeMap::new(),
            next_job_id: 20_000_001,
            next_run_id: 10_000_001,
            run_numbers: HashMap::new(),
            repo_ids: HashMap::new(),
            assignment: Assignment::OldestFirst,
            chooser: None,
            rng: 0,
            job_duration: Duration::from_millis(200),
            workflow_path: ".github/workflows/ci.yml".into(),
            workflow_job_webhooks,
            labels_ignore_case,
            notify: Arc::new(Notify::new()),
            hooks: Hooks::new(kind),
        }
    }

    /// Registers a runner and returns its id.
    pub(crate) fn add_runner(&mut self, r: RunnerRecord) -> u64 {
        let id = self.next_runner_id;
        self.next_runner_id += 1;
        self.runners.insert(id, RunnerRecord { id, ..r });
        id
    }

    /// A stable numeric id for a repository (what payloads call `repository.id`).
    pub(crate) fn repo_id(&mut self, repo: &str) -> u64 {
        let next = 186_853_001 + self.repo_ids.len() as u64;
        *self.repo_ids.entry(repo.to_string()).or_insert(next)
    }

    pub(crate) fn set_assignment(&mut self, a: Assignment) {
        self.assignment = a;
        if let Assignment::Random(seed) = a {
            self.rng = seed;
        }
    }

    /// Every job, oldest first.
    pub(crate) fn jobs(&self) -> Vec<FakeJob> {
        self.jobs.values().cloned().collect()
    }

    pub(crate) fn job(&self, id: u64) -> Option<&FakeJob> {
        self.jobs.get(&id)
    }

    pub(crate) fn run(&self, id: u64) -> Option<&FakeRun> {
        self.runs.get(&id)
    }

    /// Runs, oldest first.
    pub(crate) fn runs(&self) -> impl Iterator<Item = &FakeRun> {
        self.runs.values()
    }

    /// Jobs of a run: every attempt, or only `attempt`.
    pub(crate) fn jobs_of_run(&self, run_id: u64, attempt: Option<u32>) -> Vec<&FakeJob> {
        self.jobs
            .values()
            .filter(|j| j.run_id == run_id && attempt.is_none_or(|a| j.run_attempt == a))
            .collect()
    }

    /// A run's status and conclusion, derived from the jobs of its latest attempt as GitHub and
    /// Gitea do: in progress while any job runs, completed when all are, else queued.
    pub(crate) fn run_state(&self, run: &FakeRun) -> (JobStatus, Option<String>) {
        let jobs = self.jobs_of_run(run.id, Some(run.attempt));
        if jobs.iter().any(|j| j.status == JobStatus::InProgress) {
            return (JobStatus::InProgress, None);
        }
        if jobs.is_empty() || jobs.iter().any(|j| j.status == JobStatus::Queued) {
            return (JobStatus::Queued, None);
        }
        let has = |c: &str| jobs.iter().any(|j| j.conclusion.as_deref() == Some(c));
        let conclusion = if has("failure") {
            "failure"
        } else if has("cancelled") {
            "cancelled"
        } else {
            "success"
        };
        (JobStatus::Completed, Some(conclusion.to_string()))
    }

    /// Creates a job (and its run when new); no webhook.
    pub(crate) fn new_job(&mut self, spec: JobSpec) -> FakeJob {
        let now = now();
        let run_id = spec.run_id.unwrap_or_else(|| {
            let id = self.next_run_id;
            self.next_run_id += 1;
            id
        });
        let existing = self.runs.get(&run_id).cloned();
        let run = match existing {
            Some(mut r) => {
                r.attempt = r.attempt.max(spec.run_attempt);
                r
            }
            None => {
                let n = self.run_numbers.entry(spec.repo.clone()).or_insert(0);
                *n += 1;
                FakeRun {
                    id: run_id,
                    attempt: spec.run_attempt,
                    repo: spec.repo.clone(),
                    workflow_name: "CI".into(),
                    path: self.workflow_path.clone(),
                    event: spec.event.clone(),
                    head_sha: spec.head_sha.clone().unwrap_or_else(|| fake_sha(run_id)),
                    head_branch: spec.head_branch.clone(),
                    run_number: *n,
                    created_at: now,
                }
            }
        };
        self.next_run_id = self.next_run_id.max(run_id.saturating_add(1));
        let id = self.next_job_id;
        self.next_job_id += 1;
        let job = FakeJob {
            id,
            run_id,
            run_attempt: spec.run_attempt,
            repo: spec.repo,
            name: spec.name,
            labels: spec.labels,
            status: JobStatus::Queued,
            conclusion: None,
            runner_id: None,
            runner_name: None,
            created_at: now,
            started_at: None,
            completed_at: None,
            head_sha: run.head_sha.clone(),
            head_branch: run.head_branch.clone(),
            workflow_name: run.workflow_name.clone(),
        };
        self.runs.insert(run_id, run);
        self.jobs.insert(id, job.clone());
        job
    }

    /// Whether a runner with `labels` may run a job with `wanted`.
    fn labels_match(&self, runner: &[String], wanted: &[String]) -> bool {
        wanted.iter().all(|w| {
            runner.iter().any(|r| {
                if self.labels_ignore_case {
                    r.eq_ignore_ascii_case(w)
                } else {
                    r == w
                }
            })
        })
    }

    /// The queued job `runner` would be given now, by the assignment order.
    fn pick(&mut self, runner: &RunnerRecord) -> Option<u64> {
        let candidates: Vec<u64> = self
            .jobs
            .values()
            .filter(|j| j.status == JobStatus::Queued)
            .filter(|j| in_scope(&runner.scope, &j.repo))
            .filter(|j| runner.any_labels || self.labels_match(&runner.labels, &j.labels))
            .map(|j| j.id)
            .collect();
        if let Some(choose) = &self.chooser {
            let jobs: Vec<FakeJob> = candidates
                .iter()
                .filter_map(|id| self.jobs.get(id).cloned())
                .collect();
            return choose(&runner.name, &jobs).filter(|id| candidates.contains(id));
        }
        match self.assignment {
            Assignment::OldestFirst => candidates.first().copied(),
            Assignment::NewestFirst => candidates.last().copied(),
            Assignment::Random(_) if candidates.is_empty() => None,
            Assignment::Random(_) => {
                let i = splitmix64(&mut self.rng) % candidates.len() as u64;
                candidates.get(i as usize).copied()
            }
        }
    }

    /// Marks a job completed and frees (or, when ephemeral, removes) its runner. False when the
    /// job is unknown or already completed.
    fn complete(&mut self, job_id: u64, conclusion: &str) -> bool {
        let Some(job) = self.jobs.get_mut(&job_id) else {
            return false;
        };
        if job.status == JobStatus::Completed {
            return false;
        }
        job.status = JobStatus::Completed;
        job.conclusion = Some(conclusion.to_string());
        job.completed_at = Some(now());
        if let Some(rid) = job.runner_id {
            let ephemeral = self.runners.get(&rid).is_some_and(|r| r.ephemeral);
            if ephemeral {
                self.runners.remove(&rid);
            } else if let Some(r) = self.runners.get_mut(&rid) {
                r.busy = false;
                r.job = None;
            }
        }
        true
    }
}

/// Whether a runner registered at `scope` may take jobs of `repo`.
fn in_scope(scope: &str, repo: &str) -> bool {
    if scope == "instance" {
        return true;
    }
    if let Some(r) = scope.strip_prefix("repo:") {
        return r.eq_ignore_ascii_case(repo);
    }
    if let Some(org) = scope.strip_prefix("org:") {
        let owner = repo.split('/').next().unwrap_or_default();
        return owner.eq_ignore_ascii_case(org);
    }
    false
}

/// Now, to the second (the forges send whole seconds).
pub(crate) fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}

/// RFC 3339 in UTC, `2030-01-01T00:00:00Z`.
pub(crate) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// A deterministic 40-hex commit id.
fn fake_sha(seed: u64) -> String {
    let mut s = seed;
    (0..3)
        .map(|_| format!("{:016x}", splitmix64(&mut s)))
        .collect::<String>()[..40]
        .to_string()
}

/// splitmix64: a tiny, good-enough PRNG for reproducible choices.
pub(crate) fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Strips an act_runner label's scheme (`ubuntu-latest:docker://node:20` → `ubuntu-latest`):
/// Gitea matches `runs-on` against the names only.
pub(crate) fn label_names(labels: &[String]) -> Vec<String> {
    labels
        .iter()
        .map(|l| l.split(':').next().unwrap_or(l).to_string())
        .filter(|l| !l.is_empty())
        .collect()
}
