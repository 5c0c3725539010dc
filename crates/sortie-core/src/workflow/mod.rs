//! The workflow file model, parsed from YAML with line/column positions for every error.
//!
//! [`parse_workflow`] reads one file with saphyr (YAML 1.2, so `on` stays a string key) into a
//! [`Workflow`]: its triggers with their filters, and its jobs with `runs-on` and
//! `strategy.matrix`. Everything else in the file (steps, env, permissions, …) is not needed to
//! decide where a job runs and is skipped. Errors GitHub itself reports for the parts we read are
//! errors here too, each with the 1-based line and column of the offending node.
//!
//! Submodules: `yaml` (reading saphyr nodes), `on` (`on:` and event filters), `jobs` (jobs,
//! `runs-on`, matrices).

mod jobs;
mod on;
mod yaml;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_errors;
#[cfg(test)]
mod tests_jobs;
#[cfg(test)]
mod tests_prop;

use saphyr::{LoadableYamlNode, MarkedYaml, YamlData};
use serde::Serialize;
use yaml::Source;

/// A 1-based line/column position in a workflow file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column in characters, from 1.
    pub column: usize,
}

/// A problem with a workflow file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{path}:{line}:{column}: {message}")]
pub struct WorkflowError {
    /// The file, as given to [`parse_workflow`].
    pub path: String,
    /// Line of the offending node, from 1.
    pub line: usize,
    /// Column of the offending node, from 1.
    pub column: usize,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// One parsed workflow file.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflow {
    /// Path relative to the repository root (or the workflows directory given to `plan`).
    pub path: String,
    /// `name:`.
    pub name: Option<String>,
    /// The events under `on:`, in file order.
    pub triggers: Vec<Trigger>,
    /// The jobs under `jobs:`, in file order.
    pub jobs: Vec<JobDef>,
}

/// One event under `on:` with its filters.
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    /// Event name as written (`push`, `pull_request`, …).
    pub event: String,
    /// The filters under the event (all `None` / empty for `on: push` or `push:` with nothing).
    pub filters: EventFilters,
    /// Position of the event name.
    pub pos: Pos,
}

/// Filters of one event. `None` means the key is absent; `Some(vec![])` means present but empty.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventFilters {
    /// `branches:` patterns, as written (a leading `!` negates).
    pub branches: Option<Vec<String>>,
    /// `branches-ignore:` patterns.
    pub branches_ignore: Option<Vec<String>>,
    /// `tags:` patterns (`push` only).
    pub tags: Option<Vec<String>>,
    /// `tags-ignore:` patterns (`push` only).
    pub tags_ignore: Option<Vec<String>>,
    /// `paths:` patterns.
    pub paths: Option<Vec<String>>,
    /// `paths-ignore:` patterns.
    pub paths_ignore: Option<Vec<String>>,
    /// Activity types (`types:`) for pull_request, release, …
    pub types: Option<Vec<String>>,
    /// `cron:` entries of `schedule`.
    pub crons: Vec<String>,
    /// `workflows:` of `workflow_run` (names of the workflows whose runs trigger this one).
    pub workflows: Option<Vec<String>>,
    /// Keys under the event that are none of the above (e.g. `inputs`, or a typo). Gitea logs and
    /// refuses to match a push whose filter has one; GitHub validates them.
    pub other_keys: Vec<String>,
}

/// One job under `jobs:`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobDef {
    /// The job's key under `jobs:`.
    pub id: String,
    /// `name:` (may contain expressions).
    pub name: Option<String>,
    /// `runs-on:`; `None` for a reusable-workflow call (`uses:`) or when missing.
    pub runs_on: Option<RunsOn>,
    /// `strategy.matrix`.
    pub matrix: Option<MatrixDef>,
    /// `uses:` of a job that calls a reusable workflow (it needs no runner of its own).
    pub uses: Option<String>,
    /// Position of the job key.
    pub pos: Pos,
    /// Position of `runs-on:` (or of the job key when absent).
    pub runs_on_pos: Pos,
}

/// `runs-on:` in any of its forms: a string, an array of strings, or `{group, labels}`.
/// Label strings are raw and may contain `${{ … }}` expressions.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunsOn {
    /// `group:` of the map form.
    pub group: Option<String>,
    /// The labels, in file order (one for the string form).
    pub labels: Vec<String>,
}

/// `strategy.matrix`.
#[derive(Debug, Clone, PartialEq)]
pub enum MatrixDef {
    /// A literal matrix: axes in file order, and `include` / `exclude` entries.
    Literal {
        /// Each variable with its values, in file order.
        axes: Vec<(String, Vec<serde_json::Value>)>,
        /// `include:` entries.
        include: Vec<serde_json::Map<String, serde_json::Value>>,
        /// `exclude:` entries.
        exclude: Vec<serde_json::Map<String, serde_json::Value>>,
    },
    /// The matrix (or one of its axes, include or exclude) is an expression such as
    /// `${{ fromJSON(needs.setup.outputs.matrix) }}`, kept as written.
    Expr(String),
}

/// Files whose nesting bound is at most this parse on the caller's stack (about 4 KiB per level
/// in an unoptimised build, so this stays well inside a 2 MiB thread).
const INLINE_NESTING: usize = 128;
/// Files that may nest deeper than this are refused rather than parsed.
const MAX_NESTING: usize = 2048;
/// Stack given per possible nesting level when parsing on a dedicated thread.
const STACK_PER_LEVEL: usize = 16 * 1024;

