//! The VIP lock's second mark, outside the state directory (see [`Guard`]).

use std::net::Ipv4Addr;
use std::path::Path;

use crate::holder::Holder;
use crate::time::now_ms;

/// A second mark of a VIP lock that does not live in the state directory: a listening Unix
/// socket in the abstract namespace, named after the state directory's path and the VIP. The
/// kernel frees it when its holder exits. When the state directory is deleted under a running
/// migration (its lock file with it), a new run finds the fresh lock file free, but not this
/// name, and joins the first run instead of running beside it.
#[derive(Debug)]
pub(crate) struct Guard(#[allow(dead_code)] std::os::unix::net::UnixListener);

/// What became of binding the guard.
pub(crate) enum GuardBind {
    Bound(Guard),
    /// Another process holds it: its pid, when the kernel says.
    Held(Option<u32>),
}

pub(crate) fn guard_address(
    dir: &Path,
    vip: Ipv4Addr,
) -> std::io::Result<std::os::unix::net::SocketAddr> {
    use std::os::linux::net::SocketAddrExt as _;
    // FNV-1a of the path as given (it may no longer exist, so it cannot be canonicalized).
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in dir.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    std::os::unix::net::SocketAddr::from_abstract_name(format!("tcvip/{hash:016x}/vip-{vip}"))
}

pub(crate) fn bind_guard(dir: &Path, vip: Ipv4Addr) -> GuardBind {
    let Ok(addr) = guard_address(dir, vip) else {
        return GuardBind::Held(None);
    };
    match std::os::unix::net::UnixListener::bind_addr(&addr) {
        Ok(listener) => GuardBind::Bound(Guard(listener)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => GuardBind::Held(guard_pid(&addr)),
        // No abstract sockets here (not Linux, a locked-down sandbox): the lock file alone.
        Err(_) => GuardBind::Held(Some(std::process::id())),
    }
}

/// The pid holding the guard at `addr`, if someone does (connecting does not take the name).
pub(crate) fn guard_pid(addr: &std::os::unix::net::SocketAddr) -> Option<u32> {
    use std::os::fd::AsRawFd as _;
    let stream = std::os::unix::net::UnixStream::connect_addr(addr).ok()?;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given; the fd is open.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&raw mut cred).cast(),
            &raw mut len,
        )
    };
    if rc != 0 {
        return None;
    }
    u32::try_from(cred.pid).ok().filter(|p| *p > 0)
}

/// Who holds a guard whose lock file is gone.
pub(crate) fn guard_holder(pid: Option<u32>) -> Option<Holder> {
    pid.map(|pid| Holder {
        pid,
        started_at_ms: now_ms(),
        purpose: "unknown: its lock file was removed (state directory deleted?)".to_owned(),
        deadline_ms: None,
    })
}
