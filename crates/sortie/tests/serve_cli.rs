//! `sortie serve`, `sortie config check` and `sortie migrate` as an operator runs them.

mod serve_common;

use serve_common::*;
use std::process::Stdio;
use std::time::Duration;

#[test]
fn config_check_prints_the_effective_configuration_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sortie.toml");
    std::fs::write(
        &file,
        "listen = \"0.0.0.0:9000\"\n[github]\nwebhook_secret = \"file-secret-value\"\n",
    )
    .unwrap();
    let out = sortie()
        .args(["config", "check", "--config"])
        .arg(&file)
        .env("SORTIE_ADMIN_TOKEN", "admin-secret-value")
        .env(
            "SORTIE_DATABASE_URL",
            "postgres://sortie:db-secret-value@db/sortie",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("listen = \"0.0.0.0:9000\""), "{stdout}");
    assert!(
        stdout.contains("postgres://sortie:***@db/sortie"),
        "{stdout}"
    );
    assert!(stdout.contains("admin_token = \"<redacted>\""), "{stdout}");
    assert!(
        stdout.contains("SORTIE_GITEA_WEBHOOK_SECRET"),
        "says the unset Gitea secret closes its route: {stdout}"
    );
    assert!(!stdout.contains("secret-value"), "{stdout}");
}

#[test]
fn config_check_names_the_forges_and_providers_without_printing_a_token_or_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sortie.toml");
    std::fs::write(
        &file,
        r#"
public_url = "https://ci.example.com"
[github]
token = "ghp_token-secret-value"
runner_scope = "org"
runner_group_id = 7
[gitea]
url = "https://gitea.example.com"
token = "gitea-token-secret-value"
kind = "forgejo"
mode = "push"
[local]
env = { CACHE_KEY = "env-secret-value" }
[ec2]
region = "eu-west-1"
ami_amd64 = "ami-0aaaaaaaaaaaaaaaa"
subnets = ["subnet-a@eu-west-1a", "subnet-b"]
[dispatch]
concurrency = 4
max_per_provider = { ec2 = 20 }
[deadlines.ec2]
register_secs = 240
"#,
    )
    .unwrap();
    let mut cmd = sortie();
    // Variables of these settings (and the seed dispatcher's) from the test's own environment
    // would change what is printed.
    for v in [
        "SORTIE_PUBLIC_URL",
        "SORTIE_OWNER",
        "SORTIE_GITHUB_API_URL",
        "SORTIE_GITHUB_PRIVATE_KEY_FILE",
        "SORTIE_GITHUB_TOKEN",
        "SORTIE_GITEA_URL",
        "SORTIE_GITEA_TOKEN",
        "SORTIE_GITEA_KIND",
        "SORTIE_GITEA_MODE",
        "SORTIE_EC2_AMI",
        "SORTIE_EC2_SUBNETS",
        "SORTIE_EC2_SECURITY_GROUPS",
        "SORTIE_EC2_INSTANCE_PROFILE",
        "SORTIE_EC2_REGION",
        "SORTIE_DEADLINES_LOCAL_BOOT_SECS",
        "SORTIE_DEADLINES_LOCAL_REGISTER_SECS",
        "SORTIE_DEADLINES_LOCAL_JOB_START_SECS",
        "SORTIE_DEADLINES_EC2_BOOT_SECS",
        "SORTIE_DEADLINES_EC2_REGISTER_SECS",
        "SORTIE_DEADLINES_EC2_JOB_START_SECS",
    ]
    .into_iter()
    .chain(sortie_server::config::seed::SEED_VARIABLES)
    {
        cmd.env_remove(v);
    }
    let out = cmd
        .args(["config", "check", "--config"])
        .arg(&file)
        .env("SORTIE_GITHUB_APP_ID", "123456")
        .env(
            "SORTIE_GITHUB_PRIVATE_KEY",
            "-----BEGIN RSA PRIVATE KEY-----\nkey-secret-value\n-----END RSA PRIVATE KEY-----\n",
        )
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "# public_url: https://ci.example.com\n",
        "# forge github: GitHub App 123456 (private key set; a token is set too and not used)\n",
        "#   api https://api.github.com (default), runner scope org (runner group 7)\n",
        "# forge gitea: https://gitea.example.com, token set\n",
        "#   kind forgejo, mode push, runner scope repo\n",
        "env CACHE_KEY (values not shown)\n",
        "# provider ec2: region eu-west-1\n",
        "#   ami amd64 ami-0aaaaaaaaaaaaaaaa, ami arm64 not set\n",
        "#   subnets subnet-a@eu-west-1a, subnet-b, security groups none\n",
        "# dispatch: concurrency 4, max_per_repo 0 (no limit), max_per_provider ec2=20",
        // Built-in defaults, and the file's register_secs for ec2.
        "# deadlines (each from the phase before; launching_timeout 900s bounds launch to job \
         started):\n#   local: boot 60s, register 120s, job_start 900s\n\
         #   ec2: boot 300s, register 240s, job_start 900s\n",
    ] {
        assert!(stdout.contains(line), "{line:?} not in:\n{stdout}");
    }
    assert!(!stdout.contains("secret-value"), "{stdout}");
    assert!(!stdout.contains("BEGIN RSA"), "{stdout}");
    // A key GitHub cannot use does not fail the check: the budget line says why.
    assert!(
        stdout.contains("# github budget: could not tell (forge configuration error:"),
        "{stdout}"
    );
    // The report is comments: the output is still a configuration file.
    toml::from_str::<toml::Table>(&stdout).unwrap();
}

