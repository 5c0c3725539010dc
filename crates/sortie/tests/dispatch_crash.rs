//! Exactly one machine per job across a crash: the real `sortie serve` dies (abort, like a
//! SIGKILL: no destructor, no graceful anything) right after the EC2 launch returned and before
//! the instance was recorded (`SORTIE_FAILPOINT=dispatch-after-launch`). Restarted on the same
//! database, it resumes the launch with the same job attempt; the ec2 provider finds the machine
//! by its `sortie:job` / `sortie:attempt` tags and adopts it (moto ignores `ClientToken`, so the
//! tags are what saves us here). Moto is asked at the end: one machine.

mod serve_common;

use aws_sdk_ec2::types::Filter;
use serve_common::*;
use sortie_core::job::JobState;
use sortie_store::{InstanceFilter, JobFilter};
use sortie_testkit::eventually;
use sortie_testkit::forge::payloads::github_workflow_job;
use sortie_testkit::forge::webhook::Webhook;
use sortie_testkit::forge::FakeGithub;
use sortie_testkit::moto::{Ec2Network, MotoServer};
use std::process::Command;
use std::time::Duration;

const REPO: &str = "octo-org/crash";
const PAT: &str = "crash-test-pat";

fn serve(config: &std::path::Path, moto: &MotoServer, failpoint: bool) -> Command {
    let mut cmd = sortie();
    cmd.args(["serve", "--config"]).arg(config);
    cmd.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL", moto.endpoint());
    if failpoint {
        cmd.env("SORTIE_FAILPOINT", "dispatch-after-launch");
    }
    cmd
}

async fn machines(ec2: &aws_sdk_ec2::Client, owner: &str) -> Vec<String> {
    let out = ec2
        .describe_instances()
        .filters(
            Filter::builder()
                .name("tag:sortie:owner")
                .values(owner)
                .build(),
        )
        .send()
        .await
        .unwrap();
    out.reservations()
        .iter()
        .flat_map(|r| r.instances())
        .filter_map(|i| i.instance_id().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_between_launch_and_record_still_makes_one_machine() {
    let moto = MotoServer::shared();
    let ec2 = aws_sdk_ec2::Client::new(&moto.sdk_config().await);
    let net = Ec2Network::create(&ec2, "dispatch-crash").await;
    let fake = FakeGithub::start().await.unwrap();
    fake.add_pat(PAT);
    fake.add_repo(REPO, 1);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("sortie.db").display());
    let owner = "dispatch-crash";
    let config = dir.path().join("sortie.toml");
    std::fs::write(
        &config,
        format!(
            r#"
listen = "127.0.0.1:0"
database_url = "{db}"
owner = "{owner}"
provider = "ec2"
public_url = "https://sortie.example.com"

[github]
webhook_secret = "{SECRET}"
token = "{PAT}"
api_url = "{fake}"

[dispatch]
poll_ms = 50
claim_ttl_secs = 1
launch_call_timeout_secs = 2

[ec2]
region = "us-east-1"
endpoint_url = "{endpoint}"
ami_amd64 = "{ami}"
subnets = ["{subnet}@us-east-1a"]
security_group_ids = ["{sg}"]
"#,
            fake = fake.url(),
            endpoint = moto.endpoint(),
            ami = net.ami,
            subnet = net.subnet,
            sg = net.security_group,
        ),
    )
    .unwrap();

    let mut first = Server::spawn(serve(&config, moto, true));
    let body = github_workflow_job("queued", REPO, 77, 770, &["self-hosted", "linux"], 1).unwrap();
    let (status, _) = Webhook::github("workflow_job", "crash-1", SECRET, body)
        .send(&format!("{}/webhooks/github", first.url))
        .await
        .unwrap();
    assert_eq!(status, 202);
    let exit = eventually(
        "the server dies at the failpoint",
        Duration::from_secs(30),
        || {
            let status = first.child.try_wait().unwrap();
            async move { status }
        },
    )
    .await;
    assert!(!exit.success(), "aborted: {exit:?}");
    let launched = machines(&ec2, owner).await;
    assert_eq!(launched.len(), 1, "the launch happened before the crash");
    let store = sortie_store::open(&db).await.unwrap();
    let jobs = store
        .list_jobs(JobFilter {
            state: None,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].state, JobState::Launching);
    let job = jobs[0].id;
    let recorded = |store: std::sync::Arc<dyn sortie_store::Store>, job| async move {
        store
            .list_instances(InstanceFilter {
                state: None,
                job: Some(job),
            })
            .await
            .unwrap()
    };
    assert!(
        recorded(store.clone(), job).await.is_empty(),
        "the crash came before the instance was recorded"
    );

    // Restart without the failpoint: the launch resumes once the claim lapses.
    let second = Server::spawn(serve(&config, moto, false));
    let instances = eventually(
        "the restarted server records the machine",
        Duration::from_secs(60),
        || {
            let store = store.clone();
            async move {
                let found = recorded(store, job).await;
                (!found.is_empty()).then_some(found)
            }
        },
    )
    .await;
    assert_eq!(instances.len(), 1);
    assert_eq!(
        instances[0].provider_id, launched[0],
        "the same machine, adopted"
    );
    assert_eq!(
        machines(&ec2, owner).await,
        launched,
        "still exactly one machine"
    );
    let history = store.job_history(job).await.unwrap();
    assert!(
        history.iter().any(|h| h.reason.contains("adopted")),
        "{history:#?}"
    );
    drop(second);
}
