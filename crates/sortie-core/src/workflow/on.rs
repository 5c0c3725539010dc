//! `on:`: the events that trigger a workflow, and each event's filters.

use super::yaml::{self, Source};
use super::{EventFilters, Pos, Trigger, WorkflowError};
use saphyr::MarkedYaml;

/// Which keys under an event are filters we read (each names a field of [`EventFilters`]), and
/// which are known but not filters. Any other key goes to `other_keys`.
///
/// Mirrors GitHub's workflow syntax page (`on.push.<branches|tags|…>`,
/// `on.<pull_request|pull_request_target>.<branches|paths|…>`, `on.workflow_run.<branches|…>`,
/// `on.<event_name>.types`, `on.workflow_call.<inputs|outputs|secrets>`,
/// `on.workflow_dispatch.inputs`; github/docs content/actions/reference/workflows-and-actions/
/// workflow-syntax.md) and the keys Gitea's `matchPushEvent` / `matchPullRequestEvent` accept
/// (go-gitea/gitea modules/actions/workflows.go): `tags` under `pull_request` is not one of them.
fn event_keys(event: &str) -> (&'static [&'static str], &'static [&'static str]) {
    const REF_AND_PATH: &[&str] = &[
        "branches",
        "branches-ignore",
        "tags",
        "tags-ignore",
        "paths",
        "paths-ignore",
    ];
    const PULL_REQUEST: &[&str] = &[
        "branches",
        "branches-ignore",
        "paths",
        "paths-ignore",
        "types",
    ];
    match event {
        "push" => (REF_AND_PATH, &[]),
        "pull_request" | "pull_request_target" => (PULL_REQUEST, &[]),
        "workflow_run" => (&["workflows", "types", "branches", "branches-ignore"], &[]),
        // merge_group takes `types` and `branches`/`branches-ignore` (github/docs
        // events-that-trigger-workflows.md, `merge_group`).
        "merge_group" => (&["types", "branches", "branches-ignore"], &[]),
        "workflow_dispatch" => (&[], &["inputs"]),
        "workflow_call" => (&[], &["inputs", "outputs", "secrets"]),
        _ => (&["types"], &[]),
    }
}

/// Parses the value of `on:` into triggers, in file order.
///
/// Forms as in Gitea's `jobparser.ParseRawOn` (go-gitea/gitea modules/actions/jobparser/model.go):
/// a string, a list of strings, or a map of event → null | map of filters | (for `schedule`) a
/// list of `{cron: …}`.
pub(super) fn parse_on(
    src: &Source<'_>,
    key: &MarkedYaml<'_>,
    node: &MarkedYaml<'_>,
) -> Result<Vec<Trigger>, WorkflowError> {
    let pos = Source::pos(node);
    let triggers = if let Some(event) = yaml::as_str(node) {
        vec![simple_trigger(src, node, event)?]
    } else if let Some(list) = yaml::items(node) {
        list.iter().map(|item| match yaml::as_str(item) {
            Some(event) => simple_trigger(src, item, event),
            None => Err(src.error(
                item,
                format!("an event in the `on:` list is {}; each item must be an event name such as `push`", yaml::kind(item)),
            )),
        })
        .collect::<Result<Vec<_>, _>>()?
    } else if let Some(entries) = yaml::entries(node) {
        let mut triggers = Vec::new();
        for (key, value) in entries {
            let Some(event) = yaml::as_str(key).filter(|e| !e.trim().is_empty()) else {
                return Err(src.error(
                    key,
                    format!(
                        "an event name under `on:` is {}; write an event name such as `push`",
                        yaml::kind(key)
                    ),
                ));
            };
            triggers.push(parse_event(src, event, key, value)?);
        }
        triggers
    } else {
        return Err(src.error(
            yaml::key_if_null(key, node),
            format!("`on:` is {}; write an event (`on: push`), a list (`on: [push, pull_request]`) or a map of events with their filters", yaml::kind(node)),
        ));
    };
    if triggers.is_empty() {
        return Err(src.error_at(pos, "`on:` names no events, so nothing can trigger this workflow; add at least one event, e.g. `on: push`"));
    }
    Ok(triggers)
}

fn simple_trigger(
    src: &Source<'_>,
    node: &MarkedYaml<'_>,
    event: &str,
) -> Result<Trigger, WorkflowError> {
    if event.trim().is_empty() {
        return Err(src.error(
            node,
            "an event name under `on:` is empty; write an event such as `push`",
        ));
    }
    Ok(Trigger {
        event: event.to_string(),
        filters: EventFilters::default(),
        pos: Source::pos(node),
    })
}

/// One `event: value` entry of an `on:` map.
fn parse_event(
    src: &Source<'_>,
    event: &str,
    key: &MarkedYaml<'_>,
    value: &MarkedYaml<'_>,
) -> Result<Trigger, WorkflowError> {
    let pos = Source::pos(key);
    let filters = if yaml::is_null(value) {
        EventFilters::default()
    } else if event == "schedule" {
        EventFilters {
            crons: parse_schedule(src, value)?,
            ..EventFilters::default()
        }
    } else if yaml::entries(value).is_some() {
        parse_filters(src, event, value)?
    } else {
        return Err(src.error(
            value,
            format!(
                "`on.{event}` is {}; it must be empty or a map of filters, e.g. `branches: [main]`",
                yaml::kind(value)
            ),
        ));
    };
    Ok(Trigger {
        event: event.to_string(),
        filters,
        pos,
    })
}

