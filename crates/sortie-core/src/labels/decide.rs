//! [`route_job`]: a job's labels → [`RouteDecision`].
//!
//! Order of the rules (the first that applies decides):
//! 1. no labels and no group → unroutable;
//! 2. a runner group outside `routing.groups` → skip;
//! 3. a label that does not parse → unroutable, with the parse error;
//! 4. a skip label (`host`, a GitHub-hosted label) → skip, unless combined with a label only
//!    sortie serves (a `sortie=` label or a sized label-map entry), which is a conflict;
//! 5. `windows`, `macos`, `ARM` → unroutable (Linux machines only);
//! 6. unknown labels → as `routing.unknown_labels` says;
//! 7. conflicting settings, unknown instance types, nothing in the catalogue → unroutable;
//! 8. otherwise `pool=` → the pool, else the provider from `backend=`, the label-map entry, or
//!    `default_provider`.

use super::config::{LabelRule, RoutingConfig, UnknownLabels};
use super::grammar::Label;
use super::resolve::{resolve, Wants};
use super::setting::Setting;
use super::RouteDecision;
use crate::catalog::Catalog;
use crate::route::Route;
use crate::spec::Arch;

/// What one label turned out to be.
enum Kind {
    /// `self-hosted`, `linux`, `x64`, `arm64`: accepted; may carry `arch=`.
    Generic,
    /// A `sortie=` / `runs-fleet=` label.
    Settings,
    /// A label-map entry that sortie serves (`go`), with the entry's provider.
    Mapped {
        provider: Option<String>,
        by_type: bool,
    },
    /// Left to someone else, with the reason.
    Skip(String),
    /// Cannot be served by any sortie machine, with the reason.
    Unsupported(String),
    /// Nobody knows it.
    Unknown,
}

struct Classified {
    text: String,
    kind: Kind,
    settings: Vec<Setting>,
}

/// Routes a job's concrete labels (expressions already evaluated). `group` is `runs-on.group`.
pub fn route_job(
    labels: &[String],
    group: Option<&str>,
    config: &RoutingConfig,
    catalog: &Catalog,
) -> RouteDecision {
    let unroutable = |reason: String| RouteDecision {
        route: Route::unroutable(reason),
        spec: None,
    };
    let skip = |reason: String| RouteDecision {
        route: Route::skip(reason),
        spec: None,
    };
    if labels.is_empty() && group.is_none() {
        return unroutable(
            "the job has no runs-on labels: give it runs-on (e.g. runs-on: sortie=cpu=2)".into(),
        );
    }
    if let Some(g) = group {
        if !config.groups.is_empty() && !config.groups.iter().any(|x| x == g) {
            return skip(format!(
                "runner group {g:?} is not in routing.groups: served by that group's runners"
            ));
        }
    }
    let mut classified = Vec::with_capacity(labels.len());
    for text in labels {
        match classify(text, config, catalog) {
            Ok(c) => classified.push(c),
            Err(reason) => return unroutable(reason),
        }
    }
    if let Some(reason) = skip_reason(&classified) {
        return match reason {
            Ok(reason) => skip(reason),
            Err(conflict) => unroutable(conflict),
        };
    }
    if let Some(refusal) = refuse(&classified, config) {
        return refusal;
    }
    match serve(&classified, labels, group, config, catalog) {
        Ok(decision) => decision,
        Err(reason) => unroutable(reason),
    }
}

