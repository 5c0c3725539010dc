//! Runner clean-up: decide (pure) which registrations are spent, then delete them.
//!
//! The seed dispatcher left 18 zombie runners behind: registrations that never ran a job because
//! the machine died first, and were never removed. A spent registration here is one that is
//! offline, not busy, carries our name prefix, and does not belong to a job that is still
//! launching (its machine may simply not have booted yet — the caller passes those names).

use crate::error::ForgeError;
use crate::types::{Runner, RunnerScope};
use crate::Forge;
use serde::Serialize;
use std::collections::HashSet;

/// The prefix of every runner name sortie makes (`JobKey::runner_name`).
pub const RUNNER_PREFIX: &str = "sortie-";

/// The runners that may be deleted: offline, idle, named with `prefix`, and not in `live` (names
/// of runners whose jobs are still launching or running according to the store).
pub fn spent_runners<'a>(
    runners: &'a [Runner],
    prefix: &str,
    live: &HashSet<String>,
) -> Vec<&'a Runner> {
    runners
        .iter()
        .filter(|r| !r.online && !r.busy && r.name.starts_with(prefix) && !live.contains(&r.name))
        .collect()
}

/// What a clean-up pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CleanupReport {
    /// Runners listed at the scope.
    pub listed: usize,
    /// `(id, name)` of runners deleted.
    pub deleted: Vec<(u64, String)>,
    /// `(id, name, error)` of deletions that failed; retried on the next pass.
    pub failed: Vec<(u64, String, String)>,
}

/// Lists the runners at `scope` and deletes the spent ones. A failed deletion is reported, not
/// fatal; a failed listing is an error.
pub async fn delete_spent_runners(
    forge: &dyn Forge,
    scope: &RunnerScope,
    prefix: &str,
    live: &HashSet<String>,
) -> Result<CleanupReport, ForgeError> {
    let runners = forge.list_runners(scope).await?;
    let mut report = CleanupReport {
        listed: runners.len(),
        ..CleanupReport::default()
    };
    for r in spent_runners(&runners, prefix, live) {
        match forge.delete_runner(scope, r.id).await {
            Ok(()) => report.deleted.push((r.id, r.name.clone())),
            Err(e) => report.failed.push((r.id, r.name.clone(), e.to_string())),
        }
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(id: u64, name: &str, online: bool, busy: bool) -> Runner {
        Runner {
            id,
            name: name.into(),
            online,
            busy,
            labels: vec![],
        }
    }

    #[test]
    fn only_offline_idle_ours_and_not_live() {
        let runners = vec![
            r(1, "sortie-aaaa-1", false, false), // spent
            r(2, "sortie-bbbb-1", true, false),  // online: running or about to
            r(3, "sortie-cccc-1", false, true),  // busy
            r(4, "host-runner", false, false),   // not ours
            r(5, "sortie-dddd-1", false, false), // still launching
        ];
        let live: HashSet<String> = ["sortie-dddd-1".to_string()].into();
        let ids: Vec<u64> = spent_runners(&runners, RUNNER_PREFIX, &live)
            .iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec![1]);
    }
}
