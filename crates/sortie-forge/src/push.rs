//! Push mode: the forge sent a `push` and no `workflow_job` (older Gitea/Forgejo, the seed's
//! design), so sortie evaluates the workflows itself, as the forge would.
//!
//! The forge's own steps (go-gitea/gitea `services/actions/notifier_helper.go` and
//! `modules/actions/workflows.go`): read the workflow files *at the pushed commit*, and for
//! `paths` filters diff the commit against the payload's `before`
//! (`commit.GetFilesChangedSinceCommit(pushPayload.Before)`). The payload lists the same files
//! unless the forge capped its commit list (`total_commits` > commits listed); only then is the
//! compare API asked. A new branch (`before` all zeros) is *not* compared: Gitea's diff against
//! the zero commit fails and its path filters do not match, which `sortie_core` models as
//! `ChangedFiles::Unavailable` — asking the compare API there would run workflows Gitea skips.

use crate::error::ForgeError;
use crate::types::RepoRef;
use crate::Forge;
use serde::Deserialize;
use sortie_core::catalog::Catalog;
use sortie_core::event::{is_zero_sha, Event, EventKind, Push};
use sortie_core::job::JobKey;
use sortie_core::labels::RoutingConfig;
use sortie_core::plan::{plan, JobPlan, Plan, PlanRequest};
use std::collections::HashMap;

/// Where the changed files of a push came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangedFilesSource {
    /// The payload's commit lists (complete).
    Payload,
    /// The compare API, because the payload's list was capped.
    Compare,
}

/// A planned push: the plan plus what is needed to key its jobs.
#[derive(Debug, Clone, PartialEq)]
pub struct PushPlan {
    /// The repository pushed to.
    pub repo: RepoRef,
    /// The pushed commit (`after`).
    pub commit: String,
    /// The plan (every workflow with its reason, every expanded job).
    pub plan: Plan,
    /// Where the changed files came from.
    pub changed_files: ChangedFilesSource,
}

impl PushPlan {
    /// Every job of a triggered workflow with its [`JobKey::Push`]; the matrix index counts the
    /// expanded combinations of one job in plan order.
    pub fn jobs(&self) -> Vec<(JobKey, &JobPlan)> {
        let mut index: HashMap<(&str, &str), u32> = HashMap::new();
        self.plan
            .jobs()
            .map(|(workflow, job)| {
                let n = index.entry((workflow, job.id.as_str())).or_insert(0);
                let key = JobKey::Push {
                    forge: self.plan.forge,
                    repo: self.repo.full_name(),
                    commit: self.commit.clone(),
                    workflow: workflow.to_string(),
                    job: job.id.clone(),
                    matrix_index: *n,
                };
                *n += 1;
                (key, job)
            })
            .collect()
    }
}

#[derive(Deserialize)]
struct PayloadRepo {
    repository: FullName,
}

#[derive(Deserialize)]
struct FullName {
    full_name: String,
}

/// True when the payload's commit list is capped and the compare API must supply the files:
/// an existing branch updated (`before` not zero, ref not deleted) with `total_commits` larger
/// than the commits listed.
pub fn needs_compare(push: &Push) -> bool {
    let listed = push.commits.len();
    !push.deleted
        && !push.created
        && !is_zero_sha(&push.before)
        && push.total_commits.is_some_and(|t| t > listed)
}

/// Plans a `push` delivery against `forge`: fetches the workflow files at the pushed commit,
/// completes the changed files when needed, and runs [`sortie_core::plan::plan`] with the forge's
/// flavour. A deleted ref plans nothing (Gitea runs no push workflows for a deletion).
pub async fn plan_push(
    forge: &dyn Forge,
    payload: &[u8],
    routing: &RoutingConfig,
    catalog: &Catalog,
) -> Result<PushPlan, ForgeError> {
    let flavor = forge.flavor();
    let event = Event::parse(flavor, "push", payload)?;
    let EventKind::Push(push) = &event.kind else {
        return Err(ForgeError::Config {
            message: "plan_push was given a delivery that is not a push".into(),
        });
    };
    let repo: PayloadRepo =
        serde_json::from_slice(payload).map_err(|e| sortie_core::event::EventError::Payload {
            event: "push".into(),
            message: format!("repository.full_name: {e}"),
        })?;
    let repo = RepoRef::parse(&repo.repository.full_name)?;
    let files = if push.deleted {
        Vec::new()
    } else {
        forge.workflow_files(&repo, &push.after).await?
    };
    let (changed, source) = if needs_compare(push) {
        (
            Some(
                forge
                    .changed_files(&repo, &push.before, &push.after)
                    .await?,
            ),
            ChangedFilesSource::Compare,
        )
    } else {
        (None, ChangedFilesSource::Payload)
    };
    let request = PlanRequest {
        flavor,
        event: &event,
        files: &files,
        changed_files: changed.as_deref(),
        routing,
        catalog,
    };
    Ok(PushPlan {
        repo,
        commit: push.after.clone(),
        plan: plan(&request),
        changed_files: source,
    })
}

#[cfg(test)]
#[path = "push_tests.rs"]
mod fake_tests;

#[cfg(test)]
mod tests {
    use super::*;

    fn push(
        before: &str,
        listed: usize,
        total: Option<usize>,
        created: bool,
        deleted: bool,
    ) -> Push {
        Push {
            git_ref: "refs/heads/main".into(),
            before: before.into(),
            after: "b".repeat(40),
            created,
            deleted,
            commits: (0..listed).map(|_| Default::default()).collect(),
            head_commit: None,
            total_commits: total,
        }
    }

    // Gitea `GetFilesChangedSinceCommit(before)`: compare only when the payload list is capped.
    #[test]
    fn compare_only_when_capped() {
        let a = "a".repeat(40);
        let zero = "0".repeat(40);
        assert!(needs_compare(&push(&a, 5, Some(20), false, false)));
        assert!(!needs_compare(&push(&a, 5, Some(5), false, false)));
        assert!(!needs_compare(&push(&a, 5, None, false, false)));
        assert!(
            !needs_compare(&push(&zero, 5, Some(20), true, false)),
            "new branch: Gitea's diff fails, no compare"
        );
        assert!(
            !needs_compare(&push(&a, 0, Some(3), false, true)),
            "deleted ref"
        );
    }
}
