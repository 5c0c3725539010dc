//! Acceptance tests of the ec2 provider through the real AWS SDK against moto on loopback.
//!
//! moto cannot refuse spot capacity or throttle, so those answers are injected at the SDK's HTTP
//! client (sortie_testkit::moto::FaultInjector) as recorded AWS responses; everything else is moto.
//! One moto server serves the whole binary; each test uses its own owner id and VPC.

mod faults;
mod launch;

use aws_sdk_ec2::types::{
    Filter, HttpTokensState, InstanceAttributeName, InstanceLifecycleType, VolumeType,
};
use aws_sdk_ec2::Client;
use sortie_core::catalog::Catalog;
use sortie_core::forge::Flavor;
use sortie_core::job::JobKey;
use sortie_core::spec::RunnerSpec;
use sortie_provider::ec2::circuit::{CircuitConfig, CircuitState, ManualClock};
use sortie_provider::ec2::retry::Backoff;
use sortie_provider::ec2::{catalog, Ec2Config, Ec2Provider, SubnetConfig};
use sortie_provider::provider::{job_tag_value, TAG_JOB};
use sortie_provider::*;
use sortie_testkit::moto::{FaultInjector, MotoServer};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub struct Env {
    pub provider: Ec2Provider,
    pub client: Client,
    pub faults: FaultInjector,
    /// Private subnets in us-east-1a and us-east-1b, then a public one in us-east-1a.
    pub subnets: Vec<String>,
    pub owner: String,
}

pub async fn env(name: &str, tweak: impl FnOnce(&mut Ec2Config)) -> Env {
    let moto = MotoServer::shared();
    let faults = FaultInjector::new();
    let sdk = moto.sdk_config_with_faults(&faults).await;
    let client = Client::new(&sdk);
    let vpc = client
        .create_vpc()
        .cidr_block("10.0.0.0/16")
        .send()
        .await
        .unwrap();
    let vpc_id = vpc.vpc().and_then(|v| v.vpc_id()).unwrap().to_string();
    let mut subnets = Vec::new();
    for (i, az) in ["us-east-1a", "us-east-1b", "us-east-1a"]
        .iter()
        .enumerate()
    {
        let s = client
            .create_subnet()
            .vpc_id(&vpc_id)
            .cidr_block(format!("10.0.{i}.0/24"))
            .availability_zone(*az)
            .send()
            .await
            .unwrap();
        subnets.push(s.subnet().and_then(|s| s.subnet_id()).unwrap().to_string());
    }
    let sg = client
        .create_security_group()
        .group_name(format!("sortie-{name}"))
        .description("runners")
        .vpc_id(&vpc_id)
        .send()
        .await
        .unwrap();
    let ami = client
        .describe_images()
        .filters(
            Filter::builder()
                .name("architecture")
                .values("x86_64")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let ami = ami
        .images()
        .first()
        .and_then(|i| i.image_id())
        .unwrap()
        .to_string();
    let owner = format!("test-{name}-{}", std::process::id());
    let mut cfg = Ec2Config::new(&owner, ami);
    cfg.subnets = vec![
        SubnetConfig {
            id: subnets[0].clone(),
            availability_zone: "us-east-1a".into(),
            public: false,
        },
        SubnetConfig {
            id: subnets[1].clone(),
            availability_zone: "us-east-1b".into(),
            public: false,
        },
        SubnetConfig {
            id: subnets[2].clone(),
            availability_zone: "us-east-1a".into(),
            public: true,
        },
    ];
    cfg.security_group_ids = vec![sg.group_id().unwrap().to_string()];
    cfg.backoff = Backoff {
        base: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_attempts: 4,
    };
    tweak(&mut cfg);
    Env {
        provider: Ec2Provider::new(&sdk, cfg),
        client,
        faults,
        subnets,
        owner,
    }
}

pub fn request(job_id: u64, types: &[&str], spot: bool) -> LaunchRequest {
    LaunchRequest {
        job: JobKey::WorkflowJob {
            forge: Flavor::Github,
            repo: "octo/app".into(),
            run_id: 77,
            run_attempt: 1,
            job_id,
        },
        attempt: 1,
        spec: RunnerSpec {
            instance_types: types.iter().map(|s| s.to_string()).collect(),
            spot,
            disk_gb: Some(44),
            ..RunnerSpec::default()
        },
        bootstrap: Bootstrap {
            orchestrator_url: "https://ci.example.com".into(),
            credential: OneTimeSecret::new(format!("sbt_job{job_id}")),
            ssm_parameter: None,
        },
        tags: BTreeMap::new(),
    }
}

pub async fn instance(client: &Client, id: &InstanceId) -> aws_sdk_ec2::types::Instance {
    let out = client
        .describe_instances()
        .instance_ids(&id.0)
        .send()
        .await
        .unwrap();
    out.reservations()[0].instances()[0].clone()
}

pub fn tags_of(i: &aws_sdk_ec2::types::Instance) -> BTreeMap<String, String> {
    i.tags()
        .iter()
        .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
        .collect()
}
