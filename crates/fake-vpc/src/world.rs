//! The simulated account's state and how it changes over time.
//!
//! Writes that the real VPC performs asynchronously (migrate, assign, unassign, EIP bind and
//! unbind) become [`Pending`] operations due at `now + lag`; [`World::advance`] lands every due
//! operation and reports which IPs changed holder, so the server can run the data-plane hook.

use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::ids;
use crate::topology::{EipOnMigrate, KeySpec, Topology};

mod garp;
mod resources;
mod tasks;

pub use garp::{MAX_GARP_RECORDS, MAX_HAVIP_LEARN};
pub use resources::*;

/// The longest landing lag accepted (longer values are clamped).
pub const MAX_LAG: Duration = Duration::from_secs(24 * 3600);

/// The longest temporary-credential lifetime accepted (longer values are clamped).
pub const MAX_CREDENTIAL_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// The whole simulated account.
#[derive(Debug, Clone)]
pub struct World {
    pub(crate) region: String,
    pub(crate) vpcs: Vec<Vpc>,
    pub(crate) subnets: Vec<Subnet>,
    pub(crate) instances: Vec<Instance>,
    pub(crate) enis: Vec<Eni>,
    pub(crate) eips: Vec<Eip>,
    pub(crate) eip_on_migrate: EipOnMigrate,
    pub(crate) havips: Vec<HaVip>,
    pub(crate) keys: Vec<KeySpec>,
    pub(crate) temp_creds: Vec<TempCredential>,
    pub(crate) tasks: HashMap<String, VpcTask>,
    pub(crate) eip_tasks: HashMap<u64, EipTask>,
    pub(crate) next_eip_task: u64,
    pub(crate) pending: Vec<Pending>,
    pub(crate) lag: Duration,
    pub(crate) fail_next_task: bool,
    pub(crate) metadata_available: bool,
    pub(crate) metadata_default_instance: Option<String>,
    pub(crate) credential_lifetime: Duration,
    pub(crate) created_unix: i64,
    /// Assign's ClientToken → (parameters, response) for idempotent replays.
    pub(crate) client_tokens: HashMap<String, (Value, Value)>,
    /// How long after a learned GARP a HAVIP is bound.
    pub(crate) havip_learn: Duration,
    /// GARPs the `ignore_garps` fault will still ignore.
    pub(crate) ignore_garps: u32,
    pub(crate) garps: VecDeque<GarpRecord>,
    pub(crate) next_garp: u64,
}

/// Why a direct state change was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WorldError(pub String);

impl World {
    /// The state a validated topology describes. Invalid cross-references are skipped, so
    /// validate first ([`Topology::validate`]).
    pub fn from_topology(t: &Topology) -> World {
        let subnets: Vec<Subnet> = t
            .subnets
            .iter()
            .filter_map(|s| {
                Some(Subnet {
                    id: s.id.clone(),
                    name: s.name.clone().unwrap_or_else(|| s.id.clone()),
                    vpc: s.vpc.clone(),
                    cidr: s.cidr_block.parse().ok()?,
                    zone: s.zone.clone(),
                })
            })
            .collect();
        let enis = t
            .enis
            .iter()
            .filter_map(|n| {
                let subnet = subnets.iter().find(|s| s.id == n.subnet)?;
                let mut ips = vec![PrivateIp {
                    ip: n.primary_ip,
                    primary: true,
                    state: IpState::Available,
                }];
                ips.extend(n.secondary_ips.iter().map(|ip| PrivateIp {
                    ip: *ip,
                    primary: false,
                    state: IpState::Available,
                }));
                Some(Eni {
                    id: n.id.clone(),
                    name: n.name.clone().unwrap_or_else(|| n.id.clone()),
                    mac: n.mac.parse().ok()?,
                    subnet: n.subnet.clone(),
                    vpc: subnet.vpc.clone(),
                    zone: subnet.zone.clone(),
                    instance: n.instance.clone(),
                    primary: n.primary,
                    ips,
                })
            })
            .collect();
        let mut world = World {
            region: t.region.clone(),
            vpcs: t
                .vpcs
                .iter()
                .map(|v| Vpc {
                    id: v.id.clone(),
                    name: v.name.clone().unwrap_or_else(|| v.id.clone()),
                    cidr: v.cidr_block.clone(),
                })
                .collect(),
            instances: t
                .instances
                .iter()
                .map(|i| Instance {
                    id: i.id.clone(),
                    name: i.name.clone(),
                    zone: i.zone.clone(),
                    role: i.role.clone(),
                    vpc: i.vpc.clone(),
                    uuid: uuid_for(&i.id),
                })
                .collect(),
            subnets,
            enis,
            eips: t
                .eips
                .iter()
                .map(|p| Eip {
                    id: p.id.clone(),
                    name: p.name.clone().unwrap_or_default(),
                    ip: p.ip,
                    status: if p.eni.is_some() {
                        EipStatus::Bind
                    } else {
                        EipStatus::Unbind
                    },
                    eni: p.eni.clone(),
                    private_ip: p.private_ip,
                    havip: None,
                })
                .collect(),
            eip_on_migrate: t.eip_on_migrate,
            havips: t
                .havips
                .iter()
                .map(|h| HaVip {
                    id: h.id.clone(),
                    name: h.name.clone().unwrap_or_default(),
                    vip: h.vip,
                    vpc: t
                        .subnets
                        .iter()
                        .find(|s| s.id == h.subnet)
                        .map(|s| s.vpc.clone())
                        .unwrap_or_default(),
                    subnet: h.subnet.clone(),
                    eni: h.eni.clone(),
                    address_ip: h.address_ip,
                    flushed: None,
                })
                .collect(),
            keys: t.keys.clone(),
            temp_creds: Vec::new(),
            tasks: HashMap::new(),
            eip_tasks: HashMap::new(),
            next_eip_task: 50_121_411,
            pending: Vec::new(),
            lag: Duration::ZERO,
            fail_next_task: false,
            metadata_available: true,
            metadata_default_instance: t.metadata_default_instance.clone(),
            credential_lifetime: Duration::from_secs(3600),
            created_unix: ids::unix_now(),
            client_tokens: HashMap::new(),
            havip_learn: Duration::from_secs(1),
            ignore_garps: 0,
            garps: VecDeque::new(),
            next_garp: 0,
        };
        // An EIP a HAVIP's `address_ip` names is bound to that HAVIP.
        for h in &t.havips {
            let Some(ip) = h.address_ip else { continue };
            if let Some(x) = world.eips.iter_mut().find(|x| x.ip == ip) {
                x.status = EipStatus::Bind;
                x.eni = None;
                x.private_ip = Some(h.vip);
                x.havip = Some(h.id.clone());
            }
        }
        world
    }

