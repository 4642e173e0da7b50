//! SIGTERM and SIGINT as a flag that long waits check, so that a migration stopped by an
//! operator, or by keepalived's PR_SET_PDEATHSIG when keepalived runs vip-migrate itself, records
//! how it ended instead of vanishing. (A run started detached by notify-action is in its own
//! session and does not inherit PR_SET_PDEATHSIG.)

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the handler for SIGTERM and SIGINT.
pub fn install() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, handler);
        libc::signal(libc::SIGINT, handler);
    }
}

/// Whether a stop was asked for.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
