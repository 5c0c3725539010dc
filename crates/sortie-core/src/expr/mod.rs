//! The part of GitHub's expression language needed to resolve `runs-on` and job names while
//! planning, with GitHub's semantics.
//!
//! Follows GitHub's docs "Evaluate expressions in workflows and actions" and the implementation
//! GitHub runs, actions/runner `src/Sdk/DTExpressions2/Expressions2/` (the TypeScript port in
//! actions/languageservices `expressions/src/` agrees): literals (`null`, booleans, decimal,
//! hexadecimal and exponent numbers, `NaN`, `Infinity`, `'…'` strings with `''` escapes), the
//! operators `( ) [ ] . ! < <= > >= == != && ||`, loose equality and coercion, `*` object
//! filters, and the functions `contains`, `startsWith`, `endsWith`, `format`, `join`, `toJSON`,
//! `fromJSON` and `case` (names ignore case).
//!
//! Only the `matrix` context is known when planning. Any other context (`github`, `inputs`,
//! `needs`, `vars`, …) makes evaluation fail with an [`ExprError`] naming it, unless
//! short-circuiting means it is never read (`matrix.os || github.ref`).
//!
//! Nothing here panics on bad input: syntax errors, unknown names and runtime-only values all
//! come back as [`ExprError`].

mod eval;
mod funcs;
mod lexer;
mod parser;
mod template;
mod value;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_funcs;
#[cfg(test)]
mod tests_logical;
#[cfg(test)]
mod tests_template;

use serde_json::{Map, Value};

/// Values available to expressions. Only `matrix` can be known when planning; any other context
/// (`github`, `inputs`, `needs`, `vars`, …) makes the expression unevaluable.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Context {
    /// The job's matrix combination, if any. Without one, `matrix` is null and every
    /// `matrix.*` property is null, as on GitHub for a job without a matrix.
    pub matrix: Option<Map<String, Value>>,
}

/// Why an expression could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot evaluate `{expr}`: {message}")]
pub struct ExprError {
    /// The expression as written (the text between `${{` and `}}`, or the whole string when
    /// the string itself is malformed).
    pub expr: String,
    /// What is wrong and what to do about it.
    pub message: String,
}

impl ExprError {
    fn new(expr: &str, message: impl Into<String>) -> ExprError {
        ExprError {
            expr: expr.to_string(),
            message: message.into(),
        }
    }
}

/// Evaluates one expression (the text between `${{` and `}}`).
///
/// Numbers come back as JSON integers when integral (`1`, not `1.0`); NaN and ±Infinity,
/// which JSON cannot hold, come back as the strings GitHub prints for them.
///
/// ```
/// use sortie_core::expr::{evaluate, Context};
/// use serde_json::json;
///
/// let mut matrix = serde_json::Map::new();
/// matrix.insert("os".into(), json!("linux"));
/// let ctx = Context { matrix: Some(matrix) };
/// let value = evaluate("matrix.os == 'Linux' && 'big' || 'small'", &ctx).unwrap();
/// assert_eq!(value, json!("big"));
/// assert!(evaluate("github.ref", &ctx).is_err());
/// ```
pub fn evaluate(expr: &str, ctx: &Context) -> Result<Value, ExprError> {
    evaluate_val(expr, ctx).map(|v| v.to_json())
}

/// Interpolates a string that may contain `${{ … }}`. When the whole string is a single
/// expression its value is returned as is (so `${{ matrix.labels }}` may give an array);
/// otherwise the parts are converted to strings (GitHub's rules: null → '', numbers without
/// trailing zeros, arrays → 'Array', objects → 'Object') and joined. A string without
/// expressions is returned as a JSON string.
///
/// ```
/// use sortie_core::expr::{interpolate, Context};
/// use serde_json::json;
///
/// let mut matrix = serde_json::Map::new();
/// matrix.insert("cpu".into(), json!(4));
/// let ctx = Context { matrix: Some(matrix) };
/// assert_eq!(interpolate("sortie=cpu=${{ matrix.cpu }}", &ctx).unwrap(), json!("sortie=cpu=4"));
/// assert_eq!(interpolate("${{ matrix.cpu }}", &ctx).unwrap(), json!(4));
/// ```
pub fn interpolate(text: &str, ctx: &Context) -> Result<Value, ExprError> {
    let segments = template::split(text)?;
    match segments.as_slice() {
        [] => Ok(Value::String(String::new())),
        [template::Segment::Text(s)] => Ok(Value::String(s.clone())),
        [template::Segment::Expr(e)] => evaluate(e, ctx),
        _ => {
            let mut out = String::new();
            for segment in &segments {
                match segment {
                    template::Segment::Text(s) => out.push_str(s),
                    template::Segment::Expr(e) => out.push_str(&evaluate_val(e, ctx)?.to_display()),
                }
            }
            Ok(Value::String(out))
        }
    }
}

fn evaluate_val(expr: &str, ctx: &Context) -> Result<value::Val, ExprError> {
    let trimmed = expr.trim();
    let tokens = lexer::lex(trimmed).map_err(|m| ExprError::new(expr, m))?;
    let ast = parser::parse(&tokens, trimmed).map_err(|m| ExprError::new(expr, m))?;
    let matrix = match &ctx.matrix {
        Some(map) => value::Val::from_json(&Value::Object(map.clone())),
        None => value::Val::Null,
    };
    eval::Scope { matrix }
        .eval(&ast)
        .map_err(|m| ExprError::new(expr, m))
}

/// GitHub's `==` between two plain JSON values (strings ignore case, numbers and strings
/// coerce, arrays and objects are never equal). Used by matrix `include` / `exclude` filters,
/// which GitHub evaluates as `matrix[…] == literal` expressions.
pub(crate) fn loose_equals(a: &Value, b: &Value) -> bool {
    value::loose_eq(&value::Val::from_json(a), &value::Val::from_json(b))
}

/// GitHub's case-insensitive key comparison (`StringComparison.OrdinalIgnoreCase`).
pub(crate) fn keys_equal(a: &str, b: &str) -> bool {
    value::eq_ignore_case(a, b)
}
