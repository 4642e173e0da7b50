//! check-self as BACKUP, FAULT or STOP: a VIP left on the interface keepalived manages it on is
//! removed once the core says it is a stray (seen twice, half a second apart,
//! [`check_run::standby_vip`]). Which interface that is, and the guards that keep the node's own
//! addresses, are the driver's.

use std::path::Path;

use vip_state::KeepalivedState;

use super::Check;
use super::master::NoCloud;
use crate::config::VipConfig;
use crate::core::SystemClock;
use crate::core::check_run::{self, CheckPorts};
use crate::nic::LocalNic;

impl Check<'_> {
    pub(super) fn as_standby(&mut self, vips: &[VipConfig], state: KeepalivedState, seq: u64) {
        if !self.ctx.config.check.remove_stray_vip {
            return;
        }
        let all = match crate::ifaddrs::ipv4_addresses() {
            Ok(all) => all,
            Err(e) => {
                crate::error!("nic_probe_failed", error = e);
                return;
            }
        };
        for vip in vips {
            // keepalived manages the VIP on one interface: only that one is looked at, never
            // `lo` or another interface that carries the address for its own reasons.
            let anywhere = all.iter().any(|a| a.address == vip.address);
            let Some(iface) = self.standby_interface(vip, anywhere) else {
                if anywhere {
                    self.notes.push(format!(
                        "{} is on the NIC while {state}, but which interface keepalived manages \
                         it on is not known yet (set vip.interface): left alone",
                        vip.address
                    ));
                }
                continue;
            };
            let own_primary = self.cached.as_ref().and_then(|i| i.primary_ipv4);
            let this: &Check<'_> = self;
            let nic = LocalNic::new().with_timeout(this.remaining());
            let ports = CheckPorts {
                records: this,
                cloud: &NoCloud,
                nic: &nic,
                clock: &SystemClock,
            };
            let note = check_run::standby_vip(&ports, vip.address, &iface, own_primary, seq, state);
            self.notes.extend(note);
        }
    }

    /// The interface keepalived manages `vip` on: `vip.interface`, else the one carrying the
    /// primary MAC of the identity cached by an earlier run. With nothing cached, and only when
    /// the VIP is on some interface (`anywhere`), the identity is discovered on the worker,
    /// under the deadline, once per run.
    fn standby_interface(&mut self, vip: &VipConfig, anywhere: bool) -> Option<String> {
        if let Some(iface) = &vip.interface {
            return Some(iface.clone());
        }
        if let Some(mac) = self.cached.as_ref().and_then(|i| i.mac.as_ref()) {
            return match crate::nic::interface_by_mac(
                Path::new(crate::nic::SYS_CLASS_NET),
                mac.as_str(),
            ) {
                Ok(found) => found,
                Err(e) => {
                    crate::warn!("nic_probe_failed", vip = vip.address, error = e);
                    None
                }
            };
        }
        if !anywhere {
            return None;
        }
        if self.discovered_interface.is_none() {
            let found = match self.learn(&[]).map(|l| l.identity) {
                Ok(Ok(identity)) => {
                    let found = identity.interface.clone();
                    if let Err(e) =
                        crate::vip_guard::refuse_own_primary(&self.ctx.config, &identity)
                    {
                        self.failures.push(crate::cli::error_text(&e));
                    }
                    self.cached = Some(identity);
                    found
                }
                Ok(Err(e)) => {
                    crate::warn!("identity_unknown", vip = vip.address, error = e);
                    None
                }
                Err(e) => {
                    self.cloud_unknown(&e);
                    None
                }
            };
            self.discovered_interface = Some(found);
        }
        self.discovered_interface.clone().flatten()
    }
}
