//! DescribeHaVips (read-only: the HAVIPs of the topology).

use serde_json::{Value, json};

use super::params::{self, Kind, Params};
use super::{ApiError, Ctx};
use crate::ids;
use crate::world::{HaVip, World};

const FILTERS: &[&str] = &[
    "havip-id",
    "havip-name",
    "vpc-id",
    "subnet-id",
    "vip",
    "address-ip",
    "havip-association.instance-id",
    "havip-association.instance-type",
    "check-associate",
    "cdc-id",
    "type",
    "termination-protection",
    "traffic-protection",
];

fn havip_json(w: &World, h: &HaVip) -> Value {
    let instance = h
        .eni
        .as_deref()
        .and_then(|e| w.eni(e))
        .and_then(|e| e.instance.clone())
        .unwrap_or_default();
    json!({
        "HaVipId": h.id,
        "HaVipName": h.name,
        "Vip": h.vip.to_string(),
        "VpcId": h.vpc,
        "SubnetId": h.subnet,
        "NetworkInterfaceId": h.eni.clone().unwrap_or_default(),
        "InstanceId": instance,
        "AddressIp": h.address_ip.map(|i| i.to_string()).unwrap_or_default(),
        "State": if h.eni.is_some() { "AVAILABLE" } else { "UNBIND" },
        "CreatedTime": ids::api_time(w.created_unix),
        "Business": "",
        "HaVipAssociationSet": [],
        "CheckAssociate": false,
        "CdcId": "",
        "FlushedTime": "0000-00-00 00:00:00",
        "TagSet": [],
    })
}

pub(crate) fn describe_ha_vips(
    p: &Params,
    w: &mut World,
    _ctx: &Ctx<'_>,
) -> Result<Value, ApiError> {
    params::check(
        p,
        &[
            ("HaVipIds", Kind::StrList, false),
            ("Filters", Kind::List, false),
            ("Offset", Kind::UInt, false),
            ("Limit", Kind::UInt, false),
        ],
    )?;
    let ids = params::str_list(p, "HaVipIds");
    let filters = params::filters(p, FILTERS)?;
    if !ids.is_empty() && !filters.is_empty() {
        return Err(ApiError::new(
            "InvalidParameter.Coexist",
            "The parameters `HaVipIds` and `Filters` cannot be specified at the same time.",
        ));
    }
    if filters.len() > 10 || filters.iter().any(|f| f.values.len() > 5) {
        return Err(ApiError::new(
            "InvalidParameterValue.LimitExceeded",
            "At most 10 filters of at most 5 values each may be given.",
        ));
    }
    for id in &ids {
        params::id("HaVipIds", id, "havip-")?;
    }
    let (offset, limit) = params::paging(p)?;
    let all: Vec<&HaVip> = w
        .havips
        .iter()
        .filter(|h| ids.is_empty() || ids.contains(&h.id))
        .filter(|h| {
            filters.iter().all(|f| {
                let any = |s: &str| f.values.iter().any(|v| v == s);
                match f.name.as_str() {
                    "havip-id" => any(&h.id),
                    "havip-name" => any(&h.name),
                    "vpc-id" => any(&h.vpc),
                    "subnet-id" => any(&h.subnet),
                    "vip" => any(&h.vip.to_string()),
                    "address-ip" => h.address_ip.is_some_and(|i| any(&i.to_string())),
                    "havip-association.instance-id" => h
                        .eni
                        .as_deref()
                        .and_then(|e| w.eni(e))
                        .and_then(|e| e.instance.as_deref())
                        .is_some_and(any),
                    _ => false,
                }
            })
        })
        .collect();
    let set: Vec<Value> = params::page(&all, offset, limit)
        .into_iter()
        .map(|h| havip_json(w, h))
        .collect();
    Ok(json!({ "TotalCount": all.len(), "HaVipSet": set }))
}
