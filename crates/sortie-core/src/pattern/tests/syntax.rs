//! Pattern syntax corners: errors act reports, and act's translation quirks.

use super::super::{nfa, Pattern, PatternError};
use super::pattern;

fn error(source: &str) -> PatternError {
    match Pattern::new(source) {
        Ok(p) => panic!("{source:?} should be refused, compiled to {p:?}"),
        Err(e) => e,
    }
}

/// Patterns act's `PatternToRegex` refuses (nektos/act `pkg/workflowpattern/workflow_pattern.go`:
/// its `errors[pos] = …` lines), or whose regex Go's `regexp.Compile` refuses, with the fragment
/// our message must contain (the column counts a leading `!`).
const REFUSED: &[(&str, &str)] = &[
    // "Unexpected empty brackets '[]'"
    ("[]", "empty brackets '[]' at column 2"),
    ("a[]b", "empty brackets '[]' at column 3"),
    // "Missing closing bracket ']' after '['"
    ("[", "the '[' at column 1 is never closed"),
    ("feature/[abc", "the '[' at column 9 is never closed"),
    ("![a", "the '[' at column 2 is never closed"),
    // "Invalid range": '-' first in the class, or last in the pattern
    ("[-a]", "the '-' at column 2 is not between two characters"),
    ("[a-", "the '-' at column 3 is not between two characters"),
    // "Ranges can only include a-z, A-Z, A-z, and 0-9"
    ("[z-a]", "the range at column 3 is not ascending"),
    ("[a-9]", "the range at column 3"),
    ("[a-]", "the range at column 3"),
    // "Ranges can only include a-z, A-Z and 0-9"
    ("[a.]", "'.' at column 3 cannot appear inside '[...]'"),
    ("x[/]", "'/' at column 3 cannot appear"),
    ("[é]", "'é' at column 2 cannot appear"),
    // "Missing symbol after \"
    ("a\\", "lone '\\' at column 2"),
    // Go RE2's ErrInvalidRepeatOp for stacked quantifiers: act emits `?`/`+` unchanged.
    (
        "a?+",
        "'+' at column 3 repeats something that is already repeated",
    ),
    ("a++", "'+' at column 3"),
    ("a??+", "'+' at column 4"),
    ("a???", "'?' at column 4"),
    ("*+", "'+' at column 2"),
    ("**/+", "'+' at column 4"),
    // `[A-\]`: act copies the range end `\` unquoted, so Go reads `\]` and the class never closes.
    ("[A-\\]", "lose its closing bracket"),
    // `[A-\a]`: Go reads `\a` (BEL, 0x07) as the range end: a backwards range.
    ("[A-\\a]", "backwards range"),
    // `[A-\d]`: act emits `\d`; Go rejects it as a range end. sortie refuses every such escape.
    ("[A-\\d]", "does not evaluate"),
];

#[test]
fn refused_patterns_say_where_and_why() {
    for &(source, fragment) in REFUSED {
        let e = error(source);
        assert_eq!(e.pattern, source);
        assert!(
            e.message.contains(fragment),
            "{source:?}: {:?} lacks {fragment:?}",
            e.message
        );
        assert!(e.to_string().starts_with("invalid filter pattern"), "{e}");
    }
}

#[test]
fn every_problem_is_reported_once() {
    let e = error("[é");
    assert_eq!(
        e.message.matches("'é' at column 2").count(),
        1,
        "{}",
        e.message
    );
    assert!(e.message.contains("never closed"), "{}", e.message);
}

#[test]
fn list_reports_the_first_bad_pattern() {
    let e = super::super::PatternList::new(&["ok", "[", "]["]).unwrap_err();
    assert_eq!(e.pattern, "[");
}

