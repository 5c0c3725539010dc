//! Workflows GitHub refuses: each error names the problem and points at the offending node.

use super::*;

/// Checks rows of: what is wrong, the file, the expected 1-based (line, column), and a phrase
/// the message must contain.
fn check<T: AsRef<str>>(rows: &[(&str, T, (usize, usize), &str)]) {
    for (what, text, (line, column), phrase) in rows {
        let err = match parse_workflow("bad.yml", text.as_ref()) {
            Ok(w) => panic!("{what}: parsed, but should fail: {w:?}"),
            Err(e) => e,
        };
        assert_eq!((err.line, err.column), (*line, *column), "{what}: {err}");
        assert!(
            err.message.contains(phrase),
            "{what}: message {:?} lacks {phrase:?}",
            err.message
        );
        assert_eq!(err.path, "bad.yml");
        assert!(
            err.to_string()
                .starts_with(&format!("bad.yml:{line}:{column}: ")),
            "{what}: {err}"
        );
    }
}

#[test]
fn not_a_workflow() {
    check(&[
        ("empty file", "", (1, 1), "empty"),
        ("comments only", "# nothing\n", (1, 1), "empty"),
        (
            "bad YAML: unclosed flow list",
            "on: [push\njobs:\n",
            (2, 5),
            "not valid YAML",
        ),
        (
            "bad YAML: tab indentation",
            "on: push\njobs:\n\tbuild: {}\n",
            (3, 2),
            "not valid YAML",
        ),
        (
            "duplicate key",
            "on: push\non: pull_request\n",
            (2, 1),
            "not valid YAML",
        ),
        ("top level is a list", "- on: push\n", (1, 1), "top level"),
        ("top level is a string", "hello\n", (1, 1), "top level"),
        (
            "missing on",
            "name: x\njobs:\n  a:\n    runs-on: x\n",
            (1, 1),
            "no `on:`",
        ),
        ("missing jobs", "on: push\n", (1, 1), "no `jobs:`"),
        (
            "empty jobs map",
            "on: push\njobs: {}\n",
            (2, 1),
            "`jobs:` is empty",
        ),
        (
            "null jobs",
            "on: push\njobs:\n",
            (2, 1),
            "`jobs:` is empty (null)",
        ),
        (
            "jobs is a list",
            "on: push\njobs:\n  - a\n",
            (3, 3),
            "`jobs:` is a list",
        ),
        (
            "name is a map",
            "name: {a: b}\non: push\njobs:\n  a:\n    runs-on: x\n",
            (1, 7),
            "`name:` must be a string",
        ),
    ]);
}

#[test]
fn bad_on() {
    let jobs = "\njobs:\n  a:\n    runs-on: x\n";
    let rows: &[(&str, &str, (usize, usize), &str)] = &[
        ("on is a number", "on: 1", (1, 5), "`on:` is a number"),
        ("on is null", "on:", (1, 1), "`on:` is empty (null)"),
        ("on is an empty list", "on: []", (1, 5), "names no events"),
        (
            "on list item is a map",
            "on: [push, {a: b}]",
            (1, 12),
            "an event in the `on:` list is a map",
        ),
        (
            "event value is a string",
            "on:\n  push: main",
            (2, 9),
            "`on.push` is a string",
        ),
        (
            "event value is a list",
            "on:\n  push: [main]",
            (2, 9),
            "`on.push` is a list",
        ),
        (
            "schedule is a map",
            "on:\n  schedule:\n    cron: '* * * * *'",
            (3, 5),
            "`on.schedule` is a map",
        ),
        (
            "schedule item is a string",
            "on:\n  schedule:\n    - '* * * * *'",
            (3, 7),
            "`on.schedule` item is a string",
        ),
        (
            "schedule item key is not cron",
            "on:\n  schedule:\n    - crontab: '* * * * *'",
            (3, 7),
            "other than `cron`",
        ),
        (
            "cron is a number",
            "on:\n  schedule:\n    - cron: 5",
            (3, 13),
            "`cron:` is a number",
        ),
        (
            "filter is a map",
            "on:\n  push:\n    branches: {main: x}",
            (3, 15),
            "`on.push.branches` is a map",
        ),
        (
            "filter item is a list",
            "on:\n  push:\n    branches:\n      - [main]",
            (4, 9),
            "an item of `on.push.branches` is a list",
        ),
        (
            "filter item is null",
            "on:\n  push:\n    tags: [v1, ~]",
            (3, 16),
            "an item of `on.push.tags` is empty",
        ),
        (
            "filter item is a map",
            "on:\n  pull_request:\n    paths:\n      - src: x",
            (4, 9),
            "an item of `on.pull_request.paths` is a map",
        ),
    ];
    let rows: Vec<_> = rows
        .iter()
        .map(|(what, on, pos, phrase)| (*what, format!("{on}{jobs}"), *pos, *phrase))
        .collect();
    check(&rows);
}

