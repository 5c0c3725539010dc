//! Agent sessions: one per job attempt whose machine redeemed its one-time bootstrap token.

use super::JobId;
use crate::clock::Timestamp;
use serde::Serialize;
use sortie_core::agent::AgentPhase;

/// What redeeming a bootstrap token gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redeem {
    /// The token was good: the session now exists (the token is dead from here on).
    Redeemed(AgentSession),
    /// The token was good once, or another token of the same job attempt was redeemed: a second
    /// machine (or a replay) must not get the runner credential.
    AlreadyUsed,
    /// No such token, or it expired.
    Unknown,
}

/// The agent of one job attempt, as far as its reports tell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentSession {
    /// The job.
    pub job: JobId,
    /// The attempt the machine serves.
    pub attempt: u32,
    /// The latest phase reported (heartbeats do not change it); `booted` right after redeeming.
    pub phase: AgentPhase,
    /// When the token was redeemed.
    pub redeemed_at: Timestamp,
    /// The latest report of any kind.
    pub last_seen_at: Timestamp,
    /// First `registered` report.
    pub registered_at: Option<Timestamp>,
    /// First `job_started` report.
    pub job_started_at: Option<Timestamp>,
    /// The `finished` report.
    pub finished_at: Option<Timestamp>,
    /// The runner's exit code, with `finished`.
    pub exit_code: Option<i32>,
}
