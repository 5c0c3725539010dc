//! Routing: table-driven rows for every rule of `route_job` and the seed map.

use crate::catalog::Catalog;
use crate::labels::{route_job, LabelRule, RouteDecision, RoutingConfig};
use crate::route::RouteKind::{self, Pool, Provider, Skip, Unroutable};
use crate::spec::Arch;
use serde_json::json;

/// (runs-on labels, runs-on.group, kind, target, substring of the reason, instance types).
pub(super) type Row = (
    &'static [&'static str],
    Option<&'static str>,
    RouteKind,
    Option<&'static str>,
    &'static str,
    &'static [&'static str],
);

pub(super) fn decide(
    labels: &[&str],
    group: Option<&str>,
    config: &RoutingConfig,
) -> RouteDecision {
    let labels: Vec<String> = labels.iter().map(|s| s.to_string()).collect();
    route_job(&labels, group, config, &Catalog::builtin())
}

pub(super) fn check(config: &RoutingConfig, rows: &[Row]) {
    for &(labels, group, kind, target, reason, types) in rows {
        let d = decide(labels, group, config);
        let what = format!("{labels:?} {group:?} → {d:?}");
        assert_eq!(d.route.kind, kind, "{what}");
        assert_eq!(d.route.target.as_deref(), target, "{what}");
        assert!(
            d.route.reason.contains(reason),
            "{what}\nreason lacks {reason:?}"
        );
        let got: Vec<&str> = d
            .spec
            .iter()
            .flat_map(|s| s.instance_types.iter().map(String::as_str))
            .collect();
        assert_eq!(got, types, "{what}");
        // A spec exactly when a machine will be provided.
        assert_eq!(d.spec.is_some(), d.route.is_served(), "{what}");
    }
}

// The seed's label map: tinqs/ci README, "Dispatcher (Lambda)" table (go t3.small, docker
// t3.medium, deploy t3.micro, node t3.medium, godot t3.medium) and `runs-on: host`, which the
// seed dispatcher leaves to a standing runner. Gitea `name:scheme` forms route by name
// (gitea/act_runner internal/pkg/labels/labels.go).
#[test]
fn seed_map() {
    let rows: &[Row] = &[
        (
            &["go"],
            None,
            Provider,
            Some("ec2"),
            "label go → t3.small (label map)",
            &["t3.small"],
        ),
        (
            &["docker"],
            None,
            Provider,
            Some("ec2"),
            "label docker → t3.medium (label map)",
            &["t3.medium"],
        ),
        (
            &["deploy"],
            None,
            Provider,
            Some("ec2"),
            "label deploy → t3.micro (label map)",
            &["t3.micro"],
        ),
        (
            &["node"],
            None,
            Provider,
            Some("ec2"),
            "label node → t3.medium (label map)",
            &["t3.medium"],
        ),
        (
            &["godot"],
            None,
            Provider,
            Some("ec2"),
            "label godot → t3.medium (label map)",
            &["t3.medium"],
        ),
        (
            &["host"],
            None,
            Skip,
            None,
            "label host: served by a standing runner",
            &[],
        ),
        (
            &["go:host"],
            None,
            Provider,
            Some("ec2"),
            "label go:host → t3.small",
            &["t3.small"],
        ),
        (
            &["node:docker://node:22"],
            None,
            Provider,
            Some("ec2"),
            "t3.medium",
            &["t3.medium"],
        ),
        // GitHub matches labels case-insensitively.
        (
            &["GO"],
            None,
            Provider,
            Some("ec2"),
            "label GO → t3.small (label map)",
            &["t3.small"],
        ),
        (
            &["docker", "node"],
            None,
            Provider,
            Some("ec2"),
            "labels docker, node → t3.medium",
            &["t3.medium"],
        ),
        (
            &["go", "go"],
            None,
            Provider,
            Some("ec2"),
            "t3.small",
            &["t3.small"],
        ),
    ];
    check(&RoutingConfig::default(), rows);
}

