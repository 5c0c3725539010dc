//! The world of the dispatch and steal tests: a fake GitHub, a database (SQLite or PostgreSQL),
//! moto's EC2 when asked, and one or more in-process `sortie serve` replicas built from real
//! settings. Shared by `dispatch.rs` and `steals.rs`; each uses part of it.
#![allow(dead_code)]

pub use aws_sdk_ec2::types::Filter;
pub use sortie_core::job::{JobKey, JobState};
pub use sortie_provider::ec2::{Ec2Config, Ec2Provider, SubnetConfig};
pub use sortie_server::config::{Overrides, Settings};
pub use sortie_server::fleet::{self, BuildOptions, Fleet};
pub use sortie_store::{InstanceFilter, InstanceState, Job, JobFilter, Store};
pub use sortie_testkit::eventually;
pub use sortie_testkit::forge::payloads::github_workflow_job;
pub use sortie_testkit::forge::webhook::Webhook;
pub use sortie_testkit::forge::FakeGithub;
pub use sortie_testkit::moto::{Ec2Network, MotoServer};
pub use sortie_testkit::postgres::TestDatabase;
pub use std::collections::BTreeMap;
pub use std::sync::Arc;
pub use std::time::Duration;
pub use tokio::sync::oneshot;
pub use tokio::task::JoinHandle;

pub const REPO: &str = "octo-org/hello-world";
pub const INSTALLATION: u64 = 1;
pub const SECRET: &str = "dispatch-test-secret";
pub const PAT: &str = "dispatch-test-pat";
pub const ADMIN: &str = "dispatch-test-admin-token";
/// AWS's documented spot interruption warning (fixtures/README.md), instance id replaced.
pub const SPOT_WARNING: &str =
    include_str!("../../../../fixtures/aws/spot-interruption-warning.json");

#[derive(Debug, Clone, Copy)]
pub enum Db {
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Machines {
    /// The local provider running `sortie agent` with the fake runner.
    Local,
    /// The ec2 provider on moto; nothing boots.
    Ec2,
    /// The local provider running `sleep`: a machine that never boots, for counting at scale
    /// (moto makes one machine at a time, ~0.3 s each).
    Idle,
}

/// One `sortie serve` in this process.
pub struct Replica {
    pub url: String,
    pub fleet: Arc<Fleet>,
    pub stop: Option<oneshot::Sender<()>>,
    pub task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Replica {
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(20), task).await;
        }
    }
}

/// A fake GitHub, a database, moto's EC2 (when asked) and one or more replicas.
pub struct World {
    pub fake: FakeGithub,
    pub store: Arc<dyn Store>,
    pub settings: Settings,
    pub replicas: Vec<Replica>,
    pub owner: String,
    ec2: Option<(aws_sdk_ec2::Client, aws_config::SdkConfig, Ec2Network)>,
    pub _dir: tempfile::TempDir,
    pub _pg: Option<TestDatabase>,
}

pub fn settings_toml(
    db_url: &str,
    owner: &str,
    machines: Machines,
    fake: &str,
    dir: &str,
    dispatch_extra: &str,
) -> String {
    let provider = match machines {
        Machines::Local | Machines::Idle => "local",
        Machines::Ec2 => "ec2",
    };
    let command = match machines {
        Machines::Idle => r#"command = ["sleep", "300"]"#,
        _ => "",
    };
    format!(
        r#"
listen = "127.0.0.1:0"
admin_token = "{ADMIN}"
database_url = "{db_url}"
owner = "{owner}"
provider = "{provider}"

[github]
webhook_secret = "{SECRET}"
token = "{PAT}"
api_url = "{fake}"

[dispatch]
concurrency = 16
poll_ms = 50
heartbeat_interval_secs = 1
sweep_interval_secs = 1
{dispatch_extra}

[local]
{command}
max_concurrent = 1000
time_limit_secs = 120
work_root = "{dir}/work"
log_dir = "{dir}/logs"
env = {{ SORTIE_AGENT_RUNNER = "fake" }}
"#
    )
}