/// `schedule: [{cron: '…'}, …]`. Gitea refuses any key other than `cron` and any non-string
/// value (go-gitea/gitea modules/actions/jobparser/model.go, `ParseRawOn`).
fn parse_schedule(src: &Source<'_>, value: &MarkedYaml<'_>) -> Result<Vec<String>, WorkflowError> {
    let Some(items) = yaml::items(value) else {
        return Err(src.error(
            value,
            format!(
                "`on.schedule` is {}; it must be a list like `- cron: '30 5 * * *'`",
                yaml::kind(value)
            ),
        ));
    };
    let mut crons = Vec::new();
    for item in items {
        let Some(entries) = yaml::entries(item) else {
            return Err(src.error(
                item,
                format!(
                    "an `on.schedule` item is {}; write `- cron: '30 5 * * *'`",
                    yaml::kind(item)
                ),
            ));
        };
        for (key, cron) in entries {
            if yaml::as_str(key) != Some("cron") {
                return Err(src.error(key, "an `on.schedule` item has a key other than `cron`; each item is exactly `- cron: '<5 fields>'`"));
            }
            match yaml::as_str(cron) {
                Some(c) => crons.push(c.to_string()),
                None => {
                    return Err(src.error(
                        cron,
                        format!(
                            "`cron:` is {}; quote the schedule, e.g. `cron: '30 5 * * *'`",
                            yaml::kind(cron)
                        ),
                    ))
                }
            }
        }
    }
    Ok(crons)
}

/// Filters under one event. Keys must be unique (saphyr refuses duplicate keys).
fn parse_filters(
    src: &Source<'_>,
    event: &str,
    value: &MarkedYaml<'_>,
) -> Result<EventFilters, WorkflowError> {
    let (filter_keys, known_keys) = event_keys(event);
    let mut f = EventFilters::default();
    let mut positions: Vec<(&'static str, Pos)> = Vec::new();
    for (key, list) in yaml::entries(value).into_iter().flatten() {
        let Some(name) = yaml::as_str(key) else {
            return Err(src.error(
                key,
                format!(
                    "a key under `on.{event}` is {}; filter names are strings such as `branches`",
                    yaml::kind(key)
                ),
            ));
        };
        if known_keys.contains(&name) {
            continue;
        }
        let Some(&field) = filter_keys.iter().find(|k| **k == name) else {
            f.other_keys.push(name.to_string());
            continue;
        };
        let patterns = Some(string_list(src, event, field, list)?);
        match field {
            "branches" => f.branches = patterns,
            "branches-ignore" => f.branches_ignore = patterns,
            "tags" => f.tags = patterns,
            "tags-ignore" => f.tags_ignore = patterns,
            "paths" => f.paths = patterns,
            "paths-ignore" => f.paths_ignore = patterns,
            "types" => f.types = patterns,
            _ => f.workflows = patterns,
        }
        positions.push((field, Source::pos(key)));
    }
    check_exclusive(src, event, &positions)?;
    Ok(f)
}

/// GitHub refuses a filter together with its `-ignore` twin: "You cannot use both the `branches`
/// and `branches-ignore` filters for the same event in a workflow" (github/docs
/// data/reusables/actions/workflows/run-on-specific-branches-or-tags1.md; same for tags and, in
/// triggering-a-workflow-paths1.md, paths). The error points at whichever of the two comes second.
fn check_exclusive(
    src: &Source<'_>,
    event: &str,
    positions: &[(&'static str, Pos)],
) -> Result<(), WorkflowError> {
    for (include, ignore) in [
        ("branches", "branches-ignore"),
        ("tags", "tags-ignore"),
        ("paths", "paths-ignore"),
    ] {
        let find = |k: &str| {
            positions
                .iter()
                .find(|(name, _)| *name == k)
                .map(|(_, p)| *p)
        };
        if let (Some(a), Some(b)) = (find(include), find(ignore)) {
            let second = if (b.line, b.column) > (a.line, a.column) {
                (b, ignore)
            } else {
                (a, include)
            };
            return Err(src.error_at(
                second.0,
                format!(
                    "`on.{event}` has both `{include}` and `{ignore}`; GitHub refuses this (you cannot use both the \
                     {include} and {ignore} filters for the same event). Keep one: list exclusions in `{include}` \
                     as `!pattern` after the patterns they carve out of, or use only `{ignore}`"
                ),
            ));
        }
    }
    Ok(())
}

/// A filter's patterns: a list of scalars, or one scalar (act and Gitea accept both). Numbers and
/// booleans are kept as written (`1.10`, not `1.1`). Null means present but empty.
fn string_list(
    src: &Source<'_>,
    event: &str,
    field: &str,
    node: &MarkedYaml<'_>,
) -> Result<Vec<String>, WorkflowError> {
    if yaml::is_null(node) {
        return Ok(Vec::new());
    }
    if let Some(items) = yaml::items(node) {
        return items
            .iter()
            .map(|item| {
                src.scalar_string(item).ok_or_else(|| {
                    src.error(
                        item,
                        format!("an item of `on.{event}.{field}` is {}; each item must be one pattern string, e.g. `- 'releases/**'`", yaml::kind(item)),
                    )
                })
            })
            .collect();
    }
    src.scalar_string(node).map(|s| vec![s]).ok_or_else(|| {
        src.error(
            node,
            format!(
                "`on.{event}.{field}` is {}; write a list of patterns, e.g. `{field}: [main]`",
                yaml::kind(node)
            ),
        )
    })
}