#[test]
fn go_spec_json_is_exact() {
    let d = decide(&["go"], None, &RoutingConfig::default());
    assert_eq!(
        serde_json::to_value(&d.route).unwrap(),
        json!({"kind": "provider", "target": "ec2", "reason": "label go → t3.small (label map)"})
    );
    assert_eq!(
        serde_json::to_value(d.spec.as_ref().unwrap()).unwrap(),
        json!({
            "cpu": [2, 2], "ram_gb": [2, 2], "families": [], "arch": "amd64", "spot": true,
            "instance_types": ["t3.small"], "disk_gb": null, "pool": null, "region": null,
            "public": false, "backend": null, "env": null, "image": null
        })
    );
}

#[test]
fn docker_scheme_sets_image() {
    let mut config = RoutingConfig::default();
    config.labels.insert(
        "ubuntu-latest".into(),
        LabelRule {
            instance_type: Some("t3.medium".into()),
            ..LabelRule::default()
        },
    );
    let d = decide(&["ubuntu-latest:docker://node:18"], None, &config);
    let spec = d.spec.unwrap();
    assert_eq!(
        (spec.image.as_deref(), spec.instance_types.as_slice()),
        (Some("node:18"), &["t3.medium".to_string()][..])
    );
    // Two different images cannot both be honoured.
    let d = decide(&["go:docker://a", "sortie=image=b"], None, &config);
    assert!(
        d.route
            .reason
            .contains("asks for image=a but label sortie=image=b asks for image=b"),
        "{d:?}"
    );
}

// GitHub's default self-hosted labels ("Using self-hosted runners in a workflow",
// docs.github.com: self-hosted; linux/windows/macOS; x64/ARM/ARM64) and GitHub-hosted labels
// (docs.github.com "GitHub-hosted runners reference"; actions/runner-images README).
#[test]
fn generic_and_github_hosted_labels() {
    let rows: &[Row] = &[
        (
            &["self-hosted", "linux", "go"],
            None,
            Provider,
            Some("ec2"),
            "labels self-hosted, linux, go → t3.small (label map)",
            &["t3.small"],
        ),
        (
            &["self-hosted", "X64", "go"],
            None,
            Provider,
            Some("ec2"),
            "t3.small",
            &["t3.small"],
        ),
        (
            &["self-hosted", "linux", "ARM64"],
            None,
            Provider,
            Some("ec2"),
            "t4g.medium (cheapest of",
            &[
                "t4g.medium",
                "t4g.large",
                "c6g.large",
                "c7g.large",
                "m6g.large",
                "m7g.large",
                "r7g.large",
                "t4g.xlarge",
                "c6g.xlarge",
                "c7g.xlarge",
                "m6g.xlarge",
                "m7g.xlarge",
            ],
        ),
        (
            &["arm64", "go"],
            None,
            Unroutable,
            None,
            "label go fixes t3.small, which is amd64, but label arm64 asks for arch=arm64",
            &[],
        ),
        (
            &["windows"],
            None,
            Unroutable,
            None,
            "label windows: sortie launches Linux machines only",
            &[],
        ),
        (
            &["self-hosted", "macOS", "ARM64"],
            None,
            Unroutable,
            None,
            "label macOS: sortie launches Linux machines only",
            &[],
        ),
        (
            &["self-hosted", "ARM"],
            None,
            Unroutable,
            None,
            "no 32-bit ARM",
            &[],
        ),
        (
            &["ubuntu-latest"],
            None,
            Skip,
            None,
            "GitHub-hosted runner label \"ubuntu-latest\": served by GitHub, not sortie",
            &[],
        ),
        (
            &["ubuntu-24.04"],
            None,
            Skip,
            None,
            "served by GitHub, not sortie",
            &[],
        ),
        (
            &["ubuntu-22.04"],
            None,
            Skip,
            None,
            "served by GitHub, not sortie",
            &[],
        ),
        (
            &["ubuntu-24.04-arm"],
            None,
            Skip,
            None,
            "served by GitHub, not sortie",
            &[],
        ),
        (
            &["ubuntu-slim"],
            None,
            Skip,
            None,
            "served by GitHub, not sortie",
            &[],
        ),
        (
            &["windows-latest"],
            None,
            Skip,
            None,
            "served by GitHub, not sortie",
            &[],
        ),
        (
            &["windows-11-arm"],
            None,
            Skip,
            None,
            "served by GitHub, not sortie",
            &[],
        ),
        (
            &["macos-15-intel"],
            None,
            Skip,
            None,
            "served by GitHub, not sortie",
            &[],
        ),
        (
            &["Ubuntu-Latest"],
            None,
            Skip,
            None,
            "served by GitHub, not sortie",
            &[],
        ),
        // Look-alikes that GitHub does not host are unknown, not skipped.
        (
            &["ubuntu-foo"],
            None,
            Unroutable,
            None,
            "unknown label \"ubuntu-foo\"",
            &[],
        ),
        (
            &["ubuntu-24"],
            None,
            Unroutable,
            None,
            "unknown label \"ubuntu-24\"",
            &[],
        ),
    ];
    check(&RoutingConfig::default(), rows);
}

