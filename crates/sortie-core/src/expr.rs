//! The small part of GitHub's expression language needed to resolve `runs-on` and job names.
//!
//! STUB: the implementation is being written; the public types below are the contract.

use serde_json::{Map, Value};

/// Values available to expressions. Only `matrix` (and `strategy`) can be known when planning;
/// any other context (`github`, `inputs`, `needs`, `vars`, …) makes the expression unevaluable.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// The job's matrix combination, if any.
    pub matrix: Option<Map<String, Value>>,
}

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot evaluate `{expr}`: {message}")]
pub struct ExprError {
    pub expr: String,
    pub message: String,
}

/// Evaluates one expression (the text between `${{` and `}}`).
pub fn evaluate(expr: &str, ctx: &Context) -> Result<Value, ExprError> {
    let _ = ctx;
    Err(ExprError { expr: expr.into(), message: "not implemented yet".into() })
}

/// Interpolates a string that may contain `${{ … }}`. When the whole string is a single
/// expression its value is returned as is (so `${{ matrix.labels }}` may give an array);
/// otherwise the parts are converted to strings and joined. A string without expressions is
/// returned as a JSON string.
pub fn interpolate(text: &str, ctx: &Context) -> Result<Value, ExprError> {
    let _ = ctx;
    Ok(Value::String(text.to_string()))
}
