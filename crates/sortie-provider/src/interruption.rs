//! Interruption signals: EventBridge events from EC2 parsed into [`InterruptionEvent`].
//!
//! The HTTP endpoint or SQS consumer that receives the events lives elsewhere; this module only
//! turns one event's JSON into typed data.

use crate::error::{ProviderError, Result};
use crate::provider::{InstanceId, InstanceState};
use aws_smithy_types::date_time::{DateTime, Format};
use serde::Deserialize;
use std::time::SystemTime;

/// `detail-type` of the two-minute spot warning.
pub const SPOT_WARNING: &str = "EC2 Spot Instance Interruption Warning";
/// `detail-type` of instance state changes.
pub const STATE_CHANGE: &str = "EC2 Instance State-change Notification";

/// What EC2 will do to an interrupted spot instance (`instance-action`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpotAction {
    /// The instance will be terminated.
    Terminate,
    /// The instance will be stopped.
    Stop,
    /// The instance will hibernate (no two-minute warning).
    Hibernate,
}

/// What happened to the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InterruptionKind {
    /// EC2 reclaims a spot instance in about two minutes: requeue its job now.
    SpotWarning(SpotAction),
    /// The instance changed state (its job is lost when it stops or terminates early).
    StateChange(InstanceState),
    /// A provider's own time limit killed the machine (local provider).
    TimeLimit,
}

/// One interruption signal for one machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterruptionEvent {
    /// The machine.
    pub instance_id: InstanceId,
    /// What happened.
    pub kind: InterruptionKind,
    /// When the event was emitted (the event's `time`).
    pub time: SystemTime,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "detail-type")]
    detail_type: String,
    source: String,
    time: String,
    detail: Detail,
}

#[derive(Deserialize)]
struct Detail {
    #[serde(rename = "instance-id")]
    instance_id: String,
    #[serde(rename = "instance-action")]
    instance_action: Option<String>,
    state: Option<String>,
}

/// Parses one EventBridge event. Returns `Ok(None)` for well-formed events of other types (a rule
/// may forward more than these two), and an error for malformed ones.
// Shapes: https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html
// (spot warning: `instance-action` is `hibernate`, `stop` or `terminate`) and
// https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-instance-state-changes.html
// (state change: `state` is pending, running, stopping, stopped, shutting-down or terminated).
pub fn parse_event(json: &str) -> Result<Option<InterruptionEvent>> {
    let env: Envelope =
        serde_json::from_str(json).map_err(|e| ProviderError::BadEvent(e.to_string()))?;
    if env.source != "aws.ec2" {
        return Ok(None);
    }
    let kind = match env.detail_type.as_str() {
        SPOT_WARNING => {
            InterruptionKind::SpotWarning(spot_action(env.detail.instance_action.as_deref())?)
        }
        STATE_CHANGE => InterruptionKind::StateChange(state(env.detail.state.as_deref())?),
        _ => return Ok(None),
    };
    if !env.detail.instance_id.starts_with("i-") {
        return Err(ProviderError::BadEvent(format!(
            "instance-id {:?} is not an EC2 instance id",
            env.detail.instance_id
        )));
    }
    let time = DateTime::from_str(&env.time, Format::DateTime)
        .ok()
        .and_then(|t| SystemTime::try_from(t).ok())
        .ok_or_else(|| {
            ProviderError::BadEvent(format!("time {:?} is not an RFC 3339 date-time", env.time))
        })?;
    Ok(Some(InterruptionEvent {
        instance_id: InstanceId(env.detail.instance_id),
        kind,
        time,
    }))
}

fn spot_action(action: Option<&str>) -> Result<SpotAction> {
    match action {
        Some("terminate") => Ok(SpotAction::Terminate),
        Some("stop") => Ok(SpotAction::Stop),
        Some("hibernate") => Ok(SpotAction::Hibernate),
        other => Err(ProviderError::BadEvent(format!(
            "instance-action {other:?}: expected terminate, stop or hibernate"
        ))),
    }
}

