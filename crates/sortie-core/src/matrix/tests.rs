//! Matrix expansion tests. The examples of GitHub's docs "Running variations of jobs in a
//! workflow" are ported with the exact combinations the docs list; the rules under them come
//! from actions/runner `src/Sdk/WorkflowParser/Conversion/MatrixBuilder.cs`.

use super::*;
use serde_json::json;

fn map(v: Value) -> Map<String, Value> {
    v.as_object()
        .cloned()
        .unwrap_or_else(|| panic!("not an object: {v}"))
}

/// Builds a literal matrix from the JSON form of its YAML.
fn def(v: Value) -> MatrixDef {
    let mut axes = Vec::new();
    let (mut include, mut exclude) = (Vec::new(), Vec::new());
    for (key, value) in map(v) {
        let entries = || {
            value
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(map)
                .collect::<Vec<_>>()
        };
        match key.as_str() {
            "include" => include = entries(),
            "exclude" => exclude = entries(),
            _ => axes.push((key.clone(), value.as_array().cloned().unwrap_or_default())),
        }
    }
    MatrixDef::Literal {
        axes,
        include,
        exclude,
    }
}

/// The expansion as JSON text, so key order is compared too.
fn expanded(v: Value) -> String {
    match expand(&def(v)) {
        Ok(combos) => Value::Array(combos.into_iter().map(Value::Object).collect()).to_string(),
        Err(e) => panic!("expand failed: {e}"),
    }
}

fn error(v: Value) -> String {
    match expand(&def(v)) {
        Ok(combos) => panic!("expected an error, got {combos:?}"),
        Err(e) => e.0,
    }
}

// Docs, "Using a single-dimension matrix" and "Using a multi-dimension matrix" (six jobs, the
// first variable varying slowest as GitHub lists them).
#[test]
fn docs_cross_product() {
    assert_eq!(
        expanded(json!({"version": [10, 12, 14]})),
        json!([{"version": 10}, {"version": 12}, {"version": 14}]).to_string()
    );
    let combos = json!([
        {"os": "ubuntu-22.04", "version": 10}, {"os": "ubuntu-22.04", "version": 12}, {"os": "ubuntu-22.04", "version": 14},
        {"os": "ubuntu-20.04", "version": 10}, {"os": "ubuntu-20.04", "version": 12}, {"os": "ubuntu-20.04", "version": 14},
    ]);
    assert_eq!(
        expanded(json!({"os": ["ubuntu-22.04", "ubuntu-20.04"], "version": [10, 12, 14]})),
        combos.to_string()
    );
}

// Docs, "Expanding or adding matrix configurations": the fruit/animal example and the six
// combinations it lists, in GitHub's order (cross product first, then unmatched includes).
#[test]
fn docs_include_fruit_example() {
    let matrix = json!({
        "fruit": ["apple", "pear"],
        "animal": ["cat", "dog"],
        "include": [
            {"color": "green"},
            {"color": "pink", "animal": "cat"},
            {"fruit": "apple", "shape": "circle"},
            {"fruit": "banana"},
            {"fruit": "banana", "animal": "cat"}
        ]
    });
    let combos = json!([
        {"fruit": "apple", "animal": "cat", "color": "pink", "shape": "circle"},
        {"fruit": "apple", "animal": "dog", "color": "green", "shape": "circle"},
        {"fruit": "pear", "animal": "cat", "color": "pink"},
        {"fruit": "pear", "animal": "dog", "color": "green"},
        {"fruit": "banana"},
        {"fruit": "banana", "animal": "cat"}
    ]);
    assert_eq!(expanded(matrix), combos.to_string());
}

// Docs, "Example: Expanding configurations" (npm: 6 joins the windows/16 job only).
#[test]
fn docs_expanding_configurations() {
    let matrix = json!({
        "os": ["windows-latest", "ubuntu-latest"],
        "node": [14, 16],
        "include": [{"os": "windows-latest", "node": 16, "npm": 6}]
    });
    let combos = json!([
        {"os": "windows-latest", "node": 14},
        {"os": "windows-latest", "node": 16, "npm": 6},
        {"os": "ubuntu-latest", "node": 14},
        {"os": "ubuntu-latest", "node": 16}
    ]);
    assert_eq!(expanded(matrix), combos.to_string());
}

// Docs, "Example: Adding configurations": nine jobs plus {windows-latest, 17}; and the matrix
// made of `include` only, which runs one job per entry.
#[test]
fn docs_adding_configurations() {
    let matrix = json!({
        "os": ["macos-latest", "windows-latest", "ubuntu-latest"],
        "version": [12, 14, 16],
        "include": [{"os": "windows-latest", "version": 17}]
    });
    let combos = expand(&def(matrix)).unwrap_or_default();
    assert_eq!(combos.len(), 10);
    assert_eq!(
        Value::Object(combos[9].clone()),
        json!({"os": "windows-latest", "version": 17})
    );

    let only_include = json!({"include": [
        {"site": "production", "datacenter": "site-a"},
        {"site": "staging", "datacenter": "site-b"}
    ]});
    let combos = json!([{"site": "production", "datacenter": "site-a"}, {"site": "staging", "datacenter": "site-b"}]);
    assert_eq!(expanded(only_include), combos.to_string());
}