/// `sortie config check` on `file`, without the GitHub variables of the test's own environment.
async fn config_check(file: std::path::PathBuf) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let mut cmd = sortie();
        for v in [
            "SORTIE_GITHUB_API_URL",
            "SORTIE_GITHUB_APP_ID",
            "SORTIE_GITHUB_PRIVATE_KEY",
            "SORTIE_GITHUB_PRIVATE_KEY_FILE",
            "SORTIE_GITHUB_TOKEN",
        ] {
            cmd.env_remove(v);
        }
        let out = cmd
            .args(["config", "check", "--config"])
            .arg(&file)
            .output()
            .unwrap();
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        (out.status.success(), text)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_check_shows_the_github_budget_left_per_credential() {
    use sortie_testkit::forge::keys::{TEST_APP_PRIVATE_KEY, TEST_APP_PUBLIC_KEY};
    let gh = sortie_testkit::forge::FakeGithub::start().await.unwrap();
    gh.register_app("12345", TEST_APP_PUBLIC_KEY);
    gh.add_org("acme", 42);
    gh.set_rate_remaining(42, 4990);
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("app.pem");
    std::fs::write(&key, TEST_APP_PRIVATE_KEY).unwrap();
    let file = dir.path().join("sortie.toml");
    let config = |api: &str| {
        format!(
            "[github]\napi_url = \"{api}\"\napp_id = 12345\nprivate_key_file = \"{}\"\n",
            key.display()
        )
    };
    std::fs::write(&file, config(&gh.url())).unwrap();
    let (ok, out) = config_check(file.clone()).await;
    assert!(ok, "{out}");
    assert!(
        out.contains(
            "# github budget: app 12345 installation 42 (acme): core: 4,990/5,000 left, resets at "
        ),
        "{out}"
    );
    assert!(
        out.contains("#   API calls in flight at most 8 (default), extra Apps none\n"),
        "{out}"
    );
    assert_eq!(gh.calls_to("GET /rate_limit").len(), 1);
    assert!(!out.contains("BEGIN RSA"), "{out}");

    // Nothing listens there: the check still passes and says why it could not tell.
    std::fs::write(&file, config("http://127.0.0.1:1")).unwrap();
    let (ok, out) = config_check(file.clone()).await;
    assert!(ok, "{out}");
    assert!(
        out.contains("# github budget: could not tell (cannot reach GitHub at http://127.0.0.1:1"),
        "{out}"
    );
}

#[test]
fn config_check_refuses_an_invalid_configuration_with_a_clear_message() {
    // (environment, file contents, fragments of the message)
    type Row = (
        &'static [(&'static str, &'static str)],
        &'static str,
        &'static [&'static str],
    );
    let rows: [Row; 3] = [
        (
            &[("SORTIE_LISTEN", "everywhere")],
            "",
            &["listen", "SORTIE_LISTEN", "127.0.0.1:8080"],
        ),
        (&[], "provider = \"gcp\"\n", &["provider", "local, ec2"]),
        (
            &[],
            "[gitea]\nsecret = \"x\"\n",
            &["not valid", "unknown field"],
        ),
    ];
    for (env, text, fragments) in rows {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sortie.toml");
        std::fs::write(&file, text).unwrap();
        let mut cmd = sortie();
        cmd.args(["config", "check", "--config"]).arg(&file);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        for f in fragments {
            assert!(stderr.contains(f), "{f:?} not in {stderr:?}");
        }
    }
    let out = sortie()
        .args(["config", "check", "--config", "/no/such/file.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such/file.toml"));
}

#[test]
fn migrate_creates_the_schema_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("m.db").display());
    for _ in 0..2 {
        let out = sortie()
            .args(["migrate", "--database", &db])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));
    }
    assert!(dir.path().join("m.db").exists());
}

#[test]
fn serve_without_configuration_says_so_in_its_first_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = sortie()
        .arg("serve")
        .current_dir(dir.path())
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let first = std::thread::spawn(move || {
        use std::io::BufRead;
        std::io::BufReader::new(stderr)
            .lines()
            .next()
            .and_then(Result::ok)
            .unwrap_or_default()
    });
    let line = first.join().unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("using the defaults"), "{line}");
    assert!(line.contains("127.0.0.1:8080"), "{line}");
    assert!(line.contains("sqlite://./sortie.db"), "{line}");
}

#[tokio::test]
async fn sigterm_stops_gracefully_after_answering() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("t.db").display());
    let mut server = Server::start(&db);
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    assert_eq!(
        client
            .get(format!("{}/readyz", server.url))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        send(&client, &server.url, "term-1", b"{}").await.unwrap(),
        202
    );
    let status = server.sigterm();
    assert!(status.success(), "graceful exit: {status:?}");
    let logs = server.drain_logs().join("\n");
    assert!(logs.contains("SIGTERM received"), "{logs}");
    assert!(logs.contains("stopped"), "{logs}");
    let store = sortie_store::open(&db).await.unwrap();
    let stored = store.list_recent_deliveries(10).await.unwrap();
    assert_eq!(stored.len(), 1);
}
