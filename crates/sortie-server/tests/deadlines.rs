//! Per-phase deadlines end to end (issue 9): the real server in this process, its settings read
//! from a TOML file with a `[deadlines.local]` table, the fake GitHub of `sortie-testkit` minting
//! the runner credentials, and the local provider running machines that only write their
//! one-time bootstrap token to a file and sleep. The test plays the agent with that token over
//! the real agent API (`POST /api/v1/agent/bootstrap`, `/report`): it boots the machine and
//! reports only what the scenario needs, so a deadline is what ends the machine — never a crash.
//! On SQLite and PostgreSQL.

use sortie_core::agent::{AgentConfig, AgentPhase, AgentReport};
use sortie_core::job::{JobKey, JobState};
use sortie_server::config::{Overrides, Settings};
use sortie_server::fleet::{self, BuildOptions};
use sortie_server::{Options, RunningServer};
use sortie_store::{Instance, InstanceFilter, InstanceState, Job, JobFilter, Store};
use sortie_testkit::eventually;
use sortie_testkit::forge::payloads::github_workflow_job;
use sortie_testkit::forge::webhook::Webhook;
use sortie_testkit::forge::FakeGithub;
use sortie_testkit::postgres::TestDatabase;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

const REPO: &str = "octo-org/hello-world";
const INSTALLATION: u64 = 1;
const SECRET: &str = "deadlines-test-secret";
const PAT: &str = "deadlines-test-pat";
const WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
enum Db {
    Sqlite,
    Postgres,
}

/// One server with its fleet, a fake GitHub and a database.
struct World {
    server: Option<RunningServer>,
    store: Arc<dyn Store>,
    fleet: Arc<sortie_server::fleet::Fleet>,
    owner: String,
    tokens: std::path::PathBuf,
    client: reqwest::Client,
    _fake: FakeGithub,
    _dir: tempfile::TempDir,
    _pg: Option<TestDatabase>,
}

impl World {
    /// Starts a server whose settings file ends with `extra` (the `[dispatch]` and
    /// `[deadlines.local]` of the scenario).
    async fn start(db: Db, name: &str, extra: &str) -> World {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let fake = FakeGithub::start().await.expect("fake GitHub starts");
        fake.add_pat(PAT);
        fake.add_repo(REPO, INSTALLATION);
        let dir = tempfile::tempdir().unwrap();
        let (db_url, pg) = match db {
            Db::Sqlite => (
                format!("sqlite://{}", dir.path().join("sortie.db").display()),
                None,
            ),
            Db::Postgres => {
                let pg = TestDatabase::create().await.expect("PostgreSQL for tests");
                (pg.url().to_string(), Some(pg))
            }
        };
        let owner = format!("deadlines-{name}");
        let d = dir.path().display();
        let tokens = dir.path().join("tokens");
        // A machine that boots only as far as the test lets it: it hands its bootstrap token
        // (given to every local machine as SORTIE_BOOTSTRAP_TOKEN) to the test and sleeps.
        let toml = format!(
            r#"
listen = "127.0.0.1:0"
database_url = "{db_url}"
owner = "{owner}"
provider = "local"

[github]
webhook_secret = "{SECRET}"
token = "{PAT}"
api_url = "{fake}"

[local]
command = ["sh", "-c", "echo \"$SORTIE_BOOTSTRAP_TOKEN\" >> '{tokens}'; exec sleep 300"]
max_concurrent = 16
time_limit_secs = 120
work_root = "{d}/work"
log_dir = "{d}/logs"

{extra}
"#,
            fake = fake.url(),
            tokens = tokens.display(),
        );
        let path = dir.path().join("sortie.toml");
        let settings = Settings::from_layers(Some((&path, &toml)), |_| None, &Overrides::default())
            .expect("test settings are valid");
        let store = sortie_store::open(&settings.database_url)
            .await
            .expect("store opens");
        let fleet = fleet::build(
            &settings,
            store.clone(),
            BuildOptions {
                replica: format!("{owner}/a"),
                default_local_command: vec!["false".into()],
                listen: "127.0.0.1:0".parse().unwrap(),
            },
        )
        .await
        .expect("fleet builds");
        let fleet = Arc::new(fleet);
        // Only the dispatcher acts on launching jobs here: no sweeper, no reconciler.
        let options = Options {
            replica: format!("{owner}/a"),
            fleet: Some(fleet.clone()),
            sweep: false,
            reconcile: false,
            ..Options::default()
        };
        let server = RunningServer::start(&settings, store.clone(), options)
            .await
            .expect("server starts");
        World {
            server: Some(server),
            store,
            fleet,
            owner,
            tokens,
            client: reqwest::Client::new(),
            _fake: fake,
            _dir: dir,
            _pg: pg,
        }
    }

