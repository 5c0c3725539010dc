//! Workflows that parse: `on:` forms, filters, `runs-on` forms and matrices, most taken verbatim
//! from upstream documentation and test data (each table cites its source).

use super::*;

/// A job block appended to `on:`-only snippets (Gitea's tests hold just the `on:` part).
pub(super) const ONE_JOB: &str = "\njobs:\n  build:\n    runs-on: ubuntu-latest\n";

pub(super) fn parse(text: &str) -> Workflow {
    parse_workflow("ci.yml", text).unwrap_or_else(|e| panic!("{e}\n--- input ---\n{text}"))
}

fn list(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| s.to_string()).collect())
}

fn events(w: &Workflow) -> Vec<&str> {
    w.triggers.iter().map(|t| t.event.as_str()).collect()
}

// Rows: github/docs data/reusables/actions/on-single-example, on-multiple-example,
// actions-activity-types.md, actions-filters.md, actions-multiple-types.md,
// workflows/run-on-specific-branches-or-tags2.md and -4.md, triggering-workflow-branches4.md,
// repositories/actions-scheduled-workflow-example.md.
#[test]
fn on_forms_from_github_docs() {
    let rows: &[(&str, &[&str], EventFilters)] = &[
        ("on: push", &["push"], EventFilters::default()),
        ("on: [push, fork]", &["push", "fork"], EventFilters::default()),
        ("on:\n  label:\n    types:\n      - created\n", &["label"], EventFilters { types: list(&["created"]), ..Default::default() }),
        (
            "on:\n  issues:\n    types:\n      - opened\n      - labeled\n",
            &["issues"],
            EventFilters { types: list(&["opened", "labeled"]), ..Default::default() },
        ),
        (
            "on:\n  push:\n    branches:\n      - main\n      - 'releases/**'\n",
            &["push"],
            EventFilters { branches: list(&["main", "releases/**"]), ..Default::default() },
        ),
        (
            "on:\n  push:\n    # Sequence of patterns matched against refs/heads\n    branches:\n      - main\n      - 'mona/octocat'\n      - 'releases/**'\n    # Sequence of patterns matched against refs/tags\n    tags:\n      - v2\n      - v1.*\n",
            &["push"],
            EventFilters { branches: list(&["main", "mona/octocat", "releases/**"]), tags: list(&["v2", "v1.*"]), ..Default::default() },
        ),
        (
            "on:\n  push:\n    branches:\n      - 'releases/**'\n      - '!releases/**-alpha'\n",
            &["push"],
            EventFilters { branches: list(&["releases/**", "!releases/**-alpha"]), ..Default::default() },
        ),
        (
            "on:\n  pull_request:\n    branches:\n      - 'releases/**'\n      - '!releases/**-alpha'\n",
            &["pull_request"],
            EventFilters { branches: list(&["releases/**", "!releases/**-alpha"]), ..Default::default() },
        ),
        (
            "on:\n  schedule:\n    # * is a special character in YAML so you have to quote this string\n    - cron:  '30 5,17 * * *'\n\n",
            &["schedule"],
            EventFilters { crons: vec!["30 5,17 * * *".into()], ..Default::default() },
        ),
        (
            "on:\n  schedule:\n    - cron: '30 5 * * 1,3'\n    - cron: '30 5 * * 2,4'\n",
            &["schedule"],
            EventFilters { crons: vec!["30 5 * * 1,3".into(), "30 5 * * 2,4".into()], ..Default::default() },
        ),
    ];
    for (on, want_events, want_filters) in rows {
        let w = parse(&format!("{on}{ONE_JOB}"));
        assert_eq!(events(&w), *want_events, "{on}");
        assert_eq!(&w.triggers[0].filters, want_filters, "{on}");
    }
}

// github/docs data/reusables/actions/actions-multiple-types.md: events in file order, and a
// null event (`page_build:`) has no filters.
#[test]
fn multiple_events_keep_file_order_and_null_values() {
    let w = parse(&format!("on:\n  label:\n    types:\n      - created\n  push:\n    branches:\n      - main\n  page_build:\n{ONE_JOB}"));
    assert_eq!(events(&w), ["label", "push", "page_build"]);
    assert_eq!(w.triggers[1].filters.branches, list(&["main"]));
    assert_eq!(w.triggers[2].filters, EventFilters::default());
    assert_eq!(w.triggers[1].pos, Pos { line: 5, column: 3 });
}

