//! vip-query: where the cloud has each VIP.
//!
//! Prints `true` (here, exit 0), `false` (elsewhere or unassigned, exit 1) or `unknown` (the
//! cloud could not be asked, exit 3) for each VIP, like the `query_vip.py` it replaces; `--json`
//! adds the holder ENI and instance, the IP state and the EIP; `--status` shows the whole
//! picture, recorded keepalived state included. For a `kind = "havip"` VIP the holder is the
//! ENI DescribeHaVips shows the HAVIP bound to, with the HAVIP's state, the time its binding
//! last changed (FlushedTime) and its EIP.

use std::net::Ipv4Addr;
use std::time::Duration;

use serde_json::json;
use vip_state::{CloudView, KeepalivedState, LockStatus, age_of, format_utc, now_ms};

use tencent_api::vpc::HaVip;

use crate::cli::{Common, error_text};
use crate::cloud::{self, Holder};
use crate::context::Context;
use crate::exit::{Exit, exit_of};
use crate::exit::{api_error, combine};

/// `vip-query`.
#[derive(Debug, clap::Parser)]
#[command(
    name = "vip-query",
    version,
    about = "Say where the cloud has the VIP: true (here), false (elsewhere), unknown",
    after_help = crate::exit::Tool::VipQuery.help()
)]
pub struct Args {
    #[command(flatten)]
    pub common: Common,
    /// keepalived vrrp_instance whose VIPs to query [default: the only one configured]
    #[arg(long, value_name = "NAME")]
    pub instance: Option<String>,
    /// Query only this VIP (repeatable); it must be configured
    #[arg(long = "vip", value_name = "IP")]
    pub vips: Vec<Ipv4Addr>,
    /// One JSON object per VIP: holder ENI, instance, IP state, EIP
    #[arg(long, conflicts_with = "status")]
    pub json: bool,
    /// The whole picture: keepalived state, the NIC, the cloud, the last migration
    #[arg(long)]
    pub status: bool,
}

/// What the cloud said about one VIP.
#[derive(Debug)]
struct Answer {
    vip: Ipv4Addr,
    holder: Result<Option<Holder>, anyhow::Error>,
    eip: Option<(String, String)>,
    /// `kind = "havip"`: the HAVIP id, and what DescribeHaVips said of it.
    havip: Option<(String, Option<HaVip>)>,
}

/// Runs `vip-query`.
pub fn run(args: &Args) -> anyhow::Result<Exit> {
    run_as(args, "vip-query")
}

