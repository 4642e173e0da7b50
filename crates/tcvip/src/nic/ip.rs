//! [`IpCommandNic`]: the NIC through iproute2's `ip`, run as argv.

use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::command::{self, CommandError};
use super::{IfaceAddr, Nic, NicError, check_name, check_prefix};

/// Where `ip` is looked for, in order, when no path is given. keepalived runs scripts with a
/// short PATH, so the usual locations are tried first.
const IP_CANDIDATES: &[&str] = &["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"];

/// Default limit for one `ip` invocation.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1000);

/// The NIC through `ip -4 -o addr show|add|del`, optionally inside a network namespace
/// (`ip -n NS …`), each run killed after a timeout.
#[derive(Clone, Debug)]
pub struct IpCommandNic {
    ip: PathBuf,
    netns: Option<String>,
    timeout: Duration,
}

impl Default for IpCommandNic {
    fn default() -> Self {
        IpCommandNic::new()
    }
}

impl IpCommandNic {
    /// `ip` from the usual locations (else `ip` on PATH), no namespace, 1 s per call.
    pub fn new() -> Self {
        let ip = IP_CANDIDATES
            .iter()
            .map(Path::new)
            .find(|p| p.is_file())
            .map_or_else(|| PathBuf::from("ip"), Path::to_path_buf);
        IpCommandNic {
            ip,
            netns: None,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Uses this `ip` binary.
    pub fn with_ip_path(mut self, path: impl Into<PathBuf>) -> Self {
        self.ip = path.into();
        self
    }

    /// Runs every command inside network namespace `name` (`ip -n NAME …`).
    pub fn with_netns(mut self, name: &str) -> Result<Self, NicError> {
        check_name("network namespace", name)?;
        self.netns = Some(name.to_owned());
        Ok(self)
    }

    /// Kills a command that has not finished after `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The `ip` binary used.
    pub fn ip_path(&self) -> &Path {
        &self.ip
    }

    fn argv(&self, rest: &[&str]) -> Vec<OsString> {
        let mut v: Vec<OsString> = Vec::with_capacity(rest.len() + 2);
        if let Some(ns) = &self.netns {
            v.push("-n".into());
            v.push(ns.into());
        }
        v.extend(rest.iter().map(OsString::from));
        v
    }

    fn show(&self, args: &[OsString]) -> String {
        let mut s = self.ip.display().to_string();
        for a in args {
            s.push(' ');
            s.push_str(&a.to_string_lossy());
        }
        s
    }

    /// Runs `ip ARGS`; a non-zero exit becomes an error carrying stderr, unless `tolerate`
    /// accepts the stderr text (then `Ok(None)`).
    fn run(
        &self,
        iface: &str,
        rest: &[&str],
        tolerate: &[&str],
    ) -> Result<Option<String>, NicError> {
        let args = self.argv(rest);
        let out = command::run(&self.ip, &args, self.timeout).map_err(|e| match e {
            CommandError::Spawn { program, source } => NicError::Spawn { program, source },
            CommandError::Timeout { timeout, .. } => NicError::Timeout {
                argv: self.show(&args),
                timeout,
            },
            CommandError::Wait { program, source } => NicError::Spawn { program, source },
        })?;
        if out.status.success() {
            return Ok(Some(out.stdout));
        }
        let stderr = out.stderr.trim().to_owned();
        if is_missing_device(&stderr) {
            return Err(NicError::NoSuchInterface {
                iface: iface.to_owned(),
            });
        }
        if tolerate.iter().any(|t| stderr.contains(t)) {
            return Ok(None);
        }
        Err(NicError::Failed {
            argv: self.show(&args),
            status: out.status.to_string(),
            stderr,
        })
    }
}

/// iproute2 says `Device "X" does not exist.` for `show`, `Cannot find device "X"` for
/// `add`/`del`.
fn is_missing_device(stderr: &str) -> bool {
    stderr.contains("does not exist") || stderr.contains("Cannot find device")
}

impl Nic for IpCommandNic {
    fn addresses(&self, iface: &str) -> Result<Vec<IfaceAddr>, NicError> {
        check_name("interface name", iface)?;
        let rest = ["-4", "-o", "addr", "show", "dev", iface];
        let out = self.run(iface, &rest, &[])?.unwrap_or_default();
        parse_addr_show(&out).map_err(|line| NicError::Parse {
            argv: self.show(&self.argv(&rest)),
            line,
        })
    }

    fn add_ip(&self, iface: &str, ip: Ipv4Addr, prefix_len: u8) -> Result<(), NicError> {
        check_name("interface name", iface)?;
        check_prefix(prefix_len)?;
        let cidr = format!("{ip}/{prefix_len}");
        // EEXIST: this exact address and prefix are already there. Older iproute2 prints
        // "RTNETLINK answers: File exists", newer kernels "Error: ipv4: Address already assigned."
        self.run(
            iface,
            &["addr", "add", &cidr, "dev", iface],
            &["File exists", "Address already assigned"],
        )?;
        Ok(())
    }

    fn remove_ip(&self, iface: &str, ip: Ipv4Addr) -> Result<(), NicError> {
        // Delete with the prefix the address really has: `ip addr del` without one is a
        // deprecated wildcard, and with a wrong one it deletes nothing.
        for a in self.addresses(iface)?.into_iter().filter(|a| a.ip == ip) {
            let cidr = format!("{}/{}", a.ip, a.prefix_len);
            // EADDRNOTAVAIL: already gone (removed concurrently). Older iproute2 prints "Cannot
            // assign requested address", newer kernels "Error: ipv4: Address not found."
            self.run(
                iface,
                &["addr", "del", &cidr, "dev", iface],
                &["Cannot assign requested address", "Address not found"],
            )?;
        }
        Ok(())
    }
}

/// Parses `ip -4 -o addr show` output: one line per address, e.g.
/// `2: eth0    inet 10.0.1.10/24 brd 10.0.1.255 scope global eth0\       valid_lft forever …`.
/// The address is compared as an `Ipv4Addr`, never as text. A line without `inet` is ignored;
/// an `inet` whose value does not parse is returned as the error.
pub fn parse_addr_show(output: &str) -> Result<Vec<IfaceAddr>, String> {
    let mut addrs = Vec::new();
    for line in output.lines() {
        let mut words = line.split_whitespace();
        if !words.any(|w| w == "inet") {
            continue;
        }
        let parsed = words.next().and_then(|cidr| {
            let (ip, plen) = cidr.split_once('/').unwrap_or((cidr, "32"));
            let ip: Ipv4Addr = ip.parse().ok()?;
            let prefix_len: u8 = plen.parse().ok().filter(|p| *p <= 32)?;
            Some(IfaceAddr { ip, prefix_len })
        });
        match parsed {
            Some(a) => addrs.push(a),
            None => return Err(line.to_owned()),
        }
    }
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const SHOW: &str = "\
2: eth0    inet 10.0.1.10/24 brd 10.0.1.255 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.0.1.100/32 scope global eth0\\       valid_lft forever preferred_lft forever
2: eth0    inet 10.0.1.1000x/32 scope global eth0
";

    #[test]
    fn parse_is_exact() {
        let good: String = SHOW.lines().take(2).collect::<Vec<_>>().join("\n");
        let addrs = parse_addr_show(&good).unwrap();
        assert_eq!(
            addrs,
            [
                IfaceAddr {
                    ip: Ipv4Addr::new(10, 0, 1, 10),
                    prefix_len: 24
                },
                IfaceAddr {
                    ip: Ipv4Addr::new(10, 0, 1, 100),
                    prefix_len: 32
                },
            ]
        );
        // A garbled address is an error, not a silent miss.
        assert!(parse_addr_show(SHOW).unwrap_err().contains("10.0.1.1000x"));
        assert!(parse_addr_show("").unwrap().is_empty());
    }

    #[test]
    fn netns_goes_first_in_argv() {
        let nic = IpCommandNic::new()
            .with_ip_path("/x/ip")
            .with_netns("tcvip-test-1")
            .unwrap();
        assert_eq!(nic.show(&nic.argv(&["addr"])), "/x/ip -n tcvip-test-1 addr");
        assert!(IpCommandNic::new().with_netns("-all").is_err());
    }
}
