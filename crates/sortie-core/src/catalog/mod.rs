//! The instance-type catalogue and cost model.
//!
//! [`Catalog::builtin`] knows the common EC2 families (see [`builtin`](self) for the table and where
//! its numbers come from); [`Catalog::rank`] turns a [`RunnerSpec`] into the instance types that
//! satisfy it, cheapest first; [`InstanceType::cost_usd`] and [`InstanceType::monthly_estimate_usd`]
//! price a job or a month of jobs.

mod builtin;
#[cfg(test)]
mod tests;

use crate::spec::{Arch, RunnerSpec};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// Days in the month used by [`InstanceType::monthly_estimate_usd`] (AWS's own calculator uses
/// 730 hours a month, i.e. 30.4 days; 30 keeps the arithmetic obvious for an estimate).
pub const DAYS_PER_MONTH: f64 = 30.0;

/// One machine type a provider can make.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InstanceType {
    /// e.g. `t3.small`.
    pub name: String,
    /// e.g. `t3`.
    pub family: String,
    /// Number of vCPUs.
    pub vcpu: u32,
    /// Memory in MiB (t3.nano has 512).
    pub memory_mib: u32,
    /// CPU architecture.
    pub arch: Arch,
    /// On-demand price in USD per hour in the reference region (us-east-1).
    pub on_demand_usd_hour: f64,
}

impl InstanceType {
    /// Memory in whole GiB, rounded down (t3.nano's 512 MiB is 0): the amount a job can count on.
    pub fn memory_gib(&self) -> u32 {
        self.memory_mib / 1024
    }

    /// Whether this type satisfies `spec`'s cpu range, memory range (GiB, compared in MiB so that
    /// 512 MiB is below 1 GiB), architecture and family list (empty means any family).
    pub fn satisfies(&self, spec: &RunnerSpec) -> bool {
        let mib = u64::from(self.memory_mib);
        let ram_min = u64::from(spec.ram_gb.min) * 1024;
        let ram_max = u64::from(spec.ram_gb.max) * 1024;
        spec.cpu.contains(self.vcpu)
            && ram_min <= mib
            && mib <= ram_max
            && self.arch == spec.arch
            && (spec.families.is_empty() || spec.families.contains(&self.family))
    }

    /// The cost in USD of running this type for `minutes`, at the on-demand price reduced by
    /// `spot_discount` (0.0 = on-demand, 0.7 = the 70 % runs-fleet assumes for spot). The
    /// discount is clamped to 0..=1 and a NaN discount counts as 0. EC2 bills Linux per second
    /// with a 60-second minimum, so whole minutes are exact for any job that ran at all.
    pub fn cost_usd(&self, minutes: u32, spot_discount: f64) -> f64 {
        let discount = if spot_discount.is_nan() {
            0.0
        } else {
            spot_discount.clamp(0.0, 1.0)
        };
        self.on_demand_usd_hour * f64::from(minutes) / 60.0 * (1.0 - discount)
    }

    /// A monthly estimate in USD for `jobs_per_day` jobs of `minutes_per_job` each on this type
    /// (over [`DAYS_PER_MONTH`] days), in the manner of runs-fleet's cost model
    /// (Shatille/runs-fleet `pkg/cost/`): instance time only, no EBS, data transfer or requests.
    pub fn monthly_estimate_usd(
        &self,
        jobs_per_day: u32,
        minutes_per_job: u32,
        spot_discount: f64,
    ) -> f64 {
        self.cost_usd(minutes_per_job, spot_discount) * f64::from(jobs_per_day) * DAYS_PER_MONTH
    }
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

    /// The built-in catalogue: t3, t3a, t4g, m5, m6i, m7i, m6g, m7g, c6i, c7i, c6g, c7g, r6i, r7g
    /// with us-east-1 Linux on-demand prices (a snapshot; the provider refreshes prices at run time).
    pub fn builtin() -> Catalog {
        Catalog::new(builtin::types())
    }

    /// Looks a type up by name (exact, as EC2 spells it: `t3.small`).
    pub fn get(&self, name: &str) -> Option<&InstanceType> {
        self.types.iter().find(|t| t.name == name)
    }

    /// All types.
    pub fn types(&self) -> &[InstanceType] {
        &self.types
    }

    /// The architecture shared by every type of the given families, if the catalogue knows at least
    /// one of them and they agree (`c7g` and `m7g` → arm64; `c7g` and `c6i` → `None`).
    pub fn arch_of_families(&self, families: &[String]) -> Option<Arch> {
        let mut arches = self
            .types
            .iter()
            .filter(|t| families.contains(&t.family))
            .map(|t| t.arch);
        let first = arches.next()?;
        arches.all(|a| a == first).then_some(first)
    }

    /// The types that satisfy `spec` (vCPU in `spec.cpu`, memory in `spec.ram_gb` GiB, arch equal,
    /// family in `spec.families` when that is non-empty), best first: cheapest on-demand price,
    /// then fewer vCPUs, then name. Deterministic for a given catalogue and spec.
    pub fn rank(&self, spec: &RunnerSpec) -> Vec<&InstanceType> {
        let mut found: Vec<&InstanceType> =
            self.types.iter().filter(|t| t.satisfies(spec)).collect();
        found.sort_by(|a, b| cheaper_first(a, b));
        found
    }
}

/// Price, then vCPU, then name. `total_cmp` gives a total order even for NaN prices from a
/// hand-made catalogue, so sorting never panics and stays deterministic.
fn cheaper_first(a: &InstanceType, b: &InstanceType) -> Ordering {
    a.on_demand_usd_hour
        .total_cmp(&b.on_demand_usd_hour)
        .then(a.vcpu.cmp(&b.vcpu))
        .then_with(|| a.name.cmp(&b.name))
}
