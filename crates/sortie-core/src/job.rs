//! Job identity ([`JobKey`]) and the job state machine ([`JobState`], [`JobEvent`]).
//!
//! Every transition carries a reason a person can read; the store records it with a timestamp.
//! Terminal states absorb later events, so duplicate and out-of-order webhook deliveries converge
//! to the same final state whatever order they arrive in.

use crate::forge::Flavor;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// The identity of one CI job that needs one runner. Stable across retries and replicas: it is the
/// idempotency key of every cloud call made for the job.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum JobKey {
    /// A job the forge announced itself (`workflow_job` webhook, GitHub or Gitea 1.24+).
    WorkflowJob {
        forge: Flavor,
        /// `owner/name`.
        repo: String,
        run_id: u64,
        run_attempt: u32,
        job_id: u64,
    },
    /// A job sortie derived from a `push` (older Gitea/Forgejo, the seed's design).
    Push {
        forge: Flavor,
        repo: String,
        /// The pushed commit.
        commit: String,
        /// Workflow file path within the repository.
        workflow: String,
        /// Job id within the workflow.
        job: String,
        /// Index of the expanded matrix combination (0 when there is no matrix).
        matrix_index: u32,
    },
}

impl JobKey {
    /// A short stable digest of the key, lowercase hex, `len` characters (at most 64).
    pub fn digest(&self, len: usize) -> String {
        let mut hex = hex_sha256(self.to_string().as_bytes());
        hex.truncate(len.min(64));
        hex
    }

    /// The idempotency token for a cloud call made for this job at `attempt` (EC2 `ClientToken`
    /// allows 64 ASCII characters). A retry of the same attempt sends the same token; a relaunch
    /// after an interruption uses the next attempt and so gets a new machine.
    pub fn idempotency_token(&self, attempt: u32) -> String {
        let mut hex = hex_sha256(format!("{self}#{attempt}").as_bytes());
        hex.truncate(48);
        format!("sortie-{hex}")
    }

    /// The deterministic runner name for this job and attempt. Uses 16 hex digits of the digest so
    /// that two jobs of one commit never collide (the seed dispatcher's `runID[:12]` did).
    pub fn runner_name(&self, attempt: u32) -> String {
        format!("sortie-{}-{attempt}", self.digest(16))
    }

    /// The forge this job belongs to.
    pub fn forge(&self) -> Flavor {
        match self {
            JobKey::WorkflowJob { forge, .. } | JobKey::Push { forge, .. } => *forge,
        }
    }

    /// The repository (`owner/name`).
    pub fn repo(&self) -> &str {
        match self {
            JobKey::WorkflowJob { repo, .. } | JobKey::Push { repo, .. } => repo,
        }
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl fmt::Display for JobKey {
    /// Canonical text form, e.g. `github:octo/app:run/42/1/job/7` or
    /// `gitea:octo/app:push/<sha>/.gitea/workflows/ci.yml/build/0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JobKey::WorkflowJob {
                forge,
                repo,
                run_id,
                run_attempt,
                job_id,
            } => {
                write!(f, "{forge}:{repo}:run/{run_id}/{run_attempt}/job/{job_id}")
            }
            JobKey::Push {
                forge,
                repo,
                commit,
                workflow,
                job,
                matrix_index,
            } => {
                write!(
                    f,
                    "{forge}:{repo}:push/{commit}/{workflow}/{job}/{matrix_index}"
                )
            }
        }
    }
}

/// The state of a job. `queued → launching → running → completed | failed | cancelled |
/// timed_out`, with `requeue` edges back to `queued` for interruptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting for a machine.
    Queued,
    /// A machine is being made for it.
    Launching,
    /// A runner has taken the job.
    Running,
    /// Finished successfully (or with a job failure the forge reports as concluded).
    Completed,
    /// sortie could not serve it, or the forge reports failure; see the reason.
    Failed,
    /// Cancelled on the forge.
    Cancelled,
    /// Exceeded a time limit.
    TimedOut,
}

impl JobState {
    /// All states, in lifecycle order.
    pub const ALL: [JobState; 7] = [
        JobState::Queued,
        JobState::Launching,
        JobState::Running,
        JobState::Completed,
        JobState::Failed,
        JobState::Cancelled,
        JobState::TimedOut,
    ];

    /// Terminal states absorb every later event.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Completed | JobState::Failed | JobState::Cancelled | JobState::TimedOut
        )
    }

    /// The snake_case name used in the store, API and CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Launching => "launching",
            JobState::Running => "running",
            JobState::Completed => "completed",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
            JobState::TimedOut => "timed_out",
        }
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JobState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        JobState::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| format!("unknown job state {s:?}"))
    }
}

/// Something that happened to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobEvent {
    /// A dispatcher started making a machine.
    Launch,
    /// The forge (or the agent) reports that a runner took the job.
    Started,
    /// The forge reports the job finished successfully.
    Succeeded,
    /// The job cannot be served or the forge reports failure.
    Fail,
    /// The forge reports cancellation.
    Cancel,
    /// A time limit passed.
    TimeOut,
    /// The machine went away before the job finished (spot interruption, boot failure): queue again.
    Requeue,
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// The state changed to the given one.
    To(JobState),
    /// The event repeats what is already true (duplicate delivery); nothing to record.
    Unchanged,
    /// The event does not apply in this state (e.g. a late `in_progress` after `completed`);
    /// it is ignored, and the reason may be logged.
    Ignored(&'static str),
}

