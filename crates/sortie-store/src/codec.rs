//! How domain enums are written in the database: their snake_case names, the same as in JSON.
//! Pure functions; reading an unknown name is a [`StoreError::Corrupt`], never a panic.

use crate::error::StoreError;
use crate::types::{InstanceState, RegistrationState};
use sortie_core::job::{JobEvent, JobState};
use sortie_core::route::RouteKind;

/// All job events (sortie-core has no list of them).
const EVENTS: [JobEvent; 7] = [
    JobEvent::Launch,
    JobEvent::Started,
    JobEvent::Succeeded,
    JobEvent::Fail,
    JobEvent::Cancel,
    JobEvent::TimeOut,
    JobEvent::Requeue,
];

const ROUTE_KINDS: [RouteKind; 4] = [
    RouteKind::Provider,
    RouteKind::Pool,
    RouteKind::Skip,
    RouteKind::Unroutable,
];

/// The stored name of a job event (its serde name).
pub fn event_name(e: JobEvent) -> &'static str {
    match e {
        JobEvent::Launch => "launch",
        JobEvent::Started => "started",
        JobEvent::Succeeded => "succeeded",
        JobEvent::Fail => "fail",
        JobEvent::Cancel => "cancel",
        JobEvent::TimeOut => "time_out",
        JobEvent::Requeue => "requeue",
    }
}

/// The stored name of a route kind (its serde name).
pub fn route_kind_name(k: RouteKind) -> &'static str {
    match k {
        RouteKind::Provider => "provider",
        RouteKind::Pool => "pool",
        RouteKind::Skip => "skip",
        RouteKind::Unroutable => "unroutable",
    }
}

fn find<T: Copy>(
    all: &[T],
    name: fn(T) -> &'static str,
    what: &'static str,
    s: &str,
) -> Result<T, StoreError> {
    all.iter()
        .copied()
        .find(|v| name(*v) == s)
        .ok_or_else(|| StoreError::corrupt(what, s, "unknown name"))
}

/// Reads a job event name.
pub fn parse_event(s: &str) -> Result<JobEvent, StoreError> {
    find(&EVENTS, event_name, "job event", s)
}

/// Reads a route kind name.
pub fn parse_route_kind(s: &str) -> Result<RouteKind, StoreError> {
    find(&ROUTE_KINDS, route_kind_name, "route kind", s)
}

/// Reads a job state name.
pub fn parse_job_state(s: &str) -> Result<JobState, StoreError> {
    find(&JobState::ALL, JobState::as_str, "job state", s)
}

/// Reads an instance state name.
pub fn parse_instance_state(s: &str) -> Result<InstanceState, StoreError> {
    find(
        &InstanceState::ALL,
        InstanceState::as_str,
        "instance state",
        s,
    )
}

/// Reads a registration state name.
pub fn parse_registration_state(s: &str) -> Result<RegistrationState, StoreError> {
    find(
        &RegistrationState::ALL,
        RegistrationState::as_str,
        "registration state",
        s,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stored names are the serde names, so the database, the JSON API and the CLI agree.
    #[test]
    fn names_match_serde_and_round_trip() {
        let serde_name = |v: serde_json::Value| v.as_str().map(str::to_string).unwrap_or_default();
        for e in EVENTS {
            assert_eq!(event_name(e), serde_name(serde_json::to_value(e).unwrap()));
            assert_eq!(parse_event(event_name(e)).unwrap(), e);
        }
        for k in ROUTE_KINDS {
            assert_eq!(
                route_kind_name(k),
                serde_name(serde_json::to_value(k).unwrap())
            );
            assert_eq!(parse_route_kind(route_kind_name(k)).unwrap(), k);
        }
        for s in InstanceState::ALL {
            assert_eq!(s.as_str(), serde_name(serde_json::to_value(s).unwrap()));
            assert_eq!(parse_instance_state(s.as_str()).unwrap(), s);
        }
        for s in RegistrationState::ALL {
            assert_eq!(s.as_str(), serde_name(serde_json::to_value(s).unwrap()));
            assert_eq!(parse_registration_state(s.as_str()).unwrap(), s);
        }
        for s in JobState::ALL {
            assert_eq!(parse_job_state(s.as_str()).unwrap(), s);
        }
    }

    #[test]
    fn unknown_names_are_errors_not_panics() {
        assert!(matches!(
            parse_event("explode"),
            Err(StoreError::Corrupt {
                what: "job event",
                ..
            })
        ));
        assert!(parse_job_state("").is_err());
        assert!(parse_route_kind("Provider").is_err());
    }
}
