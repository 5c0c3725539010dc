//! Whole-plan evaluation: parse N workflow files, evaluate triggers, expand matrices, route labels.
//! Run with `cargo bench -p sortie-core --bench plan`. Figures go in the issue notes; nothing
//! here is asserted.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use sortie_core::catalog::Catalog;
use sortie_core::event::Event;
use sortie_core::forge::Flavor;
use sortie_core::labels::RoutingConfig;
use sortie_core::plan::{plan, PlanRequest};
use std::hint::black_box;

/// A realistic workflow: branch and path filters, a matrix with an expression in runs-on, plain
/// and sized labels. Every fourth file does not trigger (docs-only paths).
fn workflow(i: usize) -> String {
    let paths = if i.is_multiple_of(4) {
        "['docs/**']"
    } else {
        "['src/**', '**.go', '!**_test.go']"
    };
    format!(
        "name: wf{i}
on:
  push:
    branches: [main, 'releases/**', '!releases/**-alpha']
    paths: {paths}
  pull_request:
    branches: [main]
jobs:
  build:
    runs-on: go
    steps:
      - run: make build
  test:
    strategy:
      matrix:
        arch: [amd64, arm64]
        shard: [1, 2, 3]
        exclude:
          - arch: arm64
            shard: 3
    runs-on: sortie=cpu=4+8/ram=8+16/arch=${{{{ matrix.arch }}}}
    steps:
      - run: make test SHARD=${{{{ matrix.shard }}}}
  deploy:
    needs: [build, test]
    runs-on: [self-hosted, deploy]
    steps:
      - run: ./deploy
"
    )
}

fn push_event() -> Event {
    let files: Vec<String> = (0..40)
        .map(|i| format!("\"src/pkg{i}/file{i}.go\""))
        .collect();
    let body = format!(
        r#"{{"ref":"refs/heads/main","before":"a","after":"b","commits":[{{"id":"b","added":[],"removed":[],"modified":[{}]}}]}}"#,
        files.join(",")
    );
    Event::parse(Flavor::Github, "push", body.as_bytes()).expect("valid payload")
}

fn bench_plan(c: &mut Criterion) {
    let event = push_event();
    let routing = RoutingConfig::default();
    let catalog = Catalog::builtin();
    let mut group = c.benchmark_group("plan");
    for n in [20usize, 200] {
        let files: Vec<(String, String)> = (0..n)
            .map(|i| (format!(".github/workflows/wf{i}.yml"), workflow(i)))
            .collect();
        group.bench_with_input(BenchmarkId::new("workflows", n), &files, |b, files| {
            b.iter(|| {
                let req = PlanRequest {
                    flavor: Flavor::Github,
                    event: &event,
                    files,
                    changed_files: None,
                    routing: &routing,
                    catalog: &catalog,
                };
                black_box(plan(&req))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_plan);
criterion_main!(benches);
