//! The workflow file model, parsed from YAML with line/column positions for every error.
//!
//! STUB: the implementation is being written; the public types below are the contract.

use serde::Serialize;

/// A 1-based line/column position in a workflow file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// A problem with a workflow file, with where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{path}:{line}:{column}: {message}")]
pub struct WorkflowError {
    pub path: String,
    pub line: usize,
    pub column: usize,
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
    pub filters: EventFilters,
    pub pos: Pos,
}

/// Filters of one event. `None` means the key is absent; `Some(vec![])` means present but empty.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventFilters {
    pub branches: Option<Vec<String>>,
    pub branches_ignore: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub tags_ignore: Option<Vec<String>>,
    pub paths: Option<Vec<String>>,
    pub paths_ignore: Option<Vec<String>>,
    /// Activity types (`types:`) for pull_request, release, …
    pub types: Option<Vec<String>>,
    /// `cron:` entries of `schedule`.
    pub crons: Vec<String>,
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
    pub group: Option<String>,
    pub labels: Vec<String>,
}

/// `strategy.matrix`.
#[derive(Debug, Clone, PartialEq)]
pub enum MatrixDef {
    /// A literal matrix: axes in file order, and `include` / `exclude` entries.
    Literal {
        axes: Vec<(String, Vec<serde_json::Value>)>,
        include: Vec<serde_json::Map<String, serde_json::Value>>,
        exclude: Vec<serde_json::Map<String, serde_json::Value>>,
    },
    /// The matrix (or one of its axes, include or exclude) is an expression such as
    /// `${{ fromJSON(needs.setup.outputs.matrix) }}`, kept as written.
    Expr(String),
}

/// Parses one workflow file. `path` is used in errors and in the result.
pub fn parse_workflow(path: &str, text: &str) -> Result<Workflow, WorkflowError> {
    let _ = text;
    Err(WorkflowError { path: path.into(), line: 1, column: 1, message: "workflow parsing not implemented yet".into() })
}
