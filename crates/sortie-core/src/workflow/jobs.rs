//! `jobs:`: each job's id, name, `runs-on`, `uses` and `strategy.matrix`.

use super::yaml::{self, Source};
use super::{JobDef, MatrixDef, RunsOn, WorkflowError};
use saphyr::MarkedYaml;
use serde_json::{Map, Value};

/// Parses the value of `jobs:` (a non-empty map of job id → job), in file order.
pub(super) fn parse_jobs(
    src: &Source<'_>,
    key: &MarkedYaml<'_>,
    node: &MarkedYaml<'_>,
) -> Result<Vec<JobDef>, WorkflowError> {
    let Some(entries) = yaml::entries(node) else {
        return Err(src.error(
            yaml::key_if_null(key, node),
            format!(
                "`jobs:` is {}; it must be a map of job ids to jobs, with at least one job",
                yaml::kind(node)
            ),
        ));
    };
    let jobs = entries
        .map(|(id, job)| parse_job(src, id, job))
        .collect::<Result<Vec<_>, _>>()?;
    if jobs.is_empty() {
        return Err(src.error(key, "`jobs:` is empty; a workflow needs at least one job"));
    }
    Ok(jobs)
}

/// GitHub's job id rule, from actions/runner's `ReferenceNameBuilder.TryAddKnownName`
/// (src/Sdk/DTPipelines/Pipelines/ObjectTemplating/ReferenceNameBuilder.cs, "IDs may only contain
/// alphanumeric characters, '_', and '-'. IDs must start with a letter or '_' and must be less
/// than 100 characters"): letters, digits, `_` and `-`, starting with a letter or `_`. act's
/// pkg/model/testdata/invalid-job-name/*.yml holds examples on both sides of the rule.
fn check_job_id(src: &Source<'_>, key: &MarkedYaml<'_>, id: &str) -> Result<(), WorkflowError> {
    let mut chars = id.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if first_ok && rest_ok && id.len() < 100 {
        return Ok(());
    }
    Err(src.error(
        key,
        format!(
            "the job id {id:?} is invalid: ids may only contain letters, digits, '_' and '-', must start with a \
             letter or '_' and be shorter than 100 characters; rename the job (use `name:` for a display name)"
        ),
    ))
}

/// The keys of one job that we read.
#[derive(Default)]
struct JobKeys<'b, 'i> {
    name: Option<&'b MarkedYaml<'i>>,
    runs_on: Option<(&'b MarkedYaml<'i>, &'b MarkedYaml<'i>)>,
    uses: Option<&'b MarkedYaml<'i>>,
    strategy: Option<&'b MarkedYaml<'i>>,
}

fn parse_job(
    src: &Source<'_>,
    key: &MarkedYaml<'_>,
    job: &MarkedYaml<'_>,
) -> Result<JobDef, WorkflowError> {
    let Some(id) = src.scalar_string(key) else {
        return Err(src.error(
            key,
            format!(
                "a job id under `jobs:` is {}; job ids are plain strings such as `build`",
                yaml::kind(key)
            ),
        ));
    };
    check_job_id(src, key, &id)?;
    let Some(entries) = yaml::entries(job) else {
        return Err(src.error(
            yaml::key_if_null(key, job),
            format!("job `{id}` is {}; a job is a map with at least `runs-on:` (or `uses:` to call a reusable workflow)", yaml::kind(job)),
        ));
    };
    let mut keys = JobKeys::default();
    for (k, v) in entries {
        match yaml::as_str(k) {
            Some("name") => keys.name = Some(v),
            Some("runs-on") => keys.runs_on = Some((k, v)),
            Some("uses") => keys.uses = Some(v),
            Some("strategy") => keys.strategy = Some(v),
            _ => {}
        }
    }
    let pos = Source::pos(key);
    let name = optional_string(src, &id, "name", keys.name)?;
    let uses = optional_string(src, &id, "uses", keys.uses)?;
    let (runs_on, runs_on_pos) = match keys.runs_on {
        Some((k, v)) => (Some(parse_runs_on(src, &id, k, v)?), Source::pos(k)),
        None if uses.is_some() => (None, pos),
        None => {
            return Err(src.error(
                key,
                format!("job `{id}` has no `runs-on:`; add the labels of the runner it needs (e.g. `runs-on: ubuntu-latest`), or `uses:` to call a reusable workflow"),
            ))
        }
    };
    let matrix = match keys.strategy {
        Some(s) => parse_strategy(src, &id, s)?,
        None => None,
    };
    Ok(JobDef {
        id,
        name,
        runs_on,
        matrix,
        uses,
        pos,
        runs_on_pos,
    })
}

