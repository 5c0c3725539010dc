//! The built-in functions. Semantics follow actions/runner
//! `src/Sdk/DTExpressions2/Expressions2/Sdk/Functions/*.cs` (the implementation GitHub runs),
//! including which arguments are evaluated at all; `case` and `fromJSON`'s empty-input error
//! follow actions/languageservices `expressions/src/funcs/`.

use super::eval::Scope;
use super::parser::{Ast, Func};
use super::value::{fold_str, loose_eq, number_to_string, Val};

/// Calls `func`; the parser has already checked the number of arguments.
pub(crate) fn call(scope: &Scope, func: Func, args: &[Ast]) -> Result<Val, String> {
    let arg = |i: usize| match args.get(i) {
        Some(ast) => scope.eval(ast),
        None => Ok(Val::Null),
    };
    match func {
        Func::Contains => contains(&arg(0)?, || arg(1)),
        Func::StartsWith => affix(&arg(0)?, || arg(1), |s, p| s.starts_with(p)),
        Func::EndsWith => affix(&arg(0)?, || arg(1), |s, p| s.ends_with(p)),
        Func::Format => format(scope, args),
        Func::Join => join(&arg(0)?, || arg(1), args.len() > 1),
        Func::ToJson => Ok(Val::Str(to_json(&arg(0)?))),
        Func::FromJson => from_json(&arg(0)?),
        Func::Case => case(scope, args),
        Func::RuntimeOnly(name) => Err(format!(
            "`{name}()` only has a value on a runner while the job runs, so sortie cannot evaluate it while planning"
        )),
    }
}

/// `contains(search, item)`: a case-insensitive substring test for primitives, or whether an
/// array holds an item equal (`==`) to `item`. Anything else is false.
fn contains(search: &Val, item: impl FnOnce() -> Result<Val, String>) -> Result<Val, String> {
    if search.is_primitive() {
        let item = item()?;
        let hit = item.is_primitive()
            && fold_str(&search.to_display()).contains(&fold_str(&item.to_display()));
        return Ok(Val::Bool(hit));
    }
    match search.as_items() {
        Some(items) if !items.is_empty() => {
            let item = item()?;
            Ok(Val::Bool(items.iter().any(|x| loose_eq(&item, x))))
        }
        _ => Ok(Val::Bool(false)),
    }
}

/// `startsWith` / `endsWith`: case-insensitive, both arguments primitive, else false.
fn affix(
    search: &Val,
    part: impl FnOnce() -> Result<Val, String>,
    test: impl Fn(&str, &str) -> bool,
) -> Result<Val, String> {
    if !search.is_primitive() {
        return Ok(Val::Bool(false));
    }
    let part = part()?;
    let hit = part.is_primitive()
        && test(
            &fold_str(&search.to_display()),
            &fold_str(&part.to_display()),
        );
    Ok(Val::Bool(hit))
}

/// `join(array, separator = ',')`: items converted to strings; a primitive is converted as is;
/// an object or an empty array gives ''. A non-primitive separator means ','.
fn join(
    items: &Val,
    separator: impl FnOnce() -> Result<Val, String>,
    has_separator: bool,
) -> Result<Val, String> {
    match items.as_items() {
        Some(list) if !list.is_empty() => {
            let mut sep = ",".to_string();
            if list.len() > 1 && has_separator {
                let given = separator()?;
                if given.is_primitive() {
                    sep = given.to_display();
                }
            }
            let parts: Vec<String> = list.iter().map(Val::to_display).collect();
            Ok(Val::Str(parts.join(&sep)))
        }
        Some(_) => Ok(Val::Str(String::new())),
        None if items.is_primitive() => Ok(Val::Str(items.to_display())),
        None => Ok(Val::Str(String::new())),
    }
}

/// `case(pred1, val1, …, default)`: the value after the first `true` predicate, else the last
/// argument. Predicates must be booleans.
fn case(scope: &Scope, args: &[Ast]) -> Result<Val, String> {
    let Some((default, pairs)) = args.split_last() else {
        return Ok(Val::Null);
    };
    for pair in pairs.chunks(2) {
        let [pred, value] = pair else { break };
        match scope.eval(pred)? {
            Val::Bool(true) => return scope.eval(value),
            Val::Bool(false) => {}
            _ => return Err("a `case()` predicate must evaluate to true or false".into()),
        }
    }
    scope.eval(default)
}

fn from_json(text: &Val) -> Result<Val, String> {
    let text = text.to_display();
    if text.trim().is_empty() {
        return Err("`fromJSON()` was given an empty string; it needs JSON text".into());
    }
    serde_json::from_str::<serde_json::Value>(&text)
        .map(|v| Val::from_json(&v))
        .map_err(|e| format!("`fromJSON()` could not parse its argument as JSON: {e}"))
}

/// `toJSON(value)`: pretty-printed with two-space indentation, numbers as GitHub prints them
/// (actions/runner `Sdk/Functions/ToJson.cs`).
pub(crate) fn to_json(value: &Val) -> String {
    let mut out = String::new();
    write_json(value, 0, &mut out);
    out
}

