//! The local NIC: is an exact IPv4 on an interface, put it there, take it away.
//!
//! [`IpCommandNic`] runs iproute2's `ip` as argv (never through a shell), each call under a
//! timeout, and compares addresses exactly (10.0.1.10 is not 10.0.1.100). [`LocalNic`] reads
//! through getifaddrs and writes through `ip`: the NIC the failover core ([`crate::core`]) is
//! given. [`FakeNic`] is an in-memory seam for the core's tests. [`interface_by_mac`] finds the local
//! interface that carries a MAC through `/sys/class/net`.
//!
//! It refuses interface and namespace names that `ip` could read as options or that the kernel
//! would reject, and it never changes anything but the one address asked for.

pub mod command;
mod fake;
pub mod garp;
mod ip;
mod local;
mod sysfs;

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

pub use fake::{FakeNic, NicOp};
pub use ip::{DEFAULT_TIMEOUT, IpCommandNic, parse_addr_show};
pub use local::LocalNic;
pub use sysfs::{SYS_CLASS_NET, interface_by_mac};

/// One IPv4 address on an interface, with its prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct IfaceAddr {
    /// The address.
    pub ip: Ipv4Addr,
    /// Its prefix length (0..=32).
    pub prefix_len: u8,
}

/// Address operations on local interfaces.
pub trait Nic {
    /// Every IPv4 address on `iface`.
    fn addresses(&self, iface: &str) -> Result<Vec<IfaceAddr>, NicError>;

    /// Whether exactly `ip` is on `iface`.
    fn has_ip(&self, iface: &str, ip: Ipv4Addr) -> Result<bool, NicError> {
        Ok(self.addresses(iface)?.iter().any(|a| a.ip == ip))
    }

    /// Puts `ip/prefix_len` on `iface`. Already there with that prefix: success.
    fn add_ip(&self, iface: &str, ip: Ipv4Addr, prefix_len: u8) -> Result<(), NicError>;

    /// Takes `ip` off `iface`, whatever its prefix. Not there: success.
    fn remove_ip(&self, iface: &str, ip: Ipv4Addr) -> Result<(), NicError>;

    /// Sends one gratuitous ARP for `ip` from `iface` (a HAVIP's VPC learns its holder from
    /// it). The default refuses: only a NIC that can send frames says otherwise.
    fn send_garp(&self, iface: &str, _ip: Ipv4Addr) -> Result<(), NicError> {
        Err(NicError::Garp {
            iface: iface.to_owned(),
            detail: "this NIC cannot send frames".to_owned(),
        })
    }
}

/// Why a NIC operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NicError {
    /// The interface does not exist.
    #[error("network interface {iface:?} does not exist")]
    NoSuchInterface {
        /// The interface asked for.
        iface: String,
    },
    /// An interface, namespace or prefix length that cannot be passed on.
    #[error("{what} {value:?} is not valid: {reason}")]
    InvalidArgument {
        /// What the value is (`interface name`, `network namespace`, `prefix length`).
        what: &'static str,
        /// The value.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// The command could not be started.
    #[error("cannot run {}: {source}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// The error from exec.
        source: std::io::Error,
    },
    /// The command did not finish in time and was killed.
    #[error("`{argv}` did not finish within {} ms and was killed", timeout.as_millis())]
    Timeout {
        /// The command line, for the message.
        argv: String,
        /// The limit.
        timeout: Duration,
    },
    /// The command failed.
    #[error("`{argv}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        argv: String,
        /// Exit status.
        status: String,
        /// What it wrote to stderr (trimmed).
        stderr: String,
    },
    /// The command's output could not be understood.
    #[error("`{argv}` printed a line that could not be parsed: {line:?}")]
    Parse {
        /// The command line.
        argv: String,
        /// The line.
        line: String,
    },
    /// Listing the host's addresses (getifaddrs) failed.
    #[error("cannot list this host's addresses: {detail}")]
    Probe {
        /// The OS error.
        detail: String,
    },
    /// Reading `/sys/class/net` failed.
    #[error("cannot read {}: {source}", path.display())]
    Sysfs {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// A gratuitous ARP could not be sent for want of privilege.
    #[error(
        "sending a gratuitous ARP from {iface} needs root or CAP_NET_RAW: run tcvip as root (keepalived's scripts run as root unless script_user says otherwise)"
    )]
    GarpPermission {
        /// The interface.
        iface: String,
    },
    /// A gratuitous ARP could not be sent.
    #[error("cannot send a gratuitous ARP from {iface}: {detail}")]
    Garp {
        /// The interface.
        iface: String,
        /// What failed.
        detail: String,
    },
    /// Several interfaces carry the MAC and none stands out.
    #[error(
        "several network interfaces carry MAC {mac}: {}; set vip.interface",
        candidates.join(", ")
    )]
    AmbiguousMac {
        /// The MAC.
        mac: String,
        /// The interfaces.
        candidates: Vec<String>,
    },
}

/// Refuses names that the kernel rejects or that `ip` could take for an option. Interface names
/// have at most 15 bytes; namespace names (files under /run/netns) up to 255.
pub(crate) fn check_name(what: &'static str, name: &str) -> Result<(), NicError> {
    let max = if what == "network namespace" { 255 } else { 15 };
    let reason = if name.is_empty() || name.len() > max {
        Some(if max == 15 {
            "expected 1 to 15 characters"
        } else {
            "expected 1 to 255 characters"
        })
    } else if name.starts_with('-') {
        Some("must not start with '-'")
    } else if name == "." || name == ".." {
        Some("reserved name")
    } else if name
        .bytes()
        .any(|b| b == b'/' || b == b':' || b.is_ascii_whitespace() || b.is_ascii_control())
    {
        Some("must not contain '/', ':', spaces or control characters")
    } else {
        None
    };
    match reason {
        Some(r) => Err(NicError::InvalidArgument {
            what,
            value: name.to_owned(),
            reason: r.to_owned(),
        }),
        None => Ok(()),
    }
}

pub(crate) fn check_prefix(prefix_len: u8) -> Result<(), NicError> {
    if prefix_len > 32 {
        return Err(NicError::InvalidArgument {
            what: "prefix length",
            value: prefix_len.to_string(),
            reason: "expected 0 to 32".to_owned(),
        });
    }
    Ok(())
}
