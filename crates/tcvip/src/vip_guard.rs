//! What tcvip refuses to treat as a VIP, and which local addresses it never removes: nothing it
//! does may cost the node its own network.
//!
//! - In tcvip.toml: a loopback, unspecified, multicast or broadcast address is never a VIP
//!   ([`not_a_vip`], exit 78 naming it).
//! - Once known: the node's own primary IP (metadata `local-ipv4`), or any address the cloud
//!   reports as an ENI's primary IP, is never a VIP ([`refuse_own_primary`], [`primary_ip`]).
//! - On the NIC: a stray is removed only from the interface keepalived manages the VIP on, and
//!   never when it is this node's primary IP or the interface's own (first) address
//!   ([`removal_refusal`]). keepalived adds a VIP after the interface has its address, so a
//!   VIP is never the first address of its interface; an address that is is the interface's own.

use std::net::Ipv4Addr;

use crate::config::Config;
use crate::discovery::Identity;
use crate::exit::{Exit, exit};
use crate::ifaddrs::IfAddr;

/// Why `address` can never be a VIP, if it cannot.
pub fn not_a_vip(address: Ipv4Addr) -> Option<&'static str> {
    if address.is_loopback() {
        Some("a loopback address (127.0.0.0/8)")
    } else if address.is_unspecified() {
        Some("the unspecified address")
    } else if address.is_multicast() {
        Some("a multicast address (224.0.0.0/4)")
    } else if address.is_broadcast() {
        Some("the broadcast address")
    } else {
        None
    }
}

/// Exit 78 when a configured VIP is this node's own primary IP.
pub fn refuse_own_primary(config: &Config, identity: &Identity) -> anyhow::Result<()> {
    let Some(primary) = identity.primary_ipv4 else {
        return Ok(());
    };
    match config.vips.iter().position(|v| v.address == primary) {
        Some(i) => Err(primary_ip(
            config,
            i,
            primary,
            Some(identity.eni_id.as_str()),
        )),
        None => Ok(()),
    }
}

/// The exit-78 error for `vip[i]`, which is the primary IP of `eni` (when known).
pub fn primary_ip(config: &Config, i: usize, vip: Ipv4Addr, eni: Option<&str>) -> anyhow::Error {
    let of = eni.map_or_else(|| "an ENI".to_owned(), |e| e.to_owned());
    exit(
        Exit::Config,
        anyhow::anyhow!(
            "{}: vip[{i}].address: {vip} is the primary IP of {of}, not a VIP: a primary IP \
             cannot move, and removing it would cut the node off; set the VIP's address",
            config.path.display()
        ),
    )
}

/// The index of `vip` in the configuration (for messages).
pub fn index_of(config: &Config, vip: Ipv4Addr) -> usize {
    config
        .vips
        .iter()
        .position(|v| v.address == vip)
        .unwrap_or(0)
}

/// Why `vip` must not be removed from `interface`, given every IPv4 address on the host (in
/// kernel order) and this node's primary IP when known; `None` when it may be.
pub fn removal_refusal(
    vip: Ipv4Addr,
    interface: &str,
    addresses: &[IfAddr],
    own_primary: Option<Ipv4Addr>,
) -> Option<String> {
    if let Some(reason) = not_a_vip(vip) {
        return Some(format!("{vip} is {reason}"));
    }
    if own_primary == Some(vip) {
        return Some(format!("{vip} is this node's primary IP"));
    }
    let first = addresses.iter().find(|a| a.interface == interface);
    if first.is_some_and(|a| a.address == vip) {
        return Some(format!(
            "{vip} is {interface}'s own address (its first), not one keepalived added"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn on(interface: &str, address: [u8; 4]) -> IfAddr {
        IfAddr {
            interface: interface.to_owned(),
            address: Ipv4Addr::from(address),
        }
    }

    #[test]
    fn special_addresses_are_not_vips() {
        for a in [
            Ipv4Addr::LOCALHOST,
            Ipv4Addr::new(127, 3, 2, 1),
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::new(224, 0, 0, 18),
            Ipv4Addr::new(239, 255, 255, 250),
            Ipv4Addr::BROADCAST,
        ] {
            assert!(not_a_vip(a).is_some(), "{a}");
        }
        for a in [
            Ipv4Addr::new(10, 0, 1, 100),
            Ipv4Addr::new(198, 18, 1, 100),
            Ipv4Addr::new(172, 16, 0, 255),
        ] {
            assert_eq!(not_a_vip(a), None, "{a}");
        }
    }

    #[test]
    fn only_an_address_keepalived_added_may_be_removed() {
        let vip = Ipv4Addr::new(10, 0, 1, 100);
        let host = [
            on("lo", [127, 0, 0, 1]),
            on("lo", [10, 0, 1, 100]),
            on("eth0", [10, 0, 1, 11]),
            on("eth0", [10, 0, 1, 100]),
        ];
        assert_eq!(removal_refusal(vip, "eth0", &host, None), None);
        assert_eq!(
            removal_refusal(vip, "eth0", &host, Some(Ipv4Addr::new(10, 0, 1, 11))),
            None
        );
        // The node's own primary IP, even where it is not first.
        let own = Ipv4Addr::new(10, 0, 1, 100);
        assert!(
            removal_refusal(vip, "eth0", &host, Some(own))
                .unwrap()
                .contains("primary IP")
        );
        // An interface's first address is its own.
        let alone = [on("eth1", [10, 0, 1, 100]), on("eth0", [10, 0, 1, 11])];
        assert!(
            removal_refusal(vip, "eth1", &alone, None)
                .unwrap()
                .contains("eth1's own address")
        );
        assert!(removal_refusal(Ipv4Addr::LOCALHOST, "lo", &host, None).is_some());
    }
}
