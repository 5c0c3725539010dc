//! Combining what several labels ask for ([`Wants`]) and turning it into a [`RunnerSpec`].
//!
//! Defaults for keys no label sets, and why:
//! - `cpu`: 2–4 vCPU. runs-fleet defaults the minimum to 2 and caps the maximum at twice the
//!   minimum "for bounded spot diversification" (Shatille/runs-fleet `pkg/github/webhook.go`,
//!   `ResolveFlexibleSpec`). An explicit `cpu=N` is exactly N, as the runs-fleet README documents.
//! - `ram`: from 2 GiB per vCPU (compute-optimised) to 4 GiB per vCPU (general purpose), i.e.
//!   `[2 × cpu.min, 4 × cpu.max]` GiB. This keeps out burstables too small to build on (t3.micro:
//!   2 vCPU, 1 GiB) and memory-optimised types that cost more for no CI gain. With the cpu default
//!   it is 4–16 GiB, whose cheapest match (t3a.medium, 2 vCPU / 4 GiB) is close to GitHub's standard
//!   runner.
//! - `arch`: the architecture of the requested families when they agree (`family=c7g` → arm64),
//!   else amd64. runs-fleet lets an empty arch mean "either"; sortie needs one, because the
//!   machine image is per architecture.
//! - `spot`: true (spot first with on-demand fallback, as the seed and runs-fleet do);
//!   `public`: false (private subnet preferred, runs-fleet README).

use super::grammar::Key;
use super::setting::Setting;
use crate::catalog::{Catalog, InstanceType};
use crate::spec::{Arch, Range, RunnerSpec};
use std::collections::BTreeMap;

/// vCPU range when no label sets `cpu` (see the module docs).
pub const DEFAULT_CPU: Range = Range { min: 2, max: 4 };

/// The default memory range for a vCPU range: `[2 × min, 4 × max]` GiB.
pub fn default_ram(cpu: Range) -> Range {
    Range {
        min: cpu.min.saturating_mul(2),
        max: cpu.max.saturating_mul(4),
    }
}

/// Settings gathered from all of a job's labels; each key remembers which label set it.
#[derive(Debug, Default)]
pub(super) struct Wants {
    settings: BTreeMap<Key, (Setting, String)>,
    /// True when `type=` came from a label-map `instance_type`.
    pub(super) type_from_map: bool,
}

impl Wants {
    /// Adds `setting` asked for by `source`; two labels asking different values is a conflict.
    pub(super) fn add(&mut self, setting: Setting, source: &str) -> Result<(), String> {
        if let Some((have, from)) = self.settings.get(&setting.key()) {
            if *have != setting {
                return Err(format!(
                    "label {from} asks for {have} but label {source} asks for {setting}: one job runs on \
                     one machine, so keep only one of them in runs-on"
                ));
            }
            return Ok(());
        }
        self.settings
            .insert(setting.key(), (setting, source.to_string()));
        Ok(())
    }

    fn get(&self, key: Key) -> Option<(&Setting, &str)> {
        self.settings.get(&key).map(|(s, from)| (s, from.as_str()))
    }

    fn range(&self, key: Key) -> Option<(Range, &str)> {
        match self.get(key) {
            Some((Setting::Cpu(r) | Setting::Ram(r), from)) => Some((*r, from)),
            _ => None,
        }
    }

    fn list(&self, key: Key) -> Option<(&[String], &str)> {
        match self.get(key) {
            Some((Setting::Family(l) | Setting::Type(l), from)) => Some((l.as_slice(), from)),
            _ => None,
        }
    }

    fn text(&self, key: Key) -> Option<String> {
        match self.get(key) {
            Some((
                Setting::Pool(s) | Setting::Region(s) | Setting::Env(s) | Setting::Image(s),
                _,
            )) => Some(s.clone()),
            _ => None,
        }
    }

    fn flag(&self, key: Key) -> Option<bool> {
        match self.get(key) {
            Some((Setting::Spot(b) | Setting::Public(b), _)) => Some(*b),
            _ => None,
        }
    }

    fn arch(&self) -> Option<(Arch, &str)> {
        match self.get(Key::Arch) {
            Some((Setting::Arch(a), from)) => Some((*a, from)),
            _ => None,
        }
    }

    /// The `backend=` asked for, if any.
    pub(super) fn backend(&self) -> Option<crate::spec::Backend> {
        match self.get(Key::Backend) {
            Some((Setting::Backend(b), _)) => Some(*b),
            _ => None,
        }
    }
}

/// A spec and a short description of how its instance types were chosen (for the route reason).
pub(super) struct Resolved {
    pub(super) spec: RunnerSpec,
    pub(super) how: String,
}

/// Turns what the labels asked for into a spec whose `instance_types` is non-empty.
pub(super) fn resolve(wants: &Wants, catalog: &Catalog) -> Result<Resolved, String> {
    let mut spec = RunnerSpec {
        disk_gb: wants.get(Key::Disk).and_then(|(s, _)| {
            if let Setting::Disk(n) = s {
                Some(*n)
            } else {
                None
            }
        }),
        pool: wants.text(Key::Pool),
        region: wants.text(Key::Region),
        env: wants.text(Key::Env),
        image: wants.text(Key::Image),
        spot: wants.flag(Key::Spot).unwrap_or(true),
        public: wants.flag(Key::Public).unwrap_or(false),
        backend: wants.backend(),
        ..RunnerSpec::default()
    };
    let how = match wants.list(Key::Type) {
        Some((names, from)) => fixed(&mut spec, wants, names, from, catalog)?,
        None => ranked(&mut spec, wants, catalog)?,
    };
    Ok(Resolved { spec, how })
}

