//! The simulated account as a TOML file: VPCs, subnets, instances, ENIs, EIPs, HAVIPs and API
//! keys. Parsed strictly (unknown keys are errors) and validated as a whole; every error names
//! the entry it is about, e.g. `eni[1] (eni-node0002): subnet "subnet-x" is not defined`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::net::{Cidr, Mac};

/// A whole simulated account in one region.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Topology {
    /// The one region this simulator serves, e.g. `ap-guangzhou`.
    pub region: String,
    /// The instance whose metadata a caller gets when neither a path prefix nor its source
    /// address names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_default_instance: Option<String>,
    /// What becomes of an EIP bound to a secondary IP that MigratePrivateIpAddress moves: it
    /// follows the IP to its new ENI (`follow`, the default) or is unbound (`drop`). Tencent
    /// documents neither, so both are simulated.
    #[serde(default)]
    pub eip_on_migrate: EipOnMigrate,
    #[serde(default, rename = "vpc")]
    pub vpcs: Vec<VpcSpec>,
    #[serde(default, rename = "subnet")]
    pub subnets: Vec<SubnetSpec>,
    #[serde(default, rename = "instance")]
    pub instances: Vec<InstanceSpec>,
    #[serde(default, rename = "eni")]
    pub enis: Vec<EniSpec>,
    #[serde(default, rename = "eip")]
    pub eips: Vec<EipSpec>,
    #[serde(default, rename = "havip")]
    pub havips: Vec<HaVipSpec>,
    #[serde(default, rename = "key")]
    pub keys: Vec<KeySpec>,
}

impl fmt::Debug for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Topology")
            .field("region", &self.region)
            .field("eip_on_migrate", &self.eip_on_migrate)
            .field("vpcs", &self.vpcs)
            .field("subnets", &self.subnets)
            .field("instances", &self.instances)
            .field("enis", &self.enis)
            .field("eips", &self.eips)
            .field("havips", &self.havips)
            .field("keys", &self.keys)
            .finish()
    }
}

/// See [`Topology::eip_on_migrate`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EipOnMigrate {
    /// The EIP moves with the IP to the new ENI.
    #[default]
    Follow,
    /// The EIP is unbound (`UNBIND`) when the IP lands on another ENI.
    Drop,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VpcSpec {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// Optional; when given, every subnet must lie inside it.
    #[serde(default)]
    pub cidr_block: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubnetSpec {
    pub id: String,
    pub vpc: String,
    pub cidr_block: String,
    pub zone: String,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstanceSpec {
    pub id: String,
    pub name: String,
    /// Defaults to the topology's region; any other value is an error.
    #[serde(default)]
    pub region: Option<String>,
    pub zone: String,
    /// The CAM role bound to the instance (served under `cam/security-credentials/`).
    #[serde(default)]
    pub role: Option<String>,
    pub vpc: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EniSpec {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub mac: String,
    pub subnet: String,
    pub primary_ip: Ipv4Addr,
    #[serde(default)]
    pub secondary_ips: Vec<Ipv4Addr>,
    /// The instance the ENI is attached to; none for a detached ENI.
    #[serde(default)]
    pub instance: Option<String>,
    /// Whether this is its instance's primary ENI (eth0).
    #[serde(default)]
    pub primary: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EipSpec {
    pub id: String,
    pub ip: Ipv4Addr,
    #[serde(default)]
    pub name: Option<String>,
    /// Bound to this ENI's `private_ip` (both or neither).
    #[serde(default)]
    pub eni: Option<String>,
    #[serde(default)]
    pub private_ip: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HaVipSpec {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub vip: Ipv4Addr,
    pub subnet: String,
    /// The ENI the HAVIP currently points at, if any.
    #[serde(default)]
    pub eni: Option<String>,
    /// An EIP address bound to the HAVIP, if any.
    #[serde(default)]
    pub address_ip: Option<Ipv4Addr>,
}

/// A permanent API key pair. The key is redacted in `Debug`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySpec {
    pub secret_id: String,
    pub secret_key: String,
}

impl fmt::Debug for KeySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySpec")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"<redacted>")
            .finish()
    }
}

/// Why a topology was refused.
#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("reading topology {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("parsing topology: {0}")]
    Parse(String),
    /// `entry` is e.g. `eni[1] (eni-node0002)`.
    #[error("{entry}: {message}")]
    Invalid { entry: String, message: String },
}

impl Topology {
    /// Parses and validates a topology.
    pub fn from_toml_str(text: &str) -> Result<Topology, TopologyError> {
        let topology: Topology =
            toml::from_str(text).map_err(|e| TopologyError::Parse(e.to_string()))?;
        topology.validate()?;
        Ok(topology)
    }

    /// Reads, parses and validates a topology file.
    pub fn load(path: impl AsRef<Path>) -> Result<Topology, TopologyError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| TopologyError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text).map_err(|e| match e {
            TopologyError::Parse(m) => TopologyError::Parse(format!("{}: {m}", path.display())),
            other => other,
        })
    }

    /// Checks the whole topology for consistency.
    pub fn validate(&self) -> Result<(), TopologyError> {
        Validator::default().run(self)
    }
}

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
struct Validator {
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

