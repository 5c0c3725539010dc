//! Table tests for the expression language. Each table names its upstream source.

use super::*;
use serde_json::json;

pub(super) fn ctx(matrix: Value) -> Context {
    Context {
        matrix: matrix.as_object().cloned(),
    }
}

pub(super) fn ev(expr: &str) -> Value {
    ev_in(expr, &Context::default())
}

pub(super) fn ev_in(expr: &str, ctx: &Context) -> Value {
    match evaluate(expr, ctx) {
        Ok(v) => v,
        Err(e) => panic!("`{expr}` failed: {e}"),
    }
}

pub(super) fn err(expr: &str) -> String {
    match evaluate(expr, &Context::default()) {
        Ok(v) => panic!("`{expr}` should fail but gave {v}"),
        Err(e) => e.message,
    }
}

// nektos/act pkg/exprparser/interpreter_test.go `TestLiterals`, plus the literals of GitHub's
// docs "Evaluate expressions in workflows and actions" (Literals example).
#[test]
fn literals() {
    let table = [
        ("true", json!(true)),
        ("false", json!(false)),
        ("null", json!(null)),
        ("123", json!(123)),
        ("-9.7", json!(-9.7)),
        ("0xff", json!(255)),
        ("-2.99e-2", json!(-2.99e-2)),
        ("'foo'", json!("foo")),
        ("'it''s foo'", json!("it's foo")),
        // docs
        ("711", json!(711)),
        ("-9.2", json!(-9.2)),
        ("'Mona the Octocat'", json!("Mona the Octocat")),
        ("'It''s open source!'", json!("It's open source!")),
        // actions/runner ExpressionUtility.ParseNumber: octal, leading '+', '.5', Infinity
        ("0o17", json!(15)),
        ("+5", json!(5)),
        (".5", json!(0.5)),
        ("1.", json!(1)),
        ("1e3", json!(1000)),
        ("Infinity", json!("Infinity")),
        ("-Infinity", json!("-Infinity")),
        ("NaN", json!("NaN")),
        // Int32.TryParse with AllowHexSpecifier reads 32 bits as a signed integer
        ("0xffffffff", json!(-1)),
        ("''", json!("")),
        ("'a''''b'", json!("a''b")),
    ];
    for (input, expected) in table {
        assert_eq!(ev(input), expected, "{input}");
    }
}

fn commits_ctx() -> Context {
    ctx(json!({
        "action": "push",
        "event": {"commits": [
            {"author": {"username": "someone"}},
            {"author": {"username": "someone-else"}}
        ]}
    }))
}

// nektos/act pkg/exprparser/interpreter_test.go `TestOperators`, with act's `github` context
// moved into `matrix` (the only context known when planning).
#[test]
fn operators() {
    let table = [
        ("(false || (false || true))", json!(true)),
        ("matrix.action", json!("push")),
        ("matrix['action']", json!("push")),
        ("matrix.action[0]", json!(null)),
        ("matrix.action['0']", json!(null)),
        ("fromJSON('[0,1]')[1]", json!(1)),
        ("fromJSON('[0,1]')[2]", json!(null)),
        ("fromJSON('[0,1]')[34553]", json!(null)),
        ("fromJSON('[0,1]')[-1]", json!(null)),
        ("fromJSON('[0,1]')[-34553]", json!(null)),
        ("!true", json!(false)),
        ("1 < 2", json!(true)),
        ("'b' <= 'a'", json!(false)),
        ("1 > 2", json!(false)),
        ("'b' >= 'a'", json!(true)),
        ("'a' == 'a'", json!(true)),
        ("'a' != 'a'", json!(false)),
        ("true && false", json!(false)),
        ("true || false", json!(true)),
        ("fromJSON('{}') && true", json!(true)),
        ("fromJSON('{}') || false", json!({})),
        (
            "matrix.event.commits[0].author.username != matrix.event.commits[1].author.username",
            json!(true),
        ),
        (
            "matrix.event.commits[0].author.username1 != matrix.event.commits[1].author.username",
            json!(true),
        ),
        (
            "matrix.event.commits[0].author.username != matrix.event.commits[1].author.username1",
            json!(true),
        ),
    ];
    let ctx = commits_ctx();
    for (input, expected) in table {
        assert_eq!(ev_in(input, &ctx), expected, "{input}");
    }
}