/// Runs `vip-query` for `binary` (the name its log lines carry; `tcvip status` uses it).
pub fn run_as(args: &Args, binary: &'static str) -> anyhow::Result<Exit> {
    let ctx = Context::load(&args.common, binary)?;
    let instance = ctx.instance_key(args.instance.as_deref())?;
    let vips = crate::vips::select(&ctx.config, &instance, &args.vips)?;
    let identity = ctx.identity();
    let client = match &identity {
        Ok(_) => ctx.client().map(Some),
        Err(_) => Ok(None),
    };
    let (this_eni, this_instance) = match &identity {
        Ok(id) => (Some(id.eni_id.as_str()), Some(id.instance_id.as_str())),
        Err(_) => (None, None),
    };
    let answers: Vec<Answer> = vips
        .iter()
        .map(|&vip| {
            let havip_id = ctx
                .config
                .vip(vip)
                .filter(|v| v.kind == crate::config::VipKind::Havip)
                .and_then(|v| v.havip_id.as_ref())
                .map(|id| id.as_ref().to_owned());
            let mut havip = None;
            let holder = match (&identity, &client) {
                (Ok(_), Ok(Some(client))) if havip_id.is_some() => {
                    let id = havip_id.as_deref().unwrap_or_default();
                    match cloud::find_havip(client, id) {
                        Ok(found) => {
                            let holder = cloud::havip_holder(found.as_ref(), id, vip)
                                .map_err(|p| crate::exit::exit(Exit::Config, p));
                            havip = found;
                            holder
                        }
                        Err(e) => Err(api_error(e)),
                    }
                }
                (Ok(id), Ok(Some(client))) => {
                    cloud::find_holder(client, id.vpc_id.as_str(), vip).map_err(api_error)
                }
                (Err(e), _) | (_, Err(e)) => {
                    Err(anyhow::anyhow!("{}", error_text(e)).context(exit_context(e)))
                }
                (Ok(_), Ok(None)) => Err(anyhow::anyhow!("no API client")),
            };
            // An ENI's primary IP is never a VIP (a typo away from one): say so, exit 78.
            let holder = match holder {
                Ok(Some(h)) if h.primary => Err(crate::vip_guard::primary_ip(
                    &ctx.config,
                    crate::vip_guard::index_of(&ctx.config, vip),
                    vip,
                    Some(&h.eni),
                )),
                other => other,
            };
            // A HAVIP's EIP stays with the HAVIP whether it is bound or not.
            let asks_eip = match &holder {
                Ok(Some(_)) => true,
                Ok(None) => havip.as_ref().is_some_and(|h| !h.address_ip.is_empty()),
                Err(_) => false,
            };
            let eip = match (asks_eip, &client) {
                (true, Ok(Some(client))) if args.json || args.status => {
                    cloud::eip_of(client, vip)
                        .unwrap_or_else(|e| {
                            crate::warn!("eip_lookup_failed", vip = vip, error = e);
                            None
                        })
                        .or_else(|| {
                            // DescribeHaVips names the address even when DescribeAddresses
                            // does not list it by the private IP.
                            havip
                                .as_ref()
                                .filter(|h| !h.address_ip.is_empty())
                                .map(|h| (String::new(), h.address_ip.clone()))
                        })
                }
                _ => None,
            };
            if let (Ok(holder), Some(_)) = (&holder, this_eni) {
                let view = CloudView {
                    vip,
                    holder_eni: holder.as_ref().map(|h| h.eni.clone()),
                    holder_instance: holder.as_ref().and_then(|h| h.instance.clone()),
                    ip_state: holder.as_ref().map(|h| h.state.clone()),
                    learned_at_ms: now_ms(),
                };
                if let Err(e) = ctx.state.write_cloud_view(&view) {
                    crate::warn!("state_write_failed", vip = vip, error = e);
                }
            }
            Answer {
                vip,
                holder,
                eip,
                havip: havip_id.map(|id| (id, havip)),
            }
        })
        .collect();

    let mut exits = Vec::new();
    for answer in &answers {
        let (word, exit) = verdict(answer, this_eni);
        exits.push(exit);
        if let Err(e) = &answer.holder {
            let text = error_text(e);
            crate::warn!("query_failed", vip = answer.vip, error = text);
            eprintln!("vip-query: {}: {text}", answer.vip);
        }
        if args.json {
            println!("{}", json_of(answer, word, this_eni, this_instance));
        } else if args.status {
            print!("{}", status_of(&ctx, &instance, answer, word, this_eni));
        } else {
            println!("{word}");
        }
    }
    Ok(combine(exits))
}

/// An error's exit code, kept as context for [`verdict`].
fn exit_context(err: &anyhow::Error) -> crate::exit::ExitError {
    crate::exit::ExitError::new(exit_of(err), anyhow::anyhow!("cannot ask the cloud"))
}

/// `true`/`false`/`unknown` and the exit code.
fn verdict(answer: &Answer, this_eni: Option<&str>) -> (&'static str, Exit) {
    match &answer.holder {
        Ok(Some(h)) if Some(h.eni.as_str()) == this_eni && !h.is_changing() => {
            ("true", Exit::Success)
        }
        Ok(_) => ("false", Exit::Failure),
        Err(e) => match exit_of(e) {
            Exit::Auth => ("unknown", Exit::Auth),
            Exit::Config => ("unknown", Exit::Config),
            _ => ("unknown", Exit::Unknown),
        },
    }
}

fn json_of(
    answer: &Answer,
    word: &str,
    this_eni: Option<&str>,
    this_instance: Option<&str>,
) -> String {
    let holder = answer.holder.as_ref().ok().and_then(Option::as_ref);
    let havip = answer.havip.as_ref().map(|(id, found)| {
        let found = found.as_ref();
        let text = |f: fn(&HaVip) -> &str| found.map(f).filter(|s| !s.is_empty());
        json!({
            "id": id,
            "state": text(|h| &h.state),
            "bound": found.map(HaVip::is_bound),
            "flushed_time": text(|h| &h.flushed_time),
            "address_ip": text(|h| &h.address_ip),
        })
    });
    let value = json!({
        "vip": answer.vip.to_string(),
        "here": match word { "true" => json!(true), "false" => json!(false), _ => json!(null) },
        "answer": word,
        "holder_eni": holder.map(|h| h.eni.clone()),
        "holder_instance": holder.and_then(|h| h.instance.clone()),
        "ip_state": holder.map(|h| h.state.clone()),
        "eip": answer.eip.as_ref().map(|(id, ip)| json!({
            "address_id": Some(id).filter(|id| !id.is_empty()),
            "address_ip": ip,
        })),
        "kind": if answer.havip.is_some() { "havip" } else { "secondary-ip" },
        "havip": havip,
        "this_eni": this_eni,
        "this_instance": this_instance,
        "error": answer.holder.as_ref().err().map(error_text),
    });
    value.to_string()
}

