//! Keeping `[[vip]] eip` on its VIP: vip-migrate's hook after a move ([`after_move`]) and
//! check-self's look as MASTER ([`check_as_master`]), with their caches in the state directory.

use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use tencent_api::Client;
use vip_state::{CloudView, KeepalivedState, now_ms};

use crate::config::{Config, VipConfig};
use crate::context::Context;
use crate::discovery::Identity;
use crate::exit::Exit;

use super::binding::{EipView, Ensured, describe_eip, ensure};

/// The cache holding the last EIP view of a VIP.
pub(super) fn view_cache(vip: Ipv4Addr) -> String {
    format!("eip-view-{vip}")
}

/// The cache holding when check-self last asked for an EIP repair of a VIP.
fn repair_cache(vip: Ipv4Addr) -> String {
    format!("eip-repair-{vip}")
}

/// vip-migrate's hook, after a VIP is confirmed on this ENI (moved or already here): keeps the
/// VIP's configured EIP on it (for a HAVIP: on the HAVIP, with HaVipAssociateAddressIp). `None` when the VIP has no `eip`; else the exit for this VIP.
pub fn after_move(
    ctx: &Context,
    vip: Ipv4Addr,
    instance: &str,
    force: bool,
    deadline: Instant,
) -> Option<Exit> {
    let entry = ctx.config.vip(vip)?;
    let id = entry.eip.as_ref()?.as_str().to_owned();
    let havip_id = crate::operator::havip::havip_id_of(entry).map(str::to_owned);
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
        if let Some(havip_id) = &havip_id {
            // A HAVIP's EIP stays on the HAVIP whichever ENI it is bound to: bound only when
            // it is off.
            use crate::operator::havip::{HaVipEip, ensure_eip};
            return Ok(
                match ensure_eip(client, &id, havip_id, vip, deadline, &may_write)? {
                    HaVipEip::Already(v) => Ensured::Already(v),
                    HaVipEip::Bound { before, after } => Ensured::Rebound { before, after },
                },
            );
        }
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
    let havip_id = crate::operator::havip::havip_id_of(vip);
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
    let on = match havip_id {
        Some(h) => seen.on_havip(h, address),
        None => seen.points_at(me, address),
    };
    if on || seen.is_settling() {
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