/// A key whose value must be a string when present (null counts as absent).
fn optional_string(
    src: &Source<'_>,
    id: &str,
    what: &str,
    node: Option<&MarkedYaml<'_>>,
) -> Result<Option<String>, WorkflowError> {
    match node {
        None => Ok(None),
        Some(n) if yaml::is_null(n) => Ok(None),
        Some(n) => src.scalar_string(n).map(Some).ok_or_else(|| {
            src.error(
                n,
                format!(
                    "`jobs.{id}.{what}` is {}; it must be a string",
                    yaml::kind(n)
                ),
            )
        }),
    }
}

/// `runs-on:` as a string, a list of strings, or `{group, labels}` (github/docs
/// data/reusables/actions/jobs/choosing-runner-overview.md). Labels are kept raw: they may hold
/// `${{ … }}` expressions, resolved later against the matrix.
fn parse_runs_on(
    src: &Source<'_>,
    id: &str,
    key: &MarkedYaml<'_>,
    node: &MarkedYaml<'_>,
) -> Result<RunsOn, WorkflowError> {
    let runs_on = if let Some(items) = yaml::items(node) {
        RunsOn {
            group: None,
            labels: label_list(src, id, "runs-on", items)?,
        }
    } else if let Some(entries) = yaml::entries(node) {
        runs_on_map(src, id, entries)?
    } else if let Some(label) = src.scalar_string(node).filter(|_| !is_bool(node)) {
        RunsOn {
            group: None,
            labels: vec![label],
        }
    } else {
        return Err(src.error(
            yaml::key_if_null(key, node),
            format!("`jobs.{id}.runs-on` is {}; write a label (`runs-on: ubuntu-latest`), a list of labels, or `{{group: …, labels: …}}`", yaml::kind(node)),
        ));
    };
    if runs_on.group.is_none() && runs_on.labels.iter().all(|l| l.trim().is_empty()) {
        return Err(src.error(
            node,
            format!("`jobs.{id}.runs-on` names no runner; give at least one label or a group"),
        ));
    }
    Ok(runs_on)
}

fn is_bool(node: &MarkedYaml<'_>) -> bool {
    yaml::kind(node) == "a boolean"
}

fn runs_on_map<'b, 'i: 'b>(
    src: &Source<'_>,
    id: &str,
    entries: impl Iterator<Item = (&'b MarkedYaml<'i>, &'b MarkedYaml<'i>)>,
) -> Result<RunsOn, WorkflowError> {
    let mut runs_on = RunsOn::default();
    for (k, v) in entries {
        match yaml::as_str(k) {
            Some("group") => runs_on.group = optional_string(src, id, "runs-on.group", Some(v))?,
            Some("labels") => {
                runs_on.labels = match yaml::items(v) {
                    Some(items) => label_list(src, id, "runs-on.labels", items)?,
                    None => optional_string(src, id, "runs-on.labels", Some(v))?.into_iter().collect(),
                }
            }
            _ => {
                return Err(src.error(
                    k,
                    format!("`jobs.{id}.runs-on` has an unknown key; in its map form only `group` and `labels` are allowed"),
                ))
            }
        }
    }
    Ok(runs_on)
}