    pub fn region(&self) -> &str {
        &self.region
    }
    pub fn vpcs(&self) -> &[Vpc] {
        &self.vpcs
    }
    pub fn subnets(&self) -> &[Subnet] {
        &self.subnets
    }
    pub fn instances(&self) -> &[Instance] {
        &self.instances
    }
    pub fn enis(&self) -> &[Eni] {
        &self.enis
    }
    pub fn eips(&self) -> &[Eip] {
        &self.eips
    }
    pub fn eip_on_migrate(&self) -> EipOnMigrate {
        self.eip_on_migrate
    }
    pub fn set_eip_on_migrate(&mut self, policy: EipOnMigrate) {
        self.eip_on_migrate = policy;
    }
    pub fn havips(&self) -> &[HaVip] {
        &self.havips
    }
    /// Tasks polled with DescribeVpcTaskResult, by RequestId.
    pub fn tasks(&self) -> &HashMap<String, VpcTask> {
        &self.tasks
    }
    /// Temporary credentials issued so far.
    pub fn temp_credentials(&self) -> &[TempCredential] {
        &self.temp_creds
    }
    /// Operations accepted but not landed yet.
    pub fn pending(&self) -> &[Pending] {
        &self.pending
    }
    pub fn lag(&self) -> Duration {
        self.lag
    }
    /// Sets the landing lag (at most [`MAX_LAG`]).
    pub fn set_lag(&mut self, lag: Duration) {
        self.lag = lag.min(MAX_LAG);
    }
    /// The next task created ends `FAILED` and changes nothing.
    pub fn fail_next_task(&mut self) {
        self.fail_next_task = true;
    }
    pub fn metadata_available(&self) -> bool {
        self.metadata_available
    }
    pub fn set_metadata_available(&mut self, available: bool) {
        self.metadata_available = available;
    }
    pub fn credential_lifetime(&self) -> Duration {
        self.credential_lifetime
    }
    /// Sets the lifetime of credentials issued from now on (at most [`MAX_CREDENTIAL_LIFETIME`]).
    pub fn set_credential_lifetime(&mut self, lifetime: Duration) {
        self.credential_lifetime = lifetime.min(MAX_CREDENTIAL_LIFETIME);
    }
    /// Makes every temporary credential issued so far expired.
    pub fn expire_temp_credentials(&mut self) {
        let now = SystemTime::now();
        for c in &mut self.temp_creds {
            c.expires = now;
        }
    }

    pub fn eni(&self, id: &str) -> Option<&Eni> {
        self.enis.iter().find(|e| e.id == id)
    }
    pub fn eni_mut(&mut self, id: &str) -> Option<&mut Eni> {
        self.enis.iter_mut().find(|e| e.id == id)
    }
    pub fn instance(&self, id: &str) -> Option<&Instance> {
        self.instances.iter().find(|i| i.id == id)
    }
    pub fn subnet(&self, id: &str) -> Option<&Subnet> {
        self.subnets.iter().find(|s| s.id == id)
    }

