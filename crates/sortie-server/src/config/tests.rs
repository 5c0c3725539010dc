use super::*;
use std::collections::HashMap;
use std::path::Path;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn layered(
    file: Option<&str>,
    env: &[(&str, &str)],
    flags: &Overrides,
) -> Result<Settings, ConfigError> {
    Settings::from_layers(
        file.map(|t| (Path::new("sortie.toml"), t)),
        env_of(env),
        flags,
    )
}

#[test]
fn nothing_given_means_the_documented_defaults() {
    let s = layered(None, &[], &Overrides::default()).unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
    assert_eq!(s.database_url, "sqlite://./sortie.db");
    assert_eq!(s.provider, "local");
    assert_eq!(s.max_body_bytes, 25 * 1024 * 1024);
    assert_eq!(s.github.webhook_secret, None);
    assert_eq!(s.gitea.webhook_secret, None);
    assert_eq!(s.admin_token, None);
    assert!(s.is_all_defaults());
    assert!(
        s.summary().contains("using the defaults"),
        "{}",
        s.summary()
    );
    // The top-level provider is the routing default unless [routing] names one.
    assert_eq!(s.routing.default_provider, "local");
}

#[test]
fn file_then_environment_then_flags() {
    let file = r#"
        listen = "0.0.0.0:9000"
        database_url = "postgres://u:pw@db/sortie"
        provider = "ec2"
        max_body_bytes = 1024
        admin_token = "adm"
        [github]
        webhook_secret = "from-file"
        [gitea]
        webhook_secret = "gitea-file"
        [routing]
        default_provider = "k8s"
    "#;
    let env = [
        ("SORTIE_LISTEN", "127.0.0.1:9001"),
        ("SORTIE_GITHUB_WEBHOOK_SECRET", "from-env"),
    ];
    let flags = Overrides {
        listen: Some("127.0.0.1:9002".into()),
        database_url: None,
    };
    let s = layered(Some(file), &env, &flags).unwrap();
    assert_eq!(s.listen.to_string(), "127.0.0.1:9002");
    assert_eq!(s.database_url, "postgres://u:pw@db/sortie");
    assert_eq!(
        s.github.webhook_secret.as_ref().map(Secret::expose),
        Some("from-env")
    );
    assert_eq!(
        s.gitea.webhook_secret.as_ref().map(Secret::expose),
        Some("gitea-file")
    );
    assert_eq!(s.max_body_bytes, 1024);
    assert_eq!(s.provider, "ec2");
    assert_eq!(s.routing.default_provider, "k8s");
    assert_eq!(
        s.sources(),
        &[
            Origin::Default,
            Origin::File("sortie.toml".into()),
            Origin::Env("SORTIE_LISTEN"),
            Origin::Env("SORTIE_GITHUB_WEBHOOK_SECRET"),
            Origin::Flag("--listen"),
        ]
    );
    assert!(!s.is_all_defaults());
}

#[test]
fn every_documented_environment_variable_is_read() {
    // The table in docs/configuration.md.
    let env = [
        ("SORTIE_LISTEN", "127.0.0.1:1"),
        ("SORTIE_DATABASE_URL", "sqlite:///tmp/x.db"),
        ("SORTIE_GITHUB_WEBHOOK_SECRET", "g"),
        ("SORTIE_GITEA_WEBHOOK_SECRET", "t"),
        ("SORTIE_ADMIN_TOKEN", "a"),
        ("SORTIE_PROVIDER", "kubernetes"),
        ("SORTIE_MAX_BODY_BYTES", "77"),
    ];
    let s = layered(None, &env, &Overrides::default()).unwrap();
    assert_eq!(s.listen.port(), 1);
    assert_eq!(s.database_url, "sqlite:///tmp/x.db");
    assert_eq!(
        s.github.webhook_secret.as_ref().map(Secret::expose),
        Some("g")
    );
    assert_eq!(
        s.gitea.webhook_secret.as_ref().map(Secret::expose),
        Some("t")
    );
    assert_eq!(s.admin_token.as_ref().map(Secret::expose), Some("a"));
    assert_eq!(s.provider, "kubernetes");
    assert_eq!(s.max_body_bytes, 77);
}

#[test]
fn invalid_values_name_the_setting_and_its_origin() {
    // (file, env, expected fragments of the message)
    type Row<'a> = (Option<&'a str>, &'a [(&'a str, &'a str)], &'a [&'a str]);
    let rows: [Row; 7] = [
        (
            None,
            &[("SORTIE_LISTEN", "localhost")],
            &["listen", "SORTIE_LISTEN", "127.0.0.1:8080"],
        ),
        (Some("listen = \"nope\""), &[], &["listen", "sortie.toml"]),
        (
            None,
            &[("SORTIE_DATABASE_URL", "mysql://u:secret@h/db")],
            &["database_url", "sqlite://", "u:***@"],
        ),
        (
            None,
            &[("SORTIE_GITHUB_WEBHOOK_SECRET", "")],
            &["github.webhook_secret", "empty"],
        ),
        (
            None,
            &[("SORTIE_PROVIDER", "gcp")],
            &["provider", "local, ec2"],
        ),
        (
            Some("max_body_bytes = 0"),
            &[],
            &["max_body_bytes", "positive"],
        ),
        (
            Some("[routing]\nno_such_key = 1"),
            &[],
            &["routing", "no_such_key"],
        ),
    ];
    for (file, env, fragments) in rows {
        let err = layered(file, env, &Overrides::default())
            .unwrap_err()
            .to_string();
        for f in fragments {
            assert!(err.contains(f), "{f:?} not in {err:?}");
        }
        assert!(!err.contains("secret@"), "password leaked: {err}");
    }
}

#[test]
fn unknown_keys_and_bad_toml_are_refused() {
    for text in [
        "lisen = \"127.0.0.1:1\"",
        "[github]\nsecret = \"x\"",
        "listen = ",
    ] {
        let err = layered(Some(text), &[], &Overrides::default()).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{text}: {err}");
        assert!(err.to_string().contains("sortie.toml"), "{err}");
    }
}

#[test]
fn printing_redacts_every_secret() {
    let env = [
        ("SORTIE_GITHUB_WEBHOOK_SECRET", "gh-very-secret"),
        ("SORTIE_ADMIN_TOKEN", "admin-very-secret"),
        (
            "SORTIE_DATABASE_URL",
            "postgres://sortie:db-very-secret@db/sortie",
        ),
    ];
    let s = layered(None, &env, &Overrides::default()).unwrap();
    let text = s.to_redacted_toml();
    assert!(!text.contains("very-secret"), "{text}");
    assert!(text.contains("admin_token = \"<redacted>\""), "{text}");
    assert!(text.contains("# webhook_secret is not set"), "{text}");
    assert!(text.contains("postgres://sortie:***@db/sortie"), "{text}");
    assert!(!format!("{s:?}").contains("very-secret"));
}

#[test]
fn printed_configuration_reads_back_the_same() {
    let file =
        "listen = \"0.0.0.0:9000\"\nprovider = \"ec2\"\n[routing]\ndefault_provider = \"k8s\"\n";
    let s = layered(Some(file), &[], &Overrides::default()).unwrap();
    let again = layered(Some(&s.to_redacted_toml()), &[], &Overrides::default()).unwrap();
    assert_eq!(again.listen, s.listen);
    assert_eq!(again.provider, s.provider);
    assert_eq!(again.routing, s.routing);
}
