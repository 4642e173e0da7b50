//! Facts about the keepalived process that runs us.
//!
//! A state record outlives keepalived: after keepalived restarts, the record still says what the
//! previous run last notified (often MASTER) until the new run's first notification is recorded,
//! and keepalived may run the track script before that. A record older than the keepalived
//! process that started check-self speaks of a previous life and must not drive an action.

use std::time::{SystemTime, UNIX_EPOCH};

use vip_state::{Launch, StateRecord};

/// The keepalived process that runs us, as far as /proc tells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentKeepalived {
    /// When it started, as Unix milliseconds (through the wall clock: approximate).
    pub started_ms: u64,
    /// Its launch (boot, start tick, pid): exact against the launch of a notification.
    pub launch: Launch,
}

/// The parent process, if it is keepalived. `None` when run by anything else (a shell, a test),
/// or when /proc cannot tell.
pub fn parent_keepalived() -> Option<ParentKeepalived> {
    // SAFETY: getppid has no preconditions and cannot fail.
    let ppid = u32::try_from(unsafe { libc::getppid() }).ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{ppid}/comm")).ok()?;
    if comm.trim() != "keepalived" {
        return None;
    }
    let launch = Launch::of_pid(ppid)?;
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()?
        .max(1);
    let started_since_boot_ms = launch.start_ticks.saturating_mul(1000) / hz;
    Some(ParentKeepalived {
        started_ms: boot_wall_ms()?.saturating_add(started_since_boot_ms),
        launch,
    })
}

/// Whether `record` was written before `keepalived` started: by a notification launched
/// before it when both launches are known (exact, whatever the wall clock did), else by
/// the wall-clock times.
pub fn record_predates(record: &StateRecord, keepalived: &ParentKeepalived) -> bool {
    match record
        .launch
        .as_ref()
        .and_then(|l| l.order(&keepalived.launch))
    {
        Some(order) => order == std::cmp::Ordering::Less,
        None => record.recorded_at_ms < keepalived.started_ms,
    }
}

/// The wall-clock time of boot in milliseconds: now minus CLOCK_BOOTTIME, which (unlike the
/// whole seconds of /proc/stat's btime) is exact enough to order a record and a process start.
fn boot_wall_ms() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-pointer for clock_gettime.
    if unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) } != 0 {
        return None;
    }
    let since_boot_ms =
        u64::try_from(ts.tv_sec).ok()? * 1000 + u64::try_from(ts.tv_nsec).ok()? / 1_000_000;
    let now_ms = u64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .ok()?
            .as_millis(),
    )
    .ok()?;
    now_ms.checked_sub(since_boot_ms)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn record(recorded_at_ms: u64, launch: Option<Launch>) -> StateRecord {
        StateRecord {
            instance: "VI_1".into(),
            state: vip_state::KeepalivedState::Master,
            seq: 1,
            recorded_at_ms,
            priority: None,
            source: vip_state::Source::Notify,
            launch,
            keepalived: None,
        }
    }

    #[test]
    fn a_record_predates_keepalived_by_launch_when_both_are_known() {
        let at = |ticks, pid| Launch {
            boot_id: "b".into(),
            start_ticks: ticks,
            pid,
        };
        let keepalived = ParentKeepalived {
            started_ms: 10_000,
            launch: at(500, 4000),
        };
        // The wall clock was stepped back after keepalived started: the launch still tells.
        assert!(!record_predates(
            &record(9_000, Some(at(700, 4100))),
            &keepalived
        ));
        // Stepped forward: a notification of the previous run still predates it.
        assert!(record_predates(
            &record(11_000, Some(at(400, 3000))),
            &keepalived
        ));
        // Without a launch, or from another boot, the wall clock decides.
        assert!(record_predates(&record(9_999, None), &keepalived));
        assert!(!record_predates(&record(10_000, None), &keepalived));
        let other_boot = Launch {
            boot_id: "c".into(),
            ..at(1, 1)
        };
        assert!(!record_predates(
            &record(10_001, Some(other_boot)),
            &keepalived
        ));
    }

    #[test]
    fn this_process_started_before_now() {
        let ticks = Launch::of_self().unwrap().start_ticks;
        let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap();
        let started = boot_wall_ms().unwrap() + ticks * 1000 / hz;
        let now = vip_state::now_ms();
        assert!(
            started <= now + 20 && now - started < 3_600_000,
            "{started} vs {now}"
        );
    }
}
