use super::*;
use crate::spec::Range;

fn spec(cpu: Range, ram: Range, arch: Arch, families: &[&str]) -> RunnerSpec {
    RunnerSpec {
        cpu,
        ram_gb: ram,
        arch,
        families: families.iter().map(|f| f.to_string()).collect(),
        ..RunnerSpec::default()
    }
}

fn r(min: u32, max: u32) -> Range {
    Range { min, max }
}

// Rows checked against the EC2 instance-type specifications
// (https://docs.aws.amazon.com/ec2/latest/instancetypes/gp.html, co.html, mo.html) and the
// us-east-1 Linux on-demand price list (https://aws.amazon.com/ec2/pricing/on-demand/).
// The seed's label map (tinqs/ci README, "Dispatcher (Lambda)") uses t3.micro, t3.small, t3.medium.
#[test]
fn builtin_rows_match_aws() {
    let rows: &[(&str, &str, u32, u32, Arch, f64)] = &[
        ("t3.nano", "t3", 2, 512, Arch::Amd64, 0.0052),
        ("t3.micro", "t3", 2, 1024, Arch::Amd64, 0.0104),
        ("t3.small", "t3", 2, 2048, Arch::Amd64, 0.0208),
        ("t3.medium", "t3", 2, 4096, Arch::Amd64, 0.0416),
        ("t3a.medium", "t3a", 2, 4096, Arch::Amd64, 0.0376),
        ("t4g.medium", "t4g", 2, 4096, Arch::Arm64, 0.0336),
        ("m5.large", "m5", 2, 8192, Arch::Amd64, 0.096),
        ("m6i.xlarge", "m6i", 4, 16384, Arch::Amd64, 0.192),
        ("m7i.2xlarge", "m7i", 8, 32768, Arch::Amd64, 0.4032),
        ("m6g.medium", "m6g", 1, 4096, Arch::Arm64, 0.0385),
        ("m7g.large", "m7g", 2, 8192, Arch::Arm64, 0.0816),
        ("c6i.xlarge", "c6i", 4, 8192, Arch::Amd64, 0.17),
        ("c7i.large", "c7i", 2, 4096, Arch::Amd64, 0.08925),
        ("c6g.4xlarge", "c6g", 16, 32768, Arch::Arm64, 0.544),
        ("c7g.xlarge", "c7g", 4, 8192, Arch::Arm64, 0.145),
        ("r6i.large", "r6i", 2, 16384, Arch::Amd64, 0.126),
        ("r7g.4xlarge", "r7g", 16, 131072, Arch::Arm64, 0.8568),
    ];
    let catalog = Catalog::builtin();
    for &(name, family, vcpu, mib, arch, price) in rows {
        let t = catalog
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"));
        assert_eq!(
            (t.family.as_str(), t.vcpu, t.memory_mib, t.arch),
            (family, vcpu, mib, arch),
            "{name}"
        );
        assert!(
            (t.on_demand_usd_hour - price).abs() < 1e-9,
            "{name}: {}",
            t.on_demand_usd_hour
        );
    }
}

#[test]
fn builtin_is_well_formed() {
    let catalog = Catalog::builtin();
    let families = [
        "t3", "t3a", "t4g", "m5", "m6i", "m7i", "m6g", "m7g", "c6i", "c7i", "c6g", "c7g", "r6i",
        "r7g",
    ];
    for f in families {
        assert!(
            catalog.types().iter().any(|t| t.family == f),
            "family {f} missing"
        );
    }
    let mut names: Vec<&str> = catalog.types().iter().map(|t| t.name.as_str()).collect();
    let total = names.len();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), total, "duplicate names");
    for t in catalog.types() {
        assert!(
            t.on_demand_usd_hour > 0.0 && t.vcpu > 0 && t.memory_mib >= 512,
            "{t:?}"
        );
        assert!(families.contains(&t.family.as_str()), "{t:?}");
        // Graviton families end in `g`; everything else here is x86_64.
        assert_eq!(t.arch == Arch::Arm64, t.family.ends_with('g'), "{}", t.name);
    }
    // Intel/AMD m/c/r families have no `medium`; Graviton ones do (EC2 instance-type docs).
    assert!(catalog.get("m6i.medium").is_none() && catalog.get("c7g.medium").is_some());
}

