//! What one EC2 interruption event means for one of our instances and its job: pure.

use sortie_core::job::JobState;
use sortie_provider::interruption::{InterruptionKind, SpotAction};
use sortie_provider::InstanceState as Ec2State;
use sortie_store::InstanceState;

/// What the store says about the instance the event names, and its job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen {
    /// The instance's recorded state.
    pub instance_state: InstanceState,
    /// The job attempt the instance was launched for.
    pub instance_attempt: u32,
    /// The job's current state.
    pub job_state: JobState,
    /// The job's current attempt.
    pub job_attempt: u32,
}

/// What to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The instance state to record; `None` keeps the recorded one.
    pub instance_state: Option<InstanceState>,
    /// `Some(reason)`: apply `JobEvent::Requeue` with this reason.
    pub requeue: Option<String>,
    /// One line for the answer and the log.
    pub outcome: String,
}

/// Decides what `kind` means for instance `instance_id` given what the store has.
///
/// The job is requeued once per interruption: only when the job is launching or running *the
/// attempt this instance was launched for*. A requeue moves the attempt on, so the same event
/// again (EventBridge delivers at least once) or the state changes that follow a spot warning
/// find a newer attempt and leave the job alone.
pub fn decide(kind: InterruptionKind, instance_id: &str, seen: &Seen) -> Decision {
    let target = recorded_state(kind);
    // EventBridge does not promise order: a late `running` never revives a terminated instance.
    let instance_state = target
        .filter(|t| *t != seen.instance_state && seen.instance_state != InstanceState::Terminated);
    let attempt = seen.instance_attempt;
    let Some(what) = loss(kind, instance_id, attempt) else {
        let outcome = format!(
            "recorded: instance {instance_id} is {}; nothing to requeue",
            target.unwrap_or(seen.instance_state).as_str()
        );
        return no_requeue(instance_state, outcome);
    };
    if !matches!(seen.job_state, JobState::Launching | JobState::Running) {
        let outcome = format!(
            "recorded: {what}; the job is {}, nothing to requeue",
            seen.job_state
        );
        return no_requeue(instance_state, outcome);
    }
    if seen.job_attempt != attempt {
        let outcome = format!(
            "recorded: {what}; the job is already on attempt {}, nothing to requeue",
            seen.job_attempt
        );
        return no_requeue(instance_state, outcome);
    }
    // A machine that stops after its runner took the job is, far more often than not, the agent
    // powering off after the job finished, with the forge's `completed` webhook still on its way.
    // Requeueing then would launch a second machine for a finished job. Only a spot warning
    // (EC2 takes the machine away) requeues a running job; a bare state change requeues a job
    // whose machine died before any runner took it. A runner lost mid-job is reported by the
    // forge as a failed job.
    if seen.job_state == JobState::Running && matches!(kind, InterruptionKind::StateChange(_)) {
        let outcome = format!(
            "recorded: {what}; the job is running there, so this is taken as the machine ending \
             after its job (the forge reports the outcome); nothing to requeue"
        );
        return no_requeue(instance_state, outcome);
    }
    let reason = format!("{what}; requeued");
    Decision {
        instance_state,
        requeue: Some(reason.clone()),
        outcome: reason,
    }
}

fn no_requeue(instance_state: Option<InstanceState>, outcome: String) -> Decision {
    Decision {
        instance_state,
        requeue: None,
        outcome,
    }
}

/// The state to record. The store has no "shutting-down": a machine EC2 is terminating, or will
/// terminate in two minutes, is recorded as terminated (sortie never uses it again); one that
/// will be stopped or hibernated is recorded as stopping.
// Spot actions: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html
// State names: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-instance-state-changes.html
fn recorded_state(kind: InterruptionKind) -> Option<InstanceState> {
    match kind {
        InterruptionKind::SpotWarning(SpotAction::Terminate) => Some(InstanceState::Terminated),
        InterruptionKind::SpotWarning(SpotAction::Stop | SpotAction::Hibernate) => {
            Some(InstanceState::Stopping)
        }
        InterruptionKind::StateChange(s) => match s {
            Ec2State::Pending => Some(InstanceState::Pending),
            Ec2State::Running => Some(InstanceState::Running),
            Ec2State::Stopping => Some(InstanceState::Stopping),
            Ec2State::Stopped => Some(InstanceState::Stopped),
            Ec2State::ShuttingDown | Ec2State::Terminated => Some(InstanceState::Terminated),
            Ec2State::Unknown => None,
        },
        InterruptionKind::TimeLimit => Some(InstanceState::Terminated),
    }
}

