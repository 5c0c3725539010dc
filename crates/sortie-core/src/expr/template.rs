//! Splits a string into literal text and `${{ … }}` expressions.
//!
//! Mirrors actions/runner `src/Sdk/DTObjectTemplating/ObjectTemplating/TemplateReader.cs`
//! (`ParseScalar`): the closing `}}` is the first one outside a `'…'` string literal, an
//! unclosed `${{` is an error, and an empty expression is an error.

use super::ExprError;

/// A piece of an interpolated string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Literal text.
    Text(String),
    /// The trimmed text of one expression.
    Expr(String),
}

const OPEN: &str = "${{";

/// Splits `raw`; adjacent literal text is merged into one segment.
pub(crate) fn split(raw: &str) -> Result<Vec<Segment>, ExprError> {
    let mut segments = Vec::new();
    let mut i = 0;
    while let Some(found) = raw.get(i..).and_then(|rest| rest.find(OPEN)) {
        let start = i + found;
        push_text(&mut segments, &raw[i..start]);
        let end = closing(raw, start).ok_or_else(|| ExprError {
            expr: raw.to_string(),
            message: "the expression is not closed: `${{` was found but no matching `}}` after it; close it, or check for an unbalanced `'` in a string literal".into(),
        })?;
        // `end` is the second `}` of the closing pair.
        let inner = raw
            .get(start + OPEN.len()..end - 1)
            .unwrap_or_default()
            .trim();
        if inner.is_empty() {
            return Err(ExprError {
                expr: raw.to_string(),
                message: "an expression was expected between `${{` and `}}`".into(),
            });
        }
        segments.push(Segment::Expr(inner.to_string()));
        i = end + 1;
    }
    push_text(&mut segments, raw.get(i..).unwrap_or_default());
    Ok(segments)
}

fn push_text(segments: &mut Vec<Segment>, text: &str) {
    if text.is_empty() {
        return;
    }
    if let Some(Segment::Text(last)) = segments.last_mut() {
        last.push_str(text);
    } else {
        segments.push(Segment::Text(text.to_string()));
    }
}

/// Index of the second `}` of the first `}}` after `start` that is outside a string literal.
fn closing(raw: &str, start: usize) -> Option<usize> {
    let b = raw.as_bytes();
    let mut in_string = false;
    for i in start + OPEN.len()..b.len() {
        match b[i] {
            // Toggling also handles escaped quotes: 'foo''bar'.
            b'\'' => in_string = !in_string,
            b'}' if !in_string && b.get(i - 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
    }
    None
}
