//! When a process was launched, as the kernel tells it: the key that puts keepalived's notify
//! processes back in the order keepalived started them.
//!
//! keepalived forks one notify process per transition and waits for none of them, so the
//! processes of two quick transitions (MASTER, then BACKUP 1 ms later) race for the instance
//! lock, and the older one may get it last. The sequence number alone would then make the older
//! state the latest. Both the start time (clock ticks since boot, `/proc/PID/stat` field 22) and
//! the pid are assigned at fork, and keepalived forks from one thread, one process after the
//! other: a later transition's process has a later start time, or the same tick and a larger
//! pid (modulo `pid_max`).

use std::cmp::Ordering;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The kernel's default `pid_max` on 64-bit systems, used when `/proc` cannot say.
const DEFAULT_PID_MAX: u32 = 4_194_304;

/// When and as which process a notification was launched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Launch {
    /// `/proc/sys/kernel/random/boot_id`: start times of different boots do not compare.
    pub boot_id: String,
    /// Start time in clock ticks since boot (`/proc/PID/stat` field 22).
    pub start_ticks: u64,
    /// The process id.
    pub pid: u32,
}

impl Launch {
    /// This process's launch, or `None` when `/proc` cannot tell.
    pub fn of_self() -> Option<Launch> {
        Launch::of_pid(std::process::id())
    }

    /// The launch of process `pid`, or `None` when it is gone or `/proc` cannot tell.
    pub fn of_pid(pid: u32) -> Option<Launch> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        Some(Launch {
            boot_id: boot_id()?,
            start_ticks: start_ticks(&stat)?,
            pid,
        })
    }

    /// Whether `self` was launched before (`Less`) or after (`Greater`) `other`; `Equal` for
    /// the same process; `None` when they come from different boots.
    pub fn order(&self, other: &Launch) -> Option<Ordering> {
        self.order_with_pid_max(other, pid_max())
    }

    /// [`Launch::order`] with pids that wrap at `pid_max`: on the same tick, the pid that
    /// follows the other by less than half the pid space is the later one.
    pub fn order_with_pid_max(&self, other: &Launch, pid_max: u32) -> Option<Ordering> {
        if self.boot_id != other.boot_id {
            return None;
        }
        match self.start_ticks.cmp(&other.start_ticks) {
            Ordering::Equal => {}
            by_time => return Some(by_time),
        }
        let pid_max = u64::from(pid_max.max(2));
        let ahead = (u64::from(self.pid) + pid_max - u64::from(other.pid) % pid_max) % pid_max;
        Some(if ahead == 0 {
            Ordering::Equal
        } else if ahead < pid_max / 2 {
            Ordering::Greater
        } else {
            Ordering::Less
        })
    }

    /// Whether the process launched as `self` is still running: its pid is alive and was
    /// started at the same tick of the same boot (a reused pid is another process). `None` when
    /// `/proc` cannot tell this process's boot.
    pub fn is_running(&self) -> Option<bool> {
        let now = boot_id()?;
        if now != self.boot_id {
            return Some(false);
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{}/stat", self.pid)) else {
            return Some(false);
        };
        Some(start_ticks(&stat) == Some(self.start_ticks) && !exited(&stat))
    }

    /// Whether `self` was launched before `other` (false when that cannot be told).
    pub fn is_before(&self, other: &Launch) -> bool {
        self.order(other) == Some(Ordering::Less)
    }
}

/// Whether a `/proc/PID/stat` line is of a process that has exited: a zombie (`Z`, killed but
/// not yet reaped: a SIGKILLed keepalived's VRRP child stays one while its stopped parent cannot
/// reap it) or dead (`X`).
fn exited(stat: &str) -> bool {
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    matches!(state, Some("Z" | "X"))
}

/// Field 22 of a `/proc/PID/stat` line (start time in clock ticks since boot). The command name
/// (field 2) may hold spaces and parentheses, so fields are counted after its last `)`.
fn start_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ")": field 3 (state) is the first; field 22 is the 20th.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// This boot's id, read once.
fn boot_id() -> Option<String> {
    static BOOT_ID: OnceLock<Option<String>> = OnceLock::new();
    BOOT_ID
        .get_or_init(|| {
            std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
                .ok()
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
        })
        .clone()
}

