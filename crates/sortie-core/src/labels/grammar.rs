//! The label grammar: [`Label::parse`] and its `Display`, which round-trips.
//!
//! Two shapes are accepted:
//!
//! - **Plain labels** (`go`, `self-hosted`), optionally with the act_runner `name:scheme[:arg]`
//!   suffix Gitea and Forgejo runners register (`go:host`, `ubuntu-latest:docker://node:18`). The
//!   name is what routes; `docker://IMAGE` names a container image.
//! - **Settings labels** in the runs-fleet grammar: `runs-fleet=<run-id>/cpu=4+16/ram=8+32/…`
//!   (Shatille/runs-fleet `README.md`, "Job Labels"; `pkg/github/webhook.go`, `ParseLabels`) and
//!   the same keys under sortie's own prefix, `sortie=cpu=4/arch=arm64`, where the run id is
//!   optional (a first segment without `=` is the run id).

use super::error::LabelError;
use super::setting::Setting;
use std::fmt;

/// sortie's own prefix for settings labels.
pub const SORTIE_PREFIX: &str = "sortie=";
/// runs-fleet's prefix, accepted for drop-in compatibility.
pub const RUNS_FLEET_PREFIX: &str = "runs-fleet=";

/// One `runs-on` label, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Label {
    /// A plain label, routed by name.
    Plain(PlainLabel),
    /// A `sortie=` or `runs-fleet=` settings label.
    Settings(SettingsLabel),
}

/// A plain label with its optional act_runner scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlainLabel {
    /// The part that routes (`go` in `go:host`). May contain `:` when what follows is not a
    /// scheme act_runner knows (`pool:e57e…` stays one name, as act_runner keeps it "opaque").
    pub name: String,
    /// `:host` or `:docker:…`, when written.
    pub scheme: Option<Scheme>,
}

/// The act_runner execution scheme of a plain label (gitea/act_runner
/// `internal/pkg/labels/labels.go`: `host` runs on the machine itself, `docker` in a container).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheme {
    /// `name:host`.
    Host,
    /// `name:docker://IMAGE` (act_runner strips the `//`; `name:docker:IMAGE` is the same).
    Docker {
        /// The container image; `None` for a bare `name:docker`.
        image: Option<String>,
    },
}

/// Which prefix a settings label used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Prefix {
    /// `sortie=`: the run id is optional.
    Sortie,
    /// `runs-fleet=`: the run id is required, as in runs-fleet (`empty run-id in label`).
    RunsFleet,
}

impl Prefix {
    /// The prefix as written, including the `=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Prefix::Sortie => SORTIE_PREFIX,
            Prefix::RunsFleet => RUNS_FLEET_PREFIX,
        }
    }
}

/// A `sortie=` / `runs-fleet=` label: an optional run id and `key=value` settings, in the order
/// written (so that `Display` reproduces the label).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsLabel {
    /// The prefix used.
    pub prefix: Prefix,
    /// The run id (`${{ github.run_id }}`); makes the label unique per run so that the runner
    /// made for it takes no other run's job.
    pub run_id: Option<String>,
    /// The settings, each key at most once.
    pub settings: Vec<Setting>,
}

/// A settings key. The enum is the list of keys; [`Key::ALL`] is in documentation order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    /// `cpu=N` or `cpu=MIN+MAX`: vCPUs.
    Cpu,
    /// `ram=N` or `ram=MIN+MAX`: memory in GiB.
    Ram,
    /// `family=c7g+m7g`: instance families.
    Family,
    /// `arch=amd64|arm64` (also `x64`, `x86_64`, `aarch64`).
    Arch,
    /// `disk=N`: root volume in GiB (1–16384, gp3).
    Disk,
    /// `pool=NAME`: warm pool.
    Pool,
    /// `spot=true|false`.
    Spot,
    /// `public=true|false`: public IP.
    Public,
    /// `backend=ec2|k8s|local`.
    Backend,
    /// `region=us-east-1`.
    Region,
    /// `env=NAME`: environment isolation.
    Env,
    /// `image=NAME`: machine image (AMI id) override.
    Image,
    /// `type=t3.small+t3a.small`: explicit instance types.
    Type,
}

impl Key {
    /// Every key, in documentation order.
    pub const ALL: [Key; 13] = [
        Key::Cpu,
        Key::Ram,
        Key::Family,
        Key::Arch,
        Key::Disk,
        Key::Pool,
        Key::Spot,
        Key::Public,
        Key::Backend,
        Key::Region,
        Key::Env,
        Key::Image,
        Key::Type,
    ];

