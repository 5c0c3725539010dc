//! GitHub's trigger rules, from the "Events that trigger workflows" and "Workflow syntax for GitHub
//! Actions" documentation.

use super::{compile, ref_kind, show, Decision, RefKind};
use crate::event::{ChangedFiles, Event, EventKind, Push};
use crate::workflow::{EventFilters, Trigger};

/// GitHub's default activity types for `pull_request` and `pull_request_target` ("By default, a
/// workflow only runs when a pull_request event's activity type is opened, synchronize, or
/// reopened").
const DEFAULT_PR_TYPES: [&str; 3] = ["opened", "synchronize", "reopened"];

pub(super) fn evaluate(trigger: &Trigger, event: &Event, changed: &ChangedFiles) -> Decision {
    let f = &trigger.filters;
    match &event.kind {
        EventKind::Push(push) if trigger.event == "push" => push_decision(f, push, changed),
        EventKind::PullRequest(pr) => {
            let types = f
                .types
                .clone()
                .unwrap_or_else(|| DEFAULT_PR_TYPES.map(String::from).to_vec());
            if !types.contains(&pr.action) {
                return Decision::no(format!(
                    "{} activity {:?} is not in types: [{}]{}",
                    trigger.event,
                    pr.action,
                    types.join(", "),
                    if f.types.is_none() {
                        " (GitHub's default)"
                    } else {
                        ""
                    }
                ));
            }
            let mut why = vec![format!("{} {}", trigger.event, pr.action)];
            if let Err(no) = branch_filters(f, &pr.base_ref, "base branch", &mut why) {
                return Decision::no(no);
            }
            if f.branches.is_none()
                && f.branches_ignore.is_none()
                && (f.tags.is_some() || f.tags_ignore.is_some())
            {
                return Decision::no(
                    "only tag filters are defined: a pull request has no tag, so it does not run",
                );
            }
            match path_filters(f, changed, &mut why) {
                Ok(()) => Decision::yes(why.join("; ")),
                Err(no) => Decision::no(no),
            }
        }
        EventKind::Other { action } => typed_event(trigger, action.as_deref()),
        EventKind::Push(_) => typed_event(trigger, None),
    }
}

/// Events without ref filters: `types` (when given) must list the payload's action; GitHub runs
/// every activity type when `types` is absent (except the pull request defaults above).
fn typed_event(trigger: &Trigger, action: Option<&str>) -> Decision {
    match (&trigger.filters.types, action) {
        (Some(types), Some(action)) if !types.iter().any(|t| t == action) => Decision::no(format!(
            "{} activity {action:?} is not in types: [{}]",
            trigger.event,
            types.join(", ")
        )),
        (Some(_), Some(action)) => Decision::yes(format!("{} {action} is in types", trigger.event)),
        _ => Decision::yes(format!("on: includes {}", trigger.event)),
    }
}

fn push_decision(f: &EventFilters, push: &Push, changed: &ChangedFiles) -> Decision {
    // A deleted ref has no commit to run at; GitHub runs `on: delete` workflows instead.
    if push.deleted {
        return Decision::no("the push deletes the ref: GitHub does not run push workflows for deletions (use on: delete)");
    }
    let has_branch = f.branches.is_some() || f.branches_ignore.is_some();
    let has_tag = f.tags.is_some() || f.tags_ignore.is_some();
    let mut why = Vec::new();
    match ref_kind(push) {
        // "If you define only tags/tags-ignore or only branches/branches-ignore, the workflow won't
        // run for events affecting the undefined Git ref."
        RefKind::Branch(b) if has_tag && !has_branch => {
            return Decision::no(format!(
                "push to branch {b}: only tag filters are defined, so branch pushes do not run"
            ))
        }
        RefKind::Tag(t) if has_branch && !has_tag => {
            return Decision::no(format!(
                "push of tag {t}: only branch filters are defined, so tag pushes do not run"
            ))
        }
        RefKind::Branch(b) => {
            why.push(format!("push to branch {b}"));
            if let Err(no) = branch_filters(f, b, "branch", &mut why) {
                return Decision::no(no);
            }
        }
        RefKind::Tag(t) => {
            why.push(format!("push of tag {t}"));
            if let Err(no) = tag_filters(f, t, &mut why) {
                return Decision::no(no);
            }
            // "Path filters are not evaluated for pushes of tags."
            if f.paths.is_some() || f.paths_ignore.is_some() {
                why.push("path filters are not evaluated for tag pushes".into());
            }
            return Decision::yes(why.join("; "));
        }
        RefKind::Other => {
            return Decision::no(format!(
                "push of {}: neither a branch nor a tag",
                push.git_ref
            ))
        }
    }
    match path_filters(f, changed, &mut why) {
        Ok(()) => Decision::yes(why.join("; ")),
        Err(no) => Decision::no(no),
    }
}

