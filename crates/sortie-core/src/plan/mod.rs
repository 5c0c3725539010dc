//! Everything joined: event + workflow files → which workflows trigger, their expanded jobs, each
//! job's labels, [`RunnerSpec`] and [`Route`]. This is the output of `sortie plan` and the input of
//! job creation in push mode.

mod table;
#[cfg(test)]
mod tests;

use crate::catalog::Catalog;
use crate::event::{changed_files, ChangedFiles, Event, EventKind};
use crate::expr::{self, Context};
use crate::forge::Flavor;
use crate::labels::{route_job, RoutingConfig};
use crate::matrix::{self, Combination};
use crate::route::Route;
use crate::spec::RunnerSpec;
use crate::trigger;
use crate::workflow::{parse_workflow, JobDef, Workflow, WorkflowError};
use serde::Serialize;
use serde_json::Value;

/// Everything a plan needs. All data, no I/O: the caller reads the files.
#[derive(Debug, Clone, Copy)]
pub struct PlanRequest<'a> {
    /// Whose semantics to mirror.
    pub flavor: Flavor,
    /// The event being planned.
    pub event: &'a Event,
    /// Workflow files as `(path, content)`, already selected with
    /// [`crate::forge::select_workflow_files`] (or every file of a `--workflows` folder).
    pub files: &'a [(String, String)],
    /// Changed files given explicitly; when `None` they come from the payload.
    pub changed_files: Option<&'a [String]>,
    /// Label routing.
    pub routing: &'a RoutingConfig,
    /// Instance types for ranking.
    pub catalog: &'a Catalog,
}

/// The result of planning one event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub forge: Flavor,
    pub event: String,
    #[serde(rename = "ref")]
    pub git_ref: Option<String>,
    /// Every workflow file, once, triggered or not.
    pub workflows: Vec<WorkflowPlan>,
    /// Problems with workflow files, with positions.
    pub errors: Vec<WorkflowError>,
}

/// One workflow file's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkflowPlan {
    pub path: String,
    pub triggered: bool,
    pub reason: String,
    /// The expanded jobs (empty unless triggered).
    pub jobs: Vec<JobPlan>,
}

/// One expanded job: one matrix combination of one job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct JobPlan {
    /// The job's key under `jobs:`.
    pub id: String,
    /// Display name as the forge shows it (`build (linux, 18)` for matrix jobs without a name).
    pub name: String,
    /// The matrix combination, `null` for a job without a matrix.
    pub matrix: Option<Combination>,
    /// Concrete labels after expression evaluation.
    pub runs_on: Vec<String>,
    pub route: Route,
    pub spec: Option<RunnerSpec>,
}

impl Plan {
    /// All expanded jobs of triggered workflows, with their workflow path.
    pub fn jobs(&self) -> impl Iterator<Item = (&str, &JobPlan)> {
        self.workflows
            .iter()
            .flat_map(|w| w.jobs.iter().map(move |j| (w.path.as_str(), j)))
    }
}

/// Plans an event. Never fails: bad files become errors and reasons.
pub fn plan(req: &PlanRequest<'_>) -> Plan {
    let changed = changed_for(req);
    let mut workflows = Vec::with_capacity(req.files.len());
    let mut errors = Vec::new();
    for (path, text) in req.files {
        match parse_workflow(path, text) {
            Ok(wf) => workflows.push(plan_workflow(req, &wf, &changed)),
            Err(e) => {
                workflows.push(WorkflowPlan {
                    path: path.clone(),
                    triggered: false,
                    reason: format!(
                        "invalid workflow, not run: {} (line {}, column {})",
                        e.message, e.line, e.column
                    ),
                    jobs: Vec::new(),
                });
                errors.push(e);
            }
        }
    }
    Plan {
        forge: req.flavor,
        event: req.event.name.clone(),
        git_ref: req.event.git_ref(),
        workflows,
        errors,
    }
}

fn changed_for(req: &PlanRequest<'_>) -> ChangedFiles {
    if let Some(files) = req.changed_files {
        return ChangedFiles::explicit(files.to_vec());
    }
    match &req.event.kind {
        EventKind::Push(p) => changed_files(req.flavor, p),
        EventKind::PullRequest(_) => ChangedFiles::Unavailable(
            "pull request payloads do not list changed files; pass them with --changed-file".into(),
        ),
        EventKind::Other { .. } => ChangedFiles::explicit(Vec::new()),
    }
}

