//! `tcvip eip show | associate | disassociate`, and keeping `[[vip]] eip` on its VIP.
//!
//! An EIP is bound to a VIP with AssociateAddress (`NetworkInterfaceId` = the ENI that holds the
//! VIP, `PrivateIpAddress` = the VIP). The call is asynchronous: its string `TaskId` is polled
//! as an integer with DescribeTaskResult (or, without a usable TaskId, DescribeAddresses is
//! watched until the EIP leaves `BINDING`), and the outcome is always verified with
//! DescribeAddresses.
//!
//! Whether Tencent keeps an EIP on a secondary IP that MigratePrivateIpAddress moves is not
//! documented, so with `eip = "eip-…"` on a `[[vip]]`, vip-migrate checks after every move (and
//! when the VIP was already here) that the EIP points at the VIP on this ENI and binds it again
//! when the cloud dropped it; check-self as MASTER looks at it once per `check.cloud_ttl_s` and
//! starts that repair (a reconcile run, at most once per `check.reconcile_cooldown_s`) when it
//! is off. An EIP bound to some other address is never taken: that is reported, not changed.

use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use tencent_api::vpc::{
    Address, AllocateAddressesRequest, AssociateAddressRequest, DescribeAddressesRequest,
    DescribeTaskResultRequest, DisassociateAddressRequest, Filter, TaskStatus,
};
use tencent_api::{Client, RetryClass};
use vip_state::{CloudView, KeepalivedState, now_ms};

use crate::cli::Common;
use crate::cloud;
use crate::config::{Config, VipConfig};
use crate::context::Context;
use crate::discovery::Identity;
use crate::exit::{Exit, api_error, combine, exit};

/// How long an association may take in `tcvip eip associate|disassociate`.
const OPERATOR_DEADLINE: Duration = Duration::from_secs(60);
/// Between two looks at an EIP task or status.
const POLL: Duration = Duration::from_millis(300);

/// `tcvip eip`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shared options, given before or after the subcommand (filled in by `main`).
    #[arg(skip)]
    pub common: Common,
    #[command(subcommand)]
    pub action: Action,
}

/// What to do with the EIPs.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Action {
    /// For each VIP: the EIP bound to it, and whether it is the one `[[vip]] eip` names
    Show {
        /// Only this VIP (repeatable); it must be configured
        #[arg(long = "vip", value_name = "IP")]
        vips: Vec<Ipv4Addr>,
        /// One JSON object per VIP
        #[arg(long)]
        json: bool,
    },
    /// Bind an EIP to the VIP on the ENI that holds it (AssociateAddress), verified
    Associate {
        /// The EIP [default: the VIP's `eip` in tcvip.toml]
        #[arg(long, value_name = "eip-…", conflicts_with = "allocate")]
        eip: Option<String>,
        /// Allocate a new EIP (AllocateAddresses, billed by Tencent) and bind that one
        #[arg(long)]
        allocate: bool,
        /// The VIP [default: the only one configured]
        #[arg(long, value_name = "IP")]
        vip: Option<Ipv4Addr>,
    },
    /// Unbind the EIP from the VIP (DisassociateAddress), verified
    Disassociate {
        /// The VIP [default: the only one configured]
        #[arg(long, value_name = "IP")]
        vip: Option<Ipv4Addr>,
    },
}

/// Where an EIP points, as DescribeAddresses says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EipView {
    pub address_id: String,
    pub address_ip: String,
    /// `BIND`, `UNBIND`, `BINDING`, `UNBINDING`, …
    pub status: String,
    pub eni: Option<String>,
    pub private_ip: Option<Ipv4Addr>,
}

impl EipView {
    fn of(a: &Address) -> EipView {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        EipView {
            address_id: a.address_id.clone(),
            address_ip: a.address_ip.clone(),
            status: a.address_status.clone(),
            eni: some(&a.network_interface_id),
            private_ip: a.private_address_ip.trim().parse().ok(),
        }
    }

    /// Bound (`BIND` or `BIND_ENI`) to `vip` on `eni`.
    pub fn points_at(&self, eni: &str, vip: Ipv4Addr) -> bool {
        self.is_bound() && self.private_ip == Some(vip) && self.eni.as_deref() == Some(eni)
    }

    fn is_bound(&self) -> bool {
        matches!(self.status.as_str(), "BIND" | "BIND_ENI")
    }

