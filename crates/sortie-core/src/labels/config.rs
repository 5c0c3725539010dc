//! [`RoutingConfig`]: the `[routing]` table of sortie's configuration file.
//!
//! ```toml
//! [routing]
//! default_provider = "ec2"          # provider for labels that do not name one
//! unknown_labels = "unroutable"     # or "skip", or "ignore"
//! seed_labels = true                # keep the built-in map (go, docker, deploy, node, godot, host)
//! groups = []                       # runner groups served; empty = any
//!
//! [routing.labels.go]
//! instance_type = "t3.small"
//!
//! [routing.labels.host]
//! skip = "served by a standing runner"
//!
//! [routing.labels.gpu]
//! spec = "cpu=8/ram=32/family=g5"
//! provider = "ec2"
//! pool = "gpu-warm"
//! ```

use super::grammar::{parse_settings, Key};
use super::setting::Setting;
use crate::catalog::Catalog;
use serde::Deserialize;
use std::collections::BTreeMap;

/// How labels are routed: the plain-label map and defaults. Deserialised from the `[routing]`
/// table of the configuration file; every key is optional and unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoutingConfig {
    /// `default_provider`: the provider used when no label names one (`local`, `ec2`, `k8s`).
    /// Default `"ec2"`, the seed dispatcher's only provider.
    pub default_provider: String,
    /// `[routing.labels.NAME]`: plain labels sortie serves, by name. These entries are added to
    /// the seed's map (see [`seed_labels`](Self::seed_labels)); an entry with a seed label's name
    /// replaces it. Names match case-insensitively, as GitHub matches runner labels.
    pub labels: BTreeMap<String, LabelRule>,
    /// `seed_labels`: whether the seed dispatcher's map applies underneath `labels`
    /// (tinqs/ci README, "Dispatcher (Lambda)": `go`→t3.small, `docker`→t3.medium,
    /// `deploy`→t3.micro, `node`→t3.medium, `godot`→t3.medium, plus `host`, served by a standing
    /// runner). Default `true`; set `false` to serve only the labels written in `labels`.
    pub seed_labels: bool,
    /// `unknown_labels`: what to do with a label that is neither one of GitHub's default
    /// self-hosted labels, nor in the map, nor a `sortie=`/`runs-fleet=` label. Default
    /// `"unroutable"`.
    pub unknown_labels: UnknownLabels,
    /// `groups`: GitHub runner groups (`runs-on.group`) sortie serves. A job naming another group
    /// is skipped (left to that group's runners). Empty (the default) serves every group.
    pub groups: Vec<String>,
}

/// What to do with a label nobody recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnknownLabels {
    /// Refuse the job and say which label is unknown (the default: a typo should not launch a
    /// machine).
    #[default]
    Unroutable,
    /// Leave the job to other runners (for forges where sortie shares the queue with standing
    /// runners that carry custom labels).
    Skip,
    /// Drop unknown labels and size the job from the others (or the defaults).
    Ignore,
}

/// One entry of `[routing.labels]`. At most one of `instance_type`, `spec` and `skip` may be set;
/// an entry with none of them serves the label with the default machine.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LabelRule {
    /// `instance_type = "t3.small"`: launch exactly this type (it must be in the catalogue, so its
    /// size and architecture are known). Spot first, as the seed did.
    pub instance_type: Option<String>,
    /// `spec = "cpu=8/ram=32/family=g5"`: the settings of a `sortie=` label (no prefix, no run id).
    pub spec: Option<String>,
    /// `skip = "served by a standing runner"`: sortie leaves jobs with this label alone; the text is
    /// the reason shown for them.
    pub skip: Option<String>,
    /// `provider = "k8s"`: the provider for this label instead of `default_provider`.
    pub provider: Option<String>,
    /// `pool = "warm"`: take a machine from this warm pool.
    pub pool: Option<String>,
}

/// Why a `[routing]` table cannot be used; [`RoutingConfig::validate`] lists all of them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingConfigError {
    /// One `[routing.labels.NAME]` entry is wrong.
    #[error("routing.labels.{label}: {reason}")]
    Rule {
        /// The entry's name.
        label: String,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// Two entries differ only in case, so one label would match both.
    #[error("routing.labels has both {a:?} and {b:?}: labels match case-insensitively, keep one")]
    CaseClash {
        /// First name.
        a: String,
        /// Second name.
        b: String,
    },
    /// `default_provider` is empty.
    #[error("routing.default_provider is empty: set it to local, ec2 or k8s")]
    EmptyDefaultProvider,
}

impl Default for RoutingConfig {
    fn default() -> Self {
        RoutingConfig {
            default_provider: "ec2".into(),
            labels: BTreeMap::new(),
            seed_labels: true,
            unknown_labels: UnknownLabels::default(),
            groups: Vec::new(),
        }
    }
}