// go-gitea/gitea modules/actions/workflows_test.go, `TestDetectMatched`: every `yamlOn` there.
#[test]
fn on_forms_from_gitea_detect_matched() {
    let rows: &[(&str, &str, Option<Vec<String>>)] = &[
        ("on: create", "create", None),
        ("on: issues", "issues", None),
        ("on: pull_request", "pull_request", None),
        (
            "on:\n  pull_request:\n    types: [labeled]",
            "pull_request",
            list(&["labeled"]),
        ),
        (
            "on:\n  pull_request_review_comment:\n    types: [created]",
            "pull_request_review_comment",
            list(&["created"]),
        ),
        (
            "on:\n  pull_request_review:\n    types: [dismissed]",
            "pull_request_review",
            list(&["dismissed"]),
        ),
        (
            "on:\n  release:\n    types: [published]",
            "release",
            list(&["published"]),
        ),
        (
            "on:\n  registry_package:\n    types: [updated]",
            "registry_package",
            list(&["updated"]),
        ),
    ];
    for (on, event, types) in rows {
        let w = parse(&format!("{on}{ONE_JOB}"));
        assert_eq!(events(&w), [*event], "{on}");
        assert_eq!(&w.triggers[0].filters.types, types, "{on}");
    }
}

// nektos/act pkg/model/workflow_test.go: TestReadWorkflow_StringEvent, _ListEvent, _MapEvent.
#[test]
fn on_forms_from_act() {
    let head = "name: local-action-docker-url\n";
    let tail = "\njobs:\n  test:\n    runs-on: ubuntu-latest\n    steps:\n    - uses: ./actions/docker-url\n";
    let rows: &[(&str, &[&str])] = &[
        ("on: push\n", &["push"]),
        ("on: [push, pull_request]\n", &["push", "pull_request"]),
        ("on:\n  push:\n    branches:\n    - master\n  pull_request:\n    branches:\n    - master\n", &["push", "pull_request"]),
    ];
    for (on, want) in rows {
        let w = parse(&format!("{head}{on}{tail}"));
        assert_eq!(w.name.as_deref(), Some("local-action-docker-url"));
        assert_eq!(events(&w), *want, "{on}");
    }
}

// Filter values: a single string or a list (act and Gitea accept both); scalars other than
// strings stay as written; null means present but empty.
#[test]
fn filter_values_as_written() {
    let w = parse(&format!(
        "on:\n  push:\n    branches: main\n    tags: [1.10, 0x1F, true, 2, 'v1', \"é\"]\n    paths:\n  release:\n    types: published\n{ONE_JOB}"
    ));
    let push = &w.triggers[0].filters;
    assert_eq!(push.branches, list(&["main"]));
    assert_eq!(push.tags, list(&["1.10", "0x1F", "true", "2", "v1", "é"]));
    assert_eq!(push.paths, Some(vec![]));
    assert_eq!(push.paths_ignore, None);
    assert_eq!(w.triggers[1].filters.types, list(&["published"]));
}

// Known keys per event (see `on::event_keys`); anything else is kept in `other_keys`, which
// Gitea's matchPushEvent treats as "unsupported condition" (go-gitea/gitea
// modules/actions/workflows.go).
#[test]
fn unknown_filter_keys_go_to_other_keys() {
    let rows: &[(&str, &[&str])] = &[
        (
            "push:\n    types: [created]\n    branches: [main]",
            &["types"],
        ),
        ("push:\n    branch: [main]", &["branch"]),
        ("pull_request:\n    tags: [v1]", &["tags"]),
        (
            "release:\n    branches: [main]\n    types: [published]",
            &["branches"],
        ),
        (
            "workflow_dispatch:\n    inputs:\n      logLevel:\n        default: warning",
            &[],
        ),
        ("workflow_dispatch:\n    outputs: {}", &["outputs"]),
        (
            "workflow_call:\n    inputs: {}\n    outputs: {}\n    secrets: {}",
            &[],
        ),
        (
            "workflow_run:\n    workflows: [Build]\n    types: [completed]\n    branches: [main]",
            &[],
        ),
        ("workflow_run:\n    paths: [src]", &["paths"]),
    ];
    for (event, other) in rows {
        let w = parse(&format!("on:\n  {event}\n{ONE_JOB}"));
        assert_eq!(w.triggers[0].filters.other_keys, *other, "{event}");
    }
    let w = parse(&format!("on:\n  workflow_run:\n    workflows: [Build, 'Deploy x']\n    types: [completed]\n{ONE_JOB}"));
    assert_eq!(
        w.triggers[0].filters.workflows,
        list(&["Build", "Deploy x"])
    );
    assert_eq!(w.triggers[0].filters.types, list(&["completed"]));
}