    fn is_settling(&self) -> bool {
        matches!(self.status.as_str(), "BINDING" | "UNBINDING" | "CREATING")
    }

    /// `198.19.0.10 (eip-…) BIND → eni-… 10.0.1.100`.
    pub fn describe(&self) -> String {
        let target = match (&self.eni, self.private_ip) {
            (Some(eni), Some(ip)) => format!(" → {eni} {ip}"),
            (Some(eni), None) => format!(" → {eni}"),
            (None, Some(ip)) => format!(" → {ip}"),
            (None, None) => String::new(),
        };
        format!(
            "{} ({}) {}{target}",
            self.address_ip, self.address_id, self.status
        )
    }
}

/// The EIP `id`, if it exists.
pub fn describe_eip(client: &Client, id: &str) -> Result<Option<EipView>, tencent_api::Error> {
    let request = DescribeAddressesRequest {
        address_ids: vec![id.to_owned()],
        ..DescribeAddressesRequest::default()
    };
    match client.describe_addresses(&request) {
        Ok(r) => Ok(r
            .address_set
            .iter()
            .find(|a| a.address_id == id)
            .map(EipView::of)),
        Err(e) if e.code() == Some("InvalidAddressId.NotFound") => Ok(None),
        Err(e) => Err(e),
    }
}

/// The EIP bound to `vip`, if any (exact comparison of the private IP).
pub fn eip_on(client: &Client, vip: Ipv4Addr) -> Result<Option<EipView>, tencent_api::Error> {
    let request = DescribeAddressesRequest {
        filters: vec![Filter::one("private-ip-address", vip.to_string())],
        ..DescribeAddressesRequest::default()
    };
    let r = client.describe_addresses(&request)?;
    Ok(r.address_set
        .iter()
        .map(EipView::of)
        .find(|v| v.private_ip == Some(vip)))
}

/// Waits for an EIP task: DescribeTaskResult on the integer TaskId until SUCCESS or FAILED.
/// Without a usable TaskId there is nothing to poll (the caller watches the EIP instead).
fn wait_task(client: &Client, task_id: &str, deadline: Instant, what: &str) -> anyhow::Result<()> {
    let Ok(id) = task_id.trim().parse::<u64>() else {
        crate::debug!("eip_task_unusable", task_id = task_id);
        return Ok(());
    };
    loop {
        match client.describe_task_result(&DescribeTaskResultRequest::task(id)) {
            Ok(r) if r.result == TaskStatus::Success => return Ok(()),
            Ok(r) if r.result == TaskStatus::Failed => {
                return Err(exit(
                    Exit::Failure,
                    anyhow::anyhow!("{what}: the cloud reports task {id} FAILED"),
                ));
            }
            Ok(_) => {}
            Err(e) if e.retry_class() != RetryClass::Fatal => {
                crate::warn!("eip_task_poll_failed", task_id = id, error = e);
            }
            Err(e) => return Err(api_error(e).context(format!("{what}: polling task {id}"))),
        }
        pause(deadline, what)?;
    }
}

fn pause(deadline: Instant, what: &str) -> anyhow::Result<()> {
    if Instant::now() + POLL >= deadline {
        return Err(exit(
            Exit::Unknown,
            anyhow::anyhow!("{what}: not finished before the deadline"),
        ));
    }
    thread::sleep(POLL);
    Ok(())
}

/// Watches EIP `id` with DescribeAddresses until `done` holds (or the deadline passes).
fn watch(
    client: &Client,
    id: &str,
    deadline: Instant,
    what: &str,
    done: impl Fn(&EipView) -> bool,
) -> anyhow::Result<EipView> {
    loop {
        match describe_eip(client, id) {
            Ok(Some(v)) if done(&v) => return Ok(v),
            Ok(Some(v)) if !v.is_settling() => {
                return Err(exit(
                    Exit::Failure,
                    anyhow::anyhow!("{what}: the EIP is now {}", v.describe()),
                ));
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                return Err(exit(
                    Exit::Config,
                    anyhow::anyhow!("{what}: the EIP {id} does not exist"),
                ));
            }
            Err(e) if e.retry_class() != RetryClass::Fatal => {}
            Err(e) => return Err(api_error(e).context(format!("{what}: DescribeAddresses"))),
        }
        pause(deadline, what)?;
    }
}