/// `/proc/sys/kernel/pid_max`, read once.
fn pid_max() -> u32 {
    static PID_MAX: OnceLock<u32> = OnceLock::new();
    *PID_MAX.get_or_init(|| {
        std::fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .filter(|&n: &u32| n >= 2)
            .unwrap_or(DEFAULT_PID_MAX)
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn at(ticks: u64, pid: u32) -> Launch {
        Launch {
            boot_id: "b".into(),
            start_ticks: ticks,
            pid,
        }
    }

    #[test]
    fn a_process_is_running_until_it_exits_and_a_reused_pid_is_not_it() {
        let me = Launch::of_self().unwrap();
        assert_eq!(me.is_running(), Some(true));
        // The same pid started at another tick: another process.
        let reused = Launch {
            start_ticks: me.start_ticks + 1,
            ..me.clone()
        };
        assert_eq!(reused.is_running(), Some(false));
        let other_boot = Launch {
            boot_id: "another boot".into(),
            ..me
        };
        assert_eq!(other_boot.is_running(), Some(false));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let launch = Launch::of_pid(child.id());
        child.wait().unwrap();
        if let Some(launch) = launch {
            assert_eq!(launch.is_running(), Some(false));
        }
    }

    #[test]
    fn a_zombie_has_exited() {
        let line = |state: &str| {
            format!(
                "4242 (keep (a) live d) {state} 1 4242 4242 0 -1 4194624 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100"
            )
        };
        assert!(exited(&line("Z")));
        assert!(exited(&line("X")));
        assert!(!exited(&line("S")));
        assert!(!exited(&line("T")), "a stopped process is still there");
        assert!(!exited("garbage"));
        // A child killed and not yet reaped is not running.
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let launch = Launch::of_pid(child.id()).unwrap();
        assert_eq!(launch.is_running(), Some(true));
        child.kill().unwrap();
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while launch.is_running() == Some(true) && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(launch.is_running(), Some(false), "a zombie");
        child.wait().unwrap();
        assert_eq!(launch.is_running(), Some(false));
    }

    #[test]
    fn start_time_is_read_after_the_command_name() {
        let stat = "4242 (keep (a) live d) S 1 4242 4242 0 -1 4194624 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100";
        assert_eq!(start_ticks(stat), Some(987654));
        assert_eq!(start_ticks("garbage"), None);
        assert_eq!(start_ticks("1 (x) S 1 2"), None);
    }

    #[test]
    fn a_later_tick_is_later_whatever_the_pids() {
        assert_eq!(at(100, 9000).order(&at(101, 10)), Some(Ordering::Less));
        assert_eq!(at(101, 10).order(&at(100, 9000)), Some(Ordering::Greater));
        assert!(at(100, 9000).is_before(&at(101, 10)));
    }

    #[test]
    fn on_the_same_tick_the_larger_pid_is_later_across_the_wrap() {
        assert_eq!(
            at(5, 29038).order_with_pid_max(&at(5, 29040), 32768),
            Some(Ordering::Less)
        );
        assert_eq!(
            at(5, 29040).order_with_pid_max(&at(5, 29038), 32768),
            Some(Ordering::Greater)
        );
        // 32760 was forked just before the pid counter wrapped to 300.
        assert_eq!(
            at(5, 32760).order_with_pid_max(&at(5, 300), 32768),
            Some(Ordering::Less)
        );
        assert_eq!(
            at(5, 300).order_with_pid_max(&at(5, 32760), 32768),
            Some(Ordering::Greater)
        );
        assert_eq!(
            at(5, 77).order_with_pid_max(&at(5, 77), 32768),
            Some(Ordering::Equal)
        );
    }

    #[test]
    fn different_boots_do_not_compare() {
        let other = Launch {
            boot_id: "other".into(),
            ..at(1, 1)
        };
        assert_eq!(at(5, 5).order(&other), None);
        assert!(!at(5, 5).is_before(&other));
        assert!(!other.is_before(&at(5, 5)));
    }

    #[test]
    fn children_spawned_one_after_another_are_ordered() {
        let mut launches = Vec::new();
        let mut children = Vec::new();
        for _ in 0..20 {
            let child = std::process::Command::new("sleep")
                .arg("5")
                .spawn()
                .expect("spawn sleep");
            launches.push(Launch::of_pid(child.id()).expect("the child's launch"));
            children.push(child);
        }
        for mut c in children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for pair in launches.windows(2) {
            assert!(pair[0].is_before(&pair[1]), "{pair:?}");
            assert!(!pair[1].is_before(&pair[0]), "{pair:?}");
        }
        let me = Launch::of_self().expect("this process's launch");
        assert!(me.is_before(&launches[0]), "{me:?} vs {:?}", launches[0]);
        assert_eq!(me.order(&me), Some(Ordering::Equal));
    }
}
