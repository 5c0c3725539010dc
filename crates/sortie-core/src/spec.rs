//! [`RunnerSpec`]: what one job needs from the machine that will run it.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An inclusive range `[min, max]`; serialised as a two-element JSON array.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(into = "[u32; 2]", from = "[u32; 2]")]
pub struct Range {
    pub min: u32,
    pub max: u32,
}

impl Range {
    /// A range holding exactly one value.
    pub fn exactly(n: u32) -> Self {
        Range { min: n, max: n }
    }

    /// Whether `n` lies within the range.
    pub fn contains(&self, n: u32) -> bool {
        self.min <= n && n <= self.max
    }
}

impl From<Range> for [u32; 2] {
    fn from(r: Range) -> Self {
        [r.min, r.max]
    }
}

impl From<[u32; 2]> for Range {
    fn from(a: [u32; 2]) -> Self {
        Range {
            min: a[0],
            max: a[1],
        }
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}+{}", self.min, self.max)
        }
    }
}

/// CPU architecture of a runner machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    /// x86_64.
    #[default]
    Amd64,
    /// aarch64 (Graviton).
    Arm64,
}

impl Arch {
    /// The name used in labels and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Arch {
    type Err = String;
    /// Accepts the names GitHub and runs-fleet use: `amd64`/`x64`/`x86_64`, `arm64`/`aarch64`.
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "amd64" | "x64" | "x86_64" => Ok(Arch::Amd64),
            "arm64" | "aarch64" => Ok(Arch::Arm64),
            other => Err(format!("unknown arch {other:?}: expected amd64 or arm64")),
        }
    }
}

/// The compute backend a job asks for (`backend=` in the runs-fleet grammar).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Processes on the sortie host.
    Local,
    /// Amazon EC2.
    Ec2,
    /// Kubernetes pods.
    K8s,
}

impl Backend {
    /// The name used in labels, configuration and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Local => "local",
            Backend::Ec2 => "ec2",
            Backend::K8s => "k8s",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Backend {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "local" => Ok(Backend::Local),
            "ec2" => Ok(Backend::Ec2),
            "k8s" | "kubernetes" => Ok(Backend::K8s),
            other => Err(format!(
                "unknown backend {other:?}: expected ec2, k8s or local"
            )),
        }
    }
}

/// What a job needs from its machine. Produced from the job's labels by [`crate::labels`] and
/// turned into concrete instance types by [`crate::catalog`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunnerSpec {
    /// vCPU range.
    pub cpu: Range,
    /// Memory range in GiB.
    pub ram_gb: Range,
    /// Instance families allowed (`c7g`, `m7g`); empty means any.
    pub families: Vec<String>,
    /// CPU architecture.
    pub arch: Arch,
    /// Spot first (with on-demand fallback) when true; on-demand only when false.
    pub spot: bool,
    /// Concrete instance types, best first: fixed by a plain label or ranked from the catalogue.
    pub instance_types: Vec<String>,
    /// Root volume size in GiB (gp3, encrypted); `None` means the image default.
    pub disk_gb: Option<u32>,
    /// Warm pool to take a machine from.
    pub pool: Option<String>,
    /// Region override.
    pub region: Option<String>,
    /// Whether the machine gets a public IP (public subnet).
    pub public: bool,
    /// Backend override (`backend=`); `None` means the configured default provider.
    pub backend: Option<Backend>,
    /// Environment isolation tag (`env=`).
    pub env: Option<String>,
    /// Machine image override.
    pub image: Option<String>,
}

impl Default for RunnerSpec {
    /// The smallest useful machine: 2 vCPU, 2–8 GiB, amd64, spot first, private.
    fn default() -> Self {
        RunnerSpec {
            cpu: Range::exactly(2),
            ram_gb: Range { min: 2, max: 8 },
            families: Vec::new(),
            arch: Arch::Amd64,
            spot: true,
            instance_types: Vec::new(),
            disk_gb: None,
            pool: None,
            region: None,
            public: false,
            backend: None,
            env: None,
            image: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_serialises_as_pair() {
        let r = Range { min: 4, max: 16 };
        assert_eq!(serde_json::to_string(&r).unwrap(), "[4,16]");
        assert_eq!(r.to_string(), "4+16");
        assert_eq!(Range::exactly(2).to_string(), "2");
    }

    #[test]
    fn arch_names() {
        assert_eq!("aarch64".parse::<Arch>().unwrap(), Arch::Arm64);
        assert!("sparc".parse::<Arch>().unwrap_err().contains("sparc"));
    }
}