/// Binds EIP `id` (which must be `UNBIND`) to `vip` on `eni`: AssociateAddress, the task, and
/// a DescribeAddresses that shows the binding.
pub fn associate(
    client: &Client,
    id: &str,
    eni: &str,
    vip: Ipv4Addr,
    deadline: Instant,
) -> anyhow::Result<EipView> {
    let what = format!("binding {id} to {vip} on {eni}");
    let request = AssociateAddressRequest {
        address_id: id.to_owned(),
        network_interface_id: Some(eni.to_owned()),
        private_ip_address: Some(vip),
        ..AssociateAddressRequest::default()
    };
    let response = client
        .associate_address(&request)
        .map_err(|e| api_error(e).context(format!("{what}: AssociateAddress")))?;
    crate::info!(
        "eip_associate",
        eip = id,
        vip = vip,
        eni = eni,
        task_id = response.task_id,
        request_id = response.request_id
    );
    wait_task(client, &response.task_id, deadline, &what)?;
    watch(client, id, deadline, &what, |v| v.points_at(eni, vip))
}

/// Unbinds EIP `id`: DisassociateAddress, the task, and a DescribeAddresses showing `UNBIND`.
pub fn disassociate(client: &Client, id: &str, deadline: Instant) -> anyhow::Result<EipView> {
    let what = format!("unbinding {id}");
    let response = client
        .disassociate_address(&DisassociateAddressRequest {
            address_id: id.to_owned(),
            reallocate_normal_public_ip: None,
        })
        .map_err(|e| api_error(e).context(format!("{what}: DisassociateAddress")))?;
    crate::info!("eip_disassociate", eip = id, request_id = response.task_id);
    wait_task(client, &response.task_id, deadline, &what)?;
    watch(client, id, deadline, &what, |v| v.status == "UNBIND")
}

/// What [`ensure`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ensured {
    /// The EIP pointed at the VIP already: no call made.
    Already(EipView),
    /// It was bound again (it was unbound, or bound to the VIP on another ENI).
    Rebound { before: EipView, after: EipView },
}

/// Makes EIP `id` point at `vip` on `eni`. `may_write` is asked before each write call (it
/// says why not, e.g. no longer MASTER). An EIP bound to another address is not taken.
pub fn ensure(
    client: &Client,
    id: &str,
    eni: &str,
    vip: Ipv4Addr,
    deadline: Instant,
    may_write: &dyn Fn() -> Result<(), String>,
) -> anyhow::Result<Ensured> {
    let what = format!("keeping {id} on {vip}");
    let mut before = match describe_eip(client, id) {
        Ok(Some(v)) => v,
        Ok(None) => {
            return Err(exit(
                Exit::Config,
                anyhow::anyhow!(
                    "{what}: the EIP {id} does not exist; check eip in the [[vip]] entry of {vip}"
                ),
            ));
        }
        Err(e) => return Err(api_error(e).context(format!("{what}: DescribeAddresses"))),
    };
    if before.is_settling() {
        before = watch(client, id, deadline, &what, |v| !v.is_settling())?;
    }
    if before.points_at(eni, vip) {
        return Ok(Ensured::Already(before));
    }
    let refuse = |why: String| exit(Exit::NotMaster, anyhow::anyhow!("{what}: {why}"));
    if before.is_bound() {
        if before.private_ip != Some(vip) {
            return Err(exit(
                Exit::Failure,
                anyhow::anyhow!(
                    "{what}: it is bound elsewhere ({}); tcvip does not take an EIP from another address: unbind it first (`tcvip eip disassociate`, or the console)",
                    before.describe()
                ),
            ));
        }
        // Bound to the VIP on the ENI it left: the binding is stale.
        may_write().map_err(refuse)?;
        disassociate(client, id, deadline)?;
    }
    may_write().map_err(refuse)?;
    let after = associate(client, id, eni, vip, deadline)?;
    Ok(Ensured::Rebound { before, after })
}

/// The cache holding the last EIP view of a VIP.
fn view_cache(vip: Ipv4Addr) -> String {
    format!("eip-view-{vip}")
}

/// The cache holding when check-self last asked for an EIP repair of a VIP.
fn repair_cache(vip: Ipv4Addr) -> String {
    format!("eip-repair-{vip}")
}

