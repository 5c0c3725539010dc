//! Interpolation tables and property tests for the expression language.

use super::tests::ctx;
use super::*;
use serde_json::json;

// actions/runner ObjectTemplating/TemplateReader.cs ParseScalar: one expression → its value;
// text with expressions → format() of the pieces; `}}` inside a string literal does not close.
#[test]
fn interpolation() {
    let ctx =
        ctx(json!({"os": "linux", "labels": ["self-hosted", "x64"], "cpu": 4, "obj": {"a": 1}}));
    let table = [
        ("ubuntu-latest", json!("ubuntu-latest")),
        ("", json!("")),
        ("${{ matrix.labels }}", json!(["self-hosted", "x64"])),
        ("${{matrix.cpu}}", json!(4)),
        ("  ${{ matrix.cpu }}", json!("  4")),
        (
            "sortie=cpu=${{ matrix.cpu }}+${{ matrix.cpu }}/ram=8",
            json!("sortie=cpu=4+4/ram=8"),
        ),
        (
            "build (${{ matrix.os }}, ${{ matrix.missing }})",
            json!("build (linux, )"),
        ),
        (
            "${{ matrix.labels }}-${{ matrix.obj }}",
            json!("Array-Object"),
        ),
        ("${{ '}}' }}", json!("}}")),
        ("a ${{ 'it''s' }} b", json!("a it's b")),
        ("{literal} ${{ 1 }} }}", json!("{literal} 1 }}")),
        ("${{ true }}${{ null }}", json!("true")),
        (
            "$ {{ not an expression }}",
            json!("$ {{ not an expression }}"),
        ),
    ];
    for (input, expected) in table {
        assert_eq!(
            interpolate(input, &ctx).unwrap_or_else(|e| panic!("{input}: {e}")),
            expected,
            "{input}"
        );
    }
    let bad = [
        ("${{ matrix.os", "not closed"),
        ("x ${{ '}} }}", "not closed"),
        ("${{ }}", "expression was expected"),
        ("runner-${{ github.ref }}", "`github`"),
    ];
    for (input, needle) in bad {
        let e = interpolate(input, &ctx).expect_err(input);
        assert!(e.message.contains(needle), "{input}: {e}");
    }
    let e = interpolate("runner-${{ github.ref }}", &ctx).expect_err("github");
    assert_eq!(e.expr, "github.ref");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    const VOCAB: &[&str] = &[
        "matrix",
        ".",
        "os",
        "[",
        "]",
        "(",
        ")",
        "*",
        "!",
        "==",
        "!=",
        "<",
        "<=",
        ">",
        ">=",
        "&&",
        "||",
        ",",
        "'a'",
        "'}}'",
        "1",
        "-2.5e3",
        "0x1f",
        "NaN",
        "Infinity",
        "null",
        "true",
        "contains",
        "format",
        "join",
        "toJSON",
        "fromJSON",
        "startsWith",
        "case",
        "'{0}'",
        "'[1,{\"a\":2}]'",
        "github",
        "${{",
        "}}",
        " ",
        "'",
        "=",
        "&",
        "|",
    ];

    fn soup() -> impl Strategy<Value = String> {
        prop::collection::vec(prop::sample::select(VOCAB), 0..40).prop_map(|parts| parts.concat())
    }

    fn matrix_ctx() -> Context {
        ctx(json!({"os": "linux", "list": [1, "a", null, {"b": true}]}))
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(s in ".{0,200}") {
            let _ = evaluate(&s, &matrix_ctx());
            let _ = interpolate(&s, &matrix_ctx());
        }

        #[test]
        fn never_panics_on_token_soup(s in soup()) {
            let _ = evaluate(&s, &matrix_ctx());
            let _ = interpolate(&s, &matrix_ctx());
            let _ = interpolate(&format!("${{{{ {s} }}}}"), &matrix_ctx());
        }

        #[test]
        fn integers_evaluate_to_themselves(n in any::<i32>()) {
            prop_assert_eq!(evaluate(&n.to_string(), &Context::default()), Ok(json!(n)));
        }

        #[test]
        fn printed_numbers_parse_back(n in any::<f64>()) {
            let printed = value::number_to_string(n);
            let back = value::parse_number(&printed);
            if n.is_nan() {
                prop_assert!(back.is_nan());
            } else if n.is_infinite() || n == 0.0 {
                prop_assert_eq!(back, n + 0.0);
            } else {
                prop_assert!(((back - n) / n).abs() < 1e-14, "{} printed as {} read back as {}", n, printed, back);
            }
        }

        #[test]
        fn string_literals_round_trip(s in "[^\u{0}]{0,40}") {
            let literal = format!("'{}'", s.replace('\'', "''"));
            prop_assert_eq!(evaluate(&literal, &Context::default()), Ok(json!(s)));
        }
    }
}