fn status_of(
    ctx: &Context,
    instance: &str,
    answer: &Answer,
    word: &str,
    this_eni: Option<&str>,
) -> String {
    let vip = answer.vip;
    let mut out = format!("{vip}\n");
    let read = ctx.state.read_state(instance);
    let recorded = match &read.record {
        Some(r) => format!(
            "{} (seq {}, recorded {} ago by {})",
            r.state,
            r.seq,
            human(age_of(r.recorded_at_ms)),
            r.source.as_str()
        ),
        None => format!("{} (nothing recorded yet)", KeepalivedState::Unknown),
    };
    out.push_str(&format!("  keepalived {instance}: {recorded}\n"));
    let nic = match ctx.config.vip(vip).map(|v| ctx.interface_of(v)) {
        Some(Ok(iface)) => match crate::ifaddrs::has_ipv4(Some(&iface), vip) {
            Ok(true) => format!("on {iface}"),
            Ok(false) => format!("not on {iface}"),
            Err(e) => format!("unknown ({e})"),
        },
        Some(Err(e)) => format!("unknown ({})", error_text(&e)),
        None => "not configured".to_owned(),
    };
    out.push_str(&format!("  NIC: {nic}\n"));
    let cloud = match &answer.holder {
        Ok(Some(h)) => format!(
            "held by {}{} ({}){}",
            h.eni,
            h.instance
                .as_ref()
                .map(|i| format!(" on {i}"))
                .unwrap_or_default(),
            if h.state.is_empty() {
                "state unknown"
            } else {
                &h.state
            },
            if word == "true" { ", this node" } else { "" }
        ),
        Ok(None) if answer.havip.is_some() => "bound to no ENI".to_owned(),
        Ok(None) => "assigned to no ENI".to_owned(),
        Err(e) => format!("unknown ({})", error_text(e)),
    };
    out.push_str(&format!("  cloud: {cloud}\n"));
    if let Some((id, found)) = &answer.havip {
        let line = match found {
            Some(h) => format!(
                "{id}, state {}, binding last changed {}",
                if h.state.is_empty() {
                    "unknown"
                } else {
                    &h.state
                },
                match h.flushed_time.as_str() {
                    "" | "0000-00-00 00:00:00" => "never",
                    t => t,
                }
            ),
            None => format!("{id} (not found)"),
        };
        out.push_str(&format!("  HAVIP: {line}\n"));
    }
    out.push_str(&format!("  this ENI: {}\n", this_eni.unwrap_or("unknown")));
    match &answer.eip {
        Some((id, ip)) if id.is_empty() => out.push_str(&format!("  EIP: {ip}\n")),
        Some((id, ip)) => out.push_str(&format!("  EIP: {ip} ({id})\n")),
        None => {}
    }
    let bound = answer
        .eip
        .as_ref()
        .map(|(id, _)| id.as_str())
        .filter(|id| !id.is_empty());
    out.push_str(&crate::operator::status::status_lines(ctx, vip, bound));
    let migration = ctx.state.read_migration(vip).value;
    let last = match migration {
        Some(m) => {
            let took = m
                .ended_at_ms
                .map(|end| format!(", took {} ms", end.saturating_sub(m.started_at_ms)))
                .unwrap_or_default();
            let outcome = if ctx.state.migration_died(&m) {
                "died (the run ended without recording how: killed or crashed)".to_owned()
            } else {
                m.outcome.to_string()
            };
            format!(
                "{} {} ago{took}, {} attempt(s){}: {}",
                outcome,
                human(age_of(m.started_at_ms)),
                m.attempts,
                if m.request_ids.is_empty() {
                    String::new()
                } else {
                    format!(", request {}", m.request_ids.join(","))
                },
                m.message
            )
        }
        None => "none recorded".to_owned(),
    };
    out.push_str(&format!("  last migration: {last}\n"));
    if let Ok(LockStatus::Held(holder)) = ctx.state.vip_lock_status(vip) {
        out.push_str(&format!(
            "  in flight: {}\n",
            vip_state::describe_holder(holder.as_ref())
        ));
    }
    if let Some(check) = ctx.state.read_check().value {
        let since = if check.since() < check.at_ms {
            format!(" (the same since {})", format_utc(check.since()))
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  last check: {} at {}{since}: {}\n",
            check.result,
            format_utc(check.at_ms),
            check.reason
        ));
    }
    out
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s < 120 {
        format!("{:.1}s", d.as_secs_f64())
    } else if s < 7200 {
        format!("{}m", s / 60)
    } else {
        format!("{}h", s / 3600)
    }
}