/// When the event means the job's machine is lost: the first half of the requeue reason.
fn loss(kind: InterruptionKind, instance_id: &str, attempt: u32) -> Option<String> {
    let state = match kind {
        InterruptionKind::SpotWarning(_) => {
            return Some(format!(
                "spot interruption warning for {instance_id} (attempt {attempt})"
            ))
        }
        InterruptionKind::TimeLimit => {
            return Some(format!(
                "instance {instance_id} hit its time limit (attempt {attempt})"
            ))
        }
        InterruptionKind::StateChange(s) => s,
    };
    // A machine that stops or terminates under a launching or running job takes the job with it
    // (`stopped` too: the `stopping` event may have been lost).
    let name = match state {
        Ec2State::Stopping => "stopping",
        Ec2State::Stopped => "stopped",
        Ec2State::ShuttingDown => "shutting-down",
        Ec2State::Terminated => "terminated",
        Ec2State::Pending | Ec2State::Running | Ec2State::Unknown => return None,
    };
    Some(format!(
        "instance {instance_id} changed state to {name} (attempt {attempt})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "i-1234567890abcdef0";

    fn seen(job_state: JobState, job_attempt: u32) -> Seen {
        Seen {
            instance_state: InstanceState::Running,
            instance_attempt: 1,
            job_state,
            job_attempt,
        }
    }

    // Detail values from the AWS docs pages cited on `recorded_state`.
    #[test]
    fn table() {
        use InstanceState as I;
        use InterruptionKind as K;
        let warn = K::SpotWarning(SpotAction::Terminate);
        let state = K::StateChange;
        // (event, job state, job attempt, recorded state, requeued?)
        let rows = [
            (warn, JobState::Running, 1, Some(I::Terminated), true),
            (warn, JobState::Launching, 1, Some(I::Terminated), true),
            (
                K::SpotWarning(SpotAction::Stop),
                JobState::Running,
                1,
                Some(I::Stopping),
                true,
            ),
            (
                K::SpotWarning(SpotAction::Hibernate),
                JobState::Running,
                1,
                Some(I::Stopping),
                true,
            ),
            (warn, JobState::Running, 2, Some(I::Terminated), false),
            (warn, JobState::Queued, 2, Some(I::Terminated), false),
            (warn, JobState::Completed, 1, Some(I::Terminated), false),
            // A running job's machine stopping is taken as the normal power-off after the job.
            (
                state(Ec2State::ShuttingDown),
                JobState::Running,
                1,
                Some(I::Terminated),
                false,
            ),
            (
                state(Ec2State::Terminated),
                JobState::Running,
                1,
                Some(I::Terminated),
                false,
            ),
            (
                state(Ec2State::ShuttingDown),
                JobState::Launching,
                1,
                Some(I::Terminated),
                true,
            ),
            (
                state(Ec2State::Stopping),
                JobState::Launching,
                1,
                Some(I::Stopping),
                true,
            ),
            (
                state(Ec2State::Stopped),
                JobState::Running,
                1,
                Some(I::Stopped),
                false,
            ),
            (
                state(Ec2State::Stopped),
                JobState::Launching,
                1,
                Some(I::Stopped),
                true,
            ),
            (
                state(Ec2State::Terminated),
                JobState::Completed,
                1,
                Some(I::Terminated),
                false,
            ),
            (
                state(Ec2State::Pending),
                JobState::Launching,
                1,
                Some(I::Pending),
                false,
            ),
            (state(Ec2State::Running), JobState::Running, 1, None, false),
        ];
        for (kind, job_state, attempt, recorded, requeued) in rows {
            let d = decide(kind, ID, &seen(job_state, attempt));
            let row = format!("{kind:?} {job_state} {attempt}: {d:?}");
            assert_eq!(d.instance_state, recorded, "{row}");
            assert_eq!(d.requeue.is_some(), requeued, "{row}");
            assert!(d.outcome.contains(ID), "{row}");
        }
    }

    #[test]
    fn reasons_name_the_instance_and_attempt() {
        let d = decide(
            InterruptionKind::SpotWarning(SpotAction::Terminate),
            ID,
            &seen(JobState::Running, 1),
        );
        assert_eq!(
            d.requeue.as_deref(),
            Some("spot interruption warning for i-1234567890abcdef0 (attempt 1); requeued")
        );
        let d = decide(
            InterruptionKind::StateChange(Ec2State::ShuttingDown),
            ID,
            &seen(JobState::Launching, 1),
        );
        assert_eq!(
            d.requeue.as_deref(),
            Some(
                "instance i-1234567890abcdef0 changed state to shutting-down (attempt 1); requeued"
            )
        );
        let d = decide(
            InterruptionKind::SpotWarning(SpotAction::Terminate),
            ID,
            &seen(JobState::Queued, 2),
        );
        assert!(d.outcome.contains("nothing to requeue"), "{}", d.outcome);
    }

    #[test]
    fn a_late_event_never_revives_a_terminated_instance() {
        let mut s = seen(JobState::Queued, 2);
        s.instance_state = InstanceState::Terminated;
        let d = decide(InterruptionKind::StateChange(Ec2State::Running), ID, &s);
        assert_eq!(d.instance_state, None);
        assert_eq!(d.requeue, None);
    }
}
