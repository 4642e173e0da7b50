//! Listening for a VRRP instance's adverts on its interface: a raw IPv4 socket for protocol 112
//! (each raw socket gets its own copy of every matching packet, so keepalived's own socket loses
//! nothing), bound to the interface, read until the first advert that [`rules::from_master`]
//! accepts or the deadline.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd};
use std::time::Instant;

use super::rules::{self, Advert};

const IPPROTO_VRRP: libc::c_int = 112;

/// A raw socket receiving VRRP on one interface: packets queue from the moment it is open.
#[derive(Debug)]
pub struct Listener {
    socket: OwnedFd,
}

impl Listener {
    /// Opens the socket on `interface` (every interface when `None`). Needs CAP_NET_RAW (keepalived
    /// runs its scripts as root).
    pub fn open(interface: Option<&str>) -> io::Result<Listener> {
        Ok(Listener {
            socket: open(interface)?,
        })
    }

    /// The first advert from a MASTER of `vrid` received (since the socket opened) before
    /// `deadline`; `None` when none came.
    pub fn first_master_advert(
        &self,
        vrid: u8,
        own: Option<Ipv4Addr>,
        peers: &[Ipv4Addr],
        deadline: Instant,
    ) -> io::Result<Option<Advert>> {
        first_master_advert(&self.socket, vrid, own, peers, deadline)
    }
}

fn first_master_advert(
    socket: &OwnedFd,
    vrid: u8,
    own: Option<Ipv4Addr>,
    peers: &[Ipv4Addr],
    deadline: Instant,
) -> io::Result<Option<Advert>> {
    let mut buf = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        let ms = libc::c_int::try_from(left.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
        let mut pfd = libc::pollfd {
            fd: socket.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, its count, a timeout.
        let ready = unsafe { libc::poll(&raw mut pfd, 1, ms) };
        if ready < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if ready == 0 {
            continue;
        }
        // SAFETY: a valid descriptor and a buffer of the given length.
        let n = unsafe {
            libc::recv(
                socket.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if matches!(
                e.kind(),
                io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
            ) {
                continue;
            }
            return Err(e);
        }
        let n = usize::try_from(n).unwrap_or(0);
        if let Some(advert) = buf.get(..n).and_then(rules::parse_advert)
            && rules::from_master(&advert, vrid, own, peers)
        {
            return Ok(Some(advert));
        }
    }
}

fn open(interface: Option<&str>) -> io::Result<OwnedFd> {
    // SAFETY: plain integer arguments.
    let fd = unsafe {
        libc::socket(
            libc::AF_INET,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            IPPROTO_VRRP,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a descriptor just returned by socket(2), owned by nothing else.
    let socket = unsafe { OwnedFd::from_raw_fd(fd) };
    if let Some(name) = interface {
        let bytes = name.as_bytes();
        let len = libc::socklen_t::try_from(bytes.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "interface name too long"))?;
        // SAFETY: the option value is the name's bytes and their length.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                bytes.as_ptr().cast(),
                len,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(socket)
}
