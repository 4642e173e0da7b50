//! `tcvip doctor`'s checks of each VIP: in this node's subnet, held where the cloud says, not
//! an ENI's primary IP, and its `eip` pointing at it.

use std::net::Ipv4Addr;

use tencent_api::Client;

use super::doctor::{Check, Report, Status};
use crate::config::Config;
use crate::discovery::Identity;

/// Each `[[vip]] eip`: it exists and points at the VIP on the ENI that holds the VIP.
pub(super) fn eips(
    config: &Config,
    client: Option<&Client>,
    identity: Option<&Identity>,
    report: &mut Report,
) {
    for v in config.vips.iter().filter(|v| v.eip.is_some()) {
        let (vip, id) = (
            v.address,
            v.eip.as_ref().map(|e| e.as_str()).unwrap_or_default(),
        );
        let looked = format!("[[vip]] {vip} eip {id}: DescribeAddresses");
        let (Some(client), Some(node)) = (client, identity) else {
            report.push(Check::bad(
                "eip",
                Status::Unknown,
                format!("{id}: the cloud could not be asked"),
                looked,
                "fix the credentials / identity checks above first",
            ));
            continue;
        };
        let holder = crate::cloud::find_holder(client, node.vpc_id.as_str(), vip);
        let check = match (super::eip::describe_eip(client, id), holder) {
            (Err(e), _) | (_, Err(e)) => Check::bad(
                "eip",
                Status::Unknown,
                format!("{id}: not known: {e}"),
                looked,
                "run doctor again once the endpoint and permission checks pass",
            ),
            (Ok(None), _) => Check::bad(
                "eip",
                Status::Fail,
                format!("{id} does not exist"),
                looked,
                format!(
                    "correct eip in the [[vip]] entry of {vip} (`tcvip eip show` lists what is bound), or bind a new one with `tcvip eip associate --allocate --vip {vip}`"
                ),
            ),
            (Ok(Some(e)), Ok(Some(h))) if e.points_at(&h.eni, vip) => Check::ok(
                "eip",
                format!(
                    "{id} points at {vip} on its holder {}: {}",
                    h.eni,
                    e.describe()
                ),
                looked,
            ),
            (Ok(Some(e)), Ok(h)) => Check::bad(
                "eip",
                Status::Warn,
                format!(
                    "{id} does not point at {vip} on its holder {}: {}",
                    h.map(|h| h.eni.to_string())
                        .unwrap_or_else(|| "(none)".into()),
                    e.describe()
                ),
                looked,
                format!(
                    "`tcvip eip associate --vip {vip}` on the MASTER (vip-migrate and check-self also bind it again there); an EIP bound to another address must be unbound first (`tcvip eip disassociate`)"
                ),
            ),
        };
        report.push(check);
    }
}

/// The subnet of this node's primary IP from the metadata service: (network, prefix).
fn subnet_of(config: &Config, id: &Identity) -> Option<(Ipv4Addr, u32)> {
    let mac = id.mac.as_ref()?;
    let ip = id.primary_ipv4?;
    let md = config.metadata_client();
    let mask: Ipv4Addr = md
        .get(&format!(
            "network/interfaces/macs/{}/local-ipv4s/{ip}/subnet-mask",
            mac.as_str().to_ascii_lowercase()
        ))
        .or_else(|_| {
            md.get(&format!(
                "network/interfaces/macs/{}/local-ipv4s/{ip}/subnet-mask",
                mac.as_str()
            ))
        })
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let bits = u32::from(mask);
    Some((Ipv4Addr::from(u32::from(ip) & bits), bits.count_ones()))
}

fn in_subnet(vip: Ipv4Addr, (net, prefix): (Ipv4Addr, u32)) -> bool {
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    u32::from(vip) & mask == u32::from(net)
}

pub(super) fn vips(
    config: &Config,
    client: Option<&Client>,
    identity: Option<&Identity>,
    report: &mut Report,
) {
    let subnet = identity.and_then(|id| subnet_of(config, id));
    for v in &config.vips {
        let vip = v.address;
        let looked = format!("[[vip]] {vip}: DescribeNetworkInterfaces (address-ip, exact)");
        let (Some(client), Some(id)) = (client, identity) else {
            report.push(Check::bad(
                "vip",
                Status::Unknown,
                format!("{vip}: the cloud could not be asked"),
                looked,
                "fix the credentials / identity checks above first",
            ));
            continue;
        };
        let mut problems: Vec<(Status, String, String)> = Vec::new();
        let mut facts = Vec::new();
        match subnet {
            Some(s) if in_subnet(vip, s) => facts.push(format!("inside {}/{}", s.0, s.1)),
            Some(s) => problems.push((
                Status::Fail,
                format!("{vip} is outside this node's subnet {}/{}", s.0, s.1),
                "a VIP must be a secondary IP of this node's subnet (MigratePrivateIpAddress moves only within one subnet): allocate one there".to_owned(),
            )),
            None => facts.push("subnet mask not known (metadata)".to_owned()),
        }
        if Some(vip) == id.primary_ipv4 {
            problems.push((
                Status::Fail,
                format!("{vip} is this node's own primary IP"),
                "a primary IP can never move: use a secondary IP as the VIP".to_owned(),
            ));
        }
        match crate::cloud::find_holder(client, id.vpc_id.as_str(), vip) {
            Ok(Some(h)) if h.primary => problems.push((
                Status::Fail,
                format!("{vip} is the primary IP of {}", h.eni),
                "a primary IP can never move: choose a free address of the subnet as the VIP (tcvip allocate / AssignPrivateIpAddresses)".to_owned(),
            )),
            Ok(Some(h)) => facts.push(format!(
                "held by {}{} ({}){}",
                h.eni,
                h.instance.as_ref().map(|i| format!(" on {i}")).unwrap_or_default(),
                h.state,
                if h.eni == id.eni_id.as_str() { ", this node" } else { "" }
            )),
            Ok(None) if config.failover.assign_if_unassigned => {
                facts.push("assigned to no ENI (vip-migrate will assign it)".to_owned());
            }
            Ok(None) => problems.push((
                Status::Warn,
                format!("{vip} is assigned to no ENI"),
                "assign it to the master's ENI (AssignPrivateIpAddresses), or set failover.assign_if_unassigned = true".to_owned(),
            )),
            Err(e) => problems.push((
                Status::Unknown,
                format!("where the cloud has {vip} is not known: {e}"),
                "run doctor again once the endpoint check passes".to_owned(),
            )),
        }
        let check = match problems.iter().max_by_key(|p| p.0) {
            None => Check::ok("vip", format!("{vip}: {}", facts.join(", ")), looked),
            Some((status, _, _)) => {
                let summary = problems
                    .iter()
                    .map(|p| p.1.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                let fix = problems
                    .iter()
                    .map(|p| p.2.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                Check::bad("vip", *status, summary, looked, fix).with_details(facts)
            }
        };
        report.push(check);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnets() {
        let net = (Ipv4Addr::new(198, 18, 1, 0), 24);
        assert!(in_subnet(Ipv4Addr::new(198, 18, 1, 100), net));
        assert!(!in_subnet(Ipv4Addr::new(198, 18, 2, 100), net));
        assert!(in_subnet(
            Ipv4Addr::new(1, 2, 3, 4),
            (Ipv4Addr::UNSPECIFIED, 0)
        ));
    }
}