fn label_list(
    src: &Source<'_>,
    id: &str,
    what: &str,
    items: &[MarkedYaml<'_>],
) -> Result<Vec<String>, WorkflowError> {
    items
        .iter()
        .map(|item| {
            src.scalar_string(item).ok_or_else(|| {
                src.error(
                    item,
                    format!(
                        "an item of `jobs.{id}.{what}` is {}; each item must be one label string",
                        yaml::kind(item)
                    ),
                )
            })
        })
        .collect()
}

/// `strategy:`; only its `matrix` matters here. A whole-strategy expression is kept as
/// [`MatrixDef::Expr`] since the matrix comes from it.
fn parse_strategy(
    src: &Source<'_>,
    id: &str,
    node: &MarkedYaml<'_>,
) -> Result<Option<MatrixDef>, WorkflowError> {
    if yaml::is_null(node) {
        return Ok(None);
    }
    if let Some(s) = yaml::as_str(node).filter(|s| yaml::is_expression(s)) {
        return Ok(Some(MatrixDef::Expr(s.to_string())));
    }
    let Some(entries) = yaml::entries(node) else {
        return Err(src.error(
            node,
            format!(
                "`jobs.{id}.strategy` is {}; it must be a map (e.g. with `matrix:`)",
                yaml::kind(node)
            ),
        ));
    };
    for (k, v) in entries {
        if yaml::as_str(k) == Some("matrix") {
            return parse_matrix(src, id, k, v).map(Some);
        }
    }
    Ok(None)
}

/// `strategy.matrix`: axes (lists of values), `include` and `exclude` (lists of maps), or an
/// expression for the whole or any part (github/docs data/reusables/actions/jobs/
/// matrix-from-context.md), which only the forge can evaluate when the workflow runs.
fn parse_matrix(
    src: &Source<'_>,
    id: &str,
    key: &MarkedYaml<'_>,
    node: &MarkedYaml<'_>,
) -> Result<MatrixDef, WorkflowError> {
    if let Some(s) = yaml::as_str(node).filter(|s| yaml::is_expression(s)) {
        return Ok(MatrixDef::Expr(s.to_string()));
    }
    let Some(entries) = yaml::entries(node) else {
        return Err(src.error(
            yaml::key_if_null(key, node),
            format!("`jobs.{id}.strategy.matrix` is {}; it must be a map of variables to lists of values, or a `${{{{ … }}}}` expression", yaml::kind(node)),
        ));
    };
    let (mut axes, mut include, mut exclude) = (Vec::new(), Vec::new(), Vec::new());
    for (k, v) in entries {
        if let Some(expr) = yaml::as_str(v).filter(|s| yaml::is_expression(s)) {
            return Ok(MatrixDef::Expr(expr.to_string()));
        }
        let Some(name) = src.scalar_string(k) else {
            return Err(src.error(k, format!("a key of `jobs.{id}.strategy.matrix` is {}; matrix variables are named by strings", yaml::kind(k))));
        };
        match name.as_str() {
            "include" | "exclude" => match combinations(src, id, &name, v)? {
                Part::Value(list) if name == "include" => include = list,
                Part::Value(list) => exclude = list,
                Part::Expr(e) => return Ok(MatrixDef::Expr(e)),
            },
            _ => {
                let values = axis(src, id, &name, v)?;
                axes.push((name, values));
            }
        }
    }
    Ok(MatrixDef::Literal {
        axes,
        include,
        exclude,
    })
}

/// A part of a matrix: a literal value, or an expression standing in for it.
enum Part<T> {
    Value(T),
    Expr(String),
}

/// One matrix variable: a non-empty list of values (GitHub: "Matrix vector '…' does not contain
/// any values").
fn axis(
    src: &Source<'_>,
    id: &str,
    name: &str,
    node: &MarkedYaml<'_>,
) -> Result<Vec<Value>, WorkflowError> {
    let Some(items) = yaml::items(node) else {
        return Err(src.error(
            node,
            format!("matrix variable `{name}` of job `{id}` is {}; it must be a list of values, e.g. `{name}: [a, b]`", yaml::kind(node)),
        ));
    };
    if items.is_empty() {
        return Err(src.error(node, format!("matrix variable `{name}` of job `{id}` has no values; give it at least one or remove it")));
    }
    items.iter().map(|item| src.to_json(item, 1)).collect()
}

/// `include` or `exclude`: a list of maps; null means none.
fn combinations(
    src: &Source<'_>,
    id: &str,
    what: &str,
    node: &MarkedYaml<'_>,
) -> Result<Part<Vec<Map<String, Value>>>, WorkflowError> {
    if yaml::is_null(node) {
        return Ok(Part::Value(Vec::new()));
    }
    let Some(items) = yaml::items(node) else {
        return Err(src.error(
            node,
            format!(
                "`jobs.{id}.strategy.matrix.{what}` is {}; it must be a list of maps",
                yaml::kind(node)
            ),
        ));
    };
    let mut list = Vec::with_capacity(items.len());
    for item in items {
        if let Some(expr) = yaml::as_str(item).filter(|s| yaml::is_expression(s)) {
            return Ok(Part::Expr(expr.to_string()));
        }
        if yaml::entries(item).is_none() {
            return Err(src.error(
                item,
                format!("an item of `jobs.{id}.strategy.matrix.{what}` is {}; each item must be a map such as `- os: ubuntu-latest`", yaml::kind(item)),
            ));
        }
        list.push(src.to_json_map(item, 1)?);
    }
    Ok(Part::Value(list))
}
