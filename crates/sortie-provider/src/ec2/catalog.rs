//! Refreshing the instance-type catalogue from `DescribeInstanceTypes` and spot prices from
//! `DescribeSpotPriceHistory`.

use super::retry::with_backoff;
use super::Ec2Provider;
use crate::error::Result;
use aws_sdk_ec2::types::{ArchitectureType, InstanceTypeInfo};
use sortie_core::catalog::{Catalog, InstanceType};
use sortie_core::spec::Arch;
use std::collections::BTreeMap;

/// A refreshed catalogue with the latest spot price per (type, zone).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CatalogRefresh {
    /// Types as EC2 describes them; on-demand prices come from the previous catalogue (EC2 has no
    /// price API; the Pricing API is another service), 0.0 when unknown.
    pub catalog: Catalog,
    /// Latest spot price in USD per hour, keyed by (instance type, availability zone).
    pub spot_usd_hour: BTreeMap<(String, String), f64>,
}

/// Converts one `DescribeInstanceTypes` entry; `None` for types that are neither amd64 nor arm64.
pub fn convert(info: &InstanceTypeInfo, prices: &Catalog) -> Option<InstanceType> {
    let name = info.instance_type()?.as_str().to_string();
    let archs = info
        .processor_info()
        .map(|p| p.supported_architectures())
        .unwrap_or_default();
    let arch = if archs.contains(&ArchitectureType::Arm64) {
        Arch::Arm64
    } else if archs.contains(&ArchitectureType::X8664) {
        Arch::Amd64
    } else {
        return None;
    };
    Some(InstanceType {
        family: name.split('.').next().unwrap_or_default().to_string(),
        vcpu: info
            .v_cpu_info()
            .and_then(|v| v.default_v_cpus())
            .and_then(|v| u32::try_from(v).ok())?,
        memory_mib: info
            .memory_info()
            .and_then(|m| m.size_in_mib())
            .and_then(|m| u32::try_from(m).ok())?,
        arch,
        on_demand_usd_hour: prices
            .get(&name)
            .map(|t| t.on_demand_usd_hour)
            .unwrap_or(0.0),
        name,
    })
}

/// Fetches the given types (all types when `names` is empty) and their current Linux spot prices.
pub async fn refresh(
    provider: &Ec2Provider,
    names: &[String],
    prices: &Catalog,
) -> Result<CatalogRefresh> {
    let client = provider.client();
    let backoff = provider.config().backoff;
    let mut types = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let call = client
            .describe_instance_types()
            .set_instance_types(
                (!names.is_empty()).then(|| names.iter().map(|n| n.as_str().into()).collect()),
            )
            .set_next_token(next.clone());
        let page = with_backoff(&backoff, "DescribeInstanceTypes", || call.clone().send()).await?;
        types.extend(
            page.instance_types()
                .iter()
                .filter_map(|i| convert(i, prices)),
        );
        next = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if next.is_none() {
            break;
        }
    }
    let mut spot = BTreeMap::new();
    let call = client
        .describe_spot_price_history()
        .product_descriptions("Linux/UNIX")
        .set_instance_types(
            (!names.is_empty()).then(|| names.iter().map(|n| n.as_str().into()).collect()),
        )
        .start_time(aws_smithy_types::DateTime::from(
            std::time::SystemTime::now(),
        ));
    let page = with_backoff(&backoff, "DescribeSpotPriceHistory", || call.clone().send()).await?;
    for row in page.spot_price_history() {
        let (Some(t), Some(az), Some(price)) = (
            row.instance_type(),
            row.availability_zone(),
            row.spot_price(),
        ) else {
            continue;
        };
        if let Ok(price) = price.parse::<f64>() {
            spot.entry((t.as_str().to_string(), az.to_string()))
                .or_insert(price);
        }
    }
    Ok(CatalogRefresh {
        catalog: Catalog::new(types),
        spot_usd_hour: spot,
    })
}
