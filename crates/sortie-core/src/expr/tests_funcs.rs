//! Function tables. Rows come from nektos/act pkg/exprparser/functions_test.go and the examples in
//! GitHub's docs "Evaluate expressions in workflows and actions" (Functions); act's `github` and
//! `env` contexts are replaced by `matrix`, the one context known when planning.

use super::tests::{ctx, err, ev, ev_in};
use serde_json::json;

// act `TestFunctionContains`; docs: contains('Hello world', 'llo'),
// contains(fromJSON('["push", "pull_request"]'), github.event_name).
#[test]
fn contains() {
    let table = [
        ("contains('search', 'item')", false),
        ("cOnTaInS('Hello', 'll')", true),
        ("contains('HELLO', 'll')", true),
        ("contains('3.141592', 3.14)", true),
        ("contains(3.141592, '3.14')", true),
        ("contains(3.141592, 3.14)", true),
        ("contains(true, 'u')", true),
        ("contains(null, '')", true),
        (r#"contains(fromJSON('["first","second"]'), 'first')"#, true),
        (r#"contains(fromJSON('[null,"second"]'), '')"#, true),
        (r#"contains(fromJSON('["","second"]'), null)"#, true),
        (r#"contains(fromJSON('[true,"second"]'), 'true')"#, false),
        (r#"contains(fromJSON('["true","second"]'), true)"#, false),
        (r#"contains(fromJSON('[3.14,"second"]'), '3.14')"#, true),
        (r#"contains(fromJSON('[3.14,"second"]'), 3.14)"#, true),
        (
            r#"contains(fromJSON('["","second"]'), fromJSON('[]'))"#,
            false,
        ),
        (
            r#"contains(fromJSON('["","second"]'), fromJSON('{}'))"#,
            false,
        ),
        // docs
        ("contains('Hello world', 'llo')", true),
        (
            r#"contains(fromJSON('["push", "pull_request"]'), 'PUSH')"#,
            true,
        ),
        ("contains(fromJSON('{\"a\":1}'), 'a')", false),
        ("contains(fromJSON('[]'), null)", false),
    ];
    for (input, expected) in table {
        assert_eq!(ev(input), json!(expected), "{input}");
    }
}

// act `TestFunctionContains`, the rows that search dereferenced items.
#[test]
fn contains_dereferenced_items() {
    let table = [
        // act answers true; on GitHub `.first` on an array is null (actions/runner Index.cs
        // reads a non-numeric index of an array as no index), so contains(null, …) is false.
        (
            r#"contains(fromJSON('[{ "first": { "result": "success" }},{ "second": { "result": "success" }}]').first.result, 'success')"#,
            false,
        ),
        (
            r#"contains(fromJSON('[{ "result": "success" },{ "result": "failure" }]').*.result, 'failure')"#,
            true,
        ),
        (
            r#"contains(fromJSON('[{ "result": "failure" },{ "result": "success" }]').*.result, 'success')"#,
            true,
        ),
        (
            r#"contains(fromJSON('[{ "result": "failure" },{ "result": "success" }]').*.result, 'notthere')"#,
            false,
        ),
        (
            r#"contains(fromJSON('[{ "result": "failure", "outputs": { "key": "val1" } },{ "result": "success", "outputs": { "key": "val2" } }]').*.outputs.key, 'val1')"#,
            true,
        ),
        (
            r#"contains(fromJSON('[{ "result": "failure", "outputs": { "key": "val1" } },{ "result": "success", "outputs": { "key": "val2" } }]').*.outputs.key, 'missing')"#,
            false,
        ),
    ];
    for (input, expected) in table {
        assert_eq!(ev(input), json!(expected), "{input}");
    }
}

// act `TestFunctionStartsWith` / `TestFunctionEndsWith`; docs: startsWith('Hello world', 'He'),
// endsWith('Hello world', 'ld').
#[test]
fn starts_and_ends_with() {
    let table = [
        ("startsWith('search', 'se')", true),
        ("startsWith('search', 'sa')", false),
        ("startsWith('123search', '123s')", true),
        ("startsWith(123, 's')", false),
        ("startsWith(123, '12')", true),
        ("startsWith('123', 12)", true),
        ("startsWith(null, '42')", false),
        ("startsWith('null', null)", true),
        ("startsWith('null', '')", true),
        ("endsWith('search', 'ch')", true),
        ("endsWith('search', 'sa')", false),
        ("endsWith('search123s', '123s')", true),
        ("endsWith(123, 's')", false),
        ("endsWith(123, '23')", true),
        ("endsWith('123', 23)", true),
        ("endsWith(null, '42')", false),
        ("endsWith('null', null)", true),
        ("endsWith('null', '')", true),
        // docs
        ("startsWith('Hello world', 'He')", true),
        ("endsWith('Hello world', 'ld')", true),
        ("startsWith('Hello', 'hE')", true),
        ("startsWith(fromJSON('[\"a\"]'), 'a')", false),
    ];
    for (input, expected) in table {
        assert_eq!(ev(input), json!(expected), "{input}");
    }
}

// act `TestFunctionJoin`; docs: join(github.event.issue.labels.*.name, ', ').
#[test]
fn join() {
    let table = [
        (r#"join(fromJSON('["a", "b"]'), ',')"#, "a,b"),
        ("join('string', ',')", "string"),
        ("join(1, ',')", "1"),
        ("join(null, ',')", ""),
        (r#"join(fromJSON('["a", "b", null]'), null)"#, "ab"),
        (r#"join(fromJSON('["a", "b"]'))"#, "a,b"),
        (r#"join(fromJSON('["a", "b", null]'), 1)"#, "a1b1"),
        // docs and actions/runner Join.cs
        (
            r#"join(fromJSON('[{"name":"bug"},{"name":"help wanted"}]').*.name, ', ')"#,
            "bug, help wanted",
        ),
        ("join(fromJSON('[]'), ',')", ""),
        ("join(fromJSON('{}'), ',')", ""),
        (r#"join(fromJSON('["a", "b"]'), fromJSON('[]'))"#, "a,b"),
        (
            r#"join(fromJSON('[1.5, true, {}, []]'), ' ')"#,
            "1.5 true Object Array",
        ),
    ];
    for (input, expected) in table {
        assert_eq!(ev(input), json!(expected), "{input}");
    }
}

// act `TestFunctionToJSON` / `TestFunctionFromJSON`; layout from actions/runner ToJson.cs.
#[test]
fn to_and_from_json() {
    let ctx = ctx(json!({"key": "value"}));
    assert_eq!(
        ev_in("toJSON(matrix)", &ctx),
        json!("{\n  \"key\": \"value\"\n}")
    );
    assert_eq!(ev("toJSON(null)"), json!("null"));
    assert_eq!(ev(r#"fromJSON('{"foo":"bar"}')"#), json!({"foo": "bar"}));
    let nested = r#"toJSON(fromJSON('{"a":[1,2.5,{"b":null}],"c":{},"d":[],"e":"x\"y"}'))"#;
    let expected = "{\n  \"a\": [\n    1,\n    2.5,\n    {\n      \"b\": null\n    }\n  ],\n  \"c\": {},\n  \"d\": [],\n  \"e\": \"x\\\"y\"\n}";
    assert_eq!(ev(nested), json!(expected));
    assert_eq!(ev("toJSON(1.0)"), json!("1"));
    assert_eq!(ev("toJSON('a')"), json!("\"a\""));
    assert_eq!(ev("fromJSON('1')"), json!(1));
    assert_eq!(ev("fromJSON(' [1, 2] ')[1]"), json!(2));
    assert_eq!(
        ev("fromJSON(toJSON(fromJSON('[1,{\"a\":true}]')))"),
        json!([1, {"a": true}])
    );
    assert!(err("fromJSON('{')").contains("could not parse"));
    assert!(err("fromJSON('')").contains("empty"));
    assert!(err("fromJSON(null)").contains("empty"));
}

// act `TestFunctionFormat` (act's own error wording is replaced by what the rows test: that the
// format string is rejected); docs: format('Hello {0} {1} {2}', 'Mona', 'the', 'Octocat') and
// format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat'). Scanning rules: actions/runner
// Sdk/Functions/Format.cs.
#[test]
fn format() {
    let table = [
        ("format('text')", "text"),
        (
            "format('Hello {0} {1} {2}!', 'Mona', 'the', 'Octocat')",
            "Hello Mona the Octocat!",
        ),
        (
            "format('{{Hello {0} {1} {2}!}}', 'Mona', 'the', 'Octocat')",
            "{Hello Mona the Octocat!}",
        ),
        ("format('{{0}}', 'test')", "{0}"),
        ("format('{{{0}}}', 'test')", "{test}"),
        ("format('}}')", "}"),
        (
            r#"format('Hello "{0}" {1} {2} {3} {4}', null, true, -3.14, NaN, Infinity)"#,
            r#"Hello "" true -3.14 NaN Infinity"#,
        ),
        (
            r#"format('Hello "{0}" {1} {2}', fromJSON('[0, true, "abc"]'), fromJSON('[{"a":1}]'), fromJSON('{"a":{"b":1}}'))"#,
            r#"Hello "Array" Array Object"#,
        ),
        ("format(true)", "true"),
        (
            "format('echo Hello {0} ${{Test}}', matrix.undefined_property)",
            "echo Hello  ${Test}",
        ),
        ("format('{0}{0}{1}', 'a', 'b')", "aab"),
        ("format('{00}', 'a')", "a"),
        // only referenced arguments are evaluated (Format.cs evaluates lazily)
        ("format('{0}', 'x', github.sha)", "x"),
    ];
    for (input, expected) in table {
        assert_eq!(ev(input), json!(expected), "{input}");
    }
    let errors = [
        ("format('{0}}', '{1}', 'World')", "is invalid"),
        ("format('{0', '{1}', 'World')", "is invalid"),
        (
            "format('{2}', '{1}', 'World')",
            "only 2 argument(s) follow it",
        ),
        ("format('{2147483648}')", "is invalid"),
        ("format('{256}', 1)", "is invalid"),
        ("format('{}', 1)", "is invalid"),
        ("format('{a}', 1)", "is invalid"),
        ("format('{0:x}', 1)", "format specifiers"),
        ("format('{0}', github.sha)", "`github`"),
    ];
    for (input, needle) in errors {
        let message = err(input);
        assert!(message.contains(needle), "{input}: {message}");
    }
}

// act `TestFunctionCase`; actions/languageservices expressions/src/funcs/case.ts.
#[test]
fn case() {
    let table = [
        ("case(true, 'a', 'b')", json!("a")),
        ("case(true, 1, false, 2, 3)", json!(1)),
        ("CASE(true, 1, 2)", json!(1)),
        ("case(startsWith('hello', 'he'), 'yes', 'no')", json!("yes")),
        (
            "case(false, 'a', false, 'b', false, 'c', true, 'd', 'default')",
            json!("d"),
        ),
        ("case(true, null, 'b')", json!(null)),
        ("case(false, github.x, 'b')", json!("b")),
    ];
    for (input, expected) in table {
        assert_eq!(ev(input), expected, "{input}");
    }
    assert!(err("case(1, 'a', 'b')").contains("true or false"));
}
