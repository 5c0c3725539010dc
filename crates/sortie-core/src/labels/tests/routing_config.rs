//! Routing under non-default `[routing]` tables, and the table's shape and validation.

use super::routing::{check, Row};
use crate::catalog::Catalog;
use crate::labels::{RoutingConfig, RoutingConfigError, UnknownLabels};
use crate::route::RouteKind::{Pool, Provider, Skip, Unroutable};
use serde_json::json;

#[test]
fn config_policies() {
    let skip_unknown = RoutingConfig {
        unknown_labels: UnknownLabels::Skip,
        ..RoutingConfig::default()
    };
    let ignore_unknown = RoutingConfig {
        unknown_labels: UnknownLabels::Ignore,
        ..RoutingConfig::default()
    };
    let no_seed = RoutingConfig {
        seed_labels: false,
        ..RoutingConfig::default()
    };
    let groups = RoutingConfig {
        groups: vec!["sortie".into()],
        ..RoutingConfig::default()
    };
    check(
        &skip_unknown,
        &[(
            &["banana"],
            None,
            Skip,
            None,
            "unknown label \"banana\": left to other runners",
            &[],
        )],
    );
    check(
        &ignore_unknown,
        &[(
            &["banana", "go"],
            None,
            Provider,
            Some("ec2"),
            "t3.small",
            &["t3.small"],
        )],
    );
    check(
        &no_seed,
        &[(&["go"], None, Unroutable, None, "unknown label \"go\"", &[])],
    );
    check(
        &groups,
        &[
            (
                &["go"],
                Some("other"),
                Skip,
                None,
                "runner group \"other\" is not in routing.groups",
                &[],
            ),
            (
                &["go"],
                Some("sortie"),
                Provider,
                Some("ec2"),
                "t3.small",
                &["t3.small"],
            ),
            (
                &["go"],
                None,
                Provider,
                Some("ec2"),
                "t3.small",
                &["t3.small"],
            ),
        ],
    );
}

fn config_json(value: serde_json::Value) -> RoutingConfig {
    serde_json::from_value(value).unwrap()
}

const BIG: &[&str] = &[
    "t3a.2xlarge",
    "t3.2xlarge",
    "m5.2xlarge",
    "m6i.2xlarge",
    "m7i.2xlarge",
];

// The `[routing]` table, deserialised (serde derive; JSON stands in for TOML, same data model).
#[test]
fn label_rules_from_config() {
    let config = config_json(json!({
        "default_provider": "local",
        "labels": {
            "gpu": {"spec": "cpu=8/ram=32/family=g5"},
            "big": {"spec": "cpu=8/ram=32", "provider": "k8s"},
            "warm": {"instance_type": "t3.small", "pool": "warm-1"},
            "arm": {"spec": "arch=arm64/cpu=2/ram=2"},
            "go": {"instance_type": "t3.large"},
            "fast": {"provider": "ec2"},
            "both": {"instance_type": "t3.small", "skip": "no"},
            "badspec": {"spec": "cpu=0"},
            "k8s-a": {"provider": "k8s"},
        }
    }));
    let rows: &[Row] = &[
        (
            &["gpu"],
            None,
            Unroutable,
            None,
            "no instance type in the catalogue has 8 vCPU, 32 GiB, amd64, families g5",
            &[],
        ),
        (
            &["big"],
            None,
            Provider,
            Some("k8s"),
            "label big → t3a.2xlarge (cheapest of 5 types with 8 vCPU, 32 GiB, amd64)",
            BIG,
        ),
        (
            &["big", "sortie=backend=ec2"],
            None,
            Provider,
            Some("ec2"),
            "t3a.2xlarge",
            BIG,
        ),
        (
            &["warm"],
            None,
            Pool,
            Some("warm-1"),
            "label warm → t3.small (label map), from warm pool warm-1",
            &["t3.small"],
        ),
        // A user entry overrides the seed entry of the same name; the other seed entries remain.
        (
            &["go"],
            None,
            Provider,
            Some("local"),
            "label go → t3.large (label map)",
            &["t3.large"],
        ),
        (
            &["docker"],
            None,
            Provider,
            Some("local"),
            "t3.medium",
            &["t3.medium"],
        ),
        // An entry with only a provider serves the label with the default machine.
        (
            &["fast"],
            None,
            Provider,
            Some("ec2"),
            "t3a.medium",
            &[
                "t3a.medium",
                "t3.medium",
                "t3a.large",
                "t3.large",
                "c6i.large",
                "c7i.large",
                "m5.large",
                "m6i.large",
                "m7i.large",
                "r6i.large",
                "t3a.xlarge",
                "t3.xlarge",
                "c6i.xlarge",
                "c7i.xlarge",
                "m5.xlarge",
                "m6i.xlarge",
                "m7i.xlarge",
            ],
        ),
        (
            &["fast", "k8s-a"],
            None,
            Unroutable,
            None,
            "label fast uses provider ec2 but label k8s-a uses provider k8s",
            &[],
        ),
        (
            &["both"],
            None,
            Unroutable,
            None,
            "routing.labels.both is invalid: set only one of instance_type, spec and skip",
            &[],
        ),
        (
            &["badspec"],
            None,
            Unroutable,
            None,
            "routing.labels.badspec is invalid: spec is invalid: label \"cpu=0\": cpu=0 is invalid",
            &[],
        ),
    ];
    check(&config, rows);
    // "arm" in the map shadows GitHub's 32-bit ARM label: the map is consulted first.
    check(
        &config,
        &[(
            &["arm"],
            None,
            Provider,
            Some("local"),
            "t4g.small",
            &["t4g.small"],
        )],
    );
}