/// vip-migrate's hook, after a VIP is confirmed on this ENI (moved or already here): keeps the
/// VIP's configured EIP on it. `None` when the VIP has no `eip`; else the exit for this VIP.
pub fn after_move(
    ctx: &Context,
    vip: Ipv4Addr,
    instance: &str,
    force: bool,
    deadline: Instant,
) -> Option<Exit> {
    let id = ctx.config.vip(vip)?.eip.as_ref()?.as_str().to_owned();
    let result = (|| -> anyhow::Result<Ensured> {
        let identity = ctx.identity()?;
        let client = ctx.client()?;
        let may_write = || -> Result<(), String> {
            let read = ctx.state.read_state(instance);
            if force || read.state == KeepalivedState::Master {
                Ok(())
            } else {
                Err(format!(
                    "stopped before binding it: keepalived instance {instance} is {} (record {}), not MASTER",
                    read.state, read.seq
                ))
            }
        };
        // At least a short while for the EIP, even when the move used up the deadline.
        let deadline = deadline.max(Instant::now() + Duration::from_secs(10));
        ensure(
            client,
            &id,
            identity.eni_id.as_str(),
            vip,
            deadline,
            &may_write,
        )
    })();
    let view = match result {
        Ok(Ensured::Already(view)) => {
            crate::info!("eip_ok", vip = vip, eip = id);
            println!("{vip}: EIP {} points at it", view.describe());
            view
        }
        Ok(Ensured::Rebound { before, after }) => {
            crate::warn!(
                "eip_rebound",
                vip = vip,
                eip = id,
                before = before.describe(),
                after = after.describe()
            );
            println!(
                "{vip}: EIP {id} was {}, bound again: {}",
                before.status,
                after.describe()
            );
            after
        }
        Err(e) => {
            let text = crate::cli::error_text(&e);
            crate::error!("eip_failed", vip = vip, eip = id, error = text);
            eprintln!("vip-migrate: {vip}: {text}");
            return Some(crate::exit::exit_of(&e));
        }
    };
    if let Err(e) = ctx.state.write_cache(&view_cache(vip), &view) {
        crate::warn!("state_write_failed", vip = vip, error = e);
    }
    Some(Exit::Success)
}

/// check-self's hook for a VIP as MASTER whose cloud view is `view`: when the VIP is here and
/// has an `eip`, checks (from a cache at most `check.cloud_ttl_s` old, else one bounded
/// DescribeAddresses) that the EIP points at it. Returns whether a repair run should start;
/// what it saw goes to `notes`.
pub fn check_as_master(
    ctx: &Context,
    vip: &VipConfig,
    view: &CloudView,
    identity: &Identity,
    remaining: Duration,
    notes: &mut Vec<String>,
) -> bool {
    let Some(id) = vip.eip.as_ref().map(|e| e.as_str().to_owned()) else {
        return false;
    };
    let me = identity.eni_id.as_str();
    if view.holder_eni.as_deref() != Some(me) {
        return false; // the VIP itself comes first
    }
    let address = vip.address;
    let ttl = ctx.config.check.cloud_ttl();
    let cached = ctx
        .state
        .read_cache::<EipView>(&view_cache(address))
        .value
        .filter(|c| c.is_fresh(ttl) && c.value.address_id == id)
        .map(|c| c.value);
    let seen = match cached {
        Some(v) => v,
        None => match lookup(&ctx.config, identity, &id, remaining) {
            Ok(Some(v)) => {
                if let Err(e) = ctx.state.write_cache(&view_cache(address), &v) {
                    crate::warn!("state_write_failed", vip = address, error = e);
                }
                v
            }
            Ok(None) => {
                notes.push(format!("{address}: EIP {id} does not exist"));
                return false;
            }
            Err(e) => {
                notes.push(format!("{address}: EIP {id} unknown ({e})"));
                return false;
            }
        },
    };
    if seen.points_at(me, address) || seen.is_settling() {
        return false;
    }
    crate::warn!(
        "eip_off_vip",
        vip = address,
        eip = id,
        seen = seen.describe()
    );
    let now = now_ms();
    let cooldown = ctx.config.check.reconcile_cooldown().as_millis() as u64;
    let last = ctx
        .state
        .read_cache::<u64>(&repair_cache(address))
        .value
        .map(|c| c.value);
    if last.is_some_and(|at| now < at.saturating_add(cooldown)) {
        notes.push(format!(
            "{address}: EIP {id} is {}; repair cooling down",
            seen.describe()
        ));
        return false;
    }
    if let Err(e) = ctx.state.write_cache(&repair_cache(address), &now) {
        crate::warn!("state_write_failed", vip = address, error = e);
    }
    // The repair run re-reads the EIP itself.
    let _ = ctx.state.remove_cache(&view_cache(address));
    notes.push(format!(
        "{address}: EIP {id} is {}; repair started",
        seen.describe()
    ));
    true
}

