//! The CVM metadata service: `GET /latest/meta-data/...` with the documented paths.
//!
//! Which instance is asking: an explicit path prefix `/<instance-id>/latest/meta-data/...`
//! (for in-process tests, where every caller is 127.0.0.1) wins; otherwise the caller's source
//! address, matched against each instance's primary IP (the network-namespace rehearsal);
//! otherwise the topology's `metadata_default_instance`. An unknown caller gets 404.
//!
//! MACs are listed lower-case here while the API reports them upper-case, so clients must
//! compare them case-insensitively. Paths are case-sensitive.

use std::net::IpAddr;
use std::time::SystemTime;

use serde_json::json;

use crate::calls::MetadataRecord;
use crate::faults::Fault;
use crate::http::{Reply, Request};
use crate::ids;
use crate::shared::Shared;
use crate::world::{Instance, World};

/// Splits a metadata request path into (explicit instance, path below `meta-data/`).
pub(crate) fn split(path: &str) -> Option<(Option<&str>, &str)> {
    let (explicit, rest) = if path.starts_with("/latest/") || path == "/latest" {
        (None, path)
    } else {
        let inner = path.strip_prefix('/')?;
        let (first, _) = inner.split_once('/')?;
        (Some(first), &inner[first.len()..])
    };
    let below = rest.strip_prefix("/latest/meta-data")?;
    if below.is_empty() {
        return Some((explicit, ""));
    }
    Some((explicit, below.strip_prefix('/')?))
}

fn not_found() -> Reply {
    Reply::text(404, "404 - Not Found\n")
}

fn lines<I: IntoIterator<Item = String>>(items: I) -> String {
    items.into_iter().collect::<Vec<_>>().join("\n")
}

pub(crate) fn handle(shared: &Shared, req: &Request) -> Reply {
    let Some((explicit, sub)) = split(req.path()) else {
        return not_found();
    };
    let sub = sub.to_string();
    if req.method != "GET" {
        return Reply::text(405, "405 - Method Not Allowed\n");
    }
    let mut fault_status = None;
    match shared.take_metadata_fault() {
        Some(Fault::Drop) => return Reply::Drop,
        Some(Fault::Http500) => fault_status = Some(500),
        Some(Fault::Garbage) => {
            return Reply::Http {
                status: 200,
                content_type: "text/plain",
                body: b"\x00\xffgarbage".to_vec(),
            };
        }
        Some(Fault::Delay(d)) => shared.sleep(d),
        Some(Fault::ApiError(..)) => fault_status = Some(503),
        None => {}
    }
    let mut world = shared.world_advanced(std::time::Instant::now());
    if !world.metadata_available() {
        return Reply::Drop;
    }
    let instance: Option<Instance> = match explicit {
        Some(id) => world.instance(id).cloned(),
        None => {
            let by_addr = match req.peer.ip() {
                IpAddr::V4(v4) => world.instance_by_primary_ip(v4).cloned(),
                IpAddr::V6(v6) => v6
                    .to_ipv4_mapped()
                    .and_then(|v4| world.instance_by_primary_ip(v4).cloned()),
            };
            by_addr.or_else(|| {
                world
                    .metadata_default_instance
                    .clone()
                    .and_then(|d| world.instance(&d).cloned())
            })
        }
    };
    let reply = match (fault_status, &instance) {
        (Some(status), _) => Reply::text(status, "service unavailable\n"),
        (None, None) => not_found(),
        (None, Some(inst)) => match answer(&mut world, inst, sub.trim_end_matches('/')) {
            Some((body, true)) => Reply::Http {
                status: 200,
                content_type: "application/json",
                body: body.into_bytes(),
            },
            Some((body, false)) => Reply::text(200, body),
            None => not_found(),
        },
    };
    drop(world);
    let status = match &reply {
        Reply::Http { status, .. } => *status,
        Reply::Drop => 0,
    };
    shared.record_metadata(MetadataRecord {
        time: SystemTime::now(),
        instance: instance.map(|i| i.id),
        path: sub,
        status,
    });
    reply
}