    /// The instance's primary ENI.
    pub fn primary_eni_of(&self, instance: &str) -> Option<&Eni> {
        self.enis
            .iter()
            .find(|e| e.primary && e.instance.as_deref() == Some(instance))
    }

    /// The primary IP of the instance's primary ENI.
    pub fn instance_primary_ip(&self, instance: &str) -> Option<Ipv4Addr> {
        self.primary_eni_of(instance).and_then(Eni::primary_ip)
    }

    /// The instance whose primary IP is `ip`.
    pub fn instance_by_primary_ip(&self, ip: Ipv4Addr) -> Option<&Instance> {
        self.instances
            .iter()
            .find(|i| self.instance_primary_ip(&i.id) == Some(ip))
    }

    /// The ENI that lists `ip` (in any state).
    pub fn holder_of(&self, ip: Ipv4Addr) -> Option<String> {
        self.enis
            .iter()
            .find(|e| e.ips.iter().any(|p| p.ip == ip))
            .map(|e| e.id.clone())
    }

    /// The state of `ip` on the ENI that lists it.
    pub fn ip_state(&self, ip: Ipv4Addr) -> Option<IpState> {
        self.enis
            .iter()
            .flat_map(|e| e.ips.iter())
            .find(|p| p.ip == ip)
            .map(|p| p.state)
    }

    /// Whether any ENI or HAVIP uses `ip`.
    pub fn ip_in_use(&self, ip: Ipv4Addr) -> bool {
        self.holder_of(ip).is_some() || self.havips.iter().any(|h| h.vip == ip)
    }

    /// Puts `ip` on `eni` as an available secondary IP at once (no task, no hook).
    pub fn add_secondary_ip(&mut self, eni: &str, ip: Ipv4Addr) -> Result<(), WorldError> {
        if self.ip_in_use(ip) {
            return Err(WorldError(format!("{ip} is already in use")));
        }
        let Some(cidr) = self
            .eni(eni)
            .and_then(|e| self.subnet(&e.subnet))
            .map(|s| s.cidr)
        else {
            return Err(WorldError(format!("no ENI {eni}")));
        };
        if !cidr.contains(ip) || cidr.is_reserved(ip) {
            return Err(WorldError(format!("{ip} is not usable in {cidr}")));
        }
        if let Some(e) = self.eni_mut(eni) {
            e.ips.push(PrivateIp {
                ip,
                primary: false,
                state: IpState::Available,
            });
        }
        Ok(())
    }

    /// Removes a secondary `ip` from whichever ENI holds it, at once (no task, no hook).
    pub fn remove_secondary_ip(&mut self, ip: Ipv4Addr) -> Result<(), WorldError> {
        for e in &mut self.enis {
            if let Some(pos) = e.ips.iter().position(|p| p.ip == ip) {
                if e.ips[pos].primary {
                    return Err(WorldError(format!("{ip} is the primary IP of {}", e.id)));
                }
                e.ips.remove(pos);
                return Ok(());
            }
        }
        Err(WorldError(format!("{ip} is not held")))
    }

    /// The holder and state of every secondary IP, for hooks at start and state dumps.
    pub fn secondary_ips(&self) -> Vec<(Ipv4Addr, String, IpState)> {
        self.enis
            .iter()
            .flat_map(|e| {
                e.ips
                    .iter()
                    .filter(|p| !p.primary)
                    .map(|p| (p.ip, e.id.clone(), p.state))
            })
            .collect()
    }

    pub(crate) fn landing_for(&self, ip: Ipv4Addr, eni: Option<&str>) -> Landing {
        let instance_primary_ip = eni
            .and_then(|id| self.eni(id))
            .and_then(|e| e.instance.as_deref())
            .and_then(|i| self.instance_primary_ip(i));
        Landing {
            ip,
            eni: eni.map(str::to_string),
            instance_primary_ip,
        }
    }

    /// Adds a new EIP in state `CREATING` (AllocateAddresses): a fresh `eip-` id and the first
    /// free public address of 198.19.200.0/24 (inside the test range). `None` when that pool is
    /// used up.
    pub(crate) fn new_eip(&mut self, name: &str) -> Option<String> {
        let ip = (1..=254u8)
            .map(|i| Ipv4Addr::new(198, 19, 200, i))
            .find(|ip| !self.eips.iter().any(|x| x.ip == *ip))?;
        let id = loop {
            let id = format!("eip-{}", ids::alnum(8).to_ascii_lowercase());
            if !self.eips.iter().any(|x| x.id == id) {
                break id;
            }
        };
        self.eips.push(Eip {
            id: id.clone(),
            name: name.to_owned(),
            ip,
            status: EipStatus::Creating,
            eni: None,
            private_ip: None,
            havip: None,
        });
        Some(id)
    }