/// One DescribeAddresses on a worker given up after `remaining` (check-self's deadline).
fn lookup(
    config: &Config,
    identity: &Identity,
    id: &str,
    remaining: Duration,
) -> Result<Option<EipView>, String> {
    let mut client_config = config.client_config(&identity.region);
    client_config.timeout = client_config
        .timeout
        .min(remaining)
        .max(Duration::from_millis(1));
    client_config.connect_timeout = client_config.connect_timeout.min(client_config.timeout);
    let client =
        Client::new(client_config, config.credential_provider()).map_err(|e| e.to_string())?;
    let id = id.to_owned();
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("eip".into())
        .spawn(move || {
            let _ = tx.send(describe_eip(&client, &id).map_err(|e| e.to_string()));
        })
        .map_err(|e| format!("cannot start the EIP worker: {e}"))?;
    rx.recv_timeout(remaining)
        .map_err(|_| "no answer before check.deadline_ms".to_owned())?
}

/// Runs `tcvip eip …`.
pub fn run(args: &Args) -> anyhow::Result<Exit> {
    let ctx = Context::load(&args.common, "tcvip")?;
    match &args.action {
        Action::Show { vips, json } => show(&ctx, vips, *json),
        Action::Associate { eip, vip, allocate } => {
            run_associate(&ctx, eip.as_deref(), *allocate, *vip)
        }
        Action::Disassociate { vip } => run_disassociate(&ctx, *vip),
    }
}

fn pick_vip(ctx: &Context, vip: Option<Ipv4Addr>) -> anyhow::Result<&VipConfig> {
    let path = ctx.config.path.display();
    match vip {
        Some(vip) => ctx.config.vip(vip).ok_or_else(|| {
            exit(
                Exit::Config,
                anyhow::anyhow!("{vip} is not configured in {path}: add a [[vip]] entry with address = \"{vip}\""),
            )
        }),
        None if ctx.config.vips.len() == 1 => Ok(&ctx.config.vips[0]),
        None => Err(exit(
            Exit::Usage,
            anyhow::anyhow!(
                "several VIPs are configured in {path}; say which with --vip"
            ),
        )),
    }
}

fn holder_eni(ctx: &Context, client: &Client, vip: Ipv4Addr) -> anyhow::Result<String> {
    let identity = ctx.identity()?;
    match cloud::find_holder(client, identity.vpc_id.as_str(), vip)
        .map_err(|e| api_error(e).context(format!("looking up who holds {vip}")))?
    {
        Some(h) if h.is_changing() => Err(exit(
            Exit::Failure,
            anyhow::anyhow!(
                "{vip} is {} on {}: try again when it has landed",
                h.state,
                h.eni
            ),
        )),
        Some(h) => Ok(h.eni),
        None => Err(exit(
            Exit::Failure,
            anyhow::anyhow!(
                "{vip} is assigned to no ENI: allocate it first (`tcvip allocate --ip {vip}`)"
            ),
        )),
    }
}

/// AllocateAddresses for one EIP named after `vip`, waited for until it is `UNBIND`.
fn allocate_eip(client: &Client, vip: Ipv4Addr, deadline: Instant) -> anyhow::Result<EipView> {
    let what = format!("allocating an EIP for {vip}");
    let response = client
        .allocate_addresses(&AllocateAddressesRequest {
            address_count: Some(1),
            address_name: Some(format!("tcvip {vip}")),
            ..AllocateAddressesRequest::default()
        })
        .map_err(|e| api_error(e).context(format!("{what}: AllocateAddresses")))?;
    let Some(id) = response.address_set.first().cloned() else {
        return Err(exit(
            Exit::Failure,
            anyhow::anyhow!(
                "{what}: AllocateAddresses returned no EIP (request {})",
                response.request_id
            ),
        ));
    };
    crate::info!(
        "eip_allocated",
        eip = id,
        vip = vip,
        task_id = response.task_id,
        request_id = response.request_id
    );
    let what = format!("{what}: {id}");
    wait_task(client, &response.task_id, deadline, &what)?;
    watch(client, &id, deadline, &what, |v| v.status == "UNBIND")
}

