//! The connection settings through the public entry point, `Settings::from_layers`: defaults,
//! every file key, every environment variable over the file, the refusals and their messages,
//! and secrets kept out of `Debug`.

use super::super::{ConfigError, Origin, Overrides, Settings};
use super::*;
use std::collections::HashMap;
use std::path::Path;

const PEM: &str = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAvery-secret-key\n-----END RSA PRIVATE KEY-----\n";

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn load(file: Option<&str>, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let path = Path::new("sortie.toml");
    Settings::from_layers(
        file.map(|text| (path, text)),
        env_of(env),
        &Overrides::default(),
    )
}

fn connections(file: Option<&str>, env: &[(&str, &str)]) -> Connections {
    match load(file, env) {
        Ok(s) => s.connections,
        Err(e) => panic!("{e}"),
    }
}

fn exposed(s: &Option<Secret>) -> Option<&str> {
    s.as_ref().map(Secret::expose)
}

#[test]
fn nothing_given_means_the_documented_defaults() {
    // The defaults docs/configuration.md lists; empty sections change nothing.
    let empty_sections = "[github]\n[gitea]\n[dispatch]\n[local]\n[ec2]\n";
    for file in [None, Some(""), Some(empty_sections)] {
        let c = connections(file, &[]);
        assert_eq!(c, Connections::default(), "{file:?}");
        assert_eq!(c.public_url, None);
        assert_eq!(c.owner, "sortie");
        assert!(!c.github.is_configured());
        assert_eq!(c.github.scope, ScopeRule::Repo);
        assert!(!c.gitea.is_configured());
        assert_eq!(c.gitea.flavor, Flavor::Gitea);
        assert_eq!(c.gitea.mode, ForgeMode::WorkflowJob);
        assert_eq!(c.gitea.scope, ScopeRule::Repo);
        let l = &c.limits;
        assert_eq!(*l, Limits::default());
        assert_eq!(l.concurrency, 16);
        assert_eq!(l.max_per_repo, 0);
        assert!(l.max_per_provider.is_empty());
        assert_eq!(l.dispatch_poll, Duration::from_millis(500));
        assert_eq!(l.claim_ttl, Duration::from_secs(60));
        assert_eq!(l.max_attempts, 3);
        assert_eq!(l.launching_timeout, Duration::from_secs(900));
        assert_eq!(l.running_timeout, Duration::from_secs(6 * 3600));
        assert_eq!(l.idle_runner_timeout, Duration::from_secs(600));
        assert_eq!(l.heartbeat_interval, Duration::from_secs(15));
        assert_eq!(l.max_runtime, Duration::from_secs(6 * 3600 + 900));
        assert_eq!(l.sweep_interval, Duration::from_secs(30));
        assert_eq!(c.local.command, None);
        assert_eq!(c.local.max_concurrent, 4);
        assert_eq!(c.local.time_limit, Duration::from_secs(3600));
        assert_eq!(c.local.env, BTreeMap::new());
        assert_eq!(c.ec2.ami_amd64, None);
        assert!(c.ec2.subnets.is_empty());
        assert!(c.ec2.on_demand_fallback);
    }
}