impl JobState {
    /// Applies `event` to this state. Pure; never panics.
    pub fn apply(self, event: JobEvent) -> Transition {
        use JobEvent as E;
        use JobState as S;
        if self.is_terminal() {
            return match (self, event) {
                (S::Completed, E::Succeeded)
                | (S::Failed, E::Fail)
                | (S::Cancelled, E::Cancel)
                | (S::TimedOut, E::TimeOut) => Transition::Unchanged,
                _ => Transition::Ignored("job already finished"),
            };
        }
        match (self, event) {
            (S::Queued, E::Launch) => Transition::To(S::Launching),
            (S::Launching, E::Launch) => Transition::Unchanged,
            (S::Running, E::Launch) => Transition::Ignored("job already running"),
            // A forge may report in_progress before we recorded the launch (out of order, or a
            // runner launched for another job took this one): follow the forge.
            (S::Queued | S::Launching, E::Started) => Transition::To(S::Running),
            (S::Running, E::Started) => Transition::Unchanged,
            (_, E::Succeeded) => Transition::To(S::Completed),
            (_, E::Fail) => Transition::To(S::Failed),
            (_, E::Cancel) => Transition::To(S::Cancelled),
            (_, E::TimeOut) => Transition::To(S::TimedOut),
            (S::Queued, E::Requeue) => Transition::Unchanged,
            (S::Launching | S::Running, E::Requeue) => Transition::To(S::Queued),
            (S::Completed | S::Failed | S::Cancelled | S::TimedOut, _) => {
                Transition::Ignored("job already finished")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn key() -> JobKey {
        JobKey::WorkflowJob {
            forge: Flavor::Github,
            repo: "octo/app".into(),
            run_id: 42,
            run_attempt: 1,
            job_id: 7,
        }
    }

    #[test]
    fn key_text_and_tokens() {
        assert_eq!(key().to_string(), "github:octo/app:run/42/1/job/7");
        assert_eq!(key().idempotency_token(1), key().idempotency_token(1));
        assert_ne!(key().idempotency_token(1), key().idempotency_token(2));
        assert!(key().idempotency_token(1).len() <= 64);
        assert!(key().runner_name(1).starts_with("sortie-"));
    }

    #[test]
    fn push_keys_of_one_commit_differ() {
        let mk = |job: &str, i| JobKey::Push {
            forge: Flavor::Gitea,
            repo: "o/r".into(),
            commit: "abc".into(),
            workflow: ".gitea/workflows/ci.yml".into(),
            job: job.into(),
            matrix_index: i,
        };
        assert_ne!(mk("build", 0).runner_name(1), mk("build", 1).runner_name(1));
        assert_ne!(
            mk("build", 0).runner_name(1),
            mk("deploy", 0).runner_name(1)
        );
    }

    #[test]
    fn happy_path() {
        let s = JobState::Queued;
        assert_eq!(
            s.apply(JobEvent::Launch),
            Transition::To(JobState::Launching)
        );
        assert_eq!(
            JobState::Launching.apply(JobEvent::Started),
            Transition::To(JobState::Running)
        );
        assert_eq!(
            JobState::Running.apply(JobEvent::Succeeded),
            Transition::To(JobState::Completed)
        );
        assert_eq!(
            JobState::Running.apply(JobEvent::Requeue),
            Transition::To(JobState::Queued)
        );
        assert!(matches!(
            JobState::Completed.apply(JobEvent::Started),
            Transition::Ignored(_)
        ));
    }

    fn any_event() -> impl Strategy<Value = JobEvent> {
        prop_oneof![
            Just(JobEvent::Launch),
            Just(JobEvent::Started),
            Just(JobEvent::Succeeded),
            Just(JobEvent::Fail),
            Just(JobEvent::Cancel),
            Just(JobEvent::TimeOut),
            Just(JobEvent::Requeue),
        ]
    }

    fn run(events: &[JobEvent]) -> JobState {
        events
            .iter()
            .fold(JobState::Queued, |s, e| match s.apply(*e) {
                Transition::To(n) => n,
                _ => s,
            })
    }

    proptest! {
        /// Once terminal, always terminal and never changed.
        #[test]
        fn terminal_absorbs(events in proptest::collection::vec(any_event(), 0..20)) {
            let mut s = JobState::Queued;
            let mut first_terminal = None;
            for e in events {
                if let Transition::To(n) = s.apply(e) { s = n; }
                if s.is_terminal() && first_terminal.is_none() { first_terminal = Some(s); }
                if let Some(t) = first_terminal { prop_assert_eq!(s, t); }
            }
        }

        /// Deliveries of the forge's terminal event converge: whatever came before, a duplicate
        /// or reordered `completed` delivery ends in `completed`.
        #[test]
        fn completed_wins_regardless_of_order(mut events in proptest::collection::vec(
            prop_oneof![Just(JobEvent::Launch), Just(JobEvent::Started), Just(JobEvent::Requeue)], 0..10),
            pos in 0usize..10) {
            let at = pos.min(events.len());
            events.insert(at, JobEvent::Succeeded);
            prop_assert_eq!(run(&events), JobState::Completed);
        }

        /// Every state name round-trips.
        #[test]
        fn names_round_trip(i in 0usize..7) {
            let s = JobState::ALL[i];
            prop_assert_eq!(s.as_str().parse::<JobState>().unwrap(), s);
        }
    }
}
