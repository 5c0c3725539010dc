//! Filter-pattern throughput: compiling typical `branches`/`paths` lists, and evaluating them over
//! a few hundred changed paths, as one push's trigger evaluation does.
//!
//! Run: `cargo bench -p sortie-core --bench patterns -- --quick`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sortie_core::pattern::{Pattern, PatternList};

const BRANCH_PATTERNS: &[&str] = &[
    "main",
    "releases/**",
    "!releases/**-alpha",
    "v[12].[0-9]+.[0-9]+",
    "feature/*",
    "hotfix-*",
];

const PATH_PATTERNS: &[&str] = &[
    "**.rs",
    "Cargo.toml",
    "crates/*/Cargo.toml",
    "docs/**/*.md",
    "!docs/internal/**",
    "**/migrate-*.sql",
    "src/**",
    "!src/**/testdata/**",
    "*.jsx?",
    ".github/workflows/*.y*ml",
];

const BRANCHES: &[&str] = &[
    "main",
    "releases/10",
    "releases/10-alpha",
    "releases/beta/mona",
    "v1.10.1",
    "v3.0.0",
    "feature/login",
    "feature/a/b",
    "dependabot/cargo/serde-1.0.200",
    "hotfix-1234",
];

/// About 600 repository paths of the usual shapes.
fn changed_paths() -> Vec<String> {
    let dirs = [
        "",
        "src/",
        "src/pattern/",
        "src/pattern/testdata/",
        "crates/sortie-core/src/",
        "docs/",
        "docs/internal/",
        "docs/guide/",
        "db/sept/",
        ".github/workflows/",
        "web/components/",
    ];
    let files = [
        "mod",
        "lib",
        "README",
        "migrate-v1",
        "index",
        "page",
        "Cargo",
        "ci",
        "main",
    ];
    let exts = [".rs", ".md", ".sql", ".js", ".jsx", ".toml", ".yml", ".txt"];
    let mut paths = Vec::new();
    for d in dirs {
        for f in files {
            for e in exts.iter().take(4 + (f.len() % 5)) {
                paths.push(format!("{d}{f}{e}"));
            }
        }
    }
    paths
}

fn bench_compile(c: &mut Criterion) {
    let mut group = c.benchmark_group("compile");
    group.throughput(Throughput::Elements(
        (BRANCH_PATTERNS.len() + PATH_PATTERNS.len()) as u64,
    ));
    group.bench_function("branch+path lists", |b| {
        b.iter(|| {
            let branches = PatternList::new(black_box(BRANCH_PATTERNS));
            let paths = PatternList::new(black_box(PATH_PATTERNS));
            (
                branches.map(|l| l.patterns().len()),
                paths.map(|l| l.patterns().len()),
            )
        })
    });
    group.finish();
}

fn bench_match(c: &mut Criterion) {
    let paths = changed_paths();
    let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
    let (Ok(path_list), Ok(branch_list)) = (
        PatternList::new(PATH_PATTERNS),
        PatternList::new(BRANCH_PATTERNS),
    ) else {
        panic!("benchmark patterns must compile");
    };
    let pairs = (paths.len() * PATH_PATTERNS.len()) as u64;
    let mut group = c.benchmark_group("match");
    group.throughput(Throughput::Elements(pairs));
    group.bench_function(format!("every pattern × {} paths", paths.len()), |b| {
        b.iter(|| {
            let mut hits = 0usize;
            for p in path_list.patterns() {
                hits += refs.iter().filter(|v| p.is_match(black_box(v))).count();
            }
            hits
        })
    });
    group.bench_function("github_selects over paths", |b| {
        b.iter(|| {
            refs.iter()
                .filter(|v| path_list.github_selects(black_box(v)))
                .count()
        })
    });
    group.bench_function("act_skip + act_filter over paths", |b| {
        b.iter(|| {
            (
                path_list.act_skip(black_box(&refs)),
                path_list.act_filter(black_box(&refs)),
            )
        })
    });
    group.throughput(Throughput::Elements(
        (BRANCHES.len() * BRANCH_PATTERNS.len()) as u64,
    ));
    group.bench_function("branches github_selects", |b| {
        b.iter(|| {
            BRANCHES
                .iter()
                .filter(|v| branch_list.github_selects(black_box(v)))
                .count()
        })
    });
    group.finish();

    let single = Pattern::new("docs/**/*.md").ok();
    c.bench_function("single docs/**/*.md is_match", |b| {
        b.iter(|| {
            single
                .as_ref()
                .map(|p| p.is_match(black_box("docs/guide/a/b/README.md")))
        })
    });
}

criterion_group!(benches, bench_compile, bench_match);
criterion_main!(benches);
