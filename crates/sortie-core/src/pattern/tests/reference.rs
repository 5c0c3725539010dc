//! The slow reference: act's `CompilePattern` as act writes it — `PatternToRegex`, then a regex
//! engine — with the `regex` crate standing in for Go's `regexp`.
//!
//! A second, independent transcription of nektos/act `pkg/workflowpattern/workflow_pattern.go`
//! (`CompilePattern`, `PatternToRegex`), kept deliberately close to the Go text. Where the `regex`
//! crate and Go's RE2 disagree on act's output, the reference says so instead of guessing:
//! - Go refuses stacked quantifiers (`a?+`, `[^/]*+`, `a???`); the `regex` crate accepts them, so
//!   the reference tracks them and reports the pattern invalid, as act would.
//! - A class range whose upper end is `\` or `]` makes act's class and Go's class end at different
//!   brackets, and the `regex` crate reads what follows differently again (nested classes, `&&`,
//!   `--`): such patterns are [`Reference::Diverges`] and are checked by hand in `syntax.rs`.

/// What act would do with one pattern.
pub(super) enum Reference {
    /// act refuses the pattern.
    Invalid,
    /// act compiles it; `negative` is the stripped `!`.
    Compiled { negative: bool, regex: regex::Regex },
    /// The `regex` crate cannot stand in for Go here.
    Diverges,
}

#[derive(Clone, Copy, PartialEq)]
enum Last {
    Atom,
    Repeat,
    LazyRepeat,
}

fn quote_meta(out: &mut Vec<u8>, b: u8) {
    if b"\\.+*?()|[]{}^$".contains(&b) {
        out.push(b'\\');
    }
    out.push(b);
}

/// act's `CompilePattern`, reference edition.
pub(super) fn reference(raw: &str) -> Reference {
    let (negative, pattern) = match raw.strip_prefix('!') {
        Some(rest) => (true, rest.as_bytes()),
        None => (false, raw.as_bytes()),
    };
    let mut r = b"^".to_vec();
    let (mut pos, mut errors, mut stacked, mut diverges) = (0, false, false, false);
    let mut last = Last::Atom;
    while pos < pattern.len() {
        let mut next_last = Last::Atom;
        match pattern[pos] {
            b'*' => {
                if pos + 1 < pattern.len() && pattern[pos + 1] == b'*' {
                    if pos + 2 < pattern.len() && pattern[pos + 2] == b'/' {
                        r.extend_from_slice(b"(.+/)?");
                        pos += 3;
                    } else {
                        r.extend_from_slice(b".*");
                        pos += 2;
                    }
                } else {
                    r.extend_from_slice(b"[^/]*");
                    pos += 1;
                }
                next_last = Last::Repeat;
            }
            b'+' | b'?' => {
                if pos > 0 {
                    r.push(pattern[pos]);
                    next_last = match (last, pattern[pos]) {
                        (Last::Atom, _) => Last::Repeat,
                        (Last::Repeat, b'?') => Last::LazyRepeat,
                        _ => {
                            stacked = true;
                            Last::Repeat
                        }
                    };
                } else {
                    quote_meta(&mut r, pattern[pos]);
                }
                pos += 1;
            }
            b'[' => {
                pos = class(pattern, pos, &mut r, &mut errors, &mut diverges);
            }
            b'\\' => {
                if pos + 1 >= pattern.len() {
                    errors = true;
                    pos += 1;
                } else {
                    quote_meta(&mut r, pattern[pos + 1]);
                    pos += 2;
                }
            }
            b => {
                quote_meta(&mut r, b);
                pos += 1;
            }
        }
        last = next_last;
    }
    r.push(b'$');
    if errors {
        return Reference::Invalid;
    }
    // Before `stacked`: in a diverging pattern Go may read the quantifiers as class members.
    if diverges {
        return Reference::Diverges;
    }
    if stacked {
        return Reference::Invalid;
    }
    let Ok(text) = String::from_utf8(r) else {
        return Reference::Invalid;
    };
    match regex::Regex::new(&text) {
        Ok(regex) => Reference::Compiled { negative, regex },
        Err(_) => Reference::Invalid,
    }
}

/// The `case '['` arm of act's `PatternToRegex`; returns the position after the class.
fn class(
    pattern: &[u8],
    mut pos: usize,
    r: &mut Vec<u8>,
    errors: &mut bool,
    diverges: &mut bool,
) -> usize {
    r.push(b'[');
    pos += 1;
    if pos < pattern.len() && pattern[pos] == b']' {
        *errors = true;
        return pos + 1;
    }
    let valid_char = |a: u8, b: u8, t: u8| t >= a && t <= b;
    let start = pos;
    while pos < pattern.len() && pattern[pos] != b']' {
        if pattern[pos] == b'-' {
            if pos <= start || pos + 1 >= pattern.len() {
                *errors = true;
                pos += 1;
                continue;
            }
            let (lo, hi) = (pattern[pos - 1], pattern[pos + 1]);
            let valid_range = |a, b| valid_char(a, b, lo) && valid_char(a, b, hi) && lo <= hi;
            if !valid_range(b'A', b'z') && !valid_range(b'0', b'9') {
                *errors = true;
                pos += 1;
                continue;
            }
            *diverges |= hi == b'\\' || hi == b']';
            r.extend_from_slice(&pattern[pos..pos + 2]);
            pos += 2;
        } else {
            if !valid_char(b'A', b'z', pattern[pos]) && !valid_char(b'0', b'9', pattern[pos]) {
                *errors = true;
                pos += 1;
                continue;
            }
            quote_meta(r, pattern[pos]);
            pos += 1;
        }
    }
    if pos >= pattern.len() || pattern[pos] != b']' {
        *errors = true;
        pos += 1;
    }
    r.push(b']');
    pos + 1
}