fn run_associate(
    ctx: &Context,
    eip: Option<&str>,
    allocate: bool,
    vip: Option<Ipv4Addr>,
) -> anyhow::Result<Exit> {
    let entry = pick_vip(ctx, vip)?;
    let mut allocated = None;
    if allocate {
        let client = ctx.client()?;
        // The VIP must be held before anything is bought.
        holder_eni(ctx, client, entry.address)?;
        let view = allocate_eip(client, entry.address, Instant::now() + OPERATOR_DEADLINE)?;
        println!("{}: allocated {}", entry.address, view.describe());
        allocated = Some(view.address_id);
    }
    let id: String = match (allocated.as_deref().or(eip), &entry.eip) {
        (Some(given), _) => given
            .parse::<crate::config::EipId>()
            .map_err(|m| exit(Exit::Usage, anyhow::anyhow!("--eip: {m}")))?
            .as_str()
            .to_owned(),
        (None, Some(configured)) => configured.as_str().to_owned(),
        (None, None) => {
            return Err(exit(
                Exit::Usage,
                anyhow::anyhow!(
                    "which EIP? give --eip eip-… or set eip = \"eip-…\" in the [[vip]] entry of {}",
                    entry.address
                ),
            ));
        }
    };
    let client = ctx.client()?;
    let eni = holder_eni(ctx, client, entry.address)?;
    let deadline = Instant::now() + OPERATOR_DEADLINE;
    let done = ensure(client, &id, &eni, entry.address, deadline, &|| Ok(()))
        .with_context(|| {
            if allocated.is_some() {
                format!("associating the new {id} with {} (it stays allocated: bind it with `tcvip eip associate --eip {id}` or release it in the console)", entry.address)
            } else {
                format!("associating {id} with {}", entry.address)
            }
        })?;
    let view = match done {
        Ensured::Already(v) => {
            println!("{}: {} already points at it", entry.address, v.describe());
            v
        }
        Ensured::Rebound { after, .. } => {
            println!("{}: {}", entry.address, after.describe());
            after
        }
    };
    let _ = ctx.state.write_cache(&view_cache(entry.address), &view);
    if entry.eip.as_ref().map(|e| e.as_str()) != Some(id.as_str()) {
        println!(
            "# to keep it there across failovers, add to the [[vip]] entry of {} in {}:\neip = \"{id}\"",
            entry.address,
            ctx.config.path.display()
        );
    }
    Ok(Exit::Success)
}

fn run_disassociate(ctx: &Context, vip: Option<Ipv4Addr>) -> anyhow::Result<Exit> {
    let entry = pick_vip(ctx, vip)?;
    let client = ctx.client()?;
    let deadline = Instant::now() + OPERATOR_DEADLINE;
    let Some(bound) = eip_on(client, entry.address)
        .map_err(|e| api_error(e).context(format!("looking up the EIP of {}", entry.address)))?
    else {
        println!("{}: no EIP is bound to it", entry.address);
        return Ok(Exit::Success);
    };
    let after = disassociate(client, &bound.address_id, deadline)?;
    let _ = ctx.state.remove_cache(&view_cache(entry.address));
    println!("{}: {}", entry.address, after.describe());
    if entry.eip.is_some() {
        println!(
            "# {} still names eip = \"{}\" for {}: vip-migrate binds it again after the next move; remove that line to stop it",
            ctx.config.path.display(),
            bound.address_id,
            entry.address
        );
    }
    Ok(Exit::Success)
}

/// What `show` found for one VIP.
#[derive(Debug, Clone, Serialize)]
pub struct Shown {
    pub vip: Ipv4Addr,
    pub holder_eni: Option<String>,
    /// `[[vip]] eip`.
    pub configured: Option<String>,
    /// The EIP bound to the VIP.
    pub bound: Option<EipView>,
    /// The configured EIP, when it is not the one bound to the VIP.
    pub configured_view: Option<EipView>,
    /// `ok`, `off` (configured EIP not on the VIP), `changing` (it is being bound or unbound),
    /// `none` (nothing configured) or `unknown`.
    pub verdict: &'static str,
    pub error: Option<String>,
}