// Where act differs from GitHub, GitHub's implementation (actions/runner) wins:
// - `Sdk/Operators/Index.cs` floors a fractional index (act returns null for `[1.1]`);
// - `EvaluationResult.AbstractEqual` compares objects by reference (act errors on `secrets != env`);
// - parentheses are transparent, so indexing a `*` result applies to each element, which for
//   strings finds nothing (act answers "someone"; actions/languageservices evaluator.ts agrees
//   with the runner);
// - two missing properties are both null, and null equals null.
#[test]
fn operators_where_act_differs_from_github() {
    assert_eq!(
        ev_in(
            "(matrix.event.commits.*.author.username)[0]",
            &commits_ctx()
        ),
        json!([])
    );
    // Two missing properties are both null, and null == null (act answers true for `!=`).
    let both_missing =
        "matrix.event.commits[0].author.username1 != matrix.event.commits[1].author.username2";
    assert_eq!(ev_in(both_missing, &commits_ctx()), json!(false));
    assert_eq!(ev("fromJSON('[0,1]')[1.1]"), json!(1));
    assert_eq!(ev("fromJSON('{}') != fromJSON('{}')"), json!(true));
    assert_eq!(ev("fromJSON('[]') == fromJSON('[]')"), json!(false));
    let ctx = commits_ctx();
    assert_eq!(ev_in("matrix == matrix", &ctx), json!(true));
    assert_eq!(ev_in("matrix.event == matrix.event", &ctx), json!(true));
}

// nektos/act pkg/exprparser/interpreter_test.go `TestOperatorsCompare` (act's tests keep a
// stray ` }}` after some expressions; it is not part of an expression and is dropped here).
#[test]
fn operators_compare() {
    let table = [
        ("!null", true),
        ("!-10", false),
        ("!0", true),
        ("!3.14", false),
        ("!''", true),
        ("!'abc'", false),
        ("!fromJSON('{}')", false),
        ("!fromJSON('[]')", false),
        ("null == 0", true),
        ("true == 1", true),
        ("'' == 0", true),
        ("'3' == 3", true),
        ("0 == null", true),
        ("1 == true", true),
        ("0 == ''", true),
        ("3 == '3'", true),
        ("'TEST' == 'test'", true),
        ("true > false", true),
        ("true >= false", true),
        ("true >= true", true),
        ("true != false", true),
        ("fromJSON('{}') < 2", false),
        ("fromJSON('{}') < fromJSON('[]')", false),
        ("fromJSON('{}') > fromJSON('[]')", false),
    ];
    for (input, expected) in table {
        assert_eq!(ev(input), json!(expected), "{input}");
    }
}

// GitHub docs "Evaluate expressions in workflows and actions", Operators: type coercion table
// and the notes under it; rules from actions/runner EvaluationResult.cs (CoerceTypes).
#[test]
fn docs_coercion_rules() {
    let table = [
        ("null == 0", true),
        ("true == 1", true),
        ("false == 0", true),
        ("'0x10' == 16", true),
        ("' 12 ' == 12", true),
        ("'1e2' == 100", true),
        ("'abc' == 0", false),
        ("'' == 0", true),
        ("fromJSON('[]') == 0", false),
        ("fromJSON('{}') == 0", false),
        ("NaN == NaN", false),
        ("NaN != NaN", true),
        ("'abc' == 'ABC'", true),
        ("'a' < 'B'", true),
        ("null < 1", true),
        ("null <= 0", true),
        ("true == 'true'", false),
        ("'1' == true", true),
        ("NaN < 1", false),
        ("NaN >= NaN", false),
        ("Infinity > 1e308", true),
    ];
    for (input, expected) in table {
        assert_eq!(ev(input), json!(expected), "{input}");
    }
}

