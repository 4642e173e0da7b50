//! `tcvip doctor`'s check of how keepalived.conf wires each `[[vip]]`: the vrrp_instance that
//! carries it, its notify hooks (notify-action, notify_master_rx_lower_pri), its track script
//! (check-self) and the settings tcvip's failover depends on.

use std::net::Ipv4Addr;

use super::doctor::{Check, Status};
use super::doctor_keepalived::{RX_LOWER_PRI, Version, v};
use super::keepalived_conf::{KeepalivedConf, VrrpInstance};
use crate::config::{Config, VipConfig};
use crate::discovery::Identity;

/// The basename of a command line's program.
pub(super) fn program(command: &str) -> (&str, &str) {
    let prog = command.split_whitespace().next().unwrap_or("");
    let base = prog.rsplit('/').next().unwrap_or(prog);
    (prog, base)
}

/// The vrrp_instance that carries `vip`: the named one (or a member of the named sync group),
/// else the only one listing the address.
fn instance_for<'a>(
    vip: &VipConfig,
    conf: &'a KeepalivedConf,
) -> Result<&'a VrrpInstance, (String, String)> {
    let has = |i: &VrrpInstance| i.vips.iter().any(|x| x.address == vip.address);
    let addr = vip.address;
    match &vip.instance {
        Some(name) => {
            if let Some(i) = conf.instance(name) {
                return if has(i) {
                    Ok(i)
                } else {
                    Err((
                        format!("vrrp_instance {name} does not list {addr} in virtual_ipaddress"),
                        format!(
                            "add `{addr}/32 dev IFACE` to virtual_ipaddress of vrrp_instance {name}"
                        ),
                    ))
                };
            }
            if let Some(g) = conf.groups.iter().find(|g| &g.name == name) {
                return g
                    .instances
                    .iter()
                    .filter_map(|n| conf.instance(n))
                    .find(|i| has(i))
                    .ok_or_else(|| {
                        (
                            format!("no vrrp_instance of sync group {name} lists {addr}"),
                            format!(
                                "add `{addr}/32 dev IFACE` to virtual_ipaddress of one of {}",
                                g.instances.join(", ")
                            ),
                        )
                    });
            }
            Err((
                format!(
                    "there is no vrrp_instance or vrrp_sync_group {name} (named by [[vip]] instance)"
                ),
                format!(
                    "name the instance as keepalived.conf does in the [[vip]] entry of {addr}, or add vrrp_instance {name}"
                ),
            ))
        }
        None => {
            let found: Vec<&VrrpInstance> = conf.instances.iter().filter(|i| has(i)).collect();
            match found.as_slice() {
                [one] => Ok(one),
                [] => Err((
                    format!("no vrrp_instance lists {addr} in virtual_ipaddress"),
                    format!(
                        "add `{addr}/32 dev IFACE` to virtual_ipaddress of the vrrp_instance that should carry it"
                    ),
                )),
                many => Err((
                    format!(
                        "{addr} is listed by several vrrp_instances ({})",
                        many.iter()
                            .map(|i| i.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                    format!(
                        "keep {addr} in one vrrp_instance, and name it with instance = \"...\" in its [[vip]] entry"
                    ),
                )),
            }
        }
    }
}

pub(super) fn wiring(
    vip: &VipConfig,
    conf: &KeepalivedConf,
    version: Option<Version>,
    config: &Config,
    identity: Option<&Identity>,
    script_paths: &mut Vec<(String, String)>,
    out: &mut Vec<Check>,
) {
    let addr = vip.address;
    let inst = match instance_for(vip, conf) {
        Ok(i) => i,
        Err((summary, fix)) => {
            out.push(Check::bad(
                "keepalived",
                Status::Fail,
                summary,
                "vrrp_instance blocks".to_owned(),
                fix,
            ));
            return;
        }
    };
    let name = &inst.name;
    let at = format!("vrrp_instance {name} ({})", inst.at);

    // virtual_ipaddress on the right device.
    let entry = inst.vips.iter().find(|x| x.address == addr);
    let dev = entry
        .and_then(|e| e.dev.clone())
        .or_else(|| inst.interface.clone());
    let expected = vip
        .interface
        .clone()
        .or_else(|| identity.and_then(|i| i.interface.clone()));
    out.push(match (&dev, &expected) {
        (Some(d), Some(e)) if d == e => Check::ok(
            "keepalived",
            format!("{name}: {addr} in virtual_ipaddress on {d}"),
            at.clone(),
        ),
        (Some(d), Some(e)) => Check::bad(
            "keepalived",
            Status::Fail,
            format!("{name}: {addr} is put on {d}, but tcvip expects it on {e}"),
            at.clone(),
            format!("write `{addr}/32 dev {e}` in virtual_ipaddress, or set interface = \"{d}\" in the [[vip]] entry of {addr}"),
        ),
        (None, _) => Check::bad(
            "keepalived",
            Status::Fail,
            format!("{name}: no device for {addr} (no `dev` and no `interface`)"),
            at.clone(),
            format!("write `{addr}/32 dev IFACE` in virtual_ipaddress"),
        ),
        (Some(d), None) => Check::bad(
            "keepalived",
            Status::Unknown,
            format!("{name}: {addr} is put on {d}; which interface tcvip expects is not known"),
            at.clone(),
            "fix the identity check, or set interface in the [[vip]] entry",
        ),
    });

    // Unicast.
    let own = identity.and_then(|i| i.primary_ipv4);
    let peers_bad: Vec<&String> = inst
        .unicast_peers
        .iter()
        .filter(|p| own.is_some_and(|o| p.parse::<Ipv4Addr>().ok() == Some(o)))
        .collect();
    let src_bad = match (&inst.unicast_src_ip, own) {
        (Some(src), Some(o)) => src.parse::<Ipv4Addr>().ok() != Some(o),
        _ => false,
    };
    let own_text = own.map_or_else(|| "this node's primary IP".to_owned(), |o| o.to_string());
    out.push(if inst.unicast_peers.is_empty() {
        Check::bad(
            "keepalived",
            Status::Fail,
            format!("{name}: no unicast_peer, so VRRP goes multicast, which a VPC does not carry"),
            at.clone(),
            format!("add `unicast_src_ip {own_text}` and `unicast_peer {{ PEER_PRIMARY_IP }}` (one line per peer) to vrrp_instance {name}"),
        )
    } else if !peers_bad.is_empty() {
        Check::bad(
            "keepalived",
            Status::Fail,
            format!("{name}: unicast_peer lists this node's own IP {own_text}"),
            at.clone(),
            "list only the other nodes' primary IPs in unicast_peer",
        )
    } else if src_bad {
        Check::bad(
            "keepalived",
            Status::Fail,
            format!(
                "{name}: unicast_src_ip {} is not this node's primary IP {own_text}",
                inst.unicast_src_ip.as_deref().unwrap_or("")
            ),
            at.clone(),
            format!("set `unicast_src_ip {own_text}` (it differs per node)"),
        )
    } else if inst.unicast_src_ip.is_none() {
        Check::bad(
            "keepalived",
            Status::Warn,
            format!("{name}: unicast_peer set but no unicast_src_ip"),
            at.clone(),
            format!("add `unicast_src_ip {own_text}`, so the source of adverts does not depend on the routing table"),
        )
    } else {
        Check::ok(
            "keepalived",
            format!(
                "{name}: unicast from {} to {}",
                inst.unicast_src_ip.as_deref().unwrap_or(""),
                inst.unicast_peers.join(", ")
            ),
            at.clone(),
        )
    });

    // notify → notify-action (on the instance or its sync group).
    let mut notify = inst.notify.clone();
    for g in conf.groups_of(name) {
        notify.extend(g.notify.iter().cloned());
    }
    let wired = |key: &str| {
        notify
            .iter()
            .find(|(k, c)| k == key && program(c).1 == "notify-action")
            .map(|(_, c)| c.clone())
    };
    for (_, c) in notify
        .iter()
        .filter(|(_, c)| program(c).1 == "notify-action")
    {
        script_paths.push((program(c).0.to_owned(), format!("{name} notify")));
    }
    // FIFO mode: the reader keepalived starts hears every instance's states, the
    // MASTER_RX_LOWER_PRI lines among them.
    if let Some(c) = conf
        .fifo_script
        .as_ref()
        .filter(|c| program(c).1 == "notify-action" && c.split_whitespace().any(|w| w == "--fifo"))
    {
        script_paths.push((
            program(c).0.to_owned(),
            "vrrp_notify_fifo_script".to_owned(),
        ));
        out.push(Check::ok(
            "keepalived",
            format!("{name}: states and MASTER_RX_LOWER_PRI → the FIFO reader {c}"),
            at.clone(),
        ));
    } else {
        let generic = wired("notify");
        let one_word: Vec<&str> = ["notify_master", "notify_backup", "notify_fault"]
            .into_iter()
            .filter(|k| wired(k).is_none())
            .collect();
        out.push(if let Some(c) = generic {
            Check::ok("keepalived", format!("{name}: notify → {c}"), at.clone())
        } else if one_word.is_empty() {
            Check::ok(
                "keepalived",
                format!("{name}: notify_master, notify_backup, notify_fault → notify-action"),
                at.clone(),
            )
        } else if one_word.len() < 3 {
            Check::bad(
                "keepalived",
                Status::Fail,
                format!("{name}: {} not wired to notify-action", one_word.join(", ")),
                at.clone(),
                format!("replace the notify_* lines with `notify \"/usr/local/bin/notify-action\"` in vrrp_instance {name}"),
            )
        } else {
            Check::bad(
                "keepalived",
                Status::Fail,
                format!("{name}: notify is not wired to notify-action, so no state change reaches tcvip and the VIP never moves"),
                at.clone(),
                format!("add `notify \"/usr/local/bin/notify-action\"` to vrrp_instance {name}"),
            )
        });

        // notify_master_rx_lower_pri, where the version has it.
        let rx = wired("notify_master_rx_lower_pri");
        let has_rx = version.is_none_or(|ver| ver >= RX_LOWER_PRI);
        let rx_fix = format!(
            "add `notify_master_rx_lower_pri \"/usr/local/bin/notify-action MASTER_RX_LOWER_PRI\"` to vrrp_instance {name}"
        );
        out.push(match (rx, has_rx) {
            (Some(c), _) if c.split_whitespace().any(|w| w == "MASTER_RX_LOWER_PRI") => {
                Check::ok("keepalived", format!("{name}: notify_master_rx_lower_pri → {c}"), at.clone())
            }
            (Some(c), _) => Check::bad(
                "keepalived",
                Status::Fail,
                format!("{name}: notify_master_rx_lower_pri runs {c:?} without the MASTER_RX_LOWER_PRI argument"),
                at.clone(),
                rx_fix,
            ),
            (None, true) => Check::bad(
                "keepalived",
                Status::Warn,
                format!("{name}: notify_master_rx_lower_pri is not wired: a dual master after a link break is healed only by check-self"),
                at.clone(),
                rx_fix,
            ),
            (None, false) => Check::ok(
                "keepalived",
                format!("{name}: notify_master_rx_lower_pri not available before {}", v(RX_LOWER_PRI)),
                at.clone(),
            ),
        });
    }

    // track_script → check-self, timeout above check.deadline_ms.
    let deadline_ms = config.check.deadline_ms;
    let tracked: Vec<_> = inst
        .track_scripts
        .iter()
        .filter_map(|n| conf.script(n))
        .filter(|s| {
            s.script
                .as_deref()
                .is_some_and(|c| program(c).1 == "check-self")
        })
        .collect();
    let suggested = deadline_ms / 1000 + 1;
    match tracked.first() {
        None => out.push(Check::bad(
            "keepalived",
            Status::Fail,
            format!("{name}: no track_script runs check-self"),
            at.clone(),
            format!("add `vrrp_script tcvip_check {{ script \"/usr/local/bin/check-self\" interval 2 timeout {suggested} }}` and `track_script {{ tcvip_check }}` to vrrp_instance {name}"),
        )),
        Some(s) => {
            if let Some(c) = &s.script {
                script_paths.push((program(c).0.to_owned(), format!("vrrp_script {}", s.name)));
            }
            let timeout_ms = s.effective_timeout() * 1000.0;
            let looked = format!("vrrp_script {} ({}) and check.deadline_ms", s.name, s.at);
            out.push(if timeout_ms > deadline_ms as f64 {
                Check::ok(
                    "keepalived",
                    format!(
                        "{name}: track_script {} → check-self, timeout {} s above check.deadline_ms {deadline_ms}",
                        s.name,
                        s.effective_timeout()
                    ),
                    looked,
                )
            } else {
                Check::bad(
                    "keepalived",
                    Status::Fail,
                    format!(
                        "{name}: vrrp_script {} timeout {} s is not above check.deadline_ms {deadline_ms}: keepalived kills check-self before it answers",
                        s.name,
                        s.effective_timeout()
                    ),
                    looked,
                    format!("set `timeout {suggested}` in vrrp_script {} (keepalived's timeout defaults to interval), or lower check.deadline_ms", s.name),
                )
            });
        }
    }
}
