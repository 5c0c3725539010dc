//! Making the machine: spot first, then on-demand when allowed, through `RunInstances` (one pair
//! at a time) or one `CreateFleet` of type `instant` per market.

use super::plan::{Candidate, Plan, Route};
use super::request::{apply_run_instances, launch_template_data, MachineSettings};
use super::retry::{classify, classify_failure, with_backoff, ApiFailureOr, ErrorClass};
use super::Ec2Provider;
use crate::error::{ApiFailure, ProviderError, Result};
use crate::provider::{InstanceId, LaunchRequest, Launched, Lifecycle};
use aws_sdk_ec2::types::{
    DefaultTargetCapacityType, FleetLaunchTemplateConfigRequest,
    FleetLaunchTemplateOverridesRequest, FleetLaunchTemplateSpecificationRequest,
    FleetOnDemandAllocationStrategy, FleetType, InstanceInterruptionBehavior,
    InstanceMarketOptionsRequest, InstanceType, MarketType, OnDemandOptionsRequest,
    SpotAllocationStrategy, SpotInstanceType, SpotMarketOptions, SpotOptionsRequest,
    TargetCapacitySpecificationRequest,
};

/// One refusal on the way, for the job's reasons and the final error.
#[derive(Debug, Clone)]
struct Refusal {
    lifecycle: Lifecycle,
    /// `type in zone`, when the refusal names a pair.
    pair: Option<String>,
    failure: ApiFailure,
}

/// The state of one launch across its calls.
struct Attempt<'a> {
    provider: &'a Ec2Provider,
    req: &'a LaunchRequest,
    settings: &'a MachineSettings,
    refusals: Vec<Refusal>,
    calls: u32,
}

impl Attempt<'_> {
    /// The ClientToken of the next call: the job's token exactly for the first call (so a retried
    /// launch is idempotent on AWS), then suffixed — AWS refuses one token with other parameters.
    fn next_token(&mut self) -> String {
        let base = self.req.job.idempotency_token(self.req.attempt);
        self.calls += 1;
        if self.calls == 1 {
            base
        } else {
            format!("{base}-{}", self.calls)
        }
    }

    fn refused(&mut self, lifecycle: Lifecycle, c: Option<&Candidate>, failure: ApiFailure) {
        let class = classify_failure(&failure);
        if let (Some(c), ErrorClass::Capacity | ErrorClass::Limit) = (c, class) {
            self.provider.record_failure(&c.key());
        }
        self.refusals.push(Refusal {
            lifecycle,
            pair: c.map(|c| c.key().to_string()),
            failure,
        });
    }
}

fn market_word(l: Lifecycle) -> &'static str {
    match l {
        Lifecycle::Spot => "spot",
        Lifecycle::OnDemand => "on-demand",
    }
}

/// Launches per `plan`; returns the machine or the reason none could be made.
pub(super) async fn launch(
    provider: &Ec2Provider,
    req: &LaunchRequest,
    settings: &MachineSettings,
    plan: &Plan,
) -> Result<Launched> {
    let mut phases = Vec::new();
    if req.spec.spot {
        phases.push(Lifecycle::Spot);
    }
    if !req.spec.spot || provider.cfg.on_demand_fallback {
        phases.push(Lifecycle::OnDemand);
    }
    let mut at = Attempt {
        provider,
        req,
        settings,
        refusals: Vec::new(),
        calls: 0,
    };
    let template = match plan.route {
        Route::Fleet => Some(create_template(&mut at).await?),
        Route::RunInstances => None,
    };
    let mut result = None;
    for lifecycle in phases {
        let got = match &template {
            Some(name) => fleet(&mut at, name, &plan.candidates, lifecycle).await,
            None => run_each(&mut at, &plan.candidates, lifecycle).await,
        };
        match got {
            Ok(Some(launched)) => {
                result = Some(Ok(launched));
                break;
            }
            Ok(None) => {}
            Err(e) => {
                result = Some(Err(e));
                break;
            }
        }
    }
    if let Some(name) = &template {
        delete_template(provider, name).await;
    }
    match result {
        Some(Ok(mut launched)) => {
            launched.skipped = plan.skipped.clone();
            launched.notes = notes(&at.refusals, launched.lifecycle);
            Ok(launched)
        }
        Some(Err(e)) => Err(e),
        None => Err(final_error(plan, &at.refusals)),
    }
}

/// Reasons for the job record: which spot pairs were refused and that on-demand took over.
fn notes(refusals: &[Refusal], got: Lifecycle) -> Vec<String> {
    let spot: Vec<&str> = refusals
        .iter()
        .filter(|r| r.lifecycle == Lifecycle::Spot)
        .map(|r| r.pair.as_deref().unwrap_or("the requested types"))
        .collect();
    let mut notes = Vec::new();
    if !spot.is_empty() && got == Lifecycle::OnDemand {
        notes.push(format!(
            "spot capacity not available for {}; fell back to on-demand",
            spot.join(", ")
        ));
    }
    notes.extend(refusals.iter().map(|r| r.failure.to_string()));
    notes
}

