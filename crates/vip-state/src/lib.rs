//! vip-state: tcvip's state directory (default `/run/tcvip`, mode 0700).
//!
//! keepalived neither serializes, times out nor orders its notify scripts, so tcvip keeps its own
//! record of what keepalived last said and its own locks:
//!
//! - **State records** ([`StateDir::record_state`], [`StateDir::read_state`]): per keepalived
//!   instance, the latest state with a sequence number that only grows, written atomically under
//!   the instance lock. A notification launched before the one already recorded is not recorded
//!   over it ([`StateDir::record_notification`], [`Launch`]): keepalived's notify processes may
//!   reach the lock out of order. `vip-migrate` re-reads the record before every side effect. A missing, empty or
//!   corrupt record reads as [`KeepalivedState::Unknown`] with a [`ReadWarning`], never an error.
//! - **Per-VIP single-flight locks** ([`StateDir::try_lock_vip`], [`StateDir::lock_vip_timeout`]):
//!   `std::fs::File` locks that say who holds them.
//! - **Caches and last-run records** ([`StateDir::write_cache`], [`CloudView`],
//!   [`MigrationRecord`], [`CheckRecord`], [`ReconcileRecord`]), each with the time it was learned.
//!
//! - **Single-flight runs** ([`StateDir::try_flight`]): a second check-self while one runs gets
//!   the last verdict at once.
//! - **Notifications that could not be recorded** ([`StateDir::write_unrecorded`],
//!   [`StateDir::unrecorded_since`]): a note newer than the record says the record is behind.
//!
//! Files in the directory: `state-<instance>.json` + `state-<instance>.lock`,
//! `unrecorded-<instance>.json`, `check-<instance>.lock`, `vip-<ip>.lock`, `cache-<name>.json`. Every write is a temporary file in the same directory,
//! fsync, rename, fsync of the directory.
//!
//! It refuses to do anything else: no network, no logging (warnings are returned to the caller),
//! no policy about what a state means. Lock files are never deleted, and a lock is never broken
//! because its recorded holder looks dead: the OS lock is the truth.
//!
//! ```no_run
//! use vip_state::{KeepalivedState, LockAttempt, Source, StateDir};
//! # fn main() -> Result<(), vip_state::StateError> {
//! let dir = StateDir::open(vip_state::DEFAULT_STATE_DIR)?;
//! let rec = dir.record_state("VI_1", KeepalivedState::Master, Some(100), Source::Notify)?;
//! assert_eq!(dir.read_state("VI_1").seq, rec.seq);
//! match dir.try_lock_vip("10.0.1.100".parse().unwrap(), "migrate")? {
//!     LockAttempt::Acquired(_guard) => { /* migrate; the lock is released on drop */ }
//!     LockAttempt::Busy(holder) => println!("{}", vip_state::describe_holder(holder.as_ref())),
//! }
//! # Ok(()) }
//! ```

mod atomic;
mod cache;
mod dir;
mod error;
mod flight;
mod guard;
mod holder;
mod launch;
mod lock;
mod lock_file;
mod names;
mod record;
mod records;
mod time;
mod unrecorded;

pub use cache::{Cached, Loaded};
pub use dir::{DEFAULT_LOCK_TIMEOUT, DEFAULT_STATE_DIR, StateDir};
pub use error::StateError;
pub use flight::{Flight, FlightAttempt, Verdict};
pub use holder::{Holder, STUCK_MARGIN_MS, describe_holder};
pub use launch::Launch;
pub use lock::{LockAttempt, LockStatus, VipLock};
pub use names::{MAX_CACHE_NAME_LEN, MAX_INSTANCE_LEN};
pub use record::{
    KeepalivedState, ParseStateError, ReadOutcome, ReadWarning, Recorded, Source, StateRecord,
};
pub use records::{
    CheckRecord, CheckResult, CloudView, MAX_RECONCILE_COOLDOWN_S, MigrationOutcome,
    MigrationRecord, ReconcileRecord,
};
pub use time::{age_of, format_utc, now_ms};
pub use unrecorded::Unrecorded;
