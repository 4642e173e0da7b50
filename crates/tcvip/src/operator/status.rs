//! `tcvip status [--json]`: the whole picture of this node — `vip-query --status` (its code),
//! plus the drain switch and each VIP's EIP; for a `kind = "havip"` VIP the JSON adds its kind
//! and what DescribeHaVips says (bound ENI/instance, this node or not, state, FlushedTime, EIP).

use std::net::Ipv4Addr;

use serde_json::{Value, json};
use vip_state::age_of;

use crate::cli::{Common, error_text};
use crate::context::Context;
use crate::discovery::Identity;
use crate::exit::Exit;
use crate::operator::{drain, eip, havip};

/// `tcvip status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The shared options, given before or after the subcommand (filled in by `main`).
    #[arg(skip)]
    pub common: Common,
    /// keepalived vrrp_instance whose VIPs to show [default: the only one configured]
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// One JSON object for the whole node
    #[arg(long)]
    pub json: bool,
}

/// Runs `tcvip status`: the text form is `vip-query --status`, whose lines include the drain
/// and the EIP (see [`status_lines`]); exit codes are vip-query's.
pub fn run(args: &Args) -> anyhow::Result<Exit> {
    if !args.json {
        let query = crate::query::Args {
            common: args.common.clone(),
            instance: args.instance.clone(),
            vips: Vec::new(),
            json: false,
            status: true,
        };
        return crate::query::run_as(&query, "tcvip");
    }
    let ctx = Context::load(&args.common, "tcvip")?;
    let instance = ctx.instance_key(args.instance.as_deref())?;
    let identity = ctx.identity();
    let node = match &identity {
        Ok(id) => json!({
            "instance_id": id.instance_id.as_str(),
            "eni_id": id.eni_id.as_str(),
            "vpc_id": id.vpc_id.as_str(),
            "region": id.region.to_string(),
            "interface": id.interface,
        }),
        Err(e) => json!({ "error": error_text(e) }),
    };
    let read = ctx.state.read_state(&instance);
    let keepalived = json!({
        "instance": instance,
        "state": read.state.to_string(),
        "seq": read.seq,
        "age_s": read.record.as_ref().map(|r| age_of(r.recorded_at_ms).as_secs_f64()),
    });
    let vips: Vec<Value> = ctx
        .vips_of(&instance)
        .into_iter()
        .map(|vip| {
            let shown = eip::inspect(&ctx, vip);
            let here = match (&shown.holder_eni, &identity) {
                (Some(h), Ok(id)) => Some(h == id.eni_id.as_str()),
                (None, Ok(_)) if shown.error.is_none() => Some(false),
                _ => None,
            };
            let nic = match ctx.interface_of(vip) {
                Ok(iface) => match crate::ifaddrs::has_ipv4(Some(&iface), vip.address) {
                    Ok(on) => json!({ "interface": iface, "has_vip": on }),
                    Err(e) => json!({ "interface": iface, "error": e.to_string() }),
                },
                Err(e) => json!({ "error": error_text(&e) }),
            };
            let havip = havip::havip_id_of(vip).map(|id| havip_json(&ctx, id, &identity));
            json!({
                "vip": vip.address.to_string(),
                "kind": vip.kind.as_str(),
                "havip": havip,
                "here": here,
                "holder_eni": shown.holder_eni,
                "nic": nic,
                "eip": shown,
                "last_migration": ctx.state.read_migration(vip.address).value,
            })
        })
        .collect();
    let out = json!({
        "node": node,
        "keepalived": keepalived,
        "drain": drain::current(&ctx.config).map(|d| json!({
            "file": d.file.display().to_string(),
            "reason": d.reason,
            "since_ms": d.since_ms,
            "by": d.by,
            "problem": d.problem,
        })),
        "vips": vips,
    });
    println!("{out}");
    Ok(Exit::Success)
}

/// What DescribeHaVips says of HAVIP `id`: bound ENI and instance (and whether that is this
/// node), state, FlushedTime and EIP address; `error` when it could not be asked or is missing.
fn havip_json(ctx: &Context, id: &str, identity: &anyhow::Result<&Identity>) -> Value {
    let found = ctx
        .client()
        .and_then(|c| havip::describe_havip(c, id).map_err(crate::exit::api_error));
    let nonempty = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    match found {
        Ok(Some(h)) => json!({
            "id": id,
            "bound": h.is_bound(),
            "eni": nonempty(&h.network_interface_id),
            "instance": nonempty(&h.instance_id),
            "this_node": match identity {
                Ok(me) => json!(h.is_bound() && h.network_interface_id == me.eni_id.as_str()),
                Err(_) => Value::Null,
            },
            "state": nonempty(&h.state),
            "flushed_time": havip::flushed(&h),
            "address_ip": nonempty(&h.address_ip),
            "subnet_id": nonempty(&h.subnet_id),
            "vip": nonempty(&h.vip),
        }),
        Ok(None) => json!({ "id": id, "error": format!("{id} does not exist (DescribeHaVips)") }),
        Err(e) => json!({ "id": id, "error": error_text(&e) }),
    }
}

/// `vip-query --status`'s extra lines for `vip`: the drain switch, and whether the EIP the
/// `[[vip]]` names is the one bound (`bound`: the EIP id the query found on the VIP).
pub fn status_lines(ctx: &Context, vip: Ipv4Addr, bound: Option<&str>) -> String {
    let mut out = String::new();
    if let Some(configured) = ctx.config.vip(vip).and_then(|v| v.eip.as_ref()) {
        let configured = configured.as_str();
        if bound == Some(configured) {
            out.push_str(&format!("  EIP {configured} (configured): on the VIP\n"));
        } else {
            out.push_str(&format!(
                "  EIP {configured} (configured): NOT on the VIP; see `tcvip eip show`\n"
            ));
        }
    }
    let drained = match drain::current(&ctx.config) {
        Some(d) => d.describe(),
        None => "no".to_owned(),
    };
    out.push_str(&format!("  drain: {drained}\n"));
    out
}