// Settings labels: runs-fleet README "Job Labels" examples and sortie's defaults (cpu 2–4,
// ram 2–4 GiB per vCPU, arch from the families; see labels/resolve.rs).
#[test]
fn settings_labels_route() {
    let rows: &[Row] = &[
        (&["sortie=cpu=4"], None, Provider, Some("ec2"), "label sortie=cpu=4 → t3a.xlarge (cheapest of 7 types with 4 vCPU, 8–16 GiB, amd64)", &[
            "t3a.xlarge", "t3.xlarge", "c6i.xlarge", "c7i.xlarge", "m5.xlarge", "m6i.xlarge", "m7i.xlarge",
        ]),
        (&["runs-fleet=123/cpu=4+16/ram=8+32/family=c7g+m7g"], None, Provider, Some("ec2"), "families c7g+m7g", &[
            "c7g.xlarge", "m7g.xlarge", "c7g.2xlarge", "m7g.2xlarge", "c7g.4xlarge",
        ]),
        (&["runs-fleet=123/cpu=4/arch=arm64/pool=default"], None, Pool, Some("default"), "from warm pool default", &[
            "t4g.xlarge", "c6g.xlarge", "c7g.xlarge", "m6g.xlarge", "m7g.xlarge",
        ]),
        (&["sortie=cpu=2/ram=4/backend=k8s"], None, Provider, Some("k8s"), "t3a.medium", &["t3a.medium", "t3.medium", "c6i.large", "c7i.large"]),
        (&["sortie=type=t3.small+t3a.small"], None, Provider, Some("ec2"), "t3.small, t3a.small (type=)", &["t3.small", "t3a.small"]),
        (&["sortie=cpu=2", "runs-fleet=9/cpu=2/spot=false"], None, Provider, Some("ec2"), "2 vCPU, 4–8 GiB, amd64", &[
            "t3a.medium", "t3.medium", "t3a.large", "t3.large", "c6i.large", "c7i.large", "m5.large", "m6i.large", "m7i.large",
        ]),
        (&["go", "sortie=disk=100/public=true"], None, Provider, Some("ec2"), "t3.small (label map)", &["t3.small"]),
        (&["sortie=cpu=64"], None, Unroutable, None, "no instance type in the catalogue has 64 vCPU, 128–256 GiB, amd64", &[]),
        (&["sortie=family=g5/cpu=8"], None, Unroutable, None, "no instance type in the catalogue has 8 vCPU, 16–32 GiB, amd64, families g5", &[]),
        (&["sortie=type=t3.smal"], None, Unroutable, None, "instance type \"t3.smal\" (label sortie=type=t3.smal) is not in the instance-type catalogue", &[]),
        (&["sortie=type=t3.small+t4g.small"], None, Unroutable, None, "mixes amd64 and arm64", &[]),
        (&["sortie=cpu=4/type=t3.small"], None, Unroutable, None, "fixes t3.small, which has 2 vCPU, but label sortie=cpu=4/type=t3.small asks for cpu=4", &[]),
        (&["sortie=ram=8/type=t3.small"], None, Unroutable, None, "which has 2048 MiB of memory", &[]),
        (&["sortie=family=c7g/type=t3.small"], None, Unroutable, None, "which is a t3", &[]),
        (&["sortie=cpu=4", "sortie=cpu=8"], None, Unroutable, None, "label sortie=cpu=4 asks for cpu=4 but label sortie=cpu=8 asks for cpu=8", &[]),
        (&["go", "docker"], None, Unroutable, None, "label go asks for type=t3.small but label docker asks for type=t3.medium", &[]),
        (&["go", "sortie=cpu=4"], None, Unroutable, None, "label go fixes t3.small, which has 2 vCPU, but label sortie=cpu=4 asks for cpu=4", &[]),
        (&["sortie=cpu=0"], None, Unroutable, None, "label \"sortie=cpu=0\": cpu=0 is invalid: cpu must be at least 1", &[]),
        (&["runs-fleet=cpu=4"], None, Unroutable, None, "has no run id", &[]),
    ];
    check(&RoutingConfig::default(), rows);
    let spec = decide(
        &["runs-fleet=9/cpu=2/spot=false/disk=50/region=eu-west-1/env=prod/public=true"],
        None,
        &RoutingConfig::default(),
    )
    .spec
    .unwrap();
    assert_eq!(
        (
            spec.spot,
            spec.disk_gb,
            spec.region.as_deref(),
            spec.env.as_deref(),
            spec.public
        ),
        (false, Some(50), Some("eu-west-1"), Some("prod"), true)
    );
    assert_eq!(
        (
            spec.cpu.min,
            spec.cpu.max,
            spec.ram_gb.min,
            spec.ram_gb.max,
            spec.arch
        ),
        (2, 2, 4, 8, Arch::Amd64)
    );
}

