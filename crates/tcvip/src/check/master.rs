//! check-self as MASTER: the core's run ([`check_run::master`]: the VIP back on the NIC, the
//! cloud's view, the reconcile decided) on this node's ports, then what needs the node's
//! identity (VIPs without `vip.interface`, the primary-IP guard, the EIP check) and the
//! detached reconcile. The cloud is asked on a worker given up at the deadline.

use std::cell::RefCell;
use std::net::Ipv4Addr;
use std::sync::mpsc;
use std::thread;

use super::Check;
use super::ports::WorkerCloud;
use crate::cloud::{self, Holder};
use crate::config::{Config, VipConfig};
use crate::context::Context;
use crate::core::SystemClock;
use crate::core::check_run::{
    self, CheckCloud, CheckPorts, Looked, MasterInput, MasterVip, NoAnswer,
};
use crate::discovery::Identity;
use crate::nic::LocalNic;

/// What the worker learned: this node's identity and, where asked, the cloud's view.
pub(super) struct Learned {
    pub(super) identity: Result<Identity, String>,
    pub(super) views: Vec<(Ipv4Addr, Result<Option<Holder>, String>)>,
}

impl Check<'_> {
    pub(super) fn as_master(&mut self, vips: &[VipConfig]) {
        // This node's ENI when known without asking: the identity an earlier run cached, or
        // `node.eni_id` (else the worker finds it).
        let known_me = self
            .cached
            .as_ref()
            .map(|i| i.eni_id.as_str().to_owned())
            .or_else(|| {
                self.ctx
                    .config
                    .node
                    .eni_id
                    .as_ref()
                    .map(|e| e.as_str().to_owned())
            });
        let on_nic: Vec<MasterVip<'_>> = vips
            .iter()
            .map(|v| MasterVip {
                address: v.address,
                interface: v.interface.as_deref(),
                prefix_len: v.prefix_len,
                havip: crate::migrate::havip_plan(v, &self.ctx.config.failover).is_some(),
            })
            .collect();
        let this: &Check<'_> = self;
        let nic = LocalNic::new().with_timeout(this.remaining());
        let cloud = WorkerCloud {
            check: this,
            identity: RefCell::new(None),
        };
        let ports = CheckPorts {
            records: this,
            cloud: &cloud,
            nic: &nic,
            clock: &SystemClock,
        };
        let out = check_run::master(
            &ports,
            &MasterInput {
                instance: this.instance,
                vips: &on_nic,
                known_me: known_me.as_deref(),
                ttl: this.ctx.config.check.cloud_ttl(),
                base_cooldown: this.ctx.config.check.reconcile_cooldown(),
            },
        );
        let identity = cloud.identity.into_inner();
        self.notes.extend(out.notes);
        self.failures.extend(out.failures);
        for reason in &out.unknown {
            self.cloud_unknown(reason);
        }
        let Some(identity) = identity else {
            return;
        };
        // VIPs without `vip.interface`: on the interface the identity names.
        let nic = LocalNic::new().with_timeout(self.remaining());
        for vip in vips.iter().filter(|v| v.interface.is_none()) {
            let Some(iface) = identity.interface_for(vip) else {
                self.notes.push(format!(
                    "{}: no interface known; set vip.interface",
                    vip.address
                ));
                continue;
            };
            let this: &Check<'_> = self;
            let ports = CheckPorts {
                records: this,
                cloud: &NoCloud,
                nic: &nic,
                clock: &SystemClock,
            };
            let note =
                check_run::restore(&ports, this.instance, vip.address, iface, vip.prefix_len);
            self.notes.extend(note);
        }
        for (vip, eni) in &out.primary {
            let e = crate::vip_guard::primary_ip(
                &self.ctx.config,
                crate::vip_guard::index_of(&self.ctx.config, *vip),
                *vip,
                Some(eni),
            );
            self.failures.push(crate::cli::error_text(&e));
        }
        let mut reconcile = out.reconcile;
        for view in &out.views {
            if let Some(vip) = vips.iter().find(|v| v.address == view.vip) {
                reconcile |= crate::operator::eip::check_as_master(
                    self.ctx,
                    vip,
                    view,
                    &identity,
                    self.remaining(),
                    &mut self.notes,
                );
            }
        }
        if reconcile {
            self.start_reconcile();
        }
    }

    /// Learns the identity (cached after the first run) and the holder of each of `stale`, on a
    /// worker given up at the deadline; why not, when it cannot.
    pub(super) fn learn(&self, stale: &[Ipv4Addr]) -> Result<Learned, String> {
        let mut config: Config = self.ctx.config.clone();
        let remaining = self.remaining();
        // Each API request must end inside the check's own deadline.
        config.cloud.timeout_ms = config
            .cloud
            .timeout_ms
            .min(remaining.as_millis() as u64)
            .max(1);
        let stale = stale.to_vec();
        let (tx, rx) = mpsc::channel();
        thread::Builder::new()
            .name("cloud".into())
            .spawn(move || {
                let _ = tx.send(learn(config, &stale));
            })
            .map_err(|e| format!("cannot start the cloud worker: {e}"))?;
        rx.recv_timeout(remaining)
            .map_err(|_| "the cloud did not answer before check.deadline_ms".to_owned())
    }

    fn start_reconcile(&mut self) {
        match crate::notify::start_migration(self.ctx, self.common, self.instance, true) {
            Ok(pid) => crate::info!(
                "migrate_started",
                instance = self.instance,
                pid = pid,
                reconcile = true
            ),
            Err(e) => crate::error!(
                "migrate_start_failed",
                instance = self.instance,
                error = crate::cli::error_text(&e)
            ),
        }
    }
}

/// For the core's steps that ask the cloud nothing (a restore, a stray).
pub(super) struct NoCloud;

impl CheckCloud for NoCloud {
    fn look_up(&self, _vips: &[Ipv4Addr]) -> Result<Looked, NoAnswer> {
        Err(NoAnswer::Unknown("not asked".to_owned()))
    }
}

/// The worker: identity first (a cache read on a warm node), then one lookup per stale VIP.
fn learn(config: Config, stale: &[Ipv4Addr]) -> Learned {
    let ctx = match Context::with_config(config, "check-self") {
        Ok(ctx) => ctx,
        Err(e) => {
            return Learned {
                identity: Err(crate::cli::error_text(&e)),
                views: Vec::new(),
            };
        }
    };
    let identity = match ctx.identity() {
        Ok(identity) => identity.clone(),
        Err(e) => {
            return Learned {
                identity: Err(crate::cli::error_text(&e)),
                views: Vec::new(),
            };
        }
    };
    let views = stale
        .iter()
        .map(|&vip| {
            let vpc_id = identity.vpc_id.as_str();
            // A HAVIP's holder is the ENI DescribeHaVips shows it bound to.
            let configured = ctx.config.vips.iter().find(|v| v.address == vip);
            let holder = ctx
                .client()
                .and_then(|client| {
                    Ok(match configured {
                        Some(v) => cloud::holder_of(client, vpc_id, v)?,
                        None => cloud::find_holder(client, vpc_id, vip)?,
                    })
                })
                .map_err(|e| crate::cli::error_text(&e));
            (vip, holder)
        })
        .collect();
    Learned {
        identity: Ok(identity),
        views,
    }
}
