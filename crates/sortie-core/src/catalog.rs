//! The instance-type catalogue and cost model.
//!
//! STUB: the implementation is being written; the public types below are the contract.

use crate::spec::{Arch, RunnerSpec};
use serde::{Deserialize, Serialize};

/// One machine type a provider can make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceType {
    /// e.g. `t3.small`.
    pub name: String,
    /// e.g. `t3`.
    pub family: String,
    pub vcpu: u32,
    /// Memory in MiB (t3.nano has 512).
    pub memory_mib: u32,
    pub arch: Arch,
    /// On-demand price in USD per hour in the reference region (us-east-1).
    pub on_demand_usd_hour: f64,
}

/// A set of instance types with lookup and ranking.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Catalog {
    types: Vec<InstanceType>,
}

impl Catalog {
    /// A catalogue over the given types.
    pub fn new(types: Vec<InstanceType>) -> Catalog {
        Catalog { types }
    }
    /// The built-in catalogue (common EC2 families with us-east-1 on-demand prices).
    pub fn builtin() -> Catalog {
        Catalog::default()
    }
    /// Looks a type up by name.
    pub fn get(&self, name: &str) -> Option<&InstanceType> {
        self.types.iter().find(|t| t.name == name)
    }
    /// All types.
    pub fn types(&self) -> &[InstanceType] {
        &self.types
    }
    /// The types that satisfy `spec` (cpu, ram, families, arch), best first (cheapest, then
    /// smallest).
    pub fn rank(&self, spec: &RunnerSpec) -> Vec<&InstanceType> {
        let _ = spec;
        Vec::new()
    }
}