fn state(name: Option<&str>) -> Result<InstanceState> {
    match name.map(InstanceState::from_ec2) {
        Some(InstanceState::Unknown) | None => Err(ProviderError::BadEvent(format!(
            "state {name:?} is not an EC2 instance state"
        ))),
        Some(s) => Ok(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    // The example from https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/spot-instance-termination-notices.html
    // with its placeholders (`yyyy-mm-ddThh:mm:ssZ`, `action`) filled in.
    const SPOT_DOC_EXAMPLE: &str =
        include_str!("../../../fixtures/aws/spot-interruption-warning.json");

    // The example from https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/monitoring-instance-state-changes.html
    const STATE_DOC_EXAMPLE: &str =
        include_str!("../../../fixtures/aws/instance-state-change.json");

    const T: u64 = 1_636_666_194; // 2021-11-11T21:29:54Z

    #[test]
    fn spot_warning_from_the_docs() {
        let ev = parse_event(SPOT_DOC_EXAMPLE).unwrap().unwrap();
        assert_eq!(ev.instance_id.0, "i-1234567890abcdef0");
        assert_eq!(
            ev.kind,
            InterruptionKind::SpotWarning(SpotAction::Terminate)
        );
        assert_eq!(ev.time, UNIX_EPOCH + Duration::from_secs(T));
    }

    #[test]
    fn state_change_from_the_docs() {
        let ev = parse_event(STATE_DOC_EXAMPLE).unwrap().unwrap();
        assert_eq!(
            ev.kind,
            InterruptionKind::StateChange(InstanceState::Pending)
        );
        let term = STATE_DOC_EXAMPLE.replace("\"pending\"", "\"shutting-down\"");
        assert_eq!(
            parse_event(&term).unwrap().unwrap().kind,
            InterruptionKind::StateChange(InstanceState::ShuttingDown)
        );
    }

    #[test]
    fn spot_actions() {
        for (text, want) in [
            ("stop", SpotAction::Stop),
            ("hibernate", SpotAction::Hibernate),
        ] {
            let json = SPOT_DOC_EXAMPLE.replace("\"terminate\"", &format!("\"{text}\""));
            assert_eq!(
                parse_event(&json).unwrap().unwrap().kind,
                InterruptionKind::SpotWarning(want)
            );
        }
    }

    #[test]
    fn other_events_are_ignored() {
        let rebalance =
            SPOT_DOC_EXAMPLE.replace(SPOT_WARNING, "EC2 Instance Rebalance Recommendation");
        assert_eq!(parse_event(&rebalance).unwrap(), None);
        let other_source = STATE_DOC_EXAMPLE.replace("aws.ec2", "aws.autoscaling");
        assert_eq!(parse_event(&other_source).unwrap(), None);
    }

    #[test]
    fn malformed_events_are_errors_not_panics() {
        // The docs' literal placeholders are not valid values.
        let placeholder_time =
            SPOT_DOC_EXAMPLE.replace("2021-11-11T21:29:54Z", "yyyy-mm-ddThh:mm:ssZ");
        assert!(parse_event(&placeholder_time)
            .unwrap_err()
            .to_string()
            .contains("RFC 3339"));
        let placeholder_action = SPOT_DOC_EXAMPLE.replace("\"terminate\"", "\"action\"");
        assert!(parse_event(&placeholder_action).is_err());
        assert!(parse_event(&STATE_DOC_EXAMPLE.replace("\"pending\"", "\"melting\"")).is_err());
        assert!(parse_event(
            &STATE_DOC_EXAMPLE.replace("i-1234567890abcdef0\",\"state", "x\",\"state")
        )
        .is_err());
        for junk in ["", "{}", "[]", "null", "{\"detail\":1}"] {
            assert!(parse_event(junk).is_err(), "{junk}");
        }
    }
}
