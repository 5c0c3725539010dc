//! Values of the expression language and GitHub's rules for coercing and comparing them.
//!
//! Mirrors actions/runner `src/Sdk/DTExpressions2/Expressions2/EvaluationResult.cs` (truthiness,
//! `AbstractEqual`, `AbstractGreaterThan`, `CoerceTypes`, `ConvertToString`) and
//! `Sdk/ExpressionUtility.cs` (`ParseNumber`): the server-side implementation that evaluates
//! `runs-on` and job names. actions/languageservices `expressions/src/result.ts` is the same
//! algorithm in TypeScript.

use serde_json::{Map, Number, Value};
use std::cmp::Ordering;
use std::rc::Rc;

/// Nesting depth beyond which values converted from JSON are cut off (serde_json's own limit).
const MAX_VALUE_DEPTH: usize = 128;

/// A value during evaluation. Arrays and objects are reference-counted because GitHub compares
/// them by identity (`matrix == matrix` is true, `fromJSON('{}') == fromJSON('{}')` is false).
#[derive(Debug, Clone)]
pub(crate) enum Val {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Array(Rc<Vec<Val>>),
    Object(Rc<Vec<(String, Val)>>),
    /// The result of a `*` object filter: an array for every purpose except further indexing,
    /// which applies to each element (actions/runner `Sdk/Operators/Index.cs`, `FilteredArray`).
    Filtered(Rc<Vec<Val>>),
}

/// The kind of a value, as GitHub's coercion rules see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Null,
    Bool,
    Num,
    Str,
    Array,
    Object,
}

impl Val {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Val::Null => Kind::Null,
            Val::Bool(_) => Kind::Bool,
            Val::Num(_) => Kind::Num,
            Val::Str(_) => Kind::Str,
            Val::Array(_) | Val::Filtered(_) => Kind::Array,
            Val::Object(_) => Kind::Object,
        }
    }

    pub(crate) fn is_primitive(&self) -> bool {
        !matches!(self.kind(), Kind::Array | Kind::Object)
    }

    /// `EvaluationResult.IsFalsy`: null, false, 0, NaN and '' are falsy; arrays and objects are
    /// truthy even when empty.
    pub(crate) fn is_truthy(&self) -> bool {
        match self {
            Val::Null => false,
            Val::Bool(b) => *b,
            Val::Num(n) => !(*n == 0.0 || n.is_nan()),
            Val::Str(s) => !s.is_empty(),
            _ => true,
        }
    }

    /// `EvaluationResult.ConvertToNumber`: JavaScript's `Number()` for primitives, else NaN.
    pub(crate) fn to_number(&self) -> f64 {
        match self {
            Val::Null => 0.0,
            Val::Bool(b) => f64::from(u8::from(*b)),
            Val::Num(n) => *n,
            Val::Str(s) => parse_number(s),
            _ => f64::NAN,
        }
    }

    /// `EvaluationResult.ConvertToString`: how a value reads when joined into text.
    pub(crate) fn to_display(&self) -> String {
        match self {
            Val::Null => String::new(),
            Val::Bool(b) => b.to_string(),
            Val::Num(n) => number_to_string(*n),
            Val::Str(s) => s.clone(),
            Val::Array(_) | Val::Filtered(_) => "Array".into(),
            Val::Object(_) => "Object".into(),
        }
    }

    /// Items of an array or filtered array.
    pub(crate) fn as_items(&self) -> Option<&[Val]> {
        match self {
            Val::Array(items) | Val::Filtered(items) => Some(items),
            _ => None,
        }
    }

    /// Converts plain JSON into a value; nesting beyond 128 levels reads as null.
    pub(crate) fn from_json(value: &Value) -> Val {
        from_json_at(value, 0)
    }

    /// Converts back to JSON. Integral numbers become JSON integers (so they compare equal to
    /// the integers a YAML parser produces); NaN and ±Infinity, which JSON cannot hold, become
    /// the strings GitHub would print for them.
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Bool(b) => Value::Bool(*b),
            Val::Num(n) => number_to_json(*n),
            Val::Str(s) => Value::String(s.clone()),
            Val::Array(items) | Val::Filtered(items) => {
                Value::Array(items.iter().map(Val::to_json).collect())
            }
            Val::Object(pairs) => {
                let map: Map<String, Value> = pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect();
                Value::Object(map)
            }
        }
    }
}

