//! The seed dispatcher's environment as sortie settings, so a Lambda that ran the seed
//! (tinqs/ci `tinqs-ci-dispatch`) runs sortie with its environment unchanged.
//!
//! The seed is configured by eight variables ("Lambda env vars" in the tinqs/ci DevOps
//! reference and README): `GITEA_URL`, `GITEA_TOKEN`, `RUNNER_TOKEN`, `RUNNER_AMI`, `SUBNET`,
//! `SECURITY_GROUP`, `DDB_TABLE`, `INSTANCE_PROFILE`. They form the **lowest** layer: they are
//! turned into a table in the configuration file's shape and merged *beneath* the file, so the
//! file, every `SORTIE_*` variable and every flag win over them.
//!
//! | seed variable | sortie setting |
//! |---|---|
//! | `GITEA_URL` | `gitea.url`, and `gitea.mode = "push"` (the seed evaluated pushes itself) |
//! | `GITEA_TOKEN` | `gitea.token` (the API only: it is no longer put on machines) |
//! | `RUNNER_TOKEN` | nothing: machines get an ephemeral registration token per job ([`notices`]) |
//! | `RUNNER_AMI` | `ec2.ami_amd64`, `provider = "ec2"`, and the seed's 30-minute rule: `dispatch.running_timeout_secs` and `dispatch.max_runtime_secs` = 1800 |
//! | `SUBNET` | `ec2.subnets` (comma-separated allowed) |
//! | `SECURITY_GROUP` | `ec2.security_group_ids` (comma-separated allowed) |
//! | `DDB_TABLE` | `database_url = "dynamodb://TABLE"` |
//! | `INSTANCE_PROFILE` | `ec2.instance_profile` |
//!
//! The seed's label map (`go`→t3.small, …, `host` skipped) is `[routing] seed_labels`, on by
//! default; the seed layer sets it explicitly. The seed verified no webhook signature (nothing in
//! its documents names a secret), so there is nothing to map: sortie's Gitea route still refuses
//! every delivery until `SORTIE_GITEA_WEBHOOK_SECRET` is set ([`notices`] says so).

use std::path::{Path, PathBuf};

/// The seed's variables, in the order its documents list them.
pub const SEED_VARIABLES: [&str; 8] = [
    "GITEA_URL",
    "GITEA_TOKEN",
    "RUNNER_TOKEN",
    "RUNNER_AMI",
    "SUBNET",
    "SECURITY_GROUP",
    "DDB_TABLE",
    "INSTANCE_PROFILE",
];

/// The seed's clean-up rule: runs older than 30 minutes are ended ("Cleanup cron" in the tinqs/ci
/// DevOps reference), in seconds.
pub const SEED_TIME_LIMIT_SECS: i64 = 30 * 60;

/// The seed variables that are set (non-empty), in [`SEED_VARIABLES`] order.
pub fn present(env: &dyn Fn(&str) -> Option<String>) -> Vec<&'static str> {
    SEED_VARIABLES
        .into_iter()
        .filter(|name| value(env, name).is_some())
        .collect()
}

/// A variable's trimmed value; empty counts as unset (the AWS console keeps empty rows).
fn value(env: &dyn Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

fn list(text: &str) -> toml::Value {
    toml::Value::Array(
        text.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| toml::Value::String(s.to_string()))
            .collect(),
    )
}

