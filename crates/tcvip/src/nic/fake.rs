//! [`FakeNic`]: an in-memory NIC for tests of what is built on [`Nic`].

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::{Mutex, MutexGuard};

use super::{IfaceAddr, Nic, NicError, check_name, check_prefix};

/// A change a [`FakeNic`] was asked to make, in call order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NicOp {
    /// `add_ip(iface, ip, prefix_len)`
    Add(String, Ipv4Addr, u8),
    /// `remove_ip(iface, ip)`
    Remove(String, Ipv4Addr),
    /// `send_garp(iface, ip)`
    Garp(String, Ipv4Addr),
}

#[derive(Debug, Default)]
struct State {
    ifaces: BTreeMap<String, Vec<IfaceAddr>>,
    ops: Vec<NicOp>,
    fail_with: Option<String>,
}

/// Interfaces and their addresses in memory. Unknown interfaces behave as missing ones do.
#[derive(Debug, Default)]
pub struct FakeNic {
    state: Mutex<State>,
}

impl FakeNic {
    /// A NIC with no interfaces.
    pub fn new() -> Self {
        FakeNic::default()
    }

    /// Adds an interface with no addresses.
    pub fn with_interface(self, iface: &str) -> Self {
        self.lock().ifaces.entry(iface.to_owned()).or_default();
        self
    }

    /// Puts an address on an interface (creating it) without recording an operation.
    pub fn with_address(self, iface: &str, ip: Ipv4Addr, prefix_len: u8) -> Self {
        self.lock()
            .ifaces
            .entry(iface.to_owned())
            .or_default()
            .push(IfaceAddr { ip, prefix_len });
        self
    }

    /// Makes every later call fail with this stderr text (`None` heals it).
    pub fn fail_with(&self, stderr: Option<&str>) {
        self.lock().fail_with = stderr.map(str::to_owned);
    }

    /// The changes asked for so far.
    pub fn ops(&self) -> Vec<NicOp> {
        self.lock().ops.clone()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock can only come from a test; the data stays usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn iface<'a>(state: &'a mut State, iface: &str) -> Result<&'a mut Vec<IfaceAddr>, NicError> {
        check_name("interface name", iface)?;
        if let Some(stderr) = &state.fail_with {
            return Err(NicError::Failed {
                argv: format!("fake-nic {iface}"),
                status: "exit status: 2".to_owned(),
                stderr: stderr.clone(),
            });
        }
        state
            .ifaces
            .get_mut(iface)
            .ok_or_else(|| NicError::NoSuchInterface {
                iface: iface.to_owned(),
            })
    }
}

impl Nic for FakeNic {
    fn addresses(&self, iface: &str) -> Result<Vec<IfaceAddr>, NicError> {
        let mut st = self.lock();
        Ok(Self::iface(&mut st, iface)?.clone())
    }

    fn add_ip(&self, iface: &str, ip: Ipv4Addr, prefix_len: u8) -> Result<(), NicError> {
        check_prefix(prefix_len)?;
        let mut st = self.lock();
        let addrs = Self::iface(&mut st, iface)?;
        let a = IfaceAddr { ip, prefix_len };
        if !addrs.contains(&a) {
            addrs.push(a);
        }
        st.ops.push(NicOp::Add(iface.to_owned(), ip, prefix_len));
        Ok(())
    }

    fn remove_ip(&self, iface: &str, ip: Ipv4Addr) -> Result<(), NicError> {
        let mut st = self.lock();
        Self::iface(&mut st, iface)?.retain(|a| a.ip != ip);
        st.ops.push(NicOp::Remove(iface.to_owned(), ip));
        Ok(())
    }

    fn send_garp(&self, iface: &str, ip: Ipv4Addr) -> Result<(), NicError> {
        let mut st = self.lock();
        Self::iface(&mut st, iface)?;
        st.ops.push(NicOp::Garp(iface.to_owned(), ip));
        Ok(())
    }
}