// github/docs data/reusables/actions/workflows/run-on-specific-branches-or-tags1.md ("You cannot
// use both the `branches` and `branches-ignore` filters for the same event", same for tags) and
// triggering-a-workflow-paths1.md (same for paths). The error points at the second of the pair.
#[test]
fn include_and_ignore_filters_together() {
    check(&[
        (
            "branches + branches-ignore",
            "on:\n  push:\n    branches: [main]\n    branches-ignore: [dev]\njobs:\n  a:\n    runs-on: x\n",
            (4, 5),
            "both `branches` and `branches-ignore`",
        ),
        (
            "tags-ignore before tags",
            "on:\n  push:\n    tags-ignore: [v1]\n    tags: [v2]\njobs:\n  a:\n    runs-on: x\n",
            (4, 5),
            "both `tags` and `tags-ignore`",
        ),
        (
            "paths + paths-ignore on pull_request_target",
            "on:\n  pull_request_target:\n    paths: [a]\n    paths-ignore: [b]\njobs:\n  a:\n    runs-on: x\n",
            (4, 5),
            "both `paths` and `paths-ignore`",
        ),
        (
            "branches + branches-ignore on workflow_run",
            "on:\n  workflow_run:\n    workflows: [B]\n    branches-ignore: [x]\n    branches: [y]\njobs:\n  a:\n    runs-on: x\n",
            (5, 5),
            "both `branches` and `branches-ignore`",
        ),
    ]);
}

#[test]
fn bad_jobs() {
    check(&[
        (
            "job is null",
            "on: push\njobs:\n  build:\n",
            (3, 3),
            "job `build` is empty",
        ),
        (
            "job is a string",
            "on: push\njobs:\n  build: ubuntu\n",
            (3, 10),
            "job `build` is a string",
        ),
        (
            "job is a list",
            "on: push\njobs:\n  build:\n    - runs-on: x\n",
            (4, 5),
            "job `build` is a list",
        ),
        (
            "no runs-on nor uses",
            "on: push\njobs:\n  build:\n    steps: []\n",
            (3, 3),
            "has no `runs-on:`",
        ),
    ]);
}

#[test]
fn bad_runs_on_and_uses() {
    check(&[
        (
            "runs-on is null",
            "on: push\njobs:\n  a:\n    runs-on:\n",
            (4, 5),
            "`jobs.a.runs-on` is empty (null)",
        ),
        (
            "runs-on is a boolean",
            "on: push\njobs:\n  a:\n    runs-on: true\n",
            (4, 14),
            "`jobs.a.runs-on` is a boolean",
        ),
        (
            "runs-on is an empty list",
            "on: push\njobs:\n  a:\n    runs-on: []\n",
            (4, 14),
            "names no runner",
        ),
        (
            "runs-on is an empty string",
            "on: push\njobs:\n  a:\n    runs-on: ''\n",
            (4, 14),
            "names no runner",
        ),
        (
            "runs-on item is a map",
            "on: push\njobs:\n  a:\n    runs-on: [x, {y: z}]\n",
            (4, 18),
            "an item of `jobs.a.runs-on` is a map",
        ),
        (
            "runs-on map has an unknown key",
            "on: push\njobs:\n  a:\n    runs-on:\n      label: x\n",
            (5, 7),
            "only `group` and `labels`",
        ),
        (
            "runs-on group is a list",
            "on: push\njobs:\n  a:\n    runs-on:\n      group: [x]\n",
            (5, 14),
            "`jobs.a.runs-on.group` is a list",
        ),
        (
            "runs-on labels item is a list",
            "on: push\njobs:\n  a:\n    runs-on:\n      labels: [[x]]\n",
            (5, 16),
            "`jobs.a.runs-on.labels` is a list",
        ),
        (
            "uses is a map",
            "on: push\njobs:\n  a:\n    uses: {x: y}\n",
            (4, 11),
            "`jobs.a.uses` is a map",
        ),
    ]);
}