fn plan_workflow(req: &PlanRequest<'_>, wf: &Workflow, changed: &ChangedFiles) -> WorkflowPlan {
    let decision = trigger::evaluate(req.flavor, wf, req.event, changed);
    let jobs = if decision.triggered {
        wf.jobs.iter().flat_map(|j| plan_job(req, j)).collect()
    } else {
        Vec::new()
    };
    WorkflowPlan {
        path: wf.path.clone(),
        triggered: decision.triggered,
        reason: decision.reason,
        jobs,
    }
}

/// Expands one job over its matrix and routes each combination.
pub fn plan_job(req: &PlanRequest<'_>, job: &JobDef) -> Vec<JobPlan> {
    if let Some(uses) = &job.uses {
        let route = Route::skip(format!(
            "calls the reusable workflow {uses}: its own jobs get runners when it runs"
        ));
        return vec![JobPlan {
            id: job.id.clone(),
            name: display_name(job, None),
            matrix: None,
            runs_on: vec![],
            route,
            spec: None,
        }];
    }
    let combos: Vec<Option<Combination>> = match &job.matrix {
        None => vec![None],
        Some(def) => match matrix::expand(def) {
            Ok(c) if c.is_empty() => vec![None],
            Ok(c) => c.into_iter().map(Some).collect(),
            Err(e) => return vec![unexpanded_matrix_job(req, job, &e.to_string())],
        },
    };
    combos
        .into_iter()
        .map(|combo| route_combination(req, job, combo))
        .collect()
}

/// A matrix that only exists at run time: route the job if `runs-on` does not depend on it.
fn unexpanded_matrix_job(req: &PlanRequest<'_>, job: &JobDef, why: &str) -> JobPlan {
    let mut plan = route_combination(req, job, None);
    if plan.route.is_served() || matches!(plan.route.kind, crate::route::RouteKind::Skip) {
        plan.route.reason = format!("{} (matrix not expanded: {why})", plan.route.reason);
    } else {
        plan.route = Route::unroutable(format!(
            "{why}; runs-on depends on it: {}",
            plan.route.reason
        ));
    }
    plan
}

fn route_combination(req: &PlanRequest<'_>, job: &JobDef, combo: Option<Combination>) -> JobPlan {
    let ctx = Context {
        matrix: combo.clone(),
    };
    let name = display_name(job, combo.as_ref());
    let (runs_on, route, spec) = match resolve_runs_on(job, &ctx) {
        Ok(labels) => {
            let group = job.runs_on.as_ref().and_then(|r| r.group.as_deref());
            let d = route_job(&labels, group, req.routing, req.catalog);
            (labels, d.route, d.spec)
        }
        Err(msg) => (Vec::new(), Route::unroutable(msg), None),
    };
    JobPlan {
        id: job.id.clone(),
        name,
        matrix: combo,
        runs_on,
        route,
        spec,
    }
}

/// Evaluates `runs-on` labels. A label that is a single expression may yield an array of labels.
fn resolve_runs_on(job: &JobDef, ctx: &Context) -> Result<Vec<String>, String> {
    let Some(runs_on) = &job.runs_on else {
        return Err(format!("job {} has no runs-on", job.id));
    };
    let mut out = Vec::new();
    for raw in &runs_on.labels {
        let value = expr::interpolate(raw, ctx).map_err(|e| format!("runs-on: {e}"))?;
        match value {
            Value::String(s) => out.push(s),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::String(s) => out.push(s),
                        other => {
                            return Err(format!(
                                "runs-on: {raw} gave {other}, which is not a label string"
                            ))
                        }
                    }
                }
            }
            Value::Null => {}
            other => out.push(other.to_string()),
        }
    }
    out.retain(|l| !l.trim().is_empty());
    Ok(out)
}

/// The name the forge shows: `name:` interpolated, else the id, plus the matrix values in
/// parentheses for matrix jobs without an explicit name (GitHub's convention, e.g.
/// `build (ubuntu-latest, 18)`).
fn display_name(job: &JobDef, combo: Option<&Combination>) -> String {
    let ctx = Context {
        matrix: combo.cloned(),
    };
    if let Some(name) = &job.name {
        return match expr::interpolate(name, &ctx) {
            Ok(Value::String(s)) => s,
            Ok(other) => other.to_string(),
            Err(_) => name.clone(),
        };
    }
    match combo {
        Some(c) if !c.is_empty() => {
            let values: Vec<String> = c.values().map(value_text).collect();
            format!("{} ({})", job.id, values.join(", "))
        }
        _ => job.id.clone(),
    }
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
