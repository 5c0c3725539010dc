//! Configuration of the EC2 provider.

use super::circuit::CircuitConfig;
use super::retry::Backoff;
use sortie_core::spec::Arch;

/// One subnet machines may go in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubnetConfig {
    /// `subnet-…`.
    pub id: String,
    /// Its availability zone (`us-east-1a`): the circuit breaker's second key.
    pub availability_zone: String,
    /// Whether instances there get a public IP (`public=true` jobs go only here).
    pub public: bool,
}

/// A launch template the operator maintains; sortie layers its per-job settings over it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchTemplateRef {
    /// `lt-…` id, or a template name.
    pub id_or_name: String,
    /// Version (`$Latest`, `$Default`, or a number).
    pub version: String,
}

/// Settings of [`super::Ec2Provider`].
#[derive(Debug, Clone, PartialEq)]
pub struct Ec2Config {
    /// Written to `sortie:owner`; the provider only adopts and lists machines with this owner.
    pub owner: String,
    /// AMI for amd64 machines (the seed's `RUNNER_AMI`).
    pub ami_amd64: String,
    /// AMI for arm64 machines; arm64 jobs fail with a clear reason when unset.
    pub ami_arm64: Option<String>,
    /// Subnets (the seed's `SUBNET`).
    pub subnets: Vec<SubnetConfig>,
    /// Security groups (the seed's `SECURITY_GROUP`).
    pub security_group_ids: Vec<String>,
    /// Instance profile name or ARN (the seed's `INSTANCE_PROFILE`).
    pub instance_profile: Option<String>,
    /// An operator-maintained launch template; when set, every launch uses `RunInstances` over it
    /// (CreateFleet cannot override user data, which carries the per-job token).
    pub launch_template: Option<LaunchTemplateRef>,
    /// Root volume size when the spec gives none (GiB).
    pub default_disk_gb: u32,
    /// Root device name of the AMIs (`/dev/xvda` on Amazon Linux, `/dev/sda1` on Ubuntu).
    pub root_device_name: String,
    /// Fall back to on-demand when spot is refused (the spec's `spot=true` means "spot first").
    pub on_demand_fallback: bool,
    /// Most instance types put in one fleet.
    pub max_instance_types: usize,
    /// Circuit breaker thresholds.
    pub circuit: CircuitConfig,
    /// Throttling retries.
    pub backoff: Backoff,
}

impl Ec2Config {
    /// A configuration with the given owner and amd64 AMI and defaults elsewhere: no subnets yet,
    /// 30 GiB root volumes on `/dev/xvda`, on-demand fallback on, at most 10 types per fleet.
    pub fn new(owner: impl Into<String>, ami_amd64: impl Into<String>) -> Self {
        Ec2Config {
            owner: owner.into(),
            ami_amd64: ami_amd64.into(),
            ami_arm64: None,
            subnets: Vec::new(),
            security_group_ids: Vec::new(),
            instance_profile: None,
            launch_template: None,
            default_disk_gb: 30,
            root_device_name: "/dev/xvda".into(),
            on_demand_fallback: true,
            max_instance_types: 10,
            circuit: CircuitConfig::default(),
            backoff: Backoff::default(),
        }
    }

    /// The AMI for `arch`.
    pub fn ami(&self, arch: Arch) -> Option<&str> {
        match arch {
            Arch::Amd64 => Some(self.ami_amd64.as_str()),
            Arch::Arm64 => self.ami_arm64.as_deref(),
        }
    }

    /// The availability zone of a configured subnet.
    pub fn zone_of(&self, subnet_id: &str) -> Option<&str> {
        self.subnets
            .iter()
            .find(|s| s.id == subnet_id)
            .map(|s| s.availability_zone.as_str())
    }
}
