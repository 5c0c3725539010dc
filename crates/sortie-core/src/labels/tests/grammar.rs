//! Label grammar: table-driven valid and invalid labels.

use crate::labels::{Key, Label, LabelError, PlainLabel, Prefix, Scheme, Setting, SettingsLabel};
use crate::spec::Range;

fn plain(name: &str, scheme: Option<Scheme>) -> Label {
    Label::Plain(PlainLabel {
        name: name.into(),
        scheme,
    })
}

fn settings(prefix: Prefix, run_id: Option<&str>, settings: Vec<Setting>) -> Label {
    Label::Settings(SettingsLabel {
        prefix,
        run_id: run_id.map(str::to_string),
        settings,
    })
}

fn docker(image: &str) -> Option<Scheme> {
    Some(Scheme::Docker {
        image: Some(image.into()),
    })
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

// Plain labels. Scheme handling mirrors act_runner's `labels.Parse`
// (gitea/act_runner internal/pkg/labels/labels.go): SplitN(":", 3); `host` and `docker` are
// schemes, `//` before a docker image is dropped, anything else keeps the colon in the name.
#[test]
fn plain_labels() {
    let rows: Vec<(&str, Label)> = vec![
        ("go", plain("go", None)),
        ("self-hosted", plain("self-hosted", None)),
        ("go:host", plain("go", Some(Scheme::Host))),
        ("go:host:ignored", plain("go", Some(Scheme::Host))),
        (
            "ubuntu-latest:docker://node:18",
            plain("ubuntu-latest", docker("node:18")),
        ),
        (
            "ubuntu-22.04:docker://docker.gitea.com/runner-images:ubuntu-22.04",
            plain(
                "ubuntu-22.04",
                docker("docker.gitea.com/runner-images:ubuntu-22.04"),
            ),
        ),
        ("node:docker:node:22", plain("node", docker("node:22"))),
        (
            "node:docker",
            plain("node", Some(Scheme::Docker { image: None })),
        ),
        (
            "node:docker://",
            plain("node", Some(Scheme::Docker { image: None })),
        ),
        // Opaque: the part after the colon is not a scheme (act_runner keeps it verbatim).
        ("pool:e57e18d4", plain("pool:e57e18d4", None)),
        // Not our prefix: `Sortie=` is a plain label (prefixes are case-sensitive, as runs-fleet's
        // strings.HasPrefix is).
        ("Sortie=cpu=4", plain("Sortie=cpu=4", None)),
    ];
    for (text, want) in rows {
        assert_eq!(Label::parse(text), Ok(want), "{text}");
    }
}

// Settings labels. Keys and value forms from the runs-fleet README ("Job Labels": cpu, ram, family,
// arch, disk 1-16384 gp3, pool, spot, public, backend, region, env) and its parser
// (Shatille/runs-fleet pkg/github/webhook.go); `type=`, `image=`, `local` and the `sortie=`
// prefix with an optional run id are sortie's additions.
#[test]
fn settings_labels() {
    use Setting::*;
    let rows: Vec<(&str, Label)> = vec![
        (
            "runs-fleet=123/cpu=4",
            settings(Prefix::RunsFleet, Some("123"), vec![Cpu(Range::exactly(4))]),
        ),
        (
            "runs-fleet=123/cpu=4/arch=arm64/pool=default",
            settings(
                Prefix::RunsFleet,
                Some("123"),
                vec![
                    Cpu(Range::exactly(4)),
                    Arch(crate::spec::Arch::Arm64),
                    Pool("default".into()),
                ],
            ),
        ),
        (
            "runs-fleet=123/cpu=4+16/ram=8+32/family=c7g+m7g",
            settings(
                Prefix::RunsFleet,
                Some("123"),
                vec![
                    Cpu(Range { min: 4, max: 16 }),
                    Ram(Range { min: 8, max: 32 }),
                    Family(strings(&["c7g", "m7g"])),
                ],
            ),
        ),
        (
            "runs-fleet=42",
            settings(Prefix::RunsFleet, Some("42"), vec![]),
        ),
        (
            "sortie=cpu=2",
            settings(Prefix::Sortie, None, vec![Cpu(Range::exactly(2))]),
        ),
        (
            "sortie=run-7/cpu=2",
            settings(Prefix::Sortie, Some("run-7"), vec![Cpu(Range::exactly(2))]),
        ),
        ("sortie=abc", settings(Prefix::Sortie, Some("abc"), vec![])),
        (
            "sortie=disk=100/spot=false/public=true/backend=k8s/region=eu-west-1/env=prod",
            settings(
                Prefix::Sortie,
                None,
                vec![
                    Disk(100),
                    Spot(false),
                    Public(true),
                    Backend(crate::spec::Backend::K8s),
                    Region("eu-west-1".into()),
                    Env("prod".into()),
                ],
            ),
        ),
        (
            "sortie=backend=kubernetes",
            settings(
                Prefix::Sortie,
                None,
                vec![Backend(crate::spec::Backend::K8s)],
            ),
        ),
        (
            "sortie=backend=local",
            settings(
                Prefix::Sortie,
                None,
                vec![Backend(crate::spec::Backend::Local)],
            ),
        ),
        (
            "sortie=arch=x64",
            settings(Prefix::Sortie, None, vec![Arch(crate::spec::Arch::Amd64)]),
        ),
        (
            "sortie=arch=aarch64",
            settings(Prefix::Sortie, None, vec![Arch(crate::spec::Arch::Arm64)]),
        ),
        (
            "sortie=disk=1",
            settings(Prefix::Sortie, None, vec![Disk(1)]),
        ),
        (
            "sortie=disk=16384",
            settings(Prefix::Sortie, None, vec![Disk(16384)]),
        ),
        (
            "sortie=image=ami-0abc123/type=t3.small+t3a.small",
            settings(
                Prefix::Sortie,
                None,
                vec![
                    Image("ami-0abc123".into()),
                    Type(strings(&["t3.small", "t3a.small"])),
                ],
            ),
        ),
        (
            "sortie=image=node:18",
            settings(Prefix::Sortie, None, vec![Image("node:18".into())]),
        ),
    ];
    for (text, want) in rows {
        assert_eq!(Label::parse(text), Ok(want), "{text}");
    }
}

fn err(text: &str) -> LabelError {
    match Label::parse(text) {
        Err(e) => e,
        Ok(l) => panic!("{text} parsed as {l:?}"),
    }
}

fn invalid(label: &str, key: Key, value: &str, reason: &str) -> LabelError {
    LabelError::InvalidValue {
        label: label.into(),
        key,
        value: value.into(),
        reason: reason.into(),
    }
}

// Invalid labels. runs-fleet rejects an empty run id ("empty run-id in label"), a bad backend
// and out-of-range disk (pkg/github/webhook.go); it silently ignores unknown keys, segments without
// `=` and bad arch/env values, which sortie reports instead so that a typo never launches the
// wrong machine.
#[test]
fn invalid_labels_exact() {
    let rows: Vec<(&str, LabelError)> = vec![
        ("", LabelError::Empty),
        (
            ":host",
            LabelError::EmptyName {
                label: ":host".into(),
            },
        ),
        (
            "sortie=",
            LabelError::EmptyBody {
                label: "sortie=".into(),
                prefix: "sortie=",
            },
        ),
        (
            "runs-fleet=",
            LabelError::EmptyBody {
                label: "runs-fleet=".into(),
                prefix: "runs-fleet=",
            },
        ),
        (
            "runs-fleet=cpu=4",
            LabelError::MissingRunId {
                label: "runs-fleet=cpu=4".into(),
            },
        ),
        (
            "runs-fleet=/cpu=4",
            LabelError::MissingRunId {
                label: "runs-fleet=/cpu=4".into(),
            },
        ),
        (
            "sortie=/cpu=4",
            LabelError::EmptySegment {
                label: "sortie=/cpu=4".into(),
            },
        ),
        (
            "sortie=cpu=4//ram=8",
            LabelError::EmptySegment {
                label: "sortie=cpu=4//ram=8".into(),
            },
        ),
        (
            "sortie=cpu=4/",
            LabelError::EmptySegment {
                label: "sortie=cpu=4/".into(),
            },
        ),
        (
            "sortie=cpu=4/fast",
            LabelError::MissingEquals {
                label: "sortie=cpu=4/fast".into(),
                segment: "fast".into(),
            },
        ),
        (
            "sortie=image=ghcr.io/x/y",
            LabelError::MissingEquals {
                label: "sortie=image=ghcr.io/x/y".into(),
                segment: "x".into(),
            },
        ),
        (
            "sortie=gpu=1",
            LabelError::UnknownKey {
                label: "sortie=gpu=1".into(),
                key: "gpu".into(),
                known: Key::known(),
            },
        ),
        (
            "sortie=CPU=1",
            LabelError::UnknownKey {
                label: "sortie=CPU=1".into(),
                key: "CPU".into(),
                known: Key::known(),
            },
        ),
        (
            "sortie=cpu=2/cpu=4",
            LabelError::DuplicateKey {
                label: "sortie=cpu=2/cpu=4".into(),
                key: Key::Cpu,
            },
        ),
        (
            "sortie=pool=",
            LabelError::EmptyValue {
                label: "sortie=pool=".into(),
                key: Key::Pool,
            },
        ),
        (
            "sortie=run 1/cpu=2",
            LabelError::InvalidRunId {
                label: "sortie=run 1/cpu=2".into(),
                run_id: "run 1".into(),
            },
        ),
        (
            "sortie=cpu=0",
            invalid("sortie=cpu=0", Key::Cpu, "0", "cpu must be at least 1"),
        ),
        (
            "sortie=cpu=0+4",
            invalid("sortie=cpu=0+4", Key::Cpu, "0+4", "cpu must be at least 1"),
        ),
        (
            "sortie=ram=0",
            invalid("sortie=ram=0", Key::Ram, "0", "ram must be at least 1 GiB"),
        ),
        (
            "sortie=ram=8+4",
            invalid(
                "sortie=ram=8+4",
                Key::Ram,
                "8+4",
                "range 8+4 has min above max: write 4+8",
            ),
        ),
        (
            "sortie=disk=0",
            invalid(
                "sortie=disk=0",
                Key::Disk,
                "0",
                "disk must be 1–16384 GiB (a whole number; the volume is gp3)",
            ),
        ),
        (
            "sortie=disk=99999",
            invalid(
                "sortie=disk=99999",
                Key::Disk,
                "99999",
                "disk must be 1–16384 GiB (a whole number; the volume is gp3)",
            ),
        ),
        (
            "sortie=disk=+5",
            invalid(
                "sortie=disk=+5",
                Key::Disk,
                "+5",
                "disk must be 1–16384 GiB (a whole number; the volume is gp3)",
            ),
        ),
        (
            "sortie=arch=sparc",
            invalid(
                "sortie=arch=sparc",
                Key::Arch,
                "sparc",
                "arch must be amd64 or arm64 (x64, x86_64 and aarch64 are accepted too)",
            ),
        ),
        (
            "sortie=spot=no",
            invalid(
                "sortie=spot=no",
                Key::Spot,
                "no",
                "spot must be true or false",
            ),
        ),
        (
            "sortie=public=1",
            invalid(
                "sortie=public=1",
                Key::Public,
                "1",
                "public must be true or false",
            ),
        ),
        (
            "sortie=backend=lambda",
            invalid(
                "sortie=backend=lambda",
                Key::Backend,
                "lambda",
                "backend must be ec2, k8s or local",
            ),
        ),
    ];
    for (text, want) in rows {
        assert_eq!(err(text), want, "{text}");
    }
}

// Value-format errors, checked by substring of the operator-facing message.
#[test]
fn invalid_values_messages() {
    let rows: &[(&str, &str)] = &[
        ("sortie=cpu=four", "\"four\" is not a whole number"),
        ("sortie=cpu=4+", "\"\" is not a whole number"),
        ("sortie=cpu=4+8+16", "\"8+16\" is not a whole number"),
        ("sortie=cpu=-1", "\"-1\" is not a whole number"),
        ("sortie=cpu=99999999999", "99999999999 is too large"),
        ("sortie=family=c7g++m7g", "empty name in \"c7g++m7g\""),
        (
            "sortie=family=C7G",
            "\"C7G\" is not valid: family names look like c7g",
        ),
        (
            "sortie=type=t3",
            "\"t3\" is not valid: instance types look like t3.small",
        ),
        ("sortie=type=t3.small+", "empty name"),
        ("sortie=pool=my pool", "pool names use letters"),
        ("sortie=region=US-EAST-1", "regions look like us-east-1"),
        ("sortie=env=a:b", "env names use letters"),
        ("sortie=pool=a=b", "pool names use letters"),
    ];
    for (text, want) in rows {
        let message = err(text).to_string();
        assert!(message.contains(want), "{text}: {message}");
        assert!(
            message.contains(text),
            "{text}: message must name the label: {message}"
        );
    }
}

// Every message names the label and, where it applies, the key and value.
#[test]
fn error_messages_are_actionable() {
    let rows: &[(&str, &[&str])] = &[
        ("sortie=cpu=0", &["\"sortie=cpu=0\"", "cpu=0 is invalid", "cpu must be at least 1"]),
        ("sortie=ram=8+4", &["ram=8+4", "range 8+4 has min above max"]),
        ("sortie=disk=99999", &["disk=99999", "disk must be 1–16384 GiB"]),
        ("sortie=arch=sparc", &["arch=sparc", "amd64 or arm64"]),
        ("sortie=gpu=1", &["unknown key \"gpu\"", "known keys: cpu, ram, family, arch, disk, pool, spot, public, backend, region, env, image, type"]),
        ("sortie=cpu=2/cpu=4", &["key cpu is given twice"]),
        ("sortie=pool=", &["pool= has an empty value"]),
        ("sortie=cpu=4/fast", &["segment \"fast\" has no `=`"]),
        ("runs-fleet=cpu=4", &["has no run id", "runs-fleet=${{ github.run_id }}/cpu=4"]),
    ];
    for (text, wants) in rows {
        let message = err(text).to_string();
        for want in *wants {
            assert!(message.contains(want), "{text}: {message:?} lacks {want:?}");
        }
    }
}

#[test]
fn display_is_canonical() {
    let rows: &[(&str, &str)] = &[
        ("go:host:ignored", "go:host"),
        ("node:docker:node:22", "node:docker://node:22"),
        ("node:docker://", "node:docker"),
        (
            "sortie=arch=x64/backend=kubernetes/cpu=4+4",
            "sortie=arch=amd64/backend=k8s/cpu=4",
        ),
        (
            "runs-fleet=123/cpu=4+16/ram=8+32/family=c7g+m7g",
            "runs-fleet=123/cpu=4+16/ram=8+32/family=c7g+m7g",
        ),
    ];
    for (text, want) in rows {
        let label = Label::parse(text).unwrap();
        assert_eq!(label.to_string(), *want);
        assert_eq!(Label::parse(want), Ok(label));
    }
}