/// `type=` or a label-map `instance_type`: exactly those types, checked against other keys.
fn fixed(
    spec: &mut RunnerSpec,
    wants: &Wants,
    names: &[String],
    from: &str,
    catalog: &Catalog,
) -> Result<String, String> {
    let types = lookup(names, from, catalog)?;
    let arch = types.first().map(|t| t.arch).unwrap_or_default();
    if types.iter().any(|t| t.arch != arch) {
        return Err(format!(
            "label {from} mixes amd64 and arm64 instance types: a job needs one architecture"
        ));
    }
    if let Some((want, asked_by)) = wants.arch() {
        if want != arch {
            return Err(conflict(
                from,
                &types[0].name,
                &format!("is {arch}"),
                asked_by,
                &format!("arch={want}"),
            ));
        }
    }
    for t in &types {
        check_fixed(t, wants, from)?;
    }
    let vcpus = types.iter().map(|t| t.vcpu);
    let gibs = types.iter().map(|t| t.memory_gib());
    spec.cpu = Range {
        min: vcpus.clone().min().unwrap_or(0),
        max: vcpus.max().unwrap_or(0),
    };
    spec.ram_gb = Range {
        min: gibs.clone().min().unwrap_or(0),
        max: gibs.max().unwrap_or(0),
    };
    spec.families = wants
        .list(Key::Family)
        .map(|(f, _)| f.to_vec())
        .unwrap_or_default();
    spec.arch = arch;
    spec.instance_types = types.iter().map(|t| t.name.clone()).collect();
    let source = if wants.type_from_map {
        "label map"
    } else {
        "type="
    };
    Ok(format!("{} ({source})", spec.instance_types.join(", ")))
}

/// The named types, de-duplicated, in the order given; an unknown name is an error.
fn lookup<'c>(
    names: &[String],
    from: &str,
    catalog: &'c Catalog,
) -> Result<Vec<&'c InstanceType>, String> {
    let mut types: Vec<&InstanceType> = Vec::new();
    for name in names {
        let t = catalog.get(name).ok_or_else(|| {
            format!(
                "instance type {name:?} (label {from}) is not in the instance-type catalogue: check the \
                 spelling; sortie launches only types whose size it knows"
            )
        })?;
        if !types.iter().any(|have| have.name == t.name) {
            types.push(t);
        }
    }
    Ok(types)
}

/// A fixed type must also satisfy any cpu=, ram= and family= another label asked for.
fn check_fixed(t: &InstanceType, wants: &Wants, from: &str) -> Result<(), String> {
    if let Some((cpu, by)) = wants.range(Key::Cpu) {
        if !cpu.contains(t.vcpu) {
            return Err(conflict(
                from,
                &t.name,
                &format!("has {} vCPU", t.vcpu),
                by,
                &format!("cpu={cpu}"),
            ));
        }
    }
    if let Some((ram, by)) = wants.range(Key::Ram) {
        let mib = u64::from(t.memory_mib);
        if mib < u64::from(ram.min) * 1024 || mib > u64::from(ram.max) * 1024 {
            let has = format!("has {} MiB of memory", t.memory_mib);
            return Err(conflict(from, &t.name, &has, by, &format!("ram={ram}")));
        }
    }
    if let Some((families, by)) = wants.list(Key::Family) {
        if !families.contains(&t.family) {
            let asked = format!("family={}", families.join("+"));
            return Err(conflict(
                from,
                &t.name,
                &format!("is a {}", t.family),
                by,
                &asked,
            ));
        }
    }
    Ok(())
}

fn conflict(from: &str, name: &str, has: &str, by: &str, asked: &str) -> String {
    format!("label {from} fixes {name}, which {has}, but label {by} asks for {asked}: drop one of the two labels")
}

/// No explicit types: rank the catalogue for the (defaulted) cpu, ram, family and arch.
fn ranked(spec: &mut RunnerSpec, wants: &Wants, catalog: &Catalog) -> Result<String, String> {
    spec.cpu = wants.range(Key::Cpu).map(|(r, _)| r).unwrap_or(DEFAULT_CPU);
    spec.ram_gb = wants
        .range(Key::Ram)
        .map(|(r, _)| r)
        .unwrap_or_else(|| default_ram(spec.cpu));
    spec.families = wants
        .list(Key::Family)
        .map(|(f, _)| f.to_vec())
        .unwrap_or_default();
    spec.arch = match wants.arch() {
        Some((a, _)) => a,
        None => catalog.arch_of_families(&spec.families).unwrap_or_default(),
    };
    let shape = describe(spec);
    let ranked = catalog.rank(spec);
    let Some(first) = ranked.first() else {
        return Err(format!(
            "no instance type in the catalogue has {shape}: widen cpu= or ram=, or choose other families"
        ));
    };
    let how = format!(
        "{} (cheapest of {} types with {shape})",
        first.name,
        ranked.len()
    );
    spec.instance_types = ranked.iter().map(|t| t.name.clone()).collect();
    Ok(how)
}

/// "4–16 vCPU, 8–32 GiB, arm64, families c7g+m7g".
fn describe(spec: &RunnerSpec) -> String {
    let span = |r: Range| {
        if r.min == r.max {
            r.min.to_string()
        } else {
            format!("{}–{}", r.min, r.max)
        }
    };
    let mut text = format!(
        "{} vCPU, {} GiB, {}",
        span(spec.cpu),
        span(spec.ram_gb),
        spec.arch
    );
    if !spec.families.is_empty() {
        text.push_str(&format!(", families {}", spec.families.join("+")));
    }
    text
}
