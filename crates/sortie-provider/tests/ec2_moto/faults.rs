//! Refusals moto cannot make, injected as recorded AWS responses: spot fallback, the circuit
//! breaker, throttling.

use crate::*;
use sortie_testkit::moto::{ec2_error_body, Fault};

#[tokio::test]
async fn spot_refused_by_run_instances_falls_back_to_on_demand() {
    let e = env("fallback", |c| c.subnets.truncate(1)).await;
    e.faults.push(Fault::when_body_contains(
        &["Action=RunInstances", "InstanceMarketOptions.MarketType=spot"],
        500,
        ec2_error_body("InsufficientInstanceCapacity", "We currently do not have sufficient c7g.xlarge capacity in the Availability Zone you requested (us-east-1a)."),
    ));
    let launched = e
        .provider
        .launch(&request(5, &["c7g.xlarge"], true))
        .await
        .unwrap();
    assert_eq!(launched.lifecycle, Lifecycle::OnDemand);
    assert_eq!(
        launched.notes[0],
        "spot capacity not available for c7g.xlarge in us-east-1a; fell back to on-demand"
    );
    assert!(
        launched.notes[1].contains("InsufficientInstanceCapacity"),
        "{:?}",
        launched.notes
    );
    let i = instance(&e.client, &launched.instance_id).await;
    assert_eq!(
        i.instance_lifecycle(),
        None,
        "on-demand instances have no lifecycle field"
    );
    // With fallback off the job fails with the reason.
    let e = env("nofallback", |c| {
        c.subnets.truncate(1);
        c.on_demand_fallback = false;
    })
    .await;
    e.faults.push(Fault::when_body_contains(
        &["Action=RunInstances"],
        400,
        ec2_error_body("SpotMaxPriceTooLow", "price too low"),
    ));
    let err = e
        .provider
        .launch(&request(6, &["c7g.xlarge"], true))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("no capacity for c7g.xlarge: spot c7g.xlarge in us-east-1a"),
        "{err}"
    );
}

/// A recorded `CreateFleet` answer refusing spot for every override (HTTP 200 with `errorSet` and
/// no instances), shaped as https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateFleet.html.
fn fleet_refusal(pairs: &[(&str, &str)]) -> String {
    let errors: String = pairs
        .iter()
        .map(|(t, s)| {
            format!(
                "<item><launchTemplateAndOverrides><launchTemplateSpecification><launchTemplateName>x</launchTemplateName>\
                 <version>1</version></launchTemplateSpecification><overrides><instanceType>{t}</instanceType>\
                 <subnetId>{s}</subnetId></overrides></launchTemplateAndOverrides><lifecycle>spot</lifecycle>\
                 <errorCode>InsufficientInstanceCapacity</errorCode><errorMessage>no {t} capacity</errorMessage></item>"
            )
        })
        .collect();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><CreateFleetResponse xmlns=\"http://ec2.amazonaws.com/doc/2016-11-15/\">\
         <requestId>5e0ad9b4-example</requestId><fleetId>fleet-0example</fleetId><errorSet>{errors}</errorSet>\
         <fleetInstanceSet/></CreateFleetResponse>"
    )
}

#[tokio::test]
async fn spot_refused_by_create_fleet_falls_back_to_on_demand() {
    let e = env("fleetfallback", |c| c.subnets.truncate(1)).await;
    let body = fleet_refusal(&[("c7g.xlarge", &e.subnets[0]), ("m7g.xlarge", &e.subnets[0])]);
    e.faults.push(Fault::when_body_contains(
        &["Action=CreateFleet", "DefaultTargetCapacityType=spot"],
        200,
        body,
    ));
    let launched = e
        .provider
        .launch(&request(7, &["c7g.xlarge", "m7g.xlarge"], true))
        .await
        .unwrap();
    assert_eq!(launched.lifecycle, Lifecycle::OnDemand);
    assert_eq!(
        launched.notes[0],
        "spot capacity not available for c7g.xlarge in us-east-1a, m7g.xlarge in us-east-1a; fell back to on-demand"
    );
    let on_demand = e
        .faults
        .requests_containing("DefaultTargetCapacityType=on-demand");
    assert_eq!(on_demand.len(), 1);
    assert!(on_demand[0].contains("OnDemandOptions.AllocationStrategy=prioritized"));
}

#[tokio::test]
async fn circuit_opens_skips_and_closes_after_cooldown() {
    let clock = ManualClock::default();
    let mut e = env("circuit", |c| {
        c.subnets.truncate(2);
        c.circuit = CircuitConfig {
            failure_threshold: 2,
            window: Duration::from_secs(60),
            cooldown: Duration::from_secs(300),
        };
    })
    .await;
    e.provider = e.provider.with_clock(Arc::new(clock.clone()));
    let subnet_a = format!("SubnetId={}", e.subnets[0]);
    e.faults.push(Fault::when_body_contains(
        &["Action=RunInstances", &subnet_a],
        500,
        ec2_error_body("InsufficientInstanceCapacity", "no t3.micro in us-east-1a"),
    ));
    for job in [10, 11] {
        let l = e
            .provider
            .launch(&request(job, &["t3.micro"], false))
            .await
            .unwrap();
        assert_eq!(l.availability_zone.as_deref(), Some("us-east-1b"));
        assert!(l.skipped.is_empty());
    }
    let circuits = e.provider.circuits();
    assert_eq!(circuits.len(), 1);
    assert_eq!(circuits[0].0.to_string(), "t3.micro in us-east-1a");
    assert!(matches!(circuits[0].1, CircuitState::Open { .. }));

    let tried_a = e.faults.requests_containing(&subnet_a).len();
    let l = e
        .provider
        .launch(&request(12, &["t3.micro"], false))
        .await
        .unwrap();
    assert_eq!(l.availability_zone.as_deref(), Some("us-east-1b"));
    assert_eq!(l.skipped.len(), 1);
    assert_eq!(l.skipped[0].availability_zone, "us-east-1a");
    assert_eq!(
        e.faults.requests_containing(&subnet_a).len(),
        tried_a,
        "an open circuit was tried"
    );

    clock.advance(Duration::from_secs(301));
    assert!(matches!(e.provider.circuits()[0].1, CircuitState::HalfOpen));
    e.faults.clear();
    let l = e
        .provider
        .launch(&request(13, &["t3.micro"], false))
        .await
        .unwrap();
    assert_eq!(l.availability_zone.as_deref(), Some("us-east-1a"));
    assert!(
        e.provider.circuits().is_empty(),
        "a success in half-open closes the circuit"
    );
}

#[tokio::test]
async fn throttling_is_retried_with_bounded_backoff() {
    let e = env("throttle", |_| {}).await;
    let throttle = || ec2_error_body("RequestLimitExceeded", "Request limit exceeded.");
    e.faults
        .push(Fault::when_body_contains(&["Action=RunInstances"], 503, throttle()).times(2));
    let l = e
        .provider
        .launch(&request(20, &["t3.small"], true))
        .await
        .unwrap();
    assert_eq!(e.faults.requests_containing("Action=RunInstances").len(), 3);
    assert_eq!(l.lifecycle, Lifecycle::Spot);
    e.faults.push(Fault::when_body_contains(
        &["Action=RunInstances"],
        503,
        throttle(),
    ));
    let err = e
        .provider
        .launch(&request(21, &["t3.small"], true))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "AWS kept throttling RunInstances after 4 attempts; sortie will retry the job later"
    );
}