// Docs, "Excluding matrix configurations": twelve configurations minus one full and two partial
// matches leaves nine.
#[test]
fn docs_excluding_configurations() {
    let matrix = json!({
        "os": ["macos-latest", "windows-latest"],
        "version": [12, 14, 16],
        "environment": ["staging", "production"],
        "exclude": [
            {"os": "macos-latest", "version": 12, "environment": "production"},
            {"os": "windows-latest", "version": 16}
        ]
    });
    let combos = expand(&def(matrix)).unwrap_or_default();
    assert_eq!(combos.len(), 9);
    let gone = |os: &str, version: i64| {
        combos
            .iter()
            .any(|c| c["os"] == json!(os) && c["version"] == json!(version))
    };
    assert!(!gone("windows-latest", 16));
    assert!(gone("macos-latest", 12));
    assert!(!combos
        .iter()
        .any(|c| c
            == &map(json!({"os": "macos-latest", "version": 12, "environment": "production"}))));
}

// actions/runner MatrixBuilder.cs doc comment, examples 1–4 (example 4 read as one include
// entry `{arch: x64, os: macos}`, which matches no combination and is appended).
#[test]
fn runner_matrix_builder_examples() {
    let axes = json!({"arch": ["x64", "x86"], "os": ["linux", "windows"]});
    let with = |extra: Value| {
        let mut m = map(axes.clone());
        m.extend(map(extra));
        expanded(Value::Object(m))
    };
    assert_eq!(
        with(json!({})),
        json!([
            {"arch": "x64", "os": "linux"}, {"arch": "x64", "os": "windows"},
            {"arch": "x86", "os": "linux"}, {"arch": "x86", "os": "windows"}
        ])
        .to_string()
    );
    assert_eq!(with(json!({"exclude": [{"arch": "x86", "os": "linux"}]})), json!([
        {"arch": "x64", "os": "linux"}, {"arch": "x64", "os": "windows"}, {"arch": "x86", "os": "windows"}
    ]).to_string());
    assert_eq!(
        with(json!({"include": [{"arch": "x64", "os": "linux", "publish": true}]})),
        json!([
            {"arch": "x64", "os": "linux", "publish": true}, {"arch": "x64", "os": "windows"},
            {"arch": "x86", "os": "linux"}, {"arch": "x86", "os": "windows"}
        ])
        .to_string()
    );
    assert_eq!(
        with(json!({"include": [{"arch": "x64", "os": "macos"}]})),
        json!([
            {"arch": "x64", "os": "linux"}, {"arch": "x64", "os": "windows"},
            {"arch": "x86", "os": "linux"}, {"arch": "x86", "os": "windows"},
            {"arch": "x64", "os": "macos"}
        ])
        .to_string()
    );
}

// MatrixBuilder.cs MatrixFilter: each scalar of a filter becomes `matrix[…] == value`, so nested
// values match partially, strings ignore case and numbers coerce.
#[test]
fn filters_compare_leaf_by_leaf_with_github_equality() {
    let nested = json!({
        "node": [{"version": 14, "npm": 6}, {"version": 16, "npm": 8}],
        "exclude": [{"node": {"version": 14}}]
    });
    assert_eq!(
        expanded(nested),
        json!([{"node": {"version": 16, "npm": 8}}]).to_string()
    );
    let loose =
        json!({"os": ["Linux", "mac"], "v": [12, 14], "exclude": [{"os": "LINUX", "v": "12"}]});
    assert_eq!(
        expanded(loose),
        json!([{"os": "Linux", "v": 14}, {"os": "mac", "v": 12}, {"os": "mac", "v": 14}])
            .to_string()
    );
    let include_nested = json!({
        "cfg": [{"os": "linux", "arch": "x64"}, {"os": "mac", "arch": "arm64"}],
        "include": [{"cfg": {"os": "mac"}, "runner": "macos-14"}]
    });
    assert_eq!(
        expanded(include_nested),
        json!([
            {"cfg": {"os": "linux", "arch": "x64"}},
            {"cfg": {"os": "mac", "arch": "arm64"}, "runner": "macos-14"}
        ])
        .to_string()
    );
    // Keys are compared ignoring case (DictionaryExpressionData), so `OS` filters on `os`.
    let key_case = json!({"os": ["a", "b"], "include": [{"OS": "b", "x": 1}]});
    assert_eq!(
        expanded(key_case),
        json!([{"os": "a"}, {"os": "b", "x": 1}]).to_string()
    );
}

