//! Per-phase deadlines of a launching machine (issue 9): the agent reports booted → registered →
//! job started, and each phase has its own deadline per provider, measured from the previous
//! phase (from the launch for the first):
//!
//! | phase | from | to | setting |
//! |---|---|---|---|
//! | [`Phase::Boot`] | instance recorded | bootstrap token redeemed (`booted`) | `deadlines.<provider>.boot_secs` |
//! | [`Phase::Register`] | `booted` | first `registered` report | `deadlines.<provider>.register_secs` |
//! | [`Phase::JobStart`] | `registered` | first `job_started` report | `deadlines.<provider>.job_start_secs` |
//!
//! `dispatch.launching_timeout_secs` stays the overall bound from the launch to the job started
//! (and the default of `job_start_secs`): whichever comes first ends the machine.
//!
//! Everything here is pure: [`check`] takes plain times and answers; the dispatcher acts.

use sortie_store::Timestamp;
use std::time::Duration;

/// A phase a launching machine must get through before its deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Launched → the agent booted (redeemed its bootstrap token).
    Boot,
    /// Booted → the runner registered with the forge.
    Register,
    /// Registered → the runner took the job.
    JobStart,
}

impl Phase {
    /// Every phase, in order.
    pub const ALL: [Phase; 3] = [Phase::Boot, Phase::Register, Phase::JobStart];

    /// The key of this phase's deadline in `[deadlines.<provider>]`.
    pub fn key(self) -> &'static str {
        match self {
            Phase::Boot => "boot_secs",
            Phase::Register => "register_secs",
            Phase::JobStart => "job_start_secs",
        }
    }
}

/// The deadlines of one provider, resolved (see [`DeadlineSettings::resolve`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PhaseDeadlines {
    /// Launch → booted.
    pub boot: Duration,
    /// Booted → registered.
    pub register: Duration,
    /// Registered → job started.
    pub job_start: Duration,
}

impl PhaseDeadlines {
    /// The deadline of `phase`.
    pub fn of(&self, phase: Phase) -> Duration {
        match phase {
            Phase::Boot => self.boot,
            Phase::Register => self.register,
            Phase::JobStart => self.job_start,
        }
    }
}

/// `[deadlines.<provider>]` as given: an unset key takes the built-in default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DeadlineSettings {
    /// `boot_secs` / `SORTIE_DEADLINES_<PROVIDER>_BOOT_SECS`.
    pub boot: Option<Duration>,
    /// `register_secs` / `SORTIE_DEADLINES_<PROVIDER>_REGISTER_SECS`.
    pub register: Option<Duration>,
    /// `job_start_secs` / `SORTIE_DEADLINES_<PROVIDER>_JOB_START_SECS`.
    pub job_start: Option<Duration>,
}

impl DeadlineSettings {
    /// The setting of `phase`.
    pub fn get(&self, phase: Phase) -> Option<Duration> {
        match phase {
            Phase::Boot => self.boot,
            Phase::Register => self.register,
            Phase::JobStart => self.job_start,
        }
    }

    /// Sets `phase`.
    pub fn set(&mut self, phase: Phase, value: Duration) {
        match phase {
            Phase::Boot => self.boot = Some(value),
            Phase::Register => self.register = Some(value),
            Phase::JobStart => self.job_start = Some(value),
        }
    }

    /// These settings over the built-in defaults of `provider`:
    /// - `ec2`: boot 300 s (a spot request, the AMI's boot, cloud-init and the agent's download
    ///   take one to three minutes in practice), register 180 s (the runner's download and its
    ///   registration call);
    /// - `local`: boot 60 s (a process start), register 120 s;
    /// - any other provider: `launching_timeout`, so only the overall bound applies.
    ///
    /// `job_start` defaults to `launching_timeout` everywhere: once registered, a runner waits
    /// for the forge to hand it the job, which no provider makes faster.
    pub fn resolve(&self, provider: &str, launching_timeout: Duration) -> PhaseDeadlines {
        let (boot, register) = match provider {
            "ec2" => (Duration::from_secs(300), Duration::from_secs(180)),
            "local" => (Duration::from_secs(60), Duration::from_secs(120)),
            _ => (launching_timeout, launching_timeout),
        };
        PhaseDeadlines {
            boot: self.boot.unwrap_or(boot),
            register: self.register.unwrap_or(register),
            job_start: self.job_start.unwrap_or(launching_timeout),
        }
    }
}

/// What the store knows of one machine attempt, as plain times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// When the machine's instance was recorded.
    pub launched: Timestamp,
    /// When its agent redeemed the bootstrap token.
    pub booted: Option<Timestamp>,
    /// Its first `registered` report.
    pub registered: Option<Timestamp>,
    /// Its first `job_started` report.
    pub job_started: Option<Timestamp>,
    /// Its `finished` report.
    pub finished: Option<Timestamp>,
}

