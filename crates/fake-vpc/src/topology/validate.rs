//! Checking a topology for consistency: well-formed and unique ids, references that resolve,
//! addresses inside their subnets and used once. The first problem found is the error, naming
//! the entry and the fix.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use super::*;
use crate::net::{Cidr, Mac};

fn invalid(entry: String, message: impl Into<String>) -> TopologyError {
    TopologyError::Invalid {
        entry,
        message: message.into(),
    }
}

fn entry(kind: &str, index: usize, id: &str) -> String {
    format!("{kind}[{index}] ({id})")
}

/// Ids look like the real ones: a prefix, then lower-case letters and digits.
fn check_id(e: &str, id: &str, prefix: &str) -> Result<(), TopologyError> {
    let ok = id
        .strip_prefix(prefix)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ok {
        Ok(())
    } else {
        Err(invalid(
            e.to_string(),
            format!("id {id:?} must be {prefix:?} followed by letters and digits"),
        ))
    }
}

#[derive(Default)]
pub(super) struct Validator {
    ids: HashSet<String>,
    vpc_cidrs: HashMap<String, Option<Cidr>>,
    subnets: HashMap<String, (String, Cidr)>,
    instances: HashMap<String, String>,
    ip_owner: HashMap<Ipv4Addr, String>,
}

impl Validator {
    fn unique(&mut self, e: &str, id: &str) -> Result<(), TopologyError> {
        if !self.ids.insert(id.to_string()) {
            return Err(invalid(
                e.to_string(),
                format!("id {id:?} is defined twice"),
            ));
        }
        Ok(())
    }

    fn hold(&mut self, e: &str, ip: Ipv4Addr) -> Result<(), TopologyError> {
        if let Some(other) = self.ip_owner.get(&ip) {
            return Err(invalid(
                e.to_string(),
                format!("IP {ip} is already held by {other}"),
            ));
        }
        self.ip_owner.insert(ip, e.to_string());
        Ok(())
    }

    fn subnet(&self, e: &str, id: &str) -> Result<(String, Cidr), TopologyError> {
        self.subnets
            .get(id)
            .cloned()
            .ok_or_else(|| invalid(e.to_string(), format!("subnet {id:?} is not defined")))
    }