#[test]
fn every_file_key_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("app.pem");
    std::fs::write(&key_file, PEM).unwrap();
    let file = format!(
        r#"
        public_url = "https://ci.example.com/"
        owner = "team-a.prod"
        [github]
        api_url = "https://ghe.example.com/api/v3"
        web_url = "https://ghe.example.com"
        app_id = 12345
        private_key_file = "{}"
        token = "ghp_file_token"
        runner_scope = "org"
        runner_group_id = 7
        [gitea]
        url = "https://gitea.example.com"
        token = "gitea_file_token"
        kind = "forgejo"
        mode = "push"
        runner_scope = "instance"
        [dispatch]
        concurrency = 8
        max_per_repo = 2
        max_per_provider = {{ ec2 = 20, local = 1 }}
        claim_ttl_secs = 90
        max_attempts = 5
        launching_timeout_secs = 300
        running_timeout_secs = 1800
        idle_runner_timeout_secs = 120
        heartbeat_interval_secs = 5
        max_runtime_secs = 2000
        sweep_interval_secs = 10
        poll_ms = 250
        [local]
        command = ["/usr/bin/act_runner", "daemon", "--once"]
        max_concurrent = 2
        time_limit_secs = 600
        work_root = "/var/lib/sortie/work"
        log_dir = "/var/log/sortie"
        env = {{ FOO = "bar" }}
        [ec2]
        region = "eu-west-1"
        endpoint_url = "http://127.0.0.1:5000"
        ami_amd64 = "ami-0aaaaaaaaaaaaaaaa"
        ami_arm64 = "ami-0bbbbbbbbbbbbbbbb"
        subnets = ["subnet-a@eu-west-1a", "subnet-b"]
        security_group_ids = ["sg-1", "sg-2"]
        instance_profile = "sortie-runner"
        on_demand_fallback = false
        "#,
        key_file.display()
    );
    let c = connections(Some(&file), &[]);
    assert_eq!(c.public_url.as_deref(), Some("https://ci.example.com"));
    assert_eq!(c.owner, "team-a.prod");
    let gh = &c.github;
    assert_eq!(
        gh.api_url.as_deref(),
        Some("https://ghe.example.com/api/v3")
    );
    assert_eq!(gh.web_url.as_deref(), Some("https://ghe.example.com"));
    assert_eq!(gh.app_id.as_deref(), Some("12345"), "an integer app_id");
    assert_eq!(exposed(&gh.private_key), Some(PEM));
    assert_eq!(exposed(&gh.token), Some("ghp_file_token"));
    assert_eq!(
        gh.scope,
        ScopeRule::Org {
            runner_group_id: Some(7)
        }
    );
    assert!(gh.is_configured());
    let gt = &c.gitea;
    assert_eq!(gt.url.as_deref(), Some("https://gitea.example.com"));
    assert_eq!(exposed(&gt.token), Some("gitea_file_token"));
    assert_eq!(gt.flavor, Flavor::Forgejo);
    assert_eq!(gt.mode, ForgeMode::Push);
    assert_eq!(gt.scope, ScopeRule::Instance);
    assert!(gt.is_configured());
    let l = &c.limits;
    assert_eq!(l.concurrency, 8);
    assert_eq!(l.max_per_repo, 2);
    assert_eq!(
        l.max_per_provider,
        BTreeMap::from([("ec2".to_string(), 20), ("local".to_string(), 1)])
    );
    assert_eq!(l.claim_ttl, Duration::from_secs(90));
    assert_eq!(l.max_attempts, 5);
    assert_eq!(l.launching_timeout, Duration::from_secs(300));
    assert_eq!(l.running_timeout, Duration::from_secs(1800));
    assert_eq!(l.idle_runner_timeout, Duration::from_secs(120));
    assert_eq!(l.heartbeat_interval, Duration::from_secs(5));
    assert_eq!(l.max_runtime, Duration::from_secs(2000));
    assert_eq!(l.sweep_interval, Duration::from_secs(10));
    assert_eq!(l.dispatch_poll, Duration::from_millis(250));
    let lo = &c.local;
    assert_eq!(
        lo.command.as_deref(),
        Some(
            &[
                "/usr/bin/act_runner".to_string(),
                "daemon".into(),
                "--once".into()
            ][..]
        )
    );
    assert_eq!(lo.max_concurrent, 2);
    assert_eq!(lo.time_limit, Duration::from_secs(600));
    assert_eq!(
        lo.work_root.as_deref(),
        Some(Path::new("/var/lib/sortie/work"))
    );
    assert_eq!(lo.log_dir.as_deref(), Some(Path::new("/var/log/sortie")));
    assert_eq!(lo.env.get("FOO").map(String::as_str), Some("bar"));
    let e = &c.ec2;
    assert_eq!(e.region.as_deref(), Some("eu-west-1"));
    assert_eq!(e.endpoint_url.as_deref(), Some("http://127.0.0.1:5000"));
    assert_eq!(e.ami_amd64.as_deref(), Some("ami-0aaaaaaaaaaaaaaaa"));
    assert_eq!(e.ami_arm64.as_deref(), Some("ami-0bbbbbbbbbbbbbbbb"));
    // A subnet's zone is optional: `subnet-…@zone` and a bare `subnet-…` are both kept.
    assert_eq!(e.subnets, ["subnet-a@eu-west-1a", "subnet-b"]);
    assert_eq!(e.security_group_ids, ["sg-1", "sg-2"]);
    assert_eq!(e.instance_profile.as_deref(), Some("sortie-runner"));
    assert!(!e.on_demand_fallback);
}