    fn run(mut self, t: &Topology) -> Result<(), TopologyError> {
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
        for (i, h) in t.havips.iter().enumerate() {
            if let Some(ip) = h.address_ip
                && !eip_ips.contains_key(&ip)
            {
                return Err(invalid(
                    entry("havip", i, &h.id),
                    format!("address_ip {ip} is not an EIP of this topology"),
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const BASE: &str = r#"
region = "ap-guangzhou"
[[vpc]]
id = "vpc-demo0001"
[[subnet]]
id = "subnet-demo0001"
vpc = "vpc-demo0001"
cidr_block = "198.18.1.0/24"
zone = "ap-guangzhou-3"
[[instance]]
id = "ins-node0001"
name = "node1"
zone = "ap-guangzhou-3"
vpc = "vpc-demo0001"
[[eni]]
id = "eni-node0001"
mac = "52:54:00:00:01:11"
subnet = "subnet-demo0001"
primary_ip = "198.18.1.11"
secondary_ips = ["198.18.1.100"]
instance = "ins-node0001"
primary = true
"#;

    #[test]
    fn base_is_valid() {
        Topology::from_toml_str(BASE).unwrap();
    }

    fn err(extra: &str) -> String {
        Topology::from_toml_str(&format!("{BASE}{extra}"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_the_entry() {
        let e = err(
            "[[eni]]\nid = \"eni-node0002\"\nmac = \"52:54:00:00:01:12\"\nsubnet = \"subnet-x\"\nprimary_ip = \"198.18.1.12\"\n",
        );
        assert_eq!(
            e,
            "eni[1] (eni-node0002): subnet \"subnet-x\" is not defined"
        );
        let e = err(
            "[[eni]]\nid = \"eni-node0002\"\nmac = \"52:54:00:00:01:12\"\nsubnet = \"subnet-demo0001\"\nprimary_ip = \"198.18.2.12\"\n",
        );
        assert!(
            e.starts_with("eni[1] (eni-node0002): primary_ip 198.18.2.12 is outside"),
            "{e}"
        );
        let e = err(
            "[[eni]]\nid = \"eni-node0002\"\nmac = \"52:54:00:00:01:12\"\nsubnet = \"subnet-demo0001\"\nprimary_ip = \"198.18.1.100\"\n",
        );
        assert!(
            e.contains("198.18.1.100 is already held by eni[0] (eni-node0001)"),
            "{e}"
        );
        let e = err("[[vpc]]\nid = \"vpc-demo0001\"\n");
        assert!(e.starts_with("vpc[1] (vpc-demo0001): id"), "{e}");
        let e = err(
            "[[eni]]\nid = \"eni-node0002\"\nmac = \"52:54:00:00:01:12\"\nsubnet = \"subnet-demo0001\"\nprimary_ip = \"198.18.1.12\"\ninstance = \"ins-nope\"\n",
        );
        assert_eq!(
            e,
            "eni[1] (eni-node0002): instance \"ins-nope\" is not defined"
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = err("bogus = 1\n");
        assert!(e.contains("bogus"), "{e}");
    }
}