/// The seed dispatcher's label map (tinqs/ci README, "Dispatcher (Lambda)" table, and the
/// `runs-on: host` jobs its dispatcher leaves to a standing runner).
pub fn seed_label_map() -> BTreeMap<String, LabelRule> {
    seed_labels().clone()
}

/// The seed map, built once: `rule` looks labels up in it for every job.
fn seed_labels() -> &'static BTreeMap<String, LabelRule> {
    static SEED: std::sync::OnceLock<BTreeMap<String, LabelRule>> = std::sync::OnceLock::new();
    SEED.get_or_init(build_seed_label_map)
}

fn build_seed_label_map() -> BTreeMap<String, LabelRule> {
    let typed = |t: &str| LabelRule {
        instance_type: Some(t.into()),
        ..LabelRule::default()
    };
    BTreeMap::from([
        ("go".to_string(), typed("t3.small")),
        ("docker".to_string(), typed("t3.medium")),
        ("deploy".to_string(), typed("t3.micro")),
        ("node".to_string(), typed("t3.medium")),
        ("godot".to_string(), typed("t3.medium")),
        (
            "host".to_string(),
            LabelRule {
                skip: Some("served by a standing runner".into()),
                ..LabelRule::default()
            },
        ),
    ])
}

impl RoutingConfig {
    /// The rule for a plain label name: `labels` first, then the seed map when enabled; both
    /// compared case-insensitively. Returns the rule's own name with it.
    pub fn rule(&self, name: &str) -> Option<(String, LabelRule)> {
        let find = |map: &BTreeMap<String, LabelRule>| {
            map.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(k, r)| (k.clone(), r.clone()))
        };
        find(&self.labels).or_else(|| {
            if self.seed_labels {
                find(seed_labels())
            } else {
                None
            }
        })
    }

    /// The map in force: the seed map (when enabled) overlaid with `labels`.
    pub fn effective_labels(&self) -> BTreeMap<String, LabelRule> {
        let mut map = if self.seed_labels {
            seed_label_map()
        } else {
            BTreeMap::new()
        };
        for (name, rule) in &self.labels {
            map.retain(|k, _| !k.eq_ignore_ascii_case(name));
            map.insert(name.clone(), rule.clone());
        }
        map
    }

    /// Checks the table against `catalog`; for `sortie config check`. Returns every problem.
    pub fn validate(&self, catalog: &Catalog) -> Result<(), Vec<RoutingConfigError>> {
        let mut errors = Vec::new();
        if self.default_provider.trim().is_empty() {
            errors.push(RoutingConfigError::EmptyDefaultProvider);
        }
        let names: Vec<&String> = self.labels.keys().collect();
        for (i, a) in names.iter().enumerate() {
            for b in &names[i + 1..] {
                if a.eq_ignore_ascii_case(b) {
                    errors.push(RoutingConfigError::CaseClash {
                        a: a.to_string(),
                        b: b.to_string(),
                    });
                }
            }
        }
        for (name, rule) in self.effective_labels() {
            if let Err(reason) = rule.settings(catalog) {
                errors.push(RoutingConfigError::Rule {
                    label: name,
                    reason,
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl LabelRule {
    /// The settings this rule contributes (`type=` for `instance_type`, the parsed `spec`, and
    /// `pool=`), or why the rule is unusable. A `skip` rule contributes nothing.
    pub fn settings(&self, catalog: &Catalog) -> Result<Vec<Setting>, String> {
        let set = [
            self.instance_type.is_some(),
            self.spec.is_some(),
            self.skip.is_some(),
        ];
        if set.iter().filter(|s| **s).count() > 1 {
            return Err("set only one of instance_type, spec and skip".into());
        }
        if self.skip.is_some() && (self.pool.is_some() || self.provider.is_some()) {
            return Err(
                "a skip rule cannot also set pool or provider: sortie does not serve it".into(),
            );
        }
        if self
            .provider
            .as_deref()
            .is_some_and(|p| p.trim().is_empty())
        {
            return Err("provider is empty: set it to local, ec2 or k8s, or remove it".into());
        }
        let mut settings = Vec::new();
        if let Some(t) = &self.instance_type {
            if catalog.get(t).is_none() {
                return Err(format!("instance_type {t:?} is not in the instance-type catalogue: check the spelling (e.g. t3.small)"));
            }
            settings.push(Setting::Type(vec![t.clone()]));
        }
        if let Some(spec) = &self.spec {
            let parsed = parse_settings(spec, spec).map_err(|e| format!("spec is invalid: {e}"))?;
            settings.extend(parsed);
        }
        if let Some(pool) = &self.pool {
            if settings.iter().any(|s| s.key() == Key::Pool) {
                return Err("pool is set both in spec and as pool: keep one".into());
            }
            let pool =
                Setting::parse(Key::Pool, pool).map_err(|e| format!("pool is invalid: {e}"))?;
            settings.push(pool);
        }
        Ok(settings)
    }
}
