//! The `ec2` provider: spot first through `CreateFleet` (type `instant`, several instance types,
//! `price-capacity-optimized`) or `RunInstances` (one fixed type, the seed's path), falling back
//! to on-demand; one machine per job guarded by its own tags; a circuit breaker per
//! (instance type, availability zone); bounded backoff on throttling.

pub mod catalog;
pub mod circuit;
pub mod config;
mod launch;
pub mod plan;
pub mod request;
pub mod retry;

use crate::error::{ProviderError, Result};
use crate::provider::{
    InstanceId, InstanceInfo, InstanceState, LaunchRequest, Launched, Lifecycle, Provider,
    TAG_ATTEMPT, TAG_JOB, TAG_OWNER,
};
use aws_sdk_ec2::types::{Filter, Instance, InstanceLifecycleType};
use aws_sdk_ec2::Client;
use circuit::{CircuitBreaker, CircuitKey, CircuitState, Clock, SystemClock};
pub use config::{Ec2Config, LaunchTemplateRef, SubnetConfig};
use retry::with_backoff;
use sortie_core::catalog::Catalog;
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// The EC2 provider.
#[derive(Debug)]
pub struct Ec2Provider {
    client: Client,
    cfg: Ec2Config,
    catalog: RwLock<Catalog>,
    breaker: Mutex<CircuitBreaker>,
    clock: Arc<dyn Clock>,
}

impl Ec2Provider {
    /// A provider using `sdk` (region, credentials, endpoint). The SDK's own retries are turned
    /// off: throttling is retried here, boundedly, so one policy decides how long a launch waits.
    pub fn new(sdk: &aws_config::SdkConfig, cfg: Ec2Config) -> Self {
        let conf = aws_sdk_ec2::config::Builder::from(sdk)
            .retry_config(aws_sdk_ec2::config::retry::RetryConfig::disabled())
            .build();
        Ec2Provider {
            client: Client::from_conf(conf),
            breaker: Mutex::new(CircuitBreaker::new(cfg.circuit)),
            cfg,
            catalog: RwLock::new(Catalog::builtin()),
            clock: Arc::new(SystemClock),
        }
    }

    /// Replaces the clock (tests drive the circuit breaker with a [`circuit::ManualClock`]).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Replaces the catalogue used to rank instance types (e.g. after [`catalog::refresh`]).
    pub fn set_catalog(&self, catalog: Catalog) {
        *self.catalog.write().unwrap_or_else(|p| p.into_inner()) = catalog;
    }

    /// The SDK client (for the catalogue refresh and tests).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The configuration.
    pub fn config(&self) -> &Ec2Config {
        &self.cfg
    }

    /// Circuits that are open or half-open now.
    pub fn circuits(&self) -> Vec<(CircuitKey, CircuitState)> {
        self.breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .not_closed(self.clock.now())
    }

    fn record_failure(&self, key: &CircuitKey) {
        self.breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record_failure(key, self.clock.now());
    }

    fn record_success(&self, key: &CircuitKey) {
        self.breaker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .record_success(key, self.clock.now());
    }

    /// Instances matching `filters` (all pages).
    async fn describe_filtered(
        &self,
        filters: Vec<Filter>,
        ids: Vec<String>,
    ) -> Result<Vec<Instance>> {
        let mut out = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let call = self
                .client
                .describe_instances()
                .set_filters((!filters.is_empty()).then(|| filters.clone()))
                .set_instance_ids((!ids.is_empty()).then(|| ids.clone()))
                .set_next_token(next.clone());
            let page = with_backoff(&self.cfg.backoff, "DescribeInstances", || {
                call.clone().send()
            })
            .await?;
            out.extend(
                page.reservations()
                    .iter()
                    .flat_map(|r| r.instances().iter().cloned()),
            );
            next = page
                .next_token()
                .filter(|t| !t.is_empty())
                .map(str::to_string);
            if next.is_none() {
                return Ok(out);
            }
        }
    }

    /// The live machine already made for this job and attempt by this owner, if any. moto ignores
    /// `ClientToken` (shared/ENVIRONMENT.md) and a replica may have crashed after launching: this
    /// tag lookup is what keeps "one machine per job".
    async fn find_existing(&self, req: &LaunchRequest) -> Result<Option<Launched>> {
        let filters = vec![
            tag_filter(TAG_JOB, &crate::provider::job_tag_value(&req.job)),
            tag_filter(TAG_ATTEMPT, &req.attempt.to_string()),
            tag_filter(TAG_OWNER, &self.cfg.owner),
            Filter::builder()
                .name("instance-state-name")
                .values("pending")
                .values("running")
                .build(),
        ];
        let found = self.describe_filtered(filters, Vec::new()).await?;
        Ok(found.first().map(|i| {
            let info = instance_info(i);
            Launched {
                notes: vec![format!(
                    "adopted {} already launched for this job and attempt",
                    info.id
                )],
                instance_id: info.id,
                instance_type: info.instance_type,
                availability_zone: info.availability_zone,
                lifecycle: info.lifecycle,
                adopted: true,
                skipped: Vec::new(),
            }
        }))
    }
}

