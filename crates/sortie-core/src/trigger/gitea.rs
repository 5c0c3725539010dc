//! Gitea's (and Forgejo's) trigger rules, mirroring `modules/actions/workflows.go` in go-gitea/gitea
//! (`detectMatched`, `matchPushEvent`, `matchPullRequestEvent`), with act's `workflowpattern`
//! `Skip` (for `branches`, `tags`, `paths`) and `Filter` (for the `-ignore` keys).
//!
//! Gitea counts the filter keys that pass and triggers only when every key passed
//! (`matchTimes == len(evt.Acts())`). That single rule produces the behaviours that differ from
//! GitHub, each noted where it arises below.

use super::{compile, ref_kind, show, Decision, RefKind};
use crate::event::{ChangedFiles, Event, EventKind, Push};
use crate::pattern::PatternList;
use crate::workflow::{EventFilters, Trigger};

pub(super) fn evaluate(trigger: &Trigger, event: &Event, changed: &ChangedFiles) -> Decision {
    let f = &trigger.filters;
    match &event.kind {
        EventKind::Push(push) if trigger.event == "push" => push_decision(f, push, changed),
        EventKind::PullRequest(pr) => pull_request_decision(f, &pr.action, &pr.base_ref, changed),
        EventKind::Other { action } => typed_event(trigger, action.as_deref()),
        EventKind::Push(_) => typed_event(trigger, None),
    }
}

/// Filter keys present under the event, as Gitea's `evt.Acts()` sees them (unknown keys included).
fn acts(f: &EventFilters, with_types: bool) -> Vec<String> {
    let mut keys: Vec<String> = [
        ("branches", f.branches.is_some()),
        ("branches-ignore", f.branches_ignore.is_some()),
        ("tags", f.tags.is_some()),
        ("tags-ignore", f.tags_ignore.is_some()),
        ("paths", f.paths.is_some()),
        ("paths-ignore", f.paths_ignore.is_some()),
        ("types", with_types && f.types.is_some()),
    ]
    .into_iter()
    .filter(|(_, present)| *present)
    .map(|(k, _)| k.to_string())
    .collect();
    keys.extend(f.other_keys.iter().cloned());
    if !with_types && f.types.is_some() {
        keys.push("types".into());
    }
    keys
}

/// One filter key's verdict: counted (passes) or not, with a phrase for the reason.
struct Verdict {
    passed: bool,
    note: String,
}

fn push_decision(f: &EventFilters, push: &Push, changed: &ChangedFiles) -> Decision {
    // Gitea sends deletions to `DeleteRef` (the `delete` event), never to push workflows.
    if push.deleted {
        return Decision::no(
            "the push deletes the ref: Gitea runs delete workflows, not push workflows",
        );
    }
    let keys = acts(f, false);
    if keys.is_empty() {
        return Decision::yes("on: push without filters");
    }
    let kind = ref_kind(push);
    let mut verdicts = Vec::new();
    let (mut has_branch, mut has_tag) = (false, false);
    for key in &keys {
        let v = match key.as_str() {
            "branches" | "branches-ignore" => {
                has_branch = true;
                ref_verdict(f, key, kind, true)
            }
            "tags" | "tags-ignore" => {
                has_tag = true;
                ref_verdict(f, key, kind, false)
            }
            // Current Gitea releases count path filters as passed on tag pushes (older releases
            // diffed tags too); GitHub documents the same rule.
            "paths" | "paths-ignore" if matches!(kind, RefKind::Tag(_)) => Verdict {
                passed: true,
                note: format!("{key} is not evaluated for tag pushes"),
            },
            "paths" | "paths-ignore" => path_verdict(f, key, changed),
            // `default: log.Warn("push event unsupported condition %q")`: never counted, so the
            // workflow cannot trigger.
            other => Verdict {
                passed: false,
                note: format!(
                    "unsupported key {other:?} under push: Gitea never triggers this workflow"
                ),
            },
        };
        verdicts.push(v);
    }
    // "if both branch and tag filter are defined in the workflow only one needs to match":
    // Gitea adds one to the count, so one of the two may fail.
    let bonus = usize::from(has_branch && has_tag);
    conclude(&keys, verdicts, bonus)
}

fn conclude(keys: &[String], verdicts: Vec<Verdict>, bonus: usize) -> Decision {
    let passed = verdicts.iter().filter(|v| v.passed).count() + bonus;
    let notes: Vec<String> = verdicts.into_iter().map(|v| v.note).collect();
    if passed == keys.len() {
        let mut reason = notes.join("; ");
        if bonus > 0 {
            reason
                .push_str("; branch and tag filters both present: one of them matching is enough");
        }
        Decision::yes(reason)
    } else {
        let failed = keys.len() - passed;
        Decision::no(format!(
            "{} (Gitea requires every filter key to pass; {failed} did not)",
            notes.join("; ")
        ))
    }
}

fn ref_verdict(f: &EventFilters, key: &str, kind: RefKind<'_>, branch_key: bool) -> Verdict {
    let name = match (kind, branch_key) {
        (RefKind::Branch(b), true) => b,
        (RefKind::Tag(t), false) => t,
        _ => {
            let what = if branch_key { "a branch" } else { "a tag" };
            return Verdict {
                passed: false,
                note: format!("{key} does not apply: the push is not {what}"),
            };
        }
    };
    let list = list_for(f, key);
    let (passed, verb) = match compile(key, list) {
        Err(e) => (false, e),
        Ok(p) if key.ends_with("-ignore") => {
            let keep = !p.act_filter(&[name]);
            (
                keep,
                if keep {
                    format!("{name} is not excluded by {}", show(key, list))
                } else {
                    format!("{name} is excluded by {}", show(key, list))
                },
            )
        }
        Ok(p) => {
            let hit = !p.act_skip(&[name]);
            (
                hit,
                if hit {
                    format!("{name} matches {}", show(key, list))
                } else {
                    format!("{name} does not match {}", show(key, list))
                },
            )
        }
    };
    Verdict { passed, note: verb }
}

