//! Gratuitous ARP: the frame that tells a HAVIP's VPC (and every neighbour) that an address now
//! lives behind this interface's MAC.
//!
//! [`garp_frame`] builds the Ethernet frame (pure, tested byte by byte); [`send_garp`] sends it
//! once from an `AF_PACKET`/`SOCK_RAW` socket bound to the interface, which needs root or
//! `CAP_NET_RAW`. The interface's MAC comes from the kernel through that socket
//! (`SIOCGIFHWADDR`, the MAC `/sys/class/net/IF/address` shows), so that it is the interface of
//! the caller's network namespace even where /sys was mounted for another one. It sends nothing
//! but that one frame, and only from the interface named.

use std::net::Ipv4Addr;

use super::{NicError, check_name};

/// EtherType of ARP.
pub const ETH_P_ARP: u16 = 0x0806;
/// The length of a gratuitous ARP frame: 14 bytes of Ethernet header, 28 of ARP.
pub const FRAME_LEN: usize = 42;

/// A MAC address.
pub type Mac = [u8; 6];

/// The gratuitous ARP request for `ip` from `mac`: Ethernet broadcast from `mac`, ARP request
/// (opcode 1) with sender IP = target IP = `ip`, sender MAC `mac`, target MAC zero.
pub fn garp_frame(mac: Mac, ip: Ipv4Addr) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    // ARP: Ethernet (1), IPv4 (0x0800), hardware size 6, protocol size 4, request (1).
    f[14..16].copy_from_slice(&1u16.to_be_bytes());
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes());
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes());
    f[22..28].copy_from_slice(&mac);
    f[28..32].copy_from_slice(&ip.octets());
    // Target MAC 00:00:00:00:00:00 (already zero), target IP = the address announced.
    f[38..42].copy_from_slice(&ip.octets());
    f
}

/// Parses `aa:bb:cc:dd:ee:ff` (any case).
pub fn parse_mac(text: &str) -> Option<Mac> {
    let mut mac = [0u8; 6];
    let mut parts = text.trim().split(':');
    for byte in &mut mac {
        let part = parts.next()?;
        if part.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// Sends one gratuitous ARP for `ip` from `iface`, from the interface's own MAC.
pub fn send_garp(iface: &str, ip: Ipv4Addr) -> Result<(), NicError> {
    check_name("interface name", iface)?;
    let os_err = |what: &str| {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() == Some(libc::EPERM) || e.raw_os_error() == Some(libc::EACCES) {
            NicError::GarpPermission {
                iface: iface.to_owned(),
            }
        } else {
            NicError::Garp {
                iface: iface.to_owned(),
                detail: format!("{what}: {e}"),
            }
        }
    };
    let name = std::ffi::CString::new(iface).map_err(|_| NicError::InvalidArgument {
        what: "interface name",
        value: iface.to_owned(),
        reason: "contains a NUL byte".to_owned(),
    })?;
    // SAFETY: `name` is a valid NUL-terminated string.
    let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if ifindex == 0 {
        return Err(NicError::NoSuchInterface {
            iface: iface.to_owned(),
        });
    }
    let proto = ETH_P_ARP.to_be();
    // SAFETY: plain socket(2) call; the descriptor is owned and closed below.
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            i32::from(proto),
        )
    };
    if fd < 0 {
        return Err(os_err("cannot open an AF_PACKET socket"));
    }
    // SAFETY: `fd` is a descriptor we just opened and nobody else owns.
    let fd = unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    let raw = std::os::fd::AsRawFd::as_raw_fd(&fd);
    // SAFETY: an all-zero sockaddr_ll is a valid value; the fields set below make it the
    // interface's link-layer address (broadcast destination).
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex = i32::try_from(ifindex).unwrap_or(i32::MAX);
    addr.sll_halen = 6;
    addr.sll_addr[..6].copy_from_slice(&[0xff; 6]);
    let mac = hardware_address(raw, &name, iface)?;
    let frame = garp_frame(mac, ip);
    let len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    let ptr = std::ptr::from_ref(&addr).cast::<libc::sockaddr>();
    // SAFETY: `ptr` points to a sockaddr_ll of `len` bytes that outlives the calls.
    if unsafe { libc::bind(raw, ptr, len) } < 0 {
        return Err(os_err("cannot bind the AF_PACKET socket to the interface"));
    }
    // SAFETY: `frame` is valid for `frame.len()` bytes; `ptr`/`len` as above. MSG_DONTWAIT:
    // a full queue fails at once rather than blocking the run.
    let sent = unsafe {
        libc::sendto(
            raw,
            frame.as_ptr().cast(),
            frame.len(),
            libc::MSG_DONTWAIT,
            ptr,
            len,
        )
    };
    if sent < 0 {
        return Err(os_err("cannot send the frame"));
    }
    if usize::try_from(sent).ok() != Some(frame.len()) {
        return Err(NicError::Garp {
            iface: iface.to_owned(),
            detail: format!("sent {sent} of {} bytes", frame.len()),
        });
    }
    Ok(())
}

/// The MAC of `iface` (`name`, NUL-terminated) through `SIOCGIFHWADDR` on socket `raw`.
fn hardware_address(raw: i32, name: &std::ffi::CStr, iface: &str) -> Result<Mac, NicError> {
    // SAFETY: an all-zero ifreq is valid; the name is copied in below (at most IFNAMSIZ - 1
    // bytes, checked by `check_name`, so it stays NUL-terminated).
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(name.to_bytes()) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: `req` is a valid ifreq for SIOCGIFHWADDR, which fills `ifru_hwaddr`.
    if unsafe { libc::ioctl(raw, libc::SIOCGIFHWADDR, &mut req) } < 0 {
        return Err(NicError::Garp {
            iface: iface.to_owned(),
            detail: format!(
                "cannot read the interface's MAC: {}",
                std::io::Error::last_os_error()
            ),
        });
    }
    // SAFETY: SIOCGIFHWADDR succeeded: the union holds the hardware address.
    let data = unsafe { req.ifr_ifru.ifru_hwaddr.sa_data };
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(data.iter()) {
        *dst = *src as u8;
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const MAC: Mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];

    #[test]
    fn the_frame_is_a_broadcast_arp_request_with_sender_ip_equal_to_target_ip() {
        let f = garp_frame(MAC, Ipv4Addr::new(198, 18, 1, 100));
        #[rustfmt::skip]
        let want: [u8; FRAME_LEN] = [
            0xff, 0xff, 0xff, 0xff, 0xff, 0xff,   // Ethernet destination: broadcast
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56,   // source: the interface's MAC
            0x08, 0x06,                           // EtherType ARP
            0x00, 0x01, 0x08, 0x00, 6, 4,         // Ethernet / IPv4, sizes 6 and 4
            0x00, 0x01,                           // request
            0x52, 0x54, 0x00, 0x12, 0x34, 0x56,   // sender MAC
            198, 18, 1, 100,                      // sender IP: the VIP
            0, 0, 0, 0, 0, 0,                     // target MAC: zero
            198, 18, 1, 100,                      // target IP: the VIP
        ];
        assert_eq!(f, want);
    }

    #[test]
    fn macs_parse_exactly() {
        assert_eq!(parse_mac("52:54:00:12:34:56\n"), Some(MAC));
        assert_eq!(parse_mac("52:54:00:12:34:5G"), None);
        assert_eq!(parse_mac("52:54:00:12:34"), None);
        assert_eq!(parse_mac("52:54:00:12:34:56:78"), None);
        assert_eq!(parse_mac("5:54:00:12:34:56"), None);
    }
}