#[test]
fn every_environment_variable_wins_over_the_file() {
    let file = r#"
        public_url = "https://file.example.com"
        owner = "from-file"
        [github]
        api_url = "https://file.example.com/api/v3"
        app_id = "1"
        private_key = "file-pem"
        token = "ghp_file"
        [gitea]
        url = "https://gitea-file.example.com"
        token = "gitea_file"
        kind = "gitea"
        mode = "workflow_job"
        [ec2]
        region = "us-east-1"
        ami_amd64 = "ami-file"
        subnets = ["subnet-file"]
        security_group_ids = ["sg-file"]
        instance_profile = "file-profile"
    "#;
    let env = [
        ("SORTIE_PUBLIC_URL", "https://env.example.com"),
        ("SORTIE_OWNER", "from-env"),
        ("SORTIE_GITHUB_API_URL", "https://api.github.com"),
        ("SORTIE_GITHUB_APP_ID", "2"),
        ("SORTIE_GITHUB_PRIVATE_KEY", PEM),
        ("SORTIE_GITHUB_TOKEN", "ghp_env"),
        ("SORTIE_GITEA_URL", "https://gitea-env.example.com"),
        ("SORTIE_GITEA_TOKEN", "gitea_env"),
        ("SORTIE_GITEA_KIND", "forgejo"),
        ("SORTIE_GITEA_MODE", "push"),
        ("SORTIE_EC2_REGION", "eu-central-1"),
        ("SORTIE_EC2_AMI", "ami-env"),
        ("SORTIE_EC2_SUBNETS", " subnet-a@eu-central-1a, ,subnet-b "),
        ("SORTIE_EC2_SECURITY_GROUPS", "sg-a,sg-b"),
        ("SORTIE_EC2_INSTANCE_PROFILE", "env-profile"),
    ];
    let s = load(Some(file), &env).unwrap();
    let c = &s.connections;
    assert_eq!(c.public_url.as_deref(), Some("https://env.example.com"));
    assert_eq!(c.owner, "from-env");
    assert_eq!(c.github.api_url.as_deref(), Some("https://api.github.com"));
    assert_eq!(c.github.app_id.as_deref(), Some("2"));
    assert_eq!(exposed(&c.github.private_key), Some(PEM));
    assert_eq!(exposed(&c.github.token), Some("ghp_env"));
    assert_eq!(
        c.gitea.url.as_deref(),
        Some("https://gitea-env.example.com")
    );
    assert_eq!(exposed(&c.gitea.token), Some("gitea_env"));
    assert_eq!(c.gitea.flavor, Flavor::Forgejo);
    assert_eq!(c.gitea.mode, ForgeMode::Push);
    assert_eq!(c.ec2.region.as_deref(), Some("eu-central-1"));
    assert_eq!(c.ec2.ami_amd64.as_deref(), Some("ami-env"));
    // Comma-separated, trimmed, empty items dropped.
    assert_eq!(c.ec2.subnets, ["subnet-a@eu-central-1a", "subnet-b"]);
    assert_eq!(c.ec2.security_group_ids, ["sg-a", "sg-b"]);
    assert_eq!(c.ec2.instance_profile.as_deref(), Some("env-profile"));
    // Each variable used is named as a source (the first log line, `sortie config check`).
    for (name, _) in env {
        assert!(s.sources().contains(&Origin::Env(name)), "{name}");
    }
}

#[test]
fn a_key_file_in_the_environment_overrides_a_key_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("app.pem");
    std::fs::write(&key_file, PEM).unwrap();
    let file = "[github]\napp_id = 3\nprivate_key = \"file-pem\"\n";
    let path = key_file.display().to_string();
    let c = connections(
        Some(file),
        &[("SORTIE_GITHUB_PRIVATE_KEY_FILE", path.as_str())],
    );
    assert_eq!(exposed(&c.github.private_key), Some(PEM));
    // And the other way round: PEM text in the environment over a key file in the file.
    let file = format!("[github]\napp_id = 3\nprivate_key_file = \"{path}\"\n");
    let c = connections(Some(&file), &[("SORTIE_GITHUB_PRIVATE_KEY", "env-pem")]);
    assert_eq!(exposed(&c.github.private_key), Some("env-pem"));
}