    pub(super) fn run(mut self, t: &Topology) -> Result<(), TopologyError> {
        if t.region.trim().is_empty() {
            return Err(invalid("region".into(), "must not be empty"));
        }
        for (i, v) in t.vpcs.iter().enumerate() {
            let e = entry("vpc", i, &v.id);
            check_id(&e, &v.id, "vpc-")?;
            self.unique(&e, &v.id)?;
            let cidr = match &v.cidr_block {
                Some(c) => Some(c.parse::<Cidr>().map_err(|m| invalid(e.clone(), m))?),
                None => None,
            };
            self.vpc_cidrs.insert(v.id.clone(), cidr);
        }
        for (i, s) in t.subnets.iter().enumerate() {
            let e = entry("subnet", i, &s.id);
            check_id(&e, &s.id, "subnet-")?;
            self.unique(&e, &s.id)?;
            let Some(vpc_cidr) = self.vpc_cidrs.get(&s.vpc) else {
                return Err(invalid(e, format!("vpc {:?} is not defined", s.vpc)));
            };
            let cidr: Cidr = s.cidr_block.parse().map_err(|m| invalid(e.clone(), m))?;
            if let Some(vc) = vpc_cidr
                && !vc.covers(&cidr)
            {
                return Err(invalid(
                    e,
                    format!("cidr_block {cidr} is not inside vpc {} ({vc})", s.vpc),
                ));
            }
            if cidr.prefix > 29 {
                return Err(invalid(e, format!("cidr_block {cidr} is smaller than /29")));
            }
            if s.zone.trim().is_empty() {
                return Err(invalid(e, "zone must not be empty"));
            }
            for (other, (vpc, oc)) in &self.subnets {
                if *vpc == s.vpc && oc.overlaps(&cidr) {
                    return Err(invalid(
                        e,
                        format!("cidr_block {cidr} overlaps {other} ({oc})"),
                    ));
                }
            }
            self.subnets.insert(s.id.clone(), (s.vpc.clone(), cidr));
        }
        for (i, inst) in t.instances.iter().enumerate() {
            let e = entry("instance", i, &inst.id);
            check_id(&e, &inst.id, "ins-")?;
            self.unique(&e, &inst.id)?;
            if !self.vpc_cidrs.contains_key(&inst.vpc) {
                return Err(invalid(e, format!("vpc {:?} is not defined", inst.vpc)));
            }
            if let Some(r) = &inst.region
                && *r != t.region
            {
                return Err(invalid(
                    e,
                    format!(
                        "region {r:?} differs from the topology region {:?}",
                        t.region
                    ),
                ));
            }
            if inst.zone.trim().is_empty() {
                return Err(invalid(e, "zone must not be empty"));
            }
            if let Some(role) = &inst.role
                && (role.is_empty() || role.contains('/'))
            {
                return Err(invalid(
                    e,
                    format!("role {role:?} is not a valid role name"),
                ));
            }
            self.instances.insert(inst.id.clone(), inst.vpc.clone());
        }
        let mut macs: HashMap<Mac, String> = HashMap::new();
        let mut primary_eni: HashMap<String, String> = HashMap::new();
        for (i, n) in t.enis.iter().enumerate() {
            let e = entry("eni", i, &n.id);
            check_id(&e, &n.id, "eni-")?;
            self.unique(&e, &n.id)?;
            let mac: Mac = n.mac.parse().map_err(|m| invalid(e.clone(), m))?;
            if let Some(other) = macs.insert(mac, e.clone()) {
                return Err(invalid(e, format!("mac {mac} is also used by {other}")));
            }
            let (vpc, cidr) = self.subnet(&e, &n.subnet)?;
            if let Some(inst) = &n.instance {
                let Some(inst_vpc) = self.instances.get(inst) else {
                    return Err(invalid(e, format!("instance {inst:?} is not defined")));
                };
                if *inst_vpc != vpc {
                    return Err(invalid(
                        e,
                        format!(
                            "subnet {} is in {vpc}, but instance {inst} is in {inst_vpc}",
                            n.subnet
                        ),
                    ));
                }
                if n.primary
                    && let Some(other) = primary_eni.insert(inst.clone(), e.clone())
                {
                    return Err(invalid(
                        e,
                        format!("instance {inst} already has a primary ENI: {other}"),
                    ));
                }
            } else if n.primary {
                return Err(invalid(e, "a primary ENI must name its instance"));
            }
            for (ip, what) in std::iter::once((n.primary_ip, "primary_ip"))
                .chain(n.secondary_ips.iter().map(|ip| (*ip, "secondary_ips")))
            {
                if !cidr.contains(ip) {
                    return Err(invalid(
                        e,
                        format!("{what} {ip} is outside subnet {} ({cidr})", n.subnet),
                    ));
                }
                if cidr.is_reserved(ip) {
                    return Err(invalid(
                        e,
                        format!("{what} {ip} is reserved in subnet {} ({cidr})", n.subnet),
                    ));
                }
                self.hold(&e, ip)?;
            }
        }
        for (i, inst) in t.instances.iter().enumerate() {
            if !primary_eni.contains_key(&inst.id) {
                return Err(invalid(
                    entry("instance", i, &inst.id),
                    "no ENI is marked as its primary ENI (primary = true)",
                ));
            }
        }
        for (i, h) in t.havips.iter().enumerate() {
            let e = entry("havip", i, &h.id);
            check_id(&e, &h.id, "havip-")?;
            self.unique(&e, &h.id)?;
            let (_, cidr) = self.subnet(&e, &h.subnet)?;
            if !cidr.contains(h.vip) || cidr.is_reserved(h.vip) {
                return Err(invalid(
                    e,
                    format!(
                        "vip {} is not a usable address of subnet {} ({cidr})",
                        h.vip, h.subnet
                    ),
                ));
            }
            self.hold(&e, h.vip)?;
            if let Some(eni) = &h.eni {
                let Some(spec) = t.enis.iter().find(|n| n.id == *eni) else {
                    return Err(invalid(e, format!("eni {eni:?} is not defined")));
                };
                if spec.subnet != h.subnet {
                    return Err(invalid(
                        e,
                        format!("eni {eni} is not in subnet {}", h.subnet),
                    ));
                }
            }
        }
        let mut eip_ips: HashMap<Ipv4Addr, String> = HashMap::new();
        let mut bound: HashMap<Ipv4Addr, String> = HashMap::new();
        for (i, p) in t.eips.iter().enumerate() {
            let e = entry("eip", i, &p.id);
            check_id(&e, &p.id, "eip-")?;
            self.unique(&e, &p.id)?;
            if let Some(other) = eip_ips.insert(p.ip, e.clone()) {
                return Err(invalid(e, format!("ip {} is also used by {other}", p.ip)));
            }
            match (&p.eni, p.private_ip) {
                (None, None) => {}
                (Some(eni), Some(ip)) => {
                    let Some(spec) = t.enis.iter().find(|n| n.id == *eni) else {
                        return Err(invalid(e, format!("eni {eni:?} is not defined")));
                    };
                    if spec.primary_ip != ip && !spec.secondary_ips.contains(&ip) {
                        return Err(invalid(e, format!("private_ip {ip} is not held by {eni}")));
                    }
                    if let Some(other) = bound.insert(ip, e.clone()) {
                        return Err(invalid(e, format!("private_ip {ip} already has {other}")));
                    }
                }
                _ => return Err(invalid(e, "eni and private_ip go together")),
            }
        }
        let mut havip_eips: HashMap<Ipv4Addr, String> = HashMap::new();
        for (i, h) in t.havips.iter().enumerate() {
            let Some(ip) = h.address_ip else { continue };
            let e = entry("havip", i, &h.id);
            if !eip_ips.contains_key(&ip) {
                return Err(invalid(
                    e,
                    format!("address_ip {ip} is not an EIP of this topology"),
                ));
            }
            if let Some(p) = t.eips.iter().find(|p| p.ip == ip && p.eni.is_some()) {
                return Err(invalid(
                    e,
                    format!(
                        "address_ip {ip} is the EIP {} bound to an ENI; remove its eni/private_ip",
                        p.id
                    ),
                ));
            }
            if let Some(other) = havip_eips.insert(ip, e.clone()) {
                return Err(invalid(
                    e,
                    format!("address_ip {ip} is also used by {other}"),
                ));
            }
        }
        let mut key_ids = HashSet::new();
        for (i, k) in t.keys.iter().enumerate() {
            let e = entry("key", i, &k.secret_id);
            if k.secret_id.trim().is_empty() || k.secret_key.trim().is_empty() {
                return Err(invalid(e, "secret_id and secret_key must not be empty"));
            }
            if !key_ids.insert(k.secret_id.clone()) {
                return Err(invalid(e, "secret_id is defined twice"));
            }
        }
        if let Some(d) = &t.metadata_default_instance
            && !self.instances.contains_key(d)
        {
            return Err(invalid(
                "metadata_default_instance".into(),
                format!("instance {d:?} is not defined"),
            ));
        }
        Ok(())
    }
}
