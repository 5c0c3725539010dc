//! Jobs that parse: `runs-on` forms, reusable-workflow calls, positions and matrices, most taken
//! verbatim from upstream documentation and test data (each test cites its source).

use super::tests::parse;
use super::*;
use serde_json::json;

fn runs_on(text: &str) -> RunsOn {
    let w = parse(&format!("on: push\njobs:\n  test:\n    runs-on: {text}\n"));
    w.jobs[0].runs_on.clone().expect("runs-on")
}

// github/docs data/reusables/actions/jobs/choosing-runner-overview.md,
// example-runs-on-groups.md and example-runs-on-labels-and-groups.md; nektos/act
// pkg/model/workflow_test.go TestReadWorkflow_RunsOnLabels and _RunsOnLabelsWithGroup.
#[test]
fn runs_on_forms() {
    let labels = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let rows: &[(&str, Option<&str>, &[&str])] = &[
        ("ubuntu-latest", None, &["ubuntu-latest"]),
        (
            "[self-hosted, linux, x64, gpu]",
            None,
            &["self-hosted", "linux", "x64", "gpu"],
        ),
        (
            "[self-hosted, \"${{ inputs.chosen-os }}\"]",
            None,
            &["self-hosted", "${{ inputs.chosen-os }}"],
        ),
        ("${{ matrix.os }}", None, &["${{ matrix.os }}"]),
        ("\n      group: build-runners", Some("build-runners"), &[]),
        (
            "\n      group: ubuntu-runners\n      labels: ubuntu-20.04-16core",
            Some("ubuntu-runners"),
            &["ubuntu-20.04-16core"],
        ),
        ("\n      labels: ubuntu-latest", None, &["ubuntu-latest"]),
        (
            "\n      labels: [ubuntu-latest]\n      group: linux",
            Some("linux"),
            &["ubuntu-latest"],
        ),
        (
            "\n      - self-hosted\n      - 2004",
            None,
            &["self-hosted", "2004"],
        ),
        (
            "runs-fleet=${{ github.run_id }}/cpu=4+16/arch=arm64",
            None,
            &["runs-fleet=${{ github.run_id }}/cpu=4+16/arch=arm64"],
        ),
    ];
    for (text, group, want) in rows {
        let r = runs_on(text);
        assert_eq!(r.group.as_deref(), *group, "{text}");
        assert_eq!(r.labels, labels(want), "{text}");
    }
}

// nektos/act pkg/model/workflow_test.go TestReadWorkflow_JobTypes: jobs that call reusable
// workflows need no `runs-on`.
#[test]
fn reusable_workflow_jobs() {
    let w = parse(
        "name: invalid job definition\non: push\n\njobs:\n  default-job:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo\n  remote-reusable-workflow-yml:\n    uses: remote/repo/some/path/to/workflow.yml@main\n  local-reusable-workflow-yaml:\n    uses: ./some/path/to/workflow.yaml\n",
    );
    let uses: Vec<_> = w
        .jobs
        .iter()
        .map(|j| (j.id.as_str(), j.uses.as_deref(), j.runs_on.is_some()))
        .collect();
    assert_eq!(
        uses,
        [
            ("default-job", None, true),
            (
                "remote-reusable-workflow-yml",
                Some("remote/repo/some/path/to/workflow.yml@main"),
                false
            ),
            (
                "local-reusable-workflow-yaml",
                Some("./some/path/to/workflow.yaml"),
                false
            ),
        ]
    );
    assert_eq!(
        w.jobs[1].runs_on_pos, w.jobs[1].pos,
        "no runs-on: the job key's position"
    );
}

#[test]
fn job_positions_names_and_order() {
    let w = parse("on: push\njobs:\n  b:\n    name: Build ${{ matrix.os }}\n    runs-on: x\n  a:\n    runs-on: y\n");
    let ids: Vec<_> = w.jobs.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(ids, ["b", "a"]);
    assert_eq!(w.jobs[0].name.as_deref(), Some("Build ${{ matrix.os }}"));
    assert_eq!(w.jobs[0].pos, Pos { line: 3, column: 3 });
    assert_eq!(w.jobs[0].runs_on_pos, Pos { line: 5, column: 5 });
    assert_eq!(w.jobs[1].pos, Pos { line: 6, column: 3 });
}

fn matrix(job_body: &str) -> MatrixDef {
    let w = parse(&format!(
        "on: push\njobs:\n  example_matrix:\n    runs-on: x\n{job_body}"
    ));
    w.jobs[0].matrix.clone().expect("matrix")
}

fn object(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match v {
        serde_json::Value::Object(m) => m,
        other => panic!("not an object: {other}"),
    }
}

