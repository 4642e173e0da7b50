//! `tcvip status [--json]`: the whole picture of this node — `vip-query --status` (its code),
//! plus the drain switch and each VIP's EIP.

use std::net::Ipv4Addr;

use serde_json::{Value, json};
use vip_state::age_of;

use crate::cli::{Common, error_text};
use crate::context::Context;
use crate::exit::Exit;
use crate::operator::{drain, eip};

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
            json!({
                "vip": vip.address.to_string(),
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