/// The EIP facts of `vip` (shared with `tcvip status`).
pub fn inspect(ctx: &Context, vip: &VipConfig) -> Shown {
    let configured = vip.eip.as_ref().map(|e| e.as_str().to_owned());
    let mut shown = Shown {
        vip: vip.address,
        holder_eni: None,
        configured: configured.clone(),
        bound: None,
        configured_view: None,
        verdict: "unknown",
        error: None,
    };
    let result = (|| -> anyhow::Result<()> {
        let identity = ctx.identity()?;
        let client = ctx.client()?;
        let holder = cloud::find_holder(client, identity.vpc_id.as_str(), vip.address)
            .map_err(|e| api_error(e).context("DescribeNetworkInterfaces"))?;
        shown.holder_eni = holder.map(|h| h.eni);
        shown.bound =
            eip_on(client, vip.address).map_err(|e| api_error(e).context("DescribeAddresses"))?;
        if let Some(id) = &configured
            && shown.bound.as_ref().is_none_or(|b| b.address_id != *id)
        {
            shown.configured_view =
                describe_eip(client, id).map_err(|e| api_error(e).context("DescribeAddresses"))?;
        }
        Ok(())
    })();
    match result {
        Err(e) => shown.error = Some(crate::cli::error_text(&e)),
        Ok(()) => {
            let settling = shown
                .bound
                .iter()
                .chain(shown.configured_view.iter())
                .any(|v| configured.as_deref() == Some(v.address_id.as_str()) && v.is_settling());
            shown.verdict = match (&configured, &shown.bound, &shown.holder_eni) {
                (None, _, _) => "none",
                _ if settling => "changing",
                (Some(id), Some(b), Some(holder))
                    if b.address_id == *id && b.points_at(holder, vip.address) =>
                {
                    "ok"
                }
                _ => "off",
            }
        }
    }
    shown
}

fn show(ctx: &Context, vips: &[Ipv4Addr], json: bool) -> anyhow::Result<Exit> {
    let selected: Vec<&VipConfig> = if vips.is_empty() {
        ctx.config.vips.iter().collect()
    } else {
        vips.iter()
            .map(|v| pick_vip(ctx, Some(*v)))
            .collect::<anyhow::Result<_>>()?
    };
    let mut exits = Vec::new();
    for vip in selected {
        let shown = inspect(ctx, vip);
        exits.push(match shown.verdict {
            "ok" | "none" => Exit::Success,
            "off" => Exit::Failure,
            _ => Exit::Unknown,
        });
        if json {
            println!("{}", serde_json::to_string(&shown).unwrap_or_default());
        } else {
            print!("{}", show_text(&shown));
        }
    }
    Ok(combine(exits))
}

/// The text lines of `shown`, each indented under the VIP.
pub fn show_text(shown: &Shown) -> String {
    let mut out = format!("{}\n", shown.vip);
    out.push_str(&format!("  {}\n", eip_line(shown)));
    out
}

/// One line: what the EIP of a VIP is and whether that is what tcvip.toml asks.
pub fn eip_line(shown: &Shown) -> String {
    let bound = shown
        .bound
        .as_ref()
        .map(EipView::describe)
        .unwrap_or_else(|| "none bound".into());
    match (shown.verdict, &shown.configured) {
        ("ok", Some(id)) => format!("EIP: {bound}; configured {id}: ok"),
        ("off", Some(id)) => format!(
            "EIP: {bound}; configured {id}: NOT on the VIP{} (vip-migrate binds it again after a move; now: `tcvip eip associate`)",
            shown
                .configured_view
                .as_ref()
                .map(|v| format!(", it is {}", v.describe()))
                .unwrap_or_default()
        ),
        ("none", _) => format!("EIP: {bound} (none configured)"),
        ("changing", Some(id)) => format!(
            "EIP: {bound}; configured {id}: being bound or unbound now{}",
            shown
                .configured_view
                .as_ref()
                .map(|v| format!(" ({})", v.describe()))
                .unwrap_or_default()
        ),
        _ => format!(
            "EIP: unknown ({})",
            shown.error.as_deref().unwrap_or("no answer")
        ),
    }
}
