//! The reconcile cooldown: how long check-self waits before it tries again to take back a VIP
//! that the cloud places on another ENI while this node is MASTER.
//!
//! Two nodes that both believe they are MASTER would otherwise move the VIP back and forth at
//! every check interval. The wait starts at `reconcile_cooldown_s` and doubles each time the same
//! conflict is seen again, up to [`MAX_COOLDOWN`]; it resets once the cloud agrees with us.

use std::time::Duration;

/// The longest wait between two reconcile attempts.
pub const MAX_COOLDOWN: Duration = Duration::from_secs(600);

/// The wait after the `repeats`-th consecutive attempt (0 for the first).
pub fn cooldown(base: Duration, repeats: u32) -> Duration {
    let factor = 1u32 << repeats.min(16);
    base.saturating_mul(factor).min(MAX_COOLDOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_then_caps() {
        let base = Duration::from_secs(10);
        assert_eq!(cooldown(base, 0), Duration::from_secs(10));
        assert_eq!(cooldown(base, 1), Duration::from_secs(20));
        assert_eq!(cooldown(base, 3), Duration::from_secs(80));
        assert_eq!(cooldown(base, 10), MAX_COOLDOWN);
        assert_eq!(cooldown(base, u32::MAX), MAX_COOLDOWN);
    }
}
