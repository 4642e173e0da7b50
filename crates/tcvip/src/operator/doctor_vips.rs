//! `tcvip doctor`'s checks of each VIP: in this node's subnet, held where the cloud says, not
//! an ENI's primary IP, and its `eip` pointing at it. A `kind = "havip"` VIP: its HAVIP exists,
//! has the configured address, is in this node's subnet (the HAVIP's SubnetId against the ENI's),
//! where it is bound now, and its `eip` bound to the HAVIP.

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
        if let Some(havip_id) = super::havip::havip_id_of(v) {
            report.push(havip_eip(client, vip, havip_id, id, looked));
            continue;
        }
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

/// `[[vip]] eip` of a HAVIP: it exists and is bound to the HAVIP (wherever the HAVIP is).
fn havip_eip(client: &Client, vip: Ipv4Addr, havip_id: &str, id: &str, looked: String) -> Check {
    match super::eip::describe_eip(client, id) {
        Err(e) => Check::bad(
            "eip",
            Status::Unknown,
            format!("{id}: not known: {e}"),
            looked,
            "run doctor again once the endpoint and permission checks pass",
        ),
        Ok(None) => Check::bad(
            "eip",
            Status::Fail,
            format!("{id} does not exist"),
            looked,
            format!(
                "correct eip in the [[vip]] entry of {vip} (`tcvip eip show` lists what is bound), or bind a new one with `tcvip eip associate --allocate --vip {vip}`"
            ),
        ),
        Ok(Some(e)) if e.on_havip(havip_id, vip) => Check::ok(
            "eip",
            format!("{id} is the EIP of {havip_id} ({vip}): {}", e.describe()),
            looked,
        ),
        Ok(Some(e)) => Check::bad(
            "eip",
            Status::Warn,
            format!(
                "{id} is not the EIP of {havip_id} ({vip}): {}",
                e.describe()
            ),
            looked,
            format!(
                "`tcvip eip associate --vip {vip}` (HaVipAssociateAddressIp; it stays on the HAVIP across failovers); an EIP bound to another address must be unbound first (`tcvip eip disassociate`)"
            ),
        ),
    }
}

/// The subnet of this node's ENI: the identity's, else DescribeNetworkInterfaces'.
fn eni_subnet(client: &Client, id: &Identity) -> Result<String, String> {
    if let Some(s) = &id.subnet_id {
        return Ok(s.as_str().to_owned());
    }
    let v = client
        .call_json_refresh_once(
            "DescribeNetworkInterfaces",
            &serde_json::json!({ "NetworkInterfaceIds": [id.eni_id.as_str()] }),
        )
        .map_err(|e| e.to_string())?;
    v["NetworkInterfaceSet"][0]["SubnetId"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            format!(
                "DescribeNetworkInterfaces shows no subnet for {}",
                id.eni_id
            )
        })
}

/// A `kind = "havip"` VIP: the HAVIP exists, has this address, is in this node's subnet, and
/// where the VPC has it bound now.
fn havip_check(client: &Client, id: &Identity, vip: Ipv4Addr, havip_id: &str) -> Check {
    let looked = format!("[[vip]] {vip} havip_id {havip_id}: DescribeHaVips");
    let h = match super::havip::describe_havip(client, havip_id) {
        Ok(Some(h)) => h,
        Ok(None) => {
            return Check::bad(
                "vip",
                Status::Fail,
                format!("{vip}: HAVIP {havip_id} does not exist in this region"),
                looked,
                format!(
                    "create the HAVIP for {vip} in the VPC console (in this node's subnet), or correct havip_id in the [[vip]] entry of {vip} (the console lists the HAVIPs)"
                ),
            );
        }
        Err(e) => {
            return Check::bad(
                "vip",
                Status::Unknown,
                format!("{vip}: HAVIP {havip_id} not known: {e}"),
                looked,
                "run doctor again once the endpoint and permission checks pass",
            );
        }
    };
    let mut problems: Vec<(Status, String, String)> = Vec::new();
    let mut facts = vec![super::havip::describe(&h)];
    if h.vip.trim().parse::<Ipv4Addr>().ok() != Some(vip) {
        problems.push((
            Status::Fail,
            format!("{havip_id} has address {}, not {vip}", h.vip),
            format!(
                "set havip_id to the HAVIP whose address is {vip}, or address = \"{}\" (and keepalived's virtual_ipaddress to match)",
                h.vip
            ),
        ));
    }
    match eni_subnet(client, id) {
        Ok(mine) if mine == h.subnet_id => {
            facts.push(format!("in this node's subnet {mine}"));
        }
        Ok(mine) => problems.push((
            Status::Fail,
            format!(
                "{havip_id} is in subnet {}, not this node's {mine}",
                h.subnet_id
            ),
            format!(
                "the VPC routes a HAVIP only to ENIs of its own subnet: create the HAVIP in {mine}, or run the nodes in {}",
                h.subnet_id
            ),
        )),
        Err(why) => facts.push(format!("this node's subnet not known ({why})")),
    }
    if h.is_bound() {
        if h.network_interface_id == id.eni_id.as_str() {
            facts.push("bound to this node".to_owned());
        } else if h.instance_id == id.instance_id.as_str() {
            // This instance's other ENI: tcvip compares with the node's ENI and would announce
            // the HAVIP again and again.
            problems.push((
                Status::Warn,
                format!(
                    "{havip_id} is bound to {}, another ENI of this instance than the node's {}",
                    h.network_interface_id, id.eni_id
                ),
                format!(
                    "set node.eni_id = \"{}\" when keepalived's interface for {vip} is that ENI's NIC, or put the VIP on the NIC of {}",
                    h.network_interface_id, id.eni_id
                ),
            ));
        }
    } else {
        facts.push(
            "bound to no ENI yet (the MASTER's gratuitous ARP binds it; vip-migrate sends one)"
                .to_owned(),
        );
    }
    verdict(
        &problems,
        format!("{vip}: HAVIP {}", facts.join(", ")),
        &format!("{vip}: "),
        looked,
        facts,
    )
}

/// The subnet of this node's primary IP from the metadata service: (network, prefix).
/// One VIP's check from its problems (status, what, fix): `ok` (saying `ok_summary`) when there
/// are none, else the worst status with every problem after `prefix` and every fix, the facts
/// as details.
fn verdict(
    problems: &[(Status, String, String)],
    ok_summary: String,
    prefix: &str,
    looked: String,
    facts: Vec<String>,
) -> Check {
    let Some(worst) = problems.iter().map(|p| p.0).max() else {
        return Check::ok("vip", ok_summary, looked);
    };
    let summary = problems
        .iter()
        .map(|p| p.1.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    let fix = problems
        .iter()
        .map(|p| p.2.as_str())
        .collect::<Vec<_>>()
        .join("; ");
    Check::bad("vip", worst, format!("{prefix}{summary}"), looked, fix).with_details(facts)
}

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
        if let Some(havip_id) = super::havip::havip_id_of(v) {
            report.push(havip_check(client, id, vip, havip_id));
            continue;
        }
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
        let check = verdict(
            &problems,
            format!("{vip}: {}", facts.join(", ")),
            "",
            looked,
            facts,
        );
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
