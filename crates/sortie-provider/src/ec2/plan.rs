//! Which (instance type, subnet) pairs a launch may try, and by which API. Pure: takes the spec,
//! the catalogue, the configured subnets and the breaker's view at one instant.

use super::circuit::{CircuitBreaker, CircuitKey};
use super::config::{Ec2Config, SubnetConfig};
use crate::error::{ProviderError, Result};
use crate::provider::Skipped;
use sortie_core::catalog::Catalog;
use sortie_core::spec::RunnerSpec;
use std::time::Instant;

/// One pair a launch may try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// Instance type.
    pub instance_type: String,
    /// Subnet id.
    pub subnet_id: String,
    /// The subnet's availability zone.
    pub availability_zone: String,
}

impl Candidate {
    /// The breaker key of this pair.
    pub fn key(&self) -> CircuitKey {
        CircuitKey::new(&self.instance_type, &self.availability_zone)
    }
}

/// Which API makes the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `RunInstances`, one pair at a time (one fixed type, or a user-supplied launch template).
    RunInstances,
    /// One `CreateFleet` (type `instant`) with every pair as an override.
    Fleet,
}

/// The outcome of planning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// Pairs to try, best first (catalogue rank, then configured subnet order).
    pub candidates: Vec<Candidate>,
    /// Pairs left out because their circuit is open.
    pub skipped: Vec<Skipped>,
    /// The API to use.
    pub route: Route,
}

/// The instance types for `spec`: its fixed list, else the catalogue's ranking.
pub fn instance_types(spec: &RunnerSpec, catalog: &Catalog, max: usize) -> Result<Vec<String>> {
    let types: Vec<String> = if spec.instance_types.is_empty() {
        catalog
            .rank(spec)
            .into_iter()
            .map(|t| t.name.clone())
            .collect()
    } else {
        spec.instance_types.clone()
    };
    if types.is_empty() {
        return Err(ProviderError::NoCandidates(format!(
            "no instance type in the catalogue has cpu={} ram={} GiB arch={}{}; widen the labels or add types",
            spec.cpu,
            spec.ram_gb,
            spec.arch,
            if spec.families.is_empty() { String::new() } else { format!(" family={}", spec.families.join("+")) }
        )));
    }
    Ok(types.into_iter().take(max.max(1)).collect())
}

/// The subnets for `spec`: public ones when it asks for a public IP; otherwise private ones, or
/// public ones when no private subnet is configured (runs-fleet, seed 004: "default: private
/// subnet preferred").
pub fn subnets<'a>(spec: &RunnerSpec, all: &'a [SubnetConfig]) -> Result<Vec<&'a SubnetConfig>> {
    let public: Vec<_> = all.iter().filter(|s| s.public).collect();
    let private: Vec<_> = all.iter().filter(|s| !s.public).collect();
    let chosen = match (spec.public, private.is_empty()) {
        (true, _) => public,
        (false, false) => private,
        (false, true) => public,
    };
    if chosen.is_empty() {
        let which = if spec.public { "public" } else { "any" };
        return Err(ProviderError::Config(format!(
            "no {which} subnet configured for ec2; add one under ec2.subnets"
        )));
    }
    Ok(chosen)
}

