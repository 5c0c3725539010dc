//! Reading saphyr's span-carrying `MarkedYaml` tree: positions, scalar text as written, JSON values.
//!
//! Everything here is total: a node of an unexpected shape gives `None` or an error, never a panic.

use super::{Pos, WorkflowError};
use saphyr::{MarkedYaml, Marker, Scalar, ScanError, YamlData};
use serde_json::{Map, Number, Value};

/// The deepest nesting `to_json` follows; deeper values are refused instead of risking the stack.
const MAX_DEPTH: usize = 64;

/// One workflow file being parsed: its path (for errors) and its text (for scalars as written).
pub(super) struct Source<'t> {
    path: &'t str,
    text: &'t str,
    /// Byte offset of every character, only for non-ASCII text (saphyr counts characters).
    char_bytes: Option<Vec<usize>>,
}

impl<'t> Source<'t> {
    pub(super) fn new(path: &'t str, text: &'t str) -> Self {
        let char_bytes = (!text.is_ascii()).then(|| text.char_indices().map(|(b, _)| b).collect());
        Source {
            path,
            text,
            char_bytes,
        }
    }

    /// The 1-based position of a saphyr marker (saphyr lines are 1-based, columns 0-based).
    pub(super) fn marker_pos(m: &Marker) -> Pos {
        Pos {
            line: m.line().max(1),
            column: m.col() + 1,
        }
    }

    /// Where a node starts.
    pub(super) fn pos(node: &MarkedYaml<'_>) -> Pos {
        Self::marker_pos(&node.span.start)
    }

