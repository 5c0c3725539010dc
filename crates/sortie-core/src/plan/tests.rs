use super::*;
use crate::event::Event;

const CI: &str = "name: ci
on:
  push:
    branches: [main]
jobs:
  build:
    runs-on: go
    steps:
      - run: make
  test:
    strategy:
      matrix:
        os: [linux]
        node: [18, 20]
    runs-on: ${{ matrix.os == 'linux' && 'node' || 'docker' }}
    steps:
      - run: npm test
  deploy:
    runs-on: [self-hosted, host]
    steps:
      - run: ./deploy
";

const DOCS: &str = "on:
  push:
    branches: [docs]
jobs:
  a:
    runs-on: go
    steps: [{run: x}]
";

fn push_main() -> Event {
    let body = br#"{"ref":"refs/heads/main","before":"a","after":"b","commits":[{"id":"b","added":["src/x.go"]}]}"#;
    Event::parse(Flavor::Github, "push", body).unwrap()
}

fn run(files: &[(String, String)]) -> Plan {
    let routing = RoutingConfig::default();
    let catalog = Catalog::builtin();
    let event = push_main();
    plan(&PlanRequest {
        flavor: Flavor::Github,
        event: &event,
        files,
        changed_files: None,
        routing: &routing,
        catalog: &catalog,
    })
}

fn files(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect()
}

#[test]
fn every_file_appears_once_with_a_reason() {
    let p = run(&files(&[
        (".github/workflows/ci.yml", CI),
        (".github/workflows/docs.yml", DOCS),
        (".github/workflows/bad.yml", "on: [push\njobs: {}"),
    ]));
    assert_eq!(p.workflows.len(), 3);
    assert_eq!(p.git_ref.as_deref(), Some("refs/heads/main"));
    let ci = &p.workflows[0];
    assert!(ci.triggered, "{}", ci.reason);
    assert!(!p.workflows[1].triggered);
    assert!(
        p.workflows[1].reason.contains("does not match"),
        "{}",
        p.workflows[1].reason
    );
    assert!(!p.workflows[2].triggered);
    assert_eq!(p.errors.len(), 1);
    assert_eq!(p.errors[0].path, ".github/workflows/bad.yml");
    assert!(p.errors[0].line >= 1);
}

#[test]
fn jobs_are_expanded_and_routed() {
    let p = run(&files(&[(".github/workflows/ci.yml", CI)]));
    let jobs: Vec<&JobPlan> = p.jobs().map(|(_, j)| j).collect();
    let names: Vec<&str> = jobs.iter().map(|j| j.name.as_str()).collect();
    assert_eq!(
        names,
        vec!["build", "test (linux, 18)", "test (linux, 20)", "deploy"]
    );
    assert_eq!(jobs[0].runs_on, vec!["go"]);
    assert_eq!(jobs[0].route.kind, crate::route::RouteKind::Provider);
    assert_eq!(
        jobs[0].spec.as_ref().unwrap().instance_types,
        vec!["t3.small"]
    );
    assert_eq!(jobs[1].runs_on, vec!["node"], "matrix expression evaluated");
    assert_eq!(
        jobs[3].route.kind,
        crate::route::RouteKind::Skip,
        "{}",
        jobs[3].route.reason
    );
}

#[test]
fn unevaluable_runs_on_is_reported_not_guessed() {
    let wf = "on: push
jobs:
  a:
    runs-on: ${{ inputs.runner }}
    steps: [{run: x}]
";
    let p = run(&files(&[(".github/workflows/a.yml", wf)]));
    let job = p.jobs().next().unwrap().1;
    assert_eq!(job.route.kind, crate::route::RouteKind::Unroutable);
    assert!(job.route.reason.contains("inputs"), "{}", job.route.reason);
}

#[test]
fn json_shape_matches_the_contract() {
    let p = run(&files(&[(".github/workflows/ci.yml", CI)]));
    let v = serde_json::to_value(&p).unwrap();
    for key in ["forge", "event", "ref", "workflows", "errors"] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    let job = &v["workflows"][0]["jobs"][0];
    for key in ["id", "name", "matrix", "runs_on", "route", "spec"] {
        assert!(job.get(key).is_some(), "job missing {key}");
    }
    assert_eq!(job["matrix"], serde_json::Value::Null);
    assert_eq!(job["route"]["kind"], "provider");
    assert_eq!(job["spec"]["cpu"], serde_json::json!([2, 2]));
    assert!(p.to_table().contains("RUN  .github/workflows/ci.yml"));
}