    fn url(&self) -> String {
        self.server.as_ref().unwrap().url()
    }

    /// Sends a signed `workflow_job` `queued` delivery, as GitHub would.
    async fn queue(&self, job_id: u64) {
        let body = github_workflow_job(
            "queued",
            REPO,
            job_id / 10,
            job_id,
            &["self-hosted", "linux"],
            INSTALLATION,
        )
        .expect("fixture");
        let hook = Webhook::github("workflow_job", &format!("d-{job_id}"), SECRET, body);
        let url = format!("{}/webhooks/github", self.url());
        assert_eq!(hook.send(&url).await.expect("server answers").0, 202);
    }

    async fn job(&self, forge_job_id: u64) -> Option<Job> {
        let jobs = self
            .store
            .list_jobs(JobFilter {
                state: None,
                limit: 1000,
            })
            .await
            .unwrap();
        jobs.into_iter().find(
            |j| matches!(&j.key, JobKey::WorkflowJob { job_id, .. } if *job_id == forge_job_id),
        )
    }

    async fn instances(&self, job: &Job) -> Vec<Instance> {
        self.store
            .list_instances(InstanceFilter {
                state: None,
                job: Some(job.id),
            })
            .await
            .unwrap()
    }

    /// Every reason in the job's history, oldest first.
    async fn reasons(&self, job: &Job) -> Vec<String> {
        let history = self.store.job_history(job.id).await.unwrap();
        history.into_iter().map(|h| h.reason).collect()
    }

    /// Boots the `n`th machine launched (1-based): waits for its bootstrap token and redeems it
    /// as `sortie agent` does first thing. Returns the agent's config (its session token).
    async fn boot(&self, n: usize) -> AgentConfig {
        let token = eventually(&format!("machine {n} writes its token"), WAIT, || async {
            let text = std::fs::read_to_string(&self.tokens).unwrap_or_default();
            text.lines().nth(n - 1).map(str::to_string)
        })
        .await;
        let resp = self
            .client
            .post(format!("{}/api/v1/agent/bootstrap", self.url()))
            .bearer_auth(token.trim())
            .send()
            .await
            .unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(
            status.is_success(),
            "bootstrap of machine {n}: {status} {text}"
        );
        serde_json::from_str(&text).expect("an agent config")
    }

    /// Reports `phase` for the machine holding `config`.
    async fn report(&self, config: &AgentConfig, phase: AgentPhase) {
        let report = AgentReport {
            phase,
            exit_code: None,
            elapsed_ms: 0,
            message: None,
        };
        let resp = self
            .client
            .post(format!("{}/api/v1/agent/report", self.url()))
            .bearer_auth(&config.session_token)
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&report).unwrap())
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "{:?}", resp.text().await);
    }

    /// Waits until no local machine of this test runs any more.
    async fn all_machines_ended(&self) {
        let local = self
            .fleet
            .provider("local")
            .expect("local provider")
            .clone();
        eventually("every machine ended", WAIT, || async {
            let live = local
                .list_managed(&self.owner)
                .await
                .unwrap()
                .into_iter()
                .filter(|i| i.state.is_live())
                .count();
            (live == 0).then_some(())
        })
        .await;
    }

    async fn stop(mut self) {
        let server = self.server.take().unwrap();
        assert!(!server.is_finished(), "the server died during the test");
        server.stop().await.expect("graceful stop");
    }
}