/// The body for `path` (no trailing slash), and whether it is JSON.
fn answer(w: &mut World, inst: &Instance, path: &str) -> Option<(String, bool)> {
    let eni = w.primary_eni_of(&inst.id)?.clone();
    let primary_ip = eni.primary_ip()?;
    let public_of = |w: &World, eni_id: &str, ip| {
        w.eips
            .iter()
            .find(|x| x.eni.as_deref() == Some(eni_id) && x.private_ip == Some(ip))
            .map(|x| x.ip.to_string())
    };
    let text = |s: String| Some((s, false));
    match path {
        "" => text(lines(
            [
                "app-id",
                "cam/",
                "instance/",
                "instance-id",
                "instance-name",
                "local-ipv4",
                "mac",
                "network/",
                "placement/",
                "public-ipv4",
                "uuid",
            ]
            .map(String::from),
        )),
        "instance-id" => text(inst.id.clone()),
        "instance-name" => text(inst.name.clone()),
        "uuid" => text(inst.uuid.clone()),
        "local-ipv4" => text(primary_ip.to_string()),
        "public-ipv4" => public_of(w, &eni.id, primary_ip).and_then(text),
        "mac" => text(eni.mac.lower()),
        "app-id" => text("1250000000".into()),
        "placement" => text(lines(["region", "zone"].map(String::from))),
        "placement/region" => text(w.region.clone()),
        "placement/zone" => text(inst.zone.clone()),
        "instance" => text(lines(["image-id", "instance-type"].map(String::from))),
        "instance/instance-type" => text("S5.MEDIUM2".into()),
        "instance/image-id" => text("img-tcvip001".into()),
        "network" => text("interfaces/".into()),
        "network/interfaces" => text("macs/".into()),
        "network/interfaces/macs" => text(lines(
            w.enis
                .iter()
                .filter(|e| e.instance.as_deref() == Some(inst.id.as_str()))
                .map(|e| format!("{}/", e.mac.lower())),
        )),
        "cam" => text("security-credentials/".into()),
        "cam/security-credentials" => inst.role.clone().and_then(text),
        _ => {
            if let Some(role) = path.strip_prefix("cam/security-credentials/") {
                if inst.role.as_deref() != Some(role) {
                    return None;
                }
                let c = w.role_credentials(&inst.id, role);
                let expired = ids::unix_secs(c.expires);
                let body = json!({
                    "TmpSecretId": c.secret_id,
                    "TmpSecretKey": c.secret_key,
                    "ExpiredTime": expired,
                    "Expiration": ids::rfc3339(expired),
                    "Token": c.token,
                    "Code": "Success",
                });
                return Some((body.to_string(), true));
            }
            let rest = path.strip_prefix("network/interfaces/macs/")?;
            let (mac, field) = rest.split_once('/').unwrap_or((rest, ""));
            let nic = w
                .enis
                .iter()
                .find(|e| e.instance.as_deref() == Some(inst.id.as_str()) && e.mac.lower() == mac)?
                .clone();
            let subnet = w.subnet(&nic.subnet)?.clone();
            match field {
                "" => text(lines(
                    [
                        "local-ipv4s/",
                        "mac",
                        "primary-local-ipv4",
                        "public-ipv4s",
                        "subnet-id",
                        "vpc-id",
                    ]
                    .map(String::from),
                )),
                "mac" => text(nic.mac.lower()),
                "primary-local-ipv4" => nic.primary_ip().map(|i| i.to_string()).and_then(text),
                "public-ipv4s" => text(lines(
                    nic.ips.iter().filter_map(|p| public_of(w, &nic.id, p.ip)),
                )),
                "vpc-id" => text(nic.vpc.clone()),
                "subnet-id" => text(nic.subnet.clone()),
                "local-ipv4s" => text(lines(nic.ips.iter().map(|p| format!("{}/", p.ip)))),
                _ => {
                    let rest = field.strip_prefix("local-ipv4s/")?;
                    let (ip_s, leaf) = rest.split_once('/').unwrap_or((rest, ""));
                    let held = nic.ips.iter().find(|p| p.ip.to_string() == ip_s)?;
                    match leaf {
                        "" => text(lines(
                            [
                                "gateway",
                                "local-ipv4",
                                "public-ipv4",
                                "public-ipv4-mode",
                                "subnet-mask",
                            ]
                            .map(String::from),
                        )),
                        "gateway" => text(subnet.cidr.gateway().to_string()),
                        "local-ipv4" => text(held.ip.to_string()),
                        "public-ipv4" => public_of(w, &nic.id, held.ip).and_then(text),
                        "public-ipv4-mode" => text("NAT".into()),
                        "subnet-mask" => text(subnet.cidr.netmask().to_string()),
                        _ => None,
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_paths() {
        assert_eq!(split("/latest/meta-data/"), Some((None, "")));
        assert_eq!(split("/latest/meta-data"), Some((None, "")));
        assert_eq!(split("/latest/meta-data/mac"), Some((None, "mac")));
        assert_eq!(
            split("/ins-a/latest/meta-data/placement/zone"),
            Some((Some("ins-a"), "placement/zone"))
        );
        assert_eq!(split("/latest/meta-dataX"), None);
        assert_eq!(split("/"), None);
        assert_eq!(split("/x/y"), None);
    }
}
