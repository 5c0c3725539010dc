//! [`Setting`]: one `key=value` of a settings label, with the value checked and typed.

use super::grammar::Key;
use crate::spec::{Arch, Backend, Range};
use std::fmt;

/// Largest root volume EC2 accepts for gp3, in GiB; runs-fleet checks the same bounds
/// (Shatille/runs-fleet `pkg/github/webhook.go`: `parseBoundedInt(value, 1, 16384, "disk")`).
pub const MAX_DISK_GIB: u32 = 16384;

/// One `key=value`, typed. Each variant's doc says what the value means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Setting {
    /// vCPU range; `cpu=4` is exactly 4 (runs-fleet README: "Exact vCPU count").
    Cpu(Range),
    /// Memory range in GiB.
    Ram(Range),
    /// Allowed instance families.
    Family(Vec<String>),
    /// CPU architecture.
    Arch(Arch),
    /// Root volume in GiB.
    Disk(u32),
    /// Warm pool name.
    Pool(String),
    /// Spot first (true, the default) or on-demand only (false).
    Spot(bool),
    /// Public IP in a public subnet.
    Public(bool),
    /// Compute backend override.
    Backend(Backend),
    /// AWS region.
    Region(String),
    /// Environment isolation tag.
    Env(String),
    /// Machine image (AMI id) override.
    Image(String),
    /// Explicit instance types, in order of preference.
    Type(Vec<String>),
}

impl Setting {
    /// The key of this setting.
    pub fn key(&self) -> Key {
        match self {
            Setting::Cpu(_) => Key::Cpu,
            Setting::Ram(_) => Key::Ram,
            Setting::Family(_) => Key::Family,
            Setting::Arch(_) => Key::Arch,
            Setting::Disk(_) => Key::Disk,
            Setting::Pool(_) => Key::Pool,
            Setting::Spot(_) => Key::Spot,
            Setting::Public(_) => Key::Public,
            Setting::Backend(_) => Key::Backend,
            Setting::Region(_) => Key::Region,
            Setting::Env(_) => Key::Env,
            Setting::Image(_) => Key::Image,
            Setting::Type(_) => Key::Type,
        }
    }

    /// Parses a non-empty `value` for `key`. The error is the reason, for [`LabelError::InvalidValue`](super::LabelError::InvalidValue).
    pub fn parse(key: Key, value: &str) -> Result<Setting, String> {
        Ok(match key {
            Key::Cpu => Setting::Cpu(parse_range(value, "cpu must be at least 1")?),
            Key::Ram => Setting::Ram(parse_range(value, "ram must be at least 1 GiB")?),
            Key::Family => Setting::Family(parse_list(
                value,
                is_family,
                "family names look like c7g or m6i",
            )?),
            Key::Type => Setting::Type(parse_list(
                value,
                is_instance_type,
                "instance types look like t3.small",
            )?),
            Key::Arch => Setting::Arch(value.parse().map_err(|_| {
                "arch must be amd64 or arm64 (x64, x86_64 and aarch64 are accepted too)"
            })?),
            Key::Disk => Setting::Disk(parse_disk(value)?),
            Key::Spot => Setting::Spot(parse_bool(value, "spot")?),
            Key::Public => Setting::Public(parse_bool(value, "public")?),
            Key::Backend => Setting::Backend(
                value
                    .parse()
                    .map_err(|_| "backend must be ec2, k8s or local")?,
            ),
            Key::Pool => Setting::Pool(name(
                value,
                is_name,
                "pool names use letters, digits, `.`, `_` and `-`",
            )?),
            Key::Env => Setting::Env(name(
                value,
                is_name,
                "env names use letters, digits, `.`, `_` and `-`",
            )?),
            Key::Region => Setting::Region(name(value, is_region, "regions look like us-east-1")?),
            Key::Image => {
                Setting::Image(name(value, is_image, "image must not contain whitespace")?)
            }
        })
    }
}

/// `N` or `MIN+MAX`, whole numbers, `MIN >= 1`, `MIN <= MAX`.
fn parse_range(value: &str, too_small: &str) -> Result<Range, String> {
    let number = |s: &str| {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!(
                "{s:?} is not a whole number: write N or MIN+MAX, e.g. 4 or 4+16"
            ));
        }
        s.parse::<u32>().map_err(|_| format!("{s} is too large"))
    };
    let range = match value.split_once('+') {
        Some((min, max)) => Range {
            min: number(min)?,
            max: number(max)?,
        },
        None => Range::exactly(number(value)?),
    };
    if range.min == 0 {
        return Err(too_small.to_string());
    }
    if range.min > range.max {
        return Err(format!(
            "range {value} has min above max: write {}+{}",
            range.max, range.min
        ));
    }
    Ok(range)
}

fn parse_disk(value: &str) -> Result<u32, String> {
    let n = value
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_DISK_GIB).contains(n));
    // `+5` parses as u32 in Rust but would not round-trip; accept digits only.
    match n {
        Some(n) if value.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(format!(
            "disk must be 1–{MAX_DISK_GIB} GiB (a whole number; the volume is gp3)"
        )),
    }
}

/// Exactly `true` or `false`. runs-fleet treats any `spot` value but `false` as true; sortie
/// refuses typos instead of guessing.
fn parse_bool(value: &str, key: &str) -> Result<bool, String> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("{key} must be true or false")),
    }
}

fn parse_list(value: &str, valid: fn(&str) -> bool, hint: &str) -> Result<Vec<String>, String> {
    value
        .split('+')
        .map(|item| match item {
            "" => Err(format!(
                "empty name in {value:?}: separate names with a single +"
            )),
            _ if valid(item) => Ok(item.to_string()),
            _ => Err(format!("{item:?} is not valid: {hint}")),
        })
        .collect()
}

fn name(value: &str, valid: fn(&str) -> bool, hint: &str) -> Result<String, String> {
    if !value.is_empty() && valid(value) {
        Ok(value.to_string())
    } else {
        Err(hint.to_string())
    }
}

fn is_family(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_instance_type(s: &str) -> bool {
    matches!(s.split_once('.'), Some((f, size)) if !f.is_empty() && !size.is_empty() && is_family(f) && is_family(size))
}

fn is_name(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn is_region(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn is_image(s: &str) -> bool {
    !s.contains('/') && !s.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl fmt::Display for Setting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=", self.key())?;
        match self {
            Setting::Cpu(r) | Setting::Ram(r) => write!(f, "{r}"),
            Setting::Family(list) | Setting::Type(list) => f.write_str(&list.join("+")),
            Setting::Arch(a) => write!(f, "{a}"),
            Setting::Disk(n) => write!(f, "{n}"),
            Setting::Spot(b) | Setting::Public(b) => write!(f, "{b}"),
            Setting::Backend(b) => write!(f, "{b}"),
            Setting::Pool(s) | Setting::Region(s) | Setting::Env(s) | Setting::Image(s) => {
                f.write_str(s)
            }
        }
    }
}