// GitHub docs: "`&&` and `||` return operand values", the `cond && 'a' || 'b'` ternary idiom
// ("Example" under Operators), and precedence: `!` > comparison > equality > `&&` > `||`.
#[test]
fn precedence_and_ternary_idiom() {
    let ctx = ctx(json!({"os": "windows", "big": true}));
    let table = [
        (
            "matrix.os == 'windows' && 'win-runner' || 'linux-runner'",
            json!("win-runner"),
        ),
        (
            "matrix.os == 'linux' && 'big-linux' || 'other'",
            json!("other"),
        ),
        ("matrix.big && '16-core' || '2-core'", json!("16-core")),
        ("true || false && false", json!(true)),
        ("(true || false) && false", json!(false)),
        ("!false == true", json!(true)),
        ("1 < 2 == true", json!(true)),
        ("2 > 1 == 1 < 2", json!(true)),
        ("!matrix.missing", json!(true)),
        ("1 == 1 && 2 == 2 || 3", json!(true)),
    ];
    for (input, expected) in table {
        assert_eq!(ev_in(input, &ctx), expected, "{input}");
    }
}

// GitHub docs: "property names are case-insensitive" and function names likewise
// (actions/runner DictionaryExpressionData uses OrdinalIgnoreCase).
#[test]
fn names_ignore_case() {
    let ctx = ctx(json!({"os": "linux", "Node": {"Version": 20}}));
    assert_eq!(ev_in("matrix.OS", &ctx), json!("linux"));
    assert_eq!(ev_in("MATRIX.os", &ctx), json!("linux"));
    assert_eq!(ev_in("matrix['Os']", &ctx), json!("linux"));
    assert_eq!(ev_in("matrix.node.version", &ctx), json!(20));
    assert_eq!(ev_in("FROMJSON('[1]')[0]", &ctx), json!(1));
    assert_eq!(ev_in("toJson(1)", &ctx), json!("1"));
    assert_eq!(ev_in("StartsWith('abc', 'A')", &ctx), json!(true));
}

// GitHub docs, Object filters: `fruits.*.name` over an array and `vegetables.*.ripeness` over an
// object; actions/runner Sdk/Operators/Index.cs for filtered-array indexing.
#[test]
fn object_filters() {
    let ctx = ctx(json!({
        "fruits": [{"name": "apple", "quantity": 1}, {"name": "orange", "quantity": 2}, {"name": "pear", "quantity": 1}],
        "vegetables": {
            "scallions": {"colors": ["green", "white", "red"], "ripeness": ["seedling", "mature"]},
            "beets": {"colors": ["purple", "red", "gold", "white", "pink"], "ripeness": ["seedling", "young", "mature"]},
            "artichokes": {"colors": ["green", "purple", "red", "black"], "ripeness": ["seedling", "young"]}
        }
    }));
    let table = [
        ("matrix.fruits.*.name", json!(["apple", "orange", "pear"])),
        (
            "matrix.vegetables.*.ripeness.*",
            json!(["seedling", "mature", "seedling", "young", "mature", "seedling", "young"]),
        ),
        (
            "matrix.vegetables.*.ripeness[0]",
            json!(["seedling", "seedling", "seedling"]),
        ),
        ("matrix.fruits[*].quantity", json!([1, 2, 1])),
        ("matrix.fruits.*.missing", json!([])),
        ("matrix.fruits.*.name[0]", json!([])),
        ("contains(matrix.fruits.*.name, 'Pear')", json!(true)),
        (
            "join(matrix.fruits.*.name, ', ')",
            json!("apple, orange, pear"),
        ),
        ("'abc' == matrix.fruits.*", json!(false)),
        ("matrix.fruits.*.name == matrix.fruits.*.name", json!(false)),
    ];
    for (input, expected) in table {
        assert_eq!(ev_in(input, &ctx), expected, "{input}");
    }
}

// nektos/act interpreter_test.go `TestContexts`, the `matrix` rows; a job without a matrix sees
// null (actions/runner WorkflowTemplateConverter adds `matrix: null`).
#[test]
fn matrix_context() {
    let ctx = ctx(json!({"os": "Linux", "labels": ["a", "b"]}));
    assert_eq!(ev_in("matrix.os", &ctx), json!("Linux"));
    assert_eq!(ev_in("matrix.labels", &ctx), json!(["a", "b"]));
    assert_eq!(
        ev_in("matrix", &ctx),
        json!({"os": "Linux", "labels": ["a", "b"]})
    );
    assert_eq!(ev("matrix.os"), json!(null));
    assert_eq!(ev("matrix"), json!(null));
    assert_eq!(ev("matrix.*"), json!([]));
}