fn from_json_at(value: &Value, depth: usize) -> Val {
    if depth > MAX_VALUE_DEPTH {
        return Val::Null;
    }
    match value {
        Value::Null => Val::Null,
        Value::Bool(b) => Val::Bool(*b),
        Value::Number(n) => Val::Num(n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => Val::Str(s.clone()),
        Value::Array(items) => Val::Array(Rc::new(
            items.iter().map(|v| from_json_at(v, depth + 1)).collect(),
        )),
        Value::Object(map) => Val::Object(Rc::new(
            map.iter()
                .map(|(k, v)| (k.clone(), from_json_at(v, depth + 1)))
                .collect(),
        )),
    }
}

fn number_to_json(n: f64) -> Value {
    // 2^53: every integer below it is exact in an f64.
    const EXACT: f64 = 9_007_199_254_740_992.0;
    if n.is_finite() && n.fract() == 0.0 && n.abs() < EXACT {
        // The range check above makes the cast exact.
        #[allow(clippy::cast_possible_truncation)]
        return Value::from(n as i64);
    }
    Number::from_f64(n).map_or_else(|| Value::String(number_to_string(n)), Value::Number)
}

/// Looks a property up the way GitHub's dictionaries do: ignoring case, first match wins
/// (actions/runner `src/Sdk/Expressions/Data/DictionaryExpressionData.cs`, `OrdinalIgnoreCase`).
pub(crate) fn lookup<'a>(pairs: &'a [(String, Val)], key: &str) -> Option<&'a Val> {
    pairs
        .iter()
        .find(|(k, _)| eq_ignore_case(k, key))
        .map(|(_, v)| v)
}

/// Folds one character for `OrdinalIgnoreCase` comparison: its simple (one-character)
/// upper-case mapping, or itself when the full mapping has several characters (`ß`).
fn fold(c: char) -> char {
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

/// Folds a whole string; the result has the same number of characters.
pub(crate) fn fold_str(s: &str) -> String {
    s.chars().map(fold).collect()
}

/// `String.Equals(a, b, StringComparison.OrdinalIgnoreCase)`.
pub(crate) fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars().map(fold).eq(b.chars().map(fold))
}

fn cmp_ignore_case(a: &str, b: &str) -> Ordering {
    a.chars().map(fold).cmp(b.chars().map(fold))
}

/// `CoerceTypes`: like JavaScript's abstract equality, except objects are never converted to
/// primitives. Booleans and null become numbers; a number against a string turns the string
/// into a number.
fn coerce(l: &Val, r: &Val) -> (Val, Val) {
    match (l.kind(), r.kind()) {
        (a, b) if a == b => (l.clone(), r.clone()),
        (Kind::Num, Kind::Str) => (l.clone(), Val::Num(r.to_number())),
        (Kind::Str, Kind::Num) => (Val::Num(l.to_number()), r.clone()),
        (Kind::Bool | Kind::Null, _) => coerce(&Val::Num(l.to_number()), r),
        (_, Kind::Bool | Kind::Null) => coerce(l, &Val::Num(r.to_number())),
        _ => (l.clone(), r.clone()),
    }
}

/// `AbstractEqual` (`==`): strings ignore case, NaN equals nothing, arrays and objects are
/// equal only to themselves.
pub(crate) fn loose_eq(l: &Val, r: &Val) -> bool {
    match coerce(l, r) {
        (Val::Null, Val::Null) => true,
        (Val::Num(a), Val::Num(b)) => a == b,
        (Val::Str(a), Val::Str(b)) => eq_ignore_case(&a, &b),
        (Val::Bool(a), Val::Bool(b)) => a == b,
        (Val::Array(a), Val::Array(b)) | (Val::Filtered(a), Val::Filtered(b)) => Rc::ptr_eq(&a, &b),
        (Val::Object(a), Val::Object(b)) => Rc::ptr_eq(&a, &b),
        _ => false,
    }
}