impl World {
    /// `sortie_job_steals_total` as replica 0 counts it.
    pub fn steals(&self) -> f64 {
        self.replicas[0]
            .fleet
            .metrics
            .render()
            .lines()
            .find(|l| l.starts_with("sortie_job_steals"))
            .and_then(|l| l.split_whitespace().last()?.parse::<f64>().ok())
            .unwrap_or(0.0)
    }

    pub async fn start(db: Db, machines: Machines, name: &str) -> World {
        World::start_with(db, machines, name, "").await
    }

    /// [`World::start`] with more `[dispatch]` settings.
    pub async fn start_with(db: Db, machines: Machines, name: &str, dispatch_extra: &str) -> World {
        // RUST_LOG=info shows the server's logs with the test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let fake = FakeGithub::start().await.expect("fake GitHub starts");
        fake.add_pat(PAT);
        fake.add_repo(REPO, INSTALLATION);
        fake.set_job_duration(Duration::from_millis(300));
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
        let owner = format!("dispatch-{name}");
        let toml = settings_toml(
            &db_url,
            &owner,
            machines,
            &fake.url(),
            &dir.path().display().to_string(),
            dispatch_extra,
        );
        let path = dir.path().join("sortie.toml");
        let settings = Settings::from_layers(Some((&path, &toml)), |_| None, &Overrides::default())
            .expect("test settings are valid");
        let store = sortie_store::open(&settings.database_url)
            .await
            .expect("store opens");
        let ec2 = match machines {
            Machines::Local | Machines::Idle => None,
            Machines::Ec2 => {
                // One request at a time: moto is not safe under concurrent EC2 calls.
                let sdk = MotoServer::shared().serial_sdk_config().await;
                let client = aws_sdk_ec2::Client::new(&sdk);
                let net = Ec2Network::create(&client, &owner).await;
                Some((client, sdk, net))
            }
        };
        let mut world = World {
            fake,
            store,
            settings,
            replicas: Vec::new(),
            owner,
            ec2,
            _dir: dir,
            _pg: pg,
        };
        world.add_replica("a").await;
        world
    }

