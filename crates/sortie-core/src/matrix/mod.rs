//! `strategy.matrix` expansion with GitHub's `include` / `exclude` rules.
//!
//! Mirrors GitHub's own implementation, actions/runner
//! `src/Sdk/WorkflowParser/Conversion/MatrixBuilder.cs`, and the docs "Running variations of
//! jobs in a workflow" ("Expanding or adding matrix configurations", "Excluding matrix
//! configurations"):
//!
//! 1. The cross product of the axes, first axis varying slowest (the order GitHub lists jobs).
//! 2. `exclude` entries drop every combination that matches all of their values. Matching is
//!    leaf by leaf with GitHub's `==` (strings ignore case, `'1' == 1`), so an entry may name
//!    only part of a nested value.
//! 3. Each `include` entry splits into *filter* keys (the axes) and *extra* keys (the rest).
//!    Its extras are added to every remaining combination its filter matches (an entry with no
//!    axis keys matches all of them); a later entry's extras overwrite an earlier entry's, but
//!    never an axis value. An entry that matches no combination becomes a combination of its
//!    own, after the cross product.
//!
//! nektos/act `pkg/model/workflow.go` `GetMatrixes` differs: it turns an include entry without
//! axis keys into a new combination, where GitHub (and its docs) add it to every combination.
//! We follow GitHub.

use crate::expr;
use crate::workflow::MatrixDef;
use serde_json::{Map, Value};

#[cfg(test)]
mod tests;

/// One expanded matrix combination, keys in definition order.
pub type Combination = Map<String, Value>;

/// Why a matrix could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct MatrixError(pub String);

/// GitHub's limit: "A matrix will generate a maximum of 256 jobs per workflow run"
/// (docs "Running variations of jobs in a workflow").
pub const MAX_COMBINATIONS: usize = 256;

/// The largest cross product sortie walks before `exclude`. Anything bigger cannot end up under
/// [`MAX_COMBINATIONS`] in any realistic workflow, and walking it would only burn time.
const MAX_CROSS_PRODUCT: usize = 1 << 16;

/// Expands a matrix into its combinations, in the order GitHub runs them.
///
/// ```
/// use sortie_core::matrix::expand;
/// use sortie_core::workflow::MatrixDef;
/// use serde_json::{json, Value};
///
/// let def = MatrixDef::Literal {
///     axes: vec![("os".into(), vec![json!("linux"), json!("mac")]), ("v".into(), vec![json!(1), json!(2)])],
///     include: vec![],
///     exclude: vec![json!({"os": "mac", "v": 1}).as_object().unwrap().clone()],
/// };
/// let combos = expand(&def).unwrap();
/// assert_eq!(combos.len(), 3);
/// assert_eq!(Value::Object(combos[2].clone()), json!({"os": "mac", "v": 2}));
/// ```
pub fn expand(def: &MatrixDef) -> Result<Vec<Combination>, MatrixError> {
    let (axes, include, exclude) = match def {
        MatrixDef::Expr(e) => {
            return Err(MatrixError(format!(
                "the matrix is an expression (`{e}`) that can only be expanded when the workflow runs; sortie cannot tell which jobs it makes until then"
            )))
        }
        MatrixDef::Literal { axes, include, exclude } => (axes, include, exclude),
    };
    validate(axes, include, exclude)?;
    let includes: Vec<Include> = include
        .iter()
        .map(|entry| Include::new(entry, axes))
        .collect();
    let excludes: Vec<Vec<Leaf>> = exclude.iter().map(leaves).collect();
    let mut matched = vec![false; includes.len()];
    let mut result = Vec::new();
    for index in 0..cross_product_size(axes)? {
        let combo = nth_combination(axes, index);
        if excludes.iter().any(|filter| matches(&combo, filter)) {
            continue;
        }
        result.push(with_extras(combo, &includes, &mut matched));
        check_limit(result.len())?;
    }
    for (include, _) in includes.iter().zip(&matched).filter(|(_, hit)| !**hit) {
        result.push(include.as_combination());
        check_limit(result.len())?;
    }
    Ok(result)
}

fn check_limit(count: usize) -> Result<(), MatrixError> {
    if count > MAX_COMBINATIONS {
        return Err(MatrixError(format!(
            "the matrix makes more than {MAX_COMBINATIONS} jobs, GitHub's limit per workflow run; remove axis values or add `exclude` entries"
        )));
    }
    Ok(())
}

/// The checks GitHub makes when it reads the matrix (actions/runner
/// `WorkflowParser/Conversion/WorkflowTemplateConverter.cs` and `MatrixBuilder.cs`).
fn validate(
    axes: &[(String, Vec<Value>)],
    include: &[Map<String, Value>],
    exclude: &[Map<String, Value>],
) -> Result<(), MatrixError> {
    if let Some((name, _)) = axes.iter().find(|(_, values)| values.is_empty()) {
        return Err(MatrixError(format!(
            "matrix vector '{name}' does not contain any values; give it at least one value or remove it"
        )));
    }
    if axes.is_empty() && include.is_empty() {
        return Err(MatrixError(
            "the matrix must define at least one vector: add an axis (e.g. `os: [linux]`) or an `include` entry".into(),
        ));
    }
    if include.iter().any(Map::is_empty) {
        return Err(MatrixError(
            "a matrix `include` entry does not contain any values; remove it".into(),
        ));
    }
    for entry in exclude {
        if entry.is_empty() {
            return Err(MatrixError(
                "a matrix `exclude` entry must not be empty; remove it".into(),
            ));
        }
        if let Some(key) = entry.keys().find(|k| !is_axis(axes, k)) {
            return Err(MatrixError(format!(
                "matrix exclude key '{key}' does not match any key within the matrix; exclude entries may only name the matrix's axes"
            )));
        }
    }
    Ok(())
}