// github/docs workflow-syntax.md, "Example of on.workflow_call.inputs" (verbatim): inputs are
// not filters.
#[test]
fn workflow_call_inputs_example() {
    let w = parse(
        "on:\n  workflow_call:\n    inputs:\n      username:\n        description: 'A username passed from the caller workflow'\n        default: 'john-doe'\n        required: false\n        type: string\n\njobs:\n  print-username:\n    runs-on: ubuntu-latest\n\n    steps:\n      - name: Print the input name to STDOUT\n        run: echo The username is ${{ inputs.username }}\n",
    );
    assert_eq!(events(&w), ["workflow_call"]);
    assert_eq!(w.triggers[0].filters, EventFilters::default());
    assert_eq!(w.jobs[0].id, "print-username");
}

// YAML 1.1 reads the key `on` as boolean true; a file written that way still means `on`.
#[test]
fn boolean_true_key_is_on() {
    let w = parse(&format!("true: push{ONE_JOB}"));
    assert_eq!(events(&w), ["push"]);
    let w = parse(&format!("true: pull_request\non: push{ONE_JOB}"));
    assert_eq!(events(&w), ["push"], "a real `on` key wins");
}

#[test]
fn parse_workflows_keeps_good_files_and_errors_in_order() {
    let files = vec![
        ("a.yml".to_string(), format!("on: push{ONE_JOB}")),
        ("b.yml".to_string(), "on: push\n".to_string()),
        ("c.yml".to_string(), format!("on: pull_request{ONE_JOB}")),
        ("d.yml".to_string(), "[".to_string()),
    ];
    let (ok, errors) = parse_workflows(&files);
    assert_eq!(
        ok.iter().map(|w| w.path.as_str()).collect::<Vec<_>>(),
        ["a.yml", "c.yml"]
    );
    assert_eq!(
        errors.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
        ["b.yml", "d.yml"]
    );
}

/// A realistic workflow of about 80 lines with many expressions.
fn realistic_workflow(i: usize) -> String {
    let mut s = format!(
        "name: CI {i}\non:\n  push:\n    branches: [main, 'releases/**']\n    paths-ignore: ['docs/**']\n  pull_request:\n    types: [opened, synchronize]\n  workflow_dispatch:\n    inputs:\n      level:\n        default: warning\njobs:\n"
    );
    for j in 0..4 {
        s.push_str(&format!(
            "  job{j}:\n    name: Job {j} on ${{{{ matrix.os }}}}\n    runs-on: [self-hosted, '${{{{ matrix.os }}}}']\n    strategy:\n      matrix:\n        os: [ubuntu-latest, windows-latest]\n        node: [18, 20, 22]\n        include:\n          - os: ubuntu-latest\n            experimental: true\n    steps:\n      - uses: actions/checkout@v4\n      - uses: actions/setup-node@v4\n        with:\n          node-version: ${{{{ matrix.node }}}}\n      - run: |\n          npm ci\n          npm test -- --shard=${{{{ strategy.job-index }}}}\n"
        ));
    }
    s
}

// The plan parses every workflow of a repository on each event: 200 files must take well under
// 100 ms in a release build (about 10 ms here). Unoptimised builds run saphyr about 15 times
// slower, so they only guard against a blow-up (say, quadratic work).
#[test]
fn two_hundred_files_parse() {
    let files: Vec<(String, String)> = (0..200)
        .map(|i| (format!("w{i}.yml"), realistic_workflow(i)))
        .collect();
    // Speed is measured by `cargo bench -p sortie-core --bench plan`, never asserted here.
    let (ok, errors) = parse_workflows(&files);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(ok.len(), 200);
    assert_eq!(
        ok[7].jobs[3].runs_on.as_ref().map(|r| r.labels.clone()),
        Some(vec!["self-hosted".into(), "${{ matrix.os }}".into()])
    );
}