    /// Starts one more replica on the same database.
    pub async fn add_replica(&mut self, name: &str) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let replica = format!("{}/{name}", self.owner);
        let mut fleet = fleet::build(
            &self.settings,
            self.store.clone(),
            BuildOptions {
                replica: replica.clone(),
                default_local_command: vec![
                    env!("CARGO_BIN_EXE_sortie").into(),
                    "agent".into(),
                    "--no-poweroff".into(),
                    "--url".into(),
                    "{url}".into(),
                ],
                listen: addr,
            },
        )
        .await
        .expect("fleet builds");
        if let Some((_, sdk, net)) = &self.ec2 {
            let mut cfg = Ec2Config::new(self.owner.clone(), net.ami.clone());
            cfg.subnets = vec![SubnetConfig {
                id: net.subnet.clone(),
                availability_zone: "us-east-1a".into(),
                public: false,
            }];
            cfg.security_group_ids = vec![net.security_group.clone()];
            fleet
                .providers
                .insert("ec2".into(), Arc::new(Ec2Provider::new(sdk, cfg)));
        }
        let fleet = Arc::new(fleet);
        let mut options = sortie_server::Options {
            replica,
            fleet: Some(fleet.clone()),
            ..Default::default()
        };
        options.planner.sweep_interval = Duration::from_millis(500);
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (settings, store) = (self.settings.clone(), self.store.clone());
        let task = tokio::spawn(async move {
            sortie_server::run(&settings, store, listener, options, async move {
                let _ = stop_rx.await;
            })
            .await
        });
        let url = format!("http://{addr}");
        if self.replicas.is_empty() {
            self.fake
                .set_webhook(&format!("{url}/webhooks/github"), SECRET);
        }
        self.replicas.push(Replica {
            url,
            fleet,
            stop: Some(stop_tx),
            task: Some(task),
        });
    }

    pub async fn stop(mut self) {
        for r in &mut self.replicas {
            r.stop().await;
        }
    }

    pub async fn jobs(&self) -> Vec<Job> {
        self.store
            .list_jobs(JobFilter {
                state: None,
                limit: 10_000,
            })
            .await
            .unwrap()
    }

    pub async fn job_for(&self, forge_job_id: u64) -> Option<Job> {
        self.jobs().await.into_iter().find(
            |j| matches!(&j.key, JobKey::WorkflowJob { job_id, .. } if *job_id == forge_job_id),
        )
    }

    /// The newest reason in the job's history.
    pub async fn reason(&self, job: &Job) -> String {
        let history = self.store.job_history(job.id).await.unwrap();
        history.last().map(|h| h.reason.clone()).unwrap_or_default()
    }

    pub async fn instances_of(&self, job: &Job) -> Vec<sortie_store::Instance> {
        self.store
            .list_instances(InstanceFilter {
                state: None,
                job: Some(job.id),
            })
            .await
            .unwrap()
    }

    /// Distinct instances recorded in the store, whatever their state (an instance may move
    /// from one state's list to the next between two calls: counted once).
    pub async fn recorded_instances(&self) -> usize {
        let mut ids = std::collections::BTreeSet::new();
        for state in [
            InstanceState::Pending,
            InstanceState::Running,
            InstanceState::Stopping,
            InstanceState::Stopped,
            InstanceState::Terminated,
        ] {
            let listed = self
                .store
                .list_instances(InstanceFilter {
                    state: Some(state),
                    job: None,
                })
                .await
                .unwrap();
            ids.extend(listed.into_iter().map(|i| i.provider_id));
        }
        ids.len()
    }

    /// Every machine made for this test (terminated ones included), counted by `sortie:job`:
    /// moto's, or every replica's local provider's.
    pub async fn machines_by_job(&self) -> BTreeMap<String, usize> {
        let mut by_job = BTreeMap::new();
        let mut count = |tags: Vec<(Option<&str>, Option<&str>)>| {
            let job = tags
                .iter()
                .find(|(k, _)| *k == Some("sortie:job"))
                .and_then(|(_, v)| *v)
                .unwrap_or("(untagged)")
                .to_string();
            *by_job.entry(job).or_insert(0) += 1;
        };
        let Some((ec2, _, _)) = self.ec2.as_ref() else {
            for r in &self.replicas {
                let local = r.fleet.provider("local").expect("local provider");
                for i in local.list_managed(&self.owner).await.unwrap() {
                    count(
                        i.tags
                            .iter()
                            .map(|(k, v)| (Some(k.as_str()), Some(v.as_str())))
                            .collect(),
                    );
                }
            }
            return by_job;
        };
        let mut pages = ec2
            .describe_instances()
            .filters(
                Filter::builder()
                    .name("tag:sortie:owner")
                    .values(&self.owner)
                    .build(),
            )
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for i in page
                .unwrap()
                .reservations()
                .iter()
                .flat_map(|r| r.instances())
            {
                count(i.tags().iter().map(|t| (t.key(), t.value())).collect());
            }
        }
        by_job
    }

    /// Ends every local machine of this test.
    pub async fn end_local_machines(&self) {
        for r in &self.replicas {
            let local = r.fleet.provider("local").expect("local provider");
            for i in local.list_managed(&self.owner).await.unwrap() {
                let _ = local.terminate(&i.id).await;
            }
        }
    }

    /// Sends a signed `workflow_job` delivery to replica `r`, as GitHub would; the status.
    pub async fn deliver(
        &self,
        r: usize,
        delivery: &str,
        action: &str,
        job_id: u64,
        labels: &[&str],
    ) -> u16 {
        let body = github_workflow_job(action, REPO, job_id / 10, job_id, labels, INSTALLATION)
            .expect("fixture");
        let hook = Webhook::github("workflow_job", delivery, SECRET, body);
        let url = format!("{}/webhooks/github", self.replicas[r].url);
        hook.send(&url).await.expect("server answers").0
    }
}