/// Parses one workflow file. `path` is used in errors and in the result.
///
/// Only the first YAML document is read, as Gitea's `yaml.Unmarshal` does. A file that may nest
/// deeper than saphyr's recursive loader can take on the caller's stack is parsed on a scoped
/// thread with a stack sized for it (see `yaml::nesting_bound`); a file that may nest deeper
/// than any workflow needs is refused.
pub fn parse_workflow(path: &str, text: &str) -> Result<Workflow, WorkflowError> {
    let bound = yaml::nesting_bound(text);
    if bound <= INLINE_NESTING {
        return parse_document(path, text);
    }
    let src = Source::new(path, text);
    if bound > MAX_NESTING {
        return Err(src.error_at(
            Pos { line: 1, column: 1 },
            "this file is indented or nested far deeper than any workflow needs (hundreds of levels); it is refused \
             to keep the parser safe, so flatten it",
        ));
    }
    let stack = 1024 * 1024 + bound * STACK_PER_LEVEL;
    std::thread::scope(|scope| {
        let worker = std::thread::Builder::new()
            .name("sortie-yaml".into())
            .stack_size(stack)
            .spawn_scoped(scope, || parse_document(path, text));
        match worker {
            Ok(handle) => handle.join().unwrap_or_else(|_| {
                Err(src.error_at(Pos { line: 1, column: 1 }, "the YAML parser failed on this file (a bug in sortie or saphyr); please report it with the file"))
            }),
            Err(e) => Err(src.error_at(Pos { line: 1, column: 1 }, format!("could not start a thread to parse this deeply nested file: {e}; retry, or flatten the file"))),
        }
    })
}

/// Parses one file on the current stack; the caller has checked that its nesting fits.
fn parse_document(path: &str, text: &str) -> Result<Workflow, WorkflowError> {
    let src = Source::new(path, text);
    let docs = MarkedYaml::load_from_str(text).map_err(|e| src.scan_error(&e))?;
    let root = docs
        .first()
        .filter(|d| !matches!(yaml::untag(d).data, YamlData::BadValue) && !yaml::is_null(d));
    let Some(root) = root else {
        return Err(src.error_at(
            Pos { line: 1, column: 1 },
            "this workflow file is empty; a workflow needs at least `on:` (its events) and `jobs:`, or delete the file",
        ));
    };
    parse_root(&src, path, root)
}

/// Parses many workflow files, keeping every good one and every error (in input order).
/// Each item of `files` is `(path, text)`.
pub fn parse_workflows(files: &[(String, String)]) -> (Vec<Workflow>, Vec<WorkflowError>) {
    let mut workflows = Vec::with_capacity(files.len());
    let mut errors = Vec::new();
    for (path, text) in files {
        match parse_workflow(path, text) {
            Ok(w) => workflows.push(w),
            Err(e) => errors.push(e),
        }
    }
    (workflows, errors)
}

/// The top-level keys we read, with the node of each.
#[derive(Default)]
struct TopLevel<'b, 'i> {
    name: Option<&'b MarkedYaml<'i>>,
    on: Option<(&'b MarkedYaml<'i>, &'b MarkedYaml<'i>)>,
    jobs: Option<(&'b MarkedYaml<'i>, &'b MarkedYaml<'i>)>,
}

fn parse_root(
    src: &Source<'_>,
    path: &str,
    root: &MarkedYaml<'_>,
) -> Result<Workflow, WorkflowError> {
    let Some(entries) = yaml::entries(root) else {
        return Err(src.error(
            root,
            format!("the top level of a workflow must be a map with `on:` and `jobs:` keys, but this file holds {}", yaml::kind(root)),
        ));
    };
    let mut top = TopLevel::default();
    for (key, value) in entries {
        match top_key(key) {
            Some(TopKey::Name) => top.name = Some(value),
            // YAML 1.1 parsers read the key `on` as boolean true; accept that spelling too, but
            // let a real `on` key win.
            Some(TopKey::On) => top.on = Some((key, value)),
            Some(TopKey::True) => top.on = top.on.or(Some((key, value))),
            Some(TopKey::Jobs) => top.jobs = Some((key, value)),
            None => {}
        }
    }
    let name = match top.name {
        None => None,
        Some(n) if yaml::is_null(n) => None,
        Some(n) => Some(src.scalar_string(n).ok_or_else(|| {
            src.error(
                n,
                format!(
                    "`name:` must be a string, but it is {}; quote it or remove it",
                    yaml::kind(n)
                ),
            )
        })?),
    };
    let Some((on_key, on_node)) = top.on else {
        return Err(src.error(
            root,
            "this workflow has no `on:` key, so nothing can trigger it; add one naming its events, e.g. `on: push`",
        ));
    };
    let triggers = on::parse_on(src, on_key, on_node)?;
    let Some((jobs_key, jobs_node)) = top.jobs else {
        return Err(src.error(
            root,
            "this workflow has no `jobs:` key; add at least one job under `jobs:`",
        ));
    };
    let jobs = jobs::parse_jobs(src, jobs_key, jobs_node)?;
    Ok(Workflow {
        path: path.to_string(),
        name,
        triggers,
        jobs,
    })
}

enum TopKey {
    Name,
    On,
    True,
    Jobs,
}

fn top_key(key: &MarkedYaml<'_>) -> Option<TopKey> {
    match &yaml::untag(key).data {
        YamlData::Value(saphyr::Scalar::Boolean(true)) => Some(TopKey::True),
        YamlData::Value(saphyr::Scalar::String(s)) => match s.as_ref() {
            "name" => Some(TopKey::Name),
            "on" => Some(TopKey::On),
            "jobs" => Some(TopKey::Jobs),
            _ => None,
        },
        _ => None,
    }
}
