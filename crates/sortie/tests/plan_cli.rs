//! Drives the real `sortie plan` binary on the shipped examples.

use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sortie(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sortie"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run sortie")
}

fn plan_json(args: &[&str]) -> Value {
    let out = sortie(args);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {:?}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        stdout.trim_end().lines().count(),
        1,
        "exactly one JSON object on one line"
    );
    serde_json::from_str(&stdout).expect("stdout is JSON")
}

fn workflow<'a>(plan: &'a Value, path: &str) -> &'a Value {
    plan["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["path"] == path)
        .unwrap_or_else(|| panic!("{path} missing: {plan}"))
}

#[test]
fn github_example_push_to_main() {
    let plan = plan_json(&[
        "plan",
        "--forge",
        "github",
        "--event",
        "push",
        "--payload",
        "examples/payloads/github-push.json",
        "--repo",
        "examples/github-repo",
    ]);
    assert_eq!(plan["forge"], "github");
    assert_eq!(plan["ref"], "refs/heads/main");
    assert_eq!(
        plan["workflows"].as_array().unwrap().len(),
        3,
        "every file once"
    );
    let ci = workflow(&plan, ".github/workflows/ci.yml");
    assert_eq!(ci["triggered"], true, "{ci}");
    let names: Vec<&str> = ci["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "build",
            "test (amd64, 1.25)",
            "test (amd64, 1.26)",
            "test (arm64, 1.26)",
            "integration",
            "smoke"
        ]
    );
    let build = &ci["jobs"][0];
    assert_eq!(build["route"]["kind"], "provider");
    assert_eq!(build["route"]["target"], "ec2");
    assert_eq!(build["spec"]["instance_types"][0], "t3.small");
    let arm = &ci["jobs"][3];
    assert_eq!(arm["runs_on"][0], "sortie=cpu=4+8/ram=8+16/arch=arm64");
    assert_eq!(arm["spec"]["arch"], "arm64");
    assert_eq!(ci["jobs"][5]["route"]["kind"], "skip");
    assert_eq!(
        workflow(&plan, ".github/workflows/docs.yml")["triggered"],
        false
    );
    assert_eq!(
        workflow(&plan, ".github/workflows/release.yml")["triggered"],
        false
    );
    assert_eq!(plan["errors"].as_array().unwrap().len(), 0);
}

#[test]
fn gitea_example_reads_only_the_gitea_folder() {
    let plan = plan_json(&[
        "plan",
        "--forge",
        "gitea",
        "--event",
        "push",
        "--payload",
        "examples/payloads/gitea-push.json",
        "--repo",
        "examples/gitea-repo",
    ]);
    let paths: Vec<&str> = plan["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            ".gitea/workflows/platform.yml",
            ".gitea/workflows/templates.yml",
            ".gitea/workflows/tstudio.yml"
        ]
    );
    assert_eq!(
        workflow(&plan, ".gitea/workflows/tstudio.yml")["triggered"],
        true
    );
    assert_eq!(
        workflow(&plan, ".gitea/workflows/platform.yml")["triggered"],
        false
    );
    let templates = workflow(&plan, ".gitea/workflows/templates.yml");
    assert_eq!(templates["jobs"][0]["route"]["kind"], "skip");
    assert!(templates["jobs"][0]["route"]["reason"]
        .as_str()
        .unwrap()
        .contains("standing runner"));
}

#[test]
fn example_config_is_valid_and_used() {
    let plan = plan_json(&[
        "plan",
        "--forge",
        "gitea",
        "--event",
        "push",
        "--payload",
        "examples/payloads/gitea-push.json",
        "--repo",
        "examples/gitea-repo",
        "--config",
        "examples/sortie.toml",
    ]);
    let build = &workflow(&plan, ".gitea/workflows/tstudio.yml")["jobs"][0];
    assert_eq!(build["spec"]["instance_types"][0], "t3.small");
    let out = sortie(&[
        "plan",
        "--forge",
        "gitea",
        "--event",
        "push",
        "--payload",
        "examples/payloads/gitea-push.json",
        "--repo",
        "examples/gitea-repo",
        "--config",
        "examples/README.md",
    ]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a config that is not TOML is unusable input"
    );
}

#[test]
fn changed_file_flag_replaces_payload_files() {
    let plan = plan_json(&[
        "plan",
        "--forge",
        "gitea",
        "--event",
        "push",
        "--payload",
        "examples/payloads/gitea-push.json",
        "--repo",
        "examples/gitea-repo",
        "--changed-file",
        "platform/Dockerfile",
    ]);
    assert_eq!(
        workflow(&plan, ".gitea/workflows/platform.yml")["triggered"],
        true
    );
    assert_eq!(
        workflow(&plan, ".gitea/workflows/tstudio.yml")["triggered"],
        false
    );
}

#[test]
fn workflows_folder_mode_and_table_format() {
    let out = sortie(&[
        "plan",
        "--forge",
        "github",
        "--event",
        "push",
        "--payload",
        "examples/payloads/github-push.json",
        "--workflows",
        "examples/github-repo/.github/workflows",
        "--format",
        "table",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("RUN  ci.yml"), "{text}");
    assert!(text.contains("skip docs.yml"), "{text}");
}

#[test]
fn unusable_input_exits_2_with_a_clear_message() {
    let cases: [(&[&str], &str); 4] = [
        (
            &[
                "plan",
                "--forge",
                "github",
                "--event",
                "push",
                "--payload",
                "nope.json",
                "--repo",
                "examples/github-repo",
            ],
            "cannot read the payload",
        ),
        (
            &[
                "plan",
                "--forge",
                "github",
                "--event",
                "push",
                "--payload",
                "examples/README.md",
                "--repo",
                "examples/github-repo",
            ],
            "payload is not usable",
        ),
        (
            &[
                "plan",
                "--forge",
                "github",
                "--event",
                "push",
                "--payload",
                "examples/payloads/github-push.json",
                "--repo",
                "no/such/dir",
            ],
            "not a directory",
        ),
        (
            &[
                "plan",
                "--forge",
                "gitlab",
                "--event",
                "push",
                "--payload",
                "examples/payloads/github-push.json",
                "--repo",
                "examples",
            ],
            "unknown forge",
        ),
    ];
    for (args, needle) in cases {
        let out = sortie(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(needle), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty());
    }
}