fn write_json(value: &Val, level: usize, out: &mut String) {
    let newline = |out: &mut String, level: usize| {
        out.push('\n');
        out.push_str(&"  ".repeat(level));
    };
    match value {
        Val::Null => out.push_str("null"),
        Val::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Val::Num(n) => out.push_str(&number_to_string(*n)),
        Val::Str(s) => out.push_str(&json_string(s)),
        Val::Array(items) | Val::Filtered(items) if items.is_empty() => out.push_str("[]"),
        Val::Object(pairs) if pairs.is_empty() => out.push_str("{}"),
        Val::Array(items) | Val::Filtered(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                out.push_str(if i == 0 { "" } else { "," });
                newline(out, level + 1);
                write_json(item, level + 1, out);
            }
            newline(out, level);
            out.push(']');
        }
        Val::Object(pairs) => {
            out.push('{');
            for (i, (key, item)) in pairs.iter().enumerate() {
                out.push_str(if i == 0 { "" } else { "," });
                newline(out, level + 1);
                out.push_str(&json_string(key));
                out.push_str(": ");
                write_json(item, level + 1, out);
            }
            newline(out, level);
            out.push('}');
        }
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A piece of a parsed `format()` string.
#[derive(Debug, PartialEq)]
enum Piece {
    Text(String),
    Arg(usize, String),
}

/// `format(fmt, args…)`: `{N}` is replaced by argument N converted to a string, `{{` and `}}`
/// are literal braces. Arguments are evaluated only when referenced, once each.
fn format(scope: &Scope, args: &[Ast]) -> Result<Val, String> {
    let Some((fmt, values)) = args.split_first() else {
        return Ok(Val::Str(String::new()));
    };
    let fmt = scope.eval(fmt)?.to_display();
    let pieces = parse_format(&fmt)?;
    let mut cache: Vec<Option<String>> = vec![None; values.len()];
    let mut out = String::new();
    for piece in pieces {
        match piece {
            Piece::Text(text) => out.push_str(&text),
            Piece::Arg(i, specifiers) => {
                let (Some(ast), Some(slot)) = (values.get(i), cache.get_mut(i)) else {
                    return Err(format!(
                        "the format string `{fmt}` refers to argument {{{i}}} but only {} argument(s) follow it",
                        values.len()
                    ));
                };
                if !specifiers.is_empty() {
                    return Err(format!(
                        "format specifiers (`{{{i}:{specifiers}}}`) are not supported in `{fmt}`; write `{{{i}}}`"
                    ));
                }
                if slot.is_none() {
                    *slot = Some(scope.eval(ast)?.to_display());
                }
                out.push_str(slot.as_deref().unwrap_or_default());
            }
        }
    }
    Ok(Val::Str(out))
}

fn invalid_format(fmt: &str) -> String {
    format!(
        "the format string `{fmt}` is invalid: write `{{N}}` for argument N and `{{{{` / `}}}}` for literal braces"
    )
}

/// Splits a format string the way actions/runner `Format.cs` scans it.
fn parse_format(fmt: &str) -> Result<Vec<Piece>, String> {
    let b = fmt.as_bytes();
    let find = |c: u8, from: usize| {
        b.get(from..)
            .and_then(|rest| rest.iter().position(|&x| x == c))
            .map(|p| p + from)
    };
    let mut pieces = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match (find(b'{', i), find(b'}', i)) {
            (Some(l), r) if r.is_none_or(|r| r > l) => {
                if b.get(l + 1) == Some(&b'{') {
                    pieces.push(Piece::Text(fmt[i..=l].to_string()));
                    i = l + 2;
                    continue;
                }
                let placeholder = r
                    .filter(|&r| r > l + 1)
                    .and_then(|_| read_placeholder(fmt, l + 1));
                let Some((arg, close, specifiers)) = placeholder else {
                    return Err(invalid_format(fmt));
                };
                pieces.push(Piece::Text(fmt[i..l].to_string()));
                pieces.push(Piece::Arg(arg, specifiers));
                i = close + 1;
            }
            (_, Some(r)) if b.get(r + 1) == Some(&b'}') => {
                pieces.push(Piece::Text(fmt[i..=r].to_string()));
                i = r + 2;
            }
            (_, Some(_)) => return Err(invalid_format(fmt)),
            _ => {
                pieces.push(Piece::Text(fmt[i..].to_string()));
                break;
            }
        }
    }
    Ok(pieces)
}

/// Reads `N}` or `N:specifiers}` starting at `start`: the argument index (0–255, as .NET's
/// `Byte.TryParse`), the position of the closing brace and the specifiers (`}}` inside them is
/// an escaped brace).
fn read_placeholder(fmt: &str, start: usize) -> Option<(usize, usize, String)> {
    let b = fmt.as_bytes();
    let digits = b
        .get(start..)?
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    let end = start + digits;
    let arg: u8 = fmt.get(start..end)?.parse().ok()?;
    match b.get(end) {
        Some(b'}') => Some((usize::from(arg), end, String::new())),
        Some(b':') => {
            let mut specifiers = String::new();
            let mut i = end + 1;
            let rest = fmt.get(i..)?;
            let mut chars = rest.char_indices().peekable();
            while let Some((off, c)) = chars.next() {
                if c != '}' {
                    specifiers.push(c);
                } else if chars.peek().is_some_and(|&(_, n)| n == '}') {
                    specifiers.push('}');
                    chars.next();
                } else {
                    i += off;
                    return Some((usize::from(arg), i, specifiers));
                }
            }
            None
        }
        _ => None,
    }
}