fn final_error(plan: &Plan, refusals: &[Refusal]) -> ProviderError {
    let detail = refusals
        .iter()
        .map(|r| {
            format!(
                "{} {}: {}",
                market_word(r.lifecycle),
                r.pair.as_deref().unwrap_or("fleet"),
                r.failure
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let last_phase = refusals.last().map(|r| r.lifecycle);
    let limit = refusals
        .iter()
        .filter(|r| Some(r.lifecycle) == last_phase)
        .any(|r| classify_failure(&r.failure) == ErrorClass::Limit);
    if limit {
        return ProviderError::LimitExceeded(detail);
    }
    let mut wanted: Vec<&str> = plan
        .candidates
        .iter()
        .map(|c| c.instance_type.as_str())
        .collect();
    wanted.dedup();
    ProviderError::NoCapacity {
        wanted: wanted.join(", "),
        detail,
    }
}

/// Outcome of one call that may be refused for capacity.
fn refusable(e: ApiFailureOr) -> std::result::Result<ApiFailure, ProviderError> {
    match e {
        ApiFailureOr::Failure(f)
            if matches!(
                classify_failure(&f),
                ErrorClass::Capacity | ErrorClass::Limit
            ) =>
        {
            Ok(f)
        }
        other => Err(other.into()),
    }
}

async fn run_each(
    at: &mut Attempt<'_>,
    candidates: &[Candidate],
    lifecycle: Lifecycle,
) -> Result<Option<Launched>> {
    for c in candidates {
        let token = at.next_token();
        let mut b = apply_run_instances(
            at.provider.client.run_instances(),
            &at.provider.cfg,
            at.settings,
        )
        .instance_type(InstanceType::from(c.instance_type.as_str()))
        .subnet_id(&c.subnet_id)
        .client_token(token);
        if lifecycle == Lifecycle::Spot {
            // The seed's market options: one-time spot, terminated on interruption.
            let spot = SpotMarketOptions::builder()
                .spot_instance_type(SpotInstanceType::OneTime)
                .instance_interruption_behavior(InstanceInterruptionBehavior::Terminate)
                .build();
            b = b.instance_market_options(
                InstanceMarketOptionsRequest::builder()
                    .market_type(MarketType::Spot)
                    .spot_options(spot)
                    .build(),
            );
        }
        match with_backoff(&at.provider.cfg.backoff, "RunInstances", || {
            b.clone().send()
        })
        .await
        {
            Ok(out) => {
                let Some(id) = out.instances().first().and_then(|i| i.instance_id()) else {
                    return Err(ProviderError::Api(ApiFailure {
                        operation: "RunInstances",
                        code: None,
                        message: "the response named no instance".into(),
                    }));
                };
                at.provider.record_success(&c.key());
                return Ok(Some(made(id, c, lifecycle)));
            }
            Err(e) => {
                let failure = refusable(e)?;
                at.refused(lifecycle, Some(c), failure);
            }
        }
    }
    Ok(None)
}

fn made(id: &str, c: &Candidate, lifecycle: Lifecycle) -> Launched {
    Launched {
        instance_id: InstanceId(id.to_string()),
        instance_type: c.instance_type.clone(),
        availability_zone: Some(c.availability_zone.clone()),
        lifecycle,
        adopted: false,
        skipped: Vec::new(),
        notes: Vec::new(),
    }
}

/// Creates the per-job launch template (named after the runner). A leftover one from an earlier
/// try of the same attempt is replaced, so it never carries a stale token.
async fn create_template(at: &mut Attempt<'_>) -> Result<String> {
    let p = at.provider;
    let name = at.req.runner_name();
    let data = launch_template_data(&p.cfg, at.settings);
    let create = p
        .client
        .create_launch_template()
        .launch_template_name(&name)
        .launch_template_data(data);
    match with_backoff(&p.cfg.backoff, "CreateLaunchTemplate", || {
        create.clone().send()
    })
    .await
    {
        Ok(_) => Ok(name),
        Err(ApiFailureOr::Failure(f))
            if f.code.as_deref() == Some("InvalidLaunchTemplateName.AlreadyExistsException") =>
        {
            delete_template(p, &name).await;
            with_backoff(&p.cfg.backoff, "CreateLaunchTemplate", || {
                create.clone().send()
            })
            .await?;
            Ok(name)
        }
        Err(e) => Err(e.into()),
    }
}

/// Deletes a per-job template; instances made from it do not need it. Best effort: a leftover is
/// replaced on the next try and carries the owner tag of nothing sensitive beyond a spent token.
async fn delete_template(p: &Ec2Provider, name: &str) {
    let _ = p
        .client
        .delete_launch_template()
        .launch_template_name(name)
        .send()
        .await;
}

fn fleet_request(
    at: &mut Attempt<'_>,
    template: &str,
    candidates: &[Candidate],
    lifecycle: Lifecycle,
) -> Result<aws_sdk_ec2::operation::create_fleet::builders::CreateFleetFluentBuilder> {
    let overrides = candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            FleetLaunchTemplateOverridesRequest::builder()
                .instance_type(InstanceType::from(c.instance_type.as_str()))
                .subnet_id(&c.subnet_id)
                .priority(i as f64)
                .build()
        })
        .collect();
    let config = FleetLaunchTemplateConfigRequest::builder()
        .launch_template_specification(
            FleetLaunchTemplateSpecificationRequest::builder()
                .launch_template_name(template)
                .version("$Latest")
                .build(),
        )
        .set_overrides(Some(overrides))
        .build();
    let (kind, spot, on_demand) = match lifecycle {
        Lifecycle::Spot => (DefaultTargetCapacityType::Spot, 1, 0),
        Lifecycle::OnDemand => (DefaultTargetCapacityType::OnDemand, 0, 1),
    };
    let capacity = TargetCapacitySpecificationRequest::builder()
        .total_target_capacity(1)
        .default_target_capacity_type(kind)
        .spot_target_capacity(spot)
        .on_demand_target_capacity(on_demand)
        .build();
    Ok(at
        .provider
        .client
        .create_fleet()
        .r#type(FleetType::Instant)
        .client_token(at.next_token())
        .target_capacity_specification(capacity)
        .spot_options(
            SpotOptionsRequest::builder()
                .allocation_strategy(SpotAllocationStrategy::PriceCapacityOptimized)
                .build(),
        )
        // On-demand follows the catalogue's ranking (priority = rank).
        .on_demand_options(
            OnDemandOptionsRequest::builder()
                .allocation_strategy(FleetOnDemandAllocationStrategy::Prioritized)
                .build(),
        )
        .launch_template_configs(config))
}

async fn fleet(
    at: &mut Attempt<'_>,
    template: &str,
    candidates: &[Candidate],
    lifecycle: Lifecycle,
) -> Result<Option<Launched>> {
    let call = fleet_request(at, template, candidates, lifecycle)?;
    let out = match with_backoff(&at.provider.cfg.backoff, "CreateFleet", || {
        call.clone().send()
    })
    .await
    {
        Ok(out) => out,
        Err(e) => {
            let failure = refusable(e)?;
            at.refused(lifecycle, None, failure);
            return Ok(None);
        }
    };
    let cfg = &at.provider.cfg;
    let find = |t: Option<&str>, subnet: Option<&str>| {
        candidates
            .iter()
            .find(|c| Some(c.instance_type.as_str()) == t && Some(c.subnet_id.as_str()) == subnet)
    };
    for e in out.errors() {
        let o = e
            .launch_template_and_overrides()
            .and_then(|l| l.overrides());
        let c = o.and_then(|o| find(o.instance_type().map(|t| t.as_str()), o.subnet_id()));
        let failure = ApiFailure {
            operation: "CreateFleet",
            code: e.error_code().map(str::to_string),
            message: e.error_message().unwrap_or_default().to_string(),
        };
        if classify(failure.code.as_deref().unwrap_or_default()) == ErrorClass::Other
            && out.instances().is_empty()
        {
            return Err(ProviderError::Api(failure));
        }
        at.refused(lifecycle, c, failure);
    }
    let Some(inst) = out
        .instances()
        .iter()
        .find(|i| !i.instance_ids().is_empty())
    else {
        return Ok(None);
    };
    let o = inst
        .launch_template_and_overrides()
        .and_then(|l| l.overrides());
    let subnet = o.and_then(|o| o.subnet_id());
    let itype = inst
        .instance_type()
        .map(|t| t.as_str().to_string())
        .unwrap_or_default();
    let az = subnet
        .and_then(|s| cfg.zone_of(s))
        .map(str::to_string)
        .or_else(|| o.and_then(|o| o.availability_zone()).map(str::to_string));
    if let Some(c) = find(Some(itype.as_str()), subnet) {
        at.provider.record_success(&c.key());
    }
    Ok(Some(Launched {
        instance_id: InstanceId(inst.instance_ids()[0].clone()),
        instance_type: itype,
        availability_zone: az,
        lifecycle,
        adopted: false,
        skipped: Vec::new(),
        notes: Vec::new(),
    }))
}