/// `branches` selects by GitHub's ordered `!` rule; `branches-ignore` excludes the same way.
fn branch_filters(
    f: &EventFilters,
    name: &str,
    what: &str,
    why: &mut Vec<String>,
) -> Result<(), String> {
    ref_filters(
        f.branches.as_deref(),
        f.branches_ignore.as_deref(),
        ("branches", "branches-ignore"),
        name,
        what,
        why,
    )
}

fn tag_filters(f: &EventFilters, name: &str, why: &mut Vec<String>) -> Result<(), String> {
    ref_filters(
        f.tags.as_deref(),
        f.tags_ignore.as_deref(),
        ("tags", "tags-ignore"),
        name,
        "tag",
        why,
    )
}

fn ref_filters(
    include: Option<&[String]>,
    ignore: Option<&[String]>,
    keys: (&str, &str),
    name: &str,
    what: &str,
    why: &mut Vec<String>,
) -> Result<(), String> {
    if let Some(list) = include {
        if !compile(keys.0, list)?.github_selects(name) {
            return Err(format!(
                "{what} {name} does not match {}",
                show(keys.0, list)
            ));
        }
        why.push(format!("matches {}", show(keys.0, list)));
    }
    if let Some(list) = ignore {
        if compile(keys.1, list)?.github_selects(name) {
            return Err(format!(
                "{what} {name} is excluded by {}",
                show(keys.1, list)
            ));
        }
        why.push(format!("not excluded by {}", show(keys.1, list)));
    }
    Ok(())
}

/// `paths`: runs when at least one changed file is selected. `paths-ignore`: runs unless every
/// changed file is ignored. Both present is a workflow error caught by the parser.
fn path_filters(
    f: &EventFilters,
    changed: &ChangedFiles,
    why: &mut Vec<String>,
) -> Result<(), String> {
    if f.paths.is_none() && f.paths_ignore.is_none() {
        return Ok(());
    }
    let files = match changed {
        ChangedFiles::AlwaysRun(note) => {
            why.push(note.clone());
            return Ok(());
        }
        ChangedFiles::Unavailable(note) => {
            return Err(format!("path filters cannot match: {note}"))
        }
        ChangedFiles::Known { files, note } => {
            if let Some(note) = note {
                why.push(note.clone());
            }
            files
        }
    };
    if let Some(list) = &f.paths {
        let pats = compile("paths", list)?;
        match files.iter().find(|p| pats.github_selects(p)) {
            Some(hit) => why.push(format!("{hit} matches {}", show("paths", list))),
            None => {
                return Err(format!(
                    "no changed file matches {} ({} changed)",
                    show("paths", list),
                    files.len()
                ))
            }
        }
    }
    if let Some(list) = &f.paths_ignore {
        let pats = compile("paths-ignore", list)?;
        match files.iter().find(|p| !pats.github_selects(p)) {
            Some(hit) => why.push(format!(
                "{hit} is not ignored by {}",
                show("paths-ignore", list)
            )),
            None => {
                return Err(format!(
                    "every changed file is ignored by {} ({} changed)",
                    show("paths-ignore", list),
                    files.len()
                ))
            }
        }
    }
    Ok(())
}