#[test]
fn skip_unknown_and_empty() {
    let rows: &[Row] = &[
        (&["banana"], None, Unroutable, None, "unknown label \"banana\": it is not one of GitHub's default self-hosted labels", &[]),
        (&["self-hosted", "banana", "kiwi"], None, Unroutable, None, "unknown label \"banana\", \"kiwi\"", &[]),
        (&["Sortie=cpu=4"], None, Unroutable, None, "settings labels start with sortie= or runs-fleet=", &[]),
        (&["host", "self-hosted"], None, Skip, None, "served by a standing runner", &[]),
        (&["host", "banana"], None, Skip, None, "served by a standing runner", &[]),
        (&["host", "go"], None, Unroutable, None, "label host is not served by sortie (label host: served by a standing runner) but label go asks sortie for a machine", &[]),
        (&["ubuntu-latest", "sortie=cpu=2"], None, Unroutable, None, "but label sortie=cpu=2 asks sortie for a machine", &[]),
        (&[], None, Unroutable, None, "the job has no runs-on labels", &[]),
    ];
    check(&RoutingConfig::default(), rows);
    // The group-only row: the default spec (2–4 vCPU, 4–16 GiB, amd64).
    let d = decide(&[], Some("large"), &RoutingConfig::default());
    assert_eq!(d.route.kind, Provider);
    assert!(
        d.route
            .reason
            .starts_with("runner group large → t3a.medium"),
        "{d:?}"
    );
    let spec = d.spec.unwrap();
    assert_eq!(
        (spec.cpu.min, spec.cpu.max, spec.ram_gb.min, spec.ram_gb.max),
        (2, 4, 4, 16)
    );
    assert_eq!(&spec.instance_types[..2], ["t3a.medium", "t3.medium"]);
}