    /// The current temporary credentials of `instance`'s role, issuing fresh ones when none
    /// exist or the newest has used up half of its lifetime (old ones stay valid until they
    /// expire, as with the real service's rotation).
    pub(crate) fn role_credentials(&mut self, instance: &str, role: &str) -> TempCredential {
        let now = SystemTime::now();
        let lifetime = self.credential_lifetime;
        if let Some(c) = self
            .temp_creds
            .iter()
            .rev()
            .find(|c| c.instance == instance && c.role == role)
        {
            let fresh_until = c.issued + lifetime / 2;
            if now < fresh_until && now < c.expires {
                return c.clone();
            }
        }
        let c = TempCredential {
            secret_id: format!("AKID{}", ids::alnum(32)),
            secret_key: ids::alnum(32),
            token: ids::alnum(96),
            issued: now,
            expires: now + lifetime,
            role: role.to_string(),
            instance: instance.to_string(),
        };
        self.temp_creds.push(c.clone());
        c
    }

    /// A JSON picture of the state for dumps (no secrets).
    pub fn to_json(&self) -> Value {
        let holders: serde_json::Map<String, Value> = self
            .enis
            .iter()
            .flat_map(|e| {
                e.ips.iter().map(|p| {
                    (
                        p.ip.to_string(),
                        serde_json::json!({"eni": e.id, "state": p.state.as_str(), "primary": p.primary}),
                    )
                })
            })
            .collect();
        let mut tasks: Vec<&VpcTask> = self.tasks.values().collect();
        tasks.sort_by(|a, b| a.id.cmp(&b.id));
        serde_json::json!({
            "region": self.region,
            "lag_ms": u64::try_from(self.lag.as_millis()).unwrap_or(u64::MAX),
            "metadata_available": self.metadata_available,
            "fail_next_task": self.fail_next_task,
            "ips": holders,
            "enis": self.enis,
            "eips": self.eips,
            "havips": self.havips,
            "instances": self.instances,
            "tasks": tasks,
            "pending": self.pending.len(),
            "havip_learn_ms": u64::try_from(self.havip_learn.as_millis()).unwrap_or(u64::MAX),
            "ignore_garps": self.ignore_garps,
            "garps": self.garps,
        })
    }
}

/// A stable UUID-shaped value derived from the instance id.
fn uuid_for(id: &str) -> String {
    crate::ids::uuid_shape(&tencent_api::sign::sha256_hex(id.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Instant;

    use super::*;

    fn world() -> World {
        let t = Topology::from_toml_str(include_str!("../examples/two-nodes.toml")).unwrap();
        World::from_topology(&t)
    }

    #[test]
    fn migrate_lands_after_lag_and_fails_when_told() {
        let mut w = world();
        let vip: Ipv4Addr = "198.18.1.100".parse().unwrap();
        let t0 = Instant::now();
        w.set_lag(Duration::from_secs(2));
        let change = Change::Migrate {
            ip: vip,
            from: "eni-node0001".into(),
            to: "eni-node0002".into(),
        };
        w.start_vpc_task(
            "t1",
            "MigratePrivateIpAddress",
            "eni-node0001",
            vec![change.clone()],
            t0,
        );
        assert_eq!(w.ip_state(vip), Some(IpState::Migrating));
        assert!(w.advance(t0 + Duration::from_secs(1)).is_empty());
        assert_eq!(w.holder_of(vip).as_deref(), Some("eni-node0001"));
        let l = w.advance(t0 + Duration::from_secs(2));
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].eni.as_deref(), Some("eni-node0002"));
        assert_eq!(
            l[0].instance_primary_ip,
            Some("198.18.1.12".parse().unwrap())
        );
        assert_eq!(w.tasks()["t1"].status, TaskStatus::Success);
        assert_eq!(w.ip_state(vip), Some(IpState::Available));

        w.fail_next_task();
        let back = Change::Migrate {
            ip: vip,
            from: "eni-node0002".into(),
            to: "eni-node0001".into(),
        };
        w.start_vpc_task(
            "t2",
            "MigratePrivateIpAddress",
            "eni-node0002",
            vec![back],
            t0,
        );
        assert!(w.advance(t0 + Duration::from_secs(5)).is_empty());
        assert_eq!(w.tasks()["t2"].status, TaskStatus::Failed);
        assert_eq!(w.holder_of(vip).as_deref(), Some("eni-node0002"));
        assert_eq!(w.ip_state(vip), Some(IpState::Available));
    }
}