fn tag_filter(key: &str, value: &str) -> Filter {
    Filter::builder()
        .name(format!("tag:{key}"))
        .values(value)
        .build()
}

/// Converts the SDK's instance into the provider's view.
pub fn instance_info(i: &Instance) -> InstanceInfo {
    let state = i
        .state()
        .and_then(|s| s.name())
        .map(|n| InstanceState::from_ec2(n.as_str()));
    let lifecycle = match i.instance_lifecycle() {
        Some(InstanceLifecycleType::Spot) => Lifecycle::Spot,
        _ => Lifecycle::OnDemand,
    };
    InstanceInfo {
        id: InstanceId(i.instance_id().unwrap_or_default().to_string()),
        state: state.unwrap_or(InstanceState::Unknown),
        instance_type: i
            .instance_type()
            .map(|t| t.as_str().to_string())
            .unwrap_or_default(),
        lifecycle,
        availability_zone: i
            .placement()
            .and_then(|p| p.availability_zone())
            .map(str::to_string),
        launched_at: i.launch_time().and_then(|t| SystemTime::try_from(*t).ok()),
        tags: i
            .tags()
            .iter()
            .filter_map(|t| {
                Some((
                    t.key()?.to_string(),
                    t.value().unwrap_or_default().to_string(),
                ))
            })
            .collect(),
    }
}

fn not_found(e: &ProviderError) -> bool {
    matches!(e, ProviderError::Api(f) if f.code.as_deref() == Some("InvalidInstanceID.NotFound"))
}

#[async_trait::async_trait]
impl Provider for Ec2Provider {
    fn name(&self) -> &str {
        "ec2"
    }

    async fn launch(&self, req: &LaunchRequest) -> Result<Launched> {
        if let Some(existing) = self.find_existing(req).await? {
            return Ok(existing);
        }
        let settings = request::MachineSettings::new(&self.cfg, req)?;
        let plan = {
            let catalog = self.catalog.read().unwrap_or_else(|p| p.into_inner());
            let breaker = self.breaker.lock().unwrap_or_else(|p| p.into_inner());
            plan::plan(&req.spec, &self.cfg, &catalog, &breaker, self.clock.now())?
        };
        launch::launch(self, req, &settings, &plan).await
    }

    async fn describe(&self, id: &InstanceId) -> Result<Option<InstanceInfo>> {
        match self.describe_filtered(Vec::new(), vec![id.0.clone()]).await {
            Ok(found) => Ok(found.first().map(instance_info)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn terminate(&self, id: &InstanceId) -> Result<()> {
        let call = self.client.terminate_instances().instance_ids(&id.0);
        match with_backoff(&self.cfg.backoff, "TerminateInstances", || {
            call.clone().send()
        })
        .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = ProviderError::from(e);
                if not_found(&e) {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }

    async fn list_by_tag(&self, key: &str, value: &str) -> Result<Vec<InstanceInfo>> {
        let found = self
            .describe_filtered(vec![tag_filter(key, value)], Vec::new())
            .await?;
        Ok(found.iter().map(instance_info).collect())
    }
}
