//! In-process view of the IPv4 addresses on this host's interfaces, through getifaddrs(3).
//!
//! check-self asks "is the VIP on the NIC?" every interval; answering it without forking `ip`
//! keeps a healthy check within a few milliseconds. Matching is exact: 10.0.1.10 is not
//! 10.0.1.100.
//!
//! getifaddrs names an IPv4 address after its label, and keepalived's `label eth0:1` gives the
//! VIP one: that address is still on `eth0`. Addresses are reported under their device (a Linux
//! interface name never contains `:`, so the label's suffix is cut there).

use std::ffi::CStr;
use std::io;
use std::net::Ipv4Addr;

/// One IPv4 address and the interface that carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfAddr {
    /// The device, e.g. `eth0` (also for an address labelled `eth0:1`).
    pub interface: String,
    pub address: Ipv4Addr,
}

/// The device an address label belongs to: `eth0:1` → `eth0`.
fn device_of(label: &str) -> &str {
    label.split_once(':').map_or(label, |(device, _)| device)
}

/// Every IPv4 address configured on this host (in the caller's network namespace).
pub fn ipv4_addresses() -> io::Result<Vec<IfAddr>> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs writes a list head we own until freeifaddrs; we check its result.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let mut found = Vec::new();
    let mut cursor = head;
    while !cursor.is_null() {
        // SAFETY: cursor is a node of the list returned by getifaddrs, not yet freed.
        let entry = unsafe { &*cursor };
        cursor = entry.ifa_next;
        if entry.ifa_addr.is_null() || entry.ifa_name.is_null() {
            continue;
        }
        // SAFETY: ifa_addr is non-null and points to a sockaddr of the family it declares.
        let family = unsafe { (*entry.ifa_addr).sa_family };
        if i32::from(family) != libc::AF_INET {
            continue;
        }
        // SAFETY: an AF_INET address is a sockaddr_in.
        let sin = unsafe { &*(entry.ifa_addr as *const libc::sockaddr_in) };
        // SAFETY: ifa_name is a NUL-terminated string owned by the list.
        let name = unsafe { CStr::from_ptr(entry.ifa_name) };
        found.push(IfAddr {
            interface: device_of(&name.to_string_lossy()).to_owned(),
            address: Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
        });
    }
    // SAFETY: head came from getifaddrs and is freed exactly once; no reference outlives it.
    unsafe { libc::freeifaddrs(head) };
    Ok(found)
}

/// Whether `address` is on `interface` (any interface when `None`), exactly.
pub fn has_ipv4(interface: Option<&str>, address: Ipv4Addr) -> io::Result<bool> {
    Ok(ipv4_addresses()?
        .iter()
        .any(|a| a.address == address && interface.is_none_or(|i| i == a.interface)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn loopback_is_listed_and_matching_is_exact() {
        let all = ipv4_addresses().unwrap();
        assert!(
            all.iter()
                .any(|a| a.address == Ipv4Addr::LOCALHOST && a.interface == "lo")
        );
        assert!(has_ipv4(Some("lo"), Ipv4Addr::LOCALHOST).unwrap());
        assert!(has_ipv4(None, Ipv4Addr::LOCALHOST).unwrap());
        assert!(!has_ipv4(Some("lo"), Ipv4Addr::new(127, 0, 0, 10)).unwrap());
        assert!(!has_ipv4(Some("no-such-if"), Ipv4Addr::LOCALHOST).unwrap());
    }

    #[test]
    fn labels_belong_to_their_device() {
        assert_eq!(device_of("eth0"), "eth0");
        assert_eq!(device_of("eth0:1"), "eth0");
        assert_eq!(device_of("eth0:vip:x"), "eth0");
        assert_eq!(device_of(""), "");
    }
}