/// Rules 5 and 6: unsupported operating systems, then unknown labels as configured.
fn refuse(classified: &[Classified], config: &RoutingConfig) -> Option<RouteDecision> {
    let unsupported = classified.iter().find_map(|c| match &c.kind {
        Kind::Unsupported(r) => Some(r.clone()),
        _ => None,
    });
    if let Some(reason) = unsupported {
        return Some(RouteDecision {
            route: Route::unroutable(reason),
            spec: None,
        });
    }
    let unknown: Vec<&str> = classified
        .iter()
        .filter(|c| matches!(c.kind, Kind::Unknown))
        .map(|c| c.text.as_str())
        .collect();
    if unknown.is_empty() {
        return None;
    }
    let route = match config.unknown_labels {
        UnknownLabels::Unroutable => Route::unroutable(unknown_reason(&unknown)),
        UnknownLabels::Skip => Route::skip(format!(
            "unknown label {}: left to other runners (routing.unknown_labels = \"skip\")",
            quoted(&unknown)
        )),
        UnknownLabels::Ignore => return None,
    };
    Some(RouteDecision { route, spec: None })
}

/// Rule 4: `Some(Ok(reason))` to skip, `Some(Err(conflict))` when a skip label is combined with a
/// label only sortie serves.
fn skip_reason(classified: &[Classified]) -> Option<Result<String, String>> {
    let (skipper, reason) = classified.iter().find_map(|c| match &c.kind {
        Kind::Skip(r) => Some((c, r)),
        _ => None,
    })?;
    let ours = classified
        .iter()
        .find(|c| matches!(c.kind, Kind::Settings | Kind::Mapped { .. }));
    Some(match ours {
        Some(ours) => Err(format!(
            "label {} is not served by sortie ({reason}) but label {} asks sortie for a machine: \
             a runner needs every label, so keep only one of them in runs-on",
            skipper.text, ours.text
        )),
        None => Ok(reason.clone()),
    })
}

