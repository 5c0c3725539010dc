//! nektos/act pkg/exprparser/interpreter_test.go `TestOperatorsBooleanEvaluation`: every pair of
//! operands under `&&` and `||` (act comments out the `-Infinity` rows; so does this table).
//! Each row gives the left operand, then the 12 expected results of `left && right` and of
//! `left || right` for the right operands in `RIGHT` order, written as expressions.

use super::tests::ev;

const RIGHT: [&str; 12] = [
    "true", "false", "null", "-10", "0", "10", "3.14", "0.0", "Infinity", "NaN", "''", "'abc'",
];

type Row = (&'static str, [&'static str; 12], [&'static str; 12]);

const TABLE: [Row; 12] = [
    ("true", RIGHT, ["true"; 12]),
    ("false", ["false"; 12], RIGHT),
    ("null", ["null"; 12], RIGHT),
    ("-10", RIGHT, ["-10"; 12]),
    ("0", ["0"; 12], RIGHT),
    ("10", RIGHT, ["10"; 12]),
    ("3.14", RIGHT, ["3.14"; 12]),
    ("Infinity", RIGHT, ["Infinity"; 12]),
    ("NaN", ["NaN"; 12], RIGHT),
    ("''", ["''"; 12], RIGHT),
    ("'abc'", RIGHT, ["'abc'"; 12]),
    // act's "extra tests" rows
    ("0.0", ["0"; 12], RIGHT),
];

#[test]
fn and_or_return_operands() {
    for (left, and, or) in TABLE {
        for (i, right) in RIGHT.iter().enumerate() {
            let and_expr = format!("{left} && {right}");
            assert_eq!(ev(&and_expr), ev(and[i]), "{and_expr}");
            let or_expr = format!("{left} || {right}");
            assert_eq!(ev(&or_expr), ev(or[i]), "{or_expr}");
        }
    }
    // act: "-1.5 && true" → true
    assert_eq!(ev("-1.5 && true"), ev("true"));
}