/// The settings the seed variables in `env` stand for, in the configuration file's shape. Empty
/// when none is set.
pub fn table(env: &dyn Fn(&str) -> Option<String>) -> toml::Table {
    use toml::Value::{Boolean, Integer, String as Text};
    let mut root = toml::Table::new();
    let mut section = |name: &str, key: &str, v: toml::Value| {
        let entry = root
            .entry(name.to_string())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if let toml::Value::Table(t) = entry {
            t.insert(key.to_string(), v);
        }
    };
    if let Some(url) = value(env, "GITEA_URL") {
        section("gitea", "url", Text(url));
        section("gitea", "mode", Text("push".into()));
    }
    if let Some(token) = value(env, "GITEA_TOKEN") {
        section("gitea", "token", Text(token));
    }
    let ami = value(env, "RUNNER_AMI");
    if let Some(ami) = &ami {
        section("ec2", "ami_amd64", Text(ami.clone()));
        section(
            "dispatch",
            "running_timeout_secs",
            Integer(SEED_TIME_LIMIT_SECS),
        );
        section(
            "dispatch",
            "max_runtime_secs",
            Integer(SEED_TIME_LIMIT_SECS),
        );
        section("routing", "seed_labels", Boolean(true));
    }
    if let Some(subnet) = value(env, "SUBNET") {
        section("ec2", "subnets", list(&subnet));
    }
    if let Some(groups) = value(env, "SECURITY_GROUP") {
        section("ec2", "security_group_ids", list(&groups));
    }
    if let Some(profile) = value(env, "INSTANCE_PROFILE") {
        section("ec2", "instance_profile", Text(profile));
    }
    if ami.is_some() {
        root.insert("provider".into(), Text("ec2".into()));
    }
    if let Some(table) = value(env, "DDB_TABLE") {
        root.insert("database_url".into(), Text(format!("dynamodb://{table}")));
    }
    root
}

/// Puts `under`'s keys into `over` where `over` has none; tables present in both merge key by
/// key. `over` (the configuration file) wins everywhere else.
fn merge_beneath(over: &mut toml::Table, under: toml::Table) {
    for (key, value) in under {
        match (over.get_mut(&key), value) {
            (None, value) => {
                over.insert(key, value);
            }
            (Some(toml::Value::Table(o)), toml::Value::Table(u)) => merge_beneath(o, u),
            (Some(_), _) => {}
        }
    }
}

