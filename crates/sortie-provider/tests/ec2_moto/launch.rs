//! Launch paths, the one-machine guard, lifecycle and catalogue refresh against moto.

use crate::*;

#[tokio::test]
async fn run_instances_launch_reads_back_tags_imds_volume_and_user_data() {
    let e = env("run", |_| {}).await;
    let req = request(1, &["t3.small"], true);
    let launched = e.provider.launch(&req).await.unwrap();
    assert_eq!(
        (launched.lifecycle, launched.adopted),
        (Lifecycle::Spot, false)
    );
    assert_eq!(launched.availability_zone.as_deref(), Some("us-east-1a"));

    let i = instance(&e.client, &launched.instance_id).await;
    assert_eq!(i.instance_lifecycle(), Some(&InstanceLifecycleType::Spot));
    assert_eq!(
        i.subnet_id(),
        Some(e.subnets[0].as_str()),
        "private subnet by default"
    );
    assert_eq!(
        i.metadata_options().and_then(|m| m.http_tokens()),
        Some(&HttpTokensState::Required)
    );
    let tags = tags_of(&i);
    assert_eq!(tags["sortie:job"], job_tag_value(&req.job));
    assert_eq!(tags["sortie:owner"], e.owner);
    assert_eq!(tags["sortie:repo"], "octo/app");
    assert_eq!(tags["sortie:attempt"], "1");
    assert_eq!(tags["Name"], req.runner_name());

    let vols = e
        .client
        .describe_volumes()
        .filters(
            Filter::builder()
                .name("attachment.instance-id")
                .values(&launched.instance_id.0)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let v = &vols.volumes()[0];
    assert_eq!(
        (v.size(), v.volume_type(), v.encrypted()),
        (Some(44), Some(&VolumeType::Gp3), Some(true))
    );
    assert!(v
        .tags()
        .iter()
        .any(|t| t.key() == Some("sortie:job")
            && t.value() == Some(job_tag_value(&req.job).as_str())));

    let attr = |a| {
        e.client
            .describe_instance_attribute()
            .instance_id(&launched.instance_id.0)
            .attribute(a)
            .send()
    };
    let ud = attr(InstanceAttributeName::UserData).await.unwrap();
    let ud =
        aws_smithy_types::base64::decode(ud.user_data().and_then(|v| v.value()).unwrap()).unwrap();
    let ud = String::from_utf8(ud).unwrap();
    assert!(
        ud.contains("export SORTIE_BOOTSTRAP_TOKEN='sbt_job1'"),
        "{ud}"
    );
    assert!(ud.contains("export SORTIE_URL='https://ci.example.com'"));
    let sb = attr(InstanceAttributeName::InstanceInitiatedShutdownBehavior)
        .await
        .unwrap();
    assert_eq!(
        sb.instance_initiated_shutdown_behavior()
            .and_then(|v| v.value()),
        Some("terminate")
    );

    // The idempotency token went out on the wire, for the real cloud.
    let token = req.job.idempotency_token(1);
    assert_eq!(
        e.faults
            .requests_containing(&format!("ClientToken={token}"))
            .len(),
        1
    );
}

#[tokio::test]
async fn create_fleet_launch_uses_a_locked_down_template() {
    let e = env("fleet", |_| {}).await;
    let req = request(2, &["m7i.large", "c7i.large"], true);
    let launched = e.provider.launch(&req).await.unwrap();
    assert_eq!(launched.lifecycle, Lifecycle::Spot);

    let fleet = e.faults.requests_containing("Action=CreateFleet");
    assert_eq!(fleet.len(), 1);
    for needle in [
        "Type=instant",
        "SpotOptions.AllocationStrategy=price-capacity-optimized",
        "TargetCapacitySpecification.DefaultTargetCapacityType=spot",
        // One override per (type, private subnet), in rank order.
        "Overrides.1.InstanceType=m7i.large",
        "Overrides.2.InstanceType=m7i.large",
        "Overrides.3.InstanceType=c7i.large",
        "Overrides.4.Priority=3.0",
        &format!("ClientToken={}", req.job.idempotency_token(1)),
    ] {
        assert!(
            fleet[0].contains(needle),
            "{needle} missing from {}",
            fleet[0]
        );
    }
    // moto does not apply a template's metadata options, volumes or shutdown behaviour to fleet
    // instances, so these are checked on the wire.
    let lt = e.faults.requests_containing("Action=CreateLaunchTemplate");
    for needle in [
        "LaunchTemplateData.MetadataOptions.HttpTokens=required",
        "LaunchTemplateData.BlockDeviceMapping.1.Ebs.Encrypted=true",
        "LaunchTemplateData.BlockDeviceMapping.1.Ebs.VolumeType=gp3",
        "LaunchTemplateData.BlockDeviceMapping.1.Ebs.VolumeSize=44",
        "LaunchTemplateData.InstanceInitiatedShutdownBehavior=terminate",
        "ResourceType=volume",
    ] {
        assert!(lt[0].contains(needle), "{needle} missing from {}", lt[0]);
    }
    // What moto does apply: tags and user data from the template.
    let i = instance(&e.client, &launched.instance_id).await;
    assert_eq!(tags_of(&i)["sortie:owner"], e.owner);
    let ud = e
        .client
        .describe_instance_attribute()
        .instance_id(&launched.instance_id.0)
        .attribute(InstanceAttributeName::UserData)
        .send()
        .await
        .unwrap();
    assert!(ud.user_data().and_then(|v| v.value()).is_some());
    // The per-job template is gone after the launch.
    let left = e
        .client
        .describe_launch_templates()
        .launch_template_names(req.runner_name())
        .send()
        .await;
    assert!(
        left.map(|o| o.launch_templates().is_empty())
            .unwrap_or(true),
        "per-job template left behind"
    );
}

#[tokio::test]
async fn the_same_job_launched_twice_yields_one_instance() {
    let e = env("twice", |_| {}).await;
    for (job, types) in [(3, vec!["t3.small"]), (4, vec!["t3.small", "t3.medium"])] {
        let req = request(job, &types, true);
        let first = e.provider.launch(&req).await.unwrap();
        let second = e.provider.launch(&req).await.unwrap();
        assert_eq!(first.instance_id, second.instance_id, "{types:?}");
        assert!(second.adopted && !first.adopted);
        let mine = e
            .provider
            .list_by_tag(TAG_JOB, &job_tag_value(&req.job))
            .await
            .unwrap();
        let mine: Vec<_> = mine
            .into_iter()
            .filter(|i| i.tags.get("sortie:owner") == Some(&e.owner))
            .collect();
        assert_eq!(mine.len(), 1, "{types:?}: {mine:?}");
        // A relaunch after an interruption is a new attempt and gets a new machine.
        let mut next = req.clone();
        next.attempt = 2;
        assert_ne!(
            e.provider.launch(&next).await.unwrap().instance_id,
            first.instance_id
        );
    }
}

#[tokio::test]
async fn describe_terminate_and_list_managed() {
    let e = env("lifecycle", |_| {}).await;
    let l = e
        .provider
        .launch(&request(30, &["t3.small"], false))
        .await
        .unwrap();
    let info = e.provider.describe(&l.instance_id).await.unwrap().unwrap();
    assert!(info.state.is_live());
    assert_eq!(info.lifecycle, Lifecycle::OnDemand);
    let managed = e.provider.list_managed(&e.owner).await.unwrap();
    assert_eq!(
        managed.iter().map(|i| &i.id).collect::<Vec<_>>(),
        vec![&l.instance_id]
    );
    assert!(e
        .provider
        .list_managed("someone-else")
        .await
        .unwrap()
        .iter()
        .all(|i| i.id != l.instance_id));
    e.provider.terminate(&l.instance_id).await.unwrap();
    let after = e.provider.describe(&l.instance_id).await.unwrap().unwrap();
    assert!(
        matches!(
            after.state,
            InstanceState::ShuttingDown | InstanceState::Terminated
        ),
        "{after:?}"
    );
    e.provider.terminate(&l.instance_id).await.unwrap();
    assert_eq!(
        e.provider
            .describe(&InstanceId::from("i-00000000000000000"))
            .await
            .unwrap(),
        None
    );
    // A terminated machine is not adopted: the same job and attempt gets a fresh one.
    let again = e
        .provider
        .launch(&request(30, &["t3.small"], false))
        .await
        .unwrap();
    assert!(!again.adopted && again.instance_id != l.instance_id);
}

#[tokio::test]
async fn catalogue_refresh_reads_types_and_spot_prices() {
    let e = env("catalog", |_| {}).await;
    let names = vec!["t3.small".to_string(), "m7g.large".to_string()];
    let r = catalog::refresh(&e.provider, &names, &Catalog::default())
        .await
        .unwrap();
    let t3 = r.catalog.get("t3.small").unwrap();
    assert_eq!(
        (t3.vcpu, t3.memory_mib, t3.family.as_str()),
        (2, 2048, "t3")
    );
    assert_eq!(
        r.catalog.get("m7g.large").unwrap().arch,
        sortie_core::spec::Arch::Arm64
    );
    assert!(
        r.spot_usd_hour.keys().any(|(t, _)| t == "t3.small"),
        "{:?}",
        r.spot_usd_hour
    );
}

#[tokio::test]
async fn a_user_launch_template_goes_through_run_instances() {
    let template = format!("ops-runner-{}", std::process::id());
    let e = env("usertemplate", |c| {
        c.launch_template = Some(sortie_provider::ec2::LaunchTemplateRef {
            id_or_name: template.clone(),
            version: "$Latest".into(),
        });
    })
    .await;
    let data = aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
        .key_name("ops-key")
        .build();
    e.client
        .create_launch_template()
        .launch_template_name(&template)
        .launch_template_data(data)
        .send()
        .await
        .unwrap();
    // Several types would normally mean CreateFleet; a user template means RunInstances (CreateFleet
    // cannot carry the per-job user data on top of someone else's template).
    let l = e
        .provider
        .launch(&request(40, &["t3.small", "t3.medium"], true))
        .await
        .unwrap();
    assert!(e
        .faults
        .requests_containing("Action=CreateFleet")
        .is_empty());
    let run = e.faults.requests_containing("Action=RunInstances");
    assert!(
        run[0].contains(&format!("LaunchTemplate.LaunchTemplateName={template}")),
        "{}",
        run[0]
    );
    let i = instance(&e.client, &l.instance_id).await;
    assert_eq!(
        i.key_name(),
        Some("ops-key"),
        "the template's settings apply"
    );
    assert_eq!(
        tags_of(&i)["sortie:owner"],
        e.owner,
        "and sortie's tags are layered over them"
    );
}
