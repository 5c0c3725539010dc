//! `parse_workflow` never panics (nor overflows its stack), whatever it is fed.

use super::*;
use proptest::prelude::*;

/// Pieces that exercise YAML's syntax: indicators, quotes, anchors, tags, keys we read.
const PIECES: &[&str] = &[
    "on",
    "jobs",
    "runs-on",
    "uses",
    "strategy",
    "matrix",
    "include",
    "exclude",
    "group",
    "labels",
    "push",
    "branches",
    "branches-ignore",
    "tags",
    "paths",
    "types",
    "schedule",
    "cron",
    "name",
    "a",
    "1.10",
    "~",
    "true",
    ":",
    ": ",
    "- ",
    "? ",
    "\n",
    "\n  ",
    "\n    ",
    "\n      ",
    "[",
    "]",
    "{",
    "}",
    ", ",
    "'",
    "\"",
    "#",
    "&x ",
    "*x",
    "!t ",
    "!!int ",
    "!!str ",
    "|\n  ",
    ">-\n  ",
    "${{ matrix.os }}",
    "---\n",
    "...\n",
    "\t",
    "\r\n",
    "é",
    "\\",
];

fn yamlish() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..80).prop_map(|p| p.concat())
}

/// A workflow-shaped file with random values in the places we read.
fn workflow_shaped() -> impl Strategy<Value = String> {
    let value = prop::sample::select(
        &[
            "main",
            "[main, 'v*']",
            "",
            "~",
            "{}",
            "[]",
            "[[x]]",
            "{a: b}",
            "1.10",
            "true",
            "'${{ x }}'",
            "[a, ~]",
            "\n      - a\n      - b",
            "\n      a: b",
        ][..],
    );
    (value.clone(), value.clone(), value.clone(), value.clone(), value).prop_map(|(on, filter, runs_on, axis, include)| {
        format!(
            "on:\n  push:\n    branches: {filter}\n  pull: {on}\njobs:\n  build:\n    runs-on: {runs_on}\n    strategy:\n      matrix:\n        os: {axis}\n        include: {include}\n"
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_strings_never_panic(text in any::<String>()) {
        let _ = parse_workflow("fuzz.yml", &text);
    }

    #[test]
    fn yamlish_strings_never_panic(text in yamlish()) {
        let _ = parse_workflow("fuzz.yml", &text);
    }

    #[test]
    fn workflow_shaped_files_never_panic(text in workflow_shaped()) {
        let _ = parse_workflow("fuzz.yml", &text);
    }

    // Errors always point inside the file.
    #[test]
    fn error_positions_are_in_the_file(text in yamlish()) {
        if let Err(e) = parse_workflow("fuzz.yml", &text) {
            prop_assert!(e.line >= 1 && e.column >= 1, "{e}");
            prop_assert!(e.line <= text.split(['\n', '\r']).count().max(1) + 1, "{e}");
        }
    }

    // Branch lists of plain names come back exactly, in order.
    #[test]
    fn branch_lists_round_trip(names in prop::collection::vec("[a-z][a-z0-9/_.-]{0,12}", 1..8)) {
        let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
        let text = format!("on:\n  push:\n    branches: [{}]\njobs:\n  a:\n    runs-on: x\n", quoted.join(", "));
        let w = parse_workflow("p.yml", &text).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(w.triggers[0].filters.branches.clone(), Some(names));
    }
}

// Nesting far deeper than any workflow: refused or parsed on a big enough stack, never a crash.
#[test]
fn deep_nesting_never_overflows() {
    let inputs = [
        format!("on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        v:\n          {}1\n", "- ".repeat(150)),
        format!("v:\n  {}1\n", "- ".repeat(600)),
        format!("v:\n  {}1\n", "- ".repeat(100_000)),
        format!("v: {}1{}\n", "[".repeat(250), "]".repeat(250)),
        format!("v: {}\n", "[".repeat(100_000)),
        format!("v: {}\n", "{a: ".repeat(300)),
        (0..400).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect::<String>(),
    ];
    for text in &inputs {
        let _ = parse_workflow("deep.yml", text);
    }
    // A deep but legitimate matrix value is read, not refused.
    let text = format!("on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      matrix:\n        v:\n          {}1\n", "- ".repeat(40));
    assert!(parse_workflow("deep.yml", &text).is_ok());
    let err = parse_workflow("deep.yml", &format!("v:\n  {}1\n", "- ".repeat(100_000)))
        .expect_err("too deep");
    assert!(err.message.contains("nested far deeper"), "{err}");
}

#[test]
fn nesting_bound_is_an_upper_bound() {
    // (text, true depth of collections)
    let rows: &[(&str, usize)] = &[
        ("a: b\n", 1),
        ("a:\n- b\n- c\n", 2),
        ("a:\n  b:\n    c: [d, {e: f}]\n", 5),
        ("- - - x\n", 3),
        ("k: [a: [b: c]]\n", 5),
        ("- a: - b\n", 3),
    ];
    for (text, depth) in rows {
        let bound = yaml::nesting_bound(text);
        assert!(bound >= *depth, "{text:?}: bound {bound} < depth {depth}");
        assert!(
            bound <= 4 * depth + 8,
            "{text:?}: bound {bound} is too loose for depth {depth}"
        );
    }
}