/// The configuration file with the seed layer merged beneath it, or `None` when no seed variable
/// is set (the file is used as written). A file that is not TOML is returned unchanged, so its
/// own parse error (with line and column) is what the operator sees. Without a file, the seed
/// layer stands alone under a name that says where it came from.
pub fn beneath_file(
    file: Option<(&Path, &str)>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Option<(PathBuf, String)> {
    let seed = table(env);
    if seed.is_empty() {
        return None;
    }
    let (path, mut merged) = match file {
        Some((path, text)) => match text.parse::<toml::Table>() {
            Ok(t) => (path.to_path_buf(), t),
            Err(_) => return Some((path.to_path_buf(), text.to_string())),
        },
        None => {
            let names = present(env).join(", ");
            (
                PathBuf::from(format!("<seed variables {names}>")),
                toml::Table::new(),
            )
        }
    };
    merge_beneath(&mut merged, seed);
    toml::to_string(&merged).ok().map(|text| (path, text))
}

/// What the operator should know about the seed variables in `env`, one warning each: the
/// variables sortie deliberately does not use, and what the seed did not need but sortie does.
/// `sortie lambda` logs them once per container.
pub fn notices(env: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
    let seen = present(env);
    let mut out = Vec::new();
    if seen.is_empty() {
        return out;
    }
    out.push(format!(
        "seed dispatcher variables in use ({}); any SORTIE_* variable or configuration file \
         setting wins over them — see docs/migrating-from-seed.md",
        seen.join(", ")
    ));
    if seen.contains(&"RUNNER_TOKEN") {
        out.push(
            "RUNNER_TOKEN is ignored: sortie never puts a long-lived registration token on a \
             machine. Each machine redeems a one-time bootstrap token for an ephemeral runner \
             registration minted for its one job through the Gitea API (GITEA_TOKEN), so a \
             leaked machine cannot register runners. Delete the variable, and the shared token \
             in Gitea (Site Administration → Actions → Runners) once the seed is gone"
                .into(),
        );
    }
    if seen.contains(&"GITEA_TOKEN") {
        out.push(
            "GITEA_TOKEN is used for the Gitea API only; unlike the seed, sortie does not write it \
             into machines' user data for git authentication — jobs clone with the token Gitea \
             gives each job (${{ github.token }} / GITEA_TOKEN inside the job)"
                .into(),
        );
    }
    if env("SORTIE_GITEA_WEBHOOK_SECRET").is_none() {
        out.push(
            "the seed did not verify webhook signatures, sortie does: POST /webhook and \
             /webhooks/gitea refuse every delivery until SORTIE_GITEA_WEBHOOK_SECRET is set and \
             the same secret is entered in each repository's webhook settings"
                .into(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Overrides, Settings};
    use super::*;
    use crate::fleet::ForgeMode;
    use std::collections::HashMap;
    use std::time::Duration;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    /// The seed's Lambda environment as its DevOps reference documents it (values from its
    /// "AWS resources" table).
    const SEED: [(&str, &str); 8] = [
        ("GITEA_URL", "https://tinqs.com"),
        ("GITEA_TOKEN", "0123456789abcdef0123456789abcdef01234567"),
        ("RUNNER_TOKEN", "shared-registration-token"),
        ("RUNNER_AMI", "ami-00a129385002e4de9"),
        ("SUBNET", "subnet-04b5aeec9bfc4ec2c"),
        ("SECURITY_GROUP", "sg-030bf74b43d3faac7"),
        ("DDB_TABLE", "tinqs-ci-runs"),
        ("INSTANCE_PROFILE", "tinqs-ci-runner"),
    ];

    fn settings(file: Option<&str>, env: &[(&str, &str)]) -> Settings {
        Settings::from_layers(
            file.map(|t| (Path::new("sortie.toml"), t)),
            env_of(env),
            &Overrides::default(),
        )
        .unwrap()
    }

    #[test]
    fn the_seed_environment_alone_configures_sortie_like_the_seed() {
        let s = settings(None, &SEED);
        assert_eq!(s.database_url, "dynamodb://tinqs-ci-runs");
        assert_eq!(s.provider, "ec2");
        assert_eq!(s.routing.default_provider, "ec2");
        assert!(s.routing.seed_labels);
        let c = &s.connections;
        assert_eq!(c.gitea.url.as_deref(), Some("https://tinqs.com"));
        assert_eq!(
            c.gitea.token.as_ref().map(|t| t.expose().to_string()),
            Some(SEED[1].1.to_string())
        );
        assert_eq!(c.gitea.mode, ForgeMode::Push);
        assert_eq!(c.ec2.ami_amd64.as_deref(), Some("ami-00a129385002e4de9"));
        assert_eq!(c.ec2.subnets, ["subnet-04b5aeec9bfc4ec2c"]);
        assert_eq!(c.ec2.security_group_ids, ["sg-030bf74b43d3faac7"]);
        assert_eq!(c.ec2.instance_profile.as_deref(), Some("tinqs-ci-runner"));
        assert_eq!(c.limits.running_timeout, Duration::from_secs(1800));
        assert_eq!(c.limits.max_runtime, Duration::from_secs(1800));
        // The seed verified no signature: nothing opens the webhook route.
        assert_eq!(s.gitea.webhook_secret, None);
        // The seed's label map routes `go` to a t3.small on ec2 and skips `host`.
        let (_, go) = s.routing.rule("go").unwrap();
        assert_eq!(go.instance_type.as_deref(), Some("t3.small"));
        let (_, host) = s.routing.rule("host").unwrap();
        assert!(host.skip.is_some());
    }

    #[test]
    fn sortie_variables_always_win_over_seed_variables() {
        let mut env = SEED.to_vec();
        env.extend([
            ("SORTIE_DATABASE_URL", "dynamodb://other-table"),
            ("SORTIE_GITEA_URL", "https://gitea.example"),
            ("SORTIE_GITEA_MODE", "workflow_job"),
            ("SORTIE_EC2_AMI", "ami-0aaaaaaaaaaaaaaaa"),
            ("SORTIE_EC2_SUBNETS", "subnet-a,subnet-b"),
            ("SORTIE_EC2_SECURITY_GROUPS", "sg-a"),
            ("SORTIE_EC2_INSTANCE_PROFILE", "other-profile"),
            ("SORTIE_PROVIDER", "local"),
            ("SORTIE_GITEA_TOKEN", "sortie-token"),
        ]);
        let s = settings(None, &env);
        assert_eq!(s.database_url, "dynamodb://other-table");
        assert_eq!(s.provider, "local");
        let c = &s.connections;
        assert_eq!(c.gitea.url.as_deref(), Some("https://gitea.example"));
        assert_eq!(c.gitea.mode, ForgeMode::WorkflowJob);
        assert_eq!(
            c.gitea.token.as_ref().map(|t| t.expose().to_string()),
            Some("sortie-token".to_string())
        );
        assert_eq!(c.ec2.ami_amd64.as_deref(), Some("ami-0aaaaaaaaaaaaaaaa"));
        assert_eq!(c.ec2.subnets, ["subnet-a", "subnet-b"]);
        assert_eq!(c.ec2.security_group_ids, ["sg-a"]);
        assert_eq!(c.ec2.instance_profile.as_deref(), Some("other-profile"));
    }

    #[test]
    fn the_configuration_file_wins_over_seed_variables_key_by_key() {
        let file = r#"
            database_url = "sqlite://./local.db"
            [ec2]
            subnets = ["subnet-file"]
            [dispatch]
            max_runtime_secs = 7200
            [routing]
            seed_labels = false
        "#;
        let s = settings(Some(file), &SEED);
        assert_eq!(s.database_url, "sqlite://./local.db");
        let c = &s.connections;
        assert_eq!(c.ec2.subnets, ["subnet-file"]);
        // Keys the file does not set still come from the seed, in the same section.
        assert_eq!(c.ec2.ami_amd64.as_deref(), Some("ami-00a129385002e4de9"));
        assert_eq!(c.limits.max_runtime, Duration::from_secs(7200));
        assert_eq!(c.limits.running_timeout, Duration::from_secs(1800));
        assert!(!s.routing.seed_labels);
        assert_eq!(c.gitea.mode, ForgeMode::Push);
        // The origin named in messages is the file the operator wrote.
        assert!(s
            .sources()
            .iter()
            .any(|o| o.to_string().contains("sortie.toml")));
    }

    #[test]
    fn without_seed_variables_nothing_changes() {
        assert!(table(&env_of(&[])).is_empty());
        assert_eq!(beneath_file(None, &env_of(&[])), None);
        let s = settings(None, &[("GITEA_URL", "  ")]);
        assert!(s.is_all_defaults());
        assert_eq!(s.database_url, "sqlite://./sortie.db");
        assert_eq!(s.connections.gitea.mode, ForgeMode::WorkflowJob);
    }

    #[test]
    fn each_variable_maps_on_its_own() {
        let s = settings(None, &[("DDB_TABLE", "runs")]);
        assert_eq!(s.database_url, "dynamodb://runs");
        assert_eq!(s.provider, "local", "no AMI, no ec2 provider");
        assert_eq!(
            s.connections.limits.max_runtime,
            crate::fleet::Limits::default().max_runtime
        );
        let s = settings(None, &[("GITEA_URL", "https://tinqs.com/")]);
        assert_eq!(
            s.connections.gitea.url.as_deref(),
            Some("https://tinqs.com")
        );
        assert_eq!(s.connections.gitea.mode, ForgeMode::Push);
        assert!(
            s.summary().contains("<seed variables GITEA_URL>"),
            "{}",
            s.summary()
        );
    }

    #[test]
    fn a_bad_seed_value_names_where_it_came_from() {
        let err = Settings::from_layers(
            None,
            env_of(&[("GITEA_URL", "tinqs.com")]),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("gitea.url"), "{err}");
        assert!(err.contains("seed variables GITEA_URL"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_toml_keeps_its_own_error() {
        let err = Settings::from_layers(
            Some((Path::new("sortie.toml"), "listen = \n")),
            env_of(&SEED),
            &Overrides::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("sortie.toml") && err.contains("line 1"),
            "{err}"
        );
    }

    #[test]
    fn notices_say_what_is_ignored_and_why() {
        let n = notices(&env_of(&SEED)).join("\n");
        assert!(n.contains("RUNNER_TOKEN is ignored"), "{n}");
        assert!(n.contains("ephemeral runner registration"), "{n}");
        assert!(n.contains("SORTIE_GITEA_WEBHOOK_SECRET"), "{n}");
        let mut env = SEED.to_vec();
        env.retain(|(k, _)| *k != "RUNNER_TOKEN");
        env.push(("SORTIE_GITEA_WEBHOOK_SECRET", "s3cret"));
        let n = notices(&env_of(&env)).join("\n");
        assert!(!n.contains("RUNNER_TOKEN"), "{n}");
        assert!(!n.contains("refuse every delivery"), "{n}");
        assert!(notices(&env_of(&[])).is_empty());
    }
}