/// The deadline a machine missed, or must meet next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// The phase's own deadline (`deadlines.<provider>.<phase>_secs`).
    Phase(Phase),
    /// The overall bound from the launch (`dispatch.launching_timeout_secs`).
    Launching,
}

/// The answer of [`check`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The runner took a job and has not finished: never ended from here (the sweeper and the
    /// reconciler decide, with the forge's word).
    Busy,
    /// Within its deadlines; nothing can be missed before `check_at`.
    OnTime {
        /// The phase the machine is in (`None`: its runner already exited).
        phase: Option<Phase>,
        /// The deadline that comes next.
        deadline: Deadline,
        /// When it passes.
        check_at: Timestamp,
    },
    /// A deadline passed.
    Missed(Miss),
}

/// A missed deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Miss {
    /// The phase the machine was stuck in (`None`: its runner exited without this job starting).
    pub phase: Option<Phase>,
    /// Which deadline passed.
    pub deadline: Deadline,
    /// Its length.
    pub limit: Duration,
}

/// Decides whether a launching machine met the deadline of the phase it is in, and the overall
/// `launching_timeout` from its launch. A phase done late is done: only the phase the machine is
/// in now counts. When both deadlines pass at the same moment the phase's is named (it says
/// more).
pub fn check(
    progress: &Progress,
    now: Timestamp,
    deadlines: &PhaseDeadlines,
    launching_timeout: Duration,
) -> Verdict {
    let p = progress;
    if p.job_started.is_some() && p.finished.is_none() {
        return Verdict::Busy;
    }
    // The phase the machine is in, and when that phase started.
    let current = match (p.job_started, p.registered, p.booted) {
        (Some(_), _, _) => None,
        (None, Some(at), _) => Some((Phase::JobStart, at)),
        (None, None, Some(at)) => Some((Phase::Register, at)),
        (None, None, None) => Some((Phase::Boot, p.launched)),
    };
    let overall = (
        Deadline::Launching,
        launching_timeout,
        p.launched.plus(launching_timeout),
    );
    let next = match current {
        Some((phase, since)) => {
            let limit = deadlines.of(phase);
            let at = since.plus(limit);
            if at <= overall.2 {
                (Deadline::Phase(phase), limit, at)
            } else {
                overall
            }
        }
        None => overall,
    };
    let phase = current.map(|(phase, _)| phase);
    let (deadline, limit, at) = next;
    if now >= at {
        Verdict::Missed(Miss {
            phase,
            deadline,
            limit,
        })
    } else {
        Verdict::OnTime {
            phase,
            deadline,
            check_at: at,
        }
    }
}

/// How long the dispatcher holds its claim on an on-time machine's job: until `check_at`, when
/// the next deadline can be checked, but at most `cap` (`dispatch.claim_ttl_secs`) so that a
/// phase reached meanwhile, which may bring its own earlier deadline, is looked at soon. At
/// least a millisecond: a claim of zero would be taken again at once.
pub fn recheck_in(now: Timestamp, check_at: Timestamp, cap: Duration) -> Duration {
    let ms = check_at.as_millis().saturating_sub(now.as_millis()).max(1);
    Duration::from_millis(u64::try_from(ms).unwrap_or(u64::MAX)).min(cap)
}

impl Miss {
    /// The job's reason for this miss: what the machine did not do, within how long of what,
    /// and the setting that says so. `machine` is the provider's id, `provider` its name.
    pub fn describe(&self, machine: &str, provider: &str) -> String {
        let secs = self.limit.as_secs();
        let (from, setting) = match self.deadline {
            Deadline::Phase(phase) => (
                match phase {
                    Phase::Boot => "its launch",
                    Phase::Register => "booting",
                    Phase::JobStart => "registering",
                },
                format!("deadlines.{provider}.{}", phase.key()),
            ),
            Deadline::Launching => ("its launch", "dispatch.launching_timeout_secs".to_string()),
        };
        let what = match self.phase {
            Some(Phase::Boot) => {
                "never asked for its runner credential (did it boot? can it reach the \
                 orchestrator's public_url?)"
            }
            Some(Phase::Register) => match self.deadline {
                Deadline::Phase(_) => "did not register its runner",
                Deadline::Launching => "booted but did not register its runner",
            },
            Some(Phase::JobStart) => "registered its runner, which took no job",
            None => "ran its runner, which exited without this job starting,",
        };
        format!("machine {machine} {what} within {secs}s of {from} (deadline {setting})")
    }
}

#[cfg(test)]
#[path = "deadlines_tests.rs"]
mod tests;
