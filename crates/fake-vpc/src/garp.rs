//! Gratuitous ARP (GARP) frames and the `--garp-listen IFACE` listener: an `AF_PACKET`
//! `SOCK_RAW` socket for `ETH_P_ARP` bound to one interface (root or `CAP_NET_RAW`), read by a
//! thread with a 200 ms read timeout so that it stops with the simulator. Every GARP it
//! receives (not those the host itself sends) goes to the HAVIP learning
//! ([`crate::world::World::see_garp`]).

use std::ffi::CString;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::net::Mac;
use crate::shared::Shared;

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IP: u16 = 0x0800;

/// The length of an Ethernet frame carrying an IPv4 ARP packet (without padding).
pub const FRAME_LEN: usize = 42;

/// The sender of a gratuitous ARP in an Ethernet frame: an ARP request or reply for IPv4
/// over Ethernet whose sender IP equals its target IP. Returns (that IP, the sender MAC).
pub fn parse(frame: &[u8]) -> Option<(Ipv4Addr, Mac)> {
    if frame.len() < FRAME_LEN {
        return None;
    }
    let be16 = |i: usize| u16::from_be_bytes([frame[i], frame[i + 1]]);
    if be16(12) != ETH_P_ARP {
        return None;
    }
    let arp = &frame[14..];
    let (htype, ptype, hlen, plen, op) = (
        u16::from_be_bytes([arp[0], arp[1]]),
        u16::from_be_bytes([arp[2], arp[3]]),
        arp[4],
        arp[5],
        u16::from_be_bytes([arp[6], arp[7]]),
    );
    if htype != 1 || ptype != ETH_P_IP || hlen != 6 || plen != 4 || !(op == 1 || op == 2) {
        return None;
    }
    let mut sha = [0u8; 6];
    sha.copy_from_slice(&arp[8..14]);
    let spa = Ipv4Addr::new(arp[14], arp[15], arp[16], arp[17]);
    let tpa = Ipv4Addr::new(arp[24], arp[25], arp[26], arp[27]);
    (spa == tpa).then_some((spa, Mac(sha)))
}

/// A gratuitous ARP request for `ip` from `mac`, broadcast (as keepalived sends them).
pub fn frame(ip: Ipv4Addr, mac: Mac) -> [u8; FRAME_LEN] {
    let mut f = [0u8; FRAME_LEN];
    f[0..6].copy_from_slice(&[0xff; 6]);
    f[6..12].copy_from_slice(&mac.0);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes());
    f[16..18].copy_from_slice(&ETH_P_IP.to_be_bytes());
    f[18] = 6;
    f[19] = 4;
    f[20..22].copy_from_slice(&1u16.to_be_bytes());
    f[22..28].copy_from_slice(&mac.0);
    f[28..32].copy_from_slice(&ip.octets());
    // Target MAC zero, as for a request.
    f[38..42].copy_from_slice(&ip.octets());
    f
}

/// Why a listener could not start: the message names the interface and the fix.
#[derive(Debug, thiserror::Error)]
#[error("--garp-listen {iface}: {reason}")]
pub struct ListenError {
    pub iface: String,
    pub reason: String,
}

