//! The simulated account's state and how it changes over time.
//!
//! Writes that the real VPC performs asynchronously (migrate, assign, unassign, EIP bind and
//! unbind) become [`Pending`] operations due at `now + lag`; [`World::advance`] lands every due
//! operation and reports which IPs changed holder, so the server can run the data-plane hook.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use serde_json::Value;

use crate::ids;
use crate::net::{Cidr, Mac};
use crate::topology::{EipOnMigrate, KeySpec, Topology};

#[derive(Debug, Clone, Serialize)]
pub struct Vpc {
    pub id: String,
    pub name: String,
    pub cidr: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Subnet {
    pub id: String,
    pub name: String,
    pub vpc: String,
    #[serde(serialize_with = "ser_display")]
    pub cidr: Cidr,
    pub zone: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Instance {
    pub id: String,
    pub name: String,
    pub zone: String,
    pub role: Option<String>,
    pub vpc: String,
    pub uuid: String,
}

/// One elastic network interface and the private IPs it holds (primary first).
#[derive(Debug, Clone, Serialize)]
pub struct Eni {
    pub id: String,
    pub name: String,
    #[serde(serialize_with = "ser_display")]
    pub mac: Mac,
    pub subnet: String,
    pub vpc: String,
    pub zone: String,
    pub instance: Option<String>,
    pub primary: bool,
    pub ips: Vec<PrivateIp>,
}

impl Eni {
    /// The ENI's primary private IP.
    pub fn primary_ip(&self) -> Option<Ipv4Addr> {
        self.ips.iter().find(|p| p.primary).map(|p| p.ip)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct PrivateIp {
    pub ip: Ipv4Addr,
    pub primary: bool,
    pub state: IpState,
}

/// `PrivateIpAddressSpecification.State`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum IpState {
    Available,
    /// Being assigned; listed on the ENI already.
    Pending,
    /// Being migrated away; still on the source ENI.
    Migrating,
    /// Being unassigned; still listed.
    Deleting,
}

impl IpState {
    pub fn as_str(&self) -> &'static str {
        match self {
            IpState::Available => "AVAILABLE",
            IpState::Pending => "PENDING",
            IpState::Migrating => "MIGRATING",
            IpState::Deleting => "DELETING",
        }
    }
}

/// `AddressStatus` of an EIP.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum EipStatus {
    /// Just allocated (AllocateAddresses), not usable yet.
    Creating,
    Unbind,
    Binding,
    Bind,
    Unbinding,
}

impl EipStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            EipStatus::Creating => "CREATING",
            EipStatus::Unbind => "UNBIND",
            EipStatus::Binding => "BINDING",
            EipStatus::Bind => "BIND",
            EipStatus::Unbinding => "UNBINDING",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Eip {
    pub id: String,
    pub name: String,
    pub ip: Ipv4Addr,
    pub status: EipStatus,
    pub eni: Option<String>,
    pub private_ip: Option<Ipv4Addr>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HaVip {
    pub id: String,
    pub name: String,
    pub vip: Ipv4Addr,
    pub vpc: String,
    pub subnet: String,
    pub eni: Option<String>,
    pub address_ip: Option<Ipv4Addr>,
}

/// Temporary credentials issued through the metadata service. Redacted in `Debug`.
#[derive(Clone)]
pub struct TempCredential {
    pub secret_id: String,
    pub secret_key: String,
    pub token: String,
    pub issued: SystemTime,
    pub expires: SystemTime,
    pub role: String,
    pub instance: String,
}

impl fmt::Debug for TempCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TempCredential")
            .field("secret_id", &self.secret_id)
            .field("secret_key", &"<redacted>")
            .field("token", &"<redacted>")
            .field("expires", &self.expires)
            .field("role", &self.role)
            .field("instance", &self.instance)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum TaskStatus {
    Running,
    Success,
    Failed,
}

impl TaskStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            TaskStatus::Running => "RUNNING",
            TaskStatus::Success => "SUCCESS",
            TaskStatus::Failed => "FAILED",
        }
    }
}

/// A task polled with DescribeVpcTaskResult, keyed by the RequestId of the call that made it.
#[derive(Debug, Clone, Serialize)]
pub struct VpcTask {
    pub id: String,
    pub action: String,
    pub status: TaskStatus,
    pub resource: String,
    pub output: String,
}

