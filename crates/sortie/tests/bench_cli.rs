//! `sortie bench dispatch` as an operator runs it: the real binary, a small N on SQLite. Checks
//! behaviour only (it runs, every job reaches the provider, the figures are printed); never the
//! figures themselves.

use std::process::{Command, Output};

fn bench(args: &[&str]) -> String {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_sortie"))
        .args(["bench", "dispatch", "--jobs", "20", "--timeout-secs", "120"])
        .args(args)
        .output()
        .expect("sortie runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn dispatch_latency_prints_percentiles() {
    let out = bench(&[]);
    assert!(out.contains("mode latency, 20 jobs"), "{out}");
    assert!(out.contains("database SQLite"), "{out}");
    assert!(out.contains("launched:   20 of 20 accepted"), "{out}");
    assert!(out.contains("p50 ") && out.contains("p99 "), "{out}");
}

#[test]
fn dispatch_burst_prints_launch_rate() {
    let out = bench(&["--mode", "burst", "--concurrency", "4"]);
    assert!(out.contains("mode burst, 20 jobs"), "{out}");
    assert!(out.contains("queued:     20 jobs"), "{out}");
    assert!(out.contains("20 launch calls in"), "{out}");
    assert!(out.contains("launches/s"), "{out}");
}

/// `sortie bench reconcile`: a few jobs with every `queued` webhook at risk and steals on; every
/// job is taken by a runner and completes, and the figures are printed.
#[test]
fn reconcile_simulation_serves_every_job_and_prints_figures() {
    let out: Output = Command::new(env!("CARGO_BIN_EXE_sortie"))
        .args(["bench", "reconcile", "--jobs", "12", "--rate", "20"])
        .args(["--lost-pct", "30", "--steal-pct", "50", "--boot-ms", "200"])
        .args([
            "--reconcile-secs",
            "1",
            "--grace-secs",
            "1",
            "--job-ms",
            "200",
        ])
        .args(["--timeout-secs", "120"])
        .output()
        .expect("sortie runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "exit {:?}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("12 of 12 jobs completed, 0 never taken by a runner"),
        "{stdout}"
    );
    assert!(
        stdout.contains("p50 ") && stdout.contains("p99 "),
        "{stdout}"
    );
    assert!(stdout.contains("per job; steals "), "{stdout}");
    assert!(!stdout.contains("not completed:"), "{stdout}");
}