fn quoted(labels: &[&str]) -> String {
    labels
        .iter()
        .map(|l| format!("{l:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unknown_reason(unknown: &[&str]) -> String {
    let mut reason = format!(
        "unknown label {}: it is not one of GitHub's default self-hosted labels (self-hosted, linux, x64, \
         arm64), not in the label map, and not a sortie= label; add it under [routing.labels] in the \
         configuration (instance_type, spec or skip) or fix the job's runs-on",
        quoted(unknown)
    );
    if unknown.iter().any(|l| l.contains('=')) {
        reason.push_str(" (settings labels start with sortie= or runs-fleet=, e.g. sortie=cpu=4)");
    }
    reason
}

/// Sorts one label into a [`Kind`] and the settings it asks for, or says why it is unusable.
fn classify(text: &str, config: &RoutingConfig, catalog: &Catalog) -> Result<Classified, String> {
    let label = Label::parse(text).map_err(|e| e.to_string())?;
    let plain = match label {
        Label::Settings(s) => {
            return Ok(Classified {
                text: text.into(),
                kind: Kind::Settings,
                settings: s.settings,
            })
        }
        Label::Plain(p) => p,
    };
    let mut settings: Vec<Setting> = plain
        .image()
        .map(|i| Setting::Image(i.to_string()))
        .into_iter()
        .collect();
    let name = plain.name.as_str();
    let kind = if let Some((key, rule)) = config.rule(name) {
        mapped(&key, &rule, catalog, &mut settings)?
    } else {
        builtin_kind(name, &mut settings)
    };
    Ok(Classified {
        text: text.into(),
        kind,
        settings,
    })
}

/// A label-map entry: its settings, or its skip reason.
fn mapped(
    key: &str,
    rule: &LabelRule,
    catalog: &Catalog,
    settings: &mut Vec<Setting>,
) -> Result<Kind, String> {
    let rule_settings = rule.settings(catalog).map_err(|e| {
        format!("routing.labels.{key} is invalid: {e}; fix the configuration (sortie config check)")
    })?;
    if let Some(reason) = &rule.skip {
        return Ok(Kind::Skip(format!("label {key}: {reason}")));
    }
    settings.extend(rule_settings);
    Ok(Kind::Mapped {
        provider: rule.provider.clone(),
        by_type: rule.instance_type.is_some(),
    })
}

/// Labels sortie knows without configuration.
fn builtin_kind(name: &str, settings: &mut Vec<Setting>) -> Kind {
    let lower = name.to_ascii_lowercase();
    // GitHub's default self-hosted labels, matched case-insensitively ("Using self-hosted runners
    // in a workflow", docs.github.com: self-hosted; linux, windows, macOS; x64, ARM, ARM64).
    match lower.as_str() {
        "self-hosted" | "linux" => Kind::Generic,
        "x64" => {
            settings.push(Setting::Arch(Arch::Amd64));
            Kind::Generic
        }
        "arm64" => {
            settings.push(Setting::Arch(Arch::Arm64));
            Kind::Generic
        }
        "windows" | "macos" => Kind::Unsupported(format!("label {name}: sortie launches Linux machines only")),
        "arm" => Kind::Unsupported(format!(
            "label {name}: sortie launches no 32-bit ARM machines; use ARM64 for Graviton"
        )),
        _ if is_github_hosted(&lower) => Kind::Skip(format!(
            "GitHub-hosted runner label {name:?}: served by GitHub, not sortie (to have sortie serve \
             it, as Gitea runners often do, add it under [routing.labels])"
        )),
        _ => Kind::Unknown,
    }
}

/// GitHub-hosted runner labels (docs.github.com "GitHub-hosted runners reference" and
/// actions/runner-images `README.md`): `ubuntu-latest`, `ubuntu-slim`, `ubuntu-NN.NN[-arm]`,
/// `windows-*` (`windows-latest`, `windows-2025`, `windows-11-arm`), `macos-*`.
pub(super) fn is_github_hosted(lower: &str) -> bool {
    if lower.starts_with("windows-") || lower.starts_with("macos-") {
        return true;
    }
    let Some(version) = lower.strip_prefix("ubuntu-") else {
        return false;
    };
    if version == "latest" || version == "slim" {
        return true;
    }
    let version = version.strip_suffix("-arm").unwrap_or(version);
    matches!(version.split_once('.'), Some((a, b))
        if !a.is_empty() && !b.is_empty() && a.bytes().all(|c| c.is_ascii_digit()) && b.bytes().all(|c| c.is_ascii_digit()))
}

/// Rules 7 and 8: merge, resolve, pick the destination.
fn serve(
    classified: &[Classified],
    labels: &[String],
    group: Option<&str>,
    config: &RoutingConfig,
    catalog: &Catalog,
) -> Result<RouteDecision, String> {
    let mut wants = Wants::default();
    let mut provider: Option<(&str, &str)> = None;
    for c in classified {
        for s in &c.settings {
            wants.add(s.clone(), &c.text)?;
        }
        if let Kind::Mapped {
            provider: p,
            by_type,
        } = &c.kind
        {
            wants.type_from_map |= *by_type;
            if let Some(p) = p {
                match provider {
                    Some((have, from)) if have != p => {
                        return Err(format!(
                            "label {from} uses provider {have} but label {} uses provider {p}: keep one of them",
                            c.text
                        ))
                    }
                    _ => provider = Some((p, &c.text)),
                }
            }
        }
    }
    let resolved = resolve(&wants, catalog)?;
    let subject = match (labels.len(), group) {
        (0, Some(g)) => format!("runner group {g}"),
        (1, _) => format!("label {}", labels[0]),
        _ => format!("labels {}", labels.join(", ")),
    };
    let reason = format!("{subject} → {}", resolved.how);
    let route = match &resolved.spec.pool {
        Some(pool) => Route::pool(pool.clone(), format!("{reason}, from warm pool {pool}")),
        None => {
            let target = match (wants.backend(), provider) {
                (Some(b), _) => b.as_str().to_string(),
                (None, Some((p, _))) => p.to_string(),
                (None, None) => config.default_provider.clone(),
            };
            Route::provider(target, reason)
        }
    };
    Ok(RouteDecision {
        route,
        spec: Some(resolved.spec),
    })
}
