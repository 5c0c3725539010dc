//! Driving the real `sortie serve` binary: start it on a free port (read from its log), send
//! signed deliveries, stop it with SIGTERM or SIGKILL. Polling with deadlines, no bare sleeps.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub const SECRET: &str = "crash test secret";

/// Every variable sortie reads (SORTIE_* and the seed dispatcher's), removed so the test's
/// environment does not leak in.
pub const SORTIE_VARS: [&str; 33] = [
    "SORTIE_CONFIG",
    "SORTIE_LISTEN",
    "SORTIE_DATABASE_URL",
    "SORTIE_GITHUB_WEBHOOK_SECRET",
    "SORTIE_GITEA_WEBHOOK_SECRET",
    "SORTIE_ADMIN_TOKEN",
    "SORTIE_PROVIDER",
    "SORTIE_MAX_BODY_BYTES",
    "SORTIE_PUBLIC_URL",
    "SORTIE_OWNER",
    "SORTIE_GITHUB_API_URL",
    "SORTIE_GITHUB_APP_ID",
    "SORTIE_GITHUB_PRIVATE_KEY",
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
    "SORTIE_FAILPOINT",
    "GITEA_URL",
    "GITEA_TOKEN",
    "RUNNER_TOKEN",
    "RUNNER_AMI",
    "SUBNET",
    "SECURITY_GROUP",
    "DDB_TABLE",
    "INSTANCE_PROFILE",
];

/// `sortie` with a clean environment.
pub fn sortie() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_sortie"));
    for v in SORTIE_VARS {
        cmd.env_remove(v);
    }
    cmd.env("RUST_LOG", "info");
    cmd
}

/// A running `sortie serve`; killed when dropped.
pub struct Server {
    pub child: Child,
    pub url: String,
    /// Log lines after the "listening on" line.
    pub logs: mpsc::Receiver<String>,
    /// Log lines up to and including the "listening on" line.
    pub startup: Vec<String>,
}

impl Server {
    /// Starts `sortie serve --listen 127.0.0.1:0 --database DB` with the GitHub secret set and
    /// waits (10 s at most) for the address it listens on.
    pub fn start(db: &str) -> Server {
        let mut cmd = sortie();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--database", db]);
        cmd.env("SORTIE_GITHUB_WEBHOOK_SECRET", SECRET);
        Server::spawn(cmd)
    }

    /// Spawns `cmd` (a `sortie serve`) and waits for its "listening on" line.
    pub fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("sortie starts");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut startup = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let Ok(line) = rx.recv_timeout(left) else {
                let _ = child.kill();
                let _ = child.wait();
                panic!("no 'listening on' line within 10 s; got {startup:#?}");
            };
            startup.push(line.clone());
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap().to_string();
                return Server {
                    child,
                    url: format!("http://{addr}"),
                    logs: rx,
                    startup,
                };
            }
        }
    }

    /// SIGKILL: no graceful anything.
    pub fn sigkill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then wait (10 s at most) for the exit status.
    pub fn sigterm(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill -TERM {pid} failed");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "sortie did not exit within 10 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The log lines written so far after startup.
    pub fn drain_logs(&self) -> Vec<String> {
        self.logs.try_iter().collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.sigkill();
    }
}

/// `sha256=<hex>` of `body` under [`SECRET`], as GitHub signs.
pub fn github_signature(body: &[u8]) -> String {
    format!(
        "sha256={}",
        sortie_testkit::forge::webhook::hmac_sha256_hex(SECRET, body)
    )
}

/// Sends one signed GitHub `ping` delivery; the HTTP status.
pub async fn send(
    client: &reqwest::Client,
    base: &str,
    id: &str,
    body: &[u8],
) -> Result<u16, reqwest::Error> {
    client
        .post(format!("{base}/webhooks/github"))
        .header("x-github-delivery", id)
        .header("x-github-event", "ping")
        .header("x-hub-signature-256", github_signature(body))
        .body(body.to_vec())
        .send()
        .await
        .map(|r| r.status().as_u16())
}
