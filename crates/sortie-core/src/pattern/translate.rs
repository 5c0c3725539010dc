//! Step 1 of compiling a pattern: act's translation of a filter pattern into a regular expression.
//!
//! This is a byte-for-byte port of `PatternToRegex` in nektos/act
//! `pkg/workflowpattern/workflow_pattern.go`. act hands the result to Go's `regexp` package; we hand
//! it to [`super::re2`], which reads it the way Go's RE2 parser does. Keeping act's translation
//! verbatim (instead of compiling the glob directly) is what makes sortie agree with act even on
//! odd patterns such as `[A-]x]`, where act's translation and the regex parser disagree about
//! where the bracket closes.

use std::collections::BTreeMap;

/// One problem act's `PatternToRegex` reports, keyed by byte offset in the pattern body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Problem {
    /// `[]`: act's "Unexpected empty brackets '[]'".
    EmptyBrackets,
    /// A `-` first in a class or last in the pattern: act's "Invalid range".
    RangeWithoutEnds,
    /// A range whose ends are not both in `A`..=`z` or both in `0`..=`9`, ascending: act's
    /// "Ranges can only include a-z, A-Z, A-z, and 0-9".
    RangeOutsideAlphanumerics,
    /// A class member outside `A`..=`z` and `0`..=`9`: act's "Ranges can only include a-z, A-Z
    /// and 0-9".
    ClassMember,
    /// The class opened at this byte offset never closes: act's "Missing closing bracket ']' after
    /// '['" (act reports it at the end of the pattern; we remember the opening bracket instead).
    Unclosed,
    /// A `\` with nothing after it: act's "Missing symbol after \".
    LoneBackslash,
}

/// act's regex for one pattern body (the pattern without its leading `!`), plus, for every byte of
/// the regex, the byte offset in the body it came from (so later errors can point at the pattern).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ActRegex {
    /// The regex exactly as act builds it, `^` and `$` included.
    pub text: String,
    /// `origin[i]` is the body offset that produced byte `i` of `text`.
    pub origin: Vec<usize>,
}

/// Builds the regex while remembering where each byte came from.
struct Out {
    bytes: Vec<u8>,
    origin: Vec<usize>,
}

impl Out {
    fn push(&mut self, bytes: &[u8], from: usize) {
        self.bytes.extend_from_slice(bytes);
        self.origin.extend(std::iter::repeat_n(from, bytes.len()));
    }

    /// Go's `regexp.QuoteMeta` of a single byte.
    fn quoted(&mut self, byte: u8, from: usize) {
        if br"\.+*?()|[]{}^$".contains(&byte) {
            self.push(&[b'\\', byte], from);
        } else {
            self.push(&[byte], from);
        }
    }
}

/// act's `validChar`: `test` lies in `a..=b`.
fn within(a: u8, b: u8, test: u8) -> bool {
    (a..=b).contains(&test)
}

/// Port of act's `PatternToRegex`. On failure, every problem found, keyed by body offset (act
/// keeps them in a map, so a later problem at the same offset replaces an earlier one).
pub(super) fn act_regex(body: &str) -> Result<ActRegex, BTreeMap<usize, Problem>> {
    let p = body.as_bytes();
    let mut out = Out {
        bytes: Vec::with_capacity(p.len() * 2 + 2),
        origin: Vec::new(),
    };
    let mut problems = BTreeMap::new();
    out.push(b"^", 0);
    let mut pos = 0;
    while pos < p.len() {
        match p[pos] {
            b'*' if p.get(pos + 1) == Some(&b'*') => {
                if p.get(pos + 2) == Some(&b'/') {
                    out.push(b"(.+/)?", pos);
                    pos += 3;
                } else {
                    out.push(b".*", pos);
                    pos += 2;
                }
            }
            b'*' => {
                out.push(b"[^/]*", pos);
                pos += 1;
            }
            // act: `?` and `+` quantify the preceding character, except first in the pattern.
            b'+' | b'?' if pos > 0 => {
                out.push(&p[pos..=pos], pos);
                pos += 1;
            }
            b'[' => pos = class(p, pos, &mut out, &mut problems),
            b'\\' => {
                if pos + 1 >= p.len() {
                    problems.insert(pos, Problem::LoneBackslash);
                    pos += 1;
                } else {
                    out.quoted(p[pos + 1], pos);
                    pos += 2;
                }
            }
            byte => {
                out.quoted(byte, pos);
                pos += 1;
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    out.push(b"$", p.len());
    // Every byte act copies is either ASCII or copied in order from valid UTF-8, so this holds;
    // the fallback keeps a broken invariant from panicking.
    match String::from_utf8(out.bytes) {
        Ok(text) => Ok(ActRegex {
            text,
            origin: out.origin,
        }),
        Err(_) => Err(BTreeMap::from([(0, Problem::ClassMember)])),
    }
}

/// The `case '['` arm of act's `PatternToRegex`; returns the offset after the class.
fn class(p: &[u8], open: usize, out: &mut Out, problems: &mut BTreeMap<usize, Problem>) -> usize {
    out.push(b"[", open);
    let mut pos = open + 1;
    if p.get(pos) == Some(&b']') {
        problems.insert(pos, Problem::EmptyBrackets);
        return pos + 1;
    }
    let start = pos;
    while pos < p.len() && p[pos] != b']' {
        if p[pos] == b'-' {
            if pos <= start || pos + 1 >= p.len() {
                problems.insert(pos, Problem::RangeWithoutEnds);
                pos += 1;
                continue;
            }
            let (lo, hi) = (p[pos - 1], p[pos + 1]);
            let range = |a, b| within(a, b, lo) && within(a, b, hi) && lo <= hi;
            if !range(b'A', b'z') && !range(b'0', b'9') {
                problems.insert(pos, Problem::RangeOutsideAlphanumerics);
                pos += 1;
                continue;
            }
            // act copies `-` and the upper end unquoted, even when that end is `\` or `]`.
            out.push(&p[pos..pos + 2], pos);
            pos += 2;
        } else {
            if !within(b'A', b'z', p[pos]) && !within(b'0', b'9', p[pos]) {
                problems.insert(pos, Problem::ClassMember);
                pos += 1;
                continue;
            }
            out.quoted(p[pos], pos);
            pos += 1;
        }
    }
    if pos >= p.len() {
        problems.insert(open, Problem::Unclosed);
    }
    out.push(b"]", pos.min(p.len()));
    pos + 1
}
