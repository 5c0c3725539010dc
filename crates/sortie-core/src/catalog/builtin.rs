//! The built-in instance-type table: common EC2 families, Linux on-demand prices in us-east-1.
//!
//! PRICES ARE A SNAPSHOT. They are the published us-east-1 Linux on-demand USD/hour rates
//! (<https://aws.amazon.com/ec2/pricing/on-demand/>) at the time of writing. They order
//! candidates and give cost estimates when nothing better is known; the EC2 provider refreshes
//! them from the AWS Price List at run time, and spot prices come from the spot price history.
//! vCPU and memory are from the EC2 instance-type specifications
//! (<https://docs.aws.amazon.com/ec2/latest/instancetypes/>), which do not change.
//!
//! Sizes are nano…4xlarge where the family offers them: the Intel/AMD `m`, `c` and `r` families
//! start at `large`; the Graviton `m`, `c` and `r` families also have `medium`; burstables (`t3`,
//! `t3a`, `t4g`) stop at `2xlarge`.

use super::InstanceType;
use crate::spec::Arch;

/// One row: name, vCPU, memory in MiB, on-demand USD/hour (us-east-1, Linux).
type Row = (&'static str, u32, u32, f64);

const AMD64: &[Row] = &[
    // t3: Intel burstable.
    ("t3.nano", 2, 512, 0.0052),
    ("t3.micro", 2, 1024, 0.0104),
    ("t3.small", 2, 2048, 0.0208),
    ("t3.medium", 2, 4096, 0.0416),
    ("t3.large", 2, 8192, 0.0832),
    ("t3.xlarge", 4, 16384, 0.1664),
    ("t3.2xlarge", 8, 32768, 0.3328),
    // t3a: AMD burstable.
    ("t3a.nano", 2, 512, 0.0047),
    ("t3a.micro", 2, 1024, 0.0094),
    ("t3a.small", 2, 2048, 0.0188),
    ("t3a.medium", 2, 4096, 0.0376),
    ("t3a.large", 2, 8192, 0.0752),
    ("t3a.xlarge", 4, 16384, 0.1504),
    ("t3a.2xlarge", 8, 32768, 0.3008),
    // m5, m6i, m7i: general purpose, 4 GiB per vCPU.
    ("m5.large", 2, 8192, 0.096),
    ("m5.xlarge", 4, 16384, 0.192),
    ("m5.2xlarge", 8, 32768, 0.384),
    ("m5.4xlarge", 16, 65536, 0.768),
    ("m6i.large", 2, 8192, 0.096),
    ("m6i.xlarge", 4, 16384, 0.192),
    ("m6i.2xlarge", 8, 32768, 0.384),
    ("m6i.4xlarge", 16, 65536, 0.768),
    ("m7i.large", 2, 8192, 0.1008),
    ("m7i.xlarge", 4, 16384, 0.2016),
    ("m7i.2xlarge", 8, 32768, 0.4032),
    ("m7i.4xlarge", 16, 65536, 0.8064),
    // c6i, c7i: compute optimised, 2 GiB per vCPU.
    ("c6i.large", 2, 4096, 0.085),
    ("c6i.xlarge", 4, 8192, 0.17),
    ("c6i.2xlarge", 8, 16384, 0.34),
    ("c6i.4xlarge", 16, 32768, 0.68),
    ("c7i.large", 2, 4096, 0.08925),
    ("c7i.xlarge", 4, 8192, 0.1785),
    ("c7i.2xlarge", 8, 16384, 0.357),
    ("c7i.4xlarge", 16, 32768, 0.714),
    // r6i: memory optimised, 8 GiB per vCPU.
    ("r6i.large", 2, 16384, 0.126),
    ("r6i.xlarge", 4, 32768, 0.252),
    ("r6i.2xlarge", 8, 65536, 0.504),
    ("r6i.4xlarge", 16, 131072, 1.008),
];

const ARM64: &[Row] = &[
    // t4g: Graviton2 burstable.
    ("t4g.nano", 2, 512, 0.0042),
    ("t4g.micro", 2, 1024, 0.0084),
    ("t4g.small", 2, 2048, 0.0168),
    ("t4g.medium", 2, 4096, 0.0336),
    ("t4g.large", 2, 8192, 0.0672),
    ("t4g.xlarge", 4, 16384, 0.1344),
    ("t4g.2xlarge", 8, 32768, 0.2688),
    // m6g (Graviton2), m7g (Graviton3): general purpose.
    ("m6g.medium", 1, 4096, 0.0385),
    ("m6g.large", 2, 8192, 0.077),
    ("m6g.xlarge", 4, 16384, 0.154),
    ("m6g.2xlarge", 8, 32768, 0.308),
    ("m6g.4xlarge", 16, 65536, 0.616),
    ("m7g.medium", 1, 4096, 0.0408),
    ("m7g.large", 2, 8192, 0.0816),
    ("m7g.xlarge", 4, 16384, 0.1632),
    ("m7g.2xlarge", 8, 32768, 0.3264),
    ("m7g.4xlarge", 16, 65536, 0.6528),
    // c6g (Graviton2), c7g (Graviton3): compute optimised.
    ("c6g.medium", 1, 2048, 0.034),
    ("c6g.large", 2, 4096, 0.068),
    ("c6g.xlarge", 4, 8192, 0.136),
    ("c6g.2xlarge", 8, 16384, 0.272),
    ("c6g.4xlarge", 16, 32768, 0.544),
    ("c7g.medium", 1, 2048, 0.0363),
    ("c7g.large", 2, 4096, 0.0725),
    ("c7g.xlarge", 4, 8192, 0.145),
    ("c7g.2xlarge", 8, 16384, 0.29),
    ("c7g.4xlarge", 16, 32768, 0.58),
    // r7g (Graviton3): memory optimised.
    ("r7g.medium", 1, 8192, 0.0536),
    ("r7g.large", 2, 16384, 0.1071),
    ("r7g.xlarge", 4, 32768, 0.2142),
    ("r7g.2xlarge", 8, 65536, 0.4284),
    ("r7g.4xlarge", 16, 131072, 0.8568),
];

/// The built-in types, amd64 first, in table order.
pub(super) fn types() -> Vec<InstanceType> {
    let rows = AMD64
        .iter()
        .map(|r| (r, Arch::Amd64))
        .chain(ARM64.iter().map(|r| (r, Arch::Arm64)));
    rows.map(|(&(name, vcpu, memory_mib, price), arch)| InstanceType {
        name: name.to_string(),
        family: name.split('.').next().unwrap_or(name).to_string(),
        vcpu,
        memory_mib,
        arch,
        on_demand_usd_hour: price,
    })
    .collect()
}
