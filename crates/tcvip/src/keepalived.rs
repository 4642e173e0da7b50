//! Facts about the keepalived process that runs us.
//!
//! A state record outlives keepalived: after keepalived restarts, the record still says what the
//! previous run last notified (often MASTER) until the new run's first notification is recorded,
//! and keepalived may run the track script before that. A record older than the keepalived
//! process that started check-self speaks of a previous life and must not drive an action.

use std::time::{SystemTime, UNIX_EPOCH};

/// When the parent process started, as Unix milliseconds, if the parent is keepalived.
/// `None` when run by anything else (a shell, a test), or when /proc cannot tell.
pub fn parent_keepalived_started_ms() -> Option<u64> {
    // SAFETY: getppid has no preconditions and cannot fail.
    let ppid = unsafe { libc::getppid() };
    let comm = std::fs::read_to_string(format!("/proc/{ppid}/comm")).ok()?;
    if comm.trim() != "keepalived" {
        return None;
    }
    let stat = std::fs::read_to_string(format!("/proc/{ppid}/stat")).ok()?;
    let ticks = start_ticks(&stat)?;
    // SAFETY: sysconf has no preconditions.
    let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) })
        .ok()?
        .max(1);
    let started_since_boot_ms = ticks.saturating_mul(1000) / hz;
    Some(boot_wall_ms()?.saturating_add(started_since_boot_ms))
}

/// Field 22 of /proc/PID/stat (start time in clock ticks since boot). The command name (field 2)
/// may hold spaces and parentheses, so fields are counted after its closing parenthesis.
pub fn start_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ")": field 3 (state) is the first; field 22 is the 20th.
    rest.split_whitespace().nth(19)?.parse().ok()
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

    #[test]
    fn start_time_is_read_after_the_command_name() {
        let stat = "4242 (keep (a) live d) S 1 4242 4242 0 -1 4194624 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100";
        assert_eq!(start_ticks(stat), Some(987654));
        assert_eq!(start_ticks("garbage"), None);
    }

    #[test]
    fn this_process_started_before_now() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let ticks = start_ticks(&stat).unwrap();
        let hz = u64::try_from(unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).unwrap();
        let started = boot_wall_ms().unwrap() + ticks * 1000 / hz;
        let now = vip_state::now_ms();
        assert!(
            started <= now + 20 && now - started < 3_600_000,
            "{started} vs {now}"
        );
    }
}
