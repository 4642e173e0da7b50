//! The simulated account as a TOML file: VPCs, subnets, instances, ENIs, EIPs, HAVIPs and API
//! keys. Parsed strictly (unknown keys are errors) and validated as a whole; every error names
//! the entry it is about, e.g. `eni[1] (eni-node0002): subnet "subnet-x" is not defined`.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

mod validate;

use validate::Validator;

use serde::{Deserialize, Serialize};

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