/// A machine boots (redeems its token) but its runner never registers: it is ended once the
/// register deadline passes — long before the boot deadline or `launching_timeout` could — and
/// relaunched for the same job; the replacement does the same, and at `max_attempts` the job
/// fails with a reason naming the phase and the setting.
async fn a_booted_machine_that_never_registers(db: Db, name: &str) {
    let w = World::start(
        db,
        name,
        "[dispatch]\npoll_ms = 50\nclaim_ttl_secs = 1\nmax_attempts = 2\n\
         [deadlines.local]\nboot_secs = 60\nregister_secs = 1\njob_start_secs = 60\n",
    )
    .await;
    w.queue(9_100_001).await;
    w.boot(1).await;
    let second = eventually("a second attempt", WAIT, || async {
        w.job(9_100_001).await.filter(|j| j.attempt == 2)
    })
    .await;
    let first = w.instances(&second).await;
    let first = first
        .iter()
        .find(|i| i.attempt == 1)
        .expect("attempt 1's machine");
    assert_eq!(first.state, InstanceState::Terminated, "{first:?}");
    let relaunch = format!(
        "machine {} did not register its runner within 1s of booting (deadline \
         deadlines.local.register_secs); relaunching (attempt 2)",
        first.provider_id
    );
    let reasons = w.reasons(&second).await;
    assert!(reasons.contains(&relaunch), "{reasons:#?}");

    w.boot(2).await;
    let failed = eventually("the job gives up", WAIT, || async {
        w.job(9_100_001)
            .await
            .filter(|j| j.state == JobState::Failed)
    })
    .await;
    assert_eq!(failed.attempt, 2, "one replacement, then no more");
    let instances = w.instances(&failed).await;
    assert_eq!(instances.len(), 2, "{instances:?}");
    assert!(
        instances
            .iter()
            .all(|i| i.state == InstanceState::Terminated),
        "{instances:?}"
    );
    let ids: BTreeSet<&str> = instances.iter().map(|i| i.provider_id.as_str()).collect();
    assert_eq!(ids.len(), 2, "two distinct machines: {ids:?}");
    let last = w.reasons(&failed).await.pop().unwrap_or_default();
    let second_machine = instances.iter().find(|i| i.attempt == 2).unwrap();
    assert_eq!(
        last,
        format!(
            "machine {} did not register its runner within 1s of booting (deadline \
             deadlines.local.register_secs); gave up after 2 attempts",
            second_machine.provider_id
        )
    );
    w.all_machines_ended().await;
    w.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booted_machine_that_never_registers_is_replaced_then_the_job_fails_on_sqlite() {
    a_booted_machine_that_never_registers(Db::Sqlite, "register-sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_booted_machine_that_never_registers_is_replaced_then_the_job_fails_on_postgres() {
    a_booted_machine_that_never_registers(Db::Postgres, "register-postgres").await;
}

/// A machine that registers in time is held to the next phase's deadline instead: it outlives
/// the (shorter) register deadline and is ended when its runner takes no job within
/// `job_start_secs` of registering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registered_runner_that_takes_no_job_is_ended_at_the_job_start_deadline() {
    let w = World::start(
        Db::Sqlite,
        "job-start",
        "[dispatch]\npoll_ms = 50\nclaim_ttl_secs = 1\nmax_attempts = 1\n\
         [deadlines.local]\nboot_secs = 60\nregister_secs = 1\njob_start_secs = 3\n",
    )
    .await;
    w.queue(9_200_001).await;
    let agent = w.boot(1).await;
    w.report(&agent, AgentPhase::Registered).await;
    let failed = eventually("the job gives up", WAIT, || async {
        w.job(9_200_001)
            .await
            .filter(|j| j.state == JobState::Failed)
    })
    .await;
    let machine = w.instances(&failed).await.pop().expect("its machine");
    assert_eq!(machine.state, InstanceState::Terminated);
    let reasons = w.reasons(&failed).await;
    assert_eq!(
        reasons.last().unwrap(),
        &format!(
            "machine {} registered its runner, which took no job within 3s of registering \
             (deadline deadlines.local.job_start_secs); gave up after 1 attempt",
            machine.provider_id
        ),
        "{reasons:#?}"
    );
    assert!(
        !reasons.iter().any(|r| r.contains("did not register")),
        "{reasons:#?}"
    );
    w.all_machines_ended().await;
    w.stop().await;
}
