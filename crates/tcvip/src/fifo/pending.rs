//! What the reader hands its worker, and what the worker does with it: pure rules.
//!
//! The reading thread records each state line itself (a local write, never the cloud) and then
//! leaves a *want* for the instance here. Wants coalesce: one slot per instance, so a burst of
//! lines for an instance is one wake-up, and the worker acts on the latest *recorded* state when
//! it gets to it (each line is a level, "the state is now X", so only the latest matters). The
//! slots are bounded ([`MAX_INSTANCES`]); a line for one instance more is still recorded, but the
//! worker is not woken for it (logged as `fifo_queue_full`; check-self still sees the record).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use vip_state::KeepalivedState;

/// At most this many instances wait for the worker at once.
pub const MAX_INSTANCES: usize = 64;

/// What is wanted for one instance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Want {
    /// A state line was recorded: act on the latest record.
    pub level: bool,
    /// MASTER_RX_LOWER_PRI: another node thinks it is MASTER, reconcile if still MASTER.
    pub reconcile: bool,
    /// The reader just started, when the instance's record had this seq: re-derive the truth
    /// from that record and the NIC. A newer record is a line the reading thread recorded before
    /// the worker got here (its own wake-up may still be on the way): it is acted on as a line.
    pub startup: Option<u64>,
}

impl Want {
    fn merge(&mut self, other: Want) {
        self.level |= other.level;
        self.reconcile |= other.reconcile;
        self.startup = self.startup.or(other.startup);
    }
}

/// The slots, in the order instances first asked.
#[derive(Debug, Default)]
pub struct Pending {
    wants: BTreeMap<u64, (String, Want)>,
    next: u64,
}

impl Pending {
    /// Adds `want` for `instance`, merged into its slot. `false` when every slot is taken.
    pub fn push(&mut self, instance: &str, want: Want) -> bool {
        if let Some((_, slot)) = self.wants.values_mut().find(|(i, _)| i == instance) {
            slot.merge(want);
            return true;
        }
        if self.wants.len() >= MAX_INSTANCES {
            return false;
        }
        self.wants.insert(self.next, (instance.to_owned(), want));
        self.next += 1;
        true
    }

    /// The oldest slot, taken out.
    pub fn take(&mut self) -> Option<(String, Want)> {
        let key = *self.wants.keys().next()?;
        self.wants.remove(&key)
    }

    pub fn is_empty(&self) -> bool {
        self.wants.is_empty()
    }
}

/// What the worker last acted on for an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handled {
    pub state: KeepalivedState,
    pub seq: u64,
    /// No reconcile before this.
    pub cooldown_until: Option<Instant>,
}

impl Default for Handled {
    fn default() -> Handled {
        Handled {
            state: KeepalivedState::Unknown,
            seq: 0,
            cooldown_until: None,
        }
    }
}

/// The worker's next step for an instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A new MASTER record: move the VIPs here.
    Migrate,
    /// Still MASTER: move a VIP held elsewhere (never assign). `startup` asks the NIC first.
    Reconcile { startup: bool },
    /// The instance left MASTER (BACKUP, FAULT, STOP): the hand-over hook.
    Leave,
    /// Nothing to do; the reason is for the log.
    Nothing(&'static str),
}

/// Decides the next step from the latest record (`state`, `seq`), what was handled last and
/// what is wanted, at `now`.
pub fn decide(
    state: KeepalivedState,
    seq: u64,
    handled: &Handled,
    want: Want,
    now: Instant,
) -> Action {
    if state != KeepalivedState::Master {
        if handled.state == KeepalivedState::Master {
            return Action::Leave;
        }
        return Action::Nothing("not MASTER");
    }
    // A line recorded since the start is news that beats re-deriving the truth.
    let line = want.level || want.startup.is_some_and(|at_start| seq != at_start);
    if line && (seq != handled.seq || handled.state != KeepalivedState::Master) {
        return Action::Migrate;
    }
    if want.startup.is_some() {
        return Action::Reconcile { startup: true };
    }
    if want.reconcile {
        if handled.cooldown_until.is_some_and(|until| now < until) {
            return Action::Nothing("reconcile cooldown");
        }
        return Action::Reconcile { startup: false };
    }
    Action::Nothing("MASTER already handled")
}