#[test]
fn a_token_alone_or_an_app_alone_configures_github() {
    let c = connections(None, &[("SORTIE_GITHUB_TOKEN", "ghp_x")]);
    assert!(c.github.is_configured());
    assert_eq!(c.github.app_id, None);
    let c = connections(
        None,
        &[
            ("SORTIE_GITHUB_APP_ID", "42"),
            ("SORTIE_GITHUB_PRIVATE_KEY", PEM),
        ],
    );
    assert!(c.github.is_configured());
    assert_eq!(c.github.token, None);
    // Gitea needs both the URL and the token.
    let c = connections(None, &[("SORTIE_GITEA_URL", "https://g.example")]);
    assert!(!c.gitea.is_configured());
}

#[test]
fn extra_github_apps_spread_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("second.pem");
    std::fs::write(&key_file, PEM).unwrap();
    let file = format!(
        "[github]\napp_id = 1\nprivate_key = \"first-pem\"\nmax_concurrent_calls = 4\n\
         [[github.extra_apps]]\napp_id = 2\nprivate_key_file = \"{}\"\n\
         [[github.extra_apps]]\napp_id = \"Iv1.third\"\nprivate_key = \"third-pem\"\n",
        key_file.display()
    );
    let c = connections(Some(&file), &[]);
    let apps: Vec<(&str, &str)> = c
        .github
        .extra_apps
        .iter()
        .map(|a| (a.app_id.as_str(), a.private_key.expose()))
        .collect();
    assert_eq!(apps, vec![("2", PEM), ("Iv1.third", "third-pem")]);
    assert_eq!(c.github.max_concurrent_calls, Some(4));
    assert!(
        !format!("{c:?}").contains("third-pem"),
        "keys stay out of Debug"
    );
    // None by default; zero is raised to one.
    let c = connections(Some("[github]\nmax_concurrent_calls = 0\n"), &[]);
    assert!(c.github.extra_apps.is_empty());
    assert_eq!(c.github.max_concurrent_calls, Some(1));
    assert_eq!(connections(None, &[]).github.max_concurrent_calls, None);
    // The first App may come from the environment.
    let c = connections(
        Some("[[github.extra_apps]]\napp_id = 2\nprivate_key = \"k2\"\n"),
        &[
            ("SORTIE_GITHUB_APP_ID", "1"),
            ("SORTIE_GITHUB_PRIVATE_KEY", PEM),
        ],
    );
    assert_eq!(c.github.extra_apps.len(), 1);
}

#[test]
fn extra_github_apps_are_refused_when_incomplete() {
    let first = "[github]\napp_id = 1\nprivate_key = \"k\"\n";
    let rows: &[(&str, &[&str])] = &[
        (
            "[[github.extra_apps]]\napp_id = 2\nprivate_key = \"k2\"\n",
            &["add to a first GitHub App", "app_id and private_key"],
        ),
        (
            "[github]\ntoken = \"ghp_x\"\n[[github.extra_apps]]\napp_id = 2\nprivate_key = \"k2\"\n",
            &["add to a first GitHub App"],
        ),
    ];
    for (file, fragments) in rows {
        assert_refused(file, &[], "github.extra_apps", fragments);
    }
    let rows: &[(&str, &[&str])] = &[
        ("private_key = \"k2\"\n", &["extra App 1 has no app_id"]),
        (
            "app_id = 2\n",
            &["App 2 needs one of private_key or private_key_file"],
        ),
        (
            "app_id = 2\nprivate_key = \"k\"\nprivate_key_file = \"/k.pem\"\n",
            &["needs one of"],
        ),
        (
            "app_id = 2\nprivate_key_file = \"/no/such/second.pem\"\n",
            &["App 2: cannot read /no/such/second.pem"],
        ),
        (
            "app_id = 1\nprivate_key = \"k\"\n",
            &["App 1 is given twice"],
        ),
    ];
    for (extra, fragments) in rows {
        let file = format!("{first}[[github.extra_apps]]\n{extra}");
        assert_refused(&file, &[], "github.extra_apps", fragments);
    }
    // An unknown key in an entry is refused by name.
    let file = format!("{first}[[github.extra_apps]]\napp_id = 2\nkey = \"k\"\n");
    let err = load(Some(&file), &[]).unwrap_err().to_string();
    assert!(err.contains("key"), "{err}");
    // Gitea has neither setting.
    assert_refused(
        "[gitea]\nmax_concurrent_calls = 2",
        &[],
        "gitea",
        &["gitea.max_concurrent_calls"],
    );
}

