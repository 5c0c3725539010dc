//! [`PatternError`] and the operator-facing wording of every way a pattern can be refused.

use std::collections::BTreeMap;

use super::re2::SyntaxError;
use super::translate::{ActRegex, Problem};

/// A filter pattern that failed to compile, with what was wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter pattern {pattern:?}: {message}")]
pub struct PatternError {
    /// The pattern as written in the workflow (with its `!`, if any).
    pub pattern: String,
    /// What is wrong, where (1-based character column in `pattern`), and what to write instead.
    pub message: String,
}

/// 1-based character column in the pattern as written, for a byte offset in its body (act works
/// on bytes; an offset inside a multi-byte character names that character).
fn column(source: &str, body_start: usize, body_offset: usize) -> usize {
    let byte = body_start + body_offset;
    source
        .char_indices()
        .take_while(|(i, c)| i + c.len_utf8() <= byte)
        .count()
        + 1
}

/// The character containing a body offset, for quoting in messages.
fn char_at(source: &str, body_start: usize, body_offset: usize) -> char {
    let byte = body_start + body_offset;
    source
        .char_indices()
        .find(|(i, c)| byte < i + c.len_utf8())
        .map_or('?', |(_, c)| c)
}

impl PatternError {
    /// The problems act's `PatternToRegex` reports, each with its column.
    pub(super) fn from_problems(
        source: &str,
        body_start: usize,
        problems: &BTreeMap<usize, Problem>,
    ) -> PatternError {
        let text: Vec<String> = problems
            .iter()
            .map(|(&offset, problem)| {
                let col = column(source, body_start, offset);
                let ch = char_at(source, body_start, offset);
                match problem {
                    Problem::EmptyBrackets => format!(
                        "empty brackets '[]' at column {col}: list at least one character, or \
                         write '\\[\\]' for literal brackets"
                    ),
                    Problem::RangeWithoutEnds => format!(
                        "the '-' at column {col} is not between two characters (a range looks \
                         like 'a-z'); move it or remove it"
                    ),
                    Problem::RangeOutsideAlphanumerics => format!(
                        "the range at column {col} is not ascending within a-z, A-Z or 0-9 \
                         (the only ranges GitHub and act accept)"
                    ),
                    Problem::ClassMember => format!(
                        "{ch:?} at column {col} cannot appear inside '[...]': only letters and \
                         digits may be listed there; put it outside the brackets, escaped with '\\'"
                    ),
                    Problem::Unclosed => format!(
                        "the '[' at column {col} is never closed: add the missing ']' or write \
                         '\\[' for a literal bracket"
                    ),
                    Problem::LoneBackslash => format!(
                        "the pattern ends with a lone '\\' at column {col}: a backslash escapes \
                         the next character; write '\\\\' for a literal backslash"
                    ),
                }
            })
            .collect();
        let mut text = text;
        text.dedup(); // act reports each byte of a multi-byte character separately
        PatternError {
            pattern: source.to_string(),
            message: text.join("; "),
        }
    }

    /// A regex act builds for this pattern that Go's `regexp` would refuse (so act refuses the
    /// pattern too), or that sortie does not evaluate.
    pub(super) fn from_syntax(
        source: &str,
        body_start: usize,
        regex: &ActRegex,
        error: &SyntaxError,
    ) -> PatternError {
        let at = |offset: usize| {
            let body_offset = regex.origin.get(offset).copied().unwrap_or(0);
            (
                column(source, body_start, body_offset),
                char_at(source, body_start, body_offset),
            )
        };
        let message = match *error {
            SyntaxError::StackedRepeat(o) => {
                let (col, ch) = at(o);
                format!(
                    "{ch:?} at column {col} repeats something that is already repeated ('*', '+' \
                     and '?' cannot follow each other, except one '?' after another quantifier); \
                     escape it as '\\{ch}' to match it literally"
                )
            }
            SyntaxError::MissingRepeatArgument(o) => {
                let (col, ch) = at(o);
                format!(
                    "{ch:?} at column {col} has nothing before it to repeat; escape it as '\\{ch}'"
                )
            }
            SyntaxError::UnclosedClass(o) | SyntaxError::BackwardsRange(o) => {
                let (col, _) = at(o);
                format!(
                    "the bracket expression at column {col} is mistranslated by act: a range \
                     ending in ']' or '\\' makes act's regex {} (act rejects this pattern); use \
                     only letters and digits as range ends",
                    if matches!(error, SyntaxError::UnclosedClass(_)) {
                        "lose its closing bracket"
                    } else {
                        "contain a backwards range"
                    }
                )
            }
            SyntaxError::Unsupported(o) => {
                let (col, _) = at(o);
                format!(
                    "near column {col}, act turns this pattern into the regex {:?}, which sortie \
                     does not evaluate (a range ending in '\\' turns the next character into a \
                     regex escape such as '\\d'); rewrite the brackets with letters and digits only",
                    regex.text
                )
            }
        };
        PatternError {
            pattern: source.to_string(),
            message,
        }
    }
}