/// Plans a launch of `spec` at `now`.
pub fn plan(
    spec: &RunnerSpec,
    cfg: &Ec2Config,
    catalog: &Catalog,
    breaker: &CircuitBreaker,
    now: Instant,
) -> Result<Plan> {
    let types = instance_types(spec, catalog, cfg.max_instance_types)?;
    let subnets = subnets(spec, &cfg.subnets)?;
    let route = if types.len() == 1 || cfg.launch_template.is_some() {
        Route::RunInstances
    } else {
        Route::Fleet
    };
    let mut candidates = Vec::new();
    let mut skipped = Vec::new();
    for t in &types {
        for s in &subnets {
            let c = Candidate {
                instance_type: t.clone(),
                subnet_id: s.id.clone(),
                availability_zone: s.availability_zone.clone(),
            };
            if breaker.allows(&c.key(), now) {
                candidates.push(c);
            } else {
                skipped.push(Skipped {
                    instance_type: c.instance_type,
                    availability_zone: c.availability_zone,
                    reason: "circuit open after repeated capacity errors".into(),
                });
            }
        }
    }
    if candidates.is_empty() {
        let keys = skipped
            .iter()
            .map(|s| CircuitKey::new(&s.instance_type, &s.availability_zone))
            .collect();
        return Err(ProviderError::AllCircuitsOpen(keys));
    }
    Ok(Plan {
        candidates,
        skipped,
        route,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ec2::circuit::CircuitConfig;
    use sortie_core::catalog::InstanceType;
    use sortie_core::spec::Arch;

    fn cfg() -> Ec2Config {
        let mut c = Ec2Config::new("owner", "ami-amd");
        c.subnets = vec![
            SubnetConfig {
                id: "subnet-a".into(),
                availability_zone: "us-east-1a".into(),
                public: false,
            },
            SubnetConfig {
                id: "subnet-b".into(),
                availability_zone: "us-east-1b".into(),
                public: false,
            },
            SubnetConfig {
                id: "subnet-p".into(),
                availability_zone: "us-east-1a".into(),
                public: true,
            },
        ];
        c
    }

    fn spec(types: &[&str]) -> RunnerSpec {
        RunnerSpec {
            instance_types: types.iter().map(|s| s.to_string()).collect(),
            ..RunnerSpec::default()
        }
    }

    #[test]
    fn one_fixed_type_uses_run_instances_on_private_subnets() {
        let p = plan(
            &spec(&["t3.small"]),
            &cfg(),
            &Catalog::default(),
            &CircuitBreaker::default(),
            Instant::now(),
        )
        .unwrap();
        assert_eq!(p.route, Route::RunInstances);
        let subnets: Vec<_> = p.candidates.iter().map(|c| c.subnet_id.as_str()).collect();
        assert_eq!(subnets, ["subnet-a", "subnet-b"]);
    }

    #[test]
    fn several_types_use_a_fleet_and_public_when_asked() {
        let mut s = spec(&["c7g.xlarge", "m7g.xlarge"]);
        s.public = true;
        let p = plan(
            &s,
            &cfg(),
            &Catalog::default(),
            &CircuitBreaker::default(),
            Instant::now(),
        )
        .unwrap();
        assert_eq!(p.route, Route::Fleet);
        assert_eq!(p.candidates.len(), 2);
        assert!(p.candidates.iter().all(|c| c.subnet_id == "subnet-p"));
    }

    #[test]
    fn open_circuits_are_skipped_and_reported() {
        let mut b = CircuitBreaker::new(CircuitConfig {
            failure_threshold: 1,
            ..CircuitConfig::default()
        });
        let now = Instant::now();
        b.record_failure(&CircuitKey::new("t3.small", "us-east-1a"), now);
        let p = plan(&spec(&["t3.small"]), &cfg(), &Catalog::default(), &b, now).unwrap();
        assert_eq!(p.candidates.len(), 1);
        assert_eq!(p.candidates[0].availability_zone, "us-east-1b");
        assert_eq!(p.skipped.len(), 1);
        assert_eq!(p.skipped[0].availability_zone, "us-east-1a");
        b.record_failure(&CircuitKey::new("t3.small", "us-east-1b"), now);
        let err = plan(&spec(&["t3.small"]), &cfg(), &Catalog::default(), &b, now).unwrap_err();
        assert!(
            matches!(err, ProviderError::AllCircuitsOpen(ref k) if k.len() == 2),
            "{err}"
        );
    }

    #[test]
    fn catalogue_ranking_is_used_when_no_type_is_fixed() {
        let t = |name: &str| InstanceType {
            name: name.into(),
            family: name.split('.').next().unwrap_or_default().into(),
            vcpu: 2,
            memory_mib: 4096,
            arch: Arch::Amd64,
            on_demand_usd_hour: 0.02,
        };
        let catalog = Catalog::new(vec![t("t3.medium"), t("t3a.medium")]);
        // `rank` may still be a stub returning nothing; then planning says why.
        match plan(
            &spec(&[]),
            &cfg(),
            &catalog,
            &CircuitBreaker::default(),
            Instant::now(),
        ) {
            Ok(p) => assert!(p
                .candidates
                .iter()
                .all(|c| c.instance_type.ends_with(".medium"))),
            Err(e) => assert!(
                e.to_string()
                    .contains("no instance type in the catalogue has cpu=2"),
                "{e}"
            ),
        }
    }

    #[test]
    fn no_subnets_is_a_config_error() {
        let mut c = cfg();
        c.subnets.retain(|s| !s.public);
        let mut s = spec(&["t3.small"]);
        s.public = true;
        let err = plan(
            &s,
            &c,
            &Catalog::default(),
            &CircuitBreaker::default(),
            Instant::now(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("no public subnet"), "{err}");
    }
}