// Ranking rows: (spec, expected names in order).
#[test]
fn rank_table() {
    let catalog = Catalog::builtin();
    let rows: Vec<(RunnerSpec, Vec<&str>)> = vec![
        // The seed's go label: exactly 2 vCPU / 2 GiB amd64 → the two 2 GiB burstables.
        (
            spec(r(2, 2), r(2, 2), Arch::Amd64, &[]),
            vec!["t3a.small", "t3.small"],
        ),
        (spec(r(2, 2), r(2, 2), Arch::Arm64, &[]), vec!["t4g.small"]),
        // runs-fleet README example family=c7g+m7g with cpu=4+16/ram=8+32, arm64.
        (
            spec(r(4, 16), r(8, 32), Arch::Arm64, &["c7g", "m7g"]),
            vec![
                "c7g.xlarge",
                "m7g.xlarge",
                "c7g.2xlarge",
                "m7g.2xlarge",
                "c7g.4xlarge",
            ],
        ),
        // Family filter excludes everything of the other arch.
        (spec(r(1, 64), r(1, 512), Arch::Amd64, &["c7g"]), vec![]),
        // 512 MiB is below 1 GiB: a 1 GiB minimum excludes nano.
        (
            spec(r(2, 2), r(0, 1), Arch::Amd64, &["t3"]),
            vec!["t3.nano", "t3.micro"],
        ),
        (
            spec(r(2, 2), r(1, 1), Arch::Amd64, &["t3"]),
            vec!["t3.micro"],
        ),
        // Equal prices (m5.large and m6i.large both 0.096) fall back to name order.
        (
            spec(r(2, 2), r(8, 8), Arch::Amd64, &["m5", "m6i"]),
            vec!["m5.large", "m6i.large"],
        ),
    ];
    for (s, want) in rows {
        let got: Vec<&str> = catalog.rank(&s).iter().map(|t| t.name.as_str()).collect();
        assert_eq!(got, want, "{s:?}");
    }
}

#[test]
fn rank_ties_prefer_fewer_vcpu_then_name() {
    let t = |name: &str, vcpu| InstanceType {
        name: name.into(),
        family: "x".into(),
        vcpu,
        memory_mib: 4096,
        arch: Arch::Amd64,
        on_demand_usd_hour: 0.1,
    };
    let catalog = Catalog::new(vec![t("x.b", 4), t("x.c", 2), t("x.a", 4)]);
    let got: Vec<&str> = catalog
        .rank(&spec(r(1, 8), r(4, 4), Arch::Amd64, &[]))
        .iter()
        .map(|t| t.name.as_str())
        .collect();
    assert_eq!(got, ["x.c", "x.a", "x.b"]);
}

#[test]
fn rank_survives_nan_prices() {
    let mut bad = Catalog::builtin().types()[0].clone();
    bad.on_demand_usd_hour = f64::NAN;
    let catalog = Catalog::new(vec![bad.clone(), Catalog::builtin().types()[1].clone()]);
    assert_eq!(
        catalog
            .rank(&spec(r(2, 2), r(0, 1), Arch::Amd64, &[]))
            .len(),
        2
    );
}

#[test]
fn arch_of_families() {
    let c = Catalog::builtin();
    let fams = |f: &[&str]| f.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        c.arch_of_families(&fams(&["c7g", "m7g"])),
        Some(Arch::Arm64)
    );
    assert_eq!(c.arch_of_families(&fams(&["c6i"])), Some(Arch::Amd64));
    assert_eq!(c.arch_of_families(&fams(&["c7g", "c6i"])), None);
    assert_eq!(c.arch_of_families(&fams(&["g5"])), None);
}

#[test]
fn cost_model() {
    let c = Catalog::builtin();
    let t3_small = c.get("t3.small").unwrap();
    // 60 minutes on-demand is the hourly price; 30 minutes is half.
    assert!((t3_small.cost_usd(60, 0.0) - 0.0208).abs() < 1e-12);
    assert!((t3_small.cost_usd(30, 0.0) - 0.0104).abs() < 1e-12);
    // runs-fleet's fixed 70 % spot discount (README, "Cost reporting caveats").
    assert!((t3_small.cost_usd(60, 0.7) - 0.00624).abs() < 1e-12);
    // Out-of-range and NaN discounts are clamped, never produce negative or NaN costs.
    assert_eq!(t3_small.cost_usd(60, 1.5), 0.0);
    assert!((t3_small.cost_usd(60, -1.0) - 0.0208).abs() < 1e-12);
    assert!((t3_small.cost_usd(60, f64::NAN) - 0.0208).abs() < 1e-12);
    // runs-fleet's cost-model target: 100 jobs/day at 10 min. On t4g.medium spot (70 % off):
    // 0.0336 / 6 * 0.3 * 100 * 30 = 5.04 USD/month.
    let t4g = c.get("t4g.medium").unwrap();
    assert!((t4g.monthly_estimate_usd(100, 10, 0.7) - 5.04).abs() < 1e-9);
}
