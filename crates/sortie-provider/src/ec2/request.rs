//! The per-machine settings every launch path applies, and their shapes in the EC2 API:
//! `RunInstances` parameters and launch template data.
//!
//! Both carry the same things: tags on the instance and its volumes, IMDSv2 only
//! (`HttpTokens=required`), an encrypted gp3 root volume, shutdown behaviour `terminate` (the
//! agent powers off when done, as the seed's `shutdown -h now` trap did), the per-job user data.

use super::config::Ec2Config;
use crate::error::{ProviderError, Result};
use crate::provider::LaunchRequest;
use crate::userdata;
use aws_sdk_ec2::operation::run_instances::builders::RunInstancesFluentBuilder;
use aws_sdk_ec2::types::{
    BlockDeviceMapping, EbsBlockDevice, HttpTokensState, IamInstanceProfileSpecification,
    InstanceMetadataEndpointState, InstanceMetadataOptionsRequest,
    LaunchTemplateBlockDeviceMappingRequest, LaunchTemplateEbsBlockDeviceRequest,
    LaunchTemplateHttpTokensState, LaunchTemplateIamInstanceProfileSpecificationRequest,
    LaunchTemplateInstanceMetadataEndpointState, LaunchTemplateInstanceMetadataOptionsRequest,
    LaunchTemplateSpecification, LaunchTemplateTagSpecificationRequest, RequestLaunchTemplateData,
    ResourceType, ShutdownBehavior, Tag, TagSpecification, VolumeType,
};

/// What one machine is made with, whatever the API.
#[derive(Debug, Clone, PartialEq)]
pub struct MachineSettings {
    /// AMI.
    pub image_id: String,
    /// Base64 user data.
    pub user_data: String,
    /// Root volume size, GiB.
    pub disk_gb: i32,
    /// Tags for the instance and its volumes.
    pub tags: Vec<(String, String)>,
}

impl MachineSettings {
    /// Settings for `req` under `cfg`.
    pub fn new(cfg: &Ec2Config, req: &LaunchRequest) -> Result<Self> {
        let image_id = match &req.spec.image {
            Some(image) => image.clone(),
            None => cfg.ami(req.spec.arch).map(str::to_string).ok_or_else(|| {
                ProviderError::Config(format!(
                    "no AMI configured for {}: set ec2.ami_{}",
                    req.spec.arch, req.spec.arch
                ))
            })?,
        };
        let disk = req.spec.disk_gb.unwrap_or(cfg.default_disk_gb);
        // EBS gp3 volumes are 1–16384 GiB.
        let disk_gb = i32::try_from(disk)
            .ok()
            .filter(|d| (1..=16384).contains(d))
            .ok_or_else(|| {
                ProviderError::Config(format!("disk size {disk} GiB is outside gp3's 1–16384 GiB"))
            })?;
        let user_data = userdata::render_base64(&req.bootstrap, &req.runner_name())?;
        let tags = req.all_tags(&cfg.owner).into_iter().collect();
        Ok(MachineSettings {
            image_id,
            user_data,
            disk_gb,
            tags,
        })
    }

    fn tags(&self) -> Vec<Tag> {
        self.tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect()
    }
}

fn profile_is_arn(profile: &str) -> bool {
    profile.starts_with("arn:")
}

/// Applies `s` and `cfg` to a `RunInstances` call (the seed's path).
pub fn apply_run_instances(
    mut b: RunInstancesFluentBuilder,
    cfg: &Ec2Config,
    s: &MachineSettings,
) -> RunInstancesFluentBuilder {
    let tag_spec = |rt| {
        TagSpecification::builder()
            .resource_type(rt)
            .set_tags(Some(s.tags()))
            .build()
    };
    let ebs = EbsBlockDevice::builder()
        .volume_size(s.disk_gb)
        .volume_type(VolumeType::Gp3)
        .encrypted(true)
        .delete_on_termination(true)
        .build();
    b = b
        .min_count(1)
        .max_count(1)
        .image_id(&s.image_id)
        .user_data(&s.user_data)
        .instance_initiated_shutdown_behavior(ShutdownBehavior::Terminate)
        .metadata_options(
            InstanceMetadataOptionsRequest::builder()
                .http_tokens(HttpTokensState::Required)
                .http_endpoint(InstanceMetadataEndpointState::Enabled)
                .build(),
        )
        .block_device_mappings(
            BlockDeviceMapping::builder()
                .device_name(&cfg.root_device_name)
                .ebs(ebs)
                .build(),
        )
        .tag_specifications(tag_spec(ResourceType::Instance))
        .tag_specifications(tag_spec(ResourceType::Volume));
    if !cfg.security_group_ids.is_empty() {
        b = b.set_security_group_ids(Some(cfg.security_group_ids.clone()));
    }
    if let Some(profile) = &cfg.instance_profile {
        let spec = IamInstanceProfileSpecification::builder();
        let spec = if profile_is_arn(profile) {
            spec.arn(profile)
        } else {
            spec.name(profile)
        };
        b = b.iam_instance_profile(spec.build());
    }
    if let Some(lt) = &cfg.launch_template {
        let spec = LaunchTemplateSpecification::builder().version(&lt.version);
        let spec = if lt.id_or_name.starts_with("lt-") {
            spec.launch_template_id(&lt.id_or_name)
        } else {
            spec.launch_template_name(&lt.id_or_name)
        };
        b = b.launch_template(spec.build());
    }
    b
}