/// A task polled with DescribeTaskResult (EIP actions), keyed by an integer.
#[derive(Debug, Clone, Serialize)]
pub struct EipTask {
    pub id: u64,
    pub status: TaskStatus,
}

/// What a pending operation changes when it lands.
#[derive(Debug, Clone, Serialize)]
pub enum Change {
    Migrate {
        ip: Ipv4Addr,
        from: String,
        to: String,
    },
    Assign {
        ip: Ipv4Addr,
        eni: String,
    },
    Unassign {
        ip: Ipv4Addr,
        eni: String,
    },
    EipBind {
        eip: String,
    },
    EipUnbind {
        eip: String,
    },
    /// A new EIP (AllocateAddresses) becomes `UNBIND`.
    EipCreate {
        eip: String,
    },
}

#[derive(Debug, Clone, Serialize)]
pub enum TaskRef {
    Vpc(String),
    Eip(u64),
}

/// An accepted asynchronous write that has not landed yet.
#[derive(Debug, Clone)]
pub struct Pending {
    pub changes: Vec<Change>,
    pub due: Instant,
    pub fail: bool,
    pub task: TaskRef,
}

/// An IP that changed holder: what the data-plane hook is told.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Landing {
    pub ip: Ipv4Addr,
    /// The new holder; `None` when the IP was released.
    pub eni: Option<String>,
    /// The primary IP of the new holder's instance, when it is attached.
    pub instance_primary_ip: Option<Ipv4Addr>,
}

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
}