/// Opens the `AF_PACKET` socket for ARP on `iface`, with a 200 ms read timeout.
pub(crate) fn open(iface: &str) -> Result<OwnedFd, ListenError> {
    let err = |reason: String| ListenError {
        iface: iface.to_string(),
        reason,
    };
    let name = CString::new(iface).map_err(|_| err("the name contains a NUL byte".into()))?;
    // SAFETY: `name` is a valid NUL-terminated string.
    let index = unsafe { libc::if_nametoindex(name.as_ptr()) };
    if index == 0 {
        return Err(err(format!(
            "no such network interface ({}); name one that exists in this network namespace (ip link)",
            io::Error::last_os_error()
        )));
    }
    let proto = ETH_P_ARP.to_be();
    // SAFETY: plain socket(2) call; the result is checked.
    let fd = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, i32::from(proto)) };
    if fd < 0 {
        return Err(err(format!(
            "opening an AF_PACKET raw socket: {} (this needs root or CAP_NET_RAW)",
            io::Error::last_os_error()
        )));
    }
    // SAFETY: `fd` is a fresh descriptor that nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_ll is valid; the fields that matter are set below.
    let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    addr.sll_family = libc::AF_PACKET as u16;
    addr.sll_protocol = proto;
    addr.sll_ifindex =
        i32::try_from(index).map_err(|_| err("interface index out of range".into()))?;
    // SAFETY: `addr` is a valid sockaddr_ll of the size passed.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&raw const addr).cast::<libc::sockaddr>(),
            std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(err(format!(
            "binding the AF_PACKET socket: {} (this needs root or CAP_NET_RAW)",
            io::Error::last_os_error()
        )));
    }
    let timeout = libc::timeval {
        tv_sec: 0,
        tv_usec: 200_000,
    };
    // SAFETY: `timeout` is a valid timeval of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            (&raw const timeout).cast::<libc::c_void>(),
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        return Err(err(format!(
            "setting the read timeout: {}",
            io::Error::last_os_error()
        )));
    }
    Ok(fd)
}

/// Reads GARPs from `fd` (opened by [`open`] on `iface`) until the simulator stops; the
/// interface going down and up again (an unplugged node) does not stop it.
pub(crate) fn spawn(shared: Arc<Shared>, iface: String, fd: OwnedFd) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("fake-vpc-garp-{iface}"))
        .spawn(move || {
            let mut buf = [0u8; 1600];
            while !shared.stopping() {
                // SAFETY: an all-zero sockaddr_ll is valid; recvfrom fills it.
                let mut from: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
                let mut len = std::mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
                // SAFETY: `buf` and `from` are valid for the sizes passed.
                let n = unsafe {
                    libc::recvfrom(
                        fd.as_raw_fd(),
                        buf.as_mut_ptr().cast::<libc::c_void>(),
                        buf.len(),
                        0,
                        (&raw mut from).cast::<libc::sockaddr>(),
                        &mut len,
                    )
                };
                let Ok(n) = usize::try_from(n) else {
                    let e = io::Error::last_os_error();
                    match e.kind() {
                        io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted => {}
                        // The link went down (a node unplugged): the socket reports it once
                        // and hears frames again when the link is back up; a short pause keeps
                        // a kernel that repeats it from spinning this thread.
                        _ if e.raw_os_error() == Some(libc::ENETDOWN) => {
                            shared.sleep(Duration::from_millis(20));
                        }
                        _ => {
                            eprintln!("fake-vpc: --garp-listen {iface}: reading: {e}; retrying");
                            shared.sleep(Duration::from_millis(200));
                        }
                    }
                    continue;
                };
                // What this host sends itself is not the VPC hearing a node.
                if from.sll_pkttype == libc::PACKET_OUTGOING {
                    continue;
                }
                if let Some((ip, mac)) = parse(&buf[..n.min(buf.len())]) {
                    shared.garp(ip, mac, &iface);
                }
            }
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn parses_gratuitous_requests_and_replies_only() {
        let mac: Mac = "52:54:00:00:01:11".parse().unwrap();
        let ip = Ipv4Addr::new(198, 18, 1, 200);
        let f = frame(ip, mac);
        assert_eq!(parse(&f), Some((ip, mac)));
        let mut reply = f;
        reply[21] = 2;
        assert_eq!(parse(&reply), Some((ip, mac)));
        // An ordinary who-has (target differs) is no GARP.
        let mut who_has = f;
        who_has[41] = 1;
        assert_eq!(parse(&who_has), None);
        let mut op3 = f;
        op3[21] = 3;
        assert_eq!(parse(&op3), None);
        let mut ipv4 = f;
        ipv4[13] = 0x00;
        assert_eq!(parse(&ipv4), None);
        assert_eq!(parse(&f[..41]), None);
        // Ethernet padding to 60 bytes is fine.
        let mut padded = f.to_vec();
        padded.resize(60, 0);
        assert_eq!(parse(&padded), Some((ip, mac)));
    }
}