#[test]
fn config_table_shape() {
    // Every key is optional; an empty table is the default (the seed's map, provider ec2).
    assert_eq!(config_json(json!({})), RoutingConfig::default());
    assert_eq!(RoutingConfig::default().default_provider, "ec2");
    let unknown = serde_json::from_value::<RoutingConfig>(json!({"defualt_provider": "ec2"}))
        .unwrap_err()
        .to_string();
    assert!(
        unknown.contains("unknown field `defualt_provider`"),
        "{unknown}"
    );
    let rule =
        serde_json::from_value::<RoutingConfig>(json!({"labels": {"go": {"type": "t3.small"}}}))
            .unwrap_err()
            .to_string();
    assert!(rule.contains("unknown field `type`"), "{rule}");
    let policy = serde_json::from_value::<RoutingConfig>(json!({"unknown_labels": "launch"}))
        .unwrap_err()
        .to_string();
    assert!(policy.contains("unknown variant `launch`"), "{policy}");
    for (text, want) in [
        ("unroutable", UnknownLabels::Unroutable),
        ("skip", UnknownLabels::Skip),
        ("ignore", UnknownLabels::Ignore),
    ] {
        assert_eq!(
            config_json(json!({ "unknown_labels": text })).unknown_labels,
            want
        );
    }
    let effective = RoutingConfig::default().effective_labels();
    let names: Vec<&str> = effective.keys().map(String::as_str).collect();
    assert_eq!(names, ["deploy", "docker", "go", "godot", "host", "node"]);
}

#[test]
fn validate_reports_every_problem() {
    let catalog = Catalog::builtin();
    assert_eq!(RoutingConfig::default().validate(&catalog), Ok(()));
    let config = config_json(json!({
        "default_provider": " ",
        "labels": {
            "Go": {"instance_type": "t3.small"},
            "go": {"instance_type": "t3.smal"},
            "x": {"skip": "elsewhere", "pool": "p"},
            "y": {"spec": "cpu=2", "pool": "p", "provider": ""},
            "z": {"spec": "pool=a", "pool": "b"},
        }
    }));
    let errors = config.validate(&catalog).unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    assert_eq!(
        errors[0],
        RoutingConfigError::EmptyDefaultProvider,
        "{text:?}"
    );
    assert_eq!(
        errors[1],
        RoutingConfigError::CaseClash {
            a: "Go".into(),
            b: "go".into()
        },
        "{text:?}"
    );
    let wants = [
        "routing.labels.go: instance_type \"t3.smal\" is not in the instance-type catalogue",
        "routing.labels.x: a skip rule cannot also set pool or provider",
        "routing.labels.y: provider is empty",
        "routing.labels.z: pool is set both in spec and as pool",
    ];
    for want in wants {
        assert!(
            text.iter().any(|t| t.starts_with(want)),
            "{text:?} lacks {want:?}"
        );
    }
}