#[test]
fn zero_counts_are_raised_to_one() {
    let file = "[dispatch]\nconcurrency = 0\nmax_attempts = 0\n[local]\nmax_concurrent = 0\n";
    let c = connections(Some(file), &[]);
    assert_eq!(c.limits.concurrency, 1);
    assert_eq!(c.limits.max_attempts, 1);
    assert_eq!(c.local.max_concurrent, 1);
}

/// Loads `file` and `env`, expects the setting `key` refused, with every fragment in the message.
fn assert_refused(file: &str, env: &[(&str, &str)], key: &str, fragments: &[&str]) {
    let err = load(Some(file), env).unwrap_err();
    let text = err.to_string();
    match &err {
        ConfigError::Invalid { key: k, .. } => assert_eq!(*k, key, "{text}"),
        other => panic!("{file:?} {env:?}: not an Invalid error: {other}"),
    }
    assert!(text.contains(&format!("invalid setting {key} ")), "{text}");
    for f in fragments {
        assert!(text.contains(f), "{f:?} not in {text:?}");
    }
}

#[test]
fn invalid_file_values_name_the_setting_the_file_and_what_is_valid() {
    // (file, the setting named, fragments of the message besides "sortie.toml")
    let rows: &[(&str, &str, &[&str])] = &[
        (
            "[gitea]\nkind = \"gogs\"",
            "gitea.kind",
            &["\"gogs\"", "gitea or forgejo"],
        ),
        (
            "[gitea]\nmode = \"hook\"",
            "gitea.mode",
            &["\"hook\"", "workflow_job", "push"],
        ),
        (
            "[github]\nrunner_scope = \"instance\"",
            "github.runner_scope",
            &["use repo, org"],
        ),
        (
            "[gitea]\nrunner_scope = \"all\"",
            "gitea.runner_scope",
            &["repo, org or instance"],
        ),
        (
            "[github]\napp_id = 1\nprivate_key = \"k\"\nprivate_key_file = \"/k.pem\"",
            "github.private_key",
            &["private_key_file", "keep one"],
        ),
        (
            "[github]\napp_id = 1\nprivate_key_file = \"/no/such/app.pem\"",
            "github.private_key_file",
            &["cannot read /no/such/app.pem"],
        ),
        (
            "[github]\napp_id = 1",
            "github.app_id",
            &["needs both app_id and private_key"],
        ),
        ("[gitea]\ntoken = \"  \"", "gitea.token", &["empty"]),
        (
            "public_url = \"ci.example.com\"",
            "public_url",
            &["http:// or https://"],
        ),
        (
            "[github]\nweb_url = \"github.com\"",
            "github.web_url",
            &["http://"],
        ),
        (
            "[ec2]\nendpoint_url = \"localhost:5000\"",
            "ec2.endpoint_url",
            &["http://"],
        ),
        (
            "owner = \"team a\"",
            "owner",
            &["1-64 letters, digits, - _ ."],
        ),
        ("[github]\nurl = \"https://x\"", "github", &["use api_url"]),
        ("[github]\nmode = \"push\"", "github", &["github.mode"]),
        ("[gitea]\napp_id = 1", "gitea", &["gitea.app_id"]),
        ("[gitea]\napi_url = \"https://x\"", "gitea", &["use url"]),
        ("[gitea]\nweb_url = \"https://x\"", "gitea", &["use url"]),
        (
            "[gitea]\nrunner_group_id = 3",
            "gitea",
            &["gitea.runner_group_id"],
        ),
        (
            "[dispatch]\nclaim_ttl_secs = 0",
            "dispatch",
            &["must be positive"],
        ),
        (
            "[dispatch]\nsweep_interval_secs = 0",
            "dispatch",
            &["sweep_interval_secs"],
        ),
        ("[local]\ncommand = []", "local.command", &["empty"]),
    ];
    for (file, key, fragments) in rows {
        assert_refused(file, &[], key, fragments);
        assert_refused(file, &[], key, &["(from the file sortie.toml)"]);
    }
}