#[test]
fn runtime_contexts_fail_and_name_the_context() {
    for name in [
        "github", "inputs", "needs", "vars", "env", "secrets", "steps", "runner", "job",
        "strategy", "jobs",
    ] {
        let message = err(&format!("{name}.anything"));
        assert!(message.contains(&format!("`{name}`")), "{message}");
        assert!(
            message.contains("only known when the workflow runs"),
            "{message}"
        );
    }
    // Short-circuiting means the runtime context is never read.
    let ctx = ctx(json!({"os": "linux"}));
    assert_eq!(ev_in("matrix.os || github.ref", &ctx), json!("linux"));
    assert_eq!(ev_in("false && github.ref", &ctx), json!(false));
    assert!(evaluate("matrix.missing || github.ref", &ctx).is_err());
    assert!(err("hashFiles('**/lock')").contains("hashFiles"));
    assert!(err("success()").contains("success"));
}

#[test]
fn syntax_errors_are_reported() {
    let table = [
        ("", "empty"),
        ("'open", "not closed"),
        ("1 = 1", "unexpected symbol `=`"),
        ("a & b", "unexpected symbol"),
        ("true &&", "ends too early"),
        ("(true", "ends too early"),
        ("true)", "unexpected symbol `)`"),
        ("'abc'[0]", "unexpected symbol `[`"),
        ("matrix.", "ends too early"),
        ("matrix.0", "unexpected symbol `0`"),
        ("1.2.3", "unexpected symbol `1.2.3`"),
        ("foo.bar", "unrecognized named-value `foo`"),
        ("nosuch(1)", "unrecognized function `nosuch`"),
        ("contains('a')", "takes 2 argument(s) but was given 1"),
        ("toJSON(1, 2)", "takes 1 argument(s)"),
        ("case(true, 1)", "odd number"),
        ("case(true, 1, false, 2)", "odd number"),
        ("\"double\"", "unexpected symbol"),
        ("1 2", "unexpected symbol `2`"),
        ("fromJSON(,)", "unexpected symbol `,`"),
    ];
    for (input, needle) in table {
        let message = err(input);
        assert!(message.contains(needle), "`{input}`: {message}");
    }
}

// actions/runner ExpressionConstants.MaxDepth = 50, checked on the tree (ExpressionParser
// CheckMaxDepth); MaxLength = 21000.
#[test]
fn depth_and_length_limits() {
    assert_eq!(ev(&format!("{}true", "!".repeat(49))), json!(false));
    assert!(err(&format!("{}true", "!".repeat(50))).contains("50"));
    assert!(err(&format!("{}1{}", "(".repeat(60), ")".repeat(60))).contains("50"));
    let chain = vec!["1"; 52].join(" == ");
    assert!(err(&chain).contains("50"));
    let deep_index = format!("matrix{}", ".a".repeat(60));
    assert!(err(&deep_index).contains("50"));
    assert!(err(&format!("'{}'", "x".repeat(21_000))).contains("21000"));
}

// actions/runner ExpressionConstants.NumberFormat = "G15": how numbers print in strings.
// Rows from nektos/act functions_test.go `format-floats` and .NET's documented G15 behaviour.
#[test]
fn numbers_print_like_github() {
    let table = [
        ("format('{0}', 1.0)", "1"),
        ("format('{0}', 1.1)", "1.1"),
        ("format('{0}', 1234567890.0)", "1234567890"),
        (
            "format('{0}', 12345678901234567890.0)",
            "1.23456789012346E+19",
        ),
        ("format('{0}', -3.14)", "-3.14"),
        ("format('{0}', 0.0001)", "0.0001"),
        ("format('{0}', 0.00001)", "1E-05"),
        ("format('{0}', 1e15)", "1E+15"),
        ("format('{0}', 999999999999999)", "999999999999999"),
        ("format('{0}', 0.1 )", "0.1"),
        ("format('{0}', 1.2345678901234567)", "1.23456789012346"),
        ("format('{0}', -0.0)", "0"),
        ("format('{0}', 0xff)", "255"),
    ];
    for (input, expected) in table {
        assert_eq!(ev(input), json!(expected), "{input}");
    }
}
