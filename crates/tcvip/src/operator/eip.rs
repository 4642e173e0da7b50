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
//!
//! A `kind = "havip"` VIP's EIP belongs to the HAVIP, not to an ENI: HaVipAssociateAddressIp
//! (named by the EIP's address) / HaVipDisassociateAddressIp, polled with DescribeVpcTaskResult
//! and verified with DescribeHaVips ([`crate::operator::havip`]). It stays on the HAVIP whichever
//! ENI the VPC routes the HAVIP to, so the hooks above only bind it when it is off the HAVIP.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde::Serialize;
use tencent_api::Client;
use tencent_api::vpc::AllocateAddressesRequest;

use crate::cli::Common;
use crate::cloud;
use crate::config::VipConfig;
use crate::context::Context;
use crate::exit::{Exit, api_error, combine, exit};
use crate::operator::havip;

pub(crate) mod binding;
mod keep;

pub use binding::{EipView, Ensured, associate, describe_eip, disassociate, eip_on, ensure};
use binding::{wait_task, watch};
use keep::view_cache;
pub use keep::{after_move, check_as_master};

/// How long an association may take in `tcvip eip associate|disassociate`.
const OPERATOR_DEADLINE: Duration = Duration::from_secs(60);

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
    let havip_id = havip::havip_id_of(entry);
    let mut allocated = None;
    if allocate {
        let client = ctx.client()?;
        // The VIP must be held (a HAVIP: exist) before anything is bought.
        match havip_id {
            Some(h) => {
                require_havip(client, h, entry.address)?;
            }
            None => {
                holder_eni(ctx, client, entry.address)?;
            }
        }
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
    let deadline = Instant::now() + OPERATOR_DEADLINE;
    if let Some(havip_id) = havip_id {
        return associate_havip(ctx, entry, havip_id, &id, allocated.is_some(), deadline);
    }
    let eni = holder_eni(ctx, client, entry.address)?;
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
    suggest_key(ctx, entry, &id);
    Ok(Exit::Success)
}

/// The `# to keep it there` hint when `id` is not the VIP's configured `eip`.
fn suggest_key(ctx: &Context, entry: &VipConfig, id: &str) {
    if entry.eip.as_ref().map(|e| e.as_str()) != Some(id) {
        println!(
            "# to keep it there across failovers, add to the [[vip]] entry of {} in {}:\neip = \"{id}\"",
            entry.address,
            ctx.config.path.display()
        );
    }
}

/// The HAVIP `id` configured for `vip`; a missing one or one with another address is a
/// configuration error naming the fix.
fn require_havip(
    client: &Client,
    id: &str,
    vip: Ipv4Addr,
) -> anyhow::Result<tencent_api::vpc::HaVip> {
    let h = havip::describe_havip(client, id)
        .map_err(|e| api_error(e).context(format!("looking up {id} (DescribeHaVips)")))?
        .ok_or_else(|| {
            exit(
                Exit::Config,
                anyhow::anyhow!(
                    "{id} (havip_id of {vip}) does not exist in this region: create the HAVIP in the VPC console, or correct havip_id in the [[vip]] entry of {vip}"
                ),
            )
        })?;
    if h.vip.trim().parse::<Ipv4Addr>().ok() != Some(vip) {
        return Err(exit(
            Exit::Config,
            anyhow::anyhow!(
                "{id} has address {}, not {vip}: set havip_id to the HAVIP of {vip}, or address = \"{}\"",
                h.vip,
                h.vip
            ),
        ));
    }
    Ok(h)
}

/// `tcvip eip associate` for a HAVIP: HaVipAssociateAddressIp with the EIP's address, unless
/// the EIP is on the HAVIP already.
fn associate_havip(
    ctx: &Context,
    entry: &VipConfig,
    havip_id: &str,
    id: &str,
    allocated: bool,
    deadline: Instant,
) -> anyhow::Result<Exit> {
    let client = ctx.client()?;
    let context = || {
        if allocated {
            format!(
                "associating the new {id} with {havip_id} ({}) (it stays allocated: bind it with `tcvip eip associate --eip {id}` or release it in the console)",
                entry.address
            )
        } else {
            format!("associating {id} with {havip_id} ({})", entry.address)
        }
    };
    require_havip(client, havip_id, entry.address).with_context(context)?;
    let done = havip::ensure_eip(client, id, havip_id, entry.address, deadline, &|| Ok(()))
        .with_context(context)?;
    let view = match done {
        havip::HaVipEip::Already(v) => {
            println!(
                "{} ({havip_id}): {} already points at it; nothing to do",
                entry.address,
                v.describe()
            );
            v
        }
        havip::HaVipEip::Bound { after, .. } => {
            println!("{} ({havip_id}): {}", entry.address, after.describe());
            after
        }
    };
    let _ = ctx.state.write_cache(&view_cache(entry.address), &view);
    suggest_key(ctx, entry, id);
    Ok(Exit::Success)
}