    /// The key as written in labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Key::Cpu => "cpu",
            Key::Ram => "ram",
            Key::Family => "family",
            Key::Arch => "arch",
            Key::Disk => "disk",
            Key::Pool => "pool",
            Key::Spot => "spot",
            Key::Public => "public",
            Key::Backend => "backend",
            Key::Region => "region",
            Key::Env => "env",
            Key::Image => "image",
            Key::Type => "type",
        }
    }

    /// The key named `s` (exact, lower case).
    pub fn from_name(s: &str) -> Option<Key> {
        Key::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The known keys, comma-separated, for error messages.
    pub fn known() -> String {
        Key::ALL.map(Key::as_str).join(", ")
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Label {
    /// Parses one label. Settings labels are recognised by their prefix before anything else, so
    /// values may contain `:` (`image=node:18`); everything else is a plain label.
    pub fn parse(s: &str) -> Result<Label, LabelError> {
        if s.is_empty() {
            return Err(LabelError::Empty);
        }
        for prefix in [Prefix::Sortie, Prefix::RunsFleet] {
            if let Some(body) = s.strip_prefix(prefix.as_str()) {
                return SettingsLabel::parse_body(s, prefix, body).map(Label::Settings);
            }
        }
        PlainLabel::parse(s).map(Label::Plain)
    }
}

impl PlainLabel {
    /// Mirrors act_runner's `labels.Parse` (gitea/act_runner `internal/pkg/labels/labels.go`):
    /// split on the first two `:`; a second part other than `host` or `docker` means the colon
    /// belongs to the name (an opaque label such as `pool:e57e18d4`).
    fn parse(s: &str) -> Result<PlainLabel, LabelError> {
        let mut parts = s.splitn(3, ':');
        let name = parts.next().unwrap_or_default();
        let scheme = match (parts.next(), parts.next()) {
            (None, _) => None,
            // act_runner keeps an argument after `host` but never uses it; so do we.
            (Some("host"), _) => Some(Scheme::Host),
            (Some("docker"), arg) => {
                let image = arg
                    .map(|a| a.strip_prefix("//").unwrap_or(a))
                    .filter(|a| !a.is_empty());
                Some(Scheme::Docker {
                    image: image.map(str::to_string),
                })
            }
            (Some(_), _) => {
                return Ok(PlainLabel {
                    name: s.to_string(),
                    scheme: None,
                })
            }
        };
        if name.is_empty() {
            return Err(LabelError::EmptyName {
                label: s.to_string(),
            });
        }
        Ok(PlainLabel {
            name: name.to_string(),
            scheme,
        })
    }

    /// The container image named by a `:docker://IMAGE` suffix.
    pub fn image(&self) -> Option<&str> {
        match &self.scheme {
            Some(Scheme::Docker { image }) => image.as_deref(),
            _ => None,
        }
    }
}

impl SettingsLabel {
    /// Parses what follows the prefix. `label` is the whole label, for error messages.
    fn parse_body(label: &str, prefix: Prefix, body: &str) -> Result<SettingsLabel, LabelError> {
        if body.is_empty() {
            return Err(LabelError::EmptyBody {
                label: label.to_string(),
                prefix: prefix.as_str(),
            });
        }
        let (first, rest) = match body.split_once('/') {
            Some((first, rest)) => (first, Some(rest)),
            None => (body, None),
        };
        let has_run_id = !first.contains('=');
        if has_run_id && first.is_empty() {
            return Err(match prefix {
                Prefix::RunsFleet => LabelError::MissingRunId {
                    label: label.to_string(),
                },
                Prefix::Sortie => LabelError::EmptySegment {
                    label: label.to_string(),
                },
            });
        }
        if !has_run_id && prefix == Prefix::RunsFleet {
            return Err(LabelError::MissingRunId {
                label: label.to_string(),
            });
        }
        let settings_text = if has_run_id { rest } else { Some(body) };
        let settings = match settings_text {
            Some(text) => parse_settings(label, text)?,
            None => Vec::new(),
        };
        let run_id = has_run_id.then(|| first.to_string());
        if let Some(id) = &run_id {
            if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
                return Err(LabelError::InvalidRunId {
                    label: label.to_string(),
                    run_id: id.clone(),
                });
            }
        }
        Ok(SettingsLabel {
            prefix,
            run_id,
            settings,
        })
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: Key) -> Option<&Setting> {
        self.settings.iter().find(|s| s.key() == key)
    }
}

/// Parses `key=value/key=value…` (no prefix, no run id): the body of a settings label after the
/// run id, and the `spec` of a label-map rule. `label` names the source in error messages.
pub fn parse_settings(label: &str, text: &str) -> Result<Vec<Setting>, LabelError> {
    let mut settings: Vec<Setting> = Vec::new();
    for segment in text.split('/') {
        if segment.is_empty() {
            return Err(LabelError::EmptySegment {
                label: label.to_string(),
            });
        }
        let Some((name, value)) = segment.split_once('=') else {
            return Err(LabelError::MissingEquals {
                label: label.to_string(),
                segment: segment.to_string(),
            });
        };
        let Some(key) = Key::from_name(name) else {
            return Err(LabelError::UnknownKey {
                label: label.to_string(),
                key: name.to_string(),
                known: Key::known(),
            });
        };
        if settings.iter().any(|s| s.key() == key) {
            return Err(LabelError::DuplicateKey {
                label: label.to_string(),
                key,
            });
        }
        if value.is_empty() {
            return Err(LabelError::EmptyValue {
                label: label.to_string(),
                key,
            });
        }
        let setting = Setting::parse(key, value).map_err(|reason| LabelError::InvalidValue {
            label: label.to_string(),
            key,
            value: value.to_string(),
            reason,
        })?;
        settings.push(setting);
    }
    Ok(settings)
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Label::Plain(p) => p.fmt(f),
            Label::Settings(s) => s.fmt(f),
        }
    }
}

impl fmt::Display for PlainLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        match &self.scheme {
            None => Ok(()),
            Some(Scheme::Host) => f.write_str(":host"),
            Some(Scheme::Docker { image: None }) => f.write_str(":docker"),
            Some(Scheme::Docker { image: Some(image) }) => write!(f, ":docker://{image}"),
        }
    }
}

impl fmt::Display for SettingsLabel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix.as_str())?;
        let mut first = true;
        if let Some(id) = &self.run_id {
            f.write_str(id)?;
            first = false;
        }
        for setting in &self.settings {
            if !first {
                f.write_str("/")?;
            }
            write!(f, "{setting}")?;
            first = false;
        }
        Ok(())
    }
}