/// `AbstractGreaterThan` / `AbstractLessThan`: `Some(ordering)` when the coerced values are
/// comparable (numbers without NaN, strings ignoring case, booleans), `None` otherwise, in
/// which case every ordering operator is false.
pub(crate) fn loose_cmp(l: &Val, r: &Val) -> Option<Ordering> {
    match coerce(l, r) {
        (Val::Num(a), Val::Num(b)) => a.partial_cmp(&b),
        (Val::Str(a), Val::Str(b)) => Some(cmp_ignore_case(&a, &b)),
        (Val::Bool(a), Val::Bool(b)) => Some(a.cmp(&b)),
        _ => None,
    }
}

/// `ExpressionUtility.ParseNumber`: JavaScript's `Number()` rules for a string. Empty → 0;
/// decimal with optional sign, point and exponent; `0x` hexadecimal and `0o` octal as 32-bit
/// integers; `Infinity` / `-Infinity`; anything else → NaN.
pub(crate) fn parse_number(s: &str) -> f64 {
    let t = s.trim();
    if t.is_empty() {
        return 0.0;
    }
    if is_decimal(t) {
        return t.parse::<f64>().unwrap_or(f64::NAN);
    }
    if let Some(n) = radix_int(t, "0x", 16).or_else(|| radix_int(t, "0o", 8)) {
        return n;
    }
    match t {
        "Infinity" | "+Infinity" => f64::INFINITY,
        "-Infinity" => f64::NEG_INFINITY,
        _ => f64::NAN,
    }
}

/// `Int32.TryParse(…, AllowHexSpecifier)` / `Convert.ToInt32(…, 8)`: up to 32 bits, read as a
/// two's-complement `Int32` (so `0xffffffff` is -1).
fn radix_int(t: &str, prefix: &str, radix: u32) -> Option<f64> {
    let digits = t.strip_prefix(prefix)?;
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    // Out of range: GitHub falls through to NaN.
    let n = u32::from_str_radix(digits, radix).ok()?;
    // Wrapping is the point: .NET reads the 32 bits as a signed integer.
    Some(f64::from(n as i32))
}

/// `Double.TryParse` with `AllowLeadingSign | AllowDecimalPoint | AllowExponent`.
fn is_decimal(t: &str) -> bool {
    let b = t.as_bytes();
    let mut i = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let int_start = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    let mut mantissa_digits = i - int_start;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let frac_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        mantissa_digits += i - frac_start;
    }
    if mantissa_digits == 0 {
        return false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp_start = i;
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        if i == exp_start {
            return false;
        }
    }
    i == b.len()
}

/// A number as GitHub prints it: .NET's `ToString("G15", InvariantCulture)`
/// (actions/runner `ExpressionConstants.NumberFormat`). At most 15 significant digits, no
/// trailing zeros, scientific notation (`1.23456789012346E+19`, `1E-05`) when the decimal
/// exponent is at least 15 or at most -5.
pub(crate) fn number_to_string(n: f64) -> String {
    if n.is_nan() {
        return "NaN".into();
    }
    if n.is_infinite() {
        return if n > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    if n == 0.0 {
        return "0".into();
    }
    let sci = format!("{n:.14e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let sign = if n < 0.0 { "-" } else { "" };
    let all: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = all.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    if exp >= 15 || exp <= -5 {
        let (first, rest) = digits.split_at(1);
        let point = if rest.is_empty() { "" } else { "." };
        let exp_sign = if exp < 0 { '-' } else { '+' };
        return format!(
            "{sign}{first}{point}{rest}E{exp_sign}{:02}",
            exp.unsigned_abs()
        );
    }
    if exp < 0 {
        let zeros = "0".repeat(usize::try_from(-exp - 1).unwrap_or(0));
        return format!("{sign}0.{zeros}{digits}");
    }
    let int_len = usize::try_from(exp).unwrap_or(0) + 1;
    if digits.len() <= int_len {
        format!("{sign}{digits}{}", "0".repeat(int_len - digits.len()))
    } else {
        format!("{sign}{}.{}", &digits[..int_len], &digits[int_len..])
    }
}