#[test]
fn include_details() {
    // Excluded combinations take no includes, and an include matching only excluded ones is new.
    let m =
        json!({"os": ["a", "b"], "exclude": [{"os": "b"}], "include": [{"os": "b", "extra": 1}]});
    assert_eq!(
        expanded(m),
        json!([{"os": "a"}, {"os": "b", "extra": 1}]).to_string()
    );
    // An unmatched entry lists its axis keys first, then its extras.
    let m = json!({"fruit": ["apple"], "include": [{"shape": "circle", "fruit": "kiwi"}]});
    assert_eq!(
        expanded(m),
        json!([{"fruit": "apple"}, {"fruit": "kiwi", "shape": "circle"}]).to_string()
    );
    // A later include's extra replaces an earlier one in place.
    let m = json!({"os": ["a"], "include": [{"color": "green", "size": 1}, {"color": "pink"}]});
    assert_eq!(
        expanded(m),
        json!([{"os": "a", "color": "pink", "size": 1}]).to_string()
    );
    // Everything excluded and nothing included: no jobs.
    assert_eq!(
        expanded(json!({"os": ["a"], "exclude": [{"os": "a"}]})),
        "[]"
    );
}

// GitHub's errors for malformed matrices (actions/runner WorkflowTemplateConverter.cs and
// MatrixBuilder.cs) and the docs' limit of 256 jobs per workflow run.
#[test]
fn errors() {
    let table = [
        (
            json!({"os": []}),
            "matrix vector 'os' does not contain any values",
        ),
        (json!({}), "must define at least one vector"),
        (
            json!({"exclude": [{"os": "a"}]}),
            "must define at least one vector",
        ),
        (
            json!({"os": ["a"], "exclude": [{"arch": "x"}]}),
            "exclude key 'arch' does not match any key",
        ),
        (json!({"os": ["a"], "exclude": [{}]}), "must not be empty"),
        (
            json!({"os": ["a"], "include": [{}]}),
            "does not contain any values",
        ),
    ];
    for (matrix, needle) in table {
        let message = error(matrix.clone());
        assert!(message.contains(needle), "{matrix}: {message}");
    }
    let values = |n: usize| Value::Array((0..n).map(|i| json!(i)).collect());
    assert_eq!(
        expand(&def(json!({"a": values(16), "b": values(16)}))).map(|c| c.len()),
        Ok(256)
    );
    assert!(error(json!({"a": values(17), "b": values(16)})).contains("256"));
    let includes: Vec<Value> = (0..2).map(|i| json!({"a": 100 + i})).collect();
    assert!(error(json!({"a": values(16), "b": values(16), "include": includes})).contains("256"));
    let excluded_to_fit = json!({"a": values(17), "b": values(16), "exclude": [{"a": 16}]});
    assert_eq!(expand(&def(excluded_to_fit)).map(|c| c.len()), Ok(256));
    assert!(error(json!({"a": values(300), "b": values(300)})).contains("65536"));
    let e = expand(&MatrixDef::Expr(
        "${{ fromJSON(needs.setup.outputs.matrix) }}".into(),
    ));
    assert!(e.is_err_and(|e| e.0.contains("only be expanded when the workflow runs")));
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    fn scalar() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            (-3i64..3).prop_map(Value::from),
            "[a-cA-C]{0,2}".prop_map(Value::String),
        ]
    }

    fn value() -> impl Strategy<Value = Value> {
        scalar().prop_recursive(3, 12, 3, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                prop::collection::vec(("[a-c]", inner), 0..3)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
    }

    fn entry() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::vec(("[a-dA-D]", value()), 0..4)
            .prop_map(|pairs| pairs.into_iter().collect())
    }

    fn any_def() -> impl Strategy<Value = MatrixDef> {
        (
            prop::collection::vec(("[a-d]", prop::collection::vec(value(), 0..5)), 0..4),
            prop::collection::vec(entry(), 0..4),
            prop::collection::vec(entry(), 0..3),
        )
            .prop_map(|(axes, include, exclude)| MatrixDef::Literal {
                axes,
                include,
                exclude,
            })
    }

    proptest! {
        #[test]
        fn never_panics(d in any_def()) {
            let _ = expand(&d);
        }

        #[test]
        fn cross_product_count_is_product_of_axis_lengths(lengths in prop::collection::vec(1usize..5, 1..5)) {
            let axes: Vec<(String, Vec<Value>)> = lengths.iter().enumerate()
                .map(|(i, &n)| (format!("axis{i}"), (0..n).map(|v| json!(v)).collect()))
                .collect();
            let d = MatrixDef::Literal { axes: axes.clone(), include: vec![], exclude: vec![] };
            let combos = expand(&d).map_err(|e| TestCaseError::fail(e.0))?;
            prop_assert_eq!(combos.len(), lengths.iter().product::<usize>());
            // First axis varies slowest: the combinations are in lexicographic order of indices.
            let indices: Vec<Vec<u64>> = combos.iter()
                .map(|c| axes.iter().map(|(k, _)| c[k].as_u64().unwrap_or(u64::MAX)).collect())
                .collect();
            let mut sorted = indices.clone();
            sorted.sort();
            sorted.dedup();
            prop_assert_eq!(indices, sorted);
            for combo in &combos {
                let keys: Vec<&String> = combo.keys().collect();
                let names: Vec<&String> = axes.iter().map(|(k, _)| k).collect();
                prop_assert_eq!(keys, names);
            }
        }
    }
}
