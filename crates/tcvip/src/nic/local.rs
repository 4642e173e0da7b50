//! [`LocalNic`]: this host's NIC as the failover rules see it — reads through getifaddrs(3)
//! (no fork, a few microseconds), changes through `ip` under a timeout.

use std::net::Ipv4Addr;
use std::time::Duration;

use super::{IfaceAddr, IpCommandNic, Nic, NicError};

/// Reads through getifaddrs, writes through [`IpCommandNic`].
#[derive(Clone, Debug, Default)]
pub struct LocalNic {
    ip: IpCommandNic,
}

impl LocalNic {
    /// The host's NIC, `ip` calls under [`super::DEFAULT_TIMEOUT`].
    pub fn new() -> Self {
        LocalNic {
            ip: IpCommandNic::new(),
        }
    }

    /// Kills an `ip` call that has not finished after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.ip = self.ip.with_timeout(timeout);
        self
    }
}

impl Nic for LocalNic {
    /// The addresses getifaddrs reports on `iface` (labelled ones under their device). The
    /// prefix length is not reported: 32.
    fn addresses(&self, iface: &str) -> Result<Vec<IfaceAddr>, NicError> {
        let all = crate::ifaddrs::ipv4_addresses().map_err(|e| NicError::Probe {
            detail: e.to_string(),
        })?;
        Ok(all
            .into_iter()
            .filter(|a| a.interface == iface)
            .map(|a| IfaceAddr {
                ip: a.address,
                prefix_len: 32,
            })
            .collect())
    }

    fn add_ip(&self, iface: &str, ip: Ipv4Addr, prefix_len: u8) -> Result<(), NicError> {
        self.ip.add_ip(iface, ip, prefix_len)
    }

    fn remove_ip(&self, iface: &str, ip: Ipv4Addr) -> Result<(), NicError> {
        self.ip.remove_ip(iface, ip)
    }

    fn send_garp(&self, iface: &str, ip: Ipv4Addr) -> Result<(), NicError> {
        super::garp::send_garp(iface, ip)
    }
}