/// `(pattern, matches, non-matches)`: consequences of act's translation (nektos/act
/// `PatternToRegex`) read by Go RE2, worked out by hand from the regex act emits (shown).
const QUIRKS: &[(&str, &[&str], &[&str])] = &[
    // `^(.+/)?x$`: `**/` needs at least one character before its slash.
    ("**/x", &["x", "a/x", "a/b/x", "//x"], &["/x", "ax"]),
    // `^[^/]*$`: `*` spans anything but `/`, including a line break; `.*` does not.
    ("*", &["", "a\nb"], &["a/b"]),
    ("**", &["", "a/b"], &["a\nb"]),
    // `?` and `+` quantify the previous character; first in the pattern they are literal.
    ("?a", &["?a"], &["a"]),
    ("+", &["+"], &[""]),
    ("ab+", &["ab", "abbb"], &["a", "abab"]),
    ("a??", &["", "a"], &["aa"]), // `a??` is Go's lazy `a?`
    ("**?", &["", "a/b"], &[]),   // `.*?`
    ("a+*", &["a", "aab"], &["", "a/b"]),
    ("[ab]+", &["abba"], &["", "abc"]),
    ("\\**", &["*", "*xy"], &["x"]), // `\*[^/]*`
    // A leading `!` is stripped once; any other `!` is literal.
    ("!!a", &["!a"], &["a"]),
    ("a!", &["a!"], &["a"]),
    ("!", &[""], &["!"]), // body is empty: `^$`
    // `[A-]x]`: act copies `-]` as a range end; Go reads `[A-]` (A or -) then literal `x]`.
    ("[A-]x]", &["Ax]", "-x]"], &["Ax", "]x]"]),
    // `[A-]-^]`: after the early `]`, Go reads `^` as start-of-text: it can never match.
    ("[A-]-^]", &[], &["A-]", "A-^]", "A-"]),
    // `[A-\][b]`: Go's class runs on through `\]` and act's next `[` to the final `]`.
    ("[A-\\][b]", &["b", "[", "A", "\\", "]"], &["a", "Ab"]),
    // `[Z-\].*+[ab]`: the `**+` lands inside Go's class, so it is not a stacked quantifier.
    (
        "[Z-\\]**+[ab]",
        &["Z", "\\", "*", "+", "a"],
        &["Za", "c", ""],
    ),
    // `[a-c-e]`: Go reads a-c, then `-` and `e` on their own (not c-e).
    ("[a-c-e]", &["a", "c", "-", "e"], &["d"]),
    // Non-ASCII outside brackets is literal and quantifiable as one character.
    ("é+", &["é", "éé"], &["e"]),
    // act's escape drops the `\` and quotes the next *byte*: `\é` is `é`, `\a` is `a`.
    ("\\é", &["é"], &["\\é"]),
    ("\\a\\/", &["a/"], &["\\a\\/"]),
];

#[test]
fn act_translation_quirks() {
    for &(source, matches, non_matches) in QUIRKS {
        let p = pattern(source);
        for v in matches {
            assert!(p.is_match(v), "{source:?} should match {v:?}");
        }
        for v in non_matches {
            assert!(!p.is_match(v), "{source:?} should not match {v:?}");
        }
    }
}

/// Patterns over 64 NFA states take the sparse simulation; check it on a long pattern.
#[test]
fn long_patterns_use_the_sparse_simulation() {
    let source = "src/**/".to_string() + &"a?b*".repeat(40) + "[0-9]+.rs";
    let p = pattern(&source);
    assert!(matches!(&p.program, nfa::Program::Nfa(n) if !n.is_small()));
    let hit = "src/x/".to_string() + &"bzz".repeat(40) + "42.rs";
    assert!(p.is_match(&hit));
    assert!(!p.is_match(&(hit.clone() + "x")));
    assert!(!p.is_match(&hit.replace("42", "")));
}

/// The classic exponential-backtracking shape gives the right answers (a backtracking matcher
/// would not finish: 2^30 paths). Speed is measured by the `patterns` bench, not asserted here.
#[test]
fn no_exponential_blowup() {
    let source = "a?".repeat(30) + &"a".repeat(30);
    let p = pattern(&source);
    assert!(p.is_match(&"a".repeat(30)));
    assert!(!p.is_match(&"a".repeat(61)));
    let long = pattern(&"**".repeat(200));
    assert!(long.is_match(&"x/".repeat(5_000)));
}

/// Plain names compile to a string comparison.
#[test]
fn literal_patterns_skip_the_nfa() {
    let p = pattern("releases/v1.0");
    assert!(matches!(p.program, nfa::Program::Literal(_)));
    assert!(p.is_match("releases/v1.0"));
    assert!(!p.is_match("releases/v1x0"));
    assert!(matches!(pattern("a\\*b").program, nfa::Program::Literal(_)));
    assert!(pattern("a\\*b").is_match("a*b"));
}