#[test]
fn invalid_environment_values_name_the_variable() {
    // (variable, value, the setting named, fragments of the message besides the variable)
    let rows: &[(&str, &str, &str, &[&str])] = &[
        (
            "SORTIE_GITEA_KIND",
            "github",
            "gitea.kind",
            &["gitea or forgejo"],
        ),
        ("SORTIE_GITEA_MODE", "pull", "gitea.mode", &["workflow_job"]),
        (
            "SORTIE_GITHUB_APP_ID",
            "1",
            "github.app_id",
            &["private_key"],
        ),
        ("SORTIE_GITHUB_TOKEN", "", "github.token", &["empty"]),
        (
            "SORTIE_GITHUB_PRIVATE_KEY",
            " ",
            "github.private_key",
            &["empty"],
        ),
        (
            "SORTIE_GITHUB_PRIVATE_KEY_FILE",
            "/no/k.pem",
            "github.private_key_file",
            &["/no/k.pem"],
        ),
        ("SORTIE_GITEA_TOKEN", "", "gitea.token", &["empty"]),
        (
            "SORTIE_GITHUB_API_URL",
            "api.github.com",
            "github.api_url",
            &["http://"],
        ),
        (
            "SORTIE_GITEA_URL",
            "gitea.example",
            "gitea.url",
            &["http://"],
        ),
        ("SORTIE_PUBLIC_URL", "ci:8080", "public_url", &["http://"]),
        ("SORTIE_OWNER", "", "owner", &["1-64"]),
    ];
    for (name, value, key, fragments) in rows {
        assert_refused("", &[(name, value)], key, fragments);
        let from = format!("(from the environment variable {name})");
        assert_refused("", &[(name, value)], key, &[&from]);
    }
    // Both halves of the key in the environment.
    let both = [
        ("SORTIE_GITHUB_PRIVATE_KEY", "k"),
        ("SORTIE_GITHUB_PRIVATE_KEY_FILE", "/k.pem"),
    ];
    assert_refused("", &both, "github.private_key", &["keep one"]);
    // A key without an App id: the id is what is missing.
    let key_only = [("SORTIE_GITHUB_PRIVATE_KEY", PEM)];
    assert_refused("", &key_only, "github.app_id", &["needs both app_id"]);
}

#[test]
fn values_of_the_wrong_type_or_unknown_keys_are_refused_with_the_line() {
    // (file, fragments of the message): the TOML parser points at the line and names the type.
    let rows: &[(&str, &[&str])] = &[
        (
            "[dispatch]\nconcurrency = \"many\"",
            &["concurrency", "expected usize"],
        ),
        ("[dispatch]\nmax_attempts = -1", &["max_attempts"]),
        ("[dispatch]\nclaim_ttl_secs = 1.5", &["claim_ttl_secs"]),
        ("[dispatch]\npoll_ms = \"500ms\"", &["poll_ms"]),
        (
            "[dispatch]\nconcurency = 4",
            &["unknown field `concurency`", "concurrency"],
        ),
        ("[local]\ntime_limit_secs = \"1h\"", &["time_limit_secs"]),
        ("[ec2]\nsubnets = \"subnet-a\"", &["subnets", "sequence"]),
        (
            "[ec2]\non_demand_fallback = \"yes\"",
            &["on_demand_fallback", "bool"],
        ),
        (
            "[ec2]\nami = \"ami-1\"",
            &["unknown field `ami`", "ami_amd64"],
        ),
    ];
    for (file, fragments) in rows {
        let err = load(Some(file), &[]).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ConfigError::Parse { .. }), "{file}: {text}");
        assert!(
            text.contains("sortie.toml") && text.contains("line 2"),
            "{text}"
        );
        for f in *fragments {
            assert!(text.contains(f), "{f:?} not in {text:?}");
        }
    }
}