/// `tcvip eip disassociate` for a HAVIP: HaVipDisassociateAddressIp, unless it has no EIP.
fn disassociate_havip(ctx: &Context, entry: &VipConfig, havip_id: &str) -> anyhow::Result<Exit> {
    let client = ctx.client()?;
    let deadline = Instant::now() + OPERATOR_DEADLINE;
    let h = require_havip(client, havip_id, entry.address)?;
    let address = h.address_ip.trim().to_owned();
    if address.is_empty() {
        println!("{} ({havip_id}): no EIP is bound to it", entry.address);
        return Ok(Exit::Success);
    }
    let bound = havip::eip_by_address(client, &address).ok().flatten();
    havip::disassociate(client, havip_id, deadline)
        .with_context(|| format!("unbinding {address} from {havip_id} ({})", entry.address))?;
    let _ = ctx.state.remove_cache(&view_cache(entry.address));
    let after = bound
        .as_ref()
        .and_then(|b| describe_eip(client, &b.address_id).ok().flatten());
    match after {
        Some(v) => println!("{} ({havip_id}): {}", entry.address, v.describe()),
        None => println!("{} ({havip_id}): {address} unbound", entry.address),
    }
    if let Some(configured) = &entry.eip {
        println!(
            "# {} still names eip = \"{}\" for {}: the EIP stays off until `tcvip eip associate`; remove that line if it should",
            ctx.config.path.display(),
            configured.as_str(),
            entry.address
        );
    }
    Ok(Exit::Success)
}

fn run_disassociate(ctx: &Context, vip: Option<Ipv4Addr>) -> anyhow::Result<Exit> {
    let entry = pick_vip(ctx, vip)?;
    if let Some(havip_id) = havip::havip_id_of(entry) {
        return disassociate_havip(ctx, entry, havip_id);
    }
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
    /// `kind = "havip"`: the HAVIP id (the EIP belongs on the HAVIP, wherever it is bound).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub havip_id: Option<String>,
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
    let havip_id = havip::havip_id_of(vip).map(str::to_owned);
    let mut shown = Shown {
        vip: vip.address,
        havip_id: havip_id.clone(),
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
        if let Some(id) = &havip_id {
            let h = havip::describe_havip(client, id)
                .map_err(|e| api_error(e).context("DescribeHaVips"))?
                .ok_or_else(|| anyhow::anyhow!("the HAVIP {id} does not exist"))?;
            shown.holder_eni = h.is_bound().then(|| h.network_interface_id.clone());
            shown.bound = havip::eip_of_havip(client, &h, vip.address)
                .map_err(|e| api_error(e).context("DescribeAddresses"))?;
        } else {
            let holder = cloud::find_holder(client, identity.vpc_id.as_str(), vip.address)
                .map_err(|e| api_error(e).context("DescribeNetworkInterfaces"))?;
            shown.holder_eni = holder.map(|h| h.eni);
            shown.bound = eip_on(client, vip.address)
                .map_err(|e| api_error(e).context("DescribeAddresses"))?;
        }
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
                // A HAVIP's EIP is the HAVIP's, bound to an ENI or not.
                (Some(id), Some(b), _)
                    if havip_id.is_some()
                        && b.address_id == *id
                        && b.on_havip(havip_id.as_deref().unwrap_or_default(), vip.address) =>
                {
                    "ok"
                }
                (Some(_), _, _) if havip_id.is_some() => "off",
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
    let mut out = match &shown.havip_id {
        Some(h) => format!("{} (HAVIP {h})\n", shown.vip),
        None => format!("{}\n", shown.vip),
    };
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