    /// An error at a position.
    pub(super) fn error_at(&self, pos: Pos, message: impl Into<String>) -> WorkflowError {
        WorkflowError {
            path: self.path.to_string(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        }
    }

    /// An error at the start of a node.
    pub(super) fn error(&self, node: &MarkedYaml<'_>, message: impl Into<String>) -> WorkflowError {
        self.error_at(Self::pos(node), message)
    }

    /// A YAML syntax error, at the position saphyr's scanner reports.
    pub(super) fn scan_error(&self, e: &ScanError) -> WorkflowError {
        self.error_at(
            Self::marker_pos(e.marker()),
            format!("this file is not valid YAML: {}; fix the syntax (indentation, quotes, a `:` after each key)", e.info()),
        )
    }

    /// The source text a node spans, if the span is inside the text.
    fn raw(&self, node: &MarkedYaml<'_>) -> Option<&'t str> {
        let (start, end) = (node.span.start.index(), node.span.end.index());
        let (start, end) = match &self.char_bytes {
            None => (start, end),
            Some(bytes) => (
                *bytes.get(start)?,
                bytes.get(end).copied().unwrap_or(self.text.len()),
            ),
        };
        self.text.get(start..end)
    }

    /// A scalar as a string the way it is written: strings as they are, numbers and booleans in
    /// their source spelling (`1.10` stays `1.10`, as Go's yaml.v3 gives when act decodes a number
    /// into a string). `None` for null, collections and anything else.
    pub(super) fn scalar_string(&self, node: &MarkedYaml<'_>) -> Option<String> {
        let node = untag(node);
        let YamlData::Value(scalar) = &node.data else {
            return None;
        };
        match scalar {
            Scalar::String(s) => Some(s.to_string()),
            Scalar::Null => None,
            other => {
                // The span may not be the scalar itself (an alias `*a` has the alias's span), so
                // the source text is used only when it reads back as the same value.
                let raw = self
                    .raw(node)
                    .map(str::trim)
                    .filter(|r| Scalar::parse_from_cow((*r).into()) == *other);
                Some(raw.map_or_else(|| format_scalar(other), str::to_string))
            }
        }
    }

    /// A node as a JSON value (for matrix values). Maps keep their order; keys are stringified.
    pub(super) fn to_json(
        &self,
        node: &MarkedYaml<'_>,
        depth: usize,
    ) -> Result<Value, WorkflowError> {
        if depth > MAX_DEPTH {
            return Err(self.error(
                node,
                format!("this value is nested more than {MAX_DEPTH} levels deep; flatten it"),
            ));
        }
        let node = untag(node);
        match &node.data {
            YamlData::Value(scalar) => Ok(self.scalar_json(node, scalar)),
            YamlData::Sequence(items) => {
                items.iter().map(|item| self.to_json(item, depth + 1)).collect::<Result<Vec<_>, _>>().map(Value::Array)
            }
            YamlData::Mapping(_) => self.to_json_map(node, depth).map(Value::Object),
            _ => Err(self.error(node, "this value cannot be read (a bad tag such as `!!int foo`, or an unknown alias); write a plain value")),
        }
    }

    /// A mapping node as a JSON object.
    pub(super) fn to_json_map(
        &self,
        node: &MarkedYaml<'_>,
        depth: usize,
    ) -> Result<Map<String, Value>, WorkflowError> {
        let mut map = Map::new();
        for (key, value) in entries(node).into_iter().flatten() {
            let Some(name) = self.scalar_string(key) else {
                return Err(self.error(
                    key,
                    format!(
                        "a map key here is {}; keys must be plain strings",
                        kind(key)
                    ),
                ));
            };
            map.insert(name, self.to_json(value, depth + 1)?);
        }
        Ok(map)
    }

    fn scalar_json(&self, node: &MarkedYaml<'_>, scalar: &Scalar<'_>) -> Value {
        match scalar {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(*b),
            Scalar::Integer(i) => Value::Number((*i).into()),
            Scalar::FloatingPoint(f) => match Number::from_f64(f.0) {
                Some(n) => Value::Number(n),
                // NaN and infinities have no JSON number: keep them as written.
                None => Value::String(self.scalar_string(node).unwrap_or_default()),
            },
            Scalar::String(s) => Value::String(s.to_string()),
        }
    }
}

/// A scalar in YAML's canonical spelling, for when the source text is not available.
fn format_scalar(scalar: &Scalar<'_>) -> String {
    match scalar {
        Scalar::Null => String::new(),
        Scalar::Boolean(b) => b.to_string(),
        Scalar::Integer(i) => i.to_string(),
        Scalar::FloatingPoint(f) => f.0.to_string(),
        Scalar::String(s) => s.to_string(),
    }
}

/// The node under any user-defined tags (`!custom value`).
pub(super) fn untag<'b, 'i>(mut node: &'b MarkedYaml<'i>) -> &'b MarkedYaml<'i> {
    while let YamlData::Tagged(_, inner) = &node.data {
        node = inner;
    }
    node
}

/// The entries of a mapping node, in file order; `None` when the node is not a mapping.
pub(super) fn entries<'b, 'i>(
    node: &'b MarkedYaml<'i>,
) -> Option<impl Iterator<Item = (&'b MarkedYaml<'i>, &'b MarkedYaml<'i>)>> {
    match &untag(node).data {
        YamlData::Mapping(map) => Some(map.iter()),
        _ => None,
    }
}

/// The items of a sequence node; `None` when the node is not a sequence.
pub(super) fn items<'b, 'i>(node: &'b MarkedYaml<'i>) -> Option<&'b [MarkedYaml<'i>]> {
    match &untag(node).data {
        YamlData::Sequence(items) => Some(items),
        _ => None,
    }
}

/// Whether a node is null (`~`, `null`, or nothing at all).
pub(super) fn is_null(node: &MarkedYaml<'_>) -> bool {
    matches!(untag(node).data, YamlData::Value(Scalar::Null))
}

/// Where to point for a problem with `value`: a null value has no text of its own (saphyr puts
/// it at the colon), so point at its key instead.
pub(super) fn key_if_null<'b, 'i>(
    key: &'b MarkedYaml<'i>,
    value: &'b MarkedYaml<'i>,
) -> &'b MarkedYaml<'i> {
    if is_null(value) {
        key
    } else {
        value
    }
}

/// A node's string value if it is a string scalar (not a number, boolean or null).
pub(super) fn as_str<'b>(node: &'b MarkedYaml<'_>) -> Option<&'b str> {
    match &untag(node).data {
        YamlData::Value(Scalar::String(s)) => Some(s),
        _ => None,
    }
}

/// Whether a string holds a `${{ … }}` expression.
pub(super) fn is_expression(s: &str) -> bool {
    s.contains("${{")
}

/// What a node is, for messages: "a string", "a list", …
pub(super) fn kind(node: &MarkedYaml<'_>) -> &'static str {
    match &untag(node).data {
        YamlData::Value(Scalar::Null) => "empty (null)",
        YamlData::Value(Scalar::Boolean(_)) => "a boolean",
        YamlData::Value(Scalar::Integer(_) | Scalar::FloatingPoint(_)) => "a number",
        YamlData::Value(Scalar::String(_)) | YamlData::Representation(..) => "a string",
        YamlData::Sequence(_) => "a list",
        YamlData::Mapping(_) => "a map",
        YamlData::Tagged(..) | YamlData::Alias(_) | YamlData::BadValue => "an unreadable value",
    }
}

/// An upper bound on how deeply YAML collections nest in `text`, found without parsing.
///
/// saphyr's loader recurses once per nesting level, so a hostile file (`- - - - …`, or
/// `[[[[…`) could overflow the stack; this bound lets the caller give the parser enough stack
/// or refuse the file. It is sound, not tight:
/// - block collections nested in each other start at increasing columns (a sequence may share
///   its parent mapping's column), so those open at a line are at most `2 × (indent + 1)`, plus
///   one per `-`, `?` or `:` indicator that may start a compact collection on that line;
/// - saphyr refuses more than 255 open flow collections (`[`, `{`), and each may hold one
///   implicit single-pair mapping, so flow adds at most `2 × min(brackets, 256)`.
pub(super) fn nesting_bound(text: &str) -> usize {
    let (mut block, mut openers) = (0usize, 0usize);
    let (mut indent, mut indicators, mut at_line_start) = (0usize, 0usize, true);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        // saphyr's `is_break`: both `\n` and `\r` end a line.
        if c == '\n' || c == '\r' {
            block = block.max(2 * (indent + 1) + indicators);
            (indent, indicators, at_line_start) = (0, 0, true);
            continue;
        }
        if at_line_start && (c == ' ' || c == '\t') {
            indent += 1;
            continue;
        }
        at_line_start = false;
        match c {
            '[' | '{' => openers += 1,
            '-' | '?' | ':' if matches!(chars.peek(), None | Some(' ' | '\t' | '\n' | '\r')) => {
                indicators += 1
            }
            _ => {}
        }
    }
    block = block.max(2 * (indent + 1) + indicators);
    block + 2 * openers.min(256) + 1
}