fn is_axis(axes: &[(String, Vec<Value>)], key: &str) -> bool {
    axes.iter().any(|(name, _)| expr::keys_equal(name, key))
}

fn cross_product_size(axes: &[(String, Vec<Value>)]) -> Result<usize, MatrixError> {
    if axes.is_empty() {
        return Ok(0);
    }
    let size = axes
        .iter()
        .try_fold(1usize, |acc, (_, values)| acc.checked_mul(values.len()))
        .filter(|&size| size <= MAX_CROSS_PRODUCT);
    size.ok_or_else(|| {
        MatrixError(format!(
            "the matrix axes multiply to more than {MAX_CROSS_PRODUCT} combinations, far beyond GitHub's limit of {MAX_COMBINATIONS} jobs; remove axis values"
        ))
    })
}

/// The `index`-th combination of the cross product, first axis varying slowest.
fn nth_combination(axes: &[(String, Vec<Value>)], index: usize) -> Combination {
    let mut combo = Map::new();
    let mut rest = index;
    let mut block: usize = axes.iter().map(|(_, values)| values.len()).product();
    for (name, values) in axes {
        block /= values.len().max(1);
        let value = values.get((rest / block.max(1)) % values.len().max(1));
        combo.insert(name.clone(), value.cloned().unwrap_or(Value::Null));
        rest %= block.max(1);
    }
    combo
}

/// Adds the extras of every include entry whose filter matches, later entries winning.
fn with_extras(mut combo: Combination, includes: &[Include], matched: &mut [bool]) -> Combination {
    let mut extra = Map::new();
    for (include, hit) in includes.iter().zip(matched.iter_mut()) {
        if matches(&combo, &include.filter_leaves) {
            *hit = true;
            for (key, value) in &include.extra {
                set_ignoring_case(&mut extra, key, value.clone());
            }
        }
    }
    combo.extend(extra);
    combo
}

/// Sets `key`, replacing an existing key that differs only in case and keeping its spelling
/// and position (`DictionaryExpressionData`'s indexer).
fn set_ignoring_case(map: &mut Map<String, Value>, key: &str, value: Value) {
    let existing = map.keys().find(|k| expr::keys_equal(k, key)).cloned();
    map.insert(existing.unwrap_or_else(|| key.to_string()), value);
}

/// One `include` entry, split into axis keys (the filter) and the others (the extras).
struct Include {
    filter: Map<String, Value>,
    filter_leaves: Vec<Leaf>,
    extra: Map<String, Value>,
}

impl Include {
    fn new(entry: &Map<String, Value>, axes: &[(String, Vec<Value>)]) -> Include {
        let (filter, extra): (Map<_, _>, Map<_, _>) = entry
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .partition(|(k, _)| is_axis(axes, k));
        Include {
            filter_leaves: leaves(&filter),
            filter,
            extra,
        }
    }

    /// An entry that matched nothing: its axis keys first, then its extras.
    fn as_combination(&self) -> Combination {
        let mut combo = self.filter.clone();
        combo.extend(self.extra.iter().map(|(k, v)| (k.clone(), v.clone())));
        combo
    }
}

/// One step of a path into a matrix value.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// A scalar in a filter and where it sits: GitHub turns each into `matrix[…][…] == value`.
#[derive(Debug, Clone)]
struct Leaf {
    path: Vec<Step>,
    value: Value,
}

/// Every scalar of a filter mapping, with its path. Empty mappings and sequences add none.
fn leaves(filter: &Map<String, Value>) -> Vec<Leaf> {
    let mut out = Vec::new();
    let mut stack: Vec<(Vec<Step>, &Value)> = filter
        .iter()
        .rev()
        .map(|(k, v)| (vec![Step::Key(k.clone())], v))
        .collect();
    while let Some((path, value)) = stack.pop() {
        match value {
            Value::Object(map) => stack.extend(map.iter().rev().map(|(k, v)| {
                (
                    path.iter().cloned().chain([Step::Key(k.clone())]).collect(),
                    v,
                )
            })),
            Value::Array(items) => stack.extend(
                items
                    .iter()
                    .enumerate()
                    .rev()
                    .map(|(i, v)| (path.iter().cloned().chain([Step::Index(i)]).collect(), v)),
            ),
            scalar => out.push(Leaf {
                path,
                value: scalar.clone(),
            }),
        }
    }
    out
}

/// Whether every leaf of a filter equals (`==`) the value at its path in `combo`; a missing
/// value reads as null, as GitHub's index operator returns.
fn matches(combo: &Combination, filter: &[Leaf]) -> bool {
    filter.iter().all(|leaf| {
        let found = leaf.path.iter().try_fold(None::<&Value>, |at, step| {
            let next = match (at, step) {
                (None, Step::Key(k)) => combo
                    .iter()
                    .find(|(key, _)| expr::keys_equal(key, k))
                    .map(|(_, v)| v),
                (Some(Value::Object(map)), Step::Key(k)) => map
                    .iter()
                    .find(|(key, _)| expr::keys_equal(key, k))
                    .map(|(_, v)| v),
                (Some(Value::Array(items)), Step::Index(i)) => items.get(*i),
                _ => None,
            };
            next.map(Some)
        });
        let found = found.flatten().unwrap_or(&Value::Null);
        expr::loose_equals(found, &leaf.value)
    })
}