/// The launch template data of a per-job template for `CreateFleet` (which takes no user data or
/// tags of its own for instances and volumes).
pub fn launch_template_data(cfg: &Ec2Config, s: &MachineSettings) -> RequestLaunchTemplateData {
    let tag_spec = |rt| {
        LaunchTemplateTagSpecificationRequest::builder()
            .resource_type(rt)
            .set_tags(Some(s.tags()))
            .build()
    };
    let ebs = LaunchTemplateEbsBlockDeviceRequest::builder()
        .volume_size(s.disk_gb)
        .volume_type(VolumeType::Gp3)
        .encrypted(true)
        .delete_on_termination(true)
        .build();
    let mut d = RequestLaunchTemplateData::builder()
        .image_id(&s.image_id)
        .user_data(&s.user_data)
        .instance_initiated_shutdown_behavior(ShutdownBehavior::Terminate)
        .metadata_options(
            LaunchTemplateInstanceMetadataOptionsRequest::builder()
                .http_tokens(LaunchTemplateHttpTokensState::Required)
                .http_endpoint(LaunchTemplateInstanceMetadataEndpointState::Enabled)
                .build(),
        )
        .block_device_mappings(
            LaunchTemplateBlockDeviceMappingRequest::builder()
                .device_name(&cfg.root_device_name)
                .ebs(ebs)
                .build(),
        )
        .tag_specifications(tag_spec(ResourceType::Instance))
        .tag_specifications(tag_spec(ResourceType::Volume));
    if !cfg.security_group_ids.is_empty() {
        d = d.set_security_group_ids(Some(cfg.security_group_ids.clone()));
    }
    if let Some(profile) = &cfg.instance_profile {
        let spec = LaunchTemplateIamInstanceProfileSpecificationRequest::builder();
        let spec = if profile_is_arn(profile) {
            spec.arn(profile)
        } else {
            spec.name(profile)
        };
        d = d.iam_instance_profile(spec.build());
    }
    d.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Bootstrap, OneTimeSecret};
    use sortie_core::forge::Flavor;
    use sortie_core::job::JobKey;
    use sortie_core::spec::{Arch, RunnerSpec};
    use std::collections::BTreeMap;

    fn req(spec: RunnerSpec) -> LaunchRequest {
        LaunchRequest {
            job: JobKey::WorkflowJob {
                forge: Flavor::Gitea,
                repo: "o/r".into(),
                run_id: 1,
                run_attempt: 1,
                job_id: 1,
            },
            attempt: 1,
            spec,
            bootstrap: Bootstrap {
                orchestrator_url: "https://ci.example".into(),
                credential: OneTimeSecret::new("sbt_x"),
                ssm_parameter: None,
            },
            tags: BTreeMap::new(),
        }
    }

    #[test]
    fn ami_disk_and_tags_come_from_spec_and_config() {
        let mut cfg = Ec2Config::new("me", "ami-amd");
        let s = MachineSettings::new(
            &cfg,
            &req(RunnerSpec {
                disk_gb: Some(100),
                ..RunnerSpec::default()
            }),
        )
        .unwrap();
        assert_eq!((s.image_id.as_str(), s.disk_gb), ("ami-amd", 100));
        assert!(s.tags.iter().any(|(k, v)| k == "sortie:owner" && v == "me"));
        let arm = RunnerSpec {
            arch: Arch::Arm64,
            ..RunnerSpec::default()
        };
        let err = MachineSettings::new(&cfg, &req(arm.clone())).unwrap_err();
        assert!(err.to_string().contains("ec2.ami_arm64"), "{err}");
        cfg.ami_arm64 = Some("ami-arm".into());
        let s = MachineSettings::new(&cfg, &req(arm)).unwrap();
        assert_eq!((s.image_id.as_str(), s.disk_gb), ("ami-arm", 30));
        let huge = RunnerSpec {
            disk_gb: Some(20_000),
            ..RunnerSpec::default()
        };
        assert!(MachineSettings::new(&cfg, &req(huge)).is_err());
    }

    #[test]
    fn template_data_is_locked_down() {
        let mut cfg = Ec2Config::new("me", "ami-amd");
        cfg.instance_profile = Some("arn:aws:iam::1:instance-profile/runner".into());
        let s = MachineSettings::new(&cfg, &req(RunnerSpec::default())).unwrap();
        let d = launch_template_data(&cfg, &s);
        let md = d.metadata_options().unwrap();
        assert_eq!(
            md.http_tokens(),
            Some(&LaunchTemplateHttpTokensState::Required)
        );
        let ebs = d.block_device_mappings()[0].ebs().unwrap();
        assert_eq!(
            (ebs.volume_size(), ebs.encrypted(), ebs.volume_type()),
            (Some(30), Some(true), Some(&VolumeType::Gp3))
        );
        assert_eq!(
            d.instance_initiated_shutdown_behavior(),
            Some(&ShutdownBehavior::Terminate)
        );
        let kinds: Vec<_> = d
            .tag_specifications()
            .iter()
            .filter_map(|t| t.resource_type().cloned())
            .collect();
        assert_eq!(kinds, vec![ResourceType::Instance, ResourceType::Volume]);
        assert!(d.iam_instance_profile().unwrap().arn().is_some());
    }
}
