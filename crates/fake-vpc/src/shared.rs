//! The simulator's state, shared by the connection threads, the ticker and the handle: the
//! world, queued faults, CAM refusals, the call records, the rate limiter and the hook.
//!
//! It knows nothing of HTTP routing or of the API's handlers (they take it as an argument).

use std::fs::File;
use std::io::Write;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::api_error::ApiError;
use crate::calls::{CallRecord, MetadataRecord};
use crate::deny::Denials;
use crate::faults::{Fault, FaultSpec, Faults};
use crate::hook::Hook;
use crate::net::Mac;
use crate::ratelimit::RateLimiter;
use crate::world::{GarpRecord, World};

/// State shared by the connection threads, the ticker and the handle.
#[derive(Debug)]
pub(crate) struct Shared {
    world: Mutex<World>,
    faults: Mutex<Faults>,
    denials: Mutex<Denials>,
    calls: Mutex<Vec<CallRecord>>,
    metadata_calls: Mutex<Vec<MetadataRecord>>,
    calls_log: Mutex<Option<File>>,
    limiter: Mutex<RateLimiter>,
    hook: Option<Hook>,
    /// Print a line per GARP seen to stdout (the binary's log).
    log_garps: bool,
    stopping: AtomicBool,
    wake_lock: Mutex<()>,
    wake: Condvar,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock would be a bug; the state is still usable, keep serving.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Shared {
    pub fn new(
        world: World,
        calls_log: Option<File>,
        hook: Option<Hook>,
        log_garps: bool,
    ) -> Shared {
        Shared {
            world: Mutex::new(world),
            faults: Mutex::default(),
            denials: Mutex::default(),
            calls: Mutex::default(),
            metadata_calls: Mutex::default(),
            calls_log: Mutex::new(calls_log),
            limiter: Mutex::default(),
            hook,
            log_garps,
            stopping: AtomicBool::new(false),
            wake_lock: Mutex::new(()),
            wake: Condvar::new(),
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    /// The world with every operation due at `now` landed (and hooked).
    pub fn world_advanced(&self, now: Instant) -> MutexGuard<'_, World> {
        let mut w = self.world();
        let landings = w.advance(now);
        if let Some(hook) = &self.hook {
            for l in &landings {
                hook.fire(l);
            }
        }
        w
    }

    pub fn advance_now(&self) {
        drop(self.world_advanced(Instant::now()));
    }

    /// Sees a gratuitous ARP for `ip` from `mac` (`via`: `control` or the interface); logs
    /// it (and any GARP it superseded) and returns its record.
    pub fn garp(&self, ip: Ipv4Addr, mac: Mac, via: &str) -> GarpRecord {
        let now = Instant::now();
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        let (record, superseded) = self
            .world_advanced(now)
            .see_garp(ip, mac, via, now, unix_ms);
        if self.log_garps {
            let mut out = std::io::stdout().lock();
            for r in superseded.iter().chain([&record]) {
                // The log is best effort: a closed stdout must not stop the simulator.
                let _ = writeln!(out, "{}", r.log_line());
            }
            let _ = out.flush();
        }
        // A zero learning delay lands at once.
        self.advance_now();
        record
    }

    pub fn take_fault(&self, action: &str) -> Option<Fault> {
        lock(&self.faults).take(action, false)
    }

    pub fn take_metadata_fault(&self) -> Option<Fault> {
        lock(&self.faults).take("metadata", true)
    }

    pub fn inject(&self, spec: FaultSpec) {
        lock(&self.faults).push(spec);
    }

    /// Drops every queued fault and every CAM refusal.
    pub fn clear_faults(&self) {
        lock(&self.faults).clear();
        self.world().set_ignore_garps(0);
        lock(&self.denials).clear();
    }

    pub fn deny(&self, action: &str, code: &str) {
        lock(&self.denials).deny(action, code);
    }

    pub fn denied(&self) -> Vec<String> {
        lock(&self.denials).actions()
    }

    /// The CAM refusal of a call of `action`, if the account's policy refuses it.
    pub fn check_denied(
        &self,
        action: &str,
        region: &str,
        request_id: &str,
    ) -> Result<(), ApiError> {
        lock(&self.denials).check(action, region, request_id)
    }

    pub fn pending_faults(&self) -> Vec<FaultSpec> {
        lock(&self.faults).pending()
    }

    pub fn rate_ok(&self, account: &str, action: &str, limit: u32, now: Instant) -> bool {
        lock(&self.limiter).allow(account, action, limit, now)
    }

    pub fn record(&self, rec: CallRecord) {
        if let Some(f) = lock(&self.calls_log).as_mut() {
            let mut line = rec.to_json().to_string();
            line.push('\n');
            if let Err(e) = f.write_all(line.as_bytes()).and_then(|()| f.flush()) {
                eprintln!("fake-vpc: writing the calls log: {e}");
            }
        }
        lock(&self.calls).push(rec);
    }

    pub fn record_metadata(&self, rec: MetadataRecord) {
        lock(&self.metadata_calls).push(rec);
    }

    pub fn metadata_calls(&self) -> Vec<MetadataRecord> {
        lock(&self.metadata_calls).clone()
    }

    pub fn calls(&self) -> Vec<CallRecord> {
        lock(&self.calls).clone()
    }

    pub fn clear_calls(&self) {
        lock(&self.calls).clear();
        lock(&self.metadata_calls).clear();
    }

    pub fn stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Sleeps for `d`, or less when the simulator stops.
    pub fn sleep(&self, d: Duration) {
        // Beyond the representable future: sleep until stopped.
        let deadline = Instant::now().checked_add(d);
        let mut guard = lock(&self.wake_lock);
        while !self.stopping() {
            let left = match deadline {
                Some(t) => t.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                break;
            }
            guard = match self.wake.wait_timeout(guard, left) {
                Ok((g, _)) => g,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _guard = lock(&self.wake_lock);
        self.wake.notify_all();
        if let Some(h) = &self.hook {
            h.close();
        }
    }
}