#[test]
fn bad_job_ids() {
    check(&[
        (
            "job id with a dot",
            "on: push\njobs:\n  invalid-JOB-Name-v1.2.3-docker_hub:\n    runs-on: x\n",
            (3, 3),
            "job id \"invalid-JOB-Name-v1.2.3-docker_hub\" is invalid",
        ),
        (
            "job id starting with a digit",
            "on: push\njobs:\n  1build:\n    runs-on: x\n",
            (3, 3),
            "is invalid",
        ),
        (
            "job id is a list",
            "on: push\njobs:\n  ? [a]\n  : runs-on: x\n",
            (3, 5),
            "job id under `jobs:` is a list",
        ),
    ]);
}

// nektos/act pkg/model/testdata/invalid-job-name: act (mirroring GitHub) accepts valid-1 and
// valid-2 and refuses invalid-1 (verbatim files).
#[test]
fn job_names_from_act_testdata() {
    let valid_1 = "name: valid-job-name-1\non: push\n\njobs:\n  valid-JOB-Name-v123-docker_hub:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n";
    let valid_2 = "name: valid-job-name-2\non: push\n\njobs:\n  ___valid-JOB-Name-v123-docker_hub:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n";
    let invalid_1 = "name: invalid-job-name-1\non: push\n\njobs:\n  invalid-JOB-Name-v1.2.3-docker_hub:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n  valid-JOB-Name-v123-docker_hub:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo hi\n";
    assert!(parse_workflow("valid-1.yml", valid_1).is_ok());
    assert!(parse_workflow("valid-2.yml", valid_2).is_ok());
    let err = parse_workflow("invalid-1.yml", invalid_1).expect_err("invalid job id");
    assert_eq!((err.line, err.column), (5, 3));
}

// nektos/act pkg/model/testdata/complete-workflow/main.yml (verbatim): act loads it, but its
// `env-test-job` has no `runs-on`, which GitHub refuses.
#[test]
fn act_complete_workflow_lacks_runs_on() {
    let text = "on:\n  push:\n    branches:\n      - master\n  pull_request:\n    branches:\n      - master\njobs:\n  container-job:\n    container: nginx:latest\n    runs-on: ubuntu-latest\n    steps:\n      - uses: ./actions/docker-url\n\n  service-job:\n    runs-on: ubuntu-latest\n    services:\n      nginx:\n        image: nginx:latest\n        ports:\n          - 8080:80\n      redis:\n        image: redis\n        ports:\n          - 6379/tcp\n\n  env-test-job:\n    env:\n      INT: 5\n      STRING: string\n      BOOLEAN: true\n    steps:\n      - name: key=val env\n        env:\n          INT: 5\n";
    let err = parse_workflow("main.yml", text).expect_err("env-test-job has no runs-on");
    assert_eq!((err.line, err.column), (27, 3));
    assert!(
        err.message.contains("job `env-test-job` has no `runs-on:`"),
        "{err}"
    );
}

#[test]
fn bad_matrix() {
    let head = "on: push\njobs:\n  a:\n    runs-on: x\n    strategy:\n";
    let rows: &[(&str, &str, (usize, usize), &str)] = &[
        (
            "strategy is a list",
            "      - a",
            (6, 7),
            "`jobs.a.strategy` is a list",
        ),
        (
            "matrix is a string",
            "      matrix: all",
            (6, 15),
            "`jobs.a.strategy.matrix` is a string",
        ),
        (
            "matrix is null",
            "      matrix:",
            (6, 7),
            "`jobs.a.strategy.matrix` is empty (null)",
        ),
        (
            "axis is a string",
            "      matrix:\n        os: linux",
            (7, 13),
            "matrix variable `os` of job `a` is a string",
        ),
        (
            "axis is empty",
            "      matrix:\n        os: []",
            (7, 13),
            "has no values",
        ),
        (
            "include is a map",
            "      matrix:\n        include: {a: 1}",
            (7, 18),
            "`jobs.a.strategy.matrix.include` is a map",
        ),
        (
            "exclude item is a string",
            "      matrix:\n        os: [a]\n        exclude: [a]",
            (8, 19),
            "an item of `jobs.a.strategy.matrix.exclude` is a string",
        ),
        (
            "matrix key is a list",
            "      matrix:\n        ? [a]\n        : [1]",
            (7, 11),
            "a key of `jobs.a.strategy.matrix` is a list",
        ),
    ];
    let rows: Vec<_> = rows
        .iter()
        .map(|(what, body, pos, phrase)| (*what, format!("{head}{body}\n"), *pos, *phrase))
        .collect();
    check(&rows);
}
