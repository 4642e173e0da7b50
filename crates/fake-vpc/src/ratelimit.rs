//! Per-account, per-action request rate limits over a sliding one-second window.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
pub(crate) struct RateLimiter {
    windows: HashMap<(String, String), VecDeque<Instant>>,
}

impl RateLimiter {
    /// Counts a call at `now` unless `limit` calls were already let through in the last
    /// second; refused calls are not counted.
    pub fn allow(&mut self, account: &str, action: &str, limit: u32, now: Instant) -> bool {
        let q = self
            .windows
            .entry((account.to_string(), action.to_string()))
            .or_default();
        while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            q.pop_front();
        }
        if q.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
            return false;
        }
        q.push_back(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window() {
        let mut r = RateLimiter::default();
        let t = Instant::now();
        for _ in 0..10 {
            assert!(r.allow("k", "A", 10, t));
        }
        assert!(!r.allow("k", "A", 10, t));
        assert!(r.allow("other", "A", 10, t));
        assert!(r.allow("k", "B", 10, t));
        assert!(r.allow("k", "A", 10, t + WINDOW));
    }
}