/// What is handled after `action` ran on record (`state`, `seq`) at `now`: a move (or a
/// reconcile) starts the cooldown, so a MASTER_RX_LOWER_PRI storm costs one reconcile per
/// `cooldown`.
pub fn after(
    action: Action,
    state: KeepalivedState,
    seq: u64,
    handled: &Handled,
    now: Instant,
    cooldown: Duration,
) -> Handled {
    let cooldown_until = match action {
        Action::Migrate | Action::Reconcile { .. } => Some(now + cooldown),
        Action::Leave | Action::Nothing(_) => handled.cooldown_until,
    };
    Handled {
        state,
        seq,
        cooldown_until,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use KeepalivedState::{Backup, Fault, Master, Stop};

    const LEVEL: Want = Want {
        level: true,
        reconcile: false,
        startup: None,
    };
    const RX: Want = Want {
        level: false,
        reconcile: true,
        startup: None,
    };

    #[test]
    fn slots_coalesce_per_instance_in_first_asked_order() {
        let mut p = Pending::default();
        assert!(p.push("VI_1", LEVEL));
        assert!(p.push("VI_2", RX));
        assert!(p.push("VI_1", RX));
        assert_eq!(
            p.take(),
            Some((
                "VI_1".to_owned(),
                Want {
                    level: true,
                    reconcile: true,
                    startup: None
                }
            ))
        );
        assert_eq!(p.take(), Some(("VI_2".to_owned(), RX)));
        assert_eq!(p.take(), None);
    }

    #[test]
    fn slots_are_bounded() {
        let mut p = Pending::default();
        for i in 0..MAX_INSTANCES {
            assert!(p.push(&format!("VI_{i}"), LEVEL));
        }
        assert!(!p.push("one_more", LEVEL));
        // An instance already waiting still merges.
        assert!(p.push("VI_0", RX));
    }

    #[test]
    fn a_new_master_record_migrates_once() {
        let now = Instant::now();
        let h = Handled::default();
        assert_eq!(decide(Master, 3, &h, LEVEL, now), Action::Migrate);
        let h = after(Action::Migrate, Master, 3, &h, now, Duration::from_secs(10));
        assert_eq!(
            decide(Master, 3, &h, LEVEL, now),
            Action::Nothing("MASTER already handled")
        );
        assert_eq!(decide(Master, 4, &h, LEVEL, now), Action::Migrate);
    }

    #[test]
    fn the_latest_record_wins_over_the_lines_that_woke_the_worker() {
        // MASTER then BACKUP 1 ms later: the worker wakes once and reads BACKUP.
        let now = Instant::now();
        assert_eq!(
            decide(Backup, 2, &Handled::default(), LEVEL, now),
            Action::Nothing("not MASTER")
        );
    }

    #[test]
    fn leaving_master_calls_the_hand_over_hook() {
        let now = Instant::now();
        let h = after(
            Action::Migrate,
            Master,
            1,
            &Handled::default(),
            now,
            Duration::from_secs(10),
        );
        for state in [Backup, Fault, Stop] {
            assert_eq!(decide(state, 2, &h, LEVEL, now), Action::Leave);
        }
        let h = after(Action::Leave, Backup, 2, &h, now, Duration::from_secs(10));
        assert_eq!(
            decide(Backup, 2, &h, LEVEL, now),
            Action::Nothing("not MASTER")
        );
    }

    #[test]
    fn rx_lower_pri_storms_cost_one_reconcile_per_cooldown() {
        let t0 = Instant::now();
        let cooldown = Duration::from_secs(10);
        let mut h = after(
            Action::Migrate,
            Master,
            1,
            &Handled::default(),
            t0,
            cooldown,
        );
        let mut runs = 0;
        // One advert a second for a minute.
        for s in 0..60 {
            let now = t0 + Duration::from_secs(s);
            let action = decide(Master, 1, &h, RX, now);
            if action == (Action::Reconcile { startup: false }) {
                runs += 1;
            }
            h = after(action, Master, 1, &h, now, cooldown);
        }
        // At 10, 20, 30, 40, 50 s (the move at 0 s started the first cooldown).
        assert_eq!(runs, 5);
    }

    #[test]
    fn rx_lower_pri_after_backup_does_nothing() {
        let now = Instant::now();
        assert_eq!(
            decide(Backup, 5, &Handled::default(), RX, now),
            Action::Nothing("not MASTER")
        );
    }

    #[test]
    fn startup_rederives_from_a_master_record() {
        let now = Instant::now();
        let startup = Want {
            startup: Some(9),
            ..Want::default()
        };
        assert_eq!(
            decide(Master, 9, &Handled::default(), startup, now),
            Action::Reconcile { startup: true }
        );
        assert_eq!(
            decide(Backup, 9, &Handled::default(), startup, now),
            Action::Nothing("not MASTER")
        );
        // A MASTER line that came while the worker was starting: a move, not a reconcile.
        let both = Want {
            startup: Some(0),
            level: true,
            ..Want::default()
        };
        assert_eq!(
            decide(Master, 1, &Handled::default(), both, now),
            Action::Migrate
        );
    }

    #[test]
    fn a_master_line_recorded_before_the_worker_took_the_startup_slot_migrates() {
        // The reader started on no record (seq 0); MASTER was recorded (seq 1) and the worker,
        // busy warming up, took the startup slot before the line's own wake-up was pushed.
        let now = Instant::now();
        let startup = Want {
            startup: Some(0),
            ..Want::default()
        };
        let h = Handled::default();
        assert_eq!(decide(Master, 1, &h, startup, now), Action::Migrate);
        // The line's wake-up, pushed after: the move is not made twice.
        let h = after(Action::Migrate, Master, 1, &h, now, Duration::from_secs(10));
        assert_eq!(
            decide(Master, 1, &h, LEVEL, now),
            Action::Nothing("MASTER already handled")
        );
        // A BACKUP recorded the same way is left alone, as its line would be.
        assert_eq!(
            decide(Backup, 1, &Handled::default(), startup, now),
            Action::Nothing("not MASTER")
        );
    }
}