fn path_verdict(f: &EventFilters, key: &str, changed: &ChangedFiles) -> Verdict {
    let list = list_for(f, key);
    let files: Vec<&str> = match changed {
        ChangedFiles::Known { files, .. } => files.iter().map(String::as_str).collect(),
        ChangedFiles::AlwaysRun(note) => {
            return Verdict {
                passed: true,
                note: note.clone(),
            }
        }
        ChangedFiles::Unavailable(note) => {
            return Verdict {
                passed: false,
                note: format!("{key}: {note}"),
            }
        }
    };
    match compile(key, list) {
        Err(e) => Verdict {
            passed: false,
            note: e,
        },
        Ok(p) => path_list_verdict(&p, key, list, &files),
    }
}

fn path_list_verdict(p: &PatternList, key: &str, list: &[String], files: &[&str]) -> Verdict {
    let n = files.len();
    if key == "paths" {
        let passed = !p.act_skip(files);
        let note = if passed {
            format!("a changed file matches {}", show(key, list))
        } else {
            format!("no changed file matches {} ({n} changed)", show(key, list))
        };
        Verdict { passed, note }
    } else {
        let passed = !p.act_filter(files);
        let note = if passed {
            format!("a changed file is not ignored by {}", show(key, list))
        } else {
            format!(
                "every changed file is ignored by {} ({n} changed)",
                show(key, list)
            )
        };
        Verdict { passed, note }
    }
}

fn list_for<'a>(f: &'a EventFilters, key: &str) -> &'a [String] {
    let list = match key {
        "branches" => &f.branches,
        "branches-ignore" => &f.branches_ignore,
        "tags" => &f.tags,
        "tags-ignore" => &f.tags_ignore,
        "paths" => &f.paths,
        "paths-ignore" => &f.paths_ignore,
        "types" => &f.types,
        _ => &None,
    };
    list.as_deref().unwrap_or(&[])
}

/// `matchPullRequestEvent`. Without filter keys only `opened`, `reopened` and `synchronized` run
/// (Gitea's defaults, like GitHub's). With any key present the defaults no longer apply, so e.g.
/// `branches: [main]` alone also runs on `closed` — a Gitea difference from GitHub.
fn pull_request_decision(
    f: &EventFilters,
    action: &str,
    base: &str,
    changed: &ChangedFiles,
) -> Decision {
    let keys = acts(f, true);
    if keys.is_empty() {
        return if matches!(
            action,
            "opened" | "reopened" | "synchronized" | "synchronize"
        ) {
            Decision::yes(format!("pull_request {action} (default activity types)"))
        } else {
            Decision::no(format!("pull_request activity {action:?} is not one of the defaults opened, reopened, synchronized"))
        };
    }
    let verdicts = keys
        .iter()
        .map(|key| pr_verdict(f, key, action, base, changed))
        .collect();
    conclude(&keys, verdicts, 0)
}

fn pr_verdict(
    f: &EventFilters,
    key: &str,
    action: &str,
    base: &str,
    changed: &ChangedFiles,
) -> Verdict {
    match key {
        "types" => {
            // Gitea names some actions differently: synchronized → synchronize,
            // label_updated → labeled, label_cleared → unlabeled.
            let action = match action {
                "synchronized" => "synchronize",
                "label_updated" => "labeled",
                "label_cleared" => "unlabeled",
                a => a,
            };
            let list = list_for(f, key);
            let passed = compile(key, list)
                .map(|p| p.patterns().iter().any(|x| x.is_match(action)))
                .unwrap_or(false);
            let note = if passed {
                format!("{action} is in {}", show(key, list))
            } else {
                format!("{action} is not in {}", show(key, list))
            };
            Verdict { passed, note }
        }
        "branches" | "branches-ignore" => ref_verdict(f, key, RefKind::Branch(base), true),
        "paths" | "paths-ignore" => path_verdict(f, key, changed),
        other => Verdict {
            passed: false,
            note: format!(
                "unsupported key {other:?} under pull_request: Gitea never triggers this workflow"
            ),
        },
    }
}

/// Other events: `types` compared with the payload action (Gitea converts release `updated` to
/// `edited`); no filters → runs.
fn typed_event(trigger: &Trigger, action: Option<&str>) -> Decision {
    let Some(types) = &trigger.filters.types else {
        return Decision::yes(format!("on: includes {}", trigger.event));
    };
    let action = match (trigger.event.as_str(), action) {
        ("release", Some("updated")) => Some("edited"),
        (_, a) => a,
    };
    match action {
        Some(a) if types.iter().any(|t| t == a) => {
            Decision::yes(format!("{} {a} is in types", trigger.event))
        }
        Some(a) => Decision::no(format!(
            "{} activity {a:?} is not in types: [{}]",
            trigger.event,
            types.join(", ")
        )),
        None => Decision::yes(format!("on: includes {}", trigger.event)),
    }
}