fn ser_display<T: fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
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
        World {
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
        }
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

    fn set_ip_state(&mut self, ip: Ipv4Addr, state: IpState) {
        for e in &mut self.enis {
            for p in &mut e.ips {
                if p.ip == ip {
                    p.state = state;
                }
            }
        }
    }

    /// Takes the fail-next-task switch.
    fn take_fail(&mut self) -> bool {
        std::mem::take(&mut self.fail_next_task)
    }

    /// Accepts an asynchronous ENI operation as task `task_id`, marking its IPs.
    pub(crate) fn start_vpc_task(
        &mut self,
        task_id: &str,
        action: &str,
        resource: &str,
        changes: Vec<Change>,
        now: Instant,
    ) {
        for c in &changes {
            match c {
                Change::Migrate { ip, .. } => self.set_ip_state(*ip, IpState::Migrating),
                Change::Assign { ip, eni } => {
                    if let Some(e) = self.eni_mut(eni) {
                        e.ips.push(PrivateIp {
                            ip: *ip,
                            primary: false,
                            state: IpState::Pending,
                        });
                    }
                }
                Change::Unassign { ip, .. } => self.set_ip_state(*ip, IpState::Deleting),
                Change::EipBind { .. } | Change::EipUnbind { .. } | Change::EipCreate { .. } => {}
            }
        }
        let fail = self.take_fail();
        self.tasks.insert(
            task_id.to_string(),
            VpcTask {
                id: task_id.to_string(),
                action: action.to_string(),
                status: TaskStatus::Running,
                resource: resource.to_string(),
                output: String::new(),
            },
        );
        self.pending.push(Pending {
            changes,
            due: now + self.lag,
            fail,
            task: TaskRef::Vpc(task_id.to_string()),
        });
    }

    /// Accepts an asynchronous EIP operation; returns its integer task id.
    pub(crate) fn start_eip_task(&mut self, changes: Vec<Change>, now: Instant) -> u64 {
        let id = self.next_eip_task;
        self.next_eip_task += 1;
        let fail = self.take_fail();
        self.eip_tasks.insert(
            id,
            EipTask {
                id,
                status: TaskStatus::Running,
            },
        );
        self.pending.push(Pending {
            changes,
            due: now + self.lag,
            fail,
            task: TaskRef::Eip(id),
        });
        id
    }

    /// When the next pending operation is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.pending.iter().map(|p| p.due).min()
    }

    /// Lands every operation due at `now`, oldest first; returns the IPs that changed holder.
    pub fn advance(&mut self, now: Instant) -> Vec<Landing> {
        let mut landings = Vec::new();
        while let Some(pos) = self
            .pending
            .iter()
            .enumerate()
            .filter(|(_, p)| p.due <= now)
            .min_by_key(|(_, p)| p.due)
            .map(|(i, _)| i)
        {
            let op = self.pending.remove(pos);
            for change in &op.changes {
                if op.fail {
                    self.undo(change);
                } else {
                    self.apply(change, &mut landings);
                }
            }
            let status = if op.fail {
                TaskStatus::Failed
            } else {
                TaskStatus::Success
            };
            match &op.task {
                TaskRef::Vpc(id) => {
                    if let Some(t) = self.tasks.get_mut(id) {
                        t.status = status;
                        t.output = if op.fail {
                            "task failed: the operation was rolled back".into()
                        } else {
                            "SUCCESS".into()
                        };
                    }
                }
                TaskRef::Eip(id) => {
                    if let Some(t) = self.eip_tasks.get_mut(id) {
                        t.status = status;
                    }
                }
            }
        }
        landings
    }

    fn apply(&mut self, change: &Change, landings: &mut Vec<Landing>) {
        match change {
            Change::Migrate { ip, from, to } => {
                if let Some(src) = self.eni_mut(from) {
                    src.ips.retain(|p| p.ip != *ip);
                }
                if let Some(dst) = self.eni_mut(to) {
                    dst.ips.push(PrivateIp {
                        ip: *ip,
                        primary: false,
                        state: IpState::Available,
                    });
                }
                // An EIP bound to the IP follows it or is dropped, as the topology says (not
                // documented either way).
                let policy = self.eip_on_migrate;
                for eip in &mut self.eips {
                    if eip.private_ip == Some(*ip) && eip.eni.as_deref() == Some(from.as_str()) {
                        match policy {
                            EipOnMigrate::Follow => eip.eni = Some(to.clone()),
                            EipOnMigrate::Drop => {
                                eip.eni = None;
                                eip.private_ip = None;
                                eip.status = EipStatus::Unbind;
                            }
                        }
                    }
                }
                landings.push(self.landing_for(*ip, Some(to)));
            }
            Change::Assign { ip, eni } => {
                self.set_ip_state(*ip, IpState::Available);
                landings.push(self.landing_for(*ip, Some(eni)));
            }
            Change::Unassign { ip, eni } => {
                if let Some(e) = self.eni_mut(eni) {
                    e.ips.retain(|p| p.ip != *ip);
                }
                for eip in &mut self.eips {
                    if eip.private_ip == Some(*ip) {
                        eip.eni = None;
                        eip.private_ip = None;
                        eip.status = EipStatus::Unbind;
                    }
                }
                landings.push(self.landing_for(*ip, None));
            }
            Change::EipBind { eip } => {
                if let Some(p) = self.eips.iter_mut().find(|p| p.id == *eip) {
                    p.status = EipStatus::Bind;
                }
            }
            Change::EipUnbind { eip } => {
                if let Some(p) = self.eips.iter_mut().find(|p| p.id == *eip) {
                    p.status = EipStatus::Unbind;
                    p.eni = None;
                    p.private_ip = None;
                }
            }
            Change::EipCreate { eip } => {
                if let Some(p) = self.eips.iter_mut().find(|p| p.id == *eip) {
                    p.status = EipStatus::Unbind;
                }
            }
        }
    }

    fn undo(&mut self, change: &Change) {
        match change {
            Change::Migrate { ip, .. } | Change::Unassign { ip, .. } => {
                self.set_ip_state(*ip, IpState::Available);
            }
            Change::Assign { ip, eni } => {
                if let Some(e) = self.eni_mut(eni) {
                    e.ips.retain(|p| p.ip != *ip);
                }
            }
            Change::EipBind { eip } => {
                if let Some(p) = self.eips.iter_mut().find(|p| p.id == *eip) {
                    p.status = EipStatus::Unbind;
                    p.eni = None;
                    p.private_ip = None;
                }
            }
            Change::EipUnbind { eip } => {
                if let Some(p) = self.eips.iter_mut().find(|p| p.id == *eip) {
                    p.status = EipStatus::Bind;
                }
            }
            Change::EipCreate { eip } => self.eips.retain(|p| p.id != *eip),
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
