//! Does a workflow's `on:` fire for an event, and why (or why not)?
//!
//! Two flavours live side by side because the forges really differ:
//! - [`github`]: GitHub's documented rules ("Events that trigger workflows", "Workflow syntax":
//!   `on.<push|pull_request>.<branches|tags|paths>`).
//! - [`gitea`]: Gitea's `modules/actions/workflows.go` (`detectMatched`, `matchPushEvent`,
//!   `matchPullRequestEvent`), which Forgejo shares, with act's `workflowpattern` list semantics.
//!
//! Every decision carries a reason a person can read; `sortie plan` prints it.

mod gitea;
mod github;
#[cfg(test)]
mod tests;

use crate::event::{ChangedFiles, Event};
use crate::forge::Flavor;
use crate::pattern::PatternList;
use crate::workflow::{Trigger, Workflow};

/// The outcome of evaluating one workflow against one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the workflow runs.
    pub triggered: bool,
    /// Why, in a sentence.
    pub reason: String,
}

impl Decision {
    fn yes(reason: impl Into<String>) -> Decision {
        Decision {
            triggered: true,
            reason: reason.into(),
        }
    }
    fn no(reason: impl Into<String>) -> Decision {
        Decision {
            triggered: false,
            reason: reason.into(),
        }
    }
}

/// Evaluates whether `workflow` runs for `event` on a forge of `flavor`. `changed` holds the files
/// the event changed, as the forge computes them for path filters (see
/// [`crate::event::changed_files`]).
pub fn evaluate(
    flavor: Flavor,
    workflow: &Workflow,
    event: &Event,
    changed: &ChangedFiles,
) -> Decision {
    let Some(trigger) = matching_trigger(workflow, &event.name) else {
        return not_listed(workflow, &event.name);
    };
    match flavor {
        Flavor::Github => github::evaluate(trigger, event, changed),
        Flavor::Gitea | Flavor::Forgejo => gitea::evaluate(trigger, event, changed),
    }
}

/// The workflow's trigger for a webhook event name. A `pull_request` delivery also runs
/// `pull_request_target` workflows (GitHub docs, "pull_request_target": "This event runs in the
/// context of the base of the pull request"; Gitea's `canGithubEventMatch` does the same).
fn matching_trigger<'a>(workflow: &'a Workflow, event: &str) -> Option<&'a Trigger> {
    workflow
        .triggers
        .iter()
        .find(|t| t.event == event)
        .or_else(|| {
            (event == "pull_request")
                .then(|| {
                    workflow
                        .triggers
                        .iter()
                        .find(|t| t.event == "pull_request_target")
                })
                .flatten()
        })
}

fn not_listed(workflow: &Workflow, event: &str) -> Decision {
    let events: Vec<&str> = workflow.triggers.iter().map(|t| t.event.as_str()).collect();
    if events == ["workflow_call"] {
        return Decision::no(
            "reusable workflow (on: workflow_call): runs only when another workflow calls it",
        );
    }
    Decision::no(format!(
        "on: does not include {event} (it lists: {})",
        events.join(", ")
    ))
}

/// Formats a filter list the way it is written in YAML, for reasons.
fn show(key: &str, list: &[String]) -> String {
    format!("{key}: [{}]", list.join(", "))
}

/// Compiles a filter list, turning a bad pattern into a readable reason.
fn compile(key: &str, list: &[String]) -> Result<PatternList, String> {
    PatternList::new(list).map_err(|e| format!("{key} has an invalid pattern: {e}"))
}

/// What kind of ref a push is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefKind<'a> {
    Branch(&'a str),
    Tag(&'a str),
    Other,
}

fn ref_kind(push: &crate::event::Push) -> RefKind<'_> {
    if let Some(b) = push.branch() {
        RefKind::Branch(b)
    } else if let Some(t) = push.tag() {
        RefKind::Tag(t)
    } else {
        RefKind::Other
    }
}