// github/docs data/reusables/actions/jobs/multi-dimension-matrix.md (both examples) and
// matrix-expand-with-include.md.
#[test]
fn matrix_examples_from_github_docs() {
    let m = matrix("    strategy:\n      matrix:\n        os: [ubuntu-22.04, ubuntu-20.04]\n        version: [10, 12, 14]\n");
    let want_axes = vec![
        (
            "os".to_string(),
            vec![json!("ubuntu-22.04"), json!("ubuntu-20.04")],
        ),
        ("version".to_string(), vec![json!(10), json!(12), json!(14)]),
    ];
    assert_eq!(
        m,
        MatrixDef::Literal {
            axes: want_axes,
            include: vec![],
            exclude: vec![]
        }
    );

    let m = matrix("    strategy:\n      matrix:\n        os:\n          - ubuntu-latest\n          - macos-latest\n        node:\n          - version: 14\n          - version: 20\n            env: NODE_OPTIONS=--openssl-legacy-provider\n");
    let MatrixDef::Literal { axes, .. } = m else {
        panic!("literal expected")
    };
    assert_eq!(
        axes[1].1,
        vec![
            json!({"version": 14}),
            json!({"version": 20, "env": "NODE_OPTIONS=--openssl-legacy-provider"})
        ]
    );

    let m = matrix("    strategy:\n      matrix:\n        os: [windows-latest, ubuntu-latest]\n        node: [12, 14, 16]\n        include:\n          - os: windows-latest\n            node: 16\n            npm: 6\n");
    let MatrixDef::Literal {
        axes,
        include,
        exclude,
    } = m
    else {
        panic!("literal expected")
    };
    assert_eq!(axes.len(), 2);
    assert_eq!(
        include,
        vec![object(
            json!({"os": "windows-latest", "node": 16, "npm": 6})
        )]
    );
    assert!(exclude.is_empty());
}

// github/docs data/reusables/actions/jobs/matrix-exclude.md (verbatim, under a job).
#[test]
fn matrix_exclude_example() {
    let m = matrix("    strategy:\n      matrix:\n        os: [macos-latest, windows-latest]\n        version: [12, 14, 16]\n        environment: [staging, production]\n        exclude:\n          - os: macos-latest\n            version: 12\n            environment: production\n          - os: windows-latest\n            version: 16\n");
    let MatrixDef::Literal {
        axes,
        include,
        exclude,
    } = m
    else {
        panic!("literal expected")
    };
    let names: Vec<_> = axes.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["os", "version", "environment"]);
    assert!(include.is_empty());
    assert_eq!(
        exclude,
        vec![
            object(json!({"os": "macos-latest", "version": 12, "environment": "production"})),
            object(json!({"os": "windows-latest", "version": 16})),
        ]
    );
}

// nektos/act pkg/model/testdata/strategy/matrix/coverage_test.yml (first job, verbatim).
#[test]
fn matrix_include_only_keys_from_act() {
    let w = parse("name: test coverage\non:\n  push:\n\njobs:\n  test-coverage:\n    runs-on: ubuntu-latest\n    strategy:\n      matrix:\n        fruit: [apple, pear]\n        animal: [cat, dog]\n        include:\n          - color: pink\n            animal: cat\n          - color: green\n          - fruit: apple\n            shape: circle\n          - fruit: banana\n          - fruit: banana\n            animal: cat\n    steps:\n      - run: echo 'Hello!'\n");
    let Some(MatrixDef::Literal { include, .. }) = &w.jobs[0].matrix else {
        panic!("literal expected")
    };
    assert_eq!(include.len(), 5);
    assert_eq!(
        include[0],
        object(json!({"color": "pink", "animal": "cat"}))
    );
    assert_eq!(
        w.triggers[0].filters,
        EventFilters::default(),
        "`push:` with nothing under it"
    );
}

// Expressions standing for the matrix or a part of it (github/docs
// data/reusables/actions/jobs/matrix-from-context.md for an axis).
#[test]
fn matrix_expressions() {
    let rows: &[(&str, &str)] = &[
        ("      matrix:\n        version: ${{ github.event.client_payload.versions }}\n", "${{ github.event.client_payload.versions }}"),
        ("      matrix: ${{ fromJSON(needs.setup.outputs.matrix) }}\n", "${{ fromJSON(needs.setup.outputs.matrix) }}"),
        ("      matrix:\n        os: [a]\n        include: ${{ fromJSON(needs.s.outputs.inc) }}\n", "${{ fromJSON(needs.s.outputs.inc) }}"),
        ("      matrix:\n        os: [a]\n        exclude:\n          - ${{ fromJSON(needs.s.outputs.ex) }}\n", "${{ fromJSON(needs.s.outputs.ex) }}"),
    ];
    for (body, want) in rows {
        assert_eq!(
            matrix(&format!("    strategy:\n{body}")),
            MatrixDef::Expr(want.to_string()),
            "{body}"
        );
    }
    let w = parse(
        "on: push\njobs:\n  a:\n    runs-on: x\n    strategy: ${{ fromJSON(inputs.strategy) }}\n",
    );
    assert_eq!(
        w.jobs[0].matrix,
        Some(MatrixDef::Expr("${{ fromJSON(inputs.strategy) }}".into()))
    );
}

#[test]
fn matrix_values_are_json() {
    let m = matrix("    strategy:\n      fail-fast: false\n      matrix:\n        v: [3.10, 1, true, ~, 'x', {a: [1, null]}]\n");
    let MatrixDef::Literal { axes, .. } = m else {
        panic!("literal expected")
    };
    // 3.10 is the float 3.1, as GitHub reads it (hence the advice to quote versions).
    assert_eq!(
        axes[0].1,
        vec![
            json!(3.1),
            json!(1),
            json!(true),
            json!(null),
            json!("x"),
            json!({"a": [1, null]})
        ]
    );
    let w = parse("on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n      max-parallel: 2\n");
    assert_eq!(w.jobs[0].matrix, None);
}