#[test]
fn secrets_never_appear_in_debug_output() {
    let file = "[github]\ntoken = \"ghp_file_secret\"\n[gitea]\nurl = \"https://g.example\"\ntoken = \"gitea_file_secret\"\n";
    let env = [
        ("SORTIE_GITHUB_APP_ID", "42"),
        ("SORTIE_GITHUB_PRIVATE_KEY", PEM),
    ];
    let s = load(Some(file), &env).unwrap();
    assert!(s.connections.github.is_configured());
    for text in [
        format!("{s:?}"),
        format!("{s:#?}"),
        format!("{:?}", s.connections),
        format!("{:?}", s.connections.github),
        format!("{:?}", s.connections.gitea),
    ] {
        for secret in [
            "ghp_file_secret",
            "gitea_file_secret",
            "very-secret-key",
            "BEGIN RSA",
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert!(text.contains("<redacted>"), "{text}");
    }
    // A refused value's message does not repeat a secret given beside it.
    let err = load(Some(file), &[("SORTIE_GITEA_KIND", "gogs")])
        .unwrap_err()
        .to_string();
    assert!(!err.contains("file_secret"), "{err}");
}

#[test]
fn deadlines_per_provider_from_the_file_and_the_environment() {
    use crate::dispatcher::deadlines::DeadlineSettings;
    let secs = |d: crate::dispatcher::deadlines::PhaseDeadlines| {
        (
            d.boot.as_secs(),
            d.register.as_secs(),
            d.job_start.as_secs(),
        )
    };
    // Nothing given (an empty [deadlines] too): the built-in defaults, job_start following
    // dispatch.launching_timeout_secs.
    for file in [None, Some("[deadlines]\n")] {
        let l = connections(file, &[]).limits;
        assert!(l.deadlines.is_empty());
        assert_eq!(secs(l.deadlines_for("ec2")), (300, 180, 900));
        assert_eq!(secs(l.deadlines_for("local")), (60, 120, 900));
    }
    let file = r#"
        [dispatch]
        launching_timeout_secs = 1200
        [deadlines.ec2]
        boot_secs = 420
        register_secs = 240
        [deadlines.local]
        job_start_secs = 30
        [deadlines.gcp]
        boot_secs = 90
    "#;
    let l = connections(Some(file), &[]).limits;
    assert_eq!(secs(l.deadlines_for("ec2")), (420, 240, 1200));
    assert_eq!(secs(l.deadlines_for("local")), (60, 120, 30));
    assert_eq!(secs(l.deadlines_for("gcp")), (90, 1200, 1200));
    assert_eq!(l.deadlines["gcp"].register, None, "as given, unresolved");
    // The variables win over the file, key by key.
    let env = [
        ("SORTIE_DEADLINES_EC2_REGISTER_SECS", "200"),
        ("SORTIE_DEADLINES_EC2_JOB_START_SECS", " 600 "),
        ("SORTIE_DEADLINES_LOCAL_BOOT_SECS", "5"),
        ("SORTIE_DEADLINES_LOCAL_REGISTER_SECS", "6"),
    ];
    let s = load(Some(file), &env).unwrap();
    let l = &s.connections.limits;
    assert_eq!(secs(l.deadlines_for("ec2")), (420, 200, 600));
    assert_eq!(secs(l.deadlines_for("local")), (5, 6, 30));
    assert!(s
        .sources
        .contains(&Origin::Env("SORTIE_DEADLINES_LOCAL_BOOT_SECS")));
    // A variable alone makes the provider's entry.
    let l = connections(None, &[("SORTIE_DEADLINES_EC2_BOOT_SECS", "100")]).limits;
    assert_eq!(
        l.deadlines["ec2"],
        DeadlineSettings {
            boot: Some(Duration::from_secs(100)),
            ..DeadlineSettings::default()
        }
    );
}

#[test]
fn a_zero_or_malformed_deadline_is_refused_saying_what_to_give() {
    assert_refused(
        "[deadlines.ec2]\nregister_secs = 0",
        &[],
        "deadlines.ec2.register_secs",
        &[
            "deadlines.ec2.register_secs is 0",
            "at least 1 second",
            "default (180s)",
            "(from the file sortie.toml)",
        ],
    );
    // Another provider's key is named in the message.
    assert_refused(
        "[dispatch]\nlaunching_timeout_secs = 600\n[deadlines.gcp]\njob_start_secs = 0",
        &[],
        "deadlines",
        &["deadlines.gcp.job_start_secs is 0", "default (600s)"],
    );
    let from = "(from the environment variable SORTIE_DEADLINES_LOCAL_BOOT_SECS)";
    for (value, fragment) in [
        ("0", "default (60s)"),
        ("1m", "\"1m\" is not a whole number of seconds"),
        ("", "is not a whole number"),
    ] {
        assert_refused(
            "",
            &[("SORTIE_DEADLINES_LOCAL_BOOT_SECS", value)],
            "deadlines.local.boot_secs",
            &[fragment, from],
        );
    }
    // Unknown keys and the wrong types, as everywhere in the file.
    for (file, fragment) in [
        ("[deadlines.ec2]\nboot = 300", "unknown field `boot`"),
        ("[deadlines.ec2]\nboot_secs = \"5m\"", "boot_secs"),
        ("[deadlines]\nboot_secs = 300", "boot_secs"),
    ] {
        let err = load(Some(file), &[]).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, ConfigError::Parse { .. }), "{file}: {text}");
        assert!(text.contains(fragment), "{fragment:?} not in {text:?}");
    }
}
